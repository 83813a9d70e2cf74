/* slc_verify: the whole-file structural check (SLC1 3.10, 4, 5, 8.7),
 * made under one stable generation like any other read. Unlike the read
 * path it allocates (one bit per allocated slot) and is O(file size). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"


static int check_slots(const slc_cache *c, uint64_t hw, uint64_t live_count)
{
    uint8_t prev[SLC_MAX_KEY_SIZE], key[SLC_MAX_KEY_SIZE];
    int ordered = (c->file_flags & SLC__FLAG_ORDERED_KEYS) != 0;
    uint64_t live = 0;
    for (uint64_t id = 0; id < hw; id++) {
        const uint8_t *s = slc__slot(c, id);
        uint64_t meta = slc__ld(s);
        if (meta & ~(uint64_t)SLC__META_USED)
            return slc__fail(SLC_ECORRUPT,
                             "slot %" PRIu64 " meta 0x%" PRIx64
                             " has reserved bits set",
                             id, meta);
        live += meta & SLC__META_USED;
        if (ordered) {
            slc__copy_out(key, s + 8, c->key_size);
            if (id > 0 && memcmp(prev, key, c->key_size) > 0)
                return slc__fail(SLC_ECORRUPT,
                                 "ordered keys: slot %" PRIu64
                                 " sorts below slot %" PRIu64,
                                 id, id - 1);
            memcpy(prev, key, c->key_size);
        }
    }
    if (live != live_count)
        return slc__fail(SLC_ECORRUPT,
                         "%" PRIu64 " live slots, header live_count %" PRIu64,
                         live, live_count);
    return SLC_OK;
}

/* Is bucket i reachable from the start of its probe path, i.e. no EMPTY
 * bucket lies between h & mask and i? */
static int reachable(const slc_cache *c, uint64_t h, uint64_t i)
{
    for (uint64_t j = h & c->bucket_mask, n = 0; j != i && n < c->bucket_count;
         j = (j + 1) & c->bucket_mask, n++)
        if (slc__ld(slc__bucket(c, j) + 8) == SLC__BUCKET_EMPTY)
            return 0;
    return 1;
}

static int check_buckets(const slc_cache *c, const slc__header *h,
                         uint8_t *seen)
{
    uint8_t key[SLC_MAX_KEY_SIZE];
    uint64_t full = 0, tomb = 0;
    for (uint64_t i = 0; i < c->bucket_count; i++) {
        const uint8_t *b = slc__bucket(c, i);
        uint64_t sp = slc__ld(b + 8);
        if (sp == SLC__BUCKET_EMPTY)
            continue;
        if (sp == SLC__BUCKET_TOMBSTONE) {
            tomb++;
            continue;
        }
        full++;
        uint64_t id = sp - 1;
        if (id >= h->slot_highwater)
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " names slot %" PRIu64
                             " >= slot_highwater %" PRIu64,
                             i, id, h->slot_highwater);
        const uint8_t *s = slc__slot(c, id);
        if (!(slc__ld(s) & SLC__META_USED))
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " names deleted slot %" PRIu64,
                             i, id);
        if (seen[id / 8] & (1u << (id % 8)))
            return slc__fail(SLC_ECORRUPT,
                             "slot %" PRIu64 " is named by two buckets", id);
        seen[id / 8] |= (uint8_t)(1u << (id % 8));
        slc__copy_out(key, s + 8, c->key_size);
        uint64_t hash = slc__fnv1a64(key, c->key_size);
        if (slc__ld(b) != hash)
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " hash %016" PRIx64
                             " != FNV-1a %016" PRIx64 " of slot %" PRIu64,
                             i, slc__ld(b), hash, id);
        if (!reachable(c, hash, i))
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " (slot %" PRIu64
                             ") is cut off from its probe start %" PRIu64
                             " by an EMPTY bucket",
                             i, id, hash & c->bucket_mask);
    }
    if (full != h->bucket_used)
        return slc__fail(SLC_ECORRUPT,
                         "%" PRIu64 " FULL buckets, header bucket_used %" PRIu64,
                         full, h->bucket_used);
    if (tomb != h->bucket_tombstones)
        return slc__fail(SLC_ECORRUPT,
                         "%" PRIu64 " TOMBSTONE buckets, header "
                         "bucket_tombstones %" PRIu64,
                         tomb, h->bucket_tombstones);
    /* Every live slot has a bucket: full == live and no slot twice. */
    return SLC_OK;
}

int slc_verify(slc_cache *c)
{
    if (!c)
        return slc__fail(SLC_EINVAL, "slc_verify: NULL cache");
    uint8_t *seen = NULL;
    size_t seen_len = 0;
    int rc = SLC_EBUSY;
    for (unsigned a = 0; a < SLC__READ_ATTEMPTS; a++) {
        slc__backoff(a);
        uint64_t g1 = slc__ld_acquire(c->gen);
        if (g1 & 1)
            continue;
        uint8_t raw[SLC__HEADER_SIZE];
        slc__header h;
        slc__copy_out(raw, c->map, SLC__HEADER_SIZE);
        slc__header_decode(raw, &h);
        rc = slc__check_state(h.state);
        if (!rc && slc__header_crc(raw) != h.header_crc32c)
            rc = slc__fail(SLC_ECORRUPT, "header crc32c mismatch");
        if (!rc)
            rc = slc__check_counters(c, &h);
        if (!rc) {
            size_t need = (size_t)(h.slot_highwater / 8 + 1);
            if (need > seen_len) {
                free(seen);
                seen = malloc(need);
                seen_len = seen ? need : 0;
            }
            if (!seen) {
                rc = slc__fail(SLC_ENOMEM, "verify: %zu-byte slot map", need);
                break;
            }
            memset(seen, 0, need);
            rc = check_slots(c, h.slot_highwater, h.live_count);
            if (!rc)
                rc = check_buckets(c, &h, seen);
        }
        if (slc__read_stable(c->gen, g1))
            break; /* a verdict of one generation */
        rc = SLC_EBUSY;
    }
    free(seen);
    return rc == SLC_EBUSY ? slc__busy(c) : rc;
}
