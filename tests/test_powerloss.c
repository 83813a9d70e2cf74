/* Power loss in SLC_WRITEBACK_SYNC mode, simulated page by page (issue 12).
 *
 * The durability barriers are interposed: the msync, fsync, fdatasync and
 * sync_file_range defined here replace libc's for the static library. The
 * simulation keeps `durable`, the cache file as the disk holds it, and reads
 * the file as the page cache holds it with pread, which sees stores made
 * through any mapping and pwrite alike, so it works whichever way the writer
 * puts bytes into the file. Just before every barrier, and once after the
 * operation, it records a crash point: each 4096-byte page that differs
 * between disk and page cache may or may not have reached the disk. After
 * the operation every crash point becomes a set of images (all old, all
 * new, each page alone new or alone old, every subset when few pages differ,
 * else random subsets); each image is written to a fresh file, opened with
 * locking and classified as the state before the operation, the state after
 * it, SLC_ECORRUPT, LOST (the file vanished) or MIXED. Sync mode promises no
 * MIXED and no LOST image.
 *
 * Barriers, as a disk sees them:
 *   msync(MS_SYNC) of the cache mapping: the covered pages;
 *   fsync/fdatasync of a descriptor on the cache file (also under its
 *     temporary creation name): the whole file;
 *   fsync/fdatasync of the cache's directory: the file's directory entry;
 *   sync_file_range: never (it flushes no disk cache and no metadata).
 *
 * The control runs the same operations with every barrier dropped (the call
 * does nothing, durable stays where the operation began) and must produce
 * MIXED images, or the simulation proves nothing. */
#include "core_helpers.h"

#if defined(__linux__) /* /proc/self/fd, sync_file_range */

#include <inttypes.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "cache.h"

enum {
    PG = 4096,
    KS = 16,
    IS = 48, /* slot_size 80: a page holds about 51 slots */
    CAP = 2000,
    UV = 7,
    NKEYS = 1400,
    ENUM_MAX = 6,       /* up to this many dirty pages: every subset */
    RANDOM_IMAGES = 120 /* more: this many random subsets per crash point */
};

/* A file's bytes; present 0 means no file at the path. */
typedef struct blob {
    uint8_t *p;
    size_t len;
    int present;
} blob;

typedef struct point {
    blob old, cur; /* disk and page cache at the crash instant */
    int entry_lost_ok; /* the directory entry is not durable yet */
    const char *where;
} point;

static struct {
    int on, drop; /* recording; control: barriers dropped */
    char *path, *dir;
    dev_t dir_dev;
    ino_t dir_ino;
    const slc_cache *c; /* the handle whose mapping msync addresses */
    blob durable;       /* disk content of inode dino */
    ino_t dino;
    ino_t entry_ino; /* inode whose entry at path is durable (0: none) */
    point *pts;
    size_t npts;
    unsigned n_msync, n_fsync, n_fdatasync, n_sfr, n_unknown;
} S;

static void blob_free(blob *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void blob_copy(blob *to, const blob *from)
{
    to->present = from->present;
    to->len = from->len;
    to->p = malloc(from->len ? from->len : 1);
    assert_non_null(to->p);
    if (from->len)
        memcpy(to->p, from->p, from->len);
}

/* The whole file behind fd into b. */
static void read_fd(int fd, blob *b)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    b->present = 1;
    b->len = (size_t)st.st_size;
    b->p = malloc(b->len ? b->len : 1);
    assert_non_null(b->p);
    for (size_t done = 0; done < b->len;) {
        ssize_t n = pread(fd, b->p + done, b->len - done, (off_t)done);
        assert_true(n > 0);
        done += (size_t)n;
    }
}

/* The file at S.path as the page cache has it (present 0 if none). */
static void read_path(blob *b, ino_t *ino)
{
    memset(b, 0, sizeof *b);
    *ino = 0;
    int fd = open(S.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        assert_int_equal(errno, ENOENT);
        return;
    }
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    *ino = st.st_ino;
    read_fd(fd, b);
    close(fd);
}

/* A crash now: what the disk has, what the page cache has. */
static void record(const char *where)
{
    point p;
    memset(&p, 0, sizeof p);
    p.where = where;
    ino_t ino;
    read_path(&p.cur, &ino);
    if (p.cur.present) {
        if (ino == S.dino) {
            blob_copy(&p.old, &S.durable);
        } else { /* never synced: an empty file at most */
            p.old.present = 1;
            p.old.p = malloc(1);
        }
        p.entry_lost_ok = S.entry_ino != ino;
    }
    S.pts = realloc(S.pts, (S.npts + 1) * sizeof *S.pts);
    assert_non_null(S.pts);
    S.pts[S.npts++] = p;
}

/* [off, off + len) of the file at S.path reached the disk. */
static void durable_range(uint64_t off, uint64_t len)
{
    blob cur;
    ino_t ino;
    read_path(&cur, &ino);
    assert_true(cur.present);
    if (ino != S.dino) { /* first barrier of this inode */
        blob_free(&S.durable);
        S.durable.present = 1;
        S.dino = ino;
    }
    if (S.durable.len < cur.len) {
        S.durable.p = realloc(S.durable.p, cur.len);
        assert_non_null(S.durable.p);
        memset(S.durable.p + S.durable.len, 0, cur.len - S.durable.len);
        S.durable.len = cur.len;
    }
    uint64_t end = off + len < cur.len ? off + len : cur.len;
    if (off < end)
        memcpy(S.durable.p + off, cur.p + off, (size_t)(end - off));
    blob_free(&cur);
}

/* Is fd the cache file, under its name or a temporary creation name? */
static int is_cache_file(int fd, const struct stat *st)
{
    if (!S_ISREG(st->st_mode))
        return 0;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = 0;
    size_t pl = strlen(S.path);
    return strcmp(target, S.path) == 0 ||
           (strncmp(target, S.path, pl) == 0 &&
            strncmp(target + pl, ".tmp.", 5) == 0);
}

int msync(void *addr, size_t len, int flags)
{
    const uint8_t *a = addr;
    if (S.on) {
        S.n_msync++;
        if (!S.c || a < S.c->map || a >= S.c->map + S.c->map_len) {
            S.n_unknown++;
        } else if (flags & MS_SYNC) {
            record("before msync");
            if (S.drop)
                return 0;
            int rc = (int)syscall(SYS_msync, addr, len, flags);
            if (rc == 0) {
                uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
                uint64_t off = (uint64_t)(a - S.c->map);
                durable_range(off, (len + page - 1) / page * page);
            }
            return rc;
        }
    }
    return (int)syscall(SYS_msync, addr, len, flags);
}

static int file_barrier(int fd, long nr, const char *what)
{
    struct stat st;
    if (!S.on || fstat(fd, &st) != 0)
        return (int)syscall(nr, fd);
    if (S_ISDIR(st.st_mode) && st.st_dev == S.dir_dev &&
        st.st_ino == S.dir_ino) {
        record(what);
        if (S.drop)
            return 0;
        int rc = (int)syscall(nr, fd);
        struct stat ps;
        if (rc == 0 && stat(S.path, &ps) == 0)
            S.entry_ino = ps.st_ino;
        return rc;
    }
    if (!is_cache_file(fd, &st))
        return (int)syscall(nr, fd);
    record(what);
    if (S.drop)
        return 0;
    int rc = (int)syscall(nr, fd);
    if (rc == 0) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        int rfd = open(link, O_RDONLY | O_CLOEXEC);
        assert_true(rfd >= 0);
        blob_free(&S.durable);
        read_fd(rfd, &S.durable);
        close(rfd);
        S.dino = st.st_ino;
    }
    return rc;
}

int fsync(int fd)
{
    S.n_fsync += S.on;
    return file_barrier(fd, SYS_fsync, "before fsync");
}

int fdatasync(int fd)
{
    S.n_fdatasync += S.on;
    return file_barrier(fd, SYS_fdatasync, "before fdatasync");
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags)
{
    S.n_sfr += S.on; /* starts writeback, promises nothing after power loss */
    return (int)syscall(SYS_sync_file_range, fd, offset, nbytes, flags);
}

/* ---- Logical state of an image ------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put64(bytes *b, uint64_t v) { put(b, &v, sizeof v); }

enum { K_ABSENT = 1, K_OPEN_FAILED, K_VERIFY_FAILED, K_OK };

typedef struct image_dir {
    char *path, *lock;
} image_dir;

static int put_entry(const slc_entry *e, void *ctx)
{
    bytes *b = ctx;
    put64(b, e->slot_id);
    put(b, e->key, KS);
    put64(b, (uint64_t)e->revision);
    put(b, e->index, IS);
    return 0;
}

/* What an application sees after the power comes back: kind, open status,
 * verify status, header counters, user header and every entry. A one-line
 * description goes to desc for reports. */
static void state_of(const image_dir *d, const blob *img, bytes *out,
                     char *desc, size_t desc_len)
{
    out->len = 0;
    if (!img->present) {
        put64(out, K_ABSENT);
        snprintf(desc, desc_len, "no file");
        return;
    }
    unlink(d->path);
    unlink(d->lock);
    int fd = open(d->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    for (size_t done = 0; done < img->len;) {
        ssize_t n = pwrite(fd, img->p + done, img->len - done, (off_t)done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
    slc_options o = cu_opts(KS, IS, 0, UV, 0);
    slc_cache *c = NULL;
    int rc = slc_open(d->path, &o, &c);
    if (rc) {
        put64(out, K_OPEN_FAILED);
        put64(out, (uint64_t)(int64_t)rc);
        snprintf(desc, desc_len, "open %s (%s)", t_errclass(rc),
                 slc_errdetail());
        return;
    }
    rc = slc_verify(c);
    if (rc) {
        put64(out, K_VERIFY_FAILED);
        put64(out, (uint64_t)(int64_t)rc);
        snprintf(desc, desc_len, "opens, verify %s (%s)", t_errclass(rc),
                 slc_errdetail());
        assert_int_equal(slc_close(c), SLC_OK);
        return;
    }
    slc_stat st;
    uint64_t flags;
    uint8_t data[SLC_USER_DATA_SIZE];
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(slc_user_header(c, &flags, data), SLC_OK);
    put64(out, K_OK);
    put64(out, st.generation);
    put64(out, st.live_count);
    put64(out, st.slot_highwater);
    put64(out, st.bucket_tombstones);
    put64(out, flags);
    put(out, data, sizeof data);
    assert_int_equal(slc_scan(c, NULL, put_entry, out), SLC_OK);
    snprintf(desc, desc_len,
             "gen %" PRIu64 " live %" PRIu64 " highwater %" PRIu64
             " tombstones %" PRIu64 " user_flags %" PRIu64,
             st.generation, st.live_count, st.slot_highwater,
             st.bucket_tombstones, flags);
    assert_int_equal(slc_close(c), SLC_OK);
}

static int open_failed_with(const bytes *s, int code)
{
    uint64_t w[2];
    if (s->len != sizeof w)
        return 0;
    memcpy(w, s->p, sizeof w);
    return w[0] == K_OPEN_FAILED && (int64_t)w[1] == code;
}

static int same(const bytes *a, const bytes *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- Images and classification ------------------------------------------ */

typedef struct tally {
    unsigned long points, images, old, new_, corrupt, lost, mixed;
    unsigned long silent; /* MIXED images that open and pass slc_verify */
} tally;

typedef struct run {
    int control;
    uint64_t rng;
    image_dir img;
    bytes before, after, st;
    char before_desc[512], after_desc[512];
    tally total;
    unsigned long max_dirty; /* most dirty pages at one crash point */
    unsigned reported;
} run;

static const char *section(size_t page)
{
    if (page == 0)
        return "header";
    if (!S.c)
        return "?";
    size_t buckets = (size_t)(S.c->buckets - S.c->map);
    return page * PG + PG <= buckets  ? "slots"
           : page * PG < buckets      ? "slots+buckets"
                                      : "buckets";
}

/* The image of crash point p in which page i is new iff pick[i]. */
static void compose(const point *p, const uint8_t *pick, size_t npages,
                    blob *img)
{
    int any = 0;
    for (size_t i = 0; i < npages; i++)
        any |= pick[i];
    if (!any) {
        blob_copy(img, &p->old);
        return;
    }
    img->present = 1;
    img->len = p->cur.len;
    img->p = calloc(1, img->len ? img->len : 1);
    assert_non_null(img->p);
    for (size_t i = 0; i < npages; i++) {
        const blob *src = pick[i] ? &p->cur : &p->old;
        size_t off = i * PG;
        if (off >= img->len)
            break;
        size_t n = img->len - off < PG ? img->len - off : PG;
        if (off < src->len)
            memcpy(img->p + off, src->p + off,
                   src->len - off < n ? src->len - off : n);
    }
}

static void classify(run *r, tally *t, const char *op, const point *p,
                     const blob *img, const size_t *dirty, size_t ndirty,
                     const uint8_t *pick)
{
    char desc[512];
    state_of(&r->img, img, &r->st, desc, sizeof desc);
    t->images++;
    const char *what = NULL;
    if (same(&r->st, &r->before)) {
        t->old++;
    } else if (same(&r->st, &r->after)) {
        t->new_++;
    } else if (open_failed_with(&r->st, SLC_ECORRUPT)) {
        t->corrupt++;
    } else if (!img->present) {
        t->lost++;
        what = "LOST";
    } else {
        uint64_t kind;
        memcpy(&kind, r->st.p, sizeof kind);
        t->mixed++;
        t->silent += kind == K_OK;
        what = kind == K_OK ? "MIXED (opens, verifies)" : "MIXED";
    }
    /* The control shows one silent example per operation. */
    if (!what || r->reported >= 8 ||
        (r->control && strcmp(what, "MIXED") == 0))
        return;
    r->reported++;
    fprintf(stderr, "%s%s image: %s, crash %s; ", r->control ? "control: " : "",
            what, op, p->where);
    if (!img->present) {
        fprintf(stderr, "the file's directory entry was not durable");
    } else {
        /* List the smaller side: the pages that are new, or old. */
        size_t nnew = 0;
        for (size_t k = 0; k < ndirty; k++)
            nnew += pick && pick[dirty[k]];
        int want = nnew <= ndirty - nnew;
        fprintf(stderr, "%s pages:", want ? "new" : "old");
        for (size_t k = 0; k < ndirty; k++)
            if ((pick && pick[dirty[k]]) == want)
                fprintf(stderr, " %zu(%s)", dirty[k], section(dirty[k]));
        size_t listed = want ? nnew : ndirty - nnew;
        fprintf(stderr, "; the other %zu dirty pages %s", ndirty - listed,
                want ? "old" : "new");
    }
    fprintf(stderr, "\n  image:  %s\n  before: %s\n  after:  %s\n", desc,
            r->before_desc, r->after_desc);
}

static void image_of(run *r, tally *t, const char *op, const point *p,
                     const uint8_t *pick, size_t npages, const size_t *dirty,
                     size_t ndirty)
{
    blob img;
    compose(p, pick, npages, &img);
    classify(r, t, op, p, &img, dirty, ndirty, pick);
    blob_free(&img);
}

/* All images of one crash point. */
static void expand(run *r, tally *t, const char *op, const point *p)
{
    t->points++;
    if (!p->cur.present) { /* nothing at the path yet */
        classify(r, t, op, p, &p->cur, NULL, 0, NULL);
        return;
    }
    size_t len = p->cur.len > p->old.len ? p->cur.len : p->old.len;
    size_t npages = (len + PG - 1) / PG;
    size_t *dirty = calloc(npages + 1, sizeof *dirty);
    uint8_t *pick = calloc(npages + 1, 1);
    assert_true(dirty && pick);
    size_t nd = 0;
    for (size_t i = 0; i < npages; i++) {
        size_t off = i * PG, end = off + PG < len ? off + PG : len;
        for (size_t x = off; x < end; x++) {
            uint8_t o = x < p->old.len ? p->old.p[x] : 0;
            uint8_t n = x < p->cur.len ? p->cur.p[x] : 0;
            if (o != n) {
                dirty[nd++] = i;
                break;
            }
        }
    }
    if (p->old.len != p->cur.len && nd == 0) /* only the size differs */
        dirty[nd++] = 0;
    if (nd > r->max_dirty)
        r->max_dirty = nd;
    if (nd <= ENUM_MAX) { /* every subset, all-old and all-new included */
        for (uint64_t m = 0; m < (UINT64_C(1) << nd); m++) {
            for (size_t k = 0; k < nd; k++)
                pick[dirty[k]] = (uint8_t)((m >> k) & 1);
            image_of(r, t, op, p, pick, npages, dirty, nd);
        }
    } else {
        /* all old, all new, each page alone new, each alone old */
        for (size_t k = 0; k < 2 * nd + 2; k++) {
            for (size_t j = 0; j < nd; j++) {
                int v = k == 0        ? 0
                        : k == 1      ? 1
                        : k < nd + 2 ? j == k - 2
                                      : j != k - nd - 2;
                pick[dirty[j]] = (uint8_t)v;
            }
            image_of(r, t, op, p, pick, npages, dirty, nd);
        }
        for (int k = 0; k < RANDOM_IMAGES; k++) {
            for (size_t j = 0; j < nd; j++)
                pick[dirty[j]] = (uint8_t)(t_rand(&r->rng) & 1);
            image_of(r, t, op, p, pick, npages, dirty, nd);
        }
    }
    if (p->entry_lost_ok) { /* the rename may not have reached the disk */
        blob none = {NULL, 0, 0};
        classify(r, t, op, p, &none, dirty, nd, NULL);
    }
    free(dirty);
    free(pick);
}

/* ---- Operations --------------------------------------------------------- */

static void op_begin(run *r)
{
    blob b;
    ino_t ino;
    read_path(&b, &ino);
    if (r->control) { /* every operation starts from a flushed file */
        blob_free(&S.durable);
        blob_copy(&S.durable, &b);
        S.dino = ino;
        S.entry_ino = ino;
    }
    state_of(&r->img, &b, &r->before, r->before_desc, sizeof r->before_desc);
    blob_free(&b);
    r->max_dirty = 0;
    if (r->control)
        r->reported = 7;
    S.npts = 0;
    S.drop = r->control;
    S.on = 1;
}

/* The operation is over: expand its crash points. Returns its tally. */
static tally op_end(run *r, const char *op)
{
    record("after the operation");
    S.on = 0;
    S.drop = 0;
    blob b;
    ino_t ino;
    read_path(&b, &ino);
    state_of(&r->img, &b, &r->after, r->after_desc, sizeof r->after_desc);
    blob_free(&b);
    tally t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < S.npts; i++) {
        expand(r, &t, op, &S.pts[i]);
        blob_free(&S.pts[i].old);
        blob_free(&S.pts[i].cur);
    }
    S.npts = 0;
    fprintf(stderr,
            "  %-7s %-20s %lu points, up to %2lu dirty pages, %3lu images: "
            "old %lu, new %lu, corrupt %lu, lost %lu, mixed %lu "
            "(%lu pass verify)\n",
            r->control ? "control" : "sync", op, t.points, r->max_dirty,
            t.images, t.old, t.new_, t.corrupt, t.lost, t.mixed, t.silent);
    r->total.points += t.points;
    r->total.images += t.images;
    r->total.old += t.old;
    r->total.new_ += t.new_;
    r->total.corrupt += t.corrupt;
    r->total.lost += t.lost;
    r->total.mixed += t.mixed;
    r->total.silent += t.silent;
    return t;
}

static void set_data(uint8_t *d, uint8_t seed)
{
    for (size_t i = 0; i < SLC_USER_DATA_SIZE; i++)
        d[i] = (uint8_t)(seed + 3 * i);
}

static void del(slc_writer *w, uint64_t n)
{
    uint8_t k[KS];
    cu_key(k, KS, n);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
}

/* Stride between the keys one small commit touches: every key in its own
 * slot page (80-byte slots). */
enum { STRIDE = 58 };

static void stage_insert(slc_writer *w)
{
    for (uint64_t n = 0; n < NKEYS; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 1), SLC_OK);
}

static void stage_update(slc_writer *w)
{
    for (uint64_t i = 0; i < 24; i++)
        assert_int_equal(cu_put(w, KS, IS, i * STRIDE, 2), SLC_OK);
}

static void stage_delete(slc_writer *w)
{
    for (uint64_t i = 0; i < 24; i++)
        del(w, i * STRIDE + 1);
}

static void stage_mix(slc_writer *w)
{
    uint8_t d[SLC_USER_DATA_SIZE];
    for (uint64_t n = NKEYS; n < NKEYS + 40; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    for (uint64_t i = 0; i < 16; i++) {
        assert_int_equal(cu_put(w, KS, IS, i * STRIDE + 2, 3), SLC_OK);
        del(w, i * STRIDE + 3);
    }
    set_data(d, 1);
    assert_int_equal(slc_set_user_data(w, d), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 2), SLC_OK);
}

static void stage_user_header(slc_writer *w)
{
    uint8_t d[SLC_USER_DATA_SIZE];
    set_data(d, 2);
    assert_int_equal(slc_set_user_data(w, d), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 3), SLC_OK);
}

static void stage_nothing(slc_writer *w) { (void)w; }

/* Tombstones above a quarter of the 4096 buckets (SLC1 5.6). */
static void stage_rehash(slc_writer *w)
{
    for (uint64_t n = 300; n < NKEYS + 40; n++)
        del(w, n);
    assert_int_equal(cu_put(w, KS, IS, 5, 4), SLC_OK);
}

typedef struct op {
    const char *name;
    void (*stage)(slc_writer *w); /* NULL: slc_invalidate */
} op;

static const op OPS[] = {
    {"insert 1400", stage_insert},
    {"update 24", stage_update},
    {"delete 24", stage_delete},
    {"mix + user header", stage_mix},
    {"user header only", stage_user_header},
    {"empty commit", stage_nothing},
    {"delete 1140 (rehash)", stage_rehash},
    {"invalidate", NULL},
};

static void do_op(slc_cache *c, const op *o)
{
    if (!o->stage) {
        assert_int_equal(slc_invalidate(c), SLC_OK);
        return;
    }
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    o->stage(w);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

static uint64_t tombstones(slc_cache *c)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    return st.bucket_tombstones;
}

static void sim_start(fx *f, const char *name)
{
    memset(&S, 0, sizeof S);
    S.path = t_join(f->dir, name);
    S.dir = f->dir;
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    S.dir_dev = st.st_dev;
    S.dir_ino = st.st_ino;
}

static void sim_stop(void)
{
    free(S.path);
    blob_free(&S.durable);
    free(S.pts);
    memset(&S, 0, sizeof S);
}

static void run_init(run *r, fx *f, int control, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->control = control;
    r->rng = seed;
    r->img.path = t_join(f->dir, "image.slc");
    r->img.lock = t_join(f->dir, "image.slc.lock");
}

static void run_free(run *r)
{
    free(r->img.path);
    free(r->img.lock);
    free(r->before.p);
    free(r->after.p);
    free(r->st.p);
}

/* Create a Sync-mode cache at S.path and make all of it durable, as if the
 * machine had been shut down cleanly, then run OPS under the simulation.
 * *multi_page counts the operations that changed more than one page, and
 * *with_mixed those of them that gave a MIXED image. */
static void run_ops(run *r, int *multi_page, int *with_mixed)
{
    slc_options o = cu_opts(KS, IS, CAP, UV, SLC_WRITEBACK_SYNC);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(S.path, &o, &c), SLC_OK);
    assert_int_equal(c->bucket_count, 4096);
    S.c = c;
    blob b;
    ino_t ino;
    read_path(&b, &ino);
    blob_copy(&S.durable, &b);
    blob_free(&b);
    S.dino = ino;
    S.entry_ino = ino;
    *multi_page = *with_mixed = 0;
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        uint64_t tomb_before = tombstones(c);
        op_begin(r);
        do_op(c, &OPS[i]);
        tally t = op_end(r, OPS[i].name);
        if (OPS[i].stage == stage_rehash) { /* it did rehash */
            assert_true(tomb_before > 0);
            assert_int_equal(tombstones(c), 0);
        }
        /* A change within one page cannot tear in this model. */
        if (r->max_dirty >= 2) {
            ++*multi_page;
            *with_mixed += t.mixed > 0;
        }
    }
    assert_int_equal(S.n_unknown, 0); /* every msync was on the mapping */
    S.c = NULL;
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Tests -------------------------------------------------------------- */

static void sync_commits_never_mix(void **state)
{
    fx *f = *state;
    uint64_t seed = t_seed("powerloss");

    run r;
    run_init(&r, f, 0, seed);
    sim_start(f, "sync.slc");
    int multi, with_mixed;
    run_ops(&r, &multi, &with_mixed);
    fprintf(stderr,
            "  barriers seen: msync %u, fsync %u, fdatasync %u, "
            "sync_file_range %u (not a barrier)\n",
            S.n_msync, S.n_fsync, S.n_fdatasync, S.n_sfr);
    sim_stop();

    run ctl;
    run_init(&ctl, f, 1, seed ^ 0x5bd1e995);
    sim_start(f, "control.slc");
    int ctl_multi, ctl_with_mixed;
    run_ops(&ctl, &ctl_multi, &ctl_with_mixed);
    sim_stop();

    fprintf(stderr,
            "powerloss: %lu crash points, %lu images: old %lu, new %lu, "
            "corrupt %lu, lost %lu, mixed %lu; control mixed %lu, %lu of "
            "them open and verify (%d of %d multi-page operations)\n",
            r.total.points, r.total.images, r.total.old, r.total.new_,
            r.total.corrupt, r.total.lost, r.total.mixed, ctl.total.mixed,
            ctl.total.silent, ctl_with_mixed, ctl_multi);
    run_free(&r); /* before the assertions, which leave by longjmp */
    run_free(&ctl);
    assert_int_equal(r.total.mixed, 0);
    assert_int_equal(r.total.lost, 0);
    assert_true(r.total.images >= 1000);
    /* Both end states are reachable, so the comparison can succeed. */
    assert_true(r.total.old > 0 && r.total.new_ > 0);
    /* The control: without barriers every operation that changed more
     * than one page can be torn. */
    assert_true(ctl_multi >= 5);
    assert_int_equal(ctl_with_mixed, ctl_multi);
}

/* Creation, then commits, with the directory in the model: the new file
 * must survive every crash point after slc_open returned (SLC1 10.4 in
 * Sync mode: the rename is made durable). */
static void sync_creation_survives(void **state)
{
    fx *f = *state;
    run r;
    run_init(&r, f, 0, t_seed("powerloss creation"));
    sim_start(f, "created.slc"); /* nothing durable: no file, no entry */
    slc_options o = cu_opts(KS, IS, CAP, UV, SLC_WRITEBACK_SYNC);
    slc_cache *c = NULL;
    op_begin(&r);
    assert_int_equal(slc_open(S.path, &o, &c), SLC_OK);
    tally t = op_end(&r, "create");
    assert_true(t.old > 0); /* the file may not exist yet */
    S.c = c;
    for (size_t i = 0; i < 3; i++) {
        op_begin(&r);
        do_op(c, &OPS[i]);
        op_end(&r, OPS[i].name);
    }
    assert_int_equal(S.n_unknown, 0);
    fprintf(stderr,
            "powerloss creation: %lu crash points, %lu images: old %lu, new "
            "%lu, corrupt %lu, lost %lu, mixed %lu; barriers: fsync %u, "
            "fdatasync %u, msync %u\n",
            r.total.points, r.total.images, r.total.old, r.total.new_,
            r.total.corrupt, r.total.lost, r.total.mixed, S.n_fsync,
            S.n_fdatasync, S.n_msync);
    S.c = NULL;
    assert_int_equal(slc_close(c), SLC_OK);
    sim_stop();
    run_free(&r); /* before the assertions, which leave by longjmp */
    assert_int_equal(r.total.mixed, 0);
    assert_int_equal(r.total.lost, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sync_commits_never_mix, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(sync_creation_survives, cu_fx_setup,
                                        cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void)
{
    printf("test_powerloss: skipped, the simulation needs Linux\n");
    return 0;
}

#endif
