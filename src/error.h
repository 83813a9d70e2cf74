/* Status codes, thread-local error detail. */
#ifndef SLC_ERROR_H
#define SLC_ERROR_H

#include "slotcache.h"

#define SLC__HIDDEN __attribute__((visibility("hidden")))

/* Record a formatted detail for the calling thread and return `code`.
 * errno is preserved, so `return slc__fail(SLC_ESYS, ...)` keeps the cause. */
SLC__HIDDEN int slc__fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* SLC_ESYS for the current errno: detail "<what> <path>: <strerror>". */
SLC__HIDDEN int slc__fail_sys(const char *what, const char *path);

#endif
