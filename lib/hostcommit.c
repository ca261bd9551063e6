/* hostcommit.c — one committer per host (hostcommit.h says what and why).
 *
 * The client side runs inside commit.c's leader, one call at a time per process (the mutex
 * below guards the connection all the same). The committer side is one thread that polls
 * its clients, decodes every group that has arrived, stores them all with one
 * msgr_commit_submit_group on its own queue (so commit.c's rules apply unchanged: split on a
 * batch's own fault, 503 for all on a store fault, exact counts where they can be told) and
 * answers each client. While one transaction waits for its fsync the next groups arrive:
 * that is the next transaction. */
#define _GNU_SOURCE   /* accept4, MSG_NOSIGNAL */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "checkpointer.h"
#include "clock.h"
#include "hostcommit.h"
#include "log.h"

#define SOCK_SUFFIX "-host.sock"
#define LOCK_SUFFIX "-host.lock"
#define PROTO_VERSION 1u
#define T_HELLO  1u
#define T_GROUP  2u
#define T_ANSWER 3u
/* After a refusal or a failed take-over, how long a client stores alone before it asks
 * again: a pool that cannot have a committer must not pay a connect per request. */
#define RETRY_MS 1000

struct conn {
	int fd;
	struct msgr_buf in;
	int greeted;
	size_t msg;                 /* bytes of the complete message at in.data + 4, 0: none */
	struct msgr_hostcommit_group g;
	long long last_us;          /* monotonic: its last group seen by the gather, 0 never */
	pid_t pid;                  /* the client's process (SO_PEERCRED), 0 unknown */
	int threaded;               /* another connection of that process has been seen */
};

/* A connection to the committer with its buffers: a thread relaying holds one of its own, so
 * the request threads of a process reach the committer side by side. */
struct client {
	int fd;                     /* -1 none */
	int timed;                  /* fd's SO_RCVTIMEO is the host's timeout */
	long long deadline;         /* of the group in flight (msgr_clock_mono_ms) */
	struct msgr_buf out, ans;
	struct client *next_idle, *next_all;
};

struct msgr_hostcommit {
	struct msgr_store_options opt;
	char *path;
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lockpath[4096];
	int may_serve, timeout_ms;

	/* clients: one per thread relaying at once, kept for the next relay */
	pthread_mutex_t mu;
	long long quiet_until;      /* no attempt before this (monotonic ms) */
	struct client *idle;        /* not in use, connected or not */
	struct client *all;         /* every one made, for close */

	/* committer */
	int serving;                /* the thread runs */
	int lock_fd, listen_fd, wake[2];
	atomic_int stop;            /* read by the committer's threads, set by close */
	pthread_t thread;
	struct msgr_checkpointer *ckpt;   /* NULL: none (not WAL, or it could not start) */
	struct msgr_commit *commit; /* the committer's own queue and store handle */
	/* its inbox (INGEST_* below) */
	int inbox_more;             /* events may wait in the inbox */
	size_t inbox_rows;          /* about how many: added by groups, less what was moved */
	long long last_group;       /* monotonic ms: when the last group arrived */
	size_t last_n;              /* connections whose groups the last transaction held */
	long long ingest_retry_at;  /* after a failed ingest, not before this */
	int ingest_failing;         /* logged once per run of failures */
};

/* The inbox (docs/store.md "Inbox"): the committer acknowledges a group once its events are
 * rows of the inbox. Moving them into the queue costs what storing them there directly cost
 * (B-tree inserts at random places), so the committer does it only once no group has come for
 * INGEST_IDLE_MS: a burst is acknowledged at the inbox's speed, and its events are moved
 * after it, INGEST_CHUNK at a time (a group arriving meanwhile waits about a millisecond at
 * most). The worker moves what it needs before it claims, whoever it is, so under a steady
 * load the responders' own workers move them. Once INBOX_HIGH events wait, a chunk is moved
 * after every group, which bounds the backlog (and the keys the handle keeps of it) at the
 * cost of the fast acknowledgement. After a failure, nothing for INGEST_BACKOFF_MS; at stop,
 * what is left is moved for up to INGEST_STOP_MS (the rest stays, durable, for the next
 * committer or any worker). */
#define INGEST_CHUNK      16
#define INGEST_IDLE_MS    10
#define INBOX_HIGH        100000
#define INGEST_BACKOFF_MS 100
#define INGEST_STOP_MS    2000

/* ---- the wire ---- */

static msgr_result
put_u32(struct msgr_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8),
	    (unsigned char)(v >> 16), (unsigned char)(v >> 24) };

	return msgr_buf_append(b, x, sizeof(x));
}

static msgr_result
put_i64(struct msgr_buf *b, long long v)
{
	uint64_t u = (uint64_t)v;
	msgr_result rc;

	if ((rc = put_u32(b, (uint32_t)u)) != MSGR_OK)
		return rc;
	return put_u32(b, (uint32_t)(u >> 32));
}

/* Bytes, then a NUL the reader checks: a string is used in place as a C string. */
static msgr_result
put_bytes(struct msgr_buf *b, const char *s, size_t len)
{
	msgr_result rc;

	if (len > MSGR_HOSTCOMMIT_MAX_MSG)
		return MSGR_ERR_TOOBIG;
	if ((rc = put_u32(b, (uint32_t)len)) != MSGR_OK ||
	    (len > 0 && (rc = msgr_buf_append(b, s, len)) != MSGR_OK))
		return rc;
	return msgr_buf_append(b, "", 1);
}

static msgr_result
put_str(struct msgr_buf *b, const char *s)
{
	if (s == NULL)
		return MSGR_ERR_INVALID;
	return put_bytes(b, s, strlen(s));
}

struct rd {
	const unsigned char *p;
	size_t left;
	int bad;
};

static uint32_t
get_u32(struct rd *r)
{
	uint32_t v;

	if (r->bad || r->left < 4) {
		r->bad = 1;
		return 0;
	}
	v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
	    (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return v;
}

static long long
get_i64(struct rd *r)
{
	uint64_t lo = get_u32(r), hi = get_u32(r);

	return (long long)(lo | hi << 32);
}

/* A string put by put_bytes: its length (len may be NULL) and a pointer into the message. */
static const char *
get_bytes(struct rd *r, size_t *len, int text)
{
	uint32_t n = get_u32(r);
	const char *s;

	if (r->bad || (size_t)n >= r->left || r->p[n] != '\0' ||
	    (text && memchr(r->p, '\0', n) != NULL)) {
		r->bad = 1;
		return NULL;
	}
	s = (const char *)r->p;
	r->p += (size_t)n + 1;
	r->left -= (size_t)n + 1;
	if (len != NULL)
		*len = n;
	return s;
}

msgr_result
msgr_hostcommit_encode_group(const struct msgr_commit_batch *b, size_t n, struct msgr_buf *out)
{
	const struct msgr_commit_batch *x;
	msgr_result rc;
	size_t i, j;

	if (n > MSGR_HOSTCOMMIT_MAX_BATCH)
		return MSGR_ERR_TOOBIG;
	if ((rc = put_u32(out, T_GROUP)) != MSGR_OK || (rc = put_u32(out, (uint32_t)n)) != MSGR_OK)
		return rc;
	for (x = b, i = 0; i < n && x != NULL; i++, x = x->next) {
		if (x->n > UINT32_MAX || x->nq > UINT32_MAX)
			return MSGR_ERR_TOOBIG;
		if ((rc = put_u32(out, (uint32_t)x->n)) != MSGR_OK ||
		    (rc = put_u32(out, (uint32_t)x->nq)) != MSGR_OK)
			return rc;
		for (j = 0; j < x->n; j++) {
			const struct msgr_store_event *e = &x->ev[j];

			if ((rc = put_str(out, e->connector_id)) != MSGR_OK ||
			    (rc = put_str(out, e->page_id)) != MSGR_OK ||
			    (rc = put_str(out, e->user_id)) != MSGR_OK ||
			    (rc = put_u32(out, (uint32_t)e->kind)) != MSGR_OK ||
			    (rc = put_u32(out, e->standby ? 1u : 0u)) != MSGR_OK ||
			    (rc = put_i64(out, e->timestamp)) != MSGR_OK ||
			    (rc = put_str(out, e->key)) != MSGR_OK ||
			    (rc = put_str(out, e->raw)) != MSGR_OK)
				return rc;
		}
		for (j = 0; j < x->nq; j++) {
			const struct msgr_store_quarantine *q = &x->q[j];

			if ((rc = put_str(out, q->connector_id)) != MSGR_OK ||
			    (rc = put_str(out, q->reason)) != MSGR_OK ||
			    (rc = put_bytes(out, q->raw != NULL ? q->raw : "",
			        q->raw != NULL ? q->raw_len : 0)) != MSGR_OK)
				return rc;
		}
	}
	return i == n ? MSGR_OK : MSGR_ERR_INVALID;
}

void
msgr_hostcommit_group_free(struct msgr_hostcommit_group *g)
{
	if (g == NULL)
		return;
	free(g->b);
	free(g->ev);
	free(g->q);
	memset(g, 0, sizeof(*g));
}

/* The smallest encoding of an event (five empty strings and three numbers) and of a
 * quarantine row: counts read from the wire are checked against the bytes left with them
 * before anything is allocated. */
#define MIN_EVENT (5 * 5 + 4 + 4 + 8)
#define MIN_QROW  (3 * 5)

static msgr_result
decode_rows(struct rd *r, struct msgr_hostcommit_group *g, size_t *nev, size_t *nq)
{
	size_t i, j, total_ev = 0, total_q = 0;
	struct rd scan = *r;

	/* First pass: counts only, to size the arrays. Each count is bounded by what is left. */
	for (i = 0; i < g->n; i++) {
		uint32_t n = get_u32(&scan), q = get_u32(&scan);

		if (scan.bad || n > scan.left / MIN_EVENT || q > scan.left / MIN_QROW)
			return MSGR_ERR_PARSE;
		total_ev += n;
		total_q += q;
		if (total_ev > r->left / MIN_EVENT || total_q > r->left / MIN_QROW)
			return MSGR_ERR_PARSE;
		for (j = 0; j < n; j++) {
			(void)get_bytes(&scan, NULL, 1);
			(void)get_bytes(&scan, NULL, 1);
			(void)get_bytes(&scan, NULL, 1);
			(void)get_u32(&scan);
			/* standby is 0 or 1, as put: one encoding per group (fuzz_hostcommit) */
			if (get_u32(&scan) > 1)
				scan.bad = 1;
			(void)get_i64(&scan);
			(void)get_bytes(&scan, NULL, 1);
			(void)get_bytes(&scan, NULL, 1);
		}
		for (j = 0; j < q; j++) {
			(void)get_bytes(&scan, NULL, 1);
			(void)get_bytes(&scan, NULL, 1);
			(void)get_bytes(&scan, NULL, 0);
		}
		if (scan.bad)
			return MSGR_ERR_PARSE;
	}
	if (scan.left != 0)
		return MSGR_ERR_PARSE;
	*nev = total_ev;
	*nq = total_q;
	return MSGR_OK;
}

msgr_result
msgr_hostcommit_decode_group(const unsigned char *p, size_t len,
    struct msgr_hostcommit_group *g)
{
	struct rd r = { p, len, 0 };
	size_t i, j, nev = 0, nq = 0, oe = 0, oq = 0;
	msgr_result rc;
	uint32_t n;

	memset(g, 0, sizeof(*g));
	if (get_u32(&r) != T_GROUP)
		return MSGR_ERR_PARSE;
	n = get_u32(&r);
	if (r.bad || n == 0)
		return MSGR_ERR_PARSE;
	if (n > MSGR_HOSTCOMMIT_MAX_BATCH)
		return MSGR_ERR_TOOBIG;
	g->n = n;
	if ((rc = decode_rows(&r, g, &nev, &nq)) != MSGR_OK) {
		g->n = 0;
		return rc;
	}
	if ((g->b = calloc(n, sizeof(*g->b))) == NULL ||
	    (nev > 0 && (g->ev = calloc(nev, sizeof(*g->ev))) == NULL) ||
	    (nq > 0 && (g->q = calloc(nq, sizeof(*g->q))) == NULL)) {
		msgr_hostcommit_group_free(g);
		return MSGR_ERR_NOMEM;
	}
	g->n = n;
	for (i = 0; i < n; i++) {
		struct msgr_commit_batch *b = &g->b[i];

		b->n = get_u32(&r);
		b->nq = get_u32(&r);
		b->ev = b->n > 0 ? &g->ev[oe] : NULL;
		b->q = b->nq > 0 ? &g->q[oq] : NULL;
		if (i + 1 < n)
			b->next = &g->b[i + 1];
		for (j = 0; j < b->n; j++) {
			struct msgr_store_event *e = &g->ev[oe++];

			e->connector_id = get_bytes(&r, NULL, 1);
			e->page_id = get_bytes(&r, NULL, 1);
			e->user_id = get_bytes(&r, NULL, 1);
			e->kind = (int)get_u32(&r);
			e->standby = get_u32(&r) != 0;
			e->timestamp = get_i64(&r);
			e->key = get_bytes(&r, NULL, 1);
			e->raw = get_bytes(&r, NULL, 1);
		}
		for (j = 0; j < b->nq; j++) {
			struct msgr_store_quarantine *q = &g->q[oq++];

			q->connector_id = get_bytes(&r, NULL, 1);
			q->reason = get_bytes(&r, NULL, 1);
			q->raw = get_bytes(&r, &q->raw_len, 0);
		}
	}
	if (r.bad || r.left != 0) {   /* the first pass read the same bytes: cannot happen */
		msgr_hostcommit_group_free(g);
		return MSGR_ERR_PARSE;
	}
	return MSGR_OK;
}

msgr_result
msgr_hostcommit_encode_answer(const struct msgr_commit_batch *b, size_t n, struct msgr_buf *out)
{
	const struct msgr_commit_batch *x;
	msgr_result rc;
	size_t i;

	if ((rc = put_u32(out, T_ANSWER)) != MSGR_OK || (rc = put_u32(out, (uint32_t)n)) != MSGR_OK)
		return rc;
	for (x = b, i = 0; i < n && x != NULL; i++, x = x->next)
		if ((rc = put_u32(out, (uint32_t)x->rc)) != MSGR_OK ||
		    (rc = put_u32(out, (uint32_t)(x->unavailable ? 1 : 0) |
		        (uint32_t)(x->counts_exact ? 2 : 0))) != MSGR_OK ||
		    (rc = put_u32(out, (uint32_t)x->group)) != MSGR_OK ||
		    (rc = put_u32(out, (uint32_t)x->n_new)) != MSGR_OK ||
		    (rc = put_u32(out, (uint32_t)x->n_dup)) != MSGR_OK)
			return rc;
	return i == n ? MSGR_OK : MSGR_ERR_INVALID;
}

msgr_result
msgr_hostcommit_decode_answer(const unsigned char *p, size_t len, struct msgr_commit_batch *b,
    size_t n)
{
	struct rd r = { p, len, 0 };
	struct msgr_commit_batch *x;
	uint32_t v, flags;
	size_t i;

	if (get_u32(&r) != T_ANSWER || get_u32(&r) != n || r.bad)
		return MSGR_ERR_PARSE;
	for (x = b, i = 0; i < n && x != NULL; i++, x = x->next) {
		v = get_u32(&r);
		flags = get_u32(&r);
		x->group = get_u32(&r);
		x->n_new = get_u32(&r);
		x->n_dup = get_u32(&r);
		if (r.bad || v > (uint32_t)MSGR_ERR_EMPTY || flags > 3)
			return MSGR_ERR_PARSE;
		x->rc = (msgr_result)v;
		x->unavailable = (flags & 1) != 0;
		x->counts_exact = (flags & 2) != 0;
	}
	return i == n && r.left == 0 ? MSGR_OK : MSGR_ERR_PARSE;
}

/* ---- blocking I/O with a deadline (the client) ---- */

static int
wait_fd(int fd, short ev, long long deadline)
{
	struct pollfd pf = { fd, ev, 0 };
	long long left;
	int rc;

	for (;;) {
		left = deadline - msgr_clock_mono_ms();
		if (left <= 0)
			return -1;
		rc = poll(&pf, 1, left > 1000000 ? 1000000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* What b holds of one message (a 32-bit little-endian length, then that many bytes): 1 the
 * whole of it (*len the body's length), 0 a part, -1 a length over MSGR_HOSTCOMMIT_MAX_MSG or
 * more than the message. Either side sends one message and waits for the answer, so a peer
 * that sends more is broken. */
static int
frame_whole(const struct msgr_buf *b, uint32_t *len)
{
	const unsigned char *p = (const unsigned char *)b->data;

	if (b->len < 4)
		return 0;
	*len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	if (*len > MSGR_HOSTCOMMIT_MAX_MSG || b->len > (size_t)*len + 4)
		return -1;
	return b->len == (size_t)*len + 4;
}

static int
send_all(int fd, const void *p, size_t len, long long deadline)
{
	const char *c = p;
	ssize_t w;

	while (len > 0) {
		w = send(fd, c, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c += w;
			len -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) != 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* The answer is never there at once (the committer commits first), so the first read waits:
 * on a timed socket in recv itself, otherwise in poll first, and a read takes up to a page. One
 * system call for the usual answer on a timed socket, two otherwise (a poll, then the recv),
 * where reading the length apart took a recv that found nothing, a poll and two more. What
 * comes in parts is waited for with poll, within the deadline. */
int
msgr_hostcommit_recv(int fd, struct msgr_buf *b, long long deadline, int timed)
{
	char tmp[4096];
	uint32_t len;
	ssize_t r;
	int wait = !timed, flags = timed ? 0 : MSG_DONTWAIT, k;

	msgr_buf_reset(b);
	for (;;) {
		if (wait && wait_fd(fd, POLLIN, deadline) != 0)
			return -2;
		r = recv(fd, tmp, sizeof(tmp), flags);
		flags = MSG_DONTWAIT;
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return -1;
			wait = errno != EINTR;
			continue;
		}
		wait = 0;
		if (msgr_buf_append(b, tmp, (size_t)r) != MSGR_OK ||
		    (k = frame_whole(b, &len)) < 0)
			return -1;
		if (k == 1) {
			memmove(b->data, b->data + 4, len);
			b->len = len;
			b->data[len] = '\0';
			return 0;
		}
	}
}

/* out holds a message body after 4 reserved bytes: fills in its length and sends it. */
static int
send_msg(int fd, struct msgr_buf *out, long long deadline)
{
	uint32_t len = (uint32_t)(out->len - 4);

	out->data[0] = (char)(len & 0xff);
	out->data[1] = (char)((len >> 8) & 0xff);
	out->data[2] = (char)((len >> 16) & 0xff);
	out->data[3] = (char)((len >> 24) & 0xff);
	return send_all(fd, out->data, out->len, deadline);
}

static void
client_drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ---- the committer thread ---- */

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	msgr_buf_free(&c->in);
	msgr_hostcommit_group_free(&c->g);
	c->msg = 0;
	c->greeted = 0;
}

/* Reads what c's socket has; notes a complete message. 0, or -1 when c must be closed. */
static int
conn_read(struct conn *c)
{
	char tmp[65536];
	ssize_t r;
	uint32_t len;
	int k;

	while (c->msg == 0) {
		r = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (msgr_buf_append(&c->in, tmp, (size_t)r) != MSGR_OK ||
		    (k = frame_whole(&c->in, &len)) < 0)
			return -1;
		if (k == 1)
			c->msg = len;
	}
	return 0;
}

/* Sends a reply built in out (4 bytes reserved). The answers are small and the client waits
 * for them: a client whose socket is full is broken and closed. */
static int
conn_reply(struct conn *c, struct msgr_buf *out)
{
	uint32_t len = (uint32_t)(out->len - 4);
	ssize_t w;

	out->data[0] = (char)(len & 0xff);
	out->data[1] = (char)((len >> 8) & 0xff);
	out->data[2] = (char)((len >> 16) & 0xff);
	out->data[3] = (char)((len >> 24) & 0xff);
	w = send(c->fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return w == (ssize_t)out->len ? 0 : -1;
}

/* The hello: version, sync, journal. A client that wants fsyncs this committer does not make
 * (or another journal) is refused and stores alone. */
static int
conn_hello(struct msgr_hostcommit *h, struct conn *c, struct msgr_buf *out)
{
	struct rd r = { (const unsigned char *)c->in.data + 4, c->msg, 0 };
	uint32_t t = get_u32(&r), v = get_u32(&r), sync = get_u32(&r), wal = get_u32(&r);
	int ok = !r.bad && r.left == 0 && t == T_HELLO && v == PROTO_VERSION &&
	    (sync == 0 || h->opt.sync_full) && wal == (uint32_t)(h->opt.wal ? 1 : 0);

	msgr_buf_reset(out);
	if (msgr_buf_append(out, "\0\0\0\0", 4) != MSGR_OK ||
	    put_u32(out, T_HELLO) != MSGR_OK || put_u32(out, ok ? 1u : 0u) != MSGR_OK ||
	    conn_reply(c, out) != 0)
		return -1;
	c->greeted = ok;
	msgr_buf_reset(&c->in);
	c->msg = 0;
	return ok ? 0 : -1;
}

/* Every group that has arrived, in one transaction; then each client's answer. Returns how
 * many events went into the inbox. */
static size_t
commit_arrived(struct msgr_hostcommit *h, struct conn *cs, size_t ncs, struct msgr_buf *out)
{
	struct msgr_commit_batch *all = NULL;
	size_t i, j, n = 0, o = 0, added = 0, senders = 0;

	for (i = 0; i < ncs; i++)
		if (cs[i].fd >= 0 && cs[i].g.n > 0) {
			n += cs[i].g.n;
			senders++;
		}
	if (n == 0)
		return 0;
	h->last_n = senders;
	if ((all = calloc(n, sizeof(*all))) == NULL) {
		/* Without memory nothing is stored: each client is closed and stores alone. */
		for (i = 0; i < ncs; i++)
			if (cs[i].fd >= 0 && cs[i].g.n > 0)
				conn_close(&cs[i]);
		return 0;
	}
	for (i = 0; i < ncs; i++)
		for (j = 0; cs[i].fd >= 0 && j < cs[i].g.n; j++)
			all[o++] = cs[i].g.b[j];
	(void)msgr_commit_submit_group(h->commit, all, n);
	for (o = 0; o < n; o++)
		if (all[o].rc == MSGR_OK)
			added += all[o].counts_exact ? all[o].n_new : all[o].n;
	for (o = 0, i = 0; i < ncs; i++) {
		struct conn *c = &cs[i];

		if (c->fd < 0 || c->g.n == 0)
			continue;
		msgr_buf_reset(out);
		if (msgr_buf_append(out, "\0\0\0\0", 4) != MSGR_OK ||
		    msgr_hostcommit_encode_answer(&all[o], c->g.n, out) != MSGR_OK ||
		    conn_reply(c, out) != 0) {
			o += c->g.n;
			conn_close(c);
			continue;
		}
		o += c->g.n;
		msgr_hostcommit_group_free(&c->g);
		msgr_buf_reset(&c->in);
		c->msg = 0;
	}
	free(all);
	return added;
}

/* Moves at most max events of the inbox into the queue. 0, or -1 when it failed (logged once
 * per run of failures; tried again after INGEST_BACKOFF_MS). */
static int
ingest(struct msgr_hostcommit *h, size_t max)
{
	struct msgr_store *st;
	size_t moved = 0;
	msgr_result r;
	int more = 0, failed = 0;

	if ((st = msgr_commit_borrow(h->commit)) == NULL) {
		h->ingest_retry_at = msgr_clock_mono_ms() + INGEST_BACKOFF_MS;
		return -1;
	}
	/* The rows are durable in the inbox already: the move needs no fsync of its own. One
	 * lost in a power cut leaves them in the inbox, to be moved again; a later durable
	 * commit syncs the WAL it is in before anything depends on it. */
	if (h->opt.sync_full)
		(void)msgr_store_set_sync(st, 0);
	r = msgr_store_ingest(st, max, &moved, &more);
	if (r != MSGR_OK && !h->ingest_failing)
		msgr_log(MSGR_LOG_WARN, "host committer: moving the inbox into the queue failed: "
		    "%s (%s); the events wait there, durable", msgr_strerror(r),
		    msgr_store_errmsg(st));
	/* The handle acknowledges webhooks: it goes back durable, or is reopened. */
	if (h->opt.sync_full && msgr_store_set_sync(st, 1) != MSGR_OK)
		failed = 1;
	msgr_commit_giveback(h->commit, failed || r == MSGR_ERR_STORE);
	if (r != MSGR_OK) {
		h->ingest_failing = 1;
		h->ingest_retry_at = msgr_clock_mono_ms() + INGEST_BACKOFF_MS;
		return -1;
	}
	h->ingest_failing = 0;
	h->inbox_more = more;
	h->inbox_rows = !more ? 0 : h->inbox_rows > moved ? h->inbox_rows - moved : 0;
	return 0;
}

/* A complete message from c: a hello is answered now, a group is decoded for the next
 * transaction. -1: close c. */
static int
conn_message(struct msgr_hostcommit *h, struct conn *c, struct msgr_buf *out)
{
	if (!c->greeted)
		return conn_hello(h, c, out);
	if (msgr_hostcommit_decode_group((const unsigned char *)c->in.data + 4, c->msg, &c->g)
	    != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "host committer: a malformed group from a client, closed");
		return -1;
	}
	return 0;
}

/* Whose connection cs[i] is: with another of the same process open, both are threads of
 * one pool (each request thread relays on a connection of its own), worth the gather's wait;
 * a process that only ever opens one (mod_fcgid's one request at a time) is not. */
static void
conn_peer(struct conn *cs, size_t ncs, size_t i)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t j;

	if (getsockopt(cs[i].fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0)
		return;
	cs[i].pid = cred.pid;
	for (j = 0; j < ncs; j++)
		if (j != i && cs[j].fd >= 0 && cs[j].pid == cred.pid)
			cs[i].threaded = cs[j].threaded = 1;
}

static void
accept_all(struct msgr_hostcommit *h, struct conn *cs, size_t *ncs)
{
	int fd;
	size_t i;

	while ((fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (i = 0; i < *ncs && cs[i].fd >= 0; i++)
			;
		if (i == *ncs) {
			if (*ncs == MSGR_HOSTCOMMIT_MAX_CONNS) {
				close(fd);   /* that client stores alone */
				continue;
			}
			(*ncs)++;
		}
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].fd = fd;
		msgr_buf_init(&cs[i].in, (size_t)MSGR_HOSTCOMMIT_MAX_MSG + 4);
		conn_peer(cs, *ncs, i);
	}
}

int
msgr_hostcommit_awaited(long long last_us, int threaded, long long now_us)
{
	return threaded && last_us > 0 && now_us - last_us < MSGR_HOSTCOMMIT_ACTIVE_US;
}

int
msgr_hostcommit_gather_more(size_t waiting, size_t missing, size_t last, long long left_us)
{
	return waiting > 0 && missing > 0 && left_us > 0 && waiting < last;
}

/* Reads what the clients whose pf[i].revents are set have sent; a broken one is closed. */
static void
read_ready(struct msgr_hostcommit *h, struct conn *cs, size_t ncs, const struct pollfd *pf,
    struct msgr_buf *out)
{
	size_t i;

	for (i = 0; i < ncs; i++) {
		if (cs[i].fd < 0 || pf[i].revents == 0)
			continue;
		if (conn_read(&cs[i]) != 0 || (cs[i].msg > 0 && cs[i].g.n == 0 &&
		    conn_message(h, &cs[i], out) != 0))
			conn_close(&cs[i]);
	}
}

/* The gather (hostcommit.h): pf has room for ncs entries. */
static void
gather(struct msgr_hostcommit *h, struct conn *cs, size_t ncs, struct pollfd *pf,
    struct msgr_buf *out)
{
	long long start = msgr_clock_mono_us(), now = start, left;
	size_t i, waiting, awaited;
	struct timespec ts;
	int r;

	for (;;) {
		waiting = awaited = 0;
		for (i = 0; i < ncs; i++) {
			pf[i].fd = -1;
			pf[i].events = POLLIN;
			pf[i].revents = 0;
			if (cs[i].fd < 0)
				continue;
			if (cs[i].msg > 0) {
				waiting++;
				cs[i].last_us = now;
			} else if (msgr_hostcommit_awaited(cs[i].last_us, cs[i].threaded,
			    now)) {
				awaited++;
				pf[i].fd = cs[i].fd;
			}
		}
		left = start + MSGR_HOSTCOMMIT_GATHER_US - now;
		if (!msgr_hostcommit_gather_more(waiting, awaited, h->last_n, left))
			return;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000;
		if ((r = ppoll(pf, ncs, &ts, NULL)) <= 0 && !(r < 0 && errno == EINTR))
			return;
		if (r > 0)
			read_ready(h, cs, ncs, pf, out);
		now = msgr_clock_mono_us();
	}
}

static void *
serve(void *arg)
{
	struct msgr_hostcommit *h = arg;
	struct conn *cs;
	struct pollfd *pf;
	struct msgr_buf out;
	size_t ncs = 0, i, np, n_added;
	long long deadline;

	cs = calloc(MSGR_HOSTCOMMIT_MAX_CONNS, sizeof(*cs));
	pf = calloc(MSGR_HOSTCOMMIT_MAX_CONNS + 2, sizeof(*pf));
	msgr_buf_init(&out, 1u << 20);
	if (cs == NULL || pf == NULL) {
		msgr_log(MSGR_LOG_WARN, "host committer: out of memory, not serving");
		goto out;
	}
	/* A committer before this one may have left events in the inbox. */
	h->inbox_more = 1;
	while (!atomic_load(&h->stop)) {
		long long now = msgr_clock_mono_ms();
		int timeout = -1, ready;

		/* With the inbox not empty, poll waits until the committer has been idle for
		 * INGEST_IDLE_MS (or a failed move may be tried again); that time is spent moving. */
		if (h->inbox_more) {
			long long at = h->last_group + INGEST_IDLE_MS;

			if (at < h->ingest_retry_at)
				at = h->ingest_retry_at;
			timeout = now < at ? (int)(at - now) : 0;
		}
		pf[0].fd = h->wake[0];
		pf[0].events = POLLIN;
		pf[1].fd = h->listen_fd;
		pf[1].events = POLLIN;
		np = 2;
		for (i = 0; i < ncs; i++) {
			pf[np].fd = cs[i].fd;   /* -1 is ignored by poll */
			pf[np].events = POLLIN;
			np++;
		}
		if ((ready = poll(pf, np, timeout)) < 0) {
			if (errno == EINTR)
				continue;
			msgr_log(MSGR_LOG_WARN, "host committer: poll failed: %s", strerror(errno));
			break;
		}
		if (ready == 0) {
			now = msgr_clock_mono_ms();
			if (h->inbox_more && now >= h->ingest_retry_at &&
			    now - h->last_group >= INGEST_IDLE_MS)
				(void)ingest(h, INGEST_CHUNK);
			continue;
		}
		if (pf[1].revents & POLLIN)
			accept_all(h, cs, &ncs);
		/* The clients' entries start at pf + 2; a client accepted just now has none. */
		read_ready(h, cs, np - 2 < ncs ? np - 2 : ncs, pf + 2, &out);
		if (h->opt.sync_full)
			gather(h, cs, ncs, pf, &out);
		h->last_group = msgr_clock_mono_ms();
		if ((n_added = commit_arrived(h, cs, ncs, &out)) > 0) {
			h->inbox_more = 1;
			h->inbox_rows += n_added;
		}
		if (h->inbox_more && h->inbox_rows >= INBOX_HIGH &&
		    msgr_clock_mono_ms() >= h->ingest_retry_at)
			(void)ingest(h, INGEST_CHUNK);
	}
	/* Stopping: the inbox is moved while there is time (INGEST_STOP_MS). */
	deadline = msgr_clock_mono_ms() + INGEST_STOP_MS;
	while (cs != NULL && h->inbox_more && msgr_clock_mono_ms() < deadline && ingest(h, 256) == 0)
		;
out:
	for (i = 0; cs != NULL && i < ncs; i++)
		conn_close(&cs[i]);
	free(cs);
	free(pf);
	msgr_buf_free(&out);
	return NULL;
}

/* ---- becoming the committer ---- */

static void
serve_stop(struct msgr_hostcommit *h)
{
	char one = 1;

	if (h->serving) {
		atomic_store(&h->stop, 1);
		if (write(h->wake[1], &one, 1) < 0) {
			/* The pipe is empty at worst full: poll wakes either way. */
		}
		pthread_join(h->thread, NULL);
		msgr_checkpointer_stop(h->ckpt);
		h->ckpt = NULL;
		h->serving = 0;
		/* The name is ours while the lock is: gone before another takes both. */
		(void)unlink(h->sock);
	}
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	h->listen_fd = -1;
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	h->wake[0] = h->wake[1] = -1;
	msgr_commit_close(h->commit);
	h->commit = NULL;
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	h->lock_fd = -1;
}

/* The socket bound under a temporary name, made private, then renamed into place: no
 * moment where the name answers with wider permissions, and a stale socket of a dead
 * committer is replaced in one step. */
static int
bind_private(struct msgr_hostcommit *h)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld", h->sock, (long)getpid()) >= (int)sizeof(tmp))
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	(void)unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(tmp, 0600) != 0 ||
	    listen(fd, 128) != 0 || rename(tmp, h->sock) != 0) {
		(void)unlink(tmp);
		close(fd);
		return -1;
	}
	return fd;
}

/* Takes the lock and starts the thread when nobody holds it. 0 serving; -1 not. */
static int
serve_start(struct msgr_hostcommit *h)
{
	struct msgr_store_options copt;
	sigset_t all, old;
	int rc;

	h->lock_fd = open(h->lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (h->lock_fd < 0)
		return -1;
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB) != 0)
		goto fail;
	copt = h->opt;
	copt.checkpoint_apart = h->opt.wal;
	copt.inbox = 1;
	if (msgr_commit_open(&copt, &h->commit) != MSGR_OK || pipe2(h->wake, O_CLOEXEC) != 0 ||
	    (h->listen_fd = bind_private(h)) < 0)
		goto fail;
	/* The stop signals belong to the request loop: the committer thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&h->stop, 0);
	rc = pthread_create(&h->thread, NULL, serve, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Named for top -H, ps -L and perf: which thread of the pool holds the host's commits. */
	if (rc == 0)
		(void)pthread_setname_np(h->thread, "msgr-committer");
	if (rc != 0)
		goto fail;
	h->serving = 1;
	/* Its commits leave the checkpoints, with their fsync of the database file, to a thread
	 * of their own (checkpoint_apart above). */
	if (h->opt.wal && msgr_checkpointer_start(&h->opt, "msgr-checkpoint", &h->ckpt) != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "host committer: no checkpoint thread; checkpoints run "
		    "past 10,000 WAL pages only");
	msgr_log(MSGR_LOG_INFO, "host committer: serving this host's responders on %s", h->sock);
	return 0;
fail:
	serve_stop(h);
	return -1;
}

/* ---- the client ---- */

static int
client_connect(struct msgr_hostcommit *h, struct client *c, long long deadline)
{
	struct sockaddr_un sa;
	struct msgr_buf hello;
	struct timeval tv;
	int fd, ok;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, h->sock, strlen(h->sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	/* A read of the answer then waits in recv, no poll before it (msgr_hostcommit_recv);
	 * without the option it still works, a poll first. */
	tv.tv_sec = h->timeout_ms / 1000;
	tv.tv_usec = (h->timeout_ms % 1000) * 1000;
	c->timed = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
	/* The hello in a buffer of its own: c->out already holds the group to send. */
	msgr_buf_init(&hello, 64);
	ok = msgr_buf_append(&hello, "\0\0\0\0", 4) == MSGR_OK &&
	    put_u32(&hello, T_HELLO) == MSGR_OK && put_u32(&hello, PROTO_VERSION) == MSGR_OK &&
	    put_u32(&hello, h->opt.sync_full ? 1u : 0u) == MSGR_OK &&
	    put_u32(&hello, h->opt.wal ? 1u : 0u) == MSGR_OK &&
	    send_msg(fd, &hello, deadline) == 0 &&
	    msgr_hostcommit_recv(fd, &c->ans, deadline, c->timed) == 0 && c->ans.len == 8 &&
	    memcmp(c->ans.data, "\1\0\0\0\1\0\0\0", 8) == 0;
	msgr_buf_free(&hello);
	if (!ok) {
		client_drop(c);
		return -1;
	}
	return 0;
}

/* c connected to the committer, this process becoming it when nobody is. 0, or -1 (store
 * alone). Takes h->mu for the shared parts: the pause after a failure and the committer. */
static int
client_ready(struct msgr_hostcommit *h, struct client *c, long long deadline)
{
	long long t;
	int quiet, serving;

	if (c->fd >= 0)
		return 0;
	t = msgr_clock_mono_ms();
	pthread_mutex_lock(&h->mu);
	quiet = t < h->quiet_until;
	pthread_mutex_unlock(&h->mu);
	if (quiet)
		return -1;
	if (client_connect(h, c, deadline) == 0)
		return 0;
	/* No committer answered: this process becomes it, unless one of its threads already has. */
	pthread_mutex_lock(&h->mu);
	serving = h->serving || (h->may_serve && serve_start(h) == 0);
	pthread_mutex_unlock(&h->mu);
	if (serving && client_connect(h, c, deadline) == 0)
		return 0;
	pthread_mutex_lock(&h->mu);
	h->quiet_until = t + RETRY_MS;
	pthread_mutex_unlock(&h->mu);
	return -1;
}

/* Sends the group in c->out on a connection made ready here. 0 sent; -1 not sent (c dropped). */
static int
call_send(struct msgr_hostcommit *h, struct client *c)
{
	if (client_ready(h, c, c->deadline) != 0)
		return -1;
	if (send_msg(c->fd, &c->out, c->deadline) != 0) {
		client_drop(c);
		return -1;
	}
	return 0;
}

/* Reads the answer to the group c sent. 0 answered (or timed out: b filled in); -1 the
 * connection broke before an answer (c dropped). */
static int
call_recv(struct msgr_hostcommit *h, struct client *c, struct msgr_commit_batch *group,
    size_t n)
{
	struct msgr_commit_batch *b;
	size_t i;
	int r;

	/* Past the deadline (an answer read late by another thread) nothing is read: a timed
	 * socket would wait in recv for as long again. */
	r = msgr_clock_mono_ms() >= c->deadline ? -2 :
	    msgr_hostcommit_recv(c->fd, &c->ans, c->deadline, c->timed);
	if (r == 0 && msgr_hostcommit_decode_answer((const unsigned char *)c->ans.data,
	    c->ans.len, group, n) == MSGR_OK)
		return 0;
	client_drop(c);
	if (r != -2)
		return -1;
	/* No answer in time: the committer may still store it, so it is not stored here as
	 * well; the requests get 503 and Facebook delivers them again. */
	for (b = group, i = 0; i < n && b != NULL; i++, b = b->next) {
		b->rc = MSGR_ERR_BUSY;
		b->unavailable = 0;
		b->group = n;
		b->n_new = b->n_dup = 0;
	}
	msgr_log(MSGR_LOG_WARN, "host committer: no answer within %d ms", h->timeout_ms);
	return 0;
}

/* A client of this thread's own until client_put: an idle one, or a new one (not connected
 * yet). NULL: no memory. */
static struct client *
client_get(struct msgr_hostcommit *h)
{
	struct client *c;

	pthread_mutex_lock(&h->mu);
	if ((c = h->idle) != NULL) {
		h->idle = c->next_idle;
	} else if ((c = calloc(1, sizeof(*c))) != NULL) {
		c->fd = -1;
		msgr_buf_init(&c->out, (size_t)MSGR_HOSTCOMMIT_MAX_MSG + 4);
		msgr_buf_init(&c->ans, 1u << 20);
		c->next_all = h->all;
		h->all = c;
	}
	pthread_mutex_unlock(&h->mu);
	return c;
}

static void
client_put(struct msgr_hostcommit *h, struct client *c)
{
	/* A group's copy can be large (MSGR_HOSTCOMMIT_MAX_MSG): not kept between relays. */
	if (c->out.len > (64u << 10))
		msgr_buf_free(&c->out);
	pthread_mutex_lock(&h->mu);
	c->next_idle = h->idle;
	h->idle = c;
	pthread_mutex_unlock(&h->mu);
}

/* A client with the group encoded in its out buffer and the deadline set, or NULL (no
 * memory, or the group too big for the wire: the caller stores it). */
static struct client *
call_open(struct msgr_hostcommit *h, const struct msgr_commit_batch *group, size_t n)
{
	struct client *c;

	if (h == NULL || group == NULL || n == 0 || (c = client_get(h)) == NULL)
		return NULL;
	c->deadline = msgr_clock_mono_ms() + h->timeout_ms;
	msgr_buf_reset(&c->out);
	if (msgr_buf_append(&c->out, "\0\0\0\0", 4) != MSGR_OK ||
	    msgr_hostcommit_encode_group(group, n, &c->out) != MSGR_OK) {
		client_put(h, c);
		return NULL;
	}
	return c;
}

msgr_result
msgr_hostcommit_relay(void *arg, struct msgr_commit_batch *group, size_t n)
{
	struct msgr_hostcommit *h = arg;
	struct client *c;
	msgr_result rc = MSGR_ERR_IO;
	int fresh, tries;

	if ((c = call_open(h, group, n)) == NULL)
		return MSGR_ERR_IO;
	/* A kept connection may lead to a committer that has gone since: then once more on a
	 * fresh one, which finds the next committer or becomes it. A fresh connection that
	 * breaks: stored here (duplicates of what the committer did store are found by key). */
	for (tries = 0; tries < 2; tries++) {
		fresh = c->fd < 0;
		if (call_send(h, c) == 0 && call_recv(h, c, group, n) == 0) {
			rc = MSGR_OK;
			break;
		}
		if (fresh)
			break;
	}
	client_put(h, c);
	return rc;
}

msgr_result
msgr_hostcommit_send(struct msgr_hostcommit *h, const struct msgr_commit_batch *group,
    size_t n, struct msgr_hostcommit_call **call)
{
	struct client *c;
	int fresh, tries;

	if (call == NULL)
		return MSGR_ERR_IO;
	*call = NULL;
	if ((c = call_open(h, group, n)) == NULL)
		return MSGR_ERR_IO;
	/* As the relay: a kept connection that fails is tried once more fresh. */
	for (tries = 0; tries < 2; tries++) {
		fresh = c->fd < 0;
		if (call_send(h, c) == 0) {
			*call = (struct msgr_hostcommit_call *)c;
			return MSGR_OK;
		}
		if (fresh)
			break;
	}
	client_put(h, c);
	return MSGR_ERR_IO;
}

int
msgr_hostcommit_call_fd(const struct msgr_hostcommit_call *call)
{
	return call != NULL ? ((const struct client *)call)->fd : -1;
}

long long
msgr_hostcommit_call_deadline(const struct msgr_hostcommit_call *call)
{
	return call != NULL ? ((const struct client *)call)->deadline : 0;
}

msgr_result
msgr_hostcommit_receive(struct msgr_hostcommit *h, struct msgr_hostcommit_call *call,
    struct msgr_commit_batch *group, size_t n)
{
	struct client *c = (struct client *)call;
	int r;

	if (h == NULL || c == NULL)
		return MSGR_ERR_IO;
	r = call_recv(h, c, group, n);
	client_put(h, c);
	return r == 0 ? MSGR_OK : MSGR_ERR_IO;
}

int
msgr_hostcommit_serving(struct msgr_hostcommit *h)
{
	int s;

	if (h == NULL)
		return 0;
	pthread_mutex_lock(&h->mu);
	s = h->serving;
	pthread_mutex_unlock(&h->mu);
	return s;
}

msgr_result
msgr_hostcommit_open(const struct msgr_hostcommit_options *o, struct msgr_hostcommit **out)
{
	struct msgr_hostcommit *h;
	size_t len;

	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (o == NULL || o->store == NULL || o->store->path == NULL ||
	    (o->store->backend != NULL && strcmp(o->store->backend, "sqlite") != 0))
		return MSGR_ERR_INVALID;
	len = strlen(o->store->path);
	/* The socket's name and its temporary one (a pid more) must fit a unix address. */
	if (len + sizeof(SOCK_SUFFIX) + 12 > sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    len + sizeof(LOCK_SUFFIX) > sizeof(h->lockpath))
		return MSGR_ERR_TOOBIG;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return MSGR_ERR_NOMEM;
	if ((h->path = strdup(o->store->path)) == NULL || pthread_mutex_init(&h->mu, NULL) != 0) {
		free(h->path);
		free(h);
		return MSGR_ERR_NOMEM;
	}
	h->opt = *o->store;
	h->opt.path = h->path;
	h->opt.errbuf = NULL;
	h->opt.errbufsz = 0;
	snprintf(h->sock, sizeof(h->sock), "%s%s", h->path, SOCK_SUFFIX);
	snprintf(h->lockpath, sizeof(h->lockpath), "%s%s", h->path, LOCK_SUFFIX);
	h->may_serve = o->may_serve;
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
	h->lock_fd = h->listen_fd = -1;
	h->wake[0] = h->wake[1] = -1;
	*out = h;
	return MSGR_OK;
}

void
msgr_hostcommit_close(struct msgr_hostcommit *h)
{
	struct client *c, *next;

	if (h == NULL)
		return;
	for (c = h->all; c != NULL; c = next) {
		next = c->next_all;
		client_drop(c);
		msgr_buf_free(&c->out);
		msgr_buf_free(&c->ans);
		free(c);
	}
	pthread_mutex_lock(&h->mu);
	serve_stop(h);
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_destroy(&h->mu);
	free(h->path);
	free(h);
}
