/* ctl.h — what every command file of msgrctl shares (src/ctl.c): the command's context, the
 * options every command takes, loading the config. src/msgrctl.c holds main and the command
 * list; each src/ctl_*.c file holds a group of commands and its own table of them. Private to
 * the program: not in libmsgr. */
#ifndef MSGR_CTL_H
#define MSGR_CTL_H

#include <stdio.h>

#include "config.h"
#include "graph.h"
#include "store.h"

struct ctl_command;

/* What every command shares: where the config is, and the config once loaded. */
struct ctl {
	const char *config_path;          /* -c FILE; NULL: msgr_config_default_path() */
	struct msgr_config *cfg;          /* ctl_load; freed by main */
	const struct ctl_command *cmd;    /* the command running, for its --help */
	int checkpoint_apart;             /* ctl_open_store: SQLite commits leave checkpoints
	                                     to a msgr_checkpointer the command runs */
};

struct ctl_command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv); /* argv[0] is the command */
	const char *usage;                /* arguments after the name */
	const char *summary;              /* one line for the command list */
	const char *help;                 /* what it does and its options, for COMMAND --help */
};

/* The options every command accepts; list them first in its struct option array. */
#define CTL_COMMON_OPTS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "help", no_argument, NULL, 'h' }
#define CTL_COMMON_SHORT "c:h"

/* "usage: msgrctl [-c FILE] NAME USAGE" and the command's help text. */
void ctl_command_usage(FILE *fp, const struct ctl_command *c);
/* Handles an option every command shares (or getopt's complaint). Returns -1 when the
 * command goes on; otherwise the exit status (0 after --help, 1 for a bad option). */
int ctl_option(struct ctl *ctl, int opt);
/* Extra arguments a command does not take: 1 (after a message), else 0. */
int ctl_too_many(struct ctl *ctl, int argc, char **argv);
/* Loads the config into ctl->cfg; on failure prints every fault to stderr. 0 or 1. */
int ctl_load(struct ctl *ctl);
/* Opens the config's store; prints why on failure. 0 or 1. */
int ctl_open_store(struct ctl *ctl, struct msgr_store **st);
/* msgrctl check: reaches the store without changing it and prints "state: ..." (where it
 * is, what was found; never a password); 0, or 1 with the reason on stderr. */
int ctl_check_store(struct ctl *ctl);
/* Opens a Graph API client on the config's graph settings; prints why on failure. 0 or 1.
 * libcurl itself is started once by main. */
int ctl_open_graph(struct ctl *ctl, struct msgr_graph **g);

#endif
