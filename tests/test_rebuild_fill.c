/* The append path of slc_rebuild_put on unordered files (src/bulk.c):
 * the last put of a key wins wherever its first put went (still in the
 * slot buffer, or already written to the file), the result verifies and
 * holds exactly what an ordinary session would, slots are in first-put
 * order, keys whose probe crosses a 1 MiB partition of buckets or wraps
 * around the table are found, puts past slot_capacity merge when their
 * keys repeat, more distinct keys than slots is SLC_EFULL at publication,
 * untouched buckets stay holes, and argument errors leave the rebuild
 * usable. */
#include "core_helpers.h"

#include <sys/statfs.h>

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

/* Open the rebuilt file, check it verifies and holds live entries in as
 * many slots; its stat in *st. */
static slc_cache *open_rebuilt(const char *path, uint64_t live, slc_stat *st)
{
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_stat_get(c, st), SLC_OK);
    assert_int_equal(st->live_count, live);
    assert_int_equal(st->slot_highwater, live);
    return c;
}

static void expect_zero_slots(const char *path, const slc_stat *st,
                              uint64_t from, uint64_t to)
{
    if (from >= to)
        return;
    size_t len = (size_t)((to - from) * st->slot_size);
    uint8_t *got = malloc(len), *zero = calloc(1, len);
    assert_non_null(got);
    assert_non_null(zero);
    cu_pread(path, SLC__HEADER_SIZE + from * st->slot_size, got, len);
    assert_memory_equal(got, zero, len);
    free(got);
    free(zero);
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

    slc_stat st;
    slc_cache *c = open_rebuilt(f->path, 40000, &st);
    assert_int_equal(st.generation, 2);
    uint64_t uf = 0;
    assert_int_equal(slc_user_header(c, &uf, NULL), SLC_OK);
    assert_int_equal(uf, 99);
    for (uint64_t n = 0; n < 40000; n++)
        cu_expect_get(c, KS, IS, n, n % 7 == 0 ? 2 : n % 1000 == 5 ? 3 : 1);
    cu_expect_absent(c, KS, 40000);
    assert_int_equal(slc_close(c), SLC_OK);
    /* 45,754 puts took slots before the repeated keys were merged: the
     * slots from the highwater on are zero again (SLC1 7). */
    expect_zero_slots(f->path, &st, 40000, 50000);

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
    /* One slot, two buckets, three keys put twice each: more keys than
     * buckets must end (SLC_EFULL), not probe forever for a free one. */
    slc_options one = cu_opts(KS, IS, 1, 1, 0);
    assert_int_equal(slc_rebuild_begin(f->path, &one, &r), SLC_OK);
    for (uint64_t n = 0; n < 6; n++)
        rebuild_put(r, n % 3, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_EFULL);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_false(cu_exists(f->path));
    /* The same with no key repeated. */
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    for (uint64_t n = 0; n < 11; n++)
        rebuild_put(r, n, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_EFULL);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_false(cu_exists(f->path));
}

/* Keys in slot order (a scan walks the slots). */
static int key_of_slot(const slc_entry *e, void *ctx)
{
    t_buf *b = ctx;
    char hex[2 * KS + 1];
    t_hex_encode(e->key, KS, hex);
    t_buf_printf(b, "%s\n", hex);
    return 0;
}

static void expect_slot_order(const char *path, const uint64_t *first,
                              size_t n)
{
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    t_buf got = {0}, want = {0};
    assert_int_equal(slc_scan(c, NULL, key_of_slot, &got), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    for (size_t i = 0; i < n; i++) {
        uint8_t k[KS];
        char hex[2 * KS + 1];
        cu_key(k, KS, first[i]);
        t_hex_encode(k, KS, hex);
        t_buf_printf(&want, "%s\n", hex);
    }
    assert_string_equal(got.s ? got.s : "", want.s ? want.s : "");
    t_buf_free(&got);
    t_buf_free(&want);
}

static uint64_t home_of(uint64_t n, uint64_t buckets)
{
    uint8_t k[KS];
    cu_key(k, KS, n);
    return slc__fnv1a64(k, KS) & (buckets - 1);
}

/* 131,072 buckets are two partitions. Keys homed in the last bucket of
 * the first (their probe runs into the second) and of the table (it
 * wraps to bucket 0), 12 of each so the runs are long, every third put
 * again, among 1,000 ordinary keys put before and after them. */
static void partition_edges_and_wrap(void **state)
{
    fx *f = *state;
    const uint64_t buckets = 131072;
    uint64_t edge[24], ne = 0, na = 0, nb = 0;
    for (uint64_t n = 1000; ne < 24 && n < 100000000; n++) {
        uint64_t h = home_of(n, buckets);
        if (h == buckets / 2 - 1 && na < 12)
            edge[ne++] = n, na++;
        else if (h == buckets - 1 && nb < 12)
            edge[ne++] = n, nb++;
    }
    assert_int_equal(ne, 24);
    slc_options o = cu_opts(KS, IS, 50000, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    uint64_t order[1024];
    size_t no = 0;
    for (uint64_t n = 0; n < 500; n++)
        rebuild_put(r, n, 1), order[no++] = n;
    for (size_t i = 0; i < ne; i++)
        rebuild_put(r, edge[i], 1), order[no++] = edge[i];
    for (uint64_t n = 500; n < 1000; n++)
        rebuild_put(r, n, 1), order[no++] = n;
    for (size_t i = 0; i < ne; i += 3)
        rebuild_put(r, edge[i], 2);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);

    slc_stat st;
    slc_cache *c = open_rebuilt(f->path, 1024, &st);
    assert_int_equal(st.bucket_count, buckets);
    for (uint64_t n = 0; n < 1000; n++)
        cu_expect_get(c, KS, IS, n, 1);
    for (size_t i = 0; i < ne; i++)
        cu_expect_get(c, KS, IS, edge[i], i % 3 == 0 ? 2 : 1);
    assert_int_equal(slc_close(c), SLC_OK);
    expect_slot_order(f->path, order, no);
}

/* Every key put three times: 30 puts into 10 slots are 10 distinct keys,
 * not SLC_EFULL; each key keeps its first slot and its last values. */
static void puts_past_capacity_merge(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    for (int64_t rev = 1; rev <= 3; rev++)
        for (uint64_t n = 0; n < 10; n++)
            rebuild_put(r, 9 - n, rev);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    slc_stat st;
    slc_cache *c = open_rebuilt(f->path, 10, &st);
    for (uint64_t n = 0; n < 10; n++)
        cu_expect_get(c, KS, IS, n, 3);
    assert_int_equal(slc_close(c), SLC_OK);
    const uint64_t order[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    expect_slot_order(f->path, order, 10);
}

/* Ten keys into a 32 MiB bucket section: only the partitions they reach
 * are written, the rest stays holes (not on tmpfs, where creation
 * allocates the whole section). */
static void untouched_buckets_stay_holes(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 1000000, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    for (uint64_t n = 0; n < 10; n++)
        rebuild_put(r, n, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    slc_stat sst;
    slc_cache *c = open_rebuilt(f->path, 10, &sst);
    for (uint64_t n = 0; n < 10; n++)
        cu_expect_get(c, KS, IS, n, 1);
    assert_int_equal(slc_close(c), SLC_OK);
    /* Only the allocation depends on the filesystem. */
    struct statfs sf;
    assert_int_equal(statfs(f->dir, &sf), 0);
    if (sf.f_type == 0x01021994) { /* TMPFS_MAGIC */
        print_message("skipped: tmpfs allocates the bucket section\n");
        skip();
    }
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    /* 96 MB of file; at most 10 partitions of 1 MiB and a slot page. */
    assert_true((uint64_t)st.st_blocks * 512 <= UINT64_C(11) << 20);
}

/* Random rebuilds against a model: capacities from 1 slot to two
 * partitions of buckets, keys drawn from a range so that some repeat,
 * sometimes more distinct keys than slots. Each must verify, hold every
 * key's last put in its first put's slot order, zero the slots past the
 * highwater, or be SLC_EFULL exactly when the distinct keys do not fit. */
static void matches_model(void **state)
{
    fx *f = *state;
    uint64_t rng = t_seed("rebuild matches_model");
    enum { PUTS_MAX = 2000 };
    static uint64_t key[PUTS_MAX], first[PUTS_MAX];
    static int64_t last_rev[PUTS_MAX * 2];
    for (int round = 0; round < 120; round++) {
        uint64_t cap = round % 10 == 9 ? 40000 : 1 + t_rand(&rng) % 600;
        uint64_t span = 1 + t_rand(&rng) % (2 * cap + 2);
        if (span > 2 * PUTS_MAX)
            span = 2 * PUTS_MAX;
        size_t puts = (size_t)(t_rand(&rng) % PUTS_MAX);
        slc_options o = cu_opts(KS, IS, cap, 1, 0);
        slc_rebuild *r;
        assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
        memset(last_rev, 0, sizeof last_rev);
        size_t distinct = 0;
        for (size_t i = 0; i < puts; i++) {
            key[i] = t_rand(&rng) % span;
            if (!last_rev[key[i]])
                first[distinct++] = key[i];
            last_rev[key[i]] = (int64_t)i + 1;
            rebuild_put(r, key[i], (int64_t)i + 1);
        }
        int rc = slc_rebuild_publish(r, 0);
        assert_int_equal(slc_rebuild_close(r), SLC_OK);
        if (distinct > cap) {
            assert_int_equal(rc, SLC_EFULL);
            continue;
        }
        assert_int_equal(rc, SLC_OK);
        slc_stat st;
        slc_cache *c = open_rebuilt(f->path, distinct, &st);
        for (uint64_t k = 0; k < span; k++) {
            if (last_rev[k])
                cu_expect_get(c, KS, IS, k, last_rev[k]);
            else
                cu_expect_absent(c, KS, k);
        }
        assert_int_equal(slc_close(c), SLC_OK);
        expect_slot_order(f->path, first, distinct);
        expect_zero_slots(f->path, &st, distinct, cap);
    }
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
        cmocka_unit_test_setup_teardown(partition_edges_and_wrap,
                                        cu_fx_setup, cu_fx_teardown),
        cmocka_unit_test_setup_teardown(puts_past_capacity_merge,
                                        cu_fx_setup, cu_fx_teardown),
        cmocka_unit_test_setup_teardown(untouched_buckets_stay_holes,
                                        cu_fx_setup, cu_fx_teardown),
        cmocka_unit_test_setup_teardown(matches_model, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(argument_errors_keep_it_usable,
                                        cu_fx_setup, cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
