/* msgrctl — the command line of messenger-fcgi (man/msgrctl.1).
 *
 *   msgrctl [-c FILE] COMMAND [options] [args]
 *
 * Every command takes -c FILE (before or after its name) and --help, exits 0 on success and
 * 1 on failure with a message on stderr. Commands live in tables: `commands` below (check,
 * sign, help) and one per command file (src/ctl_*.c); to add one, write a
 * `cmd_<name>(struct ctl *, int, char **)` handler that parses its options with getopt_long
 * (CTL_COMMON_OPTS and ctl_option give it -c and --help) and add a row to its file's table.
 * main starts and stops libcurl, once for whichever command runs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "bot.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "signature.h"
#include "url.h"

#include "lsan_libconfig.h"

#include "msgrctl.h"

static int cmd_check(struct ctl *, int, char **);
static int cmd_sign(struct ctl *, int, char **);
static int cmd_help(struct ctl *, int, char **);

/* ---- the table ---- */

static const struct ctl_command commands[] = {
	{ "check", cmd_check, "", "validate the configuration, list the connectors",
	  "Loads and validates the configuration. Prints every fault (FILE:LINE: what is wrong)\n"
	  "and exits 1, or lists the connectors (id, path, app_id, page_id, bot; never a token\n"
	  "or a secret) and \"config OK: N connectors\". Warns (exit status unchanged) about a\n"
	  "config, secret file or state file others can read or write, a folder others can\n"
	  "write holding them, and a verify token or bot secret that is easy to guess.\n"
	  "Reaches the state store without changing it and prints \"state: ...\" (SQLite: the\n"
	  "file and its schema; PostgreSQL: connected to what, never the password); one that\n"
	  "cannot be reached fails the check.\n" },
	{ "sign", cmd_sign, "[--connector ID] [FILE]", "print sha256=... for a webhook body",
	  "Prints the X-Hub-Signature-256 value Facebook would send for the body in FILE (or\n"
	  "standard input, or \"-\"): sha256=<hex HMAC-SHA256(app secret, body)>. The body is\n"
	  "read as raw bytes, at most max_body of them.\n\n"
	  "  --connector ID   sign with this connector's app secret (default: the first)\n" },
	{ "help", cmd_help, "[COMMAND]", "list the commands, or show one's usage",
	  "Prints the list of commands, or one command's usage.\n" },
	{ NULL, NULL, NULL, NULL, NULL }
};

/* Every table, in the order `msgrctl help` lists them. */
static const struct ctl_command *const tables[] = {
	commands, ctl_work_commands, ctl_thread_commands, ctl_setup_commands, NULL
};


static void
usage(FILE *fp)
{
	const struct ctl_command *const *t, *c;

	fprintf(fp, "usage: msgrctl [-c FILE] COMMAND [options] [args]\n\ncommands:\n");
	for (t = tables; *t != NULL; t++)
		for (c = *t; c->name != NULL; c++) {
			int w = fprintf(fp, "  %s%s%s", c->name, *c->usage ? " " : "", c->usage);
			fprintf(fp, "%*s  %s\n", w < 34 ? 34 - w : 0, "", c->summary);
		}
	fprintf(fp, "\n  -c, --config FILE  the configuration (default: $MSGR_CONFIG, else %s)\n"
	    "  -h, --help         this text; COMMAND --help for one command\n",
	    MSGR_DEFAULT_CONFIG);
}

/* ---- check ---- */

static void
print_exposure(void *arg, const char *text)
{
	(void)arg;
	fprintf(stderr, "msgrctl check: warning: %s\n", text);
}

/* Runs after the config itself loaded cleanly: each connector's bot checks what it needs
 * before it runs (a stories file, an api bot's url and secret). Prints the faults and
 * returns the number of connectors whose bot failed; check fails when it is not 0. */
static size_t
check_bots(const struct msgr_config *cfg)
{
	size_t i, bad = 0;

	for (i = 0; i < cfg->n_connectors; i++) {
		const struct msgr_connector *cn = &cfg->connectors[i];
		char *errors = NULL;
		msgr_result rc;

		rc = msgr_bot_check(cn, &errors);
		if (rc != MSGR_OK) {
			/* each line already names the connector or the file, line and story */
			if (errors != NULL)
				fputs(errors, stderr);
			else
				fprintf(stderr, "connector \"%s\": bot: %s\n", cn->id,
				    msgr_strerror(rc));
			bad++;
		}
		free(errors);
	}
	return bad;
}

static int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	char shown_url[MSGR_MAX_URL_BYTES + 8];
	size_t i, bad;
	int c, rc;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT, opts, NULL)) != -1)
		if ((rc = ctl_option(ctl, c)) >= 0)
			return rc;
	if (ctl_too_many(ctl, argc, argv) || ctl_load(ctl))
		return 1;
	/* never a token or a secret here: this output is pasted into tickets */
	for (i = 0; i < ctl->cfg->n_connectors; i++) {
		const struct msgr_connector *cn = &ctl->cfg->connectors[i];

		printf("%s path=%s app_id=%s page_id=%s bot=", cn->id, cn->path, cn->app_id,
		    cn->page_id);
		if (cn->bot.type == MSGR_BOT_STORIES)
			printf("stories file=%s\n", cn->bot.file);
		else {
			printf("api url=");
			/* no user:password@ and no query: either may carry a credential */
			msgr_url_redact(cn->bot.url, shown_url, sizeof(shown_url));
			fputs(shown_url, stdout);
			putchar('\n');
		}
	}
	/* A config others can read with a secret in it, or a readable file: secret; a state
	 * file, config or folder others can read or write; a weak verify token or bot secret:
	 * warnings only, the exit status stays the config's (docs/deploy.md "Permissions"). */
	(void)msgr_config_exposure(ctl->cfg, print_exposure, NULL);
	(void)msgr_audit_config(ctl->cfg, print_exposure, NULL);
	if ((bad = check_bots(ctl->cfg)) > 0) {
		fprintf(stderr, "msgrctl: %zu connector%s with a faulty bot\n", bad,
		    bad == 1 ? "" : "s");
		return 1;
	}
	/* Where the state lives, reached as the programs will reach it (a database server
	 * down or a wrong password shows here, not at the first webhook). */
	if (ctl_check_store(ctl) != 0)
		return 1;
	printf("config OK: %zu connectors\n", ctl->cfg->n_connectors);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "msgrctl: cannot write: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- sign ---- */

static int
cmd_sign(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "connector", required_argument, NULL, 'C' }, { NULL, 0, NULL, 0 } };
	char sig[MSGR_SIGNATURE_HEADER_LEN + 1], chunk[65536], esc[256];
	const struct msgr_connector *cn;
	const char *id = NULL, *file = NULL;
	struct msgr_buf body;
	FILE *fp = NULL;
	size_t n;
	int c, rc = 1;
	msgr_result r;

	msgr_buf_init(&body, 0);
	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "C:", opts, NULL)) != -1) {
		if (c == 'C')
			id = optarg;
		else if ((rc = ctl_option(ctl, c)) >= 0)
			return rc;
	}
	rc = 1;
	if (optind < argc)
		file = argv[optind++];
	if (ctl_too_many(ctl, argc, argv) || ctl_load(ctl))
		return 1;
	cn = id != NULL ? msgr_config_by_id(ctl->cfg, id) : &ctl->cfg->connectors[0];
	if (cn == NULL) {
		fprintf(stderr, "msgrctl sign: no connector \"%s\"\n",
		    msgr_log_escape(esc, sizeof(esc), id, strlen(id)));
		goto out;
	}
	if (file == NULL || strcmp(file, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(file, "rb")) == NULL) {
		fprintf(stderr, "msgrctl sign: %s: %s\n", msgr_log_escape(esc, sizeof(esc), file,
		    strlen(file)), strerror(errno));
		goto out;
	}
	/* the responder refuses bodies over max_body (413): signing one would test nothing */
	msgr_buf_init(&body, ctl->cfg->max_body);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if ((r = msgr_buf_append(&body, chunk, n)) != MSGR_OK) {
			if (r == MSGR_ERR_TOOBIG)
				fprintf(stderr, "msgrctl sign: the body is over max_body (%zu bytes)\n",
				    ctl->cfg->max_body);
			else
				fprintf(stderr, "msgrctl sign: %s\n", msgr_strerror(r));
			goto out;
		}
	}
	if (ferror(fp)) {
		fprintf(stderr, "msgrctl sign: cannot read the body: %s\n", strerror(errno));
		goto out;
	}
	if ((r = msgr_signature_format(cn->secret, body.data != NULL ? body.data : "", body.len,
	    sig)) != MSGR_OK) {
		fprintf(stderr, "msgrctl sign: %s\n", msgr_strerror(r));
		goto out;
	}
	/* the signature is meant for this output (a test header); it is not the secret */
	printf("%s\n", sig);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "msgrctl sign: cannot write: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fp != NULL && fp != stdin)
		fclose(fp);
	msgr_buf_free(&body);
	return rc;
}

/* ---- help ---- */

static const struct ctl_command *
find_command(const char *name)
{
	const struct ctl_command *const *t, *c;

	for (t = tables; *t != NULL; t++)
		for (c = *t; c->name != NULL; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static int
cmd_help(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	const struct ctl_command *c;
	char esc[128];
	int o, rc;

	while ((o = getopt_long(argc, argv, CTL_COMMON_SHORT, opts, NULL)) != -1)
		if ((rc = ctl_option(ctl, o)) >= 0)
			return rc;
	if (optind >= argc) {
		usage(stdout);
		return 0;
	}
	if ((c = find_command(argv[optind])) == NULL) {
		fprintf(stderr, "msgrctl: unknown command \"%s\"\n",
		    msgr_log_escape(esc, sizeof(esc), argv[optind], strlen(argv[optind])));
		usage(stderr);
		return 1;
	}
	ctl_command_usage(stdout, c);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct ctl ctl = { NULL, NULL, NULL, 0 };
	char name[64], esc[128];
	int c, rc;

	msgr_log_init("msgrctl", MSGR_LOG_INFO);
	/* options before the command; '+' stops at the command's name */
	while ((c = getopt_long(argc, argv, "+" CTL_COMMON_SHORT, opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "msgrctl: no command given\n");
		usage(stderr);
		return 1;
	}
	if ((ctl.cmd = find_command(argv[optind])) == NULL) {
		fprintf(stderr, "msgrctl: unknown command \"%s\"\n",
		    msgr_log_escape(esc, sizeof(esc), argv[optind], strlen(argv[optind])));
		usage(stderr);
		return 1;
	}
	/* the command parses its own options from its name on; getopt's messages then read
	 * "msgrctl sign: ..." */
	argc -= optind;
	argv += optind;
	snprintf(name, sizeof(name), "msgrctl %s", ctl.cmd->name);
	argv[0] = name;
#ifdef __GLIBC__
	optind = 0;     /* glibc: a full re-initialisation for a new argument vector */
#else
	optind = 1;
#endif
	/* Before any command runs, once: curl_global_init is not thread-safe everywhere
	 * (lib/http.h). A failure is the Graph client's to report, to the commands that use it
	 * (msgr_http_open tries again and says why). */
	(void)msgr_http_global_init();
	rc = ctl.cmd->run(&ctl, argc, argv);
	msgr_http_global_cleanup();
	msgr_config_free(ctl.cfg);
	return rc;
}
