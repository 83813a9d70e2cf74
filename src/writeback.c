/* msync of a byte range of the mapping, and prefaulting for big commits.
 * page_span rounds the start down to a page boundary, which msync and
 * madvise require; the end is not rounded up, because Linux takes any
 * length and acts on every page the range touches (a system that wanted
 * page-aligned lengths would need the end rounded up here). The page size
 * is asked for (16 KiB on Apple Silicon), never assumed. */
#include "writeback.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
#endif

/* Whole pages of the mapping around [off, off+len), clipped to it. */
static void page_span(const slc_cache *c, uint64_t off, uint64_t len,
                      uint64_t *start, uint64_t *end)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (off > c->map_len)
        off = c->map_len;
    if (len > c->map_len - off)
        len = c->map_len - off;
    *start = off / page * page;
    *end = off + len;
}

void slc__prefault(const slc_cache *c, uint64_t off, uint64_t len)
{
#ifdef MADV_POPULATE_WRITE
    uint64_t start, end;
    page_span(c, off, len, &start, &end);
    if (end > start) {
        int saved = errno;
        (void)madvise(c->map + start, (size_t)(end - start),
                      MADV_POPULATE_WRITE);
        errno = saved;
    }
#else
    (void)c;
    (void)off;
    (void)len;
#endif
}

void slc__sync_range(const slc_cache *c, uint64_t off, uint64_t len,
                     slc__writeback *wb)
{
    if (len == 0 || off >= c->map_len)
        return;
    uint64_t start, end;
    page_span(c, off, len, &start, &end);
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
