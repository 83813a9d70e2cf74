/* slc_scan_match: the built-in index predicate against a brute-force model
 * built from a plain slc_scan, plus every invalid form. */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#define KEY 12
#define INDEX 20
#define CAP 600

typedef struct rec {
    uint64_t id;
    int64_t rev;
    uint8_t key[KEY], index[INDEX];
} rec;

typedef struct recs {
    rec *v;
    size_t n;
} recs;

static int collect(const slc_entry *e, void *ctx)
{
    recs *r = ctx;
    rec *x = &r->v[r->n++];
    x->id = e->slot_id;
    x->rev = e->revision;
    memcpy(x->key, e->key, KEY);
    memcpy(x->index, e->index, INDEX);
    return 0;
}

static int odd_revision(const slc_entry *e, void *ctx)
{
    (void)ctx;
    return e->revision & 1;
}

static int matches(const rec *x, const slc_index_match *m)
{
    const uint8_t *v = m->value, *k = m->mask;
    for (uint32_t i = 0; i < m->len; i++) {
        uint8_t mk = k ? k[i] : 0xFF;
        if ((x->index[m->offset + i] & mk) != (v[i] & mk))
            return 0;
    }
    return 1;
}

/* A file with CAP slots, some deleted, index bytes drawn from few values
 * so that random predicates match a useful fraction. */
static slc_cache *build(const char *path, uint64_t *rng)
{
    slc_options o = {KEY, INDEX, 0, CAP, 0};
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (int i = 0; i < CAP; i++) {
        uint8_t key[KEY] = {0}, index[INDEX];
        memcpy(key, &i, sizeof i);
        for (int b = 0; b < INDEX; b++)
            index[b] = (uint8_t)(t_rand(rng) % 4 * 0x41);
        assert_int_equal(slc_put(w, key, KEY, (int64_t)t_rand(rng), index,
                                 INDEX),
                         SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (int i = 0; i < CAP; i += 7) {
        uint8_t key[KEY] = {0};
        memcpy(key, &i, sizeof i);
        assert_int_equal(slc_delete(w, key, KEY, NULL), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    return c;
}

static void random_matches_agree_with_model(void **state)
{
    (void)state;
    uint64_t rng = t_seed("scan_match");
    char *dir = t_tmpdir();
    char *path = t_join(dir, "m.slc");
    slc_cache *c = build(path, &rng);
    recs all = {calloc(CAP, sizeof(rec)), 0};
    assert_int_equal(slc_scan(c, NULL, collect, &all), SLC_OK);
    recs got = {calloc(CAP, sizeof(rec)), 0};
    rec *want = calloc(CAP, sizeof(rec));
    size_t nonempty = 0;
    for (int round = 0; round < 3000; round++) {
        uint8_t value[INDEX], mask[INDEX];
        slc_index_match m;
        m.len = 1 + (uint32_t)(t_rand(&rng) % INDEX);
        m.offset = (uint32_t)(t_rand(&rng) % (INDEX - m.len + 1));
        for (uint32_t i = 0; i < m.len; i++) {
            value[i] = (uint8_t)(t_rand(&rng) % 4 * 0x41);
            mask[i] = (uint8_t)t_rand(&rng);
        }
        if (m.len > 3 && t_rand(&rng) % 2) /* mostly wildcards: many hits */
            memset(mask, 0, m.len - 2);
        m.value = value;
        m.mask = t_rand(&rng) % 3 ? mask : NULL;
        slc_scan_opts o = {t_rand(&rng) % 4 ? NULL : odd_revision, NULL, 0,
                           t_rand(&rng) % 3, t_rand(&rng) % 4};
        o.flags = (uint32_t)(t_rand(&rng) % 4); /* reverse x streaming */
        size_t n = 0;
        for (size_t i = 0; i < all.n; i++) {
            size_t j = o.flags & SLC_SCAN_REVERSE ? all.n - 1 - i : i;
            if (matches(&all.v[j], &m) &&
                (!o.filter || odd_revision(&(slc_entry){.revision =
                                                            all.v[j].rev},
                                           NULL)))
                want[n++] = all.v[j];
        }
        size_t from = n < o.offset ? n : (size_t)o.offset;
        size_t count = n - from;
        if (o.limit && count > o.limit)
            count = (size_t)o.limit;
        got.n = 0;
        assert_int_equal(slc_scan_match(c, &m, &o, collect, &got), SLC_OK);
        assert_int_equal(got.n, count);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(got.v[i].id, want[from + i].id);
            assert_memory_equal(&got.v[i], &want[from + i], sizeof(rec));
        }
        nonempty += count > 0;
    }
    assert_true(nonempty > 300); /* the predicates were not all empty */
    free(want);
    free(got.v);
    free(all.v);
    assert_int_equal(slc_close(c), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

static int count_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

static void invalid_forms(void **state)
{
    (void)state;
    uint64_t rng = 7;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "m.slc");
    slc_cache *c = build(path, &rng);
    uint8_t v[SLC_MAX_MATCH_LEN + 1] = {0};
    int n = 0;
    slc_index_match ok = {0, 1, v, NULL};
    assert_int_equal(slc_scan_match(NULL, &ok, NULL, count_visit, &n),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_match(c, NULL, NULL, count_visit, &n),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_match(c, &ok, NULL, NULL, &n), SLC_EINVAL);
    slc_index_match bad[] = {
        {0, 0, v, NULL},                  /* empty */
        {0, INDEX + 1, v, NULL},          /* longer than the index */
        {INDEX, 1, v, NULL},              /* past the end */
        {UINT32_MAX, 2, v, NULL},         /* offset overflow */
        {0, SLC_MAX_MATCH_LEN + 1, v, NULL},
        {3, 2, NULL, NULL},               /* no value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(slc_scan_match(c, &bad[i], NULL, count_visit, &n),
                         SLC_EINVAL);
        assert_true(slc_errdetail()[0] != 0);
    }
    slc_scan_opts badflags = {NULL, NULL, 1u << 7, 0, 0};
    assert_int_equal(slc_scan_match(c, &ok, &badflags, count_visit, &n),
                     SLC_EINVAL);
    assert_int_equal(n, 0);
    slc_index_match last = {INDEX - 1, 1, v, NULL};
    assert_int_equal(slc_scan_match(c, &last, NULL, count_visit, &n), SLC_OK);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_scan_match(c, &bad[0], NULL, count_visit, &n),
                     SLC_EINVALIDATED); /* invalidated is reported first */
    assert_int_equal(slc_close(c), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_matches_agree_with_model),
        cmocka_unit_test(invalid_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
