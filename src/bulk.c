/* Filling a private, empty, unordered file fast: a rebuild's append path.
 *
 * A rebuild's temporary file has no reader and no other writer until it is
 * renamed over the path, so it needs neither the seqlock nor a staging
 * table. Puts are gathered in batches of 16: their FNV-1a hashes are
 * computed side by side (one multiply chain per key, so the chains
 * overlap instead of waiting for each other), their home buckets
 * prefetched, then each goes, in order, straight to its bucket in the
 * file's own bucket section, and its slot is appended to a buffer written
 * with pwrite. At the end the header is written.
 *
 * Disk space. The bucket section is built through the mapping (copying a
 * private section into the file cost more than the whole index build), so
 * before the first store to each 2 MiB of it those pages are allocated
 * (fallocate, as a commit's claims) and faulted in with one call. A full
 * disk is therefore an ENOSPC from that allocation or from pwrite, never a
 * SIGBUS. The file stays sparse at that granularity.
 *
 * Writeback. Each run of slots written has its writeback started at once
 * (sync_file_range), so the disk works while the puts go on and the
 * publication's fsync waits mostly for the bucket section.
 *
 * The result is a valid SLC1 file with generation 2 (one commit). Slots are
 * in the order each key was first put; a session commit orders them by the
 * last put of each key (SLC1 16.3). Both are canonical for their calls; the
 * rebuild documents its own order. */
#include "bulk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hook.h"
#include "space.h"

#define RING 16 /* puts hashed together, then placed (bucket prefetch) */
#define BUF_BYTES (1u << 20) /* slots written per pwrite */
#define CHUNK_SHIFT 21       /* bucket pages are allocated 2 MiB at a time */

struct slc__bulk {
    slc_cache *c;
    uint64_t *bk;      /* the bucket section, two words a bucket (mapped) */
    uint64_t bk_off;   /* its file offset */
    uint64_t *claimed; /* a bit per 2 MiB of the file: allocated on disk */
    uint32_t key_bytes, index_bytes;
    uint8_t *buf; /* slots [buf_first, hw) not yet written */
    size_t buf_slots;
    uint64_t buf_first, hw;
    int overflow; /* a key found no free slot: SLC_EFULL at the end */
    int failed;
    int64_t ring_rev[RING];
    uint8_t *ring_rec; /* RING records: key words then index words */
    size_t ring_n;
};

int slc__bulk_begin(slc_cache *c, slc__bulk **out)
{
    *out = NULL;
    slc__bulk *b = calloc(1, sizeof *b);
    if (!b)
        return slc__fail(SLC_ENOMEM, "rebuild fill state");
    b->c = c;
    b->key_bytes = slc__align8(c->key_size);
    b->index_bytes = slc__align8(c->index_size);
    b->buf_slots = BUF_BYTES / c->slot_size ? BUF_BYTES / c->slot_size : 1;
    b->bk = (uint64_t *)(void *)c->buckets;
    b->bk_off = (uint64_t)(c->buckets - c->map);
    b->buf = malloc(b->buf_slots * c->slot_size);
    b->ring_rec = calloc(RING, (size_t)b->key_bytes + b->index_bytes);
    b->claimed = calloc((c->map_len >> CHUNK_SHIFT) / 64 + 1, 8);
    if (!b->buf || !b->ring_rec || !b->claimed) {
        slc__bulk_free(b);
        return slc__fail(SLC_ENOMEM, "rebuild fill buffers (%" PRIu64
                                     " buckets)",
                         c->bucket_count);
    }
    *out = b;
    return SLC_OK;
}

void slc__bulk_free(slc__bulk *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->ring_rec);
    free(b->claimed);
    free(b);
}

static uint64_t slot_off(const slc_cache *c, uint64_t id)
{
    return (uint64_t)(c->slots - c->map) + id * c->slot_size;
}

/* pwrite all of it; never past RLIMIT_FSIZE (that would raise SIGXFSZ). */
static int write_at(slc__bulk *b, const void *p, size_t n, uint64_t off)
{
    if (off + n > slc__write_limit())
        errno = EFBIG;
    else if (slc__pwrite_all(b->c->fd, p, n, off) == 0)
        return SLC_OK;
    b->failed = 1;
    return slc__fail_sys("write rebuild data to", b->c->path);
}

/* The buffered slots, then their writeback started: only a hint, a
 * writeback error comes back from the publication's fsync. */
static int flush_slots(slc__bulk *b)
{
    size_t n = (size_t)(b->hw - b->buf_first);
    if (!n)
        return SLC_OK;
    uint64_t off = slot_off(b->c, b->buf_first);
    int rc = write_at(b, b->buf, n * b->c->slot_size, off);
#ifdef SYNC_FILE_RANGE_WRITE
    if (!rc)
        (void)sync_file_range(b->c->fd, (off_t)off,
                              (off_t)(n * b->c->slot_size),
                              SYNC_FILE_RANGE_WRITE);
#endif
    b->buf_first = b->hw;
    return rc;
}

/* The bytes of slot id, wherever they are now (buffer or file). */
static uint8_t *slot_bytes(slc__bulk *b, uint64_t id)
{
    if (id >= b->buf_first)
        return b->buf + (id - b->buf_first) * b->c->slot_size;
    return NULL;
}

static int same_key(slc__bulk *b, uint64_t id, const uint8_t *kw)
{
    const slc_cache *c = b->c;
    const uint8_t *s = slot_bytes(b, id);
    /* Written slots are read back through the mapping: their pages exist,
     * and nobody else stores into this file. */
    if (!s)
        s = c->map + slot_off(c, id);
    return memcmp(s + 8, kw, b->key_bytes) == 0;
}

/* A later put of a key: its revision and index replace the earlier. */
static int update(slc__bulk *b, uint64_t id, int64_t rev, const uint8_t *iw)
{
    const slc_cache *c = b->c;
    uint8_t *s = slot_bytes(b, id);
    if (s) {
        memcpy(s + c->rev_off, &rev, 8);
        memcpy(s + c->index_off, iw, b->index_bytes);
        return SLC_OK;
    }
    uint8_t tmp[8];
    memcpy(tmp, &rev, 8);
    int rc = write_at(b, tmp, 8, slot_off(c, id) + c->rev_off);
    return rc ? rc
              : write_at(b, iw, b->index_bytes, slot_off(c, id) + c->index_off);
}

/* Before the first store to 2 MiB of bucket pages: allocate them on disk,
 * so that no store through the mapping can meet a full disk (SIGBUS), and
 * fault them in with one call instead of one fault per page. */
static int claim_chunk(slc__bulk *b, uint64_t ck)
{
    slc_cache *c = b->c;
    uint64_t lo = ck << CHUNK_SHIFT, hi = lo + (1u << CHUNK_SHIFT);
    if (lo < b->bk_off)
        lo = b->bk_off;
    if (hi > c->map_len)
        hi = c->map_len;
    slc__claim cl;
    memset(&cl, 0, sizeof cl);
    slc__claim_new(c, &cl, lo, hi - lo);
    int rc = slc__claim_commit(c, &cl);
    if (rc) {
        b->failed = 1;
        return rc;
    }
    b->claimed[ck / 64] |= UINT64_C(1) << (ck % 64);
    SLC__HOOK("bulk_buckets_claimed");
#ifdef MADV_POPULATE_WRITE
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    lo = lo / page * page;
    (void)madvise(c->map + lo, (size_t)(hi - lo), MADV_POPULATE_WRITE);
#endif
    return SLC_OK;
}

static int place(slc__bulk *b, uint64_t h, int64_t rev, const uint8_t *rec)
{
    const slc_cache *c = b->c;
    const uint8_t *iw = rec + b->key_bytes;
    uint64_t i = h & c->bucket_mask;
    for (;;) { /* fewer keys than buckets: an EMPTY one ends every probe */
        uint64_t sp = b->bk[2 * i + 1];
        if (sp == SLC__BUCKET_EMPTY)
            break;
        if (b->bk[2 * i] == h && same_key(b, sp - 1, rec))
            return update(b, sp - 1, rev, iw);
        i = (i + 1) & c->bucket_mask;
    }
    if (b->hw == c->slot_capacity) {
        b->overflow = 1; /* SLC_EFULL at the end, like a commit */
        return SLC_OK;
    }
    if (b->hw - b->buf_first == b->buf_slots) {
        int rc = flush_slots(b);
        if (rc)
            return rc;
    }
    uint64_t ck = (b->bk_off + i * SLC__BUCKET_SIZE) >> CHUNK_SHIFT;
    if (!(b->claimed[ck / 64] >> (ck % 64) & 1)) {
        int rc = claim_chunk(b, ck);
        if (rc)
            return rc;
    }
    uint64_t id = b->hw++;
    uint8_t *s = slot_bytes(b, id);
    uint64_t used = SLC__META_USED;
    memcpy(s, &used, 8);
    memcpy(s + 8, rec, b->key_bytes);
    memcpy(s + c->rev_off, &rev, 8);
    memcpy(s + c->index_off, iw, b->index_bytes);
    b->bk[2 * i] = h;
    b->bk[2 * i + 1] = id + 1;
    return SLC_OK;
}

/* Hash, prefetch and place the gathered puts, in the order they came. */
static int drain(slc__bulk *b)
{
    const slc_cache *c = b->c;
    size_t n = b->ring_n, stride = (size_t)b->key_bytes + b->index_bytes;
    uint64_t h[RING];
    for (size_t k = 0; k < n; k++)
        h[k] = 0xcbf29ce484222325ull;
    /* FNV-1a 64 (SLC1 5.3), byte by byte, across keys. */
    for (uint32_t j = 0; j < c->key_size; j++)
        for (size_t k = 0; k < n; k++)
            h[k] = (h[k] ^ b->ring_rec[k * stride + j]) * 0x100000001b3ull;
    for (size_t k = 0; k < n; k++)
        __builtin_prefetch(&b->bk[2 * (h[k] & c->bucket_mask)], 0, 3);
    b->ring_n = 0;
    for (size_t k = 0; k < n; k++) {
        int rc = place(b, h[k], b->ring_rev[k], b->ring_rec + k * stride);
        if (rc)
            return rc;
    }
    return SLC_OK;
}

int slc__bulk_put(slc__bulk *b, const void *key, int64_t revision,
                  const void *index)
{
    const slc_cache *c = b->c;
    if (b->failed)
        return slc__fail(SLC_ESYS, "an earlier write of this rebuild failed");
    size_t k = b->ring_n++;
    uint8_t *rec = b->ring_rec + k * (b->key_bytes + b->index_bytes);
    /* Zero padding of key and index words, as a session writes them. */
    memset(rec + b->key_bytes - 8, 0, 8);
    memcpy(rec, key, c->key_size);
    if (b->index_bytes) {
        memset(rec + b->key_bytes + b->index_bytes - 8, 0, 8);
        memcpy(rec + b->key_bytes, index, c->index_size);
    }
    b->ring_rev[k] = revision;
    return b->ring_n == RING ? drain(b) : SLC_OK;
}

int slc__bulk_finish(slc__bulk *b, const uint64_t *user_flags,
                     const uint8_t *user_data)
{
    slc_cache *c = b->c;
    int rc = SLC_OK;
    if (b->ring_n)
        rc = drain(b);
    if (!rc && b->overflow)
        return slc__fail(SLC_EFULL,
                         "rebuild has more distinct keys than its %" PRIu64
                         " slots",
                         c->slot_capacity);
    if (!rc)
        rc = flush_slots(b);
    SLC__HOOK("bulk_slots_written");
    if (rc)
        return rc;
    uint8_t raw[SLC__HEADER_SIZE];
    memcpy(raw, c->map, SLC__HEADER_SIZE); /* private: no writer moves it */
    slc__header h;
    slc__header_decode(raw, &h);
    h.generation = 2;
    h.slot_highwater = b->hw;
    h.live_count = b->hw;
    h.bucket_used = b->hw;
    h.bucket_tombstones = 0;
    if (user_flags)
        h.user_flags = *user_flags;
    if (user_data)
        memcpy(h.user_data, user_data, SLC_USER_DATA_SIZE);
    slc__header_encode(&h, raw);
    slc__put_le32(raw + SLC__OFF_HEADER_CRC, slc__header_crc(raw));
    rc = write_at(b, raw, sizeof raw, 0);
    SLC__HOOK("bulk_header_written");
    return rc;
}
