#include <stdarg.h>
#include <stdio.h>

#include "result.h"

const char *
msgr_strerror(msgr_result rc)
{
	switch (rc) {
	case MSGR_OK: return "ok";
	case MSGR_ERR_NOMEM: return "out of memory";
	case MSGR_ERR_INVALID: return "invalid value";
	case MSGR_ERR_TOOBIG: return "over a size bound";
	case MSGR_ERR_PARSE: return "malformed input";
	case MSGR_ERR_SIGNATURE: return "bad signature";
	case MSGR_ERR_NOTFOUND: return "not found";
	case MSGR_ERR_DUPLICATE: return "duplicate";
	case MSGR_ERR_BUSY: return "store busy";
	case MSGR_ERR_STORE: return "store failure";
	case MSGR_ERR_IO: return "I/O error";
	case MSGR_ERR_CONFIG: return "configuration error";
	case MSGR_ERR_LIMIT: return "platform limit";
	case MSGR_ERR_TRANSIENT: return "transient failure";
	case MSGR_ERR_PERMANENT: return "permanent failure";
	case MSGR_ERR_PAUSE_CONNECTOR: return "connector paused";
	case MSGR_ERR_PAUSE_PAGE: return "page paused";
	case MSGR_ERR_EMPTY: return "nothing to do";
	}
	return "unknown error";
}

void
msgr_why(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}
