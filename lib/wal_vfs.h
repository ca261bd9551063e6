/* wal_vfs.h — a SQLite VFS that writes a commit's WAL frames with one system call.
 *
 * SQLite writes a WAL frame as two writes, its 24-byte header and then the page right after
 * it, one frame after another. With 1 KB pages (lib/store_sqlite.c) a commit of the drain is
 * some thirty frames, and on a virtual machine each system call costs more than the kilobyte
 * it copies: those writes were the largest part of the drain's system calls
 * (docs/benchmarks.md). This VFS wraps the default one and, for WAL files only, keeps each
 * header back until its page, gathers the frames that follow each other, and writes them at
 * once when the commit's last frame comes (its header holds the database's size after the
 * commit, zero in every other frame), or when 64 KB are gathered. Every other call on the
 * file (a read, a sync, its size, a write elsewhere, the close) writes what is kept back
 * first, so the file is never seen without what was written to it: SQLite updates the WAL
 * index's header, by which other connections find a commit's frames, only after the write of
 * its last frame returns. Database and journal files are the default VFS's own, untouched. */
#ifndef MSGR_WAL_VFS_H
#define MSGR_WAL_VFS_H

/* The VFS's name for sqlite3_open_v2, registered on first call (thread-safe; not made the
 * default); NULL when it cannot be (no default VFS, no memory): open with the default. */
const char *msgr_wal_vfs(void);

#endif
