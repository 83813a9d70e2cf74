/* libslotcache driver: W1-W7 on one fresh cache file.
 *
 * The timed loops are the non-static hot_* functions, so callgrind.sh can
 * count their instructions with --toggle-collect. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "whatif.h"
#include "slotcache.h"

static const char *SYS = "slotcache";

typedef struct ctx {
    const bconf *c;
    char *dir;
    char *path;
    slc_options opts;
    slc_cache *cache;
    brec *w7recs;
    uint64_t w7_count;
} ctx;

static void check(int rc, const char *what)
{
    if (rc != SLC_OK)
        bdie("%s: %s (%s)", what, slc_strerror(rc), slc_errdetail());
}

/* ---- Timed loops -------------------------------------------------------- */

BHOT void hot_load(slc_writer *w, const brec *r,
                                        uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        check(slc_put(w, r[i].key, B_KEY, r[i].rev, r[i].idx, B_INDEX),
              "slc_put");
}

BHOT void hot_bulk_commit(slc_writer *w)
{
    check(slc_commit(w), "slc_commit");
}

BHOT uint64_t hot_get_hit(slc_cache *c,
                                               const uint8_t *keys,
                                               uint64_t count)
{
    uint64_t sum = 0;
    int64_t rev;
    uint8_t idx[B_INDEX];
    for (uint64_t i = 0; i < count; i++) {
        int rc = slc_get(c, keys + i * B_KEY, B_KEY, &rev, idx, B_INDEX);
        if (rc != SLC_OK)
            bdie("W3 get %llu: %d", (unsigned long long)i, rc);
        sum += bfold(rev, idx);
    }
    return sum;
}

BHOT uint64_t hot_get_miss(slc_cache *c,
                                                const uint8_t *keys,
                                                uint64_t count)
{
    uint64_t misses = 0;
    int64_t rev;
    uint8_t idx[B_INDEX];
    for (uint64_t i = 0; i < count; i++)
        misses += slc_get(c, keys + i * B_KEY, B_KEY, &rev, idx, B_INDEX) ==
                  SLC_NOTFOUND;
    return misses;
}

/* The batched lookup (libslotcache extension), chunks of 1024 keys. */
#define MANY 1024
BHOT uint64_t hot_get_many(slc_cache *c,
                                                const uint8_t *keys,
                                                uint64_t count)
{
    static int res[MANY];
    static int64_t revs[MANY];
    static uint8_t idx[MANY * B_INDEX];
    uint64_t sum = 0;
    for (uint64_t i = 0; i < count; i += MANY) {
        size_t n = count - i < MANY ? (size_t)(count - i) : MANY;
        check(slc_get_many(c, keys + i * B_KEY, n, B_KEY, res, revs, idx,
                           B_INDEX),
              "slc_get_many");
        for (size_t j = 0; j < n; j++) {
            if (res[j] != SLC_OK)
                bdie("W3many get %llu: %d", (unsigned long long)(i + j), res[j]);
            sum += bfold(revs[j], idx + j * B_INDEX);
        }
    }
    return sum;
}

typedef struct acc {
    uint64_t count, sum;
} acc;

static int filter(const slc_entry *e, void *unused)
{
    (void)unused;
    return bpred(e->index);
}

static int visit(const slc_entry *e, void *p)
{
    acc *a = p;
    a->count++;
    a->sum += bfold(e->revision, e->index);
    return 0;
}

BHOT uint64_t hot_scan_snapshot(slc_cache *c)
{
    acc a = {0, 0};
    slc_scan_opts o = {filter, NULL, 0, 0, 0};
    check(slc_scan(c, &o, visit, &a), "slc_scan");
    return a.count + a.sum;
}

BHOT uint64_t hot_scan_stream(slc_cache *c)
{
    acc a = {0, 0};
    slc_scan_opts o = {filter, NULL, SLC_SCAN_STREAMING, 0, 0};
    check(slc_scan(c, &o, visit, &a), "slc_scan streaming");
    return a.count + a.sum;
}

/* W5 through the built-in index predicate (libslotcache extension): the
 * same test, index[0] == 0, without a callback. */
static const uint8_t match_zero[1] = {0};
static const slc_index_match match0 = {0, 1, match_zero, NULL};

BHOT uint64_t hot_match_snapshot(slc_cache *c)
{
    acc a = {0, 0};
    check(slc_scan_match(c, &match0, NULL, visit, &a), "slc_scan_match");
    return a.count + a.sum;
}

BHOT uint64_t hot_match_stream(slc_cache *c)
{
    acc a = {0, 0};
    slc_scan_opts o = {NULL, NULL, SLC_SCAN_STREAMING, 0, 0};
    check(slc_scan_match(c, &match0, &o, visit, &a), "slc_scan_match streaming");
    return a.count + a.sum;
}

/* W2 and W6 commit loop: `commits` sessions of `ops` upserts; per-commit
 * latencies into lat (may be NULL). */
BHOT void hot_upsert(slc_cache *c, const brec *r,
                                          uint64_t commits, uint64_t ops,
                                          double *lat)
{
    for (uint64_t k = 0; k < commits; k++) {
        double t0 = lat ? bnow() : 0;
        slc_writer *w;
        check(slc_begin_write(c, &w), "slc_begin_write");
        for (uint64_t j = 0; j < ops; j++) {
            const brec *x = &r[k * ops + j];
            check(slc_put(w, x->key, B_KEY, x->rev, x->idx, B_INDEX),
                  "slc_put");
        }
        check(slc_commit(w), "slc_commit");
        slc_writer_close(w);
        if (lat)
            lat[k] = bnow() - t0;
    }
}

/* ---- Workloads ---------------------------------------------------------- */

static void w1(ctx *x)
{
    const bconf *c = x->c;
    brec *r = brecs_load(c->n);
    double t0 = bnow();
    slc_cache *cache;
    check(slc_open(x->path, &x->opts, &cache), "slc_open (create)");
    slc_writer *w;
    check(slc_begin_write(cache, &w), "slc_begin_write");
    double t1 = bnow();
    hot_load(w, r, c->n);
    double t2 = bnow();
    hot_bulk_commit(w);
    double t3 = bnow();
    double t = t3 - t0;
    /* Where W1 goes: open/create, staging puts, commit (plan + apply). */
    bresult(SYS, "W1open", "ms", (t1 - t0) * 1e3, "ms", 0);
    bresult(SYS, "W1stage", "ns_per_op", (t2 - t1) * 1e9 / (double)c->n, "ns",
            0);
    bresult(SYS, "W1commit", "ns_per_op", (t3 - t2) * 1e9 / (double)c->n,
            "ns", 0);
    slc_writer_close(w);
    check(slc_close(cache), "slc_close");
    free(r);
    bresult(SYS, "W1", "ops_per_s", (double)c->n / t, "op/s", c->n);
}

static void fsync_path(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        bdie("fsync %s", path);
    close(fd);
}

/* W1rebuild: the same records into a fresh file through slc_rebuild_*
 * (issue 13): the append path of a private file, then the publication
 * (fsync of file and directory, rename). W1rebuildfill stops the clock
 * before slc_rebuild_publish, whose syncs tinycdb's W1 does not make.
 * W1rebuild keeps the W1 store's capacity (room for W2's inserts: 1.05 M
 * slots, so 4 M buckets, four per record); W1rebuildfit sizes the file to
 * its records (1 M slots, 2 M buckets), as cdb_make's file is. */
static void w1_rebuild(ctx *x, uint64_t capacity, const char *fill_name,
                       const char *name)
{
    const bconf *c = x->c;
    brec *r = brecs_load(c->n);
    char *path = bpath(x->dir, "rebuild.slc");
    slc_options o = x->opts;
    o.slot_capacity = capacity;
    /* Untimed: write back what W1 left dirty on the main store; on ext4 a
     * journal commit (the publication's fsync) would wait for it, and
     * tinycdb's W1durable runs in a process with no such backlog. */
    fsync_path(x->path);
    double t0 = bnow();
    slc_rebuild *rb;
    check(slc_rebuild_begin(path, &o, &rb), "slc_rebuild_begin");
    for (uint64_t i = 0; i < c->n; i++)
        check(slc_rebuild_put(rb, r[i].key, B_KEY, r[i].rev, r[i].idx,
                              B_INDEX),
              "slc_rebuild_put");
    double t1 = bnow();
    check(slc_rebuild_publish(rb, 0), "slc_rebuild_publish");
    double t2 = bnow();
    slc_rebuild_close(rb);
    bresult(SYS, fill_name, "ops_per_s", (double)c->n / (t1 - t0), "op/s",
            c->n);
    bresult(SYS, name, "ops_per_s", (double)c->n / (t2 - t0), "op/s", c->n);
    slc_cache *cache;
    o.slot_capacity = 0;
    check(slc_open(path, &o, &cache), "slc_open (rebuilt)");
    uint64_t live = 0;
    check(slc_len(cache, &live), "slc_len");
    if (live != c->n)
        bdie("%s: live %llu", name, (unsigned long long)live);
    slc_close(cache);
    unlink(path);
    char *lock = bpath(x->dir, "rebuild.slc.lock");
    unlink(lock);
    free(lock);
    free(path);
    free(r);
}

/* Untimed: every entry is found with its W1 revision and index (also maps
 * every page, so timed loops start warm, as for the other systems). */
static void verify_load(ctx *x)
{
    uint8_t key[B_KEY], idx[B_INDEX], want[B_INDEX];
    for (uint64_t i = 0; i < x->c->n; i++) {
        int64_t rev;
        bkey(i, key);
        check(slc_get(x->cache, key, B_KEY, &rev, idx, B_INDEX), "verify get");
        bindex(i, (int64_t)i + 1, want);
        if (rev != (int64_t)i + 1 || memcmp(idx, want, B_INDEX) != 0)
            bdie("verify: entry %llu differs", (unsigned long long)i);
    }
}

static void w3_w4(ctx *x)
{
    const bconf *c = x->c;
    if (bconf_wants(c, "W3")) {
        uint8_t *k = bkeys_hits(c->n, c->gets, 3);
        double t0 = bnow();
        uint64_t sum = hot_get_hit(x->cache, k, c->gets);
        double t = bnow() - t0;
        bresult(SYS, "W3", "ns_per_op", t * 1e9 / (double)c->gets, "ns", sum);
        t0 = bnow();
        sum = hot_get_many(x->cache, k, c->gets);
        t = bnow() - t0;
        bresult(SYS, "W3many", "ns_per_op", t * 1e9 / (double)c->gets, "ns",
                sum);
        free(k);
    }
    if (bconf_wants(c, "W4")) {
        uint8_t *k = bkeys_misses(c->n, c->gets);
        double t0 = bnow();
        uint64_t m = hot_get_miss(x->cache, k, c->gets);
        double t = bnow() - t0;
        if (m != c->gets)
            bdie("W4: %llu of %llu missed", (unsigned long long)m,
                 (unsigned long long)c->gets);
        bresult(SYS, "W4", "ns_per_op", t * 1e9 / (double)c->gets, "ns", m);
        free(k);
    }
}

static void w5(ctx *x)
{
    const bconf *c = x->c;
    slc_stat st;
    check(slc_stat_get(x->cache, &st), "slc_stat_get");
    double bytes = (double)st.slot_highwater * st.slot_size;
    double *ts = calloc((size_t)c->w5_passes, sizeof *ts);
    static const char *names[4] = {"W5snap", "W5stream", "W5matchsnap",
                                   "W5matchstream"};
    for (int mode = 0; mode < 4; mode++) {
        uint64_t sum = 0;
        for (int p = 0; p < c->w5_passes; p++) {
            double t0 = bnow();
            switch (mode) {
            case 0: sum = hot_scan_snapshot(x->cache); break;
            case 1: sum = hot_scan_stream(x->cache); break;
            case 2: sum = hot_match_snapshot(x->cache); break;
            default: sum = hot_match_stream(x->cache); break;
            }
            ts[p] = bnow() - t0;
        }
        double t = bmedian(ts, (size_t)c->w5_passes);
        const char *w = names[mode];
        bresult(SYS, w, "GB_per_s", bytes / t / 1e9, "GB/s", sum);
        bresult(SYS, w, "Mentries_per_s", (double)st.slot_highwater / t / 1e6,
                "Mentry/s", sum);
    }
    free(ts);
}

/* Upper bounds from the format (whatif.c), on the same file and keys as
 * W3 and W5: reported as system "whatif", never as slotcache. */
static void whatif(ctx *x)
{
    const bconf *c = x->c;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        bdie("whatif: open %s", x->path);
    const uint8_t *map =
        mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        bdie("whatif: mmap");
    uint8_t *k = bkeys_hits(c->n, c->gets, 3);
    for (uint64_t i = 0; i < c->n; i += 512) /* warm: map every page */
        (void)whatif_get_single(map, k + (i % c->gets) * B_KEY, 1);
    double t0 = bnow();
    uint64_t sum = whatif_get_single(map, k, c->gets);
    double t = bnow() - t0;
    bresult("whatif", "W3", "ns_per_op", t * 1e9 / (double)c->gets, "ns", sum);
    t0 = bnow();
    sum = whatif_get_batch(map, k, c->gets);
    t = bnow() - t0;
    bresult("whatif", "W3batch", "ns_per_op", t * 1e9 / (double)c->gets, "ns",
            sum);
    free(k);
    slc_stat ss;
    check(slc_stat_get(x->cache, &ss), "slc_stat_get");
    double *ts = calloc((size_t)c->w5_passes, sizeof *ts);
    for (int p = 0; p < c->w5_passes; p++) {
        t0 = bnow();
        sum = whatif_scan(map);
        ts[p] = bnow() - t0;
    }
    t = bmedian(ts, (size_t)c->w5_passes);
    bresult("whatif", "W5", "GB_per_s",
            (double)ss.slot_highwater * ss.slot_size / t / 1e9, "GB/s", sum);
    for (int p = 0; p < c->w5_passes; p++) {
        acc a = {0, 0};
        t0 = bnow();
        if (!whatif_scan_callback(map, filter, visit, &a))
            bdie("whatif: callback scan met a commit");
        ts[p] = bnow() - t0;
        sum = a.count + a.sum;
    }
    t = bmedian(ts, (size_t)c->w5_passes);
    bresult("whatif", "W5callback", "GB_per_s",
            (double)ss.slot_highwater * ss.slot_size / t / 1e9, "GB/s", sum);
    free(ts);
    munmap((void *)map, (size_t)st.st_size);
    close(fd);
}

static void w2(ctx *x)
{
    const bconf *c = x->c;
    uint64_t count = c->w2_commits * c->w2_ops;
    brec *r = brecs_seq(c->n, count, 2, 1, (int64_t)c->n + 1);
    double t0 = bnow();
    hot_upsert(x->cache, r, c->w2_commits, c->w2_ops, NULL);
    double t = bnow() - t0;
    uint64_t live;
    check(slc_len(x->cache, &live), "slc_len");
    if (live != c->n + bseq_inserts(count))
        bdie("W2: live %llu", (unsigned long long)live);
    bresult(SYS, "W2", "ops_per_s", (double)count / t, "op/s", live);
    bresult(SYS, "W2", "commits_per_s", (double)c->w2_commits / t, "commit/s",
            live);
    free(r);
}

/* The timed part of W6 and W6mixed: 100 durable commits of 10 updates on a
 * SLC_WRITEBACK_SYNC handle; median latency and storage bytes per commit. */
static void w6_commits(ctx *x, slc_cache *sc, const char *w,
                       uint64_t stream)
{
    const bconf *c = x->c;
    bw6 b;
    bw6_begin(&b, c, stream);
    hot_upsert(sc, b.recs, c->w6_commits, c->w6_ops, b.lat);
    bw6_end(&b, c, SYS, w);
}


/* W6, a durable deployment: a store of its own that only ever had
 * SLC_WRITEBACK_SYNC handles, created and loaded with the n W1 records in
 * one session (untimed, reported as W6load), then the timed commits. The
 * page cache of this file was filled by Sync-mode faults only. */
static void w6(ctx *x)
{
    const bconf *c = x->c;
    /* Untimed: write back what W1/W2 left dirty on the main store, so the
     * durable commits do not compete with the kernel flushing it. */
    fsync_path(x->path);
    char *path = bpath(x->dir, "w6.slc");
    slc_options o = x->opts;
    o.flags |= SLC_WRITEBACK_SYNC;
    brec *r = brecs_load(c->n);
    double t0 = bnow();
    slc_cache *sc;
    check(slc_open(path, &o, &sc), "slc_open (sync, create)");
    slc_writer *w;
    check(slc_begin_write(sc, &w), "slc_begin_write");
    for (uint64_t i = 0; i < c->n; i++)
        check(slc_put(w, r[i].key, B_KEY, r[i].rev, r[i].idx, B_INDEX),
              "slc_put");
    check(slc_commit(w), "slc_commit (W6 load)");
    slc_writer_close(w);
    double t = bnow() - t0;
    free(r);
    uint64_t live;
    check(slc_len(sc, &live), "slc_len");
    bresult(SYS, "W6load", "ops_per_s", (double)c->n / t, "op/s", live);
    w6_commits(x, sc, "W6", 6);
    /* W6fifo, not a goal: the same kind of commits (another 100) with the
     * process at SCHED_FIFO, so that on a busy machine the time a commit
     * waits for a CPU after each disk flush is left out; shows how much of
     * W6 is the storage and how much the scheduler. */
    if (brt_enter() == 0) {
        w6_commits(x, sc, "W6fifo", 16);
        brt_leave();
    }
    check(slc_close(sc), "slc_close");
    unlink(path);
    char *lock = bpath(x->dir, "w6.slc.lock");
    unlink(lock);
    free(lock);
    free(path);
}

/* W6mixed (the W6 of earlier runs): durable commits on the main store,
 * which W1/W2 loaded and W3-W5 read through a handle without Sync mode, so
 * its page cache holds the large folios readahead made; reported, not a
 * goal. */
static void w6_mixed(ctx *x)
{
    slc_options o = x->opts;
    o.slot_capacity = 0;
    o.flags |= SLC_WRITEBACK_SYNC;
    /* Untimed: write back what W1/W2 left dirty, so the durable commits
     * measure their own pages, not a backlog the kernel flushes meanwhile. */
    fsync_path(x->path);
    slc_cache *sc;
    check(slc_open(x->path, &o, &sc), "slc_open (sync)");
    w6_commits(x, sc, "W6mixed", 6);
    check(slc_close(sc), "slc_close");
}

/* ---- W7 ----------------------------------------------------------------- */

static void *w7_ropen(void *p)
{
    ctx *x = p;
    slc_options o = x->opts;
    o.slot_capacity = 0;
    slc_cache *c;
    check(slc_open(x->path, &o, &c), "slc_open (reader)");
    return c;
}

static void w7_rbatch(void *rh, const uint8_t *keys, uint64_t count,
                      uint64_t *hits, uint64_t *busy)
{
    int64_t rev;
    uint8_t idx[B_INDEX];
    for (uint64_t i = 0; i < count; i++) {
        int rc = slc_get(rh, keys + i * B_KEY, B_KEY, &rev, idx, B_INDEX);
        if (rc == SLC_OK)
            ++*hits;
        else if (rc == SLC_EBUSY)
            ++*busy;
        else
            bdie("W7 get: %s", slc_strerror(rc));
    }
}

static void w7_rclose(void *rh) { slc_close(rh); }

static void w7_wstep(void *p, uint64_t k)
{
    ctx *x = p;
    uint64_t per = x->c->w2_ops, commits = x->w7_count / per;
    hot_upsert(x->cache, x->w7recs + (k % commits) * per, 1, per, NULL);
}

int main(int argc, char **argv)
{
    bconf c;
    bconf_parse(&c, argc, argv);
    ctx x;
    memset(&x, 0, sizeof x);
    x.c = &c;
    char *dir = bsysdir(&c, SYS);
    x.dir = dir;
    x.path = bpath(dir, "bench.slc");
    x.opts.key_size = B_KEY;
    x.opts.index_size = B_INDEX;
    x.opts.user_version = 1;
    /* Room for the W2 inserts; the other write loads only update. */
    x.opts.slot_capacity = c.n + bseq_inserts(c.w2_commits * c.w2_ops);
    x.opts.flags = 0;

    w1(&x);
    if (bconf_wants(&c, "W1rebuild")) {
        w1_rebuild(&x, x.opts.slot_capacity, "W1rebuildfill", "W1rebuild");
        w1_rebuild(&x, c.n, "W1rebuildfitfill", "W1rebuildfit");
    }
    slc_options o = x.opts;
    o.slot_capacity = 0;
    check(slc_open(x.path, &o, &x.cache), "slc_open");
    verify_load(&x);
    w3_w4(&x);
    if (bconf_wants(&c, "W5"))
        w5(&x);
    if (bconf_wants(&c, "whatif"))
        whatif(&x);
    if (bconf_wants(&c, "W2"))
        w2(&x);
    if (bconf_wants(&c, "W6"))
        w6(&x);
    if (bconf_wants(&c, "W6mixed"))
        w6_mixed(&x);
    if (bconf_wants(&c, "W7")) {
        x.w7_count = 100 * c.w2_ops;
        x.w7recs = brecs_seq(c.n, x.w7_count, 7, 0, INT64_C(1) << 50);
        bw7 ops = {w7_ropen, w7_rbatch, w7_rclose, w7_wstep, &x};
        bw7_run(&c, SYS, &ops, 0);
        bw7_run(&c, SYS, &ops, 1);
        free(x.w7recs);
    }
    check(slc_close(x.cache), "slc_close");
    bprepare_dir(dir);
    free(x.path);
    free(dir);
    return 0;
}
