/* Slot size, bucket count and file layout: checked 64-bit integer math.
 * Impossible configurations are SLC_EINVAL, never clamped. */
#ifndef SLC_SIZING_H
#define SLC_SIZING_H

#include <stdint.h>

#include "error.h"
#include "format.h"

typedef struct slc__layout {
    uint32_t key_size, index_size, slot_size;
    uint32_t rev_off, index_off; /* field offsets inside a slot (SLC1 4.1) */
    uint64_t slot_capacity, bucket_count;
    uint64_t slots_offset, buckets_offset, file_size;
} slc__layout;

/* slot_size = 16 + align8(key_size) + align8(index_size), within limits. */
SLC__HIDDEN int slc__slot_size(uint32_t key_size, uint32_t index_size,
                               uint32_t *out);

/* Smallest power of two >= 2 * slot_capacity. */
SLC__HIDDEN int slc__bucket_count(uint64_t slot_capacity, uint64_t *out);

/* The layout a new file with these options gets (SLC1 3.1, 4.1, 5.2, 14). */
SLC__HIDDEN int slc__layout_for_create(uint32_t key_size, uint32_t index_size,
                                       uint64_t slot_capacity,
                                       slc__layout *out);

/* The layout a header describes, by the same checked arithmetic, for
 * whoever reads a header (validation, open, verify). Offsets are the
 * header's own; file_size is buckets_offset + 16 * bucket_count, the bytes
 * to map. Judges nothing (validate.c does) beyond what the arithmetic
 * needs. Returns 0, or a mask: SLC__LAYOUT_BAD_SLOTS when buckets_offset
 * is not slots_offset + slot_capacity * slot_size (or that overflows),
 * SLC__LAYOUT_BAD_BUCKETS when file_size overflows (then it holds the
 * wrapped sum, never to be used). */
enum { SLC__LAYOUT_BAD_SLOTS = 1, SLC__LAYOUT_BAD_BUCKETS = 2 };
SLC__HIDDEN int slc__layout_from_header(const slc__header *h,
                                        slc__layout *out);

/* Overflow-checked helpers: 0 on success, -1 on overflow. */
static inline int slc__mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int slc__add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

#endif
