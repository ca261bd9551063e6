/* fuzz_query — libFuzzer target for the responder's request head reader (lib/request.c):
 * the query-string parser (msgr_request_parse_query: hub.mode, hub.verify_token,
 * hub.challenge) and the rest of msgr_request_read_head (REQUEST_URI fallback path,
 * CONTENT_LENGTH, the signature header, the method), linked from libmsgr like every target.
 *
 * Input: the query string up to the first NUL byte; the bytes after it, split at further
 * NULs, are REQUEST_URI, SCRIPT_NAME, CONTENT_LENGTH, X-Hub-Signature-256 and
 * REQUEST_METHOD (absent when the input ends before them). Invariants:
 *   - msgr_request_parse_query agrees with a plain reference decoder written here: for each
 *     hub.* key, present when the key occurs (after %-decoding, '+' as space), bad when it
 *     occurs twice or its value decodes to a NUL or does not fit; otherwise the value and its
 *     length are exactly the decoded bytes;
 *   - read_head flags an over-long query instead of parsing it, never lets a field run past
 *     its buffer, and CONTENT_LENGTH is a count (>= 0) only for digits-only text;
 *   - reset clears everything for the next request (per-request state).
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_query: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* ---- the reference decoder: simple and slow, on purpose ---------------------------- */

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..n) into out (room for n bytes); returns the length. A '%' without two hex
 * digits after it stays as it is. */
static size_t
decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hex((unsigned char)s[i + 1]) >= 0 &&
		    hex((unsigned char)s[i + 2]) >= 0) {
			out[o++] = (char)(hex((unsigned char)s[i + 1]) * 16 +
			    hex((unsigned char)s[i + 2]));
			i += 2;
		} else
			out[o++] = s[i] == '+' ? ' ' : s[i];
	}
	return o;
}

struct expect {
	int count;
	int bad;
	size_t len;
	char *val;   /* the first occurrence's decoded value */
};

/* What the parser should find for key in qs. */
static void
expect_param(const char *qs, const char *key, size_t max, struct expect *e)
{
	const char *p = qs, *amp, *eq;
	size_t klen, plen, kl = strlen(key);
	char *kbuf, *vbuf;

	memset(e, 0, sizeof(*e));
	kbuf = malloc(strlen(qs) + 1);
	vbuf = malloc(strlen(qs) + 1);
	CHECK(kbuf != NULL && vbuf != NULL);
	while (*p != '\0') {
		amp = strchr(p, '&');
		plen = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', plen);
		klen = eq ? (size_t)(eq - p) : plen;
		if (decode(p, klen, kbuf) == kl && memcmp(kbuf, key, kl) == 0) {
			size_t vl = eq ? decode(eq + 1, plen - klen - 1, vbuf) : 0;

			if (++e->count == 1) {
				if (vl > max || memchr(vbuf, '\0', vl) != NULL)
					e->bad = 1;
				else {
					e->len = vl;
					e->val = malloc(vl + 1);
					CHECK(e->val != NULL);
					memcpy(e->val, vbuf, vl);
					e->val[vl] = '\0';
				}
			} else
				e->bad = 1;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	free(kbuf);
	free(vbuf);
}

static void
check_param(const char *qs, const char *key, const struct msgr_request_param *got,
    const char *val, size_t max)
{
	struct expect e;

	expect_param(qs, key, max, &e);
	CHECK(got->present == (e.count > 0));
	CHECK(got->bad == e.bad);
	CHECK(strlen(val) <= max);
	if (e.count > 0 && !e.bad) {
		CHECK(got->len == e.len);
		CHECK(strlen(val) == e.len);
		CHECK(memcmp(val, e.val, e.len) == 0);
	}
	if (e.count == 0)
		CHECK(val[0] == '\0' && got->len == 0);
	free(e.val);
}

static void
check_query(const struct msgr_request *r, const char *qs)
{
	check_param(qs, "hub.mode", &r->mode_p, r->hub_mode, MSGR_REQUEST_MODE_MAX);
	check_param(qs, "hub.verify_token", &r->token_p, r->hub_verify_token,
	    MSGR_MAX_QUERY_BYTES);
	check_param(qs, "hub.challenge", &r->challenge_p, r->hub_challenge,
	    MSGR_MAX_CHALLENGE_BYTES);
}

/* ---- a fake server for read_head ---------------------------------------------------- */

enum { F_QUERY, F_URI, F_SCRIPT, F_LENGTH, F_SIG, F_METHOD, F_COUNT };

struct fake {
	const char *f[F_COUNT];   /* NULL: the server passes no such parameter */
};

static const char *
fake_param(void *ctx, const char *name)
{
	const struct fake *fk = ctx;

	if (strcmp(name, "QUERY_STRING") == 0)
		return fk->f[F_QUERY];
	if (strcmp(name, "REQUEST_URI") == 0)
		return fk->f[F_URI];
	if (strcmp(name, "SCRIPT_NAME") == 0)
		return fk->f[F_SCRIPT];
	if (strcmp(name, "CONTENT_LENGTH") == 0)
		return fk->f[F_LENGTH];
	if (strcmp(name, "HTTP_X_HUB_SIGNATURE_256") == 0)
		return fk->f[F_SIG];
	if (strcmp(name, "REQUEST_METHOD") == 0)
		return fk->f[F_METHOD];
	return NULL;   /* PATH_INFO: never, so the REQUEST_URI fallback runs */
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
check_head(struct msgr_request *r, const struct fake *fk)
{
	const char *cl = fk->f[F_LENGTH], *m = fk->f[F_METHOD];
	size_t i;

	CHECK(memchr(r->method, '\0', sizeof(r->method)) != NULL);
	CHECK(memchr(r->path, '\0', sizeof(r->path)) != NULL);
	CHECK(memchr(r->signature, '\0', sizeof(r->signature)) != NULL);
	if (r->path_bad)
		CHECK(r->path[0] == '\0');
	if (fk->f[F_URI] == NULL)
		CHECK(r->path[0] == '\0' && !r->path_bad);
	if (m == NULL)
		CHECK(r->method[0] == '\0');
	else if (strlen(m) <= MSGR_REQUEST_METHOD_MAX)
		CHECK(strcmp(r->method, m) == 0);
	else
		CHECK(strcmp(r->method, "?") == 0);
	CHECK(r->has_signature == (fk->f[F_SIG] != NULL &&
	    strlen(fk->f[F_SIG]) <= MSGR_REQUEST_SIGNATURE_MAX));
	if (fk->f[F_QUERY] != NULL && strlen(fk->f[F_QUERY]) > MSGR_MAX_QUERY_BYTES)
		CHECK(r->query_toobig && !r->mode_p.present && !r->token_p.present &&
		    !r->challenge_p.present);
	else if (fk->f[F_QUERY] != NULL)
		check_query(r, fk->f[F_QUERY]);
	if (cl == NULL || *cl == '\0')
		CHECK(r->content_length == -1 && !r->content_length_bad);
	else if (all_digits(cl))
		CHECK(r->content_length >= 0 && !r->content_length_bad);
	else
		CHECK(r->content_length_bad);

	/* the next request starts from nothing */
	msgr_request_reset(r);
	CHECK(r->method[0] == '\0' && r->path[0] == '\0' && !r->path_bad);
	CHECK(!r->mode_p.present && !r->token_p.present && !r->challenge_p.present);
	CHECK(r->hub_verify_token[0] == '\0' && !r->has_signature && r->content_length == -1);
	for (i = 0; i < sizeof(r->hub_challenge); i++)
		CHECK(r->hub_challenge[i] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr_request_io io;
	struct msgr_request *r;
	struct fake fk;
	char *copy;
	size_t i, start, k;

	/* struct msgr_request is ~6 KiB; the heap lets ASan see past its end */
	r = malloc(sizeof(*r));
	copy = malloc(size + 1);
	if (r == NULL || copy == NULL)
		goto out;
	memcpy(copy, data, size);
	copy[size] = '\0';

	/* the query string alone, whatever its length */
	msgr_request_init(r);
	msgr_request_parse_query(r, copy);
	check_query(r, copy);
	msgr_request_free(r);

	/* the whole head through read_head */
	memset(&fk, 0, sizeof(fk));
	for (i = 0, start = 0, k = 0; k < F_COUNT && start <= size; i++) {
		if (i == size || copy[i] == '\0') {
			fk.f[k++] = copy + start;
			start = i + 1;
		}
		if (i == size)
			break;
	}
	/* Designated: every op not named (an op added to the struct later too) is NULL. */
	io = (struct msgr_request_io){ .ctx = &fk, .param = fake_param };
	msgr_request_init(r);
	msgr_request_read_head(r, &io);
	check_head(r, &fk);
	msgr_request_free(r);
out:
	free(r);
	free(copy);
	return 0;
}
