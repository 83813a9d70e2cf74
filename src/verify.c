/* slc_verify: the whole-file structural check (SLC1 3.9-3.10, 4, 5, 8.7),
 * made under one stable generation like any other read. Unlike the read
 * path it allocates (one bit per allocated slot) and is O(file size).
 *
 * What it proves, in order, for one generation:
 *   1. header: CRC, state, the fields fixed at creation still equal what
 *      open validated, reserved bytes zero, counters (3.10);
 *   2. slots 0..slot_highwater-1: meta reserved bits zero, key and tail
 *      padding zero in live slots, keys non-decreasing in ordered mode,
 *      the number of USED slots equal to live_count;
 *   3. buckets: each FULL bucket names a distinct live slot below the
 *      highwater, carries that key's FNV-1a, is reachable from its home
 *      bucket without crossing an EMPTY one, and no FULL bucket before it
 *      on that path holds the same key (which lookups would find first);
 *      FULL and TOMBSTONE counts equal the header's.
 * With live_count == bucket_used, (3) makes FULL buckets and live slots a
 * one-to-one mapping, so every live slot is found by exactly one bucket. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "validate.h"

/* Fields that never change after creation (SLC1 3.2) against the values
 * open validated and cached: a change means someone rewrote the header. */
static int check_fixed_fields(const slc_cache *c, const slc__header *h)
{
    /* The layout open derived from the header (slc__layout_from_header)
     * is in the handle: its offsets are where the mapping's areas start. */
    uint64_t slots_off = (uint64_t)(c->slots - c->map);
    uint64_t buckets_off = (uint64_t)(c->buckets - c->map);
    struct {
        const char *name;
        uint64_t file, open;
    } f[] = {
        {"version", h->version, 1},
        {"header_size", h->header_size, SLC__HEADER_SIZE},
        {"key_size", h->key_size, c->key_size},
        {"index_size", h->index_size, c->index_size},
        {"slot_size", h->slot_size, c->slot_size},
        {"hash_alg", h->hash_alg, SLC__HASH_FNV1A64},
        {"flags", h->flags, c->file_flags},
        {"slot_capacity", h->slot_capacity, c->slot_capacity},
        {"user_version", h->user_version, c->user_version},
        {"bucket_count", h->bucket_count, c->bucket_count},
        {"slots_offset", h->slots_offset, slots_off},
        {"buckets_offset", h->buckets_offset, buckets_off},
    };
    if (memcmp(h->magic, "SLC1", 4) != 0)
        return slc__fail(SLC_ECORRUPT, "header magic changed since open");
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].file != f[i].open)
            return slc__fail(SLC_ECORRUPT,
                             "header %s is %" PRIu64 ", was %" PRIu64
                             " at open",
                             f[i].name, f[i].file, f[i].open);
    for (int i = 0; i < (int)sizeof h->reserved; i++)
        if (h->reserved[i])
            return slc__fail(SLC_ECORRUPT,
                             "reserved header byte 0x%02x is 0x%02x",
                             SLC__OFF_RESERVED + i, h->reserved[i]);
    return SLC_OK;
}

/* First non-zero byte of n bytes, or -1. */
static long nonzero_at(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return (long)i;
    return -1;
}

static int check_slots(const slc_cache *c, uint64_t hw, uint64_t live_count)
{
    /* One slot image (slot_size <= 2 MiB) is too big for the stack; keys
     * and the padding around them are copied word by word instead. */
    uint8_t prev[SLC_MAX_KEY_SIZE], key[SLC_MAX_KEY_SIZE + 8];
    uint32_t key_area = c->rev_off - 8;
    uint32_t tail = c->slot_size - c->index_off - c->index_size;
    int ordered = (c->file_flags & SLC__FLAG_ORDERED_KEYS) != 0;
    uint64_t live = 0;
    for (uint64_t id = 0; id < hw; id++) {
        const uint8_t *s = slc__slot(c, id);
        uint64_t meta = slc__ld(s);
        if (meta & ~(uint64_t)SLC__META_USED)
            return slc__bad_meta(id, meta);
        live += meta & SLC__META_USED;
        slc__copy_out(key, s + 8, key_area);
        if (meta & SLC__META_USED) {
            long at = nonzero_at(key + c->key_size, key_area - c->key_size);
            if (at >= 0)
                return slc__fail(SLC_ECORRUPT,
                                 "slot %" PRIu64 " key padding byte %ld is "
                                 "not zero",
                                 id, at);
            if (tail) {
                /* The tail shares the slot's last word with the index. */
                uint8_t w[8];
                slc__copy_out(w, s + c->slot_size - 8, 8);
                at = nonzero_at(w + 8 - tail, tail);
                if (at >= 0)
                    return slc__fail(SLC_ECORRUPT,
                                     "slot %" PRIu64 " tail padding byte %ld "
                                     "is not zero",
                                     id, at);
            }
        }
        if (ordered) {
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
                             "slot %" PRIu64 " is named by two buckets "
                             "(second: bucket %" PRIu64 ")",
                             id, i);
        seen[id / 8] |= (uint8_t)(1u << (id % 8));
        slc__copy_out(key, s + 8, c->key_size);
        uint64_t hash = slc__fnv1a64(key, c->key_size);
        if (slc__ld(b) != hash)
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " hash %016" PRIx64
                             " != FNV-1a %016" PRIx64 " of slot %" PRIu64,
                             i, slc__ld(b), hash, id);
        int rc = slc__index_check_path(c, hash, i, id, key,
                                       h->slot_highwater);
        if (rc)
            return rc;
    }
    if (full != h->bucket_used) {
        /* Name a live slot that no bucket reaches, when there is one. */
        for (uint64_t id = 0; id < h->slot_highwater; id++)
            if ((slc__ld(slc__slot(c, id)) & SLC__META_USED) &&
                !(seen[id / 8] & (1u << (id % 8))))
                return slc__fail(SLC_ECORRUPT,
                                 "live slot %" PRIu64 " has no FULL bucket "
                                 "(%" PRIu64 " FULL buckets, header "
                                 "bucket_used %" PRIu64 ")",
                                 id, full, h->bucket_used);
        return slc__fail(SLC_ECORRUPT,
                         "%" PRIu64 " FULL buckets, header bucket_used %" PRIu64,
                         full, h->bucket_used);
    }
    if (tomb != h->bucket_tombstones)
        return slc__fail(SLC_ECORRUPT,
                         "%" PRIu64 " TOMBSTONE buckets, header "
                         "bucket_tombstones %" PRIu64,
                         tomb, h->bucket_tombstones);
    return SLC_OK;
}

int slc_verify(slc_cache *c)
{
    if (!c)
        return slc__fail(SLC_EINVAL, "slc_verify: NULL cache");
    uint8_t *seen = NULL;
    size_t seen_len = 0;
    int rc = SLC_EBUSY;
    slc__seqread r;
    for (int ok = slc__read_begin(&r, c->gen); ok; ok = slc__read_next(&r)) {
        uint8_t raw[SLC__HEADER_SIZE];
        slc__header h;
        slc__copy_out(raw, c->map, SLC__HEADER_SIZE);
        slc__header_decode(raw, &h);
        rc = slc__check_state(h.state);
        if (!rc)
            rc = slc__validate_crc(raw, &h);
        if (!rc)
            rc = check_fixed_fields(c, &h);
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
        if (!slc__read_retry(&r))
            break; /* a verdict of one generation */
        rc = SLC_EBUSY;
    }
    free(seen);
    return rc == SLC_EBUSY ? slc__busy(c) : rc;
}
