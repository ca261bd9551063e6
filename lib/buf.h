/* buf.h — a growing byte buffer with a hard maximum (after curl's dynbuf).
 *
 * Every buffer that grows from outside input (a request body, a Graph API or bot reply, a
 * JSON document being built) is a msgr_buf with a max: an append past it fails with
 * MSGR_ERR_TOOBIG and leaves the buffer as it was. data is always NUL-terminated (when
 * non-NULL) so text can be used directly; len does not count the NUL. */
#ifndef MSGR_BUF_H
#define MSGR_BUF_H

#include <stddef.h>
#include "result.h"

struct msgr_buf {
	char  *data;
	size_t len;
	size_t cap;
	size_t max;   /* most bytes len may reach */
};

void msgr_buf_init(struct msgr_buf *b, size_t max);
/* MSGR_OK, MSGR_ERR_TOOBIG, MSGR_ERR_NOMEM */
msgr_result msgr_buf_append(struct msgr_buf *b, const void *p, size_t n);
msgr_result msgr_buf_puts(struct msgr_buf *b, const char *s);
msgr_result msgr_buf_printf(struct msgr_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Keeps the memory for reuse (per-request buffers in a long-lived process). */
void msgr_buf_reset(struct msgr_buf *b);
void msgr_buf_free(struct msgr_buf *b);
/* Hands the data to the caller (free() it); the buffer is left empty. */
char *msgr_buf_steal(struct msgr_buf *b);

#endif
