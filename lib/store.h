/* store.h — the state store: event queue, dedup, conversations, outbox, caches, quarantine,
 * pauses, stats (docs/store.md).
 *
 * One interface, several backends: every msgr_store_* call checks its arguments here and is
 * carried out by the backend the handle was opened with (struct msgr_store_ops at the end of
 * this file; SQLite in lib/store_sqlite.c is the default), so the responder, the worker and
 * msgrctl never know which one holds the state. The interface is narrow and batch-shaped
 * (a request's events go in one call) so a networked backend costs one round trip where SQLite
 * costs one transaction. Every write that must be atomic is one transaction; waits for a lock
 * are bounded by busy_timeout_ms and then reported as MSGR_ERR_BUSY, never retried forever. A
 * handle is used by one thread at a time and never across fork(): open it in the process that
 * uses it. Times are milliseconds since the epoch, taken from the handle's clock (options.clock,
 * msgr_store_set_clock) where a call stamps a row.
 *
 * A claim is tied to the handle that made it: it ends when that handle is closed or its
 * process dies (killed, crashed), so another process takes the conversation over at once; the
 * lease (lease_ms) only bounds a holder that is alive but stuck (docs/store.md "Claim"). */
#ifndef MSGR_STORE_H
#define MSGR_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "clock.h"
#include "limits.h"
#include "result.h"

struct msgr_store;

struct msgr_store_options {
	const char *path;         /* sqlite: the database file. Other backends: a name for logs
	                             ("postgresql"), never a secret */
	int wal;                  /* 1: journal_mode=WAL; 0: DELETE */
	int sync_full;            /* 1: synchronous=FULL; 0: NORMAL */
	int busy_timeout_ms;      /* how long a writer waits for the lock; default 2000 */
	int readonly;             /* open for reading only (msgrctl status) */
	char *errbuf;             /* optional: why open failed, for the caller's log */
	size_t errbufsz;
	const char *backend;      /* NULL or "sqlite" (the default), "postgresql": docs/store.md
	                             "Backends" */
	const char *conninfo;     /* postgresql: libpq's connection string or URI. A secret (it
	                             may hold a password): never logged, never in an errbuf */
	struct msgr_clock clock;  /* stamps received_at, finished_at, sent_at...; zero: the
	                             system's wall clock */
	int checkpoint_apart;     /* sqlite, WAL: this handle's commits leave the checkpoint to
	                             another thread's msgr_store_checkpoint (a backstop still
	                             checkpoints past 10,000 WAL pages): the host committer keeps
	                             checkpoints off the request path */
	int inbox;                /* sqlite: msgr_store_enqueue on this handle appends the events
	                             to the inbox, as durable and with the same counts, and they
	                             can be claimed once msgr_store_ingest has moved them (the
	                             host committer's handle: docs/store.md "Inbox") */
};

/* Opens (creating and migrating the schema: PRAGMA user_version) the database. A database
 * file that is not writable opens read-only (writes then fail with MSGR_ERR_STORE).
 * PostgreSQL: connects, creates or migrates the schema (one host at a time), and reconnects
 * by itself on a later call after the server went away.
 * MSGR_OK, MSGR_ERR_INVALID (no path; no or unreadable conninfo), MSGR_ERR_STORE (cannot
 * open or connect, not a database, corrupt, newer schema, SQLite older than 3.24),
 * MSGR_ERR_BUSY, MSGR_ERR_NOMEM; on failure the reason is in opt->errbuf when given. */
msgr_result msgr_store_open(const struct msgr_store_options *opt, struct msgr_store **out);
/* For `msgrctl check`: reaches the store the options name without changing it (no file
 * created, no schema migrated) and says in out[outsz] where it is and what was found, e.g.
 * "sqlite /srv/state.db: schema version 5" or "postgresql host=db1 dbname=msgr: connected
 * (PostgreSQL 15.18), schema version 1". Never a password. MSGR_OK; MSGR_ERR_INVALID,
 * MSGR_ERR_STORE (cannot connect or read it, newer schema: why in out), MSGR_ERR_NOMEM. */
msgr_result msgr_store_check(const struct msgr_store_options *opt, char *out, size_t outsz);
void msgr_store_close(struct msgr_store *st);
/* How this handle's next commits are made durable: full (1) waits until each is on disk;
 * 0 lets a commit return once the database has it (SQLite synchronous=NORMAL in WAL mode,
 * PostgreSQL synchronous_commit=off): a crash of the process loses nothing, a power loss may
 * lose the last commits. A commit made with full covers every commit before it. The worker
 * runs its bookkeeping with 0 and makes the commit before each message call full (docs/worker.md
 * "Durability"). A reconnect (PostgreSQL) or reopen goes back to the handle's option.
 * MSGR_OK, MSGR_ERR_STORE. */
msgr_result msgr_store_set_sync(struct msgr_store *st, int full);
/* With on (1), the handle's next calls gather their writes into one transaction, begun by the
 * first of them and committed by msgr_store_flush, msgr_store_set_sync,
 * msgr_store_checkpoint or msgr_store_hold(st, 0); each call is a savepoint in it, so one that
 * fails undoes only its own writes. The worker's bookkeeping between two Graph calls so costs
 * one commit, not one per step. The transaction holds the store's write lock: the holder
 * flushes before anything that waits (a network call, a sleep). When SQLite had to roll the
 * whole transaction back (an I/O error), every call fails until the next flush, which
 * reports the loss. A backend without it (PostgreSQL) commits each call as before.
 * MSGR_OK, or what committing what was held returned. */
msgr_result msgr_store_hold(struct msgr_store *st, int on);
/* Commits what the handle holds (msgr_store_hold); MSGR_OK when nothing is held. MSGR_OK,
 * MSGR_ERR_STORE, MSGR_ERR_BUSY. */
msgr_result msgr_store_flush(struct msgr_store *st);
/* Shares the handle among threads that take turns (lib/turns.h; docs/worker.md "Threads"):
 * from now on it holds its writes for good (msgr_store_hold), and msgr_store_set_sync is a
 * no-op. With sync_full, a pause, a flush and a leave return once what they cover is durable:
 * on SQLite in WAL mode the commits skip the fsync and the thread that needs one runs an
 * fdatasync of the WAL without the turn (msgr_turns_set_sync); elsewhere every commit waits
 * for the disk. Without sync_full no commit waits for it. A thread takes the turn with
 * msgr_store_enter before its first call, gives it up only to wait (msgr_store_pause or
 * msgr_store_step_aside, then msgr_store_resume after the wait) and ends with
 * msgr_store_leave. Only one thread uses the handle at a time, and a commit before a wait
 * covers the writes of every thread that waits for it. MSGR_OK; MSGR_ERR_INVALID (shared
 * already), MSGR_ERR_NOMEM, or what setting the backend up failed with. */
msgr_result msgr_store_share(struct msgr_store *st);
/* Takes the turn of a shared handle (waits for it); nothing on another handle. */
void msgr_store_enter(struct msgr_store *st);
/* Commits and gives the turn up (a shared handle); MSGR_OK on another handle. */
msgr_result msgr_store_leave(struct msgr_store *st);
/* Before anything that waits (a network call, a sleep): what the handle holds is committed
 * (msgr_store_flush) and, on a shared handle, the turn given up, once the commit that covers
 * this thread's writes is made (by this thread or one that ran meanwhile). Call
 * msgr_store_resume after the wait, also when this failed. st may be NULL (nothing to do).
 * MSGR_OK, or that commit's failure. */
msgr_result msgr_store_pause(struct msgr_store *st);
/* msgr_store_pause before a wait whose call may go again without harm (a sender action, a
 * profile read, a pacing sleep, the Bot API): on a shared handle, when other threads are
 * ready, the turn is handed to them without waiting for the commit of this thread's writes
 * (msgr_turns_step_aside; a failure of that commit is returned by this thread's next
 * msgr_store_pause or msgr_store_leave). Elsewhere as msgr_store_pause. */
msgr_result msgr_store_step_aside(struct msgr_store *st);
/* Before work that does not use st (a bot's answer, messages to build), on a shared handle:
 * 1 when the turn went to a thread that was ready (msgr_turns_lend; call msgr_store_resume
 * after the work), 0 when the caller keeps it (always on a handle not shared, and for NULL). */
int msgr_store_lend(struct msgr_store *st);
/* After the wait msgr_store_pause or msgr_store_step_aside came before: takes the turn back
 * (a shared handle). */
void msgr_store_resume(struct msgr_store *st);
/* Copies what the WAL holds into the database without waiting for any lock (SQLite's
 * PASSIVE checkpoint); *frames (may be NULL) gets the WAL's frames after it, -1 when there
 * is no WAL. Nothing to do on other backends (MSGR_OK, -1). MSGR_OK, MSGR_ERR_STORE. */
msgr_result msgr_store_checkpoint(struct msgr_store *st, int *frames);
/* The schema version this build writes (of the SQLite backend, the default). */
int msgr_store_schema_version(void);
/* Last error text of this handle (the backend's own words), for logs: never holds a data
 * value, so never a secret. */
const char *msgr_store_errmsg(const struct msgr_store *st);
/* Replaces the clock the handle stamps rows with (NULL: the system's wall clock). The worker
 * gives its own (struct msgr_worker_hooks) so a test that moves time sees rows stamped alike.
 * c is copied; its arg must outlive the use. */
void msgr_store_set_clock(struct msgr_store *st, const struct msgr_clock *c);

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

/* Moves the oldest events of the inbox (options.inbox), at most max, into the queue in ONE
 * transaction: from then on they can be claimed. Any handle may ingest; the worker does before
 * it claims, the host committer once no group has come for a while (hostcommit.c's
 * INGEST_IDLE_MS). *moved: how many; *more: 1
 * when max were moved (more may wait). MSGR_OK (also for a backend without an inbox: nothing
 * moved); MSGR_ERR_INVALID (max 0); MSGR_ERR_BUSY; MSGR_ERR_STORE; MSGR_ERR_NOMEM. */
msgr_result msgr_store_ingest(struct msgr_store *st, size_t max, size_t *moved, int *more);

/* ---- work: claim, finish, retry (the worker: docs/worker.md) ---- */

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
 * wins. So one conversation's events are worked one at a time, in order, across processes.
 * The claim is also tied to this handle: once the handle is closed or its process is gone, the
 * conversation is free again before its lease ends (a killed process's work comes back at
 * once). Standby events and echoes are queued and ordered like the rest (the worker records
 * them). owner must be unique per process (e.g. "host:pid:random").
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

/* Saves the plan once (requests[i] gets seq i; its item id in ids[i] when ids is not NULL,
 * so the caller can mark it done without reading the plan back); MSGR_ERR_DUPLICATE when the
 * job already has one (keep the old: it may be half sent). n == 0 stores nothing and returns
 * MSGR_OK. MSGR_ERR_NOTFOUND (no such job), MSGR_ERR_TOOBIG (n > MSGR_STORE_OUTBOX_MAX),
 * MSGR_ERR_INVALID (a NULL request), MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_outbox_put(struct msgr_store *st, int64_t job_id,
    const char *const *requests, size_t n, int64_t *ids);
/* The plan in seq order (*items malloc'd; msgr_store_outbox_free). MSGR_ERR_NOTFOUND when none. */
msgr_result msgr_store_outbox_get(struct msgr_store *st, int64_t job_id,
    struct msgr_outbox_item **items, size_t *n);
void msgr_store_outbox_free(struct msgr_outbox_item *items, size_t n);
/* Marks one item sent, with Facebook's message_id (may be NULL). MSGR_ERR_NOTFOUND. */
msgr_result msgr_store_outbox_done(struct msgr_store *st, int64_t item_id,
    const char *message_id);

/* ---- conversation state: what the worker records about a conversation ---- */

/* Who holds a conversation's thread (docs/worker.md, step 2 "Record"). */
enum msgr_owner {
	MSGR_OWNER_US = 0,        /* this connector's app: the bot answers; also when nothing
	                             was ever recorded */
	MSGR_OWNER_APP,           /* another app, or the Page Inbox (a person): owner_app */
	MSGR_OWNER_STANDBY,       /* another app, known only by events arriving on standby */
	MSGR_OWNER_RELEASED       /* nobody: the thread was released (`msgrctl thread release`) */
};

struct msgr_conversation {
	enum msgr_owner owner;
	char owner_app[MSGR_MAX_ID_LEN + 1];  /* MSGR_OWNER_APP: its app id; "" otherwise */
	long long owner_at;       /* when the owner was last recorded; 0 never */
	long long last_user_ts;   /* the user's latest message, Facebook's time (the 24-hour
	                             window); 0 none */
	long long human_ts;       /* a person's latest answer from the Page Inbox; 0 none */
};

/* The state of conversation (page, user); one nothing was recorded about is all zeros (its
 * thread is this app's). MSGR_OK; MSGR_ERR_INVALID, MSGR_ERR_BUSY, MSGR_ERR_STORE,
 * MSGR_ERR_NOMEM. */
msgr_result msgr_store_conversation(struct msgr_store *st, const char *page_id,
    const char *user_id, struct msgr_conversation *out);
/* Records who holds the thread; app_id is the app for MSGR_OWNER_APP (at most
 * MSGR_MAX_ID_LEN bytes) and ignored otherwise. Results as msgr_store_conversation. */
msgr_result msgr_store_set_owner(struct msgr_store *st, const char *page_id,
    const char *user_id, enum msgr_owner owner, const char *app_id);
/* Records a message of the user at ts (> 0): the later of it and the one recorded stays. */
msgr_result msgr_store_user_wrote(struct msgr_store *st, const char *page_id,
    const char *user_id, long long ts);
/* Records a person's answer from the Page Inbox at ts. */
msgr_result msgr_store_human_answered(struct msgr_store *st, const char *page_id,
    const char *user_id, long long ts);

/* For `msgrctl status`: the conversations whose thread is not this app's (owner other than
 * MSGR_OWNER_US), most recently changed first, up to max (*rows malloc'd; free()). */
struct msgr_conversation_row {
	char page_id[72];
	char user_id[72];
	struct msgr_conversation c;
};
msgr_result msgr_store_conversations_elsewhere(struct msgr_store *st, size_t max,
    struct msgr_conversation_row **rows, size_t *n);

/* ---- caches ---- */

/* A cache with expiry, by namespace ("profile", "attachment"); expired entries are NOTFOUND. */
msgr_result msgr_store_cache_get(struct msgr_store *st, const char *ns, const char *key,
    long long now, char **value);
msgr_result msgr_store_cache_put(struct msgr_store *st, const char *ns, const char *key,
    const char *value, long long expires_at);
msgr_result msgr_store_cache_del(struct msgr_store *st, const char *ns, const char *key);

/* ---- pauses: sending stopped for a connector (its token) or a page (docs/worker.md) ---- */

enum msgr_pause_scope { MSGR_PAUSE_CONNECTOR = 0, MSGR_PAUSE_PAGE };

struct msgr_pause {
	enum msgr_pause_scope scope;
	char id[128];             /* the connector's id, or the page's */
	char reason[256];         /* Facebook's error, for people (cut when longer) */
	char token_fp[17];        /* connector: fingerprint of the token refused, so a new token
	                             ends the pause; "" unknown */
	long long since;          /* when it began: kept while the pause lasts */
	long long probe_at;       /* no job tries the scope before then; one probes then */
};

/* "connector", "page" (as `msgrctl status` shows them); "?" for anything else. */
const char *msgr_pause_scope_name(enum msgr_pause_scope scope);
/* Pauses p->scope p->id, or updates a pause still on: reason, token_fp and probe_at are
 * replaced, since is kept (how long it has lasted is what matters). MSGR_OK;
 * MSGR_ERR_INVALID (unknown scope, NULL), MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_pause_set(struct msgr_store *st, const struct msgr_pause *p);
/* MSGR_OK when paused (*out filled when out is not NULL), MSGR_ERR_NOTFOUND when not. */
msgr_result msgr_store_pause_get(struct msgr_store *st, enum msgr_pause_scope scope,
    const char *id, struct msgr_pause *out);
/* MSGR_ERR_NOTFOUND when neither the connector nor the page is paused: the look before every
 * Graph call, in one question (msgr_store_pause_get then tells which one, and how). MSGR_OK
 * when one of them may be (also from a backend that cannot tell in one look). */
msgr_result msgr_store_pause_any(struct msgr_store *st, const char *connector_id,
    const char *page_id);
/* Moves the next probe of a pause still on (never starts one again: a pause another process
 * just ended stays ended). MSGR_OK also when not paused. */
msgr_result msgr_store_pause_probe(struct msgr_store *st, enum msgr_pause_scope scope,
    const char *id, long long probe_at);
/* MSGR_OK also when it was not paused. */
msgr_result msgr_store_pause_clear(struct msgr_store *st, enum msgr_pause_scope scope,
    const char *id);
/* Up to max pauses, oldest first (*rows malloc'd; free()). */
msgr_result msgr_store_pause_list(struct msgr_store *st, size_t max, struct msgr_pause **rows,
    size_t *n);

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
	long long pending;        /* queued: the queue depth (due, leased or waiting for a retry,
	                             and acknowledged into the inbox, not moved yet) */
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

/* A purge call deletes at most this many rows of a kind: each call is one transaction, and a
 * week-old backlog deleted in one would hold the store's write lock (and the host committer's
 * intake behind it) for seconds. */
#define MSGR_PURGE_MAX 100000

/* Deletes finished jobs (DONE, FAILED, SKIPPED) finished before `before`, with their outbox,
 * and cache entries expired by then: at most max (1 to MSGR_PURGE_MAX) of each, oldest jobs
 * first, in one transaction. A finished job's key keeps deduplicating until it is purged, so
 * keep `before` well behind Facebook's redelivery horizon (a day or more). *n_events (may be
 * NULL) counts the jobs deleted; *more (may be NULL) is 1 when either kind reached max, so
 * that more may be left: call again. MSGR_ERR_INVALID for max out of range. */
msgr_result msgr_store_purge(struct msgr_store *st, long long before, size_t max,
    size_t *n_events, int *more);

/* ---- calls in flight and echoes: the call in flight at a kill (lib/echo.h) ----
 *
 * A message's outbox row is marked in flight just before its Send API call leaves, and the
 * mark is lifted once the call's outcome is known: done when Facebook took it, settled when
 * Facebook refused it. A row found in flight and not done was sent by a process that died
 * (or whose call got no answer) before it learned the outcome. Facebook's echoes of the page's
 * messages name the row they were sent from (docs/sending.md "Echo tags"): the echo table
 * keeps them, one per message id, so such a row can be told sent without calling again. */

struct msgr_outbox_flight {
	int done;                 /* marked done */
	int inflight;             /* a call left and its outcome was never learned */
	int tries;                /* calls made for it (each tagged with its number) */
	long long tried_at;       /* when the last call left (the handle's clock); 0 never */
};
/* Marks item_id in flight before a call leaves, stamped now; *tries gets this call's number
 * (1 for the first). MSGR_OK; MSGR_ERR_NOTFOUND (no such item); MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_outbox_attempt(struct msgr_store *st, int64_t item_id, int *tries);
/* The call's outcome is known and it did not go (Facebook refused it): no longer in flight.
 * MSGR_OK; MSGR_ERR_NOTFOUND; MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_outbox_settle(struct msgr_store *st, int64_t item_id);
/* Where item_id stands. MSGR_OK; MSGR_ERR_NOTFOUND; MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_outbox_flight(struct msgr_store *st, int64_t item_id,
    struct msgr_outbox_flight *out);

/* One echo of a message the page sent. */
struct msgr_store_echo {
	char mid[MSGR_MAX_MID_LEN + 1];   /* the message's id: the row's identity */
	char page_id[72];
	char user_id[72];                 /* the echo's recipient */
	int64_t outbox_id;                /* the row its tag names; 0: untagged (a person in the
	                                     Page Inbox, another app, an untagged message) */
	int try_no;                       /* the tag's try; 0 when untagged */
	long long seen_at;                /* when it was recorded (the handle's clock) */
};
/* Records an echo; one already recorded under its mid is kept (a redelivery). seen_at is
 * stamped here. MSGR_OK; MSGR_ERR_INVALID (empty mid, page or user; a negative id);
 * MSGR_ERR_TOOBIG (a field longer than the struct holds); MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_echo_put(struct msgr_store *st, const struct msgr_store_echo *e);
/* The echo whose tag names outbox_id in conversation (page, user); an echo naming the row
 * from another conversation is no proof and is not returned. MSGR_OK (*out filled);
 * MSGR_ERR_NOTFOUND; MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_echo_find(struct msgr_store *st, int64_t outbox_id, const char *page_id,
    const char *user_id, struct msgr_store_echo *out);
/* MSGR_OK when any echo of page_id was recorded since `since` (its echoes are subscribed),
 * MSGR_ERR_NOTFOUND when none; MSGR_ERR_BUSY, MSGR_ERR_STORE. */
msgr_result msgr_store_echo_page_known(struct msgr_store *st, const char *page_id,
    long long since);

/* A stored event's text, for msgr_store_echo_pending. */
struct msgr_store_raw {
	int64_t event_id;
	char *raw;                /* malloc'd */
};
/* Up to max pending events of kind `kind` (an echo) of conversation (page, user) with ids
 * above after_id, oldest first (*rows malloc'd; msgr_store_raw_free). A worker waiting for an
 * echo holds the conversation, so the echo waits in its queue: this is how it reads it.
 * MSGR_OK (also with none); MSGR_ERR_INVALID, MSGR_ERR_BUSY, MSGR_ERR_STORE, MSGR_ERR_NOMEM. */
msgr_result msgr_store_echo_pending(struct msgr_store *st, const char *page_id,
    const char *user_id, int kind, int64_t after_id, size_t max, struct msgr_store_raw **rows,
    size_t *n);
void msgr_store_raw_free(struct msgr_store_raw *rows, size_t n);
/* Deletes echoes recorded before `before` (kept as long as finished events): at most max (1 to
 * MSGR_PURGE_MAX), oldest first, in one transaction. *n (may be NULL) counts them: max when
 * more may be left. MSGR_ERR_INVALID for max out of range. */
msgr_result msgr_store_echo_purge(struct msgr_store *st, long long before, size_t max,
    size_t *n);

/* ---- for store backends (lib/store_*.c), not for callers ------------------------------------
 *
 * A backend is one table of these operations; lib/store.c checks every argument (NULL
 * pointers, states, the id lengths struct msgr_job holds) and reads the handle's clock before
 * calling one, so an operation gets valid arguments and explicit times and never reads a clock
 * of its own. impl is the backend's handle from open. Each operation is one public call: it
 * has the results and the atomicity its msgr_store_* function promises above, and it records
 * why it failed for errmsg. A backend plugs in by naming its table in lib/store.c's list. */

/* One failed job, for msgr_store_recent_failures (which formats and escapes it). */
struct msgr_store_failure {
	long long finished_at;
	char connector_id[128];
	int kind;
	char *note;               /* malloc'd; NULL when none */
};

struct msgr_store_ops {
	const char *name;                    /* what options.backend names: "sqlite" */
	int schema_version;                  /* the schema version this build writes */
	/* Opens (creating or migrating the schema). On failure, why in err[errsz]. */
	msgr_result (*open)(const struct msgr_store_options *opt, void **impl, char *err,
	    size_t errsz);
	/* msgr_store_check: reaches the store without changing it; out says what was found. */
	msgr_result (*check)(const struct msgr_store_options *opt, char *out, size_t outsz);
	void (*close)(void *impl);
	const char *(*errmsg)(const void *impl);  /* the last failure, "" when none */
	msgr_result (*enqueue)(void *impl, const struct msgr_store_event *ev, size_t n,
	    const struct msgr_store_quarantine *q, size_t nq, long long now, size_t *n_new,
	    size_t *n_dup);
	/* NULL: no inbox (every enqueue stores into the queue). */
	msgr_result (*ingest)(void *impl, size_t max, size_t *moved, int *more);
	/* The claim is tied to this handle as well as leased (msgr_store_claim). */
	msgr_result (*claim)(void *impl, const char *owner, long long now, int lease_ms,
	    struct msgr_job *job);
	msgr_result (*finish)(void *impl, int64_t job_id, const char *owner,
	    enum msgr_job_state state, const char *note, long long now);
	msgr_result (*retry)(void *impl, int64_t job_id, const char *owner, long long next_at,
	    const char *error);
	/* Also ties the claim to this handle (the one working it now). */
	msgr_result (*renew)(void *impl, int64_t job_id, const char *owner, long long until);
	msgr_result (*outbox_put)(void *impl, int64_t job_id, const char *const *requests,
	    size_t n, int64_t *ids);
	msgr_result (*outbox_get)(void *impl, int64_t job_id, struct msgr_outbox_item **items,
	    size_t *n);
	msgr_result (*outbox_done)(void *impl, int64_t item_id, const char *message_id,
	    long long now);
	msgr_result (*conversation)(void *impl, const char *page_id, const char *user_id,
	    struct msgr_conversation *out);
	msgr_result (*set_owner)(void *impl, const char *page_id, const char *user_id,
	    enum msgr_owner owner, const char *app_id, long long now);
	msgr_result (*user_wrote)(void *impl, const char *page_id, const char *user_id,
	    long long ts, long long now);
	msgr_result (*human_answered)(void *impl, const char *page_id, const char *user_id,
	    long long ts, long long now);
	msgr_result (*conversations_elsewhere)(void *impl, size_t max,
	    struct msgr_conversation_row **rows, size_t *n);
	msgr_result (*cache_get)(void *impl, const char *ns, const char *key, long long now,
	    char **value);
	msgr_result (*cache_put)(void *impl, const char *ns, const char *key, const char *value,
	    long long expires_at);
	msgr_result (*cache_del)(void *impl, const char *ns, const char *key);
	msgr_result (*pause_set)(void *impl, const struct msgr_pause *p);
	msgr_result (*pause_get)(void *impl, enum msgr_pause_scope scope, const char *id,
	    struct msgr_pause *out);
	msgr_result (*pause_probe)(void *impl, enum msgr_pause_scope scope, const char *id,
	    long long probe_at);
	msgr_result (*pause_any)(void *impl, const char *connector_id, const char *page_id);
	                                                        /* NULL: MSGR_OK, look closer */
	msgr_result (*pause_clear)(void *impl, enum msgr_pause_scope scope, const char *id);
	msgr_result (*pause_list)(void *impl, size_t max, struct msgr_pause **rows, size_t *n);
	msgr_result (*quarantine_list)(void *impl, size_t max,
	    struct msgr_quarantine_row **rows, size_t *n);
	msgr_result (*quarantine_delete)(void *impl, int64_t id);
	msgr_result (*stats)(void *impl, long long now, struct msgr_store_stats *s);
	/* Newest first; *rows malloc'd, each note freed by the caller. */
	msgr_result (*failures)(void *impl, size_t max, struct msgr_store_failure **rows,
	    size_t *n);
	/* At most max events and max cache entries; *n_cache counts the cache entries. */
	msgr_result (*purge)(void *impl, long long before, size_t max, size_t *n_events,
	    size_t *n_cache);
	msgr_result (*checkpoint)(void *impl, int *frames);   /* NULL: nothing to do */
	msgr_result (*set_sync)(void *impl, int full);        /* NULL: always durable */
	msgr_result (*hold)(void *impl, int on);               /* NULL: each call commits */
	msgr_result (*flush)(void *impl);
	/* A descriptor of the file a commit of this handle writes before it is durable (SQLite's
	 * WAL), for msgr_store_share's turns to fdatasync apart: then set_sync(impl, 0) commits
	 * are durable once it is synced. -1 (or NULL): none; commits stay durable themselves. */
	int (*log_open)(void *impl);
	/* Calls in flight and echoes (schema: SQLite 6, PostgreSQL 2). */
	msgr_result (*outbox_attempt)(void *impl, int64_t item_id, long long now, int *tries);
	msgr_result (*outbox_settle)(void *impl, int64_t item_id);
	msgr_result (*outbox_flight)(void *impl, int64_t item_id, struct msgr_outbox_flight *out);
	msgr_result (*echo_put)(void *impl, const struct msgr_store_echo *e, long long now);
	msgr_result (*echo_find)(void *impl, int64_t outbox_id, const char *page_id,
	    const char *user_id, struct msgr_store_echo *out);
	msgr_result (*echo_page_known)(void *impl, const char *page_id, long long since);
	msgr_result (*echo_pending)(void *impl, const char *page_id, const char *user_id,
	    int kind, int64_t after_id, size_t max, struct msgr_store_raw **rows, size_t *n);
	msgr_result (*echo_purge)(void *impl, long long before, size_t max, size_t *n);
};

/* For backends: conversation state as both keep it, one text value per name ("owner",
 * "last_user_ts", "human_ts"), so the two read and write the same encoding. The owner's text:
 * "" this app, an app id, "standby" or "released". */
#define MSGR_STORE_CONV_OWNER   "owner"
#define MSGR_STORE_CONV_USER_TS "last_user_ts"   /* decimal ms */
#define MSGR_STORE_CONV_HUMAN_TS "human_ts"      /* decimal ms */
const char *msgr_store_owner_text(enum msgr_owner owner, const char *app_id);
/* Sets c->owner and c->owner_app from a stored owner text (NULL: this app). */
void msgr_store_owner_read(const char *v, struct msgr_conversation *c);
/* A stored time; 0 when absent or not a whole decimal number. */
long long msgr_store_time_read(const char *v);

extern const struct msgr_store_ops msgr_store_sqlite_ops;   /* lib/store_sqlite.c */
extern const struct msgr_store_ops msgr_store_pg_ops;       /* lib/store_pg.c, in builds with
                                                               libpq (MSGR_WITH_PQ) */

#endif
