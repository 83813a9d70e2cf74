/* fuzz_prefix: prefix and range specifications against a brute-force
 * matcher. The input builds a small cache (key size, ordered or not, keys,
 * deletes), then a series of slc_scan_prefix / slc_scan_range / slc_scan
 * calls with fuzzed specs and options. Each result is compared with a
 * bit-by-bit filter over one full slc_scan, and every SLC_EINVAL decision
 * with the rules of SLC1 11.6 and 11.7 (and the check order of API.md:
 * invalidated, then SLC_EUNORDERED, then arguments).
 *
 * Ordered caches take the binary-search path of scan.c (range scans and
 * offset-0 prefixes), unordered ones the full walk: both must agree with
 * the same brute force. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#define FP_MAX_KEYS 48
#define FP_MAX_QUERIES 64
#define FP_MAX_PATTERN 4096

typedef struct fp_ctx {
    slc_cache *c;
    uint32_t ks, is;
    int ordered;
    fz_got all; /* one full slc_scan: the brute force works on it */
    fz_ent *ents;
    size_t n;
} fp_ctx;

static void fp_key(fz_in *in, uint32_t ks, const uint8_t *prev, uint8_t *k)
{
    uint8_t kb = fz_u8(in);
    if ((kb & 0x80) && prev) { /* a near neighbour shares a prefix */
        memcpy(k, prev, ks);
        uint32_t pos = fz_u8(in) % ks;
        if (kb & 0x40)
            k[pos] ^= (uint8_t)(1u << (kb & 7));
        else
            k[pos] = fz_u8(in);
        return;
    }
    uint32_t head = 1 + kb % 8;
    if (head > ks)
        head = ks;
    fz_bytes(in, k, head);
    memset(k + head, fz_u8(in), ks - head);
}

/* Build the cache; 0 if the input asks for nothing usable. */
static void fp_build(fz_in *in, fp_ctx *x)
{
    uint8_t b0 = fz_u8(in), b1 = fz_u8(in), b2 = fz_u8(in);
    static const uint32_t big[4] = {32, 64, 100, 512};
    x->ks = b0 >= 0xF0 ? big[b0 & 3] : 1u + b0 % 24u;
    x->is = b1 % 5;
    x->ordered = (b1 & 0x80) != 0;
    size_t n = b2 % (FP_MAX_KEYS + 1);
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = x->ks;
    o.index_size = x->is;
    o.slot_capacity = n ? n : 1;
    o.flags = (x->ordered ? SLC_ORDERED_KEYS : 0) |
              ((b1 & 0x40) ? SLC_NO_LOCK : 0);
    const char *path = fz_path(0, "prefix.slc");
    fz_remove(path);
    FZ_RC(slc_open(path, &o, &x->c), SLC_OK, "create");

    static uint8_t keys[FP_MAX_KEYS][SLC_MAX_KEY_SIZE];
    slc_writer *w;
    FZ_RC(slc_begin_write(x->c, &w), SLC_OK, "begin");
    for (size_t i = 0; i < n; i++) {
        fp_key(in, x->ks, i ? keys[i - 1] : NULL, keys[i]);
        uint8_t ix[8];
        memset(ix, (int)i, sizeof ix);
        int64_t rev = (int64_t)(i * 0x9E3779B97F4A7C15ull);
        FZ_RC(slc_put(w, keys[i], x->ks, rev, ix, x->is), SLC_OK, "put");
    }
    /* One commit from empty: ordered mode sorts it, nothing is out of
     * order. Then deletes leave tombstones that keep their keys. */
    FZ_RC(slc_commit(w), SLC_OK, "commit inserts");
    FZ_RC(slc_writer_close(w), SLC_OK, "writer_close");
    uint64_t del = fz_u64(in);
    if (del) {
        FZ_RC(slc_begin_write(x->c, &w), SLC_OK, "begin");
        for (size_t i = 0; i < n; i++)
            if (del >> (i % 64) & 1)
                FZ_RC(slc_delete(w, keys[i], x->ks, NULL), SLC_OK, "delete");
        FZ_RC(slc_commit(w), SLC_OK, "commit deletes");
        FZ_RC(slc_writer_close(w), SLC_OK, "writer_close");
    }
    FZ_RC(slc_verify(x->c), SLC_OK, "verify");

    /* The brute force's ground truth: one full scan. */
    fz_got_init(&x->all, x->ks, x->is, NULL);
    fz_scanq all;
    memset(&all, 0, sizeof all);
    FZ_RC(fz_run_scan(x->c, &all, &x->all), SLC_OK, "full scan");
    x->n = x->all.count;
    x->ents = malloc((x->n ? x->n : 1) * sizeof *x->ents);
    FZ_CHECK(x->ents, "out of memory");
    uint64_t live;
    FZ_RC(slc_len(x->c, &live), SLC_OK, "len");
    FZ_CHECK(live == x->n, "len %llu, full scan %zu", (unsigned long long)live,
             x->n);
    for (size_t i = 0; i < x->n; i++) {
        x->ents[i] = fz_got_at(&x->all, i);
        FZ_CHECK(i == 0 || x->ents[i].slot_id > x->ents[i - 1].slot_id,
                 "full scan not in slot order");
        FZ_CHECK(!x->ordered || i == 0 ||
                     memcmp(x->ents[i - 1].key, x->ents[i].key, x->ks) < 0,
                 "ordered cache: live keys not ascending");
    }
}

/* Candidates (ascending slot id) for a key predicate. */
static size_t fp_filter(const fp_ctx *x, fz_ent *out,
                        int (*pred)(const fp_ctx *, const uint8_t *,
                                    const void *),
                        const void *arg)
{
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++)
        if (pred(x, x->ents[i].key, arg))
            out[k++] = x->ents[i];
    return k;
}

static int fp_pred_prefix(const fp_ctx *x, const uint8_t *key, const void *a)
{
    (void)x;
    return fz_prefix_match(a, key);
}

typedef struct fp_bounds {
    const uint8_t *lo, *hi;
} fp_bounds;

static int fp_pred_range(const fp_ctx *x, const uint8_t *key, const void *a)
{
    const fp_bounds *b = a;
    return fz_range_match(x->ks, b->lo, b->hi, key);
}

/* Pattern or bound bytes: an existing key's bytes from `off`, input bytes
 * past the key, maybe one flipped bit. Exactly `len` bytes of heap (ASan
 * sees reads past it); lengths that no valid spec has get a small buffer
 * the library must never read. */
static uint8_t *fp_bytes(fz_in *in, const fp_ctx *x, uint64_t off, size_t len,
                         int *small)
{
    static uint8_t tiny[16];
    *small = len > FP_MAX_PATTERN;
    if (*small)
        return tiny;
    uint8_t *p = malloc(len ? len : 1);
    FZ_CHECK(p, "out of memory");
    uint8_t src = fz_u8(in);
    const uint8_t *key = x->n ? x->ents[src % x->n].key : NULL;
    for (size_t j = 0; j < len; j++)
        p[j] = key && off + j < x->ks ? key[off + j] : fz_u8(in);
    uint8_t flip = fz_u8(in);
    if (len && (flip & 0x80))
        p[(flip & 0x7F) % len] ^= (uint8_t)(1u << (flip & 7));
    return p;
}

static void fp_prefix_query(fz_in *in, fp_ctx *x, int invalidated)
{
    slc_prefix p;
    memset(&p, 0, sizeof p);
    uint8_t sel = fz_u8(in);
    switch (sel & 7) {
    case 0: case 1: case 2: p.offset = 0; break;
    case 3: case 4: p.offset = fz_u8(in) % (x->ks + 1); break;
    case 5: p.offset = x->ks; break;
    case 6: p.offset = fz_u32(in); break;
    default: p.offset = UINT32_MAX; break;
    }
    switch ((sel >> 3) & 3) {
    case 0: p.bits = 0; break;
    case 1: p.bits = fz_u8(in) % 9; break;
    case 2: p.bits = fz_u16(in) % (8 * x->ks + 16); break;
    default: p.bits = fz_u32(in); break;
    }
    uint8_t ls = fz_u8(in);
    switch (ls & 3) {
    case 0: case 1: /* consistent with bits */
        if (p.bits)
            p.len = (size_t)(((uint64_t)p.bits + 7) / 8);
        else
            p.len = 1 + fz_u8(in) % x->ks;
        break;
    case 2: p.len = fz_u8(in) % (x->ks + 4); break;
    default: p.len = (ls & 4) ? SIZE_MAX : (size_t)fz_u64(in); break;
    }
    int small;
    uint8_t *pat = fp_bytes(in, x, p.offset, p.len, &small);
    p.bytes = (sel & 0xE0) == 0xE0 && (ls & 8) ? NULL : pat;
    int null_spec = (sel & 0xE0) == 0xE0 && (ls & 16);
    fz_scanq q;
    fz_scanq_read(in, &q, (ls & 0x20) != 0);
    fz_got g;
    fz_got_init(&g, x->ks, x->is, &q);
    int rc = fz_run_prefix(x->c, null_spec ? NULL : &p, &q, &g);
    if (invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "prefix scan on an invalidated cache");
    } else if (null_spec || !fz_scanq_valid(&q) || !fz_prefix_valid(x->ks, &p)) {
        FZ_RC(rc, SLC_EINVAL, "prefix spec or options invalid");
    } else {
        FZ_CHECK(!small, "harness: a valid spec with a huge pattern");
        fz_ent *cand = malloc((x->n ? x->n : 1) * sizeof *cand);
        FZ_CHECK(cand, "out of memory");
        size_t n = fp_filter(x, cand, fp_pred_prefix, &p);
        fz_expect_scan(rc, &g, &q, cand, n, "prefix scan");
        free(cand);
    }
    fz_got_free(&g);
    if (!small)
        free(pat);
}

static uint8_t *fp_bound(fz_in *in, const fp_ctx *x, size_t *len, int *small)
{
    uint8_t sel = fz_u8(in);
    *small = 0;
    switch (sel & 7) {
    case 0: case 1: return NULL;
    case 2: case 3: *len = x->ks; break;
    case 4: case 5: *len = 1 + fz_u8(in) % x->ks; break;
    case 6: *len = (sel & 8) ? 0 : x->ks + 1 + fz_u8(in); break;
    default: *len = (sel & 8) ? SIZE_MAX : (size_t)fz_u64(in); break;
    }
    return fp_bytes(in, x, 0, *len, small);
}

static void fp_range_query(fz_in *in, fp_ctx *x, int invalidated)
{
    size_t sl = (size_t)fz_u8(in) * 3, el = (size_t)fz_u8(in) * 5;
    int ss, es;
    uint8_t *s = fp_bound(in, x, &sl, &ss), *e = fp_bound(in, x, &el, &es);
    fz_scanq q;
    fz_scanq_read(in, &q, (fz_u8(in) & 1) != 0);
    fz_got g;
    fz_got_init(&g, x->ks, x->is, &q);
    int rc = fz_run_range(x->c, s, sl, e, el, &q, &g);
    uint8_t lo[SLC_MAX_KEY_SIZE], hi[SLC_MAX_KEY_SIZE];
    int empty;
    if (invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "range scan on an invalidated cache");
    } else if (!x->ordered) {
        FZ_RC(rc, SLC_EUNORDERED, "range scan on an unordered cache");
    } else if (!fz_scanq_valid(&q) ||
               !fz_range_valid(x->ks, s, sl, e, el, lo, hi, &empty)) {
        FZ_RC(rc, SLC_EINVAL, "range bounds or options invalid");
    } else {
        FZ_CHECK(!ss && !es, "harness: a valid bound with a huge length");
        fp_bounds b = {s ? lo : NULL, e ? hi : NULL};
        fz_ent *cand = malloc((x->n ? x->n : 1) * sizeof *cand);
        FZ_CHECK(cand, "out of memory");
        size_t n = empty ? 0 : fp_filter(x, cand, fp_pred_range, &b);
        fz_expect_scan(rc, &g, &q, cand, n, "range scan");
        free(cand);
    }
    fz_got_free(&g);
    if (s && !ss)
        free(s);
    if (e && !es)
        free(e);
}

static void fp_scan_query(fz_in *in, fp_ctx *x, int invalidated)
{
    fz_scanq q;
    fz_scanq_read(in, &q, 1);
    fz_got g;
    fz_got_init(&g, x->ks, x->is, &q);
    int rc = fz_run_scan(x->c, &q, &g);
    if (invalidated)
        FZ_RC(rc, SLC_EINVALIDATED, "scan on an invalidated cache");
    else if (!fz_scanq_valid(&q))
        FZ_RC(rc, SLC_EINVAL, "scan options invalid");
    else
        fz_expect_scan(rc, &g, &q, x->ents, x->n, "scan");
    fz_got_free(&g);
}

int fz_prefix_one(const uint8_t *data, size_t size)
{
    fz_fd_begin();
    fz_in in = {data, size};
    fp_ctx x;
    memset(&x, 0, sizeof x);
    fp_build(&in, &x);
    int invalidated = 0;
    for (int i = 0; in.n && i < FP_MAX_QUERIES; i++) {
        uint8_t k = fz_u8(&in);
        if (k == 0xFF && !invalidated) {
            /* From now on everything is SLC_EINVALIDATED, first. */
            FZ_RC(slc_invalidate(x.c), SLC_OK, "invalidate");
            invalidated = 1;
            continue;
        }
        switch (k % 4) {
        case 0: case 1: fp_prefix_query(&in, &x, invalidated); break;
        case 2: fp_range_query(&in, &x, invalidated); break;
        default: fp_scan_query(&in, &x, invalidated); break;
        }
    }
    FZ_RC(slc_close(x.c), SLC_OK, "close");
    fz_got_free(&x.all);
    free(x.ents);
    fz_remove(fz_path(0, "prefix.slc"));
    fz_fd_end();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_prefix_one(data, size);
}
