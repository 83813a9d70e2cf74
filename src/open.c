/* slc_open, slc_read_options, slc_close: find or make the file, validate
 * its header under the seqlock, map it.
 *
 * Making a file is create.c's (temporary file and rename, or in-place
 * initialisation of an empty file); it runs under the writer lock, taken
 * without waiting, so concurrent openers serialise: an opener that finds
 * the file missing while another creates it gets SLC_EBUSY (the lock is
 * held) and one that comes after the creator opens the new file. Lock
 * handling and the crashed-writer verdict are lock.c's. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "create.h"
#include "hook.h"
#include "lock.h"
#include "sizing.h"
#include "space.h"
#include "validate.h"

#define KNOWN_OPEN_FLAGS                                                       \
    (SLC_ORDERED_KEYS | SLC_WRITEBACK_SYNC | SLC_NO_LOCK | SLC_READ_ONLY |   \
     SLC_CAPACITY_AT_LEAST)
/* Buckets checked at open (SLC1 10.7 G, slc__index_sample): a fixed run
 * from bucket 0, one or two pages, independent of the file size. */
#define SAMPLE_BUCKETS 32u

static int host_supported(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&   \
    UINTPTR_MAX == UINT64_MAX
    return __atomic_always_lock_free(8, 0);
#else
    return 0;
#endif
}

static int check_options(const slc_options *o, slc__layout *layout)
{
    if (o->flags & ~(uint32_t)KNOWN_OPEN_FLAGS)
        return slc__fail(SLC_EINVAL, "unknown option flags 0x%" PRIx32,
                         o->flags & ~(uint32_t)KNOWN_OPEN_FLAGS);
    uint32_t slot_size;
    int rc = slc__slot_size(o->key_size, o->index_size, &slot_size);
    if (rc)
        return rc;
    if (o->slot_capacity > SLC_MAX_SLOT_CAPACITY)
        return slc__fail(SLC_EINVAL,
                         "slot_capacity %" PRIu64 " above the limit %u",
                         o->slot_capacity, SLC_MAX_SLOT_CAPACITY);
    if (o->slot_capacity == 0)
        return SLC_OK;
    return slc__layout_for_create(o->key_size, o->index_size, o->slot_capacity,
                                  layout);
}

/* ---- Reading the header ------------------------------------------------- */

/* Copy the header words atomically (a writer may be storing counters). */
static void copy_header(const uint8_t *map, uint8_t raw[SLC__HEADER_SIZE])
{
    slc__copy_out(raw, map, SLC__HEADER_SIZE);
}

/* SLC_EBUSY: `what`, then the probe's reason (the current detail). */
static int busy_because(const char *what)
{
    char why[512];
    snprintf(why, sizeof why, "%s", slc_errdetail());
    return slc__fail(SLC_EBUSY, "%s: %s", what, why);
}

/* 10.6: the generation stayed odd. With locking, whoever gets the lock and
 * still sees odd knows the writer died: corruption. */
static int odd_generation(int fd, const uint8_t *map, const char *path,
                          const char *lock_path, int create,
                          const struct stat *st, uint8_t raw[SLC__HEADER_SIZE])
{
    uint64_t g = slc__ld(map + SLC__OFF_GENERATION);
    if (!lock_path)
        return slc__fail(SLC_EBUSY,
                         "%s: generation %" PRIu64 " stays odd and locking is "
                         "off: a writer may be publishing",
                         path, g);
    if (slc__registry_busy(st->st_dev, st->st_ino))
        return slc__fail(SLC_EBUSY,
                         "generation %" PRIu64 " is odd while a writer of this "
                         "process is active",
                         g);
    /* Both the lock file and the file lock: a writer through another name
     * of this file holds only the latter. */
    slc__lock_probe p;
    int rc = slc__lock_probe_take(fd, st, path, lock_path, create, &p);
    if (rc == SLC_EBUSY) {
        char what[64];
        snprintf(what, sizeof what, "generation %" PRIu64 " is odd", g);
        return busy_because(what);
    }
    if (rc)
        return rc;
    /* Exclusive now: no writer can move the generation. */
    copy_header(map, raw);
    slc__lock_probe_release(&p);
    return slc__crashed_writer(slc__le64(raw + SLC__OFF_GENERATION), path);
}

/* Steps 6-7: map the header, check identification, take a stable copy. */
static int read_header(int fd, const char *path, const char *lock_path,
                       int create, const struct stat *st,
                       uint8_t raw[SLC__HEADER_SIZE], slc__header *h)
{
    void *m = mmap(NULL, SLC__HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return slc__fail_sys("mmap header of", path);
    const uint8_t *map = m;
    copy_header(map, raw);
    slc__header_decode(raw, h);
    int rc = slc__validate_ident(h);
    int stable = 0;
    if (rc == SLC_OK) {
        slc__seqread r;
        for (int ok = slc__read_begin(&r, map + SLC__OFF_GENERATION); ok;
             ok = slc__read_next(&r)) {
            copy_header(map, raw);
            if (!slc__read_retry(&r)) {
                stable = 1;
                break; /* before the loop's step, which would back off */
            }
        }
    }
    if (rc == SLC_OK && !stable)
        rc = odd_generation(fd, map, path, lock_path, create, st, raw);
    munmap(m, SLC__HEADER_SIZE);
    if (rc == SLC_OK)
        slc__header_decode(raw, h);
    return rc;
}

/* ---- slc_open ----------------------------------------------------------- */

static void cache_free(slc_cache *c)
{
    if (!c)
        return;
    int saved = errno;
    if (c->map)
        munmap(c->map, c->map_len);
    if (c->fd >= 0)
        close(c->fd);
    slc__space_free(c);
    free(c->path);
    free(c->lock_path);
    free(c);
    errno = saved;
}

static int stat_fd(int fd, const char *path, struct stat *st)
{
    if (fstat(fd, st) < 0)
        return slc__fail_sys("fstat", path);
    if (!S_ISREG(st->st_mode))
        return slc__fail(SLC_EINVAL, "%s is not a regular file", path);
    return SLC_OK;
}

/* Groups C-F on a stable header copy. Without options (slc_read_options)
 * group E is skipped as SLC1 10.7 says, its slot_size rule included (the
 * open that follows reports it); the sizes meet their limits at the end
 * of group F, like the other limits of a sound file. */
static int judge(const uint8_t raw[SLC__HEADER_SIZE], const slc__header *h,
                 const slc_options *o, const struct stat *st,
                 uint64_t *required, const char *path)
{
    int rc = slc__validate_stable(raw, h);
    if (!rc && o && (rc = slc__validate_config(h, o)) != SLC_OK) {
        /* Name the file: the caller may open several with one options. */
        char what[512];
        snprintf(what, sizeof what, "%s", slc_errdetail());
        rc = slc__fail(rc, "%s: %s", path, what);
    }
    /* A minimum capacity does not vouch for a larger file's: its limit is
     * checked as for an open without a capacity. */
    uint64_t exact = o && !(o->flags & SLC_CAPACITY_AT_LEAST) ? o->slot_capacity
                                                              : 0;
    if (!rc)
        rc = slc__validate_structure(h, (uint64_t)st->st_size, exact,
                                     required);
    if (!rc && !o)
        rc = slc__validate_size_limits(h);
    return rc;
}

/* Does the header ask for more bytes than the file has? */
static int shorter_than_header(const slc__header *h, const struct stat *st)
{
    slc__layout l;
    if (slc__layout_from_header(h, &l) & SLC__LAYOUT_BAD_BUCKETS)
        return 0;
    return (uint64_t)st->st_size < l.file_size;
}

/* Could this header be one an initialiser has just written (3.11)? Only
 * such a file can be short because an initialisation is running; any other
 * short file is corrupt whoever holds the lock. */
static int fresh_header(const slc__header *h)
{
    return h->generation == 0 && h->slot_highwater == 0 &&
           h->live_count == 0 && h->bucket_used == 0 &&
           h->bucket_tombstones == 0 && h->state == SLC__STATE_NORMAL;
}

/* Opening a non-empty file takes no lock, but an in-place initialisation
 * (10.5) is visible while it runs. create.c writes the header before it
 * extends the file, so the only state an opener can catch is "a sound
 * header in a file shorter than it requires". That one verdict is final
 * only when no initialiser holds the writer lock: held, SLC_EBUSY (retry);
 * free, the header is read again under the lock and judged. A writer of
 * this process on the file, or a header that is not a fresh one, rules the
 * initialisation out (validate_file). */
static int recheck_locked(int fd, const char *path, const char *lock_path,
                          int create, const slc_options *o, struct stat *st,
                          slc__header *h, uint64_t *required)
{
    slc__lock_probe p;
    int rc = slc__lock_probe_take(fd, st, path, lock_path, create, &p);
    if (rc == SLC_EBUSY)
        return busy_because("the file is shorter than its header requires "
                            "and may be being initialised");
    if (rc)
        return rc;
    uint8_t raw[SLC__HEADER_SIZE];
    rc = stat_fd(fd, path, st);
    if (!rc && pread(fd, raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        rc = slc__fail_sys("read header of", path);
    if (!rc) {
        slc__header_decode(raw, h);
        rc = slc__validate_ident(h);
    }
    if (!rc)
        rc = slc__crashed_writer(h->generation, path);
    if (!rc)
        rc = judge(raw, h, o, st, required, path);
    slc__lock_probe_release(&p);
    return rc;
}

/* Steps 6-8: read and judge the header of a file of >= 256 bytes. */
/* `create`: whether lock-file probes may create a missing lock file (not
 * for read-only opens and slc_read_options, which never create files). */
static int validate_file(int fd, const char *path, const char *lock_path,
                         int create, const slc_options *o, struct stat *st,
                         slc__header *h, uint64_t *required)
{
    uint8_t raw[SLC__HEADER_SIZE];
    int rc = read_header(fd, path, lock_path, create, st, raw, h);
    if (!rc)
        rc = judge(raw, h, o, st, required, path);
    if (rc == SLC_ECORRUPT && lock_path && shorter_than_header(h, st) &&
        fresh_header(h) && !slc__registry_busy(st->st_dev, st->st_ino))
        rc = recheck_locked(fd, path, lock_path, create, o, st, h, required);
    return rc;
}

/* Steps 8-10 on an open descriptor of a file of >= 256 bytes. */
static int open_existing(slc_cache *c, const slc_options *o,
                         const struct stat *st_found)
{
    slc__header h;
    uint64_t required = 0;
    struct stat stv = *st_found, *st = &stv;
    int readonly = (o->flags & SLC_READ_ONLY) != 0;
    SLC__OPEN_HOOK(c->path);
    int rc = validate_file(c->fd, c->path, c->lock_path, !readonly, o, st, &h,
                           &required);
    if (rc)
        return rc;
    void *m = mmap(NULL, (size_t)required,
                   readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                   c->fd, 0);
    if (m == MAP_FAILED)
        return slc__fail_sys("mmap", c->path);
    if (o->flags & SLC_WRITEBACK_SYNC) {
        /* No readahead: faults then map small page-cache folios, and an
         * msync writes back the pages a commit changed rather than whole
         * large folios (measurements: W6 in docs/benchmarks.md). Readers
         * without Sync mode keep readahead. */
        int saved = errno;
        (void)madvise(m, (size_t)required, MADV_RANDOM);
        errno = saved;
    }
    /* Judged sound above: the layout's arithmetic cannot fail here. */
    slc__layout l;
    (void)slc__layout_from_header(&h, &l);
    c->map = m;
    c->map_len = (size_t)required;
    c->key_size = l.key_size;
    c->index_size = l.index_size;
    c->slot_size = l.slot_size;
    c->file_flags = h.flags;
    c->rev_off = l.rev_off;
    c->index_off = l.index_off;
    c->slot_capacity = l.slot_capacity;
    c->bucket_count = l.bucket_count;
    c->bucket_mask = l.bucket_count - 1;
    c->user_version = h.user_version;
    c->slots = c->map + l.slots_offset;
    c->buckets = c->map + l.buckets_offset;
    c->gen = c->map + SLC__OFF_GENERATION;
    c->dev = st->st_dev;
    c->ino = st->st_ino;
    return slc__index_sample(c, SAMPLE_BUCKETS);
}

/* Never blocks: a FIFO or device at the path is SLC_EINVAL at once. */
static int open_file(const char *path, int readonly, int *fd_out)
{
    int rc = slc__open_regular(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC,
                               0, fd_out);
    if (rc == SLC_OK && *fd_out < 0 && errno != ENOENT)
        return slc__fail_sys("open", path);
    return rc;
}

/* Steps 3-5: end with an open descriptor of a file that is not empty, or
 * an error. `lock_fd` is the (unlocked) lock file, -1 without locking. */
static int find_or_make(slc_cache *c, const slc_options *o,
                        const slc__layout *l, int lock_fd, struct stat *st)
{
    int readonly = (o->flags & SLC_READ_ONLY) != 0;
    int rc = open_file(c->path, readonly, &c->fd);
    if (rc)
        return rc;
    if (c->fd < 0 && readonly) {
        errno = ENOENT;
        return slc__fail_sys("open (read-only opens never create)", c->path);
    }
    if (c->fd < 0) { /* missing: create under the lock */
        if (o->slot_capacity == 0)
            return slc__fail(SLC_EINVAL,
                             "%s does not exist and slot_capacity is 0",
                             c->path);
        if (lock_fd >= 0 && (rc = slc__lock_try(lock_fd, c->lock_path)))
            return rc;
        rc = open_file(c->path, 0, &c->fd); /* another creator may have won */
        if (rc == SLC_OK && c->fd < 0)
            rc = slc__create_file(c->path, l, o, &c->fd);
        slc__lock_drop(lock_fd); /* kept open until slc_open ends */
        if (rc)
            return rc;
    }
    if ((rc = stat_fd(c->fd, c->path, st)))
        return rc;
    if (st->st_size == 0 && readonly)
        return slc__fail(SLC_EINVAL,
                         "%s is empty: a read-only open does not initialise",
                         c->path);
    if (st->st_size == 0) { /* pre-created empty file: initialise in place */
        if (o->slot_capacity == 0)
            return slc__fail(SLC_EINVAL,
                             "%s is empty and slot_capacity is 0", c->path);
        if (lock_fd >= 0 && (rc = slc__lock_try(lock_fd, c->lock_path)))
            return rc;
        /* And the file lock: an opener through another name of this file
         * must see the initialisation as busy, not as a short file. */
        int file_lock = -1;
        if (lock_fd >= 0)
            rc = slc__file_lock_take(c->fd, c->path, st->st_dev, st->st_ino,
                                     &file_lock);
        if (rc == SLC_OK)
            rc = stat_fd(c->fd, c->path, st);
        if (rc == SLC_OK && st->st_size == 0)
            rc = slc__init_in_place(c->fd, c->path, l, o);
        if (rc == SLC_OK)
            rc = stat_fd(c->fd, c->path, st);
        slc__lock_close(file_lock);
        slc__lock_drop(lock_fd); /* kept open until slc_open ends */
        if (rc)
            return rc;
    }
    if (st->st_size < (off_t)SLC__HEADER_SIZE)
        return slc__fail(SLC_ECORRUPT,
                         "file size %lld is below the 256-byte header",
                         (long long)st->st_size);
    return SLC_OK;
}

#ifdef SLC_TEST_HOOKS
void (*slc__test_open_hook)(const char *path);
#endif

/* Did a rebuild rename another file over the path since fd was opened?
 * Then an invalidated fd is not the path's verdict. */
static int path_moved_on(int fd, const char *path)
{
    struct stat mine, now;
    return fd >= 0 && fstat(fd, &mine) == 0 && stat(path, &now) == 0 &&
           (now.st_dev != mine.st_dev || now.st_ino != mine.st_ino);
}

/* A rebuild may publish (rename over the path, then invalidate the file it
 * replaced) between our open(2) and our judging of the header: the path
 * then names a sound file, so it is opened again, a bounded number of
 * times. */
#define OPEN_FOLLOWS 8

/* One open of the path; *moved when it failed on a file that is no
 * longer at the path. */
static int open_once(const char *path, const slc_options *opts,
                     const slc__layout *layout, slc_cache **out, int *moved)
{
    slc_cache *c = calloc(1, sizeof *c);
    if (!c)
        return slc__fail(SLC_ENOMEM, "cache handle allocation failed");
    c->fd = -1;
    c->open_flags = opts->flags;
    c->path = slc__concat(path, "");
    if (!(opts->flags & SLC_NO_LOCK))
        c->lock_path = slc__concat(path, ".lock");
    if (!c->path || (!(opts->flags & SLC_NO_LOCK) && !c->lock_path)) {
        cache_free(c);
        return slc__fail(SLC_ENOMEM, "path allocation failed");
    }

    int rc = SLC_OK, lock_fd = -1;
    struct stat st;
    if (c->lock_path && !(opts->flags & SLC_READ_ONLY))
        rc = slc__lock_open(c->lock_path, 1, &lock_fd);
    if (!rc)
        rc = find_or_make(c, opts, layout, lock_fd, &st);
    if (!rc)
        rc = open_existing(c, opts, &st);
    slc__lock_close(lock_fd);
    if (rc) {
        *moved = rc == SLC_EINVALIDATED && path_moved_on(c->fd, c->path);
        cache_free(c);
        return rc;
    }
    c->writers_epoch = slc__fork_epoch();
    *out = c;
    return SLC_OK;
}

int slc_open(const char *path, const slc_options *opts, slc_cache **out)
{
    if (out)
        *out = NULL;
    if (!path || !opts || !out)
        return slc__fail(SLC_EINVAL, "slc_open: NULL %s",
                         !path ? "path" : !opts ? "options" : "out");
    if (!*path)
        return slc__fail(SLC_EINVAL, "slc_open: empty path");
    if (!host_supported())
        return slc__fail(SLC_EINCOMPATIBLE,
                         "host is not 64-bit little-endian with lock-free "
                         "64-bit atomics");
    slc__layout layout;
    memset(&layout, 0, sizeof layout);
    int rc = check_options(opts, &layout);
    if (rc)
        return rc;
    for (int follows = 0;; follows++) {
        int moved = 0;
        rc = open_once(path, opts, &layout, out, &moved);
        if (!moved || follows == OPEN_FOLLOWS)
            return rc;
    }
}

int slc_close(slc_cache *c)
{
    if (!c)
        return SLC_OK;
    if (slc__handle_writers_open(c))
        return slc__fail(SLC_EBUSY,
                         "slc_close: a writer of this handle is not freed");
    cache_free(c);
    return SLC_OK;
}

/* ---- slc_read_options --------------------------------------------------- */

/* One reading of the path's header; *moved as for open_once. */
static int read_options_once(const char *path, slc_options *opts, int *moved)
{
    int fd = -1;
    int rc = slc__open_regular(path, O_RDONLY | O_CLOEXEC, 0, &fd);
    if (rc)
        return rc;
    if (fd < 0)
        return slc__fail_sys("open", path);
    char *lock_path = slc__concat(path, ".lock");
    struct stat st;
    rc = lock_path ? stat_fd(fd, path, &st)
                   : slc__fail(SLC_ENOMEM, "path allocation failed");
    if (rc == SLC_OK && st.st_size == 0)
        rc = slc__fail(SLC_EINVAL, "%s is empty: no configuration to read",
                       path);
    else if (rc == SLC_OK && st.st_size < (off_t)SLC__HEADER_SIZE)
        rc = slc__fail(SLC_ECORRUPT,
                       "file size %lld is below the 256-byte header",
                       (long long)st.st_size);
    slc__header h;
    uint64_t required;
    if (!rc) {
        SLC__OPEN_HOOK(path);
        rc = validate_file(fd, path, lock_path, 0, NULL, &st, &h, &required);
    }
    int saved = errno;
    *moved = rc == SLC_EINVALIDATED && path_moved_on(fd, path);
    close(fd);
    free(lock_path);
    errno = saved;
    if (rc)
        return rc;
    memset(opts, 0, sizeof *opts);
    opts->key_size = h.key_size;
    opts->index_size = h.index_size;
    opts->user_version = h.user_version;
    opts->slot_capacity = h.slot_capacity;
    opts->flags = (h.flags & SLC__FLAG_ORDERED_KEYS) ? SLC_ORDERED_KEYS : 0;
    return SLC_OK;
}

int slc_read_options(const char *path, slc_options *opts)
{
    if (!path || !opts)
        return slc__fail(SLC_EINVAL, "slc_read_options: NULL %s",
                         !path ? "path" : "options");
    if (!host_supported())
        return slc__fail(SLC_EINCOMPATIBLE,
                         "host is not 64-bit little-endian with lock-free "
                         "64-bit atomics");
    for (int follows = 0;; follows++) {
        int moved = 0;
        int rc = read_options_once(path, opts, &moved);
        if (!moved || follows == OPEN_FOLLOWS)
            return rc;
    }
}
