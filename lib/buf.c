#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
msgr_buf_init(struct msgr_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static msgr_result
reserve(struct msgr_buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return MSGR_ERR_TOOBIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return MSGR_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return MSGR_ERR_NOMEM;
	b->data = p;
	b->cap = ncap;
	return MSGR_OK;
}

msgr_result
msgr_buf_append(struct msgr_buf *b, const void *p, size_t n)
{
	msgr_result rc;

	if ((rc = reserve(b, n)) != MSGR_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MSGR_OK;
}

msgr_result
msgr_buf_puts(struct msgr_buf *b, const char *s)
{
	return msgr_buf_append(b, s, strlen(s));
}

msgr_result
msgr_buf_printf(struct msgr_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	msgr_result rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MSGR_ERR_INVALID;
	if ((rc = reserve(b, (size_t)n)) != MSGR_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return MSGR_OK;
}

void
msgr_buf_reset(struct msgr_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
msgr_buf_free(struct msgr_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
msgr_buf_steal(struct msgr_buf *b)
{
	char *p = b->data;

	if (p == NULL)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
