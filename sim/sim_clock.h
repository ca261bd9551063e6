/* sim_clock.h — the simulator's clock: real time plus an offset the page moves forward.
 *
 * Facebook's side of the simulator (webhook timestamps, the messaging window) runs on
 * "real time + offset". The connector is moved by the same offset through libfaketime: the
 * offset is written to simulator.clock_file in the format of FAKETIME_TIMESTAMP_FILE ("+Ns"),
 * which a responder started with LD_PRELOAD=libfaketime and FAKETIME_NO_CACHE=1 reads on
 * every clock call. The simulator may itself run under that preload (msgrctl inherits its
 * environment), so its real time is read from the kernel directly, never through libc's
 * clock_gettime, which libfaketime replaces: the offset is then counted once, not twice. */
#ifndef SIM_CLOCK_H
#define SIM_CLOCK_H

#include "result.h"

/* The most the clock may be moved forward: a year, far past every window (7 days). */
#define SIM_CLOCK_MAX_OFFSET_S (366LL * 24 * 3600)

/* Milliseconds since the epoch, from the kernel (not faked). */
long long sim_clock_real_ms(void);

/* Writes "+<offset_s>s\n" to path atomically (a temporary file beside it, then rename), so
 * a reader never sees half a line. MSGR_OK; MSGR_ERR_IO. */
msgr_result sim_clock_write(const char *path, long long offset_s);

/* Reads an offset written by sim_clock_write (a restart keeps the connector's and the
 * simulator's clocks in step). MSGR_OK with *offset_s; MSGR_ERR_NOTFOUND when the file does
 * not exist; MSGR_ERR_PARSE when it holds something else. */
msgr_result sim_clock_read(const char *path, long long *offset_s);

#endif
