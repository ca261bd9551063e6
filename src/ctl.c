/* ctl.c — the helpers every msgrctl command shares (ctl.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "options.h"

void
ctl_command_usage(FILE *fp, const struct ctl_command *c)
{
	fprintf(fp, "usage: msgrctl [-c FILE] %s%s%s\n\n%s", c->name, *c->usage ? " " : "",
	    c->usage, c->help);
}

int
ctl_option(struct ctl *ctl, int opt)
{
	switch (opt) {
	case 'c':
		ctl->config_path = optarg;
		return -1;
	case 'h':
		ctl_command_usage(stdout, ctl->cmd);
		return 0;
	default:
		/* getopt has said what was wrong */
		ctl_command_usage(stderr, ctl->cmd);
		return 1;
	}
}

int
ctl_too_many(struct ctl *ctl, int argc, char **argv)
{
	char esc[128];

	if (optind >= argc)
		return 0;
	fprintf(stderr, "msgrctl %s: unexpected argument \"%s\"\n", ctl->cmd->name,
	    msgr_log_escape(esc, sizeof(esc), argv[optind], strlen(argv[optind])));
	ctl_command_usage(stderr, ctl->cmd);
	return 1;
}

int
ctl_load(struct ctl *ctl)
{
	const char *path = ctl->config_path ? ctl->config_path : msgr_config_default_path();
	char *errors = NULL;
	msgr_result rc;

	rc = msgr_config_load(path, &ctl->cfg, &errors);
	if (rc != MSGR_OK) {
		if (errors != NULL && *errors != '\0')
			fputs(errors, stderr);
		fprintf(stderr, "msgrctl: %s: %s\n", path, msgr_strerror(rc));
		free(errors);
		return 1;
	}
	msgr_log_set_level((enum msgr_log_level)ctl->cfg->log_level);
	return 0;
}

int
ctl_open_store(struct ctl *ctl, struct msgr_store **st)
{
	struct msgr_store_options o;
	char err[256] = "";
	msgr_result rc;

	msgr_options_store(ctl->cfg, &o);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	o.checkpoint_apart = ctl->checkpoint_apart;
	if ((rc = msgr_store_open(&o, st)) != MSGR_OK) {
		fprintf(stderr, "msgrctl %s: store %s: %s%s%s\n", ctl->cmd->name, o.path,
		    msgr_strerror(rc), err[0] ? ": " : "", err);
		return 1;
	}
	return 0;
}

int
ctl_check_store(struct ctl *ctl)
{
	struct msgr_store_options o;
	char what[512];
	msgr_result rc;

	msgr_options_store(ctl->cfg, &o);
	if ((rc = msgr_store_check(&o, what, sizeof(what))) != MSGR_OK) {
		fprintf(stderr, "msgrctl %s: state: %s\n", ctl->cmd->name,
		    what[0] ? what : msgr_strerror(rc));
		return 1;
	}
	printf("state: %s\n", what);
	return 0;
}

int
ctl_open_graph(struct ctl *ctl, struct msgr_graph **g)
{
	struct msgr_graph_options o;
	msgr_result rc;

	msgr_options_graph(ctl->cfg, &o);
	if ((rc = msgr_graph_open(&o, g)) != MSGR_OK) {
		fprintf(stderr, "msgrctl %s: Graph API client: %s\n", ctl->cmd->name,
		    msgr_strerror(rc));
		return 1;
	}
	return 0;
}
