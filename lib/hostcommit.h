/* hostcommit.h — one committer per host: the events of every responder process on the host
 * stored in shared transactions (docs/responder.md "One committer per host").
 *
 * Why: SQLite has one write lock per file. Processes that each commit their own requests take
 * turns on it, and each turn pays an fsync (with sync = "full") and a fight for the lock: four
 * processes spend most of their time polling the lock. Here one process of the pool, the one
 * holding the lock file DB-host.lock, runs a committer thread that listens on the unix socket
 * DB-host.sock (0600, beside the state file). Every request thread of every process hands
 * its batch (commit.h) to it on a connection of its own (a thread never waits for another's
 * round trip) and waits for the answer; the committer appends what all of them sent since its
 * last transaction to the store's inbox in ONE transaction, so one fsync covers every request
 * in flight on the host, and the write lock is taken by one writer instead of fought over. A
 * request is still answered 200 only after the transaction holding its events has committed;
 * the events are moved from the inbox into the queue later (docs/store.md "Inbox").
 *
 * Nothing depends on the committer being there: a process that cannot reach it (none yet,
 * the socket path too long, the committer killed mid-call) stores its group itself, as
 * before. That is safe even when the committer did store it: events are deduplicated by key,
 * so the second store finds them and counts them as duplicates (or, while the committer's
 * copy still waits in its inbox, stores them and the move drops that copy). When the committer's process
 * ends (stopped, killed), the lock is released and the next process that needs it takes over.
 *
 * The wire, on a stream socket: each message is a 32-bit little-endian length and that many
 * bytes. A client first says hello (version, sync and journal mode: a committer stores only
 * for clients that want no less durability than its own), then sends one group at a time
 * (a thread's one batch; several when a caller relays a group) and reads its answer: per
 * batch the result, whether the store was unavailable, the group size and the counts. Every
 * length and count read from the wire is bounded. */
#ifndef MSGR_HOSTCOMMIT_H
#define MSGR_HOSTCOMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "commit.h"
#include "result.h"
#include "store.h"

/* The largest message either side accepts: a group of many threads' bodies. A group over it
 * is stored by its own process. */
#define MSGR_HOSTCOMMIT_MAX_MSG   (64u << 20)
/* Most batches in one message, and connections one committer serves: one per request thread
 * relaying at once on the host (64 threads, the most a process has, in 16 processes). A
 * connection past it is closed, and its thread's process stores alone for a second. */
#define MSGR_HOSTCOMMIT_MAX_BATCH 1024u
#define MSGR_HOSTCOMMIT_MAX_CONNS 1024u

struct msgr_hostcommit;

struct msgr_hostcommit_options {
	const struct msgr_store_options *store;  /* copied; sqlite only */
	int may_serve;    /* this process may become the committer: a long-lived FastCGI
	                     process (never plain CGI, which ends after one request) */
	int timeout_ms;   /* how long a client waits for an answer before it answers 503 */
};

/* A client (and, when may_serve, a committer in waiting) for the store opt->store names.
 * MSGR_OK; MSGR_ERR_INVALID (no path, or a backend other than sqlite: PostgreSQL shares its
 * fsyncs by itself); MSGR_ERR_TOOBIG (the socket path does not fit a unix socket address);
 * MSGR_ERR_NOMEM. */
msgr_result msgr_hostcommit_open(const struct msgr_hostcommit_options *o,
    struct msgr_hostcommit **out);
/* Stops the committer thread if this process runs it, after it has answered what it read;
 * then releases the lock for another process. NULL is fine. */
void msgr_hostcommit_close(struct msgr_hostcommit *h);

/* The relay for msgr_commit_set_relay (arg: the msgr_hostcommit): hands the group to the
 * host's committer, becoming it first when nobody is and this process may. MSGR_OK: every
 * batch's out fields are set (503-worthy results included); MSGR_ERR_IO: not relayed, and
 * the caller stores the group itself. Thread-safe: each calling thread relays on a
 * connection of its own at the same time as the others (kept for later calls, at most one
 * per thread relaying at once). */
msgr_result msgr_hostcommit_relay(void *h, struct msgr_commit_batch *group, size_t n);

/* The relay in two halves, for a caller that answers from another thread than the one that
 * relays (docs/responder.md "Answers from another thread"): the request thread sends its
 * group and goes back to accept; a thread waiting on the call's fd reads the answer. */
struct msgr_hostcommit_call;

/* Hands the group to the committer as the relay does (becoming it first when nobody is and
 * this process may) and returns once it is sent, with *call the connection that has it in
 * flight. The rows are copied: they need not outlive this call. MSGR_OK; MSGR_ERR_IO: not
 * sent, *call NULL, and the caller stores the group itself. */
msgr_result msgr_hostcommit_send(struct msgr_hostcommit *h, const struct msgr_commit_batch *group,
    size_t n, struct msgr_hostcommit_call **call);
/* The call's socket, readable once the answer has come; the time (msgr_clock_mono_ms) past
 * which no answer is waited for. */
int msgr_hostcommit_call_fd(const struct msgr_hostcommit_call *call);
long long msgr_hostcommit_call_deadline(const struct msgr_hostcommit_call *call);
/* Reads the call's answer into the n batches' out fields, waiting for it until the
 * deadline, and ends the call (its connection is kept for later ones); any thread may.
 * MSGR_OK: answered, or no answer by the deadline (each batch then MSGR_ERR_BUSY: the
 * committer may still store it, so it must not be stored again); MSGR_ERR_IO: the connection
 * broke first, and the caller stores the group itself (duplicates are found by key). */
msgr_result msgr_hostcommit_receive(struct msgr_hostcommit *h, struct msgr_hostcommit_call *call,
    struct msgr_commit_batch *group, size_t n);

/* 1 when this process runs the host's committer now. */
int msgr_hostcommit_serving(struct msgr_hostcommit *h);

/* The gather (sync_full only): before it commits what has arrived, the committer waits up to
 * MSGR_HOSTCOMMIT_GATHER_US for the connections that have been sending (a group in the last
 * MSGR_HOSTCOMMIT_ACTIVE_US) and have none waiting now, as long as one of them is missing.
 * Each connection has one group in flight at most, so once every sender's is in, waiting
 * gains nothing; a connection quiet for longer is not waited for. One fsync costs this
 * machine's kind about 0.1 ms of CPU: without the wait, a group held about 4 events under
 * load. */
#define MSGR_HOSTCOMMIT_GATHER_US 600
#define MSGR_HOSTCOMMIT_ACTIVE_US 5000
/* 1: the committer waits for this client, which has no group waiting now (last_us the
 * monotonic microsecond its last group was seen, 0 never; threaded: another connection of
 * its process was open beside it, so it is one request thread of several; now_us now). The
 * only connection of its process is not waited for: a one-thread process (mod_fcgid) gets its
 * next request only through the web server, and waiting for it cost mod_fcgid 12% side by
 * side. */
int msgr_hostcommit_awaited(long long last_us, int threaded, long long now_us);
/* 1: the gather goes on waiting. waiting: connections with a group in; missing: awaited
 * connections without one; last: how many groups the last transaction held; left_us: the
 * wait's time left. It ends as soon as as many groups are in as the last transaction held:
 * a group's requests are answered together and come back together, so that is how many are
 * in flight. Without it, four requests in flight over sixteen request threads waited the
 * whole 0.6 ms each time for threads that had no request, and answered a sixth fewer than
 * without any wait. A load that grows is not held back: what arrives meanwhile joins. */
int msgr_hostcommit_gather_more(size_t waiting, size_t missing, size_t last, long long left_us);

/* ---- the wire (exposed for the unit tests and the fuzz target) ---- */

/* A decoded group: batches whose rows point into the message it was decoded from, b[i].next
 * linked to b[i + 1] so the array is also the chain msgr_commit_submit_group takes. */
struct msgr_hostcommit_group {
	struct msgr_commit_batch *b;
	size_t n;
	struct msgr_store_event *ev;         /* every batch's events, one array */
	struct msgr_store_quarantine *q;     /* every batch's quarantine rows */
};

/* Appends the group message for the n batches b, b->next, ... (without the length prefix)
 * to out.
 * MSGR_OK, MSGR_ERR_TOOBIG (over out's max or a field over 4 GiB), MSGR_ERR_NOMEM. */
msgr_result msgr_hostcommit_encode_group(const struct msgr_commit_batch *b, size_t n,
    struct msgr_buf *out);
/* Reads a group message of len bytes at p (which must outlive g's use). MSGR_OK;
 * MSGR_ERR_PARSE (malformed, truncated, trailing bytes, a string with a NUL inside or not
 * NUL-terminated); MSGR_ERR_TOOBIG (more batches than MSGR_HOSTCOMMIT_MAX_BATCH);
 * MSGR_ERR_NOMEM. On error g is empty. */
msgr_result msgr_hostcommit_decode_group(const unsigned char *p, size_t len,
    struct msgr_hostcommit_group *g);
void msgr_hostcommit_group_free(struct msgr_hostcommit_group *g);

/* The answer for the n batches b, b->next, ...: appended to out; read back into those
 * batches' out fields. decode: MSGR_OK or MSGR_ERR_PARSE (not exactly n answers, or a value
 * out of range). */
msgr_result msgr_hostcommit_encode_answer(const struct msgr_commit_batch *b, size_t n,
    struct msgr_buf *out);
msgr_result msgr_hostcommit_decode_answer(const unsigned char *p, size_t len,
    struct msgr_commit_batch *b, size_t n);

/* A client's read of the committer's answer on fd (a stream socket, O_NONBLOCK or not): one
 * message, its 32-bit little-endian length then that many bytes, into b (replacing its
 * content), waiting until deadline (msgr_clock_mono_ms). Nothing may follow it: the committer
 * sends one answer per message. timed: fd is blocking with SO_RCVTIMEO set to end about at
 * the deadline (the client's is, to the host's timeout), so the first read waits in recv
 * itself, without a poll before it. 0; -1 the connection failed, closed or sent a length over
 * MSGR_HOSTCOMMIT_MAX_MSG, b's max, or bytes past the message; -2 the deadline passed. */
int msgr_hostcommit_recv(int fd, struct msgr_buf *b, long long deadline, int timed);

#endif
