/* LMDB driver: the same W1-W7 as bench_slc, through mdb_* calls.
 *
 * Configuration, chosen to be LMDB's fastest honest setting for each goal:
 *   W1, W2, W7 writer: MDB_NOSYNC | MDB_WRITEMAP (no fsync at all);
 *   W3-W5: one read transaction reused for the whole loop;
 *   W6: a separate environment with flags 0 from creation (LMDB's
 *       default durable commit: fdatasync, then a synchronous meta page
 *       write), loaded untimed in one txn; W6mixed: the main environment
 *       (loaded with NOSYNC | WRITEMAP) reopened with flags 0;
 *   W7 readers: MDB_RDONLY environments, the read txn renewed every 1000
 *       gets so they see new commits and do not pin old pages.
 * The value is revision (8 bytes) then the 32 index bytes; gets copy both
 * out, as slc_get does. */
#define _GNU_SOURCE
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char *SYS = "lmdb";

typedef struct ctx {
    const bconf *c;
    char *dir;
    MDB_env *env;
    MDB_dbi dbi;
    brec *w7recs;
    uint64_t w7_count;
} ctx;

static void check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS)
        bdie("%s: %s", what, mdb_strerror(rc));
}

static MDB_env *env_open(ctx *x, const char *dir, unsigned flags)
{
    MDB_env *env;
    check(mdb_env_create(&env), "mdb_env_create");
    /* Generous map: data + B-tree overhead of ~2x, plus W2/W6/W7 churn. */
    size_t map = (size_t)(x->c->n + 200000) * 400u + ((size_t)64 << 20);
    check(mdb_env_set_mapsize(env, map), "mdb_env_set_mapsize");
    check(mdb_env_set_maxreaders(env, 64), "mdb_env_set_maxreaders");
    check(mdb_env_open(env, dir, flags, 0600), "mdb_env_open");
    return env;
}

static MDB_dbi dbi_open(MDB_env *env)
{
    MDB_txn *t;
    MDB_dbi dbi;
    check(mdb_txn_begin(env, NULL, 0, &t), "mdb_txn_begin");
    check(mdb_dbi_open(t, NULL, 0, &dbi), "mdb_dbi_open");
    check(mdb_txn_commit(t), "mdb_txn_commit");
    return dbi;
}

/* ---- Timed loops -------------------------------------------------------- */

static void put(MDB_txn *t, MDB_dbi dbi, const brec *r)
{
    MDB_val k = {B_KEY, (void *)r->key};
    MDB_val v = {B_VALUE, (void *)&r->rev};
    check(mdb_put(t, dbi, &k, &v, 0), "mdb_put");
}

BHOT void hot_load(MDB_txn *t, MDB_dbi dbi,
                                        const brec *r, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        put(t, dbi, &r[i]);
}

BHOT uint64_t hot_get_hit(MDB_txn *t, MDB_dbi dbi,
                                               const uint8_t *keys,
                                               uint64_t count)
{
    uint64_t sum = 0;
    int64_t rev;
    uint8_t idx[B_INDEX];
    for (uint64_t i = 0; i < count; i++) {
        MDB_val k = {B_KEY, (void *)(keys + i * B_KEY)}, v;
        int rc = mdb_get(t, dbi, &k, &v);
        if (rc != MDB_SUCCESS || v.mv_size != B_VALUE)
            bdie("W3 get %llu: %s", (unsigned long long)i, mdb_strerror(rc));
        memcpy(&rev, v.mv_data, 8);
        memcpy(idx, (const uint8_t *)v.mv_data + 8, B_INDEX);
        sum += bfold(rev, idx);
    }
    return sum;
}

BHOT uint64_t hot_get_miss(MDB_txn *t, MDB_dbi dbi,
                                                const uint8_t *keys,
                                                uint64_t count)
{
    uint64_t misses = 0;
    for (uint64_t i = 0; i < count; i++) {
        MDB_val k = {B_KEY, (void *)(keys + i * B_KEY)}, v;
        misses += mdb_get(t, dbi, &k, &v) == MDB_NOTFOUND;
    }
    return misses;
}

/* Full cursor walk with the W5 predicate; matches are copied out. */
BHOT uint64_t hot_iter(MDB_txn *t, MDB_dbi dbi,
                                            uint64_t *entries)
{
    MDB_cursor *cur;
    check(mdb_cursor_open(t, dbi, &cur), "mdb_cursor_open");
    MDB_val k, v;
    uint64_t count = 0, sum = 0, seen = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
        seen++;
        const uint8_t *d = v.mv_data;
        if (bpred(d + 8)) {
            int64_t rev;
            uint8_t idx[B_INDEX];
            memcpy(&rev, d, 8);
            memcpy(idx, d + 8, B_INDEX);
            count++;
            sum += bfold(rev, idx);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND)
        check(rc, "mdb_cursor_get");
    mdb_cursor_close(cur);
    *entries = seen;
    return count + sum;
}

BHOT void hot_upsert(MDB_env *env, MDB_dbi dbi,
                                          const brec *r, uint64_t commits,
                                          uint64_t ops, double *lat)
{
    for (uint64_t k = 0; k < commits; k++) {
        double t0 = lat ? bnow() : 0;
        MDB_txn *t;
        check(mdb_txn_begin(env, NULL, 0, &t), "mdb_txn_begin");
        for (uint64_t j = 0; j < ops; j++)
            put(t, dbi, &r[k * ops + j]);
        check(mdb_txn_commit(t), "mdb_txn_commit");
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
    x->env = env_open(x, x->dir, MDB_NOSYNC | MDB_WRITEMAP);
    MDB_txn *t;
    check(mdb_txn_begin(x->env, NULL, 0, &t), "mdb_txn_begin");
    check(mdb_dbi_open(t, NULL, 0, &x->dbi), "mdb_dbi_open");
    hot_load(t, x->dbi, r, c->n);
    check(mdb_txn_commit(t), "mdb_txn_commit");
    double tt = bnow() - t0;
    free(r);
    bresult(SYS, "W1", "ops_per_s", (double)c->n / tt, "op/s", c->n);
}

static void verify_load(ctx *x, MDB_txn *t)
{
    uint8_t key[B_KEY], want[B_INDEX];
    for (uint64_t i = 0; i < x->c->n; i++) {
        bkey(i, key);
        MDB_val k = {B_KEY, key}, v;
        check(mdb_get(t, x->dbi, &k, &v), "verify get");
        int64_t rev;
        memcpy(&rev, v.mv_data, 8);
        bindex(i, (int64_t)i + 1, want);
        if (rev != (int64_t)i + 1 ||
            memcmp((uint8_t *)v.mv_data + 8, want, B_INDEX) != 0)
            bdie("verify: entry %llu differs", (unsigned long long)i);
    }
}

static void reads(ctx *x)
{
    const bconf *c = x->c;
    MDB_txn *t;
    check(mdb_txn_begin(x->env, NULL, MDB_RDONLY, &t), "mdb_txn_begin ro");
    verify_load(x, t);
    if (bconf_wants(c, "W3")) {
        uint8_t *k = bkeys_hits(c->n, c->gets, 3);
        double t0 = bnow();
        uint64_t sum = hot_get_hit(t, x->dbi, k, c->gets);
        double tt = bnow() - t0;
        bresult(SYS, "W3", "ns_per_op", tt * 1e9 / (double)c->gets, "ns", sum);
        free(k);
    }
    if (bconf_wants(c, "W4")) {
        uint8_t *k = bkeys_misses(c->n, c->gets);
        double t0 = bnow();
        uint64_t m = hot_get_miss(t, x->dbi, k, c->gets);
        double tt = bnow() - t0;
        if (m != c->gets)
            bdie("W4: %llu misses", (unsigned long long)m);
        bresult(SYS, "W4", "ns_per_op", tt * 1e9 / (double)c->gets, "ns", m);
        free(k);
    }
    if (bconf_wants(c, "W5")) {
        double *ts = calloc((size_t)c->w5_passes, sizeof *ts);
        uint64_t sum = 0, seen = 0;
        for (int p = 0; p < c->w5_passes; p++) {
            double t0 = bnow();
            sum = hot_iter(t, x->dbi, &seen);
            ts[p] = bnow() - t0;
        }
        double tt = bmedian(ts, (size_t)c->w5_passes);
        /* Bytes as an SLC1 file with these records would hold (64 per
         * slot), so GB/s compares the same logical work across systems. */
        bresult(SYS, "W5iter", "GB_per_s", (double)seen * 64 / tt / 1e9,
                "GB/s", sum);
        bresult(SYS, "W5iter", "Mentries_per_s", (double)seen / tt / 1e6,
                "Mentry/s", sum);
        free(ts);
    }
    mdb_txn_abort(t);
}

static void w2(ctx *x)
{
    const bconf *c = x->c;
    uint64_t count = c->w2_commits * c->w2_ops;
    brec *r = brecs_seq(c->n, count, 2, 1, (int64_t)c->n + 1);
    double t0 = bnow();
    hot_upsert(x->env, x->dbi, r, c->w2_commits, c->w2_ops, NULL);
    double tt = bnow() - t0;
    MDB_stat st;
    MDB_txn *t;
    check(mdb_txn_begin(x->env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
    check(mdb_stat(t, x->dbi, &st), "mdb_stat");
    mdb_txn_abort(t);
    uint64_t live = st.ms_entries;
    if (live != c->n + bseq_inserts(count))
        bdie("W2: live %llu", (unsigned long long)live);
    bresult(SYS, "W2", "ops_per_s", (double)count / tt, "op/s", live);
    bresult(SYS, "W2", "commits_per_s", (double)c->w2_commits / tt,
            "commit/s", live);
    free(r);
}

/* The timed part of W6 and W6mixed: 100 synchronous commits of 10 updates
 * on `env`; median latency and storage bytes per commit. */
static void w6_commits(ctx *x, MDB_env *env, MDB_dbi dbi, const char *w,
                       uint64_t stream)
{
    const bconf *c = x->c;
    bw6 b;
    bw6_begin(&b, c, stream);
    hot_upsert(env, dbi, b.recs, c->w6_commits, c->w6_ops, b.lat);
    bw6_end(&b, c, SYS, w);
}

/* W6, a durable deployment: an environment of its own that only ever had
 * LMDB's default flags (synchronous commits, no WRITEMAP), loaded with the
 * n W1 records in one txn (untimed, reported as W6load), then the timed
 * commits. */
static void w6(ctx *x)
{
    const bconf *c = x->c;
    /* Untimed: flush what W1/W2 left dirty in the main env (as bench_slc
     * does with its main store). */
    check(mdb_env_sync(x->env, 1), "mdb_env_sync");
    char *dir = bsysdir(c, "lmdb-w6");
    brec *r = brecs_load(c->n);
    double t0 = bnow();
    MDB_env *env = env_open(x, dir, 0);
    MDB_txn *t;
    MDB_dbi dbi;
    check(mdb_txn_begin(env, NULL, 0, &t), "mdb_txn_begin");
    check(mdb_dbi_open(t, NULL, 0, &dbi), "mdb_dbi_open");
    for (uint64_t i = 0; i < c->n; i++)
        put(t, dbi, &r[i]);
    check(mdb_txn_commit(t), "mdb_txn_commit (W6 load)");
    double tt = bnow() - t0;
    free(r);
    MDB_stat st;
    check(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), "mdb_txn_begin");
    check(mdb_stat(t, dbi, &st), "mdb_stat");
    mdb_txn_abort(t);
    bresult(SYS, "W6load", "ops_per_s", (double)c->n / tt, "op/s",
            st.ms_entries);
    w6_commits(x, env, dbi, "W6", 6);
    /* W6fifo, not a goal: the same kind of commits (another 100) with the
     * process at SCHED_FIFO, so that on a busy machine the time a commit
     * waits for a CPU after each disk flush is left out; shows how much of
     * W6 is the storage and how much the scheduler. */
    if (brt_enter() == 0) {
        w6_commits(x, env, dbi, "W6fifo", 16);
        brt_leave();
    }
    mdb_env_close(env);
    bprepare_dir(dir);
    rmdir(dir);
    free(dir);
}

/* W6mixed (the W6 of earlier runs): synchronous commits in the main env,
 * which W1/W2 loaded with NOSYNC | WRITEMAP, reopened with flags 0;
 * reported, not a goal. */
static void w6_mixed(ctx *x)
{
    check(mdb_env_sync(x->env, 1), "mdb_env_sync");
    mdb_env_close(x->env);
    x->env = env_open(x, x->dir, 0); /* LMDB default: synchronous commits */
    x->dbi = dbi_open(x->env);
    w6_commits(x, x->env, x->dbi, "W6mixed", 6);
    mdb_env_close(x->env);
    x->env = env_open(x, x->dir, MDB_NOSYNC | MDB_WRITEMAP);
    x->dbi = dbi_open(x->env);
}

/* ---- W7 ----------------------------------------------------------------- */

typedef struct reader {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *t;
} reader;

static void *w7_ropen(void *p)
{
    ctx *x = p;
    reader *r = calloc(1, sizeof *r);
    r->env = env_open(x, x->dir, MDB_RDONLY);
    check(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->t), "mdb_txn_begin");
    check(mdb_dbi_open(r->t, NULL, 0, &r->dbi), "mdb_dbi_open");
    return r;
}

static void w7_rbatch(void *rh, const uint8_t *keys, uint64_t count,
                      uint64_t *hits, uint64_t *busy)
{
    reader *r = rh;
    int64_t rev;
    uint8_t idx[B_INDEX];
    (void)busy;
    for (uint64_t i = 0; i < count; i++) {
        if (i % 1000 == 999) {
            mdb_txn_reset(r->t);
            check(mdb_txn_renew(r->t), "mdb_txn_renew");
        }
        MDB_val k = {B_KEY, (void *)(keys + i * B_KEY)}, v;
        int rc = mdb_get(r->t, r->dbi, &k, &v);
        if (rc != MDB_SUCCESS)
            bdie("W7 get: %s", mdb_strerror(rc));
        memcpy(&rev, v.mv_data, 8);
        memcpy(idx, (const uint8_t *)v.mv_data + 8, B_INDEX);
        ++*hits;
    }
}

static void w7_rclose(void *rh)
{
    reader *r = rh;
    mdb_txn_abort(r->t);
    mdb_env_close(r->env);
    free(r);
}

static void w7_wstep(void *p, uint64_t k)
{
    ctx *x = p;
    uint64_t per = x->c->w2_ops, commits = x->w7_count / per;
    hot_upsert(x->env, x->dbi, x->w7recs + (k % commits) * per, 1, per, NULL);
}

int main(int argc, char **argv)
{
    bconf c;
    bconf_parse(&c, argc, argv);
    ctx x;
    memset(&x, 0, sizeof x);
    x.c = &c;
    x.dir = bsysdir(&c, SYS);
    w1(&x);
    reads(&x);
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
    mdb_env_close(x.env);
    bprepare_dir(x.dir);
    free(x.dir);
    return 0;
}
