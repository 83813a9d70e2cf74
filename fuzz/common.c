/* Shared harness code: failure reporting, files, the reference prefix and
 * range semantics, and scan recording/comparison. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fz_fail(const char *file, int line, const char *cond, const char *fmt,
             ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: harness check failed: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

void fz_bytes(fz_in *in, void *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    if (k)
        memcpy(dst, in->p, k);
    if (n > k)
        memset((uint8_t *)dst + k, 0, n - k);
    in->p += k;
    in->n -= k;
}

/* ---- Format helpers ----------------------------------------------------- */

uint32_t fz_crc32c(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
}

uint32_t fz_header_crc(const uint8_t h[256])
{
    uint8_t tmp[256];
    memcpy(tmp, h, 256);
    memset(tmp + 0x40, 0, 8);
    memset(tmp + 0x70, 0, 4);
    return fz_crc32c(tmp, 256);
}

uint64_t fz_fnv1a(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t fz_bucket_count(uint64_t cap)
{
    uint64_t n = 2;
    while (n < 2 * cap)
        n *= 2;
    return n;
}

/* ---- Files -------------------------------------------------------------- */

static char fz_dirbuf[PATH_MAX];

static int fz_rm_entry(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void fz_dir_cleanup(void)
{
    if (fz_dirbuf[0])
        nftw(fz_dirbuf, fz_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fz_dir(void)
{
    if (fz_dirbuf[0])
        return fz_dirbuf;
    /* tmpfs: creating, fsyncing and msyncing cache files costs no I/O. */
    const char *base = getenv("SLC_FUZZ_TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(fz_dirbuf, sizeof fz_dirbuf, "%s/slcfuzz.XXXXXX", base);
    if (!mkdtemp(fz_dirbuf)) {
        fprintf(stderr, "mkdtemp %s: %s\n", fz_dirbuf, strerror(errno));
        abort();
    }
    atexit(fz_dir_cleanup);
    return fz_dirbuf;
}

const char *fz_path(int slot, const char *name)
{
    static char paths[4][PATH_MAX];
    char *p = paths[slot & 3];
    int n = snprintf(p, PATH_MAX, "%s/%s", fz_dir(), name);
    FZ_CHECK(n > 0 && n < PATH_MAX, "path too long: %s/%s", fz_dir(), name);
    return p;
}

void fz_remove(const char *path)
{
    char lock[PATH_MAX];
    unlink(path);
    if (snprintf(lock, sizeof lock, "%s.lock", path) < (int)sizeof lock)
        unlink(lock);
}

int fz_write_file(const char *path, const void *data, size_t len,
                  uint64_t total)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (total != len && ftruncate(fd, (off_t)total) < 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

uint8_t *fz_read_file(const char *path, size_t max, size_t *len,
                      uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return NULL;
    }
    *size = (uint64_t)st.st_size;
    size_t want = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
    uint8_t *buf = malloc(want ? want : 1);
    FZ_CHECK(buf, "out of memory reading %s", path);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

static int fz_fd_lowest(void)
{
    /* open() returns the lowest free descriptor: a leak moves it. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    FZ_CHECK(fd >= 0, "open /dev/null: %s", strerror(errno));
    close(fd);
    return fd;
}

static int fz_fd_mark = -1;

void fz_fd_begin(void) { fz_fd_mark = fz_fd_lowest(); }

void fz_fd_end(void)
{
    int fd = fz_fd_lowest();
    if (fd != fz_fd_mark) {
        char link[64], target[256] = "?";
        snprintf(link, sizeof link, "/proc/self/fd/%d", fz_fd_mark);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
        FZ_CHECK(fd == fz_fd_mark,
                 "file descriptor leak: lowest free fd %d, was %d (now %s)",
                 fd, fz_fd_mark, target);
    }
}

/* ---- Reference prefix and range semantics ------------------------------- */

int fz_prefix_valid(uint32_t ks, const slc_prefix *p)
{
    if (!p)
        return 0;
    if (p->bits == 0 && p->len == 0)
        return 0;
    if (p->offset >= ks)
        return 0;
    if (p->bits == 0) {
        if (p->len > (size_t)(ks - p->offset))
            return 0;
    } else {
        uint64_t need = ((uint64_t)p->bits + 7) / 8;
        if (need > (uint64_t)(ks - p->offset) || (uint64_t)p->len != need)
            return 0;
    }
    return p->bytes != NULL; /* len > 0 here */
}

int fz_prefix_match(const slc_prefix *p, const uint8_t *key)
{
    const uint8_t *pat = p->bytes;
    uint64_t nbits = p->bits ? p->bits : (uint64_t)p->len * 8;
    for (uint64_t b = 0; b < nbits; b++) {
        unsigned sh = 7u - (unsigned)(b % 8);
        if (((key[p->offset + b / 8] >> sh) & 1u) !=
            ((pat[b / 8] >> sh) & 1u))
            return 0;
    }
    return 1;
}

int fz_range_valid(uint32_t ks, const void *start, size_t start_len,
                   const void *end, size_t end_len, uint8_t *lo, uint8_t *hi,
                   int *empty)
{
    *empty = 0;
    if (start && (start_len < 1 || start_len > ks))
        return 0;
    if (end && (end_len < 1 || end_len > ks))
        return 0;
    if (start) {
        memset(lo, 0, ks);
        memcpy(lo, start, start_len);
    }
    if (end) {
        memset(hi, 0, ks);
        memcpy(hi, end, end_len);
    }
    if (start && end) {
        int r = memcmp(lo, hi, ks);
        if (r > 0)
            return 0;
        *empty = r == 0;
    }
    return 1;
}

int fz_range_match(uint32_t ks, const uint8_t *lo, const uint8_t *hi,
                   const uint8_t *key)
{
    return (!lo || memcmp(key, lo, ks) >= 0) && (!hi || memcmp(key, hi, ks) < 0);
}

/* ---- Scans -------------------------------------------------------------- */

static const int fz_stop_values[] = {1, -1, 42, SLC_EINVAL, INT_MIN,
                                     SLC_NOTFOUND};

void fz_scanq_read(fz_in *in, fz_scanq *q, int rare)
{
    memset(q, 0, sizeof *q);
    uint8_t b = fz_u8(in);
    q->opts.flags = b & 3u;
    q->filter_kind = (b >> 2) % FZ_FILTER_KINDS;
    uint8_t ol = fz_u8(in);
    q->opts.offset = ol & 7u;
    q->opts.limit = (ol >> 3) & 7u;
    uint8_t st = fz_u8(in);
    if (st & 0x80) {
        q->stop_after = (st & 7u) + 1;
        q->stop_value =
            fz_stop_values[((st >> 3) & 15u) % (sizeof fz_stop_values /
                                                sizeof fz_stop_values[0])];
    }
    if (!rare)
        return;
    switch (fz_u8(in) % 16) {
    case 0: q->opts.flags |= 1u << 2; break;
    case 1: q->opts.flags |= 1u << 31; break;
    case 2: q->opts.offset = SLC_MAX_SCAN_OFFSET + 1ull; break;
    case 3: q->opts.offset = UINT64_MAX; break;
    case 4: q->opts.limit = SLC_MAX_SCAN_LIMIT + 1ull; break;
    case 5: q->opts.offset = SLC_MAX_SCAN_OFFSET; break; /* valid, empty */
    case 6: q->opts.limit = SLC_MAX_SCAN_LIMIT; break;   /* valid */
    case 7: q->null_visit = 1; break;
    case 8: q->null_opts = 1; break;
    default: break;
    }
}

int fz_scanq_valid(const fz_scanq *q)
{
    if (q->null_visit)
        return 0;
    if (q->null_opts)
        return 1;
    const slc_scan_opts *o = &q->opts;
    return !(o->flags & ~(uint32_t)(SLC_SCAN_REVERSE | SLC_SCAN_STREAMING)) &&
           o->offset <= SLC_MAX_SCAN_OFFSET && o->limit <= SLC_MAX_SCAN_LIMIT;
}

int fz_filter_keeps(int kind, const fz_ent *e)
{
    switch (kind) {
    case FZ_FILTER_KEY_ODD: return e->key[0] & 1;
    case FZ_FILTER_REV_NONNEG: return e->revision >= 0;
    case FZ_FILTER_ID_MOD3: return e->slot_id % 3 != 1;
    case FZ_FILTER_REJECT: return 0;
    default: return 1;
    }
}

static const int fz_filter_ids[FZ_FILTER_KINDS] = {0, 1, 2, 3, 4, 5};

static int fz_filter_cb(const slc_entry *e, void *ctx)
{
    fz_ent x = {e->slot_id, e->revision, e->key, e->index};
    return fz_filter_keeps(*(const int *)ctx, &x);
}

static size_t fz_rec_size(const fz_got *g) { return 16 + g->ks + g->is; }

static int fz_visit_cb(const slc_entry *e, void *ctx)
{
    fz_got *g = ctx;
    FZ_CHECK(e->key != NULL, "visit: NULL key pointer");
    FZ_CHECK((e->index == NULL) == (g->is == 0),
             "visit: index pointer %p with index_size %u", (const void *)e->index,
             g->is);
    if (g->count == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->buf = realloc(g->buf, g->cap * fz_rec_size(g));
        FZ_CHECK(g->buf, "out of memory");
    }
    uint8_t *r = g->buf + g->count * fz_rec_size(g);
    memcpy(r, &e->slot_id, 8);
    memcpy(r + 8, &e->revision, 8);
    memcpy(r + 16, e->key, g->ks);
    if (g->is)
        memcpy(r + 16 + g->ks, e->index, g->is);
    g->count++;
    if (g->stop_after && g->count == g->stop_after)
        return g->stop_value;
    return 0;
}

void fz_got_init(fz_got *g, uint32_t ks, uint32_t is, const fz_scanq *q)
{
    memset(g, 0, sizeof *g);
    g->ks = ks;
    g->is = is;
    g->stop_after = q ? q->stop_after : 0;
    g->stop_value = q ? q->stop_value : 0;
}

void fz_got_free(fz_got *g)
{
    free(g->buf);
    g->buf = NULL;
    g->count = g->cap = 0;
}

fz_ent fz_got_at(const fz_got *g, size_t i)
{
    const uint8_t *r = g->buf + i * fz_rec_size(g);
    fz_ent e;
    memcpy(&e.slot_id, r, 8);
    memcpy(&e.revision, r + 8, 8);
    e.key = r + 16;
    e.index = g->is ? r + 16 + g->ks : NULL;
    return e;
}

/* The options pointer a request passes (NULL for defaults). */
static const slc_scan_opts *fz_opts_of(const fz_scanq *q, slc_scan_opts *tmp)
{
    if (q->null_opts)
        return NULL;
    *tmp = q->opts;
    if (q->filter_kind != FZ_FILTER_NONE) {
        tmp->filter = fz_filter_cb;
        tmp->filter_ctx = (void *)(uintptr_t)&fz_filter_ids[q->filter_kind];
    } else {
        tmp->filter = NULL;
        tmp->filter_ctx = NULL;
    }
    return tmp;
}

int fz_run_scan(slc_cache *c, const fz_scanq *q, fz_got *g)
{
    slc_scan_opts tmp;
    g->count = 0;
    return slc_scan(c, fz_opts_of(q, &tmp), q->null_visit ? NULL : fz_visit_cb,
                    g);
}

int fz_run_prefix(slc_cache *c, const slc_prefix *p, const fz_scanq *q,
                  fz_got *g)
{
    slc_scan_opts tmp;
    g->count = 0;
    return slc_scan_prefix(c, p, fz_opts_of(q, &tmp),
                           q->null_visit ? NULL : fz_visit_cb, g);
}

int fz_run_range(slc_cache *c, const void *s, size_t sl, const void *e,
                 size_t el, const fz_scanq *q, fz_got *g)
{
    slc_scan_opts tmp;
    g->count = 0;
    return slc_scan_range(c, s, sl, e, el, fz_opts_of(q, &tmp),
                          q->null_visit ? NULL : fz_visit_cb, g);
}

int fz_run_match(slc_cache *c, const slc_index_match *m, const fz_scanq *q,
                 fz_got *g)
{
    slc_scan_opts tmp;
    g->count = 0;
    return slc_scan_match(c, m, fz_opts_of(q, &tmp),
                          q->null_visit ? NULL : fz_visit_cb, g);
}

static int fz_ent_equal(const fz_ent *a, const fz_ent *b, uint32_t ks,
                        uint32_t is)
{
    return a->slot_id == b->slot_id && a->revision == b->revision &&
           memcmp(a->key, b->key, ks) == 0 &&
           (is == 0 || memcmp(a->index, b->index, is) == 0);
}

void fz_expect_scan(int rc, const fz_got *g, const fz_scanq *q,
                    const fz_ent *cand, size_t n, const char *what)
{
    slc_scan_opts o = {NULL, NULL, 0, 0, 0};
    int kind = FZ_FILTER_NONE;
    if (!q->null_opts) {
        o = q->opts;
        kind = q->filter_kind;
    }
    int reverse = (o.flags & SLC_SCAN_REVERSE) != 0;
    /* First the expected deliveries (indices into cand) and code. */
    size_t *want_idx = malloc((n ? n : 1) * sizeof *want_idx);
    FZ_CHECK(want_idx, "out of memory");
    uint64_t skipped = 0;
    size_t want_n = 0;
    int want = SLC_OK;
    for (size_t k = 0; k < n; k++) {
        size_t i = reverse ? n - 1 - k : k;
        if (!fz_filter_keeps(kind, &cand[i]))
            continue;
        if (skipped < o.offset) {
            skipped++;
            continue;
        }
        want_idx[want_n++] = i;
        if (q->stop_after && want_n == q->stop_after) {
            want = q->stop_value;
            break;
        }
        if (o.limit && want_n == o.limit)
            break;
    }
    FZ_RC(rc, want, what);
    FZ_CHECK(want_n == g->count, "%s: %zu entries delivered, expected %zu",
             what, g->count, want_n);
    for (size_t k = 0; k < want_n; k++) {
        const fz_ent *e = &cand[want_idx[k]];
        fz_ent got = fz_got_at(g, k);
        FZ_CHECK(fz_ent_equal(&got, e, g->ks, g->is),
                 "%s: entry %zu is slot %llu rev %lld, expected slot %llu rev "
                 "%lld",
                 what, k, (unsigned long long)got.slot_id,
                 (long long)got.revision, (unsigned long long)e->slot_id,
                 (long long)e->revision);
    }
    free(want_idx);
}
