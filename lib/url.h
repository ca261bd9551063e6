/* url.h — the one check of a URL's form, and a URL made safe to print.
 *
 * Every URL the connector takes (graph.url, bot.url, the simulator's url, menu items, pictures,
 * whitelisted domains, the URLs of a message, `msgrctl subscribe --url`) is checked here, on
 * libcurl's URL parser: the parser that fetches it, so the host checked is the host that will be
 * reached. Each caller says with flags what it accepts (docs/configuration.md, docs/stories.md
 * and docs/sending.md "Limits" give the rule of each) and phrases the fault in its own words
 * from the reason returned. */
#ifndef MSGR_URL_H
#define MSGR_URL_H

#include <stddef.h>

/* What a caller accepts; a URL must pass every flag given. The scheme is one of those allowed
 * by MSGR_URL_HTTPS, MSGR_URL_HTTP and MSGR_URL_HTTP_LOOPBACK, written in lower case unless
 * MSGR_URL_ANY_CASE. Always: at most MSGR_MAX_URL_BYTES bytes, no space or control byte, a
 * host right after "://", and a URL libcurl parses. */
#define MSGR_URL_HTTPS         0x01u /* https:// */
#define MSGR_URL_HTTP          0x02u /* http:// on any host */
#define MSGR_URL_HTTP_LOOPBACK 0x04u /* http:// on 127.0.0.1, localhost or [::1] only */
#define MSGR_URL_LOOPBACK      0x08u /* the host is 127.0.0.1, localhost or [::1], any scheme */
#define MSGR_URL_ANY_CASE      0x10u /* "HTTPS://" too, as Facebook takes it */
#define MSGR_URL_BARE          0x20u /* scheme, host, port (not 0) and path only: no user,
                                        password, query, fragment or zone id, no '?' or '#' */
#define MSGR_URL_PLAIN         0x40u /* printable ASCII without '?', '#', '@' or '\\' */
#define MSGR_URL_FACEBOOK      0x80u /* the host is facebook.com or one of its subdomains */

/* Why a URL was refused, in the order the checks run. */
enum msgr_url_fault {
	MSGR_URL_OK = 0,
	MSGR_URL_ERR_SCHEME,    /* no scheme the flags allow */
	MSGR_URL_ERR_LENGTH,    /* over MSGR_MAX_URL_BYTES */
	MSGR_URL_ERR_CHAR,      /* a space or control byte; under MSGR_URL_PLAIN any byte it refuses */
	MSGR_URL_ERR_NO_HOST,   /* nothing, or '/', '?' or '#', right after "://" */
	MSGR_URL_ERR_PARSE,     /* libcurl's parser refuses it (a bad port, a bad host, ...) */
	MSGR_URL_ERR_HOST,      /* a host the flags refuse (http off loopback, not Facebook's) */
	MSGR_URL_ERR_PART,      /* under MSGR_URL_BARE: a part it refuses, or port 0 */
	MSGR_URL_ERR_NOMEM
};

/* Checks url (NULL is MSGR_URL_ERR_SCHEME) against flags. MSGR_URL_OK or the first reason
 * it fails. */
enum msgr_url_fault msgr_url_check(const char *url, unsigned flags);

/* Writes url into out (outsz bytes, always NUL-terminated, cut when it does not fit) without
 * what may carry a credential: no user:password@, and "?..." in place of a query or fragment;
 * "(not a URL)" when it has no "scheme://". For output a person reads (msgrctl check). */
void msgr_url_redact(const char *url, char *out, size_t outsz);

#endif
