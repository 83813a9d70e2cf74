/* SLC1 on-disk layout: header field offsets, header codec, CRC-32C, FNV-1a.
 * Pure functions over bytes; nothing here touches a mapping atomically. */
#ifndef SLC_FORMAT_H
#define SLC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SLC__HEADER_SIZE 256u
#define SLC__VERSION 1u
#define SLC__HASH_FNV1A64 1u
#define SLC__FLAG_ORDERED_KEYS 1u
#define SLC__KNOWN_FLAGS SLC__FLAG_ORDERED_KEYS
#define SLC__STATE_NORMAL 0u
#define SLC__STATE_INVALIDATED 1u
#define SLC__BUCKET_SIZE 16u

/* Bucket slot_plus1 encodings (SLC1 5.1). */
#define SLC__BUCKET_EMPTY 0u
#define SLC__BUCKET_TOMBSTONE UINT64_MAX
/* Slot meta bit 0; bits 1..63 reserved and zero. */
#define SLC__META_USED 1u

/* Header field offsets (SLC1 3.2). */
enum {
    SLC__OFF_MAGIC = 0x000,
    SLC__OFF_VERSION = 0x004,
    SLC__OFF_HEADER_SIZE = 0x008,
    SLC__OFF_KEY_SIZE = 0x00C,
    SLC__OFF_INDEX_SIZE = 0x010,
    SLC__OFF_SLOT_SIZE = 0x014,
    SLC__OFF_HASH_ALG = 0x018,
    SLC__OFF_FLAGS = 0x01C,
    SLC__OFF_SLOT_CAPACITY = 0x020,
    SLC__OFF_SLOT_HIGHWATER = 0x028,
    SLC__OFF_LIVE_COUNT = 0x030,
    SLC__OFF_USER_VERSION = 0x038,
    SLC__OFF_GENERATION = 0x040,
    SLC__OFF_BUCKET_COUNT = 0x048,
    SLC__OFF_BUCKET_USED = 0x050,
    SLC__OFF_BUCKET_TOMBSTONES = 0x058,
    SLC__OFF_SLOTS_OFFSET = 0x060,
    SLC__OFF_BUCKETS_OFFSET = 0x068,
    SLC__OFF_HEADER_CRC = 0x070, /* u32; shares a 64-bit word with state */
    SLC__OFF_STATE = 0x074,
    SLC__OFF_USER_FLAGS = 0x078,
    SLC__OFF_USER_DATA = 0x080,
    SLC__OFF_RESERVED = 0x0C0,
};

typedef struct slc__header {
    uint8_t magic[4];
    uint32_t version, header_size, key_size, index_size, slot_size, hash_alg,
        flags;
    uint64_t slot_capacity, slot_highwater, live_count, user_version,
        generation, bucket_count, bucket_used, bucket_tombstones, slots_offset,
        buckets_offset;
    uint32_t header_crc32c, state;
    uint64_t user_flags;
    uint8_t user_data[SLC_USER_DATA_SIZE];
    uint8_t reserved[64];
} slc__header;

/* Little-endian field access on byte buffers (any host order). */
static inline uint32_t slc__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t slc__le64(const uint8_t *p)
{
    return (uint64_t)slc__le32(p) | (uint64_t)slc__le32(p + 4) << 32;
}
static inline void slc__put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void slc__put_le64(uint8_t *p, uint64_t v)
{
    slc__put_le32(p, (uint32_t)v);
    slc__put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Round up to a multiple of 8: key and index areas of a slot (SLC1 4.1). */
static inline uint32_t slc__align8(uint32_t x) { return (x + 7u) & ~7u; }

SLC__HIDDEN void slc__header_decode(const uint8_t b[SLC__HEADER_SIZE],
                                    slc__header *h);
SLC__HIDDEN void slc__header_encode(const slc__header *h,
                                    uint8_t b[SLC__HEADER_SIZE]);

/* CRC-32C of a header image with generation and header_crc32c read as 0. */
SLC__HIDDEN uint32_t slc__header_crc(const uint8_t b[SLC__HEADER_SIZE]);

/* Encode h with its header_crc32c computed: the image a writer stores. */
SLC__HIDDEN void slc__header_seal(const slc__header *h,
                                  uint8_t b[SLC__HEADER_SIZE]);

/* Store every header word of h but the generation into the mapped header
 * at map, with a fresh CRC, as relaxed atomic word stores (readers may be
 * copying it). Writer side only: the caller holds the odd generation. */
SLC__HIDDEN void slc__header_store(uint8_t *map, const slc__header *h);

/* CRC-32C (Castagnoli, reflected 0x82F63B78), init/final xor 0xFFFFFFFF.
 * Hardware instructions when the CPU has them, chosen at run time. */
SLC__HIDDEN uint32_t slc__crc32c(const void *data, size_t len);
/* The table-driven path alone, so tests can compare it with the fast one. */
SLC__HIDDEN uint32_t slc__crc32c_portable(const void *data, size_t len);

/* FNV-1a 64 over `len` bytes (SLC1 5.3). */
static inline uint64_t slc__fnv1a64_n(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}
static inline uint64_t slc__fnv1a64(const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    /* Common key sizes get a fully unrolled copy (constant trip count). */
    switch (len) {
    case 8:
        return slc__fnv1a64_n(p, 8);
    case 16:
        return slc__fnv1a64_n(p, 16);
    case 32:
        return slc__fnv1a64_n(p, 32);
    default:
        return slc__fnv1a64_n(p, len);
    }
}

#endif
