/* store.h — the state store: event queue, dedup, conversations, outbox, caches, quarantine,
 * pauses, stats (DESIGN.md "The state store").
 *
 * One SQLite file in WAL mode (or DELETE for NFS homes) shared by every responder process,
 * `msgrctl drain` and `msgrctl worker`. The interface is narrow and batch-shaped so another
 * backend (PostgreSQL) can stand behind it without touching the responder or the worker.
 * Every write that must be atomic is one transaction; waits for the write lock are bounded
 * by busy_timeout_ms and then reported as MSGR_ERR_BUSY, never retried forever. A handle is
 * used by one thread at a time and never across fork(): open it in the process that uses it.
 * Times are milliseconds since the epoch. docs/store.md has the schema and the reasons. */
#ifndef MSGR_STORE_H
#define MSGR_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "result.h"

struct msgr_store;

struct msgr_store_options {
	const char *path;
	int wal;                  /* 1: journal_mode=WAL; 0: DELETE */
	int sync_full;            /* 1: synchronous=FULL; 0: NORMAL */
	int busy_timeout_ms;      /* how long a writer waits for the lock; default 2000 */
	int readonly;             /* open for reading only (msgrctl status) */
	char *errbuf;             /* optional: why open failed, for the caller's log */
	size_t errbufsz;
};

/* Opens (creating and migrating the schema: PRAGMA user_version) the database. A database
 * file that is not writable opens read-only (writes then fail with MSGR_ERR_STORE).
 * MSGR_OK, MSGR_ERR_INVALID (no path), MSGR_ERR_STORE (cannot open, not a database, corrupt,
 * newer schema, SQLite older than 3.24), MSGR_ERR_BUSY, MSGR_ERR_NOMEM; on failure the reason
 * is in opt->errbuf when given. */
msgr_result msgr_store_open(const struct msgr_store_options *opt, struct msgr_store **out);
void msgr_store_close(struct msgr_store *st);
/* The schema version this build writes. */
int msgr_store_schema_version(void);
/* Last SQLite error text of this handle, for logs (never holds a secret). */
const char *msgr_store_errmsg(const struct msgr_store *st);

/* ---- intake ---- */

/* One event to queue. Strings are borrowed for the call. */
struct msgr_store_event {
	const char *connector_id;
	const char *page_id;
	const char *user_id;      /* conversation user; "" when none */
	int kind;                 /* enum msgr_event_kind */
	int standby;
	long long timestamp;      /* ms; 0 when none */
	const char *key;          /* dedup identity (unique) */
	const char *raw;          /* JSON text of the messaging object */
};

/* A body, entry or event set aside with its reason. */
struct msgr_store_quarantine {
	const char *connector_id;
	const char *reason;
	const char *raw;
	size_t raw_len;
};

/* Stores n events and nq quarantine rows in ONE transaction: all or nothing. Events whose key
 * is already stored are skipped (counted in *n_dup; n_new, n_dup may be NULL). MSGR_OK
 * (durable when it returns, per the sync option); MSGR_ERR_BUSY (lock held past the busy
 * timeout); MSGR_ERR_STORE (read-only, full, corrupt, I/O); MSGR_ERR_INVALID (a NULL required
 * field); MSGR_ERR_TOOBIG (connector_id, page_id or user_id longer than struct msgr_job holds);
 * MSGR_ERR_NOMEM; nothing is stored on any error. */
msgr_result msgr_store_enqueue(struct msgr_store *st, const struct msgr_store_event *ev,
    size_t n, const struct msgr_store_quarantine *q, size_t nq, size_t *n_new, size_t *n_dup);

/* ---- work: claim, finish, retry (issue 4's worker) ---- */

enum msgr_job_state { MSGR_JOB_PENDING = 0, MSGR_JOB_DONE, MSGR_JOB_FAILED, MSGR_JOB_SKIPPED };

struct msgr_job {
	int64_t id;
	char connector_id[128];
	char page_id[72];
	char user_id[72];
	int kind;
	int standby;
	long long timestamp;
	long long received_at;
	int attempts;
	int claims;               /* times claimed, this one included: a claim that never ended
	                             in finish or retry was a process that died holding it */
	char *raw;                /* malloc'd; msgr_job_clear frees */
};
void msgr_job_clear(struct msgr_job *job);

/* Claims the next due event: the oldest pending event (timestamp, then arrival; an event
 * without a timestamp sorts at its arrival time) of a conversation (page, user) whose oldest
 * pending event is due (next_at <= now) and none of whose events is under a live lease, and
 * leases it to owner until now + lease_ms. Among such conversations the earliest next_at
 * wins. So one conversation's events are worked one at a time, in order, across processes; a
 * killed process's lease expires. Standby events and echoes are queued and ordered like the
 * rest (the worker records them). owner must be unique per process (e.g. "host:pid:random").
 * MSGR_OK (*job filled; msgr_job_clear), MSGR_ERR_EMPTY (nothing due), MSGR_ERR_BUSY,
 * MSGR_ERR_STORE, MSGR_ERR_INVALID, MSGR_ERR_NOMEM. */
msgr_result msgr_store_claim(struct msgr_store *st, const char *owner, long long now,
    int lease_ms, struct msgr_job *job);
/* Ends a job (state DONE, FAILED or SKIPPED; note is a short text, may be NULL), releasing
 * the lease. owner still holds it when nobody claimed the job since, even past its expiry.
 * MSGR_OK; MSGR_ERR_NOTFOUND when owner no longer holds the lease (another process took the
 * job: leave it to that one); MSGR_ERR_INVALID (state PENDING); MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_finish(struct msgr_store *st, int64_t job_id, const char *owner,
    enum msgr_job_state state, const char *note);
/* Keeps the job pending, due again at next_at, attempts+1, error recorded; lease released.
 * The conversation waits for it (order). Results as msgr_store_finish. */
msgr_result msgr_store_retry(struct msgr_store *st, int64_t job_id, const char *owner,
    long long next_at, const char *error);
/* Extends the lease to now + lease_ms (long sends). Results as msgr_store_finish. */
msgr_result msgr_store_renew(struct msgr_store *st, int64_t job_id, const char *owner,
    long long now, int lease_ms);

/* ---- outbox: the planned sends of one job, each marked done as it succeeds ---- */

struct msgr_outbox_item {
	int64_t id;
	int seq;
	char *request;            /* JSON of the Graph call (malloc'd) */
	int done;
};
#define MSGR_STORE_OUTBOX_MAX 256   /* planned Graph calls of one job */

/* Saves the plan once (requests[i] gets seq i); MSGR_ERR_DUPLICATE when the job already has one
 * (keep the old: it may be half sent). n == 0 stores nothing and returns MSGR_OK.
 * MSGR_ERR_NOTFOUND (no such job), MSGR_ERR_TOOBIG (n > MSGR_STORE_OUTBOX_MAX),
 * MSGR_ERR_INVALID (a NULL request), MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_outbox_put(struct msgr_store *st, int64_t job_id,
    const char *const *requests, size_t n);
/* The plan in seq order (*items malloc'd; msgr_store_outbox_free). MSGR_ERR_NOTFOUND when none. */
msgr_result msgr_store_outbox_get(struct msgr_store *st, int64_t job_id,
    struct msgr_outbox_item **items, size_t *n);
void msgr_store_outbox_free(struct msgr_outbox_item *items, size_t n);
/* Marks one item sent, with Facebook's message_id (may be NULL). MSGR_ERR_NOTFOUND. */
msgr_result msgr_store_outbox_done(struct msgr_store *st, int64_t item_id,
    const char *message_id);

/* ---- conversation state and caches: small text values ---- */

/* Per conversation (page, user) values: "owner" (thread owner app), "last_user_ts", "story"...
 * get: *value malloc'd, MSGR_ERR_NOTFOUND when unset. set with value NULL unsets. */
msgr_result msgr_store_conv_get(struct msgr_store *st, const char *page_id,
    const char *user_id, const char *name, char **value);
msgr_result msgr_store_conv_set(struct msgr_store *st, const char *page_id,
    const char *user_id, const char *name, const char *value);

/* Conversations whose value `name` is set and not empty, most recently changed first, up to
 * max (*rows malloc'd; free()). For `msgrctl status`: "owner" lists the threads another app
 * or the Page Inbox holds. */
struct msgr_conv_row {
	char page_id[72];
	char user_id[72];
	char value[128];
	long long updated_at;
};
msgr_result msgr_store_conv_list(struct msgr_store *st, const char *name, size_t max,
    struct msgr_conv_row **rows, size_t *n);

/* A cache with expiry, by namespace ("profile", "attachment"); expired entries are NOTFOUND. */
msgr_result msgr_store_cache_get(struct msgr_store *st, const char *ns, const char *key,
    long long now, char **value);
msgr_result msgr_store_cache_put(struct msgr_store *st, const char *ns, const char *key,
    const char *value, long long expires_at);
msgr_result msgr_store_cache_del(struct msgr_store *st, const char *ns, const char *key);

/* ---- pauses: scope "connector" or "page" ---- */
msgr_result msgr_store_pause_set(struct msgr_store *st, const char *scope, const char *id,
    const char *reason, long long now);
/* MSGR_OK also when it was not paused. */
msgr_result msgr_store_pause_clear(struct msgr_store *st, const char *scope, const char *id);
/* MSGR_OK when paused (reason copied into reason[reasonsz] when not NULL), MSGR_ERR_NOTFOUND. */
msgr_result msgr_store_pause_get(struct msgr_store *st, const char *scope, const char *id,
    char *reason, size_t reasonsz);
struct msgr_pause_row {
	char scope[16];
	char id[128];
	char reason[256];
	long long since;
};
/* Up to max pauses, oldest first (*rows malloc'd; free()). */
msgr_result msgr_store_pause_list(struct msgr_store *st, size_t max,
    struct msgr_pause_row **rows, size_t *n);

/* ---- quarantine ---- */
struct msgr_quarantine_row {
	int64_t id;
	char connector_id[128];
	char reason[256];
	long long received_at;
	char *raw;                /* malloc'd */
	size_t raw_len;
};
/* Up to max rows, oldest first (*rows malloc'd; msgr_store_quarantine_free). */
msgr_result msgr_store_quarantine_list(struct msgr_store *st, size_t max,
    struct msgr_quarantine_row **rows, size_t *n);
void msgr_store_quarantine_free(struct msgr_quarantine_row *rows, size_t n);
msgr_result msgr_store_quarantine_delete(struct msgr_store *st, int64_t id);

/* ---- stats (msgrctl status) ---- */
struct msgr_store_stats {
	long long pending;        /* queued: the queue depth (due, leased or waiting for a retry) */
	long long retrying;       /* pending with attempts > 0 */
	long long waiting;        /* pending and not due yet (next_at > now): retries waiting */
	long long leased;         /* pending under a live lease */
	long long done;
	long long failed;
	long long skipped;
	long long quarantined;
	long long paused;         /* pause rows */
};
msgr_result msgr_store_stats(struct msgr_store *st, long long now, struct msgr_store_stats *s);

/* Recent failures (jobs FAILED, newest first): fills up to max lines
 * "2026-10-01T12:00:00Z connector kind=N note" (N: enum msgr_event_kind; control bytes of
 * connector and note escaped) into *lines (malloc'd array of malloc'd strings; free each and
 * the array; msgr_store_lines_free does). */
msgr_result msgr_store_recent_failures(struct msgr_store *st, size_t max, char ***lines,
    size_t *n);
void msgr_store_lines_free(char **lines, size_t n);

/* Deletes finished jobs (DONE, FAILED, SKIPPED) finished before `before`, with their outbox,
 * and cache entries expired by then. A finished job's key keeps deduplicating until it is
 * purged, so keep `before` well behind Facebook's redelivery horizon (a day or more).
 * *n_events (may be NULL) counts the jobs deleted. */
msgr_result msgr_store_purge(struct msgr_store *st, long long before, size_t *n_events);

#endif
