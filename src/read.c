/* Lock-free point reads: len, generation, user header, stat, get and
 * get_many (the index walk itself is index.c's).
 * Each is a loop of seqlock attempts (SLC1 7.6, 7.7); nothing here
 * allocates or makes a system call unless a writer forces a backoff. */
#include <inttypes.h>
#include <string.h>

#include "cache.h"
#include "validate.h"

int slc__busy(const slc_cache *c)
{
    return slc__fail(SLC_EBUSY,
                     "no stable generation after %d attempts (now %" PRIu64
                     "): a writer keeps publishing or died mid-commit",
                     SLC__READ_ATTEMPTS, slc__ld(c->gen));
}

int slc__check_state(uint32_t state)
{
    if (state == SLC__STATE_NORMAL)
        return SLC_OK;
    if (state == SLC__STATE_INVALIDATED)
        return slc__fail(SLC_EINVALIDATED, "cache was invalidated (rebuilt or "
                                           "replaced): reopen the path with "
                                           "slc_reopen or slc_open");
    return slc__fail(SLC_EINCOMPATIBLE, "unknown state %" PRIu32, state);
}

int slc__check_counters(const slc_cache *c, const slc__header *h)
{
    return slc__validate_counters(c->slot_capacity, c->bucket_count,
                                  h->slot_highwater, h->live_count,
                                  h->bucket_used, h->bucket_tombstones);
}

int slc__snapshot_header(const slc_cache *c, slc__header *h)
{
    uint8_t raw[SLC__HEADER_SIZE];
    slc__seqread r;
    for (int ok = slc__read_begin(&r, c->gen); ok; ok = slc__read_next(&r)) {
        slc__copy_out(raw, c->map, SLC__HEADER_SIZE);
        if (slc__read_retry(&r))
            continue;
        slc__header_decode(raw, h);
        int rc = slc__check_state(h->state);
        return rc ? rc : slc__check_counters(c, h);
    }
    return slc__busy(c);
}

/* An argument error on a usable handle is reported after the file's own
 * verdict, in the order API.md gives for scans: a caller of an invalidated
 * (or unreadable) cache learns that first, whatever it passed. Only the
 * error path comes here. */
static int arg_error(const slc_cache *c, int arg_rc)
{
    slc__header h;
    int rc = c ? slc__snapshot_header(c, &h) : SLC_OK;
    return rc ? rc : arg_rc;
}

static int check_handle(const slc_cache *c, const void *out, const char *fn)
{
    if (!c || !out)
        return arg_error(c, slc__fail(SLC_EINVAL, "%s: NULL %s", fn,
                                      !c ? "cache" : "output"));
    return SLC_OK;
}

int slc_len(slc_cache *c, uint64_t *live_count)
{
    slc__header h;
    int rc = check_handle(c, live_count, "slc_len");
    if (!rc)
        rc = slc__snapshot_header(c, &h);
    if (!rc)
        *live_count = h.live_count;
    return rc;
}

int slc_generation(slc_cache *c, uint64_t *generation)
{
    slc__header h;
    int rc = check_handle(c, generation, "slc_generation");
    if (!rc)
        rc = slc__snapshot_header(c, &h);
    if (!rc)
        *generation = h.generation;
    return rc;
}

int slc_user_header(slc_cache *c, uint64_t *user_flags,
                    uint8_t user_data[SLC_USER_DATA_SIZE])
{
    slc__header h;
    int rc = check_handle(c, c, "slc_user_header");
    if (!rc)
        rc = slc__snapshot_header(c, &h);
    if (rc)
        return rc;
    if (user_flags)
        *user_flags = h.user_flags;
    if (user_data)
        memcpy(user_data, h.user_data, SLC_USER_DATA_SIZE);
    return SLC_OK;
}

int slc_stat_get(slc_cache *c, slc_stat *out)
{
    slc__header h;
    int rc = check_handle(c, out, "slc_stat_get");
    if (!rc)
        rc = slc__snapshot_header(c, &h);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->key_size = c->key_size;
    out->index_size = c->index_size;
    out->slot_size = c->slot_size;
    out->flags = c->file_flags;
    out->slot_capacity = c->slot_capacity;
    out->slot_highwater = h.slot_highwater;
    out->live_count = h.live_count;
    out->user_version = c->user_version;
    out->generation = h.generation;
    out->bucket_count = c->bucket_count;
    out->bucket_used = h.bucket_used;
    out->bucket_tombstones = h.bucket_tombstones;
    out->file_size = (uint64_t)c->map_len;
    return SLC_OK;
}

__attribute__((noinline, cold)) int
slc__attempt_fault(const slc_cache *c, uint32_t state, uint64_t hw,
                   uint64_t live, uint64_t used, uint64_t tomb)
{
    int rc = slc__check_state(state);
    return rc ? rc
              : slc__validate_counters(c->slot_capacity, c->bucket_count, hw,
                                       live, used, tomb);
}

/* Copy a found entry's revision and index bytes out of the mapping. */
static void copy_entry(const slc_cache *c, uint64_t id, int64_t *revision,
                       void *index, size_t index_len)
{
    const uint8_t *s = slc__slot(c, id);
    int64_t rev = (int64_t)slc__ld(s + c->rev_off);
    if (revision)
        *revision = rev;
    if (index && index_len)
        slc__copy_out(index, s + c->index_off, index_len);
}

static int get_args_verdict(const slc_cache *c, const void *key,
                            size_t key_len, const void *index,
                            size_t index_len, const char *fn)
{
    if (!c || !key)
        return slc__fail(SLC_EINVAL, "%s: NULL %s", fn, !c ? "cache" : "key");
    if (key_len != c->key_size)
        return slc__fail(SLC_EINVAL, "%s: key length %zu != key_size %" PRIu32,
                         fn, key_len, c->key_size);
    if (index && index_len != c->index_size)
        return slc__fail(SLC_EINVAL,
                         "%s: index length %zu != index_size %" PRIu32, fn,
                         index_len, c->index_size);
    if (!index && index_len != 0 && index_len != c->index_size)
        return slc__fail(SLC_EINVAL, "%s: index length %zu with a NULL buffer",
                         fn, index_len);
    return SLC_OK;
}

static int check_get_args(const slc_cache *c, const void *key, size_t key_len,
                          const void *index, size_t index_len, const char *fn)
{
    int rc = get_args_verdict(c, key, key_len, index, index_len, fn);
    return rc ? arg_error(c, rc) : SLC_OK;
}

int slc_get(slc_cache *c, const void *key, size_t key_len, int64_t *revision,
            void *index, size_t index_len)
{
    int rc = check_get_args(c, key, key_len, index, index_len, "slc_get");
    if (rc)
        return rc;
    uint64_t kw[SLC__KEY_WORDS];
    slc__key_words(c, key, kw);
    uint64_t h = slc__fnv1a64(key, key_len);

    slc__seqread r;
    for (int ok = slc__read_begin(&r, c->gen); ok; ok = slc__read_next(&r)) {
        uint64_t hw;
        slc__lookup lk = {0, 0, 0};
        rc = slc__attempt_header(c, &hw);
        if (rc == SLC_OK)
            rc = slc__probe(c, kw, h, hw, &lk);
        if (rc == SLC_OK && lk.found)
            copy_entry(c, lk.slot_id, revision, index, index_len);
        if (slc__read_retry(&r))
            continue; /* overlapped a commit: whatever we saw is void */
        if (rc)
            return rc;
        return lk.found ? SLC_OK : SLC_NOTFOUND;
    }
    return slc__busy(c);
}

/* ---- Batched lookups ---------------------------------------------------- */

/* Keys resolved per seqlock attempt. Within a group the bucket and slot
 * cache misses of all keys are in flight together instead of one by one. */
#define MANY_GROUP 16

int slc_get_many(slc_cache *c, const void *keys, size_t n, size_t key_len,
                 int *results, int64_t *revisions, void *index,
                 size_t index_len)
{
    /* No key is read when n == 0, so keys may be NULL then. */
    int rc = check_get_args(c, keys || n ? keys : (const void *)"", key_len,
                            index, index_len, "slc_get_many");
    if (rc)
        return rc;
    if (!results)
        return arg_error(c, slc__fail(SLC_EINVAL,
                                      "slc_get_many: NULL results"));
    /* Every array is n records long: none may pass the address space. */
    size_t total;
    const char *over =
        __builtin_mul_overflow(n, key_len, &total)           ? "keys"
        : __builtin_mul_overflow(n, sizeof *results, &total) ? "results"
        : revisions && __builtin_mul_overflow(n, sizeof *revisions, &total)
            ? "revisions"
        : index && __builtin_mul_overflow(n, index_len, &total) ? "index"
                                                                : NULL;
    if (over)
        return arg_error(c, slc__fail(SLC_EINVAL,
                                      "slc_get_many: %zu records overflow "
                                      "the %s array",
                                      n, over));
    if (n == 0) {
        /* No key, but a read all the same: an invalidated (or unreadable)
         * cache says so, as every read does (API.md). */
        slc__header h;
        return slc__snapshot_header(c, &h);
    }
    const uint8_t *kp = keys;
    uint8_t *ip = index;
    for (size_t base = 0; base < n; base += MANY_GROUP) {
        size_t m = n - base < MANY_GROUP ? n - base : MANY_GROUP;
        uint64_t h[MANY_GROUP], pos[MANY_GROUP], cand[MANY_GROUP];
        for (size_t i = 0; i < m; i++) {
            h[i] = slc__fnv1a64(kp + (base + i) * key_len, key_len);
            __builtin_prefetch(slc__bucket(c, h[i] & c->bucket_mask), 0, 3);
        }
        slc__seqread r;
        int ok;
        for (ok = slc__read_begin(&r, c->gen); ok; ok = slc__read_next(&r)) {
            uint64_t hw;
            rc = slc__attempt_header(c, &hw);
            /* First pass: each key's first bucket whose hash matches (or
             * the EMPTY ending its probe); prefetch the slot it names. */
            for (size_t i = 0; i < m && rc == SLC_OK; i++)
                cand[i] = slc__index_candidate(c, h[i], hw, &pos[i]);
            /* Second pass: confirm; anything unusual (a collision, an
             * impossible bucket) takes the full probe from the home bucket,
             * which does every check of slc_get. */
            for (size_t i = 0; i < m && rc == SLC_OK; i++) {
                const uint8_t *key = kp + (base + i) * key_len;
                uint64_t kw[SLC__KEY_WORDS];
                slc__key_words(c, key, kw);
                slc__lookup lk = {0, 0, 0};
                const uint8_t *s =
                    cand[i] != UINT64_MAX ? slc__slot(c, cand[i]) : NULL;
                if (s && slc__slot_key_equals(c, s, kw) &&
                    slc__ld(s) == SLC__META_USED) {
                    lk.found = 1;
                    lk.slot_id = cand[i];
                } else if (s || slc__ld(slc__bucket(c, pos[i]) + 8) !=
                                    SLC__BUCKET_EMPTY) {
                    rc = slc__probe(c, kw, h[i], hw, &lk);
                }
                results[base + i] = lk.found ? SLC_OK : SLC_NOTFOUND;
                if (lk.found)
                    copy_entry(c, lk.slot_id,
                               revisions ? &revisions[base + i] : NULL,
                               ip ? ip + (base + i) * index_len : NULL,
                               index_len);
            }
            if (slc__read_retry(&r))
                continue;
            if (rc)
                return rc;
            break;
        }
        if (!ok)
            return slc__busy(c);
    }
    return SLC_OK;
}
