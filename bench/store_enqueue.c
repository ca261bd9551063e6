/* bench/store_enqueue.c — the store's own cost per stored event, without a web server.
 *
 * Enqueues COUNT events of about 700 bytes (random mids, 5,000 users over 64 pages, as
 * bench/gen_bodies.py makes them) into a fresh SQLite file, GROUP events per call, as the host
 * committer does with the requests that arrive together, and prints the time per event. The
 * checkpoint is left to the end, as the committer leaves it to its checkpoint thread, so what
 * is measured is the commit itself: the rows, their indexes and the WAL frames. A measurement,
 * never a pass/fail test (`make bench`).
 *
 *   build/bench/store_enqueue DIR [COUNT [GROUP [full|normal [inbox]]]]
 *     DIR    an empty folder of the filesystem to measure (the file goes there, and is left)
 *     COUNT  events in all, default 50000
 *     GROUP  events per transaction, default 8
 *     full   synchronous=FULL, an fsync per commit (the default); normal: none
 *     inbox  as the host committer stores: into the inbox (docs/store.md "Inbox"), then the
 *            time per event of moving them all into the queue, 16 a transaction without an
 *            fsync, as the committer moves them when idle */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define RAW_LEN   700
#define GROUP_MAX 256

struct ev_text {
	char key[40], user[24], page[24], raw[RAW_LEN + 1];
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift: the same mids every run, spread as Facebook's are (no order to lean on). */
static unsigned long long
next_rand(unsigned long long *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

int
main(int argc, char **argv)
{
	static struct ev_text t[GROUP_MAX];
	struct msgr_store_event ev[GROUP_MAX];
	struct msgr_store_options o;
	struct msgr_store *st = NULL;
	unsigned long long rng = 88172645463325252ULL;
	char path[4096], err[256] = "";
	long count = argc > 2 ? atol(argv[2]) : 50000, done = 0;
	int group = argc > 3 ? atoi(argv[3]) : 8, full = argc > 4 ? strcmp(argv[4], "normal") : 1;
	int inbox = argc > 5 && strcmp(argv[5], "inbox") == 0, more = 1;
	double t0, t1;
	size_t n_new, n_dup, i, moved;

	if (argc < 2 || count <= 0 || group <= 0 || group > GROUP_MAX) {
		fprintf(stderr, "usage: store_enqueue DIR [COUNT [GROUP(1..%d) [full|normal "
		    "[inbox]]]]\n",
		    GROUP_MAX);
		return 2;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/state.db", argv[1]) >= sizeof(path))
		return 2;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.wal = 1;
	o.sync_full = full;
	o.busy_timeout_ms = 2000;
	o.checkpoint_apart = 1;
	o.inbox = inbox;
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	if (msgr_store_open(&o, &st) != MSGR_OK) {
		fprintf(stderr, "store_enqueue: %s\n", err);
		return 1;
	}
	t0 = now_s();
	while (done < count) {
		size_t n = (size_t)(count - done < group ? count - done : group);

		for (i = 0; i < n; i++) {
			unsigned long long r = next_rand(&rng);

			snprintf(t[i].key, sizeof(t[i].key), "m:m_%016llx", r);
			snprintf(t[i].user, sizeof(t[i].user), "%llu", 7000000000000000ULL + r % 5000);
			snprintf(t[i].page, sizeof(t[i].page), "%llu", 100000000000001ULL + (r >> 32) % 64);
			memset(t[i].raw, 'x', RAW_LEN);
			t[i].raw[RAW_LEN] = '\0';
			memset(&ev[i], 0, sizeof(ev[i]));
			ev[i].connector_id = "bench";
			ev[i].page_id = t[i].page;
			ev[i].user_id = t[i].user;
			ev[i].timestamp = 1764000000000LL + done + (long long)i;
			ev[i].key = t[i].key;
			ev[i].raw = t[i].raw;
		}
		if (msgr_store_enqueue(st, ev, n, NULL, 0, &n_new, &n_dup) != MSGR_OK) {
			fprintf(stderr, "store_enqueue: %s\n", msgr_store_errmsg(st));
			msgr_store_close(st);
			return 1;
		}
		done += (long)n;
	}
	t1 = now_s();
	printf("store_enqueue  %ld events, %d per commit, sync=%s%s: %.1f us/event, %.0f events/s\n",
	    count, group, full ? "full" : "normal", inbox ? ", into the inbox" : "",
	    (t1 - t0) * 1e6 / (double)count, (double)count / (t1 - t0));
	if (inbox) {
		t0 = now_s();
		if (msgr_store_set_sync(st, 0) != MSGR_OK)
			more = 0;
		while (more && msgr_store_ingest(st, 16, &moved, &more) == MSGR_OK)
			;
		t1 = now_s();
		if (more) {
			fprintf(stderr, "store_enqueue: ingest: %s\n", msgr_store_errmsg(st));
			msgr_store_close(st);
			return 1;
		}
		printf("store_ingest   %ld events, 16 per commit, no fsync: %.1f us/event\n", count,
		    (t1 - t0) * 1e6 / (double)count);
	}
	msgr_store_close(st);
	return 0;
}
