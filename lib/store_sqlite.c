/* store_sqlite.c — the SQLite backend of the state store (struct msgr_store_ops in
 * lib/store.h; docs/store.md gives the schema and why).
 *
 * One connection per handle, every statement prepared once at open and reused. Writes that
 * span several statements run in BEGIN IMMEDIATE so the only lock wait is at BEGIN, before
 * any work; a single-statement write runs in autocommit, which takes the write lock at the
 * statement's start just as IMMEDIATE would. Lock waits go through our own busy handler
 * (fine-grained sleeps with jitter, bounded per call by busy_timeout_ms) because SQLite's
 * default one sleeps in coarse steps (docs/store.md "Locking"). Arguments arrive checked and
 * times explicit (lib/store.c): nothing here reads the wall clock. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "holder.h"
#include "keyset.h"
#include "log.h"
#include "store.h"
#include "wal_vfs.h"

#define MIN_SQLITE_VERSION 3024000  /* INSERT ... ON CONFLICT (upsert) */
#define DEFAULT_BUSY_MS    2000
#define CLAIM_TRIES        8        /* candidates taken by others before giving up (BUSY) */
#define BUSY_YIELDS        4        /* first waits only yield: most locks are held for µs */
#define BUSY_MIN_US        100
#define BUSY_MAX_US        1000

/* Schema migrations: migrations[v] takes a database from user_version v to v + 1. Append
 * only; a shipped step is never edited. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE events ("
	"  id          INTEGER PRIMARY KEY,"
	"  key         TEXT    NOT NULL UNIQUE,"          /* dedup identity (docs/events.md) */
	"  connector   TEXT    NOT NULL,"
	"  page_id     TEXT    NOT NULL,"
	"  user_id     TEXT    NOT NULL,"                 /* '' when the event has no user */
	"  kind        INTEGER NOT NULL,"
	"  standby     INTEGER NOT NULL DEFAULT 0,"
	"  ts          INTEGER NOT NULL,"                 /* as Facebook sent it; 0 when none */
	"  ord         INTEGER NOT NULL,"                 /* ordering time: ts, else received_at */
	"  received_at INTEGER NOT NULL,"
	"  raw         TEXT    NOT NULL,"
	"  state       INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2, 3)),"
	"  attempts    INTEGER NOT NULL DEFAULT 0,"
	"  next_at     INTEGER NOT NULL,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  error       TEXT,"
	"  finished_at INTEGER"
	");"
	/* Partial indexes over pending events only: the working set stays small however many
	 * finished events wait for purge. */
	"CREATE INDEX events_conv  ON events(page_id, user_id, ord, id) WHERE state = 0;"
	"CREATE INDEX events_lease ON events(page_id, user_id, lease_until) WHERE state = 0;"
	/* Finished events by age, for purge and `msgrctl status`; no index leads with state,
	 * so no plan can walk every pending row through one. */
	"CREATE INDEX events_finished ON events(finished_at) WHERE finished_at IS NOT NULL;"
	"CREATE INDEX events_failed   ON events(finished_at) WHERE state = 2;"
	/* One row per conversation with pending events: its head (oldest pending by ord, id),
	 * when the head is due and until when the conversation is leased. Derived from events
	 * and kept in step in the same transactions, so a claim is one index seek however long
	 * a blocked conversation's backlog is (during a Graph outage every head waits). */
	"CREATE TABLE convq ("
	"  page_id     TEXT    NOT NULL,"
	"  user_id     TEXT    NOT NULL,"
	"  head_id     INTEGER NOT NULL,"
	"  head_ord    INTEGER NOT NULL,"
	"  due_at      INTEGER NOT NULL,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (page_id, user_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX convq_due ON convq(due_at, head_id);"
	"CREATE TABLE outbox ("
	"  id         INTEGER PRIMARY KEY,"
	"  event_id   INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,"
	"  seq        INTEGER NOT NULL,"
	"  request    TEXT    NOT NULL,"
	"  done       INTEGER NOT NULL DEFAULT 0,"
	"  message_id TEXT,"
	"  sent_at    INTEGER,"
	"  UNIQUE (event_id, seq)"
	");"
	"CREATE TABLE conv ("
	"  page_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,"
	"  value TEXT NOT NULL, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (page_id, user_id, name)"
	") WITHOUT ROWID;"
	"CREATE TABLE cache ("
	"  ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER NOT NULL,"
	"  PRIMARY KEY (ns, key)"
	") WITHOUT ROWID;"
	"CREATE INDEX cache_expiry ON cache(expires_at);"
	"CREATE TABLE pause ("
	"  scope TEXT NOT NULL CHECK (scope IN ('connector', 'page')), id TEXT NOT NULL,"
	"  reason TEXT NOT NULL, since INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, id)"
	") WITHOUT ROWID;"
	"CREATE TABLE quarantine ("
	"  id          INTEGER PRIMARY KEY,"
	"  connector   TEXT    NOT NULL,"
	"  reason      TEXT    NOT NULL,"
	"  raw         BLOB    NOT NULL,"
	"  received_at INTEGER NOT NULL"
	");",
	/* 1 -> 2: `msgrctl status` lists conversations by state name (who owns the thread). */
	"CREATE INDEX conv_name ON conv(name, updated_at);",
	/* 2 -> 3: claims of a job, so an event that kills its worker every time (a lease that
	 * lapses, never a finish) is given up instead of crashing the pool for ever. */
	"ALTER TABLE events ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;",
	/* 3 -> 4: a pause holds what it needs: the fingerprint of the token refused (a new token
	 * ends it) and when a job may next probe. Both were cache entries before, the token's
	 * set to expire in ten years; they move into the rebuilt table and leave the cache. */
	"CREATE TABLE pause_v4 ("
	"  scope TEXT NOT NULL CHECK (scope IN ('connector', 'page')), id TEXT NOT NULL,"
	"  reason TEXT NOT NULL, since INTEGER NOT NULL,"
	"  token_fp TEXT NOT NULL DEFAULT '', probe_at INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (scope, id)"
	") WITHOUT ROWID;"
	"INSERT INTO pause_v4 (scope, id, reason, since, token_fp, probe_at)"
	" SELECT p.scope, p.id, p.reason, p.since,"
	"  CASE WHEN p.scope = 'connector' THEN coalesce((SELECT c.value FROM cache c"
	"   WHERE c.ns = 'pause_token' AND c.key = p.id), '') ELSE '' END,"
	"  coalesce((SELECT c.expires_at FROM cache c"
	"   WHERE c.ns = 'pause_probe' AND c.key = p.scope || ':' || p.id), 0)"
	" FROM pause p;"
	"DROP TABLE pause;"
	"ALTER TABLE pause_v4 RENAME TO pause;"
	"DELETE FROM cache WHERE ns IN ('pause_token', 'pause_probe');",
	/* 4 -> 5: a lease names the lock of the handle holding it (lib/holder.h), so a claim
	 * ends when its holder's process dies, not only when its lease runs out (docs/store.md
	 * "Claim"). 0: no lock known, the lease alone bounds the claim. */
	("ALTER TABLE events ADD COLUMN lease_lock INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE convq ADD COLUMN lease_lock INTEGER NOT NULL DEFAULT 0;"),
	/* 5 -> 6: the call in flight at a kill (lib/echo.h). An outbox row is marked in flight
	 * while its call's outcome is unknown and counts its tries; the echoes Facebook sends
	 * of the page's messages are kept by mid, with the outbox row their tag names, so a
	 * row in flight can be told sent without calling again (docs/store.md "Echoes"). */
	("ALTER TABLE outbox ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE outbox ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE outbox ADD COLUMN tried_at INTEGER NOT NULL DEFAULT 0;"
	 "CREATE TABLE echo ("
	 "  mid       TEXT    PRIMARY KEY,"
	 "  page_id   TEXT    NOT NULL,"
	 "  user_id   TEXT    NOT NULL,"
	 "  outbox_id INTEGER NOT NULL,"              /* 0: untagged */
	 "  try       INTEGER NOT NULL,"
	 "  seen_at   INTEGER NOT NULL"
	 ") WITHOUT ROWID;"
	 "CREATE INDEX echo_outbox ON echo(outbox_id) WHERE outbox_id > 0;"
	 "CREATE INDEX echo_page ON echo(page_id, seen_at);"),
	/* 6 -> 7: one index of pending events where there were two. A new event was an entry in
	 * each, and a commit writes every page it changed: events_lease cost the intake a fifth
	 * of its time (docs/benchmarks.md). Its questions (which pending event of a conversation
	 * holds a lease) are answered from events_conv, which now carries lease_until: a
	 * conversation's pending events are few, and read from the index alone. */
	("DROP INDEX IF EXISTS events_lease;"
	 "DROP INDEX IF EXISTS events_conv;"
	 "CREATE INDEX events_conv ON events(page_id, user_id, ord, id, lease_until)"
	 " WHERE state = 0;"),
	/* 7 -> 8: the inbox (docs/store.md "Inbox"). The host committer acknowledges a webhook
	 * once its events are rows here: appended in rowid order, no index, so a commit writes
	 * the new rows' pages and little else. msgr_store_ingest moves them into events and
	 * convq later, off the request path; the random index inserts that cost the intake most
	 * of its time happen there. */
	("CREATE TABLE inbox ("
	 "  id          INTEGER PRIMARY KEY,"
	 "  key         TEXT    NOT NULL,"
	 "  connector   TEXT    NOT NULL,"
	 "  page_id     TEXT    NOT NULL,"
	 "  user_id     TEXT    NOT NULL,"
	 "  kind        INTEGER NOT NULL,"
	 "  standby     INTEGER NOT NULL,"
	 "  ts          INTEGER NOT NULL,"
	 "  received_at INTEGER NOT NULL,"
	 "  raw         TEXT    NOT NULL"
	 ");"),
	/* 8 -> 9: the owners index holds only threads held elsewhere, the one question it
	 * answers. Every user message wrote its conversation's last_user_ts and owner rows, and
	 * each write moved their entries in conv_name: two index pages more in the commit. */
	("DROP INDEX IF EXISTS conv_name;"
	 "CREATE INDEX conv_elsewhere ON conv(updated_at) WHERE name = 'owner' AND value <> '';"),
	/* 9 -> 10: echoes by age, so that a purge deletes a bounded batch of the oldest without
	 * reading the whole table (msgr_store_echo_purge). */
	"CREATE INDEX echo_seen ON echo(seen_at);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum sid {
	S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK, S_SAVE, S_RELEASE, S_UNDO,
	S_EV_INSERT, S_Q_INSERT,
	S_CONVQ_ADD, S_CONVQ_REFRESH, S_CONVQ_DROP, S_EV_CONV,
	S_CLAIM_PICK, S_CLAIM_TAKE, S_CLAIM_LEASE, S_CLAIM_STALE, S_JOB_GET, S_FINISH, S_RETRY, S_RENEW,
	S_RENEW_CONVQ,
	S_EV_EXISTS, S_OB_EXISTS, S_OB_INSERT, S_OB_GET, S_OB_DONE,
	S_CONV_GET, S_CONV_SET, S_CONV_OURS, S_CONV_RAISE, S_CONV_ELSEWHERE,
	S_CACHE_GET, S_CACHE_PUT, S_CACHE_DEL,
	S_PAUSE_SET, S_PAUSE_CLEAR, S_PAUSE_GET, S_PAUSE_ANY, S_PAUSE_PROBE, S_PAUSE_LIST,
	S_Q_LIST, S_Q_DELETE,
	S_STATS_EVENTS, S_STATS_OTHER, S_FAILURES,
	S_PURGE_EVENTS, S_PURGE_CACHE,
	S_OB_ATTEMPT, S_OB_FLIGHT, S_OB_SETTLE,
	S_ECHO_PUT, S_ECHO_FIND, S_ECHO_PAGE, S_ECHO_PENDING, S_ECHO_PURGE,
	S_IN_INSERT, S_IN_READ, S_IN_DROP, S_EV_KEY,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVE] = "SAVEPOINT call",
	[S_RELEASE] = "RELEASE call",
	[S_UNDO] = "ROLLBACK TO call",
	[S_EV_INSERT] =
	    "INSERT INTO events (key, connector, page_id, user_id, kind, standby, ts, ord,"
	    " received_at, raw, next_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)"
	    " ON CONFLICT (key) DO NOTHING",
	[S_Q_INSERT] =
	    "INSERT INTO quarantine (connector, reason, raw, received_at) VALUES (?1, ?2, ?3, ?4)",
	/* A new event becomes its conversation's head when it sorts first (ids grow, so on a
	 * tie the older head stays); the lease is left alone: a late earlier event must not
	 * run beside the one being worked. */
	[S_CONVQ_ADD] =
	    "INSERT INTO convq (page_id, user_id, head_id, head_ord, due_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (page_id, user_id) DO UPDATE SET head_id = excluded.head_id,"
	    " head_ord = excluded.head_ord, due_at = excluded.due_at"
	    " WHERE excluded.head_ord < convq.head_ord",
	/* After a job changes: recompute the conversation's row from its pending events. The
	 * lease is the latest of them: max(), whose row also gives the bare lease_lock (SQLite's
	 * rule for a lone min/max), where ORDER BY ... LIMIT 1 built two temporary b-trees on
	 * every finish, retry and renewal (a fifth of the worker's SQLite time). */
	[S_CONVQ_REFRESH] =
	    "INSERT INTO convq (page_id, user_id, head_id, head_ord, due_at, lease_until,"
	    " lease_lock)"
	    " SELECT e.page_id, e.user_id, e.id, e.ord, e.next_at,"
	    "  coalesce((SELECT max(l.lease_until) FROM events l"
	    "   WHERE l.state = 0 AND l.page_id = ?1 AND l.user_id = ?2), 0),"
	    "  coalesce((SELECT ll FROM (SELECT l.lease_lock AS ll, max(l.lease_until)"
	    "   FROM events l WHERE l.state = 0 AND l.page_id = ?1 AND l.user_id = ?2)), 0)"
	    " FROM events e WHERE e.state = 0 AND e.page_id = ?1 AND e.user_id = ?2"
	    " ORDER BY e.ord, e.id LIMIT 1"
	    " ON CONFLICT (page_id, user_id) DO UPDATE SET head_id = excluded.head_id,"
	    " head_ord = excluded.head_ord, due_at = excluded.due_at,"
	    " lease_until = excluded.lease_until, lease_lock = excluded.lease_lock",
	[S_CONVQ_DROP] =
	    "DELETE FROM convq WHERE page_id = ?1 AND user_id = ?2 AND NOT EXISTS"
	    " (SELECT 1 FROM events e WHERE e.state = 0 AND e.page_id = ?1 AND e.user_id = ?2)",
	[S_EV_CONV] = "SELECT page_id, user_id FROM events WHERE id = ?1",
	/* Read without the write lock (WAL readers never wait); the take re-checks under it. A
	 * conversation is free when its lease ran out or the handle holding it is gone
	 * (holder_alive: lib/holder.h), asked only of the few conversations leased. */
	[S_CLAIM_PICK] =
	    "SELECT page_id, user_id, head_id FROM convq WHERE due_at <= ?1"
	    " AND (lease_until <= ?1 OR NOT holder_alive(lease_lock))"
	    " ORDER BY due_at, head_id LIMIT 1",
	[S_CLAIM_TAKE] =
	    "UPDATE convq SET lease_until = ?1, lease_lock = ?6 WHERE page_id = ?2 AND user_id = ?3"
	    " AND head_id = ?4 AND due_at <= ?5"
	    " AND (lease_until <= ?5 OR NOT holder_alive(lease_lock))",
	[S_CLAIM_LEASE] =
	    "UPDATE events SET lease_owner = ?1, lease_until = ?2, lease_lock = ?4,"
	    " claims = claims + 1 WHERE id = ?3 AND state = 0",
	/* The conversation was free, so every other lease in it ran out or lost its holder:
	 * ended, so a later refresh of the queue row cannot hand the conversation to a dead
	 * holder's lock while this claim works. */
	[S_CLAIM_STALE] =
	    "UPDATE events SET lease_until = 0 WHERE page_id = ?1 AND user_id = ?2 AND state = 0"
	    " AND lease_until > 0 AND id <> ?3",
	[S_JOB_GET] =
	    "SELECT id, connector, page_id, user_id, kind, standby, ts, received_at, attempts, raw,"
	    " claims FROM events WHERE id = ?1",
	[S_FINISH] =
	    "UPDATE events SET state = ?3, error = ?4, finished_at = ?5, lease_owner = NULL,"
	    " lease_until = 0 WHERE id = ?1 AND lease_owner = ?2 AND state = 0",
	[S_RETRY] =
	    "UPDATE events SET attempts = attempts + 1, next_at = ?3, error = ?4,"
	    " lease_owner = NULL, lease_until = 0 WHERE id = ?1 AND lease_owner = ?2 AND state = 0",
	[S_RENEW] =
	    "UPDATE events SET lease_until = ?3, lease_lock = ?4 WHERE id = ?1 AND lease_owner = ?2"
	    " AND state = 0",
	/* A renewal moves only the lease of the conversation's head, which the claim leased:
	 * its queue row takes the new lease as it is (no recompute of the head). */
	[S_RENEW_CONVQ] =
	    "UPDATE convq SET lease_until = ?2, lease_lock = ?3"
	    " WHERE page_id = (SELECT page_id FROM events WHERE id = ?1)"
	    " AND user_id = (SELECT user_id FROM events WHERE id = ?1)",
	[S_EV_EXISTS] = "SELECT 1 FROM events WHERE id = ?1",
	[S_OB_EXISTS] = "SELECT 1 FROM outbox WHERE event_id = ?1 LIMIT 1",
	[S_OB_INSERT] = "INSERT INTO outbox (event_id, seq, request) VALUES (?1, ?2, ?3)",
	[S_OB_GET] =
	    "SELECT id, seq, request, done FROM outbox WHERE event_id = ?1 ORDER BY seq LIMIT ?2",
	[S_OB_DONE] = "UPDATE outbox SET done = 1, message_id = ?2, sent_at = ?3 WHERE id = ?1",
	/* Conversation state: one row per value, named below (MSGR_STORE_CONV_OWNER ...). */
	[S_CONV_GET] =
	    "SELECT name, value, updated_at FROM conv WHERE page_id = ?1 AND user_id = ?2"
	    " AND name IN ('owner', 'last_user_ts', 'human_ts')",
	[S_CONV_SET] =
	    "INSERT INTO conv (page_id, user_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (page_id, user_id, name) DO UPDATE SET value = excluded.value,"
	    " updated_at = excluded.updated_at",
	/* The thread is this app's: no owner row says so as well as an empty one, so only a row
	 * naming another owner is written. A user's every message says it again, and a write
	 * of the same value would still put the row's page into the commit. */
	[S_CONV_OURS] =
	    "UPDATE conv SET value = ?4, updated_at = ?5 WHERE page_id = ?1 AND user_id = ?2"
	    " AND name = ?3 AND value <> ?4",
	/* A time that only moves forward: the later of the two stays. */
	[S_CONV_RAISE] =
	    "INSERT INTO conv (page_id, user_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (page_id, user_id, name) DO UPDATE SET value = excluded.value,"
	    " updated_at = excluded.updated_at"
	    " WHERE CAST(conv.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
	/* Threads held elsewhere, by the conv_elsewhere index; the person's last answer beside. */
	[S_CONV_ELSEWHERE] =
	    "SELECT o.page_id, o.user_id, o.value, o.updated_at,"
	    " (SELECT h.value FROM conv h WHERE h.page_id = o.page_id AND h.user_id = o.user_id"
	    "  AND h.name = 'human_ts'),"
	    " (SELECT l.value FROM conv l WHERE l.page_id = o.page_id AND l.user_id = o.user_id"
	    "  AND l.name = 'last_user_ts')"
	    " FROM conv o WHERE o.name = 'owner' AND o.value <> ''"
	    " ORDER BY o.updated_at DESC LIMIT ?1",
	[S_CACHE_GET] = "SELECT value FROM cache WHERE ns = ?1 AND key = ?2 AND expires_at > ?3",
	[S_CACHE_PUT] =
	    "INSERT INTO cache (ns, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
	    " expires_at = excluded.expires_at",
	[S_CACHE_DEL] = "DELETE FROM cache WHERE ns = ?1 AND key = ?2",
	/* A repeated pause keeps its first `since`: how long it has lasted is what matters. */
	[S_PAUSE_SET] =
	    "INSERT INTO pause (scope, id, reason, since, token_fp, probe_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
	    " ON CONFLICT (scope, id) DO UPDATE SET reason = excluded.reason,"
	    " token_fp = excluded.token_fp, probe_at = excluded.probe_at",
	[S_PAUSE_CLEAR] = "DELETE FROM pause WHERE scope = ?1 AND id = ?2",
	[S_PAUSE_GET] =
	    "SELECT scope, id, reason, since, token_fp, probe_at FROM pause"
	    " WHERE scope = ?1 AND id = ?2",
	/* Two lookups of the key, not an OR of them (which dedups through a temporary b-tree):
	 * one row, 1 when either scope is paused. */
	[S_PAUSE_ANY] =
	    "SELECT EXISTS (SELECT 1 FROM pause WHERE scope = 'connector' AND id = ?1)"
	    " OR EXISTS (SELECT 1 FROM pause WHERE scope = 'page' AND id = ?2)",
	/* Only a pause still on: one ended meanwhile by another process is not started again. */
	[S_PAUSE_PROBE] = "UPDATE pause SET probe_at = ?3 WHERE scope = ?1 AND id = ?2",
	[S_PAUSE_LIST] =
	    "SELECT scope, id, reason, since, token_fp, probe_at FROM pause"
	    " ORDER BY since, scope, id LIMIT ?1",
	[S_Q_LIST] =
	    "SELECT id, connector, reason, received_at, raw FROM quarantine ORDER BY id LIMIT ?1",
	[S_Q_DELETE] = "DELETE FROM quarantine WHERE id = ?1",
	[S_STATS_EVENTS] =
	    "SELECT state, count(*), sum(attempts > 0), sum(next_at > ?1),"
	    " sum(lease_until > ?1) FROM events GROUP BY state",
	[S_STATS_OTHER] =
	    "SELECT (SELECT count(*) FROM quarantine), (SELECT count(*) FROM pause),"
	    " (SELECT count(*) FROM inbox)",
	[S_FAILURES] =
	    "SELECT finished_at, connector, kind, error FROM events WHERE state = 2"
	    " ORDER BY finished_at DESC, id DESC LIMIT ?1",
	/* Bounded (msgr_store_purge): the oldest first, by events_finished and cache_expiry. */
	[S_PURGE_EVENTS] =
	    "DELETE FROM events WHERE id IN (SELECT id FROM events"
	    " WHERE finished_at < ?1 AND state IN (1, 2, 3) ORDER BY finished_at LIMIT ?2)",
	[S_PURGE_CACHE] =
	    "DELETE FROM cache WHERE (ns, key) IN (SELECT ns, key FROM cache"
	    " WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
	/* Calls in flight and echoes (migration 5 -> 6). */
	[S_OB_ATTEMPT] =
	    "UPDATE outbox SET tries = tries + 1, inflight = 1, tried_at = ?2 WHERE id = ?1",
	[S_OB_FLIGHT] = "SELECT done, inflight, tries, tried_at FROM outbox WHERE id = ?1",
	[S_OB_SETTLE] = "UPDATE outbox SET inflight = 0 WHERE id = ?1",
	[S_ECHO_PUT] =
	    "INSERT INTO echo (mid, page_id, user_id, outbox_id, try, seen_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (mid) DO NOTHING",
	[S_ECHO_FIND] =
	    "SELECT mid, page_id, user_id, outbox_id, try, seen_at FROM echo"
	    " WHERE outbox_id = ?1 AND page_id = ?2 AND user_id = ?3 ORDER BY seen_at LIMIT 1",
	[S_ECHO_PAGE] = "SELECT 1 FROM echo WHERE page_id = ?1 AND seen_at >= ?2 LIMIT 1",
	/* By the events_conv index: a conversation's pending events are few. */
	[S_ECHO_PENDING] =
	    "SELECT id, raw FROM events WHERE state = 0 AND page_id = ?1 AND user_id = ?2"
	    " AND kind = ?3 AND id > ?4 ORDER BY id LIMIT ?5",
	[S_ECHO_PURGE] =
	    "DELETE FROM echo WHERE mid IN (SELECT mid FROM echo WHERE seen_at < ?1"
	    " ORDER BY seen_at LIMIT ?2)",
	/* The inbox (migration 7 -> 8). */
	[S_IN_INSERT] =
	    "INSERT INTO inbox (key, connector, page_id, user_id, kind, standby, ts, received_at,"
	    " raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_IN_READ] =
	    "SELECT id, key, connector, page_id, user_id, kind, standby, ts, received_at, raw"
	    " FROM inbox ORDER BY id LIMIT ?1",
	[S_IN_DROP] = "DELETE FROM inbox WHERE id <= ?1",
	[S_EV_KEY] = "SELECT 1 FROM events WHERE key = ?1",
};

/* The backend's handle (impl of struct msgr_store_ops). */
struct sq {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	int busy_timeout_ms;
	long long wait_deadline_ns;   /* monotonic; 0 until the current call first waits */
	unsigned long long rng;       /* xorshift state for the busy handler's jitter */
	int readonly;
	struct msgr_holder holder;    /* ties this handle's claims to it (lib/holder.h) */
	/* msgr_store_hold: the calls' writes gather into one transaction (hold_open once it is
	 * begun), each call a savepoint in it; hold_lost when SQLite rolled it back whole (an
	 * I/O error): every call fails until a flush has reported it. */
	int hold, hold_open, hold_lost;
	/* options.inbox: enqueue appends to the inbox; pending holds the keys this handle put
	 * there that no ingest of its own has moved yet (a redelivery is found without an index
	 * on the inbox). */
	int inbox;
	struct msgr_keyset pending;
	char errmsg[256];
};

/* ---- small helpers ---- */

static long long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}


static unsigned long long
next_rand(struct sq *st)
{
	unsigned long long x = st->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return st->rng = x;
}

/* Waits for a lock in small steps: a few yields (a write transaction of ours holds the lock
 * for microseconds), then sleeps of 100 µs doubling to 1 ms with jitter so waiting writers
 * do not wake in step. The deadline covers every wait of one public call, so a call returns
 * MSGR_ERR_BUSY about busy_timeout_ms after it first had to wait. */
static int
busy_wait(void *arg, int count)
{
	struct sq *st = arg;
	long long now = mono_ns(), left, us, base;
	struct timespec ts;

	if (st->wait_deadline_ns == 0)
		st->wait_deadline_ns = now + (long long)st->busy_timeout_ms * 1000000LL;
	left = st->wait_deadline_ns - now;
	if (left <= 0)
		return 0;
	if (count < BUSY_YIELDS) {
		sched_yield();
		return 1;
	}
	base = BUSY_MIN_US << (count - BUSY_YIELDS < 4 ? count - BUSY_YIELDS : 4);
	if (base > BUSY_MAX_US)
		base = BUSY_MAX_US;
	us = base / 2 + (long long)(next_rand(st) % (unsigned long long)(base / 2 + 1));
	if (us * 1000 > left)
		us = left / 1000 + 1;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	nanosleep(&ts, NULL);
	return 1;
}

static msgr_result hold_begin(struct sq *st);

/* The first line of every public call: returns what op_start failed with. */
#define OP_START(st) do {						\
	msgr_result op_rc_ = op_start(st);				\
	if (op_rc_ != MSGR_OK)						\
		return op_rc_;						\
} while (0)

/* Every public call starts here: its lock waits get a fresh deadline, and a held handle's
 * transaction is begun (or its loss reported). */
static msgr_result
op_start(struct sq *st)
{
	st->wait_deadline_ns = 0;
	return st->hold ? hold_begin(st) : MSGR_OK;
}

static msgr_result
map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return MSGR_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return MSGR_ERR_BUSY;
	case SQLITE_NOMEM:
		return MSGR_ERR_NOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return MSGR_ERR_INVALID;
	case SQLITE_TOOBIG:
		return MSGR_ERR_TOOBIG;
	default:
		/* READONLY, FULL, IOERR, CORRUPT, NOTADB, CANTOPEN, PERM, PROTOCOL, ... */
		return MSGR_ERR_STORE;
	}
}

/* After an I/O error or a full disk SQLite may roll the whole transaction back: a held one
 * (msgr_store_hold) has then lost the writes of calls that already returned MSGR_OK, and every
 * call fails until a flush has reported it. */
static void
note_hold_lost(struct sq *st)
{
	if (st->hold_open && sqlite3_get_autocommit(st->db)) {
		st->hold_open = 0;
		st->hold_lost = 1;
	}
}

/* The answer while a lost held transaction is not yet reported. */
static msgr_result
hold_lost_error(struct sq *st)
{
	snprintf(st->errmsg, sizeof(st->errmsg), "the held transaction was rolled back by an "
	    "earlier error");
	return MSGR_ERR_STORE;
}

/* Records why rc happened (SQLite's own words: no data values, so no secret) and maps it. */
static msgr_result
fail(struct sq *st, int rc, const char *what)
{
	const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	if ((rc & 0xff) == SQLITE_DONE || (rc & 0xff) == SQLITE_ROW)
		msg = "unexpected result";
	snprintf(st->errmsg, sizeof(st->errmsg), "%s: %s", what, msg);
	if (st->db != NULL)
		note_hold_lost(st);
	return map_rc(rc);
}

/* A prepared statement, reset and unbound for a new use. */
static sqlite3_stmt *
use(struct sq *st, enum sid id)
{
	sqlite3_stmt *s = st->stmt[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v == NULL ? sqlite3_bind_null(s, i) : sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int
bind_int(sqlite3_stmt *s, int i, long long v)
{
	return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

/* Steps s to its end (rows ignored) and resets it, so it holds no read lock afterwards. */
static msgr_result
run(struct sq *st, sqlite3_stmt *s, const char *what)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		msgr_result r = fail(st, rc, what);
		sqlite3_reset(s);
		return r;
	}
	sqlite3_reset(s);
	return MSGR_OK;
}

/* Runs statement id whose failure has nothing left to tell (ending a failed transaction). */
static void
step_quietly(struct sq *st, enum sid id)
{
	sqlite3_step(use(st, id));
	sqlite3_reset(st->stmt[id]);
}

/* A call's transaction; in a held handle a savepoint of the held transaction, so a call that
 * fails undoes only its own writes. */
static msgr_result
tx_begin(struct sq *st)
{
	return run(st, use(st, st->hold_open ? S_SAVE : S_BEGIN), "begin");
}

static msgr_result
tx_commit(struct sq *st)
{
	return run(st, use(st, st->hold_open ? S_RELEASE : S_COMMIT), "commit");
}

/* Ends a failed transaction: in a held handle the call's savepoint only. SQLite may already
 * have rolled it back (after FULL or IOERR): then there is nothing to do, and a held one is
 * lost. The statement's own error is already recorded. */
static void
tx_rollback(struct sq *st)
{
	note_hold_lost(st);
	if (sqlite3_get_autocommit(st->db))
		return;
	if (st->hold_open) {
		step_quietly(st, S_UNDO);
		step_quietly(st, S_RELEASE);
	} else
		step_quietly(st, S_ROLLBACK);
}

/* The held transaction, begun at the first call after a flush (BEGIN IMMEDIATE: the only
 * lock wait is here). MSGR_ERR_STORE while a lost one is not yet reported by a flush. */
static msgr_result
hold_begin(struct sq *st)
{
	msgr_result r;

	if (st->hold_lost)
		return hold_lost_error(st);
	if (st->hold_open)
		return MSGR_OK;
	if ((r = run(st, use(st, S_BEGIN), "begin")) != MSGR_OK)
		return r;
	st->hold_open = 1;
	return MSGR_OK;
}

/* Commits the held transaction; reports (once) one that was lost. */
static msgr_result
hold_commit(struct sq *st)
{
	msgr_result r;

	if (st->hold_lost) {
		st->hold_lost = 0;
		return hold_lost_error(st);
	}
	if (!st->hold_open)
		return MSGR_OK;
	st->hold_open = 0;
	if ((r = run(st, use(st, S_COMMIT), "commit")) != MSGR_OK)
		tx_rollback(st);
	return r;
}

/* Ends the transaction tx_begin opened: committed when r (the work's result) is MSGR_OK, else
 * rolled back. The outcome. */
static msgr_result
tx_end(struct sq *st, msgr_result r)
{
	if (r == MSGR_OK)
		r = tx_commit(st);
	if (r != MSGR_OK)
		tx_rollback(st);
	return r;
}

/* Copies text column col into dst[dstsz]; MSGR_ERR_TOOBIG when it does not fit. */
static msgr_result
col_copy(sqlite3_stmt *s, int col, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);

	if (t == NULL) {
		if (sqlite3_column_type(s, col) != SQLITE_NULL)
			return MSGR_ERR_NOMEM;
		len = 0;
		t = (const unsigned char *)"";
	}
	if (len >= dstsz)
		return MSGR_ERR_TOOBIG;
	memcpy(dst, t, len);
	dst[len] = '\0';
	return MSGR_OK;
}

/* A malloc'd NUL-terminated copy of column col (text or blob); *len gets its size. */
static msgr_result
col_dup(sqlite3_stmt *s, int col, char **out, size_t *len)
{
	const void *p;
	size_t n;
	char *d;

	if (sqlite3_column_type(s, col) == SQLITE_BLOB) {
		p = sqlite3_column_blob(s, col);
	} else {
		p = sqlite3_column_text(s, col);
	}
	n = (size_t)sqlite3_column_bytes(s, col);
	if (p == NULL && n > 0)
		return MSGR_ERR_NOMEM;
	if ((d = malloc(n + 1)) == NULL)
		return MSGR_ERR_NOMEM;
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	*out = d;
	if (len != NULL)
		*len = n;
	return MSGR_OK;
}

static msgr_result
exec_sql(struct sq *st, const char *text, const char *what)
{
	int rc = sqlite3_exec(st->db, text, NULL, NULL, NULL);

	return rc == SQLITE_OK ? MSGR_OK : fail(st, rc, what);
}

/* One integer from a statement returning one row (PRAGMA user_version). */
static msgr_result
query_int(struct sq *st, const char *text, long long *v, const char *what)
{
	sqlite3_stmt *s = NULL;
	msgr_result r;
	int rc;

	if ((rc = sqlite3_prepare_v2(st->db, text, -1, &s, NULL)) != SQLITE_OK)
		return fail(st, rc, what);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		r = MSGR_OK;
	} else {
		r = fail(st, rc, what);
	}
	sqlite3_finalize(s);
	return r;
}

/* ---- open, migrate, close ---- */

/* Sets journal_mode; a filesystem where WAL cannot work (no shared memory: NFS) leaves
 * SQLite in its old mode, which still works: say so in the log rather than refuse.
 * Changing the mode needs the file to itself, and SQLite answers SQLITE_BUSY at once,
 * without calling the busy handler, when another connection holds it (a handler could
 * deadlock there): several processes opening a fresh file together all meet that. So the
 * pragma is tried again under the same waits and deadline as any lock (busy_wait), and
 * only a lock held past busy_timeout_ms is an error (docs/store.md "Locking"). */
static msgr_result
set_journal(struct sq *st, int wal)
{
	const char *want = wal ? "wal" : "delete";
	sqlite3_stmt *s = NULL;
	const unsigned char *got;
	char text[40];
	msgr_result r = MSGR_OK;
	int rc, tries = 0;

	snprintf(text, sizeof(text), "PRAGMA journal_mode = %s", want);
	for (;;) {
		if ((rc = sqlite3_prepare_v2(st->db, text, -1, &s, NULL)) != SQLITE_OK)
			return fail(st, rc, "journal_mode");
		rc = sqlite3_step(s);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_finalize(s);
		s = NULL;
		if (!busy_wait(st, tries++))
			return fail(st, rc, "journal_mode");
	}
	if (rc != SQLITE_ROW) {
		r = fail(st, rc, "journal_mode");
		goto out;
	}
	got = sqlite3_column_text(s, 0);
	if (got == NULL || strcmp((const char *)got, want) != 0)
		msgr_log(MSGR_LOG_WARN, "store: journal_mode %s not available, using %s", want,
		    got != NULL ? (const char *)got : "?");
out:
	sqlite3_finalize(s);
	return r;
}

/* "schema version N is newer...": a file of a newer build is refused, never touched. */
static msgr_result
newer(struct sq *st, long long v)
{
	snprintf(st->errmsg, sizeof(st->errmsg),
	    "database schema version %lld is newer than this build's %d", v, SCHEMA_VERSION);
	return MSGR_ERR_STORE;
}

/* Brings the schema to SCHEMA_VERSION in one transaction. The version is read again under
 * the write lock: another process opening at the same moment may have migrated already. */
static msgr_result
migrate(struct sq *st)
{
	long long v;
	char text[64];
	msgr_result r;

	if ((r = exec_sql(st, "BEGIN IMMEDIATE", "migrate")) != MSGR_OK)
		return r;
	if ((r = query_int(st, "PRAGMA user_version", &v, "migrate")) != MSGR_OK)
		goto out;
	if (v > SCHEMA_VERSION || v < 0) {
		r = newer(st, v);
		goto out;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((r = exec_sql(st, migrations[v], "migrate")) != MSGR_OK)
			goto out;
	snprintf(text, sizeof(text), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((r = exec_sql(st, text, "migrate")) != MSGR_OK)
		goto out;
	r = exec_sql(st, "COMMIT", "migrate");
out:
	if (r != MSGR_OK && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}


static void sq_close(void *impl);

/* holder_alive(lock) in SQL: is the handle that took a claim with this lock still there? */
static void
holder_alive_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sq *st = sqlite3_user_data(ctx);

	(void)argc;
	sqlite3_result_int(ctx, msgr_holder_alive(&st->holder,
	    (long long)sqlite3_value_int64(argv[0])));
}

/* The claims' tie to this handle (lib/holder.h): the SQL function the claim statements ask,
 * and, for a handle that may claim, its lock beside the database. Without a lock the
 * handle still works; its claims are then bounded by their lease only. */
static msgr_result
holder_setup(struct sq *st, const struct msgr_store_options *opt)
{
	int rc;

	rc = sqlite3_create_function_v2(st->db, "holder_alive", 1, SQLITE_UTF8, st,
	    holder_alive_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "open");
	if (opt->readonly)
		return MSGR_OK;
	if (msgr_holder_open(&st->holder, opt->path, next_rand(st)) == MSGR_ERR_NOMEM)
		return MSGR_ERR_NOMEM;
	if (st->holder.off == 0)
		msgr_log(MSGR_LOG_DEBUG, "store: no claims lock beside %s (%s): claims end with "
		    "their lease only", opt->path, strerror(errno));
	return MSGR_OK;
}

/* A missing database file is created here, empty (an empty file is an empty database to
 * SQLite) and readable and writable by its owner only, whatever the umask of the web
 * server, suexec or cron: it holds people's messages, PSIDs and tokens (docs/store.md
 * "Files"). SQLite gives the -wal, -shm and -journal files it creates later the mode of the
 * database file, so they are private too. An existing file keeps the mode it has. 0, or -1
 * with errno when the file could not be made (SQLite's own open then says why). */
static int
create_private(const char *path)
{
	int fd, e;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	/* The umask may have taken bits from 0600 (a umask of 0277): owner read and write. */
	if (fchmod(fd, 0600) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* A writable handle's calls are savepoints of a held transaction (msgr_store_hold) or
 * statements of one (an INSERT that may fail alone), and SQLite journals every page a
 * savepoint changes. Past 64 KB that journal went to a temp file of its own (/var/tmp), one
 * write per page: a move of 128 inbox rows into the queue changes hundreds of pages. And a
 * held transaction whose changed pages outgrew the page cache (2 MB) spilled them into the
 * WAL before its commit; a page changed again was rewritten in place there, and the commit
 * then read back and re-checksummed every frame after the first one rewritten (a read and a
 * write each). Both now stay in memory: the journal of one call at most (a call's rows are
 * bounded: 128 moved, 250 purged), and changed pages up to SPILL_BYTES before any spill.
 * A drain that moves a backlog from the inbox as it answers went 1.8 times as fast
 * (docs/benchmarks.md). Set after a migration, whose index builds sort through temp files
 * as large as the table. */
#define SPILL_BYTES (4 << 20)

static msgr_result
tune_writes(struct sq *st)
{
	char text[64];
	long long page = 0;
	msgr_result r;

	if ((r = exec_sql(st, "PRAGMA temp_store = MEMORY", "temp_store")) != MSGR_OK ||
	    (r = query_int(st, "PRAGMA page_size", &page, "page_size")) != MSGR_OK)
		return r;
	snprintf(text, sizeof(text), "PRAGMA cache_spill = %lld",
	    page > 0 ? SPILL_BYTES / page : 4096);
	return exec_sql(st, text, "cache_spill");
}

/* The connection's settings, and the schema brought to SCHEMA_VERSION (v: the file's). */
static msgr_result
configure(struct sq *st, const struct msgr_store_options *opt, long long v)
{
	char text[64];
	msgr_result r;

	/* A new file gets 1 KB pages (an existing one keeps its own: the pragma does nothing
	 * there). Each event changes a page in each of several indexes at random places, and a
	 * commit writes every changed page whole to the WAL before its fsync: with 1 KB pages a
	 * commit writes about 2.5 times fewer bytes than with SQLite's default of 4 KB, and that
	 * volume is what an fsync under load waits for (docs/benchmarks.md). Set before the
	 * journal mode, which fixes the page size of a new WAL database. */
	if (!st->readonly && (r = exec_sql(st, "PRAGMA page_size = 1024", "page_size")) != MSGR_OK)
		return r;
	if (!st->readonly && (r = set_journal(st, opt->wal)) != MSGR_OK)
		return r;
	snprintf(text, sizeof(text), "PRAGMA synchronous = %s", opt->sync_full ? "FULL" : "NORMAL");
	if ((r = exec_sql(st, text, "synchronous")) != MSGR_OK)
		return r;
	/* The outbox follows its event out at purge (ON DELETE CASCADE). */
	if ((r = exec_sql(st, "PRAGMA foreign_keys = ON", "foreign_keys")) != MSGR_OK)
		return r;
	/* 10000 pages (10 MB of WAL with the 1 KB pages a store is made with; 40 MB for one
	 * made with 4 KB pages) is only a backstop for a checkpointer that fell behind:
	 * sqlite3_wal_autocheckpoint's 1000 would put a checkpoint, with its fsync of the
	 * database file, after every few dozen commits of the host committer. */
	if (opt->checkpoint_apart && opt->wal && !st->readonly &&
	    sqlite3_wal_autocheckpoint(st->db, 10000) != SQLITE_OK)
		return fail(st, sqlite3_errcode(st->db), "wal_autocheckpoint");
	if (v != SCHEMA_VERSION) {
		if (st->readonly) {
			/* Reads must not migrate. */
			snprintf(st->errmsg, sizeof(st->errmsg), "database schema version %lld "
			    "needs migrating to %d: open it writable once", v, SCHEMA_VERSION);
			return MSGR_ERR_STORE;
		}
		if ((r = migrate(st)) != MSGR_OK)
			return r;
	}
	return st->readonly ? MSGR_OK : tune_writes(st);
}

/* Every statement, prepared once for the handle's life. */
static msgr_result
prepare_all(struct sq *st)
{
	int i, rc;

	for (i = 0; i < S_COUNT; i++) {
		rc = sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &st->stmt[i], NULL);
		if (rc != SQLITE_OK)
			return fail(st, rc, "prepare");
	}
	return MSGR_OK;
}

static msgr_result
sq_open(const struct msgr_store_options *opt, void **impl, char *err, size_t errsz)
{
	struct sq *st = NULL;
	msgr_result r;
	long long v;
	int rc, flags;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MSGR_ERR_NOMEM;
	st->holder.fd = -1;
	st->busy_timeout_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : DEFAULT_BUSY_MS;
	st->rng = (unsigned long long)mono_ns() ^ ((unsigned long long)getpid() << 32) ^
	    (unsigned long long)(uintptr_t)st;
	if (st->rng == 0)
		st->rng = 0x9e3779b97f4a7c15ULL;
	OP_START(st);

	if (sqlite3_libversion_number() < MIN_SQLITE_VERSION) {
		snprintf(st->errmsg, sizeof(st->errmsg), "SQLite %s is older than 3.24",
		    sqlite3_libversion());
		r = MSGR_ERR_STORE;
		goto out;
	}
	if (!opt->readonly && create_private(opt->path) != 0)
		msgr_log(MSGR_LOG_DEBUG, "store: cannot create %s private: %s", opt->path,
		    strerror(errno));
	/* NOMUTEX: a handle is used by one thread at a time (store.h). */
	flags = (opt->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
	    SQLITE_OPEN_NOMUTEX;
	/* msgr_wal_vfs: each WAL frame one write (lib/wal_vfs.h); NULL, the default VFS. */
	if ((rc = sqlite3_open_v2(opt->path, &st->db, flags, msgr_wal_vfs())) != SQLITE_OK) {
		r = st->db == NULL ? MSGR_ERR_NOMEM : fail(st, rc, "open");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_handler(st->db, busy_wait, st);
	if ((r = holder_setup(st, opt)) != MSGR_OK)
		goto out;

	/* The first read tells a database from a file that is not one (SQLITE_NOTADB). */
	if ((r = query_int(st, "PRAGMA user_version", &v, "open")) != MSGR_OK)
		goto out;
	if (v > SCHEMA_VERSION || v < 0) {
		r = newer(st, v);
		goto out;
	}
	/* SQLite falls back to reading a file it cannot write (an immutable file, a read-only
	 * mount) without a word. Such a handle is refused here: kept, it would outlive the
	 * fault (a borrower opening it while the fault holds) and fail the first write after
	 * the fault is gone, where a fresh open would have succeeded. */
	if (!opt->readonly && sqlite3_db_readonly(st->db, "main") == 1) {
		snprintf(st->errmsg, sizeof(st->errmsg), "open: %s (the file cannot be written)",
		    sqlite3_errstr(SQLITE_READONLY));
		r = MSGR_ERR_STORE;
		goto out;
	}
	st->readonly = opt->readonly;
	st->inbox = opt->inbox && !st->readonly;
	if ((r = configure(st, opt, v)) != MSGR_OK || (r = prepare_all(st)) != MSGR_OK)
		goto out;
	*impl = st;
	st = NULL;
out:
	if (st != NULL) {
		snprintf(err, errsz, "%s", st->errmsg[0] ? st->errmsg : msgr_strerror(r));
		sq_close(st);
	}
	return r;
}

/* msgr_store_check: the file as it is, read-only, never created nor migrated. */
static msgr_result
sq_check(const struct msgr_store_options *opt, char *out, size_t outsz)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	msgr_result r = MSGR_ERR_STORE;
	long long v = 0;
	int rc;

	if (access(opt->path, F_OK) != 0) {
		if (errno != ENOENT) {
			snprintf(out, outsz, "sqlite %s: %s", opt->path, strerror(errno));
			return MSGR_ERR_STORE;
		}
		snprintf(out, outsz, "sqlite %s: not created yet (the first responder or msgrctl "
		    "command to write creates it)", opt->path);
		return MSGR_OK;
	}
	rc = sqlite3_open_v2(opt->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms :
		    DEFAULT_BUSY_MS);
		rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	}
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		snprintf(out, outsz, "sqlite %s: %s", opt->path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	else if (v > SCHEMA_VERSION || v < 0)
		snprintf(out, outsz, "sqlite %s: database schema version %lld is newer than this "
		    "build's %d", opt->path, v, SCHEMA_VERSION);
	else {
		r = MSGR_OK;
		if (v < SCHEMA_VERSION)
			snprintf(out, outsz, "sqlite %s: schema version %lld (migrated to %d at the "
			    "next writable open)", opt->path, v, SCHEMA_VERSION);
		else
			snprintf(out, outsz, "sqlite %s: schema version %lld", opt->path, v);
	}
	sqlite3_finalize(s);
	sqlite3_close_v2(db);
	return r;
}

static void
sq_close(void *impl)
{
	struct sq *st = impl;
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close_v2(st->db);
	/* After the database: the lock ends this handle's claims only once it can make none. */
	msgr_holder_close(&st->holder);
	msgr_keyset_clear(&st->pending);
	free(st);
}

static const char *
sq_errmsg(const void *impl)
{
	const struct sq *st = impl;

	return st->errmsg;
}

/* ---- reading rows: one collector for every list ---- */

/* Bounded row list: cap rows of size sz, grown as they come. */
static msgr_result
grow(void **v, size_t *cap, size_t len, size_t sz)
{
	size_t ncap;
	void *nv;

	if (len < *cap)
		return MSGR_OK;
	ncap = *cap ? *cap * 2 : 8;
	if ((nv = realloc(*v, ncap * sz)) == NULL)
		return MSGR_ERR_NOMEM;
	*v = nv;
	*cap = ncap;
	return MSGR_OK;
}

static long long
limit_of(size_t max)
{
	return max > (size_t)1 << 30 ? 1LL << 30 : (long long)max;
}

/* Text column col into dst[dstsz], cut when longer (for display rows). */
static void
col_show(sqlite3_stmt *s, int col, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, dstsz, "%s", t != NULL ? (const char *)t : "");
}

/* How one kind of row is read: fill makes a zeroed row of rowsz bytes from the statement's
 * current result (it may allocate); drop frees what the fills of n rows allocated, and the
 * array (NULL when they allocate nothing: free() is enough). */
struct row_kind {
	size_t rowsz;
	msgr_result (*fill)(sqlite3_stmt *s, void *row);
	void (*drop)(void *rows, size_t n);
};

/* Every list is read here: steps s (bound) to its end, one row a result, then resets it.
 * *rows malloc'd (NULL when none), *n rows. Nothing is handed back on failure. */
static msgr_result
collect(struct sq *st, sqlite3_stmt *s, const struct row_kind *k, const char *what,
    void **rows, size_t *n)
{
	char *v = NULL;
	size_t len = 0, cap = 0;
	msgr_result r = MSGR_OK;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((r = grow((void **)&v, &cap, len, k->rowsz)) != MSGR_OK)
			goto out;
		memset(v + len * k->rowsz, 0, k->rowsz);
		len++;
		if ((r = k->fill(s, v + (len - 1) * k->rowsz)) != MSGR_OK)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		r = fail(st, rc, what);
		goto out;
	}
	*rows = v;
	*n = len;
	v = NULL;
out:
	sqlite3_reset(s);
	if (v != NULL) {
		if (k->drop != NULL)
			k->drop(v, len);
		else
			free(v);
	}
	return r;
}

/* ---- intake ---- */

static msgr_result
insert_event(struct sq *st, const struct msgr_store_event *e, long long now, int *fresh)
{
	sqlite3_stmt *s = use(st, S_EV_INSERT);
	int rc;

	if ((rc = bind_text(s, 1, e->key)) || (rc = bind_text(s, 2, e->connector_id)) ||
	    (rc = bind_text(s, 3, e->page_id)) || (rc = bind_text(s, 4, e->user_id)) ||
	    (rc = bind_int(s, 5, e->kind)) || (rc = bind_int(s, 6, e->standby ? 1 : 0)) ||
	    (rc = bind_int(s, 7, e->timestamp)) ||
	    (rc = bind_int(s, 8, e->timestamp > 0 ? e->timestamp : now)) ||
	    (rc = bind_int(s, 9, now)) || (rc = bind_text(s, 10, e->raw)))
		return fail(st, rc, "enqueue event");
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		msgr_result r = fail(st, rc, "enqueue event");
		sqlite3_reset(s);
		return r;
	}
	*fresh = sqlite3_changes(st->db) > 0;
	sqlite3_reset(s);
	if (!*fresh)
		return MSGR_OK;
	s = use(st, S_CONVQ_ADD);
	if ((rc = bind_text(s, 1, e->page_id)) || (rc = bind_text(s, 2, e->user_id)) ||
	    (rc = bind_int(s, 3, sqlite3_last_insert_rowid(st->db))) ||
	    (rc = bind_int(s, 4, e->timestamp > 0 ? e->timestamp : now)) ||
	    (rc = bind_int(s, 5, now)))
		return fail(st, rc, "enqueue event");
	return run(st, s, "enqueue event");
}

static msgr_result
insert_quarantine(struct sq *st, const struct msgr_store_quarantine *q, long long now)
{
	sqlite3_stmt *s = use(st, S_Q_INSERT);
	const void *raw = q->raw != NULL ? (const void *)q->raw : (q->raw_len == 0 ? "" : NULL);
	int rc;

	if (q->raw_len > (size_t)0x7fffffff)
		return MSGR_ERR_TOOBIG;
	if ((rc = bind_text(s, 1, q->connector_id)) || (rc = bind_text(s, 2, q->reason)) ||
	    (rc = raw != NULL ? sqlite3_bind_blob(s, 3, raw, (int)q->raw_len, SQLITE_STATIC)
	                      : sqlite3_bind_null(s, 3)) ||
	    (rc = bind_int(s, 4, now)))
		return fail(st, rc, "quarantine");
	return run(st, s, "quarantine");
}

/* An event into the inbox unless its key is stored already, in events or (pending) in the
 * inbox. The key joins pending at once, so a second copy in the same call is a duplicate;
 * the caller takes it out again when the transaction fails. */
static msgr_result
inbox_event(struct sq *st, const struct msgr_store_event *e, long long now, int *fresh)
{
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	*fresh = 0;
	if (msgr_keyset_has(&st->pending, e->key))
		return MSGR_OK;
	s = use(st, S_EV_KEY);
	if ((rc = bind_text(s, 1, e->key)) != SQLITE_OK)
		return fail(st, rc, "enqueue event");
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return MSGR_OK;
	if (rc != SQLITE_DONE)
		return fail(st, rc, "enqueue event");
	s = use(st, S_IN_INSERT);
	if ((rc = bind_text(s, 1, e->key)) || (rc = bind_text(s, 2, e->connector_id)) ||
	    (rc = bind_text(s, 3, e->page_id)) || (rc = bind_text(s, 4, e->user_id)) ||
	    (rc = bind_int(s, 5, e->kind)) || (rc = bind_int(s, 6, e->standby ? 1 : 0)) ||
	    (rc = bind_int(s, 7, e->timestamp)) || (rc = bind_int(s, 8, now)) ||
	    (rc = bind_text(s, 9, e->raw)))
		return fail(st, rc, "enqueue event");
	if ((r = run(st, s, "enqueue event")) != MSGR_OK)
		return r;
	if (msgr_keyset_add(&st->pending, e->key) != MSGR_OK)
		return MSGR_ERR_NOMEM;
	*fresh = 1;
	return MSGR_OK;
}

static msgr_result
sq_enqueue(void *impl, const struct msgr_store_event *ev, size_t n,
    const struct msgr_store_quarantine *q, size_t nq, long long now, size_t *n_new,
    size_t *n_dup)
{
	struct sq *st = impl;
	size_t i, fresh = 0, dup = 0;
	unsigned char *added = NULL;
	msgr_result r;
	int is_new = 0;

	OP_START(st);
	if (st->inbox && n > 0 && (added = calloc(n, 1)) == NULL)
		return MSGR_ERR_NOMEM;
	if ((r = tx_begin(st)) != MSGR_OK) {
		free(added);
		return r;
	}
	for (i = 0; i < n; i++) {
		r = st->inbox ? inbox_event(st, &ev[i], now, &is_new) :
		    insert_event(st, &ev[i], now, &is_new);
		if (r != MSGR_OK)
			goto out;
		if (added != NULL)
			added[i] = (unsigned char)is_new;
		if (is_new)
			fresh++;
		else
			dup++;
	}
	for (i = 0; i < nq; i++)
		if ((r = insert_quarantine(st, &q[i], now)) != MSGR_OK)
			goto out;
out:
	r = tx_end(st, r);
	/* Rolled back: the keys it put in pending are not in the inbox after all. */
	for (i = 0; r != MSGR_OK && added != NULL && i < n; i++)
		if (added[i])
			msgr_keyset_del(&st->pending, ev[i].key);
	free(added);
	if (r != MSGR_OK)
		return r;
	*n_new = fresh;
	*n_dup = dup;
	return MSGR_OK;
}

/* Moves the oldest inbox rows, at most max, into events and convq in one transaction, as
 * the direct enqueue would have stored them (received_at is the row's: when the webhook was
 * acknowledged). A key already in events is dropped with its row (a fallback or another
 * handle stored it first). */
static msgr_result
sq_ingest(void *impl, size_t max, size_t *moved, int *more)
{
	struct sq *st = impl;
	struct msgr_store_event e;
	sqlite3_stmt *s;
	char **keys = NULL;
	long long last = 0;
	size_t n = 0, i;
	msgr_result r = MSGR_OK;
	int rc, fresh;

	OP_START(st);
	if (st->inbox && (keys = calloc(max, sizeof(*keys))) == NULL)
		return MSGR_ERR_NOMEM;
	if ((r = tx_begin(st)) != MSGR_OK) {
		free(keys);
		return r;
	}
	s = use(st, S_IN_READ);
	if ((rc = bind_int(s, 1, (long long)max)) != SQLITE_OK) {
		r = fail(st, rc, "ingest");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		last = sqlite3_column_int64(s, 0);
		e.key = (const char *)sqlite3_column_text(s, 1);
		e.connector_id = (const char *)sqlite3_column_text(s, 2);
		e.page_id = (const char *)sqlite3_column_text(s, 3);
		e.user_id = (const char *)sqlite3_column_text(s, 4);
		e.kind = sqlite3_column_int(s, 5);
		e.standby = sqlite3_column_int(s, 6);
		e.timestamp = sqlite3_column_int64(s, 7);
		e.raw = (const char *)sqlite3_column_text(s, 9);
		if (e.key == NULL || e.connector_id == NULL || e.page_id == NULL ||
		    e.user_id == NULL || e.raw == NULL) {
			r = fail(st, SQLITE_NOMEM, "ingest");
			break;
		}
		if (keys != NULL && (keys[n] = strdup(e.key)) == NULL) {
			r = MSGR_ERR_NOMEM;
			break;
		}
		n++;
		if ((r = insert_event(st, &e, sqlite3_column_int64(s, 8), &fresh)) != MSGR_OK)
			break;
	}
	if (r == MSGR_OK && rc != SQLITE_DONE)
		r = fail(st, rc, "ingest");
	sqlite3_reset(s);
	if (r == MSGR_OK && n > 0) {
		s = use(st, S_IN_DROP);
		if ((rc = bind_int(s, 1, last)) != SQLITE_OK)
			r = fail(st, rc, "ingest");
		else
			r = run(st, s, "ingest");
	}
out:
	r = tx_end(st, r);
	if (r == MSGR_OK && keys != NULL) {
		/* Moved: found in events from now on. An inbox left empty holds no key of
		 * ours, whoever moved the rest. */
		if (n < max)
			msgr_keyset_clear(&st->pending);
		else
			for (i = 0; i < n; i++)
				msgr_keyset_del(&st->pending, keys[i]);
	}
	for (i = 0; keys != NULL && i < n; i++)
		free(keys[i]);
	free(keys);
	if (r != MSGR_OK)
		return r;
	*moved = n;
	*more = n == max;
	return MSGR_OK;
}

/* ---- work ---- */

static msgr_result
job_load(struct sq *st, int64_t id, struct msgr_job *job)
{
	sqlite3_stmt *s = use(st, S_JOB_GET);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, id)) != SQLITE_OK)
		return fail(st, rc, "claim");
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = fail(st, rc, "claim");
		goto out;
	}
	job->id = sqlite3_column_int64(s, 0);
	if ((r = col_copy(s, 1, job->connector_id, sizeof(job->connector_id))) != MSGR_OK ||
	    (r = col_copy(s, 2, job->page_id, sizeof(job->page_id))) != MSGR_OK ||
	    (r = col_copy(s, 3, job->user_id, sizeof(job->user_id))) != MSGR_OK)
		goto out;
	job->kind = sqlite3_column_int(s, 4);
	job->standby = sqlite3_column_int(s, 5);
	job->timestamp = sqlite3_column_int64(s, 6);
	job->received_at = sqlite3_column_int64(s, 7);
	job->attempts = sqlite3_column_int(s, 8);
	job->claims = sqlite3_column_int(s, 10);
	r = col_dup(s, 9, &job->raw, NULL);
out:
	sqlite3_reset(s);
	return r;
}

/* The pick of a claim: the due, unleased conversation to try, read without the write lock.
 * MSGR_ERR_EMPTY when none. */
static msgr_result
claim_pick(struct sq *st, long long now, char *page, size_t pagesz, char *user, size_t usersz,
    int64_t *head)
{
	sqlite3_stmt *s = use(st, S_CLAIM_PICK);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, now)) != SQLITE_OK)
		return fail(st, rc, "claim");
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return MSGR_ERR_EMPTY;
	}
	if (rc != SQLITE_ROW) {
		r = fail(st, rc, "claim");
		sqlite3_reset(s);
		return r;
	}
	if ((r = col_copy(s, 0, page, pagesz)) != MSGR_OK ||
	    (r = col_copy(s, 1, user, usersz)) != MSGR_OK) {
		sqlite3_reset(s);
		snprintf(st->errmsg, sizeof(st->errmsg), "claim: conversation id too long");
		return r == MSGR_ERR_TOOBIG ? MSGR_ERR_STORE : r;
	}
	*head = sqlite3_column_int64(s, 2);
	sqlite3_reset(s);
	return MSGR_OK;
}

/* The take of a claim, in the open transaction: the conversation's row and its head event
 * leased to owner when both are still as picked. MSGR_ERR_EMPTY when another process won. */
static msgr_result
claim_take(struct sq *st, const char *owner, long long now, int lease_ms, const char *page,
    const char *user, int64_t head)
{
	sqlite3_stmt *s = use(st, S_CLAIM_TAKE);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, now + lease_ms)) || (rc = bind_text(s, 2, page)) ||
	    (rc = bind_text(s, 3, user)) || (rc = bind_int(s, 4, head)) ||
	    (rc = bind_int(s, 5, now)) || (rc = bind_int(s, 6, st->holder.off)))
		return fail(st, rc, "claim");
	if ((r = run(st, s, "claim")) != MSGR_OK)
		return r;
	if (sqlite3_changes(st->db) == 0)
		return MSGR_ERR_EMPTY;
	s = use(st, S_CLAIM_STALE);
	if ((rc = bind_text(s, 1, page)) || (rc = bind_text(s, 2, user)) ||
	    (rc = bind_int(s, 3, head)))
		return fail(st, rc, "claim");
	if ((r = run(st, s, "claim")) != MSGR_OK)
		return r;
	s = use(st, S_CLAIM_LEASE);
	if ((rc = bind_text(s, 1, owner)) || (rc = bind_int(s, 2, now + lease_ms)) ||
	    (rc = bind_int(s, 3, head)) || (rc = bind_int(s, 4, st->holder.off)))
		return fail(st, rc, "claim");
	if ((r = run(st, s, "claim")) != MSGR_OK)
		return r;
	if (sqlite3_changes(st->db) != 1) {
		snprintf(st->errmsg, sizeof(st->errmsg), "claim: queue row without its event");
		return MSGR_ERR_STORE;
	}
	return MSGR_OK;
}

static msgr_result
sq_claim(void *impl, const char *owner, long long now, int lease_ms, struct msgr_job *job)
{
	struct sq *st = impl;
	char page[sizeof(job->page_id)], user[sizeof(job->user_id)];
	int64_t head = 0;
	msgr_result r;
	int tries;

	OP_START(st);
	/* Optimistic: find a due conversation with a plain read (nothing due, the common case
	 * after a response, then costs no write lock), then take it under the write lock only
	 * if it is still free and its head unchanged. */
	for (tries = 0; tries < CLAIM_TRIES; tries++) {
		if ((r = claim_pick(st, now, page, sizeof(page), user, sizeof(user), &head)) !=
		    MSGR_OK)
			return r;
		if ((r = tx_begin(st)) != MSGR_OK)
			return r;
		r = claim_take(st, owner, now, lease_ms, page, user, head);
		if (r == MSGR_ERR_EMPTY) {
			/* Another process took it (or its head changed) meanwhile: look again. */
			tx_rollback(st);
			continue;
		}
		if (r != MSGR_OK || (r = job_load(st, head, job)) != MSGR_OK ||
		    (r = tx_commit(st)) != MSGR_OK)
			goto out;
		return MSGR_OK;
	}
	snprintf(st->errmsg, sizeof(st->errmsg), "claim: candidates kept being taken");
	return MSGR_ERR_BUSY;
out:
	tx_rollback(st);
	msgr_job_clear(job);
	return r;
}

/* Recomputes the queue row of job_id's conversation after one of its events changed. */
static msgr_result
conv_refresh(struct sq *st, int64_t job_id)
{
	char page[sizeof(((struct msgr_job *)0)->page_id)];
	char user[sizeof(((struct msgr_job *)0)->user_id)];
	sqlite3_stmt *s = use(st, S_EV_CONV);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, job_id)) != SQLITE_OK)
		return fail(st, rc, "queue");
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = fail(st, rc, "queue");
		sqlite3_reset(s);
		return r;
	}
	r = col_copy(s, 0, page, sizeof(page));
	if (r == MSGR_OK)
		r = col_copy(s, 1, user, sizeof(user));
	sqlite3_reset(s);
	if (r != MSGR_OK)
		return r;
	s = use(st, S_CONVQ_REFRESH);
	if ((rc = bind_text(s, 1, page)) || (rc = bind_text(s, 2, user)))
		return fail(st, rc, "queue");
	if ((r = run(st, s, "queue")) != MSGR_OK)
		return r;
	s = use(st, S_CONVQ_DROP);
	if ((rc = bind_text(s, 1, page)) || (rc = bind_text(s, 2, user)))
		return fail(st, rc, "queue");
	return run(st, s, "queue");
}

/* Applies s (bound: a one-row update of a job still leased to owner) and brings the
 * conversation's queue row in step, in one transaction. NOTFOUND when owner lost the job. */
static msgr_result
job_change(struct sq *st, sqlite3_stmt *s, int64_t job_id, const char *what)
{
	msgr_result r;

	if ((r = tx_begin(st)) != MSGR_OK)
		return r;
	if ((r = run(st, s, what)) != MSGR_OK)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		r = MSGR_ERR_NOTFOUND;
		goto out;
	}
	if ((r = conv_refresh(st, job_id)) != MSGR_OK)
		goto out;
out:
	return tx_end(st, r);
}

/* A one-row update (bound): MSGR_ERR_NOTFOUND when no row matched. */
static msgr_result
job_update(struct sq *st, sqlite3_stmt *s, const char *what)
{
	msgr_result r;

	if ((r = run(st, s, what)) != MSGR_OK)
		return r;
	return sqlite3_changes(st->db) > 0 ? MSGR_OK : MSGR_ERR_NOTFOUND;
}

static msgr_result
sq_finish(void *impl, int64_t job_id, const char *owner, enum msgr_job_state state,
    const char *note, long long now)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_FINISH);
	if ((rc = bind_int(s, 1, job_id)) || (rc = bind_text(s, 2, owner)) ||
	    (rc = bind_int(s, 3, (long long)state)) || (rc = bind_text(s, 4, note)) ||
	    (rc = bind_int(s, 5, now)))
		return fail(st, rc, "finish");
	return job_change(st, s, job_id, "finish");
}

static msgr_result
sq_retry(void *impl, int64_t job_id, const char *owner, long long next_at, const char *error)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_RETRY);
	if ((rc = bind_int(s, 1, job_id)) || (rc = bind_text(s, 2, owner)) ||
	    (rc = bind_int(s, 3, next_at)) || (rc = bind_text(s, 4, error)))
		return fail(st, rc, "retry");
	return job_change(st, s, job_id, "retry");
}

static msgr_result
sq_renew(void *impl, int64_t job_id, const char *owner, long long until)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	msgr_result r;

	OP_START(st);
	s = use(st, S_RENEW);
	if ((rc = bind_int(s, 1, job_id)) || (rc = bind_text(s, 2, owner)) ||
	    (rc = bind_int(s, 3, until)) || (rc = bind_int(s, 4, st->holder.off)))
		return fail(st, rc, "renew");
	if ((r = tx_begin(st)) != MSGR_OK)
		return r;
	if ((r = job_update(st, s, "renew")) != MSGR_OK)
		goto out;
	s = use(st, S_RENEW_CONVQ);
	if ((rc = bind_int(s, 1, job_id)) || (rc = bind_int(s, 2, until)) ||
	    (rc = bind_int(s, 3, st->holder.off))) {
		r = fail(st, rc, "renew");
		goto out;
	}
	r = run(st, s, "renew");
out:
	return tx_end(st, r);
}

/* ---- outbox ---- */

/* MSGR_OK when statement id, bound to the one id, returns a row; MSGR_ERR_NOTFOUND when none. */
static msgr_result
exists(struct sq *st, enum sid id, int64_t key, const char *what)
{
	sqlite3_stmt *s = use(st, id);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, key)) != SQLITE_OK)
		return fail(st, rc, what);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = MSGR_OK;
	else if (rc == SQLITE_DONE)
		r = MSGR_ERR_NOTFOUND;
	else
		r = fail(st, rc, what);
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_outbox_put(void *impl, int64_t job_id, const char *const *requests, size_t n,
    int64_t *ids)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r;
	size_t i;
	int rc;

	OP_START(st);
	if ((r = tx_begin(st)) != MSGR_OK)
		return r;
	if ((r = exists(st, S_EV_EXISTS, job_id, "outbox")) != MSGR_OK)
		goto out;
	r = exists(st, S_OB_EXISTS, job_id, "outbox");
	if (r == MSGR_OK) {
		r = MSGR_ERR_DUPLICATE;
		goto out;
	}
	if (r != MSGR_ERR_NOTFOUND)
		goto out;
	for (i = 0; i < n; i++) {
		s = use(st, S_OB_INSERT);
		if ((rc = bind_int(s, 1, job_id)) || (rc = bind_int(s, 2, (long long)i)) ||
		    (rc = bind_text(s, 3, requests[i]))) {
			r = fail(st, rc, "outbox");
			goto out;
		}
		if ((r = run(st, s, "outbox")) != MSGR_OK)
			goto out;
		if (ids != NULL)
			ids[i] = sqlite3_last_insert_rowid(st->db);
	}
out:
	return tx_end(st, r);
}

static msgr_result
fill_outbox(sqlite3_stmt *s, void *row)
{
	struct msgr_outbox_item *it = row;

	it->id = sqlite3_column_int64(s, 0);
	it->seq = sqlite3_column_int(s, 1);
	it->done = sqlite3_column_int(s, 3);
	return col_dup(s, 2, &it->request, NULL);
}

static void
drop_outbox(void *rows, size_t n)
{
	msgr_store_outbox_free(rows, n);
}

static msgr_result
sq_outbox_get(void *impl, int64_t job_id, struct msgr_outbox_item **items, size_t *n)
{
	static const struct row_kind k = { sizeof(**items), fill_outbox, drop_outbox };
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	OP_START(st);
	s = use(st, S_OB_GET);
	if ((rc = bind_int(s, 1, job_id)) || (rc = bind_int(s, 2, MSGR_STORE_OUTBOX_MAX)))
		return fail(st, rc, "outbox");
	if ((r = collect(st, s, &k, "outbox", (void **)items, n)) != MSGR_OK)
		return r;
	return *n == 0 ? MSGR_ERR_NOTFOUND : MSGR_OK;
}

static msgr_result
sq_outbox_done(void *impl, int64_t item_id, const char *message_id, long long now)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_OB_DONE);
	if ((rc = bind_int(s, 1, item_id)) || (rc = bind_text(s, 2, message_id)) ||
	    (rc = bind_int(s, 3, now)))
		return fail(st, rc, "outbox done");
	return job_update(st, s, "outbox done");
}

/* ---- conversation state ---- */

/* The conv table keeps one row per value of a conversation (schema version 1), named and
 * encoded as lib/store.h's MSGR_STORE_CONV_* say. */

/* Text column col, "" when NULL. */
static const char *
col_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

static msgr_result
sq_conversation(void *impl, const char *page_id, const char *user_id,
    struct msgr_conversation *out)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_CONV_GET);
	if ((rc = bind_text(s, 1, page_id)) || (rc = bind_text(s, 2, user_id)))
		return fail(st, rc, "conversation");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = col_text(s, 0), *v = col_text(s, 1);

		if (strcmp(name, MSGR_STORE_CONV_OWNER) == 0) {
			msgr_store_owner_read(v, out);
			out->owner_at = sqlite3_column_int64(s, 2);
		} else if (strcmp(name, MSGR_STORE_CONV_USER_TS) == 0) {
			out->last_user_ts = msgr_store_time_read(v);
		} else if (strcmp(name, MSGR_STORE_CONV_HUMAN_TS) == 0) {
			out->human_ts = msgr_store_time_read(v);
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? MSGR_OK : fail(st, rc, "conversation");
}

/* Writes value `name` of a conversation with statement id (S_CONV_SET, S_CONV_OURS,
 * S_CONV_RAISE). */
static msgr_result
conv_put(struct sq *st, enum sid id, const char *page_id, const char *user_id,
    const char *name, const char *value, long long now)
{
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, id);
	if ((rc = bind_text(s, 1, page_id)) || (rc = bind_text(s, 2, user_id)) ||
	    (rc = bind_text(s, 3, name)) || (rc = bind_text(s, 4, value)) ||
	    (rc = bind_int(s, 5, now)))
		return fail(st, rc, "conversation");
	return run(st, s, "conversation");
}

static msgr_result
sq_set_owner(void *impl, const char *page_id, const char *user_id, enum msgr_owner owner,
    const char *app_id, long long now)
{
	return conv_put(impl, owner == MSGR_OWNER_US ? S_CONV_OURS : S_CONV_SET, page_id, user_id,
	    MSGR_STORE_CONV_OWNER, msgr_store_owner_text(owner, app_id), now);
}

static msgr_result
sq_user_wrote(void *impl, const char *page_id, const char *user_id, long long ts,
    long long now)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", ts);
	return conv_put(impl, S_CONV_RAISE, page_id, user_id, MSGR_STORE_CONV_USER_TS, v, now);
}

static msgr_result
sq_human_answered(void *impl, const char *page_id, const char *user_id, long long ts,
    long long now)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", ts);
	return conv_put(impl, S_CONV_SET, page_id, user_id, MSGR_STORE_CONV_HUMAN_TS, v, now);
}

static msgr_result
fill_elsewhere(sqlite3_stmt *s, void *row)
{
	struct msgr_conversation_row *r = row;

	col_show(s, 0, r->page_id, sizeof(r->page_id));
	col_show(s, 1, r->user_id, sizeof(r->user_id));
	msgr_store_owner_read(col_text(s, 2), &r->c);
	r->c.owner_at = sqlite3_column_int64(s, 3);
	r->c.human_ts = msgr_store_time_read(col_text(s, 4));
	r->c.last_user_ts = msgr_store_time_read(col_text(s, 5));
	return MSGR_OK;
}

/* ---- caches ---- */

/* Steps s (bound) for one text value: *value malloc'd, MSGR_ERR_NOTFOUND when no row. */
static msgr_result
get_value(struct sq *st, sqlite3_stmt *s, char **value, const char *what)
{
	msgr_result r;
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		r = col_dup(s, 0, value, NULL);
	else if (rc == SQLITE_DONE)
		r = MSGR_ERR_NOTFOUND;
	else
		r = fail(st, rc, what);
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_cache_get(void *impl, const char *ns, const char *key, long long now, char **value)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_CACHE_GET);
	if ((rc = bind_text(s, 1, ns)) || (rc = bind_text(s, 2, key)) || (rc = bind_int(s, 3, now)))
		return fail(st, rc, "cache");
	return get_value(st, s, value, "cache");
}

static msgr_result
sq_cache_put(void *impl, const char *ns, const char *key, const char *value,
    long long expires_at)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_CACHE_PUT);
	if ((rc = bind_text(s, 1, ns)) || (rc = bind_text(s, 2, key)) ||
	    (rc = bind_text(s, 3, value)) || (rc = bind_int(s, 4, expires_at)))
		return fail(st, rc, "cache");
	return run(st, s, "cache");
}

/* Runs statement id bound to two texts (a key of two parts) for its effect. */
static msgr_result
run2(struct sq *st, enum sid id, const char *a, const char *b, const char *what)
{
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, id);
	if ((rc = bind_text(s, 1, a)) || (rc = bind_text(s, 2, b)))
		return fail(st, rc, what);
	return run(st, s, what);
}

static msgr_result
sq_cache_del(void *impl, const char *ns, const char *key)
{
	return run2(impl, S_CACHE_DEL, ns, key, "cache");
}

/* ---- pauses ---- */

/* The scope's name in the pause table (its CHECK). */
static const char *
scope_text(enum msgr_pause_scope scope)
{
	return scope == MSGR_PAUSE_PAGE ? "page" : "connector";
}

static msgr_result
sq_pause_set(void *impl, const struct msgr_pause *p)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_PAUSE_SET);
	if ((rc = bind_text(s, 1, scope_text(p->scope))) || (rc = bind_text(s, 2, p->id)) ||
	    (rc = bind_text(s, 3, p->reason)) || (rc = bind_int(s, 4, p->since)) ||
	    (rc = bind_text(s, 5, p->token_fp)) || (rc = bind_int(s, 6, p->probe_at)))
		return fail(st, rc, "pause");
	return run(st, s, "pause");
}

static msgr_result
sq_pause_clear(void *impl, enum msgr_pause_scope scope, const char *id)
{
	return run2(impl, S_PAUSE_CLEAR, scope_text(scope), id, "pause");
}

static msgr_result
fill_pause(sqlite3_stmt *s, void *row)
{
	struct msgr_pause *p = row;

	p->scope = strcmp(col_text(s, 0), "page") == 0 ? MSGR_PAUSE_PAGE : MSGR_PAUSE_CONNECTOR;
	col_show(s, 1, p->id, sizeof(p->id));
	/* The reason is for people: a cut one still says enough. */
	col_show(s, 2, p->reason, sizeof(p->reason));
	p->since = sqlite3_column_int64(s, 3);
	col_show(s, 4, p->token_fp, sizeof(p->token_fp));
	p->probe_at = sqlite3_column_int64(s, 5);
	return MSGR_OK;
}

static msgr_result
sq_pause_get(void *impl, enum msgr_pause_scope scope, const char *id, struct msgr_pause *out)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	OP_START(st);
	s = use(st, S_PAUSE_GET);
	if ((rc = bind_text(s, 1, scope_text(scope))) || (rc = bind_text(s, 2, id)))
		return fail(st, rc, "pause");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = out != NULL ? fill_pause(s, out) : MSGR_OK;
	else if (rc == SQLITE_DONE)
		r = MSGR_ERR_NOTFOUND;
	else
		r = fail(st, rc, "pause");
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_pause_any(void *impl, const char *connector_id, const char *page_id)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	OP_START(st);
	s = use(st, S_PAUSE_ANY);
	if ((rc = bind_text(s, 1, connector_id)) || (rc = bind_text(s, 2, page_id)))
		return fail(st, rc, "pause");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = sqlite3_column_int(s, 0) ? MSGR_OK : MSGR_ERR_NOTFOUND;
	else
		r = fail(st, rc, "pause");
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_pause_probe(void *impl, enum msgr_pause_scope scope, const char *id, long long probe_at)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_PAUSE_PROBE);
	if ((rc = bind_text(s, 1, scope_text(scope))) || (rc = bind_text(s, 2, id)) ||
	    (rc = bind_int(s, 3, probe_at)))
		return fail(st, rc, "pause");
	return run(st, s, "pause");
}

/* Runs a list statement whose one parameter is the row limit. */
static msgr_result
list_rows(struct sq *st, enum sid id, size_t max, const struct row_kind *k, const char *what,
    void **rows, size_t *n)
{
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, id);
	if ((rc = bind_int(s, 1, limit_of(max))) != SQLITE_OK)
		return fail(st, rc, what);
	return collect(st, s, k, what, rows, n);
}

static msgr_result
sq_conversations_elsewhere(void *impl, size_t max, struct msgr_conversation_row **rows,
    size_t *n)
{
	static const struct row_kind k = { sizeof(**rows), fill_elsewhere, NULL };

	return list_rows(impl, S_CONV_ELSEWHERE, max, &k, "conversations", (void **)rows, n);
}

static msgr_result
sq_pause_list(void *impl, size_t max, struct msgr_pause **rows, size_t *n)
{
	static const struct row_kind k = { sizeof(**rows), fill_pause, NULL };

	return list_rows(impl, S_PAUSE_LIST, max, &k, "pause list", (void **)rows, n);
}

/* ---- quarantine ---- */

static msgr_result
fill_quarantine(sqlite3_stmt *s, void *row)
{
	struct msgr_quarantine_row *q = row;

	q->id = sqlite3_column_int64(s, 0);
	col_show(s, 1, q->connector_id, sizeof(q->connector_id));
	col_show(s, 2, q->reason, sizeof(q->reason));
	q->received_at = sqlite3_column_int64(s, 3);
	return col_dup(s, 4, &q->raw, &q->raw_len);
}

static void
drop_quarantine(void *rows, size_t n)
{
	msgr_store_quarantine_free(rows, n);
}

static msgr_result
sq_quarantine_list(void *impl, size_t max, struct msgr_quarantine_row **rows, size_t *n)
{
	static const struct row_kind k = { sizeof(**rows), fill_quarantine, drop_quarantine };

	return list_rows(impl, S_Q_LIST, max, &k, "quarantine list", (void **)rows, n);
}

/* A statement whose one parameter is a row's id, run for its effect on that row: the verbs
 * that delete or reset one row by id. */
static msgr_result
update_by_id(void *impl, int stmt, int64_t id, const char *what)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, stmt);
	if ((rc = bind_int(s, 1, id)) != SQLITE_OK)
		return fail(st, rc, what);
	return job_update(st, s, what);
}

static msgr_result
sq_quarantine_delete(void *impl, int64_t id)
{
	return update_by_id(impl, S_Q_DELETE, id, "quarantine delete");
}

/* ---- stats, failures, purge ---- */

/* The per-state counts of events into z (part of the stats snapshot). */
static msgr_result
stats_events(struct sq *st, long long now, struct msgr_store_stats *z)
{
	sqlite3_stmt *s = use(st, S_STATS_EVENTS);
	int rc;

	if ((rc = bind_int(s, 1, now)) != SQLITE_OK)
		return fail(st, rc, "stats");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		long long count = sqlite3_column_int64(s, 1);

		switch (sqlite3_column_int(s, 0)) {
		case MSGR_JOB_PENDING:
			z->pending = count;
			z->retrying = sqlite3_column_int64(s, 2);
			z->waiting = sqlite3_column_int64(s, 3);
			z->leased = sqlite3_column_int64(s, 4);
			break;
		case MSGR_JOB_DONE: z->done = count; break;
		case MSGR_JOB_FAILED: z->failed = count; break;
		case MSGR_JOB_SKIPPED: z->skipped = count; break;
		default: break;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? MSGR_OK : fail(st, rc, "stats");
}

static msgr_result
sq_stats(void *impl, long long now, struct msgr_store_stats *out)
{
	struct sq *st = impl;
	struct msgr_store_stats z;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	memset(&z, 0, sizeof(z));
	OP_START(st);
	/* One read transaction: the counts come from one snapshot. */
	if ((r = run(st, use(st, st->hold_open ? S_SAVE : S_BEGIN_READ), "stats")) != MSGR_OK)
		return r;
	if ((r = stats_events(st, now, &z)) != MSGR_OK)
		goto out;
	s = use(st, S_STATS_OTHER);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		r = fail(st, rc, "stats");
		sqlite3_reset(s);
		goto out;
	}
	z.quarantined = sqlite3_column_int64(s, 0);
	z.paused = sqlite3_column_int64(s, 1);
	/* Acknowledged and not moved yet (docs/store.md "Inbox"): queued all the same. */
	z.pending += sqlite3_column_int64(s, 2);
	sqlite3_reset(s);
out:
	if ((r = tx_end(st, r)) != MSGR_OK)
		return r;
	*out = z;
	return MSGR_OK;
}

static msgr_result
fill_failure(sqlite3_stmt *s, void *row)
{
	struct msgr_store_failure *f = row;

	f->finished_at = sqlite3_column_int64(s, 0);
	col_show(s, 1, f->connector_id, sizeof(f->connector_id));
	f->kind = sqlite3_column_int(s, 2);
	if (sqlite3_column_type(s, 3) == SQLITE_NULL)
		return MSGR_OK;
	return col_dup(s, 3, &f->note, NULL);
}

static void
drop_failures(void *rows, size_t n)
{
	struct msgr_store_failure *f = rows;
	size_t i;

	for (i = 0; i < n; i++)
		free(f[i].note);
	free(f);
}

static msgr_result
sq_failures(void *impl, size_t max, struct msgr_store_failure **rows, size_t *n)
{
	static const struct row_kind k = { sizeof(**rows), fill_failure, drop_failures };

	return list_rows(impl, S_FAILURES, max, &k, "failures", (void **)rows, n);
}

static msgr_result
sq_flush(void *impl)
{
	struct sq *st = impl;

	st->wait_deadline_ns = 0;
	return hold_commit(st);
}

static msgr_result
sq_hold(void *impl, int on)
{
	struct sq *st = impl;
	msgr_result r = sq_flush(impl);

	st->hold = on;
	return r;
}

/* The WAL, opened apart (store.h log_open): an fdatasync of it makes durable every commit
 * written to it before, as synchronous = FULL would have at each commit (WAL frames carry
 * checksums: a commit is read back whole or not at all). -1 when not in WAL mode. */
static int
sq_log_open(void *impl)
{
	struct sq *st = impl;
	const char *db = sqlite3_db_filename(st->db, "main");
	sqlite3_stmt *s = NULL;
	int wal = 0;

	if (st->readonly || db == NULL || db[0] == '\0')
		return -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		wal = sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!wal)
		return -1;
	return open(sqlite3_filename_wal(db), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* The commits after it are made as asked; what is held is committed first, as it was asked
 * before (a durable commit then covers it). */
static msgr_result
sq_set_sync(void *impl, int full)
{
	struct sq *st = impl;
	msgr_result r;

	if ((r = sq_flush(impl)) != MSGR_OK)
		return r;
	return exec_sql(st, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
	    "synchronous");
}

static msgr_result
sq_checkpoint(void *impl, int *frames)
{
	struct sq *st = impl;
	int rc, log = -1, done = -1;
	msgr_result r;

	if ((r = sq_flush(impl)) != MSGR_OK)
		return r;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return fail(st, rc, "checkpoint");
	*frames = log;
	return MSGR_OK;
}

/* Runs purge statement id (?1 before, ?2 max); *n gets the rows it deleted. */
static msgr_result
purge_rows(struct sq *st, enum sid id, long long before, size_t max, size_t *n,
    const char *what)
{
	sqlite3_stmt *s = use(st, id);
	msgr_result r;
	int rc;

	if ((rc = bind_int(s, 1, before)) != SQLITE_OK ||
	    (rc = bind_int(s, 2, (long long)max)) != SQLITE_OK)
		return fail(st, rc, what);
	if ((r = run(st, s, what)) != MSGR_OK)
		return r;
	*n = (size_t)sqlite3_changes(st->db);
	return MSGR_OK;
}

static msgr_result
sq_purge(void *impl, long long before, size_t max, size_t *n_events, size_t *n_cache)
{
	struct sq *st = impl;
	msgr_result r;

	OP_START(st);
	if ((r = tx_begin(st)) != MSGR_OK)
		return r;
	if ((r = purge_rows(st, S_PURGE_EVENTS, before, max, n_events, "purge")) == MSGR_OK)
		r = purge_rows(st, S_PURGE_CACHE, before, max, n_cache, "purge");
	return tx_end(st, r);
}

/* ---- calls in flight and echoes (lib/echo.h) ---- */

static msgr_result
read_flight(struct sq *st, int64_t item_id, struct msgr_outbox_flight *out, const char *what)
{
	sqlite3_stmt *s = use(st, S_OB_FLIGHT);
	msgr_result r = MSGR_OK;
	int rc;

	if ((rc = bind_int(s, 1, item_id)) != SQLITE_OK)
		return fail(st, rc, what);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->done = sqlite3_column_int(s, 0);
		out->inflight = sqlite3_column_int(s, 1);
		out->tries = sqlite3_column_int(s, 2);
		out->tried_at = sqlite3_column_int64(s, 3);
	} else if (rc == SQLITE_DONE) {
		r = MSGR_ERR_NOTFOUND;
	} else {
		r = fail(st, rc, what);
	}
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_outbox_attempt(void *impl, int64_t item_id, long long now, int *tries)
{
	struct sq *st = impl;
	struct msgr_outbox_flight f;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	OP_START(st);
	/* The mark and the number it gives in one transaction: two processes never share one. */
	if ((r = tx_begin(st)) != MSGR_OK)
		return r;
	s = use(st, S_OB_ATTEMPT);
	if ((rc = bind_int(s, 1, item_id)) || (rc = bind_int(s, 2, now))) {
		r = fail(st, rc, "outbox attempt");
		goto out;
	}
	if ((r = job_update(st, s, "outbox attempt")) != MSGR_OK)
		goto out;
	memset(&f, 0, sizeof(f));
	if ((r = read_flight(st, item_id, &f, "outbox attempt")) == MSGR_OK)
		*tries = f.tries;
out:
	return tx_end(st, r);
}

static msgr_result
sq_outbox_settle(void *impl, int64_t item_id)
{
	return update_by_id(impl, S_OB_SETTLE, item_id, "outbox settle");
}

static msgr_result
sq_outbox_flight(void *impl, int64_t item_id, struct msgr_outbox_flight *out)
{
	struct sq *st = impl;

	OP_START(st);
	return read_flight(st, item_id, out, "outbox flight");
}

static msgr_result
sq_echo_put(void *impl, const struct msgr_store_echo *e, long long now)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_ECHO_PUT);
	if ((rc = bind_text(s, 1, e->mid)) || (rc = bind_text(s, 2, e->page_id)) ||
	    (rc = bind_text(s, 3, e->user_id)) || (rc = bind_int(s, 4, e->outbox_id)) ||
	    (rc = bind_int(s, 5, e->try_no)) || (rc = bind_int(s, 6, now)))
		return fail(st, rc, "echo");
	return run(st, s, "echo");
}

static msgr_result
sq_echo_find(void *impl, int64_t outbox_id, const char *page_id, const char *user_id,
    struct msgr_store_echo *out)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r = MSGR_OK;
	int rc;

	OP_START(st);
	s = use(st, S_ECHO_FIND);
	if ((rc = bind_int(s, 1, outbox_id)) || (rc = bind_text(s, 2, page_id)) ||
	    (rc = bind_text(s, 3, user_id)))
		return fail(st, rc, "echo find");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((r = col_copy(s, 0, out->mid, sizeof(out->mid))) == MSGR_OK &&
		    (r = col_copy(s, 1, out->page_id, sizeof(out->page_id))) == MSGR_OK)
			r = col_copy(s, 2, out->user_id, sizeof(out->user_id));
		out->outbox_id = sqlite3_column_int64(s, 3);
		out->try_no = sqlite3_column_int(s, 4);
		out->seen_at = sqlite3_column_int64(s, 5);
	} else if (rc == SQLITE_DONE) {
		r = MSGR_ERR_NOTFOUND;
	} else {
		r = fail(st, rc, "echo find");
	}
	sqlite3_reset(s);
	return r;
}

static msgr_result
sq_echo_page_known(void *impl, const char *page_id, long long since)
{
	struct sq *st = impl;
	sqlite3_stmt *s;
	msgr_result r;
	int rc;

	OP_START(st);
	s = use(st, S_ECHO_PAGE);
	if ((rc = bind_text(s, 1, page_id)) || (rc = bind_int(s, 2, since)))
		return fail(st, rc, "echo page");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = MSGR_OK;
	else if (rc == SQLITE_DONE)
		r = MSGR_ERR_NOTFOUND;
	else
		r = fail(st, rc, "echo page");
	sqlite3_reset(s);
	return r;
}

static msgr_result
fill_raw(sqlite3_stmt *s, void *row)
{
	struct msgr_store_raw *r = row;

	r->event_id = sqlite3_column_int64(s, 0);
	return col_dup(s, 1, &r->raw, NULL);
}

static void
drop_raw(void *rows, size_t n)
{
	msgr_store_raw_free(rows, n);
}

static msgr_result
sq_echo_pending(void *impl, const char *page_id, const char *user_id, int kind,
    int64_t after_id, size_t max, struct msgr_store_raw **rows, size_t *n)
{
	static const struct row_kind k = { sizeof(**rows), fill_raw, drop_raw };
	struct sq *st = impl;
	sqlite3_stmt *s;
	int rc;

	OP_START(st);
	s = use(st, S_ECHO_PENDING);
	if ((rc = bind_text(s, 1, page_id)) || (rc = bind_text(s, 2, user_id)) ||
	    (rc = bind_int(s, 3, kind)) || (rc = bind_int(s, 4, after_id)) ||
	    (rc = bind_int(s, 5, (long long)max)))
		return fail(st, rc, "echo pending");
	return collect(st, s, &k, "echo pending", (void **)rows, n);
}

static msgr_result
sq_echo_purge(void *impl, long long before, size_t max, size_t *n)
{
	struct sq *st = impl;

	OP_START(st);
	return purge_rows(st, S_ECHO_PURGE, before, max, n, "echo purge");
}

const struct msgr_store_ops msgr_store_sqlite_ops = {
	.name = "sqlite",
	.schema_version = SCHEMA_VERSION,
	.open = sq_open,
	.check = sq_check,
	.close = sq_close,
	.ingest = sq_ingest,
	.errmsg = sq_errmsg,
	.enqueue = sq_enqueue,
	.claim = sq_claim,
	.finish = sq_finish,
	.retry = sq_retry,
	.renew = sq_renew,
	.outbox_put = sq_outbox_put,
	.outbox_get = sq_outbox_get,
	.outbox_done = sq_outbox_done,
	.conversation = sq_conversation,
	.set_owner = sq_set_owner,
	.user_wrote = sq_user_wrote,
	.human_answered = sq_human_answered,
	.conversations_elsewhere = sq_conversations_elsewhere,
	.cache_get = sq_cache_get,
	.cache_put = sq_cache_put,
	.cache_del = sq_cache_del,
	.pause_set = sq_pause_set,
	.pause_get = sq_pause_get,
	.pause_probe = sq_pause_probe,
	.pause_any = sq_pause_any,
	.pause_clear = sq_pause_clear,
	.pause_list = sq_pause_list,
	.quarantine_list = sq_quarantine_list,
	.quarantine_delete = sq_quarantine_delete,
	.stats = sq_stats,
	.failures = sq_failures,
	.purge = sq_purge,
	.checkpoint = sq_checkpoint,
	.set_sync = sq_set_sync,
	.hold = sq_hold,
	.log_open = sq_log_open,
	.flush = sq_flush,
	.outbox_attempt = sq_outbox_attempt,
	.outbox_settle = sq_outbox_settle,
	.outbox_flight = sq_outbox_flight,
	.echo_put = sq_echo_put,
	.echo_find = sq_echo_find,
	.echo_page_known = sq_echo_page_known,
	.echo_pending = sq_echo_pending,
	.echo_purge = sq_echo_purge,
};
