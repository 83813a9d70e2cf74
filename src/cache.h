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

    /* Pages this handle knows to be allocated (space.c), for writers. */
    struct slc__space *space;
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

/* The verdict of slc__attempt_header on words that failed its quick test. */
SLC__HIDDEN int slc__attempt_fault(const slc_cache *c, uint32_t state,
                                   uint64_t hw, uint64_t live, uint64_t used,
                                   uint64_t tomb);

/* State, then the mutable counters (SLC1 7.6 step 3), at the start of
 * every read attempt of gets and scans; *hw is the slot_highwater that
 * bounds the attempt. Counters that break 3.10 are impossible and fail the
 * attempt like a bad bucket. One branch on the hot path; the words share
 * the generation's cache lines. */
static inline int slc__attempt_header(const slc_cache *c, uint64_t *hw)
{
    const uint8_t *m = c->map;
    uint32_t state = slc__state_now(c);
    uint64_t h = slc__ld(m + SLC__OFF_SLOT_HIGHWATER);
    uint64_t live = slc__ld(m + SLC__OFF_LIVE_COUNT);
    uint64_t used = slc__ld(m + SLC__OFF_BUCKET_USED);
    uint64_t tomb = slc__ld(m + SLC__OFF_BUCKET_TOMBSTONES);
    uint64_t bc = c->bucket_count;
    *hw = h;
    int bad = (state != SLC__STATE_NORMAL) | (h > c->slot_capacity) |
              (live > h) | (used != live) | (used >= bc) | (tomb >= bc - used);
    if (__builtin_expect(bad, 0))
        return slc__attempt_fault(c, state, h, live, used, tomb);
    return SLC_OK;
}

/* Mark c's file invalidated; the caller holds exclusivity (invalidate.c). */
SLC__HIDDEN int slc__invalidate_exclusive(slc_cache *c);

/* The hash index (probe, key words); it needs the handle above. */
#include "index.h"

#endif
