/* cfgread.c — the shared libconfig reader (lib/cfgread.h).
 *
 * A file is read whole into memory first, bounded, and parsed from there: a file too large,
 * not text, or changing under us is never half-read, and the config can re-read a literal
 * from the same bytes libconfig saw. Faults are kept one record each so the config can sort
 * them by file and line before they are shown. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "buf.h"
#include "cfgread.h"

/* room kept for the closing line, so a flood of faults still says it was cut */
#define CLOSING_ROOM 64

void
msgr_cfgread_init(struct msgr_cfgread *r, enum msgr_cfgread_style style, const char *name,
    const char *dir, size_t max_listed, size_t max_bytes)
{
	memset(r, 0, sizeof(*r));
	r->style = style;
	r->name = name;
	r->dir = dir;
	r->max_listed = max_listed;
	r->max_bytes = max_bytes;
}

void
msgr_cfgread_free(struct msgr_cfgread *r)
{
	size_t i;

	for (i = 0; i < r->n_listed; i++) {
		free(r->faults[i].text);
		free(r->faults[i].file);
	}
	free(r->faults);
	r->faults = NULL;
	r->n_listed = r->cap = 0;
	if (r->have_lc)
		config_destroy(&r->lc);
	r->have_lc = 0;
	free(r->text);
	r->text = NULL;
}

/* ---- faults ---- */

/* Keeps text as the next fault, unless the list is full (then it is only counted). */
static void
keep(struct msgr_cfgread *r, const char *file, int line, char *text)
{
	struct msgr_cfgread_fault *f;
	size_t n = strlen(text);

	if (r->cut || r->n_listed >= r->max_listed ||
	    r->bytes + n + CLOSING_ROOM > r->max_bytes) {
		/* in the order found, a later fault must not show when an earlier did not */
		if (r->style == MSGR_CFGREAD_STORIES || r->n_listed < r->max_listed)
			r->cut = 1;
		free(text);
		return;
	}
	if (r->n_listed == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;

		if ((f = realloc(r->faults, cap * sizeof(*f))) == NULL) {
			r->nomem = 1;
			free(text);
			return;
		}
		r->faults = f;
		r->cap = cap;
	}
	f = &r->faults[r->n_listed];
	f->text = text;
	f->line = line;
	f->seq = r->n_faults;
	f->main_file = strcmp(file, r->name) == 0;
	if ((f->file = strdup(file)) == NULL) {
		r->nomem = 1;
		free(text);
		return;
	}
	r->n_listed++;
	r->bytes += n;
}

static void fault_v(struct msgr_cfgread *, const char *, int, const char *, va_list)
	__attribute__((format(printf, 4, 0)));

static void
fault_v(struct msgr_cfgread *r, const char *file, int line, const char *fmt, va_list ap)
{
	const char *subject = r->subject != NULL ? r->subject : "";
	struct msgr_buf b;
	msgr_result rc;
	char msg[1024];
	char *text;

	r->n_faults++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msgr_buf_init(&b, r->max_bytes);
	/* the config leaves a fault about the whole file without a line; stories say line 0 */
	if (line > 0 || r->style == MSGR_CFGREAD_STORIES)
		rc = msgr_buf_printf(&b, "%s:%d: %s%s\n", file, line, subject, msg);
	else
		rc = msgr_buf_printf(&b, "%s: %s%s\n", file, subject, msg);
	if (rc != MSGR_OK || (text = msgr_buf_steal(&b)) == NULL) {
		/* no memory, or longer than all the room there is: counted, not listed */
		if (rc != MSGR_ERR_TOOBIG)
			r->nomem = 1;
		if (r->style == MSGR_CFGREAD_STORIES)
			r->cut = 1;
		msgr_buf_free(&b);
		return;
	}
	keep(r, file, line, text);
}

const char *
msgr_cfgread_path(const struct msgr_cfgread *r, const char *file, char *buf, size_t bufsz)
{
	if (file == NULL)
		return r->name;
	if (file[0] == '/' || strcmp(file, r->name) == 0 || r->dir == NULL)
		return file;
	snprintf(buf, bufsz, "%s/%s", r->dir, file);
	return buf;
}

void
msgr_cfgread_fault(struct msgr_cfgread *r, const config_setting_t *s, const char *fmt, ...)
{
	char inc[4096];
	const char *file = r->name;
	int line = 0;
	va_list ap;

	/* an @include keeps its own name and lines */
	if (s != NULL) {
		file = msgr_cfgread_path(r, config_setting_source_file(s), inc, sizeof(inc));
		line = (int)config_setting_source_line(s);
	}
	va_start(ap, fmt);
	fault_v(r, file, line, fmt, ap);
	va_end(ap);
}

void
msgr_cfgread_fault_at(struct msgr_cfgread *r, const char *file, int line, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	fault_v(r, file, line, fmt, ap);
	va_end(ap);
}

/* Whole-file faults first, then the file before its @includes, then by line; the order of
 * discovery breaks ties so a connector's faults stay together. */
static int
fault_cmp(const void *pa, const void *pb)
{
	const struct msgr_cfgread_fault *a = pa, *b = pb;
	int c;

	if (a->main_file != b->main_file)
		return b->main_file - a->main_file;
	if ((c = strcmp(a->file, b->file)) != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

char *
msgr_cfgread_errors(struct msgr_cfgread *r)
{
	struct msgr_buf b;
	size_t i;

	if (r->n_faults == 0)
		return NULL;
	if (r->style == MSGR_CFGREAD_CONFIG)
		qsort(r->faults, r->n_listed, sizeof(r->faults[0]), fault_cmp);
	msgr_buf_init(&b, r->max_bytes + CLOSING_ROOM + strlen(r->name));
	for (i = 0; i < r->n_listed; i++)
		if (msgr_buf_puts(&b, r->faults[i].text) != MSGR_OK)
			r->nomem = 1;
	if (r->n_faults > r->n_listed) {
		if (r->style == MSGR_CFGREAD_CONFIG)
			(void)msgr_buf_printf(&b, "%s: %zu more errors not shown\n", r->name,
			    r->n_faults - r->n_listed);
		else
			(void)msgr_buf_printf(&b, "... and more: %zu faults in all\n", r->n_faults);
	}
	return msgr_buf_steal(&b);
}

/* ---- reading ---- */

msgr_result
msgr_cfgread_file(const char *path, size_t max, char **out, size_t *len)
{
	struct msgr_buf b;
	char chunk[4096];
	msgr_result rc = MSGR_OK;
	FILE *fp;
	size_t n;
	int saved;

	*out = NULL;
	*len = 0;
	msgr_buf_init(&b, max);
	if ((fp = fopen(path, "rb")) == NULL)
		return MSGR_ERR_IO;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if ((rc = msgr_buf_append(&b, chunk, n)) != MSGR_OK)
			goto out;
	if (ferror(fp)) {
		rc = MSGR_ERR_IO;
		goto out;
	}
	*len = b.len;
	if ((*out = msgr_buf_steal(&b)) == NULL)
		rc = MSGR_ERR_NOMEM;
out:
	saved = errno;
	fclose(fp);
	msgr_buf_free(&b);
	errno = saved;
	return rc;
}

msgr_result
msgr_cfgread_load(struct msgr_cfgread *r, const char *path, size_t max_bytes)
{
	msgr_result rc;

	if ((rc = msgr_cfgread_file(path, max_bytes, &r->text, &r->text_len)) != MSGR_OK)
		return rc;
	if (memchr(r->text, '\0', r->text_len) != NULL) {
		msgr_cfgread_fault(r, NULL, "holds a NUL byte: not a text file");
		return MSGR_ERR_CONFIG;
	}
	config_init(&r->lc);
	r->have_lc = 1;
	/* @include "x.conf" is relative to the file, not to the working folder */
	if (r->dir != NULL)
		config_set_include_dir(&r->lc, r->dir);
	/* from the text already in memory (bounded), naming it as the user did */
	if (config_read_string(&r->lc, r->text) != CONFIG_TRUE) {
		const char *et = config_error_text(&r->lc);

		msgr_cfgread_fault_at(r, config_error_file(&r->lc) != NULL ?
		    config_error_file(&r->lc) : r->name,
		    config_error_line(&r->lc) > 0 ? config_error_line(&r->lc) : 1, "%s",
		    et != NULL ? et : "syntax error");
		return MSGR_ERR_CONFIG;
	}
	return MSGR_OK;
}

const char *
msgr_cfgread_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

/* ---- typed getters ---- */

int
msgr_cfgread_is(struct msgr_cfgread *r, const config_setting_t *s, int type, const char *name)
{
	const char *want, *shorter;
	int t = config_setting_type(s);

	if (t == type || (type == CONFIG_TYPE_LIST && t == CONFIG_TYPE_ARRAY) ||
	    (type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64))
		return 1;
	switch (type) {
	case CONFIG_TYPE_BOOL:
		want = "a boolean (true or false)";
		shorter = "true or false";
		break;
	case CONFIG_TYPE_LIST:
		want = shorter = "a list ( ... )";
		break;
	case CONFIG_TYPE_GROUP:
		want = shorter = "a group { ... }";
		break;
	case CONFIG_TYPE_INT:
		want = shorter = "an integer";
		break;
	default:
		want = shorter = "a string";
		break;
	}
	if (r->style == MSGR_CFGREAD_CONFIG)
		msgr_cfgread_fault(r, s, "%s must be %s, not %s", name, want,
		    msgr_cfgread_type_name(s));
	else
		msgr_cfgread_fault(r, s, "%s: not %s", name, shorter);
	return 0;
}

int
msgr_cfgread_string(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    size_t max_bytes, int nonempty, const char **out)
{
	const char *v;
	size_t n;
	int config = r->style == MSGR_CFGREAD_CONFIG;

	*out = NULL;
	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(r, s, CONFIG_TYPE_STRING, name))
		return -1;
	v = config_setting_get_string(s);
	n = strlen(v);
	if (n > max_bytes) {
		if (config)
			msgr_cfgread_fault(r, s, "%s is longer than %zu bytes", name, max_bytes);
		else
			msgr_cfgread_fault(r, s, "%s: %zu bytes, at most %zu", name, n, max_bytes);
		return -1;
	}
	if (u8_check((const uint8_t *)v, n) != NULL) {
		msgr_cfgread_fault(r, s, config ? "%s is not valid UTF-8" : "%s: not valid UTF-8",
		    name);
		return -1;
	}
	if (nonempty && n == 0) {
		msgr_cfgread_fault(r, s, config ? "%s is empty" : "%s: empty", name);
		return -1;
	}
	*out = v;
	return 1;
}

int
msgr_cfgread_bool(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    int *out)
{
	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(r, s, CONFIG_TYPE_BOOL, name))
		return -1;
	*out = config_setting_get_bool(s) != 0;
	return 1;
}

int
msgr_cfgread_list(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    size_t max)
{
	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(r, s, CONFIG_TYPE_LIST, name))
		return -1;
	if ((size_t)config_setting_length(s) > max) {
		if (r->style == MSGR_CFGREAD_CONFIG)
			msgr_cfgread_fault(r, s, "%s has %d elements, at most %zu allowed", name,
			    config_setting_length(s), max);
		else
			msgr_cfgread_fault(r, s, "%s: %d, at most %zu", name,
			    config_setting_length(s), max);
		return -1;
	}
	return 1;
}

int
msgr_cfgread_int(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    long long *out)
{
	if (s == NULL)
		return 0;
	if (!msgr_cfgread_is(r, s, CONFIG_TYPE_INT, name))
		return -1;
	*out = config_setting_type(s) == CONFIG_TYPE_INT ? (long long)config_setting_get_int(s) :
	    config_setting_get_int64(s);
	return 1;
}

void
msgr_cfgread_members(struct msgr_cfgread *r, const config_setting_t *group,
    const char *const *known, const config_setting_t **found, const char *before,
    const char *after)
{
	int i, n = config_setting_length(group);
	size_t k;

	for (k = 0; found != NULL && known[k] != NULL; k++)
		found[k] = NULL;
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);

		if (name == NULL)
			continue;
		for (k = 0; known[k] != NULL; k++)
			if (strcmp(name, known[k]) == 0)
				break;
		if (known[k] != NULL) {
			if (found != NULL)
				found[k] = m;
		} else if (r->style == MSGR_CFGREAD_CONFIG) {
			msgr_cfgread_fault(r, m, "unknown key '%s%s'%s", before, name, after);
		} else {
			msgr_cfgread_fault(r, m, "%s%sunknown key \"%s\"", before,
			    before[0] != '\0' ? ": " : "", name);
		}
	}
}
