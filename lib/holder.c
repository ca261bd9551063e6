/* holder.c — a lock per SQLite store handle, to tell a claim's holder is gone (holder.h).
 * _GNU_SOURCE for the open file description locks (F_OFD_*) of glibc's <fcntl.h>. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holder.h"

#define CLAIMS_SUFFIX "-claims"
#define LOCK_TRIES    4

/* Offsets in [1, 2^62): two live handles drawing the same byte is beyond any pool's size,
 * and a dead handle's byte drawn again by a new one only makes its claim wait for the lease. */
static long long
draw(unsigned long long *x)
{
	unsigned long long v;

	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	v = (*x * 2685821657736338717ULL) >> 2;
	return v == 0 ? 1 : (long long)v;
}

msgr_result
msgr_holder_open(struct msgr_holder *h, const char *db_path, unsigned long long seed)
{
#ifdef F_OFD_SETLK
	struct flock fl;
	struct stat sb;
	mode_t mode = 0600;
	char *path;
	size_t len;
	int i, fd, e;

	h->fd = -1;
	h->off = 0;
	len = strlen(db_path) + sizeof(CLAIMS_SUFFIX);
	if ((path = malloc(len)) == NULL)
		return MSGR_ERR_NOMEM;
	snprintf(path, len, "%s%s", db_path, CLAIMS_SUFFIX);
	if (stat(db_path, &sb) == 0)
		mode = sb.st_mode & 0666;
	/* Read access is all a shared lock needs: a handle of another user that may read the
	 * file still takes part. The file holds nothing; only its locks matter. */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	free(path);
	if (fd < 0) {
		errno = e;
		return MSGR_ERR_IO;
	}
	if (seed == 0)
		seed = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < LOCK_TRIES; i++) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_RDLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = (off_t)draw(&seed);
		fl.l_len = 1;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
			h->fd = fd;
			h->off = (long long)fl.l_start;
			return MSGR_OK;
		}
		/* EINVAL: no OFD locks here (kernel, filesystem); nothing to retry. */
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			break;
	}
	e = errno;
	close(fd);
	errno = e;
	return MSGR_ERR_IO;
#else
	(void)db_path;
	(void)seed;
	h->fd = -1;
	h->off = 0;
	errno = ENOSYS;
	return MSGR_ERR_IO;
#endif
}

void
msgr_holder_close(struct msgr_holder *h)
{
	if (h == NULL)
		return;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->off = 0;
}

int
msgr_holder_alive(const struct msgr_holder *h, long long lock)
{
#ifdef F_OFD_GETLK
	struct flock fl;

	if (lock <= 0 || h == NULL || h->fd < 0)
		return 1;
	/* A handle's own lock never conflicts with itself: F_OFD_GETLK would say "free". */
	if (lock == h->off)
		return 1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;      /* conflicts with the holder's shared lock, if any */
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)lock;
	fl.l_len = 1;
	if (fcntl(h->fd, F_OFD_GETLK, &fl) != 0)
		return 1;
	return fl.l_type != F_UNLCK;
#else
	(void)h;
	(void)lock;
	return 1;
#endif
}
