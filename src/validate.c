/* Header validation. The order of checks decides the status code when a
 * file has several faults; it follows SLC1 10.7 exactly. */
#include "validate.h"

#include <inttypes.h>
#include <string.h>

#include "sizing.h"

int slc__validate_ident(const slc__header *h)
{
    if (memcmp(h->magic, "SLC1", 4) != 0)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "magic %02x%02x%02x%02x is not \"SLC1\"", h->magic[0],
                         h->magic[1], h->magic[2], h->magic[3]);
    if (h->version != SLC__VERSION)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "format version %" PRIu32 " is not 1", h->version);
    if (h->header_size != SLC__HEADER_SIZE)
        return slc__fail(SLC_EINCOMPATIBLE, "header_size %" PRIu32 " is not 256",
                         h->header_size);
    if (h->hash_alg != SLC__HASH_FNV1A64)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "hash_alg %" PRIu32 " is not 1 (FNV-1a 64)",
                         h->hash_alg);
    if (h->flags & ~(uint32_t)SLC__KNOWN_FLAGS)
        return slc__fail(SLC_EINCOMPATIBLE, "unknown flags bits 0x%" PRIx32,
                         h->flags & ~(uint32_t)SLC__KNOWN_FLAGS);
    for (int i = 0; i < (int)sizeof h->reserved; i++)
        if (h->reserved[i])
            return slc__fail(SLC_EINCOMPATIBLE,
                             "reserved header byte 0x%02x is 0x%02x (must be 0)",
                             SLC__OFF_RESERVED + i, h->reserved[i]);
    return SLC_OK;
}

int slc__validate_crc(const uint8_t raw[SLC__HEADER_SIZE],
                      const slc__header *h)
{
    uint32_t crc = slc__header_crc(raw);
    if (crc != h->header_crc32c)
        return slc__fail(SLC_ECORRUPT,
                         "header crc32c mismatch: stored 0x%08" PRIx32
                         ", computed 0x%08" PRIx32,
                         h->header_crc32c, crc);
    return SLC_OK;
}

int slc__bad_meta(uint64_t id, uint64_t meta)
{
    return slc__fail(SLC_ECORRUPT,
                     "slot %" PRIu64 " meta 0x%" PRIx64 " has reserved bits set",
                     id, meta);
}

int slc__validate_stable(const uint8_t raw[SLC__HEADER_SIZE],
                         const slc__header *h)
{
    if (h->state > SLC__STATE_INVALIDATED)
        return slc__fail(SLC_EINCOMPATIBLE, "unknown state %" PRIu32,
                         h->state);
    int rc = slc__validate_crc(raw, h);
    if (rc)
        return rc;
    if (h->state == SLC__STATE_INVALIDATED)
        return slc__fail(SLC_EINVALIDATED, "cache file was invalidated: a "
                                           "rebuild should replace it");
    return SLC_OK;
}

int slc__validate_config(const slc__header *h, const slc_options *o)
{
    if (h->key_size != o->key_size)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "key_size: file %" PRIu32 ", options %" PRIu32,
                         h->key_size, o->key_size);
    if (h->index_size != o->index_size)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "index_size: file %" PRIu32 ", options %" PRIu32,
                         h->index_size, o->index_size);
    if (h->user_version != o->user_version)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "user_version: file %" PRIu64 ", options %" PRIu64,
                         h->user_version, o->user_version);
    if (o->slot_capacity != 0 && (o->flags & SLC_CAPACITY_AT_LEAST) &&
        h->slot_capacity < o->slot_capacity)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "slot_capacity: file %" PRIu64 " is below the "
                         "minimum %" PRIu64 " (SLC_CAPACITY_AT_LEAST)",
                         h->slot_capacity, o->slot_capacity);
    if (o->slot_capacity != 0 && !(o->flags & SLC_CAPACITY_AT_LEAST) &&
        h->slot_capacity != o->slot_capacity)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "slot_capacity: file %" PRIu64 ", options %" PRIu64,
                         h->slot_capacity, o->slot_capacity);
    uint32_t want_ordered = (o->flags & SLC_ORDERED_KEYS) ? 1u : 0u;
    if ((h->flags & SLC__FLAG_ORDERED_KEYS) != want_ordered)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "ordered keys: file %s, options %s",
                         (h->flags & SLC__FLAG_ORDERED_KEYS) ? "on" : "off",
                         want_ordered ? "on" : "off");
    uint32_t slot_size;
    if (slc__slot_size(h->key_size, h->index_size, &slot_size) ||
        slot_size != h->slot_size)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "slot_size %" PRIu32 " does not match key_size %" PRIu32
                         " and index_size %" PRIu32,
                         h->slot_size, h->key_size, h->index_size);
    return SLC_OK;
}

int slc__validate_size_limits(const slc__header *h)
{
    uint32_t slot_size;
    return slc__slot_size(h->key_size, h->index_size, &slot_size);
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

int slc__validate_counters(uint64_t capacity, uint64_t buckets,
                           uint64_t highwater, uint64_t live, uint64_t used,
                           uint64_t tombstones)
{
    if (highwater > capacity)
        return slc__fail(SLC_ECORRUPT,
                         "slot_highwater %" PRIu64 " > slot_capacity %" PRIu64,
                         highwater, capacity);
    if (live > highwater)
        return slc__fail(SLC_ECORRUPT,
                         "live_count %" PRIu64 " > slot_highwater %" PRIu64,
                         live, highwater);
    if (used >= buckets || tombstones >= buckets - used)
        return slc__fail(SLC_ECORRUPT,
                         "bucket_used %" PRIu64 " + bucket_tombstones %" PRIu64
                         " leaves no EMPTY bucket of %" PRIu64,
                         used, tombstones, buckets);
    if (used != live)
        return slc__fail(SLC_ECORRUPT,
                         "bucket_used %" PRIu64 " != live_count %" PRIu64, used,
                         live);
    return SLC_OK;
}

int slc__validate_structure(const slc__header *h, uint64_t file_len,
                            uint64_t opt_capacity, uint64_t *required_len)
{
    if (h->slots_offset != SLC__HEADER_SIZE)
        return slc__fail(SLC_ECORRUPT, "slots_offset %" PRIu64 " is not 256",
                         h->slots_offset);
    if (h->slot_capacity == 0)
        return slc__fail(SLC_ECORRUPT, "slot_capacity is 0");
    slc__layout l;
    int bad = slc__layout_from_header(h, &l);
    uint64_t required = l.file_size;
    if (bad & SLC__LAYOUT_BAD_SLOTS)
        return slc__fail(SLC_ECORRUPT,
                         "buckets_offset %" PRIu64 " != 256 + %" PRIu64
                         " slots * %" PRIu32 " bytes",
                         h->buckets_offset, h->slot_capacity, h->slot_size);
    if ((bad & SLC__LAYOUT_BAD_BUCKETS) || file_len < required)
        return slc__fail(SLC_ECORRUPT,
                         "file length %" PRIu64 " < required %" PRIu64
                         " (buckets_offset %" PRIu64 " + 16 * %" PRIu64
                         " buckets)",
                         file_len, required, h->buckets_offset,
                         h->bucket_count);
    if (h->slot_highwater > h->slot_capacity)
        return slc__fail(SLC_ECORRUPT,
                         "slot_highwater %" PRIu64 " > slot_capacity %" PRIu64,
                         h->slot_highwater, h->slot_capacity);
    if (h->live_count > h->slot_highwater)
        return slc__fail(SLC_ECORRUPT,
                         "live_count %" PRIu64 " > slot_highwater %" PRIu64,
                         h->live_count, h->slot_highwater);
    if (h->bucket_count < 2 || !is_pow2(h->bucket_count))
        return slc__fail(SLC_ECORRUPT,
                         "bucket_count %" PRIu64 " is not a power of two >= 2",
                         h->bucket_count);
    if (h->bucket_count <= h->slot_capacity)
        return slc__fail(SLC_EINCOMPATIBLE,
                         "bucket_count %" PRIu64 " <= slot_capacity %" PRIu64
                         ": a full cache could exhaust the table",
                         h->bucket_count, h->slot_capacity);
    int rc = slc__validate_counters(h->slot_capacity, h->bucket_count,
                                    h->slot_highwater, h->live_count,
                                    h->bucket_used, h->bucket_tombstones);
    if (rc)
        return rc;
    if (opt_capacity == 0 && h->slot_capacity > SLC_MAX_SLOT_CAPACITY)
        return slc__fail(SLC_EINVAL,
                         "slot_capacity %" PRIu64 " above the limit %u",
                         h->slot_capacity, SLC_MAX_SLOT_CAPACITY);
    if (required > SLC_MAX_FILE_SIZE)
        return slc__fail(SLC_EINVAL,
                         "file size %" PRIu64 " above the 1 TiB limit",
                         required);
    *required_len = required;
    return SLC_OK;
}
