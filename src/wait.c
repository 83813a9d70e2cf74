/* Sleeping: the one sleep of the library (the reader backoff's too), and
 * waiting for the writer lock: slc_begin_write_timeout and the lock wait
 * the rebuild's publication uses.
 *
 * flock has no timed form, and a blocking flock cannot be abandoned at a
 * deadline without signals, so both wait by sleeping between non-blocking
 * attempts: 1 ms first, doubling up to 50 ms, the last one cut at the
 * deadline. A waiter thus wakes at most 20 times a second once the sleeps
 * reach 50 ms, and tries again at most 50 ms after the lock's release. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cache.h"
#include "lock.h"
#include "wait.h"

#define FIRST_SLEEP_NS 1000000L
#define MAX_SLEEP_NS 50000000L

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void slc__sleep_ns(long ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ns / 1000000000L;
    t.tv_nsec += ns % 1000000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec += 1;
        t.tv_nsec -= 1000000000L;
    }
    /* Bounded: every retry is made closer to a fixed deadline. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

void slc__wait_start(slc__wait *w, uint32_t timeout_ms)
{
    w->forever = timeout_ms == SLC_WAIT_FOREVER;
    w->deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    w->sleep_ns = FIRST_SLEEP_NS;
}

int slc__wait_more(slc__wait *w)
{
    int64_t left = w->deadline - now_ns();
    if (!w->forever && left <= 0)
        return 0;
    long ns = w->sleep_ns;
    if (!w->forever && ns > left)
        ns = (long)left;
    slc__sleep_ns(ns);
    w->sleep_ns = w->sleep_ns * 2 > MAX_SLEEP_NS ? MAX_SLEEP_NS
                                                 : w->sleep_ns * 2;
    return 1;
}

int slc__lock_wait(int fd, const char *lock_path, uint32_t timeout_ms)
{
    slc__wait w;
    slc__wait_start(&w, timeout_ms);
    for (;;) {
        int rc = slc__lock_try(fd, lock_path);
        if (rc != SLC_EBUSY)
            return rc;
        if (!slc__wait_more(&w))
            return slc__fail(SLC_EBUSY,
                             "writer lock %s still held after %" PRIu32 " ms",
                             lock_path, timeout_ms);
    }
}

int slc_begin_write_timeout(slc_cache *c, uint32_t timeout_ms, slc_writer **out)
{
    slc__wait w;
    slc__wait_start(&w, timeout_ms);
    for (;;) {
        int rc = slc_begin_write(c, out);
        if (rc != SLC_EBUSY)
            return rc;
        if (!slc__wait_more(&w)) {
            char why[512];
            snprintf(why, sizeof why, "%s", slc_errdetail());
            return slc__fail(SLC_EBUSY, "still busy after %" PRIu32 " ms: %s",
                             timeout_ms, why);
        }
    }
}
