/* Page-aligned msync. Linux accepts unaligned lengths but not unaligned
 * starts, macOS neither; pages are 16 KiB on Apple Silicon, so the size is
 * asked for, never assumed. */
#include "writeback.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


void slc__sync_range(const slc_cache *c, uint64_t off, uint64_t len,
                     slc__writeback *wb)
{
    if (len == 0 || off >= c->map_len)
        return;
    if (len > c->map_len - off)
        len = c->map_len - off;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off / page * page;
    uint64_t end = off + len;
    end = end > c->map_len ? c->map_len : end;
    if (msync(c->map + start, (size_t)(end - start), MS_SYNC) < 0 &&
        !wb->failed) {
        wb->failed = 1;
        wb->first_errno = errno;
    }
}

int slc__writeback_status(const slc__writeback *wb, const char *what)
{
    if (!wb->failed)
        return SLC_OK;
    errno = wb->first_errno;
    return slc__fail(SLC_EWRITEBACK,
                     "%s: msync failed (%s); the change was published but "
                     "may not be durable",
                     what, strerror(wb->first_errno));
}
