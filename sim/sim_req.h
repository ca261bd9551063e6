/* sim_req.h — one FastCGI request of the simulator: read bounded, answered once.
 *
 * lighttpd hands the simulator every request under /_sim/ (docs/simulator.md). The full path
 * is SCRIPT_NAME + PATH_INFO, or REQUEST_URI without its query when those do not start with
 * /_sim/ (servers split the path differently); the query is QUERY_STRING. Everything read
 * from the wire is bounded before a handler sees it: the path and the query here, the method,
 * CONTENT_LENGTH and the body by the responder's reader (lib/request.h, over lib/fcgi_io.h),
 * which also writes the answers. A struct sim_req lives as long as its thread; sim_req_begin
 * clears it for the next request and keeps the body's memory. */
#ifndef SIM_REQ_H
#define SIM_REQ_H

#include <stddef.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "fcgi_io.h"
#include "request.h"
#include "result.h"

#define SIM_PATH_MAX   1024              /* bytes of the path */
#define SIM_QUERY_MAX  8192              /* bytes of the query string */
#define SIM_API_BODY_MAX   (1024 * 1024) /* the page's JSON API */
#define SIM_GRAPH_BODY_MAX (4 * 1024 * 1024) /* a Graph API call */
#define SIM_JSON_DEPTH 64                /* nesting of a JSON body */

struct sim_req {
	FCGX_Request *fr;
	struct msgr_request_io io;     /* fr's streams */
	struct msgr_request head;      /* method, CONTENT_LENGTH, and the raw body once read */
	char path[SIM_PATH_MAX + 1];   /* "/_sim/...", no query; "" when path_bad */
	int path_bad;                  /* too long or absent */
	char query[SIM_QUERY_MAX + 1];
	int query_bad;                 /* over SIM_QUERY_MAX: treated as empty */
	json_t *params;                /* the query decoded: name -> string (first wins) */
	int status;                    /* the status answered, 0 before (for the log line) */
	char note[160];                /* why, for the log line; never a secret */
};

void sim_req_init(struct sim_req *r);
void sim_req_free(struct sim_req *r);
/* Clears r and reads the head of the request fr has accepted. Never fails: what is out of
 * bounds is flagged. */
void sim_req_begin(struct sim_req *r, FCGX_Request *fr);

/* A CGI parameter (HTTP_X_..., CONTENT_TYPE, ...), or NULL. */
const char *sim_req_param(const struct sim_req *r, const char *name);
/* A decoded query parameter, or NULL when absent. */
const char *sim_req_query(const struct sim_req *r, const char *name);

/* 1 when the request reached the web server on a loopback address: SERVER_ADDR, and
 * REMOTE_ADDR when given, are 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z). 0 when either is
 * something else or both are missing. */
int sim_req_loopback(const struct sim_req *r);

/* Reads the body into r->head.body, at most max bytes (msgr_request_read_body).
 * MSGR_OK; MSGR_ERR_TOOBIG (over max: answer 413); MSGR_ERR_INVALID (a bad CONTENT_LENGTH or
 * a body shorter than it); MSGR_ERR_IO; MSGR_ERR_NOMEM. */
msgr_result sim_req_read_body(struct sim_req *r, size_t max);

/* Decodes an application/x-www-form-urlencoded text (a query or a form body) into a new
 * object name -> string; json_values: values that start with '{' or '[' and parse as JSON
 * are kept as JSON (Facebook takes form bodies written so). The first of a repeated name
 * wins; a name or value with a NUL byte or invalid UTF-8 is left out. NULL when out of
 * memory. */
json_t *sim_form_decode(const char *s, size_t len, int json_values);

/* Writes a whole answer (msgr_request_respond) and records status in r for the log line.
 * MSGR_OK; MSGR_ERR_IO. */
msgr_result sim_req_respond(struct sim_req *r, int status, const char *content_type,
    const char *extra_headers, const char *body, size_t len);
/* The JSON value j (borrowed), compact, as application/json. */
msgr_result sim_req_json(struct sim_req *r, int status, const json_t *j);
/* {"error": text} as application/json, and text as the log line's note. */
msgr_result sim_req_error(struct sim_req *r, int status, const char *text);

/* Holds the answer back until the web server drops the request (the connection becomes
 * readable or closes), max_ms pass or stopping() says so. Used by the "hang" failure: it
 * only ever holds the calling thread. lighttpd keeps the connection while its client is
 * gone, so max_ms is what usually ends it. */
void sim_req_hold(struct sim_req *r, long max_ms, int (*stopping)(void));

#endif
