/* msgrctl.h — the command tables of msgrctl's command files, for main (src/msgrctl.c) to
 * list and look up; what the command files share is src/ctl.h. Private to the program. */
#ifndef MSGRCTL_H
#define MSGRCTL_H

#include "ctl.h"

/* src/ctl_work.c: drain, worker, status, replay, send. */
extern const struct ctl_command ctl_work_commands[];
/* src/ctl_thread.c: thread (Conversation Routing by hand). */
extern const struct ctl_command ctl_thread_commands[];
/* src/ctl_setup.c: subscribe and profile, the Facebook set-up commands. */
extern const struct ctl_command ctl_setup_commands[];

#endif
