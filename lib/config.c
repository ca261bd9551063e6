/* config.c — load and validate the configuration file (docs/configuration.md).
 *
 * The file is parsed by libconfig; every key is then checked by hand so that every fault is
 * collected (never the first one only), named by file and line, and phrased without ever
 * quoting a secret. The libconfig tree is dropped before returning: the caller keeps only
 * the typed struct msgr_config. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/crypto.h>
#include <unistr.h>

#include "buf.h"
#include "cfgread.h"
#include "audit.h"
#include "config.h"
#include "event.h"
#include "id.h"
#include "limits.h"
#include "log.h"
#include "signature.h"
#include "url.h"

#ifndef MSGR_DEFAULT_CONFIG
#define MSGR_DEFAULT_CONFIG "/usr/local/etc/messenger-fcgi/msgr.conf"
#endif

/* Bytes of collected error text; with at most MSGR_MAX_CONFIG_ERRORS lines this is never
 * reached by honest messages, it only caps a pathological file name. */
#define ERRTEXT_MAX 262144

struct loader {
	struct msgr_cfgread rd;    /* the file, its settings and the faults (lib/cfgread.h) */
	const char *name;          /* the path as the user gave it: used in messages */
	const char *file;          /* the config file (absolute) */
	const char *dir;           /* the config's folder (absolute) */
	int nomem;
	int secrets_full;          /* the log's secret table overflowed (warned once) */
	struct msgr_secret_source *sources;   /* where each secret came from (exposure check) */
	size_t n_sources, cap_sources;
};

/* A group being read: prefix names its keys ("graph.", "bot."), where names the connector
 * (" in connector 'x'") so every message says exactly which key is wrong. */
struct scope {
	struct loader *ld;
	config_setting_t *group;
	const char *prefix;
	const char *where;
};

/* Faults go to the shared reader, which names file and line (lib/cfgread.h). */
#define fault(ld, s, ...) msgr_cfgread_fault(&(ld)->rd, (s), __VA_ARGS__)
#define fault_file(ld, ...) msgr_cfgread_fault(&(ld)->rd, NULL, __VA_ARGS__)

/* "FILE:LINE" of s, for messages naming a second entry. */
static void
where_of(const struct loader *ld, const config_setting_t *s, char *out, size_t outsz)
{
	char inc[4096];
	const char *file = msgr_cfgread_path(&ld->rd, config_setting_source_file(s), inc,
	    sizeof(inc));
	int n = snprintf(out, outsz, "%s:%u", file, config_setting_source_line(s));

	if (n < 0 || (size_t)n >= outsz)   /* a path too long to quote whole: keep its end */
		snprintf(out, outsz, "...:%u", config_setting_source_line(s));
}

static char *
dup_str(struct loader *ld, const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		ld->nomem = 1;
	return p;
}

/* p relative to the config's folder unless absolute. */
static char *
resolve_path(struct loader *ld, const char *p)
{
	struct msgr_buf b;

	if (p[0] == '/')
		return dup_str(ld, p);
	msgr_buf_init(&b, strlen(ld->dir) + strlen(p) + 2);
	if (msgr_buf_printf(&b, "%s/%s", ld->dir, p) != MSGR_OK) {
		ld->nomem = 1;
		msgr_buf_free(&b);
		return NULL;
	}
	return msgr_buf_steal(&b);
}

/* ---- integer literals ----
 * libconfig 1.5 turns a decimal literal beyond 32 bits into a wrapped int without a word
 * (3000000000 reads as -1294967296), so a huge max_body could pass the bound checks. The
 * literal is therefore read again from the source line with strtoll and compared. */

static int
is_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* 1 when the literal of setting s on its source line is exactly v, or cannot be found (then
 * libconfig's value stands); 0 when it is there and differs (out of range). */
static int
literal_matches(struct loader *ld, const config_setting_t *s, long long v)
{
	const char *file = config_setting_source_file(s), *name = config_setting_name(s);
	char *other = NULL, *text, *line, *end, *p, inc[4096];
	size_t len, nlen;
	unsigned i, want = config_setting_source_line(s);
	int found = 0, match = 0;

	if (name == NULL || want == 0)
		return 1;
	if (file == NULL || strcmp(file, ld->name) == 0) {
		text = ld->rd.text;
		len = ld->rd.text_len;
	} else {
		if (msgr_cfgread_file(msgr_cfgread_path(&ld->rd, file, inc, sizeof(inc)),
		    MSGR_MAX_CONFIG_FILE, &other, &len) != MSGR_OK)
			return 1;
		text = other;
	}
	if (text == NULL)
		return 1;
	line = text;
	for (i = 1; i < want && line != NULL; i++)
		if ((line = memchr(line, '\n', len - (size_t)(line - text))) != NULL)
			line++;
	if (line == NULL)
		goto out;
	if ((end = memchr(line, '\n', len - (size_t)(line - text))) == NULL)
		end = text + len;
	nlen = strlen(name);
	for (p = line; p + nlen <= end; p++) {
		const char *q;
		long long got;
		char *e;
		int base = 10;

		if (memcmp(p, name, nlen) != 0 || (p > line && is_key_char(p[-1])) ||
		    (p + nlen < end && is_key_char(p[nlen])))
			continue;
		q = p + nlen;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q == end || (*q != '=' && *q != ':'))
			continue;
		q++;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && (*q == '+' || *q == '-' || isdigit((unsigned char)*q))) {
			const char *d = (*q == '+' || *q == '-') ? q + 1 : q;
			if (d + 1 < end && d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
				base = 16;
			found = 1;
			errno = 0;
			got = strtoll(q, &e, base);
			if (errno == 0 && e != q && got == v) {
				match = 1;
				break;
			}
		}
	}
out:
	free(other);
	return !found || match;
}

/* ---- typed getters: 1 value set, 0 absent, -1 fault reported ---- */

/* How a fault names key: "'graph.url'", "'bot.url' in connector 'a'". */
static const char *
key_name(const struct scope *sc, const char *key, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "'%s%s'%s", sc->prefix, key, sc->where);
	return buf;
}

#define KEY_NAME_MAX 512

static int
get_str(struct scope *sc, const char *key, int required, char **out)
{
	config_setting_t *s = config_setting_get_member(sc->group, key);
	char name[KEY_NAME_MAX];
	const char *v;
	int r;

	if (s == NULL) {
		if (required)
			fault(sc->ld, sc->group, "missing key '%s%s'%s", sc->prefix, key, sc->where);
		return required ? -1 : 0;
	}
	/* no key of this file means anything when empty: say so rather than guess */
	r = msgr_cfgread_string(&sc->ld->rd, s, key_name(sc, key, name, sizeof(name)),
	    MSGR_MAX_CONFIG_STRING, 1, &v);
	if (r != 1)
		return r;
	if ((*out = dup_str(sc->ld, v)) == NULL)
		return -1;
	return 1;
}

static int
get_int(struct scope *sc, const char *key, long long min, long long max, long long *out)
{
	config_setting_t *s = config_setting_get_member(sc->group, key);
	char name[KEY_NAME_MAX];
	long long v;
	int r;

	r = msgr_cfgread_int(&sc->ld->rd, s, key_name(sc, key, name, sizeof(name)), &v);
	if (r != 1)
		return r;
	if (v < min || v > max || !literal_matches(sc->ld, s, v)) {
		fault(sc->ld, s, "%s must be between %lld and %lld", name, min, max);
		return -1;
	}
	*out = v;
	return 1;
}

/* An int-sized key: *out keeps its default when the key is absent. */
static int
get_int32(struct scope *sc, const char *key, int min, int max, int *out)
{
	long long v;
	int r = get_int(sc, key, min, max, &v);

	if (r == 1)
		*out = (int)v;
	return r;
}

/* A boolean (true/false); *out keeps its default when the key is absent. */
static int
get_bool(struct scope *sc, const char *key, int *out)
{
	char name[KEY_NAME_MAX];

	return msgr_cfgread_bool(&sc->ld->rd, config_setting_get_member(sc->group, key),
	    key_name(sc, key, name, sizeof(name)), out);
}

/* One of names (NULL-terminated); *out is its index. */
static int
get_enum(struct scope *sc, const char *key, const char *const *names, int *out)
{
	config_setting_t *s = config_setting_get_member(sc->group, key);
	char name[KEY_NAME_MAX];
	struct msgr_buf alts;
	const char *v;
	int i;

	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(&sc->ld->rd, s, CONFIG_TYPE_STRING,
	    key_name(sc, key, name, sizeof(name))))
		return -1;
	v = config_setting_get_string(s);
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 1;
		}
	msgr_buf_init(&alts, 1024);
	for (i = 0; names[i] != NULL; i++)
		(void)msgr_buf_printf(&alts, "%s\"%s\"", i ? " or " : "", names[i]);
	fault(sc->ld, s, "%s must be %s", name, alts.data != NULL ? alts.data : "?");
	msgr_buf_free(&alts);
	return -1;
}

/* A list ( ... ) or array [ ... ] of at most max elements; *out the setting. */
static int
get_list(struct scope *sc, const char *key, size_t max, config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(sc->group, key);
	char name[KEY_NAME_MAX];
	int r;

	*out = NULL;
	r = msgr_cfgread_list(&sc->ld->rd, s, key_name(sc, key, name, sizeof(name)), max);
	if (r == 1)
		*out = s;
	return r;
}

/* A group member; absent is 0. */
static int
get_group(struct scope *sc, const char *key, config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(sc->group, key);
	char name[KEY_NAME_MAX];

	*out = NULL;
	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(&sc->ld->rd, s, CONFIG_TYPE_GROUP,
	    key_name(sc, key, name, sizeof(name))))
		return -1;
	*out = s;
	return 1;
}

/* Reports every member of the scope's group not in known (NULL-terminated). */
static void
check_keys(struct scope *sc, const char *const *known)
{
	msgr_cfgread_members(&sc->ld->rd, sc->group, known, NULL, sc->prefix, sc->where);
}

/* ---- value checks ---- */

static int
id_chars(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return 0;
	return 1;
}

/* A digits-only id (app, page, persona: Facebook's ids are decimal) at most MSGR_MAX_ID_LEN. */
static int
get_digits(struct scope *sc, const char *key, int required, char **out)
{
	int r = get_str(sc, key, required, out);

	if (r != 1)
		return r;
	if (!msgr_id_valid(*out)) {
		fault(sc->ld, config_setting_get_member(sc->group, key),
		    "'%s%s'%s must be digits only, at most %d of them", sc->prefix, key, sc->where,
		    MSGR_MAX_ID_LEN);
		free(*out);
		*out = NULL;
		return -1;
	}
	return 1;
}

/* A string of at most maxchars characters (a Facebook limit counted in characters). */
static int
get_text(struct scope *sc, const char *key, int required, size_t maxchars, char **out)
{
	int r = get_str(sc, key, required, out);

	if (r != 1)
		return r;
	/* valid UTF-8 already (get_str): Facebook's limits count characters, not bytes */
	if (u8_mbsnlen((const uint8_t *)*out, strlen(*out)) > maxchars) {
		fault(sc->ld, config_setting_get_member(sc->group, key),
		    "'%s%s'%s is longer than %zu characters", sc->prefix, key, sc->where, maxchars);
		free(*out);
		*out = NULL;
		return -1;
	}
	return 1;
}

/* An http:// or https:// URL (lib/url.h): curl fetches graph.url and bot.url, Facebook the
 * menu's web_url items (docs/configuration.md). local: the connector itself sends to it
 * (graph.url carries the page token, bot.url people's messages), so plain http:// only to
 * a loopback host, where no network lies between. */
static int
get_url(struct scope *sc, const char *key, int required, int local, char **out)
{
	enum msgr_url_fault f;
	int r = get_str(sc, key, required, out);

	if (r != 1)
		return r;
	f = msgr_url_check(*out, MSGR_URL_HTTPS | (local ? MSGR_URL_HTTP_LOOPBACK : MSGR_URL_HTTP));
	if (f == MSGR_URL_OK)
		return 1;
	if (f == MSGR_URL_ERR_NOMEM)
		sc->ld->nomem = 1;
	else if (local && f == MSGR_URL_ERR_HOST)
		fault(sc->ld, config_setting_get_member(sc->group, key),
		    "'%s%s'%s: http:// only to 127.0.0.1, localhost or [::1]; use https://",
		    sc->prefix, key, sc->where);
	else
		fault(sc->ld, config_setting_get_member(sc->group, key),
		    "'%s%s'%s must be an http:// or https:// URL", sc->prefix, key, sc->where);
	free(*out);
	*out = NULL;
	return -1;
}

/* ---- secrets ---- */

static void
wipe_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void
keep_secret(struct loader *ld, const char *v)
{
	if (msgr_log_add_secret(v) != 0 && !ld->secrets_full) {
		ld->secrets_full = 1;
		msgr_log(MSGR_LOG_WARN, "config: log redaction table full (%d secrets); "
		    "later secrets rely on never being logged", MSGR_LOG_SECRETS_MAX);
	}
}

/* Remembers which file holds a secret (inline: the file the setting is in; file: the secret
 * file) for msgr_config_exposure. path is copied. */
static void
note_source(struct scope *sc, const config_setting_t *s, const char *path, int is_inline,
    const char *key)
{
	struct loader *ld = sc->ld;
	struct msgr_secret_source *src;
	char what[256];

	if (ld->n_sources == ld->cap_sources) {
		size_t cap = ld->cap_sources ? ld->cap_sources * 2 : 8;
		struct msgr_secret_source *p = realloc(ld->sources, cap * sizeof(*p));

		if (p == NULL) {
			ld->nomem = 1;
			return;
		}
		ld->sources = p;
		ld->cap_sources = cap;
	}
	if (is_inline && s != NULL && config_setting_source_file(s) != NULL)
		path = config_setting_source_file(s);
	snprintf(what, sizeof(what), "'%s%s'%s", sc->prefix, key, sc->where);
	src = &ld->sources[ld->n_sources];
	src->is_inline = is_inline;
	src->path = strdup(path);
	src->what = strdup(what);
	if (src->path == NULL || src->what == NULL) {
		free(src->path);
		free(src->what);
		ld->nomem = 1;
		return;
	}
	ld->n_sources++;
}

/* The secret of "env:NAME" (name is NAME) in the environment, malloc'd, or NULL after a
 * fault: the variable is named, its value never. */
static char *
secret_from_env(struct scope *sc, const config_setting_t *s, const char *key,
    const char *name)
{
	char what[KEY_NAME_MAX];
	const char *e, *c;

	key_name(sc, key, what, sizeof(what));
	for (c = name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			break;
	if (*name == '\0' || *c != '\0' || isdigit((unsigned char)*name))
		fault(sc->ld, s, "%s: env: needs a variable name ([A-Za-z_][A-Za-z0-9_]*)", what);
	else if ((e = getenv(name)) == NULL)
		fault(sc->ld, s, "%s: environment variable %s is not set", what, name);
	else if (*e == '\0')
		fault(sc->ld, s, "%s: environment variable %s is empty", what, name);
	else if (strlen(e) > MSGR_MAX_CONFIG_STRING)
		fault(sc->ld, s, "%s: environment variable %s is longer than %d bytes", what, name,
		    MSGR_MAX_CONFIG_STRING);
	else
		return dup_str(sc->ld, e);
	return NULL;
}

/* Room for why a secret file's path is refused: it names the folder. */
#define PATH_BYTES_WHY 4352

/* The secret of "file:PATH" (given is PATH, relative to the config's folder): one line of
 * text, an editor's final newline dropped. malloc'd, or NULL after a fault: the file is
 * named, its content never. */
static char *
secret_from_file(struct scope *sc, const config_setting_t *s, const char *key,
    const char *given)
{
	char what[KEY_NAME_MAX], why[PATH_BYTES_WHY], *path, *v = NULL;
	const char *bad = NULL;
	size_t len;
	msgr_result rc;

	key_name(sc, key, what, sizeof(what));
	if (*given == '\0') {
		fault(sc->ld, s, "%s: file: needs a path", what);
		return NULL;
	}
	if ((path = resolve_path(sc->ld, given)) == NULL)
		return NULL;
	/* Refused before it is read: a file others can write, or a link into a folder they can
	 * write, lets them choose the secret (docs/configuration.md "Secrets"). */
	rc = msgr_audit_secret_path(path, why, sizeof(why));
	if (rc == MSGR_ERR_NOMEM)
		sc->ld->nomem = 1;
	else if (rc != MSGR_OK)
		fault(sc->ld, s, "%s: secret file %s %s", what, path, why);
	if (rc != MSGR_OK)
		goto out;
	rc = msgr_cfgread_file(path, MSGR_MAX_SECRET_FILE, &v, &len);
	if (rc == MSGR_ERR_NOMEM)
		sc->ld->nomem = 1;
	else if (rc == MSGR_ERR_TOOBIG)
		fault(sc->ld, s, "%s: secret file %s is larger than %d bytes", what, path,
		    MSGR_MAX_SECRET_FILE);
	else if (rc != MSGR_OK)
		fault(sc->ld, s, "%s: cannot read secret file %s: %s", what, path, strerror(errno));
	if (rc != MSGR_OK)
		goto out;
	note_source(sc, s, path, 0, key);
	if (len > 0 && v[len - 1] == '\n')
		v[--len] = '\0';
	if (len > 0 && v[len - 1] == '\r')
		v[--len] = '\0';
	if (len == 0)
		bad = "is empty";
	else if (memchr(v, '\0', len) != NULL || memchr(v, '\n', len) != NULL ||
	    memchr(v, '\r', len) != NULL)
		bad = "must hold one line of text";
	if (bad != NULL) {
		fault(sc->ld, s, "%s: secret file %s %s", what, path, bad);
		wipe_free(v);
		v = NULL;
	}
out:
	free(path);
	return v;
}

/* A secret: literal, "env:NAME" or "file:PATH" (docs/configuration.md "Secrets"). Messages
 * name the key, the variable or the file, never the value. */
static int
get_secret(struct scope *sc, const char *key, int required, char **out)
{
	config_setting_t *s;
	char *raw = NULL, *v;
	int r;

	*out = NULL;
	if ((r = get_str(sc, key, required, &raw)) != 1)
		return r;
	s = config_setting_get_member(sc->group, key);
	if (strncmp(raw, "env:", 4) == 0) {
		v = secret_from_env(sc, s, key, raw + 4);
	} else if (strncmp(raw, "file:", 5) == 0) {
		v = secret_from_file(sc, s, key, raw + 5);
	} else {
		v = raw;
		raw = NULL;
		note_source(sc, s, sc->ld->file, 1, key);
	}
	wipe_free(raw);
	if (v == NULL)
		return -1;
	keep_secret(sc->ld, v);
	*out = v;
	return 1;
}

/* ---- sections ---- */

static void
parse_graph(struct loader *ld, config_setting_t *root, struct msgr_config *cfg)
{
	static const char *const keys[] = { "url", "version", "timeout_ms", "connect_timeout_ms",
		NULL };
	struct scope sc = { ld, NULL, "graph.", "" };
	char *s = NULL;
	size_t n;

	if (get_group(&(struct scope){ ld, root, "", "" }, "graph", &sc.group) != 1)
		return;
	check_keys(&sc, keys);
	if (get_url(&sc, "url", 0, 1, &s) == 1) {
		/* the client joins url "/" version "/" path */
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			s[--n] = '\0';
		free(cfg->graph.url);
		cfg->graph.url = s;
		s = NULL;
	}
	if (get_str(&sc, "version", 0, &s) == 1) {
		/* Graph versions are "v<major>.<minor>" (docs/facebook.md "Calls": {url}/{version}/) */
		const char *p = s;
		int ok = *p++ == 'v' && isdigit((unsigned char)*p);

		while (ok && isdigit((unsigned char)*p))
			p++;
		ok = ok && *p++ == '.' && isdigit((unsigned char)*p);
		while (ok && isdigit((unsigned char)*p))
			p++;
		if (!ok || *p != '\0' || strlen(s) > 16) {
			fault(ld, config_setting_get_member(sc.group, "version"),
			    "'graph.version' must look like \"v26.0\"");
			free(s);
		} else {
			free(cfg->graph.version);
			cfg->graph.version = s;
		}
		s = NULL;
	}
	get_int32(&sc, "timeout_ms", 100, 120000, &cfg->graph.timeout_ms);
	/* the default connect timeout follows a shorter total one; a set one must fit in it */
	if (get_int32(&sc, "connect_timeout_ms", 100, 120000, &cfg->graph.connect_timeout_ms) == 0 &&
	    cfg->graph.connect_timeout_ms > cfg->graph.timeout_ms)
		cfg->graph.connect_timeout_ms = cfg->graph.timeout_ms;
	if (cfg->graph.connect_timeout_ms > cfg->graph.timeout_ms)
		fault(ld, config_setting_get_member(sc.group, "connect_timeout_ms") != NULL ?
		    config_setting_get_member(sc.group, "connect_timeout_ms") : sc.group,
		    "'graph.connect_timeout_ms' (%d) must not exceed 'graph.timeout_ms' (%d)",
		    cfg->graph.connect_timeout_ms, cfg->graph.timeout_ms);
}

static void
parse_state(struct loader *ld, config_setting_t *root, struct msgr_config *cfg)
{
	static const char *const keys[] = { "path", "journal", "sync", "busy_timeout_ms",
		"backend", "conninfo", NULL };
	static const char *const journals[] = { "wal", "delete", NULL };
	static const char *const syncs[] = { "full", "normal", NULL };
	static const char *const backends[] = { "sqlite", "postgresql", NULL };
	struct scope sc = { ld, NULL, "state.", "" };
	char *s = NULL;
	int v;

	if (get_group(&(struct scope){ ld, root, "", "" }, "state", &sc.group) != 1)
		return;
	check_keys(&sc, keys);
	/* Several web hosts share one PostgreSQL store (docs/store.md "Backends"); its conninfo
	 * may hold a password, so it is a secret like any other (env:, file:, never logged). */
	if (get_enum(&sc, "backend", backends, &v) == 1)
		cfg->state.backend = v == 0 ? MSGR_BACKEND_SQLITE : MSGR_BACKEND_POSTGRESQL;
	if (get_secret(&sc, "conninfo", 0, &cfg->state.conninfo) == 1 &&
	    cfg->state.backend != MSGR_BACKEND_POSTGRESQL)
		fault(ld, config_setting_get_member(sc.group, "conninfo"),
		    "'state.conninfo' is for backend = \"postgresql\"");
	if (cfg->state.backend == MSGR_BACKEND_POSTGRESQL && cfg->state.conninfo == NULL &&
	    config_setting_get_member(sc.group, "conninfo") == NULL)
		fault(ld, config_setting_get_member(sc.group, "backend"),
		    "'state.backend' = \"postgresql\" needs 'state.conninfo' (libpq's connection "
		    "string or URI)");
	if (get_str(&sc, "path", 0, &s) == 1) {
		free(cfg->state.path);
		cfg->state.path = resolve_path(ld, s);
		free(s);
	}
	if (get_enum(&sc, "journal", journals, &v) == 1)
		cfg->state.journal = v == 0 ? MSGR_JOURNAL_WAL : MSGR_JOURNAL_DELETE;
	if (get_enum(&sc, "sync", syncs, &v) == 1)
		cfg->state.sync = v == 0 ? MSGR_SYNC_FULL : MSGR_SYNC_NORMAL;
	/* Facebook waits 5 s for the answer (docs/facebook.md "Webhooks"); a store wait must leave room
	 * for reading the request and answering 503 in time. */
	get_int32(&sc, "busy_timeout_ms", 1, MSGR_BUSY_TIMEOUT_MAX_MS, &cfg->state.busy_timeout_ms);
}

static void
parse_worker(struct loader *ld, config_setting_t *root, struct msgr_config *cfg)
{
	static const char *const keys[] = { "budget_ms", "lease_ms", "retry_max_s", "idle_ms",
		"echo_wait_ms", NULL };
	struct scope sc = { ld, NULL, "worker.", "" };

	if (get_group(&(struct scope){ ld, root, "", "" }, "worker", &sc.group) != 1)
		return;
	check_keys(&sc, keys);
	get_int32(&sc, "budget_ms", 0, 60000, &cfg->worker.budget_ms);
	get_int32(&sc, "lease_ms", 1000, 3600000, &cfg->worker.lease_ms);
	get_int32(&sc, "retry_max_s", 60, 604800, &cfg->worker.retry_max_s);
	get_int32(&sc, "idle_ms", 10, 60000, &cfg->worker.idle_ms);
	get_int32(&sc, "echo_wait_ms", 0, 600000, &cfg->worker.echo_wait_ms);
}

static void
parse_responder(struct loader *ld, config_setting_t *root, struct msgr_config *cfg)
{
	static const char *const keys[] = { "threads", "host_commit", NULL };
	struct scope sc = { ld, NULL, "responder.", "" };

	if (get_group(&(struct scope){ ld, root, "", "" }, "responder", &sc.group) != 1)
		return;
	check_keys(&sc, keys);
	/* 1 keeps mod_fcgid's one-request-per-process model; more threads share one group
	 * commit per process (docs/responder.md "Threads and group commit"). */
	get_int32(&sc, "threads", 1, MSGR_RESPONDER_THREADS_MAX, &cfg->responder.threads);
	get_bool(&sc, "host_commit", &cfg->responder.host_commit);
}

static void
parse_bot(struct scope *csc, struct msgr_connector *c)
{
	static const char *const keys[] = { "type", "file", "url", "secret", "timeout_ms",
		"events", NULL };
	static const char *const types[] = { "stories", "api", NULL };
	struct loader *ld = csc->ld;
	struct scope sc = { ld, NULL, "bot.", csc->where };
	config_setting_t *list;
	char *s = NULL;
	int type, i, r;

	r = get_group(csc, "bot", &sc.group);
	if (r == 0)
		fault(ld, csc->group, "missing key 'bot'%s", csc->where);
	if (r != 1)
		return;
	check_keys(&sc, keys);
	r = get_enum(&sc, "type", types, &type);
	if (r == 0)
		fault(ld, sc.group, "missing key 'bot.type'%s", csc->where);
	if (r != 1)
		return;
	c->bot.type = type == 0 ? MSGR_BOT_STORIES : MSGR_BOT_API;
	if (c->bot.type == MSGR_BOT_STORIES) {
		static const char *const api_only[] = { "url", "secret", "timeout_ms", "events", NULL };

		for (i = 0; api_only[i] != NULL; i++)
			if (config_setting_get_member(sc.group, api_only[i]) != NULL)
				fault(ld, config_setting_get_member(sc.group, api_only[i]),
				    "'bot.%s'%s applies only to bot type \"api\"", api_only[i], csc->where);
		if (get_str(&sc, "file", 1, &s) == 1) {
			c->bot.file = resolve_path(ld, s);
			free(s);
		}
		return;
	}
	if (config_setting_get_member(sc.group, "file") != NULL)
		fault(ld, config_setting_get_member(sc.group, "file"),
		    "'bot.file'%s applies only to bot type \"stories\"", csc->where);
	get_url(&sc, "url", 1, 1, &c->bot.url);
	get_secret(&sc, "secret", 1, &c->bot.secret);
	get_int32(&sc, "timeout_ms", 100, 60000, &c->bot.timeout_ms);
	if (get_list(&sc, "events", MSGR_EVENT_KIND_COUNT, &list) == 1) {
		unsigned long mask = 0;
		int n = config_setting_length(list);

		if (n == 0)
			fault(ld, list, "'bot.events'%s must name at least one event kind", csc->where);
		for (i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
			int k;

			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				fault(ld, e, "'bot.events'%s must hold strings, not %s", csc->where,
				    msgr_cfgread_type_name(e));
				continue;
			}
			/* names as msgr_event_kind_name gives them (docs/bot-api.md "Event types") */
			if ((k = msgr_event_kind_parse(config_setting_get_string(e))) < 0) {
				char esc[128];
				const char *v = config_setting_get_string(e);

				fault(ld, e, "'bot.events'%s: unknown event kind \"%s\"", csc->where,
				    msgr_log_escape(esc, sizeof(esc), v, strlen(v)));
				continue;
			}
			mask |= 1UL << k;
		}
		if (n > 0)
			c->bot.events = mask;
	}
}

/* A list of strings into a malloc'd array. */
static void
get_string_list(struct scope *sc, const char *key, size_t max, char ***out, size_t *n_out,
    int (*valid)(const char *), const char *what)
{
	config_setting_t *list;
	char **arr;
	int i, n;

	if (get_list(sc, key, max, &list) != 1)
		return;
	n = config_setting_length(list);
	if (n == 0)
		return;
	if ((arr = calloc((size_t)n, sizeof(*arr))) == NULL) {
		sc->ld->nomem = 1;
		return;
	}
	*out = arr;
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			fault(sc->ld, e, "'%s%s'%s must hold strings, not %s", sc->prefix, key,
			    sc->where, msgr_cfgread_type_name(e));
			continue;
		}
		v = config_setting_get_string(e);
		if (strlen(v) > MSGR_MAX_CONFIG_STRING || !valid(v)) {
			fault(sc->ld, e, "'%s%s'%s: element %d must be %s", sc->prefix, key, sc->where,
			    i + 1, what);
			continue;
		}
		if ((arr[*n_out] = dup_str(sc->ld, v)) == NULL)
			return;
		(*n_out)++;
	}
}

static int
valid_field(const char *s)
{
	/* goes into ?fields= of a profile call (docs/facebook.md "Profile") */
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!islower((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static int
valid_domain(const char *s)
{
	/* Meta's messenger-profile reference: whitelisted domains must be https */
	return msgr_url_check(s, MSGR_URL_HTTPS) == MSGR_URL_OK &&
	    u8_check((const uint8_t *)s, strlen(s)) == NULL;
}

static int
valid_locale(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 16)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalpha((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Element i of list as a group, with a sub-scope named like "profile.greeting[2]." */
static int
elem_group(struct scope *sc, config_setting_t *list, const char *key, int i,
    struct scope *sub, char *prefix, size_t prefixsz)
{
	config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

	snprintf(prefix, prefixsz, "%s%s[%d].", sc->prefix, key, i + 1);
	if (!config_setting_is_group(e)) {
		fault(sc->ld, e, "'%s%s[%d]'%s must be a group { ... }, not %s", sc->prefix, key,
		    i + 1, sc->where, msgr_cfgread_type_name(e));
		return 0;
	}
	sub->ld = sc->ld;
	sub->group = e;
	sub->prefix = prefix;
	sub->where = sc->where;
	return 1;
}

/* A locale key of a list element; remembers it to report duplicates and find "default". */
static void
get_locale(struct scope *sub, char **out)
{
	if (get_str(sub, "locale", 1, out) == 1 && !valid_locale(*out)) {
		fault(sub->ld, config_setting_get_member(sub->group, "locale"),
		    "'%slocale'%s must be \"default\" or a locale like \"fr_FR\"", sub->prefix,
		    sub->where);
		free(*out);
		*out = NULL;
	}
}

static void
check_locales(struct scope *sc, const char *key, config_setting_t *list, char **locales,
    size_t n, size_t stride)
{
	size_t i, j;
	int has_default = 0;

	for (i = 0; i < n; i++) {
		const char *a = *(char **)((char *)locales + i * stride);

		if (a == NULL)
			continue;
		if (strcmp(a, "default") == 0)
			has_default = 1;
		for (j = 0; j < i; j++) {
			const char *b = *(char **)((char *)locales + j * stride);
			if (b != NULL && strcmp(a, b) == 0) {
				fault(sc->ld, config_setting_get_elem(list, (unsigned)i),
				    "'%s%s'%s: locale \"%s\" appears twice (elements %zu and %zu)",
				    sc->prefix, key, sc->where, a, j + 1, i + 1);
				break;
			}
		}
	}
	/* Meta's messenger-profile reference: greeting and persistent_menu need a "default"
	 * locale (docs/facebook.md "Messenger profile") */
	if (n > 0 && !has_default)
		fault(sc->ld, list, "'%s%s'%s needs an entry with locale \"default\"", sc->prefix,
		    key, sc->where);
}

static void
parse_menu(struct scope *sc, config_setting_t *list, struct msgr_profile_config *p)
{
	static const char *const menu_keys[] = { "locale", "items", NULL };
	static const char *const item_keys[] = { "title", "payload", "url", NULL };
	int i, j, n = config_setting_length(list);

	if (n == 0)
		return;
	if ((p->menus = calloc((size_t)n, sizeof(*p->menus))) == NULL) {
		sc->ld->nomem = 1;
		return;
	}
	p->n_menus = (size_t)n;
	for (i = 0; i < n; i++) {
		struct msgr_menu *m = &p->menus[i];
		struct scope sub;
		char prefix[96];
		config_setting_t *items;
		int ni;

		if (!elem_group(sc, list, "persistent_menu", i, &sub, prefix, sizeof(prefix)))
			continue;
		check_keys(&sub, menu_keys);
		get_locale(&sub, &m->locale);
		if (get_list(&sub, "items", MSGR_MENU_ITEMS_MAX, &items) == 0)
			fault(sc->ld, sub.group, "missing key '%sitems'%s", prefix, sc->where);
		if (items == NULL)
			continue;
		if ((ni = config_setting_length(items)) == 0) {
			fault(sc->ld, items, "'%sitems'%s is empty", prefix, sc->where);
			continue;
		}
		if ((m->items = calloc((size_t)ni, sizeof(*m->items))) == NULL) {
			sc->ld->nomem = 1;
			return;
		}
		m->n_items = (size_t)ni;
		for (j = 0; j < ni; j++) {
			struct msgr_menu_item *it = &m->items[j];
			struct scope isc;
			char iprefix[128];
			int hp, hu;

			if (!elem_group(&sub, items, "items", j, &isc, iprefix, sizeof(iprefix)))
				continue;
			check_keys(&isc, item_keys);
			get_text(&isc, "title", 1, MSGR_MENU_TITLE_MAX_CHARS, &it->title);
			hp = get_text(&isc, "payload", 0, MSGR_PAYLOAD_MAX_CHARS, &it->payload);
			hu = get_url(&isc, "url", 0, 0, &it->url);
			/* a menu item is a postback or a web_url (docs/facebook.md "Messenger profile") */
			if (config_setting_get_member(isc.group, "payload") != NULL &&
			    config_setting_get_member(isc.group, "url") != NULL)
				fault(sc->ld, isc.group, "'%.*s'%s has both payload and url: give one",
				    (int)strlen(iprefix) - 1, iprefix, sc->where);
			else if (hp == 0 && hu == 0)
				fault(sc->ld, isc.group, "'%.*s'%s needs a payload or a url",
				    (int)strlen(iprefix) - 1, iprefix, sc->where);
		}
	}
	check_locales(sc, "persistent_menu", list, &p->menus[0].locale, p->n_menus,
	    sizeof(p->menus[0]));
}

static void
parse_profile(struct scope *csc, struct msgr_connector *c)
{
	static const char *const keys[] = { "get_started", "greeting", "ice_breakers",
		"persistent_menu", "whitelisted_domains", NULL };
	static const char *const greet_keys[] = { "locale", "text", NULL };
	static const char *const ice_keys[] = { "question", "payload", NULL };
	struct loader *ld = csc->ld;
	struct msgr_profile_config *p = &c->profile;
	struct scope sc = { ld, NULL, "profile.", csc->where };
	config_setting_t *list;
	int i, n;

	if (get_group(csc, "profile", &sc.group) != 1)
		return;
	p->present = 1;
	check_keys(&sc, keys);
	get_text(&sc, "get_started", 0, MSGR_PAYLOAD_MAX_CHARS, &p->get_started);

	if (get_list(&sc, "greeting", MSGR_MAX_LOCALES, &list) == 1 &&
	    (n = config_setting_length(list)) > 0) {
		if ((p->greeting = calloc((size_t)n, sizeof(*p->greeting))) == NULL) {
			ld->nomem = 1;
			return;
		}
		p->n_greeting = (size_t)n;
		for (i = 0; i < n; i++) {
			struct scope sub;
			char prefix[64];

			if (!elem_group(&sc, list, "greeting", i, &sub, prefix, sizeof(prefix)))
				continue;
			check_keys(&sub, greet_keys);
			get_locale(&sub, &p->greeting[i].locale);
			get_text(&sub, "text", 1, MSGR_GREETING_MAX_CHARS, &p->greeting[i].text);
		}
		check_locales(&sc, "greeting", list, &p->greeting[0].locale, p->n_greeting,
		    sizeof(p->greeting[0]));
	}

	if (get_list(&sc, "ice_breakers", MSGR_ICE_BREAKERS_MAX, &list) == 1 &&
	    (n = config_setting_length(list)) > 0) {
		if ((p->ice_breakers = calloc((size_t)n, sizeof(*p->ice_breakers))) == NULL) {
			ld->nomem = 1;
			return;
		}
		p->n_ice_breakers = (size_t)n;
		for (i = 0; i < n; i++) {
			struct scope sub;
			char prefix[64];

			if (!elem_group(&sc, list, "ice_breakers", i, &sub, prefix, sizeof(prefix)))
				continue;
			check_keys(&sub, ice_keys);
			/* the question shows as a button-like bubble: a payload-sized bound */
			get_text(&sub, "question", 1, MSGR_PAYLOAD_MAX_CHARS,
			    &p->ice_breakers[i].question);
			get_text(&sub, "payload", 1, MSGR_PAYLOAD_MAX_CHARS, &p->ice_breakers[i].payload);
		}
	}

	if (get_list(&sc, "persistent_menu", MSGR_MAX_LOCALES, &list) == 1) {
		parse_menu(&sc, list, p);
		/* docs/facebook.md "Messenger profile": persistent_menu only with get_started */
		if (p->n_menus > 0 && config_setting_get_member(sc.group, "get_started") == NULL)
			fault(ld, list, "'profile.persistent_menu'%s needs 'profile.get_started' "
			    "(Facebook shows the menu only after Get Started)", csc->where);
	}

	get_string_list(&sc, "whitelisted_domains", MSGR_WHITELISTED_DOMAINS_MAX,
	    &p->whitelisted_domains, &p->n_whitelisted_domains, valid_domain, "an https:// URL");
}

/* simulator = { ... } (docs/simulator.md "Configuration"): the development simulator's
 * keys. Its url is checked whether or not it is enabled: a config that would point it at
 * another machine is wrong before anyone turns it on. */
static void
parse_simulator(struct loader *ld, config_setting_t *root, struct msgr_config *cfg)
{
	static const char *const keys[] = { "enabled", "url", "clock_file", "personas", NULL };
	static const char *const persona_keys[] = { "id", "name", "picture", NULL };
	struct scope sc = { ld, NULL, "simulator.", "" };
	config_setting_t *list;
	char *s = NULL;
	enum msgr_url_fault f;
	size_t n;
	int i, k;

	if (get_group(&(struct scope){ ld, root, "", "" }, "simulator", &sc.group) != 1)
		return;
	check_keys(&sc, keys);
	get_bool(&sc, "enabled", &cfg->simulator.enabled);
	if (get_str(&sc, "url", 0, &s) == 1) {
		/* http:// on this machine, nothing but host, port and path: whatever else curl
		 * would take, the simulator is never reached elsewhere */
		f = msgr_url_check(s, MSGR_URL_HTTP | MSGR_URL_LOOPBACK | MSGR_URL_BARE);
		if (f == MSGR_URL_ERR_NOMEM) {
			ld->nomem = 1;
			free(s);
		} else if (f != MSGR_URL_OK) {
			fault(ld, config_setting_get_member(sc.group, "url"), "'simulator.url' must be "
			    "http:// on 127.0.0.1, localhost or [::1]: the simulator is for this machine "
			    "only");
			free(s);
		} else {
			/* paths are joined as url "/_sim/..." */
			n = strlen(s);
			while (n > 7 && s[n - 1] == '/')
				s[--n] = '\0';
			free(cfg->simulator.url);
			cfg->simulator.url = s;
		}
		s = NULL;
	}
	if (get_str(&sc, "clock_file", 0, &s) == 1) {
		cfg->simulator.clock_file = resolve_path(ld, s);
		free(s);
		s = NULL;
	}
	if (get_list(&sc, "personas", MSGR_MAX_SIM_PERSONAS, &list) != 1 ||
	    (n = (size_t)config_setting_length(list)) == 0)
		return;
	if ((cfg->simulator.personas = calloc(n, sizeof(*cfg->simulator.personas))) == NULL) {
		ld->nomem = 1;
		return;
	}
	cfg->simulator.n_personas = n;
	for (i = 0; i < (int)n; i++) {
		struct msgr_sim_persona *p = &cfg->simulator.personas[i];
		struct scope sub;
		char prefix[64];

		if (!elem_group(&sc, list, "personas", i, &sub, prefix, sizeof(prefix)))
			continue;
		check_keys(&sub, persona_keys);
		/* the fake Graph API answers GET /{persona_id} as Facebook does: a digits id */
		get_digits(&sub, "id", 1, &p->id);
		get_text(&sub, "name", 1, MSGR_SIM_PERSONA_NAME_MAX_CHARS, &p->name);
		if (get_str(&sub, "picture", 1, &p->picture) == 1 && p->picture[0] != '/' &&
		    msgr_url_check(p->picture, MSGR_URL_HTTPS | MSGR_URL_HTTP) != MSGR_URL_OK) {
			fault(ld, config_setting_get_member(sub.group, "picture"), "'%spicture' must be "
			    "an http:// or https:// URL, or a path starting with '/'", prefix);
			free(p->picture);
			p->picture = NULL;
		}
		for (k = 0; p->id != NULL && k < i; k++)
			if (cfg->simulator.personas[k].id != NULL &&
			    strcmp(cfg->simulator.personas[k].id, p->id) == 0) {
				fault(ld, sub.group, "'%sid' \"%s\" is already the id of "
				    "'simulator.personas[%d]'", prefix, p->id, k + 1);
				break;
			}
	}
}

static void
parse_connector(struct loader *ld, config_setting_t *g, int idx, struct msgr_connector *c)
{
	static const char *const keys[] = { "id", "path", "app_id", "page_id", "call_token",
		"webhook_token", "secret", "bot", "persona_id", "profile_fields", "send_rate",
		"on_request_thread_control", "profile", NULL };
	static const char *const rtc[] = { "ignore", "honour", NULL };
	char where[MSGR_MAX_CONNECTOR_ID_LEN + 32];
	struct scope sc = { ld, g, "", where };
	config_setting_t *s;
	int v, r;

	c->line = (int)config_setting_source_line(g);
	c->send_rate = 50;
	c->on_request_thread_control = MSGR_RTC_IGNORE;
	c->bot.timeout_ms = 5000;
	c->bot.events = MSGR_BOT_EVENTS_DEFAULT;
	snprintf(where, sizeof(where), " in connector #%d", idx + 1);

	/* the id first: every later message names the connector by it */
	r = get_str(&sc, "id", 1, &c->id);
	s = config_setting_get_member(g, "id");
	if (r == 1 && (!id_chars(c->id) || strlen(c->id) > MSGR_MAX_CONNECTOR_ID_LEN)) {
		fault(ld, s, "'id'%s must be 1 to %d characters of A-Z a-z 0-9 _ . -", where,
		    MSGR_MAX_CONNECTOR_ID_LEN);
		free(c->id);
		c->id = NULL;
	}
	if (c->id != NULL)
		snprintf(where, sizeof(where), " in connector '%s'", c->id);

	check_keys(&sc, keys);
	if (get_str(&sc, "path", 1, &c->path) == 1) {
		const char *p;
		int ok = c->path[0] == '/' && strlen(c->path) <= MSGR_MAX_PATH_BYTES;

		/* compared with PATH_INFO as the server decoded it: printable, no query part */
		for (p = c->path; ok && *p != '\0'; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
				ok = 0;
		if (!ok) {
			fault(ld, config_setting_get_member(g, "path"), "'path'%s must start with '/' and "
			    "hold no spaces, '?' or '#' (at most %d bytes)", where, MSGR_MAX_PATH_BYTES);
			free(c->path);
			c->path = NULL;
		}
	}
	get_digits(&sc, "app_id", 1, &c->app_id);
	get_digits(&sc, "page_id", 1, &c->page_id);
	get_secret(&sc, "call_token", 1, &c->call_token);
	get_secret(&sc, "webhook_token", 1, &c->webhook_token);
	get_secret(&sc, "secret", 1, &c->secret);
	if (c->call_token != NULL && c->secret != NULL &&
	    msgr_signature_hmac_hex(c->secret, c->call_token, strlen(c->call_token), c->proof)
	    != MSGR_OK)
		c->proof[0] = '\0';   /* made for each call instead */
	parse_bot(&sc, c);
	get_digits(&sc, "persona_id", 0, &c->persona_id);
	get_string_list(&sc, "profile_fields", MSGR_MAX_PROFILE_FIELDS, &c->profile_fields,
	    &c->n_profile_fields, valid_field, "a field name (a-z and _)");
	get_int32(&sc, "send_rate", 1, MSGR_SEND_RATE_MAX, &c->send_rate);
	if (get_enum(&sc, "on_request_thread_control", rtc, &v) == 1)
		c->on_request_thread_control = v == 0 ? MSGR_RTC_IGNORE : MSGR_RTC_HONOUR;
	parse_profile(&sc, c);
}

/* How a message names connector idx: 'id', or #N when its id is itself wrong. */
static const char *
label(const struct msgr_connector *c, size_t idx, char *buf, size_t bufsz)
{
	if (c->id != NULL)
		snprintf(buf, bufsz, "'%s'", c->id);
	else
		snprintf(buf, bufsz, "#%zu", idx + 1);
	return buf;
}

/* Duplicates and app_id groups: each connector against the first one sharing the value. */
static void
cross_check(struct loader *ld, config_setting_t *list, struct msgr_config *cfg)
{
	char la[MSGR_MAX_CONNECTOR_ID_LEN + 8], lb[MSGR_MAX_CONNECTOR_ID_LEN + 8], at[1024];
	size_t i, j;

	for (j = 0; j < cfg->n_connectors; j++) {
		const struct msgr_connector *b = &cfg->connectors[j];
		config_setting_t *bs = config_setting_get_elem(list, (unsigned)j);
		int dup_id = 0, dup_path = 0, dup_page = 0, app_checked = 0;

		label(b, j, lb, sizeof(lb));
		for (i = 0; i < j; i++) {
			const struct msgr_connector *a = &cfg->connectors[i];

			where_of(ld, config_setting_get_elem(list, (unsigned)i), at, sizeof(at));
			label(a, i, la, sizeof(la));
			if (!dup_id && a->id && b->id && strcmp(a->id, b->id) == 0) {
				fault(ld, bs, "duplicate id '%s': the connector at %s has it too", b->id, at);
				dup_id = 1;
			}
			if (!dup_path && a->path && b->path && strcmp(a->path, b->path) == 0) {
				fault(ld, bs, "duplicate path '%s' in connector %s: connector %s (%s) has it "
				    "too", b->path, lb, la, at);
				dup_path = 1;
			}
			if (!dup_page && a->page_id && b->page_id && strcmp(a->page_id, b->page_id) == 0) {
				fault(ld, bs, "duplicate page_id '%s' in connector %s: connector %s (%s) has "
				    "it too", b->page_id, lb, la, at);
				dup_page = 1;
			}
			/* Facebook keeps one callback per app (docs/facebook.md "Subscriptions"): one verify
			 * token and one signing secret for every page of the app */
			if (!app_checked && a->app_id && b->app_id && strcmp(a->app_id, b->app_id) == 0) {
				app_checked = 1;
				if (a->secret && b->secret && !msgr_signature_equal(a->secret, b->secret))
					fault(ld, bs, "connectors %s (%s) and %s share app_id %s but not its "
					    "secret", la, at, lb, b->app_id);
				if (a->webhook_token && b->webhook_token &&
				    !msgr_signature_equal(a->webhook_token, b->webhook_token))
					fault(ld, bs, "connectors %s (%s) and %s share app_id %s but not its "
					    "webhook_token", la, at, lb, b->app_id);
			}
		}
	}

	/* a claim must outlive one bot call, or a slow bot loses its lease and the event is
	 * worked twice */
	for (j = 0; j < cfg->n_connectors; j++) {
		const struct msgr_connector *c = &cfg->connectors[j];

		if (c->bot.type == MSGR_BOT_API && c->bot.timeout_ms >= cfg->worker.lease_ms)
			fault(ld, config_setting_get_elem(list, (unsigned)j), "'bot.timeout_ms' in "
			    "connector %s (%d) must be below 'worker.lease_ms' (%d)",
			    label(c, j, lb, sizeof(lb)), c->bot.timeout_ms, cfg->worker.lease_ms);
	}
}

static void
parse_root(struct loader *ld, config_t *lc, struct msgr_config *cfg)
{
	static const char *const keys[] = { "graph", "state", "max_body", "log_level", "worker",
		"responder", "simulator", "connectors", NULL };
	config_setting_t *root = config_root_setting(lc), *list;
	struct scope sc = { ld, root, "", "" };
	long long mb;
	char *lv = NULL;
	int i, n;

	check_keys(&sc, keys);
	parse_graph(ld, root, cfg);
	parse_state(ld, root, cfg);
	parse_worker(ld, root, cfg);
	parse_responder(ld, root, cfg);
	parse_simulator(ld, root, cfg);
	if (get_int(&sc, "max_body", 1024, MSGR_MAX_BODY_CEILING, &mb) == 1)
		cfg->max_body = (size_t)mb;
	if (get_str(&sc, "log_level", 0, &lv) == 1) {
		int l = msgr_log_level_parse(lv);

		if (l < 0)
			fault(ld, config_setting_get_member(root, "log_level"),
			    "'log_level' must be \"debug\", \"info\", \"warn\" or \"error\"");
		else
			cfg->log_level = l;
		free(lv);
	}
	if (cfg->worker.lease_ms <= cfg->graph.timeout_ms)
		fault(ld, config_setting_get_member(root, "worker") != NULL ?
		    config_setting_get_member(root, "worker") : config_setting_get_member(root,
		    "graph"), "'worker.lease_ms' (%d) must exceed 'graph.timeout_ms' (%d)",
		    cfg->worker.lease_ms, cfg->graph.timeout_ms);

	if (get_list(&sc, "connectors", MSGR_MAX_CONNECTORS, &list) == 0) {
		fault_file(ld, "missing key 'connectors'");
		return;
	}
	if (list == NULL)
		return;
	if ((n = config_setting_length(list)) == 0) {
		fault(ld, list, "'connectors' is empty: at least one connector is needed");
		return;
	}
	if ((cfg->connectors = calloc((size_t)n, sizeof(*cfg->connectors))) == NULL) {
		ld->nomem = 1;
		return;
	}
	cfg->n_connectors = (size_t)n;
	for (i = 0; i < n && !ld->nomem; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		if (!config_setting_is_group(g)) {
			fault(ld, g, "connectors[%d] must be a group { ... }, not %s", i + 1,
			    msgr_cfgread_type_name(g));
			continue;
		}
		parse_connector(ld, g, i, &cfg->connectors[i]);
	}
	if (!ld->nomem)
		cross_check(ld, list, cfg);
}

/* ---- public ---- */

const char *
msgr_config_default_path(void)
{
	const char *p = getenv("MSGR_CONFIG");

	return p != NULL && *p != '\0' ? p : MSGR_DEFAULT_CONFIG;
}

static void
free_connector(struct msgr_connector *c)
{
	size_t i, j;

	free(c->id);
	free(c->path);
	free(c->app_id);
	free(c->page_id);
	wipe_free(c->call_token);
	wipe_free(c->webhook_token);
	wipe_free(c->secret);
	OPENSSL_cleanse(c->proof, sizeof(c->proof));
	free(c->bot.file);
	free(c->bot.url);
	wipe_free(c->bot.secret);
	free(c->persona_id);
	for (i = 0; i < c->n_profile_fields; i++)
		free(c->profile_fields[i]);
	free(c->profile_fields);
	free(c->profile.get_started);
	for (i = 0; i < c->profile.n_greeting; i++) {
		free(c->profile.greeting[i].locale);
		free(c->profile.greeting[i].text);
	}
	free(c->profile.greeting);
	for (i = 0; i < c->profile.n_ice_breakers; i++) {
		free(c->profile.ice_breakers[i].question);
		free(c->profile.ice_breakers[i].payload);
	}
	free(c->profile.ice_breakers);
	for (i = 0; i < c->profile.n_menus; i++) {
		struct msgr_menu *m = &c->profile.menus[i];

		for (j = 0; j < m->n_items; j++) {
			free(m->items[j].title);
			free(m->items[j].payload);
			free(m->items[j].url);
		}
		free(m->items);
		free(m->locale);
	}
	free(c->profile.menus);
	for (i = 0; i < c->profile.n_whitelisted_domains; i++)
		free(c->profile.whitelisted_domains[i]);
	free(c->profile.whitelisted_domains);
}

static void
free_sources(struct msgr_secret_source *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].what);
	}
	free(v);
}

/* Whom a mode lets read, or NULL when only the owner can. */
static const char *
readers(mode_t mode)
{
	if ((mode & S_IROTH) != 0)
		return "everyone";
	if ((mode & S_IRGRP) != 0)
		return "its group";
	return NULL;
}

size_t
msgr_config_exposure(const struct msgr_config *cfg,
    void (*warn)(void *arg, const char *text), void *arg)
{
	char text[1024];
	struct stat sb;
	const char *who;
	size_t i, j, n = 0;

	if (cfg == NULL)
		return 0;
	for (i = 0; i < cfg->n_secret_sources; i++) {
		const struct msgr_secret_source *s = &cfg->secret_sources[i];
		int seen = 0;

		/* one warning per file */
		for (j = 0; j < i && !seen; j++)
			seen = strcmp(cfg->secret_sources[j].path, s->path) == 0;
		if (seen || stat(s->path, &sb) != 0 || (who = readers(sb.st_mode)) == NULL)
			continue;
		if (s->is_inline)
			snprintf(text, sizeof(text), "%s is readable by %s and holds secrets inline "
			    "(%s...): chmod 600 it, or write each secret as \"env:NAME\" or "
			    "\"file:PATH\"", s->path, who, s->what);
		else
			snprintf(text, sizeof(text), "%s (%s) is readable by %s: chmod 600 it",
			    s->path, s->what, who);
		if (warn != NULL)
			warn(arg, text);
		n++;
	}
	return n;
}

void
msgr_config_free(struct msgr_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free_sources(cfg->secret_sources, cfg->n_secret_sources);
	for (i = 0; i < cfg->n_connectors; i++)
		free_connector(&cfg->connectors[i]);
	free(cfg->connectors);
	free(cfg->file);
	free(cfg->dir);
	free(cfg->graph.url);
	free(cfg->graph.version);
	free(cfg->state.path);
	wipe_free(cfg->state.conninfo);
	free(cfg->simulator.url);
	free(cfg->simulator.clock_file);
	for (i = 0; i < cfg->simulator.n_personas; i++) {
		free(cfg->simulator.personas[i].id);
		free(cfg->simulator.personas[i].name);
		free(cfg->simulator.personas[i].picture);
	}
	free(cfg->simulator.personas);
	free(cfg);
}

/* Absolute path of the file and its folder. realpath when it exists (it was just read), so
 * relative paths inside stay right whatever the caller's working directory becomes. */
static msgr_result
locate(const char *path, char **file, char **dir)
{
	char *abs = NULL, *slash, *cwd;

	*file = *dir = NULL;
	if ((abs = realpath(path, NULL)) == NULL) {
		struct msgr_buf b;

		if (path[0] == '/')
			abs = strdup(path);
		else {
			/* getcwd(NULL, 0) allocates (glibc, the BSDs, macOS): no PATH_MAX guess */
			if ((cwd = getcwd(NULL, 0)) == NULL)
				return MSGR_ERR_IO;
			msgr_buf_init(&b, strlen(cwd) + strlen(path) + 2);
			if (msgr_buf_printf(&b, "%s/%s", cwd, path) != MSGR_OK) {
				msgr_buf_free(&b);
				free(cwd);
				return MSGR_ERR_NOMEM;
			}
			free(cwd);
			abs = msgr_buf_steal(&b);
		}
		if (abs == NULL)
			return MSGR_ERR_NOMEM;
	}
	slash = strrchr(abs, '/');
	*dir = slash == abs ? strdup("/") : strndup(abs, (size_t)(slash - abs));
	if (*dir == NULL) {
		free(abs);
		return MSGR_ERR_NOMEM;
	}
	*file = abs;
	return MSGR_OK;
}

/* Every key's default (docs/configuration.md), and where the file is: relative paths in it
 * are relative to its folder. */
static msgr_result
set_defaults(struct loader *ld, struct msgr_config *cfg)
{
	msgr_result rc;

	cfg->graph.timeout_ms = 10000;
	cfg->graph.connect_timeout_ms = 3000;
	cfg->state.journal = MSGR_JOURNAL_WAL;
	cfg->state.sync = MSGR_SYNC_FULL;
	cfg->state.busy_timeout_ms = 2000;
	cfg->max_body = MSGR_MAX_BODY_DEFAULT;
	cfg->log_level = MSGR_LOG_INFO;
	cfg->worker.budget_ms = 1000;
	cfg->worker.lease_ms = 30000;
	cfg->worker.retry_max_s = 86400;
	cfg->worker.idle_ms = 500;
	cfg->worker.echo_wait_ms = MSGR_ECHO_WAIT_DEFAULT_MS;
	cfg->responder.threads = 1;
	cfg->responder.host_commit = 1;
	if ((rc = locate(ld->name, &cfg->file, &cfg->dir)) != MSGR_OK)
		return rc;
	ld->dir = ld->rd.dir = cfg->dir;
	ld->file = cfg->file;
	if ((cfg->graph.url = strdup("https://graph.facebook.com")) == NULL ||
	    (cfg->graph.version = strdup("v26.0")) == NULL ||
	    (cfg->simulator.url = strdup("http://127.0.0.1:8080")) == NULL ||
	    (cfg->state.path = resolve_path(ld, "state.db")) == NULL)
		return MSGR_ERR_NOMEM;
	return MSGR_OK;
}

/* Reads and parses the file, then every key of it into cfg; faults into ld. */
static msgr_result
read_config(struct loader *ld, struct msgr_config *cfg)
{
	msgr_result rc = msgr_cfgread_load(&ld->rd, ld->name, MSGR_MAX_CONFIG_FILE);

	if (rc == MSGR_ERR_TOOBIG)
		fault_file(ld, "larger than %d bytes", MSGR_MAX_CONFIG_FILE);
	else if (rc == MSGR_ERR_IO)
		fault_file(ld, "cannot read: %s", strerror(errno));
	if (rc != MSGR_OK)
		return rc == MSGR_ERR_NOMEM ? rc : MSGR_ERR_CONFIG;
	parse_root(ld, &ld->rd.lc, cfg);
	return ld->nomem ? MSGR_ERR_NOMEM : MSGR_OK;
}

/* Every fault (sorted by file and line, lib/cfgread.h) and "out of memory" when it was that,
 * malloc'd. */
static char *
errors_text(struct loader *ld, msgr_result rc)
{
	struct msgr_buf b;
	char *faults = msgr_cfgread_errors(&ld->rd);

	msgr_buf_init(&b, ERRTEXT_MAX * 2);
	if (faults != NULL)
		(void)msgr_buf_puts(&b, faults);
	free(faults);
	if (rc == MSGR_ERR_NOMEM)
		(void)msgr_buf_printf(&b, "%s: out of memory\n", ld->name);
	return msgr_buf_steal(&b);
}

msgr_result
msgr_config_load(const char *path, struct msgr_config **out, char **errors)
{
	struct loader ld;
	struct msgr_config *cfg = NULL;
	msgr_result rc;

	if (out != NULL)
		*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if (path == NULL || out == NULL)
		return MSGR_ERR_INVALID;
	memset(&ld, 0, sizeof(ld));
	ld.name = path;
	msgr_cfgread_init(&ld.rd, MSGR_CFGREAD_CONFIG, path, NULL, MSGR_MAX_CONFIG_ERRORS,
	    ERRTEXT_MAX);
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		rc = MSGR_ERR_NOMEM;
	else if ((rc = set_defaults(&ld, cfg)) == MSGR_OK)
		rc = read_config(&ld, cfg);
	if (rc == MSGR_OK && ld.rd.n_faults == 0 && (ld.nomem || ld.rd.nomem))
		rc = MSGR_ERR_NOMEM;
	if (rc == MSGR_OK && ld.rd.n_faults == 0) {
		/* the secrets' files, for msgr_config_exposure */
		cfg->secret_sources = ld.sources;
		cfg->n_secret_sources = ld.n_sources;
		ld.sources = NULL;
		ld.n_sources = 0;
		*out = cfg;
		cfg = NULL;
	} else {
		if (rc == MSGR_OK)
			rc = MSGR_ERR_CONFIG;
		if (errors != NULL)
			*errors = errors_text(&ld, rc);
	}
	msgr_cfgread_free(&ld.rd);
	msgr_config_free(cfg);
	free_sources(ld.sources, ld.n_sources);
	return rc;
}

const struct msgr_connector *
msgr_config_by_path(const struct msgr_config *cfg, const char *path_info)
{
	size_t i;

	if (cfg == NULL || path_info == NULL)
		return NULL;
	for (i = 0; i < cfg->n_connectors; i++)
		if (strcmp(cfg->connectors[i].path, path_info) == 0)
			return &cfg->connectors[i];
	return NULL;
}

const struct msgr_connector *
msgr_config_by_id(const struct msgr_config *cfg, const char *id)
{
	size_t i;

	if (cfg == NULL || id == NULL)
		return NULL;
	for (i = 0; i < cfg->n_connectors; i++)
		if (strcmp(cfg->connectors[i].id, id) == 0)
			return &cfg->connectors[i];
	return NULL;
}

const struct msgr_connector *
msgr_config_by_page(const struct msgr_config *cfg, const char *app_id, const char *page_id)
{
	size_t i;

	if (cfg == NULL || app_id == NULL || page_id == NULL)
		return NULL;
	for (i = 0; i < cfg->n_connectors; i++)
		if (strcmp(cfg->connectors[i].page_id, page_id) == 0 &&
		    strcmp(cfg->connectors[i].app_id, app_id) == 0)
			return &cfg->connectors[i];
	return NULL;
}
