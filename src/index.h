/* The hash index (SLC1 5) as readers walk it: probe, the light first pass
 * of batched gets, the chain check of slc_verify, the open-time sample,
 * and the probe-path search for a free bucket that inserts share.
 *
 * Linear probing over bucket_count (a power of two) buckets of 16 bytes,
 * {hash64, slot_plus_one}: slot_plus_one 0 is EMPTY (ends every probe),
 * UINT64_MAX is TOMBSTONE (a probe steps over it), anything else names slot
 * slot_plus_one - 1. Everything read here is speculative under the
 * caller's seqlock attempt, so ids are range-checked before use.
 *
 * The small pieces every get runs are inline here; cache.h includes this
 * header at its end, so writer.c (slc__probe) reaches it through cache.h. */
#ifndef SLC_INDEX_H
#define SLC_INDEX_H

#include <stdint.h>
#include <string.h>

#include "cache.h"

/* A key as zero-padded 64-bit words, the form slot keys are compared in. */
#define SLC__KEY_WORDS (SLC_MAX_KEY_SIZE / 8)
static inline void slc__key_words(const slc_cache *c, const void *key,
                                  uint64_t kw[SLC__KEY_WORDS])
{
    if (c->key_size == 16) { /* the common UUID size: two plain moves */
        memcpy(kw, key, 16);
        return;
    }
    size_t words = (c->key_size + 7u) / 8u;
    kw[words - 1] = 0;
    memcpy(kw, key, c->key_size);
}

/* Does slot `s` hold the key `kw` (slc__key_words form)? Word loads. */
static inline int slc__slot_key_equals(const slc_cache *c, const uint8_t *s,
                                       const uint64_t *kw)
{
    const uint8_t *k = s + 8;
    uint32_t full = c->key_size / 8u, rest = c->key_size % 8u;
    for (uint32_t i = 0; i < full; i++)
        if (slc__ld(k + 8u * i) != kw[i])
            return 0;
    if (rest) {
        /* Little-endian: the key's bytes are the low ones of the word;
         * key_pad bytes need not be zero in files from elsewhere. */
        uint64_t mask = (UINT64_C(1) << (8u * rest)) - 1u;
        if ((slc__ld(k + 8u * full) ^ kw[full]) & mask)
            return 0;
    }
    return 1;
}

/* Result of an index lookup. */
typedef struct slc__lookup {
    uint64_t bucket;  /* bucket holding the key, or where a probe ended */
    uint64_t slot_id; /* valid when found */
    int found;
} slc__lookup;

/* Probe the hash index for key words `kw` with hash h, reading
 * `highwater` as the bound for slot ids. Never leaves the mapping and
 * visits at most bucket_count buckets. SLC_OK (found or not) or
 * SLC_ECORRUPT (an impossible bucket or slot, detail set) - which a
 * reader reports only if its generation was stable. */
SLC__HIDDEN int slc__probe(const slc_cache *c, const uint64_t *kw, uint64_t h,
                           uint64_t highwater, slc__lookup *out);

/* The first pass of a batched get: from the home bucket of h, the first
 * FULL bucket whose hash equals h, stopping at EMPTY. Returns its slot id
 * (prefetched) or UINT64_MAX; *end is the bucket it stopped at. Nothing is
 * judged here: any doubt (an id >= highwater, no candidate but a bucket
 * that is not EMPTY) is for slc__probe, which does every check. */
static inline uint64_t slc__index_candidate(const slc_cache *c, uint64_t h,
                                            uint64_t highwater, uint64_t *end)
{
    uint64_t j = h & c->bucket_mask, cand = UINT64_MAX;
    for (uint64_t steps = 0; steps < c->bucket_count; steps++) {
        const uint8_t *b = slc__bucket(c, j);
        uint64_t sp = slc__ld(b + 8);
        if (sp == SLC__BUCKET_EMPTY)
            break;
        if (sp != SLC__BUCKET_TOMBSTONE) {
            if (sp - 1 >= highwater)
                break; /* impossible: the full probe reports it */
            if (slc__ld(b) == h) {
                cand = sp - 1;
                __builtin_prefetch(slc__slot(c, cand), 0, 3);
                break;
            }
        }
        j = (j + 1) & c->bucket_mask;
    }
    *end = j;
    return cand;
}

/* slc_verify's chain check for FULL bucket i naming slot_id with key `key`
 * and hash h: the probe path from h's home bucket must reach i without an
 * EMPTY bucket, and no FULL bucket before i on it may hold the same key. */
SLC__HIDDEN int slc__index_check_path(const slc_cache *c, uint64_t h,
                                      uint64_t i, uint64_t slot_id,
                                      const uint8_t *key, uint64_t highwater);

/* Optional check at open (SLC1 10.7 G): no FULL bucket among the first n
 * names a slot >= slot_highwater. Skipped (SLC_OK) when no stable read
 * comes within two quick attempts. */
SLC__HIDDEN int slc__index_sample(const slc_cache *c, uint64_t n);

/* A bucket as some caller sees it: its slot_plus_one word (the mapping, a
 * private copy, or the mapping under a commit's planned changes). */
typedef uint64_t (*slc__bucket_word_fn)(const void *ctx, uint64_t i);

/* The bucket an insert of hash h takes (SLC1 5.4): the first TOMBSTONE or
 * EMPTY on its probe path, as `word` reports the buckets. *tomb: it was a
 * TOMBSTONE. UINT64_MAX when the whole table is FULL (counters that lie).
 * Inline, so that a call with a known `word` compiles to a plain loop:
 * the writer's planned inserts and rehash run it once per insert. */
static inline uint64_t slc__index_free_on_path(uint64_t bucket_mask,
                                               uint64_t h,
                                               slc__bucket_word_fn word,
                                               const void *ctx, int *tomb)
{
    uint64_t i = h & bucket_mask;
    for (uint64_t n = 0; n <= bucket_mask; n++) {
        uint64_t sp = word(ctx, i);
        if (sp == SLC__BUCKET_EMPTY || sp == SLC__BUCKET_TOMBSTONE) {
            *tomb = sp == SLC__BUCKET_TOMBSTONE;
            return i;
        }
        i = (i + 1) & bucket_mask;
    }
    return UINT64_MAX;
}

#endif
