/* slc_scan, slc_scan_prefix, slc_scan_range: the rules of SLC1 11.5-11.7
 * with exact results - bit prefixes, every invalid prefix and range form
 * and the order of the checks, short and NULL bounds, offset/limit/reverse,
 * visit and filter callbacks, corruption and invalidation, and the memory a
 * snapshot scan keeps. */
#include "scan_util.h"

#include <inttypes.h>
#include <stdio.h>

#include "format.h"

/* ---- Small helpers ------------------------------------------------------ */

typedef struct fixture {
    char *dir;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_tmpdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    t_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static slc_writer *begin(slc_cache *c)
{
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    return w;
}

static void commit(slc_writer *w)
{
    int rc = slc_commit(w);
    if (rc != SLC_OK)
        fail_msg("commit: %d (%s)", rc, slc_errdetail());
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

/* Put keys given as one hex string of space-separated keys, in that order,
 * with revision = position and index bytes = position repeated. */
static void put_hex_keys(slc_cache *c, size_t ks, size_t is, const char *hex)
{
    slc_writer *w = begin(c);
    char *copy = strdup(hex), *save = NULL;
    int64_t pos = 0;
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        uint8_t key[SLC_MAX_KEY_SIZE], idx[64];
        assert_int_equal(t_hex_decode(t, key, sizeof key), (int)ks);
        memset(idx, (int)pos, sizeof idx);
        assert_int_equal(slc_put(w, key, ks, pos, is ? idx : NULL, is), SLC_OK);
        pos++;
    }
    free(copy);
    commit(w);
}

/* The visited keys as space-separated hex, compared with `want`. */
static void expect_keys(const sc_list *l, const char *want)
{
    t_buf got = {0};
    t_buf_printf(&got, "%s", "");
    for (size_t i = 0; i < l->n; i++) {
        char h[2 * SLC_MAX_KEY_SIZE + 1];
        t_hex_encode(sc_key(l, i), l->ks, h);
        t_buf_printf(&got, "%s%s", i ? " " : "", h);
    }
    if (strcmp(got.s, want) != 0)
        fail_msg("visited keys\n  got  [%s]\n  want [%s]", got.s, want);
    t_buf_free(&got);
}

static int prefix_scan(slc_cache *c, uint32_t off, uint32_t bits,
                       const char *hex, const slc_scan_opts *o, sc_list *l)
{
    uint8_t pat[SLC_MAX_KEY_SIZE];
    int n = t_hex_decode(hex, pat, sizeof pat);
    assert_true(n >= 0);
    slc_prefix p = {off, bits, pat, (size_t)n};
    sc_list_clear(l);
    return slc_scan_prefix(c, &p, o, sc_collect, l);
}

static int count_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    (*(size_t *)ctx)++;
    return 0;
}

/* ---- Bit prefixes (SLC1 11.6) ------------------------------------------- */

static void prefix_spec_example(void **state)
{
    fixture *f = *state;
    static const slc_scan_opts rev = {NULL, NULL, SLC_SCAN_REVERSE, 0, 0};
    static const slc_scan_opts stream = {NULL, NULL, SLC_SCAN_STREAMING, 0, 0};
    for (int ordered = 0; ordered < 2; ordered++) {
        slc_options o = sc_opts(2, 0, 16, ordered ? SLC_ORDERED_KEYS : 0);
        slc_cache *c = sc_open(f->dir, ordered ? "ord.slc" : "unord.slc", &o);
        if (ordered)
            put_hex_keys(c, 2, 0, "aaff ab3f ab80 abc0 abc7 abff ac00");
        else
            put_hex_keys(c, 2, 0, "abc0 abc7 abff ab80 aaff ac00 ab3f");
        sc_list l;
        sc_list_init(&l, 2, 0);
        /* The example: bits 10, AB C0 = 0xAB then 0b11xxxxxx. */
        const char *want10 = "abc0 abc7 abff";
        assert_int_equal(prefix_scan(c, 0, 10, "abc0", NULL, &l), SLC_OK);
        expect_keys(&l, want10);
        /* Pattern bits past `bits` are ignored. */
        assert_int_equal(prefix_scan(c, 0, 10, "abc7", NULL, &l), SLC_OK);
        expect_keys(&l, want10);
        assert_int_equal(prefix_scan(c, 0, 10, "abff", NULL, &l), SLC_OK);
        expect_keys(&l, want10);
        assert_int_equal(prefix_scan(c, 0, 10, "abc0", &stream, &l), SLC_OK);
        expect_keys(&l, want10);
        assert_int_equal(prefix_scan(c, 0, 10, "abc0", &rev, &l), SLC_OK);
        expect_keys(&l, "abff abc7 abc0");
        /* AB 80 has top bits 10: matches 9 bits, not 10. */
        assert_int_equal(prefix_scan(c, 0, 10, "ab80", NULL, &l), SLC_OK);
        expect_keys(&l, "ab80");
        assert_int_equal(prefix_scan(c, 0, 9, "ab80", NULL, &l), SLC_OK);
        expect_keys(&l, ordered ? "ab80 abc0 abc7 abff" : "abc0 abc7 abff ab80");
        assert_int_equal(prefix_scan(c, 0, 16, "abc7", NULL, &l), SLC_OK);
        expect_keys(&l, "abc7");
        /* Whole bytes: bits 8 and bits 0 are the same prefix. */
        const char *want_ab = ordered ? "ab3f ab80 abc0 abc7 abff"
                                      : "abc0 abc7 abff ab80 ab3f";
        assert_int_equal(prefix_scan(c, 0, 8, "ab", NULL, &l), SLC_OK);
        expect_keys(&l, want_ab);
        assert_int_equal(prefix_scan(c, 0, 0, "ab", NULL, &l), SLC_OK);
        expect_keys(&l, want_ab);
        assert_int_equal(prefix_scan(c, 0, 0, "abc7", NULL, &l), SLC_OK);
        expect_keys(&l, "abc7");
        /* One bit, and bits from a non-zero byte offset. */
        assert_int_equal(prefix_scan(c, 0, 1, "80", NULL, &l), SLC_OK);
        assert_int_equal(l.n, 7);
        assert_int_equal(prefix_scan(c, 0, 1, "7f", NULL, &l), SLC_OK);
        assert_int_equal(l.n, 0);
        assert_int_equal(prefix_scan(c, 1, 2, "c0", NULL, &l), SLC_OK);
        expect_keys(&l, ordered ? "aaff abc0 abc7 abff" : "abc0 abc7 abff aaff");
        assert_int_equal(prefix_scan(c, 1, 1, "00", NULL, &l), SLC_OK);
        expect_keys(&l, ordered ? "ab3f ac00" : "ac00 ab3f");
        assert_int_equal(prefix_scan(c, 1, 0, "ff", NULL, &l), SLC_OK);
        expect_keys(&l, ordered ? "aaff abff" : "abff aaff");
        /* No match at all: an empty result is SLC_OK. */
        assert_int_equal(prefix_scan(c, 0, 12, "ab10", NULL, &l), SLC_OK);
        assert_int_equal(l.n, 0);
        assert_int_equal(prefix_scan(c, 0, 0, "00", NULL, &l), SLC_OK);
        assert_int_equal(l.n, 0);
        assert_int_equal(prefix_scan(c, 0, 0, "ff", NULL, &l), SLC_OK);
        assert_int_equal(l.n, 0);
        sc_list_free(&l);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* 16-byte UUIDv7-like keys: 6 timestamp bytes, then random. A person types
 * the short ID "k7" (Crockford base32 of the random part: k = 19 = 10011,
 * 7 = 00111), which is 10 bits, 1001 1001 11, packed MSB first: 99 C0. */
static void prefix_uuid_base32_shape(void **state)
{
    fixture *f = *state;
    static const struct {
        uint8_t ts, b6, b7, match;
    } k[] = {
        {1, 0x99, 0xc0, 1}, {2, 0x99, 0xff, 1}, {3, 0x99, 0x80, 0},
        {4, 0x98, 0xc0, 0}, {5, 0x99, 0xda, 1}, {6, 0x19, 0xc0, 0},
    };
    const size_t n = sizeof k / sizeof k[0];
    for (int ordered = 0; ordered < 2; ordered++) {
        slc_options o = sc_opts(16, 4, 64, ordered ? SLC_ORDERED_KEYS : 0);
        slc_cache *c = sc_open(f->dir, ordered ? "u7o.slc" : "u7.slc", &o);
        slc_writer *w = begin(c);
        uint8_t keys[6][16];
        for (size_t i = 0; i < n; i++) {
            sc_be_key(keys[i], 6, k[i].ts);
            keys[i][6] = k[i].b6;
            keys[i][7] = k[i].b7;
            for (int j = 8; j < 16; j++)
                keys[i][j] = (uint8_t)(0x31 * (i + 1) + j);
            uint8_t idx[4] = {(uint8_t)i, 0, 0, 0};
            assert_int_equal(slc_put(w, keys[i], 16, (int64_t)i, idx, 4), SLC_OK);
        }
        commit(w);
        sc_list l;
        sc_list_init(&l, 16, 4);
        uint8_t pat[2] = {0x99, 0xc0};
        slc_prefix p = {6, 10, pat, 2};
        assert_int_equal(slc_scan_prefix(c, &p, NULL, sc_collect, &l), SLC_OK);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            if (!k[i].match)
                continue;
            assert_true(j < l.n);
            assert_memory_equal(sc_key(&l, j), keys[i], 16);
            assert_int_equal(l.rev[j], (int64_t)i);
            assert_int_equal(l.id[j], i);
            assert_int_equal(sc_idx(&l, j)[0], i);
            j++;
        }
        assert_int_equal(l.n, j);
        assert_int_equal(j, 3);
        /* Offset 0 prefixes of the timestamp: in the ordered file these take
         * the binary search. ts 4..6 share the top 46 bits (...00 0000 01). */
        uint8_t ts[6] = {0, 0, 0, 0, 0, 4};
        slc_prefix t46 = {0, 46, ts, 6};
        sc_list_clear(&l);
        assert_int_equal(slc_scan_prefix(c, &t46, NULL, sc_collect, &l), SLC_OK);
        assert_int_equal(l.n, 3);
        for (size_t i = 0; i < 3; i++)
            assert_memory_equal(sc_key(&l, i), keys[3 + i], 16);
        slc_prefix t44 = {0, 44, ts, 6};
        sc_list_clear(&l);
        assert_int_equal(slc_scan_prefix(c, &t44, NULL, sc_collect, &l), SLC_OK);
        assert_int_equal(l.n, 6);
        slc_prefix t48 = {0, 48, ts, 6};
        sc_list_clear(&l);
        assert_int_equal(slc_scan_prefix(c, &t48, NULL, sc_collect, &l), SLC_OK);
        assert_int_equal(l.n, 1);
        assert_memory_equal(sc_key(&l, 0), keys[3], 16);
        sc_list_free(&l);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* Every SLC_EINVAL form of SLC1 11.6, next to its valid neighbour. */
static void prefix_invalid_forms(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 0, 8, 0);
    slc_cache *c = sc_open(f->dir, "p.slc", &o);
    put_hex_keys(c, 4, 0, "00000000 ffffffff");
    static const uint8_t pat[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const struct {
        uint32_t off, bits;
        int null_pattern;
        size_t len;
        int rc;
        size_t visits;
    } cases[] = {
        {0, 0, 0, 0, SLC_EINVAL, 0},          /* bits 0, len 0 */
        {0, 0, 1, 0, SLC_EINVAL, 0},          /* ... also with NULL */
        {4, 0, 0, 1, SLC_EINVAL, 0},          /* offset == key_size */
        {4, 8, 0, 1, SLC_EINVAL, 0},
        {1000, 0, 0, 1, SLC_EINVAL, 0},       /* offset far out */
        {UINT32_MAX, 1, 0, 1, SLC_EINVAL, 0},
        {3, 0, 0, 1, SLC_OK, 1},              /* last byte: valid */
        {2, 0, 0, 3, SLC_EINVAL, 0},          /* bits 0: offset+len > ks */
        {0, 0, 0, 5, SLC_EINVAL, 0},
        {2, 0, 0, 2, SLC_OK, 1},
        {0, 0, 0, 4, SLC_OK, 1},
        {3, 9, 0, 2, SLC_EINVAL, 0},          /* bits: offset+ceil > ks */
        {0, 33, 0, 5, SLC_EINVAL, 0},
        {1, 25, 0, 4, SLC_EINVAL, 0},
        {UINT32_MAX, UINT32_MAX, 0, 5, SLC_EINVAL, 0},
        {0, UINT32_MAX, 0, 8, SLC_EINVAL, 0},
        {3, 8, 0, 1, SLC_OK, 1},
        {1, 24, 0, 3, SLC_OK, 1},
        {0, 32, 0, 4, SLC_OK, 1},
        {0, 10, 0, 1, SLC_EINVAL, 0},         /* bits: len != ceil(bits/8) */
        {0, 10, 0, 3, SLC_EINVAL, 0},
        {0, 8, 0, 2, SLC_EINVAL, 0},
        {0, 9, 0, 1, SLC_EINVAL, 0},
        {0, 1, 0, 0, SLC_EINVAL, 0},
        {0, 16, 0, 1, SLC_EINVAL, 0},
        {0, 10, 0, 2, SLC_OK, 1},
        {0, 1, 0, 1, SLC_OK, 1},
        {0, 0, 1, 1, SLC_EINVAL, 0},          /* NULL pattern, len > 0 */
        {0, 8, 1, 1, SLC_EINVAL, 0},
        {2, 12, 1, 2, SLC_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slc_prefix p = {cases[i].off, cases[i].bits,
                        cases[i].null_pattern ? NULL : pat, cases[i].len};
        size_t visits = 0;
        int rc = slc_scan_prefix(c, &p, NULL, count_visit, &visits);
        if (rc != cases[i].rc || visits != cases[i].visits)
            fail_msg("case %zu (offset %u bits %u len %zu%s): rc %d visits "
                     "%zu, want %d and %zu",
                     i, cases[i].off, cases[i].bits, cases[i].len,
                     cases[i].null_pattern ? " NULL" : "", rc, visits,
                     cases[i].rc, cases[i].visits);
        if (rc != SLC_OK)
            assert_true(slc_errdetail()[0] != '\0');
    }
    size_t visits = 0;
    assert_int_equal(slc_scan_prefix(c, NULL, NULL, count_visit, &visits),
                     SLC_EINVAL);
    slc_prefix ok = {0, 0, pat, 1};
    assert_int_equal(slc_scan_prefix(c, &ok, NULL, NULL, NULL), SLC_EINVAL);
    assert_int_equal(slc_scan_prefix(NULL, &ok, NULL, count_visit, &visits),
                     SLC_EINVAL);
    assert_int_equal(visits, 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Options of SLC1 11.5, shared by the three calls. */
static void scan_invalid_options(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 0, 8, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "o.slc", &o);
    put_hex_keys(c, 4, 0, "00000001 00000002");
    static const uint8_t pat[1] = {0};
    slc_prefix p = {0, 0, pat, 1};
    static const struct {
        uint32_t flags;
        uint64_t offset, limit;
        int rc;
        size_t visits;
    } cases[] = {
        {0, SLC_MAX_SCAN_OFFSET + 1ull, 0, SLC_EINVAL, 0},
        {0, UINT64_MAX, 0, SLC_EINVAL, 0},
        {0, 0, SLC_MAX_SCAN_LIMIT + 1ull, SLC_EINVAL, 0},
        {0, 0, UINT64_MAX, SLC_EINVAL, 0},
        {1u << 2, 0, 0, SLC_EINVAL, 0},
        {1u << 31, 0, 0, SLC_EINVAL, 0},
        {0, SLC_MAX_SCAN_OFFSET, SLC_MAX_SCAN_LIMIT, SLC_OK, 0},
        {0, 1, SLC_MAX_SCAN_LIMIT, SLC_OK, 1},
        {SLC_SCAN_REVERSE | SLC_SCAN_STREAMING, 0, SLC_MAX_SCAN_LIMIT, SLC_OK, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slc_scan_opts so = {NULL, NULL, cases[i].flags, cases[i].offset,
                            cases[i].limit};
        for (int call = 0; call < 3; call++) {
            size_t visits = 0;
            int rc = call == 0   ? slc_scan(c, &so, count_visit, &visits)
                     : call == 1 ? slc_scan_prefix(c, &p, &so, count_visit,
                                                   &visits)
                                 : slc_scan_range(c, NULL, 0, NULL, 0, &so,
                                                  count_visit, &visits);
            if (rc != cases[i].rc || visits != cases[i].visits)
                fail_msg("case %zu call %d: rc %d visits %zu, want %d %zu", i,
                         call, rc, visits, cases[i].rc, cases[i].visits);
        }
    }
    size_t visits = 0;
    assert_int_equal(slc_scan(c, NULL, NULL, NULL), SLC_EINVAL);
    assert_int_equal(slc_scan(NULL, NULL, count_visit, &visits), SLC_EINVAL);
    assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, NULL, NULL, NULL),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(NULL, NULL, 0, NULL, 0, NULL, count_visit,
                                    &visits),
                     SLC_EINVAL);
    /* A NULL opts pointer is all defaults. */
    assert_int_equal(slc_scan(c, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(visits, 2);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Ranges (SLC1 11.7) ------------------------------------------------- */

static int range_hex(slc_cache *c, const char *start, const char *end,
                     const slc_scan_opts *o, sc_list *l)
{
    uint8_t s[SLC_MAX_KEY_SIZE + 8], e[SLC_MAX_KEY_SIZE + 8];
    int sn = start ? t_hex_decode(start, s, sizeof s) : 0;
    int en = end ? t_hex_decode(end, e, sizeof e) : 0;
    assert_true(sn >= 0 && en >= 0);
    sc_list_clear(l);
    return slc_scan_range(c, start ? s : NULL, (size_t)sn, end ? e : NULL,
                          (size_t)en, o, sc_collect, l);
}

static void range_invalid_forms_and_precedence(void **state)
{
    fixture *f = *state;
    slc_options oo = sc_opts(4, 0, 8, SLC_ORDERED_KEYS);
    slc_options ou = sc_opts(4, 0, 8, 0);
    slc_cache *ord = sc_open(f->dir, "ord.slc", &oo);
    slc_cache *un = sc_open(f->dir, "un.slc", &ou);
    put_hex_keys(ord, 4, 0, "61000000 62000000");
    put_hex_keys(un, 4, 0, "61000000 62000000");
    sc_list l;
    sc_list_init(&l, 4, 0);
    uint8_t b[8] = {0x61, 0, 0, 0, 0, 0, 0, 0};
    /* Bound lengths must be 1..key_size. */
    assert_int_equal(slc_scan_range(ord, b, 0, NULL, 0, NULL, sc_collect, &l),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(ord, b, 5, NULL, 0, NULL, sc_collect, &l),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(ord, NULL, 0, b, 0, NULL, sc_collect, &l),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(ord, NULL, 0, b, 5, NULL, sc_collect, &l),
                     SLC_EINVAL);
    assert_int_equal(slc_scan_range(ord, b, SIZE_MAX, b, 1, NULL, sc_collect, &l),
                     SLC_EINVAL);
    assert_int_equal(l.n, 0);
    /* start > end, compared after zero padding. */
    assert_int_equal(range_hex(ord, "62", "61", NULL, &l), SLC_EINVAL);
    assert_int_equal(range_hex(ord, "6100", "60ffffff", NULL, &l), SLC_EINVAL);
    assert_int_equal(range_hex(ord, "6101", "61", NULL, &l), SLC_EINVAL);
    assert_int_equal(range_hex(ord, "61000001", "61", NULL, &l), SLC_EINVAL);
    assert_int_equal(l.n, 0);
    /* start == end (also after padding) is empty, not an error. */
    assert_int_equal(range_hex(ord, "61", "61", NULL, &l), SLC_OK);
    assert_int_equal(range_hex(ord, "61", "61000000", NULL, &l), SLC_OK);
    assert_int_equal(range_hex(ord, "6100", "610000", NULL, &l), SLC_OK);
    assert_int_equal(l.n, 0);
    /* Boundaries: full-length bounds and the valid neighbours. */
    assert_int_equal(range_hex(ord, "61000000", "62000001", NULL, &l), SLC_OK);
    expect_keys(&l, "61000000 62000000");
    assert_int_equal(range_hex(ord, "61000001", "62", NULL, &l), SLC_OK);
    assert_int_equal(l.n, 0);

    /* Unordered file: SLC_EUNORDERED whatever the bounds and options. */
    slc_scan_opts bad_opts = {NULL, NULL, 1u << 5, SLC_MAX_SCAN_OFFSET + 1ull,
                              0};
    assert_int_equal(range_hex(un, NULL, NULL, NULL, &l), SLC_EUNORDERED);
    assert_int_equal(range_hex(un, "61", "62", NULL, &l), SLC_EUNORDERED);
    assert_int_equal(range_hex(un, "62", "61", NULL, &l), SLC_EUNORDERED);
    assert_int_equal(range_hex(un, "61", "61", NULL, &l), SLC_EUNORDERED);
    assert_int_equal(range_hex(un, "6100000000", NULL, NULL, &l),
                     SLC_EUNORDERED);
    assert_int_equal(slc_scan_range(un, b, 0, NULL, 0, NULL, sc_collect, &l),
                     SLC_EUNORDERED);
    assert_int_equal(range_hex(un, NULL, NULL, &bad_opts, &l), SLC_EUNORDERED);
    assert_int_equal(slc_scan_range(un, NULL, 0, NULL, 0, NULL, NULL, NULL),
                     SLC_EUNORDERED);
    assert_int_equal(l.n, 0);
    /* ... while the ordered file reports the argument. */
    assert_int_equal(range_hex(ord, NULL, NULL, &bad_opts, &l), SLC_EINVAL);
    assert_int_equal(slc_scan_range(ord, NULL, 0, NULL, 0, NULL, NULL, NULL),
                     SLC_EINVAL);

    /* Invalidated first, before EUNORDERED and before arguments. */
    assert_int_equal(slc_invalidate(un), SLC_OK);
    assert_int_equal(slc_invalidate(ord), SLC_OK);
    assert_int_equal(range_hex(un, "62", "61", &bad_opts, &l), SLC_EINVALIDATED);
    assert_int_equal(range_hex(un, NULL, NULL, NULL, &l), SLC_EINVALIDATED);
    assert_int_equal(range_hex(ord, "62", "61", NULL, &l), SLC_EINVALIDATED);
    assert_int_equal(range_hex(ord, NULL, NULL, &bad_opts, &l),
                     SLC_EINVALIDATED);
    assert_int_equal(range_hex(ord, "61", "61", NULL, &l), SLC_EINVALIDATED);
    assert_int_equal(slc_scan_range(ord, b, 0, NULL, 0, NULL, NULL, NULL),
                     SLC_EINVALIDATED);
    assert_int_equal(l.n, 0);
    sc_list_free(&l);
    assert_int_equal(slc_close(ord), SLC_OK);
    assert_int_equal(slc_close(un), SLC_OK);
}

/* The SLC1 11.7 example (key_size 4, end "b" = 62 00 00 00) and NULL
 * bounds, forward and reverse, with a tombstone in the middle. */
static void range_short_and_null_bounds(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 2, 16, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "r.slc", &o);
    put_hex_keys(c, 4, 2,
                 "61000000 61010000 617f0000 61ffffff 62000000 62000001 "
                 "63000000");
    static const slc_scan_opts rev = {NULL, NULL, SLC_SCAN_REVERSE, 0, 0};
    static const slc_scan_opts srev = {NULL, NULL,
                                       SLC_SCAN_REVERSE | SLC_SCAN_STREAMING, 0,
                                       0};
    sc_list l;
    sc_list_init(&l, 4, 2);
    assert_int_equal(range_hex(c, NULL, "62", NULL, &l), SLC_OK);
    expect_keys(&l, "61000000 61010000 617f0000 61ffffff");
    assert_int_equal(range_hex(c, NULL, "62", &rev, &l), SLC_OK);
    expect_keys(&l, "61ffffff 617f0000 61010000 61000000");
    assert_int_equal(range_hex(c, "62", NULL, NULL, &l), SLC_OK);
    expect_keys(&l, "62000000 62000001 63000000");
    assert_int_equal(range_hex(c, "62", NULL, &srev, &l), SLC_OK);
    expect_keys(&l, "63000000 62000001 62000000");
    assert_int_equal(range_hex(c, NULL, NULL, NULL, &l), SLC_OK);
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(l.id[i], i);
        assert_int_equal(l.rev[i], (int64_t)i);
        assert_int_equal(sc_idx(&l, i)[0], i);
        assert_int_equal(sc_idx(&l, i)[1], i);
    }
    assert_int_equal(range_hex(c, "61ff", "620000", NULL, &l), SLC_OK);
    expect_keys(&l, "61ffffff");
    assert_int_equal(range_hex(c, "61ff", "62000001", NULL, &l), SLC_OK);
    expect_keys(&l, "61ffffff 62000000");
    assert_int_equal(range_hex(c, "6101", "6180", &rev, &l), SLC_OK);
    expect_keys(&l, "617f0000 61010000");
    assert_int_equal(range_hex(c, "64", NULL, NULL, &l), SLC_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(range_hex(c, NULL, "61", NULL, &l), SLC_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(range_hex(c, "00", "ff", &rev, &l), SLC_OK);
    assert_int_equal(l.n, 7);

    /* Tombstones keep their keys: the search and walk step over them. */
    slc_writer *w = begin(c);
    uint8_t k1[4] = {0x61, 0xff, 0xff, 0xff}, k2[4] = {0x62, 0, 0, 0};
    assert_int_equal(slc_delete(w, k1, 4, NULL), SLC_OK);
    assert_int_equal(slc_delete(w, k2, 4, NULL), SLC_OK);
    commit(w);
    assert_int_equal(range_hex(c, NULL, "62", NULL, &l), SLC_OK);
    expect_keys(&l, "61000000 61010000 617f0000");
    assert_int_equal(range_hex(c, "61ffffff", "62000001", NULL, &l), SLC_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(range_hex(c, "61ffffff", "62000002", &rev, &l), SLC_OK);
    expect_keys(&l, "62000001");
    assert_int_equal(l.id[0], 5);
    /* The deleted tail-side key again: a second slot with an equal key. */
    w = begin(c);
    uint8_t k3[4] = {0x63, 0, 0, 0}, k4[4] = {0x64, 0, 0, 0};
    assert_int_equal(slc_delete(w, k3, 4, NULL), SLC_OK);
    commit(w);
    w = begin(c);
    assert_int_equal(slc_put(w, k3, 4, 70, "zz", 2), SLC_OK);
    assert_int_equal(slc_put(w, k4, 4, 80, "yy", 2), SLC_OK);
    commit(w);
    assert_int_equal(range_hex(c, "63", "64", NULL, &l), SLC_OK);
    expect_keys(&l, "63000000");
    assert_int_equal(l.id[0], 7);
    assert_int_equal(l.rev[0], 70);
    assert_memory_equal(sc_idx(&l, 0), "zz", 2);
    assert_int_equal(range_hex(c, "63", NULL, &rev, &l), SLC_OK);
    expect_keys(&l, "64000000 63000000");
    assert_int_equal(slc_verify(c), SLC_OK);
    sc_list_free(&l);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Offset, limit, reverse, filter, visit ------------------------------ */

typedef struct filter_ctx {
    size_t calls;
    int mod; /* keep revisions with rev % mod != 0; 0 keeps none */
} filter_ctx;

static int filter_mod(const slc_entry *e, void *ctx)
{
    filter_ctx *fc = ctx;
    fc->calls++;
    return fc->mod && e->revision % fc->mod != 0;
}

/* 40 slots, 6 of them tombstones; the filter drops every 3rd revision. Every
 * offset/limit up to past the end, both directions, both consistency modes,
 * all three calls (prefix and range select everything): exact ids, data and
 * the number of filter calls (a limit stops the walk early). */
static void offset_limit_reverse(void **state)
{
    fixture *f = *state;
    enum { N = 40 };
    slc_options o = sc_opts(4, 3, 64, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "ol.slc", &o);
    slc_writer *w = begin(c);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t k[4], idx[3] = {(uint8_t)i, (uint8_t)(i * 7), 0xee};
        sc_be_key(k, 4, 0x1000 + i);
        assert_int_equal(slc_put(w, k, 4, (int64_t)i, idx, 3), SLC_OK);
    }
    commit(w);
    static const uint32_t dead[] = {0, 5, 6, 17, 30, 39};
    int live[N];
    for (int i = 0; i < N; i++)
        live[i] = 1;
    w = begin(c);
    for (size_t i = 0; i < sizeof dead / sizeof dead[0]; i++) {
        uint8_t k[4];
        sc_be_key(k, 4, 0x1000 + dead[i]);
        int existed = -1;
        assert_int_equal(slc_delete(w, k, 4, &existed), SLC_OK);
        assert_int_equal(existed, 1);
        live[dead[i]] = 0;
    }
    commit(w);

    uint8_t pfx[2] = {0x00, 0x00};
    slc_prefix p = {0, 0, pfx, 2};
    uint8_t lo[1] = {0x00}, hi[2] = {0x00, 0x01};
    sc_list l;
    sc_list_init(&l, 4, 3);
    for (int mode = 0; mode < 4; mode++) {
        uint32_t flags = (mode & 1 ? SLC_SCAN_REVERSE : 0) |
                         (mode & 2 ? SLC_SCAN_STREAMING : 0);
        /* The expected matches in scan order. */
        uint32_t order[N], matches = 0, pos_of[N], nlive = 0;
        for (int n = 0; n < N; n++) {
            int id = mode & 1 ? N - 1 - n : n;
            if (live[id])
                pos_of[nlive++] = (uint32_t)n; /* walk position */
            if (live[id] && id % 3 != 0)
                order[matches++] = (uint32_t)id;
        }
        for (uint64_t off = 0; off <= matches + 2; off++) {
            for (uint64_t lim = 0; lim <= matches + 2; lim++) {
                for (int call = 0; call < 3; call++) {
                    filter_ctx fc = {0, 3};
                    slc_scan_opts so = {filter_mod, &fc, flags, off, lim};
                    sc_list_clear(&l);
                    int rc = call == 0 ? slc_scan(c, &so, sc_collect, &l)
                             : call == 1
                                 ? slc_scan_prefix(c, &p, &so, sc_collect, &l)
                                 : slc_scan_range(c, lo, 1, hi, 2, &so,
                                                  sc_collect, &l);
                    assert_int_equal(rc, SLC_OK);
                    uint64_t first = off < matches ? off : matches;
                    uint64_t want = matches - first;
                    if (lim && want > lim)
                        want = lim;
                    if (l.n != want)
                        fail_msg("mode %d off %" PRIu64 " lim %" PRIu64
                                 " call %d: %zu visits, want %" PRIu64,
                                 mode, off, lim, call, l.n, want);
                    for (size_t i = 0; i < l.n; i++) {
                        uint32_t id = order[first + i];
                        uint8_t k[4];
                        sc_be_key(k, 4, 0x1000 + id);
                        assert_int_equal(l.id[i], id);
                        assert_int_equal(l.rev[i], (int64_t)id);
                        assert_memory_equal(sc_key(&l, i), k, 4);
                        assert_int_equal(sc_idx(&l, i)[0], id);
                        assert_int_equal(sc_idx(&l, i)[1], (uint8_t)(id * 7));
                        assert_int_equal(sc_idx(&l, i)[2], 0xee);
                    }
                    /* Filter calls: every live slot up to the last one the
                     * result needs (all of them when the limit is not hit). */
                    size_t want_calls = nlive;
                    if (lim && first + lim <= matches && want == lim) {
                        uint32_t last = order[first + lim - 1];
                        uint32_t walk = mode & 1 ? N - 1 - last : last;
                        want_calls = 0;
                        while (want_calls < nlive && pos_of[want_calls] <= walk)
                            want_calls++;
                    }
                    if (fc.calls != want_calls)
                        fail_msg("mode %d off %" PRIu64 " lim %" PRIu64
                                 " call %d: %zu filter calls, want %zu",
                                 mode, off, lim, call, fc.calls, want_calls);
                }
            }
        }
    }
    sc_list_free(&l);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Visit's nonzero return stops the scan and comes back unchanged; nothing
 * is visited after it, in both modes and all three calls. */
static void visit_stop_value(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(8, 0, 32, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "v.slc", &o);
    slc_writer *w = begin(c);
    for (uint64_t i = 0; i < 10; i++) {
        uint8_t k[8];
        sc_be_key(k, 8, i);
        assert_int_equal(slc_put(w, k, 8, (int64_t)i, NULL, 0), SLC_OK);
    }
    commit(w);
    static const int values[] = {42, -77, 1, -1, SLC_EBUSY, INT32_MIN, INT32_MAX};
    uint8_t zero[1] = {0};
    slc_prefix p = {0, 0, zero, 1};
    sc_list l;
    sc_list_init(&l, 8, 0);
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        for (size_t at = 1; at <= 10; at += 4) {
            for (int mode = 0; mode < 4; mode++) {
                slc_scan_opts so = {NULL, NULL,
                                    (mode & 1 ? SLC_SCAN_REVERSE : 0) |
                                        (mode & 2 ? SLC_SCAN_STREAMING : 0),
                                    0, 0};
                for (int call = 0; call < 3; call++) {
                    sc_list_clear(&l);
                    l.stop_at = at;
                    l.stop_value = values[v];
                    int rc = call == 0 ? slc_scan(c, &so, sc_collect, &l)
                             : call == 1
                                 ? slc_scan_prefix(c, &p, &so, sc_collect, &l)
                                 : slc_scan_range(c, NULL, 0, NULL, 0, &so,
                                                  sc_collect, &l);
                    assert_int_equal(rc, values[v]);
                    assert_int_equal(l.n, at);
                    uint64_t last = mode & 1 ? 10 - at : at - 1;
                    assert_int_equal(l.id[at - 1], last);
                }
            }
        }
    }
    /* A stop on the last entry still returns the value. */
    sc_list_clear(&l);
    l.stop_at = 10;
    l.stop_value = 42;
    assert_int_equal(slc_scan(c, NULL, sc_collect, &l), 42);
    sc_list_free(&l);
    assert_int_equal(slc_close(c), SLC_OK);
}

typedef struct seen_ctx {
    slc_cache *c;
    size_t calls, index_null;
    uint64_t ids_seen; /* bit per slot id */
    int bad;
} seen_ctx;

/* The filter sees live slots only, with their stored bytes (no writer is
 * running, so nothing can be torn here), and gets its own context. */
static int filter_none(const slc_entry *e, void *ctx)
{
    seen_ctx *s = ctx;
    s->calls++;
    if (!e->index)
        s->index_null++;
    if (e->slot_id >= 64 || (s->ids_seen >> e->slot_id & 1))
        s->bad = 1;
    else
        s->ids_seen |= 1ull << e->slot_id;
    uint8_t k[4];
    sc_be_key(k, 4, 100 + e->slot_id);
    if (memcmp(e->key, k, 4) != 0 || e->revision != -(int64_t)e->slot_id)
        s->bad = 1;
    return 0;
}

static void filter_rejects_all_and_index_size_zero(void **state)
{
    fixture *f = *state;
    for (uint32_t is = 0; is <= 5; is += 5) {
        slc_options o = sc_opts(4, is, 32, 0);
        slc_cache *c = sc_open(f->dir, is ? "f5.slc" : "f0.slc", &o);
        slc_writer *w = begin(c);
        for (uint64_t i = 0; i < 20; i++) {
            uint8_t k[4], idx[5] = {1, 2, 3, 4, (uint8_t)i};
            sc_be_key(k, 4, 100 + i);
            assert_int_equal(slc_put(w, k, 4, -(int64_t)i, is ? idx : NULL, is),
                             SLC_OK);
        }
        commit(w);
        w = begin(c);
        for (uint64_t i = 0; i < 20; i += 4) {
            uint8_t k[4];
            sc_be_key(k, 4, 100 + i);
            assert_int_equal(slc_delete(w, k, 4, NULL), SLC_OK);
        }
        commit(w);
        uint64_t want_ids = 0;
        for (uint64_t i = 0; i < 20; i++)
            if (i % 4)
                want_ids |= 1ull << i;
        for (int mode = 0; mode < 4; mode++) {
            seen_ctx s = {c, 0, 0, 0, 0};
            slc_scan_opts so = {filter_none, &s,
                                (mode & 1 ? SLC_SCAN_REVERSE : 0) |
                                    (mode & 2 ? SLC_SCAN_STREAMING : 0),
                                0, 0};
            size_t visits = 0;
            assert_int_equal(slc_scan(c, &so, count_visit, &visits), SLC_OK);
            assert_int_equal(visits, 0);
            assert_int_equal(s.calls, 15);
            assert_int_equal(s.bad, 0);
            assert_int_equal(s.ids_seen, want_ids);
            assert_int_equal(s.index_null, is ? 0 : 15);
            /* Same through a prefix scan. */
            memset(&s, 0, sizeof s);
            uint8_t z = 0;
            slc_prefix p = {0, 1, &z, 1};
            assert_int_equal(slc_scan_prefix(c, &p, &so, count_visit, &visits),
                             SLC_OK);
            assert_int_equal(visits, 0);
            assert_int_equal(s.calls, 15);
            assert_int_equal(s.ids_seen, want_ids);
        }
        /* Visited entries: index NULL exactly when index_size is 0. */
        sc_list l;
        sc_list_init(&l, 4, is);
        assert_int_equal(slc_scan(c, NULL, sc_collect, &l), SLC_OK);
        assert_int_equal(l.n, 15);
        assert_int_equal(l.index_null, is ? 0 : 15);
        for (size_t i = 0; i < l.n; i++) {
            assert_true(l.id[i] % 4 != 0);
            assert_int_equal(l.rev[i], -(int64_t)l.id[i]);
            if (is)
                assert_int_equal(sc_idx(&l, i)[4], l.id[i]);
        }
        sc_list_free(&l);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* An offset at or past the number of matches: empty result, SLC_OK. */
static void offset_past_last_match(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 0, 16, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "e.slc", &o);
    put_hex_keys(c, 4, 0, "00000001 00000002 00000003");
    uint8_t z = 0;
    slc_prefix p = {0, 0, &z, 1};
    static const uint64_t offs[] = {3, 4, 1000, SLC_MAX_SCAN_OFFSET};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        for (uint32_t flags = 0; flags < 4; flags++) {
            slc_scan_opts so = {NULL, NULL, flags, offs[i], 1};
            size_t visits = 0;
            assert_int_equal(slc_scan(c, &so, count_visit, &visits), SLC_OK);
            assert_int_equal(
                slc_scan_prefix(c, &p, &so, count_visit, &visits), SLC_OK);
            assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, &so,
                                            count_visit, &visits),
                             SLC_OK);
            assert_int_equal(visits, 0);
        }
    }
    /* An empty cache too. */
    slc_cache *e = sc_open(f->dir, "empty.slc", &o);
    size_t visits = 0;
    assert_int_equal(slc_scan(e, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(slc_scan_prefix(e, &p, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(
        slc_scan_range(e, &z, 1, NULL, 0, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(visits, 0);
    assert_int_equal(slc_close(e), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Corruption, invalidation ------------------------------------------- */

static const uint32_t all_modes[] = {0, SLC_SCAN_REVERSE, SLC_SCAN_STREAMING,
                                     SLC_SCAN_REVERSE | SLC_SCAN_STREAMING};

/* Ordered file, 100 keys 2i (4-byte big-endian), then one slot's key bytes
 * overwritten so the slot array is no longer sorted; nothing else changes
 * (slot keys are outside the header CRC). A range or offset-0 prefix scan
 * whose walk meets the slot must report SLC_ECORRUPT, not a wrong result.
 * (Where the binary search steers around the bad slot, a scan cannot know
 * without reading every slot: slc_verify is the full check.) */
static void ordered_out_of_order_is_corrupt(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 0, 128, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "oo.slc", &o);
    slc_writer *w = begin(c);
    for (uint32_t i = 0; i < 100; i++) {
        uint8_t k[4];
        sc_be_key(k, 4, 2 * i);
        assert_int_equal(slc_put(w, k, 4, i, NULL, 0), SLC_OK);
    }
    commit(w);
    static const struct {
        uint32_t slot, bad_key;
    } patches[] = {
        {50, 150}, /* too big, but inside every range below */
        {60, 0},   /* too small */
        {99, 0},   /* the tail */
        {0, 199},  /* the head */
    };
    static const struct {
        int prefix;
        uint32_t lo, hi; /* range [lo, hi) as keys; UINT32_MAX = NULL */
        uint32_t bits;   /* prefix: bits of 00 00 00 00 at offset 0 */
        int found[4];    /* which patches this scan must detect */
    } scans[] = {
        {0, UINT32_MAX, UINT32_MAX, 0, {1, 1, 1, 1}},
        {0, 20, 180, 0, {1, 1, 0, 0}},
        {0, 0, 200, 0, {1, 1, 1, 1}},
        {0, UINT32_MAX, 1000, 0, {1, 1, 1, 1}},
        {1, 0, 0, 24, {1, 1, 1, 1}},
        {1, 0, 0, 25, {0, 1, 0, 1}}, /* keys < 128: ids 0..63 */
    };
    uint8_t orig[4], zero[4] = {0};
    for (size_t pi = 0; pi < sizeof patches / sizeof patches[0]; pi++) {
        uint64_t off = sc_slot_off(c, patches[pi].slot) + 8;
        uint8_t bad[4];
        sc_read_at(f->dir, "oo.slc", off, orig, 4);
        sc_be_key(bad, 4, patches[pi].bad_key);
        sc_patch(f->dir, "oo.slc", off, bad, 4);
        assert_int_equal(slc_verify(c), SLC_ECORRUPT);
        for (size_t si = 0; si < sizeof scans / sizeof scans[0]; si++) {
            if (!scans[si].found[pi])
                continue;
            for (size_t m = 0; m < 4; m++) {
                slc_scan_opts so = {NULL, NULL, all_modes[m], 0, 0};
                sc_list l;
                sc_list_init(&l, 4, 0);
                int rc;
                if (scans[si].prefix) {
                    slc_prefix p = {0, scans[si].bits, zero,
                                    (scans[si].bits + 7) / 8};
                    rc = slc_scan_prefix(c, &p, &so, sc_collect, &l);
                } else {
                    uint8_t lo[4], hi[4];
                    sc_be_key(lo, 4, scans[si].lo);
                    sc_be_key(hi, 4, scans[si].hi);
                    int has_lo = scans[si].lo != UINT32_MAX;
                    int has_hi = scans[si].hi != UINT32_MAX;
                    rc = slc_scan_range(c, has_lo ? lo : NULL, has_lo ? 4 : 0,
                                        has_hi ? hi : NULL, has_hi ? 4 : 0,
                                        &so, sc_collect, &l);
                }
                if (rc != SLC_ECORRUPT)
                    fail_msg("patch %zu scan %zu mode %u: rc %d (%zu visits), "
                             "want SLC_ECORRUPT",
                             pi, si, all_modes[m], rc, l.n);
                /* Snapshot mode delivers nothing from a corrupt walk. */
                if (!(all_modes[m] & SLC_SCAN_STREAMING))
                    assert_int_equal(l.n, 0);
                sc_list_free(&l);
            }
        }
        sc_patch(f->dir, "oo.slc", off, orig, 4);
        assert_int_equal(slc_verify(c), SLC_OK);
    }
    /* Restored: every scan above succeeds with the sorted keys. */
    sc_list l;
    sc_list_init(&l, 4, 0);
    assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, NULL, sc_collect, &l),
                     SLC_OK);
    assert_int_equal(l.n, 100);
    sc_list_free(&l);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Equal neighbouring keys are in order (non-decreasing): no false alarm. */
static void ordered_equal_keys_are_not_corrupt(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(2, 0, 16, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "eq.slc", &o);
    uint8_t a[2] = {0x10, 0}, b[2] = {0x20, 0};
    for (int round = 0; round < 3; round++) {
        slc_writer *w = begin(c);
        if (round == 0)
            assert_int_equal(slc_put(w, a, 2, 1, NULL, 0), SLC_OK);
        if (round > 0)
            assert_int_equal(slc_delete(w, b, 2, NULL), SLC_OK);
        commit(w);
        w = begin(c);
        assert_int_equal(slc_put(w, b, 2, round, NULL, 0), SLC_OK);
        commit(w);
    }
    /* Slots: a, b(dead), b(dead), b(live). */
    sc_list l;
    sc_list_init(&l, 2, 0);
    for (size_t m = 0; m < 4; m++) {
        slc_scan_opts so = {NULL, NULL, all_modes[m], 0, 0};
        assert_int_equal(range_hex(c, NULL, NULL, &so, &l), SLC_OK);
        expect_keys(&l, m & 1 ? "2000 1000" : "1000 2000");
        assert_int_equal(l.id[m & 1 ? 0 : 1], 3);
        assert_int_equal(range_hex(c, "20", "21", &so, &l), SLC_OK);
        expect_keys(&l, "2000");
        assert_int_equal(prefix_scan(c, 0, 4, "20", &so, &l), SLC_OK);
        expect_keys(&l, "2000");
        assert_int_equal(l.rev[0], 2);
    }
    assert_int_equal(slc_verify(c), SLC_OK);
    sc_list_free(&l);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* A meta word with reserved bits (SLC1 4.2, 7.6) under a stable generation
 * is corruption for every scan; slots at or above slot_highwater are never
 * read, whatever they hold. */
static void meta_reserved_bits_are_corrupt(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(8, 8, 16, SLC_ORDERED_KEYS);
    slc_cache *c = sc_open(f->dir, "m.slc", &o);
    slc_writer *w = begin(c);
    for (uint64_t i = 0; i < 6; i++) {
        uint8_t k[8];
        sc_be_key(k, 8, i);
        assert_int_equal(slc_put(w, k, 8, 0, "12345678", 8), SLC_OK);
    }
    commit(w);
    w = begin(c);
    uint8_t k2[8];
    sc_be_key(k2, 8, 2);
    assert_int_equal(slc_delete(w, k2, 8, NULL), SLC_OK);
    commit(w);
    /* Garbage above slot_highwater (slot 6): never read. */
    uint8_t junk[40];
    memset(junk, 0xa5, sizeof junk);
    sc_patch(f->dir, "m.slc", sc_slot_off(c, 6), junk, sizeof junk);
    size_t visits = 0;
    assert_int_equal(slc_scan(c, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(visits, 5);

    static const struct {
        uint32_t slot;
        uint64_t meta;
    } bad[] = {
        {4, 3},                    /* live with bit 1 */
        {2, 2},                    /* tombstone with bit 1 */
        {0, 1ull << 63},           /* tombstone with the top bit */
        {5, 0xffffffffffffffffull} /* every bit */
    };
    uint8_t z = 0;
    slc_prefix p = {0, 0, &z, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t off = sc_slot_off(c, bad[i].slot);
        uint8_t orig[8], m[8];
        sc_read_at(f->dir, "m.slc", off, orig, 8);
        memcpy(m, &bad[i].meta, 8); /* little-endian host (SLC1 2) */
        sc_patch(f->dir, "m.slc", off, m, 8);
        for (size_t md = 0; md < 4; md++) {
            slc_scan_opts so = {NULL, NULL, all_modes[md], 0, 0};
            sc_list l;
            sc_list_init(&l, 8, 8);
            assert_int_equal(slc_scan(c, &so, sc_collect, &l), SLC_ECORRUPT);
            if (!(all_modes[md] & SLC_SCAN_STREAMING))
                assert_int_equal(l.n, 0);
            sc_list_clear(&l);
            assert_int_equal(slc_scan_prefix(c, &p, &so, sc_collect, &l),
                             SLC_ECORRUPT);
            sc_list_clear(&l);
            assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, &so,
                                            sc_collect, &l),
                             SLC_ECORRUPT);
            sc_list_free(&l);
        }
        /* A scan whose walk does not reach the slot cannot see it. */
        slc_scan_opts lim1 = {NULL, NULL,
                              bad[i].slot == 0 ? SLC_SCAN_REVERSE : 0, 0, 1};
        visits = 0;
        assert_int_equal(slc_scan(c, &lim1, count_visit, &visits), SLC_OK);
        assert_int_equal(visits, 1);
        sc_patch(f->dir, "m.slc", off, orig, 8);
    }
    visits = 0;
    assert_int_equal(slc_scan(c, NULL, count_visit, &visits), SLC_OK);
    assert_int_equal(visits, 5);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void invalidated_scans(void **state)
{
    fixture *f = *state;
    slc_options o = sc_opts(4, 0, 16, SLC_ORDERED_KEYS);
    slc_cache *a = sc_open(f->dir, "i.slc", &o);
    slc_cache *b = sc_open(f->dir, "i.slc", &o);
    put_hex_keys(a, 4, 0, "00000001 00000002");
    assert_int_equal(slc_invalidate(a), SLC_OK);
    uint8_t z = 0;
    slc_prefix p = {0, 0, &z, 1};
    slc_prefix bad = {9, 0, NULL, 0};
    slc_scan_opts bad_opts = {NULL, NULL, 1u << 9, UINT64_MAX, UINT64_MAX};
    slc_cache *hs[2] = {a, b};
    for (int h = 0; h < 2; h++) {
        for (size_t m = 0; m < 4; m++) {
            slc_scan_opts so = {NULL, NULL, all_modes[m], 0, 0};
            size_t visits = 0;
            assert_int_equal(slc_scan(hs[h], &so, count_visit, &visits),
                             SLC_EINVALIDATED);
            assert_int_equal(slc_scan_prefix(hs[h], &p, &so, count_visit,
                                             &visits),
                             SLC_EINVALIDATED);
            assert_int_equal(slc_scan_range(hs[h], NULL, 0, NULL, 0, &so,
                                            count_visit, &visits),
                             SLC_EINVALIDATED);
            assert_int_equal(visits, 0);
        }
        /* Before any argument check. */
        assert_int_equal(slc_scan(hs[h], &bad_opts, NULL, NULL),
                         SLC_EINVALIDATED);
        assert_int_equal(slc_scan_prefix(hs[h], &bad, &bad_opts, NULL, NULL),
                         SLC_EINVALIDATED);
        assert_int_equal(slc_scan_prefix(hs[h], NULL, NULL, NULL, NULL),
                         SLC_EINVALIDATED);
    }
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

/* ---- Memory ------------------------------------------------------------- */

/* Bytes the heap holds right now. Sanitizer runtimes replace malloc and
 * report through their own interface; glibc's mallinfo2 covers its arenas
 * (main arena only, which is all a single-threaded test uses) and the
 * separately mmap'd blocks. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SC_SANITIZER_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||    \
    __has_feature(memory_sanitizer)
#define SC_SANITIZER_HEAP 1
#endif
#endif

#if defined(SC_SANITIZER_HEAP)
#include <sanitizer/allocator_interface.h>
#define SC_HAVE_HEAP_METER 1
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#elif defined(__GLIBC__) &&                                                    \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define SC_HAVE_HEAP_METER 1
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
#endif

#ifdef SC_HAVE_HEAP_METER
typedef struct meter {
    size_t base, peak, visits;
    size_t filter_calls;
    uint64_t keep_every; /* filter keeps keys divisible by this (0 = all) */
} meter;

static int meter_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    meter *m = ctx;
    /* Sampled: a snapshot holds its buffer through every visit anyway. */
    if (m->visits++ % 1024 == 0) {
        size_t now = heap_in_use();
        if (now > m->base && now - m->base > m->peak)
            m->peak = now - m->base;
    }
    return 0;
}

static int meter_filter(const slc_entry *e, void *ctx)
{
    meter *m = ctx;
    m->filter_calls++;
    if (!m->keep_every)
        return 1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | e->key[i];
    return v % m->keep_every == 0;
}

static meter metered_scan(slc_cache *c, uint32_t flags, uint64_t offset,
                          uint64_t limit, uint64_t keep_every)
{
    meter m = {0, 0, 0, 0, keep_every};
    slc_scan_opts so = {meter_filter, &m, flags, offset, limit};
    m.base = heap_in_use();
    assert_int_equal(slc_scan(c, &so, meter_visit, &m), SLC_OK);
    return m;
}
#endif

/* 100,000 live entries. A snapshot keeps a copy of each result until
 * delivery, so the heap measured during visit grows with the results kept:
 * the unlimited scan proves the meter sees that growth; a limit, a large
 * offset, a selective filter or streaming must keep it small. */
static void snapshot_memory_follows_results(void **state)
{
#ifndef SC_HAVE_HEAP_METER
    (void)state;
    skip();
#else
    fixture *f = *state;
    enum { N = 100000 };
    const size_t small = 64 * 1024;
    slc_options o = sc_opts(8, 8, N, 0);
    slc_cache *c = sc_open(f->dir, "mem.slc", &o);
    slc_writer *w = begin(c);
    for (uint64_t i = 0; i < N; i++) {
        uint8_t k[8];
        sc_be_key(k, 8, i);
        assert_int_equal(slc_put(w, k, 8, (int64_t)i, k, 8), SLC_OK);
    }
    commit(w);

    /* Key, revision and index of every result: at least 24 bytes each. */
    meter all = metered_scan(c, 0, 0, 0, 0);
    assert_int_equal(all.visits, N);
    assert_int_equal(all.filter_calls, N);
    if (all.peak < (size_t)N * 24) {
        /* A foreign allocator (valgrind, a preloaded malloc) hides the
         * heap from this meter: nothing below could be measured. */
        fprintf(stderr, "heap meter blind (%zu bytes seen for %d results): "
                        "skipped\n",
                all.peak, N);
        assert_int_equal(slc_close(c), SLC_OK);
        skip();
    }

    meter lim = metered_scan(c, 0, 0, 10, 0);
    assert_int_equal(lim.visits, 10);
    assert_int_equal(lim.filter_calls, 10); /* the limit stops the gather */
    assert_true(lim.peak < small);

    meter rev = metered_scan(c, SLC_SCAN_REVERSE, 500, 10, 0);
    assert_int_equal(rev.visits, 10);
    assert_int_equal(rev.filter_calls, 510);
    assert_true(rev.peak < small);

    meter off = metered_scan(c, 0, N - 10, 0, 0);
    assert_int_equal(off.visits, 10);
    assert_int_equal(off.filter_calls, N);
    assert_true(off.peak < small);

    meter sel = metered_scan(c, 0, 0, 0, N / 10);
    assert_int_equal(sel.visits, 10);
    assert_int_equal(sel.filter_calls, N);
    assert_true(sel.peak < small);

    meter st = metered_scan(c, SLC_SCAN_STREAMING, 0, 0, 0);
    assert_int_equal(st.visits, N);
    assert_true(st.peak < small);

    fprintf(stderr,
            "heap during visit: all %zu, limit 10 %zu, offset %zu, "
            "filter %zu, streaming %zu bytes\n",
            all.peak, lim.peak, off.peak, sel.peak, st.peak);
    assert_int_equal(slc_close(c), SLC_OK);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(prefix_spec_example, setup, teardown),
        cmocka_unit_test_setup_teardown(prefix_uuid_base32_shape, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prefix_invalid_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_invalid_options, setup, teardown),
        cmocka_unit_test_setup_teardown(range_invalid_forms_and_precedence,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(range_short_and_null_bounds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(offset_limit_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(visit_stop_value, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_rejects_all_and_index_size_zero,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(offset_past_last_match, setup, teardown),
        cmocka_unit_test_setup_teardown(ordered_out_of_order_is_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ordered_equal_keys_are_not_corrupt,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(meta_reserved_bits_are_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalidated_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_memory_follows_results, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
