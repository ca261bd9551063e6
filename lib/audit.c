/* audit.c — files others can read or write, secrets easy to guess (audit.h; the rules are
 * those of docs/deploy.md "Permissions" and docs/configuration.md "Secrets"). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

#define PATH_BYTES   4096   /* Linux's PATH_MAX: a longer path is not one the config took */
#define OTHERS_WRITE (S_IWGRP | S_IWOTH)
#define OTHERS_RW    (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)

/* Whom a mode lets write (or read and write: bits), or NULL when only the owner. */
static const char *
who(mode_t mode, mode_t bits)
{
	if ((mode & bits & (S_IROTH | S_IWOTH)) != 0)
		return "everyone";
	if ((mode & bits & (S_IRGRP | S_IWGRP)) != 0)
		return "its group";
	return NULL;
}

/* ---- a "file:" secret's path ------------------------------------------------------------ */

/* 1 when a symbolic link is met walking path component by component (a link to a folder on
 * the way counts as much as a link to the file). */
static int
through_symlink(const char *path)
{
	char buf[PATH_BYTES];
	struct stat sb;
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return 1;   /* cannot tell: as careful as if it were one */
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		char c = buf[i];

		if (c != '/' && c != '\0')
			continue;
		buf[i] = '\0';
		if (lstat(buf, &sb) == 0 && S_ISLNK(sb.st_mode))
			return 1;
		buf[i] = c;
	}
	return 0;
}

/* A user whose hold on the file does not matter: root, this process's user, or the file's
 * owner (who can rewrite it anyway). */
static int
trusted(uid_t uid, uid_t file_owner)
{
	return uid == 0 || uid == geteuid() || uid == file_owner;
}

msgr_result
msgr_audit_secret_path(const char *path, char *why, size_t whysz)
{
	struct stat file, dir;
	char *real, *slash;
	uid_t below;
	msgr_result rc = MSGR_OK;

	if (whysz > 0)
		why[0] = '\0';
	if (path == NULL)
		return MSGR_ERR_INVALID;
	if ((real = realpath(path, NULL)) == NULL)
		return errno == ENOMEM ? MSGR_ERR_NOMEM : MSGR_OK;
	if (stat(real, &file) != 0)
		goto out;
	/* Whoever can write the file chooses the secret: the app secret that signs webhooks,
	 * the verify token, the bot's key. Refused when everyone can; a file its group can
	 * write is check's warning only (with a group of one user, the usual umask 002 makes
	 * every file so, and a checkout of the tests' data too). */
	if ((file.st_mode & S_IWOTH) != 0) {
		snprintf(why, whysz, "is writable by everyone: chmod o-w it");
		rc = MSGR_ERR_CONFIG;
		goto out;
	}
	if (!through_symlink(path))
		goto out;
	/* A link the config's owner made may point anywhere: into a folder others can write,
	 * they could put their own file in its place. No folder of the real path may be
	 * writable by everyone, unless sticky (/tmp) with the entry below it owned by a user
	 * that already holds the file. */
	below = file.st_uid;
	while ((slash = strrchr(real, '/')) != NULL) {
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(real, &dir) != 0)
			break;
		if ((dir.st_mode & S_IWOTH) != 0 &&
		    ((dir.st_mode & S_ISVTX) == 0 || !trusted(below, file.st_uid))) {
			snprintf(why, whysz, "is reached through a symbolic link into %s, a folder "
			    "everyone can write: keep the secret where only its owner can change it",
			    real);
			rc = MSGR_ERR_CONFIG;
			goto out;
		}
		below = dir.st_uid;
		if (slash == real)
			break;
	}
out:
	free(real);
	return rc;
}

/* ---- weak secrets ----------------------------------------------------------------------- */

/* Words people build "secrets" from. Longer words first where one holds another. */
static const char *const common_words[] = {
	"verification", "facebook", "messenger", "password", "changeme", "letmein", "welcome",
	"webhook", "example", "default", "replace", "sample", "secret", "passwd", "qwerty",
	"azerty", "random", "string", "admin", "verify", "token", "hello", "login", "test",
	"demo", "pass", "word", "shop", "page", "hook", "code", "user", "root", "long", "abc",
	"bot", "app", "key", "hub", "the", "and", "for", "our", "you", "with", "my",
	"123", "000", "111", NULL
};

const char *
msgr_audit_weak_secret(const char *secret, char *why, size_t whysz)
{
	unsigned char seen[256];
	const char *found = NULL;
	char *low, *p;
	size_t n, i, distinct = 0, steps = 0, left = 0;
	int w;

	if (whysz == 0 || secret == NULL)
		return NULL;
	why[0] = '\0';
	n = strlen(secret);
	if (n < MSGR_AUDIT_SECRET_MIN) {
		snprintf(why, whysz, "only %zu characters", n);
		return why;
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)secret[i];

		distinct += !seen[c];
		seen[c] = 1;
		if (i > 0) {
			int d = (int)c - (int)(unsigned char)secret[i - 1];

			steps += d >= -1 && d <= 1;
		}
	}
	if (distinct < 6) {
		snprintf(why, whysz, "only %zu different characters", distinct);
		return why;
	}
	/* aaaa..., abcd..., 1234..., 9876...: most neighbours equal or next to each other */
	if (steps * 2 > n - 1) {
		snprintf(why, whysz, "a run or sequence of characters");
		return why;
	}
	/* Drop every common word; what is left must still be a secret of its own. */
	if ((low = strdup(secret)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)low[i]);
	for (w = 0; common_words[w] != NULL; w++)
		while ((p = strstr(low, common_words[w])) != NULL) {
			memset(p, ' ', strlen(common_words[w]));
			if (found == NULL)
				found = common_words[w];
		}
	for (i = 0; i < n; i++)
		left += isalnum((unsigned char)low[i]) || (unsigned char)low[i] >= 0x80;
	free(low);
	if (found != NULL && left < 10) {
		snprintf(why, whysz, "mostly common words (\"%s\")", found);
		return why;
	}
	return NULL;
}

/* ---- the config's files and secrets ----------------------------------------------------- */

static void
say(size_t *n, void (*warn)(void *, const char *), void *arg, const char *text)
{
	if (warn != NULL)
		warn(arg, text);
	(*n)++;
}

/* The state file and the files SQLite keeps beside it. */
static void
audit_state(const char *path, size_t *n, void (*warn)(void *, const char *), void *arg)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal", NULL };
	char p[PATH_BYTES + 16], text[PATH_BYTES + 256];
	struct stat sb;
	const char *w, *what;
	size_t i;

	for (i = 0; suffixes[i] != NULL; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || (w = who(sb.st_mode, OTHERS_RW)) == NULL)
			continue;
		what = (sb.st_mode & (S_IWGRP | S_IWOTH)) == 0 ? "read" :
		    (sb.st_mode & (S_IRGRP | S_IROTH)) == 0 ? "written" : "read and written";
		snprintf(text, sizeof(text), "state file %s can be %s by %s: it holds people's "
		    "messages, PSIDs and tokens; chmod 600 it", p, what, w);
		say(n, warn, arg, text);
	}
}

/* The folder holding path, when others may replace what is in it. */
static void
audit_folder(const char *path, const char *what, size_t *n,
    void (*warn)(void *, const char *), void *arg)
{
	char dir[PATH_BYTES], text[PATH_BYTES * 2 + 128];
	const char *slash = strrchr(path, '/'), *w;
	struct stat sb;
	size_t len;

	if (slash == NULL)
		return;
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= sizeof(dir))
		return;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (stat(dir, &sb) != 0 || (sb.st_mode & S_ISVTX) != 0 ||
	    (w = who(sb.st_mode, OTHERS_WRITE)) == NULL)
		return;
	snprintf(text, sizeof(text), "folder %s can be written by %s: anyone there could replace "
	    "%s %s; chmod go-w it", dir, w, what, path);
	say(n, warn, arg, text);
}

/* Same folder as a, for one warning per folder. */
static int
same_folder(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	return sa != NULL && sb != NULL && sa - a == sb - b && strncmp(a, b, (size_t)(sa - a)) == 0;
}

static void
audit_weak(const char *id, const char *key, const char *value, size_t *n,
    void (*warn)(void *, const char *), void *arg)
{
	char why[96], text[512];

	if (msgr_audit_weak_secret(value, why, sizeof(why)) == NULL)
		return;
	snprintf(text, sizeof(text), "connector \"%s\": %s is easy to guess (%s): use at least "
	    "%d random characters, e.g. openssl rand -hex 32", id, key, why,
	    MSGR_AUDIT_SECRET_MIN);
	say(n, warn, arg, text);
}

size_t
msgr_audit_config(const struct msgr_config *cfg, void (*warn)(void *arg, const char *text),
    void *arg)
{
	char text[PATH_BYTES + 256];
	struct stat sb;
	const char *w;
	size_t n = 0, i, j;
	int dup;

	if (cfg == NULL)
		return 0;
	if (cfg->file != NULL && stat(cfg->file, &sb) == 0 &&
	    (w = who(sb.st_mode, OTHERS_WRITE)) != NULL) {
		snprintf(text, sizeof(text), "config %s can be written by %s: whoever writes it "
		    "chooses where messages go; chmod go-w it", cfg->file, w);
		say(&n, warn, arg, text);
	}
	/* "file:" secrets everyone can write are refused at load; its group, said here */
	for (i = 0; i < cfg->n_secret_sources; i++) {
		const struct msgr_secret_source *s = &cfg->secret_sources[i];

		for (j = 0, dup = 0; j < i && !dup; j++)
			dup = strcmp(cfg->secret_sources[j].path, s->path) == 0;
		if (dup || s->is_inline || stat(s->path, &sb) != 0 ||
		    (w = who(sb.st_mode, OTHERS_WRITE)) == NULL)
			continue;
		snprintf(text, sizeof(text), "%s (%s) can be written by %s: whoever writes it "
		    "chooses the secret; chmod go-w it", s->path, s->what, w);
		say(&n, warn, arg, text);
	}
	if (cfg->file != NULL)
		audit_folder(cfg->file, "the config", &n, warn, arg);
	if (cfg->state.path != NULL) {
		audit_state(cfg->state.path, &n, warn, arg);
		if (cfg->file == NULL || !same_folder(cfg->file, cfg->state.path))
			audit_folder(cfg->state.path, "the state file", &n, warn, arg);
	}
	/* The secrets a person chooses: the verify token, an api bot's secret. The app secret
	 * and the page token come from Facebook. One warning per value (an app's pages share
	 * their verify token). */
	for (i = 0; i < cfg->n_connectors; i++) {
		const struct msgr_connector *c = &cfg->connectors[i];

		for (j = 0, dup = 0; j < i && !dup; j++)
			dup = cfg->connectors[j].webhook_token != NULL && c->webhook_token != NULL &&
			    strcmp(cfg->connectors[j].webhook_token, c->webhook_token) == 0;
		if (!dup && c->webhook_token != NULL)
			audit_weak(c->id, "webhook_token (the verify token)", c->webhook_token, &n,
			    warn, arg);
		if (c->bot.type != MSGR_BOT_API || c->bot.secret == NULL)
			continue;
		for (j = 0, dup = 0; j < i && !dup; j++)
			dup = cfg->connectors[j].bot.secret != NULL &&
			    strcmp(cfg->connectors[j].bot.secret, c->bot.secret) == 0;
		if (!dup)
			audit_weak(c->id, "bot.secret", c->bot.secret, &n, warn, arg);
	}
	return n;
}
