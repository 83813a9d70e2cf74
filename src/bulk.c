/* Filling a private, empty, unordered file fast: a rebuild's append path.
 *
 * A rebuild's temporary file has no reader and no other writer until it is
 * renamed over the path, so it needs neither the seqlock nor a staging
 * table, and its index can be built after the last put instead of during
 * them.
 *
 * Puts. Keys are gathered in batches of 16 and their FNV-1a hashes
 * computed side by side (one multiply chain per key, so the chains overlap
 * instead of waiting for each other). Each put appends its slot to a
 * buffer written with pwrite, whose writeback is started at once
 * (sync_file_range) so the disk works while the puts go on, and appends
 * (hash, slot) to the list of its partition: the 1 MiB of buckets its home
 * bucket lies in. Nothing is read at random while the puts run.
 *
 * Index. At the end each partition's buckets are built in one reused
 * 1 MiB table (it stays in the cache) by linear probing, entries that run
 * past its end carried into the next one (and from the last to the first,
 * as the probe wraps), then written and their writeback started. A linear
 * probing table does not depend on the order of its inserts for lookups
 * to find every key, so building it partition by partition gives a valid
 * SLC1 index. Partitions nothing reaches stay holes.
 *
 * A key put twice is found there: two entries of one hash and one key.
 * The first put's slot is kept with the last put's revision and index,
 * the slots are compacted in place (later slots move down over the
 * dropped ones, the tail is zeroed) and the index built again. Puts past
 * slot_capacity wait in memory for that count: only more distinct keys
 * than slots is SLC_EFULL.
 *
 * Nothing is stored through the mapping, so a full disk is an ENOSPC from
 * pwrite, never a SIGBUS. The result is a valid SLC1 file with generation
 * 2 (one commit). Slots are in the order each key was first put; a session
 * commit orders them by the last put of each key (SLC1 16.3). Both are
 * canonical for their calls; the rebuild documents its own order. */
#include "bulk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "space.h"

#define RING 16              /* puts hashed together */
#define BUF_BYTES (1u << 20) /* slots written per pwrite */
#define PART_SHIFT 16        /* 65536 buckets (1 MiB) a partition */

/* (hash, slot id + 1) pairs: a partition's entries, or a carry. */
typedef struct pairs {
    uint64_t *e;
    size_t n, cap;
} pairs;

struct slc__bulk {
    slc_cache *c;
    uint32_t key_bytes, index_bytes;
    uint64_t bk_off; /* file offset of the bucket section */
    uint8_t *buf;    /* slots [buf_first, hw) not yet written */
    size_t buf_slots;
    uint64_t buf_first, hw; /* hw counts every put slot, duplicates too */
    uint8_t *spill;         /* slots from slot_capacity on, in memory */
    size_t spill_cap;
    int failed;
    int64_t ring_rev[RING];
    uint8_t *ring_rec; /* RING records: key words then index words */
    size_t ring_n;
    pairs *parts;
    size_t nparts, per; /* partitions, buckets in each */
    unsigned part_shift;
    uint64_t *table; /* one partition's buckets, two words each */
    pairs dups;      /* (kept slot, dropped slot): one key put twice */
    uint64_t placed; /* keys given a bucket by this build: distinct keys */
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
    b->bk_off = (uint64_t)(c->buckets - c->map);
    b->buf_slots = BUF_BYTES / c->slot_size ? BUF_BYTES / c->slot_size : 1;
    int many = c->bucket_count > (UINT64_C(1) << PART_SHIFT);
    b->part_shift = many ? PART_SHIFT : 63; /* 63: every bucket in part 0 */
    b->nparts = many ? (size_t)(c->bucket_count >> PART_SHIFT) : 1;
    b->per = (size_t)(c->bucket_count / b->nparts);
    b->buf = malloc(b->buf_slots * c->slot_size);
    b->ring_rec = calloc(RING, (size_t)b->key_bytes + b->index_bytes);
    b->parts = calloc(b->nparts, sizeof *b->parts);
    b->table = malloc(b->per * SLC__BUCKET_SIZE);
    if (!b->buf || !b->ring_rec || !b->parts || !b->table) {
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
    if (b->parts)
        for (size_t p = 0; p < b->nparts; p++)
            free(b->parts[p].e);
    free(b->parts);
    free(b->table);
    free(b->dups.e);
    free(b->spill);
    free(b->buf);
    free(b->ring_rec);
    free(b);
}

static int push(pairs *v, uint64_t a, uint64_t z)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        uint64_t *e = cap > SIZE_MAX / 16 ? NULL : realloc(v->e, cap * 16);
        if (!e)
            return slc__fail(SLC_ENOMEM, "rebuild index entries (%zu)", cap);
        v->e = e;
        v->cap = cap;
    }
    v->e[2 * v->n] = a;
    v->e[2 * v->n + 1] = z;
    v->n++;
    return SLC_OK;
}

static uint64_t slot_off(const slc_cache *c, uint64_t id)
{
    return (uint64_t)(slc__slot(c, id) - c->map);
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

/* Written, then its writeback started: only a hint, a writeback error
 * comes back from the publication's fsync. */
static int write_behind(slc__bulk *b, const void *p, size_t n, uint64_t off)
{
    int rc = write_at(b, p, n, off);
#ifdef SYNC_FILE_RANGE_WRITE
    if (!rc)
        (void)sync_file_range(b->c->fd, (off_t)off, (off_t)n,
                              SYNC_FILE_RANGE_WRITE);
#endif
    return rc;
}

static int flush_slots(slc__bulk *b)
{
    uint64_t end = b->hw < b->c->slot_capacity ? b->hw : b->c->slot_capacity;
    size_t n = (size_t)(end - b->buf_first);
    int rc = n ? write_behind(b, b->buf, n * b->c->slot_size,
                              slot_off(b->c, b->buf_first))
               : SLC_OK;
    b->buf_first = end;
    return rc;
}

/* Where the next slot goes: the buffer, or past slot_capacity memory. */
static int new_slot(slc__bulk *b, uint8_t **out)
{
    const slc_cache *c = b->c;
    if (b->hw < c->slot_capacity) {
        int rc = b->hw - b->buf_first == b->buf_slots ? flush_slots(b)
                                                       : SLC_OK;
        *out = b->buf + (b->hw - b->buf_first) * c->slot_size;
        return rc;
    }
    size_t at = (size_t)(b->hw - c->slot_capacity);
    if (at == b->spill_cap) {
        size_t cap = at ? 2 * at : 64;
        uint8_t *s = cap > SIZE_MAX / c->slot_size
                         ? NULL
                         : realloc(b->spill, cap * c->slot_size);
        if (!s)
            return slc__fail(SLC_ENOMEM,
                             "rebuild puts past slot_capacity (%zu)", cap);
        b->spill = s;
        b->spill_cap = cap;
    }
    *out = b->spill + at * c->slot_size;
    return SLC_OK;
}

/* A slot once the puts are over (everything below capacity is written). */
static const uint8_t *slot_at(const slc__bulk *b, uint64_t id)
{
    const slc_cache *c = b->c;
    if (id >= c->slot_capacity)
        return b->spill + (id - c->slot_capacity) * c->slot_size;
    /* Read through the mapping: these pages were written, and nobody
     * else writes this file. */
    return slc__slot(c, id);
}

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
    b->ring_n = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *s = NULL;
        int rc = new_slot(b, &s);
        if (rc)
            return rc;
        const uint8_t *rec = b->ring_rec + k * stride;
        uint64_t used = SLC__META_USED;
        memcpy(s, &used, 8);
        memcpy(s + 8, rec, b->key_bytes);
        memcpy(s + c->rev_off, &b->ring_rev[k], 8);
        memcpy(s + c->index_off, rec + b->key_bytes, b->index_bytes);
        uint64_t home = h[k] & c->bucket_mask;
        rc = push(&b->parts[home >> b->part_shift], h[k], b->hw + 1);
        if (rc)
            return rc;
        b->hw++;
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
    if (b->ring_n < RING)
        return SLC_OK;
    int rc = drain(b);
    if (rc)
        b->failed = 1;
    return rc;
}

/* ---- The index ---------------------------------------------------------- */

/* Insert (h, sp) into the table from bucket i of the partition. 1 when it
 * ran past the partition's end (to carry), 0 when placed or found to be a
 * second put of a key already there (noted in dups). */
static int insert(slc__bulk *b, uint64_t i, uint64_t h, uint64_t sp,
                  int *err)
{
    uint64_t *t = b->table;
    for (; i < b->per; i++) {
        if (t[2 * i + 1] == SLC__BUCKET_EMPTY) {
            t[2 * i] = h;
            t[2 * i + 1] = sp;
            b->placed++;
            return 0;
        }
        if (t[2 * i] != h ||
            memcmp(slot_at(b, t[2 * i + 1] - 1) + 8, slot_at(b, sp - 1) + 8,
                   b->key_bytes) != 0)
            continue;
        /* One key twice. Entries arrive in slot order (partition lists
         * are appended in put order, carries keep it), so the bucket holds
         * the key's first put. */
        *err = push(&b->dups, t[2 * i + 1] - 1, sp - 1);
        return 0;
    }
    return 1;
}

static int too_many_keys(const slc__bulk *b, uint64_t keys, int exact)
{
    return slc__fail(SLC_EFULL,
                     "rebuild has more distinct keys (%" PRIu64 "%s) than "
                     "its %" PRIu64 " slots",
                     keys, exact ? "" : " or more", b->c->slot_capacity);
}

/* Insert every pair of from (carried from the partition before, so probed
 * from this one's first bucket when carry) into the table; those that run
 * past its end go to out. More keys placed than slots is SLC_EFULL at
 * once: with puts past slot_capacity the table could otherwise fill up
 * and a carry never end. */
static int insert_all(slc__bulk *b, const pairs *from, int carry, pairs *out)
{
    uint64_t mask = b->per - 1;
    int rc = SLC_OK;
    for (size_t k = 0; k < from->n && !rc; k++) {
        uint64_t h = from->e[2 * k], sp = from->e[2 * k + 1];
        uint64_t i = carry ? 0 : (h & b->c->bucket_mask) & mask;
        if (insert(b, i, h, sp, &rc) && !rc)
            rc = push(out, h, sp);
        if (!rc && b->placed > b->c->slot_capacity)
            rc = too_many_keys(b, b->placed, 0);
    }
    return rc;
}

static int build_index(slc__bulk *b)
{
    const size_t bytes = b->per * SLC__BUCKET_SIZE;
    pairs carry = {0}, next = {0};
    int rc = SLC_OK;
    b->placed = 0;
    for (size_t p = 0; p < b->nparts && !rc; p++) {
        if (!b->parts[p].n && !carry.n)
            continue; /* stays a hole */
        memset(b->table, 0, bytes);
        next.n = 0;
        if (!(rc = insert_all(b, &carry, 1, &next)) &&
            !(rc = insert_all(b, &b->parts[p], 0, &next)))
            rc = write_behind(b, b->table, bytes, b->bk_off + p * bytes);
        pairs t = carry;
        carry = next;
        next = t;
    }
    /* The probe wraps from the last bucket to the first. */
    for (size_t p = 0; carry.n && !rc; p = (p + 1) % b->nparts) {
        uint64_t off = b->bk_off + p * bytes;
        if (pread(b->c->fd, b->table, bytes, (off_t)off) != (ssize_t)bytes) {
            rc = slc__fail_sys("read back rebuild buckets of", b->c->path);
            break;
        }
        next.n = 0;
        if (!(rc = insert_all(b, &carry, 1, &next)))
            rc = write_at(b, b->table, bytes, off);
        pairs t = carry;
        carry = next;
        next = t;
    }
    free(carry.e);
    free(next.e);
    return rc;
}

/* ---- One key put twice: compaction -------------------------------------- */

/* After the first build found duplicates: keep each key's first slot with
 * its last put's revision and index, move the kept slots down over the
 * dropped ones, zero the tail, renumber the partitions' entries.
 * SLC_EFULL when more distinct keys than slots. */
static int compact(slc__bulk *b)
{
    const slc_cache *c = b->c;
    uint64_t n = b->hw;
    /* root[id]: the first slot of id's key; then last[] at each root: the
     * key's last slot, and once moved, the slot's new id. */
    uint64_t *root = n > SIZE_MAX / 8 ? NULL : malloc((size_t)n * 8);
    uint64_t *last = n > SIZE_MAX / 8 ? NULL : malloc((size_t)n * 8);
    uint8_t *rec = malloc(c->slot_size);
    int rc = SLC_OK;
    if (!root || !last || !rec) {
        rc = slc__fail(SLC_ENOMEM, "rebuild duplicate keys (%" PRIu64
                                   " slots)",
                       n);
        goto out;
    }
    for (uint64_t id = 0; id < n; id++)
        root[id] = id;
    for (size_t k = 0; k < b->dups.n; k++) /* kept < dropped: no cycle */
        root[b->dups.e[2 * k + 1]] = b->dups.e[2 * k];
    uint64_t kept = 0;
    for (uint64_t id = 0; id < n; id++) {
        uint64_t r = root[id];
        while (root[r] != r)
            r = root[r];
        root[id] = r; /* ascending ids: r's own root is final already */
        last[r] = id;
        kept += r == id;
    }
    if (kept > c->slot_capacity) {
        rc = too_many_keys(b, kept, 1);
        goto out;
    }
    /* Down the file in id order: a slot moves to a lower or equal id, and
     * the last put it takes its value from lies above it, not yet moved. */
    uint64_t to = 0, flushed = 0;
    for (uint64_t id = 0; id < n && !rc; id++) {
        if (root[id] != id)
            continue;
        memcpy(rec, slot_at(b, id), c->slot_size);
        const uint8_t *v = slot_at(b, last[id]);
        memcpy(rec + c->rev_off, v + c->rev_off, 8);
        memcpy(rec + c->index_off, v + c->index_off, b->index_bytes);
        if (to - flushed == b->buf_slots) {
            rc = write_at(b, b->buf, b->buf_slots * c->slot_size,
                          slot_off(c, flushed));
            flushed = to;
        }
        memcpy(b->buf + (to - flushed) * c->slot_size, rec, c->slot_size);
        last[id] = to++;
    }
    if (!rc && to > flushed)
        rc = write_at(b, b->buf, (to - flushed) * c->slot_size,
                      slot_off(c, flushed));
    /* SLC1 7: slots at and past slot_highwater are zero. */
    uint64_t end = n < c->slot_capacity ? n : c->slot_capacity;
    memset(b->buf, 0, b->buf_slots * c->slot_size);
    for (uint64_t id = to; id < end && !rc; id += b->buf_slots) {
        uint64_t m = end - id < b->buf_slots ? end - id : b->buf_slots;
        rc = write_at(b, b->buf, (size_t)m * c->slot_size, slot_off(c, id));
    }
    for (size_t p = 0; p < b->nparts && !rc; p++) {
        pairs *v = &b->parts[p];
        size_t w = 0;
        for (size_t k = 0; k < v->n; k++) {
            uint64_t id = v->e[2 * k + 1] - 1;
            if (root[id] != id)
                continue;
            v->e[2 * w] = v->e[2 * k];
            v->e[2 * w + 1] = last[id] + 1;
            w++;
        }
        v->n = w;
    }
    b->hw = kept;
    b->dups.n = 0;
out:
    free(root);
    free(last);
    free(rec);
    return rc;
}

int slc__bulk_finish(slc__bulk *b, const uint64_t *user_flags,
                     const uint8_t *user_data)
{
    slc_cache *c = b->c;
    int rc = SLC_OK;
    if (b->ring_n)
        rc = drain(b);
    if (!rc)
        rc = flush_slots(b);
    SLC__HOOK("bulk_slots_written");
    if (!rc)
        rc = build_index(b);
    /* More puts than slots and no key repeated: the build said SLC_EFULL. */
    if (!rc && b->dups.n) {
        rc = compact(b);
        SLC__HOOK("bulk_compacted");
        /* Renumbered, no duplicate left: the same buckets fill as in the
         * first build (a dropped put never took one), so it rewrites
         * every partition that one wrote. */
        if (!rc)
            rc = build_index(b);
    }
    if (rc) {
        b->failed = 1;
        return rc;
    }
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
    slc__header_seal(&h, raw);
    rc = write_at(b, raw, sizeof raw, 0);
    SLC__HOOK("bulk_header_written");
    return rc;
}
