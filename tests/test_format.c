/* SLC1 Appendix A vectors, the header codec and the sizing arithmetic:
 * pure functions, checked against numbers taken from the spec, and the
 * new-file example checked on real files made by slc_open. */
#include "core_helpers.h"

#include <inttypes.h>

#include "sizing.h"

/* ---- Hashes ---------------------------------------------------------------- */

static void fnv1a64_vectors(void **state)
{
    (void)state;
    assert_int_equal(slc__fnv1a64("", 0), 0xcbf29ce484222325ull);
    assert_int_equal(slc__fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
    assert_int_equal(slc__fnv1a64("foobar", 6), 0x85944171f73967e8ull);
}

static void crc32c_vector(void **state)
{
    (void)state;
    assert_int_equal(slc__crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(slc__crc32c_portable("123456789", 9), 0xE3069283u);
    /* Empty input: init and final xor cancel. */
    assert_int_equal(slc__crc32c("", 0), 0u);
    assert_int_equal(slc__crc32c_portable("", 0), 0u);
}

/* Bit-at-a-time reference, independent of the library's tables. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* The hardware path (when the CPU has one) and the table path agree on
 * every length around the 8-byte block size and at every alignment. */
static void crc32c_paths_agree(void **state)
{
    (void)state;
    uint64_t rs = t_seed("crc32c_paths_agree");
    enum { MAX = 4096 + 64 };
    uint8_t *buf = malloc(MAX + 8);
    assert_non_null(buf);
    for (size_t i = 0; i < MAX + 8; i++)
        buf[i] = (uint8_t)t_rand(&rs);
    for (size_t len = 0; len <= 300; len++)
        for (size_t align = 0; align < 8; align++) {
            uint32_t want = crc32c_bitwise(buf + align, len);
            assert_int_equal(slc__crc32c_portable(buf + align, len), want);
            assert_int_equal(slc__crc32c(buf + align, len), want);
        }
    for (int i = 0; i < 200; i++) {
        size_t len = (size_t)(t_rand(&rs) % MAX);
        size_t align = (size_t)(t_rand(&rs) % 8);
        for (size_t j = 0; j < len; j++)
            buf[align + j] = (uint8_t)t_rand(&rs);
        uint32_t p = slc__crc32c_portable(buf + align, len);
        assert_int_equal(slc__crc32c(buf + align, len), p);
        assert_int_equal(crc32c_bitwise(buf + align, len), p);
    }
    free(buf);
}

/* ---- Slot sizes ------------------------------------------------------------ */

static void slot_size_vectors(void **state)
{
    (void)state;
    static const struct {
        uint32_t key, index, want;
    } v[] = {{10, 5, 40}, {16, 8, 40}, {16, 0, 32}, {1, 0, 24},
             {8, 0, 24},  {9, 1, 40},  {512, 0, 528},
             {1, SLC_MAX_INDEX_SIZE, 16 + 8 + SLC_MAX_INDEX_SIZE}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t s = 0;
        assert_int_equal(slc__slot_size(v[i].key, v[i].index, &s), SLC_OK);
        assert_int_equal(s, v[i].want);
    }
    uint32_t s = 777;
    assert_int_equal(slc__slot_size(0, 0, &s), SLC_EINVAL);
    assert_int_equal(slc__slot_size(513, 0, &s), SLC_EINVAL);
    assert_int_equal(slc__slot_size(16, SLC_MAX_INDEX_SIZE + 1, &s),
                     SLC_EINVAL);
    assert_int_equal(slc__slot_size(UINT32_MAX, UINT32_MAX, &s), SLC_EINVAL);
    assert_int_equal(s, 777);
}

/* ---- The new-header example of Appendix A ---------------------------------- */

static void check_new_header(uint32_t flags, uint32_t want_crc)
{
    char *dir = t_tmpdir();
    char *path = t_join(dir, "a.slc");
    slc_options o = cu_opts(16, 8, 1000, 1, flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(st.slot_size, 40);
    assert_int_equal(st.bucket_count, 2048);
    assert_int_equal(st.file_size, 73024);
    assert_int_equal(st.flags, flags ? 1u : 0u);
    assert_int_equal(slc_close(c), SLC_OK);

    assert_int_equal(cu_file_size(path), 73024);
    uint8_t raw[SLC__HEADER_SIZE];
    cu_pread(path, 0, raw, sizeof raw);
    uint8_t want[SLC__HEADER_SIZE];
    memset(want, 0, sizeof want);
    memcpy(want, "SLC1", 4);
    slc__put_le32(want + 0x04, 1);
    slc__put_le32(want + 0x08, 256);
    slc__put_le32(want + 0x0C, 16);
    slc__put_le32(want + 0x10, 8);
    slc__put_le32(want + 0x14, 40);
    slc__put_le32(want + 0x18, 1);
    slc__put_le32(want + 0x1C, flags ? 1u : 0u);
    slc__put_le64(want + 0x20, 1000);
    slc__put_le64(want + 0x38, 1);
    slc__put_le64(want + 0x48, 2048);
    slc__put_le64(want + 0x60, 256);
    slc__put_le64(want + 0x68, 40256);
    slc__put_le32(want + 0x70, want_crc);
    assert_memory_equal(raw, want, sizeof raw);
    /* Slots and buckets are left as the zeros of ftruncate. */
    size_t len;
    char *all = t_read_file(path, &len);
    assert_non_null(all);
    assert_int_equal(len, 73024);
    for (size_t i = SLC__HEADER_SIZE; i < len; i++)
        if (all[i])
            fail_msg("byte %zu of a new file is 0x%02x", i,
                     (unsigned)(uint8_t)all[i]);
    free(all);
    assert_int_equal(slc__header_crc(raw), want_crc);
    free(path);
    t_rmtree(dir);
    free(dir);
}

static void new_header_example(void **state)
{
    (void)state;
    check_new_header(0, 0xA53780C1u);
}

static void new_header_example_ordered(void **state)
{
    (void)state;
    check_new_header(SLC_ORDERED_KEYS, 0xA8555362u);
}

/* The CRC ignores generation and the crc field itself, covers the rest. */
static void header_crc_coverage(void **state)
{
    (void)state;
    uint64_t rs = t_seed("header_crc_coverage");
    uint8_t raw[SLC__HEADER_SIZE];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)t_rand(&rs);
    uint32_t base = slc__header_crc(raw);
    uint8_t img[SLC__HEADER_SIZE];
    memcpy(img, raw, sizeof img);
    memset(img + SLC__OFF_GENERATION, 0, 8);
    memset(img + SLC__OFF_HEADER_CRC, 0, 4);
    assert_int_equal(base, crc32c_bitwise(img, sizeof img));
    for (size_t off = 0; off < SLC__HEADER_SIZE; off++) {
        uint8_t m[SLC__HEADER_SIZE];
        memcpy(m, raw, sizeof m);
        m[off] ^= 0x5A;
        int excluded = (off >= SLC__OFF_GENERATION &&
                        off < SLC__OFF_GENERATION + 8) ||
                       (off >= SLC__OFF_HEADER_CRC &&
                        off < SLC__OFF_HEADER_CRC + 4);
        if (excluded)
            assert_int_equal(slc__header_crc(m), base);
        else if (slc__header_crc(m) == base)
            fail_msg("header byte 0x%02zx is not covered by the crc", off);
    }
}

/* ---- Header codec ----------------------------------------------------------- */

static void header_roundtrip(void **state)
{
    (void)state;
    uint64_t rs = t_seed("header_roundtrip");
    for (int iter = 0; iter < 200; iter++) {
        uint8_t raw[SLC__HEADER_SIZE], back[SLC__HEADER_SIZE];
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (uint8_t)t_rand(&rs);
        slc__header h, h2;
        slc__header_decode(raw, &h);
        /* Field by field against the offsets of SLC1 3.2. */
        assert_memory_equal(h.magic, raw, 4);
        assert_int_equal(h.version, slc__le32(raw + 0x04));
        assert_int_equal(h.header_size, slc__le32(raw + 0x08));
        assert_int_equal(h.key_size, slc__le32(raw + 0x0C));
        assert_int_equal(h.index_size, slc__le32(raw + 0x10));
        assert_int_equal(h.slot_size, slc__le32(raw + 0x14));
        assert_int_equal(h.hash_alg, slc__le32(raw + 0x18));
        assert_int_equal(h.flags, slc__le32(raw + 0x1C));
        assert_int_equal(h.slot_capacity, slc__le64(raw + 0x20));
        assert_int_equal(h.slot_highwater, slc__le64(raw + 0x28));
        assert_int_equal(h.live_count, slc__le64(raw + 0x30));
        assert_int_equal(h.user_version, slc__le64(raw + 0x38));
        assert_int_equal(h.generation, slc__le64(raw + 0x40));
        assert_int_equal(h.bucket_count, slc__le64(raw + 0x48));
        assert_int_equal(h.bucket_used, slc__le64(raw + 0x50));
        assert_int_equal(h.bucket_tombstones, slc__le64(raw + 0x58));
        assert_int_equal(h.slots_offset, slc__le64(raw + 0x60));
        assert_int_equal(h.buckets_offset, slc__le64(raw + 0x68));
        assert_int_equal(h.header_crc32c, slc__le32(raw + 0x70));
        assert_int_equal(h.state, slc__le32(raw + 0x74));
        assert_int_equal(h.user_flags, slc__le64(raw + 0x78));
        assert_memory_equal(h.user_data, raw + 0x80, 64);
        assert_memory_equal(h.reserved, raw + 0xC0, 64);
        /* Bytes -> struct -> bytes and struct -> bytes -> struct. */
        memset(back, 0xA5, sizeof back);
        slc__header_encode(&h, back);
        assert_memory_equal(back, raw, sizeof raw);
        slc__header_decode(back, &h2);
        slc__header_encode(&h2, back);
        assert_memory_equal(back, raw, sizeof raw);
    }
    /* Little-endian byte order, whatever the host. */
    uint8_t b[8];
    slc__put_le64(b, 0x0102030405060708ull);
    static const uint8_t le[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(b, le, 8);
}

/* ---- Sizing ----------------------------------------------------------------- */

static void bucket_count_values(void **state)
{
    (void)state;
    static const struct {
        uint64_t cap, want;
    } v[] = {{1, 2},
             {2, 4},
             {3, 8},
             {4, 8},
             {5, 16},
             {1000, 2048},
             {1024, 2048},
             {1025, 4096},
             {100000000, UINT64_C(1) << 28},
             {UINT64_C(1) << 62, UINT64_C(1) << 63},
             {(UINT64_C(1) << 61) + 1, UINT64_C(1) << 63}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t n = 0;
        assert_int_equal(slc__bucket_count(v[i].cap, &n), SLC_OK);
        assert_int_equal(n, v[i].want);
    }
    /* No power of two >= 2 * cap fits 64 bits, or cap is 0: refused, never
     * clamped, and the output is left alone. */
    static const uint64_t bad[] = {0, (UINT64_C(1) << 62) + 1,
                                   UINT64_C(1) << 63, UINT64_MAX - 1,
                                   UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t n = 99;
        assert_int_equal(slc__bucket_count(bad[i], &n), SLC_EINVAL);
        assert_int_equal(n, 99);
        assert_true(slc_errdetail()[0] != '\0');
    }
}

/* file = 256 + cap * slot + 16 * bucket_count(cap), computed here without
 * the library (cap small enough that nothing overflows). */
static uint64_t expected_size(uint64_t cap, uint32_t slot)
{
    uint64_t b = 2;
    while (b < 2 * cap)
        b *= 2;
    return 256 + cap * slot + 16 * b;
}

static void layout_values(void **state)
{
    (void)state;
    slc__layout l;
    assert_int_equal(slc__layout_for_create(16, 8, 1000, &l), SLC_OK);
    assert_int_equal(l.key_size, 16);
    assert_int_equal(l.index_size, 8);
    assert_int_equal(l.slot_size, 40);
    assert_int_equal(l.slot_capacity, 1000);
    assert_int_equal(l.bucket_count, 2048);
    assert_int_equal(l.slots_offset, 256);
    assert_int_equal(l.buckets_offset, 40256);
    assert_int_equal(l.file_size, 73024);

    /* The largest capacity and the largest sizes are still fine. */
    assert_int_equal(slc__layout_for_create(1, 0, 100000000, &l), SLC_OK);
    assert_int_equal(l.bucket_count, UINT64_C(1) << 28);
    assert_int_equal(l.file_size, expected_size(100000000, 24));
    assert_int_equal(slc__layout_for_create(512, 0, 1, &l), SLC_OK);
    assert_int_equal(l.slot_size, 528);
    assert_int_equal(slc__layout_for_create(1, SLC_MAX_INDEX_SIZE, 1, &l),
                     SLC_OK);
    assert_int_equal(l.file_size, 256 + (16 + 8 + SLC_MAX_INDEX_SIZE) + 32);
}

static void layout_limits(void **state)
{
    (void)state;
    slc__layout l;
    memset(&l, 0x5C, sizeof l);
    slc__layout untouched = l;
    assert_int_equal(slc__layout_for_create(16, 8, 0, &l), SLC_EINVAL);
    assert_int_equal(slc__layout_for_create(16, 8, 100000001, &l), SLC_EINVAL);
    assert_int_equal(slc__layout_for_create(16, 8, UINT64_MAX, &l), SLC_EINVAL);
    assert_int_equal(slc__layout_for_create(0, 8, 10, &l), SLC_EINVAL);
    assert_int_equal(slc__layout_for_create(513, 8, 10, &l), SLC_EINVAL);
    assert_int_equal(slc__layout_for_create(16, SLC_MAX_INDEX_SIZE + 1, 10, &l),
                     SLC_EINVAL);
    assert_memory_equal(&l, &untouched, sizeof l);

    /* The 1 TiB file limit, exactly: the biggest slots, then the largest
     * capacity whose file still fits, and one more slot. */
    uint32_t slot = 16 + 512 + SLC_MAX_INDEX_SIZE;
    uint64_t cap = (SLC_MAX_FILE_SIZE - 256 - 16 * (UINT64_C(1) << 21)) / slot;
    assert_true(2 * (cap + 1) <= (UINT64_C(1) << 21)); /* same bucket count */
    assert_true(expected_size(cap, slot) <= SLC_MAX_FILE_SIZE);
    assert_true(expected_size(cap + 1, slot) > SLC_MAX_FILE_SIZE);
    assert_int_equal(slc__layout_for_create(512, SLC_MAX_INDEX_SIZE, cap, &l),
                     SLC_OK);
    assert_int_equal(l.file_size, expected_size(cap, slot));
    memset(&l, 0x5C, sizeof l);
    assert_int_equal(
        slc__layout_for_create(512, SLC_MAX_INDEX_SIZE, cap + 1, &l),
        SLC_EINVAL);
    assert_memory_equal(&l, &untouched, sizeof l);
    assert_true(strstr(slc_errdetail(), "1 TiB") != NULL);
    /* Far above: 100,000,000 slots of 1 MiB. */
    assert_int_equal(
        slc__layout_for_create(512, SLC_MAX_INDEX_SIZE, 100000000, &l),
        SLC_EINVAL);
}

/* slc_open applies the same limits and creates nothing when they fail. */
static void open_refuses_impossible_layouts(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "big.slc");
    uint32_t slot = 16 + 512 + SLC_MAX_INDEX_SIZE;
    uint64_t over = (SLC_MAX_FILE_SIZE - 256 - 16 * (UINT64_C(1) << 21)) / slot +
                    1;
    const slc_options bad[] = {
        cu_opts(16, 8, 100000001, 0, 0),
        cu_opts(0, 8, 10, 0, 0),
        cu_opts(513, 8, 10, 0, 0),
        cu_opts(16, SLC_MAX_INDEX_SIZE + 1, 10, 0, 0),
        cu_opts(512, SLC_MAX_INDEX_SIZE, over, 0, 0),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        slc_cache *c = (slc_cache *)(uintptr_t)1;
        assert_int_equal(slc_open(path, &bad[i], &c), SLC_EINVAL);
        assert_null(c);
        assert_false(cu_exists(path));
    }
    free(path);
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fnv1a64_vectors),
        cmocka_unit_test(crc32c_vector),
        cmocka_unit_test(crc32c_paths_agree),
        cmocka_unit_test(slot_size_vectors),
        cmocka_unit_test(new_header_example),
        cmocka_unit_test(new_header_example_ordered),
        cmocka_unit_test(header_crc_coverage),
        cmocka_unit_test(header_roundtrip),
        cmocka_unit_test(bucket_count_values),
        cmocka_unit_test(layout_values),
        cmocka_unit_test(layout_limits),
        cmocka_unit_test(open_refuses_impossible_layouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
