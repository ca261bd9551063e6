/* result.h — the one result type every libmsgr function returns.
 *
 * A function's header comment lists the values it can return; MSGR_OK is always 0 so
 * `if (rc != MSGR_OK) goto out;` reads the same everywhere. */
#ifndef MSGR_RESULT_H
#define MSGR_RESULT_H

#include <stddef.h>

typedef enum msgr_result {
	MSGR_OK = 0,
	MSGR_ERR_NOMEM,           /* an allocation failed */
	MSGR_ERR_INVALID,         /* a bad argument or a malformed value */
	MSGR_ERR_TOOBIG,          /* a named bound was exceeded */
	MSGR_ERR_PARSE,           /* not JSON, or not the expected shape */
	MSGR_ERR_SIGNATURE,       /* signature or verify token missing or wrong */
	MSGR_ERR_NOTFOUND,        /* no such connector, row, key */
	MSGR_ERR_DUPLICATE,       /* already there (dedup) */
	MSGR_ERR_BUSY,            /* the store stayed locked past its busy timeout */
	MSGR_ERR_STORE,           /* the store failed: I/O, read-only, full, corrupt */
	MSGR_ERR_IO,              /* a file or socket failed */
	MSGR_ERR_CONFIG,          /* the configuration is wrong */
	MSGR_ERR_LIMIT,           /* a Messenger platform limit would be broken */
	MSGR_ERR_TRANSIENT,       /* the Graph API or a bot failed in a way a retry can cure */
	MSGR_ERR_PERMANENT,       /* the Graph API refused for good */
	MSGR_ERR_PAUSE_CONNECTOR, /* token missing or invalid (104, 190): stop the connector */
	MSGR_ERR_PAUSE_PAGE,      /* page restricted (10/1893063): stop the page */
	MSGR_ERR_EMPTY            /* nothing to do (no due work) */
} msgr_result;

/* A short constant English phrase for rc; never NULL. */
const char *msgr_strerror(msgr_result rc);

/* Writes the reason of a refusal into why[whysz] (printf-style, cut to fit); does nothing when
 * why is NULL or whysz 0. Every module that says why something was refused uses it. */
void msgr_why(char *why, size_t whysz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
