/* Rebuild and replace a live cache; reopen a handle onto its path.
 *
 * A rebuild fills a private file "<path>.tmp.<16 hex>" in the same
 * directory through ordinary writer sessions (rolled over before the
 * per-session limit), then publishes it under the path's writer lock:
 *   1. commit the last session; msync + fsync the new file; fsync the
 *      directory;
 *   2. take "<path>.lock" (waiting as the caller allows), open the old file;
 *   3. rename the new file over the path; fsync the directory;
 *   4. invalidate the old file (header only), so mapped readers reopen.
 * The rename is the commit point: before it the path names the old file,
 * after it the complete new one. The lock file is keyed by name, not by
 * inode, so it outlives the rename and serialises rebuilds with ordinary
 * sessions. A crash leaves the old or the new file at the path, and perhaps
 * a temporary: a live rebuild holds a write lock (fcntl OFD lock, apart
 * from every flock the library takes) on its temporary, and the next
 * rebuild removes every temporary of the path nobody locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulk.h"
#include "cache.h"
#include "create.h"
#include "hook.h"
#include "lock.h"
#include "validate.h"
#include "wait.h"

/* Puts per session: the limit itself, so a rebuild commits as rarely as an
 * ordinary writer may. */
#define ROLL_OPS SLC_MAX_SESSION_OPS

struct slc_rebuild {
    char *path, *tmp, *lock_path; /* lock_path NULL with SLC_NO_LOCK */
    int tmp_fd;                   /* holds the liveness lock */
    slc_cache *c;                 /* the temporary, SLC_NO_LOCK */
    slc_writer *w;                /* the current session, or NULL */
    slc__bulk *bulk;              /* unordered files: the append path */
    uint32_t ops;                 /* puts in the current session */
    uint32_t sync;                /* SLC_WRITEBACK_SYNC of the options */
    int failed;                   /* a session failed: only close is left */
    int published;
    int flags_dirty, data_dirty;
    uint64_t user_flags;
    uint8_t user_data[SLC_USER_DATA_SIZE];
};

/* ---- Liveness locks on temporaries -------------------------------------- */

/* A write lock on the whole temporary for as long as its rebuild lives.
 * OFD locks belong to the open file description (like flock) but are a
 * separate lock space, so no flock the library takes meets them. */
static int live_lock(int fd, int wait)
{
#ifdef F_OFD_SETLK
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    int r;
    do
        r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    while (r < 0 && errno == EINTR);
    return r;
#else
    int r;
    do
        r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
    while (r < 0 && errno == EINTR);
    return r;
#endif
}

/* Is `name` "<base>.tmp.<16 lowercase hex>"? */
static int is_temp_name(const char *name, const char *base)
{
    size_t lb = strlen(base), li = sizeof SLC__TEMP_INFIX - 1;
    if (strncmp(name, base, lb) || strncmp(name + lb, SLC__TEMP_INFIX, li))
        return 0;
    const char *h = name + lb + li;
    if (strlen(h) != SLC__TEMP_HEX)
        return 0;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return 0;
    return 1;
}

/* Remove the temporaries of crashed rebuilds: every "<path>.tmp.<hex>"
 * whose liveness lock is free. Runs under the path's writer lock (when
 * locking), which slc_open's own creation temporaries are made under, so
 * it never removes one of those either. Best effort: failures are skipped. */
static void remove_stale(const char *path, const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t ld = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_temp_name(e->d_name, base))
            continue;
        char *full = malloc(ld + strlen(e->d_name) + 2);
        if (!full)
            break;
        sprintf(full, "%s/%s", dir, e->d_name);
        int fd = open(full, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat a, b;
        if (fd >= 0 && live_lock(fd, 0) == 0 && fstat(fd, &a) == 0 &&
            lstat(full, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino && S_ISREG(a.st_mode))
            unlink(full);
        if (fd >= 0)
            close(fd);
        free(full);
    }
    closedir(d);
    (void)path;
}

/* ---- Begin -------------------------------------------------------------- */

/* Create and lock the temporary; its mode (and, best effort, owner) follow
 * the file it will replace, so readers keep their access. */
static int make_temp(slc_rebuild *r)
{
    struct stat old;
    int have_old = stat(r->path, &old) == 0 && S_ISREG(old.st_mode);
    int fd = slc__open_temp(r->path, have_old ? old.st_mode & 0777 : 0644,
                            &r->tmp);
    if (fd < 0) {
        int rc = r->tmp ? slc__fail_sys("create rebuild temporary", r->tmp)
                        : slc__fail(SLC_ENOMEM,
                                    "temporary path allocation failed");
        free(r->tmp);
        r->tmp = NULL;
        return rc;
    }
    r->tmp_fd = fd;
    if (live_lock(fd, 1) < 0)
        return slc__fail_sys("lock rebuild temporary", r->tmp);
    /* Another rebuild's cleaning may have taken the file between its
     * creation and the lock: then the name is gone; make another. */
    struct stat mine, named;
    if (fstat(fd, &mine) < 0)
        return slc__fail_sys("fstat rebuild temporary", r->tmp);
    if (stat(r->tmp, &named) < 0 || named.st_ino != mine.st_ino ||
        named.st_dev != mine.st_dev) {
        close(fd);
        r->tmp_fd = -1;
        free(r->tmp);
        r->tmp = NULL;
        return make_temp(r);
    }
    if (have_old) { /* the umask may have cut the mode; owner: if allowed */
        int saved = errno;
        (void)fchmod(fd, old.st_mode & 07777);
        if (fchown(fd, old.st_uid, old.st_gid) < 0) {
        }
        errno = saved;
    }
    return SLC_OK;
}

static int begin_session(slc_rebuild *r)
{
    r->ops = 0;
    int rc = slc_begin_write(r->c, &r->w);
    if (rc)
        r->failed = 1;
    return rc;
}

/* Commit the current session (with the staged user header). */
static int end_session(slc_rebuild *r)
{
    int rc = SLC_OK;
    if (r->flags_dirty)
        rc = slc_set_user_flags(r->w, r->user_flags);
    if (!rc && r->data_dirty)
        rc = slc_set_user_data(r->w, r->user_data);
    if (!rc)
        rc = slc_commit(r->w);
    slc_writer_close(r->w);
    r->w = NULL;
    if (rc)
        r->failed = 1;
    else
        r->flags_dirty = r->data_dirty = 0;
    return rc;
}

static void discard(slc_rebuild *r)
{
    int saved = errno;
    if (r->w)
        slc_writer_close(r->w);
    slc__bulk_free(r->bulk);
    if (r->c)
        slc_close(r->c);
    if (r->tmp && !r->published)
        unlink(r->tmp);
    if (r->tmp_fd >= 0)
        close(r->tmp_fd);
    free(r->path);
    free(r->tmp);
    free(r->lock_path);
    free(r);
    errno = saved;
}

/* Under the path's writer lock when it is free now (never waits: cleaning
 * is left to a later rebuild otherwise). */
static void clean_stale(const slc_rebuild *r)
{
    char *dir;
    const char *base;
    if (slc__split_path(r->path, &dir, &base))
        return;
    int lock_fd = -1;
    if (!r->lock_path)
        remove_stale(r->path, dir, base);
    else if (slc__lock_open(r->lock_path, 1, &lock_fd) == SLC_OK &&
             slc__lock_try(lock_fd, r->lock_path) == SLC_OK)
        remove_stale(r->path, dir, base);
    slc__lock_close(lock_fd);
    free(dir);
}

int slc_rebuild_begin(const char *path, const slc_options *opts,
                      slc_rebuild **out)
{
    if (out)
        *out = NULL;
    if (!path || !opts || !out)
        return slc__fail(SLC_EINVAL, "slc_rebuild_begin: NULL %s",
                         !path ? "path" : !opts ? "options" : "out");
    if (!*path)
        return slc__fail(SLC_EINVAL, "slc_rebuild_begin: empty path");
    if (opts->slot_capacity == 0)
        return slc__fail(SLC_EINVAL, "slc_rebuild_begin: slot_capacity 0 "
                                     "(a rebuild creates a file)");
    if (opts->flags & SLC_READ_ONLY)
        return slc__fail(SLC_EINVAL, "slc_rebuild_begin: SLC_READ_ONLY");
    slc_rebuild *r = calloc(1, sizeof *r);
    if (!r)
        return slc__fail(SLC_ENOMEM, "rebuild allocation failed");
    r->tmp_fd = -1;
    r->sync = opts->flags & SLC_WRITEBACK_SYNC;
    r->path = slc__concat(path, "");
    if (!(opts->flags & SLC_NO_LOCK))
        r->lock_path = slc__concat(path, ".lock");
    if (!r->path || (!(opts->flags & SLC_NO_LOCK) && !r->lock_path)) {
        discard(r);
        return slc__fail(SLC_ENOMEM, "path allocation failed");
    }
    clean_stale(r);
    int rc = make_temp(r);
    /* The temporary is private: no lock file beside it, no Sync barriers
     * while filling (publication makes it durable at once). */
    slc_options o = *opts;
    o.flags = (o.flags | SLC_NO_LOCK) &
              ~(uint32_t)(SLC_CAPACITY_AT_LEAST | SLC_WRITEBACK_SYNC);
    if (!rc)
        rc = slc_open(r->tmp, &o, &r->c);
    SLC__HOOK("rebuild_created");
    /* Unordered files fill through the append path (bulk.c); ordered ones
     * need the sessions' sort of each batch of inserts. */
    if (!rc && !(opts->flags & SLC_ORDERED_KEYS))
        rc = slc__bulk_begin(r->c, &r->bulk);
    else if (!rc)
        rc = begin_session(r);
    if (rc) {
        discard(r);
        return rc;
    }
    *out = r;
    return SLC_OK;
}

/* ---- Filling ------------------------------------------------------------ */

static int usable(const slc_rebuild *r, const char *fn)
{
    if (!r)
        return slc__fail(SLC_EINVAL, "%s: NULL rebuild", fn);
    if (r->published)
        return slc__fail(SLC_ECLOSED, "%s: the rebuild was published", fn);
    if (r->failed)
        return slc__fail(SLC_ECLOSED, "%s: an earlier error ended the "
                                      "rebuild: close it and start again",
                         fn);
    return SLC_OK;
}

/* The append path: the argument checks of slc_put, then the put. */
static int bulk_put(slc_rebuild *r, const void *key, size_t key_len,
                    int64_t revision, const void *index, size_t index_len)
{
    const slc_cache *c = r->c;
    if (!key)
        return slc__fail(SLC_EINVAL, "slc_rebuild_put: NULL key");
    if (key_len != c->key_size)
        return slc__fail(SLC_EINVAL,
                         "slc_rebuild_put: key length %zu != key_size %" PRIu32,
                         key_len, c->key_size);
    if (index_len != c->index_size)
        return slc__fail(SLC_EINVAL,
                         "slc_rebuild_put: index length %zu != index_size "
                         "%" PRIu32,
                         index_len, c->index_size);
    if (!index && index_len)
        return slc__fail(SLC_EINVAL, "slc_rebuild_put: NULL index");
    int rc = slc__bulk_put(r->bulk, key, revision, index);
    if (rc)
        r->failed = 1;
    return rc;
}

int slc_rebuild_put(slc_rebuild *r, const void *key, size_t key_len,
                    int64_t revision, const void *index, size_t index_len)
{
    int rc = usable(r, "slc_rebuild_put");
    if (rc)
        return rc;
    if (r->bulk)
        return bulk_put(r, key, key_len, revision, index, index_len);
    if (r->ops == ROLL_OPS) {
        if ((rc = end_session(r)) || (rc = begin_session(r)))
            return rc;
        SLC__HOOK("rebuild_rolled");
    }
    /* Argument errors stage nothing and leave the rebuild usable. */
    rc = slc_put(r->w, key, key_len, revision, index, index_len);
    if (rc == SLC_OK)
        r->ops++;
    else if (rc != SLC_EINVAL)
        r->failed = 1;
    return rc;
}

int slc_rebuild_user_header(slc_rebuild *r, const uint64_t *user_flags,
                            const uint8_t *user_data)
{
    int rc = usable(r, "slc_rebuild_user_header");
    if (rc)
        return rc;
    if (user_flags) {
        r->user_flags = *user_flags;
        r->flags_dirty = 1;
    }
    if (user_data) {
        memcpy(r->user_data, user_data, SLC_USER_DATA_SIZE);
        r->data_dirty = 1;
    }
    return SLC_OK;
}

/* ---- Publication -------------------------------------------------------- */

/* Mark the replaced file invalidated through a mapping of its header. The
 * caller holds the path's writer lock, so no locking writer can be active
 * on it. A file without an SLC1 v1 header is left alone (nobody can have
 * it open as a cache). */
static void invalidate_old(int fd, uint32_t sync)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size < (off_t)SLC__HEADER_SIZE ||
        slc__registry_busy(st.st_dev, st.st_ino))
        return;
    void *m = mmap(NULL, SLC__HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
    if (m == MAP_FAILED)
        return;
    uint8_t raw[SLC__HEADER_SIZE];
    slc__copy_out(raw, m, SLC__HEADER_SIZE);
    slc__header h;
    slc__header_decode(raw, &h);
    if (slc__validate_ident(&h) == SLC_OK) {
        slc_cache old;
        memset(&old, 0, sizeof old);
        old.map = m;
        old.map_len = SLC__HEADER_SIZE;
        old.fd = fd;
        old.gen = old.map + SLC__OFF_GENERATION;
        old.open_flags = sync;
        /* An unknown state or an msync failure of the old file does not
         * undo the replacement: the new file is published either way. */
        (void)slc__invalidate_exclusive(&old);
    }
    int saved = errno;
    munmap(m, SLC__HEADER_SIZE);
    errno = saved;
}

/* Steps 2-4 under the path's writer lock (lock_fd -1 without locking). */
static int replace(slc_rebuild *r, const char *dir)
{
    int old_fd;
    do
        old_fd = open(r->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    while (old_fd < 0 && errno == EINTR);
    SLC__HOOK("rebuild_locked");
    if (rename(r->tmp, r->path) < 0) {
        int rc = slc__fail_sys("rename rebuild onto", r->path);
        if (old_fd >= 0)
            close(old_fd);
        return rc;
    }
    r->published = 1;
    SLC__HOOK("rebuild_renamed");
    /* Published whatever the sync says: like a commit's msync failure. */
    int rc = slc__fsync_dir(dir);
    if (rc) {
        char why[512];
        snprintf(why, sizeof why, "%s", slc_errdetail());
        rc = slc__fail(SLC_EWRITEBACK, "rebuild published, but %s", why);
    }
    SLC__HOOK("rebuild_dir_synced");
    if (old_fd >= 0) {
        invalidate_old(old_fd, r->sync);
        close(old_fd);
    }
    SLC__HOOK("rebuild_old_invalidated");
    return rc;
}

int slc_rebuild_publish(slc_rebuild *r, uint32_t timeout_ms)
{
    int rc = usable(r, "slc_rebuild_publish");
    if (rc)
        return rc;
    if (r->w && (rc = end_session(r)))
        return rc;
    if (r->bulk) {
        rc = slc__bulk_finish(r->bulk, r->flags_dirty ? &r->user_flags : NULL,
                              r->data_dirty ? r->user_data : NULL);
        slc__bulk_free(r->bulk);
        r->bulk = NULL;
        if (rc) {
            r->failed = 1;
            return rc;
        }
    }
    SLC__HOOK("rebuild_filled");
    /* Durable before it can be seen: data, then the directory entry. */
    char *dir;
    const char *base;
    if ((rc = slc__split_path(r->path, &dir, &base)))
        return rc;
    if (msync(r->c->map, r->c->map_len, MS_SYNC) < 0 || fsync(r->c->fd) < 0)
        rc = slc__fail_sys("sync rebuild temporary", r->tmp);
    if (!rc)
        rc = slc__fsync_dir(dir);
    SLC__HOOK("rebuild_synced");
    int lock_fd = -1;
    if (!rc && r->lock_path &&
        (rc = slc__lock_open(r->lock_path, 1, &lock_fd)) == SLC_OK)
        rc = slc__lock_wait(lock_fd, r->lock_path, timeout_ms);
    if (!rc)
        rc = replace(r, dir);
    slc__lock_close(lock_fd);
    free(dir);
    if (r->published) {
        /* Whatever the directory sync said, the path is the new file. */
        slc_close(r->c);
        r->c = NULL;
    } else if (rc != SLC_EBUSY) {
        r->failed = 1;
    }
    return rc;
}

int slc_rebuild_close(slc_rebuild *r)
{
    if (r)
        discard(r);
    return SLC_OK;
}

/* ---- slc_reopen --------------------------------------------------------- */

int slc_reopen(slc_cache *c)
{
    if (!c)
        return slc__fail(SLC_EINVAL, "slc_reopen: NULL cache");
    if (slc__handle_writers_open(c))
        return slc__fail(SLC_EBUSY,
                         "slc_reopen: a writer of this handle is not freed");
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = c->key_size;
    o.index_size = c->index_size;
    o.user_version = c->user_version;
    o.slot_capacity = 0; /* a rebuild may have changed it */
    o.flags = c->open_flags & ~(uint32_t)SLC_CAPACITY_AT_LEAST;
    slc_cache *n = NULL;
    int rc = slc_open(c->path, &o, &n); /* follows a path replaced meanwhile */
    if (rc)
        return rc;
    if (n->dev == c->dev && n->ino == c->ino) {
        slc_close(n); /* still the same file: nothing to follow */
        return SLC_OK;
    }
    /* Swap the whole handle (mapping, descriptor and anything else open
     * gives it), keep the writer bookkeeping, free the old state. */
    slc_cache old = *c;
    *c = *n;
    c->writers = old.writers;
    c->writers_epoch = old.writers_epoch;
    *n = old;
    n->writers = 0;
    slc_close(n);
    return SLC_OK;
}
