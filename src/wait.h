/* Sleeping backoff until a deadline (wait.c). */
#ifndef SLC_WAIT_H
#define SLC_WAIT_H

#include <stdint.h>

#include "error.h"

typedef struct slc__wait {
    int64_t deadline; /* CLOCK_MONOTONIC ns */
    long sleep_ns;    /* next sleep */
    int forever;      /* SLC_WAIT_FOREVER */
} slc__wait;

/* Sleep ns nanoseconds of CLOCK_MONOTONIC: to an absolute deadline, resumed
 * after EINTR, so that a signal handler installed without SA_RESTART (a
 * profiler's SIGALRM, say) cannot cut sleeps short and turn a backoff into
 * a spin. The one sleep of the library: the reader backoff and the writer
 * lock wait. */
SLC__HIDDEN void slc__sleep_ns(long ns);

SLC__HIDDEN void slc__wait_start(slc__wait *w, uint32_t timeout_ms);
/* Sleep the next backoff step; 0 (no sleep) once the deadline passed. */
SLC__HIDDEN int slc__wait_more(slc__wait *w);

/* slc__lock_try until it succeeds or timeout_ms passed (SLC_EBUSY). */
SLC__HIDDEN int slc__lock_wait(int fd, const char *lock_path,
                               uint32_t timeout_ms);

#endif
