/* Writer exclusion: the flock lock file (across processes) and the
 * process-wide registry of files with an active writer (across threads and
 * handles of this process, where flock cannot be relied on). */
#ifndef SLC_LOCK_H
#define SLC_LOCK_H

#include <sys/stat.h>
#include <sys/types.h>

#include "cache.h"

/* open(2) that never blocks on a FIFO or device: O_NONBLOCK, fstat, then
 * O_NONBLOCK cleared again. An open failure is SLC_OK with *fd_out -1 and
 * errno kept (no detail: the caller decides); a file that is not regular
 * is SLC_EINVAL; fstat/fcntl failures SLC_ESYS. */
SLC__HIDDEN int slc__open_regular(const char *path, int flags, mode_t mode,
                                  int *fd_out);

/* Open the lock file O_CLOEXEC|O_NOFOLLOW: with `create`, O_RDWR|O_CREAT
 * (0600); without, O_RDONLY, and a missing file gives *fd_out = -1 and
 * SLC_OK - no writer that locks can be active on a file whose lock file
 * does not exist (writers create it and it is never removed). Not a
 * regular file: SLC_EINVAL. */
SLC__HIDDEN int slc__lock_open(const char *lock_path, int create, int *fd_out);

/* Non-blocking exclusive flock: SLC_OK, SLC_EBUSY or SLC_ESYS. fd -1 (no
 * lock file) is SLC_OK: nobody holds it. */
SLC__HIDDEN int slc__lock_try(int fd, const char *lock_path);

/* Unlock but keep open; errno is preserved. fd < 0 is a no-op. */
SLC__HIDDEN void slc__lock_drop(int fd);

/* SLC1 10.6, the verdict on a generation read while the caller holds the
 * writer locks (so nobody can be publishing): odd means a writer crashed
 * mid-commit, SLC_ECORRUPT naming `path`; even is SLC_OK. */
SLC__HIDDEN int slc__crashed_writer(uint64_t generation, const char *path);

/* Unlock and close; errno is preserved. fd < 0 is a no-op. */
SLC__HIDDEN void slc__lock_close(int fd);

/* The exclusion bound to the file rather than a name: a non-blocking
 * exclusive flock on a new open file description of the file behind fd,
 * the inode (dev, ino) - never fd's own description, which a forked child
 * would share. SLC_OK with *lock_out, SLC_EBUSY, or SLC_ESYS; release with
 * slc__lock_close. */
SLC__HIDDEN int slc__file_lock_take(int fd, const char *path, dev_t dev,
                                    ino_t ino, int *lock_out);

/* Both locks held briefly by an opener (odd generation, short file,
 * SLC1 10.6). */
typedef struct slc__lock_probe {
    int lock_fd, file_fd;
} slc__lock_probe;

/* Take the lock file (opened with `create`, see slc__lock_open) and the
 * file lock of fd, both non-blocking. SLC_OK: held, release with
 * slc__lock_probe_release. SLC_EBUSY: either is held, or the lock file cannot
 * be opened for lack of permission (a lock that cannot be taken: nobody
 * can tell a commit in progress from a crash). Else SLC_EINVAL/SLC_ESYS.
 * On failure nothing is held. */
SLC__HIDDEN int slc__lock_probe_take(int fd, const struct stat *st,
                                     const char *path, const char *lock_path,
                                     int create, slc__lock_probe *p);
SLC__HIDDEN void slc__lock_probe_release(slc__lock_probe *p);

/* Become the only writer of c's file: registry mark, then (with locking) a
 * fresh lock-file descriptor locked with flock, then the file lock (kept in
 * the registry entry). *lock_fd is -1 without locking. SLC_OK, SLC_EBUSY,
 * SLC_EINVAL or SLC_ESYS; on failure nothing is held. */
SLC__HIDDEN int slc__exclusive_acquire(slc_cache *c, int *lock_fd);
SLC__HIDDEN void slc__exclusive_release(slc_cache *c, int lock_fd);

/* Is a writer of this process active on (dev, ino)? */
SLC__HIDDEN int slc__registry_busy(dev_t dev, ino_t ino);

/* Incremented in every forked child: handles and writers remember the
 * epoch they were made in and a child treats older ones as not its own. */
SLC__HIDDEN unsigned slc__fork_epoch(void);

/* Count writers made from a handle (for slc_close): +1 / -1, and whether
 * any of this process's epoch are still unfreed. */
SLC__HIDDEN void slc__handle_writers_add(slc_cache *c, int delta);
SLC__HIDDEN int slc__handle_writers_open(slc_cache *c);

#endif
