#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "msgr";
static enum msgr_log_level log_min = MSGR_LOG_INFO;

/* Each registered secret in every form it may take in a text that reaches a log line: as it
 * is, escaped by msgr_log_escape (a quoted log field), escaped as a JSON string and
 * percent-encoded (a URL). A form equal to an earlier one is not kept twice. */
enum { FORM_RAW, FORM_LOG, FORM_JSON, FORM_URL, FORMS };
struct secret {
	char *form[FORMS];
	size_t len[FORMS];
};
static struct secret log_secrets[MSGR_LOG_SECRETS_MAX];
static size_t log_nsecrets;
/* The first two bytes of every form kept, one bit each: a line's bytes are checked against
 * the secrets only where such a pair starts. Without it, a host of 64 connectors spent about
 * 60 us on each line (its every byte against some 200 forms), most of a webhook's time at
 * log_level "info". */
static unsigned char log_pairs[65536 / 8];

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char mark[] = "[redacted]";

void
msgr_log_init(const char *prog, enum msgr_log_level min)
{
	if (prog != NULL) {
		const char *slash = strrchr(prog, '/');
		log_prog = slash ? slash + 1 : prog;
	}
	log_min = min;
}

void
msgr_log_set_level(enum msgr_log_level min)
{
	log_min = min;
}

int
msgr_log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* The two bytes at s[0], s[1] as one number, the index of their bit in log_pairs. */
static unsigned
pair_of(const char *s)
{
	return (unsigned)(unsigned char)s[0] << 8 | (unsigned char)s[1];
}

/* One byte of a form: appended to out (room checked by the caller, who sizes out for the
 * longest expansion, 6 bytes per byte). */
static size_t
put_escaped(char *out, int form, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	switch (form) {
	case FORM_LOG:
		/* exactly msgr_log_escape's rule */
		if (c == '"' || c == '\\') {
			out[0] = '\\';
			out[1] = (char)c;
			return 2;
		}
		if (c < 0x20 || c > 0x7e) {
			out[0] = '\\';
			out[1] = 'x';
			out[2] = hex[c >> 4];
			out[3] = hex[c & 15];
			return 4;
		}
		break;
	case FORM_JSON:
		/* jansson's dumps: '"', '\\' and control bytes escaped, UTF-8 left as it is */
		if (c == '"' || c == '\\') {
			out[0] = '\\';
			out[1] = (char)c;
			return 2;
		}
		if (c < 0x20) {
			memcpy(out, "\\u00", 4);
			out[4] = hex[c >> 4];
			out[5] = hex[c & 15];
			return 6;
		}
		break;
	case FORM_URL:
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')) {
			out[0] = '%';
			out[1] = "0123456789ABCDEF"[c >> 4];
			out[2] = "0123456789ABCDEF"[c & 15];
			return 3;
		}
		break;
	}
	out[0] = (char)c;
	return 1;
}

/* The secret s written in form, malloc'd (its length in *len), or NULL when out of memory. */
static char *
form_of(const char *s, size_t n, int form, size_t *len)
{
	char *out = malloc(n * 6 + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		o += put_escaped(out + o, form, (unsigned char)s[i]);
	out[o] = '\0';
	*len = o;
	return out;
}

static void
secret_free(struct secret *sc)
{
	int f;

	for (f = 0; f < FORMS; f++)
		free(sc->form[f]);
	memset(sc, 0, sizeof(*sc));
}

int
msgr_log_add_secret(const char *secret)
{
	struct secret *sc;
	size_t i, n;
	int f, g, dup;

	if (secret == NULL || (n = strlen(secret)) < 4)
		return 0;
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i].form[FORM_RAW], secret) == 0)
			return 0;
	if (log_nsecrets == MSGR_LOG_SECRETS_MAX)
		return -1;
	sc = &log_secrets[log_nsecrets];
	for (f = 0; f < FORMS; f++) {
		if ((sc->form[f] = form_of(secret, n, f, &sc->len[f])) == NULL) {
			secret_free(sc);
			return -1;
		}
		for (g = 0, dup = 0; g < f && !dup; g++)
			dup = sc->form[g] != NULL && strcmp(sc->form[g], sc->form[f]) == 0;
		if (dup) {
			free(sc->form[f]);
			sc->form[f] = NULL;
			sc->len[f] = 0;
		}
	}
	for (f = 0; f < FORMS; f++) {
		unsigned p;

		if (sc->form[f] == NULL)
			continue;
		p = pair_of(sc->form[f]);   /* every form has 4 bytes or more: n >= 4 */
		log_pairs[p / 8] |= (unsigned char)(1u << (p % 8));
	}
	log_nsecrets++;
	return 0;
}

void
msgr_log_clear_secrets(void)
{
	while (log_nsecrets > 0)
		secret_free(&log_secrets[--log_nsecrets]);
	memset(log_pairs, 0, sizeof(log_pairs));
}

/* How many bytes of a registered secret (in any form) start at src[0..n), or 0. */
static size_t
secret_at(const char *src, size_t n)
{
	size_t i;
	unsigned p;
	int f;

	if (n < 2)
		return 0;
	p = pair_of(src);
	if (!(log_pairs[p / 8] & (1u << (p % 8))))
		return 0;
	for (i = 0; i < log_nsecrets; i++)
		for (f = 0; f < FORMS; f++) {
			const struct secret *sc = &log_secrets[i];

			if (sc->form[f] != NULL && sc->len[f] <= n && sc->form[f][0] == src[0] &&
			    memcmp(src, sc->form[f], sc->len[f]) == 0)
				return sc->len[f];
		}
	return 0;
}

/* Copies src[0..n) into out (cap > 0 bytes, always NUL-terminated) with every registered
 * secret replaced by "[redacted]". Secrets are matched in src, the whole text, before
 * anything is cut: one that straddles the cut is replaced, never shown in part. Returns the
 * bytes written; *used gets how many bytes of src they stand for (less than n when out was
 * too small). */
static size_t
redact_copy(char *out, size_t cap, const char *src, size_t n, size_t *used)
{
	size_t i = 0, o = 0, k, m;

	while (i < n && o + 1 < cap) {
		if (log_nsecrets > 0 && (k = secret_at(src + i, n - i)) > 0) {
			m = sizeof(mark) - 1;
			if (m > cap - 1 - o)
				m = cap - 1 - o;
			memcpy(out + o, mark, m);
			o += m;
			i += k;
			continue;
		}
		out[o++] = src[i++];
	}
	out[o] = '\0';
	if (used != NULL)
		*used = i;
	return o;
}

int
msgr_log_enabled(enum msgr_log_level level)
{
	return level >= log_min;
}

void
msgr_log(enum msgr_log_level level, const char *fmt, ...)
{
	char first[MSGR_LOG_LINE_MAX], msg[MSGR_LOG_LINE_MAX];
	char line[MSGR_LOG_LINE_MAX + 128];
	char stamp[40], *text = first;
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t o, i, len, used;
	int n;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	n = vsnprintf(first, sizeof(first), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* Redaction runs on the whole text before it is cut to a line: a secret the cut would
	 * halve is replaced whole, never shown in part. */
	if ((size_t)n >= sizeof(first)) {
		if ((text = malloc((size_t)n + 1)) == NULL) {
			snprintf(first, sizeof(first), "(a log line of %d bytes dropped: out of memory)",
			    n);
			text = first;
			n = (int)strlen(first);
		} else {
			va_start(ap, fmt);
			n = vsnprintf(text, (size_t)n + 1, fmt, ap);
			va_end(ap);
			if (n < 0) {
				free(text);
				return;
			}
		}
	}
	len = redact_copy(msg, sizeof(msg), text, (size_t)n, &used);
	if (text != first)
		free(text);
	if (used < (size_t)n) {
		if (len > sizeof(msg) - 4)
			len = sizeof(msg) - 4;
		memcpy(msg + len, "...", 4);
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s[%ld] ", stamp,
	    ts.tv_nsec / 1000000L, level_names[level], log_prog, (long)getpid());
	if (n < 0)
		return;
	o = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	/* One line, always: control bytes become \xNN. */
	for (i = 0; msg[i] != '\0' && o + 5 < sizeof(line); i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c < 0x20 || c == 0x7f) {
			snprintf(line + o, 5, "\\x%02x", c);
			o += 4;
		} else
			line[o++] = (char)c;
	}
	line[o++] = '\n';
	if (write(STDERR_FILENO, line, o) < 0) {
		/* nowhere else to report it */
	}
}

/* msgr_log_escape's escaping of src[0..n) into dst; more: src went on beyond n (say so with
 * "..."). */
static void
escape_into(char *dst, size_t dstsz, const char *src, size_t n, int more)
{
	size_t o = 0, i;
	int cut = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[5];
		size_t tl;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			tl = 2;
		} else if (c < 0x20 || c > 0x7e) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			tl = 4;
		} else {
			tmp[0] = (char)c;
			tl = 1;
		}
		if (o + tl + 4 > dstsz) {
			cut = 1;
			break;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	if ((cut || more) && o + 4 <= dstsz) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o < dstsz ? o : dstsz - 1] = '\0';
}

char *
msgr_log_escape(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	char stack[1024], *buf = stack;
	size_t n, used, cap;

	if (dstsz == 0)
		return dst;
	if (src == NULL)
		srclen = 0;
	if (log_nsecrets == 0 || srclen == 0) {
		escape_into(dst, dstsz, src, srclen, 0);
		return dst;
	}
	/* Secrets are replaced in the raw text first: escaped or cut afterwards, no part of
	 * one can get through. Every byte takes at least one byte of dst, so dstsz bytes of
	 * the redacted text are all that can show. */
	cap = dstsz + 1;
	if (cap > sizeof(stack) && (buf = malloc(cap)) == NULL) {
		escape_into(dst, dstsz, "", 0, 1);
		return dst;
	}
	n = redact_copy(buf, cap, src, srclen, &used);
	escape_into(dst, dstsz, buf, n, used < srclen);
	if (buf != stack)
		free(buf);
	return dst;
}
