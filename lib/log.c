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
static char *log_secrets[MSGR_LOG_SECRETS_MAX];
static size_t log_nsecrets;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

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

int
msgr_log_add_secret(const char *secret)
{
	size_t i;

	if (secret == NULL || strlen(secret) < 4)
		return 0;
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], secret) == 0)
			return 0;
	if (log_nsecrets == MSGR_LOG_SECRETS_MAX)
		return -1;
	if ((log_secrets[log_nsecrets] = strdup(secret)) == NULL)
		return -1;
	log_nsecrets++;
	return 0;
}

void
msgr_log_clear_secrets(void)
{
	while (log_nsecrets > 0)
		free(log_secrets[--log_nsecrets]);
}

/* Replaces every registered secret in line (in place, within cap bytes). */
static void
redact(char *line, size_t cap)
{
	static const char mark[] = "[redacted]";
	size_t i, slen, mlen = sizeof(mark) - 1, len;
	char *p;

	for (i = 0; i < log_nsecrets; i++) {
		slen = strlen(log_secrets[i]);
		p = line;
		while ((p = strstr(p, log_secrets[i])) != NULL) {
			len = strlen(line);
			if (len - slen + mlen + 1 > cap) {
				/* no room to grow: blank the secret in place */
				memset(p, '*', slen);
				p += slen;
				continue;
			}
			memmove(p + mlen, p + slen, len - (size_t)(p - line) - slen + 1);
			memcpy(p, mark, mlen);
			p += mlen;
		}
	}
}

void
msgr_log(enum msgr_log_level level, const char *fmt, ...)
{
	char msg[MSGR_LOG_LINE_MAX];
	char line[MSGR_LOG_LINE_MAX + 128];
	char stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t o, i;
	int n;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	redact(msg, sizeof(msg));

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

char *
msgr_log_escape(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	size_t o = 0, i;

	if (dstsz == 0)
		return dst;
	for (i = 0; src != NULL && i < srclen; i++) {
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
			if (o + 4 <= dstsz) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, tl);
		o += tl;
	}
	dst[o < dstsz ? o : dstsz - 1] = '\0';
	return dst;
}
