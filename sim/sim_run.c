/* sim_run.c — a child program run with a captured, capped output and a time limit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "sim_run.h"

extern char **environ;

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
child(char *const argv[], int out_fd, int max_fd)
{
	int nul = open("/dev/null", O_RDONLY), fd;

	if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		_exit(127);
	/* Every other descriptor closed: fd 0 was the FastCGI socket, and the other threads'
	 * connections must not outlive their requests in this child. close_range when the
	 * kernel has it, else one by one up to the limit read before the fork. */
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		max_fd = 0;
#endif
	for (fd = 3; fd < max_fd; fd++)
		close(fd);
	execve(argv[0], argv, environ);
	_exit(127);
}

msgr_result
sim_run(char *const argv[], long timeout_ms, struct msgr_buf *out, int *exit_status)
{
	long long deadline = msgr_clock_mono_ms() + timeout_ms;
	long open_max = sysconf(_SC_OPEN_MAX);
	int fds[2], st = 0, killed = 0, eof = 0;
	char chunk[4096];
	struct pollfd p;
	pid_t pid, r;

	*exit_status = -1;
	msgr_buf_init(out, SIM_RUN_OUTPUT_MAX + 1);
	if (open_max <= 0 || open_max > 65536)
		open_max = 65536;
	/* CLOEXEC: a child another thread starts at the same time must not hold our pipe (it
	 * closes what it inherits anyway; this covers the moment before). */
	if (pipe(fds) != 0)
		return MSGR_ERR_IO;
	(void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return MSGR_ERR_IO;
	}
	if (pid == 0)
		child(argv, fds[1], (int)open_max);
	close(fds[1]);
	p.fd = fds[0];
	p.events = POLLIN;
	while (!eof) {
		long long left = deadline - msgr_clock_mono_ms();
		ssize_t n;
		int k;

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		k = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (k < 0 && errno != EINTR)
			break;
		if (k <= 0)
			continue;
		n = read(fds[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = 1;
			break;
		}
		/* Past the cap the output is read and dropped, so the child never blocks. */
		if (out->len < SIM_RUN_OUTPUT_MAX) {
			size_t keep = (size_t)n;

			if (keep > SIM_RUN_OUTPUT_MAX - out->len)
				keep = SIM_RUN_OUTPUT_MAX - out->len;
			if (msgr_buf_append(out, chunk, keep) != MSGR_OK)
				break;
		}
	}
	close(fds[0]);
	if (!eof && !killed) {
		/* The output failed: the child is not left running unbounded. */
		kill(pid, SIGKILL);
		killed = 1;
	}
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (msgr_buf_append(out, "", 0) != MSGR_OK)
		return MSGR_ERR_NOMEM;
	if (killed)
		*exit_status = -1;
	else if (r == pid && WIFEXITED(st))
		*exit_status = WEXITSTATUS(st);
	else if (r == pid && WIFSIGNALED(st))
		*exit_status = 128 + WTERMSIG(st);
	return MSGR_OK;
}

msgr_result
sim_run_beside(const char *rel, char *out, size_t outsz)
{
	char self[SIM_FILE_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int k;

	if (n <= 0)
		return MSGR_ERR_IO;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return MSGR_ERR_IO;
	*slash = '\0';
	k = snprintf(out, outsz, "%s/%s", self, rel);
	if (k < 0 || (size_t)k >= outsz)
		return MSGR_ERR_TOOBIG;
	return MSGR_OK;
}
