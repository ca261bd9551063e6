/* log.h — leveled one-line logs to stderr (the web server's error log).
 *
 * Each call writes exactly one line with one write(2): timestamp, level, program[pid],
 * message. Control bytes in the final line are written as \xNN, so untrusted text can never
 * start a forged line. Every string registered with msgr_log_add_secret (tokens, app
 * secrets, bot secrets: config does it at load) is replaced by "[redacted]" wherever it
 * appears, as a second line of defence behind "never log a secret": in the whole text before
 * a long line is cut, and in msgr_log_escape's raw input before it is escaped or cut, so
 * neither a cut nor an escape can let part of a secret through; the secret's escaped forms
 * (a quoted log field, a JSON string, a URL) are replaced as well (docs/responder.md "Logs"). */
#ifndef MSGR_LOG_H
#define MSGR_LOG_H

#include <stddef.h>

enum msgr_log_level {
	MSGR_LOG_DEBUG = 0,
	MSGR_LOG_INFO,
	MSGR_LOG_WARN,
	MSGR_LOG_ERROR
};

#define MSGR_LOG_LINE_MAX 4096   /* a longer line is cut and ends with "..." */
#define MSGR_LOG_SECRETS_MAX 256

/* prog is kept by pointer (a string literal or argv[0]). */
void msgr_log_init(const char *prog, enum msgr_log_level min);
/* 1 when a line of this level would be written: lets a caller skip building it. */
int msgr_log_enabled(enum msgr_log_level level);
void msgr_log_set_level(enum msgr_log_level min);
/* Parses "debug", "info", "warn", "error"; returns -1 when s is none of them. */
int msgr_log_level_parse(const char *s);
/* Registers a string never to be written (copied; strings shorter than 4 bytes are ignored:
 * they would redact ordinary words). Returns 0, or -1 when the table is full. */
int msgr_log_add_secret(const char *secret);
void msgr_log_clear_secrets(void);

void msgr_log(enum msgr_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copies untrusted src (srclen bytes) into dst as printable ASCII for a quoted log field:
 * every registered secret replaced by "[redacted]" first, then '"' and '\\' backslash-escaped,
 * other bytes outside 0x20..0x7e as \xNN; cut with "..." when it does not fit. Always
 * NUL-terminates (dstsz > 0). Returns dst. */
char *msgr_log_escape(char *dst, size_t dstsz, const char *src, size_t srclen);

#endif
