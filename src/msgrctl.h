/* msgrctl.h — what the command files of msgrctl share (src/msgrctl.c has main and the
 * table; src/ctl_*.c hold groups of commands). Private to the program: not in libmsgr. */
#ifndef MSGRCTL_H
#define MSGRCTL_H

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

/* Handles an option every command shares (or getopt's complaint). Returns -1 when the
 * command goes on; otherwise the exit status (0 after --help, 1 for a bad option). */
int ctl_option(struct ctl *ctl, int opt);
/* Extra arguments a command does not take: 1 (after a message), else 0. */
int ctl_too_many(struct ctl *ctl, int argc, char **argv);
/* Loads the config into ctl->cfg; on failure prints every fault to stderr. 0 or 1. */
int ctl_load(struct ctl *ctl);

/* Opens the config's store (src/ctl_work.c); prints why on failure. 0 or 1. */
int ctl_open_store(struct ctl *ctl, struct msgr_store **st);
/* Opens a Graph API client on the config's graph settings; prints why on failure. 0 or 1. */
int ctl_open_graph(struct ctl *ctl, struct msgr_graph **g);

/* src/ctl_work.c: the worker's commands (issue 4). */
int cmd_drain(struct ctl *ctl, int argc, char **argv);
int cmd_worker(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_replay(struct ctl *ctl, int argc, char **argv);
int cmd_send(struct ctl *ctl, int argc, char **argv);

#define CTL_WORK_COMMANDS \
	{ "drain", cmd_drain, "[--budget MS]", "run the due work now (for cron)", \
	  "Works every due event now, as the responder does after each request: runs the bot,\n" \
	  "sends the answers, records the outcome, schedules retries. Stops when nothing is due\n" \
	  "(or after --budget milliseconds). For hosts without long-lived processes: run it from\n" \
	  "cron every minute.\n\n" \
	  "  --budget MS   stop starting new work after MS milliseconds (default: no limit)\n" }, \
	{ "worker", cmd_worker, "", "run the work continuously (stops on SIGTERM)", \
	  "Works due events continuously, sleeping worker.idle_ms when there is none. SIGTERM or\n" \
	  "SIGINT finishes the event in hand and exits 0.\n" }, \
	{ "status", cmd_status, "", "queue, retries, pauses, quarantine, recent failures", \
	  "Prints the queue depth, retries waiting, paused connectors and pages, the quarantine\n" \
	  "count, recent failures with Facebook's message, and the conversations another app or\n" \
	  "a person (Page Inbox) is handling.\n" }, \
	{ "replay", cmd_replay, "[--dry-run]", "re-run quarantined webhooks", \
	  "Parses each quarantined body again (after a fix) and queues its events; a body that\n" \
	  "now passes leaves the quarantine, one that still fails stays with its reason.\n\n" \
	  "  --dry-run   only say what would happen\n" }, \
	{ "send", cmd_send, "--connector ID --to PSID [--tag HUMAN_AGENT] [--type T] TEXT", \
	  "send a text to a user now", \
	  "Sends TEXT (split at word boundaries past 2000 characters) to PSID through the\n" \
	  "connector's page and prints Facebook's message id. The 24-hour window is checked\n" \
	  "first when the store knows the user's last message.\n\n" \
	  "  --connector ID   the connector (page) that sends\n" \
	  "  --to PSID        the recipient's page-scoped id\n" \
	  "  --type T         messaging_type: RESPONSE (default), UPDATE or MESSAGE_TAG\n" \
	  "  --tag HUMAN_AGENT  with MESSAGE_TAG: a person answers, up to 7 days\n" },

/* src/ctl_thread.c: Conversation Routing by hand (issue 5). */
int cmd_thread(struct ctl *ctl, int argc, char **argv);

#define CTL_THREAD_COMMANDS \
	{ "thread", cmd_thread, \
	  "pass|take|release|request|extend|owner --connector ID --to PSID [options]", \
	  "Conversation Routing: pass, take, release, request, extend, show the owner", \
	  "Calls the handover protocol for one conversation of the connector's page:\n" \
	  "  pass     --target inbox|APP_ID [--metadata M]   give the thread to the Page Inbox\n" \
	  "           (a person) or another app\n" \
	  "  take     [--metadata M]   take the thread back (this app answers again)\n" \
	  "  release  [--metadata M]   let go of the thread\n" \
	  "  request  [--metadata M]   ask the owner for the thread\n" \
	  "  extend   --duration S     keep the thread S more seconds\n" \
	  "  owner                     print the app that owns the thread\n" \
	  "The store's view of the owner follows each successful call.\n" },

/* src/ctl_setup.c: the Facebook set-up commands (issue 6). */
int cmd_subscribe(struct ctl *ctl, int argc, char **argv);
int cmd_profile(struct ctl *ctl, int argc, char **argv);
/* For `msgrctl check`: warns on stderr about each config file that others can read while it
 * holds a secret inline (not env: or file:), and each file: secret others can read. Returns
 * the number of warnings. */
size_t ctl_warn_secret_permissions(const struct msgr_config *cfg);

#define CTL_SETUP_COMMANDS \
	{ "subscribe", cmd_subscribe, "--url BASE [--fields LIST] [--check]", \
	  "register the webhooks and subscribe the pages", \
	  "For each distinct app_id: registers the webhook (POST /APP/subscriptions with the app\n" \
	  "token, object page, verify token = the app's webhook_token) at BASE followed by the\n" \
	  "path of the app's FIRST connector in the config; Facebook checks it at once with a\n" \
	  "verification GET, so the responder must already answer there. Then subscribes each\n" \
	  "page of the app (POST /PAGE/subscribed_apps with its page token). One line per call;\n" \
	  "Facebook's error text (e.g. \"(#2200) Callback verification failed\") on failure, exit 1.\n\n" \
	  "  --url BASE     where Facebook reaches the responder, e.g.\n" \
	  "                 https://example.org/cgi-bin/messenger.fcgi (https://; http:// only for\n" \
	  "                 127.0.0.1)\n" \
	  "  --fields LIST  comma-separated webhook fields (default: messages, messaging_postbacks,\n" \
	  "                 messaging_optins, message_deliveries, message_reads, messaging_referrals,\n" \
	  "                 message_echoes, messaging_handovers, standby, message_reactions,\n" \
	  "                 message_edits, messaging_account_linking, messaging_policy_enforcement)\n" \
	  "  --check        only read each webhook and page subscription; register again what is\n" \
	  "                 missing, inactive or short of fields (for cron). A webhook pointing\n" \
	  "                 elsewhere is reported, not moved. Exit 0 when all is well or repaired.\n" }, \
	{ "profile", cmd_profile, "[--connector ID] [--delete FIELD,...]", \
	  "push the Messenger profile (get started, greeting, menu, ...)", \
	  "Sends each connector's profile group (get_started, greeting, ice_breakers,\n" \
	  "persistent_menu, whitelisted_domains) with POST me/messenger_profile, after checking\n" \
	  "Facebook's limits again. Fields absent from the group are left as they are at Facebook.\n\n" \
	  "  --connector ID        only this connector (default: every one with a profile group)\n" \
	  "  --delete FIELD,...    remove these fields instead (DELETE me/messenger_profile)\n" },

#endif
