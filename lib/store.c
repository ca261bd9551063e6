/* store.c — the state store's one interface (lib/store.h): checks every call's arguments,
 * reads the handle's clock and hands the call to the backend the handle was opened with
 * (docs/store.md "Backends"). What is the same for every backend lives here: argument
 * rules, the id lengths struct msgr_job can hold, the formatting of failure lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "turns.h"

/* Every backend this build has; the first is the default. PostgreSQL needs libpq, which
 * the portable build (docs/portable.md) leaves out. */
static const struct msgr_store_ops *const backends[] = {
	&msgr_store_sqlite_ops,
#ifdef MSGR_WITH_PQ
	&msgr_store_pg_ops,
#endif
};

struct msgr_store {
	const struct msgr_store_ops *ops;
	void *impl;                   /* the backend's handle */
	struct msgr_clock clock;
	char errmsg[256];             /* a fault found here, before the backend was asked */
	int own_error;                /* errmsg is the last failure, not the backend's */
	struct msgr_turns *turns;     /* shared by threads taking turns (msgr_store_share) */
	int log_fd;                   /* shared: the backend's log, synced apart; -1: none */
	int sync_full;                /* the options' sync_full: commits must reach the disk */
};

static const struct msgr_store_ops *
backend_named(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return backends[0];
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

/* The handle for a call: NULL when st is NULL, else st with its last own fault forgotten
 * (the backend's errmsg speaks for this call from now on). */
static struct msgr_store *
start(struct msgr_store *st)
{
	if (st != NULL)
		st->own_error = 0;
	return st;
}

static long long
now_of(const struct msgr_store *st)
{
	return msgr_clock_now(&st->clock);
}

msgr_result
msgr_store_open(const struct msgr_store_options *opt, struct msgr_store **out)
{
	const struct msgr_store_ops *ops;
	struct msgr_store *st;
	char err[256] = "";
	msgr_result r;

	if (out != NULL)
		*out = NULL;
	if (opt == NULL || out == NULL || opt->path == NULL || opt->path[0] == '\0') {
		if (opt != NULL && opt->errbuf != NULL && opt->errbufsz > 0)
			snprintf(opt->errbuf, opt->errbufsz, "no state path");
		return MSGR_ERR_INVALID;
	}
	if ((ops = backend_named(opt->backend)) == NULL) {
		if (opt->errbuf != NULL && opt->errbufsz > 0)
			snprintf(opt->errbuf, opt->errbufsz,
			    "no store backend \"%.40s\" in this build", opt->backend);
		return MSGR_ERR_INVALID;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MSGR_ERR_NOMEM;
	st->ops = ops;
	st->clock = opt->clock;
	st->log_fd = -1;
	st->sync_full = opt->sync_full;
	if ((r = ops->open(opt, &st->impl, err, sizeof(err))) != MSGR_OK) {
		if (opt->errbuf != NULL && opt->errbufsz > 0)
			snprintf(opt->errbuf, opt->errbufsz, "%s", err[0] ? err : msgr_strerror(r));
		free(st);
		return r;
	}
	*out = st;
	return MSGR_OK;
}

msgr_result
msgr_store_check(const struct msgr_store_options *opt, char *out, size_t outsz)
{
	const struct msgr_store_ops *ops;

	if (out == NULL || outsz == 0)
		return MSGR_ERR_INVALID;
	out[0] = '\0';
	if (opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
		snprintf(out, outsz, "no state path");
		return MSGR_ERR_INVALID;
	}
	if ((ops = backend_named(opt->backend)) == NULL) {
		snprintf(out, outsz, "no store backend \"%.40s\" in this build", opt->backend);
		return MSGR_ERR_INVALID;
	}
	return ops->check(opt, out, outsz);
}

void
msgr_store_close(struct msgr_store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->impl);
	msgr_turns_free(st->turns);
	if (st->log_fd >= 0)
		close(st->log_fd);
	free(st);
}

int
msgr_store_schema_version(void)
{
	return backends[0]->schema_version;
}

const char *
msgr_store_errmsg(const struct msgr_store *st)
{
	const char *m;

	if (st == NULL)
		return "no store";
	m = st->own_error ? st->errmsg : st->ops->errmsg(st->impl);
	return m[0] != '\0' ? m : "no error";
}

void
msgr_store_set_clock(struct msgr_store *st, const struct msgr_clock *c)
{
	if (st == NULL)
		return;
	if (c != NULL)
		st->clock = *c;
	else
		memset(&st->clock, 0, sizeof(st->clock));
}

/* ---- intake ---- */

/* 1 when s (may be NULL) is too long for a field of sz bytes of struct msgr_job. */
static int
too_long(const char *s, size_t sz)
{
	return s != NULL && strlen(s) >= sz;
}

msgr_result
msgr_store_enqueue(struct msgr_store *st, const struct msgr_store_event *ev, size_t n,
    const struct msgr_store_quarantine *q, size_t nq, size_t *n_new, size_t *n_dup)
{
	const struct msgr_job *job = NULL;
	size_t i, fresh = 0, dup = 0;
	msgr_result r;

	if (n_new != NULL)
		*n_new = 0;
	if (n_dup != NULL)
		*n_dup = 0;
	if (start(st) == NULL || (n > 0 && ev == NULL) || (nq > 0 && q == NULL))
		return MSGR_ERR_INVALID;
	if (n == 0 && nq == 0)
		return MSGR_OK;
	/* struct msgr_job hands these back in fixed arrays: refuse what it could not hold whole
	 * before anything is written. */
	for (i = 0; i < n; i++) {
		if (too_long(ev[i].connector_id, sizeof(job->connector_id)) ||
		    too_long(ev[i].page_id, sizeof(job->page_id)) ||
		    too_long(ev[i].user_id, sizeof(job->user_id))) {
			snprintf(st->errmsg, sizeof(st->errmsg), "enqueue: event %zu: id too long",
			    i);
			st->own_error = 1;
			return MSGR_ERR_TOOBIG;
		}
	}
	r = st->ops->enqueue(st->impl, ev, n, q, nq, now_of(st), &fresh, &dup);
	if (r != MSGR_OK)
		return r;
	if (n_new != NULL)
		*n_new = fresh;
	if (n_dup != NULL)
		*n_dup = dup;
	return MSGR_OK;
}

msgr_result
msgr_store_ingest(struct msgr_store *st, size_t max, size_t *moved, int *more)
{
	size_t n = 0;
	int m = 0;
	msgr_result r;

	if (moved != NULL)
		*moved = 0;
	if (more != NULL)
		*more = 0;
	if (start(st) == NULL || max == 0)
		return MSGR_ERR_INVALID;
	if (st->ops->ingest == NULL)
		return MSGR_OK;
	if ((r = st->ops->ingest(st->impl, max, &n, &m)) != MSGR_OK)
		return r;
	if (moved != NULL)
		*moved = n;
	if (more != NULL)
		*more = m;
	return MSGR_OK;
}

/* ---- work ---- */

void
msgr_job_clear(struct msgr_job *job)
{
	if (job == NULL)
		return;
	free(job->raw);
	memset(job, 0, sizeof(*job));
}

msgr_result
msgr_store_claim(struct msgr_store *st, const char *owner, long long now, int lease_ms,
    struct msgr_job *job)
{
	if (job != NULL)
		memset(job, 0, sizeof(*job));
	if (start(st) == NULL || owner == NULL || owner[0] == '\0' || lease_ms <= 0 || job == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->claim(st->impl, owner, now, lease_ms, job);
}

msgr_result
msgr_store_finish(struct msgr_store *st, int64_t job_id, const char *owner,
    enum msgr_job_state state, const char *note)
{
	if (start(st) == NULL || owner == NULL ||
	    (state != MSGR_JOB_DONE && state != MSGR_JOB_FAILED && state != MSGR_JOB_SKIPPED))
		return MSGR_ERR_INVALID;
	return st->ops->finish(st->impl, job_id, owner, state, note, now_of(st));
}

msgr_result
msgr_store_retry(struct msgr_store *st, int64_t job_id, const char *owner, long long next_at,
    const char *error)
{
	if (start(st) == NULL || owner == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->retry(st->impl, job_id, owner, next_at, error);
}

msgr_result
msgr_store_renew(struct msgr_store *st, int64_t job_id, const char *owner, long long now,
    int lease_ms)
{
	if (start(st) == NULL || owner == NULL || lease_ms <= 0)
		return MSGR_ERR_INVALID;
	return st->ops->renew(st->impl, job_id, owner, now + lease_ms);
}

/* ---- outbox ---- */

msgr_result
msgr_store_outbox_put(struct msgr_store *st, int64_t job_id, const char *const *requests,
    size_t n, int64_t *ids)
{
	size_t i;

	if (start(st) == NULL || (n > 0 && requests == NULL))
		return MSGR_ERR_INVALID;
	if (n > MSGR_STORE_OUTBOX_MAX)
		return MSGR_ERR_TOOBIG;
	if (n == 0)
		return MSGR_OK;
	/* A NULL request would be refused by the schema half-way; refused whole here instead. */
	for (i = 0; i < n; i++)
		if (requests[i] == NULL)
			return MSGR_ERR_INVALID;
	return st->ops->outbox_put(st->impl, job_id, requests, n, ids);
}

void
msgr_store_outbox_free(struct msgr_outbox_item *items, size_t n)
{
	size_t i;

	if (items == NULL)
		return;
	for (i = 0; i < n; i++)
		free(items[i].request);
	free(items);
}

msgr_result
msgr_store_outbox_get(struct msgr_store *st, int64_t job_id, struct msgr_outbox_item **items,
    size_t *n)
{
	if (items != NULL)
		*items = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || items == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->outbox_get(st->impl, job_id, items, n);
}

msgr_result
msgr_store_outbox_done(struct msgr_store *st, int64_t item_id, const char *message_id)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->outbox_done(st->impl, item_id, message_id, now_of(st));
}

/* ---- conversation state ---- */

msgr_result
msgr_store_conversation(struct msgr_store *st, const char *page_id, const char *user_id,
    struct msgr_conversation *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (start(st) == NULL || page_id == NULL || user_id == NULL || out == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->conversation(st->impl, page_id, user_id, out);
}

msgr_result
msgr_store_set_owner(struct msgr_store *st, const char *page_id, const char *user_id,
    enum msgr_owner owner, const char *app_id)
{
	if (start(st) == NULL || page_id == NULL || user_id == NULL)
		return MSGR_ERR_INVALID;
	switch (owner) {
	case MSGR_OWNER_APP:
		if (app_id == NULL || app_id[0] == '\0' || strlen(app_id) > MSGR_MAX_ID_LEN)
			return MSGR_ERR_INVALID;
		break;
	case MSGR_OWNER_US:
	case MSGR_OWNER_STANDBY:
	case MSGR_OWNER_RELEASED:
		app_id = NULL;
		break;
	default:
		return MSGR_ERR_INVALID;
	}
	return st->ops->set_owner(st->impl, page_id, user_id, owner, app_id, now_of(st));
}

msgr_result
msgr_store_user_wrote(struct msgr_store *st, const char *page_id, const char *user_id,
    long long ts)
{
	if (start(st) == NULL || page_id == NULL || user_id == NULL || ts <= 0)
		return MSGR_ERR_INVALID;
	return st->ops->user_wrote(st->impl, page_id, user_id, ts, now_of(st));
}

msgr_result
msgr_store_human_answered(struct msgr_store *st, const char *page_id, const char *user_id,
    long long ts)
{
	if (start(st) == NULL || page_id == NULL || user_id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->human_answered(st->impl, page_id, user_id, ts, now_of(st));
}

msgr_result
msgr_store_conversations_elsewhere(struct msgr_store *st, size_t max,
    struct msgr_conversation_row **rows, size_t *n)
{
	if (rows != NULL)
		*rows = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || rows == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->conversations_elsewhere(st->impl, max, rows, n);
}

/* ---- caches ---- */

msgr_result
msgr_store_cache_get(struct msgr_store *st, const char *ns, const char *key, long long now,
    char **value)
{
	if (value != NULL)
		*value = NULL;
	if (start(st) == NULL || ns == NULL || key == NULL || value == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->cache_get(st->impl, ns, key, now, value);
}

msgr_result
msgr_store_cache_put(struct msgr_store *st, const char *ns, const char *key,
    const char *value, long long expires_at)
{
	if (start(st) == NULL || ns == NULL || key == NULL || value == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->cache_put(st->impl, ns, key, value, expires_at);
}

msgr_result
msgr_store_cache_del(struct msgr_store *st, const char *ns, const char *key)
{
	if (start(st) == NULL || ns == NULL || key == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->cache_del(st->impl, ns, key);
}

/* ---- pauses ---- */

static int
scope_ok(enum msgr_pause_scope scope)
{
	return scope == MSGR_PAUSE_CONNECTOR || scope == MSGR_PAUSE_PAGE;
}

const char *
msgr_pause_scope_name(enum msgr_pause_scope scope)
{
	switch (scope) {
	case MSGR_PAUSE_CONNECTOR: return "connector";
	case MSGR_PAUSE_PAGE: return "page";
	}
	return "?";
}

msgr_result
msgr_store_pause_set(struct msgr_store *st, const struct msgr_pause *p)
{
	if (start(st) == NULL || p == NULL || !scope_ok(p->scope) ||
	    memchr(p->id, '\0', sizeof(p->id)) == NULL || p->id[0] == '\0' ||
	    memchr(p->reason, '\0', sizeof(p->reason)) == NULL ||
	    memchr(p->token_fp, '\0', sizeof(p->token_fp)) == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->pause_set(st->impl, p);
}

msgr_result
msgr_store_pause_get(struct msgr_store *st, enum msgr_pause_scope scope, const char *id,
    struct msgr_pause *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (start(st) == NULL || !scope_ok(scope) || id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->pause_get(st->impl, scope, id, out);
}

msgr_result
msgr_store_pause_any(struct msgr_store *st, const char *connector_id, const char *page_id)
{
	if (start(st) == NULL || connector_id == NULL || page_id == NULL)
		return MSGR_ERR_INVALID;
	if (st->ops->pause_any == NULL)
		return MSGR_OK;
	return st->ops->pause_any(st->impl, connector_id, page_id);
}

msgr_result
msgr_store_pause_probe(struct msgr_store *st, enum msgr_pause_scope scope, const char *id,
    long long probe_at)
{
	if (start(st) == NULL || !scope_ok(scope) || id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->pause_probe(st->impl, scope, id, probe_at);
}

msgr_result
msgr_store_pause_clear(struct msgr_store *st, enum msgr_pause_scope scope, const char *id)
{
	if (start(st) == NULL || !scope_ok(scope) || id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->pause_clear(st->impl, scope, id);
}

msgr_result
msgr_store_pause_list(struct msgr_store *st, size_t max, struct msgr_pause **rows, size_t *n)
{
	if (rows != NULL)
		*rows = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || rows == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->pause_list(st->impl, max, rows, n);
}

/* ---- quarantine ---- */

void
msgr_store_quarantine_free(struct msgr_quarantine_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		free(rows[i].raw);
	free(rows);
}

msgr_result
msgr_store_quarantine_list(struct msgr_store *st, size_t max, struct msgr_quarantine_row **rows,
    size_t *n)
{
	if (rows != NULL)
		*rows = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || rows == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->quarantine_list(st->impl, max, rows, n);
}

msgr_result
msgr_store_quarantine_delete(struct msgr_store *st, int64_t id)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->quarantine_delete(st->impl, id);
}

/* ---- stats, failures, purge ---- */

msgr_result
msgr_store_stats(struct msgr_store *st, long long now, struct msgr_store_stats *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (start(st) == NULL || out == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->stats(st->impl, now, out);
}

void
msgr_store_lines_free(char **lines, size_t n)
{
	size_t i;

	if (lines == NULL)
		return;
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void
failures_free(struct msgr_store_failure *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		free(rows[i].note);
	free(rows);
}

/* "2026-10-01T12:00:00Z connector kind=N note", malloc'd; NULL when out of memory. */
static char *
failure_line(const struct msgr_store_failure *f)
{
	char when[32], conn[160], note[512], line[800];
	time_t t = (time_t)(f->finished_at / 1000);
	const char *e = f->note != NULL ? f->note : "";
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
	    &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)t);
	/* The note holds Facebook's or a bot's words: escape it for the terminal. */
	msgr_log_escape(conn, sizeof(conn), f->connector_id, strlen(f->connector_id));
	msgr_log_escape(note, sizeof(note), e, strlen(e));
	snprintf(line, sizeof(line), "%s %s kind=%d %s", when, conn, f->kind, note);
	return strdup(line);
}

msgr_result
msgr_store_recent_failures(struct msgr_store *st, size_t max, char ***lines, size_t *n)
{
	struct msgr_store_failure *rows = NULL;
	char **v = NULL;
	size_t nrows = 0, len = 0;
	msgr_result r;

	if (lines != NULL)
		*lines = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || lines == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	if ((r = st->ops->failures(st->impl, max, &rows, &nrows)) != MSGR_OK)
		return r;
	if (nrows > 0 && (v = calloc(nrows, sizeof(*v))) == NULL) {
		r = MSGR_ERR_NOMEM;
		goto out;
	}
	for (len = 0; len < nrows; len++) {
		if ((v[len] = failure_line(&rows[len])) == NULL) {
			r = MSGR_ERR_NOMEM;
			goto out;
		}
	}
	*lines = v;
	*n = len;
	v = NULL;
out:
	msgr_store_lines_free(v, len);
	failures_free(rows, nrows);
	return r;
}

msgr_result
msgr_store_set_sync(struct msgr_store *st, int full)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	/* A shared handle makes every commit durable (msgr_store_share). */
	if (st->ops->set_sync == NULL || st->turns != NULL)
		return MSGR_OK;
	return st->ops->set_sync(st->impl, full ? 1 : 0);
}

/* The backend's commit of what the handle holds, as the turns call it. */
static msgr_result
commit_held(void *arg)
{
	struct msgr_store *st = arg;

	return st->ops->flush == NULL ? MSGR_OK : st->ops->flush(st->impl);
}

msgr_result
msgr_store_hold(struct msgr_store *st, int on)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	if (st->turns != NULL)   /* held for good; "off" commits, as it would */
		return on ? MSGR_OK : msgr_turns_commit(st->turns, commit_held, st);
	if (st->ops->hold == NULL)
		return MSGR_OK;
	return st->ops->hold(st->impl, on ? 1 : 0);
}

msgr_result
msgr_store_flush(struct msgr_store *st)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	if (st->turns != NULL)
		return msgr_turns_commit(st->turns, commit_held, st);
	return commit_held(st);
}

/* The turns' sync of a shared handle: every commit made so far, on disk (turns.h). Touches
 * only the log's own descriptor, never the handle another thread may be using. */
static msgr_result
sync_log(void *arg)
{
	struct msgr_store *st = arg;

	return fdatasync(st->log_fd) == 0 ? MSGR_OK : MSGR_ERR_IO;
}

msgr_result
msgr_store_share(struct msgr_store *st)
{
	msgr_result r;
	int fd;

	if (start(st) == NULL || st->turns != NULL)
		return MSGR_ERR_INVALID;
	/* With a log the turns can sync apart (SQLite's WAL), commits skip the fsync and the
	 * threads that need one run it without the turn; otherwise every commit waits for it.
	 * Under sync = "normal" nothing waits for the disk, as in a handle not shared. */
	fd = st->sync_full && st->ops->log_open != NULL ? st->ops->log_open(st->impl) : -1;
	if (st->ops->set_sync != NULL &&
	    (r = st->ops->set_sync(st->impl, st->sync_full && fd < 0)) != MSGR_OK)
		goto fail;
	if (st->ops->hold != NULL && (r = st->ops->hold(st->impl, 1)) != MSGR_OK)
		goto fail;
	if ((r = msgr_turns_new(&st->turns)) != MSGR_OK)
		goto fail;
	st->log_fd = fd;
	if (fd >= 0)
		msgr_turns_set_sync(st->turns, sync_log);
	return MSGR_OK;
fail:
	if (fd >= 0)
		close(fd);
	return r;
}

void
msgr_store_enter(struct msgr_store *st)
{
	if (st != NULL && st->turns != NULL)
		msgr_turns_take(st->turns);
}

msgr_result
msgr_store_leave(struct msgr_store *st)
{
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	if (st->turns == NULL)
		return MSGR_OK;
	return msgr_turns_leave(st->turns, commit_held, st);
}

msgr_result
msgr_store_pause(struct msgr_store *st)
{
	if (start(st) == NULL)
		return MSGR_OK;   /* no store (a worker only sending): nothing held to commit */
	if (st->turns == NULL)
		return commit_held(st);
	return msgr_turns_pause(st->turns, commit_held, st);
}

msgr_result
msgr_store_step_aside(struct msgr_store *st)
{
	if (start(st) == NULL)
		return MSGR_OK;
	if (st->turns == NULL)
		return commit_held(st);
	return msgr_turns_step_aside(st->turns, commit_held, st);
}

int
msgr_store_lend(struct msgr_store *st)
{
	return st != NULL && st->turns != NULL && msgr_turns_lend(st->turns);
}

void
msgr_store_resume(struct msgr_store *st)
{
	msgr_store_enter(st);
}

msgr_result
msgr_store_checkpoint(struct msgr_store *st, int *frames)
{
	int f = -1;
	msgr_result r;

	if (frames != NULL)
		*frames = -1;
	if (start(st) == NULL)
		return MSGR_ERR_INVALID;
	if (st->ops->checkpoint == NULL)
		return MSGR_OK;
	/* What the waiting threads wrote is committed by it: counted so they go on. */
	if (st->turns != NULL && (r = msgr_turns_commit(st->turns, commit_held, st)) != MSGR_OK)
		return r;
	if ((r = st->ops->checkpoint(st->impl, &f)) != MSGR_OK)
		return r;
	if (frames != NULL)
		*frames = f;
	return MSGR_OK;
}

/* A purge of the backend, of finished events (and expired cache entries) or of echoes: at
 * most max rows of each kind older than before deleted; the events' or echoes' number in *n
 * (may be NULL; 0 on failure), *more 1 when a kind reached max (may be NULL). */
static msgr_result
purge_with(struct msgr_store *st, int echoes, long long before, size_t max, size_t *n,
    int *more)
{
	size_t deleted = 0, cache = 0;
	msgr_result r;

	if (n != NULL)
		*n = 0;
	if (more != NULL)
		*more = 0;
	if (max == 0 || max > MSGR_PURGE_MAX || start(st) == NULL)
		return MSGR_ERR_INVALID;
	r = echoes ? st->ops->echo_purge(st->impl, before, max, &deleted) :
	    st->ops->purge(st->impl, before, max, &deleted, &cache);
	if (r != MSGR_OK)
		return r;
	if (n != NULL)
		*n = deleted;
	if (more != NULL)
		*more = deleted >= max || cache >= max;
	return MSGR_OK;
}

msgr_result
msgr_store_purge(struct msgr_store *st, long long before, size_t max, size_t *n_events,
    int *more)
{
	return purge_with(st, 0, before, max, n_events, more);
}

/* ---- the conversation encoding both backends share ---- */

const char *
msgr_store_owner_text(enum msgr_owner owner, const char *app_id)
{
	switch (owner) {
	case MSGR_OWNER_APP: return app_id;
	case MSGR_OWNER_STANDBY: return "standby";
	case MSGR_OWNER_RELEASED: return "released";
	case MSGR_OWNER_US: break;
	}
	return "";
}

void
msgr_store_owner_read(const char *v, struct msgr_conversation *c)
{
	c->owner_app[0] = '\0';
	if (v == NULL || v[0] == '\0')
		c->owner = MSGR_OWNER_US;
	else if (strcmp(v, "standby") == 0)
		c->owner = MSGR_OWNER_STANDBY;
	else if (strcmp(v, "released") == 0)
		c->owner = MSGR_OWNER_RELEASED;
	else {
		c->owner = MSGR_OWNER_APP;
		snprintf(c->owner_app, sizeof(c->owner_app), "%s", v);
	}
}

long long
msgr_store_time_read(const char *v)
{
	char *end;
	long long t;

	if (v == NULL || v[0] == '\0')
		return 0;
	errno = 0;
	t = strtoll(v, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : t;
}

/* ---- calls in flight and echoes ---- */

msgr_result
msgr_store_outbox_attempt(struct msgr_store *st, int64_t item_id, int *tries)
{
	if (tries != NULL)
		*tries = 0;
	if (start(st) == NULL || tries == NULL || item_id <= 0)
		return MSGR_ERR_INVALID;
	return st->ops->outbox_attempt(st->impl, item_id, now_of(st), tries);
}

msgr_result
msgr_store_outbox_settle(struct msgr_store *st, int64_t item_id)
{
	if (start(st) == NULL || item_id <= 0)
		return MSGR_ERR_INVALID;
	return st->ops->outbox_settle(st->impl, item_id);
}

msgr_result
msgr_store_outbox_flight(struct msgr_store *st, int64_t item_id, struct msgr_outbox_flight *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (start(st) == NULL || out == NULL || item_id <= 0)
		return MSGR_ERR_INVALID;
	return st->ops->outbox_flight(st->impl, item_id, out);
}

msgr_result
msgr_store_echo_put(struct msgr_store *st, const struct msgr_store_echo *e)
{
	if (start(st) == NULL || e == NULL || e->mid[0] == '\0' || e->page_id[0] == '\0' ||
	    e->user_id[0] == '\0' || e->outbox_id < 0 || e->try_no < 0)
		return MSGR_ERR_INVALID;
	if (memchr(e->mid, '\0', sizeof(e->mid)) == NULL ||
	    memchr(e->page_id, '\0', sizeof(e->page_id)) == NULL ||
	    memchr(e->user_id, '\0', sizeof(e->user_id)) == NULL)
		return MSGR_ERR_TOOBIG;
	return st->ops->echo_put(st->impl, e, now_of(st));
}

msgr_result
msgr_store_echo_find(struct msgr_store *st, int64_t outbox_id, const char *page_id,
    const char *user_id, struct msgr_store_echo *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (start(st) == NULL || out == NULL || outbox_id <= 0 || page_id == NULL ||
	    user_id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->echo_find(st->impl, outbox_id, page_id, user_id, out);
}

msgr_result
msgr_store_echo_page_known(struct msgr_store *st, const char *page_id, long long since)
{
	if (start(st) == NULL || page_id == NULL)
		return MSGR_ERR_INVALID;
	return st->ops->echo_page_known(st->impl, page_id, since);
}

msgr_result
msgr_store_echo_pending(struct msgr_store *st, const char *page_id, const char *user_id,
    int kind, int64_t after_id, size_t max, struct msgr_store_raw **rows, size_t *n)
{
	if (rows != NULL)
		*rows = NULL;
	if (n != NULL)
		*n = 0;
	if (start(st) == NULL || page_id == NULL || user_id == NULL || rows == NULL ||
	    n == NULL || max == 0)
		return MSGR_ERR_INVALID;
	if (max > MSGR_STORE_OUTBOX_MAX)
		max = MSGR_STORE_OUTBOX_MAX;
	return st->ops->echo_pending(st->impl, page_id, user_id, kind, after_id, max, rows, n);
}

void
msgr_store_raw_free(struct msgr_store_raw *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		free(rows[i].raw);
	free(rows);
}

msgr_result
msgr_store_echo_purge(struct msgr_store *st, long long before, size_t max, size_t *n)
{
	return purge_with(st, 1, before, max, n, NULL);
}
