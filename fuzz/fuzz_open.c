/* fuzz_open: hostile files. The input is 8 control bytes and an SLC1 file
 * image; the harness writes the image (optionally repaired or resized, see
 * below), opens it with options derived from its header (sometimes
 * perturbed, sometimes SLC_NO_LOCK), then runs every read, a small write
 * session and maybe an invalidation on it.
 *
 * Only status codes may come out, and what comes out must be honest:
 *   - no entry is returned unless a live slot of the file holds exactly
 *     those key, revision and index bytes (no false positives), in order;
 *   - scans over unordered files, and everything on files slc_verify
 *     accepts, must equal a brute-force reading of the bytes exactly;
 *   - a failed open, failed commit or abandoned session leaves the file
 *     byte for byte unchanged; a commit publishes exactly generation + 2;
 *     a verified file stays verified across a commit, whose outcome
 *     (SLC_EFULL, SLC_EOUTOFORDER, new contents) is predicted.
 *
 * Size cap: the harness only ever extends a file to the length its header
 * asks for when that is at most FO_MAX_FILE (1 MiB), and the layout repair
 * maps capacities above 4096 into 1..4096. Longer claims stay as short as
 * the input, which open must reject (file shorter than the layout) without
 * touching the missing bytes. Every loop in here is bounded by that size.
 *
 * Control bytes:
 *   c0  bit 0-1 options: exact from the header (0, 1), perturbed (2), or
 *               nonsense (3); bit 2 SLC_NO_LOCK; bit 3 SLC_WRITEBACK_SYNC;
 *               bit 4 capacity option 0; bit 5 write session; bit 6
 *               invalidate at the end; bit 7 recompute the header CRC
 *   c1  perturbation / probe selector
 *   c2  bit 0-1 length: as given, required, required + c3, required - 1 -
 *               c3; bit 2 force an even generation; bit 3 repair the layout
 *   c3  length delta; bit 7 also: close the session without commit
 *   c4  probe slot base   c5 write ops   c6 scan options   c7 prefix spec */
#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define FO_CTRL 8
#define FO_MAX_FILE (1u << 20)
#define FO_MAX_REPAIR_CAP 4096u

/* What the harness knows about the file once it opened: all from bytes. */
typedef struct fo_file {
    uint8_t *bytes; /* the whole file as written */
    size_t len;
    uint32_t ks, is, ss;
    uint64_t cap, hw, live, bc, gen;
    int ordered;
    slc_cache *c;
    int verified; /* slc_verify said SLC_OK */
    int exact;    /* verified and no key is live twice: writes predictable */
} fo_file;

static const uint8_t *fo_slot(const fo_file *f, uint64_t id)
{
    return f->bytes + 256 + id * f->ss;
}
static uint64_t fo_meta(const fo_file *f, uint64_t id)
{
    return fz_le64(fo_slot(f, id));
}
static const uint8_t *fo_key_of(const fo_file *f, uint64_t id)
{
    return fo_slot(f, id) + 8;
}
static int64_t fo_rev_of(const fo_file *f, uint64_t id)
{
    return (int64_t)fz_le64(fo_slot(f, id) + 8 + fz_align8(f->ks));
}
static const uint8_t *fo_index_of(const fo_file *f, uint64_t id)
{
    return fo_slot(f, id) + 16 + fz_align8(f->ks);
}

/* ---- Repairs ------------------------------------------------------------ */

static void fo_repair_layout(uint8_t *h)
{
    uint32_t ks = fz_le32(h + 0x0C), is = fz_le32(h + 0x10);
    if (ks == 0 || ks > SLC_MAX_KEY_SIZE)
        ks = 1 + ks % 64;
    if (is > 256)
        is %= 257;
    uint64_t cap = fz_le64(h + 0x20);
    if (cap == 0 || cap > FO_MAX_REPAIR_CAP)
        cap = 1 + cap % FO_MAX_REPAIR_CAP;
    uint32_t ss = 16 + fz_align8(ks) + fz_align8(is);
    fz_put32(h + 0x0C, ks);
    fz_put32(h + 0x10, is);
    fz_put32(h + 0x14, ss);
    fz_put64(h + 0x20, cap);
    fz_put64(h + 0x48, fz_bucket_count(cap));
    fz_put64(h + 0x60, 256);
    fz_put64(h + 0x68, 256 + cap * ss);
}

/* Length the header asks for, if it is computable. */
static int fo_required(const uint8_t *h, uint64_t *req)
{
    uint64_t m;
    return !__builtin_mul_overflow(fz_le64(h + 0x48), 16, &m) &&
           !__builtin_add_overflow(m, fz_le64(h + 0x68), req);
}

static slc_options fo_options(const uint8_t *h, const uint8_t *c)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = fz_le32(h + 0x0C);
    o.index_size = fz_le32(h + 0x10);
    o.user_version = fz_le64(h + 0x38);
    o.slot_capacity = (c[0] & 0x10) ? 0 : fz_le64(h + 0x20);
    o.flags = (fz_le32(h + 0x1C) & 1) ? SLC_ORDERED_KEYS : 0;
    switch (c[0] & 3) {
    case 2:
        switch (c[1] % 10) {
        case 0: o.key_size++; break;
        case 1: o.index_size ^= 1; break;
        case 2: o.user_version++; break;
        case 3: o.slot_capacity++; break;
        case 4: o.flags ^= SLC_ORDERED_KEYS; break;
        case 5: o.key_size = 0; break;
        case 6: o.flags |= 1u << 4; break; /* unknown */
        case 7: o.slot_capacity = SLC_MAX_SLOT_CAPACITY + 1ull; break;
        case 8: o.key_size = SLC_MAX_KEY_SIZE + 1; break;
        default: o.flags |= SLC_READ_ONLY; break;
        }
        break;
    case 3:
        o.key_size = c[1] % 40;
        o.index_size = c[4] % 20;
        o.slot_capacity = c[6] % 8;
        break;
    default: break;
    }
    if (c[0] & 4)
        o.flags |= SLC_NO_LOCK;
    if (c[0] & 8)
        o.flags |= SLC_WRITEBACK_SYNC;
    if ((c[0] & 3) < 2 && (c[1] & 0xC0) == 0xC0)
        o.flags |= SLC_READ_ONLY; /* PROT_READ mapping, no writes */
    return o;
}

static void fo_check_bytes(const char *path, const uint8_t *want, size_t len,
                           const char *what)
{
    size_t got_len;
    uint64_t size;
    uint8_t *got = fz_read_file(path, len + 1, &got_len, &size);
    FZ_CHECK(got, "%s: cannot read the file", what);
    FZ_CHECK(size == len && got_len == len, "%s: size %llu, was %zu", what,
             (unsigned long long)size, len);
    for (size_t i = 0; i < len; i++)
        FZ_CHECK(got[i] == want[i], "%s: byte 0x%zx is %02x, was %02x", what,
                 i, got[i], want[i]);
    free(got);
}

/* ---- Reads -------------------------------------------------------------- */

typedef int (*fo_pred)(const fo_file *f, const fz_ent *e, const void *arg);

/* Every delivered entry is a live slot of the file with these exact bytes,
 * matching the key predicate and filter, in strictly monotonic slot order:
 * the no-false-positive rule. */
static void fo_honest(const fo_file *f, const fz_got *g, int reverse,
                      fo_pred pred, const void *arg, int kind,
                      const char *what)
{
    for (size_t i = 0; i < g->count; i++) {
        fz_ent e = fz_got_at(g, i);
        FZ_CHECK(e.slot_id < f->hw, "%s: slot %llu >= highwater", what,
                 (unsigned long long)e.slot_id);
        FZ_CHECK(fo_meta(f, e.slot_id) == 1, "%s: slot %llu is not live", what,
                 (unsigned long long)e.slot_id);
        FZ_CHECK(memcmp(e.key, fo_key_of(f, e.slot_id), f->ks) == 0 &&
                     e.revision == fo_rev_of(f, e.slot_id) &&
                     (!f->is ||
                      memcmp(e.index, fo_index_of(f, e.slot_id), f->is) == 0),
                 "%s: slot %llu bytes differ from the file", what,
                 (unsigned long long)e.slot_id);
        FZ_CHECK(!pred || pred(f, &e, arg), "%s: slot %llu does not match",
                 what, (unsigned long long)e.slot_id);
        FZ_CHECK(fz_filter_keeps(kind, &e), "%s: slot %llu fails the filter",
                 what, (unsigned long long)e.slot_id);
        if (i) {
            uint64_t p = fz_got_at(g, i - 1).slot_id;
            FZ_CHECK(reverse ? p > e.slot_id : p < e.slot_id,
                     "%s: entries out of slot order", what);
        }
    }
}

/* SLC1 11.2/11.5 brute force over the bytes: the code and entries a walk of
 * ids [0, hw) must produce, with the ECORRUPT of a visited slot whose meta
 * has reserved bits. Snapshot walks gather up to the limit before the first
 * visit; streaming ones visit (and may be stopped) as they go. */
static void fo_expect_walk(const fo_file *f, int rc, const fz_got *g,
                           const fz_scanq *q, fo_pred pred, const void *arg,
                           const char *what)
{
    slc_scan_opts o = {NULL, NULL, 0, 0, 0};
    int kind = FZ_FILTER_NONE;
    if (!q->null_opts) {
        o = q->opts;
        kind = q->filter_kind;
    }
    int reverse = (o.flags & SLC_SCAN_REVERSE) != 0;
    int streaming = (o.flags & SLC_SCAN_STREAMING) != 0;
    uint64_t skipped = 0;
    size_t n = 0;
    int want = SLC_OK;
    for (uint64_t k = 0; k < f->hw; k++) {
        uint64_t id = reverse ? f->hw - 1 - k : k;
        uint64_t meta = fo_meta(f, id);
        if (meta & ~UINT64_C(1)) {
            want = SLC_ECORRUPT;
            if (!streaming)
                n = 0;
            break;
        }
        fz_ent e = {id, fo_rev_of(f, id), fo_key_of(f, id), fo_index_of(f, id)};
        if (!meta || (pred && !pred(f, &e, arg)))
            continue;
        if (!fz_filter_keeps(kind, &e))
            continue;
        if (skipped < o.offset) {
            skipped++;
            continue;
        }
        n++;
        if (streaming && q->stop_after && n == q->stop_after) {
            want = q->stop_value;
            break;
        }
        if (o.limit && n == o.limit)
            break;
    }
    if (!streaming && want == SLC_OK && q->stop_after && n >= q->stop_after) {
        n = q->stop_after;
        want = q->stop_value;
    }
    FZ_RC(rc, want, what);
    FZ_CHECK(g->count == n, "%s: %zu entries delivered, expected %zu", what,
             g->count, n);
}

static int fo_pred_prefix(const fo_file *f, const fz_ent *e, const void *a)
{
    (void)f;
    return fz_prefix_match(a, e->key);
}

typedef struct fo_bounds {
    const uint8_t *lo, *hi;
} fo_bounds;

static int fo_pred_range(const fo_file *f, const fz_ent *e, const void *a)
{
    const fo_bounds *b = a;
    return fz_range_match(f->ks, b->lo, b->hi, e->key);
}

static int fo_pred_match(const fo_file *f, const fz_ent *e, const void *a)
{
    (void)f;
    const slc_index_match *m = a;
    const uint8_t *v = m->value, *k = m->mask;
    for (uint32_t i = 0; i < m->len; i++) {
        uint8_t mk = k ? k[i] : 0xFF;
        if ((e->index[m->offset + i] & mk) != (v[i] & mk))
            return 0;
    }
    return 1;
}

/* A scan's result: always honest; exact where the walk is predictable
 * (full walks, or any walk on a verified file). */
static void fo_judge(const fo_file *f, int rc, const fz_got *g,
                     const fz_scanq *q, fo_pred pred, const void *arg,
                     int exact, const char *what)
{
    int reverse = !q->null_opts && (q->opts.flags & SLC_SCAN_REVERSE);
    fo_honest(f, g, reverse, pred, arg,
              q->null_opts ? FZ_FILTER_NONE : q->filter_kind, what);
    if (exact || f->verified)
        fo_expect_walk(f, rc, g, q, pred, arg, what);
    else
        FZ_CHECK(rc == SLC_OK || rc == SLC_ECORRUPT || rc == q->stop_value,
                 "%s: unexpected %d", what, rc);
}

/* Two live slots with one key: slc_verify need not notice (SLC1 11.8 asks
 * for counters, buckets, hashes and order), but then which slot an upsert or
 * delete reaches is the probe's business, not this harness's. */
static const fo_file *fo_sort_file;
static int fo_cmp_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return memcmp(fo_key_of(fo_sort_file, x), fo_key_of(fo_sort_file, y),
                  fo_sort_file->ks);
}

static int fo_dup_live_keys(const fo_file *f)
{
    uint64_t *ids = malloc((f->hw ? f->hw : 1) * sizeof *ids);
    FZ_CHECK(ids, "out of memory");
    size_t n = 0;
    for (uint64_t id = 0; id < f->hw; id++)
        if (fo_meta(f, id) == 1)
            ids[n++] = id;
    fo_sort_file = f;
    qsort(ids, n, sizeof *ids, fo_cmp_ids);
    int dup = 0;
    for (size_t i = 1; i < n && !dup; i++)
        dup = fo_cmp_ids(&ids[i - 1], &ids[i]) == 0;
    free(ids);
    return dup;
}

static void fo_reads(fo_file *f, const uint8_t *c)
{
    slc_cache *h = f->c;
    const uint8_t *hd = f->bytes;
    slc_stat s;
    FZ_RC(slc_stat_get(h, &s), SLC_OK, "stat");
    FZ_CHECK(s.key_size == f->ks && s.index_size == f->is &&
                 s.slot_size == f->ss && s.slot_capacity == f->cap &&
                 s.slot_highwater == f->hw && s.live_count == f->live &&
                 s.generation == f->gen && s.bucket_count == f->bc &&
                 s.flags == fz_le32(hd + 0x1C) &&
                 s.bucket_used == fz_le64(hd + 0x50) &&
                 s.bucket_tombstones == fz_le64(hd + 0x58) &&
                 s.user_version == fz_le64(hd + 0x38),
             "stat differs from the header");
    uint64_t x;
    FZ_RC(slc_len(h, &x), SLC_OK, "len");
    FZ_CHECK(x == f->live, "len");
    FZ_RC(slc_generation(h, &x), SLC_OK, "generation");
    FZ_CHECK(x == f->gen, "generation");
    uint8_t ud[64];
    FZ_RC(slc_user_header(h, &x, ud), SLC_OK, "user header");
    FZ_CHECK(x == fz_le64(hd + 0x78) && memcmp(ud, hd + 0x80, 64) == 0,
             "user header differs from the file");

    int vrc = slc_verify(h);
    FZ_CHECK(vrc == SLC_OK || vrc == SLC_ECORRUPT, "verify: %d", vrc);
    f->verified = vrc == SLC_OK;
    f->exact = f->verified && !fo_dup_live_keys(f);

    /* Point lookups: keys of slots (live or not) and a near miss. */
    uint8_t *ib = malloc(f->is + 1);
    FZ_CHECK(ib, "out of memory");
    for (int k = 0; k < 4; k++) {
        uint8_t key[SLC_MAX_KEY_SIZE];
        uint64_t id = f->hw ? (c[4] + 7u * (unsigned)k) % f->hw : 0;
        if (f->hw)
            memcpy(key, fo_key_of(f, id), f->ks);
        else
            memset(key, c[4], f->ks);
        if (k == 3)
            key[c[1] % f->ks] ^= 0x01;
        int64_t rev = 0;
        ib[f->is] = 0xA5;
        int rc = slc_get(h, key, f->ks, &rev, ib, f->is);
        FZ_CHECK(ib[f->is] == 0xA5, "get wrote past the index buffer");
        int found = 0, match = 0;
        for (uint64_t j = 0; j < f->hw; j++) {
            if (fo_meta(f, j) != 1 || memcmp(fo_key_of(f, j), key, f->ks))
                continue;
            found = 1;
            if (rev == fo_rev_of(f, j) &&
                (!f->is || !memcmp(ib, fo_index_of(f, j), f->is)))
                match = 1;
        }
        if (rc == SLC_OK)
            FZ_CHECK(match, "get returned an entry no live slot holds");
        else
            FZ_CHECK(rc == SLC_NOTFOUND || rc == SLC_ECORRUPT, "get: %d", rc);
        if (f->verified)
            FZ_RC(rc, found ? SLC_OK : SLC_NOTFOUND, "get on a verified file");
    }
    free(ib);

    /* The same lookups batched: keys of up to 40 slots, some varied, so
     * groups of 16 meet hits, misses, collisions and broken buckets. */
    size_t nk = 1 + (c[6] + c[1]) % 40;
    uint8_t *keys = malloc(nk * f->ks);
    int *res = malloc(nk * sizeof *res);
    int64_t *revs = malloc(nk * sizeof *revs);
    uint8_t *ixs = malloc(nk * f->is + 1);
    FZ_CHECK(keys && res && revs && ixs, "out of memory");
    for (size_t k = 0; k < nk; k++) {
        uint8_t *key = keys + k * f->ks;
        if (f->hw)
            memcpy(key, fo_key_of(f, (c[4] + 5u * k) % f->hw), f->ks);
        else
            memset(key, (int)k, f->ks);
        if ((c[1] >> (k % 8)) & 1)
            key[k % f->ks] ^= 0x80;
    }
    int mrc = slc_get_many(h, keys, nk, f->ks, res, revs, ixs, f->is);
    FZ_CHECK(mrc == SLC_OK || mrc == SLC_ECORRUPT, "get_many: %d", mrc);
    if (f->verified)
        FZ_RC(mrc, SLC_OK, "get_many on a verified file");
    for (size_t k = 0; mrc == SLC_OK && k < nk; k++) {
        const uint8_t *key = keys + k * f->ks;
        int found = 0, match = 0;
        for (uint64_t j = 0; j < f->hw; j++) {
            if (fo_meta(f, j) != 1 || memcmp(fo_key_of(f, j), key, f->ks))
                continue;
            found = 1;
            if (revs[k] == fo_rev_of(f, j) &&
                (!f->is || !memcmp(ixs + k * f->is, fo_index_of(f, j), f->is)))
                match = 1;
        }
        FZ_CHECK(res[k] == SLC_OK || res[k] == SLC_NOTFOUND,
                 "get_many result %d", res[k]);
        if (res[k] == SLC_OK)
            FZ_CHECK(match, "get_many returned an entry no live slot holds");
        if (f->verified)
            FZ_RC(res[k], found ? SLC_OK : SLC_NOTFOUND,
                  "get_many on a verified file");
    }
    free(keys);
    free(res);
    free(revs);
    free(ixs);

    fz_in in = {c + 5, 3};
    fz_scanq q;
    fz_scanq_read(&in, &q, 0);
    fz_got g;
    fz_got_init(&g, f->ks, f->is, &q);

    int rc = fz_run_scan(h, &q, &g);
    fo_judge(f, rc, &g, &q, NULL, NULL, 1, "scan");

    /* A prefix from a slot's key: bits from c7, offset from c1. */
    uint8_t pat[SLC_MAX_KEY_SIZE];
    slc_prefix p;
    memset(&p, 0, sizeof p);
    p.offset = (c[7] & 0x80) ? c[1] % f->ks : 0;
    uint32_t room = f->ks - p.offset;
    p.bits = (c[7] & 0x40) ? 0 : 1 + c[7] % (8 * (room < 4 ? room : 4));
    p.len = p.bits ? (p.bits + 7) / 8 : 1 + c[7] % room;
    if (f->hw)
        memcpy(pat, fo_key_of(f, c[4] % f->hw) + p.offset, p.len);
    else
        memset(pat, c[7], p.len);
    p.bytes = pat;
    FZ_CHECK(fz_prefix_valid(f->ks, &p), "harness: invalid prefix");
    rc = fz_run_prefix(h, &p, &q, &g);
    int bsearch = f->ordered && p.offset == 0;
    fo_judge(f, rc, &g, &q, fo_pred_prefix, &p, !bsearch, "prefix scan");

    /* A range between two slots' keys (ordered files only). */
    const uint8_t *lo = NULL, *hi = NULL;
    size_t ll = f->ks, hl = f->ks;
    if (f->hw && (c[7] & 1))
        lo = fo_key_of(f, c[4] % f->hw);
    if (f->hw && (c[7] & 2))
        hi = fo_key_of(f, (c[4] + c[1]) % f->hw);
    if (c[7] & 4) {
        ll = 1 + c[1] % f->ks;
        hl = 1 + c[6] % f->ks;
    }
    rc = fz_run_range(h, lo, ll, hi, hl, &q, &g);
    uint8_t plo[SLC_MAX_KEY_SIZE], phi[SLC_MAX_KEY_SIZE];
    int empty;
    if (!f->ordered) {
        FZ_RC(rc, SLC_EUNORDERED, "range on an unordered file");
    } else if (!fz_range_valid(f->ks, lo, ll, hi, hl, plo, phi, &empty)) {
        FZ_RC(rc, SLC_EINVAL, "range with start > end");
    } else if (empty) {
        FZ_RC(rc, SLC_OK, "empty range");
        FZ_CHECK(g.count == 0, "empty range delivered entries");
    } else {
        fo_bounds b = {lo ? plo : NULL, hi ? phi : NULL};
        fo_judge(f, rc, &g, &q, fo_pred_range, &b, 0, "range scan");
    }

    /* Index bytes of a slot as the built-in match (files with an index). */
    if (f->is) {
        slc_index_match m;
        memset(&m, 0, sizeof m);
        m.offset = c[6] % f->is;
        uint32_t left = f->is - m.offset;
        m.len = 1 + c[7] % (left < SLC_MAX_MATCH_LEN ? left : SLC_MAX_MATCH_LEN);
        uint8_t val[SLC_MAX_MATCH_LEN], msk[SLC_MAX_MATCH_LEN];
        const uint8_t *src = f->hw ? fo_index_of(f, c[4] % f->hw) : NULL;
        for (uint32_t i = 0; i < m.len; i++) {
            val[i] = src ? src[m.offset + i] : (uint8_t)i;
            msk[i] = (uint8_t)(c[1] * (i + 1));
        }
        m.value = val;
        m.mask = (c[3] & 1) ? msk : NULL;
        rc = fz_run_match(h, &m, &q, &g);
        fo_judge(f, rc, &g, &q, fo_pred_match, &m, 1, "match scan");
    }
    fz_got_free(&g);
}

/* ---- Write session ------------------------------------------------------ */

typedef struct fo_op {
    uint8_t key[SLC_MAX_KEY_SIZE];
    int put; /* else delete */
    int64_t rev;
} fo_op;

/* Up to 4 staged operations from c5 and their predicted commit. */
static void fo_write(fo_file *f, const char *path, const uint8_t *c)
{
    fo_op ops[4];
    size_t nops = 0;
    for (int k = 0; k < 4; k++) {
        unsigned sel = (c[5] >> (2 * k)) & 3u;
        if (!sel)
            continue;
        fo_op *op = &ops[nops++];
        uint64_t id = f->hw ? (c[4] + 3u * (unsigned)k) % f->hw : 0;
        if (f->hw)
            memcpy(op->key, fo_key_of(f, id), f->ks);
        else
            memset(op->key, 0x40 + k, f->ks);
        if (sel == 3) /* a new key next to an existing one */
            op->key[f->ks - 1] = (uint8_t)(op->key[f->ks - 1] + 1 + k);
        op->put = sel != 2;
        op->rev = (int64_t)(c[3] * 1000 + k) - 500;
    }
    slc_writer *w;
    FZ_RC(slc_begin_write(f->c, &w), SLC_OK, "begin_write");
    uint8_t *ix = calloc(1, f->is + 1);
    FZ_CHECK(ix, "out of memory");
    for (size_t i = 0; i < nops; i++) {
        int rc = ops[i].put
                     ? slc_put(w, ops[i].key, f->ks, ops[i].rev, ix, f->is)
                     : slc_delete(w, ops[i].key, f->ks, NULL);
        if (f->exact)
            FZ_RC(rc, SLC_OK, "staging on a verified file");
        else
            FZ_CHECK(rc == SLC_OK || rc == SLC_ECORRUPT, "staging: %d", rc);
    }
    free(ix);
    if (c[3] & 0x80) { /* abandoned: nothing changes */
        FZ_RC(slc_writer_close(w), SLC_OK, "writer_close");
        fo_check_bytes(path, f->bytes, f->len, "abandoned session");
        return;
    }
    FZ_RC(slc_set_user_flags(w, c[1]), SLC_OK, "set user flags");
    int rc = slc_commit(w);
    FZ_RC(slc_writer_close(w), SLC_OK, "writer_close");

    /* Net operation per key, last wins (SLC1 8.2, 8.3). */
    int want = SLC_OK;
    uint64_t inserts = 0, live_after = f->live;
    const uint8_t *min_new = NULL;
    for (size_t i = 0; i < nops; i++) {
        int last = 1;
        for (size_t j = i + 1; j < nops; j++)
            if (!memcmp(ops[i].key, ops[j].key, f->ks))
                last = 0;
        if (!last)
            continue;
        int live = 0;
        for (uint64_t j = 0; j < f->hw; j++)
            if (fo_meta(f, j) == 1 && !memcmp(fo_key_of(f, j), ops[i].key, f->ks))
                live = 1;
        if (ops[i].put && !live) {
            inserts++;
            live_after++;
            if (!min_new || memcmp(ops[i].key, min_new, f->ks) < 0)
                min_new = ops[i].key;
        } else if (!ops[i].put && live) {
            live_after--;
        }
    }
    /* Files sized elsewhere may have fewer buckets than 2x capacity; a
     * commit that could leave no EMPTY bucket may rehash or fail with
     * SLC_EFULL (SLC1 5.2), so both are accepted there. */
    uint64_t taken = fz_le64(f->bytes + 0x50) + fz_le64(f->bytes + 0x58);
    int pressure = inserts && inserts >= f->bc - taken;
    if (inserts > f->cap - f->hw)
        want = SLC_EFULL;
    else if (f->ordered && min_new && f->hw &&
             memcmp(min_new, fo_key_of(f, f->hw - 1), f->ks) < 0)
        want = SLC_EOUTOFORDER;
    if (f->exact && pressure && want != SLC_EFULL)
        FZ_CHECK(rc == want || rc == SLC_EFULL,
                 "commit under bucket pressure: %d (want %d or EFULL)", rc,
                 want);
    else if (f->exact)
        FZ_RC(rc, want, "commit on a verified file");
    else
        FZ_CHECK(rc == SLC_OK || rc == SLC_EFULL || rc == SLC_EOUTOFORDER ||
                     rc == SLC_ECORRUPT,
                 "commit: %d", rc);
    if (rc != SLC_OK && rc != SLC_EWRITEBACK) {
        fo_check_bytes(path, f->bytes, f->len, "failed commit");
        return;
    }
    size_t hl;
    uint64_t hs;
    uint8_t *hd = fz_read_file(path, 256, &hl, &hs);
    FZ_CHECK(hd && hl == 256, "reread header");
    FZ_CHECK(fz_le64(hd + 0x40) == f->gen + 2 &&
                 fz_le32(hd + 0x70) == fz_header_crc(hd),
             "commit published generation %llu after %llu",
             (unsigned long long)fz_le64(hd + 0x40), (unsigned long long)f->gen);
    free(hd);
    if (!f->exact)
        return;
    uint64_t uf;
    FZ_RC(slc_user_header(f->c, &uf, NULL), SLC_OK, "user header after commit");
    FZ_CHECK(uf == c[1], "user flags after commit");
    FZ_RC(slc_verify(f->c), SLC_OK, "verify after a commit on a verified file");
    uint64_t live;
    FZ_RC(slc_len(f->c, &live), SLC_OK, "len after commit");
    FZ_CHECK(live == live_after, "len %llu after commit, predicted %llu",
             (unsigned long long)live, (unsigned long long)live_after);
    for (size_t i = 0; i < nops; i++) {
        int last = 1;
        for (size_t j = i + 1; j < nops; j++)
            if (!memcmp(ops[i].key, ops[j].key, f->ks))
                last = 0;
        if (!last)
            continue;
        int64_t rev;
        int grc2 = slc_get(f->c, ops[i].key, f->ks, &rev, NULL, 0);
        FZ_RC(grc2, ops[i].put ? SLC_OK : SLC_NOTFOUND, "get after commit");
        FZ_CHECK(!ops[i].put || rev == ops[i].rev, "revision after commit");
    }
}

/* ---- The target --------------------------------------------------------- */

int fz_open_one(const uint8_t *data, size_t size)
{
    fz_fd_begin();
    uint8_t c[FO_CTRL];
    fz_in in = {data, size};
    fz_bytes(&in, c, FO_CTRL);
    size_t img_len = in.n;
    uint8_t *img = malloc(img_len > 256 ? img_len : 256);
    FZ_CHECK(img, "out of memory");
    memset(img, 0, img_len > 256 ? img_len : 256);
    memcpy(img, in.p, in.n);

    uint64_t len = img_len;
    if (img_len >= 256) {
        if (c[2] & 8)
            fo_repair_layout(img);
        if (c[2] & 4)
            img[0x40] &= 0xFE;
        if (c[0] & 0x80)
            fz_put32(img + 0x70, fz_header_crc(img));
        uint64_t req;
        if ((c[2] & 3) && fo_required(img, &req) && req <= FO_MAX_FILE) {
            switch (c[2] & 3) {
            case 1: len = req; break;
            case 2: len = req + c[3]; break;
            default: len = req > 256u + c[3] ? req - 1 - c[3] : 256; break;
            }
        }
    }
    /* The whole file, as written, for byte comparisons. */
    size_t flen = (size_t)len;
    uint8_t *bytes = calloc(1, flen ? flen : 1);
    FZ_CHECK(bytes, "out of memory");
    memcpy(bytes, img, img_len < flen ? img_len : flen);
    free(img);
    const char *path = fz_path(0, "open.slc");
    fz_remove(path);
    FZ_CHECK(fz_write_file(path, bytes, flen, flen) == 0, "write %s", path);

    uint8_t hdr[256]; /* short files: options from a zero-padded header */
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, bytes, flen < 256 ? flen : 256);
    slc_options o = fo_options(hdr, c);
    slc_options ro;
    int rrc = slc_read_options(path, &ro);
    slc_cache *h = NULL;
    int rc = slc_open(path, &o, &h);
    if (flen == 0) { /* initialised in place, or refused: not hostile */
        FZ_CHECK(rc == SLC_OK || rc == SLC_EINVAL, "open empty: %d", rc);
        FZ_CHECK(!(o.flags & SLC_READ_ONLY) || rc == SLC_EINVAL,
                 "a read-only open initialised an empty file");
        FZ_RC(slc_close(h), SLC_OK, "close");
        goto out;
    }
    if (rrc == SLC_OK && (c[0] & 3) < 2 && !(c[0] & 0x10)) {
        /* Group E's slot_size rule is open's alone (SLC1 10.7). */
        int odd_slot = fz_le32(hdr + 0x14) !=
                       fz_slot_size(fz_le32(hdr + 0x0C), fz_le32(hdr + 0x10));
        FZ_CHECK(rc == SLC_OK || rc == SLC_ECORRUPT ||
                     (odd_slot && rc == SLC_EINCOMPATIBLE),
                 "read_options accepts, open with the same options says %d",
                 rc);
    }
    if (rc != SLC_OK) {
        FZ_CHECK(h == NULL, "failed open left a handle");
        FZ_CHECK(rc < 0 && rc != SLC_ENOMEM && rc != SLC_ESYS,
                 "open of a hostile file: %d", rc);
        fo_check_bytes(path, bytes, flen, "failed open");
        goto out;
    }
    FZ_CHECK(rrc == SLC_OK || (c[0] & 3) >= 2,
             "open accepts what read_options refuses (%d)", rrc);

    fo_file f;
    memset(&f, 0, sizeof f);
    f.bytes = bytes;
    f.len = flen;
    f.c = h;
    f.ks = fz_le32(bytes + 0x0C);
    f.is = fz_le32(bytes + 0x10);
    f.ss = fz_le32(bytes + 0x14);
    f.ordered = fz_le32(bytes + 0x1C) & 1;
    f.cap = fz_le64(bytes + 0x20);
    f.hw = fz_le64(bytes + 0x28);
    f.live = fz_le64(bytes + 0x30);
    f.gen = fz_le64(bytes + 0x40);
    f.bc = fz_le64(bytes + 0x48);
    FZ_CHECK(256 + f.cap * f.ss + 16 * f.bc <= flen,
             "open accepted a file shorter than its layout");
    fo_reads(&f, c);
    fo_check_bytes(path, bytes, flen, "reads");
    int rdonly = (o.flags & SLC_READ_ONLY) != 0;
    if (rdonly) { /* no session and no invalidation through this handle */
        slc_writer *w = NULL;
        FZ_RC(slc_begin_write(h, &w), SLC_EINVAL, "begin_write read-only");
        FZ_CHECK(w == NULL, "read-only begin_write left a writer");
        FZ_RC(slc_invalidate(h), SLC_EINVAL, "invalidate read-only");
        fo_check_bytes(path, bytes, flen, "read-only handle");
    }
    if ((c[0] & 0x20) && !rdonly) {
        fo_write(&f, path, c);
        /* Later steps work on what is now in the file. */
        size_t l2;
        uint64_t s2;
        uint8_t *now = fz_read_file(path, flen + 1, &l2, &s2);
        FZ_CHECK(now && l2 == flen, "reread after the session");
        free(bytes);
        bytes = now;
        f.bytes = bytes;
        f.gen = fz_le64(bytes + 0x40);
    }
    if ((c[0] & 0x40) && !rdonly) {
        rc = slc_invalidate(h);
        FZ_RC(rc, SLC_OK, "invalidate");
        uint8_t *was = bytes;
        size_t l2;
        uint64_t s2;
        bytes = fz_read_file(path, flen + 1, &l2, &s2);
        FZ_CHECK(bytes && l2 == flen, "reread after invalidate");
        /* Only generation, crc and state change (SLC1 10.8). */
        for (size_t i = 0; i < flen; i++)
            if ((i < 0x40 || i >= 0x48) && (i < 0x70 || i >= 0x78))
                FZ_CHECK(bytes[i] == was[i],
                         "invalidate changed byte 0x%zx", i);
        FZ_CHECK(fz_le32(bytes + 0x74) == 1 &&
                     fz_le64(bytes + 0x40) == f.gen + 2 &&
                     fz_le32(bytes + 0x70) == fz_header_crc(bytes),
                 "invalidated header: state %u gen %llu (was %llu)",
                 fz_le32(bytes + 0x74),
                 (unsigned long long)fz_le64(bytes + 0x40),
                 (unsigned long long)f.gen);
        free(was);
        uint64_t x;
        FZ_RC(slc_len(h, &x), SLC_EINVALIDATED, "len after invalidate");
        FZ_RC(slc_invalidate(h), SLC_OK, "invalidate again");
        slc_cache *h2 = NULL;
        FZ_RC(slc_open(path, &o, &h2), SLC_EINVALIDATED,
              "open after invalidate");
    }
    FZ_RC(slc_close(h), SLC_OK, "close");
out:
    free(bytes);
    fz_remove(path);
    fz_fd_end();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_open_one(data, size);
}

/* ---- Structure-aware mutator -------------------------------------------- */

/* The replay driver (fuzz/replay.c) has no libFuzzer to mutate with. */
#ifndef SLC_FUZZ_REPLAY

static uint64_t fo_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Header fields: offset and width. */
static const struct {
    uint8_t off, width;
} fo_fields[] = {
    {0x04, 4}, {0x08, 4}, {0x0C, 4}, {0x10, 4}, {0x14, 4}, {0x18, 4},
    {0x1C, 4}, {0x20, 8}, {0x28, 8}, {0x30, 8}, {0x38, 8}, {0x40, 8},
    {0x48, 8}, {0x50, 8}, {0x58, 8}, {0x60, 8}, {0x68, 8}, {0x74, 4},
    {0x78, 8}, {0xC0, 8}, {0xF8, 8},
};

static uint64_t fo_interesting(uint64_t *s, uint64_t cur, const uint8_t *h)
{
    uint64_t cap = fz_le64(h + 0x20);
    uint32_t ss = fz_le32(h + 0x14);
    switch (fo_rng(s) % 14) {
    case 0: return 0;
    case 1: return 1;
    case 2: return cur + 1;
    case 3: return cur - 1;
    case 4: return cur * 2;
    case 5: return cur / 2;
    case 6: return UINT64_C(1) << (fo_rng(s) % 64);
    case 7: return UINT64_MAX;
    case 8: return UINT32_MAX;
    case 9: return cap;
    case 10: return 256 + cap * ss;
    case 11: return fz_bucket_count(cap & 0xFFFFFFFF);
    case 12: return fz_le64(h + 0x30); /* live_count */
    default: return fo_rng(s);
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
    uint64_t s = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    if (size < FO_CTRL + 256 || fo_rng(&s) % 4 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    uint8_t *h = data + FO_CTRL;
    size_t img = size - FO_CTRL;
    uint32_t ks = fz_le32(h + 0x0C), ss = fz_le32(h + 0x14);
    uint64_t hw = fz_le64(h + 0x28), cap = fz_le64(h + 0x20);
    uint64_t slots_fit = ss >= 16 ? (img - 256) / ss : 0;
    switch (fo_rng(&s) % 6) {
    case 0: { /* one header field */
        size_t f = fo_rng(&s) % (sizeof fo_fields / sizeof fo_fields[0]);
        uint8_t *p = h + fo_fields[f].off;
        uint64_t cur = fo_fields[f].width == 8 ? fz_le64(p) : fz_le32(p);
        uint64_t v = fo_interesting(&s, cur, h);
        if (fo_fields[f].width == 8)
            fz_put64(p, v);
        else
            fz_put32(p, (uint32_t)v);
        break;
    }
    case 1: { /* one slot: meta, key copied from another, revision */
        if (!slots_fit || ks == 0 || ks > SLC_MAX_KEY_SIZE ||
            8 + (uint64_t)ks > ss)
            break;
        uint64_t n = hw && hw < slots_fit ? hw : slots_fit;
        uint64_t a = fo_rng(&s) % n, b = fo_rng(&s) % n;
        uint8_t *sa = h + 256 + a * ss, *sb = h + 256 + b * ss;
        switch (fo_rng(&s) % 3) {
        case 0: fz_put64(sa, fo_rng(&s) % 4 == 0 ? fo_rng(&s) : fo_rng(&s) % 2); break;
        case 1: memmove(sa + 8, sb + 8, ks); break;
        default: sa[8 + fo_rng(&s) % ks] ^= (uint8_t)(1u << (fo_rng(&s) % 8)); break;
        }
        break;
    }
    case 2: { /* one bucket */
        uint64_t bo = fz_le64(h + 0x68), bc = fz_le64(h + 0x48);
        if (bo >= img || bc == 0)
            break;
        uint64_t nb = (img - bo) / 16;
        if (nb > bc)
            nb = bc;
        if (!nb)
            break;
        uint8_t *b = h + bo + 16 * (fo_rng(&s) % nb);
        /* Slot ids just past the highwater too (hw itself is hostile). */
        uint64_t id = fo_rng(&s) % (hw < UINT64_MAX - 2 ? hw + 2 : UINT64_MAX);
        switch (fo_rng(&s) % 4) {
        case 0: fz_put64(b + 8, 0); break;
        case 1: fz_put64(b + 8, UINT64_MAX); break;
        default:
            fz_put64(b + 8, id + 1);
            if (id < slots_fit && ks && ks <= SLC_MAX_KEY_SIZE &&
                8 + (uint64_t)ks <= ss && fo_rng(&s) % 2)
                fz_put64(b, fz_fnv1a(h + 256 + id * ss + 8, ks));
            break;
        }
        break;
    }
    case 3: /* control bytes */
        data[fo_rng(&s) % FO_CTRL] ^= (uint8_t)(1u << (fo_rng(&s) % 8));
        break;
    case 4: { /* image length: the layout's, or cut short */
        uint64_t req;
        if (fo_required(h, &req) && req + FO_CTRL <= max_size &&
            req <= FO_MAX_FILE && fo_rng(&s) % 2) {
            size_t n = (size_t)req + FO_CTRL;
            if (n > size)
                memset(data + size, 0, n - size);
            size = n;
        } else if (size > FO_CTRL + 256) {
            size = FO_CTRL + 256 + fo_rng(&s) % (size - FO_CTRL - 256);
        }
        (void)cap;
        break;
    }
    default:
        size = LLVMFuzzerMutate(data, size, max_size);
        break;
    }
    if (size >= FO_CTRL + 256) {
        if (fo_rng(&s) % 8)
            h[0x40] &= 0xFE; /* odd generations cost 5.5 ms of retries */
        if (fo_rng(&s) % 4)
            fz_put32(h + 0x70, fz_header_crc(h));
    }
    return size;
}
#endif
