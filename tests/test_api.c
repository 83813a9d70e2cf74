/* Public API contract: argument validation, status strings and detail,
 * version, and slc_stat_get. Writer semantics (staging, coalescing,
 * capacity and ordered-mode checks, user-header staging, rehash, isolation
 * of staged writes) are in test_writer.c. */
#include "core_helpers.h"

#include <limits.h>
#include <pthread.h>

enum { KS = 16, IS = 8 };

static int noop_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    (void)ctx;
    return 0;
}

/* ---- Argument validation ---------------------------------------------- */

static void args_open(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    slc_cache *c = (slc_cache *)(uintptr_t)1;
    assert_int_equal(slc_open(NULL, &o, &c), SLC_EINVAL);
    assert_null(c);
    assert_int_equal(slc_open(f->path, NULL, &c), SLC_EINVAL);
    assert_int_equal(slc_open(f->path, &o, NULL), SLC_EINVAL);
    assert_int_equal(slc_open("", &o, &c), SLC_EINVAL);
    static const uint32_t bad_flags[] = {1u << 3,  1u << 4,  1u << 8,
                                         1u << 15, 1u << 18, 1u << 31};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        o.flags = bad_flags[i];
        c = (slc_cache *)(uintptr_t)1;
        assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
        assert_null(c);
        assert_true(strstr(slc_errdetail(), "flag") != NULL);
    }
    o = cu_opts(0, IS, 10, 1, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    o = cu_opts(513, IS, 10, 1, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    o = cu_opts(KS, SLC_MAX_INDEX_SIZE + 1, 10, 1, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    o = cu_opts(KS, IS, SLC_MAX_SLOT_CAPACITY + 1ull, 1, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    assert_false(cu_exists(f->path));
    /* Boundary values are accepted. */
    o = cu_opts(SLC_MAX_KEY_SIZE, 0, 1, 1, SLC_ORDERED_KEYS | SLC_NO_LOCK |
                                               SLC_WRITEBACK_SYNC);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    slc_options got;
    assert_int_equal(slc_read_options(NULL, &got), SLC_EINVAL);
    assert_int_equal(slc_read_options(f->path, NULL), SLC_EINVAL);
    assert_int_equal(slc_close(NULL), SLC_OK);
    assert_int_equal(slc_invalidate(NULL), SLC_EINVAL);
    assert_int_equal(slc_verify(NULL), SLC_EINVAL);
}

static void args_reads(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    uint64_t v;
    uint8_t data[64];
    slc_stat st;
    assert_int_equal(slc_len(NULL, &v), SLC_EINVAL);
    assert_int_equal(slc_len(c, NULL), SLC_EINVAL);
    assert_int_equal(slc_generation(NULL, &v), SLC_EINVAL);
    assert_int_equal(slc_generation(c, NULL), SLC_EINVAL);
    assert_int_equal(slc_user_header(NULL, &v, data), SLC_EINVAL);
    assert_int_equal(slc_user_header(c, NULL, NULL), SLC_OK);
    assert_int_equal(slc_user_header(c, &v, NULL), SLC_OK);
    assert_int_equal(slc_user_header(c, NULL, data), SLC_OK);
    assert_int_equal(slc_stat_get(NULL, &st), SLC_EINVAL);
    assert_int_equal(slc_stat_get(c, NULL), SLC_EINVAL);

    uint8_t k[KS + 1] = {0}, ix[IS + 1];
    int64_t rev;
    assert_int_equal(slc_get(NULL, k, KS, &rev, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_get(c, NULL, KS, &rev, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, KS - 1, &rev, ix, IS), SLC_EINVAL);
    assert_true(strstr(slc_errdetail(), "key") != NULL);
    assert_int_equal(slc_get(c, k, KS + 1, &rev, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, 0, &rev, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, KS, &rev, ix, IS - 1), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, KS, &rev, ix, IS + 1), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, KS, &rev, ix, 0), SLC_EINVAL);
    assert_int_equal(slc_get(c, k, KS, &rev, NULL, 3), SLC_EINVAL);
    /* Optional outputs. */
    assert_int_equal(slc_get(c, k, KS, NULL, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(slc_get(c, k, KS, &rev, ix, IS), SLC_NOTFOUND);

    slc_scan_opts so = {NULL, NULL, 0, 0, 0};
    assert_int_equal(slc_scan(NULL, &so, noop_visit, NULL), SLC_EINVAL);
    assert_int_equal(slc_scan(c, &so, NULL, NULL), SLC_EINVAL);
    assert_int_equal(slc_scan(c, NULL, noop_visit, NULL), SLC_OK);
    static const uint32_t bad_flags[] = {1u << 2, 1u << 7, 1u << 31};
    for (size_t i = 0; i < 3; i++) {
        so.flags = bad_flags[i];
        assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_EINVAL);
    }
    so.flags = SLC_SCAN_REVERSE | SLC_SCAN_STREAMING;
    assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_OK);
    so.flags = 0;
    so.offset = SLC_MAX_SCAN_OFFSET + 1ull;
    assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_EINVAL);
    so.offset = SLC_MAX_SCAN_OFFSET;
    assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_OK);
    so.offset = 0;
    so.limit = SLC_MAX_SCAN_LIMIT + 1ull;
    assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_EINVAL);
    so.limit = SLC_MAX_SCAN_LIMIT;
    assert_int_equal(slc_scan(c, &so, noop_visit, NULL), SLC_OK);

    uint8_t pat[KS + 1] = {0xAB, 0xC0};
    slc_prefix p = {0, 0, pat, 1};
    assert_int_equal(slc_scan_prefix(NULL, &p, NULL, noop_visit, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_prefix(c, NULL, NULL, noop_visit, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_prefix(c, &p, NULL, NULL, NULL), SLC_EINVAL);
    so.limit = 0;
    so.flags = 1u << 5;
    assert_int_equal(slc_scan_prefix(c, &p, &so, noop_visit, NULL), SLC_EINVAL);
    assert_int_equal(slc_scan_prefix(c, &p, NULL, noop_visit, NULL), SLC_OK);
    static const slc_prefix bad[] = {
        {0, 0, NULL, 0},   /* bits 0, len 0 */
        {KS, 0, NULL, 1},  /* offset >= key_size */
        {10, 0, NULL, 7},  /* offset + len > key_size */
        {15, 10, NULL, 2}, /* offset + ceil(bits/8) > key_size */
        {0, 10, NULL, 1},  /* len != ceil(bits/8) */
        {0, 10, NULL, 3},
        {0, 8, NULL, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        slc_prefix q = bad[i];
        q.bytes = pat;
        assert_int_equal(slc_scan_prefix(c, &q, NULL, noop_visit, NULL),
                         SLC_EINVAL);
    }
    p.bytes = NULL; /* NULL pattern with len > 0 */
    assert_int_equal(slc_scan_prefix(c, &p, NULL, noop_visit, NULL),
                     SLC_EINVAL);
    slc_prefix ok = {14, 10, pat, 2};
    assert_int_equal(slc_scan_prefix(c, &ok, NULL, noop_visit, NULL), SLC_OK);

    /* Range scans on an unordered file: EUNORDERED whatever the bounds. */
    assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, NULL, noop_visit, NULL),
                     SLC_EUNORDERED);
    assert_int_equal(slc_scan_range(c, k, 0, k, 99, NULL, NULL, NULL),
                     SLC_EUNORDERED);
    assert_int_equal(
        slc_scan_range(NULL, NULL, 0, NULL, 0, NULL, noop_visit, NULL),
        SLC_EINVAL);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    char *po = t_join(f->dir, "ordered.slc");
    c = cu_open(po, KS, IS, 10, SLC_ORDERED_KEYS);
    uint8_t a[KS] = {1}, b[KS] = {2};
    assert_int_equal(slc_scan_range(c, a, KS, b, KS, NULL, NULL, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(c, a, 0, b, KS, NULL, noop_visit, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(c, a, KS, b, KS + 1, NULL, noop_visit,
                                    NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(c, b, KS, a, KS, NULL, noop_visit, NULL),
                     SLC_EINVAL); /* start > end */
    so.flags = 1u << 4;
    assert_int_equal(slc_scan_range(c, a, KS, b, KS, &so, noop_visit, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(c, a, 1, b, 1, NULL, noop_visit, NULL),
                     SLC_OK);
    assert_int_equal(slc_scan_range(c, a, KS, a, KS, NULL, noop_visit, NULL),
                     SLC_OK);
    assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, NULL, noop_visit,
                                    NULL),
                     SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    free(po);
}

static void args_writer(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    slc_writer *w = (slc_writer *)(uintptr_t)1;
    assert_int_equal(slc_begin_write(NULL, &w), SLC_EINVAL);
    assert_null(w);
    assert_int_equal(slc_begin_write(c, NULL), SLC_EINVAL);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);

    uint8_t k[KS + 1] = {7}, ix[IS + 1] = {9};
    uint8_t data[64] = {0};
    int existed = -1;
    assert_int_equal(slc_put(NULL, k, KS, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_put(w, NULL, KS, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS - 1, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS + 1, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS, 1, ix, IS - 1), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS, 1, ix, IS + 1), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS, 1, ix, 0), SLC_EINVAL);
    assert_int_equal(slc_put(w, k, KS, 1, NULL, IS), SLC_EINVAL);
    assert_int_equal(slc_delete(NULL, k, KS, &existed), SLC_EINVAL);
    assert_int_equal(slc_delete(w, NULL, KS, &existed), SLC_EINVAL);
    assert_int_equal(slc_delete(w, k, KS - 1, &existed), SLC_EINVAL);
    assert_int_equal(slc_delete(w, k, 0, &existed), SLC_EINVAL);
    assert_int_equal(existed, -1);
    assert_int_equal(slc_set_user_flags(NULL, 1), SLC_EINVAL);
    assert_int_equal(slc_set_user_data(NULL, data), SLC_EINVAL);
    assert_int_equal(slc_set_user_data(w, NULL), SLC_EINVAL);
    assert_int_equal(slc_commit(NULL), SLC_EINVAL);
    assert_int_equal(slc_writer_close(NULL), SLC_OK);
    /* Failed staging calls leave the session intact. */
    assert_int_equal(slc_put(w, k, KS, 5, ix, IS), SLC_OK);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK); /* existed NULL */
    assert_int_equal(slc_put(w, k, KS, 6, ix, IS), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    int64_t rev = 0;
    uint8_t got[IS];
    assert_int_equal(slc_get(c, k, KS, &rev, got, IS), SLC_OK);
    assert_int_equal(rev, 6);
    assert_memory_equal(got, ix, IS);
    assert_int_equal(cu_len(c), 1);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* index_size 0: NULL index or any pointer with length 0. */
static void args_index_size_0(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(4, 0, 10, 1, 0);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    uint8_t junk[4] = {1, 2, 3, 4};
    assert_int_equal(slc_put(w, "aaaa", 4, 1, NULL, 0), SLC_OK);
    assert_int_equal(slc_put(w, "bbbb", 4, 2, junk, 0), SLC_OK);
    assert_int_equal(slc_put(w, "cccc", 4, 3, junk, 1), SLC_EINVAL);
    assert_int_equal(slc_put(w, "cccc", 4, 3, NULL, 1), SLC_EINVAL);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    int64_t rev = 0;
    assert_int_equal(slc_get(c, "aaaa", 4, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, 1);
    assert_int_equal(slc_get(c, "bbbb", 4, &rev, junk, 0), SLC_OK);
    assert_int_equal(rev, 2);
    assert_int_equal(slc_get(c, "cccc", 4, &rev, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(slc_get(c, "aaaa", 4, &rev, junk, 1), SLC_EINVAL);
    cu_seen *s = cu_scan_all(c, 4);
    assert_int_equal(s->n, 2);
    free(s);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Strings, detail, version ------------------------------------------ */

static void strerror_every_code(void **state)
{
    (void)state;
    static const int codes[] = {
        SLC_OK,          SLC_NOTFOUND,    SLC_ECORRUPT, SLC_EINCOMPATIBLE,
        SLC_EINVALIDATED, SLC_EBUSY,      SLC_EFULL,    SLC_ECLOSED,
        SLC_EWRITEBACK,  SLC_EINVAL,      SLC_EUNORDERED, SLC_EOUTOFORDER,
        SLC_ENOMEM,      SLC_ESYS};
    const size_t n = sizeof codes / sizeof codes[0];
    /* Values are ABI. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(codes[i], i == 0 ? 0 : i == 1 ? 1 : -(int)(i - 1));
    const char *unknown = slc_strerror(-99);
    assert_non_null(unknown);
    assert_true(unknown[0] != '\0');
    for (size_t i = 0; i < n; i++) {
        const char *s = slc_strerror(codes[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        assert_string_not_equal(s, unknown);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, slc_strerror(codes[j]));
    }
    static const int others[] = {2, -13, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        const char *s = slc_strerror(others[i]);
        assert_non_null(s);
        assert_string_equal(s, unknown);
    }
}

static void *fresh_thread_detail(void *arg)
{
    const char **out = arg;
    out[0] = slc_errdetail()[0] == '\0' ? "empty" : "set";
    slc_options o = cu_opts(0, 0, 1, 0, 0);
    slc_cache *c;
    int rc = slc_open("/nonexistent/x.slc", &o, &c);
    out[1] = rc == SLC_EINVAL && slc_errdetail()[0] ? "failed" : "?";
    return NULL;
}

static void errdetail_specific(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    cu_make(f->path, &o, 3);

    /* Thread-local: a new thread starts with "", its failures stay its own. */
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    uint64_t v;
    assert_int_equal(slc_len(c, NULL), SLC_EINVAL);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", slc_errdetail());
    assert_true(strstr(mine, "slc_len") != NULL);
    const char *out[2] = {NULL, NULL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fresh_thread_detail, out), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(out[0], "empty");
    assert_string_equal(out[1], "failed");
    assert_string_equal(slc_errdetail(), mine);
    assert_int_equal(slc_len(c, &v), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    /* CRC mismatch names the crc. */
    cu_set64(f->path, SLC__OFF_USER_FLAGS, 42);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_ECORRUPT);
    assert_true(strstr(slc_errdetail(), "crc") != NULL);
    cu_fix_crc(f->path);
    /* Configuration mismatch names the field and both values. */
    o.user_version = 77;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_true(strstr(slc_errdetail(), "user_version") != NULL);
    assert_true(strstr(slc_errdetail(), "77") != NULL);
    o.user_version = 1;
    o.key_size = 15;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_true(strstr(slc_errdetail(), "key_size") != NULL);
    o.key_size = KS;
    o.flags = 1u << 9;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    assert_true(strstr(slc_errdetail(), "flag") != NULL);
    o.flags = 0;
    /* Capacity exhausted: mentions the slots. */
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t i = 100; i < 108; i++)
        assert_int_equal(cu_put(w, KS, IS, i, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_true(strstr(slc_errdetail(), "slots") != NULL);
    assert_int_equal(slc_put(w, "0123456789abcdef", KS, 1, NULL, 0),
                     SLC_ECLOSED);
    assert_true(strstr(slc_errdetail(), "ended") != NULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void version_matches_macros(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", SLC_VERSION_MAJOR,
             SLC_VERSION_MINOR, SLC_VERSION_PATCH);
    assert_non_null(slc_version());
    assert_string_equal(slc_version(), want);
    assert_int_equal(SLC_VERSION_NUMBER, (SLC_VERSION_MAJOR << 16) |
                                             (SLC_VERSION_MINOR << 8) |
                                             SLC_VERSION_PATCH);
}

/* ---- slc_stat_get -------------------------------------------------------- */

static void stat_fields(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(10, 5, 30, 42, SLC_ORDERED_KEYS);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 5; n++)
        assert_int_equal(cu_put(w, 10, 5, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    uint8_t k[10];
    cu_key(k, 10, 2);
    assert_int_equal(slc_delete(w, k, 10, NULL), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    slc_stat st;
    memset(&st, 0xFF, sizeof st);
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(st.key_size, 10);
    assert_int_equal(st.index_size, 5);
    assert_int_equal(st.slot_size, 40);
    assert_int_equal(st.flags, 1);
    assert_int_equal(st.slot_capacity, 30);
    assert_int_equal(st.slot_highwater, 5);
    assert_int_equal(st.live_count, 4);
    assert_int_equal(st.user_version, 42);
    assert_int_equal(st.generation, 4);
    assert_int_equal(st.bucket_count, 64);
    assert_int_equal(st.bucket_used, 4);
    assert_int_equal(st.bucket_tombstones, 1);
    assert_int_equal(st.file_size, 256 + 30 * 40 + 16 * 64);
    assert_int_equal(st.file_size, cu_file_size(f->path));
    assert_int_equal(slc_close(c), SLC_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(args_open),
        T(args_reads),
        T(args_writer),
        T(args_index_size_0),
        T(strerror_every_code),
        T(errdetail_specific),
        T(version_matches_macros),
        T(stat_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
