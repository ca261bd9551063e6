/* store_pg.c — the PostgreSQL backend of the state store (struct msgr_store_ops in
 * lib/store.h; docs/store.md "The PostgreSQL backend" gives the schema and why), for several
 * web hosts sharing one queue, one dedup table and one conversation state.
 *
 * One connection (libpq) per handle. Statements are prepared once per connection, on first
 * use. Each call waits for the server at most busy_timeout_ms plus a margin (the server's
 * lock_timeout is busy_timeout_ms, so a lock wait ends as MSGR_ERR_BUSY first); a connection
 * that broke or stalled is dropped, and the next call connects again by itself. So with the
 * server down every call fails fast with MSGR_ERR_STORE (the responder answers 503) and
 * works again as soon as the server is back.
 *
 * Order across hosts: every change to a conversation's queue row (convq) happens under that
 * row's lock, taken first, so an event enqueued by one host while another finishes the
 * conversation's head is never left without its queue row (the SQLite backend gets the same
 * from its one write lock). Claims pick a free row with FOR UPDATE SKIP LOCKED.
 *
 * A claim is tied to its holder's session: each connection holds a session-level advisory
 * lock (LOCK_NS, key) for its life and a claim records the key; the server drops the lock
 * the moment the session ends (the process died, the handle closed, the network connection
 * broke), and a claimer treats a conversation whose key nobody holds as free (pg_locks),
 * without waiting for the lease. Arguments arrive checked and times explicit (lib/store.c). */
#ifdef MSGR_WITH_PQ

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "log.h"
#include "store.h"

#define MIN_SERVER_VERSION 100000   /* PostgreSQL 10 */
#define DEFAULT_BUSY_MS    2000
#define WAIT_MARGIN_MS     1000     /* beyond busy_timeout_ms: the network and the server */
#define PURGE_WAIT_MS      60000    /* a purge batch: up to MSGR_PURGE_MAX events */
#define CONNECT_TIMEOUT_S  "3"      /* libpq's default is to wait for ever */
#define IDLE_TX_TIMEOUT_MS 10000    /* a client stopped inside a transaction frees its locks */
#define CLAIM_TRIES        8
#define KEY_TRIES          8

/* The advisory lock space: (LOCK_NS, 0) guards migrations, (LOCK_NS, key > 0) is a session's
 * holder lock. "msgr" in ASCII. */
#define LOCK_NS      1836279666
#define LOCK_NS_TEXT "1836279666"

/* Migrations: migrations[v] takes the schema from version v to v + 1, all of them in one
 * transaction under the migration lock. Append only; a shipped step is never edited. The
 * tables and columns are the SQLite backend's (docs/store.md), so both read alike. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE events ("
	"  id          bigserial PRIMARY KEY,"
	"  key         text    NOT NULL UNIQUE,"
	"  connector   text    NOT NULL,"
	"  page_id     text    NOT NULL,"
	"  user_id     text    NOT NULL,"
	"  kind        integer NOT NULL,"
	"  standby     integer NOT NULL DEFAULT 0,"
	"  ts          bigint  NOT NULL,"
	"  ord         bigint  NOT NULL,"
	"  received_at bigint  NOT NULL,"
	"  raw         text    NOT NULL,"
	"  state       integer NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2, 3)),"
	"  attempts    integer NOT NULL DEFAULT 0,"
	"  claims      integer NOT NULL DEFAULT 0,"
	"  next_at     bigint  NOT NULL,"
	"  lease_owner text,"
	"  lease_until bigint  NOT NULL DEFAULT 0,"
	"  lease_lock  bigint  NOT NULL DEFAULT 0,"
	"  error       text,"
	"  finished_at bigint"
	");"
	"CREATE INDEX events_conv ON events (page_id, user_id, ord, id) WHERE state = 0;"
	"CREATE INDEX events_lease ON events (page_id, user_id, lease_until) WHERE state = 0;"
	"CREATE INDEX events_finished ON events (finished_at) WHERE finished_at IS NOT NULL;"
	"CREATE INDEX events_failed ON events (finished_at) WHERE state = 2;"
	"CREATE TABLE convq ("
	"  page_id     text   NOT NULL,"
	"  user_id     text   NOT NULL,"
	"  head_id     bigint NOT NULL,"
	"  head_ord    bigint NOT NULL,"
	"  due_at      bigint NOT NULL,"
	"  lease_until bigint NOT NULL DEFAULT 0,"
	"  lease_lock  bigint NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (page_id, user_id)"
	");"
	"CREATE INDEX convq_due ON convq (due_at, head_id);"
	"CREATE TABLE outbox ("
	"  id         bigserial PRIMARY KEY,"
	"  event_id   bigint  NOT NULL REFERENCES events (id) ON DELETE CASCADE,"
	"  seq        integer NOT NULL,"
	"  request    text    NOT NULL,"
	"  done       integer NOT NULL DEFAULT 0,"
	"  message_id text,"
	"  sent_at    bigint,"
	"  UNIQUE (event_id, seq)"
	");"
	"CREATE TABLE conv ("
	"  page_id text NOT NULL, user_id text NOT NULL, name text NOT NULL,"
	"  value text NOT NULL, updated_at bigint NOT NULL,"
	"  PRIMARY KEY (page_id, user_id, name)"
	");"
	"CREATE INDEX conv_name ON conv (name, updated_at);"
	"CREATE TABLE cache ("
	"  ns text NOT NULL, key text NOT NULL, value text NOT NULL, expires_at bigint NOT NULL,"
	"  PRIMARY KEY (ns, key)"
	");"
	"CREATE INDEX cache_expiry ON cache (expires_at);"
	"CREATE TABLE pause ("
	"  scope text NOT NULL CHECK (scope IN ('connector', 'page')), id text NOT NULL,"
	"  reason text NOT NULL, since bigint NOT NULL,"
	"  token_fp text NOT NULL DEFAULT '', probe_at bigint NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (scope, id)"
	");"
	"CREATE TABLE quarantine ("
	"  id          bigserial PRIMARY KEY,"
	"  connector   text   NOT NULL,"
	"  reason      text   NOT NULL,"
	"  raw         bytea  NOT NULL,"
	"  received_at bigint NOT NULL"
	");",
	/* 1 -> 2: the call in flight at a kill (lib/echo.h; SQLite's 5 -> 6). */
	"ALTER TABLE outbox ADD COLUMN tries integer NOT NULL DEFAULT 0;"
	"ALTER TABLE outbox ADD COLUMN inflight integer NOT NULL DEFAULT 0;"
	"ALTER TABLE outbox ADD COLUMN tried_at bigint NOT NULL DEFAULT 0;"
	"CREATE TABLE echo ("
	"  mid       text    PRIMARY KEY,"
	"  page_id   text    NOT NULL,"
	"  user_id   text    NOT NULL,"
	"  outbox_id bigint  NOT NULL,"
	"  try       integer NOT NULL,"
	"  seen_at   bigint  NOT NULL"
	");"
	"CREATE INDEX echo_outbox ON echo (outbox_id) WHERE outbox_id > 0;"
	"CREATE INDEX echo_page ON echo (page_id, seen_at);",
	/* 2 -> 3: echoes by age, for a bounded purge of the oldest (SQLite's 9 -> 10). */
	"CREATE INDEX echo_seen ON echo (seen_at);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The keys of the holder locks held right now in this database: a claim whose key is not
 * among them has lost its holder. */
#define LIVE_LOCKS \
	"(SELECT l.objid::bigint FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory'" \
	" AND l.classid = " LOCK_NS_TEXT "::oid AND l.objsubid = 2 AND l.granted" \
	" AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d" \
	"  WHERE d.datname = current_database()))"
/* A conversation's row is free at $1 when its lease ran out or its holder is gone. */
#define FREE_AT_1 \
	"(lease_until <= $1 OR (lease_lock <> 0 AND lease_lock NOT IN " LIVE_LOCKS "))"
/* Locks the queue row of event $1's conversation (the order rule at the top). */
#define CONV_OF_1_LOCKED \
	"(SELECT c.page_id, c.user_id FROM convq c JOIN events x" \
	" ON x.page_id = c.page_id AND x.user_id = c.user_id WHERE x.id = $1 FOR UPDATE OF c)"

enum pid {
	P_ENQUEUE, P_Q_INSERT, P_CLAIM, P_CLAIM_ANY, P_FINISH, P_RETRY, P_RENEW, P_REFRESH,
	P_OB_PUT, P_OB_GET, P_OB_DONE,
	P_CONV_GET, P_CONV_SET, P_CONV_RAISE, P_CONV_ELSEWHERE,
	P_CACHE_GET, P_CACHE_PUT, P_CACHE_DEL,
	P_PAUSE_SET, P_PAUSE_CLEAR, P_PAUSE_GET, P_PAUSE_ANY, P_PAUSE_PROBE, P_PAUSE_LIST,
	P_Q_LIST, P_Q_DELETE, P_STATS, P_FAILURES, P_PURGE,
	P_OB_ATTEMPT, P_OB_FLIGHT, P_OB_SETTLE,
	P_ECHO_PUT, P_ECHO_FIND, P_ECHO_PAGE, P_ECHO_PENDING, P_ECHO_PURGE,
	P_COUNT
};

static const char *const sql[P_COUNT] = {
	/* One statement for the whole batch (one round trip, atomic on its own). Ids are drawn
	 * in the caller's order, so arrival order stays; rows go in key order, and queue rows
	 * in conversation order, so two hosts storing overlapping batches (a redelivery, group
	 * commits) wait for each other instead of deadlocking. A new event becomes its
	 * conversation's head only when it sorts first; the lease is left alone. */
	[P_ENQUEUE] =
	    "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
	    "  $5::integer[], $6::integer[], $7::bigint[], $8::text[]) WITH ORDINALITY"
	    "  AS t(key, connector, page_id, user_id, kind, standby, ts, raw, n)),"
	    " numbered AS (SELECT input.*, nextval(pg_get_serial_sequence('events', 'id')) AS id"
	    "  FROM input ORDER BY n),"
	    " ins AS (INSERT INTO events (id, key, connector, page_id, user_id, kind, standby, ts,"
	    "  ord, received_at, raw, next_at)"
	    "  SELECT id, key, connector, page_id, user_id, kind, standby, ts,"
	    "   CASE WHEN ts > 0 THEN ts ELSE $9 END, $9, raw, $9 FROM numbered ORDER BY key"
	    "  ON CONFLICT (key) DO NOTHING RETURNING id, page_id, user_id, ord),"
	    " heads AS (SELECT DISTINCT ON (page_id, user_id) page_id, user_id, id, ord FROM ins"
	    "  ORDER BY page_id, user_id, ord, id),"
	    " q AS (INSERT INTO convq AS c (page_id, user_id, head_id, head_ord, due_at)"
	    "  SELECT page_id, user_id, id, ord, $9 FROM heads ORDER BY page_id, user_id"
	    "  ON CONFLICT (page_id, user_id) DO UPDATE SET head_id = excluded.head_id,"
	    "  head_ord = excluded.head_ord, due_at = excluded.due_at"
	    "  WHERE excluded.head_ord < c.head_ord)"
	    " SELECT count(*) FROM ins",
	[P_Q_INSERT] =
	    "INSERT INTO quarantine (connector, reason, raw, received_at) VALUES ($1, $2, $3, $4)",
	/* $1 now, $2 lease end, $3 this session's holder key, $4 owner. Every other lease of
	 * the conversation ran out or lost its holder (it was free), so they are ended: a later
	 * refresh cannot hand the conversation to a dead holder's key while this claim works. */
	[P_CLAIM] =
	    "WITH pick AS (SELECT page_id, user_id FROM convq WHERE due_at <= $1 AND " FREE_AT_1
	    "  ORDER BY due_at, head_id LIMIT 1 FOR UPDATE SKIP LOCKED),"
	    " q AS (UPDATE convq c SET lease_until = $2, lease_lock = $3 FROM pick"
	    "  WHERE c.page_id = pick.page_id AND c.user_id = pick.user_id"
	    "  RETURNING c.page_id, c.user_id, c.head_id),"
	    " stale AS (UPDATE events s SET lease_until = 0 FROM q"
	    "  WHERE s.page_id = q.page_id AND s.user_id = q.user_id AND s.state = 0"
	    "  AND s.lease_until > 0 AND s.id <> q.head_id)"
	    " UPDATE events e SET lease_owner = $4, lease_until = $2, lease_lock = $3,"
	    " claims = e.claims + 1 FROM q WHERE e.id = q.head_id AND e.state = 0"
	    " RETURNING e.id, e.connector, e.page_id, e.user_id, e.kind, e.standby, e.ts,"
	    " e.received_at, e.attempts, e.raw, e.claims",
	/* Is anything due and free, locked or not? (an empty claim may have skipped a row a
	 * short transaction of another host held) */
	[P_CLAIM_ANY] =
	    "SELECT EXISTS (SELECT 1 FROM convq WHERE due_at <= $1 AND " FREE_AT_1 ")",
	[P_FINISH] =
	    "UPDATE events e SET state = $3, error = $4, finished_at = $5, lease_owner = NULL,"
	    " lease_until = 0, lease_lock = 0 FROM " CONV_OF_1_LOCKED " r"
	    " WHERE e.id = $1 AND e.lease_owner = $2 AND e.state = 0"
	    " RETURNING e.page_id, e.user_id",
	[P_RETRY] =
	    "UPDATE events e SET attempts = e.attempts + 1, next_at = $3, error = $4,"
	    " lease_owner = NULL, lease_until = 0, lease_lock = 0 FROM " CONV_OF_1_LOCKED " r"
	    " WHERE e.id = $1 AND e.lease_owner = $2 AND e.state = 0"
	    " RETURNING e.page_id, e.user_id",
	/* $3 lease end, $4 this session's key: the claim now follows the session working it. */
	[P_RENEW] =
	    "WITH e AS (UPDATE events e SET lease_until = $3, lease_lock = $4"
	    "  FROM " CONV_OF_1_LOCKED " r"
	    "  WHERE e.id = $1 AND e.lease_owner = $2 AND e.state = 0"
	    "  RETURNING e.page_id, e.user_id),"
	    " q AS (UPDATE convq c SET lease_until = $3, lease_lock = $4 FROM e"
	    "  WHERE c.page_id = e.page_id AND c.user_id = e.user_id)"
	    " SELECT count(*) FROM e",
	/* The conversation's queue row from its pending events (its row is locked by now, and
	 * this statement's snapshot sees every event committed before that). */
	[P_REFRESH] =
	    "WITH h AS (SELECT id, ord, next_at FROM events"
	    "  WHERE state = 0 AND page_id = $1 AND user_id = $2 ORDER BY ord, id LIMIT 1),"
	    " l AS (SELECT lease_until, lease_lock FROM events"
	    "  WHERE state = 0 AND page_id = $1 AND user_id = $2 ORDER BY lease_until DESC LIMIT 1),"
	    " up AS (INSERT INTO convq (page_id, user_id, head_id, head_ord, due_at, lease_until,"
	    "  lease_lock)"
	    "  SELECT $1, $2, h.id, h.ord, h.next_at, coalesce(l.lease_until, 0),"
	    "  coalesce(l.lease_lock, 0) FROM h LEFT JOIN l ON true"
	    "  ON CONFLICT (page_id, user_id) DO UPDATE SET head_id = excluded.head_id,"
	    "  head_ord = excluded.head_ord, due_at = excluded.due_at,"
	    "  lease_until = excluded.lease_until, lease_lock = excluded.lease_lock)"
	    " DELETE FROM convq WHERE page_id = $1 AND user_id = $2 AND NOT EXISTS (SELECT 1 FROM h)",
	/* The plan once: (events found, plans found, the new items' ids in seq order). */
	[P_OB_PUT] =
	    "WITH ev AS (SELECT id FROM events WHERE id = $1),"
	    " ob AS (SELECT 1 FROM outbox WHERE event_id = $1 LIMIT 1),"
	    " ins AS (INSERT INTO outbox (event_id, seq, request)"
	    "  SELECT $1, t.n - 1, t.r FROM unnest($2::text[]) WITH ORDINALITY AS t(r, n)"
	    "  WHERE EXISTS (SELECT 1 FROM ev) AND NOT EXISTS (SELECT 1 FROM ob) ORDER BY t.n"
	    "  RETURNING id, seq)"
	    " SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM ob),"
	    " (SELECT string_agg(id::text, ',' ORDER BY seq) FROM ins)",
	[P_OB_GET] =
	    "SELECT id, seq, request, done FROM outbox WHERE event_id = $1 ORDER BY seq LIMIT $2",
	[P_OB_DONE] = "UPDATE outbox SET done = 1, message_id = $2, sent_at = $3 WHERE id = $1",
	[P_CONV_GET] =
	    "SELECT name, value, updated_at FROM conv WHERE page_id = $1 AND user_id = $2"
	    " AND name IN ('owner', 'last_user_ts', 'human_ts')",
	[P_CONV_SET] =
	    "INSERT INTO conv (page_id, user_id, name, value, updated_at) VALUES ($1, $2, $3, $4, $5)"
	    " ON CONFLICT (page_id, user_id, name) DO UPDATE SET value = excluded.value,"
	    " updated_at = excluded.updated_at",
	/* A time that only moves forward: the later of the two stays. */
	[P_CONV_RAISE] =
	    "INSERT INTO conv AS c (page_id, user_id, name, value, updated_at)"
	    " VALUES ($1, $2, $3, $4, $5)"
	    " ON CONFLICT (page_id, user_id, name) DO UPDATE SET value = excluded.value,"
	    " updated_at = excluded.updated_at"
	    " WHERE CASE WHEN c.value ~ '^-?[0-9]{1,18}$' THEN c.value::bigint ELSE 0 END"
	    "  < excluded.value::bigint",
	[P_CONV_ELSEWHERE] =
	    "SELECT o.page_id, o.user_id, o.value, o.updated_at,"
	    " (SELECT h.value FROM conv h WHERE h.page_id = o.page_id AND h.user_id = o.user_id"
	    "  AND h.name = 'human_ts'),"
	    " (SELECT l.value FROM conv l WHERE l.page_id = o.page_id AND l.user_id = o.user_id"
	    "  AND l.name = 'last_user_ts')"
	    " FROM conv o WHERE o.name = 'owner' AND o.value <> ''"
	    " ORDER BY o.updated_at DESC LIMIT $1",
	[P_CACHE_GET] = "SELECT value FROM cache WHERE ns = $1 AND key = $2 AND expires_at > $3",
	[P_CACHE_PUT] =
	    "INSERT INTO cache (ns, key, value, expires_at) VALUES ($1, $2, $3, $4)"
	    " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value,"
	    " expires_at = excluded.expires_at",
	[P_CACHE_DEL] = "DELETE FROM cache WHERE ns = $1 AND key = $2",
	/* A repeated pause keeps its first `since`. */
	[P_PAUSE_SET] =
	    "INSERT INTO pause (scope, id, reason, since, token_fp, probe_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6)"
	    " ON CONFLICT (scope, id) DO UPDATE SET reason = excluded.reason,"
	    " token_fp = excluded.token_fp, probe_at = excluded.probe_at",
	[P_PAUSE_CLEAR] = "DELETE FROM pause WHERE scope = $1 AND id = $2",
	[P_PAUSE_GET] =
	    "SELECT scope, id, reason, since, token_fp, probe_at FROM pause"
	    " WHERE scope = $1 AND id = $2",
	[P_PAUSE_ANY] =
	    "SELECT 1 FROM pause WHERE (scope = 'connector' AND id = $1)"
	    " OR (scope = 'page' AND id = $2) LIMIT 1",
	[P_PAUSE_PROBE] = "UPDATE pause SET probe_at = $3 WHERE scope = $1 AND id = $2",
	[P_PAUSE_LIST] =
	    "SELECT scope, id, reason, since, token_fp, probe_at FROM pause"
	    " ORDER BY since, scope, id LIMIT $1",
	[P_Q_LIST] =
	    "SELECT id, connector, reason, received_at, raw FROM quarantine ORDER BY id LIMIT $1",
	[P_Q_DELETE] = "DELETE FROM quarantine WHERE id = $1",
	/* One statement, so one snapshot; the row of state -1 carries the other counts. */
	[P_STATS] =
	    "SELECT state, count(*), count(*) FILTER (WHERE attempts > 0),"
	    " count(*) FILTER (WHERE next_at > $1), count(*) FILTER (WHERE lease_until > $1)"
	    " FROM events GROUP BY state"
	    " UNION ALL SELECT -1, (SELECT count(*) FROM quarantine), (SELECT count(*) FROM pause),"
	    " 0, 0",
	[P_FAILURES] =
	    "SELECT finished_at, connector, kind, error FROM events WHERE state = 2"
	    " ORDER BY finished_at DESC, id DESC LIMIT $1",
	/* The outbox follows its events (ON DELETE CASCADE). */
	/* Bounded (msgr_store_purge): the oldest first, by events_finished and cache_expiry. */
	[P_PURGE] =
	    "WITH e AS (DELETE FROM events WHERE id IN (SELECT id FROM events"
	    "  WHERE finished_at < $1 AND state IN (1, 2, 3) ORDER BY finished_at LIMIT $2)"
	    "  RETURNING 1),"
	    " c AS (DELETE FROM cache WHERE (ns, key) IN (SELECT ns, key FROM cache"
	    "  WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2) RETURNING 1)"
	    " SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM c)",
	/* Calls in flight and echoes (migration 1 -> 2). */
	[P_OB_ATTEMPT] =
	    "UPDATE outbox SET tries = tries + 1, inflight = 1, tried_at = $2 WHERE id = $1"
	    " RETURNING tries",
	[P_OB_FLIGHT] = "SELECT done, inflight, tries, tried_at FROM outbox WHERE id = $1",
	[P_OB_SETTLE] = "UPDATE outbox SET inflight = 0 WHERE id = $1",
	[P_ECHO_PUT] =
	    "INSERT INTO echo (mid, page_id, user_id, outbox_id, try, seen_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mid) DO NOTHING",
	[P_ECHO_FIND] =
	    "SELECT mid, page_id, user_id, outbox_id, try, seen_at FROM echo"
	    " WHERE outbox_id = $1 AND page_id = $2 AND user_id = $3 ORDER BY seen_at LIMIT 1",
	[P_ECHO_PAGE] = "SELECT 1 FROM echo WHERE page_id = $1 AND seen_at >= $2 LIMIT 1",
	[P_ECHO_PENDING] =
	    "SELECT id, raw FROM events WHERE state = 0 AND page_id = $1 AND user_id = $2"
	    " AND kind = $3 AND id > $4 ORDER BY id LIMIT $5",
	[P_ECHO_PURGE] =
	    "DELETE FROM echo WHERE mid IN (SELECT mid FROM echo WHERE seen_at < $1"
	    " ORDER BY seen_at LIMIT $2)",
};

/* The backend's handle (impl of struct msgr_store_ops). */
struct pq {
	PGconn *conn;                 /* NULL while not connected: the next call connects */
	char *conninfo;               /* a secret: wiped at close */
	char *password;               /* conninfo's, to keep out of every message; may be NULL */
	char where[200];              /* conninfo without secrets, for messages */
	int busy_timeout_ms;
	int readonly;
	int key;                      /* this session's holder lock (LOCK_NS, key); 0 none */
	unsigned char prepared[P_COUNT];
	unsigned long long rng;
	char errmsg[256];
};

/* ---- small helpers ---- */

static unsigned long long
next_rand(struct pq *st)
{
	unsigned long long x = st->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return st->rng = x;
}

/* Notices (an IF NOT EXISTS that found the table) are not for the web server's log. */
static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void
wipe_free(char *s)
{
	volatile char *p = s;

	if (s == NULL)
		return;
	while (*p != '\0')
		*p++ = '\0';
	free(s);
}

/* text into dst as one line: libpq's messages span lines with tabs; the password, should a
 * message ever quote it, is cut out. */
static void
one_line(const struct pq *st, char *dst, size_t dstsz, const char *text)
{
	size_t n = 0, plen = st->password != NULL ? strlen(st->password) : 0;
	int space = 0;

	while (*text != '\0' && n + 1 < dstsz) {
		if (plen >= 4 && strncmp(text, st->password, plen) == 0) {
			const char *r = "[redacted]";

			while (*r != '\0' && n + 1 < dstsz)
				dst[n++] = *r++;
			text += plen;
			space = 0;
			continue;
		}
		if (*text == '\n' || *text == '\r' || *text == '\t' || *text == ' ') {
			space = n > 0;
			text++;
			continue;
		}
		if (space && n + 2 < dstsz)
			dst[n++] = ' ';
		space = 0;
		dst[n++] = (unsigned char)*text < 0x20 ? '?' : *text;
		text++;
	}
	dst[n] = '\0';
}

/* Records why a call failed ("what: reason"). */
static void
set_err(struct pq *st, const char *what, const char *reason)
{
	char line[200];

	one_line(st, line, sizeof(line), reason != NULL ? reason : "");
	snprintf(st->errmsg, sizeof(st->errmsg), "%s: %s", what, line[0] ? line : "failed");
}

/* Drops the connection: the next call connects again (and prepares again). */
static void
disconnect(struct pq *st)
{
	if (st->conn != NULL)
		PQfinish(st->conn);
	st->conn = NULL;
	st->key = 0;
	memset(st->prepared, 0, sizeof(st->prepared));
}

/* The result of a failed statement as an msgr_result, recorded for errmsg. Only the primary
 * message is kept, never DETAIL (which quotes row values); data and integrity errors name
 * their SQLSTATE and constraint only, as their message may quote a value. */
static msgr_result
fail_res(struct pq *st, const PGresult *res, const char *what)
{
	const char *code = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *cons = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	char reason[200];

	if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
		/* The connection broke under the statement: a server restart, a network cut. */
		set_err(st, what, st->conn != NULL ? PQerrorMessage(st->conn) : "not connected");
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	if (code == NULL) {
		set_err(st, what, msg != NULL ? msg : PQerrorMessage(st->conn));
		return MSGR_ERR_STORE;
	}
	if (strncmp(code, "22", 2) == 0 || strncmp(code, "23", 2) == 0) {
		snprintf(reason, sizeof(reason), "value refused (SQLSTATE %s%s%s)", code,
		    cons != NULL ? ", " : "", cons != NULL ? cons : "");
		set_err(st, what, reason);
	} else {
		snprintf(reason, sizeof(reason), "%s (SQLSTATE %s)", msg != NULL ? msg : "error",
		    code);
		set_err(st, what, reason);
	}
	/* 40001 serialization, 40P01 deadlock, 55P03 lock_timeout, 57014 a cancelled wait. */
	if (strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0 ||
	    strcmp(code, "55P03") == 0 || strcmp(code, "57014") == 0)
		return MSGR_ERR_BUSY;
	if (strcmp(code, "54000") == 0)
		return MSGR_ERR_TOOBIG;
	if (strncmp(code, "22", 2) == 0 || strncmp(code, "23", 2) == 0)
		return MSGR_ERR_INVALID;
	/* The session is unusable after these (57P01 shutdown, 08xxx connection, 25P03 idle
	 * transaction timeout): connect again on the next call. */
	if (strncmp(code, "57P", 3) == 0 || strncmp(code, "08", 2) == 0 ||
	    strcmp(code, "25P03") == 0)
		disconnect(st);
	return MSGR_ERR_STORE;
}

/* Waits for the result of the command sent, at most until deadline (monotonic ms). NULL
 * after a timeout or a broken connection (*timed_out tells which). */
static PGresult *
wait_result(struct pq *st, long long deadline, int *timed_out)
{
	PGresult *res = NULL, *r;
	struct pollfd pfd;
	long long left;

	*timed_out = 0;
	for (;;) {
		while (PQisBusy(st->conn)) {
			left = deadline - msgr_clock_mono_ms();
			if (left <= 0) {
				*timed_out = 1;
				PQclear(res);
				return NULL;
			}
			pfd.fd = PQsocket(st->conn);
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (pfd.fd < 0)
				goto broken;
			if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
				goto broken;
			if (!PQconsumeInput(st->conn))
				goto broken;
		}
		if ((r = PQgetResult(st->conn)) == NULL)
			break;
		/* One command, one result; should there be more, the last one speaks. */
		PQclear(res);
		res = r;
	}
	return res;
broken:
	PQclear(res);
	return NULL;
}

/* The deadline of one call's wait for the server. */
static long long
deadline_of(const struct pq *st, int wait_ms)
{
	return msgr_clock_mono_ms() + (wait_ms > 0 ? wait_ms : st->busy_timeout_ms + WAIT_MARGIN_MS);
}

/* Sends a command (sent() has queued it) and takes its result: *res when it succeeded with
 * rows or without, else the failure recorded and mapped. wait_ms 0: the usual deadline. */
static msgr_result
take(struct pq *st, int sent, int wait_ms, PGresult **res, const char *what)
{
	PGresult *r;
	ExecStatusType s;
	int timed_out = 0;

	*res = NULL;
	if (!sent) {
		set_err(st, what, PQerrorMessage(st->conn));
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	if ((r = wait_result(st, deadline_of(st, wait_ms), &timed_out)) == NULL) {
		set_err(st, what, timed_out ? "no answer from the server in time" :
		    PQerrorMessage(st->conn));
		/* The session's state is unknown: drop it (the server rolls back what it had). */
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	s = PQresultStatus(r);
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
		*res = r;
		return MSGR_OK;
	}
	{
		msgr_result m = fail_res(st, r, what);
		PQclear(r);
		return m;
	}
}

/* An unprepared command (setup, transactions) with text parameters. */
static msgr_result
exec_text(struct pq *st, const char *text, int n, const char *const *vals, PGresult **res,
    const char *what)
{
	PGresult *r = NULL;
	msgr_result m;

	/* Without parameters the simple protocol, which takes several statements (migrations). */
	m = take(st, n == 0 ? PQsendQuery(st->conn, text) :
	    PQsendQueryParams(st->conn, text, n, NULL, vals, NULL, NULL, 0), 0, &r, what);
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return m;
}

/* ---- connecting ---- */

/* The parts of conninfo that say where the store is (never a password), into st->where;
 * the password kept aside to cut it out of messages. MSGR_ERR_INVALID when libpq cannot
 * read conninfo: its own words are not shown, they may quote a password. */
static msgr_result
parse_conninfo(struct pq *st, const char *conninfo)
{
	static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user",
		"service", "sslmode", NULL };
	PQconninfoOption *opts, *o;
	char *perr = NULL;
	size_t n = 0, i;

	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		snprintf(st->errmsg, sizeof(st->errmsg), "state.conninfo: libpq cannot read it "
		    "(key=value pairs or a postgresql:// URI)");
		return MSGR_ERR_INVALID;
	}
	st->where[0] = '\0';
	for (i = 0; shown[i] != NULL; i++) {
		for (o = opts; o->keyword != NULL; o++) {
			if (strcmp(o->keyword, shown[i]) != 0 || o->val == NULL || o->val[0] == '\0')
				continue;
			if (n < sizeof(st->where))
				n += (size_t)snprintf(st->where + n, sizeof(st->where) - n, "%s%s=%s",
				    n > 0 ? " " : "", o->keyword, o->val);
		}
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0' &&
		    st->password == NULL && (st->password = strdup(o->val)) == NULL) {
			PQconninfoFree(opts);
			return MSGR_ERR_NOMEM;
		}
	PQconninfoFree(opts);
	if (st->where[0] == '\0')
		snprintf(st->where, sizeof(st->where), "(libpq's defaults)");
	/* The message table of the log hides it too, should anything else print it. */
	if (st->password != NULL)
		(void)msgr_log_add_secret(st->password);
	return MSGR_OK;
}

/* A new session: connected with our defaults under the conninfo (which may override the
 * connect timeout), settings made, and this session's holder lock taken. */
static msgr_result
connect_session(struct pq *st)
{
	/* Ours first: with expand_dbname the conninfo's own values come later and win. */
	const char *keys[] = { "connect_timeout", "application_name", "client_encoding",
		"dbname", NULL };
	const char *vals[] = { CONNECT_TIMEOUT_S, "messenger-fcgi", "UTF8", st->conninfo, NULL };
	char setup[256], key[16];
	const char *kv[1], *enc;
	PGresult *res = NULL;
	msgr_result r;
	int i;

	disconnect(st);
	st->conn = PQconnectdbParams(keys, vals, 1);
	if (st->conn == NULL)
		return MSGR_ERR_NOMEM;
	if (PQstatus(st->conn) != CONNECTION_OK) {
		set_err(st, "connect", PQerrorMessage(st->conn));
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	PQsetNoticeProcessor(st->conn, quiet, NULL);
	/* Events are UTF-8 text: a database that cannot hold every character would refuse some
	 * webhooks for ever (503 after 503), so it is refused at once instead. */
	enc = PQparameterStatus(st->conn, "server_encoding");
	if (enc == NULL || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)) {
		snprintf(st->errmsg, sizeof(st->errmsg), "connect: the database's encoding is %s, "
		    "not UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
		    enc != NULL ? enc : "unknown");
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	if (PQserverVersion(st->conn) < MIN_SERVER_VERSION) {
		snprintf(st->errmsg, sizeof(st->errmsg), "connect: PostgreSQL %d is older than 10",
		    PQserverVersion(st->conn));
		disconnect(st);
		return MSGR_ERR_STORE;
	}
	/* A lock wait ends with the busy timeout, as with SQLite; nothing else is cut short
	 * by the server (a purge may take long); a client stopped inside a transaction does not
	 * hold its locks for ever. */
	snprintf(setup, sizeof(setup), "SET lock_timeout = %d; SET statement_timeout = 0;"
	    " SET idle_in_transaction_session_timeout = %d;%s", st->busy_timeout_ms,
	    IDLE_TX_TIMEOUT_MS, st->readonly ? " SET default_transaction_read_only = on;" : "");
	if ((r = exec_text(st, setup, 0, NULL, NULL, "connect")) != MSGR_OK) {
		disconnect(st);
		return r == MSGR_ERR_NOMEM ? r : MSGR_ERR_STORE;
	}
	if (st->readonly)
		return MSGR_OK;
	/* Unique among the sessions alive: a key in use makes the try fail, and another is
	 * drawn. A dead session's key drawn again only makes its claims wait for the lease. */
	for (i = 0; i < KEY_TRIES; i++) {
		int k = (int)(next_rand(st) % 2147483646ULL) + 1;

		snprintf(key, sizeof(key), "%d", k);
		kv[0] = key;
		r = exec_text(st, "SELECT pg_try_advisory_lock(" LOCK_NS_TEXT ", $1::integer)", 1,
		    kv, &res, "connect");
		if (r != MSGR_OK)
			return r;
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
			PQclear(res);
			st->key = k;
			return MSGR_OK;
		}
		PQclear(res);
	}
	snprintf(st->errmsg, sizeof(st->errmsg), "connect: no free holder lock");
	disconnect(st);
	return MSGR_ERR_STORE;
}

/* Every call starts here: connected (again, after the server went away), error cleared. */
static msgr_result
ready(struct pq *st)
{
	st->errmsg[0] = '\0';
	/* What the server sent while we were idle (its goodbye when it restarted or ended the
	 * session) is read first, without waiting: a session found gone is replaced now rather
	 * than failing the call with it. */
	if (st->conn != NULL && PQstatus(st->conn) == CONNECTION_OK &&
	    PQtransactionStatus(st->conn) == PQTRANS_IDLE && PQconsumeInput(st->conn) &&
	    PQstatus(st->conn) == CONNECTION_OK)
		return MSGR_OK;
	return connect_session(st);
}

/* Runs prepared statement id (prepared on this connection first if it is not yet) with n
 * text parameters (NULL: SQL NULL); lens and fmts may be NULL (all text). */
static msgr_result
run_p(struct pq *st, enum pid id, int n, const char *const *vals, const int *lens,
    const int *fmts, PGresult **res, const char *what)
{
	char name[16];
	PGresult *r = NULL;
	msgr_result m;

	*res = NULL;
	snprintf(name, sizeof(name), "msgr%d", (int)id);
	if (!st->prepared[id]) {
		m = take(st, PQsendPrepare(st->conn, name, sql[id], 0, NULL), 0, &r, what);
		PQclear(r);
		if (m != MSGR_OK)
			return m;
		st->prepared[id] = 1;
	}
	return take(st, PQsendQueryPrepared(st->conn, name, n, vals, lens, fmts, 0),
	    id == P_PURGE ? PURGE_WAIT_MS : 0, res, what);
}

/* Runs id for its effect: MSGR_OK, or MSGR_ERR_NOTFOUND when it changed no row and
 * notfound is set. */
static msgr_result
run_effect(struct pq *st, enum pid id, int n, const char *const *vals, int notfound,
    const char *what)
{
	PGresult *res = NULL;
	msgr_result m;
	const char *t;

	if ((m = run_p(st, id, n, vals, NULL, NULL, &res, what)) != MSGR_OK)
		return m;
	t = PQcmdTuples(res);
	if (notfound && (t[0] == '\0' || strcmp(t, "0") == 0))
		m = MSGR_ERR_NOTFOUND;
	PQclear(res);
	return m;
}

static msgr_result
tx(struct pq *st, const char *cmd)
{
	return exec_text(st, cmd, 0, NULL, NULL, cmd);
}

/* Ends a transaction opened with BEGIN: committed when r is MSGR_OK, else rolled back (a
 * connection already dropped has nothing left to roll back). The outcome. */
static msgr_result
tx_end(struct pq *st, msgr_result r)
{
	char keep[sizeof(st->errmsg)];

	if (r == MSGR_OK)
		return tx(st, "COMMIT");
	if (st->conn != NULL) {
		memcpy(keep, st->errmsg, sizeof(keep));
		if (tx(st, "ROLLBACK") == MSGR_OK)
			memcpy(st->errmsg, keep, sizeof(keep));
	}
	return r;
}

/* ---- values ---- */

static long long
col_ll(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *
col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

/* Text column into dst[dstsz]; MSGR_ERR_TOOBIG when it does not fit. */
static msgr_result
col_copy(const PGresult *res, int row, int col, char *dst, size_t dstsz)
{
	const char *t = col_text(res, row, col);
	size_t len = strlen(t);

	if (len >= dstsz)
		return MSGR_ERR_TOOBIG;
	memcpy(dst, t, len + 1);
	return MSGR_OK;
}

/* Text column into dst[dstsz], cut when longer (display rows). */
static void
col_show(const PGresult *res, int row, int col, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s", col_text(res, row, col));
}

static msgr_result
col_dup(const PGresult *res, int row, int col, char **out)
{
	if ((*out = strdup(col_text(res, row, col))) == NULL)
		return MSGR_ERR_NOMEM;
	return MSGR_OK;
}

/* A number as a parameter. */
struct num {
	char s[24];
};

static const char *
num(struct num *b, long long v)
{
	snprintf(b->s, sizeof(b->s), "%lld", v);
	return b->s;
}

/* A short text for a column that must be valid UTF-8 (a note or an error cut at a byte
 * count may end inside a character, which the server refuses): invalid bytes become '?',
 * into dst[dstsz] (cut when longer). NULL stays NULL. */
static const char *
utf8_clean(const char *s, char *dst, size_t dstsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (s == NULL)
		return NULL;
	while (*p != '\0' && n + 1 < dstsz) {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 0x6 ? 2 : (*p >> 4) == 0xe ? 3 :
		    (*p >> 3) == 0x1e ? 4 : 0;
		size_t i;

		for (i = 1; i < len && len > 0; i++)
			if ((p[i] & 0xc0) != 0x80)
				len = 0;
		if (len == 0 || (len == 2 && *p < 0xc2) || n + len >= dstsz) {
			if (len > 1 && n + len >= dstsz)
				break;
			dst[n++] = '?';
			p++;
			continue;
		}
		memcpy(dst + n, p, len);
		n += len;
		p += len;
	}
	dst[n] = '\0';
	return dst;
}

/* A growing text: array literals for the batch statements. */
struct text {
	char *s;
	size_t len, cap;
	int nomem;
};

static void
text_put(struct text *t, const char *p, size_t n)
{
	size_t cap;
	char *s;

	if (t->nomem)
		return;
	if (t->len + n + 1 > t->cap) {
		cap = t->cap ? t->cap : 256;
		while (t->len + n + 1 > cap)
			cap *= 2;
		if ((s = realloc(t->s, cap)) == NULL) {
			t->nomem = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

/* Appends element v of an array literal ({"a","b\"c"}); i > 0 puts the comma. */
static void
text_elem(struct text *t, size_t i, const char *v)
{
	const char *p;

	text_put(t, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			text_put(t, "\\", 1);
		text_put(t, p, 1);
	}
	text_put(t, "\"", 1);
}

static void
num_elem(struct text *t, size_t i, long long v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%s%lld", i > 0 ? "," : "", v);

	text_put(t, b, (size_t)n);
}

/* ---- open, migrate, close ---- */

static void pg_close(void *impl);

/* Brings the schema to SCHEMA_VERSION in one transaction, under the migration lock: hosts
 * starting together wait for each other, and each reads the version the last one left. */
static msgr_result
migrate(struct pq *st)
{
	PGresult *res = NULL;
	msgr_result r;
	long long v = 0;
	char text[80];

	if ((r = tx(st, "BEGIN")) != MSGR_OK)
		return r;
	if ((r = exec_text(st, "SELECT pg_advisory_xact_lock(" LOCK_NS_TEXT ", 0)", 0, NULL, NULL,
	    "migrate")) != MSGR_OK ||
	    (r = exec_text(st, "CREATE TABLE IF NOT EXISTS msgr_schema (version integer NOT NULL)",
	    0, NULL, NULL, "migrate")) != MSGR_OK ||
	    (r = exec_text(st, "SELECT version FROM msgr_schema", 0, NULL, &res, "migrate")) !=
	    MSGR_OK)
		goto out;
	if (PQntuples(res) > 0)
		v = col_ll(res, 0, 0);
	if (PQntuples(res) == 0 && (r = exec_text(st, "INSERT INTO msgr_schema VALUES (0)", 0,
	    NULL, NULL, "migrate")) != MSGR_OK)
		goto out;
	if (v > SCHEMA_VERSION || v < 0) {
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "database schema version %lld is newer than this build's %d", v, SCHEMA_VERSION);
		r = MSGR_ERR_STORE;
		goto out;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((r = exec_text(st, migrations[v], 0, NULL, NULL, "migrate")) != MSGR_OK)
			goto out;
	snprintf(text, sizeof(text), "UPDATE msgr_schema SET version = %d", SCHEMA_VERSION);
	r = exec_text(st, text, 0, NULL, NULL, "migrate");
out:
	PQclear(res);
	return tx_end(st, r);
}

/* The schema version a read-only handle finds: it must not migrate. */
static msgr_result
schema_current(struct pq *st)
{
	PGresult *res = NULL;
	msgr_result r;
	long long v = 0;

	r = exec_text(st, "SELECT CASE WHEN to_regclass('msgr_schema') IS NULL THEN 0 ELSE 1 END",
	    0, NULL, &res, "open");
	if (r != MSGR_OK)
		return r;
	v = col_ll(res, 0, 0);
	PQclear(res);
	if (v == 1) {
		if ((r = exec_text(st, "SELECT version FROM msgr_schema", 0, NULL, &res, "open")) !=
		    MSGR_OK)
			return r;
		v = PQntuples(res) > 0 ? col_ll(res, 0, 0) : 0;
		PQclear(res);
	}
	if (v == SCHEMA_VERSION)
		return MSGR_OK;
	snprintf(st->errmsg, sizeof(st->errmsg), v > SCHEMA_VERSION ?
	    "database schema version %lld is newer than this build's %d" :
	    "database schema version %lld needs migrating to %d: open it writable once", v,
	    SCHEMA_VERSION);
	return MSGR_ERR_STORE;
}

/* A handle with its conninfo read, not connected yet. */
static msgr_result
handle_new(const struct msgr_store_options *opt, struct pq **out)
{
	struct pq *st;
	msgr_result r;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MSGR_ERR_NOMEM;
	st->busy_timeout_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : DEFAULT_BUSY_MS;
	st->readonly = opt->readonly;
	st->rng = (unsigned long long)msgr_clock_mono_ms() ^ ((unsigned long long)getpid() << 32) ^
	    (unsigned long long)(uintptr_t)st;
	if (st->rng == 0)
		st->rng = 0x9e3779b97f4a7c15ULL;
	if (opt->conninfo == NULL || opt->conninfo[0] == '\0') {
		snprintf(st->errmsg, sizeof(st->errmsg), "no state.conninfo for backend postgresql");
		r = MSGR_ERR_INVALID;
		goto out;
	}
	if ((st->conninfo = strdup(opt->conninfo)) == NULL) {
		r = MSGR_ERR_NOMEM;
		goto out;
	}
	r = parse_conninfo(st, opt->conninfo);
out:
	if (r != MSGR_OK && st->errmsg[0] == '\0')
		snprintf(st->errmsg, sizeof(st->errmsg), "%s", msgr_strerror(r));
	*out = st;
	return r;
}

static msgr_result
pg_open(const struct msgr_store_options *opt, void **impl, char *err, size_t errsz)
{
	struct pq *st = NULL;
	msgr_result r;

	if ((r = handle_new(opt, &st)) != MSGR_OK)
		goto out;
	if ((r = connect_session(st)) != MSGR_OK)
		goto out;
	r = st->readonly ? schema_current(st) : migrate(st);
	if (r != MSGR_OK)
		goto out;
	*impl = st;
	st = NULL;
out:
	if (st != NULL) {
		snprintf(err, errsz, "%s", st->errmsg[0] ? st->errmsg : msgr_strerror(r));
		pg_close(st);
	}
	return r;
}

/* msgr_store_check: connects, reads the server's version and the schema's, changes nothing. */
static msgr_result
pg_check(const struct msgr_store_options *opt, char *out, size_t outsz)
{
	struct msgr_store_options o = *opt;
	struct pq *st = NULL;
	PGresult *res = NULL;
	msgr_result r;
	long long v = 0;
	int have = 0;

	o.readonly = 1;
	if ((r = handle_new(&o, &st)) != MSGR_OK) {
		snprintf(out, outsz, "postgresql: %s", st != NULL ? st->errmsg : msgr_strerror(r));
		goto out;
	}
	if ((r = connect_session(st)) != MSGR_OK) {
		snprintf(out, outsz, "postgresql %s: %s", st->where, st->errmsg);
		goto out;
	}
	if ((r = exec_text(st, "SELECT current_setting('server_version'),"
	    " to_regclass('msgr_schema') IS NOT NULL", 0, NULL, &res, "check")) != MSGR_OK) {
		snprintf(out, outsz, "postgresql %s: %s", st->where, st->errmsg);
		goto out;
	}
	have = strcmp(col_text(res, 0, 1), "t") == 0;
	snprintf(out, outsz, "postgresql %s: connected (PostgreSQL %s), ", st->where,
	    col_text(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (have) {
		if ((r = exec_text(st, "SELECT version FROM msgr_schema", 0, NULL, &res, "check")) !=
		    MSGR_OK) {
			snprintf(out, outsz, "postgresql %s: %s", st->where, st->errmsg);
			goto out;
		}
		v = PQntuples(res) > 0 ? col_ll(res, 0, 0) : 0;
	}
	{
		size_t n = strlen(out);

		if (!have || v == 0)
			snprintf(out + n, outsz - n, "no schema yet (the first responder or msgrctl "
			    "command to write creates it)");
		else if (v > SCHEMA_VERSION) {
			snprintf(out + n, outsz - n, "database schema version %lld is newer than "
			    "this build's %d", v, SCHEMA_VERSION);
			r = MSGR_ERR_STORE;
		} else if (v < SCHEMA_VERSION)
			snprintf(out + n, outsz - n, "schema version %lld (migrated to %d at the next "
			    "writable open)", v, SCHEMA_VERSION);
		else
			snprintf(out + n, outsz - n, "schema version %lld", v);
	}
out:
	PQclear(res);
	pg_close(st);
	return r;
}

static void
pg_close(void *impl)
{
	struct pq *st = impl;

	if (st == NULL)
		return;
	/* Ending the session ends its holder lock, and so every claim made through it. */
	disconnect(st);
	wipe_free(st->conninfo);
	wipe_free(st->password);
	free(st);
}

static const char *
pg_errmsg(const void *impl)
{
	const struct pq *st = impl;

	return st->errmsg;
}

/* ---- intake ---- */

/* The batch as the array literals of P_ENQUEUE's parameters 1..8. */
static msgr_result
enqueue_arrays(const struct msgr_store_event *ev, size_t n, struct text a[8])
{
	size_t i, k;

	for (k = 0; k < 8; k++)
		text_put(&a[k], "{", 1);
	for (i = 0; i < n; i++) {
		if (ev[i].key == NULL || ev[i].connector_id == NULL || ev[i].page_id == NULL ||
		    ev[i].user_id == NULL || ev[i].raw == NULL)
			return MSGR_ERR_INVALID;
		text_elem(&a[0], i, ev[i].key);
		text_elem(&a[1], i, ev[i].connector_id);
		text_elem(&a[2], i, ev[i].page_id);
		text_elem(&a[3], i, ev[i].user_id);
		num_elem(&a[4], i, ev[i].kind);
		num_elem(&a[5], i, ev[i].standby ? 1 : 0);
		num_elem(&a[6], i, ev[i].timestamp);
		text_elem(&a[7], i, ev[i].raw);
	}
	for (k = 0; k < 8; k++) {
		text_put(&a[k], "}", 1);
		if (a[k].nomem)
			return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

static msgr_result
insert_quarantine(struct pq *st, const struct msgr_store_quarantine *q, long long now)
{
	struct num b;
	char reason[256];
	const char *vals[4];
	int lens[4] = { 0, 0, 0, 0 }, fmts[4] = { 0, 0, 1, 0 };
	PGresult *res = NULL;
	msgr_result r;

	if (q->connector_id == NULL || q->reason == NULL || (q->raw == NULL && q->raw_len > 0))
		return MSGR_ERR_INVALID;
	if (q->raw_len > (size_t)0x3fffffff)
		return MSGR_ERR_TOOBIG;
	vals[0] = q->connector_id;
	vals[1] = utf8_clean(q->reason, reason, sizeof(reason));
	vals[2] = q->raw != NULL ? q->raw : "";     /* bytes, sent as they are (binary) */
	lens[2] = (int)q->raw_len;
	vals[3] = num(&b, now);
	if ((r = run_p(st, P_Q_INSERT, 4, vals, lens, fmts, &res, "quarantine")) == MSGR_OK)
		PQclear(res);
	return r;
}

static msgr_result
pg_enqueue(void *impl, const struct msgr_store_event *ev, size_t n,
    const struct msgr_store_quarantine *q, size_t nq, long long now, size_t *n_new,
    size_t *n_dup)
{
	struct pq *st = impl;
	struct text a[8];
	struct num b;
	const char *vals[9];
	PGresult *res = NULL;
	msgr_result r;
	size_t i, fresh = 0;
	int in_tx = 0;

	memset(a, 0, sizeof(a));
	if ((r = ready(st)) != MSGR_OK)
		return r;
	if (n > 0 && (r = enqueue_arrays(ev, n, a)) != MSGR_OK) {
		snprintf(st->errmsg, sizeof(st->errmsg), "enqueue: %s", msgr_strerror(r));
		goto out;
	}
	/* Events alone are one statement, atomic by itself; quarantine rows join it in a
	 * transaction (rare: a malformed webhook). */
	if (nq > 0) {
		if ((r = tx(st, "BEGIN")) != MSGR_OK)
			goto out;
		in_tx = 1;
	}
	if (n > 0) {
		for (i = 0; i < 8; i++)
			vals[i] = a[i].s;
		vals[8] = num(&b, now);
		if ((r = run_p(st, P_ENQUEUE, 9, vals, NULL, NULL, &res, "enqueue")) != MSGR_OK)
			goto out;
		fresh = PQntuples(res) == 1 ? (size_t)col_ll(res, 0, 0) : 0;
		PQclear(res);
		res = NULL;
	}
	for (i = 0; i < nq; i++)
		if ((r = insert_quarantine(st, &q[i], now)) != MSGR_OK)
			goto out;
out:
	if (in_tx)
		r = tx_end(st, r);
	for (i = 0; i < 8; i++)
		free(a[i].s);
	if (r != MSGR_OK)
		return r;
	*n_new = fresh;
	*n_dup = n - fresh;
	return MSGR_OK;
}

/* ---- work ---- */

static msgr_result
job_fill(const PGresult *res, struct msgr_job *job)
{
	msgr_result r;

	job->id = col_ll(res, 0, 0);
	if ((r = col_copy(res, 0, 1, job->connector_id, sizeof(job->connector_id))) != MSGR_OK ||
	    (r = col_copy(res, 0, 2, job->page_id, sizeof(job->page_id))) != MSGR_OK ||
	    (r = col_copy(res, 0, 3, job->user_id, sizeof(job->user_id))) != MSGR_OK)
		return r;
	job->kind = (int)col_ll(res, 0, 4);
	job->standby = (int)col_ll(res, 0, 5);
	job->timestamp = col_ll(res, 0, 6);
	job->received_at = col_ll(res, 0, 7);
	job->attempts = (int)col_ll(res, 0, 8);
	job->claims = (int)col_ll(res, 0, 10);
	return col_dup(res, 0, 9, &job->raw);
}

static msgr_result
pg_claim(void *impl, const char *owner, long long now, int lease_ms, struct msgr_job *job)
{
	struct pq *st = impl;
	struct num b1, b2, b3;
	const char *vals[4];
	PGresult *res = NULL;
	msgr_result r;
	int tries, any;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	for (tries = 0; tries < CLAIM_TRIES; tries++) {
		vals[0] = num(&b1, now);
		vals[1] = num(&b2, now + lease_ms);
		vals[2] = num(&b3, st->key);
		vals[3] = owner;
		if ((r = run_p(st, P_CLAIM, 4, vals, NULL, NULL, &res, "claim")) != MSGR_OK)
			return r;
		if (PQntuples(res) == 1) {
			r = job_fill(res, job);
			PQclear(res);
			if (r != MSGR_OK) {
				snprintf(st->errmsg, sizeof(st->errmsg), "claim: %s", msgr_strerror(r));
				msgr_job_clear(job);
				return r == MSGR_ERR_TOOBIG ? MSGR_ERR_STORE : r;
			}
			return MSGR_OK;
		}
		PQclear(res);
		/* Nothing taken: nothing due, or the due rows were locked by another host's short
		 * transaction for the moment (SKIP LOCKED passed them). Look again in the second
		 * case only. */
		if ((r = run_p(st, P_CLAIM_ANY, 1, vals, NULL, NULL, &res, "claim")) != MSGR_OK)
			return r;
		any = PQntuples(res) == 1 && strcmp(col_text(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!any)
			return MSGR_ERR_EMPTY;
		{
			struct timespec ts = { 0, 200000L * (tries + 1) };
			nanosleep(&ts, NULL);
		}
	}
	snprintf(st->errmsg, sizeof(st->errmsg), "claim: candidates kept being taken");
	return MSGR_ERR_BUSY;
}

/* Applies id (finish or retry: a one-row update of a job still held by owner, which locks
 * its conversation's queue row first) and brings that row in step, in one transaction.
 * MSGR_ERR_NOTFOUND when owner lost the job. */
static msgr_result
job_change(struct pq *st, enum pid id, int n, const char *const *vals, const char *what)
{
	char page[sizeof(((struct msgr_job *)0)->page_id)];
	char user[sizeof(((struct msgr_job *)0)->user_id)];
	const char *kv[2];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	if ((r = tx(st, "BEGIN")) != MSGR_OK)
		return r;
	if ((r = run_p(st, id, n, vals, NULL, NULL, &res, what)) != MSGR_OK)
		goto out;
	if (PQntuples(res) == 0) {
		r = MSGR_ERR_NOTFOUND;
		goto out;
	}
	if (col_copy(res, 0, 0, page, sizeof(page)) != MSGR_OK ||
	    col_copy(res, 0, 1, user, sizeof(user)) != MSGR_OK) {
		snprintf(st->errmsg, sizeof(st->errmsg), "%s: conversation id too long", what);
		r = MSGR_ERR_STORE;
		goto out;
	}
	PQclear(res);
	res = NULL;
	kv[0] = page;
	kv[1] = user;
	if ((r = run_p(st, P_REFRESH, 2, kv, NULL, NULL, &res, "queue")) != MSGR_OK)
		goto out;
out:
	PQclear(res);
	return tx_end(st, r);
}

static msgr_result
pg_finish(void *impl, int64_t job_id, const char *owner, enum msgr_job_state state,
    const char *note, long long now)
{
	struct num b1, b3, b5;
	char clean[1024];
	const char *vals[5];

	vals[0] = num(&b1, job_id);
	vals[1] = owner;
	vals[2] = num(&b3, (long long)state);
	vals[3] = utf8_clean(note, clean, sizeof(clean));
	vals[4] = num(&b5, now);
	return job_change(impl, P_FINISH, 5, vals, "finish");
}

static msgr_result
pg_retry(void *impl, int64_t job_id, const char *owner, long long next_at, const char *error)
{
	struct num b1, b3;
	char clean[1024];
	const char *vals[4];

	vals[0] = num(&b1, job_id);
	vals[1] = owner;
	vals[2] = num(&b3, next_at);
	vals[3] = utf8_clean(error, clean, sizeof(clean));
	return job_change(impl, P_RETRY, 4, vals, "retry");
}

static msgr_result
pg_renew(void *impl, int64_t job_id, const char *owner, long long until)
{
	struct pq *st = impl;
	struct num b1, b3, b4;
	const char *vals[4];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b1, job_id);
	vals[1] = owner;
	vals[2] = num(&b3, until);
	vals[3] = num(&b4, st->key);
	if ((r = run_p(st, P_RENEW, 4, vals, NULL, NULL, &res, "renew")) != MSGR_OK)
		return r;
	r = PQntuples(res) == 1 && col_ll(res, 0, 0) > 0 ? MSGR_OK : MSGR_ERR_NOTFOUND;
	PQclear(res);
	return r;
}

/* ---- outbox ---- */

static msgr_result
pg_outbox_put(void *impl, int64_t job_id, const char *const *requests, size_t n,
    int64_t *ids)
{
	struct pq *st = impl;
	struct text arr;
	struct num b;
	const char *vals[2], *p;
	PGresult *res = NULL;
	msgr_result r;
	size_t i;
	char *end;

	memset(&arr, 0, sizeof(arr));
	if ((r = ready(st)) != MSGR_OK)
		return r;
	text_put(&arr, "{", 1);
	for (i = 0; i < n; i++)
		text_elem(&arr, i, requests[i]);
	text_put(&arr, "}", 1);
	if (arr.nomem) {
		free(arr.s);
		return MSGR_ERR_NOMEM;
	}
	vals[0] = num(&b, job_id);
	vals[1] = arr.s;
	r = run_p(st, P_OB_PUT, 2, vals, NULL, NULL, &res, "outbox");
	free(arr.s);
	if (r != MSGR_OK)
		return r;
	if (col_ll(res, 0, 0) == 0)
		r = MSGR_ERR_NOTFOUND;
	else if (col_ll(res, 0, 1) > 0)
		r = MSGR_ERR_DUPLICATE;
	else if (ids != NULL) {
		/* "id,id,..." in seq order */
		p = col_text(res, 0, 2);
		for (i = 0; i < n; i++) {
			ids[i] = (int64_t)strtoll(p, &end, 10);
			p = *end == ',' ? end + 1 : end;
		}
	}
	PQclear(res);
	return r;
}

static msgr_result
pg_outbox_get(void *impl, int64_t job_id, struct msgr_outbox_item **items, size_t *n)
{
	struct pq *st = impl;
	struct msgr_outbox_item *v = NULL;
	struct num b1, b2;
	const char *vals[2];
	PGresult *res = NULL;
	msgr_result r;
	int i, rows;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b1, job_id);
	vals[1] = num(&b2, MSGR_STORE_OUTBOX_MAX);
	if ((r = run_p(st, P_OB_GET, 2, vals, NULL, NULL, &res, "outbox")) != MSGR_OK)
		return r;
	rows = PQntuples(res);
	if (rows == 0) {
		PQclear(res);
		return MSGR_ERR_NOTFOUND;
	}
	if ((v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < rows; i++) {
		v[i].id = col_ll(res, i, 0);
		v[i].seq = (int)col_ll(res, i, 1);
		v[i].done = (int)col_ll(res, i, 3);
		if ((r = col_dup(res, i, 2, &v[i].request)) != MSGR_OK) {
			msgr_store_outbox_free(v, (size_t)rows);
			PQclear(res);
			return r;
		}
	}
	PQclear(res);
	*items = v;
	*n = (size_t)rows;
	return MSGR_OK;
}

static msgr_result
pg_outbox_done(void *impl, int64_t item_id, const char *message_id, long long now)
{
	struct pq *st = impl;
	struct num b1, b3;
	char clean[256];
	const char *vals[3];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b1, item_id);
	vals[1] = utf8_clean(message_id, clean, sizeof(clean));
	vals[2] = num(&b3, now);
	return run_effect(st, P_OB_DONE, 3, vals, 1, "outbox done");
}

/* ---- conversation state (the conv table: one row per value, as with SQLite) ---- */

static msgr_result
pg_conversation(void *impl, const char *page_id, const char *user_id,
    struct msgr_conversation *out)
{
	struct pq *st = impl;
	const char *vals[2] = { page_id, user_id };
	PGresult *res = NULL;
	msgr_result r;
	int i;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	if ((r = run_p(st, P_CONV_GET, 2, vals, NULL, NULL, &res, "conversation")) != MSGR_OK)
		return r;
	for (i = 0; i < PQntuples(res); i++) {
		const char *name = col_text(res, i, 0), *v = col_text(res, i, 1);

		if (strcmp(name, MSGR_STORE_CONV_OWNER) == 0) {
			msgr_store_owner_read(v, out);
			out->owner_at = col_ll(res, i, 2);
		} else if (strcmp(name, MSGR_STORE_CONV_USER_TS) == 0) {
			out->last_user_ts = msgr_store_time_read(v);
		} else if (strcmp(name, MSGR_STORE_CONV_HUMAN_TS) == 0) {
			out->human_ts = msgr_store_time_read(v);
		}
	}
	PQclear(res);
	return MSGR_OK;
}

static msgr_result
conv_put(struct pq *st, enum pid id, const char *page_id, const char *user_id,
    const char *name, const char *value, long long now)
{
	struct num b;
	const char *vals[5];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = page_id;
	vals[1] = user_id;
	vals[2] = name;
	vals[3] = value;
	vals[4] = num(&b, now);
	return run_effect(st, id, 5, vals, 0, "conversation");
}

static msgr_result
pg_set_owner(void *impl, const char *page_id, const char *user_id, enum msgr_owner owner,
    const char *app_id, long long now)
{
	return conv_put(impl, P_CONV_SET, page_id, user_id, MSGR_STORE_CONV_OWNER,
	    msgr_store_owner_text(owner, app_id), now);
}

static msgr_result
pg_user_wrote(void *impl, const char *page_id, const char *user_id, long long ts,
    long long now)
{
	struct num b;

	return conv_put(impl, P_CONV_RAISE, page_id, user_id, MSGR_STORE_CONV_USER_TS, num(&b, ts), now);
}

static msgr_result
pg_human_answered(void *impl, const char *page_id, const char *user_id, long long ts,
    long long now)
{
	struct num b;

	return conv_put(impl, P_CONV_SET, page_id, user_id, MSGR_STORE_CONV_HUMAN_TS, num(&b, ts), now);
}

/* Runs list statement id (its one parameter the row limit) and hands back its result. */
static msgr_result
list_rows(struct pq *st, enum pid id, size_t max, PGresult **res, const char *what)
{
	struct num b;
	const char *vals[1];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, max > (size_t)1 << 30 ? 1LL << 30 : (long long)max);
	return run_p(st, id, 1, vals, NULL, NULL, res, what);
}

static msgr_result
pg_conversations_elsewhere(void *impl, size_t max, struct msgr_conversation_row **rows,
    size_t *n)
{
	struct msgr_conversation_row *v = NULL;
	PGresult *res = NULL;
	msgr_result r;
	int i, k;

	if ((r = list_rows(impl, P_CONV_ELSEWHERE, max, &res, "conversations")) != MSGR_OK)
		return r;
	k = PQntuples(res);
	if (k > 0 && (v = calloc((size_t)k, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < k; i++) {
		col_show(res, i, 0, v[i].page_id, sizeof(v[i].page_id));
		col_show(res, i, 1, v[i].user_id, sizeof(v[i].user_id));
		msgr_store_owner_read(col_text(res, i, 2), &v[i].c);
		v[i].c.owner_at = col_ll(res, i, 3);
		v[i].c.human_ts = msgr_store_time_read(col_text(res, i, 4));
		v[i].c.last_user_ts = msgr_store_time_read(col_text(res, i, 5));
	}
	PQclear(res);
	*rows = v;
	*n = (size_t)k;
	return MSGR_OK;
}

/* ---- caches ---- */

static msgr_result
pg_cache_get(void *impl, const char *ns, const char *key, long long now, char **value)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[3];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = ns;
	vals[1] = key;
	vals[2] = num(&b, now);
	if ((r = run_p(st, P_CACHE_GET, 3, vals, NULL, NULL, &res, "cache")) != MSGR_OK)
		return r;
	r = PQntuples(res) == 0 ? MSGR_ERR_NOTFOUND : col_dup(res, 0, 0, value);
	PQclear(res);
	return r;
}

static msgr_result
pg_cache_put(void *impl, const char *ns, const char *key, const char *value,
    long long expires_at)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[4];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = ns;
	vals[1] = key;
	vals[2] = value;
	vals[3] = num(&b, expires_at);
	return run_effect(st, P_CACHE_PUT, 4, vals, 0, "cache");
}

static msgr_result
pg_cache_del(void *impl, const char *ns, const char *key)
{
	struct pq *st = impl;
	const char *vals[2] = { ns, key };
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	return run_effect(st, P_CACHE_DEL, 2, vals, 0, "cache");
}

/* ---- pauses ---- */

static const char *
scope_text(enum msgr_pause_scope scope)
{
	return scope == MSGR_PAUSE_PAGE ? "page" : "connector";
}

static msgr_result
pg_pause_set(void *impl, const struct msgr_pause *p)
{
	struct pq *st = impl;
	struct num b4, b6;
	char reason[sizeof(p->reason)];
	const char *vals[6];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = scope_text(p->scope);
	vals[1] = p->id;
	vals[2] = utf8_clean(p->reason, reason, sizeof(reason));
	vals[3] = num(&b4, p->since);
	vals[4] = p->token_fp;
	vals[5] = num(&b6, p->probe_at);
	return run_effect(st, P_PAUSE_SET, 6, vals, 0, "pause");
}

static msgr_result
pg_pause_clear(void *impl, enum msgr_pause_scope scope, const char *id)
{
	struct pq *st = impl;
	const char *vals[2];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = scope_text(scope);
	vals[1] = id;
	return run_effect(st, P_PAUSE_CLEAR, 2, vals, 0, "pause");
}

static void
pause_fill(const PGresult *res, int i, struct msgr_pause *p)
{
	p->scope = strcmp(col_text(res, i, 0), "page") == 0 ? MSGR_PAUSE_PAGE :
	    MSGR_PAUSE_CONNECTOR;
	col_show(res, i, 1, p->id, sizeof(p->id));
	/* The reason is for people: a cut one still says enough. */
	col_show(res, i, 2, p->reason, sizeof(p->reason));
	p->since = col_ll(res, i, 3);
	col_show(res, i, 4, p->token_fp, sizeof(p->token_fp));
	p->probe_at = col_ll(res, i, 5);
}

static msgr_result
pg_pause_get(void *impl, enum msgr_pause_scope scope, const char *id, struct msgr_pause *out)
{
	struct pq *st = impl;
	const char *vals[2];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = scope_text(scope);
	vals[1] = id;
	if ((r = run_p(st, P_PAUSE_GET, 2, vals, NULL, NULL, &res, "pause")) != MSGR_OK)
		return r;
	if (PQntuples(res) == 0)
		r = MSGR_ERR_NOTFOUND;
	else if (out != NULL)
		pause_fill(res, 0, out);
	PQclear(res);
	return r;
}

static msgr_result
pg_pause_any(void *impl, const char *connector_id, const char *page_id)
{
	struct pq *st = impl;
	const char *vals[2];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = connector_id;
	vals[1] = page_id;
	if ((r = run_p(st, P_PAUSE_ANY, 2, vals, NULL, NULL, &res, "pause")) != MSGR_OK)
		return r;
	r = PQntuples(res) == 0 ? MSGR_ERR_NOTFOUND : MSGR_OK;
	PQclear(res);
	return r;
}

static msgr_result
pg_pause_probe(void *impl, enum msgr_pause_scope scope, const char *id, long long probe_at)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[3];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = scope_text(scope);
	vals[1] = id;
	vals[2] = num(&b, probe_at);
	return run_effect(st, P_PAUSE_PROBE, 3, vals, 0, "pause");
}

static msgr_result
pg_pause_list(void *impl, size_t max, struct msgr_pause **rows, size_t *n)
{
	struct msgr_pause *v = NULL;
	PGresult *res = NULL;
	msgr_result r;
	int i, k;

	if ((r = list_rows(impl, P_PAUSE_LIST, max, &res, "pause list")) != MSGR_OK)
		return r;
	k = PQntuples(res);
	if (k > 0 && (v = calloc((size_t)k, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < k; i++)
		pause_fill(res, i, &v[i]);
	PQclear(res);
	*rows = v;
	*n = (size_t)k;
	return MSGR_OK;
}

/* ---- quarantine ---- */

static msgr_result
pg_quarantine_list(void *impl, size_t max, struct msgr_quarantine_row **rows, size_t *n)
{
	struct msgr_quarantine_row *v = NULL;
	PGresult *res = NULL;
	unsigned char *raw;
	size_t len;
	msgr_result r;
	int i, k;

	if ((r = list_rows(impl, P_Q_LIST, max, &res, "quarantine list")) != MSGR_OK)
		return r;
	k = PQntuples(res);
	if (k > 0 && (v = calloc((size_t)k, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < k; i++) {
		v[i].id = col_ll(res, i, 0);
		col_show(res, i, 1, v[i].connector_id, sizeof(v[i].connector_id));
		col_show(res, i, 2, v[i].reason, sizeof(v[i].reason));
		v[i].received_at = col_ll(res, i, 3);
		/* bytea comes as text (\x...): back to the bytes, NUL-terminated as store.h says */
		raw = PQunescapeBytea((const unsigned char *)col_text(res, i, 4), &len);
		if (raw == NULL || (v[i].raw = malloc(len + 1)) == NULL) {
			PQfreemem(raw);
			msgr_store_quarantine_free(v, (size_t)k);
			PQclear(res);
			return MSGR_ERR_NOMEM;
		}
		if (len > 0)
			memcpy(v[i].raw, raw, len);
		v[i].raw[len] = '\0';
		v[i].raw_len = len;
		PQfreemem(raw);
	}
	PQclear(res);
	*rows = v;
	*n = (size_t)k;
	return MSGR_OK;
}

/* A statement whose one parameter is a row's id, run for its effect on that one row: the
 * verbs that delete or reset one row by id. */
static msgr_result
effect_by_id(void *impl, int stmt, int64_t id, const char *what)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[1];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, id);
	return run_effect(st, stmt, 1, vals, 1, what);
}

static msgr_result
pg_quarantine_delete(void *impl, int64_t id)
{
	return effect_by_id(impl, P_Q_DELETE, id, "quarantine delete");
}

/* ---- stats, failures, purge ---- */

static msgr_result
pg_stats(void *impl, long long now, struct msgr_store_stats *out)
{
	struct pq *st = impl;
	struct msgr_store_stats z;
	struct num b;
	const char *vals[1];
	PGresult *res = NULL;
	msgr_result r;
	int i;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	memset(&z, 0, sizeof(z));
	vals[0] = num(&b, now);
	if ((r = run_p(st, P_STATS, 1, vals, NULL, NULL, &res, "stats")) != MSGR_OK)
		return r;
	for (i = 0; i < PQntuples(res); i++) {
		long long count = col_ll(res, i, 1);

		switch (col_ll(res, i, 0)) {
		case -1:
			z.quarantined = count;
			z.paused = col_ll(res, i, 2);
			break;
		case MSGR_JOB_PENDING:
			z.pending = count;
			z.retrying = col_ll(res, i, 2);
			z.waiting = col_ll(res, i, 3);
			z.leased = col_ll(res, i, 4);
			break;
		case MSGR_JOB_DONE: z.done = count; break;
		case MSGR_JOB_FAILED: z.failed = count; break;
		case MSGR_JOB_SKIPPED: z.skipped = count; break;
		default: break;
		}
	}
	PQclear(res);
	*out = z;
	return MSGR_OK;
}

static msgr_result
pg_failures(void *impl, size_t max, struct msgr_store_failure **rows, size_t *n)
{
	struct msgr_store_failure *v = NULL;
	PGresult *res = NULL;
	msgr_result r;
	int i, k;

	if ((r = list_rows(impl, P_FAILURES, max, &res, "failures")) != MSGR_OK)
		return r;
	k = PQntuples(res);
	if (k > 0 && (v = calloc((size_t)k, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < k; i++) {
		v[i].finished_at = col_ll(res, i, 0);
		col_show(res, i, 1, v[i].connector_id, sizeof(v[i].connector_id));
		v[i].kind = (int)col_ll(res, i, 2);
		if (!PQgetisnull(res, i, 3) && (r = col_dup(res, i, 3, &v[i].note)) != MSGR_OK) {
			while (i-- > 0)
				free(v[i].note);
			free(v);
			PQclear(res);
			return r;
		}
	}
	PQclear(res);
	*rows = v;
	*n = (size_t)k;
	return MSGR_OK;
}

/* Runs purge statement id ($1 before, $2 max); *res its result, for the caller to read its
 * count from and clear. */
static msgr_result
purge_before(struct pq *st, enum pid id, long long before, size_t max, const char *what,
    PGresult **res)
{
	struct num b, m;
	const char *vals[2];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, before);
	vals[1] = num(&m, (long long)max);
	return run_p(st, id, 2, vals, NULL, NULL, res, what);
}

static msgr_result
pg_purge(void *impl, long long before, size_t max, size_t *n_events, size_t *n_cache)
{
	PGresult *res = NULL;
	msgr_result r;

	if ((r = purge_before(impl, P_PURGE, before, max, "purge", &res)) != MSGR_OK)
		return r;
	*n_events = (size_t)col_ll(res, 0, 0);
	*n_cache = (size_t)col_ll(res, 0, 1);
	PQclear(res);
	return MSGR_OK;
}

/* Per session: a reconnect starts again from the server's default (on), the safe side. */
static msgr_result
pg_set_sync(void *impl, int full)
{
	struct pq *st = impl;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	return exec_text(st, full ? "SET synchronous_commit = on" : "SET synchronous_commit = off",
	    0, NULL, NULL, "synchronous_commit");
}

/* ---- calls in flight and echoes (lib/echo.h) ---- */

static msgr_result
pg_outbox_attempt(void *impl, int64_t item_id, long long now, int *tries)
{
	struct pq *st = impl;
	struct num b, b2;
	const char *vals[2];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, item_id);
	vals[1] = num(&b2, now);
	/* One statement: the mark and the number it gives are atomic. */
	if ((r = run_p(st, P_OB_ATTEMPT, 2, vals, NULL, NULL, &res, "outbox attempt")) != MSGR_OK)
		return r;
	if (PQntuples(res) == 0)
		r = MSGR_ERR_NOTFOUND;
	else
		*tries = (int)col_ll(res, 0, 0);
	PQclear(res);
	return r;
}

static msgr_result
pg_outbox_settle(void *impl, int64_t item_id)
{
	return effect_by_id(impl, P_OB_SETTLE, item_id, "outbox settle");
}

static msgr_result
pg_outbox_flight(void *impl, int64_t item_id, struct msgr_outbox_flight *out)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[1];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, item_id);
	if ((r = run_p(st, P_OB_FLIGHT, 1, vals, NULL, NULL, &res, "outbox flight")) != MSGR_OK)
		return r;
	if (PQntuples(res) == 0) {
		r = MSGR_ERR_NOTFOUND;
	} else {
		out->done = (int)col_ll(res, 0, 0);
		out->inflight = (int)col_ll(res, 0, 1);
		out->tries = (int)col_ll(res, 0, 2);
		out->tried_at = col_ll(res, 0, 3);
	}
	PQclear(res);
	return r;
}

static msgr_result
pg_echo_put(void *impl, const struct msgr_store_echo *e, long long now)
{
	struct pq *st = impl;
	struct num b4, b5, b6;
	char mid[sizeof(e->mid)];
	const char *vals[6];
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	/* A mid is Facebook's text: kept valid UTF-8 so the row is never refused for it. */
	vals[0] = utf8_clean(e->mid, mid, sizeof(mid));
	vals[1] = e->page_id;
	vals[2] = e->user_id;
	vals[3] = num(&b4, e->outbox_id);
	vals[4] = num(&b5, e->try_no);
	vals[5] = num(&b6, now);
	return run_effect(st, P_ECHO_PUT, 6, vals, 0, "echo");
}

static msgr_result
pg_echo_find(void *impl, int64_t outbox_id, const char *page_id, const char *user_id,
    struct msgr_store_echo *out)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[3];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = num(&b, outbox_id);
	vals[1] = page_id;
	vals[2] = user_id;
	if ((r = run_p(st, P_ECHO_FIND, 3, vals, NULL, NULL, &res, "echo find")) != MSGR_OK)
		return r;
	if (PQntuples(res) == 0) {
		r = MSGR_ERR_NOTFOUND;
	} else {
		col_show(res, 0, 0, out->mid, sizeof(out->mid));
		col_show(res, 0, 1, out->page_id, sizeof(out->page_id));
		col_show(res, 0, 2, out->user_id, sizeof(out->user_id));
		out->outbox_id = col_ll(res, 0, 3);
		out->try_no = (int)col_ll(res, 0, 4);
		out->seen_at = col_ll(res, 0, 5);
	}
	PQclear(res);
	return r;
}

static msgr_result
pg_echo_page_known(void *impl, const char *page_id, long long since)
{
	struct pq *st = impl;
	struct num b;
	const char *vals[2];
	PGresult *res = NULL;
	msgr_result r;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = page_id;
	vals[1] = num(&b, since);
	if ((r = run_p(st, P_ECHO_PAGE, 2, vals, NULL, NULL, &res, "echo page")) != MSGR_OK)
		return r;
	r = PQntuples(res) > 0 ? MSGR_OK : MSGR_ERR_NOTFOUND;
	PQclear(res);
	return r;
}

static msgr_result
pg_echo_pending(void *impl, const char *page_id, const char *user_id, int kind,
    int64_t after_id, size_t max, struct msgr_store_raw **rows, size_t *n)
{
	struct pq *st = impl;
	struct msgr_store_raw *v = NULL;
	struct num b3, b4, b5;
	const char *vals[5];
	PGresult *res = NULL;
	msgr_result r;
	int i, k;

	if ((r = ready(st)) != MSGR_OK)
		return r;
	vals[0] = page_id;
	vals[1] = user_id;
	vals[2] = num(&b3, kind);
	vals[3] = num(&b4, after_id);
	vals[4] = num(&b5, (long long)max);
	if ((r = run_p(st, P_ECHO_PENDING, 5, vals, NULL, NULL, &res, "echo pending")) != MSGR_OK)
		return r;
	k = PQntuples(res);
	if (k > 0 && (v = calloc((size_t)k, sizeof(*v))) == NULL) {
		PQclear(res);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < k; i++) {
		v[i].event_id = col_ll(res, i, 0);
		if ((r = col_dup(res, i, 1, &v[i].raw)) != MSGR_OK) {
			msgr_store_raw_free(v, (size_t)k);
			PQclear(res);
			return r;
		}
	}
	PQclear(res);
	*rows = v;
	*n = (size_t)k;
	return MSGR_OK;
}

static msgr_result
pg_echo_purge(void *impl, long long before, size_t max, size_t *n)
{
	PGresult *res = NULL;
	msgr_result r;

	if ((r = purge_before(impl, P_ECHO_PURGE, before, max, "echo purge", &res)) != MSGR_OK)
		return r;
	*n = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return MSGR_OK;
}

const struct msgr_store_ops msgr_store_pg_ops = {
	.name = "postgresql",
	.schema_version = SCHEMA_VERSION,
	.open = pg_open,
	.check = pg_check,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.enqueue = pg_enqueue,
	.claim = pg_claim,
	.finish = pg_finish,
	.retry = pg_retry,
	.renew = pg_renew,
	.outbox_put = pg_outbox_put,
	.outbox_get = pg_outbox_get,
	.outbox_done = pg_outbox_done,
	.conversation = pg_conversation,
	.set_owner = pg_set_owner,
	.user_wrote = pg_user_wrote,
	.human_answered = pg_human_answered,
	.conversations_elsewhere = pg_conversations_elsewhere,
	.cache_get = pg_cache_get,
	.cache_put = pg_cache_put,
	.cache_del = pg_cache_del,
	.pause_set = pg_pause_set,
	.pause_get = pg_pause_get,
	.pause_probe = pg_pause_probe,
	.pause_any = pg_pause_any,
	.pause_clear = pg_pause_clear,
	.pause_list = pg_pause_list,
	.quarantine_list = pg_quarantine_list,
	.quarantine_delete = pg_quarantine_delete,
	.stats = pg_stats,
	.failures = pg_failures,
	.purge = pg_purge,
	.set_sync = pg_set_sync,
	.outbox_attempt = pg_outbox_attempt,
	.outbox_settle = pg_outbox_settle,
	.outbox_flight = pg_outbox_flight,
	.echo_put = pg_echo_put,
	.echo_find = pg_echo_find,
	.echo_page_known = pg_echo_page_known,
	.echo_pending = pg_echo_pending,
	.echo_purge = pg_echo_purge,
};

#else /* !MSGR_WITH_PQ: the portable build (docs/portable.md) has SQLite only. */

/* ISO C wants a translation unit to declare something. */
typedef int msgr_store_pg_absent;

#endif
