/* The hash index (SLC1 5): probe, get_many's first pass, verify's chain
 * check, open's bucket sample; the insert probe that the writer plans with
 * is slc__index_free_on_path, inline in index.h. */
#include <inttypes.h>
#include <string.h>

#include "cache.h"
#include "index.h"
#include "validate.h"

int slc__probe(const slc_cache *c, const uint64_t *kw, uint64_t h,
               uint64_t highwater, slc__lookup *out)
{
    uint64_t i = h & c->bucket_mask;
    for (uint64_t n = 0; n < c->bucket_count; n++) {
        const uint8_t *b = slc__bucket(c, i);
        uint64_t sp = slc__ld(b + 8);
        if (sp == SLC__BUCKET_EMPTY) {
            out->found = 0;
            out->bucket = i;
            return SLC_OK;
        }
        if (sp != SLC__BUCKET_TOMBSTONE) {
            uint64_t id = sp - 1;
            if (id >= highwater)
                return slc__fail(SLC_ECORRUPT,
                                 "bucket %" PRIu64 " names slot %" PRIu64
                                 " >= slot_highwater %" PRIu64,
                                 i, id, highwater);
            /* hash64 is a hint: only equal hashes can hold the key. */
            if (slc__ld(b) == h) {
                const uint8_t *s = slc__slot(c, id);
                if (slc__slot_key_equals(c, s, kw)) {
                    uint64_t meta = slc__ld(s);
                    if (meta & ~(uint64_t)SLC__META_USED)
                        return slc__bad_meta(id, meta);
                    if (!(meta & SLC__META_USED))
                        return slc__fail(SLC_ECORRUPT,
                                         "bucket %" PRIu64
                                         " names deleted slot %" PRIu64,
                                         i, id);
                    out->found = 1;
                    out->bucket = i;
                    out->slot_id = id;
                    return SLC_OK;
                }
            }
        }
        i = (i + 1) & c->bucket_mask;
    }
    return slc__fail(SLC_ECORRUPT,
                     "probe visited all %" PRIu64 " buckets without an EMPTY one",
                     c->bucket_count);
}

int slc__index_check_path(const slc_cache *c, uint64_t h, uint64_t i,
                          uint64_t slot_id, const uint8_t *key,
                          uint64_t highwater)
{
    uint8_t other[SLC_MAX_KEY_SIZE];
    uint64_t home = h & c->bucket_mask;
    for (uint64_t j = home, n = 0; j != i && n < c->bucket_count;
         j = (j + 1) & c->bucket_mask, n++) {
        const uint8_t *b = slc__bucket(c, j);
        uint64_t sp = slc__ld(b + 8);
        if (sp == SLC__BUCKET_EMPTY)
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " (slot %" PRIu64
                             ") is cut off from its home bucket %" PRIu64
                             " by EMPTY bucket %" PRIu64,
                             i, slot_id, home, j);
        if (sp == SLC__BUCKET_TOMBSTONE || slc__ld(b) != h ||
            sp - 1 >= highwater)
            continue; /* ids >= hw are reported when bucket j is checked */
        slc__copy_out(other, slc__slot(c, sp - 1) + 8, c->key_size);
        if (memcmp(other, key, c->key_size) == 0)
            return slc__fail(SLC_ECORRUPT,
                             "slots %" PRIu64 " and %" PRIu64
                             " hold the same key (buckets %" PRIu64
                             " and %" PRIu64 ")",
                             sp - 1, slot_id, j, i);
    }
    return SLC_OK;
}

int slc__index_sample(const slc_cache *c, uint64_t n)
{
    if (n > c->bucket_count)
        n = c->bucket_count;
    slc__seqread r;
    /* Two quick tries, no sleep: open would rather skip than wait. */
    for (int ok = slc__read_begin_n(&r, c->gen, 2, 0); ok;
         ok = slc__read_next(&r)) {
        uint64_t hw = slc__ld(c->map + SLC__OFF_SLOT_HIGHWATER);
        uint64_t bad = UINT64_MAX, bad_id = 0;
        for (uint64_t i = 0; i < n && bad == UINT64_MAX; i++) {
            uint64_t sp = slc__ld(slc__bucket(c, i) + 8);
            if (sp != SLC__BUCKET_EMPTY && sp != SLC__BUCKET_TOMBSTONE &&
                sp - 1 >= hw) {
                bad = i;
                bad_id = sp - 1;
            }
        }
        if (slc__read_retry(&r))
            continue;
        if (bad != UINT64_MAX)
            return slc__fail(SLC_ECORRUPT,
                             "bucket %" PRIu64 " names slot %" PRIu64
                             " >= slot_highwater %" PRIu64,
                             bad, bad_id, hw);
        return SLC_OK;
    }
    return SLC_OK;
}
