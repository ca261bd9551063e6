/* msgrctl.h — the command groups of msgrctl (src/ctl_*.c) and their tables; what they all
 * share is src/ctl.h. Private to the program: not in libmsgr. */
#ifndef MSGRCTL_H
#define MSGRCTL_H

#include "ctl.h"

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

/* src/ctl_setup.c: subscribe and profile, the Facebook set-up commands. */
extern const struct ctl_command ctl_setup_commands[];

#endif
