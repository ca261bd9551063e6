/* wal_vfs.c — a SQLite VFS that writes a commit's WAL frames with one system call
 * (wal_vfs.h). */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "wal_vfs.h"

#define VFS_NAME   "msgr-wal"
#define FRAME_HDR  24             /* WAL_FRAME_HDRSIZE of SQLite's wal.c: a frame's header */
#define PAGE_MAX   65536          /* SQLITE_MAX_PAGE_SIZE: the largest page a frame holds */
/* The frames gathered before they are written even without their commit: a commit of the
 * drain is about 30 frames of 1 KB pages; a bigger one leaves in pieces of this size. */
#define GATHER_MAX 65536

/* A WAL file as SQLite sees it; the default VFS's own file follows it in the same block. */
struct wal_file {
	sqlite3_file base;
	sqlite3_file *real;
	sqlite3_int64 held_at;        /* offset of the header kept back; -1: none */
	unsigned char held[FRAME_HDR];
	unsigned char *frames;        /* whole frames gathered, one after another */
	int frames_len, frames_cap;
	sqlite3_int64 frames_at;      /* the file offset of the first */
};

/* The real file's place: after ours, aligned as SQLite aligns a file (8 bytes). */
#define REAL_OFFSET ((sizeof(struct wal_file) + 7) & ~(size_t)7)

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wal_vfs;
static int registered;            /* 1: wal_vfs is SQLite's */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define REAL(f)  (((struct wal_file *)(f))->real)
#define RM(f)    (REAL(f)->pMethods)

/* Writes the frames gathered, if any. */
static int
flush_frames(struct wal_file *w)
{
	int rc;

	if (w->frames_len == 0)
		return SQLITE_OK;
	rc = w->real->pMethods->xWrite(w->real, w->frames, w->frames_len, w->frames_at);
	w->frames_len = 0;
	return rc;
}

/* Writes what is kept back, the frames gathered and then a header: every call but a
 * frame's own page does this first. */
static int
flush(struct wal_file *w)
{
	int rc = flush_frames(w), rc2 = SQLITE_OK;

	if (w->held_at >= 0) {
		rc2 = w->real->pMethods->xWrite(w->real, w->held, FRAME_HDR, w->held_at);
		w->held_at = -1;
	}
	return rc != SQLITE_OK ? rc : rc2;
}

/* The page of the header kept back: the frame joins those gathered, which are written
 * once it is a commit's last (its header gives the database's size after the commit,
 * zero in any other frame), or once no more fit. SQLite makes a commit's frames visible
 * to other connections (the WAL index's header) only after that write has returned. */
static int
gather(struct wal_file *w, const void *page, int n)
{
	int need = FRAME_HDR + n, rc;
	int commit = (w->held[4] | w->held[5] | w->held[6] | w->held[7]) != 0;

	if (w->frames_len > 0 && (w->held_at != w->frames_at + w->frames_len ||
	    w->frames_len + need > GATHER_MAX) && (rc = flush_frames(w)) != SQLITE_OK) {
		w->held_at = -1;
		return rc;
	}
	if (w->frames_cap < w->frames_len + need) {
		int cap = need > GATHER_MAX ? need : GATHER_MAX;
		unsigned char *p = sqlite3_realloc(w->frames, cap);

		if (p == NULL)
			return -1;         /* no room: written as SQLite made them */
		w->frames = p;
		w->frames_cap = cap;
	}
	if (w->frames_len == 0)
		w->frames_at = w->held_at;
	memcpy(w->frames + w->frames_len, w->held, FRAME_HDR);
	memcpy(w->frames + w->frames_len + FRAME_HDR, page, (size_t)n);
	w->frames_len += need;
	w->held_at = -1;
	return commit || w->frames_len >= GATHER_MAX ? flush_frames(w) : SQLITE_OK;
}

static int
wal_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc;

	if (w->held_at >= 0 && off == w->held_at + FRAME_HDR && n > 0 && n <= PAGE_MAX &&
	    (rc = gather(w, buf, n)) >= 0)
		return rc;
	/* The next frame's header right after those gathered keeps them gathered. */
	if (!(n == FRAME_HDR && w->held_at < 0 && off == w->frames_at + w->frames_len) &&
	    (rc = flush(w)) != SQLITE_OK)
		return rc;
	if (n == FRAME_HDR) {
		memcpy(w->held, buf, FRAME_HDR);
		w->held_at = off;
		return SQLITE_OK;
	}
	return RM(f)->xWrite(REAL(f), buf, n, off);
}

static int
wal_close(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc = flush(w), rc2 = RM(f)->xClose(REAL(f));

	sqlite3_free(w->frames);
	w->frames = NULL;
	w->frames_len = w->frames_cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

/* The forwarders: what is kept back reaches the file before anything that could see it. */
#define FLUSHED(f) do { int rc_ = flush((struct wal_file *)(f)); \
	if (rc_ != SQLITE_OK) return rc_; } while (0)

static int
wal_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	FLUSHED(f);
	return RM(f)->xRead(REAL(f), buf, n, off);
}

static int
wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	FLUSHED(f);
	return RM(f)->xTruncate(REAL(f), size);
}

static int
wal_sync(sqlite3_file *f, int flags)
{
	FLUSHED(f);
	return RM(f)->xSync(REAL(f), flags);
}

static int
wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	FLUSHED(f);
	return RM(f)->xFileSize(REAL(f), size);
}

static int
wal_lock(sqlite3_file *f, int lock)
{
	FLUSHED(f);
	return RM(f)->xLock(REAL(f), lock);
}

static int
wal_unlock(sqlite3_file *f, int lock)
{
	FLUSHED(f);
	return RM(f)->xUnlock(REAL(f), lock);
}

static int
wal_check_reserved(sqlite3_file *f, int *out)
{
	FLUSHED(f);
	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int
wal_file_control(sqlite3_file *f, int op, void *arg)
{
	FLUSHED(f);
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int
wal_sector_size(sqlite3_file *f)
{
	return RM(f)->xSectorSize(REAL(f));
}

static int
wal_device(sqlite3_file *f)
{
	return RM(f)->xDeviceCharacteristics(REAL(f));
}

/* SQLite keeps its WAL index beside the database file, never the WAL's: these are here
 * because a version 3 file has them, and answer as the default VFS would. */
static int
wal_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp)
{
	FLUSHED(f);
	if (RM(f)->iVersion < 2 || RM(f)->xShmMap == NULL)
		return SQLITE_IOERR_SHMMAP;
	return RM(f)->xShmMap(REAL(f), region, size, extend, pp);
}

static int
wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	FLUSHED(f);
	if (RM(f)->iVersion < 2 || RM(f)->xShmLock == NULL)
		return SQLITE_IOERR_SHMLOCK;
	return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void
wal_shm_barrier(sqlite3_file *f)
{
	(void)flush((struct wal_file *)f);
	if (RM(f)->iVersion >= 2 && RM(f)->xShmBarrier != NULL)
		RM(f)->xShmBarrier(REAL(f));
}

static int
wal_shm_unmap(sqlite3_file *f, int del)
{
	FLUSHED(f);
	if (RM(f)->iVersion < 2 || RM(f)->xShmUnmap == NULL)
		return SQLITE_OK;
	return RM(f)->xShmUnmap(REAL(f), del);
}

static int
wal_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	*pp = NULL;
	FLUSHED(f);
	if (RM(f)->iVersion < 3 || RM(f)->xFetch == NULL)
		return SQLITE_OK;       /* no mapping: SQLite reads instead */
	return RM(f)->xFetch(REAL(f), off, n, pp);
}

static int
wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	if (RM(f)->iVersion < 3 || RM(f)->xUnfetch == NULL)
		return SQLITE_OK;
	return RM(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wal_methods = {
	3,
	wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_file_size,
	wal_lock, wal_unlock, wal_check_reserved, wal_file_control, wal_sector_size, wal_device,
	wal_shm_map, wal_shm_lock, wal_shm_barrier, wal_shm_unmap,
	wal_fetch, wal_unfetch,
};

/* A WAL file is wrapped; any other is the default VFS's file in our block, as if opened by
 * it: SQLite then calls the default VFS's methods on it directly. */
static int
wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof(*w));
	w->held_at = -1;
	w->real = (sqlite3_file *)((unsigned char *)f + REAL_OFFSET);
	rc = base_vfs->xOpen(base_vfs, name, w->real, flags, out_flags);
	/* A file the default VFS did not open gets no methods, so SQLite never closes it. */
	w->base.pMethods = rc == SQLITE_OK && w->real->pMethods != NULL ? &wal_methods : NULL;
	return rc;
}

static void
setup(void)
{
	if ((base_vfs = sqlite3_vfs_find(NULL)) == NULL)
		return;
	/* The default VFS's methods, with its own data (pAppData): only the open is ours. */
	wal_vfs = *base_vfs;
	wal_vfs.pNext = NULL;
	wal_vfs.zName = VFS_NAME;
	wal_vfs.szOsFile = (int)REAL_OFFSET + base_vfs->szOsFile;
	wal_vfs.xOpen = wal_open;
	registered = sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK;
}

const char *
msgr_wal_vfs(void)
{
	if (pthread_once(&once, setup) != 0 || !registered)
		return NULL;
	return VFS_NAME;
}
