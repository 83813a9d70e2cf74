/* Integer layout arithmetic. Every product and sum is checked; a result
 * must also fit its on-disk field, off_t and size_t. */
#include "sizing.h"

#include <inttypes.h>
#include <stddef.h>
#include <sys/types.h>

#include "format.h"

int slc__slot_size(uint32_t key_size, uint32_t index_size, uint32_t *out)
{
    if (key_size < 1 || key_size > SLC_MAX_KEY_SIZE)
        return slc__fail(SLC_EINVAL, "key_size %" PRIu32 " outside 1..%u",
                         key_size, SLC_MAX_KEY_SIZE);
    if (index_size > SLC_MAX_INDEX_SIZE)
        return slc__fail(SLC_EINVAL, "index_size %" PRIu32 " above %u",
                         index_size, SLC_MAX_INDEX_SIZE);
    /* Both operands are bounded above, so this cannot overflow 32 bits. */
    uint32_t size = 16u + slc__align8(key_size) + slc__align8(index_size);
    if (size > SLC_MAX_SLOT_SIZE)
        return slc__fail(SLC_EINVAL, "slot_size %" PRIu32 " above %u", size,
                         SLC_MAX_SLOT_SIZE);
    *out = size;
    return SLC_OK;
}

int slc__bucket_count(uint64_t slot_capacity, uint64_t *out)
{
    uint64_t want;
    if (slot_capacity < 1 || slc__mul_u64(slot_capacity, 2, &want) ||
        want > (UINT64_C(1) << 63))
        return slc__fail(SLC_EINVAL,
                         "slot_capacity %" PRIu64 " has no bucket count",
                         slot_capacity);
    /* Round up to a power of two by smearing the highest set bit. */
    uint64_t n = want - 1;
    n |= n >> 1;
    n |= n >> 2;
    n |= n >> 4;
    n |= n >> 8;
    n |= n >> 16;
    n |= n >> 32;
    *out = n + 1;
    return SLC_OK;
}

int slc__layout_for_create(uint32_t key_size, uint32_t index_size,
                           uint64_t slot_capacity, slc__layout *out)
{
    slc__layout l = {0};
    int rc = slc__slot_size(key_size, index_size, &l.slot_size);
    if (rc)
        return rc;
    if (slot_capacity < 1 || slot_capacity > SLC_MAX_SLOT_CAPACITY)
        return slc__fail(SLC_EINVAL,
                         "slot_capacity %" PRIu64 " outside 1..%u",
                         slot_capacity, SLC_MAX_SLOT_CAPACITY);
    rc = slc__bucket_count(slot_capacity, &l.bucket_count);
    if (rc)
        return rc;
    uint64_t slots_len, buckets_len;
    l.slots_offset = SLC__HEADER_SIZE;
    if (slc__mul_u64(slot_capacity, l.slot_size, &slots_len) ||
        slc__add_u64(l.slots_offset, slots_len, &l.buckets_offset) ||
        slc__mul_u64(l.bucket_count, SLC__BUCKET_SIZE, &buckets_len) ||
        slc__add_u64(l.buckets_offset, buckets_len, &l.file_size))
        return slc__fail(SLC_EINVAL,
                         "layout overflows 64 bits (capacity %" PRIu64
                         ", slot_size %" PRIu32 ")",
                         slot_capacity, l.slot_size);
    if (l.file_size > SLC_MAX_FILE_SIZE)
        return slc__fail(SLC_EINVAL,
                         "file size %" PRIu64 " above the 1 TiB limit",
                         l.file_size);
    /* 1 TiB fits any 64-bit off_t and size_t; keep the check explicit. */
    if ((uint64_t)(size_t)l.file_size != l.file_size ||
        (off_t)l.file_size < 0)
        return slc__fail(SLC_EINVAL, "file size %" PRIu64 " not addressable",
                         l.file_size);
    l.key_size = key_size;
    l.index_size = index_size;
    l.rev_off = 8 + slc__align8(key_size);
    l.index_off = l.rev_off + 8;
    l.slot_capacity = slot_capacity;
    *out = l;
    return SLC_OK;
}

int slc__layout_from_header(const slc__header *h, slc__layout *out)
{
    slc__layout l = {0};
    int bad = 0;
    uint64_t slots_len, want_buckets, buckets_len;
    l.key_size = h->key_size;
    l.index_size = h->index_size;
    l.slot_size = h->slot_size;
    /* key_size is any 32-bit value until validated: 64-bit sum. */
    uint64_t rev = 8 + (((uint64_t)h->key_size + 7) & ~(uint64_t)7);
    l.rev_off = rev + 8 <= UINT32_MAX ? (uint32_t)rev : 0;
    l.index_off = l.rev_off ? l.rev_off + 8 : 0;
    l.slot_capacity = h->slot_capacity;
    l.bucket_count = h->bucket_count;
    l.slots_offset = h->slots_offset;
    l.buckets_offset = h->buckets_offset;
    if (slc__mul_u64(h->slot_capacity, h->slot_size, &slots_len) ||
        slc__add_u64(h->slots_offset, slots_len, &want_buckets) ||
        want_buckets != h->buckets_offset)
        bad |= SLC__LAYOUT_BAD_SLOTS;
    if (slc__mul_u64(h->bucket_count, SLC__BUCKET_SIZE, &buckets_len) ||
        slc__add_u64(h->buckets_offset, buckets_len, &l.file_size))
        bad |= SLC__LAYOUT_BAD_BUCKETS;
    *out = l;
    return bad;
}
