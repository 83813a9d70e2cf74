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

/* ---- main -------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(capacity_at_least),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
