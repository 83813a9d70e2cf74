/* Making a new file (SLC1 10.4, 10.5): a fresh header, the file sized
 * sparse, made durable; either through "<path>.tmp.<random>" and rename,
 * so the path never holds a partial file, or in place in an empty file.
 * The caller (open.c) holds the writer lock around both. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/random.h>
#endif

#include "create.h"
#include "space.h"

static void new_header(const slc__layout *l, const slc_options *o,
                       uint8_t raw[SLC__HEADER_SIZE])
{
    slc__header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "SLC1", 4);
    h.version = SLC__VERSION;
    h.header_size = SLC__HEADER_SIZE;
    h.key_size = l->key_size;
    h.index_size = l->index_size;
    h.slot_size = l->slot_size;
    h.hash_alg = SLC__HASH_FNV1A64;
    h.flags = (o->flags & SLC_ORDERED_KEYS) ? SLC__FLAG_ORDERED_KEYS : 0;
    h.slot_capacity = l->slot_capacity;
    h.user_version = o->user_version;
    h.bucket_count = l->bucket_count;
    h.slots_offset = l->slots_offset;
    h.buckets_offset = l->buckets_offset;
    slc__header_seal(&h, raw);
}

/* A file of `size` bytes must fit RLIMIT_FSIZE, checked before anything
 * is written: past it, write and ftruncate raise SIGXFSZ, which kills a
 * process that keeps the default disposition. */
static int check_fsize_limit(uint64_t size, const char *path)
{
    uint64_t limit = slc__write_limit();
    if (size <= limit)
        return SLC_OK;
    errno = EFBIG;
    return slc__fail(SLC_ESYS,
                     "%s: the file needs %" PRIu64 " bytes, above "
                     "RLIMIT_FSIZE (%" PRIu64 "): %s",
                     path, size, limit, strerror(EFBIG));
}

int slc__split_path(const char *path, char **dir, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        *dir = slc__concat(".", "");
    else if (slash == path)
        *dir = slc__concat("/", "");
    else {
        *dir = malloc((size_t)(slash - path) + 1);
        if (*dir) {
            memcpy(*dir, path, (size_t)(slash - path));
            (*dir)[slash - path] = '\0';
        }
    }
    return *dir ? SLC_OK : slc__fail(SLC_ENOMEM, "path allocation failed");
}

int slc__fsync_dir(const char *dir)
{
    int fd, r;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return slc__fail_sys("open directory", dir);
    do
        r = fsync(fd);
    while (r < 0 && errno == EINTR);
    /* EINVAL: a filesystem that cannot sync directories; nothing to do. */
    int rc = r < 0 && errno != EINVAL ? slc__fail_sys("fsync directory", dir)
                                      : SLC_OK;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Make a rename in the directory of `path` durable (Sync mode): without
 * it, a power loss can undo the rename although the file was synced. */
static int sync_parent_dir(const char *path)
{
    char *dir;
    const char *base;
    int rc = slc__split_path(path, &dir, &base);
    if (rc == SLC_OK) {
        rc = slc__fsync_dir(dir);
        free(dir);
    }
    return rc;
}

/* Write the header, size the file (sparse), make it durable. */
static int format_fd(int fd, const slc__layout *l, const slc_options *o,
                     const char *path)
{
    int rc = check_fsize_limit(l->file_size, path);
    if (rc)
        return rc;
    uint8_t raw[SLC__HEADER_SIZE];
    new_header(l, o, raw);
    /* Header first: an opener racing an in-place initialisation then sees
     * either an empty file or a sound header in a short file, never a
     * full-length file without a header (see recheck_locked in open.c). */
    if (slc__pwrite_all(fd, raw, sizeof raw, 0) < 0)
        return slc__fail_sys("write header", path);
    int r;
    do
        r = ftruncate(fd, (off_t)l->file_size);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return slc__fail_sys("ftruncate", path);
    rc = slc__space_new_file(fd, l->buckets_offset,
                             l->file_size - l->buckets_offset, path);
    if (rc)
        return rc;
    if (fsync(fd) < 0)
        return slc__fail_sys("fsync", path);
    return SLC_OK;
}

static void temp_suffix(char out[17])
{
    uint64_t v = 0;
#if defined(__linux__)
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
#elif defined(__APPLE__)
    arc4random_buf(&v, sizeof v);
    if (0)
#endif
    {
        static uint64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)ts.tv_sec << 20) ^
            __atomic_add_fetch(&counter, 0x9E3779B97F4A7C15ull,
                               __ATOMIC_RELAXED);
    }
    snprintf(out, 17, "%016" PRIx64, v);
}

int slc__open_temp(const char *path, mode_t mode, char **tmp_out)
{
    size_t len = strlen(path) + sizeof SLC__TEMP_INFIX + 16;
    char *tmp = malloc(len);
    *tmp_out = tmp;
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    int fd = -1;
    for (int tries = 0; tries < 64 && fd < 0; tries++) {
        char sfx[17];
        temp_suffix(sfx);
        snprintf(tmp, len, "%s%s%s", path, SLC__TEMP_INFIX, sfx);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST && errno != EINTR)
            break;
    }
    return fd;
}

int slc__create_file(const char *path, const slc__layout *l,
                     const slc_options *o, int *fd_out)
{
    /* Checked here too, so that not even a temporary file is made. */
    int rc = check_fsize_limit(l->file_size, path);
    if (rc)
        return rc;
    char *tmp;
    int fd = slc__open_temp(path, 0600, &tmp);
    if (fd < 0) {
        rc = tmp ? slc__fail_sys("create temporary file", tmp)
                 : slc__fail(SLC_ENOMEM, "temporary path allocation failed");
        free(tmp);
        return rc;
    }
    rc = format_fd(fd, l, o, tmp);
    if (rc == SLC_OK && rename(tmp, path) < 0)
        rc = slc__fail_sys("rename temporary file onto", path);
    else if (rc == SLC_OK && (o->flags & SLC_WRITEBACK_SYNC) &&
             (rc = sync_parent_dir(path)) != SLC_OK) {
        /* Not known durable: undo, so the failed call leaves no file. */
        int saved = errno;
        unlink(path);
        errno = saved;
    }
    if (rc) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
    } else {
        *fd_out = fd;
    }
    free(tmp);
    return rc;
}

int slc__init_in_place(int fd, const char *path, const slc__layout *l,
                       const slc_options *o)
{
    int rc = format_fd(fd, l, o, path);
    if (rc) {
        int saved = errno;
        if (ftruncate(fd, 0) < 0) { /* best effort: guarantee (1) */
        }
        errno = saved;
    }
    return rc;
}

char *slc__concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}
