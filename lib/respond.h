/* respond.h — one webhook request: read with bounds, routed by path, verified, handled and
 * answered (docs/responder.md "Paths", "Answers", "Logs").
 *
 * GET is the subscription check (hub.verify_token, compared in constant time, the challenge
 * echoed back); POST is checked against X-Hub-Signature-256 over the exact raw bytes and only
 * then handed to the intake pipeline (intake.h), whose rows go through the group commit
 * (commit.h): 200 is written only once they are stored. Nothing a request carries can end the
 * process: every fault is answered and described for the log line.
 *
 * With a send step (msgr_respond.send: the host committer's), a POST's rows are sent and its
 * answer left for another thread to write once the commit's answer is in
 * (msgr_respond_begin, msgr_respond_end): the request thread serves the next meanwhile.
 *
 * The transport (libfcgi or CGI's stdio) is the caller's, behind struct msgr_request_io, so
 * this module serves either and is tested with a fake one; so is the process model (accept
 * loops, threads, signals). */
#ifndef MSGR_RESPOND_H
#define MSGR_RESPOND_H

#include <stddef.h>

#include "commit.h"
#include "config.h"
#include "intake.h"
#include "request.h"
#include "result.h"
#include "webhook.h"

/* Where a POST's rows go when its answer is written later, by another thread (docs/
 * responder.md "Answers from another thread"): sends b's rows (borrowed until it returns) and
 * returns MSGR_OK with *call set, the answer then awaited by the caller of
 * msgr_respond_begin; any other result stores the rows through the commit, waited for. */
typedef msgr_result (*msgr_respond_send_fn)(void *arg, const struct msgr_commit_batch *b,
    void **call);

/* What every request needs; read-only while requests are served (shared by threads). */
struct msgr_respond {
	const struct msgr_config *cfg;
	struct msgr_commit *commit;          /* where POSTed events are stored */
	msgr_respond_send_fn send;           /* NULL: every answer is written by msgr_respond* */
	void *send_arg;
	struct msgr_webhook_limits lim;      /* msgr_webhook_limits_default */
	size_t max_body;                     /* the config's, or MSGR_MAX_BODY_DEFAULT */
	int grouped;                         /* several request threads share the commit: the
	                                        log line says how many requests shared one */
};

/* One request's outcome, for its log line. */
struct msgr_respond_outcome {
	int status;                    /* the answer sent */
	const char *connector;         /* the path's connector id, or NULL */
	size_t stored, dup, quarantined, dropped;
	size_t group;                  /* requests whose events shared the transaction */
	int counts_of_group;           /* stored/dup are the group's (commit.h says when) */
	char note[160];                /* why, for anything but a plain success; already escaped */
};

/* Fills rs for cfg and the commit queue (lim, max_body from the config). */
void msgr_respond_init(struct msgr_respond *rs, const struct msgr_config *cfg,
    struct msgr_commit *commit, int grouped);

/* Reads one request from io into r (reset first; its body buffer is reused), handles it,
 * writes the answer on io and fills *oc. What a refused request still had to send is read
 * and dropped (at most MSGR_MAX_DRAIN_BYTES) so the web server sees a whole exchange. */
void msgr_respond(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc);

/* A POST whose rows went to rs->send, unanswered: what its answer needs. */
struct msgr_respond_pending {
	void *call;                          /* rs->send's */
	struct msgr_commit_batch b;          /* the caller puts the commit's answer in its out
	                                        fields (commit.h); no rows (they were sent) */
	const struct msgr_connector *conn;
	struct msgr_intake_result res;       /* the intake's, but for the store's counts */
};

/* msgr_respond, but a POST whose rows rs->send took is left unanswered: 1, and p says what
 * msgr_respond_end needs once the commit's answer is in p->b. 0: answered as msgr_respond. */
int msgr_respond_begin(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p);
/* Writes the answer of a request msgr_respond_begin left, from p->b, and completes *oc (for
 * the log line). lost: the rows' fate is unknown (the connection to the committer broke):
 * the body, still in r, goes through the intake again and the commit, waited for (what the
 * committer did store is found again by key). Any thread, once begin has returned. */
void msgr_respond_end(const struct msgr_respond *rs, struct msgr_request *r,
    const struct msgr_request_io *io, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p, int lost);

/* Writes the answer of a status with no content of its own: its short text body, and
 * `Allow` for 405, `Retry-After` for 503. MSGR_OK or MSGR_ERR_IO. */
msgr_result msgr_respond_status(const struct msgr_request_io *io, int status);

/* Logs the request's one INFO line: id, method and path (escaped), connector, status, the
 * counts, ms, and with grouped commits the group ("group=K", "counts=group"). Never the query
 * (it holds the verify token) nor the signature. */
void msgr_respond_log(const struct msgr_respond *rs, const struct msgr_request *r,
    const struct msgr_respond_outcome *oc, const char *id, long ms);

#endif
