/* Direct tests for bugs that mutation testing (scripts/mutate.py) found
 * nothing else would catch, or caught only through a fuzz regression or the
 * CLI test: each case names the mutant(s) of scripts/mutants*.txt it kills.
 * Most work on crafted files - byte states this library's writer never
 * produces but another SLC1 implementation (or damage) may. */
#include "core_helpers.h"

#include <inttypes.h>

/* ---- A crafted file, built byte by byte -------------------------------- */

typedef struct craft_slot {
    uint64_t meta;
    const uint8_t *key; /* key_size bytes */
    int64_t rev;
} craft_slot;

typedef struct craft_bucket {
    uint64_t hash, slot_plus1; /* slot_plus1 0 = EMPTY, UINT64_MAX = TOMBSTONE */
} craft_bucket;

/* Write an SLC1 file with index_size 0, the given slots (0..n_slots-1 =
 * slot_highwater) and all bucket_count buckets (b NULL: the index a writer
 * would build for the live slots); counters follow from them. The header
 * CRC is valid. */
static void craft(const char *path, uint32_t key_size, uint64_t capacity,
                  uint64_t bucket_count, uint32_t flags, const craft_slot *s,
                  uint64_t n_slots, const craft_bucket *b)
{
    uint32_t slot_size = 16 + slc__align8(key_size);
    uint64_t buckets_off = SLC__HEADER_SIZE + capacity * slot_size;
    size_t len = (size_t)(buckets_off + 16 * bucket_count);
    uint8_t *img = calloc(1, len);
    assert_non_null(img);
    slc__header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "SLC1", 4);
    h.version = 1;
    h.header_size = SLC__HEADER_SIZE;
    h.key_size = key_size;
    h.slot_size = slot_size;
    h.hash_alg = SLC__HASH_FNV1A64;
    h.flags = flags;
    h.slot_capacity = capacity;
    h.slot_highwater = n_slots;
    h.bucket_count = bucket_count;
    h.slots_offset = SLC__HEADER_SIZE;
    h.buckets_offset = buckets_off;
    for (uint64_t i = 0; i < n_slots; i++) {
        uint8_t *p = img + SLC__HEADER_SIZE + i * slot_size;
        slc__put_le64(p, s[i].meta);
        memcpy(p + 8, s[i].key, key_size);
        slc__put_le64(p + 8 + slc__align8(key_size), (uint64_t)s[i].rev);
        h.live_count += s[i].meta & 1;
    }
    craft_bucket *own = NULL;
    if (!b) { /* the index a writer would build: live slots in id order */
        own = calloc(bucket_count, sizeof *own);
        assert_non_null(own);
        for (uint64_t i = 0; i < n_slots; i++) {
            if (!(s[i].meta & 1))
                continue;
            uint64_t hash = slc__fnv1a64(s[i].key, key_size);
            uint64_t j = hash & (bucket_count - 1);
            while (own[j].slot_plus1)
                j = (j + 1) & (bucket_count - 1);
            own[j] = (craft_bucket){hash, i + 1};
        }
        b = own;
    }
    for (uint64_t i = 0; i < bucket_count; i++) {
        uint8_t *p = img + buckets_off + 16 * i;
        slc__put_le64(p, b[i].hash);
        slc__put_le64(p + 8, b[i].slot_plus1);
        h.bucket_used += b[i].slot_plus1 && b[i].slot_plus1 != UINT64_MAX;
        h.bucket_tombstones += b[i].slot_plus1 == UINT64_MAX;
    }
    slc__header_encode(&h, img);
    slc__put_le32(img + SLC__OFF_HEADER_CRC, slc__header_crc(img));
    assert_int_equal(t_write_file(path, img, len), 0);
    free(img);
    free(own);
}

static slc_cache *open_k(const char *path, uint32_t key_size, uint32_t flags)
{
    slc_options o = cu_opts(key_size, 0, 0, 0, flags);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    if (rc != SLC_OK)
        fail_msg("open %s: %s (%s)", path, slc_strerror(rc), slc_errdetail());
    return c;
}

static int count_entry(const slc_entry *e, void *ctx)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* Collects the one key a scan delivers. */
typedef struct one_key {
    uint8_t key[SLC_MAX_KEY_SIZE];
    size_t key_size;
    int n;
} one_key;

static int take_key(const slc_entry *e, void *ctx)
{
    one_key *k = ctx;
    memcpy(k->key, e->key, k->key_size);
    k->n++;
    return 0;
}

/* ---- Equal stored hashes: the full key decides ------------------------- */

/* Commit key A, then change one byte of slot 0's key to make B: the bucket
 * still carries FNV-1a(A). No lookup may find either key (A's bucket names
 * a slot holding B; B's hash is in no bucket), a scan still delivers B, and
 * slc_verify reports the stale hash. Byte 0 kills read-key-skip-word0, the
 * last key byte (inside the partial last word of a 12-byte key)
 * read-key-skip-rest. */
static void equal_hash_case(const fx *f, size_t at)
{
    const uint32_t ks = 12;
    slc_options o = cu_opts(ks, 0, 4, 0, 0);
    cu_make(f->path, &o, 1);
    uint8_t a[12], b[12];
    cu_key(a, ks, 0);
    memcpy(b, a, ks);
    b[at] ^= 0x5A;
    slc__header h;
    cu_header(f->path, &h);
    cu_pwrite(f->path, h.slots_offset + 8 + at, &b[at], 1);
    assert_int_not_equal(slc__fnv1a64(a, ks), slc__fnv1a64(b, ks));

    slc_cache *c = open_k(f->path, ks, 0);
    int64_t rev = 77;
    assert_int_equal(slc_get(c, a, ks, &rev, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(slc_get(c, b, ks, &rev, NULL, 0), SLC_NOTFOUND);
    int res[2] = {99, 99};
    uint8_t keys[24];
    memcpy(keys, a, ks);
    memcpy(keys + ks, b, ks);
    assert_int_equal(slc_get_many(c, keys, 2, ks, res, NULL, NULL, 0), SLC_OK);
    assert_int_equal(res[0], SLC_NOTFOUND);
    assert_int_equal(res[1], SLC_NOTFOUND);
    one_key got = {.key_size = ks};
    assert_int_equal(slc_scan(c, NULL, take_key, &got), SLC_OK);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.key, b, ks);
    assert_int_equal(slc_verify(c), SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "FNV-1a"));
    assert_int_equal(slc_close(c), SLC_OK);
}

static void equal_hash_first_word(void **state)
{
    equal_hash_case(*state, 0);
}

static void equal_hash_last_byte(void **state)
{
    equal_hash_case(*state, 11);
}

/* key_pad bytes need not be zero in files from elsewhere (SLC1 4.2): a
 * lookup compares key_size bytes only (kills read-key-pad-compared), while
 * slc_verify, which checks this library's own invariants, flags them. */
static void key_pad_nonzero_live_slot(void **state)
{
    fx *f = *state;
    const uint32_t ks = 12;
    slc_options o = cu_opts(ks, 0, 4, 0, 0);
    cu_make(f->path, &o, 2);
    slc__header h;
    cu_header(f->path, &h);
    uint8_t pad = 0xC3;
    cu_pwrite(f->path, h.slots_offset + 8 + ks + 1, &pad, 1);
    slc_cache *c = open_k(f->path, ks, 0);
    cu_expect_get(c, ks, 0, 0, 1);
    cu_expect_get(c, ks, 0, 1, 2);
    assert_int_equal(slc_verify(c), SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "padding"));
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- The last EMPTY bucket --------------------------------------------- */

/* A file from an implementation that sizes the index tighter (capacity 3,
 * 4 buckets: SLC1 5.2 allows any count above the capacity): two live keys,
 * one tombstone, one EMPTY bucket. A commit inserting a key whose home is
 * that EMPTY bucket would leave no EMPTY bucket; the writer must rehash or
 * fail with SLC_EFULL first (SLC1 5.2). This writer fails with SLC_EFULL
 * and publishes nothing; the file keeps an EMPTY bucket. Kills
 * writer-last-empty-bucket. */
static void last_empty_bucket(void **state)
{
    fx *f = *state;
    const uint32_t ks = 8;
    uint8_t ka[8], kb[8], kn[8];
    cu_key(ka, ks, 1);
    cu_key(kb, ks, 2);
    uint64_t ha = slc__fnv1a64(ka, ks), hb = slc__fnv1a64(kb, ks);
    craft_bucket b[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    /* Linear probing places A, then B; a tombstone takes one more bucket. */
    uint64_t ia = ha & 3, ib = hb & 3;
    b[ia] = (craft_bucket){ha, 1};
    while (b[ib].slot_plus1)
        ib = (ib + 1) & 3;
    b[ib] = (craft_bucket){hb, 2};
    uint64_t it = 0;
    while (b[it].slot_plus1)
        it++;
    b[it] = (craft_bucket){0, UINT64_MAX};
    uint64_t empty = 0;
    while (b[empty].slot_plus1)
        empty++;
    craft_slot s[2] = {{1, ka, 10}, {1, kb, 20}};
    craft(f->path, ks, 3, 4, 0, s, 2, b);
    /* A new key whose probe starts at the EMPTY bucket. */
    uint64_t n = 100;
    do
        cu_key(kn, ks, ++n);
    while ((slc__fnv1a64(kn, ks) & 3) != empty);

    slc_cache *c = open_k(f->path, ks, 0);
    assert_int_equal(slc_verify(c), SLC_OK); /* the crafted file is sound */
    uint64_t g0, g1;
    assert_int_equal(slc_generation(c, &g0), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_put(w, kn, ks, 30, NULL, 0), SLC_OK);
    int rc = slc_commit(w);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_generation(c, &g1), SLC_OK);
    /* This writer refuses before placing (writer.c: inserts must leave an
     * EMPTY bucket); it does not rehash. */
    assert_int_equal(rc, SLC_EFULL);
    assert_int_equal(g1, g0); /* nothing published */
    int64_t rev = 0;
    assert_int_equal(slc_get(c, kn, ks, &rev, NULL, 0), SLC_NOTFOUND);
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_true(st.bucket_used + st.bucket_tombstones < st.bucket_count);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_get(c, ka, ks, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, 10);
    assert_int_equal(slc_get(c, kb, ks, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, 20);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Ordered scans: key order ignores key_pad -------------------------- */

/* Ordered file, 12-byte keys: put K, delete K, put K again (equal to the
 * tail, so allowed): slot 0 is a tombstone holding K, slot 1 live K. A
 * nonzero key_pad byte in the tombstone must not make the neighbours look
 * out of order to bounded walks (kills scan-keystep-pad-compared; before
 * this test only the fuzz regression tombstone-key-pad-neighbour-order did). */
static void ordered_scan_ignores_key_pad(void **state)
{
    fx *f = *state;
    const uint32_t ks = 12;
    slc_options o = cu_opts(ks, 0, 4, 0, SLC_ORDERED_KEYS);
    uint8_t k[12];
    cu_key(k, ks, 5);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    for (int step = 0; step < 3; step++) {
        slc_writer *w = NULL;
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        if (step == 1)
            assert_int_equal(slc_delete(w, k, ks, NULL), SLC_OK);
        else
            assert_int_equal(slc_put(w, k, ks, step + 1, NULL, 0), SLC_OK);
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
    }
    assert_int_equal(slc_close(c), SLC_OK);
    slc__header h;
    cu_header(f->path, &h);
    assert_int_equal(h.slot_highwater, 2);
    uint8_t pad = 0xFF;
    for (uint32_t i = ks; i < 16; i++) /* every pad byte of the tombstone */
        cu_pwrite(f->path, h.slots_offset + 8 + i, &pad, 1);

    c = open_k(f->path, ks, SLC_ORDERED_KEYS);
    for (int reverse = 0; reverse < 2; reverse++) {
        slc_scan_opts so = {NULL, NULL, reverse ? SLC_SCAN_REVERSE : 0, 0, 0};
        int n = 0;
        assert_int_equal(slc_scan_range(c, NULL, 0, NULL, 0, &so, count_entry,
                                        &n),
                         SLC_OK);
        assert_int_equal(n, 1);
        n = 0;
        uint8_t lo[1] = {0};
        assert_int_equal(slc_scan_range(c, lo, 1, NULL, 0, &so, count_entry, &n),
                         SLC_OK);
        assert_int_equal(n, 1);
        n = 0;
        slc_prefix p = {0, 0, k, 4};
        assert_int_equal(slc_scan_prefix(c, &p, &so, count_entry, &n), SLC_OK);
        assert_int_equal(n, 1);
    }
    /* The tombstone's pad is outside the live-slot rules of slc_verify. */
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Range bounds that equal stored keys ------------------------------- */

static int collect_first_byte(const slc_entry *e, void *ctx)
{
    t_buf *b = ctx;
    t_buf_printf(b, "%c", e->key[0]);
    return 0;
}

/* Range scans are start <= key < end (SLC1 11.7): a stored key equal to
 * the start is in, one equal to the end is out, in both directions
 * (kills scan-range-end-inclusive, which no corpus input reached). */
static void range_bounds_equal_keys(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(4, 0, 8, 0, SLC_ORDERED_KEYS);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    const char *keys[] = {"a000", "b000", "c000", "d000"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(slc_put(w, keys[i], 4, i, NULL, 0), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    static const struct {
        const char *start, *end;
        uint32_t flags;
        const char *want;
    } cases[] = {
        {"b000", "d000", 0, "bc"},
        {"b000", "d000", SLC_SCAN_REVERSE, "cb"},
        {"b000", "c000", 0, "b"},
        {"a000", "b000", SLC_SCAN_REVERSE, "a"},
        {NULL, "a000", 0, ""},
        {"d000", NULL, 0, "d"},
        {"c000", "c001", SLC_SCAN_REVERSE, "c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t_buf got = {0};
        t_buf_printf(&got, "%s", "");
        slc_scan_opts so = {NULL, NULL, cases[i].flags, 0, 0};
        assert_int_equal(slc_scan_range(c, cases[i].start,
                                        cases[i].start ? 4 : 0, cases[i].end,
                                        cases[i].end ? 4 : 0, &so,
                                        collect_first_byte, &got),
                         SLC_OK);
        if (strcmp(got.s, cases[i].want) != 0)
            fail_msg("range [%s, %s)%s: got \"%s\", want \"%s\"",
                     cases[i].start ? cases[i].start : "-",
                     cases[i].end ? cases[i].end : "-",
                     cases[i].flags ? " reverse" : "", got.s, cases[i].want);
        t_buf_free(&got);
    }
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- slc_get_many: reserved meta bits ---------------------------------- */

/* A live slot whose meta has a reserved bit set is SLC_ECORRUPT for
 * slc_get_many as for slc_get, whichever path (fast or full probe) finds
 * it (kills read-many-meta-bits). */
static void get_many_bad_meta(void **state)
{
    fx *f = *state;
    const uint32_t ks = 16;
    slc_options o = cu_opts(ks, 8, 8, 0, 0);
    cu_make(f->path, &o, 3);
    slc__header h;
    cu_header(f->path, &h);
    cu_set64(f->path, h.slots_offset + 1 * h.slot_size, 0x3); /* key 1 */
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    uint8_t keys[3 * 16];
    for (int i = 0; i < 3; i++)
        cu_key(keys + 16 * i, ks, (uint64_t)i);
    int res[3];
    int64_t revs[3];
    uint8_t ix[3 * 8];
    int64_t rev;
    assert_int_equal(slc_get(c, keys + 16, ks, &rev, NULL, 0), SLC_ECORRUPT);
    assert_int_equal(slc_get_many(c, keys + 16, 1, ks, res, revs, ix, 8),
                     SLC_ECORRUPT);
    assert_int_equal(slc_get_many(c, keys, 3, ks, res, revs, ix, 8),
                     SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "reserved"));
    /* The healthy keys alone still read. */
    uint8_t two[2 * 16];
    memcpy(two, keys, 16);
    memcpy(two + 16, keys + 32, 16);
    assert_int_equal(slc_get_many(c, two, 2, ks, res, revs, NULL, 0), SLC_OK);
    assert_int_equal(res[0], SLC_OK);
    assert_int_equal(res[1], SLC_OK);
    assert_int_equal(revs[0], 1);
    assert_int_equal(revs[1], 3);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- slc_get_many agrees with slc_get on damaged buckets ---------------- */

/* A crafted file (4 slots, 64 buckets, key K live in slot 0) whose only
 * FULL bucket, at K's home, is damaged in one of two ways; K's home is
 * past the 32 buckets open samples, so the file opens. slc_get_many must
 * give slc_get's verdict, whichever of its passes decides:
 *  - the bucket names slot 0 but stores a hash other than FNV-1a(K): the
 *    hash is a hint that rules slot 0 out, SLC_NOTFOUND (kills
 *    index-candidate-hash-ignored: the first pass took it anyway);
 *  - the bucket names slot 5 >= slot_highwater: SLC_ECORRUPT (kills
 *    index-many-no-full-probe: no candidate, and the bucket that ended the
 *    first pass is not EMPTY, so the full probe must run). */
static void get_many_damaged_bucket(void **state)
{
    fx *f = *state;
    const uint32_t ks = 16;
    const uint64_t nb = 64;
    uint8_t k[16];
    uint64_t n = 0, hash;
    do {
        cu_key(k, ks, n++);
        hash = slc__fnv1a64(k, ks);
    } while ((hash & (nb - 1)) < 32);
    craft_slot s[1] = {{1, k, 9}};
    craft_bucket b[64];
    for (int damage = 0; damage < 2; damage++) {
        memset(b, 0, sizeof b);
        b[hash & (nb - 1)] = damage == 0 ? (craft_bucket){hash ^ 1, 1}
                                         : (craft_bucket){hash, 6};
        craft(f->path, ks, 4, nb, 0, s, 1, b);
        slc_cache *c = open_k(f->path, ks, 0);
        int want = damage == 0 ? SLC_NOTFOUND : SLC_ECORRUPT;
        int64_t rev = 77;
        assert_int_equal(slc_get(c, k, ks, &rev, NULL, 0), want);
        int res[1] = {99};
        int64_t revs[1] = {77};
        int rc = slc_get_many(c, k, 1, ks, res, revs, NULL, 0);
        if (damage == 0) {
            assert_int_equal(rc, SLC_OK);
            assert_int_equal(res[0], SLC_NOTFOUND);
        } else {
            assert_int_equal(rc, SLC_ECORRUPT);
            assert_non_null(strstr(slc_errdetail(), "slot_highwater"));
        }
        assert_int_equal(slc_verify(c), SLC_ECORRUPT);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* ---- slc_verify: one key in two FULL buckets --------------------------- */

/* Two live slots hold key A, and both buckets carry FNV-1a(A), the second
 * on the first's probe path: every other check passes (distinct slots,
 * right hashes, reachable, counters match), but lookups stop at the first
 * bucket, so the second slot is a live entry nobody can read (kills
 * verify-dup-key; before this only the Python CLI test did). */
static void verify_duplicate_key(void **state)
{
    fx *f = *state;
    const uint32_t ks = 8;
    uint8_t ka[8];
    cu_key(ka, ks, 42);
    uint64_t ha = slc__fnv1a64(ka, ks);
    craft_bucket b[8];
    memset(b, 0, sizeof b);
    uint64_t home = ha & 7;
    b[home] = (craft_bucket){ha, 1};
    b[(home + 1) & 7] = (craft_bucket){ha, 2};
    craft_slot s[2] = {{1, ka, 1}, {1, ka, 2}};
    craft(f->path, ks, 4, 8, 0, s, 2, b);
    slc_cache *c = open_k(f->path, ks, 0);
    int64_t rev = 0;
    assert_int_equal(slc_get(c, ka, ks, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, 1); /* the first bucket on the path wins */
    assert_int_equal(slc_verify(c), SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "same key"));
    assert_int_equal(slc_close(c), SLC_OK);

    /* Control: the same file with distinct keys verifies. */
    uint8_t kb[8];
    cu_key(kb, ks, 43);
    uint64_t hb = slc__fnv1a64(kb, ks);
    memset(b, 0, sizeof b);
    b[home] = (craft_bucket){ha, 1};
    uint64_t ib = hb & 7;
    while (b[ib].slot_plus1)
        ib = (ib + 1) & 7;
    b[ib] = (craft_bucket){hb, 2};
    craft_slot s2[2] = {{1, ka, 1}, {1, kb, 2}};
    craft(f->path, ks, 4, 8, 0, s2, 2, b);
    c = open_k(f->path, ks, 0);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- slc_verify, one invariant at a time ------------------------------- */

/* Each case breaks exactly one invariant of slc_verify's list (verify.c)
 * and expects SLC_ECORRUPT with the detail naming that invariant: several
 * faults overlap (a bucket naming a deleted slot also upsets the counts),
 * and only the detail shows which check fired (kills the verify-*
 * mutants that only the Python CLI test or nothing caught). */
static void expect_verify(const char *path, uint32_t ks, uint32_t flags,
                          const char *detail)
{
    slc_cache *c = open_k(path, ks, flags);
    int rc = slc_verify(c);
    if (rc != SLC_ECORRUPT || !strstr(slc_errdetail(), detail))
        fail_msg("slc_verify: %s (%s), want SLC_ECORRUPT with \"%s\"",
                 slc_strerror(rc), slc_errdetail(), detail);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void verify_control(const char *path, uint32_t ks, uint32_t flags)
{
    slc_cache *c = open_k(path, ks, flags);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void verify_each_invariant(void **state)
{
    fx *f = *state;
    const uint32_t ks = 8;
    uint8_t ka[8], kb[8], kc[8];
    cu_key(ka, ks, 1);
    cu_key(kb, ks, 2);
    cu_key(kc, ks, 3);
    uint64_t ha = slc__fnv1a64(ka, ks), home = ha & 7;

    /* Sound files, as controls for the crafting itself. */
    craft_slot abc[3] = {{1, ka, 1}, {1, kb, 2}, {1, kc, 3}};
    craft(f->path, ks, 4, 8, SLC__FLAG_ORDERED_KEYS, abc, 3, NULL);
    verify_control(f->path, ks, SLC_ORDERED_KEYS);

    /* Ordered keys out of order (verify-ordered-off). */
    craft_slot bac[3] = {{1, kb, 1}, {1, ka, 2}, {1, kc, 3}};
    craft(f->path, ks, 4, 8, SLC__FLAG_ORDERED_KEYS, bac, 3, NULL);
    expect_verify(f->path, ks, SLC_ORDERED_KEYS, "sorts below");
    craft(f->path, ks, 4, 8, 0, bac, 3, NULL); /* fine when unordered */
    verify_control(f->path, ks, 0);

    /* A key cut off from its home by an EMPTY bucket (verify-path-empty). */
    craft_bucket b[8];
    memset(b, 0, sizeof b);
    b[(home + 1) & 7] = (craft_bucket){ha, 1};
    craft_slot a1[1] = {{1, ka, 1}};
    craft(f->path, ks, 4, 8, 0, a1, 1, b);
    expect_verify(f->path, ks, 0, "cut off");

    /* Two buckets naming one slot (verify-two-buckets-one-slot): A's own
     * bucket comes first in index order, a second one naming slot 0 right
     * after it (where the seen-check fires before its hash is looked at);
     * B is live but unindexed, so FULL == live_count == 2. */
    {
        uint8_t kx[8];
        uint64_t n = 10, hx;
        do
            cu_key(kx, ks, ++n);
        while (((hx = slc__fnv1a64(kx, ks)) & 7) == 7);
        memset(b, 0, sizeof b);
        b[hx & 7] = (craft_bucket){hx, 1};
        b[(hx & 7) + 1] = (craft_bucket){hx, 1};
        craft_slot xb[2] = {{1, kx, 1}, {1, kb, 2}};
        craft(f->path, ks, 4, 8, 0, xb, 2, b);
        expect_verify(f->path, ks, 0, "named by two buckets");
    }

    /* A FULL bucket naming a deleted slot, counts consistent: A live and
     * indexed, B deleted but indexed, C live but not indexed
     * (verify-deleted-slot). */
    memset(b, 0, sizeof b);
    b[home] = (craft_bucket){ha, 1};
    uint64_t hb = slc__fnv1a64(kb, ks), ib = hb & 7;
    while (b[ib].slot_plus1)
        ib = (ib + 1) & 7;
    b[ib] = (craft_bucket){hb, 2};
    craft_slot adc[3] = {{1, ka, 1}, {0, kb, 2}, {1, kc, 3}};
    craft(f->path, ks, 4, 8, 0, adc, 3, b);
    expect_verify(f->path, ks, 0, "names deleted slot");

    /* Fewer USED slots than live_count (verify-live-count). */
    craft(f->path, ks, 4, 8, 0, abc, 3, NULL);
    cu_set64(f->path, SLC__HEADER_SIZE + 2 * 24, 0); /* slot 2 meta */
    expect_verify(f->path, ks, 0, "live slots, header live_count");
}

/* Nonzero tail padding after the index bytes of a live slot
 * (verify-tail-pad); zero tail after a deleted slot's index is not asked. */
static void verify_tail_padding(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(8, 3, 4, 0, 0);
    cu_make(f->path, &o, 2);
    slc__header h;
    cu_header(f->path, &h);
    assert_int_equal(h.slot_size, 32); /* meta, key, rev, 3 index + 5 tail */
    uint8_t x = 0x80;
    cu_pwrite(f->path, h.slots_offset + h.slot_size + 24 + 3 + 4, &x, 1);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    cu_expect_get(c, 8, 3, 1, 2); /* readers do not care */
    assert_int_equal(slc_verify(c), SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "tail padding"));
    assert_int_equal(slc_close(c), SLC_OK);
}

/* A header field fixed at creation changed under an open handle (with a
 * fresh CRC): slc_verify compares with what open validated
 * (verify-fixed-bucket-count). */
static void verify_fixed_field_changed(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(8, 0, 4, 0, 0);
    cu_make(f->path, &o, 2);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    uint64_t bc = cu_get64(f->path, SLC__OFF_BUCKET_COUNT);
    cu_set64(f->path, SLC__OFF_BUCKET_COUNT, bc * 2);
    cu_fix_crc(f->path);
    assert_int_equal(slc_verify(c), SLC_ECORRUPT);
    assert_non_null(strstr(slc_errdetail(), "bucket_count"));
    cu_set64(f->path, SLC__OFF_BUCKET_COUNT, bc);
    cu_fix_crc(f->path);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(equal_hash_first_word, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(equal_hash_last_byte, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(key_pad_nonzero_live_slot, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(last_empty_bucket, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(ordered_scan_ignores_key_pad,
                                        cu_fx_setup, cu_fx_teardown),
        cmocka_unit_test_setup_teardown(range_bounds_equal_keys, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(get_many_bad_meta, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(get_many_damaged_bucket, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(verify_duplicate_key, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(verify_each_invariant, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(verify_tail_padding, cu_fx_setup,
                                        cu_fx_teardown),
        cmocka_unit_test_setup_teardown(verify_fixed_field_changed,
                                        cu_fx_setup, cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
