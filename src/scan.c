/* slc_scan, slc_scan_prefix, slc_scan_range, slc_scan_match.
 *
 * One walker serves all of them: it visits slot ids [lo, hi) in either
 * direction and rejects as early and as cheaply as it can: meta and the
 * built-in index match on the mapping, then (key predicates only) a copy of
 * the key words, then the caller's filter on the slot in place; only what
 * passes, after `offset`, is copied out whole and handed to a sink:
 *   - snapshot: copies go into a growing buffer (one record per kept match,
 *     plus one scratch record) and are visited only after the generation is
 *     confirmed unchanged; a moved generation restarts the gather;
 *   - streaming: the single scratch record is visited as soon as the
 *     generation is confirmed unchanged, and a change ends with SLC_EBUSY.
 * In ordered files, range and offset-0 prefix scans find [lo, hi) by binary
 * search; the walk then checks every key it meets against the bounds and
 * against the previous key, which catches an out-of-order slot it walks
 * over as SLC_ECORRUPT (slots the search steps around stay unseen). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "validate.h"

#define KNOWN_SCAN_FLAGS (SLC_SCAN_REVERSE | SLC_SCAN_STREAMING)

/* Filters read borrowed mapping bytes, except in ThreadSanitizer builds of
 * the library (see filter_keeps). */
#if defined(__SANITIZE_THREAD__)
#define FILTER_ON_COPY 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FILTER_ON_COPY 1
#endif
#endif
#ifndef FILTER_ON_COPY
#define FILTER_ON_COPY 0
#endif
#define STACK_RECORD 4096u
/* Snapshot gathers re-read the generation this often (in slots). */
#define GEN_CHECK_EVERY 4096u

/* Key predicate. */
enum { KEY_ALL, KEY_PREFIX, KEY_RANGE };

typedef struct key_pred {
    int kind;
    /* prefix: bytes [off, off+full) compare fully, then one byte under mask */
    uint32_t off, full;
    uint8_t last_mask;
    const uint8_t *pattern;
    /* range: padded bounds, NULL = unbounded */
    const uint8_t *start, *end;
} key_pred;

/* The built-in index predicate as whole-word tests on the slot: word k of
 * the test reads the slot word at byte offset off[k]. */
#define MATCH_WORDS (SLC_MAX_MATCH_LEN / 8 + 2)
typedef struct index_match {
    uint32_t words;
    uint32_t off[MATCH_WORDS];
    uint64_t mask[MATCH_WORDS], value[MATCH_WORDS];
} index_match;

typedef struct scan {
    slc_cache *c;
    const slc_scan_opts *o;
    slc_visit_fn visit;
    void *vctx;
    key_pred kp;
    index_match im;
    size_t rec; /* bytes per record: slot image then 8-byte slot id */
    int counting; /* slc_count*: count what would be delivered, visit none */
    int streaming; /* SLC_SCAN_STREAMING, and not a count */
    /* gathered results (snapshot) or one scratch record (streaming) */
    uint8_t *buf;
    size_t count, cap;
    int heap; /* buf is malloc'd */
} scan;

static int prefix_match(const key_pred *p, const uint8_t *key)
{
    const uint8_t *k = key + p->off;
    if (memcmp(k, p->pattern, p->full) != 0)
        return 0;
    return !p->last_mask ||
           ((k[p->full] ^ p->pattern[p->full]) & p->last_mask) == 0;
}

/* Order of a key's prefix bits against the pattern (offset-0 prefixes). */
static int prefix_cmp(const key_pred *p, const uint8_t *key)
{
    int r = memcmp(key, p->pattern, p->full);
    if (r || !p->last_mask)
        return r;
    uint8_t a = key[p->full] & p->last_mask, b = p->pattern[p->full] & p->last_mask;
    return (a > b) - (a < b);
}

/* Does the key belong to the result by the key predicate? */
static int key_ok(const scan *s, const uint8_t *key)
{
    const key_pred *p = &s->kp;
    switch (p->kind) {
    case KEY_PREFIX:
        return prefix_match(p, key);
    case KEY_RANGE:
        return (!p->start || memcmp(key, p->start, s->c->key_size) >= 0) &&
               (!p->end || memcmp(key, p->end, s->c->key_size) < 0);
    default:
        return 1;
    }
}

/* ---- Bounds by binary search (ordered files) ---------------------------- */

/* First id in [0, hw) whose key compares >= 0 (or > 0 when strict) by cmp.
 * Reads are speculative: the walk re-checks every key it visits. */
typedef int (*key_cmp)(const scan *s, const uint8_t *key, const void *arg);

static int cmp_bound(const scan *s, const uint8_t *key, const void *bound)
{
    return memcmp(key, bound, s->c->key_size);
}

static int cmp_prefix(const scan *s, const uint8_t *key, const void *unused)
{
    (void)unused;
    return prefix_cmp(&s->kp, key);
}

static uint64_t lower_bound(const scan *s, uint64_t hw, key_cmp cmp,
                            const void *arg, int strict)
{
    uint8_t key[SLC_MAX_KEY_SIZE];
    uint64_t lo = 0, hi = hw;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        slc__copy_out(key, slc__slot(s->c, mid) + 8, s->c->key_size);
        int r = cmp(s, key, arg);
        if (strict ? r <= 0 : r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void id_bounds(const scan *s, uint64_t hw, uint64_t *lo, uint64_t *hi)
{
    *lo = 0;
    *hi = hw;
    if (s->kp.kind == KEY_RANGE) {
        if (s->kp.start)
            *lo = lower_bound(s, hw, cmp_bound, s->kp.start, 0);
        if (s->kp.end)
            *hi = lower_bound(s, hw, cmp_bound, s->kp.end, 0);
    } else if (s->kp.kind == KEY_PREFIX && s->kp.off == 0 &&
               (s->c->file_flags & SLC__FLAG_ORDERED_KEYS)) {
        *lo = lower_bound(s, hw, cmp_prefix, NULL, 0);
        *hi = lower_bound(s, hw, cmp_prefix, NULL, 1);
    }
    if (*hi < *lo) /* only a torn or unsorted read gets here */
        *hi = *lo;
}

/* Are keys in [lo, hi) known to satisfy the key predicate (bounds came from
 * a binary search), so a failing key means the order is broken? */
static int bounded_walk(const scan *s)
{
    return s->kp.kind == KEY_RANGE ||
           (s->kp.kind == KEY_PREFIX && s->kp.off == 0 &&
            (s->c->file_flags & SLC__FLAG_ORDERED_KEYS));
}

/* Bounded walks see keys in order: compare the key just copied (as slot
 * words) with the previous one in prev, then make it the previous one.
 * Nonzero when the step goes against the walk direction. Whole words,
 * byte-swapped (hosts are little-endian, SLC1 2), compare in memcmp order
 * at a fraction of memcmp's cost per slot. key_pad is masked off the last
 * word (last_mask): keys order by their key_size bytes (SLC1 8.7), and a
 * tombstone's pad need not be zero in files from elsewhere (as in
 * slc__slot_key_equals; slc_verify accepts it). */
static inline int key_step(uint64_t *prev, const uint8_t *key, size_t words,
                           uint64_t last_mask, int reverse)
{
    int order = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t x;
        memcpy(&x, key + 8 * i, 8);
        if (i == words - 1)
            x &= last_mask;
        if (!order && x != prev[i])
            order = __builtin_bswap64(x) < __builtin_bswap64(prev[i]) ? -1 : 1;
        prev[i] = x;
    }
    return reverse ? order > 0 : order < 0;
}

/* ---- Built-in index predicate ------------------------------------------- */

/* Spread the byte-wise mask/value over the slot words they fall in; the
 * index starts 8-aligned, so match_len <= 64 bytes spans at most 9 words. */
static void match_compile(scan *s, const slc_index_match *spec)
{
    index_match *m = &s->im;
    const uint8_t *val = spec->value, *msk = spec->mask;
    uint32_t start = s->c->index_off + spec->offset;
    m->words = 0;
    for (uint32_t i = 0; i < spec->len; i++) {
        uint32_t pos = start + i, word = pos / 8 * 8;
        if (m->words == 0 || m->off[m->words - 1] != word) {
            m->off[m->words] = word;
            m->mask[m->words] = m->value[m->words] = 0;
            m->words++;
        }
        uint64_t bm = (uint64_t)(msk ? msk[i] : 0xFF) << (8 * (pos % 8));
        m->mask[m->words - 1] |= bm;
        m->value[m->words - 1] |= ((uint64_t)val[i] << (8 * (pos % 8))) & bm;
    }
}

static int match_slot(const index_match *m, const uint8_t *slot)
{
    for (uint32_t k = 0; k < m->words; k++)
        if ((slc__ld(slot + m->off[k]) & m->mask[k]) != m->value[k])
            return 0;
    return 1;
}

/* ---- Records ------------------------------------------------------------ */

static uint8_t *record(const scan *s, size_t i) { return s->buf + i * s->rec; }

static void entry_of(const scan *s, const uint8_t *r, slc_entry *e)
{
    const slc_cache *c = s->c;
    e->key = r + 8;
    memcpy(&e->revision, r + c->rev_off, 8);
    e->index = c->index_size ? r + c->index_off : NULL;
    memcpy(&e->slot_id, r + c->slot_size, 8);
}

/* Room for one more record (the scratch the next slot is copied into). */
static int reserve(scan *s, uint8_t *stack)
{
    if (s->count < s->cap)
        return SLC_OK;
    size_t cap = s->cap ? s->cap * 2 : 16;
    size_t bytes;
    if (__builtin_mul_overflow(cap, s->rec, &bytes))
        return slc__fail(SLC_ENOMEM, "scan results overflow");
    uint8_t *n = s->heap ? realloc(s->buf, bytes) : malloc(bytes);
    if (!n)
        return slc__fail(SLC_ENOMEM, "scan results: %zu bytes", bytes);
    if (!s->heap && s->count)
        memcpy(n, stack, s->count * s->rec);
    s->buf = n;
    s->cap = cap;
    s->heap = 1;
    return SLC_OK;
}

/* ---- The walk ----------------------------------------------------------- */

/* The per-delivery helpers below are forced inline: each walk has several
 * call sites, and as calls they cost about 2% of a match scan per slot. */

enum { WALK_DONE, WALK_IMPOSSIBLE, WALK_MOVED, WALK_STOPPED, WALK_ERROR };
/* What take() tells a walk, besides a WALK_ result that ends it. */
enum { TAKE_MORE = 16, TAKE_LIMIT };

typedef struct walk {
    slc__seqread rd; /* the attempt the walk belongs to */
    int rc;       /* WALK_ERROR: status; WALK_STOPPED: visit's return */
    uint8_t *stack;
    int unchecked; /* streaming: mapping read after the last delivery */
    uint64_t skipped;   /* matches passed over for `offset` */
    uint64_t delivered; /* streaming: walk step of the last delivery */
} walk;

/* Deliver the scratch record now (streaming). */
static inline __attribute__((always_inline)) int stream_out(scan *s,
                                                            walk *wk)
{
    if (slc__read_retry(&wk->rd))
        return WALK_MOVED;
    slc_entry e;
    entry_of(s, record(s, 0), &e);
    int r = s->visit(&e, s->vctx);
    if (r) {
        wk->rc = r;
        return WALK_STOPPED;
    }
    return WALK_DONE;
}

/* The record the current slot is copied into: the next result (snapshot)
 * or the single scratch record (streaming). NULL: SLC_ENOMEM in wk->rc. */
static inline __attribute__((always_inline)) uint8_t *
next_record(scan *s, walk *wk, int streaming)
{
    if (streaming || s->counting)
        return record(s, 0);
    int rc = reserve(s, wk->stack);
    if (rc) {
        wk->rc = rc;
        return NULL;
    }
    return record(s, s->count);
}

/* Does the caller's filter keep the live slot `id`? It reads the slot in
 * place (SLC1 11.1 allows borrowed, possibly torn filter input; a torn
 * verdict is discarded with the attempt). Library builds with
 * ThreadSanitizer hand it the copy in `r` instead, so that an in-process
 * writer's stores never meet the filter's plain loads. */
static int filter_keeps(const scan *s, const uint8_t *slot, uint64_t id,
                        uint8_t *r, size_t copied)
{
    slc_entry e;
    if (FILTER_ON_COPY) {
        slc__copy_out(r + copied, slot + copied, s->c->slot_size - copied);
        memcpy(r + s->c->slot_size, &id, 8);
        entry_of(s, r, &e);
    } else {
        e.key = slot + 8;
        e.revision = (int64_t)slc__ld(slot + s->c->rev_off);
        e.index = s->c->index_size ? slot + s->c->index_off : NULL;
        e.slot_id = id;
    }
    return s->o->filter(&e, s->o->filter_ctx) != 0;
}

/* The hot loop of unbounded walks: from step n up to `stop`, the first
 * step whose slot is live and passes the built-in match, or whose meta has
 * reserved bits (the caller reports it); `stop` if none. Dead and rejected
 * slots never leave this loop, so they cost one or two loads each. */
static uint64_t skip_rejects(const scan *s, uint64_t lo, uint64_t hi,
                             uint64_t n, uint64_t stop, int reverse)
{
    const slc_cache *c = s->c;
    const index_match *m = &s->im;
    if (m->words == 1) {
        uint32_t off = m->off[0];
        uint64_t mask = m->mask[0], value = m->value[0];
        for (; n < stop; n++) {
            const uint8_t *p = slc__slot(c, reverse ? hi - 1 - n : lo + n);
            uint64_t meta = slc__ld(p);
            if (meta == SLC__META_USED ? (slc__ld(p + off) & mask) == value
                                       : meta != 0)
                return n;
        }
        return n;
    }
    for (; n < stop; n++) {
        const uint8_t *p = slc__slot(c, reverse ? hi - 1 - n : lo + n);
        uint64_t meta = slc__ld(p);
        if (meta == SLC__META_USED ? !m->words || match_slot(m, p) : meta != 0)
            return n;
    }
    return n;
}

/* skip_rejects with the caller's filter, in a function of its own so that
 * the few values live across the opaque filter call stay in registers
 * (inlined into the walker they were spilled and reloaded every slot). */
__attribute__((noinline)) static uint64_t
skip_filtered(const scan *s, uint64_t lo, uint64_t hi, uint64_t n,
              uint64_t stop, int reverse)
{
    if (n >= stop)
        return n;
    const slc_cache *c = s->c;
    const index_match *m = &s->im;
    ptrdiff_t step = reverse ? -(ptrdiff_t)c->slot_size : (ptrdiff_t)c->slot_size;
    uint64_t id = reverse ? hi - 1 - n : lo + n;
    const uint8_t *p = slc__slot(c, id);
    slc_entry e;
    e.index = NULL;
    for (;;) {
        uint64_t meta = slc__ld(p);
        if (meta != SLC__META_USED) {
            if (meta != 0)
                return n;
        } else if (!m->words || match_slot(m, p)) {
            e.key = p + 8;
            e.revision = (int64_t)slc__ld(p + c->rev_off);
            if (c->index_size)
                e.index = p + c->index_off;
            e.slot_id = id;
            if (s->o->filter(&e, s->o->filter_ctx))
                return n;
        }
        if (++n == stop)
            return n;
        /* Stepped only while in range: never a pointer past the slots. */
        p += step;
        id += reverse ? (uint64_t)-1 : 1;
    }
}

/* Both walks: a fresh attempt's counters. */
static void walk_reset(scan *s, walk *wk)
{
    s->count = 0;
    wk->skipped = 0;
    wk->delivered = 0;
}

/* Both walks: a snapshot gather that a commit already spoiled is abandoned
 * early, every GEN_CHECK_EVERY steps. */
static inline int spoiled(const walk *wk, int streaming, uint64_t n,
                          uint64_t *next_check)
{
    if (n < *next_check)
        return 0;
    *next_check = n + GEN_CHECK_EVERY;
    return !streaming && slc__read_moved(&wk->rd);
}

/* The tail both walks share, for live slot `id` that passed the key and
 * index predicates at walk step n: the caller's filter (unless the skip
 * loop ran it), offset, counting, copy-out, and (streaming) delivery. r is
 * the record the first `copied` bytes were copied into, or NULL. Returns
 * TAKE_MORE, TAKE_LIMIT (limit reached), or a WALK_ result ending the
 * walk. */
static inline int take(scan *s, walk *wk, const uint8_t *slot, uint64_t id,
                       uint64_t meta, uint8_t *r, size_t copied, uint64_t n,
                       int filter_done)
{
    const slc_cache *c = s->c;
    const slc_scan_opts *o = s->o;
    int streaming = s->streaming;
    if (o->filter && !filter_done) {
        if (FILTER_ON_COPY && !r) {
            if (!(r = next_record(s, wk, streaming)))
                return WALK_ERROR;
        }
        int keep = filter_keeps(s, slot, id, r, copied);
        if (FILTER_ON_COPY)
            copied = c->slot_size;
        if (!keep)
            return TAKE_MORE;
    }
    if (wk->skipped < o->offset) {
        wk->skipped++;
        return TAKE_MORE;
    }
    if (s->counting) /* nothing is copied for a count */
        return ++s->count == o->limit ? TAKE_LIMIT : TAKE_MORE;
    if (!r && !(r = next_record(s, wk, streaming)))
        return WALK_ERROR;
    slc__copy_out(r + copied, slot + copied, c->slot_size - copied);
    memcpy(r, &meta, 8);
    memcpy(r + c->slot_size, &id, 8);
    if (streaming) {
        int w = stream_out(s, wk);
        if (w != WALK_DONE)
            return w;
        wk->delivered = n;
    }
    s->count++;
    return o->limit && s->count == o->limit ? TAKE_LIMIT : TAKE_MORE;
}

/* Streaming: a delivery at the walk's last step leaves nothing read after
 * its generation check (the bounds were read before the first). */
static int walk_end(const scan *s, walk *wk, uint64_t n)
{
    wk->unchecked = s->count == 0 || wk->delivered + 1 != n;
    return WALK_DONE;
}

/* The unbounded walk (whole scans, match scans, prefix scans that cannot
 * search): dead and rejected slots are skipped on the mapping, in the skip
 * loops, before anything is copied; key predicates then test a copy of the
 * key words. */
static int walk_unbounded(scan *s, walk *wk, uint64_t lo, uint64_t hi)
{
    slc_cache *c = s->c;
    const slc_scan_opts *o = s->o;
    int reverse = (o->flags & SLC_SCAN_REVERSE) != 0;
    int streaming = s->streaming;
    int keyed = s->kp.kind != KEY_ALL;
    /* Without key tests the filter runs in the skip loop. */
    int filter_in_skip = !keyed && o->filter && !FILTER_ON_COPY;
    size_t key_part = 8 + slc__align8(c->key_size);
    uint64_t n, total = hi - lo, next_check = GEN_CHECK_EVERY;
    walk_reset(s, wk);
    for (n = 0; n < total; n++) {
        if (spoiled(wk, streaming, n, &next_check))
            return WALK_MOVED;
        uint64_t stop = total < next_check ? total : next_check;
        n = filter_in_skip ? skip_filtered(s, lo, hi, n, stop, reverse)
                           : skip_rejects(s, lo, hi, n, stop, reverse);
        if (n == stop) {
            n--; /* the loop's n++ resumes at stop */
            continue;
        }
        uint64_t id = reverse ? hi - 1 - n : lo + n;
        const uint8_t *slot = slc__slot(c, id);
        uint64_t meta = slc__ld(slot);
        if (meta & ~(uint64_t)SLC__META_USED) {
            wk->rc = slc__bad_meta(id, meta);
            return WALK_IMPOSSIBLE;
        }
        if (!(meta & SLC__META_USED) ||
            (s->im.words && !match_slot(&s->im, slot)))
            continue;
        uint8_t *r = NULL;
        size_t copied = 0;
        if (keyed) {
            if (!(r = next_record(s, wk, streaming)))
                return WALK_ERROR;
            slc__copy_out(r, slot, key_part);
            memcpy(r, &meta, 8); /* the meta that was judged */
            copied = key_part;
            if (!key_ok(s, r + 8))
                continue;
        }
        int t = take(s, wk, slot, id, meta, r, copied, n, filter_in_skip);
        if (t == TAKE_MORE)
            continue;
        if (t != TAKE_LIMIT)
            return t;
        n++;
        break;
    }
    return walk_end(s, wk, n);
}

/* The ordered bounded walk (range scans, offset-0 prefix scans of ordered
 * files) over [lo, hi) found by binary search: every slot's key, dead or
 * live, is copied and checked against the bounds and against the previous
 * key, so an out-of-order slot walked over is SLC_ECORRUPT. */
static int walk_bounded(scan *s, walk *wk, uint64_t lo, uint64_t hi)
{
    slc_cache *c = s->c;
    const slc_scan_opts *o = s->o;
    int reverse = (o->flags & SLC_SCAN_REVERSE) != 0;
    int streaming = s->streaming;
    size_t key_part = 8 + slc__align8(c->key_size);
    /* The previous key, first the lowest (highest) key. */
    uint64_t prev[SLC__KEY_WORDS];
    size_t key_words = key_part / 8 - 1;
    uint64_t last_mask = c->key_size % 8
                             ? (UINT64_C(1) << (8 * (c->key_size % 8))) - 1
                             : UINT64_MAX;
    memset(prev, reverse ? 0xff : 0, key_words * 8);
    uint64_t n, total = hi - lo, next_check = GEN_CHECK_EVERY;
    walk_reset(s, wk);
    for (n = 0; n < total; n++) {
        if (spoiled(wk, streaming, n, &next_check))
            return WALK_MOVED;
        uint64_t id = reverse ? hi - 1 - n : lo + n;
        const uint8_t *slot = slc__slot(c, id);
        uint64_t meta = slc__ld(slot);
        if (meta & ~(uint64_t)SLC__META_USED) {
            wk->rc = slc__bad_meta(id, meta);
            return WALK_IMPOSSIBLE;
        }
        uint8_t *r = next_record(s, wk, streaming);
        if (!r)
            return WALK_ERROR;
        slc__copy_out(r, slot, key_part);
        memcpy(r, &meta, 8); /* the meta that was judged */
        /* Tombstones keep their keys, so they are checked too. */
        if (!key_ok(s, r + 8)) {
            wk->rc = slc__fail(SLC_ECORRUPT,
                               "ordered keys: slot %" PRIu64
                               " is out of key order",
                               id);
            return WALK_IMPOSSIBLE;
        }
        if (key_step(prev, r + 8, key_words, last_mask, reverse)) {
            wk->rc = slc__fail(SLC_ECORRUPT,
                               "ordered keys: slot %" PRIu64
                               " is out of key order with its neighbour",
                               id);
            return WALK_IMPOSSIBLE;
        }
        if (!(meta & SLC__META_USED) ||
            (s->im.words && !match_slot(&s->im, slot)))
            continue;
        int t = take(s, wk, slot, id, meta, r, key_part, n, 0);
        if (t == TAKE_MORE)
            continue;
        if (t != TAKE_LIMIT)
            return t;
        n++;
        break;
    }
    return walk_end(s, wk, n);
}

/* One attempt's walk under the generation wk->rd.g1. */
static int walk_slots(scan *s, walk *wk, uint64_t hw)
{
    uint64_t lo, hi;
    id_bounds(s, hw, &lo, &hi);
    return bounded_walk(s) ? walk_bounded(s, wk, lo, hi)
                           : walk_unbounded(s, wk, lo, hi);
}

/* The retry loop (SLC1 7.7): walk until one attempt is of one generation.
 * Snapshot: SLC_OK leaves the gathered records in s->buf for delivery;
 * streaming: only the start (odd generation) is retried and the records
 * were delivered by the walk. Else the scan's error or the visit's stop. */
static int consistent_walk(scan *s, walk *wk)
{
    slc_cache *c = s->c;
    int streaming = s->streaming;
    int rc = SLC_EBUSY, ok;
    for (ok = slc__read_begin(&wk->rd, c->gen); ok;
         ok = slc__read_next(&wk->rd)) {
        uint64_t hw;
        int verdict = slc__attempt_header(c, &hw);
        if (streaming && slc__read_retry(&wk->rd))
            continue;
        int w;
        if ((rc = verdict) != SLC_OK) {
            w = WALK_IMPOSSIBLE;
        } else {
            w = walk_slots(s, wk, hw);
            rc = wk->rc;
        }
        if (w == WALK_ERROR || w == WALK_STOPPED)
            return rc;
        /* Streaming, and nothing was read after the last delivery's check
         * (limit reached, or the last slot delivered): the result is whole
         * and of g1, whatever the generation does now. */
        if (streaming && w == WALK_DONE && !wk->unchecked)
            return SLC_OK;
        if (w != WALK_MOVED && !slc__read_retry(&wk->rd))
            return w == WALK_IMPOSSIBLE ? rc /* the stable verdict */
                                        : SLC_OK;
        if (streaming)
            return slc__fail(SLC_EBUSY,
                             "streaming scan: generation moved from %" PRIu64
                             " after %zu entries were delivered",
                             wk->rd.g1, s->count);
    }
    return slc__busy(c); /* every attempt overlapped a commit */
}

/* Snapshot delivery, after the gather was confirmed: visit every record
 * in order; a nonzero visit return stops the scan and is returned. */
static int deliver(scan *s)
{
    for (size_t i = 0; i < s->count; i++) {
        slc_entry e;
        entry_of(s, record(s, i), &e);
        int r = s->visit(&e, s->vctx);
        if (r)
            return r;
    }
    return SLC_OK;
}

/* One consistent scan: buffers, the retry loop, then delivery. */
static int run(scan *s)
{
    int streaming = s->streaming;
    uint8_t stack[STACK_RECORD];
    walk wk;
    memset(&wk, 0, sizeof wk);
    wk.stack = stack;
    if (s->rec <= sizeof stack) {
        s->buf = stack;
        s->cap = 1;
    } else if (streaming || s->counting) {
        s->buf = malloc(s->rec); /* O(1) for slots above 4 KiB */
        if (!s->buf)
            return slc__fail(SLC_ENOMEM, "scan record: %zu bytes", s->rec);
        s->heap = 1;
        s->cap = 1;
    }
    int rc = consistent_walk(s, &wk);
    if (rc == SLC_OK && !streaming && !s->counting)
        rc = deliver(s);
    if (s->heap)
        free(s->buf);
    return rc;
}

/* ---- Entry points ------------------------------------------------------- */

static const slc_scan_opts default_opts = {NULL, NULL, 0, 0, 0};

static int check_opts(const slc_scan_opts *o, slc_visit_fn visit)
{
    if (!visit)
        return slc__fail(SLC_EINVAL, "scan: NULL visit callback");
    if (o->flags & ~(uint32_t)KNOWN_SCAN_FLAGS)
        return slc__fail(SLC_EINVAL, "scan: unknown flags 0x%" PRIx32,
                         o->flags & ~(uint32_t)KNOWN_SCAN_FLAGS);
    if (o->offset > SLC_MAX_SCAN_OFFSET)
        return slc__fail(SLC_EINVAL, "scan: offset %" PRIu64 " above %u",
                         o->offset, SLC_MAX_SCAN_OFFSET);
    if (o->limit > SLC_MAX_SCAN_LIMIT)
        return slc__fail(SLC_EINVAL, "scan: limit %" PRIu64 " above %u",
                         o->limit, SLC_MAX_SCAN_LIMIT);
    return SLC_OK;
}

/* The start shared by every scan call, checks in the order of API.md: a
 * usable handle, the file's state (an invalidated cache is reported before
 * any argument), the ordered flag for range scans, then the options. */
/* Counts pass this instead of a visit: it is never called. */
static int count_only(const slc_entry *e, void *ctx)
{
    (void)e;
    (void)ctx;
    return 0;
}

static int scan_start(scan *s, const char *fn, slc_cache *c,
                      const slc_scan_opts *o, slc_visit_fn visit, void *ctx,
                      int needs_order)
{
    if (!c)
        return slc__fail(SLC_EINVAL, "%s: NULL cache", fn);
    if (!o)
        o = &default_opts;
    slc__header h;
    int rc = slc__snapshot_header(c, &h);
    if (!rc && needs_order && !(c->file_flags & SLC__FLAG_ORDERED_KEYS))
        rc = slc__fail(SLC_EUNORDERED, "%s needs an ordered-keys cache", fn);
    if (!rc)
        rc = check_opts(o, visit);
    if (rc)
        return rc;
    memset(s, 0, sizeof *s);
    s->c = c;
    s->o = o;
    s->visit = visit;
    s->vctx = ctx;
    s->kp.kind = KEY_ALL;
    s->rec = (size_t)c->slot_size + 8;
    /* A count is always of one generation: streaming has no meaning. */
    s->counting = visit == count_only;
    s->streaming = !s->counting && (o->flags & SLC_SCAN_STREAMING);
    return SLC_OK;
}

/* Run a set-up scan; a count stores its result. */
static int finish(scan *s, uint64_t *count)
{
    int rc = run(s);
    if (rc == SLC_OK && count)
        *count = s->count;
    return rc;
}

int slc_scan(slc_cache *c, const slc_scan_opts *o, slc_visit_fn visit,
             void *ctx)
{
    scan s;
    int rc = scan_start(&s, "slc_scan", c, o, visit, ctx, 0);
    return rc ? rc : run(&s);
}

static int do_prefix(slc_cache *c, const slc_prefix *p, const slc_scan_opts *o,
                     slc_visit_fn visit, void *ctx, uint64_t *count)
{
    scan s;
    int rc = scan_start(&s, count ? "slc_count_prefix" : "slc_scan_prefix", c,
                        o, visit, ctx, 0);
    if (rc)
        return rc;
    if (!p)
        return slc__fail(SLC_EINVAL, "slc_scan_prefix: NULL prefix");
    uint64_t ks = c->key_size;
    uint64_t need = p->bits ? ((uint64_t)p->bits + 7) / 8 : p->len;
    if (p->bits == 0 && p->len == 0)
        return slc__fail(SLC_EINVAL, "prefix: bits 0 and length 0");
    if (p->offset >= ks)
        return slc__fail(SLC_EINVAL, "prefix: offset %" PRIu32
                                     " >= key_size %" PRIu64,
                         p->offset, ks);
    if (p->bits && p->len != need)
        return slc__fail(SLC_EINVAL,
                         "prefix: %" PRIu32 " bits need %" PRIu64
                         " pattern bytes, got %zu",
                         p->bits, need, p->len);
    if (need > ks - p->offset)
        return slc__fail(SLC_EINVAL,
                         "prefix: offset %" PRIu32 " + %" PRIu64
                         " bytes exceeds key_size %" PRIu64,
                         p->offset, need, ks);
    if (!p->bytes)
        return slc__fail(SLC_EINVAL, "prefix: NULL pattern");
    s.kp.kind = KEY_PREFIX;
    s.kp.off = p->offset;
    s.kp.pattern = p->bytes;
    if (p->bits == 0 || p->bits % 8 == 0) {
        s.kp.full = (uint32_t)need;
    } else {
        s.kp.full = p->bits / 8;
        s.kp.last_mask = (uint8_t)(0xFFu << (8 - p->bits % 8));
    }
    return finish(&s, count);
}

int slc_scan_prefix(slc_cache *c, const slc_prefix *p, const slc_scan_opts *o,
                    slc_visit_fn visit, void *ctx)
{
    return do_prefix(c, p, o, visit, ctx, NULL);
}

static int do_range(slc_cache *c, const void *start, size_t start_len,
                    const void *end, size_t end_len, const slc_scan_opts *o,
                    slc_visit_fn visit, void *ctx, uint64_t *count)
{
    scan s;
    int rc = scan_start(&s, count ? "slc_count_range" : "slc_scan_range", c,
                        o, visit, ctx, 1);
    if (rc)
        return rc;
    size_t ks = c->key_size;
    if (start && (start_len < 1 || start_len > ks))
        return slc__fail(SLC_EINVAL,
                         "range: start length %zu outside 1..%zu", start_len,
                         ks);
    if (end && (end_len < 1 || end_len > ks))
        return slc__fail(SLC_EINVAL, "range: end length %zu outside 1..%zu",
                         end_len, ks);
    uint8_t lo[SLC_MAX_KEY_SIZE], hi[SLC_MAX_KEY_SIZE];
    if (start) {
        memset(lo, 0, ks);
        memcpy(lo, start, start_len);
    }
    if (end) {
        memset(hi, 0, ks);
        memcpy(hi, end, end_len);
    }
    if (start && end) {
        int r = memcmp(lo, hi, ks);
        if (r > 0)
            return slc__fail(SLC_EINVAL, "range: start sorts after end");
        if (r == 0)
            return SLC_OK; /* empty half-open range */
    }
    s.kp.kind = KEY_RANGE;
    s.kp.start = start ? lo : NULL;
    s.kp.end = end ? hi : NULL;
    return finish(&s, count);
}

int slc_scan_range(slc_cache *c, const void *start, size_t start_len,
                   const void *end, size_t end_len, const slc_scan_opts *o,
                   slc_visit_fn visit, void *ctx)
{
    return do_range(c, start, start_len, end, end_len, o, visit, ctx, NULL);
}

static int do_match(slc_cache *c, const slc_index_match *m,
                    const slc_scan_opts *o, slc_visit_fn visit, void *ctx,
                    uint64_t *count)
{
    scan s;
    int rc = scan_start(&s, count ? "slc_count_match" : "slc_scan_match", c,
                        o, visit, ctx, 0);
    if (rc)
        return rc;
    if (!m)
        return slc__fail(SLC_EINVAL, "slc_scan_match: NULL match");
    if (m->len < 1 || m->len > SLC_MAX_MATCH_LEN)
        return slc__fail(SLC_EINVAL, "match: len %" PRIu32 " outside 1..%u",
                         m->len, SLC_MAX_MATCH_LEN);
    if (m->offset > c->index_size || m->len > c->index_size - m->offset)
        return slc__fail(SLC_EINVAL,
                         "match: bytes %" PRIu32 "..%" PRIu64
                         " outside index_size %" PRIu32,
                         m->offset, (uint64_t)m->offset + m->len,
                         c->index_size);
    if (!m->value)
        return slc__fail(SLC_EINVAL, "match: NULL value");
    match_compile(&s, m);
    return finish(&s, count);
}

int slc_scan_match(slc_cache *c, const slc_index_match *m,
                   const slc_scan_opts *o, slc_visit_fn visit, void *ctx)
{
    return do_match(c, m, o, visit, ctx, NULL);
}

/* ---- Counting ----------------------------------------------------------- */

/* The scans above with a visit that is never called: the walk counts what
 * it would deliver (after offset, up to limit) under one generation. */
static int count_out(uint64_t *count, const char *fn)
{
    if (!count)
        return slc__fail(SLC_EINVAL, "%s: NULL count", fn);
    *count = 0;
    return SLC_OK;
}

int slc_count(slc_cache *c, const slc_scan_opts *o, uint64_t *count)
{
    int rc = count_out(count, "slc_count");
    scan s;
    if (!rc)
        rc = scan_start(&s, "slc_count", c, o, count_only, NULL, 0);
    return rc ? rc : finish(&s, count);
}

int slc_count_prefix(slc_cache *c, const slc_prefix *p, const slc_scan_opts *o,
                     uint64_t *count)
{
    int rc = count_out(count, "slc_count_prefix");
    return rc ? rc : do_prefix(c, p, o, count_only, NULL, count);
}

int slc_count_range(slc_cache *c, const void *start, size_t start_len,
                    const void *end, size_t end_len, const slc_scan_opts *o,
                    uint64_t *count)
{
    int rc = count_out(count, "slc_count_range");
    return rc ? rc
              : do_range(c, start, start_len, end, end_len, o, count_only,
                         NULL, count);
}

int slc_count_match(slc_cache *c, const slc_index_match *m,
                    const slc_scan_opts *o, uint64_t *count)
{
    int rc = count_out(count, "slc_count_match");
    return rc ? rc : do_match(c, m, o, count_only, NULL, count);
}
