/* slc_invalidate: put the "reopen me" signal inside the old file.
 *
 * A mapping pins an inode, not a name: after a rebuild replaced the path,
 * long-lived readers would keep reading the old inode forever. Marking the
 * old file invalidated (a terminal state published through the seqlock)
 * makes their next read return SLC_EINVALIDATED, and they reopen. */
#include <inttypes.h>

#include "cache.h"
#include "hook.h"
#include "lock.h"
#include "writeback.h"

/* Publish the invalidated state in c's header; the caller is the file's
 * only writer. Needs only c->map (the header at least), map_len, gen and
 * open_flags, so a rebuild can invalidate a file it mapped just the header
 * of. */
int slc__invalidate_exclusive(slc_cache *c)
{
    /* Exclusive: one copy is stable. */
    uint8_t raw[SLC__HEADER_SIZE];
    slc__header h;
    slc__copy_out(raw, c->map, SLC__HEADER_SIZE);
    slc__header_decode(raw, &h);
    /* Idempotent: a published invalidation needs nothing written. One that
     * crashed before its even store (state 1, generation odd) is published
     * again below, or readers would get SLC_EBUSY forever instead of
     * SLC_EINVALIDATED. */
    if (h.state == SLC__STATE_INVALIDATED && !(h.generation & 1))
        return SLC_OK;
    if (h.state != SLC__STATE_NORMAL && h.state != SLC__STATE_INVALIDATED)
        return slc__fail(SLC_EINCOMPATIBLE, "unknown state %" PRIu32, h.state);
    int sync = (c->open_flags & SLC_WRITEBACK_SYNC) != 0;
    slc__writeback wb = {0, 0};
    /* An odd generation here is a crashed writer: it is stepped past
     * (old+2 odd, then old+3 even) so readers of the dead file also see a
     * change and reopen. */
    uint64_t g = slc__publish_begin_from(c->gen, h.generation);
    SLC__HOOK("invalidate_odd");
    if (sync)
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    h.state = SLC__STATE_INVALIDATED;
    SLC__HOOK("before_crc");
    slc__header_store(c->map, &h);
    if (sync)
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    SLC__HOOK("invalidate_before_even");
    slc__publish_end(c->gen, g);
    if (sync)
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    return slc__writeback_status(&wb, "invalidate");
}

int slc_invalidate(slc_cache *c)
{
    if (!c)
        return slc__fail(SLC_EINVAL, "slc_invalidate: NULL cache");
    if (c->open_flags & SLC_READ_ONLY)
        return slc__fail(SLC_EINVAL, "slc_invalidate: handle opened with "
                                     "SLC_READ_ONLY");
    int lock_fd;
    int rc = slc__exclusive_acquire(c, &lock_fd);
    if (rc)
        return rc;
    rc = slc__invalidate_exclusive(c);
    slc__exclusive_release(c, lock_fd);
    return rc;
}
