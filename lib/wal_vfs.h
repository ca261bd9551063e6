/* wal_vfs.h — a SQLite VFS that writes each WAL frame with one system call.
 *
 * SQLite writes a WAL frame as two writes: its 24-byte header, then the page right after it.
 * With 1 KB pages (lib/store_sqlite.c) a commit of the drain writes some twenty frames, and
 * on a virtual machine each system call costs more than the kilobyte it copies: the two
 * writes were a sixth of the drain's CPU (docs/benchmarks.md). This VFS wraps the default
 * one and, for WAL files only, keeps a frame header back until the page that follows it,
 * then writes both at once. Every other call on the file (a read, a sync, its size, a write
 * elsewhere, the close) writes a header kept back first, so the file is never seen without
 * what was written to it: SQLite updates the WAL index, by which other connections find the
 * frames, only after the page writes return. Database and journal files are the default
 * VFS's own, untouched. */
#ifndef MSGR_WAL_VFS_H
#define MSGR_WAL_VFS_H

/* The VFS's name for sqlite3_open_v2, registered on first call (thread-safe; not made the
 * default); NULL when it cannot be (no default VFS, no memory): open with the default. */
const char *msgr_wal_vfs(void);

#endif
