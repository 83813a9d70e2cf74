/* SLC_WRITEBACK_SYNC: the msync barriers of SLC1 8.4 (S1-S7) and 10.8.
 *
 * msync is interposed: this file defines it, and the static test library
 * links against this definition instead of libc's. Each call is recorded
 * with its offset in the cache mapping, length, flags, and what the
 * mapping held at that moment (generation, state, header CRC, a checksum
 * of the slot and bucket sections); then it is forwarded to the kernel
 * with syscall(2), or fails with EIO when a test asks for it. */
#include "core_helpers.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include "cache.h"

enum { KS = 16, IS = 8, CAP = 1000, MAXCALLS = 64 };

typedef struct call {
    uint64_t off, len;
    int flags;
    uint64_t gen;
    uint32_t state, crc;
    uint32_t data_sum; /* CRC-32C of bytes [256, map_len) */
} call;

static struct {
    const uint8_t *base; /* the watched mapping */
    size_t len;
    call calls[MAXCALLS];
    size_t n, total;
    int fail_from, fail_to; /* calls with index in [from, to) fail */
} rec;

int msync(void *addr, size_t len, int flags)
{
    size_t i = rec.total++;
    if (rec.n < MAXCALLS) {
        call *c = &rec.calls[rec.n++];
        memset(c, 0, sizeof *c);
        const uint8_t *a = addr;
        c->off = rec.base && a >= rec.base && a < rec.base + rec.len
                     ? (uint64_t)(a - rec.base)
                     : UINT64_MAX;
        c->len = len;
        c->flags = flags;
        if (rec.base) {
            c->gen = __atomic_load_n((const uint64_t *)(const void *)(
                                         rec.base + SLC__OFF_GENERATION),
                                     __ATOMIC_RELAXED);
            c->state = slc__le32(rec.base + SLC__OFF_STATE);
            c->crc = slc__le32(rec.base + SLC__OFF_HEADER_CRC);
            c->data_sum = slc__crc32c(rec.base + SLC__HEADER_SIZE,
                                      rec.len - SLC__HEADER_SIZE);
        }
    }
    if ((int)i >= rec.fail_from && (int)i < rec.fail_to) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_msync, addr, len, flags);
}

static void watch(slc_cache *c)
{
    memset(&rec, 0, sizeof rec);
    rec.base = c->map;
    rec.len = c->map_len;
}

static void fail_calls(int from, int to)
{
    rec.fail_from = from;
    rec.fail_to = to;
}

static int fx_setup(void **state)
{
    memset(&rec, 0, sizeof rec);
    return cu_fx_setup(state);
}

static int fx_teardown(void **state)
{
    memset(&rec, 0, sizeof rec);
    return cu_fx_teardown(state);
}

static slc_cache *open_c(const char *path, uint32_t flags)
{
    slc_options o = cu_opts(KS, IS, CAP, 1, flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    return c;
}

static uint64_t page_size(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }

/* Covers [off, off+len) of the mapping? (msync rounds the length up to
 * whole pages, so the effective end is page-rounded too.) */
static int covers(const call *c, uint64_t x)
{
    uint64_t p = page_size();
    uint64_t end = (c->off + c->len + p - 1) / p * p;
    return c->off != UINT64_MAX && x >= c->off && x < end;
}

/* Check one Sync-mode commit or invalidation recorded from generation g:
 * header(odd, nothing changed yet), then data and header (odd, final CRC)
 * in one or more calls, then header(even). `before` and `after` are images of the mapping;
 * every changed byte past the header must be in a data barrier. */
static void check_commit_barriers(uint64_t g, const uint8_t *before,
                                  const uint8_t *after, size_t len)
{
    uint64_t p = page_size();
    assert_true(rec.n >= 3);
    assert_int_equal(rec.n, rec.total);
    uint32_t before_sum = slc__crc32c(before + 256, len - 256);
    uint32_t after_sum = slc__crc32c(after + 256, len - 256);
    uint32_t old_crc = slc__le32(before + SLC__OFF_HEADER_CRC);
    uint32_t new_crc = slc__le32(after + SLC__OFF_HEADER_CRC);
    for (size_t i = 0; i < rec.n; i++) {
        const call *c = &rec.calls[i];
        assert_int_equal(c->flags, MS_SYNC);
        assert_true(c->off != UINT64_MAX);
        assert_int_equal(c->off % p, 0); /* page-aligned start */
        assert_true(c->len > 0);
        assert_true(c->off + c->len <= len);
    }
    /* S2: the odd marker, before any data page changed. */
    const call *first = &rec.calls[0];
    assert_int_equal(first->off, 0);
    assert_true(first->len >= SLC__HEADER_SIZE);
    assert_int_equal(first->gen, g + 1);
    assert_int_equal(first->data_sum, before_sum);
    assert_int_equal(first->crc, old_crc);
    /* S5: every range changed in S3-S4, the header included, synced after
     * the CRC was stored and while the generation is still odd. How the
     * ranges are grouped into calls is the implementation's choice. */
    int header_synced = 0;
    for (size_t i = 1; i + 1 < rec.n; i++) {
        assert_int_equal(rec.calls[i].gen, g + 1);
        assert_int_equal(rec.calls[i].data_sum, after_sum);
        assert_int_equal(rec.calls[i].crc, new_crc);
        header_synced |= rec.calls[i].off == 0;
    }
    assert_true(header_synced);
    /* S7: the even marker. */
    const call *last = &rec.calls[rec.n - 1];
    assert_int_equal(last->off, 0);
    assert_true(last->len >= SLC__HEADER_SIZE);
    assert_int_equal(last->gen, g + 2);
    assert_int_equal(last->data_sum, after_sum);
    /* Every changed slot and bucket byte was synced in S5. */
    for (size_t x = SLC__HEADER_SIZE; x < len; x++) {
        if (before[x] == after[x])
            continue;
        int ok = 0;
        for (size_t i = 1; i + 1 < rec.n && !ok; i++)
            ok = covers(&rec.calls[i], x);
        if (!ok)
            fail_msg("changed byte %zu (0x%02x -> 0x%02x) not synced before "
                     "the even store",
                     x, before[x], after[x]);
    }
}

static uint8_t *image(slc_cache *c)
{
    uint8_t *m = malloc(c->map_len);
    assert_non_null(m);
    slc__copy_out(m, c->map, c->map_len);
    return m;
}

static uint64_t gen_of(slc_cache *c)
{
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    return g;
}

static void commit_barriers_in_order(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, SLC_WRITEBACK_SYNC);
    assert_int_equal(rec.total, 0); /* creation uses fsync, not msync */
    /* First commit: inserts spread over many slot and bucket pages. */
    slc_writer *w;
    watch(c);
    uint8_t *before = image(c);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 600; n++)
        assert_int_equal(cu_put(w, KS, IS, n, (int64_t)n), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 9), SLC_OK);
    assert_int_equal(rec.total, 0); /* staging syncs nothing */
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint8_t *after = image(c);
    check_commit_barriers(0, before, after, c->map_len);
    free(before);
    free(after);

    /* Scattered updates, deletes and inserts. */
    watch(c);
    before = image(c);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 5; n < 600; n += 97)
        assert_int_equal(cu_put(w, KS, IS, n, -1), SLC_OK);
    for (uint64_t n = 3; n < 600; n += 151) {
        uint8_t k[KS];
        cu_key(k, KS, n);
        assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    }
    assert_int_equal(cu_put(w, KS, IS, 5000, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    after = image(c);
    check_commit_barriers(2, before, after, c->map_len);
    free(before);
    free(after);

    /* A rehash rewrites the bucket section: all of it is synced. */
    watch(c);
    before = image(c);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 600; n++) {
        uint8_t k[KS];
        cu_key(k, KS, n);
        assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    after = image(c);
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(st.bucket_tombstones, 0);
    assert_int_equal(st.live_count, 1);
    check_commit_barriers(4, before, after, c->map_len);
    free(before);
    free(after);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void empty_commit_syncs_header(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, SLC_WRITEBACK_SYNC);
    watch(c);
    uint8_t *before = image(c);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint8_t *after = image(c);
    check_commit_barriers(0, before, after, c->map_len);
    /* Nothing but the header: odd marker, header, even marker. */
    assert_int_equal(rec.n, 3);
    free(before);
    free(after);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void no_msync_without_sync_mode(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, 0);
    watch(c);
    slc_writer *w;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        for (uint64_t n = 0; n < 100; n++)
            assert_int_equal(cu_put(w, KS, IS, n + 100 * (uint64_t)i, 1),
                             SLC_OK);
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
    }
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(rec.total, 0);

    /* Sync mode, but a commit that fails in planning publishes nothing
     * and syncs nothing. */
    char *p2 = t_join(f->dir, "small.slc");
    slc_options o = cu_opts(KS, IS, 2, 1, SLC_WRITEBACK_SYNC);
    assert_int_equal(slc_open(p2, &o, &c), SLC_OK);
    watch(c);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 3; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(rec.total, 0);
    assert_int_equal(slc_close(c), SLC_OK);
    free(p2);
}

static void invalidate_syncs_header_three_times(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, SLC_WRITEBACK_SYNC);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    watch(c);
    uint32_t sum = slc__crc32c(c->map + 256, c->map_len - 256);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(rec.total, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rec.calls[i].off, 0);
        assert_true(rec.calls[i].len >= SLC__HEADER_SIZE);
        assert_int_equal(rec.calls[i].flags, MS_SYNC);
        assert_int_equal(rec.calls[i].data_sum, sum); /* header only */
    }
    /* After the odd store; after the change; after the even store. */
    assert_int_equal(rec.calls[0].gen, 3);
    assert_int_equal(rec.calls[0].state, 0);
    assert_int_equal(rec.calls[1].gen, 3);
    assert_int_equal(rec.calls[1].state, 1);
    assert_int_equal(rec.calls[2].gen, 4);
    assert_int_equal(rec.calls[2].state, 1);
    assert_int_equal(rec.calls[2].crc, rec.calls[1].crc);
    /* Idempotent: a second call writes and syncs nothing. */
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(rec.total, 3);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void failed_msync_still_publishes(void **state)
{
    fx *f = *state;
    /* Fail every barrier, then only the first one (S2). */
    static const int ranges[][2] = {{0, 1000}, {0, 1}, {2, 3}};
    for (size_t r = 0; r < 3; r++) {
        unlink(f->path);
        slc_cache *c = open_c(f->path, SLC_WRITEBACK_SYNC);
        slc_cache *other = open_c(f->path, 0);
        watch(c);
        fail_calls(ranges[r][0], ranges[r][1]);
        slc_writer *w;
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        for (uint64_t n = 0; n < 10; n++)
            assert_int_equal(cu_put(w, KS, IS, n, (int64_t)n + 1), SLC_OK);
        assert_int_equal(slc_set_user_flags(w, 123), SLC_OK);
        assert_int_equal(slc_commit(w), SLC_EWRITEBACK);
        assert_true(strstr(slc_errdetail(), "msync") != NULL);
        /* The session is over either way. */
        assert_int_equal(cu_put(w, KS, IS, 99, 1), SLC_ECLOSED);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        /* Published: even generation advanced, data visible elsewhere. */
        assert_int_equal(gen_of(other), 2);
        assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 2);
        uint64_t n, uf;
        assert_int_equal(slc_len(other, &n), SLC_OK);
        assert_int_equal(n, 10);
        for (uint64_t i = 0; i < 10; i++)
            cu_expect_get(other, KS, IS, i, (int64_t)i + 1);
        assert_int_equal(slc_user_header(other, &uf, NULL), SLC_OK);
        assert_int_equal(uf, 123);
        assert_int_equal(slc_verify(other), SLC_OK);
        /* Lock and registry mark were released. */
        fail_calls(0, 0);
        assert_int_equal(slc_begin_write(other, &w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(gen_of(other), 4);
        assert_int_equal(slc_close(other), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
        /* The file on disk is sound. */
        slc_options o = cu_opts(KS, IS, 0, 1, 0);
        assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
        assert_int_equal(slc_verify(c), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

static void failed_msync_in_invalidate(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, SLC_WRITEBACK_SYNC);
    slc_cache *other = open_c(f->path, 0);
    watch(c);
    fail_calls(0, 1);
    assert_int_equal(slc_invalidate(c), SLC_EWRITEBACK);
    /* The sequence went on after the failure. */
    assert_int_equal(rec.total, 3);
    uint64_t n;
    assert_int_equal(slc_len(other, &n), SLC_EINVALIDATED);
    assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 2);
    assert_int_equal(cu_get32(f->path, SLC__OFF_STATE), 1);
    fail_calls(0, 0);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(other, &w), SLC_EINVALIDATED);
    assert_int_equal(slc_close(other), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(commit_barriers_in_order),
        T(empty_commit_syncs_header),
        T(no_msync_without_sync_mode),
        T(invalidate_syncs_header_three_times),
        T(failed_msync_still_publishes),
        T(failed_msync_in_invalidate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
