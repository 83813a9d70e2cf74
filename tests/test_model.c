/* Randomized model test: random write sessions against a plain in-memory
 * model of SLC1 semantics (8.2-8.8, 16), checked after every session.
 *
 * Each round makes a new file with a random configuration (ordered or not,
 * key and index sizes, a small capacity so SLC_EFULL happens), then runs
 * random sessions: puts, deletes, user flags and data, then commit or close
 * without commit; now and then the handle is closed and reopened. After
 * each session the cache must equal the model: length, generation (+2 per
 * successful commit), every key's entry, a full scan in slot order both
 * ways, the user header, and slc_verify.
 *
 * Seed: SLC_TEST_SEED. Size: SLC_TEST_SCALE multiplies the session count. */
#include "core_helpers.h"

#include <inttypes.h>

#include "hook.h"

enum { MAXK = 24, MAXI = 24, MAXCAP = 40, MAXPOOL = 3 * MAXCAP + 64 };

typedef struct mslot {
    uint8_t key[MAXK];
    int64_t rev;
    uint8_t index[MAXI];
    int live;
} mslot;

typedef struct model {
    uint32_t ks, is, flags;
    uint64_t cap;
    int ordered;
    mslot slots[MAXCAP];
    uint64_t hw;
    uint64_t gen;
    uint64_t user_flags;
    uint8_t user_data[64];
} model;

/* One staged key of the session being built. */
typedef struct staged {
    uint8_t key[MAXK];
    int op; /* 1 put, 2 delete */
    int64_t rev;
    uint8_t index[MAXI];
    uint32_t seq;
} staged;

typedef struct session {
    staged st[64];
    size_t n;
    uint32_t seq;
    int flags_dirty, data_dirty;
    int replace_all; /* slc_set_replace_all */
    uint64_t user_flags;
    uint8_t user_data[64];
} session;

typedef struct world {
    uint64_t rs; /* PRNG state */
    char *dir, *path;
    model m;
    slc_cache *c;
    /* keys that may be asked for: the pool */
    uint8_t pool[MAXPOOL][MAXK];
    size_t npool;
    uint64_t next_num; /* ordered: next fresh key number */
    /* statistics, printed at the end */
    unsigned long commits, efull, eoutoforder, aborts, reopens, rounds;
    unsigned long replace_alls, timeouts;
} world;

static uint64_t rnd(world *w, uint64_t n) { return t_rand(&w->rs) % n; }

static long model_find(const model *m, const uint8_t *k)
{
    for (uint64_t i = 0; i < m->hw; i++)
        if (m->slots[i].live && memcmp(m->slots[i].key, k, m->ks) == 0)
            return (long)i;
    return -1;
}

/* ---- Checks --------------------------------------------------------------- */

typedef struct scan_out {
    size_t n;
    uint64_t id[MAXCAP];
    uint8_t key[MAXCAP][MAXK];
    int64_t rev[MAXCAP];
    uint8_t index[MAXCAP][MAXI];
    int index_null[MAXCAP];
    uint32_t ks, is;
} scan_out;

static int scan_visit(const slc_entry *e, void *ctx)
{
    scan_out *s = ctx;
    if (s->n >= MAXCAP)
        return 99;
    s->id[s->n] = e->slot_id;
    memcpy(s->key[s->n], e->key, s->ks);
    s->rev[s->n] = e->revision;
    s->index_null[s->n] = e->index == NULL;
    if (e->index)
        memcpy(s->index[s->n], e->index, s->is);
    s->n++;
    return 0;
}

static void check_scan(world *w, int reverse)
{
    const model *m = &w->m;
    scan_out *s = calloc(1, sizeof *s);
    s->ks = m->ks;
    s->is = m->is;
    slc_scan_opts o = {NULL, NULL, reverse ? SLC_SCAN_REVERSE : 0u, 0, 0};
    assert_int_equal(slc_scan(w->c, &o, scan_visit, s), SLC_OK);
    size_t j = 0;
    for (uint64_t k = 0; k < m->hw; k++) {
        uint64_t i = reverse ? m->hw - 1 - k : k;
        const mslot *ms = &m->slots[i];
        if (!ms->live)
            continue;
        assert_true(j < s->n);
        assert_int_equal(s->id[j], i);
        assert_memory_equal(s->key[j], ms->key, m->ks);
        assert_int_equal(s->rev[j], ms->rev);
        assert_int_equal(s->index_null[j], m->is == 0);
        if (m->is)
            assert_memory_equal(s->index[j], ms->index, m->is);
        j++;
    }
    assert_int_equal(s->n, j);
    free(s);
}

static void check_all(world *w)
{
    const model *m = &w->m;
    uint64_t live = 0;
    for (uint64_t i = 0; i < m->hw; i++)
        live += (uint64_t)m->slots[i].live;
    uint64_t v = UINT64_MAX;
    assert_int_equal(slc_len(w->c, &v), SLC_OK);
    assert_int_equal(v, live);
    assert_int_equal(slc_generation(w->c, &v), SLC_OK);
    assert_int_equal(v, m->gen);
    slc_stat st;
    assert_int_equal(slc_stat_get(w->c, &st), SLC_OK);
    assert_int_equal(st.slot_highwater, m->hw);
    assert_int_equal(st.live_count, live);
    assert_int_equal(st.bucket_used, live);
    /* Every pool key: hit with exact bytes, or a miss. */
    for (size_t p = 0; p < w->npool; p++) {
        const uint8_t *k = w->pool[p];
        long i = model_find(m, k);
        int64_t rev = 0x5A5A;
        uint8_t ix[MAXI + 1];
        memset(ix, 0xCD, sizeof ix);
        int rc = slc_get(w->c, k, m->ks, &rev, m->is ? ix : NULL, m->is);
        if (i < 0) {
            assert_int_equal(rc, SLC_NOTFOUND);
            continue;
        }
        assert_int_equal(rc, SLC_OK);
        assert_int_equal(rev, m->slots[i].rev);
        if (m->is)
            assert_memory_equal(ix, m->slots[i].index, m->is);
        assert_int_equal(ix[m->is], 0xCD); /* nothing written past it */
    }
    /* Random keys, almost surely absent. */
    for (int t = 0; t < 4; t++) {
        uint8_t k[MAXK];
        for (uint32_t b = 0; b < m->ks; b++)
            k[b] = (uint8_t)t_rand(&w->rs);
        int rc = slc_get(w->c, k, m->ks, NULL, NULL, 0);
        assert_int_equal(rc, model_find(m, k) >= 0 ? SLC_OK : SLC_NOTFOUND);
    }
    check_scan(w, 0);
    check_scan(w, 1);
    /* Counts: all, and with an offset and a limit. */
    assert_int_equal(slc_count(w->c, NULL, &v), SLC_OK);
    assert_int_equal(v, live);
    slc_scan_opts co = {NULL, NULL, 0, 1, 3};
    assert_int_equal(slc_count(w->c, &co, &v), SLC_OK);
    assert_int_equal(v, live > 4 ? 3 : live > 0 ? live - 1 : 0);
    uint64_t uf = 1;
    uint8_t ud[64];
    assert_int_equal(slc_user_header(w->c, &uf, ud), SLC_OK);
    assert_int_equal(uf, m->user_flags);
    assert_memory_equal(ud, m->user_data, 64);
    assert_int_equal(slc_verify(w->c), SLC_OK);
}

/* ---- Rounds ---------------------------------------------------------------- */

static slc_options round_opts(const model *m, uint64_t cap)
{
    return cu_opts(m->ks, m->is, cap, 99, m->flags);
}

static void open_handle(world *w, uint64_t cap)
{
    slc_options o = round_opts(&w->m, cap);
    w->c = NULL;
    assert_int_equal(slc_open(w->path, &o, &w->c), SLC_OK);
}

static void add_pool(world *w, const uint8_t *k)
{
    for (size_t p = 0; p < w->npool; p++)
        if (memcmp(w->pool[p], k, w->m.ks) == 0)
            return;
    if (w->npool < MAXPOOL)
        memcpy(w->pool[w->npool++], k, w->m.ks);
}

static void new_round(world *w)
{
    if (w->c) {
        assert_int_equal(slc_close(w->c), SLC_OK);
        w->c = NULL;
    }
    unlink(w->path);
    model *m = &w->m;
    memset(m, 0, sizeof *m);
    m->ordered = rnd(w, 2) == 0;
    m->ks = m->ordered ? 8 + (uint32_t)rnd(w, MAXK - 7)
                       : 1 + (uint32_t)rnd(w, MAXK);
    m->is = (uint32_t)rnd(w, MAXI + 1);
    m->cap = 4 + rnd(w, MAXCAP - 3);
    m->flags = (m->ordered ? SLC_ORDERED_KEYS : 0u) |
               (rnd(w, 4) == 0 ? SLC_NO_LOCK : 0u);
    w->npool = 0;
    w->next_num = rnd(w, 1000);
    if (!m->ordered) {
        /* A fixed pool about twice the capacity: updates, deletes and
         * re-inserts of deleted keys all happen. */
        size_t want = (size_t)(m->cap * 2 + rnd(w, 8));
        if (m->ks == 1 && want > 200)
            want = 200;
        while (w->npool < want) {
            uint8_t k[MAXK];
            for (uint32_t b = 0; b < m->ks; b++)
                k[b] = (uint8_t)t_rand(&w->rs);
            add_pool(w, k);
        }
    }
    open_handle(w, m->cap);
    w->rounds++;
}

/* A key for the next operation. */
static void pick_key(world *w, uint8_t *k)
{
    model *m = &w->m;
    if (!m->ordered) {
        memcpy(k, w->pool[rnd(w, w->npool)], m->ks);
        return;
    }
    uint64_t r = rnd(w, 100);
    if (r < 55 || w->npool == 0) {
        /* Mostly increasing: a fresh key above everything so far. */
        w->next_num += 1 + rnd(w, 3);
        cu_key(k, m->ks, w->next_num);
    } else if (r < 85) {
        /* A live key (update or delete), else any key seen before. */
        uint64_t live[MAXCAP], n = 0;
        for (uint64_t i = 0; i < m->hw; i++)
            if (m->slots[i].live)
                live[n++] = i;
        if (n)
            memcpy(k, m->slots[live[rnd(w, n)]].key, m->ks);
        else
            memcpy(k, w->pool[rnd(w, w->npool)], m->ks);
    } else if (r < 93) {
        memcpy(k, w->pool[rnd(w, w->npool)], m->ks); /* known key */
    } else {
        cu_key(k, m->ks, rnd(w, w->next_num + 1)); /* likely out of order */
    }
    add_pool(w, k);
}

static staged *stage_of(session *s, const uint8_t *k, uint32_t ks)
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->st[i].key, k, ks) == 0)
            return &s->st[i];
    return NULL;
}

/* The model's commit: SLC_OK, SLC_EFULL or SLC_EOUTOFORDER, applying the
 * session only on SLC_OK. */
static int model_commit(model *m, session *s)
{
    size_t ins[64], nins = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->st[i].op == 1 && model_find(m, s->st[i].key) < 0)
            ins[nins++] = i;
    /* Insert order: key order (ordered) or last staging order. */
    for (size_t a = 1; a < nins; a++)
        for (size_t b = a; b > 0; b--) {
            const staged *x = &s->st[ins[b - 1]], *y = &s->st[ins[b]];
            int swap = m->ordered ? memcmp(x->key, y->key, m->ks) > 0
                                  : x->seq > y->seq;
            if (!swap)
                break;
            size_t t = ins[b - 1];
            ins[b - 1] = ins[b];
            ins[b] = t;
        }
    if (nins > m->cap - m->hw)
        return SLC_EFULL;
    if (m->ordered && nins && m->hw > 0 &&
        memcmp(s->st[ins[0]].key, m->slots[m->hw - 1].key, m->ks) < 0)
        return SLC_EOUTOFORDER;
    /* Replace-all: every live key the session does not put goes. */
    for (uint64_t i = 0; s->replace_all && i < m->hw; i++) {
        const staged *x = stage_of(s, m->slots[i].key, m->ks);
        if (m->slots[i].live && !(x && x->op == 1))
            m->slots[i].live = 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        long at = model_find(m, s->st[i].key);
        if (at < 0)
            continue;
        if (s->st[i].op == 1) {
            m->slots[at].rev = s->st[i].rev;
            memcpy(m->slots[at].index, s->st[i].index, m->is);
        } else {
            m->slots[at].live = 0;
        }
    }
    for (size_t j = 0; j < nins; j++) {
        const staged *x = &s->st[ins[j]];
        mslot *ms = &m->slots[m->hw++];
        memcpy(ms->key, x->key, m->ks);
        ms->rev = x->rev;
        memcpy(ms->index, x->index, m->is);
        ms->live = 1;
    }
    if (s->flags_dirty)
        m->user_flags = s->user_flags;
    if (s->data_dirty)
        memcpy(m->user_data, s->user_data, 64);
    m->gen += 2;
    return SLC_OK;
}

static void run_session(world *w)
{
    model *m = &w->m;
    session *s = calloc(1, sizeof *s);
    slc_writer *wr = NULL;
    assert_int_equal(slc_begin_write_timeout(w->c, (uint32_t)rnd(w, 2), &wr),
                     SLC_OK);
    if (rnd(w, 20) == 0) { /* a second writer waits, then gives up */
        slc_writer *x = (slc_writer *)(uintptr_t)1;
        assert_int_equal(slc_begin_write_timeout(w->c, 1, &x), SLC_EBUSY);
        assert_null(x);
        w->timeouts++;
    }
    if (rnd(w, 8) == 0) {
        assert_int_equal(slc_set_replace_all(wr), SLC_OK);
        s->replace_all = 1;
        w->replace_alls++;
    }
    /* Now and then a purge deletes most live keys, building up enough
     * bucket tombstones for a rehash. */
    if (rnd(w, 20) == 0)
        for (uint64_t i = 0; i < m->hw && s->n < 64; i++) {
            if (!m->slots[i].live || rnd(w, 10) < 3)
                continue;
            staged *x = &s->st[s->n++];
            memcpy(x->key, m->slots[i].key, m->ks);
            x->seq = ++s->seq;
            x->op = 2;
            int e = -1;
            assert_int_equal(slc_delete(wr, x->key, m->ks, &e), SLC_OK);
            assert_int_equal(e, 1);
        }
    size_t nops = (size_t)rnd(w, 13);
    for (size_t i = 0; i < nops; i++) {
        uint64_t r = rnd(w, 100);
        if (r < 8) {
            uint64_t f = t_rand(&w->rs);
            assert_int_equal(slc_set_user_flags(wr, f), SLC_OK);
            s->flags_dirty = 1;
            s->user_flags = f;
            continue;
        }
        if (r < 14) {
            for (int b = 0; b < 64; b++)
                s->user_data[b] = (uint8_t)t_rand(&w->rs);
            assert_int_equal(slc_set_user_data(wr, s->user_data), SLC_OK);
            s->data_dirty = 1;
            continue;
        }
        uint8_t k[MAXK];
        pick_key(w, k);
        staged *x = stage_of(s, k, m->ks);
        if (!x) {
            x = &s->st[s->n++];
            memcpy(x->key, k, m->ks);
        }
        x->seq = ++s->seq;
        if (r < 70) {
            x->op = 1;
            x->rev = (int64_t)t_rand(&w->rs);
            if (rnd(w, 4) == 0)
                x->rev = (int64_t)rnd(w, 5) - 2;
            for (uint32_t b = 0; b < m->is; b++)
                x->index[b] = (uint8_t)t_rand(&w->rs);
            assert_int_equal(slc_put(wr, k, m->ks, x->rev,
                                     m->is ? x->index : NULL, m->is),
                             SLC_OK);
        } else {
            /* existed: the writer's view, file overlaid with staging. */
            int want = x->op ? x->op == 1 : model_find(m, k) >= 0;
            x->op = 2;
            int e = -1;
            assert_int_equal(slc_delete(wr, k, m->ks, &e), SLC_OK);
            assert_int_equal(e, want);
        }
    }
    if (rnd(w, 10) < 8) {
        int want = model_commit(m, s);
        int rc = slc_commit(wr);
        if (rc != want)
            fail_msg("commit: %d, model says %d (%s)", rc, want,
                     slc_errdetail());
        if (rc == SLC_OK)
            w->commits++;
        else if (rc == SLC_EFULL)
            w->efull++;
        else
            w->eoutoforder++;
        assert_int_equal(slc_put(wr, s->st[0].key, m->ks, 0, NULL, m->is),
                         SLC_ECLOSED);
    } else {
        w->aborts++;
    }
    assert_int_equal(slc_writer_close(wr), SLC_OK);
    free(s);
}

/* Counts rehashes (SLC1 5.6), so the run can show it exercised them. */
static unsigned long rehashes;
static void count_hook(const char *point)
{
    if (strcmp(point, "rehash") == 0)
        rehashes++;
}

static unsigned long scaled(unsigned long base)
{
    const char *e = getenv("SLC_TEST_SCALE");
    double f = e && *e ? strtod(e, NULL) : 1.0;
    if (!(f > 0))
        f = 1.0;
    unsigned long n = (unsigned long)(base * f);
    return n ? n : 1;
}

static void model_random_sessions(void **state)
{
    (void)state;
    world *w = calloc(1, sizeof *w);
    w->rs = t_seed("model_random_sessions");
    w->dir = t_tmpdir();
    w->path = t_join(w->dir, "model.slc");
    unsigned long sessions = scaled(15000);
    slc__test_hook = count_hook;
    new_round(w);
    check_all(w);
    for (unsigned long i = 0; i < sessions; i++) {
        run_session(w);
        check_all(w);
        uint64_t r = rnd(w, 100);
        if (r < 5) {
            /* Reopen: capacity 0 accepts the file's. */
            assert_int_equal(slc_close(w->c), SLC_OK);
            open_handle(w, rnd(w, 2) ? 0 : w->m.cap);
            w->reopens++;
            check_all(w);
        } else if (r < 7 || (w->m.hw == w->m.cap && r < 50)) {
            new_round(w);
            check_all(w);
        }
    }
    slc__test_hook = NULL;
    print_message("model: %lu sessions, %lu rounds, %lu commits, %lu EFULL, "
                  "%lu EOUTOFORDER, %lu abandoned, %lu reopens, %lu "
                  "rehashes, %lu replace-all, %lu timeouts\n",
                  sessions, w->rounds, w->commits, w->efull, w->eoutoforder,
                  w->aborts, w->reopens, rehashes, w->replace_alls,
                  w->timeouts);
    /* The run must have exercised every outcome. */
    if (sessions >= 1000) {
        assert_true(w->efull > 0);
        assert_true(w->eoutoforder > 0);
        assert_true(w->aborts > 0);
        assert_true(w->reopens > 0);
        assert_true(rehashes > 0);
        assert_true(w->replace_alls > 0);
        assert_true(w->timeouts > 0);
    }
    assert_int_equal(slc_close(w->c), SLC_OK);
    t_rmtree(w->dir);
    free(w->dir);
    free(w->path);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_random_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
