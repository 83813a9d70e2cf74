/* The seqlock over the shared mapping: the only place with atomics.
 *
 * The header's generation counter is even when the file is stable and odd
 * while a writer publishes (g -> g+1 -> g+2, never back to g).
 *
 *   writer: g = load(gen); store(gen, g+1); fence(release);
 *           ... every protected store (relaxed atomics) ...
 *           store_release(gen, g+2);
 *   reader: g1 = load_acquire(gen); odd -> retry;
 *           ... copy protected words with relaxed atomic loads ...
 *           fence(acquire); g2 = load(gen); g2 != g1 -> retry;
 *
 * This is the fence form of the seqlock (Boehm, "Can Seqlocks Get Along
 * with Programming Language Memory Models?", 2012). Every word a reader may
 * touch while a writer stores is accessed atomically, so there is no C11
 * data race and ThreadSanitizer needs no suppression; on x86-64 and
 * AArch64 relaxed 64-bit loads and stores are plain moves.
 *
 * Values read inside an attempt are speculative until g2 confirms them:
 * anything used as an address or loop bound is range-checked first, every
 * attempt, whatever the generation says. */
#ifndef SLC_SEQLOCK_H
#define SLC_SEQLOCK_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "wait.h"

/* Relaxed/acquire/release access to an 8-aligned word of the mapping. */
static inline uint64_t slc__ld(const uint8_t *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED);
}
static inline uint64_t slc__ld_acquire(const uint8_t *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE);
}
static inline void slc__st(uint8_t *p, uint64_t v)
{
    __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED);
}
static inline void slc__st_release(uint8_t *p, uint64_t v)
{
    __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELEASE);
}
static inline void slc__fence_acquire(void)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
}
static inline void slc__fence_release(void)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Copy n bytes out of the mapping, starting at an 8-aligned address, with
 * word loads; dst may be unaligned and n need not be a multiple of 8. */
static inline void slc__copy_out(void *dst, const uint8_t *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    for (; n >= 8; n -= 8, d += 8, src += 8) {
        uint64_t w = slc__ld(src);
        memcpy(d, &w, 8);
    }
    if (n) {
        uint64_t w = slc__ld(src);
        memcpy(d, &w, n);
    }
}

/* Store n bytes into the mapping at an 8-aligned address with word stores.
 * A partial last word keeps the mapped bytes after n (tail padding). */
static inline void slc__copy_in(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    for (; n >= 8; n -= 8, s += 8, dst += 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        slc__st(dst, w);
    }
    if (n) {
        uint64_t w = slc__ld(dst);
        memcpy(&w, s, n);
        slc__st(dst, w);
    }
}

/* Writer side of one publication. The caller owns the writer lock. */
static inline uint64_t slc__publish_begin(uint8_t *gen)
{
    uint64_t g = slc__ld(gen);
    slc__st(gen, g + 1);
    slc__fence_release();
    return g;
}
/* Publish-begin from a generation the caller already holds (read while
 * exclusive): an odd g is a crashed writer's window, stepped past to g+2
 * (odd) so that readers of the dead window also see a change. Returns the
 * even base for slc__publish_end. */
static inline uint64_t slc__publish_begin_from(uint8_t *gen, uint64_t g)
{
    if (g & 1)
        g += 1;
    slc__st(gen, g + 1);
    slc__fence_release();
    return g;
}
static inline void slc__publish_end(uint8_t *gen, uint64_t g)
{
    slc__st_release(gen, g + 2);
}

/* Reader side: is the attempt that began at g1 still valid? */
static inline int slc__read_stable(const uint8_t *gen, uint64_t g1)
{
    slc__fence_acquire();
    return slc__ld(gen) == g1;
}

/* Retry policy (SLC1 7.7): 10 attempts; before attempt k >= 1 sleep
 * 50 us << (k-1), capped at 1 ms. Worst case about 5.55 ms asleep. The
 * sleeps are slc__sleep_ns (wait.c): signals do not cut them short. */
#define SLC__READ_ATTEMPTS 10

static inline void slc__backoff(unsigned attempt)
{
    if (attempt == 0)
        return;
    slc__sleep_ns((attempt >= 6 ? 1000L : 50L << (attempt - 1)) * 1000L);
}

/* The reader protocol, once (SLC1 7.6, 7.7): a begin/retry pair in the
 * spirit of the kernel's read_seqbegin/read_seqretry, with the bounded
 * attempts, the odd test and the backoff folded in. Every reader is
 *
 *     slc__seqread r;
 *     int ok;
 *     for (ok = slc__read_begin(&r, c->gen); ok; ok = slc__read_next(&r)) {
 *         ... speculative reads, range-checked ...
 *         if (slc__read_retry(&r))
 *             continue;          (overlapped a commit: all of it is void)
 *         return verdict;        (of the one generation r.g1)
 *     }
 *     return busy;               (no stable attempt: !ok)
 *
 * The first attempt is begun inline with no sleep, so a reader that meets
 * no writer pays one acquire load and one test, as if written by hand. */
typedef struct slc__seqread {
    const uint8_t *gen;
    uint64_t g1;    /* the even generation the current attempt began at */
    unsigned next;  /* attempts begun (odd generations count) */
    unsigned tries; /* attempts allowed */
    int backoff;    /* sleep per 7.7 before attempts >= 1 */
} slc__seqread;

/* Begin attempts after the first: back off, acquire-load the generation;
 * an odd one uses the attempt up. 1: an attempt at the even r->g1 has
 * begun; 0: the attempts are exhausted. */
static inline int slc__read_next(slc__seqread *r)
{
    while (r->next < r->tries) {
        unsigned a = r->next++;
        if (r->backoff)
            slc__backoff(a);
        r->g1 = slc__ld_acquire(r->gen);
        if (!(r->g1 & 1))
            return 1;
    }
    return 0;
}

/* Begin the first attempt on the generation word `gen`, allowing `tries`
 * attempts, with the 7.7 sleeps between them or (backoff 0) none. */
static inline int slc__read_begin_n(slc__seqread *r, const uint8_t *gen,
                                    unsigned tries, int backoff)
{
    r->gen = gen;
    r->next = 1;
    r->tries = tries;
    r->backoff = backoff;
    r->g1 = slc__ld_acquire(gen);
    if (__builtin_expect(!(r->g1 & 1), 1))
        return 1;
    return slc__read_next(r);
}

/* The usual reader: SLC__READ_ATTEMPTS attempts with the 7.7 backoff. */
static inline int slc__read_begin(slc__seqread *r, const uint8_t *gen)
{
    return slc__read_begin_n(r, gen, SLC__READ_ATTEMPTS, 1);
}

/* After the attempt's reads: nonzero when the generation moved, so that
 * everything the attempt saw is void and it must be retried. */
static inline int slc__read_retry(const slc__seqread *r)
{
    return !slc__read_stable(r->gen, r->g1);
}

/* A cheap mid-attempt hint (relaxed, no fence): has the generation already
 * moved? Only for abandoning a long attempt early; a 0 proves nothing. */
static inline int slc__read_moved(const slc__seqread *r)
{
    return slc__ld(r->gen) != r->g1;
}

#endif
