/* The cache's lifecycle calls (issue 13): SLC_CAPACITY_AT_LEAST, counting,
 * replace-all sessions, slc_begin_write_timeout, rebuild and reopen within
 * one process. Cross-process readers during rebuilds and crash injection
 * are in test_proc_rebuild.c. */
#include "core_helpers.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/file.h>

#define KS 16u
#define IS 8u

static slc_cache *open_or_die(const char *path, const slc_options *o)
{
    slc_cache *c = NULL;
    int rc = slc_open(path, o, &c);
    if (rc)
        fail_msg("slc_open %s: %s (%s)", path, slc_strerror(rc),
                 slc_errdetail());
    return c;
}

/* Keys [from, to) with revision rev, in one session. */
static void fill(slc_cache *c, uint64_t from, uint64_t to, int64_t rev)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = from; n < to; n++)
        assert_int_equal(cu_put(w, KS, IS, n, rev), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

static uint64_t capacity_of(slc_cache *c)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    return st.slot_capacity;
}

/* ---- SLC_CAPACITY_AT_LEAST --------------------------------------------- */

static void capacity_at_least(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 100, 1, SLC_CAPACITY_AT_LEAST);
    slc_cache *c = open_or_die(f->path, &o); /* creates with 100 */
    assert_int_equal(capacity_of(c), 100);
    fill(c, 0, 10, 1);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A smaller minimum keeps the file and its entries. */
    o.slot_capacity = 40;
    c = open_or_die(f->path, &o);
    assert_int_equal(capacity_of(c), 100);
    cu_expect_get(c, KS, IS, 3, 1);
    assert_int_equal(slc_close(c), SLC_OK);
    /* Equal too. */
    o.slot_capacity = 100;
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A larger minimum is a mismatch, named with the path. */
    o.slot_capacity = 101;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_null(c);
    assert_non_null(strstr(slc_errdetail(), "minimum"));
    assert_non_null(strstr(slc_errdetail(), f->path));

    /* Without the flag the spec's exact rule stands. */
    o.flags = 0;
    o.slot_capacity = 40;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_non_null(strstr(slc_errdetail(), f->path));
    /* Other fields are still compared exactly. */
    o.flags = SLC_CAPACITY_AT_LEAST;
    o.user_version = 2;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    /* Read-only opens accept the flag too. */
    o.user_version = 1;
    o.flags = SLC_CAPACITY_AT_LEAST | SLC_READ_ONLY;
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Counting ---------------------------------------------------------- */

static int visit_count(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(uint64_t *)ctx;
    return 0;
}

static int odd_key(const slc_entry *e, void *ctx)
{
    (void)ctx;
    return e->key[7] & 1;
}

/* Every count equals the number of visits of the same scan. */
static void check_counts(slc_cache *c, int ordered)
{
    static const uint64_t offsets[] = {0, 1, 7, 500};
    static const uint64_t limits[] = {0, 1, 10, 1000};
    uint8_t lo[KS], hi[KS], pat[2] = {0, 0};
    cu_key(lo, KS, 20);
    cu_key(hi, KS, 150);
    uint8_t val[2] = {0, 0}, msk[2] = {0x01, 0};
    slc_index_match m = {0, 1, val, msk};
    for (int fl = 0; fl < 2; fl++)
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                slc_scan_opts o = {fl ? odd_key : NULL, NULL,
                                   b & 1 ? SLC_SCAN_REVERSE : 0, offsets[a],
                                   limits[b]};
                uint64_t want = 0, got = 99;
                assert_int_equal(slc_scan(c, &o, visit_count, &want), SLC_OK);
                assert_int_equal(slc_count(c, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                slc_prefix p = {0, 9, pat, 2}; /* keys 0..127 */
                want = 0;
                assert_int_equal(slc_scan_prefix(c, &p, &o, visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_prefix(c, &p, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                want = 0;
                assert_int_equal(slc_scan_match(c, &m, &o, visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_match(c, &m, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                if (!ordered) {
                    assert_int_equal(slc_count_range(c, lo, KS, hi, KS, &o,
                                                     &got),
                                     SLC_EUNORDERED);
                    continue;
                }
                want = 0;
                assert_int_equal(slc_scan_range(c, lo, KS, hi, KS, &o,
                                                visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_range(c, lo, KS, hi, KS, &o, &got),
                                 SLC_OK);
                assert_int_equal(got, want);
            }
}

static void counting(void **state)
{
    fx *f = *state;
    for (int ordered = 0; ordered < 2; ordered++) {
        slc_options o = cu_opts(KS, IS, 1000, 1,
                                ordered ? SLC_ORDERED_KEYS : 0);
        slc_cache *c = open_or_die(f->path, &o);
        uint64_t n = 5;
        assert_int_equal(slc_count(c, NULL, &n), SLC_OK);
        assert_int_equal(n, 0);
        fill(c, 0, 300, 1);
        slc_writer *w;
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        for (uint64_t k = 0; k < 300; k += 3) {
            uint8_t key[KS];
            cu_key(key, KS, k);
            assert_int_equal(slc_delete(w, key, KS, NULL), SLC_OK);
        }
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_count(c, NULL, &n), SLC_OK);
        assert_int_equal(n, 200);
        check_counts(c, ordered);
        /* Streaming is accepted and counts the same. */
        slc_scan_opts so = {NULL, NULL, SLC_SCAN_STREAMING, 0, 0};
        assert_int_equal(slc_count(c, &so, &n), SLC_OK);
        assert_int_equal(n, 200);
        /* Errors: NULL count, bad options, bad predicates. */
        assert_int_equal(slc_count(c, NULL, NULL), SLC_EINVAL);
        assert_int_equal(slc_count(NULL, NULL, &n), SLC_EINVAL);
        so.flags = 1u << 5;
        assert_int_equal(slc_count(c, &so, &n), SLC_EINVAL);
        assert_int_equal(slc_count_prefix(c, NULL, NULL, &n), SLC_EINVAL);
        assert_int_equal(slc_count_match(c, NULL, NULL, &n), SLC_EINVAL);
        assert_int_equal(slc_close(c), SLC_OK);
        unlink(f->path);
    }
}

/* Slots above the 4 KiB stack record take the heap scratch record. */
static void counting_big_slots(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, 5000, 20, 1, SLC_ORDERED_KEYS);
    slc_cache *c = open_or_die(f->path, &o);
    slc_writer *w;
    static uint8_t ix[5000];
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t k = 0; k < 12; k++) {
        uint8_t key[KS];
        cu_key(key, KS, k);
        ix[0] = (uint8_t)k;
        assert_int_equal(slc_put(w, key, KS, 1, ix, sizeof ix), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint64_t n = 0;
    uint8_t lo[KS];
    cu_key(lo, KS, 4);
    assert_int_equal(slc_count_range(c, lo, KS, NULL, 0, NULL, &n), SLC_OK);
    assert_int_equal(n, 8);
    uint8_t val = 0, msk = 1;
    slc_index_match m = {0, 1, &val, &msk};
    slc_scan_opts so = {odd_key, NULL, 0, 0, 0};
    assert_int_equal(slc_count_match(c, &m, &so, &n), SLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slc_count_match(c, &m, NULL, &n), SLC_OK);
    assert_int_equal(n, 6);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- main -------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(capacity_at_least),
        T(counting),
        T(counting_big_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
