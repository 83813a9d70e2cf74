/* The cache handle and helpers shared by the read, scan and write paths. */
#ifndef SLC_CACHE_H
#define SLC_CACHE_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "format.h"
#include "seqlock.h"

struct slc_cache {
    uint8_t *map; /* MAP_SHARED, map_len bytes: the file's logical size */
    size_t map_len;
    int fd;
    uint32_t open_flags; /* SLC_ORDERED_KEYS | SLC_WRITEBACK_SYNC | ... */

    /* Immutable after creation (SLC1 3.2): cached at open, validated. */
    uint32_t key_size, index_size, slot_size, file_flags;
    uint32_t rev_off, index_off; /* offsets of revision and index in a slot */
    uint64_t slot_capacity, bucket_count, bucket_mask, user_version;
    uint8_t *slots, *buckets, *gen;

    dev_t dev; /* registry key */
    ino_t ino;
    char *path, *lock_path; /* lock_path NULL with SLC_NO_LOCK */

    /* Writers obtained from this handle and not yet freed, and the fork
     * epoch they belong to; guarded by the registry mutex (lock.c). */
    unsigned writers;
    unsigned writers_epoch;
};

static inline uint8_t *slc__slot(const slc_cache *c, uint64_t id)
{
    return c->slots + id * c->slot_size;
}
static inline uint8_t *slc__bucket(const slc_cache *c, uint64_t i)
{
    return c->buckets + i * SLC__BUCKET_SIZE;
}

/* The state field, from the word it shares with header_crc32c (relaxed:
 * speculative until the caller's generation check). */
static inline uint32_t slc__state_now(const slc_cache *c)
{
    return (uint32_t)(slc__ld(c->map + SLC__OFF_HEADER_CRC) >> 32);
}

/* Copy the 256 header bytes under the reader rule (SLC1 7.6) with the 7.7
 * retries, then check state and the 3.10 counter invariants on the stable
 * copy: SLC_OK, SLC_EBUSY, SLC_EINVALIDATED, SLC_EINCOMPATIBLE (unknown
 * state) or SLC_ECORRUPT. *h gets the decoded copy. */
SLC__HIDDEN int slc__snapshot_header(const slc_cache *c, slc__header *h);

/* State and counter checks of a stable header copy (shared with scans). */
SLC__HIDDEN int slc__check_state(uint32_t state);
SLC__HIDDEN int slc__check_counters(const slc_cache *c, const slc__header *h);

/* The no-stable-generation failure, with detail. */
SLC__HIDDEN int slc__busy(const slc_cache *c);

/* A key as zero-padded 64-bit words, the form slot keys are compared in. */
#define SLC__KEY_WORDS (SLC_MAX_KEY_SIZE / 8)
SLC__HIDDEN void slc__key_words(const slc_cache *c, const void *key,
                                uint64_t kw[SLC__KEY_WORDS]);

/* Store every header word but the generation from h, with a fresh CRC.
 * Writer side only: the caller holds the odd generation. */
SLC__HIDDEN void slc__store_header(slc_cache *c, const slc__header *h);

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

/* Does slot `s` hold the key `kw` (slc__key_words form)? Word loads. */
SLC__HIDDEN int slc__slot_key_equals(const slc_cache *c, const uint8_t *s,
                                     const uint64_t *kw);

#endif
