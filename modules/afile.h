/* afile: replacing a file atomically (temp file in the same folder, fsync,
 * rename, fsync of the folder) and the flock()-based lock files around it. */
#ifndef IM_AFILE_H
#define IM_AFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with data[0..len) so a reader sees the old or the new file,
 * never a mix, even across a crash. The temp file (".<name>.tmp.*" in the
 * same folder) is created with mode and O_EXCL|O_NOFOLLOW, and removed on
 * failure. Returns 0, or -1 with errno set. Thread-safe. */
int afile_write(const char *path, const void *data, size_t len, mode_t mode);

/* Removes temp files left behind by an afile_write() to path that was
 * killed. Only safe while holding the lock that serialises writers of path.
 * Returns the number removed, or -1 with errno set. */
int afile_clean(const char *path);

/* Run as root in a folder that belongs to another user, afile_write()'s
 * file and afile_lock()'s lock file are given to that user (a server that
 * runs as it must go on reading and locking them). */

/* Opens (creating 0600 if needed) lockpath and takes an exclusive flock(),
 * waiting for it. Returns the descriptor to give to afile_unlock(), or -1
 * with errno set. */
int afile_lock(const char *lockpath);

/* Releases a lock from afile_lock() by closing it; -1 is ignored. */
void afile_unlock(int fd);

#endif
