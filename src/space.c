/* Disk space for a commit, claimed before its generation goes odd.
 *
 * Cache files are sparse (SLC1 6): the first store into a page of a hole
 * makes the filesystem find a block. Through a mapping that happens inside
 * a page fault, and a filesystem that has no block left answers the fault
 * with SIGBUS: the writer dies in its odd window and the cache is lost. So
 * every page a commit will write that may still be a hole is allocated
 * first, with fallocate (or, on a filesystem without it, by writing the
 * page's current bytes back with pwrite). A full disk then ends the commit
 * with ENOSPC before anything is published, and the stores of the odd
 * window only touch allocated pages.
 *
 * The writer notes only pages that can be holes: new slots at and above
 * slot_highwater and buckets an insert takes; everything else a commit
 * writes (live slots, FULL buckets turned TOMBSTONE) was written before.
 * Each handle remembers the pages it has allocated, so a page costs one
 * fallocate per handle, not one per commit. */
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#if defined(__linux__)
#include <sys/statfs.h>
#endif
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

struct slc__space {
    uint64_t *known; /* bit per page of the mapping: allocated */
    uint64_t pages;
    int fs_checked;  /* the tmpfs check of slc__space_prepare ran */
};

static uint64_t page_size(void)
{
    return (uint64_t)sysconf(_SC_PAGESIZE);
}

static struct slc__space *space_of(slc_cache *c)
{
    if (c->space)
        return c->space;
    struct slc__space *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pages = (c->map_len + page_size() - 1) / page_size();
    s->known = calloc((size_t)(s->pages / 64 + 1), sizeof *s->known);
    if (!s->known) {
        free(s);
        return NULL;
    }
    c->space = s;
    return s;
}

void slc__space_free(slc_cache *c)
{
    if (!c->space)
        return;
    free(c->space->known);
    free(c->space);
    c->space = NULL;
}

static int test_and_set(uint64_t *bits, uint64_t i)
{
    uint64_t m = (uint64_t)1 << (i & 63);
    int was = (bits[i >> 6] & m) != 0;
    bits[i >> 6] |= m;
    return was;
}

static void clear_bit(uint64_t *bits, uint64_t i)
{
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* Does the page hold a byte that is not zero? Then it was written, and
 * is allocated (a hole reads as zeros). Reading a hole through the mapping
 * allocates nothing, except on tmpfs, whose bucket section has none. */
static int has_data(const slc_cache *c, uint64_t pg, uint64_t page)
{
    uint64_t a = pg * page, b = a + page > c->map_len ? c->map_len : a + page;
    for (uint64_t off = a; off < b; off += 8)
        if (slc__ld(c->map + off))
            return 1;
    return 0;
}

static void note(slc_cache *c, slc__claim *cl, uint64_t off, uint64_t len,
                 int look);

void slc__claim_bytes(slc_cache *c, slc__claim *cl, uint64_t off,
                      uint64_t len)
{
    note(c, cl, off, len, 1);
}

void slc__claim_new(slc_cache *c, slc__claim *cl, uint64_t off, uint64_t len)
{
    note(c, cl, off, len, 0);
}

static void note(slc_cache *c, slc__claim *cl, uint64_t off, uint64_t len,
                 int look)
{
    if (len == 0)
        return;
    struct slc__space *s = space_of(c);
    if (!s) {
        cl->failed_alloc = 1;
        return;
    }
    uint64_t p = page_size();
    uint64_t first = off / p, last = (off + len - 1) / p;
    for (uint64_t pg = first; pg <= last && pg < s->pages; pg++) {
        if (test_and_set(s->known, pg))
            continue;
        /* The pages at the ends of a range are often shared with data
         * written before (the slot below slot_highwater); looking costs
         * less than a system call. Inner pages of a long range are new. */
        if (look && (pg == first || pg == last) && has_data(c, pg, p))
            continue;
        if (cl->n == cl->cap) {
            size_t cap = cl->cap ? cl->cap * 2 : 64;
            uint64_t *n = realloc(cl->pages, cap * sizeof *n);
            if (!n) {
                clear_bit(s->known, pg);
                cl->failed_alloc = 1;
                return;
            }
            cl->pages = n;
            cl->cap = cap;
        }
        cl->pages[cl->n++] = pg;
    }
}

int slc__pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *s = p;
    while (n) {
        ssize_t w = pwrite(fd, s, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        s += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

uint64_t slc__write_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return UINT64_MAX;
    return (uint64_t)rl.rlim_cur;
}

/* fallocate(2) itself: glibc's posix_fallocate would emulate a missing
 * one with writes of its own, past RLIMIT_FSIZE too. 0 or an errno. */
static int reserve_fd(int fd, uint64_t off, uint64_t len)
{
#if defined(__linux__)
    int r;
    do
        r = fallocate(fd, 0, (off_t)off, (off_t)len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? errno : 0;
#else
    (void)fd;
    (void)off;
    (void)len;
    return EOPNOTSUPP;
#endif
}

/* Where fallocate is not supported, writing a page's own bytes back
 * allocates it just the same (the bytes do not change). */
static int rewrite_range(const slc_cache *c, uint64_t off, uint64_t end)
{
    if (end > slc__write_limit()) {
        errno = EFBIG;
        return -1;
    }
    uint8_t buf[16384];
    for (; off < end; off += sizeof buf) {
        size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
        memcpy(buf, c->map + off, n);
        if (slc__pwrite_all(c->fd, buf, n, off) < 0)
            return -1;
    }
    return 0;
}

static int allocate(const slc_cache *c, uint64_t off, uint64_t end)
{
    if (end > c->map_len)
        end = c->map_len;
    if (off >= end)
        return 0;
    int r = reserve_fd(c->fd, off, end - off);
    if (r == EOPNOTSUPP || r == EINVAL || r == ENOSYS)
        return rewrite_range(c, off, end);
    errno = r;
    return r ? -1 : 0;
}

static int by_page(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void slc__claim_drop(slc_cache *c, slc__claim *cl)
{
    if (c->space)
        for (size_t i = 0; i < cl->n; i++)
            clear_bit(c->space->known, cl->pages[i]);
    free(cl->pages);
    memset(cl, 0, sizeof *cl);
}

int slc__claim_commit(slc_cache *c, slc__claim *cl)
{
    if (cl->failed_alloc) {
        slc__claim_drop(c, cl);
        return slc__fail(SLC_ENOMEM, "commit: page list allocation failed");
    }
    uint64_t p = page_size();
    if (cl->n > 1) /* qsort must not see the NULL of an empty list */
        qsort(cl->pages, cl->n, sizeof *cl->pages, by_page);
    for (size_t i = 0, j; i < cl->n; i = j) { /* runs of adjacent pages */
        for (j = i + 1; j < cl->n && cl->pages[j] == cl->pages[j - 1] + 1; j++)
            ;
        if (allocate(c, cl->pages[i] * p, (cl->pages[j - 1] + 1) * p) < 0) {
            int saved = errno;
            uint64_t at = cl->pages[i] * p;
            slc__claim_drop(c, cl);
            errno = saved;
            return slc__fail(SLC_ESYS,
                             "commit: no disk space could be allocated in %s "
                             "at offset %" PRIu64 " (%s); nothing was "
                             "published",
                             c->path, at, strerror(saved));
        }
    }
    free(cl->pages);
    memset(cl, 0, sizeof *cl);
    return SLC_OK;
}

uint64_t slc__data_from(const slc_cache *c, uint64_t off)
{
#if defined(SEEK_DATA)
    off_t r = lseek(c->fd, (off_t)off, SEEK_DATA);
    if (r >= 0)
        return (uint64_t)r;
    if (errno == ENXIO) /* nothing but hole up to the end of the file */
        return UINT64_MAX;
#endif
    return off; /* no answer: treat everything as data */
}

uint64_t slc__hole_from(const slc_cache *c, uint64_t off)
{
#if defined(SEEK_HOLE)
    off_t r = lseek(c->fd, (off_t)off, SEEK_HOLE);
    if (r >= 0)
        return (uint64_t)r;
#endif
    (void)c;
    (void)off;
    return UINT64_MAX;
}

static int on_tmpfs(int fd)
{
#if defined(__linux__)
    struct statfs sf;
    return fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
#else
    (void)fd;
    return 0;
#endif
}

int slc__space_new_file(int fd, uint64_t buckets_offset, uint64_t buckets_len,
                        const char *path)
{
    if (!on_tmpfs(fd))
        return SLC_OK;
    int r = reserve_fd(fd, buckets_offset, buckets_len);
    if (r == 0)
        return SLC_OK;
    errno = r;
    return slc__fail_sys("allocate the bucket section (tmpfs) of", path);
}

int slc__space_prepare(slc_cache *c)
{
    struct slc__space *s = space_of(c);
    if (!s)
        return slc__fail(SLC_ENOMEM, "page bookkeeping of %s", c->path);
    if (s->fs_checked)
        return SLC_OK;
    uint64_t lo = (uint64_t)(c->buckets - c->map);
    int rc = slc__space_new_file(c->fd, lo, c->map_len - lo, c->path);
    s->fs_checked = rc == SLC_OK;
    return rc;
}

void *slc__section_alloc(size_t bytes)
{
    void *m = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(m, bytes ? bytes : 1, MADV_HUGEPAGE);
#endif
    return m;
}

void slc__section_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}
