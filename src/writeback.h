/* msync barriers for SLC_WRITEBACK_SYNC, widened to whole pages. */
#ifndef SLC_WRITEBACK_H
#define SLC_WRITEBACK_H

#include <stdint.h>

#include "cache.h"

typedef struct slc__writeback {
    int failed;     /* an msync failed: the call returns SLC_EWRITEBACK */
    int first_errno;
} slc__writeback;

/* msync(MS_SYNC) bytes [off, off+len) of the mapping, rounded out to pages
 * (page size queried at run time). A failure is recorded, not returned:
 * the publication goes on and later barriers are still tried. */
SLC__HIDDEN void slc__sync_range(const slc_cache *c, uint64_t off,
                                 uint64_t len, slc__writeback *wb);

/* Fault in, writable, the pages of [off, off+len) before the odd window, so
 * a large commit does not take one page fault per page while readers wait.
 * Advice only: failures (old kernels without MADV_POPULATE_WRITE) are
 * ignored. */
SLC__HIDDEN void slc__prefault(const slc_cache *c, uint64_t off, uint64_t len);

/* SLC_EWRITEBACK with detail if any barrier failed, else SLC_OK. */
SLC__HIDDEN int slc__writeback_status(const slc__writeback *wb,
                                      const char *what);

#endif
