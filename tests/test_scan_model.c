/* Model-checked scans: random write sessions on ordered and unordered
 * files, each followed by random slc_scan / slc_scan_prefix /
 * slc_scan_range calls whose every visited entry (id, key, revision, index
 * bytes, order) and status are compared with a brute-force evaluation over
 * a model of the slot array. The model predicts slot ids itself from the
 * commit rules of SLC1 8.3, 8.7 and 16 (updates in place, inserts appended
 * in key order or in order of last staging, deletes keep their keys).
 *
 * Bounded work: FILES files x SESSIONS sessions x QUERIES queries. Prints
 * its seed; rerun with SLC_TEST_SEED=<seed>. */
#include "scan_util.h"

#include <inttypes.h>
#include <stdio.h>

enum { FILES = 32, SESSIONS = 40, QUERIES = 40, CAP = 300, MAX_KS = 12,
       MAX_IS = 8 };

/* A small byte alphabet makes shared prefixes (and bit-prefix edge cases:
 * 7f/80, fe/ff) common; sorted, so "a larger byte" is easy to pick. */
static const uint8_t alpha[] = {0x00, 0x01, 0x7f, 0x80, 0xa5, 0xfe, 0xff};
#define NALPHA (sizeof alpha / sizeof alpha[0])

typedef struct mslot {
    uint8_t key[MAX_KS];
    int64_t rev;
    uint8_t idx[MAX_IS];
    int live;
} mslot;

typedef struct model {
    uint32_t ks, is;
    int ordered;
    mslot s[CAP];
    uint64_t hw;
} model;

typedef struct staged {
    uint8_t key[MAX_KS];
    int del;
    int64_t rev;
    uint8_t idx[MAX_IS];
} staged;

static uint64_t rng;
static uint64_t seed;
static char where[160]; /* file / session / query, for failure messages */
/* Coverage: [kind][0 = error, 1 = empty, 2 = entries] */
static size_t outcomes[3][3];

static uint64_t rnd(uint64_t n) { return n ? t_rand(&rng) % n : 0; }

static void rand_key(const model *m, uint8_t *k)
{
    for (uint32_t i = 0; i < m->ks; i++)
        k[i] = alpha[rnd(NALPHA)];
}

static int64_t find_live(const model *m, const uint8_t *k)
{
    for (uint64_t i = 0; i < m->hw; i++)
        if (m->s[i].live && !memcmp(m->s[i].key, k, m->ks))
            return (int64_t)i;
    return -1;
}

/* A key >= the tail (ordered mode): keep a prefix of the tail, raise one
 * byte to a larger alphabet value, fill the rest at random. Falls back to
 * the tail itself when nothing larger exists. */
static void key_at_or_after_tail(const model *m, uint8_t *k)
{
    if (m->hw == 0 || rnd(8) == 0) {
        if (m->hw == 0)
            rand_key(m, k);
        else
            memcpy(k, m->s[m->hw - 1].key, m->ks);
        return;
    }
    const uint8_t *t = m->s[m->hw - 1].key;
    for (int tries = 0; tries < 8; tries++) {
        /* Deep positions first: long shared prefixes. */
        uint32_t p = m->ks - 1 - (uint32_t)rnd(rnd(2) ? 1 : m->ks);
        size_t a = 0;
        while (a < NALPHA && alpha[a] <= t[p])
            a++;
        if (a == NALPHA)
            continue;
        memcpy(k, t, p);
        k[p] = alpha[a + rnd(NALPHA - a)];
        for (uint32_t i = p + 1; i < m->ks; i++)
            k[i] = alpha[rnd(NALPHA)];
        return;
    }
    memcpy(k, t, m->ks);
}

static int by_key_ks;
static int cmp_staged_key(const void *a, const void *b)
{
    return memcmp(((const staged *const *)a)[0]->key,
                  ((const staged *const *)b)[0]->key, (size_t)by_key_ks);
}

/* One random session on file and model; returns the commit status. */
static int session(slc_cache *c, model *m)
{
    staged st[40];
    size_t n = 1 + rnd(sizeof st / sizeof st[0]);
    int want_bad_order = m->ordered && m->hw && rnd(12) == 0;
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (size_t i = 0; i < n; i++) {
        staged *s = &st[i];
        memset(s, 0, sizeof *s);
        int64_t pick = m->hw ? (int64_t)rnd(m->hw) : -1;
        uint64_t r = rnd(10);
        if (pick >= 0 && r < 3) {
            memcpy(s->key, m->s[pick].key, m->ks); /* existing key */
        } else if (m->ordered && !want_bad_order) {
            key_at_or_after_tail(m, s->key);
        } else {
            rand_key(m, s->key);
        }
        s->del = rnd(4) == 0;
        /* Ordered: re-putting a dead key below the tail fails the whole
         * commit (SLC_EOUTOFORDER); keep that to the bad-order sessions. */
        if (m->ordered && !want_bad_order && pick >= 0 && r < 3 &&
            !m->s[pick].live && (uint64_t)pick != m->hw - 1)
            s->del = 1;
        s->rev = (int64_t)t_rand(&rng);
        for (uint32_t j = 0; j < m->is; j++)
            s->idx[j] = (uint8_t)rnd(256);
        int rc;
        if (s->del) {
            rc = slc_delete(w, s->key, m->ks, NULL);
        } else {
            rc = slc_put(w, s->key, m->ks, s->rev, m->is ? s->idx : NULL,
                         m->is);
        }
        assert_int_equal(rc, SLC_OK);
    }
    /* Net operation per key: the last staging wins (SLC1 8.2). */
    staged *net[40];
    size_t nnet = 0;
    for (size_t i = n; i-- > 0;) {
        int seen = 0;
        for (size_t j = i + 1; j < n && !seen; j++)
            seen = !memcmp(st[j].key, st[i].key, m->ks);
        if (!seen)
            net[nnet++] = &st[i];
    }
    /* net[] is in descending order of last staging: reverse it. */
    for (size_t i = 0; i < nnet / 2; i++) {
        staged *t = net[i];
        net[i] = net[nnet - 1 - i];
        net[nnet - 1 - i] = t;
    }
    staged *ins[40];
    size_t nins = 0;
    for (size_t i = 0; i < nnet; i++)
        if (!net[i]->del && find_live(m, net[i]->key) < 0)
            ins[nins++] = net[i];
    if (m->ordered) {
        by_key_ks = (int)m->ks;
        qsort(ins, nins, sizeof ins[0], cmp_staged_key);
    }
    int want = SLC_OK;
    if (nins > CAP - m->hw)
        want = SLC_EFULL;
    else if (m->ordered && nins && m->hw &&
             memcmp(ins[0]->key, m->s[m->hw - 1].key, m->ks) < 0)
        want = SLC_EOUTOFORDER;
    int rc = slc_commit(w);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    if (rc != want)
        fail_msg("%s: commit %d, model wants %d (%s)", where, rc, want,
                 slc_errdetail());
    if (want != SLC_OK)
        return rc;
    for (size_t i = 0; i < nnet; i++) {
        int64_t id = find_live(m, net[i]->key);
        if (id < 0)
            continue;
        if (net[i]->del) {
            m->s[id].live = 0;
        } else {
            m->s[id].rev = net[i]->rev;
            memcpy(m->s[id].idx, net[i]->idx, m->is);
        }
    }
    for (size_t i = 0; i < nins; i++) {
        mslot *s = &m->s[m->hw++];
        memcpy(s->key, ins[i]->key, m->ks);
        s->rev = ins[i]->rev;
        memcpy(s->idx, ins[i]->idx, m->is);
        s->live = 1;
    }
    return rc;
}

/* ---- Queries ------------------------------------------------------------ */

enum { F_NONE, F_REV_ODD, F_IDX_LOW, F_KEY_BIT, F_REJECT, F_COUNT };

typedef struct fctx {
    const model *m;
    int kind;
    size_t calls;
    int bad; /* the filter saw something that is not a live model slot */
} fctx;

static int filter_eval(int kind, const model *m, const uint8_t *key,
                       int64_t rev, const uint8_t *idx)
{
    switch (kind) {
    case F_REV_ODD:
        return (rev & 1) != 0;
    case F_IDX_LOW:
        return m->is ? idx[m->is - 1] < 0x60 : (rev & 2) != 0;
    case F_KEY_BIT:
        return (key[m->ks - 1] & 0x80) != 0;
    case F_REJECT:
        return 0;
    default:
        return 1;
    }
}

static int filter_fn(const slc_entry *e, void *ctx)
{
    fctx *f = ctx;
    const model *m = f->m;
    f->calls++;
    /* Single process, no writer: the copy must be exactly the slot. */
    if (e->slot_id >= m->hw || !m->s[e->slot_id].live ||
        memcmp(e->key, m->s[e->slot_id].key, m->ks) ||
        e->revision != m->s[e->slot_id].rev ||
        (m->is ? !e->index || memcmp(e->index, m->s[e->slot_id].idx, m->is)
               : e->index != NULL))
        f->bad = 1;
    return filter_eval(f->kind, m, e->key, e->revision, e->index);
}

/* Bit-prefix match by the definition, one bit at a time. */
static int bits_match(const uint8_t *key, const uint8_t *pat, uint32_t bits)
{
    for (uint32_t b = 0; b < bits; b++) {
        int kb = key[b / 8] >> (7 - b % 8) & 1;
        int pb = pat[b / 8] >> (7 - b % 8) & 1;
        if (kb != pb)
            return 0;
    }
    return 1;
}

typedef struct query {
    int kind; /* 0 scan, 1 prefix, 2 range */
    slc_scan_opts o;
    int filter;
    slc_prefix p;
    uint8_t pat[MAX_KS + 2];
    int has_start, has_end;
    uint8_t start[MAX_KS + 1], end[MAX_KS + 1];
    size_t start_len, end_len;
} query;

/* Expected status and ids of a query, by brute force over the model. */
static int expect(const model *m, const query *q, uint64_t *ids, size_t *n)
{
    *n = 0;
    if (q->kind == 2 && !m->ordered)
        return SLC_EUNORDERED;
    uint8_t ps[MAX_KS], pe[MAX_KS];
    uint32_t bits = 0;
    if (q->kind == 1) {
        const slc_prefix *p = &q->p;
        size_t need = p->bits ? ((size_t)p->bits + 7) / 8 : p->len;
        if ((p->bits == 0 && p->len == 0) || p->offset >= m->ks ||
            (p->bits && p->len != need) || p->offset + need > m->ks ||
            !p->bytes)
            return SLC_EINVAL;
        bits = p->bits ? p->bits : (uint32_t)p->len * 8;
    }
    if (q->kind == 2) {
        if ((q->has_start && (q->start_len < 1 || q->start_len > m->ks)) ||
            (q->has_end && (q->end_len < 1 || q->end_len > m->ks)))
            return SLC_EINVAL;
        memset(ps, 0, sizeof ps);
        memset(pe, 0, sizeof pe);
        memcpy(ps, q->start, q->start_len);
        memcpy(pe, q->end, q->end_len);
        if (q->has_start && q->has_end && memcmp(ps, pe, m->ks) > 0)
            return SLC_EINVAL;
    }
    int reverse = (q->o.flags & SLC_SCAN_REVERSE) != 0;
    uint64_t skipped = 0;
    for (uint64_t n2 = 0; n2 < m->hw; n2++) {
        uint64_t id = reverse ? m->hw - 1 - n2 : n2;
        const mslot *s = &m->s[id];
        if (!s->live)
            continue;
        if (q->kind == 1 && !bits_match(s->key + q->p.offset, q->pat, bits))
            continue;
        if (q->kind == 2 &&
            ((q->has_start && memcmp(s->key, ps, m->ks) < 0) ||
             (q->has_end && memcmp(s->key, pe, m->ks) >= 0)))
            continue;
        if (!filter_eval(q->filter, m, s->key, s->rev, s->idx))
            continue;
        if (skipped < q->o.offset) {
            skipped++;
            continue;
        }
        ids[(*n)++] = id;
        if (q->o.limit && *n == q->o.limit)
            break;
    }
    return SLC_OK;
}

/* A bound or pattern source: usually a live or dead model key (so results
 * are not empty), sometimes random bytes. */
static const uint8_t *some_key(const model *m, uint8_t *buf)
{
    if (m->hw && rnd(5)) {
        return m->s[rnd(m->hw)].key;
    }
    rand_key(m, buf);
    return buf;
}

static void make_bound(const model *m, uint8_t *out, size_t *len)
{
    uint8_t tmp[MAX_KS];
    *len = 1 + rnd(m->ks);
    memcpy(out, some_key(m, tmp), m->ks);
    if (rnd(4) == 0)
        out[*len - 1] = (uint8_t)(out[*len - 1] + (rnd(2) ? 1 : 0xff));
    if (rnd(25) == 0)
        *len = rnd(2) ? 0 : m->ks + 1; /* invalid length */
}

static void make_query(const model *m, query *q)
{
    memset(q, 0, sizeof *q);
    /* Ranges on unordered files only need to show SLC_EUNORDERED. */
    uint64_t r = rnd(20);
    q->kind = r < 6 ? 0 : r < 13 || (!m->ordered && r < 18) ? 1 : 2;
    q->filter = rnd(3) ? F_NONE : (int)(1 + rnd(F_COUNT - 1));
    q->o.flags = (uint32_t)rnd(4); /* REVERSE | STREAMING */
    uint64_t live = 0;
    for (uint64_t i = 0; i < m->hw; i++)
        live += m->s[i].live;
    q->o.offset = rnd(2) ? 0 : rnd(live / 2 + 3);
    q->o.limit = rnd(2) ? 0 : rnd(live / 2 + 3);
    if (q->kind == 1) {
        slc_prefix *p = &q->p;
        p->offset = (uint32_t)rnd(m->ks);
        if (rnd(25) == 0)
            p->offset = m->ks + (uint32_t)rnd(3); /* invalid */
        uint32_t room = p->offset < m->ks ? m->ks - p->offset : 1;
        uint8_t tmp[MAX_KS];
        const uint8_t *src = some_key(m, tmp);
        if (rnd(4) == 0) {
            p->bits = 0;
            p->len = 1 + rnd(room);
        } else {
            p->bits = 1 + (uint32_t)rnd(room * 8);
            p->len = (p->bits + 7) / 8;
        }
        memcpy(q->pat, src + (p->offset < m->ks ? p->offset : 0),
               p->offset < m->ks ? room : 1);
        /* Bits past `bits` must not matter: scribble on them. */
        if (p->bits % 8)
            q->pat[p->len - 1] ^= (uint8_t)(rnd(256) >> (p->bits % 8));
        if (rnd(5) == 0) /* flip one significant bit: other matches */
        {
            uint32_t nb = p->bits ? p->bits : (uint32_t)p->len * 8;
            uint32_t b = (uint32_t)rnd(nb);
            q->pat[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
        }
        if (rnd(30) == 0)
            p->len += rnd(2) ? 1 : (size_t)-1; /* invalid (or 0) */
        p->bytes = rnd(40) ? q->pat : NULL;
    } else if (q->kind == 2) {
        q->has_start = rnd(4) != 0;
        q->has_end = rnd(4) != 0;
        if (q->has_start)
            make_bound(m, q->start, &q->start_len);
        if (q->has_end)
            make_bound(m, q->end, &q->end_len);
        /* Mostly valid: order the bounds unless the dice want start > end. */
        if (q->has_start && q->has_end && rnd(8) && q->start_len >= 1 &&
            q->start_len <= m->ks && q->end_len >= 1 && q->end_len <= m->ks) {
            uint8_t a[MAX_KS] = {0}, b[MAX_KS] = {0};
            memcpy(a, q->start, q->start_len);
            memcpy(b, q->end, q->end_len);
            if (memcmp(a, b, m->ks) > 0) {
                uint8_t t[MAX_KS + 1];
                size_t tl = q->start_len;
                memcpy(t, q->start, sizeof t);
                memcpy(q->start, q->end, sizeof t);
                memcpy(q->end, t, sizeof t);
                q->start_len = q->end_len;
                q->end_len = tl;
            }
        }
    }
}

static void run_query(slc_cache *c, const model *m, const query *q, int qn)
{
    static uint64_t ids[CAP];
    size_t nids;
    int want = expect(m, q, ids, &nids);
    fctx fc = {m, q->filter, 0, 0};
    slc_scan_opts o = q->o;
    if (q->filter != F_NONE) {
        o.filter = filter_fn;
        o.filter_ctx = &fc;
    }
    sc_list l;
    sc_list_init(&l, m->ks, m->is);
    int rc;
    if (q->kind == 0)
        rc = slc_scan(c, &o, sc_collect, &l);
    else if (q->kind == 1)
        rc = slc_scan_prefix(c, &q->p, &o, sc_collect, &l);
    else
        rc = slc_scan_range(c, q->has_start ? q->start : NULL, q->start_len,
                            q->has_end ? q->end : NULL, q->end_len, &o,
                            sc_collect, &l);
    char desc[512];
    snprintf(desc, sizeof desc,
             "%s query %d kind %d flags %u off %" PRIu64 " lim %" PRIu64
             " filter %d prefix(off %u bits %u len %zu)",
             where, qn, q->kind, q->o.flags, q->o.offset, q->o.limit, q->filter,
             q->p.offset, q->p.bits, q->p.len);
    if (rc != want)
        fail_msg("%s: rc %d, model %d (%s)", desc, rc, want, slc_errdetail());
    if (l.n != nids)
        fail_msg("%s: %zu entries, model %zu", desc, l.n, nids);
    if (fc.bad)
        fail_msg("%s: filter saw a slot unlike the model", desc);
    for (size_t i = 0; i < l.n; i++) {
        const mslot *s = &m->s[ids[i]];
        if (l.id[i] != ids[i] || memcmp(sc_key(&l, i), s->key, m->ks) ||
            l.rev[i] != s->rev ||
            (m->is && memcmp(sc_idx(&l, i), s->idx, m->is)))
            fail_msg("%s: entry %zu is slot %" PRIu64 ", model slot %" PRIu64,
                     desc, i, l.id[i], ids[i]);
    }
    assert_int_equal(l.index_null, m->is ? 0 : l.n);
    outcomes[q->kind][rc != SLC_OK ? 0 : l.n ? 2 : 1]++;
    sc_list_free(&l);
}

static void model_scans(void **state)
{
    (void)state;
    seed = t_seed("test_scan_model");
    rng = seed;
    static const uint32_t key_sizes[] = {1, 2, 3, 5, 8, 12};
    static const uint32_t index_sizes[] = {0, 1, 3, 8};
    char *dir = t_tmpdir();
    static model m;
    size_t queries = 0, commits_ok = 0, commits_failed = 0;
    for (int f = 0; f < FILES; f++) {
        memset(&m, 0, sizeof m);
        m.ks = key_sizes[rnd(sizeof key_sizes / sizeof key_sizes[0])];
        m.is = index_sizes[rnd(sizeof index_sizes / sizeof index_sizes[0])];
        m.ordered = f % 2;
        char name[32];
        snprintf(name, sizeof name, "m%d.slc", f);
        slc_options o = sc_opts(m.ks, m.is, CAP,
                                m.ordered ? SLC_ORDERED_KEYS : 0);
        slc_cache *c = sc_open(dir, name, &o);
        for (int s = 0; s < SESSIONS; s++) {
            snprintf(where, sizeof where,
                     "seed %" PRIu64 " file %d (ks %u is %u ordered %d) "
                     "session %d",
                     seed, f, m.ks, m.is, m.ordered, s);
            if (session(c, &m) == SLC_OK)
                commits_ok++;
            else
                commits_failed++;
            /* The whole array, always. */
            query all;
            memset(&all, 0, sizeof all);
            run_query(c, &m, &all, -1);
            for (int qn = 0; qn < QUERIES; qn++) {
                query q;
                make_query(&m, &q);
                run_query(c, &m, &q, qn);
                queries++;
            }
        }
        assert_int_equal(slc_verify(c), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
    }
    fprintf(stderr,
            "[test_scan_model] %zu random queries, %zu commits (%zu refused "
            "by EFULL/EOUTOFORDER) over %d files\n",
            queries, commits_ok + commits_failed, commits_failed, FILES);
    for (int k = 0; k < 3; k++)
        fprintf(stderr, "  %-6s error %zu, empty %zu, with entries %zu\n",
                k == 0 ? "scan" : k == 1 ? "prefix" : "range", outcomes[k][0],
                outcomes[k][1], outcomes[k][2]);
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_scans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
