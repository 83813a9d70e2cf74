/* The append path of slc_rebuild_put on unordered files (src/bulk.c):
 * the last put of a key wins wherever its first put went (still in the
 * slot buffer, or already written to the file), the result verifies and
 * holds exactly what an ordinary session would, more keys than slots is
 * SLC_EFULL at publication, and argument errors leave the rebuild usable. */
#include "core_helpers.h"

#define KS 16u
#define IS 32u /* 64-byte slots: 16,384 of them fill the 1 MiB slot buffer */

typedef struct entry {
    uint8_t key[KS];
    int64_t rev;
    uint8_t ix[IS];
} entry;

static int collect(const slc_entry *e, void *ctx)
{
    t_buf *b = ctx;
    char hex[2 * (KS > IS ? KS : IS) + 1];
    t_hex_encode(e->key, KS, hex);
    t_buf_printf(b, "%s %lld ", hex, (long long)e->revision);
    t_hex_encode(e->index, IS, hex);
    t_buf_printf(b, "%s\n", hex);
    return 0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of the file as sorted text lines. */
static char *entries_of(const char *path)
{
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    t_buf b = {0};
    assert_int_equal(slc_scan(c, NULL, collect, &b), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    /* sort the lines */
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++)
        n += b.s[i] == '\n';
    char **lines = calloc(n + 1, sizeof *lines);
    size_t k = 0;
    /* memchr with a bound: strchr over the whole text per line is
     * quadratic under ASan's strict_string_checks. */
    for (char *p = b.s, *end = b.s + b.len; k < n; k++) {
        lines[k] = p;
        p = memchr(p, '\n', (size_t)(end - p));
        *p++ = 0;
    }
    qsort(lines, n, sizeof *lines, by_str);
    t_buf out = {0};
    for (size_t i = 0; i < n; i++)
        t_buf_printf(&out, "%s\n", lines[i]);
    free(lines);
    t_buf_free(&b);
    return out.s ? out.s : calloc(1, 1);
}

/* The puts: 40,000 keys, then every 7th again with revision 2 (its first
 * put long written to the file, or still buffered), and some keys put
 * twice in a row (the same batch). */
static void for_each_put(void (*fn)(void *, uint64_t, int64_t), void *ctx)
{
    for (uint64_t n = 0; n < 40000; n++) {
        fn(ctx, n, 1);
        if (n % 1000 == 5)
            fn(ctx, n, 3);
    }
    for (uint64_t n = 0; n < 40000; n += 7)
        fn(ctx, n, 2);
}

static void rebuild_put(void *ctx, uint64_t n, int64_t rev)
{
    uint8_t k[KS], ix[IS];
    cu_key(k, KS, n);
    cu_index(ix, IS, n, rev);
    assert_int_equal(slc_rebuild_put(ctx, k, KS, rev, ix, IS), SLC_OK);
}

static void session_put(void *ctx, uint64_t n, int64_t rev)
{
    assert_int_equal(cu_put(ctx, KS, IS, n, rev), SLC_OK);
}

static void last_put_wins(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 50000, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    for_each_put(rebuild_put, r);
    uint64_t flags = 99;
    assert_int_equal(slc_rebuild_user_header(r, &flags, NULL), SLC_OK);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);

    slc_options ro = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &ro, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(st.live_count, 40000);
    assert_int_equal(st.slot_highwater, 40000);
    assert_int_equal(st.generation, 2);
    uint64_t uf = 0;
    assert_int_equal(slc_user_header(c, &uf, NULL), SLC_OK);
    assert_int_equal(uf, 99);
    for (uint64_t n = 0; n < 40000; n++)
        cu_expect_get(c, KS, IS, n, n % 7 == 0 ? 2 : n % 1000 == 5 ? 3 : 1);
    cu_expect_absent(c, KS, 40000);
    assert_int_equal(slc_close(c), SLC_OK);

    /* The same puts through one ordinary session: the same entries. */
    char *other = t_join(f->dir, "session.slc");
    slc_cache *s;
    assert_int_equal(slc_open(other, &o, &s), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(s, &w), SLC_OK);
    for_each_put(session_put, w);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(s), SLC_OK);
    char *a = entries_of(f->path), *b = entries_of(other);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(other);
}

static void more_keys_than_slots(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    for (uint64_t n = 0; n < 10; n++) /* fills every slot, twice */
        rebuild_put(r, n, 1), rebuild_put(r, n, 2);
    rebuild_put(r, 10, 1); /* the eleventh key */
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_EFULL);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_false(cu_exists(f->path)); /* nothing was published */
}

static void argument_errors_keep_it_usable(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    slc_rebuild *r;
    uint8_t k[KS] = {1}, ix[IS] = {2};
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    assert_int_equal(slc_rebuild_put(r, NULL, KS, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_rebuild_put(r, k, KS - 1, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_rebuild_put(r, k, KS, 1, ix, IS - 1), SLC_EINVAL);
    assert_int_equal(slc_rebuild_put(r, k, KS, 1, NULL, IS), SLC_EINVAL);
    assert_int_equal(slc_rebuild_put(r, k, KS, 1, ix, IS), SLC_OK);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    slc_cache *c;
    slc_options ro = cu_opts(KS, IS, 0, 1, 0);
    assert_int_equal(slc_open(f->path, &ro, &c), SLC_OK);
    uint64_t live = 0;
    assert_int_equal(slc_len(c, &live), SLC_OK);
    assert_int_equal(live, 1);
    assert_int_equal(slc_close(c), SLC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(last_put_wins, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(more_keys_than_slots, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(argument_errors_keep_it_usable,
                                        cu_fx_setup, cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
