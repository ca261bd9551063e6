/* sim_run.h — runs the connector's msgrctl for the page (page_send, queue).
 *
 * fork + execv, never a shell: the arguments go as they are. The child gets the
 * simulator's environment (so libfaketime's LD_PRELOAD and FAKETIME_* reach it and it sees
 * the connector's clock), /dev/null as stdin, stdout and stderr together in one pipe, and no
 * other descriptor of ours (the FastCGI connections of the other threads stay ours). Its
 * output is read up to a cap (the rest is read and dropped) and it is killed past a time
 * limit. Safe to call from several threads at once. */
#ifndef SIM_RUN_H
#define SIM_RUN_H

#include <stddef.h>

#include "buf.h"
#include "result.h"

#define SIM_RUN_OUTPUT_MAX 65536   /* bytes of output kept */
#define SIM_RUN_TIMEOUT_MS 30000   /* a msgrctl run, at most */
#define SIM_FILE_PATH_MAX  4096    /* bytes of a file's path (Linux's PATH_MAX) */

/* Runs argv (argv[0] the program's path, NULL-terminated) and waits for it. out receives
 * its output (at most SIM_RUN_OUTPUT_MAX bytes, NUL-terminated); *exit_status is its exit
 * status, 128 + N for a death by signal N, -1 when it was killed at the time limit.
 * MSGR_OK once it ran (whatever its status); MSGR_ERR_IO when it could not start;
 * MSGR_ERR_NOMEM. */
msgr_result sim_run(char *const argv[], long timeout_ms, struct msgr_buf *out,
    int *exit_status);

/* The path of a program beside ours: dirname(/proc/self/exe) + "/" + rel, into out.
 * MSGR_OK; MSGR_ERR_IO; MSGR_ERR_TOOBIG. */
msgr_result sim_run_beside(const char *rel, char *out, size_t outsz);

#endif
