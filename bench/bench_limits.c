/* The machine's own limits, measured in the same run as the drivers:
 *   BW    single-thread streaming read bandwidth over a buffer far larger
 *         than the last-level cache: the better of summing every 64-bit
 *         word (vectorised) and loading one word per 64-byte line;
 *   LAT   dependent random access latency: pointer chasing through a
 *         random cyclic permutation of 64-byte lines (Sattolo);
 *   LAT8  the same with 8 independent chains interleaved: the cost per
 *         access when misses overlap, as independent gets can.
 * Buffers use 4 KiB pages (MADV_NOHUGEPAGE), as a file mapping of the page
 * cache does; LAThuge repeats LAT with transparent huge pages, for
 * reference only (it shows what TLB misses cost). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

static void *big(size_t bytes, int huge)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bdie("mmap %zu bytes failed", bytes);
    madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return p;
}

__attribute__((noinline)) static uint64_t sum_words(const uint64_t *p,
                                                    size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* One word per 64-byte line: DRAM still moves every line, the core does
 * an eighth of the work, so this is the ceiling when the sum loop above is
 * core-bound. */
__attribute__((noinline)) static uint64_t touch_lines(const uint64_t *p,
                                                      size_t n)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a += p[i];
        b += p[i + 8];
        c += p[i + 16];
        d += p[i + 24];
    }
    return a + b + c + d;
}

static void bandwidth(size_t bytes, int passes, const char *name)
{
    uint64_t *p = big(bytes, 0);
    for (size_t i = 0; i < bytes / 8; i++)
        p[i] = i;
    double *ts = calloc((size_t)passes, sizeof *ts);
    uint64_t s = 0;
    for (int k = 0; k < passes; k++) {
        double t0 = bnow();
        s += sum_words(p, bytes / 8);
        ts[k] = bnow() - t0;
    }
    double t = bmedian(ts, (size_t)passes);
    double sum_bw = (double)bytes / t / 1e9;
    for (int k = 0; k < passes; k++) {
        double t0 = bnow();
        s += touch_lines(p, bytes / 8);
        ts[k] = bnow() - t0;
    }
    t = bmedian(ts, (size_t)passes);
    double line_bw = (double)bytes / t / 1e9;
    /* BW, the limit the goals use, is the better of the two. */
    if (strcmp(name, "BW") == 0) {
        bresult("limits", "BWsum", "GB_per_s", sum_bw, "GB/s", s);
        bresult("limits", "BWlines", "GB_per_s", line_bw, "GB/s", s);
    }
    bresult("limits", name, "GB_per_s", sum_bw > line_bw ? sum_bw : line_bw,
            "GB/s", s);
    free(ts);
    munmap(p, bytes);
}

typedef struct line {
    struct line *next;
    uint64_t pad[7];
} line;

/* One random cycle through all lines. */
static line *make_cycle(size_t bytes, int huge)
{
    size_t n = bytes / sizeof(line);
    line *l = big(bytes, huge);
    uint32_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    brng r = {42};
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: a single cycle */
        size_t j = brng_next(&r) % i;
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        l[perm[i]].next = &l[perm[(i + 1) % n]];
    free(perm);
    return l;
}

__attribute__((noinline)) static line *chase1(line *p, uint64_t steps)
{
    for (uint64_t i = 0; i < steps; i++)
        p = p->next;
    return p;
}

__attribute__((noinline)) static uintptr_t chase8(line **p, uint64_t steps)
{
    line *a = p[0], *b = p[1], *c = p[2], *d = p[3], *e = p[4], *f = p[5],
         *g = p[6], *h = p[7];
    for (uint64_t i = 0; i < steps; i++) {
        a = a->next; b = b->next; c = c->next; d = d->next;
        e = e->next; f = f->next; g = g->next; h = h->next;
    }
    return (uintptr_t)a ^ (uintptr_t)b ^ (uintptr_t)c ^ (uintptr_t)d ^
           (uintptr_t)e ^ (uintptr_t)f ^ (uintptr_t)g ^ (uintptr_t)h;
}

static void latency(size_t bytes, uint64_t steps, int huge)
{
    line *l = make_cycle(bytes, huge);
    size_t n = bytes / sizeof(line);
    chase1(l, n / 4); /* warm: fault in, fill TLB structures fairly */
    double t0 = bnow();
    line *end = chase1(l, steps);
    double t = bnow() - t0;
    bresult("limits", huge ? "LAThuge" : "LAT", "ns_per_access",
            t * 1e9 / (double)steps, "ns", (uint64_t)(uintptr_t)end & 0xffff);
    if (!huge) {
        line *starts[8];
        brng r = {7};
        for (int k = 0; k < 8; k++)
            starts[k] = &l[brng_next(&r) % n];
        t0 = bnow();
        uintptr_t x = chase8(starts, steps / 8);
        t = bnow() - t0;
        bresult("limits", "LAT8", "ns_per_access",
                t * 1e9 / (double)(steps / 8 * 8), "ns", x & 0xffff);
    }
    munmap(l, bytes);
}

int main(int argc, char **argv)
{
    bconf c;
    bconf_parse(&c, argc, argv);
    /* 16x a 32 MiB L3 for bandwidth; the chase buffer twice the largest
     * default store file (~128 MiB) so it misses like a cold get. */
    size_t bw = (size_t)512 << 20, lat = (size_t)256 << 20;
    uint64_t steps = 10000000;
    if (c.n < 1000000) { /* small preset: a quick sanity run */
        bw = (size_t)128 << 20;
        lat = (size_t)128 << 20;
        steps = 2000000;
    }
    bandwidth(bw, 5, "BW");
    /* Informative: the same over a buffer as large as the W5 slot array
     * (n x 64 bytes), which the L3 can partly keep between passes. */
    bandwidth((size_t)c.n * 64, 5, "BWslots");
    latency(lat, steps, 0);
    latency(lat, steps, 1);
    return 0;
}
