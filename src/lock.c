/* Lock file and in-process writer registry.
 *
 * flock(2) locks belong to an open file description, so two descriptors
 * opened separately exclude each other even within one process, but threads
 * sharing one descriptor do not. The registry closes that gap and also
 * serves SLC_NO_LOCK, where no lock file exists. Each session opens its own
 * descriptor of the lock file, so a child forked while a session is active
 * shares only that session's description; the session end unlocks it with
 * LOCK_UN, which releases it for the child too. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

typedef struct registry_entry {
    dev_t dev;
    ino_t ino;
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
        registry[registry_len++] = (registry_entry){c->dev, c->ino};
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

int slc__lock_open(const char *lock_path, int create, int *fd_out)
{
    int flags = O_CLOEXEC | O_NOFOLLOW | (create ? O_RDWR | O_CREAT : O_RDONLY);
    int fd = -1;
    do
        fd = open(lock_path, flags, 0600);
    while (fd < 0 && errno == EINTR);
    *fd_out = fd;
    if (fd < 0 && !(errno == ENOENT && !create))
        return slc__fail_sys("open lock file", lock_path);
    return SLC_OK;
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

void slc__lock_close(int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    flock(fd, LOCK_UN);
    close(fd);
    errno = saved;
}

int slc__exclusive_acquire(slc_cache *c, int *lock_fd)
{
    *lock_fd = -1;
    int rc = registry_mark(c);
    if (rc)
        return rc;
    if (!c->lock_path)
        return SLC_OK;
    int fd = -1;
    rc = slc__lock_open(c->lock_path, 1, &fd);
    if (rc == SLC_OK) {
        rc = slc__lock_try(fd, c->lock_path);
        if (rc)
            slc__lock_close(fd);
    }
    if (rc) {
        int saved = errno;
        registry_unmark(c);
        errno = saved;
        return rc;
    }
    *lock_fd = fd;
    return SLC_OK;
}

void slc__exclusive_release(slc_cache *c, int lock_fd)
{
    int saved = errno;
    slc__lock_close(lock_fd);
    registry_unmark(c);
    errno = saved;
}
