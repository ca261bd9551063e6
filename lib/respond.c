/* respond.c — one webhook request, from its head to its log line (respond.h). */
#include <stdio.h>
#include <string.h>

#include "intake.h"
#include "limits.h"
#include "log.h"
#include "respond.h"
#include "signature.h"

void
msgr_respond_init(struct msgr_respond *rs, const struct msgr_config *cfg,
    struct msgr_commit *commit, int grouped)
{
	memset(rs, 0, sizeof(*rs));
	rs->cfg = cfg;
	rs->commit = commit;
	msgr_webhook_limits_default(&rs->lim);
	rs->max_body = cfg->max_body ? cfg->max_body : MSGR_MAX_BODY_DEFAULT;
	rs->grouped = grouped;
}

static void
note_set(struct msgr_respond_outcome *oc, const char *what, const char *untrusted, size_t len)
{
	char esc[96];

	if (untrusted == NULL)
		snprintf(oc->note, sizeof(oc->note), "%s", what);
	else
		snprintf(oc->note, sizeof(oc->note), "%s \"%s\"", what,
		    msgr_log_escape(esc, sizeof(esc), untrusted, len));
}

/* ---- GET: subscription verification ---- */

/* 0 when answered here (the challenge), else the status to answer with. */
static int
handle_get(const struct msgr_request *r, const struct msgr_connector *conn,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc)
{
	int ok;

	if (r->query_toobig) {
		note_set(oc, "query too long", NULL, 0);
		return 403;
	}
	ok = r->mode_p.present && !r->mode_p.bad && strcmp(r->hub_mode, "subscribe") == 0;
	if (!ok) {
		note_set(oc, "hub.mode not subscribe", NULL, 0);
		return 403;
	}
	/* Constant time: the verify token is a secret. */
	if (!r->token_p.present || r->token_p.bad ||
	    !msgr_signature_equal(conn->webhook_token, r->hub_verify_token)) {
		note_set(oc, "wrong or missing hub.verify_token", NULL, 0);
		return 403;
	}
	if (!r->challenge_p.present || r->challenge_p.bad) {
		note_set(oc, "missing or oversized hub.challenge", NULL, 0);
		return 403;
	}
	oc->status = 200;
	if (msgr_request_respond(io, 200, "text/plain", NULL, r->hub_challenge,
	    r->challenge_p.len) != MSGR_OK)
		note_set(oc, "answer not written", NULL, 0);
	return 0;
}

/* ---- POST: events ---- */

/* The intake's store step here: the group commit, so the rows share one transaction with
 * the requests of other threads that arrive meanwhile; or, with rs->send and a pending
 * record, sent to be answered later. */
struct post_store {
	const struct msgr_respond *rs;
	struct msgr_commit_batch b;
	struct msgr_respond_pending *p;      /* NULL: waited for here */
	int called, sent;
};

static msgr_result
commit_rows(void *arg, const struct msgr_intake *rows, size_t *n_new, size_t *n_dup)
{
	struct post_store *ps = arg;

	memset(&ps->b, 0, sizeof(ps->b));
	ps->b.ev = rows->events;
	ps->b.n = rows->n_events;
	ps->b.q = rows->quarantine;
	ps->b.nq = rows->n_quarantine;
	ps->called = 1;
	if (ps->p != NULL && ps->rs->send(ps->rs->send_arg, &ps->b, &ps->p->call) == MSGR_OK) {
		/* The rows are freed when the intake returns: only their counts stay. */
		ps->b.ev = NULL;
		ps->b.q = NULL;
		ps->sent = 1;
		*n_new = *n_dup = 0;
		return MSGR_OK;
	}
	(void)msgr_commit_submit(ps->rs->commit, &ps->b);
	*n_new = ps->b.n_new;
	*n_dup = ps->b.n_dup;
	return ps->b.rc;
}

/* Why a commit failed, for the log line (the answer is 503 and Facebook retries). */
static void
note_commit_failed(struct msgr_respond_outcome *oc, const struct msgr_commit_batch *b)
{
	if (b->unavailable)
		note_set(oc, "store unavailable", NULL, 0);
	else if (b->group == 0)
		snprintf(oc->note, sizeof(oc->note), "store: %s (with the commit ahead)",
		    msgr_strerror(b->rc));
	else
		snprintf(oc->note, sizeof(oc->note), "store: %s", msgr_strerror(b->rc));
}

/* The body, read within max_body: 0 when it is in r->body, else the status to answer. */
static int
read_body(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc)
{
	switch (msgr_request_read_body(r, io, rs->max_body)) {
	case MSGR_OK:
		return 0;
	case MSGR_ERR_TOOBIG:
		note_set(oc, "body over max_body", NULL, 0);
		return 413;
	case MSGR_ERR_NOMEM:
		note_set(oc, "out of memory reading the body", NULL, 0);
		return 503;
	case MSGR_ERR_IO:
		note_set(oc, "body could not be read", NULL, 0);
		return 400;
	default:
		note_set(oc, r->content_length_bad ? "bad CONTENT_LENGTH" :
		    "body shorter than CONTENT_LENGTH", NULL, 0);
		return 400;
	}
}

/* What the intake did, for the log line. */
static void
note_intake(struct msgr_respond_outcome *oc, const struct msgr_intake_result *res)
{
	if (res->kind == MSGR_INTAKE_NOT_WEBHOOK)
		note_set(oc, "body quarantined:", res->why, strlen(res->why));
	else if (res->kind == MSGR_INTAKE_OTHER_OBJECT)
		/* Another product's webhook (instagram, ...) on this callback: not ours. */
		note_set(oc, "dropped object", res->object, strlen(res->object));
	else if (res->quarantined > 0) {
		snprintf(oc->note, sizeof(oc->note), "quarantined: ");
		msgr_log_escape(oc->note + strlen(oc->note), sizeof(oc->note) - strlen(oc->note),
		    res->why, strlen(res->why));
	}
}

/* The outcome of a POST from the intake's result (rc, res) and, when the store step ran,
 * its batch: the status to answer with. */
static int
post_outcome(struct msgr_respond_outcome *oc, msgr_result rc,
    const struct msgr_intake_result *res, const struct msgr_commit_batch *b, int called)
{
	oc->dropped = res->dropped;
	if (called)
		oc->group = b->group;
	if (rc != MSGR_OK) {
		if (res->step == MSGR_INTAKE_PARSE)
			note_set(oc, "parse failed:", msgr_strerror(rc), strlen(msgr_strerror(rc)));
		else if (res->step == MSGR_INTAKE_ROUTE)
			note_set(oc, "out of memory", NULL, 0);
		else
			note_commit_failed(oc, b);
		return 503;
	}
	oc->stored = res->stored;
	oc->dup = res->duplicates;
	oc->quarantined = res->quarantined;
	if (called)
		oc->counts_of_group = !b->counts_exact;
	note_intake(oc, res);
	return 200;
}

/* A signed body through the intake: the status, or -1 when its rows were sent and p holds
 * what the answer needs. */
static int
post_body(const struct msgr_respond *rs, const struct msgr_request *r,
    const struct msgr_connector *conn, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p, unsigned flags)
{
	struct msgr_intake_call call;
	struct msgr_intake_result res;
	struct post_store ps;
	msgr_result rc;

	memset(&ps, 0, sizeof(ps));
	ps.rs = rs;
	ps.p = rs->send != NULL ? p : NULL;
	memset(&call, 0, sizeof(call));
	call.cfg = rs->cfg;
	call.via = conn;
	call.lim = &rs->lim;
	call.flags = flags;
	call.store = commit_rows;
	call.store_arg = &ps;
	rc = msgr_intake_body(&call, r->body.data ? r->body.data : "", r->body.len, &res);
	if (rc == MSGR_OK && ps.sent) {
		p->b = ps.b;
		p->conn = conn;
		p->res = res;
		return -1;
	}
	return post_outcome(oc, rc, &res, &ps.b, ps.called);
}

static int
handle_post(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_connector *conn, const struct msgr_request_io *io,
    struct msgr_respond_outcome *oc, struct msgr_respond_pending *p)
{
	int status;

	if ((status = read_body(rs, r, io, oc)) != 0)
		return status;
	/* Signature first, over the exact bytes received; only then parse: nothing of an
	 * unsigned body reaches the parser. */
	if (msgr_signature_verify(conn->secret, r->body.data ? r->body.data : "", r->body.len,
	    r->has_signature ? r->signature : NULL) != MSGR_OK) {
		note_set(oc, r->has_signature ? "wrong signature" : "missing signature", NULL, 0);
		return 403;
	}
	return post_body(rs, r, conn, oc, p, MSGR_INTAKE_LOG);
}

/* ---- one request ---- */

static const char *
body_for(int status)
{
	switch (status) {
	case 200: return "EVENT_RECEIVED";
	case 400: return "Bad Request\n";
	case 403: return "Forbidden\n";
	case 404: return "Not Found\n";
	case 405: return "Method Not Allowed\n";
	case 413: return "Content Too Large\n";
	case 503: return "Service Unavailable\n";
	}
	return "Internal Server Error\n";
}

msgr_result
msgr_respond_status(const struct msgr_request_io *io, int status)
{
	const char *body = body_for(status), *extra = NULL;

	if (status == 405)
		extra = "Allow: GET, POST\r\n";
	else if (status == 503)
		extra = "Retry-After: 1\r\n";   /* Facebook retries; the store may be back */
	return msgr_request_respond(io, status, "text/plain", extra, body, strlen(body));
}

/* Writes status's answer (unless 0: written already) and reads what a refused request still
 * had to send (bounded), so the web server sees a whole exchange. */
static void
answer(const struct msgr_request *r, const struct msgr_request_io *io,
    struct msgr_respond_outcome *oc, int status)
{
	if (status != 0) {
		oc->status = status;
		if (msgr_respond_status(io, status) != MSGR_OK && oc->note[0] == '\0')
			note_set(oc, "answer not written", NULL, 0);
	}
	if (r->content_length_bad || r->body_left || (r->content_length > 0 &&
	    (unsigned long long)r->body.len < (unsigned long long)r->content_length))
		msgr_request_drain(io, MSGR_MAX_DRAIN_BYTES);
}

int
msgr_respond_begin(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p)
{
	const struct msgr_connector *conn = NULL;
	int status;

	memset(oc, 0, sizeof(*oc));
	msgr_request_reset(r);
	msgr_request_read_head(r, io);
	if (!r->path_bad)
		conn = msgr_config_by_path(rs->cfg, r->path);
	if (conn == NULL) {
		status = 404;
	} else {
		oc->connector = conn->id;
		if (strcmp(r->method, "GET") == 0)
			status = handle_get(r, conn, io, oc);
		else if (strcmp(r->method, "POST") == 0)
			status = handle_post(rs, r, conn, io, oc, p);
		else
			status = 405;
	}
	if (status < 0)
		return 1;
	answer(r, io, oc, status);
	return 0;
}

void
msgr_respond(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc)
{
	(void)msgr_respond_begin(rs, r, io, oc, NULL);
}

void
msgr_respond_end(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p, int lost)
{
	int status;

	oc->connector = p->conn->id;
	if (lost) {
		/* Routing's WARN lines were logged the first time through. */
		status = post_body(rs, r, p->conn, oc, NULL, 0);
	} else {
		if (p->b.rc == MSGR_OK) {
			p->res.stored = p->b.n_new;
			p->res.duplicates = p->b.n_dup;
			p->res.quarantined = p->b.nq;
		}
		status = post_outcome(oc, p->b.rc, &p->res, &p->b, 1);
	}
	answer(r, io, oc, status);
}

void
msgr_respond_log(const struct msgr_respond *rs, const struct msgr_request *r,
    const struct msgr_respond_outcome *oc, const char *id, long ms)
{
	char meth[64], path[256], group[48];

	/* Escaping and redacting cost more than the rest of a 200: skipped when not logged. */
	if (!msgr_log_enabled(MSGR_LOG_INFO))
		return;
	/* With grouped commits (threads, or other processes through the host committer): how
	 * many requests shared the transaction, and whether stored/dup are this request's or
	 * (counts=group) the group's. A request alone in its transaction, in a one-thread
	 * process, keeps the plain line. */
	group[0] = '\0';
	if ((rs->grouped || oc->group > 1) && oc->group > 0)
		snprintf(group, sizeof(group), " group=%zu%s", oc->group,
		    oc->counts_of_group ? " counts=group" : "");
	msgr_log(MSGR_LOG_INFO, "req=%s method=\"%s\" path=\"%s\" connector=%s status=%d "
	    "stored=%zu dup=%zu quarantined=%zu dropped=%zu ms=%ld%s%s%s%s", id,
	    msgr_log_escape(meth, sizeof(meth), r->method, strlen(r->method)),
	    msgr_log_escape(path, sizeof(path), r->path, strlen(r->path)),
	    oc->connector ? oc->connector : "-", oc->status, oc->stored, oc->dup, oc->quarantined,
	    oc->dropped, ms, group, oc->note[0] ? " note=\"" : "", oc->note,
	    oc->note[0] ? "\"" : "");
}
