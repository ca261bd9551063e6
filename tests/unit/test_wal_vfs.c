/* Unit tests: the VFS that writes a commit's WAL frames with one call (lib/wal_vfs.h). Under
 * it, as the default VFS it wraps, a VFS of the test's own counts the writes that reach WAL
 * files. */
#include "unit.h"

#include <sqlite3.h>

#include "wal_vfs.h"

enum { FRAME_HDR = 24, PAGE = 1024, ROWS = 300 };

static sqlite3_vfs counting;
static sqlite3_vfs *os_vfs;
static sqlite3_io_methods counted_methods;
static const sqlite3_io_methods *os_methods;
static int writes, header_writes, frame_writes, other_writes;
static long long bytes;

static int
count_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	writes++;
	bytes += n;
	if (n == FRAME_HDR)
		header_writes++;
	else if (n == FRAME_HDR + PAGE)
		frame_writes++;
	else
		other_writes++;
	return os_methods->xWrite(f, buf, n, off);
}

/* The OS's file, with its write counted when it is a WAL. */
static int
count_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	int rc;

	(void)vfs;
	rc = os_vfs->xOpen(os_vfs, name, f, flags, out);
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && f->pMethods != NULL) {
		os_methods = f->pMethods;
		counted_methods = *os_methods;
		counted_methods.xWrite = count_write;
		f->pMethods = &counted_methods;
	}
	return rc;
}

static int
setup(void **state)
{
	static struct unit_tmp t;

	/* Made the default before msgr_wal_vfs() first runs, so it wraps this one. */
	if (os_vfs == NULL) {
		os_vfs = sqlite3_vfs_find(NULL);
		counting = *os_vfs;
		counting.zName = "counting";
		counting.pNext = NULL;
		counting.xOpen = count_open;
		if (sqlite3_vfs_register(&counting, 1) != SQLITE_OK)
			return -1;
	}
	if (unit_tmp_make(&t, "walvfs") != 0)
		return -1;
	writes = header_writes = frame_writes = other_writes = 0;
	bytes = 0;
	*state = &t;
	return 0;
}

static int
teardown(void **state)
{
	struct unit_tmp *t = *state;

	unit_rmdir_all(t->dir);
	return 0;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

static long long
one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Through SQLite: each commit's frames reach the WAL as one write, none as a header alone, and
 * every frame's bytes are written; a connection of the plain VFS, open all along, sees each
 * commit whole, synced or not; the file checks whole after. */
static void
test_wal_vfs_frames(void **state)
{
	struct unit_tmp *t = *state;
	const char *name = msgr_wal_vfs();
	sqlite3 *db = NULL, *reader = NULL;
	sqlite3_stmt *ins = NULL;
	int i, log = -1, ckpt = -1, before;

	assert_non_null(name);
	assert_string_equal(name, "msgr-wal");
	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    name), SQLITE_OK);
	exec(db, "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    "PRAGMA wal_autocheckpoint = 0;"
	    "CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
	    "CREATE INDEX r_v ON r(v);");
	before = writes;
	assert_int_equal(sqlite3_open_v2(t->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO r (v) VALUES (printf('%.*c%d', 700, "
	    "'x', ?1))", -1, &ins, NULL), SQLITE_OK);
	for (i = 0; i < ROWS; i++) {
		/* The second half commits with no sync (as the worker's bookkeeping does): then
		 * the write of a commit's last frame is all that puts them in the file. */
		if (i == ROWS / 2)
			exec(db, "PRAGMA synchronous = OFF");
		if (i % 10 == 0)
			exec(db, "BEGIN");
		sqlite3_bind_int(ins, 1, i);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
		if (i % 10 == 9) {
			exec(db, "COMMIT");
			assert_int_equal(one(reader, "SELECT count(*) FROM r"), i + 1);
		}
	}
	sqlite3_finalize(ins);
	assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
	    &ckpt), SQLITE_OK);
	assert_true(log > ROWS / 2);
	assert_int_equal(header_writes, 0);
	/* A commit of ten rows is under 16 frames: one write each. Every frame's bytes, and
	 * the WAL's own header (32 bytes) once. */
	assert_int_equal(writes - before, ROWS / 10);
	assert_int_equal(bytes, (long long)log * (FRAME_HDR + PAGE) + 32);
	assert_int_equal(one(reader, "SELECT count(*) FROM r WHERE length(v) > 700"), ROWS);
	assert_int_equal(sqlite3_close(reader), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(one(db, "SELECT count(*) FROM r"), ROWS);
	assert_int_equal(one(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
	    "integrity_check = 'ok'"), 1);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A WAL file named for the database base in t's folder, opened through msgr-wal directly
 * (path gets its name, for the unlink); the caller closes and frees it. */
static sqlite3_file *
open_wal(struct unit_tmp *t, const char *base, char *path, size_t pathsz)
{
	sqlite3_vfs *vfs;
	sqlite3_file *f;
	FILE *fp;
	int out = 0;

	assert_non_null(msgr_wal_vfs());
	assert_non_null(vfs = sqlite3_vfs_find("msgr-wal"));
	/* The OS's VFS gives a WAL its database's mode: the database must exist. */
	snprintf(path, pathsz, "%s/%s", t->dir, base);
	assert_non_null(fp = fopen(path, "w"));
	fclose(fp);
	snprintf(path, pathsz, "%s/%s-wal", t->dir, base);
	assert_non_null(f = calloc(1, (size_t)vfs->szOsFile));
	assert_int_equal(vfs->xOpen(vfs, path, f, SQLITE_OPEN_WAL | SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, &out), SQLITE_OK);
	return f;
}

/* A WAL file's calls made directly: a header kept back reaches the file before a read, the
 * file's size, a write elsewhere and the close, so nothing is ever seen without it. */
static void
test_wal_vfs_held_header(void **state)
{
	struct unit_tmp *t = *state;
	static char wal[160];
	sqlite3_vfs *vfs;
	sqlite3_file *f;
	unsigned char hdr[FRAME_HDR], page[PAGE], back[FRAME_HDR];
	sqlite3_int64 size = 0;
	int out = 0;

	f = open_wal(t, "direct.db", wal, sizeof(wal));
	assert_non_null(vfs = sqlite3_vfs_find("msgr-wal"));
	memset(hdr, 'h', sizeof(hdr));
	memset(page, 'p', sizeof(page));

	/* Kept back, then read: there. */
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 32), SQLITE_OK);
	assert_int_equal(writes, 0);
	assert_int_equal(f->pMethods->xRead(f, back, FRAME_HDR, 32), SQLITE_OK);
	assert_memory_equal(back, hdr, FRAME_HDR);
	assert_int_equal(header_writes, 1);

	/* Kept back, then the page right after it: one write. */
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 32), SQLITE_OK);
	assert_int_equal(f->pMethods->xWrite(f, page, PAGE, 32 + FRAME_HDR), SQLITE_OK);
	assert_int_equal(frame_writes, 1);
	assert_int_equal(header_writes, 1);

	/* Kept back, then the file's size: counted in it. */
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 32 + FRAME_HDR + PAGE), SQLITE_OK);
	assert_int_equal(f->pMethods->xFileSize(f, &size), SQLITE_OK);
	assert_int_equal(size, 32 + 2 * FRAME_HDR + PAGE);

	/* Kept back, then a write elsewhere: both, in their order. */
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 4096), SQLITE_OK);
	assert_int_equal(f->pMethods->xWrite(f, page, PAGE, 8192), SQLITE_OK);
	assert_int_equal(header_writes, 3);
	assert_int_equal(f->pMethods->xRead(f, back, FRAME_HDR, 4096), SQLITE_OK);
	assert_memory_equal(back, hdr, FRAME_HDR);

	/* Kept back at the close: written before it. */
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 16384), SQLITE_OK);
	assert_int_equal(f->pMethods->xClose(f), SQLITE_OK);
	assert_int_equal(header_writes, 4);
	free(f);
	assert_non_null(f = calloc(1, (size_t)vfs->szOsFile));
	assert_int_equal(vfs->xOpen(vfs, wal, f, SQLITE_OPEN_WAL | SQLITE_OPEN_READWRITE, &out),
	    SQLITE_OK);
	assert_int_equal(f->pMethods->xFileSize(f, &size), SQLITE_OK);
	assert_int_equal(size, 16384 + FRAME_HDR);
	assert_int_equal(f->pMethods->xClose(f), SQLITE_OK);
	free(f);
	(void)unlink(wal);
}

static void
frame_header(unsigned char *hdr, unsigned pgno, unsigned db_size)
{
	memset(hdr, 's', FRAME_HDR);        /* salts and checksums: whatever SQLite put */
	hdr[0] = (unsigned char)(pgno >> 24);
	hdr[1] = (unsigned char)(pgno >> 16);
	hdr[2] = (unsigned char)(pgno >> 8);
	hdr[3] = (unsigned char)pgno;
	hdr[4] = (unsigned char)(db_size >> 24);
	hdr[5] = (unsigned char)(db_size >> 16);
	hdr[6] = (unsigned char)(db_size >> 8);
	hdr[7] = (unsigned char)db_size;
}

/* A WAL file's calls made directly: frames one after another are gathered until the one that
 * ends a commit (a database size in its header), then written as one; a read before that
 * finds them written; a frame elsewhere writes the gathered ones first; more than 64 KB of
 * them leave without waiting for the commit. */
static void
test_wal_vfs_gathered_frames(void **state)
{
	struct unit_tmp *t = *state;
	static char wal[160];
	sqlite3_file *f;
	unsigned char hdr[FRAME_HDR], page[PAGE], back[FRAME_HDR + PAGE];
	const sqlite3_int64 frame = FRAME_HDR + PAGE;
	sqlite3_int64 at = 32, size = 0;
	int i;

	f = open_wal(t, "gather.db", wal, sizeof(wal));

	/* Three frames, then the commit's: one write of all four, nothing before. */
	for (i = 0; i < 4; i++) {
		frame_header(hdr, (unsigned)i + 1, i == 3 ? 4 : 0);
		memset(page, 'a' + i, sizeof(page));
		assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, at), SQLITE_OK);
		assert_int_equal(f->pMethods->xWrite(f, page, PAGE, at + FRAME_HDR), SQLITE_OK);
		at += frame;
		assert_int_equal(writes, i == 3 ? 1 : 0);
	}
	assert_int_equal(bytes, 4 * frame);
	assert_int_equal(f->pMethods->xRead(f, back, (int)frame, 32 + 2 * frame), SQLITE_OK);
	assert_int_equal(back[3], 3);
	assert_int_equal(back[FRAME_HDR], 'c');

	/* Two frames of a commit not yet ended, then a read of the first: written by then. */
	for (i = 0; i < 2; i++) {
		frame_header(hdr, 10 + (unsigned)i, 0);
		memset(page, 'p' + i, sizeof(page));
		assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, at), SQLITE_OK);
		assert_int_equal(f->pMethods->xWrite(f, page, PAGE, at + FRAME_HDR), SQLITE_OK);
		at += frame;
	}
	assert_int_equal(writes, 1);
	assert_int_equal(f->pMethods->xRead(f, back, (int)frame, at - 2 * frame), SQLITE_OK);
	assert_int_equal(back[3], 10);
	assert_int_equal(back[FRAME_HDR], 'p');
	assert_int_equal(writes, 2);

	/* A frame gathered, then one elsewhere (SQLite rewrites a frame of the same commit in
	 * place): the first is written before the second is gathered. */
	frame_header(hdr, 20, 0);
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, at), SQLITE_OK);
	assert_int_equal(f->pMethods->xWrite(f, page, PAGE, at + FRAME_HDR), SQLITE_OK);
	frame_header(hdr, 21, 22);
	assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, 32), SQLITE_OK);
	assert_int_equal(f->pMethods->xWrite(f, page, PAGE, 32 + FRAME_HDR), SQLITE_OK);
	assert_int_equal(writes, 4);
	at += frame;

	/* Eighty frames of one commit: written in pieces of at most 64 KB before its end. */
	writes = 0;
	bytes = 0;
	for (i = 0; i < 80; i++) {
		frame_header(hdr, 100 + (unsigned)i, 0);
		assert_int_equal(f->pMethods->xWrite(f, hdr, FRAME_HDR, at), SQLITE_OK);
		assert_int_equal(f->pMethods->xWrite(f, page, PAGE, at + FRAME_HDR), SQLITE_OK);
		at += frame;
	}
	assert_int_equal(writes, 1);                /* 62 frames fill 64 KB */
	assert_int_equal(bytes, 62 * frame);
	assert_int_equal(f->pMethods->xFileSize(f, &size), SQLITE_OK);
	assert_int_equal(size, at);
	assert_int_equal(writes, 2);
	assert_int_equal(f->pMethods->xClose(f), SQLITE_OK);
	free(f);
	(void)unlink(wal);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wal_vfs_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_vfs_held_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_vfs_gathered_frames, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
