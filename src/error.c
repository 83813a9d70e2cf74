/* Status code names and the thread-local detail behind slc_errdetail. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One list generates the message table; values are pinned in slotcache.h. */
#define SLC__CODES(X)                                                          \
    X(SLC_OK, "success")                                                       \
    X(SLC_NOTFOUND, "not found")                                               \
    X(SLC_ECORRUPT, "cache file is corrupt")                                   \
    X(SLC_EINCOMPATIBLE, "cache file is incompatible")                         \
    X(SLC_EINVALIDATED, "cache was invalidated")                               \
    X(SLC_EBUSY, "cache is busy")                                              \
    X(SLC_EFULL, "cache slot capacity exhausted")                              \
    X(SLC_ECLOSED, "writer session already ended")                             \
    X(SLC_EWRITEBACK, "writeback (msync) failed; data was published")          \
    X(SLC_EINVAL, "invalid argument")                                          \
    X(SLC_EUNORDERED, "cache does not have ordered keys")                      \
    X(SLC_EOUTOFORDER, "ordered insert below the tail key")                    \
    X(SLC_ENOMEM, "out of memory")                                             \
    X(SLC_ESYS, "system call failed")

const char *slc_strerror(int code)
{
    switch (code) {
#define SLC__CASE(name, text)                                                  \
    case name:                                                                 \
        return text;
        SLC__CODES(SLC__CASE)
#undef SLC__CASE
    default:
        return "unknown status code";
    }
}

static _Thread_local char detail[512];

const char *slc_errdetail(void) { return detail; }

int slc__fail(int code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    errno = saved;
    return code;
}

int slc__fail_sys(const char *what, const char *path)
{
    int saved = errno;
    char buf[128];
    /* strerror is not required to be thread-safe: another thread's call
     * may overwrite the buffer it returns. glibc and musl return constant
     * strings for the errno values they know, so only an unknown value can
     * race; strerror_r is avoided because its GNU and XSI flavours differ
     * in return type. Copying at once keeps that window short. */
    snprintf(buf, sizeof buf, "%s", strerror(saved));
    slc__fail(SLC_ESYS, "%s %s: %s (errno %d)", what, path ? path : "", buf,
              saved);
    errno = saved;
    return SLC_ESYS;
}
