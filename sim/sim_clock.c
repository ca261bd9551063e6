/* sim_clock.c — real time from the kernel, and the clock file libfaketime reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sim_clock.h"

long long
sim_clock_real_ms(void)
{
	struct timespec ts;

	/* The system call itself: libfaketime wraps libc's clock_gettime, not the kernel
	 * entry, so this is the real time even under its preload. */
	if (syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) != 0 &&
	    clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

msgr_result
sim_clock_write(const char *path, long long offset_s)
{
	char tmp[4096 + 16], line[32];
	int fd, n, ok;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return MSGR_ERR_IO;
	n = snprintf(line, sizeof(line), "%+llds\n", offset_s);
	if (n < 0 || (size_t)n >= sizeof(line))
		return MSGR_ERR_IO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return MSGR_ERR_IO;
	ok = write(fd, line, (size_t)n) == n;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return MSGR_ERR_IO;
	}
	return MSGR_OK;
}

msgr_result
sim_clock_read(const char *path, long long *offset_s)
{
	char line[32], *end;
	long long v;
	ssize_t n;
	int fd;

	*offset_s = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? MSGR_ERR_NOTFOUND : MSGR_ERR_IO;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return MSGR_ERR_PARSE;
	line[n] = '\0';
	errno = 0;
	v = strtoll(line, &end, 10);
	if (errno != 0 || end == line || (*end != 's' && *end != '\n' && *end != '\0') ||
	    v < 0 || v > SIM_CLOCK_MAX_OFFSET_S)
		return MSGR_ERR_PARSE;
	*offset_s = v;
	return MSGR_OK;
}
