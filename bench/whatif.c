/* "What if" loops: how fast the SLC1 format itself allows a get and a
 * filtered scan to be, read straight from the file's mapping with the same
 * seqlock checks the library makes (generation before/after, state,
 * slot_highwater and slot ids range-checked). NOT library code and not a
 * competitor in the results: they are the evidence behind the proposed
 * library changes in docs/benchmarks.md, measured on the same file in the
 * same process as bench_slc's W3 and W5. Specialised for this workload's
 * layout (16-byte keys, 64-byte slots), which is the point: the library
 * could dispatch to such paths by key size. */
#define _GNU_SOURCE
#include "whatif.h"

#include <string.h>

#define OFF_SLOT_HIGHWATER 0x28
#define OFF_GENERATION 0x40
#define OFF_BUCKET_COUNT 0x48
#define OFF_BUCKETS_OFFSET 0x68
#define OFF_CRC_STATE 0x70

static inline uint64_t ld(const uint8_t *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED);
}
static inline uint64_t ld_acq(const uint8_t *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

/* FNV-1a over exactly 16 bytes, fully unrolled (same function as SLC1 5.3). */
static inline uint64_t fnv16(const uint8_t *k)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ k[i]) * 0x100000001b3ull;
    return h;
}

typedef struct lay {
    const uint8_t *map, *buckets;
    uint64_t mask, cap_hw;
} lay;

static void layout(const uint8_t *map, lay *l)
{
    l->map = map;
    l->buckets = map + ld(map + OFF_BUCKETS_OFFSET);
    l->mask = ld(map + OFF_BUCKET_COUNT) - 1;
}

/* One lookup, no batching. Returns 1 hit / 0 miss; -1 = retry. */
static inline int get1(const lay *l, const uint8_t *key, int64_t *rev,
                       uint8_t idx[32])
{
    uint64_t g1 = ld_acq(l->map + OFF_GENERATION);
    if (g1 & 1)
        return -1;
    uint64_t hw = ld(l->map + OFF_SLOT_HIGHWATER);
    if ((ld(l->map + OFF_CRC_STATE) >> 32) != 0)
        return -1;
    uint64_t h = fnv16(key), k0, k1;
    memcpy(&k0, key, 8);
    memcpy(&k1, key + 8, 8);
    int found = 0;
    for (uint64_t i = h & l->mask, n = 0; n <= l->mask; n++, i = (i + 1) & l->mask) {
        const uint8_t *b = l->buckets + 16 * i;
        uint64_t sp = ld(b + 8);
        if (sp == 0)
            break;
        if (sp == UINT64_MAX || ld(b) != h || sp - 1 >= hw)
            continue;
        const uint8_t *s = l->map + 256 + (sp - 1) * 64;
        if (ld(s + 8) == k0 && ld(s + 16) == k1 && (ld(s) & 1)) {
            *rev = (int64_t)ld(s + 24);
            for (int w = 0; w < 4; w++) {
                uint64_t v = ld(s + 32 + 8 * w);
                memcpy(idx + 8 * w, &v, 8);
            }
            found = 1;
            break;
        }
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return ld(l->map + OFF_GENERATION) == g1 ? found : -1;
}

uint64_t whatif_get_single(const uint8_t *map, const uint8_t *keys,
                           uint64_t count)
{
    lay l;
    layout(map, &l);
    uint64_t sum = 0;
    int64_t rev;
    uint8_t idx[32];
    for (uint64_t i = 0; i < count; i++) {
        int r;
        while ((r = get1(&l, keys + 16 * i, &rev, idx)) < 0)
            ;
        if (r)
            sum += bfold(rev, idx);
    }
    return sum;
}

/* Batched: hash a group of keys and prefetch their buckets, then read the
 * buckets and prefetch the slots, then confirm - so the two dependent
 * misses of every key in the group overlap instead of queueing. */
#define GROUP 16
uint64_t whatif_get_batch(const uint8_t *map, const uint8_t *keys,
                          uint64_t count)
{
    lay l;
    layout(map, &l);
    uint64_t sum = 0;
    for (uint64_t base = 0; base < count; base += GROUP) {
        unsigned n = count - base < GROUP ? (unsigned)(count - base) : GROUP;
        uint64_t h[GROUP];
        const uint8_t *slot[GROUP];
        for (unsigned j = 0; j < n; j++) {
            h[j] = fnv16(keys + 16 * (base + j));
            __builtin_prefetch(l.buckets + 16 * (h[j] & l.mask));
        }
        uint64_t g1 = ld_acq(map + OFF_GENERATION);
        uint64_t hw = ld(map + OFF_SLOT_HIGHWATER);
        for (unsigned j = 0; j < n; j++) {
            const uint8_t *b = l.buckets + 16 * (h[j] & l.mask);
            uint64_t sp = ld(b + 8);
            slot[j] = NULL;
            if (sp != 0 && sp != UINT64_MAX && ld(b) == h[j] && sp - 1 < hw) {
                slot[j] = map + 256 + (sp - 1) * 64;
                __builtin_prefetch(slot[j]);
            }
        }
        for (unsigned j = 0; j < n; j++) {
            int64_t rev;
            uint8_t idx[32];
            const uint8_t *k = keys + 16 * (base + j);
            uint64_t k0, k1;
            memcpy(&k0, k, 8);
            memcpy(&k1, k + 8, 8);
            const uint8_t *s = slot[j];
            if (s && ld(s + 8) == k0 && ld(s + 16) == k1 && (ld(s) & 1)) {
                rev = (int64_t)ld(s + 24);
                for (int w = 0; w < 4; w++) {
                    uint64_t v = ld(s + 32 + 8 * w);
                    memcpy(idx + 8 * w, &v, 8);
                }
                sum += bfold(rev, idx);
            } else { /* first bucket was not it: take the full probe */
                int r;
                while ((r = get1(&l, k, &rev, idx)) < 0)
                    ;
                if (r)
                    sum += bfold(rev, idx);
            }
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (ld(map + OFF_GENERATION) != g1)
            base -= GROUP; /* a commit overlapped: redo the group (demo only) */
    }
    return sum;
}

/* Filtered scan reading only meta and index byte 0 per slot until a match,
 * copying out matches only; generation checked once around the pass. */
uint64_t whatif_scan(const uint8_t *map)
{
    for (;;) {
        uint64_t g1 = ld_acq(map + OFF_GENERATION);
        uint64_t hw = ld(map + OFF_SLOT_HIGHWATER);
        uint64_t cap = (ld(map + OFF_BUCKETS_OFFSET) - 256) / 64;
        if (hw > cap)
            hw = cap;
        uint64_t count = 0, sum = 0;
        const uint8_t *s = map + 256;
        for (uint64_t i = 0; i < hw; i++, s += 64) {
            uint64_t meta = ld(s), i0 = ld(s + 32);
            if ((meta & 1) && (uint8_t)i0 == 0) {
                uint8_t idx[32];
                for (int w = 0; w < 4; w++) {
                    uint64_t v = ld(s + 32 + 8 * w);
                    memcpy(idx + 8 * w, &v, 8);
                }
                count++;
                sum += bfold((int64_t)ld(s + 24), idx);
            }
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(g1 & 1) && ld(map + OFF_GENERATION) == g1)
            return count + sum;
    }
}

uint64_t whatif_scan_callback(const uint8_t *map, slc_filter_fn filter,
                              slc_visit_fn visit, void *vctx)
{
    uint64_t g1 = ld_acq(map + OFF_GENERATION);
    uint64_t hw = ld(map + OFF_SLOT_HIGHWATER);
    uint64_t cap = (ld(map + OFF_BUCKETS_OFFSET) - 256) / 64;
    if (g1 & 1)
        return 0;
    if (hw > cap)
        hw = cap;
    const uint8_t *s = map + 256;
    for (uint64_t i = 0; i < hw; i++, s += 64) {
        if (ld(s) != 1)
            continue;
        slc_entry e = {s + 8, (int64_t)ld(s + 24), s + 32, i};
        if (!filter(&e, NULL))
            continue;
        uint64_t rec[8];
        for (int w = 0; w < 8; w++)
            rec[w] = ld(s + 8 * w);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (ld(map + OFF_GENERATION) != g1)
            return 0; /* streaming: a commit landed, stop */
        const uint8_t *r = (const uint8_t *)rec;
        slc_entry c = {r + 8, (int64_t)rec[3], r + 32, i};
        if (visit(&c, vctx))
            break;
    }
    return 1;
}
