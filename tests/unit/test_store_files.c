/* Unit tests: what the SQLite store does to the file system (docs/store.md "Files"). The
 * database and its -wal/-shm are private to their owner whatever the umask; several processes
 * opening a fresh file at once all succeed, quietly. Each test works in its own folder under
 * /tmp, removed afterwards. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

#define RACERS 8        /* processes opening one fresh file at the same moment */
#define ROUNDS 60       /* fresh files, one after the other */

static int
setup(void **state)
{
	struct unit_tmp *f = calloc(1, sizeof(*f));

	if (f == NULL || unit_tmp_make(f, "files") != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct unit_tmp *f = *state;

	unit_rmdir_all(f->dir);
	free(f);
	return 0;
}

static msgr_result
open_at(const char *path, int wal, struct msgr_store **st, char *err, size_t errsz)
{
	struct msgr_store_options o;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.wal = wal;
	o.busy_timeout_ms = 5000;
	o.errbuf = err;
	o.errbufsz = errsz;
	return msgr_store_open(&o, st);
}

/* One event in, so the journal files exist (WAL: -wal and -shm; DELETE: a -journal while
 * the transaction runs). */
static void
put_one(struct msgr_store *st)
{
	struct msgr_store_event e;
	size_t nn = 0, nd = 0;

	memset(&e, 0, sizeof(e));
	e.connector_id = "conn";
	e.page_id = "1";
	e.user_id = "2";
	e.timestamp = 1700000000000LL;
	e.key = "k1";
	e.raw = "{}";
	assert_int_equal(msgr_store_enqueue(st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 1);
}

static void
assert_private(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if ((sb.st_mode & 077) != 0)
		fail_msg("%s is mode %03o: group or others may read or write it", path,
		    (unsigned)(sb.st_mode & 0777));
	/* still usable by its owner */
	assert_int_equal(sb.st_mode & 0600, 0600);
}

/* The umask of a web server or cron (022, even 000) leaves the files private. */
static void
test_private_whatever_the_umask(void **state)
{
	static const mode_t masks[] = { 022, 0, 002 };
	struct unit_tmp *f = *state;
	struct msgr_store *st = NULL;
	char err[256] = "", p[160];
	mode_t old;
	size_t i;

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		unit_empty_dir(f->dir);
		old = umask(masks[i]);
		if (open_at(f->path, 1, &st, err, sizeof(err)) != MSGR_OK)
			fail_msg("open: %s", err);
		put_one(st);
		assert_private(f->path);
		snprintf(p, sizeof(p), "%s-wal", f->path);
		assert_private(p);
		snprintf(p, sizeof(p), "%s-shm", f->path);
		assert_private(p);
		msgr_store_close(st);
		st = NULL;
		(void)umask(old);
	}
	/* journal = "delete": the rollback journal is created like the database */
	unit_empty_dir(f->dir);
	old = umask(0);
	if (open_at(f->path, 0, &st, err, sizeof(err)) != MSGR_OK)
		fail_msg("open: %s", err);
	put_one(st);
	assert_private(f->path);
	msgr_store_close(st);
	(void)umask(old);
}

/* An existing file keeps the mode its owner gave it: the store never changes it (msgrctl
 * check warns instead, docs/deploy.md). */
static void
test_existing_mode_kept(void **state)
{
	struct unit_tmp *f = *state;
	struct msgr_store *st = NULL;
	struct stat sb;
	char err[256] = "";
	int fd;

	fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(close(fd), 0);
	if (open_at(f->path, 1, &st, err, sizeof(err)) != MSGR_OK)
		fail_msg("open: %s", err);
	put_one(st);
	msgr_store_close(st);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
}

/* A process of the race: waits for the start byte, opens the fresh file, writes one line
 * to out (its result and what it logged) and exits. */
static void
racer(const char *path, int start, int out, int wal)
{
	struct msgr_store *st = NULL;
	char err[256] = "", line[512], logged[256];
	int logfd[2], devnull;
	ssize_t n;
	msgr_result r;
	char c;

	/* The store logs to stderr: catch it in a pipe to tell a quiet open from a noisy one. */
	if (pipe(logfd) != 0 || dup2(logfd[1], STDERR_FILENO) < 0)
		_exit(3);
	close(logfd[1]);
	if (read(start, &c, 1) != 1)
		_exit(4);
	r = open_at(path, wal, &st, err, sizeof(err));
	msgr_store_close(st);
	/* nothing else writes to stderr now: a non-blocking read takes what the open logged */
	devnull = open("/dev/null", O_WRONLY);
	if (devnull < 0 || dup2(devnull, STDERR_FILENO) < 0)
		_exit(5);
	if (fcntl(logfd[0], F_SETFL, O_NONBLOCK) != 0)
		_exit(6);
	n = read(logfd[0], logged, sizeof(logged) - 1);
	logged[n > 0 ? n : 0] = '\0';
	snprintf(line, sizeof(line), "%d|%s|%s\n", (int)r, err, logged);
	if (write(out, line, strlen(line)) < 0)
		_exit(7);
	_exit(0);
}

/* Starting a pool on an empty folder: every process opens the fresh file at once. None
 * fails, none logs "database is locked" (the journal mode is set under the busy handler). */
static void
test_fresh_file_race(void **state)
{
	struct unit_tmp *f = *state;
	char buf[RACERS * 600], *p, *nl;
	int start[2], out[2], round, i, wal, status;
	pid_t pids[RACERS];
	size_t got;
	ssize_t n;

	for (round = 0; round < ROUNDS; round++) {
		wal = round % 3 != 2;
		unit_empty_dir(f->dir);
		assert_int_equal(pipe(start), 0);
		assert_int_equal(pipe(out), 0);
		for (i = 0; i < RACERS; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				close(start[1]);
				close(out[0]);
				racer(f->path, start[0], out[1], wal);
			}
		}
		close(start[0]);
		close(out[1]);
		/* one byte each: they all start within microseconds of each other */
		for (i = 0; i < RACERS; i++)
			assert_int_equal(write(start[1], "g", 1), 1);
		close(start[1]);
		got = 0;
		while (got < sizeof(buf) - 1 && (n = read(out[0], buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		close(out[0]);
		for (i = 0; i < RACERS; i++) {
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		for (i = 0, p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1, i++) {
			*nl = '\0';
			if (strncmp(p, "0||", 3) != 0)
				fail_msg("round %d (%s): a process did not open quietly: %s", round,
				    wal ? "wal" : "delete", p);
		}
		assert_int_equal(i, RACERS);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_private_whatever_the_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_mode_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_file_race, setup, teardown),
	};

	msgr_log_init("test_store_files", MSGR_LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
