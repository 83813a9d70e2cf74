/* Filling a private, empty, unordered file fast: a rebuild's append path.
 *
 * A rebuild's temporary file has no reader and no other writer until it is
 * renamed over the path, so it needs neither the seqlock nor a staging
 * table. Puts are gathered in batches of 16: their FNV-1a hashes are
 * computed side by side (one multiply chain per key, so the chains
 * overlap instead of waiting for each other), their home buckets
 * prefetched, then each goes, in order, straight to its bucket in a
 * private copy of the index, and its slot is appended to a buffer written
 * with pwrite. At the end the bucket pages
 * that hold anything are written (the file stays sparse), then the header.
 * Nothing is stored through the mapping, so a full disk is an ENOSPC from
 * pwrite, never a SIGBUS.
 *
 * The result is a valid SLC1 file with generation 2 (one commit). Slots are
 * in the order each key was first put; a session commit orders them by the
 * last put of each key (SLC1 16.3). Both are canonical for their calls; the
 * rebuild documents its own order. */
#include "bulk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "space.h"

#define RING 16 /* puts hashed together, then placed (bucket prefetch) */
#define BUF_BYTES (1u << 20)     /* slots written per pwrite */

struct slc__bulk {
    slc_cache *c;
    uint64_t *bk; /* the bucket section, two words a bucket (mapped) */
    size_t bk_bytes;
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
    b->bk_bytes = (size_t)c->bucket_count * SLC__BUCKET_SIZE;
    b->bk = slc__section_alloc(b->bk_bytes);
    b->buf = malloc(b->buf_slots * c->slot_size);
    b->ring_rec = calloc(RING, (size_t)b->key_bytes + b->index_bytes);
    if (!b->bk || !b->buf || !b->ring_rec) {
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
    slc__section_free(b->bk, b->bk_bytes);
    free(b->buf);
    free(b->ring_rec);
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

static int flush_slots(slc__bulk *b)
{
    size_t n = (size_t)(b->hw - b->buf_first);
    if (!n)
        return SLC_OK;
    int rc = write_at(b, b->buf, n * b->c->slot_size,
                      slot_off(b->c, b->buf_first));
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

/* The bucket pages that hold anything, in runs of up to 1 MiB. */
static int write_buckets(slc__bulk *b)
{
    const slc_cache *c = b->c;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = (uint64_t)(c->buckets - c->map);
    uint64_t hi = lo + c->bucket_count * SLC__BUCKET_SIZE;
    const uint8_t *sec = (const uint8_t *)b->bk;
    uint64_t run = 0, run_end = 0; /* [run, run_end) to write */
    for (uint64_t a = lo; a < hi;) {
        uint64_t e = (a / page + 1) * page;
        if (e > hi)
            e = hi;
        int any = 0;
        for (uint64_t off = a; off < e && !any; off += 8) {
            uint64_t w;
            memcpy(&w, sec + (off - lo), 8);
            any = w != 0;
        }
        if (any && run_end == a && run_end - run < BUF_BYTES) {
            run_end = e;
        } else if (any) {
            if (run_end > run) {
                int rc = write_at(b, sec + (run - lo), run_end - run, run);
                if (rc)
                    return rc;
            }
            run = a;
            run_end = e;
        }
        a = e;
    }
    return run_end > run ? write_at(b, sec + (run - lo), run_end - run, run)
                         : SLC_OK;
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
    if (!rc)
        rc = write_buckets(b);
    if (rc)
        return rc;
    SLC__HOOK("bulk_buckets_written");
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
