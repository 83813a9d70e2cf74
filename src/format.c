/* Header codec, CRC-32C and the layout constants' sanity checks. */
#include "format.h"

#include "seqlock.h"

#include <pthread.h>
#include <string.h>

_Static_assert(SLC__OFF_RESERVED + 64 == SLC__HEADER_SIZE,
               "header fields must cover 256 bytes");
_Static_assert(SLC__OFF_USER_DATA + SLC_USER_DATA_SIZE == SLC__OFF_RESERVED,
               "user_data is the public SLC_USER_DATA_SIZE bytes");
_Static_assert(SLC__OFF_GENERATION % 8 == 0, "generation must be 8-aligned");
_Static_assert(SLC__OFF_HEADER_CRC % 8 == 0 &&
                   SLC__OFF_STATE == SLC__OFF_HEADER_CRC + 4,
               "crc and state share one aligned 64-bit word");
_Static_assert(SLC__OFF_USER_DATA % 8 == 0, "user data is word-copied");

void slc__header_decode(const uint8_t b[SLC__HEADER_SIZE], slc__header *h)
{
    memcpy(h->magic, b + SLC__OFF_MAGIC, 4);
    h->version = slc__le32(b + SLC__OFF_VERSION);
    h->header_size = slc__le32(b + SLC__OFF_HEADER_SIZE);
    h->key_size = slc__le32(b + SLC__OFF_KEY_SIZE);
    h->index_size = slc__le32(b + SLC__OFF_INDEX_SIZE);
    h->slot_size = slc__le32(b + SLC__OFF_SLOT_SIZE);
    h->hash_alg = slc__le32(b + SLC__OFF_HASH_ALG);
    h->flags = slc__le32(b + SLC__OFF_FLAGS);
    h->slot_capacity = slc__le64(b + SLC__OFF_SLOT_CAPACITY);
    h->slot_highwater = slc__le64(b + SLC__OFF_SLOT_HIGHWATER);
    h->live_count = slc__le64(b + SLC__OFF_LIVE_COUNT);
    h->user_version = slc__le64(b + SLC__OFF_USER_VERSION);
    h->generation = slc__le64(b + SLC__OFF_GENERATION);
    h->bucket_count = slc__le64(b + SLC__OFF_BUCKET_COUNT);
    h->bucket_used = slc__le64(b + SLC__OFF_BUCKET_USED);
    h->bucket_tombstones = slc__le64(b + SLC__OFF_BUCKET_TOMBSTONES);
    h->slots_offset = slc__le64(b + SLC__OFF_SLOTS_OFFSET);
    h->buckets_offset = slc__le64(b + SLC__OFF_BUCKETS_OFFSET);
    h->header_crc32c = slc__le32(b + SLC__OFF_HEADER_CRC);
    h->state = slc__le32(b + SLC__OFF_STATE);
    h->user_flags = slc__le64(b + SLC__OFF_USER_FLAGS);
    memcpy(h->user_data, b + SLC__OFF_USER_DATA, SLC_USER_DATA_SIZE);
    memcpy(h->reserved, b + SLC__OFF_RESERVED, sizeof h->reserved);
}

void slc__header_encode(const slc__header *h, uint8_t b[SLC__HEADER_SIZE])
{
    memcpy(b + SLC__OFF_MAGIC, h->magic, 4);
    slc__put_le32(b + SLC__OFF_VERSION, h->version);
    slc__put_le32(b + SLC__OFF_HEADER_SIZE, h->header_size);
    slc__put_le32(b + SLC__OFF_KEY_SIZE, h->key_size);
    slc__put_le32(b + SLC__OFF_INDEX_SIZE, h->index_size);
    slc__put_le32(b + SLC__OFF_SLOT_SIZE, h->slot_size);
    slc__put_le32(b + SLC__OFF_HASH_ALG, h->hash_alg);
    slc__put_le32(b + SLC__OFF_FLAGS, h->flags);
    slc__put_le64(b + SLC__OFF_SLOT_CAPACITY, h->slot_capacity);
    slc__put_le64(b + SLC__OFF_SLOT_HIGHWATER, h->slot_highwater);
    slc__put_le64(b + SLC__OFF_LIVE_COUNT, h->live_count);
    slc__put_le64(b + SLC__OFF_USER_VERSION, h->user_version);
    slc__put_le64(b + SLC__OFF_GENERATION, h->generation);
    slc__put_le64(b + SLC__OFF_BUCKET_COUNT, h->bucket_count);
    slc__put_le64(b + SLC__OFF_BUCKET_USED, h->bucket_used);
    slc__put_le64(b + SLC__OFF_BUCKET_TOMBSTONES, h->bucket_tombstones);
    slc__put_le64(b + SLC__OFF_SLOTS_OFFSET, h->slots_offset);
    slc__put_le64(b + SLC__OFF_BUCKETS_OFFSET, h->buckets_offset);
    slc__put_le32(b + SLC__OFF_HEADER_CRC, h->header_crc32c);
    slc__put_le32(b + SLC__OFF_STATE, h->state);
    slc__put_le64(b + SLC__OFF_USER_FLAGS, h->user_flags);
    memcpy(b + SLC__OFF_USER_DATA, h->user_data, SLC_USER_DATA_SIZE);
    memcpy(b + SLC__OFF_RESERVED, h->reserved, sizeof h->reserved);
}

uint32_t slc__header_crc(const uint8_t b[SLC__HEADER_SIZE])
{
    uint8_t img[SLC__HEADER_SIZE];
    memcpy(img, b, sizeof img);
    memset(img + SLC__OFF_GENERATION, 0, 8);
    memset(img + SLC__OFF_HEADER_CRC, 0, 4);
    return slc__crc32c(img, sizeof img);
}

/* ---- CRC-32C ------------------------------------------------------------ */

/* Software path: slicing-by-8 tables, built once on first use. */
static uint32_t crc_table[8][256];

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc32c_soft(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = crc ^ slc__le32(p), hi = slc__le32(p + 4);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
              crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
              crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SLC__HAVE_HW_CRC 1
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    for (; n; p++, n--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p);
    return (uint32_t)c;
}
static int hw_crc_available(void) { return __builtin_cpu_supports("sse4.2"); }
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define SLC__HAVE_HW_CRC 1
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = __crc32cd(crc, w);
    }
    for (; n; p++, n--)
        crc = __crc32cb(crc, *p);
    return crc;
}
static int hw_crc_available(void) { return 1; }
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static pthread_once_t select_once = PTHREAD_ONCE_INIT;
static crc_fn crc_impl;

static void crc_select(void)
{
#ifdef SLC__HAVE_HW_CRC
    if (hw_crc_available()) {
        crc_impl = crc32c_hw;
        return;
    }
#endif
    pthread_once(&table_once, crc_table_init);
    crc_impl = crc32c_soft;
}

uint32_t slc__crc32c(const void *data, size_t len)
{
    pthread_once(&select_once, crc_select);
    return crc_impl(0xFFFFFFFFu, (const uint8_t *)data, len) ^ 0xFFFFFFFFu;
}

/* The portable path, exposed so tests can check it against the fast one. */
uint32_t slc__crc32c_portable(const void *data, size_t len)
{
    pthread_once(&table_once, crc_table_init);
    return crc32c_soft(0xFFFFFFFFu, (const uint8_t *)data, len) ^ 0xFFFFFFFFu;
}

void slc__header_seal(const slc__header *h, uint8_t b[SLC__HEADER_SIZE])
{
    slc__header_encode(h, b);
    slc__put_le32(b + SLC__OFF_HEADER_CRC, slc__header_crc(b));
}

void slc__header_store(uint8_t *map, const slc__header *h)
{
    uint8_t raw[SLC__HEADER_SIZE];
    slc__header_seal(h, raw);
    for (unsigned off = 0; off < SLC__HEADER_SIZE; off += 8)
        if (off != SLC__OFF_GENERATION)
            slc__st(map + off, slc__le64(raw + off));
}
