/*
 * bench/graph_fast.c — a fake Graph API that answers at once, for latency and drain benchmarks.
 *
 * Build (the repo's warning flags; clean with gcc and clang):
 *   cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
 *      -Wmissing-prototypes -Wvla -Werror -o build/bench/graph_fast bench/graph_fast.c
 *
 * Run:
 *   build/bench/graph_fast PORT PORT_FILE LOG_FILE LIMIT_S
 *
 * Listens on 127.0.0.1:PORT (0: a free port, chosen by the kernel) and writes the port, with a
 * newline, to PORT_FILE once it listens (written aside and renamed: a reader never sees half of
 * it). Serves HTTP/1.1 with keep-alive (HTTP/1.0 and "Connection: close" are closed after the
 * answer), pipelined requests in order, bodies by Content-Length only (libcurl sends its
 * POSTFIELDS so; chunked bodies get 501), and answers every request 200 at once:
 *
 *   POST /me/messages, /{id}/messages, with or without a /vNN.N version prefix: the Send API,
 *       {"recipient_id":"<the body's recipient.id>","message_id":"m_<counter>"}
 *       (no recipient_id when the body has no recipient.id string, as for a user_ref send);
 *   GET /{digits} (a user profile, as bench/graph_stub.py answers it, so the stories bot's
 *       greetings are the same as with the stub): {"id":"<digits>","first_name":"Ann",
 *       "last_name":"Lee"};
 *   anything else: {"success":true}.
 *
 * For each Send API call it appends one line to LOG_FILE (opened O_APPEND, created if need be,
 * one write per line):
 *   <receive time, CLOCK_REALTIME in microseconds since the epoch>\t<recipient id or ->\t<kind>
 * where kind is "message" or "sender_action" (the body has a top-level sender_action), and the
 * receive time is taken when the whole request has been read. A script joins these lines by
 * recipient id with the times it posted the webhooks: webhook -> Send API latency.
 *
 * It checks nothing (no token, no proof: tests/fake_graph.py is the strict one). Bounded: exits
 * 0 after LIMIT_S seconds, or at SIGTERM / SIGINT; at most MAX_CONNS connections at once (more
 * wait in the backlog), 16 KiB of request head and 1 MiB of body per request (else 431 / 413
 * and the connection is closed). Plain POSIX sockets and poll(2), libc only.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_HEAD (16 * 1024)
#define MAX_BODY (1024 * 1024)
#define MAX_ID 64
#define JSON_DEPTH 64

struct conn {
	int fd;
	char *in;        /* what was read and not yet answered */
	size_t in_len, in_cap;
	char *out;       /* answers not yet written */
	size_t out_len, out_off, out_cap;
	int closing;     /* close once out is written */
};

static volatile sig_atomic_t stop_flag;
static unsigned long long message_counter;
static int log_fd = -1;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int64_t
now_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- a minimal JSON walker: enough to find recipient.id and sender_action ---- */

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at '"': returns the byte after the closing quote, or NULL. */
static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p >= end)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

static const char *
skip_value(const char *p, const char *end, int depth)
{
	p = skip_ws(p, end);
	if (p >= end || depth > JSON_DEPTH)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = skip_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (p >= end || *p != '"' || (p = skip_string(p, end)) == NULL)
					return NULL;
				p = skip_ws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p++;
			}
			if ((p = skip_value(p, end, depth + 1)) == NULL)
				return NULL;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	/* a number, true, false or null */
	while (p < end && (strchr("+-.eE", *p) != NULL || (*p >= '0' && *p <= '9') ||
	    (*p >= 'a' && *p <= 'z')))
		p++;
	return p;
}

/* obj at '{': the value of member KEY (compared as written, without escapes), or NULL. */
static const char *
member(const char *obj, const char *end, const char *key)
{
	size_t klen = strlen(key);
	const char *p = skip_ws(obj + 1, end), *k, *v;

	if (p < end && *p == '}')
		return NULL;
	while (p < end && *p == '"') {
		k = p + 1;
		if ((p = skip_string(p, end)) == NULL)
			return NULL;
		int match = (size_t)(p - 1 - k) == klen && memcmp(k, key, klen) == 0;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		v = skip_ws(p + 1, end);
		if (match)
			return v;
		if ((p = skip_value(v, end, 1)) == NULL)
			return NULL;
		p = skip_ws(p, end);
		if (p >= end || *p != ',')
			return NULL;
		p = skip_ws(p + 1, end);
	}
	return NULL;
}

/* Copies body.recipient.id into id (when a string of [0-9A-Za-z_.-], at most MAX_ID). */
static void
recipient_id(const char *body, size_t len, char *id, int *sender_action)
{
	const char *end = body + len, *p = skip_ws(body, end), *r, *v, *q;

	id[0] = '\0';
	*sender_action = 0;
	if (p >= end || *p != '{')
		return;
	*sender_action = member(p, end, "sender_action") != NULL;
	if ((r = member(p, end, "recipient")) == NULL || r >= end || *r != '{')
		return;
	if ((v = member(r, end, "id")) == NULL || v >= end || *v != '"')
		return;
	for (q = v + 1; q < end && *q != '"'; q++) {
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') ||
		    (*q >= 'A' && *q <= 'Z') || *q == '_' || *q == '.' || *q == '-'))
			return;
		if (q - (v + 1) >= MAX_ID)
			return;
	}
	if (q >= end)
		return;
	memcpy(id, v + 1, (size_t)(q - (v + 1)));
	id[q - (v + 1)] = '\0';
}

/* ---- HTTP ---- */

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Path without query and without a leading /vNN.N: is it a Send API call or a profile? */
static void
classify(const char *method, const char *target, size_t tlen, int *send, const char **psid,
    size_t *psid_len)
{
	const char *p = target, *end = target + tlen, *q;
	const char *slash2;

	*send = 0;
	*psid = NULL;
	*psid_len = 0;
	if ((q = memchr(p, '?', tlen)) != NULL)
		end = q;
	/* /v26.0/... */
	if (end - p > 2 && p[0] == '/' && p[1] == 'v' && p[2] >= '0' && p[2] <= '9') {
		q = p + 2;
		while (q < end && ((*q >= '0' && *q <= '9') || *q == '.'))
			q++;
		if (q < end && *q == '/')
			p = q;
	}
	if (p >= end || *p != '/')
		return;
	p++;
	slash2 = memchr(p, '/', (size_t)(end - p));
	if (slash2 == NULL) {
		if (strcmp(method, "GET") == 0 && all_digits(p, (size_t)(end - p))) {
			*psid = p;
			*psid_len = (size_t)(end - p);
		}
		return;
	}
	if (strcmp(method, "POST") == 0 && (size_t)(end - slash2) == strlen("/messages") &&
	    memcmp(slash2, "/messages", strlen("/messages")) == 0 &&
	    (((size_t)(slash2 - p) == 2 && memcmp(p, "me", 2) == 0) ||
		all_digits(p, (size_t)(slash2 - p))))
		*send = 1;
}

static int
out_append(struct conn *c, const char *s, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *o;

		while (cap < c->out_len + n)
			cap *= 2;
		if ((o = realloc(c->out, cap)) == NULL)
			return -1;
		c->out = o;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

static int
respond(struct conn *c, int status, const char *body, int close_after)
{
	char head[256];
	const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" :
	    status == 413 ? "Payload Too Large" : status == 431 ?
	    "Request Header Fields Too Large" : "Not Implemented";
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n%s\r\n", status, reason, strlen(body),
	    close_after ? "Connection: close\r\n" : "");

	if (close_after)
		c->closing = 1;
	if (out_append(c, head, (size_t)n) != 0 || out_append(c, body, strlen(body)) != 0)
		return -1;
	return 0;
}

static void
log_send(const char *id, int sender_action)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "%lld\t%s\t%s\n", (long long)now_us(CLOCK_REALTIME),
	    id[0] ? id : "-", sender_action ? "sender_action" : "message");

	if (log_fd >= 0 && write(log_fd, line, (size_t)n) != n)
		fprintf(stderr, "graph_fast: log: %s\n", strerror(errno));
}

/* Header value of NAME in head (the lines after the request line), or NULL; *len its length. */
static const char *
header(const char *head, const char *head_end, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = memchr(head, '\n', (size_t)(head_end - head)), *eol, *v;

	while (p != NULL && ++p < head_end) {
		if ((eol = memchr(p, '\n', (size_t)(head_end - p))) == NULL)
			eol = head_end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*len = (size_t)(eol - v);
			while (*len > 0 && (v[*len - 1] == '\r' || v[*len - 1] == ' '))
				(*len)--;
			return v;
		}
		p = eol;
	}
	return NULL;
}

/* Answers every complete request in c->in. 0, or -1 to close the connection now. */
static int
serve_requests(struct conn *c)
{
	for (;;) {
		char *hend, method[16], answer[256], id[MAX_ID + 1];
		const char *v, *target, *sp, *psid;
		size_t head_len, vlen, body_len = 0, tlen, psid_len;
		int close_after = 0, send, sender_action;

		if (c->closing)
			return 0;
		hend = NULL;
		if (c->in_len >= 4) {
			char *p = c->in;
			size_t left = c->in_len;

			while ((p = memchr(p, '\r', left)) != NULL) {
				left = c->in_len - (size_t)(p - c->in);
				if (left < 4)
					break;
				if (memcmp(p, "\r\n\r\n", 4) == 0) {
					hend = p;
					break;
				}
				p++;
				left--;
			}
		}
		if (hend == NULL) {
			if (c->in_len > MAX_HEAD)
				return respond(c, 431, "{\"error\":\"head too large\"}", 1);
			return 0;
		}
		head_len = (size_t)(hend - c->in) + 4;
		/* request line: METHOD SP TARGET SP HTTP/1.x */
		sp = memchr(c->in, ' ', head_len);
		if (sp == NULL || (size_t)(sp - c->in) >= sizeof(method))
			return respond(c, 400, "{\"error\":\"bad request line\"}", 1);
		memcpy(method, c->in, (size_t)(sp - c->in));
		method[sp - c->in] = '\0';
		target = sp + 1;
		if ((sp = memchr(target, ' ', (size_t)(hend - target))) == NULL)
			return respond(c, 400, "{\"error\":\"bad request line\"}", 1);
		tlen = (size_t)(sp - target);
		if ((size_t)(hend - sp) >= 9 && memcmp(sp + 1, "HTTP/1.0", 8) == 0)
			close_after = 1;
		if ((v = header(c->in, hend, "Connection", &vlen)) != NULL) {
			if (vlen == 5 && strncasecmp(v, "close", 5) == 0)
				close_after = 1;
			else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)
				close_after = 0;
		}
		if (header(c->in, hend, "Transfer-Encoding", &vlen) != NULL)
			return respond(c, 501, "{\"error\":\"chunked bodies are not read\"}", 1);
		if ((v = header(c->in, hend, "Content-Length", &vlen)) != NULL) {
			char num[24];
			char *e;

			if (vlen == 0 || vlen >= sizeof(num))
				return respond(c, 400, "{\"error\":\"bad content-length\"}", 1);
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			errno = 0;
			unsigned long long cl = strtoull(num, &e, 10);
			if (errno != 0 || *e != '\0' || num[0] < '0' || num[0] > '9')
				return respond(c, 400, "{\"error\":\"bad content-length\"}", 1);
			if (cl > MAX_BODY)
				return respond(c, 413, "{\"error\":\"body too large\"}", 1);
			body_len = (size_t)cl;
		}
		if (c->in_len < head_len + body_len)
			return 0;  /* the rest of the body is still to come */

		classify(method, target, tlen, &send, &psid, &psid_len);
		if (send) {
			recipient_id(c->in + head_len, body_len, id, &sender_action);
			log_send(id, sender_action);
			message_counter++;
			if (id[0])
				snprintf(answer, sizeof(answer),
				    "{\"recipient_id\":\"%s\",\"message_id\":\"m_%llu\"}", id,
				    message_counter);
			else
				snprintf(answer, sizeof(answer), "{\"message_id\":\"m_%llu\"}",
				    message_counter);
		} else if (psid != NULL && psid_len <= MAX_ID) {
			snprintf(answer, sizeof(answer),
			    "{\"id\":\"%.*s\",\"first_name\":\"Ann\",\"last_name\":\"Lee\"}",
			    (int)psid_len, psid);
		} else {
			snprintf(answer, sizeof(answer), "{\"success\":true}");
		}
		if (respond(c, 200, answer, close_after) != 0)
			return -1;
		memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
		c->in_len -= head_len + body_len;
	}
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Reads what is there; 0 to keep the connection, -1 to close it. */
static int
conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
			char *in;

			/* Full: answer what is whole first (the buffer holds one request at most). */
			if (c->in_len > 0) {
				if (serve_requests(c) != 0)
					return -1;
				if (c->closing)
					return 0;
			}
			if (c->in_cap - c->in_len >= 4096)
				continue;
			if (cap > 2 * (MAX_HEAD + MAX_BODY))
				return -1;
			if ((in = realloc(c->in, cap)) == NULL)
				return -1;
			c->in = in;
			c->in_cap = cap;
		}
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;  /* the peer closed: what it sent whole was answered */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return serve_requests(c);
		return -1;
	}
}

/* Writes what is pending; 0 to keep the connection, -1 to close it. */
static int
conn_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return c->closing ? -1 : 0;
}

static int
write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int
main(int argc, char **argv)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS + 1];
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct sigaction sa;
	int lfd, one = 1, i;
	char *e;
	long port, limit;
	int64_t deadline;

	if (argc != 5) {
		fprintf(stderr, "usage: graph_fast PORT PORT_FILE LOG_FILE LIMIT_S\n");
		return 2;
	}
	port = strtol(argv[1], &e, 10);
	if (*e != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "graph_fast: PORT is 0 to 65535\n");
		return 2;
	}
	limit = strtol(argv[4], &e, 10);
	if (*e != '\0' || limit <= 0 || limit > 7 * 24 * 3600) {
		fprintf(stderr, "graph_fast: LIMIT_S is 1 to 604800 seconds\n");
		return 2;
	}
	deadline = now_us(CLOCK_MONOTONIC) + (int64_t)limit * 1000000;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if ((log_fd = open(argv[3], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "graph_fast: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("graph_fast: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 512) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
		perror("graph_fast: bind 127.0.0.1");
		return 1;
	}
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	if (write_port_file(argv[2], ntohs(a.sin_port)) != 0) {
		fprintf(stderr, "graph_fast: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	while (!stop_flag) {
		int64_t left = deadline - now_us(CLOCK_MONOTONIC);
		int n = 0, map[MAX_CONNS], r, k;

		if (left <= 0)
			break;
		for (i = 0; i < MAX_CONNS; i++) {
			if (conns[i].fd < 0)
				continue;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = conns[i].out_len > conns[i].out_off ? POLLOUT : POLLIN;
			pfd[n].revents = 0;
			map[n++] = i;
		}
		/* The listener only while a slot is free: the rest wait in the backlog. */
		pfd[n].fd = n < MAX_CONNS ? lfd : -1;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		r = poll(pfd, (nfds_t)n + 1, left > 1000000 ? 1000 : (int)(left / 1000) + 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("graph_fast: poll");
			return 1;
		}
		for (k = 0; k < n; k++) {
			struct conn *c = &conns[map[k]];
			int rc = 0;

			if (pfd[k].revents == 0)
				continue;
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				rc = conn_read(c);
			if (rc == 0 && c->out_len > c->out_off)
				rc = conn_write(c);
			if (rc != 0 || (c->closing && c->out_len == c->out_off))
				conn_close(c);
		}
		if (pfd[n].revents & POLLIN) {
			for (i = 0; i < MAX_CONNS; i++) {
				int fd;

				if (conns[i].fd >= 0)
					continue;
				if ((fd = accept(lfd, NULL, NULL)) < 0)
					break;
				fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				conns[i].fd = fd;
			}
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	close(lfd);
	close(log_fd);
	return 0;
}
