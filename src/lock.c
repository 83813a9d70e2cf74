/* Lock file and in-process writer registry.
 *
 * flock(2) locks belong to an open file description, so two descriptors
 * opened separately exclude each other even within one process, but threads
 * sharing one descriptor do not. The registry closes that gap and also
 * serves SLC_NO_LOCK, where no lock file exists. Each session opens its own
 * descriptor of the lock file, so a child forked while a session is active
 * shares only that session's description; the session end unlocks it with
 * LOCK_UN, which releases it for the child too.
 *
 * The lock file belongs to a name: a symlink, a hard link or a bind mount
 * gives the same cache file another `<name>.lock`. So a writer also holds
 * a second flock, on the cache file itself, through a description it
 * opens for that purpose alone: not the handle's descriptor, which a child
 * forked from the handle would share (and with it the lock). Readers never
 * hold it, except briefly when they probe an odd generation. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct registry_entry {
    dev_t dev;
    ino_t ino;
    int file_fd; /* the writer's flock on the cache file itself, or -1 */
} registry_entry;

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static registry_entry *registry;
static size_t registry_len, registry_cap;
static unsigned fork_epoch;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Hold the mutex across fork so the child never inherits it locked; in the
 * child, the parent's writers are not ours: forget their marks. */
static void before_fork(void) { pthread_mutex_lock(&registry_mutex); }
static void after_fork_parent(void) { pthread_mutex_unlock(&registry_mutex); }
static void after_fork_child(void)
{
    /* Our copies of the parent's file-lock descriptors: closing them (no
     * LOCK_UN) leaves the parent's lock to the parent alone. */
    for (size_t i = 0; i < registry_len; i++)
        if (registry[i].file_fd >= 0)
            close(registry[i].file_fd);
    registry_len = 0;
    __atomic_fetch_add(&fork_epoch, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&registry_mutex);
}
static void install_atfork(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static void registry_lock(void)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&registry_mutex);
}

static size_t registry_find(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < registry_len; i++)
        if (registry[i].dev == dev && registry[i].ino == ino)
            return i;
    return registry_len;
}

/* Read on every writer call: an atomic load, no mutex. */
static unsigned epoch_now(void)
{
    return __atomic_load_n(&fork_epoch, __ATOMIC_RELAXED);
}

unsigned slc__fork_epoch(void)
{
    pthread_once(&atfork_once, install_atfork);
    return epoch_now();
}

int slc__registry_busy(dev_t dev, ino_t ino)
{
    registry_lock();
    int busy = registry_find(dev, ino) < registry_len;
    pthread_mutex_unlock(&registry_mutex);
    return busy;
}

static int registry_mark(const slc_cache *c)
{
    int rc = SLC_OK;
    registry_lock();
    if (registry_find(c->dev, c->ino) < registry_len) {
        rc = slc__fail(SLC_EBUSY,
                       "a writer of this process is active on %s", c->path);
    } else if (registry_len == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 8;
        registry_entry *n = realloc(registry, cap * sizeof *n);
        if (!n)
            rc = slc__fail(SLC_ENOMEM, "writer registry growth failed");
        else {
            registry = n;
            registry_cap = cap;
        }
    }
    if (rc == SLC_OK)
        registry[registry_len++] = (registry_entry){c->dev, c->ino, -1};
    pthread_mutex_unlock(&registry_mutex);
    return rc;
}

static void registry_unmark(const slc_cache *c)
{
    registry_lock();
    size_t i = registry_find(c->dev, c->ino);
    if (i < registry_len)
        registry[i] = registry[--registry_len];
    pthread_mutex_unlock(&registry_mutex);
}

/* Store fd as c's file-lock descriptor; return the one it replaces. */
static int registry_swap_file_fd(const slc_cache *c, int fd)
{
    int old = -1;
    registry_lock();
    size_t i = registry_find(c->dev, c->ino);
    if (i < registry_len) {
        old = registry[i].file_fd;
        registry[i].file_fd = fd;
    }
    pthread_mutex_unlock(&registry_mutex);
    return old;
}

void slc__handle_writers_add(slc_cache *c, int delta)
{
    registry_lock();
    if (c->writers_epoch != epoch_now()) {
        /* Writers counted before a fork belong to the parent. */
        c->writers = 0;
        c->writers_epoch = epoch_now();
    }
    if (delta > 0)
        c->writers++;
    else if (c->writers > 0)
        c->writers--;
    pthread_mutex_unlock(&registry_mutex);
}

int slc__handle_writers_open(slc_cache *c)
{
    registry_lock();
    int open = c->writers_epoch == epoch_now() && c->writers > 0;
    pthread_mutex_unlock(&registry_mutex);
    return open;
}

int slc__open_regular(const char *path, int flags, mode_t mode, int *fd_out)
{
    int fd = -1;
    do
        fd = open(path, flags | O_NONBLOCK, mode);
    while (fd < 0 && errno == EINTR);
    *fd_out = fd;
    if (fd < 0)
        return SLC_OK;
    struct stat st;
    int rc = SLC_OK, fl;
    if (fstat(fd, &st) < 0)
        rc = slc__fail_sys("fstat", path);
    else if (!S_ISREG(st.st_mode))
        rc = slc__fail(SLC_EINVAL, "%s is not a regular file", path);
    else if ((fl = fcntl(fd, F_GETFL)) < 0 ||
             fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        rc = slc__fail_sys("fcntl", path);
    if (rc) {
        int saved = errno;
        close(fd);
        errno = saved;
        *fd_out = -1;
    }
    return rc;
}

int slc__lock_open(const char *lock_path, int create, int *fd_out)
{
    int flags = O_CLOEXEC | O_NOFOLLOW | (create ? O_RDWR | O_CREAT : O_RDONLY);
    int rc = slc__open_regular(lock_path, flags, 0600, fd_out);
    if (rc == SLC_OK && *fd_out < 0 && !(errno == ENOENT && !create))
        return slc__fail_sys("open lock file", lock_path);
    return rc;
}

int slc__lock_try(int fd, const char *lock_path)
{
    if (fd < 0)
        return SLC_OK;
    int r;
    do
        r = flock(fd, LOCK_EX | LOCK_NB);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return SLC_OK;
    if (errno == EWOULDBLOCK)
        return slc__fail(SLC_EBUSY, "writer lock %s is held by another "
                                    "writer",
                         lock_path);
    return slc__fail_sys("flock", lock_path);
}

void slc__lock_drop(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    flock(fd, LOCK_UN);
    errno = saved;
}

int slc__crashed_writer(uint64_t generation, const char *path)
{
    if (!(generation & 1))
        return SLC_OK;
    return slc__fail(SLC_ECORRUPT,
                     "%s: generation %" PRIu64 " is odd with the writer "
                     "lock free: a writer crashed mid-commit",
                     path, generation);
}

void slc__lock_close(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    flock(fd, LOCK_UN);
    close(fd);
    errno = saved;
}

/* Open `path` for flock only: O_NONBLOCK stays set (nothing is read or
 * written through it, and a FIFO swapped in must not block us). Is it the
 * inode (dev, ino)? */
static int open_same_inode(const char *path, dev_t dev, ino_t ino)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
        return fd;
    close(fd);
    errno = ESTALE;
    return -1;
}

/* A new open file description of the file behind `fd` (the inode dev,
 * ino): through its path, else through /proc/self/fd when the path no
 * longer names it. */
static int reopen_file(int fd, const char *path, dev_t dev, ino_t ino,
                       int *out)
{
    *out = open_same_inode(path, dev, ino);
    if (*out < 0) {
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        int saved = errno;
        *out = open_same_inode(proc, dev, ino);
        if (*out < 0) {
            errno = saved;
            return slc__fail_sys("reopen for the file lock", path);
        }
    }
    return SLC_OK;
}

int slc__file_lock_take(int fd, const char *path, dev_t dev, ino_t ino,
                        int *lock_out)
{
    int lfd = -1;
    int rc = reopen_file(fd, path, dev, ino, &lfd);
    if (rc == SLC_OK) {
        int r;
        do
            r = flock(lfd, LOCK_EX | LOCK_NB);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno == EWOULDBLOCK)
            rc = slc__fail(SLC_EBUSY,
                           "%s is locked by a writer (perhaps through "
                           "another name: symlink, hard link, bind mount)",
                           path);
        else if (r < 0)
            rc = slc__fail_sys("flock", path);
        if (rc) {
            int saved = errno;
            close(lfd);
            errno = saved;
            lfd = -1;
        }
    }
    *lock_out = lfd;
    return rc;
}

int slc__lock_probe_take(int fd, const struct stat *st, const char *path,
                         const char *lock_path, int create,
                         slc__lock_probe *p)
{
    p->lock_fd = p->file_fd = -1;
    int rc = slc__lock_open(lock_path, create, &p->lock_fd);
    if (rc == SLC_ESYS &&
        (errno == EACCES || errno == EPERM || errno == EROFS))
        /* SLC1 10.6: a lock that cannot be taken is a busy one; only its
         * holder could tell a running commit from a crash. */
        return slc__fail(SLC_EBUSY,
                         "cannot open the lock file %s (%s): unable to "
                         "tell a commit in progress from a crashed writer",
                         lock_path, strerror(errno));
    if (rc == SLC_OK)
        rc = slc__lock_try(p->lock_fd, lock_path);
    if (rc == SLC_OK)
        rc = slc__file_lock_take(fd, path, st->st_dev, st->st_ino,
                                 &p->file_fd);
    if (rc)
        slc__lock_probe_release(p);
    return rc;
}

void slc__lock_probe_release(slc__lock_probe *p)
{
    slc__lock_close(p->file_fd);
    slc__lock_close(p->lock_fd);
    p->lock_fd = p->file_fd = -1;
}

int slc__exclusive_acquire(slc_cache *c, int *lock_fd)
{
    *lock_fd = -1;
    int rc = registry_mark(c);
    if (rc)
        return rc;
    if (!c->lock_path)
        return SLC_OK;
    int fd = -1, file_fd = -1;
    rc = slc__lock_open(c->lock_path, 1, &fd);
    if (rc == SLC_OK)
        rc = slc__lock_try(fd, c->lock_path);
    if (rc == SLC_OK)
        rc = slc__file_lock_take(c->fd, c->path, c->dev, c->ino, &file_fd);
    if (rc) {
        int saved = errno;
        slc__lock_close(fd);
        registry_unmark(c);
        errno = saved;
        return rc;
    }
    registry_swap_file_fd(c, file_fd);
    *lock_fd = fd;
    return SLC_OK;
}

void slc__exclusive_release(slc_cache *c, int lock_fd)
{
    int saved = errno;
    /* Unlock before unmarking, so a thread that passes the registry next
     * finds both locks free. */
    slc__lock_close(registry_swap_file_fd(c, -1));
    slc__lock_close(lock_fd);
    registry_unmark(c);
    errno = saved;
}
