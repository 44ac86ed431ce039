/* afile: replacing a file atomically (temp file in the same folder, fsync,
 * rename, fsync of the folder) and the flock()-based lock files around it. */
#include "afile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_TAG ".tmp."

static atomic_uint tmp_counter;

/* Splits path into its folder and its last component. */
static int split_path(const char *path, char *dir, size_t dirlen, const char **base)
{
	const char *slash = strrchr(path, '/');
	int n;
	if (slash == NULL) {
		n = snprintf(dir, dirlen, ".");
		*base = path;
	} else if (slash == path) {
		n = snprintf(dir, dirlen, "/");
		*base = slash + 1;
	} else {
		n = snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
		*base = slash + 1;
	}
	if (n < 0 || (size_t)n >= dirlen || **base == '\0') {
		errno = n < 0 || (size_t)n >= dirlen ? ENAMETOOLONG : EISDIR;
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Root writing into a folder that belongs to someone else (an admin mode
 * run by hand beside a server that runs as its own user: user =, or
 * systemd's DynamicUser= and StateDirectory=): the file fd goes to the
 * folder's owner, or that server could no longer read or lock it. The
 * owner of the folder can replace its files anyway, so this gives it
 * nothing new. A failure keeps the old behaviour. */
static void own_like_dir(int fd, const char *dir)
{
	struct stat d, f;
	if (geteuid() != 0 || stat(dir, &d) < 0 || d.st_uid == 0 || fstat(fd, &f) < 0)
		return;
	/* Only a plain file with one name: the folder's owner could have
	 * left a hard link to a file of root's (/etc/shadow) under the name
	 * root opens here, and root must not hand that file over. */
	if (!S_ISREG(f.st_mode) || f.st_nlink != 1)
		return;
	if ((f.st_uid != d.st_uid || f.st_gid != d.st_gid) && fchown(fd, d.st_uid, d.st_gid) < 0)
		return;
}

/* Creates a fresh temp file beside path; returns its descriptor. */
static int open_tmp(const char *dir, const char *base, mode_t mode, char *tmp, size_t tmplen)
{
	for (int tries = 0; tries < 100; tries++) {
		unsigned n = atomic_fetch_add(&tmp_counter, 1);
		int len = snprintf(tmp, tmplen, "%s/.%s" TMP_TAG "%ld.%u", dir, base, (long)getpid(), n);
		if (len < 0 || (size_t)len >= tmplen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int afile_write(const char *path, const void *data, size_t len, mode_t mode)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *base;
	if (split_path(path, dir, sizeof dir, &base) < 0)
		return -1;
	int fd = open_tmp(dir, base, mode, tmp, sizeof tmp);
	if (fd < 0)
		return -1;
	own_like_dir(fd, dir);
	/* The umask may have narrowed mode; the caller asked for exactly it. */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	/* The rename is only durable once the folder entry is on disk. */
	return sync_dir(dir);
fail:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int afile_clean(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8], victim[PATH_MAX];
	const char *base;
	if (split_path(path, dir, sizeof dir, &base) < 0)
		return -1;
	int plen = snprintf(prefix, sizeof prefix, ".%s" TMP_TAG, base);
	if (plen < 0 || (size_t)plen >= sizeof prefix) {
		errno = ENAMETOOLONG;
		return -1;
	}
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
			continue;
		int n = snprintf(victim, sizeof victim, "%s/%s", dir, e->d_name);
		if (n > 0 && (size_t)n < sizeof victim && unlink(victim) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

int afile_lock(const char *lockpath)
{
	char dir[PATH_MAX];
	const char *base;
	if (split_path(lockpath, dir, sizeof dir, &base) < 0)
		return -1;
	/* Only a lock file this call makes is handed to the folder's owner:
	 * one that is there already may be anything that owner put there. */
	int fd = open(lockpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		own_like_dir(fd, dir);
	else if (errno == EEXIST)
		fd = open(lockpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void afile_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
