/* Crash-injection points for the test build (SLC_TEST_HOOKS) only.
 * Normal builds compile every SLC__HOOK() to nothing. */
#ifndef SLC_HOOK_H
#define SLC_HOOK_H

#ifdef SLC_TEST_HOOKS
#include "error.h"
/* Called at each named step of commit and invalidate; tests install a
 * function that may _exit() or raise(SIGKILL) to simulate a crash there. */
extern SLC__HIDDEN void (*slc__test_hook)(const char *point);
/* Nonzero: every commit stores through the descriptor as small durable
 * commits do (tests of that path without the cost of msync). */
extern SLC__HIDDEN int slc__test_fd_writes;
/* Called by slc_open between finding the file and judging it: a test can
 * replace the file at the path there. Separate from slc__test_hook, whose
 * tests record the steps of commits. */
extern SLC__HIDDEN void (*slc__test_open_hook)(const char *path);
#define SLC__OPEN_HOOK(path)                                                   \
    do {                                                                       \
        if (slc__test_open_hook)                                               \
            slc__test_open_hook(path);                                         \
    } while (0)
#define SLC__HOOK(point)                                                       \
    do {                                                                       \
        if (slc__test_hook)                                                    \
            slc__test_hook(point);                                             \
    } while (0)
#else
#define SLC__HOOK(point) ((void)0)
#define SLC__OPEN_HOOK(path) ((void)0)
#endif

#endif
