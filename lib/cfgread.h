/* cfgread.h — the libconfig reader the config (lib/config.c) and the stories bot
 * (lib/bot_stories.c) share: the file read and parsed, every fault collected as "FILE:LINE:
 * ..." (docs/configuration.md "Errors", docs/stories.md "Faults found at load"), and typed
 * getters that say what is wrong with a setting. Private to libmsgr.
 *
 * The two files phrase their faults each their own way, and users and tests know both: a
 * config fault names its key ("'bot.url' in connector 'a' must be a string, not an
 * integer") and leaves a whole-file fault without a line, a stories fault names what it read
 * ("button url: not a string") and says line 0 for the whole file. The style picks the one. */
#ifndef MSGR_CFGREAD_H
#define MSGR_CFGREAD_H

#include <stddef.h>

#include <libconfig.h>

#include "result.h"

enum msgr_cfgread_style {
	MSGR_CFGREAD_CONFIG,    /* faults sorted by file and line; "NAME must be ..." */
	MSGR_CFGREAD_STORIES    /* faults in the order found; "NAME: not ..." */
};

struct msgr_cfgread_fault {
	char *text;             /* "FILE:LINE: message\n" */
	char *file;
	int main_file;          /* 1: the file itself; 0: an @include */
	int line;
	size_t seq;
};

struct msgr_cfgread {
	enum msgr_cfgread_style style;
	const char *name;       /* the file as the user named it: faults say it */
	const char *dir;        /* where @include names are found; NULL: the working folder */
	config_t lc;
	int have_lc;
	char *text;             /* the file as read, NUL-terminated */
	size_t text_len;
	const char *subject;    /* put before each message ("story \"x\": "), or NULL */
	struct msgr_cfgread_fault *faults;   /* those listed */
	size_t n_listed, cap;
	size_t n_faults;        /* found, listed or not */
	size_t max_listed;      /* faults listed at most; the rest are counted */
	size_t max_bytes;       /* bytes of fault text listed at most */
	size_t bytes;
	int cut;                /* a fault did not fit: none after it is listed */
	int nomem;
};

/* Sets r up for the file name (kept, not copied), with @include names found in dir (may be
 * NULL). */
void msgr_cfgread_init(struct msgr_cfgread *r, enum msgr_cfgread_style style,
    const char *name, const char *dir, size_t max_listed, size_t max_bytes);
void msgr_cfgread_free(struct msgr_cfgread *r);

/* Reads path (at most max_bytes) and parses it, r->lc then holding the settings.
 * MSGR_OK; MSGR_ERR_IO (errno kept), MSGR_ERR_TOOBIG or MSGR_ERR_NOMEM with no fault
 * recorded, for the caller to say in its words; MSGR_ERR_CONFIG with the fault recorded (a
 * NUL byte, a syntax error). */
msgr_result msgr_cfgread_load(struct msgr_cfgread *r, const char *path, size_t max_bytes);

/* Reads path whole, at most max bytes, into *out (NUL-terminated, malloc'd). MSGR_OK;
 * MSGR_ERR_IO with errno kept; MSGR_ERR_TOOBIG; MSGR_ERR_NOMEM. */
msgr_result msgr_cfgread_file(const char *path, size_t max, char **out, size_t *len);

/* The path of an @include name as libconfig records it, openable from anywhere: dir/name
 * (in buf) for a relative name, name itself otherwise; the file's own name when NULL. */
const char *msgr_cfgread_path(const struct msgr_cfgread *r, const char *file, char *buf,
    size_t bufsz);

/* Records a fault at setting s (its file and line), or about the whole file when s is NULL. */
void msgr_cfgread_fault(struct msgr_cfgread *r, const config_setting_t *s, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* Records a fault at a file and line given (a syntax error). */
void msgr_cfgread_fault_at(struct msgr_cfgread *r, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Every fault listed, one per line, and a closing line when some were not; malloc'd, NULL
 * when there is none or no memory. */
char *msgr_cfgread_errors(struct msgr_cfgread *r);

/* "a string", "an integer", ... for messages. */
const char *msgr_cfgread_type_name(const config_setting_t *s);

/* 1 when s is of type (CONFIG_TYPE_LIST takes an array too, CONFIG_TYPE_INT an int64);
 * else 0 after recording "NAME must be a string, not an integer" or "NAME: not a string". */
int msgr_cfgread_is(struct msgr_cfgread *r, const config_setting_t *s, int type,
    const char *name);

/* ---- typed getters: s is the setting (NULL: absent), name how faults call it ----
 * Each returns 1 with the value, 0 when s is NULL, -1 after recording a fault. */

/* A string of valid UTF-8 of at most max_bytes; not empty when nonempty. *out is
 * libconfig's (valid while r->lc is). */
int msgr_cfgread_string(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    size_t max_bytes, int nonempty, const char **out);
/* true or false. */
int msgr_cfgread_bool(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    int *out);
/* A list ( ... ) or an array [ ... ] of at most max elements. */
int msgr_cfgread_list(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    size_t max);
/* An integer (int or int64). */
int msgr_cfgread_int(struct msgr_cfgread *r, const config_setting_t *s, const char *name,
    long long *out);

/* Records a fault for each member of group whose name is not in known (NULL-terminated);
 * found[k] (when found is not NULL) is set to the member named known[k], or NULL. The fault
 * names the member as before + name + after: "unknown key 'graph.urll' in ..." in the config's
 * style, "answer 1: unknown key \"colour\"" in the stories' (after unused). */
void msgr_cfgread_members(struct msgr_cfgread *r, const config_setting_t *group,
    const char *const *known, const config_setting_t **found, const char *before,
    const char *after);

#endif
