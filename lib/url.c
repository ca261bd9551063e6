/* url.c — the one URL check (lib/url.h), on libcurl's URL API.
 *
 * The text is looked at first, for what libcurl would forgive: it takes "HTTP://x", "http:/x"
 * and "http:///x", and a scheme in any case, where a config or a message means a URL as
 * written. libcurl's parser then says where the URL really goes: its host is the one compared,
 * so "http://127.0.0.1\@example.org" is example.org and "http://0x7f.1" is 127.0.0.1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "limits.h"
#include "url.h"

/* Length of the scheme's "name://" at the start of url that flags allow, or 0. */
static size_t
scheme_len(const char *url, unsigned flags)
{
	int (*cmp)(const char *, const char *, size_t) =
	    (flags & MSGR_URL_ANY_CASE) ? strncasecmp : strncmp;

	if ((flags & MSGR_URL_HTTPS) && cmp(url, "https://", 8) == 0)
		return 8;
	if ((flags & (MSGR_URL_HTTP | MSGR_URL_HTTP_LOOPBACK)) && cmp(url, "http://", 7) == 0)
		return 7;
	return 0;
}

/* The byte checks of the text: a space or a control byte is never part of a URL; under
 * MSGR_URL_PLAIN neither is what would hide a query, a fragment or a credential. */
static enum msgr_url_fault
check_bytes(const char *url, unsigned flags)
{
	const unsigned char *p;

	if (strlen(url) > MSGR_MAX_URL_BYTES)
		return MSGR_URL_ERR_LENGTH;
	for (p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return MSGR_URL_ERR_CHAR;
		if ((flags & MSGR_URL_PLAIN) && (*p >= 0x80 || strchr("?#@\\", *p) != NULL))
			return MSGR_URL_ERR_CHAR;
	}
	return MSGR_URL_OK;
}

static int
is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcasecmp(host, "localhost") == 0 ||
	    strcmp(host, "[::1]") == 0;
}

/* facebook.com or a subdomain of it (the media template's rule, docs/sending.md). */
static int
is_facebook(const char *host)
{
	size_t n = strlen(host);

	return strcasecmp(host, "facebook.com") == 0 ||
	    (n > 13 && strcasecmp(host + n - 13, ".facebook.com") == 0);
}

/* 1 when part is present in u, 0 when not, -1 out of memory. */
static int
has_part(CURLU *u, CURLUPart what)
{
	char *part = NULL;
	CURLUcode uc = curl_url_get(u, what, &part, 0);

	curl_free(part);
	if (uc == CURLUE_OUT_OF_MEMORY)
		return -1;
	return uc == CURLUE_OK;
}

/* The checks of the parsed URL: scheme and host as libcurl sees them, then the parts. */
static enum msgr_url_fault
check_parsed(CURLU *u, unsigned flags)
{
	static const CURLUPart absent[] = { CURLUPART_USER, CURLUPART_PASSWORD,
		CURLUPART_OPTIONS, CURLUPART_QUERY, CURLUPART_FRAGMENT, CURLUPART_ZONEID };
	enum msgr_url_fault f = MSGR_URL_ERR_NOMEM;
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLUcode uc;
	size_t i;
	int loop, r;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if ((uc = curl_url_get(u, CURLUPART_HOST, &host, 0)) != CURLUE_OK) {
		f = uc == CURLUE_OUT_OF_MEMORY ? MSGR_URL_ERR_NOMEM : MSGR_URL_ERR_NO_HOST;
		goto out;
	}
	loop = is_loopback(host);
	f = MSGR_URL_ERR_HOST;
	if ((flags & MSGR_URL_LOOPBACK) && !loop)
		goto out;
	/* http where only https would do, unless on this machine */
	if (strcasecmp(scheme, "http") == 0 && !(flags & MSGR_URL_HTTP) && !loop)
		goto out;
	if ((flags & MSGR_URL_FACEBOOK) && !is_facebook(host))
		goto out;
	f = MSGR_URL_OK;
	if (!(flags & MSGR_URL_BARE))
		goto out;
	f = MSGR_URL_ERR_PART;
	/* port 0 is no port to connect to */
	if ((uc = curl_url_get(u, CURLUPART_PORT, &port, 0)) == CURLUE_OK &&
	    strtol(port, NULL, 10) == 0)
		goto out;
	if (uc == CURLUE_OUT_OF_MEMORY) {
		f = MSGR_URL_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		if ((r = has_part(u, absent[i])) != 0) {
			f = r < 0 ? MSGR_URL_ERR_NOMEM : MSGR_URL_ERR_PART;
			goto out;
		}
	f = MSGR_URL_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return f;
}

enum msgr_url_fault
msgr_url_check(const char *url, unsigned flags)
{
	enum msgr_url_fault f;
	CURLUcode uc;
	CURLU *u;
	size_t n;

	if (url == NULL || (n = scheme_len(url, flags)) == 0)
		return MSGR_URL_ERR_SCHEME;
	if ((f = check_bytes(url, flags)) != MSGR_URL_OK)
		return f;
	if (url[n] == '\0' || strchr("/?#", url[n]) != NULL)
		return MSGR_URL_ERR_NO_HOST;
	if ((flags & MSGR_URL_BARE) && strpbrk(url, "?#") != NULL)
		return MSGR_URL_ERR_PART;
	if ((u = curl_url()) == NULL)
		return MSGR_URL_ERR_NOMEM;
	if ((uc = curl_url_set(u, CURLUPART_URL, url, 0)) == CURLUE_OK)
		f = check_parsed(u, flags);
	else if (uc == CURLUE_OUT_OF_MEMORY)
		f = MSGR_URL_ERR_NOMEM;
	else if (uc == CURLUE_NO_HOST)
		f = MSGR_URL_ERR_NO_HOST;
	else
		f = MSGR_URL_ERR_PARSE;
	curl_url_cleanup(u);
	return f;
}

void
msgr_url_redact(const char *url, char *out, size_t outsz)
{
	CURLU *u = NULL;
	char *clean = NULL;
	int hidden;

	if (outsz == 0)
		return;
	snprintf(out, outsz, "(not a URL)");
	if (url == NULL || strstr(url, "://") == NULL || (u = curl_url()) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	/* a query or a fragment may hold a key: say there is one, never what it is */
	hidden = has_part(u, CURLUPART_QUERY) == 1 || has_part(u, CURLUPART_FRAGMENT) == 1;
	if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK)
		goto out;
	snprintf(out, outsz, "%s%s", clean, hidden ? "?..." : "");
out:
	curl_free(clean);
	curl_url_cleanup(u);
}
