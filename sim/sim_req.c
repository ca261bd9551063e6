/* sim_req.c — reads one request into bounded fields and writes its answer. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sim_req.h"

void
sim_req_init(struct sim_req *r)
{
	memset(r, 0, sizeof(*r));
	msgr_request_init(&r->head);
}

void
sim_req_free(struct sim_req *r)
{
	json_decref(r->params);
	msgr_request_free(&r->head);
	memset(r, 0, sizeof(*r));
	msgr_request_init(&r->head);
}

const char *
sim_req_param(const struct sim_req *r, const char *name)
{
	return r->io.param(r->io.ctx, name);
}

const char *
sim_req_query(const struct sim_req *r, const char *name)
{
	return json_string_value(json_object_get(r->params, name));
}

/* Copies s into dst (size dstsz) when it fits whole; 0 when it does not. */
static int
copy_whole(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (n >= dstsz)
		return 0;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 1;
}

/* The full path: SCRIPT_NAME + PATH_INFO when that is under /_sim/, else REQUEST_URI up to
 * its '?'. lighttpd gives a prefix-mounted program the prefix as SCRIPT_NAME; other servers
 * put everything in one or the other. */
static void
read_path(struct sim_req *r)
{
	const char *sn = sim_req_param(r, "SCRIPT_NAME"), *pi = sim_req_param(r, "PATH_INFO");
	const char *uri = sim_req_param(r, "REQUEST_URI");
	size_t a = sn ? strlen(sn) : 0, b = pi ? strlen(pi) : 0;

	if (a + b <= SIM_PATH_MAX) {
		memcpy(r->path, sn ? sn : "", a);
		memcpy(r->path + a, pi ? pi : "", b);
		r->path[a + b] = '\0';
		if (strncmp(r->path, "/_sim/", 6) == 0)
			return;
	}
	r->path[0] = '\0';
	if (uri == NULL || !copy_whole(r->path, sizeof(r->path), uri, strcspn(uri, "?"))) {
		r->path_bad = 1;
		r->path[0] = '\0';
	}
}

void
sim_req_begin(struct sim_req *r, FCGX_Request *fr)
{
	struct msgr_request head = r->head;
	const char *q;

	json_decref(r->params);
	memset(r, 0, sizeof(*r));
	r->head = head;
	msgr_request_reset(&r->head);
	r->fr = fr;
	r->io = msgr_fcgi_io(fr);
	msgr_request_read_head(&r->head, &r->io);
	read_path(r);
	q = sim_req_param(r, "QUERY_STRING");
	if (q != NULL && !copy_whole(r->query, sizeof(r->query), q, strlen(q))) {
		r->query_bad = 1;
		r->query[0] = '\0';
	}
	r->params = sim_form_decode(r->query, strlen(r->query), 0);
}

/* ---- addresses ---- */

static int
is_loopback(const char *a)
{
	if (strncmp(a, "::ffff:", 7) == 0)
		a += 7;
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0;
}

int
sim_req_loopback(const struct sim_req *r)
{
	const char *srv = sim_req_param(r, "SERVER_ADDR"), *rem = sim_req_param(r, "REMOTE_ADDR");

	if (srv == NULL && rem == NULL)
		return 0;
	return (srv == NULL || is_loopback(srv)) && (rem == NULL || is_loopback(rem));
}

/* ---- the body ---- */

msgr_result
sim_req_read_body(struct sim_req *r, size_t max)
{
	msgr_result rc = msgr_request_read_body(&r->head, &r->io, max);

	/* An empty body still reads as "" (data is never NULL for the handlers). */
	return rc == MSGR_OK ? msgr_buf_append(&r->head.body, "", 0) : rc;
}

/* ---- form decoding ---- */

/* Decodes s[0..n) ('+' is a space, %XX a byte) into a new NUL-terminated string; NULL when
 * out of memory or when a decoded byte is NUL (such a value is never meant). */
static char *
pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], '\0' };

			c = (int)strtol(hex, NULL, 16);
			i += 2;
		}
		if (c == 0) {
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

json_t *
sim_form_decode(const char *s, size_t len, int json_values)
{
	json_t *obj = json_object();
	size_t i = 0;

	if (obj == NULL)
		return NULL;
	while (i < len) {
		size_t end = i, eq;
		char *name = NULL, *val = NULL;
		json_t *v = NULL;

		while (end < len && s[end] != '&')
			end++;
		for (eq = i; eq < end && s[eq] != '='; eq++)
			;
		if (eq > i) {
			name = pct_decode(s + i, eq - i);
			val = pct_decode(s + eq + (eq < end), end - eq - (eq < end));
		}
		if (name != NULL && val != NULL && json_object_get(obj, name) == NULL) {
			if (json_values && (val[0] == '{' || val[0] == '['))
				v = json_loads(val, JSON_REJECT_DUPLICATES, NULL);
			if (v == NULL)
				v = json_string(val);   /* NULL for invalid UTF-8: left out */
			if (v != NULL)
				json_object_set_new(obj, name, v);
		}
		free(name);
		free(val);
		i = end + 1;
	}
	return obj;
}

/* ---- answers ---- */

msgr_result
sim_req_respond(struct sim_req *r, int status, const char *content_type,
    const char *extra_headers, const char *body, size_t len)
{
	r->status = status;
	return msgr_request_respond(&r->io, status, content_type, extra_headers, body, len);
}

msgr_result
sim_req_json(struct sim_req *r, int status, const json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	msgr_result rc;

	if (text == NULL) {
		snprintf(r->note, sizeof(r->note), "out of memory writing the answer");
		return sim_req_respond(r, 500, "text/plain", NULL, "out of memory\n", 14);
	}
	rc = sim_req_respond(r, status, "application/json", NULL, text, strlen(text));
	free(text);
	return rc;
}

msgr_result
sim_req_error(struct sim_req *r, int status, const char *text)
{
	json_t *j = json_pack("{s:s}", "error", text);
	msgr_result rc;

	snprintf(r->note, sizeof(r->note), "%s", text);
	if (j == NULL)
		return sim_req_respond(r, 500, "text/plain", NULL, "out of memory\n", 14);
	rc = sim_req_json(r, status, j);
	json_decref(j);
	return rc;
}

void
sim_req_hold(struct sim_req *r, long max_ms, int (*stopping)(void))
{
	long long until = msgr_clock_mono_ms() + max_ms;
	struct pollfd p;

	/* The web server writes nothing more on this connection once the request is whole; it
	 * becomes readable (an abort record) or closes when the client went away. */
	p.fd = r->fr->ipcFd;
	p.events = POLLIN;
	while (p.fd >= 0 && !stopping()) {
		long long left = until - msgr_clock_mono_ms();
		int n;

		if (left <= 0)
			return;
		p.revents = 0;
		n = poll(&p, 1, left > 500 ? 500 : (int)left);
		if (n < 0 && errno != EINTR)
			return;
		if (n > 0)
			return;
	}
}
