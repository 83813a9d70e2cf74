/* Read-path check (not a timing test): the read path allocates nothing and
 * makes no system call; snapshot scans allocate only for matches; and how
 * many heap bytes a writer holds per staged operation.
 *
 * Allocations are counted by wrapping the malloc family at link time
 * (-Wl,--wrap=...), which also catches calls from the statically linked
 * library. System calls are counted by readpath.sh, which runs this under
 * strace and counts calls between the phase markers: a marker is a write
 * to fd -1 (fails with EBADF, visible to strace, costs nothing else). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "slotcache.h"

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void __real_free(void *);

static uint64_t n_alloc, live_bytes, peak_bytes;

static void grew(void *p)
{
    if (!p)
        return;
    n_alloc++;
    live_bytes += malloc_usable_size(p);
    if (live_bytes > peak_bytes)
        peak_bytes = live_bytes;
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    grew(p);
    return p;
}
void *__wrap_calloc(size_t a, size_t b)
{
    void *p = __real_calloc(a, b);
    grew(p);
    return p;
}
void *__wrap_realloc(void *q, size_t n)
{
    size_t old = q ? malloc_usable_size(q) : 0;
    void *p = __real_realloc(q, n);
    if (p) {
        live_bytes -= old;
        grew(p);
    }
    return p;
}
void __wrap_free(void *p)
{
    if (p)
        live_bytes -= malloc_usable_size(p);
    __real_free(p);
}

static void marker(const char *s)
{
    /* Deliberately failing write: strace shows it, nothing else happens. */
    ssize_t r = write(-1, s, strlen(s));
    (void)r;
}

static void check(int rc, const char *what)
{
    if (rc != SLC_OK && rc != SLC_NOTFOUND)
        bdie("%s: %s (%s)", what, slc_strerror(rc), slc_errdetail());
}

static int filter(const slc_entry *e, void *u)
{
    (void)u;
    return bpred(e->index);
}
static int reject(const slc_entry *e, void *u)
{
    (void)e;
    (void)u;
    return 0;
}
static int visit(const slc_entry *e, void *p)
{
    *(uint64_t *)p += bfold(e->revision, e->index);
    return 0;
}
static int count_visit(const slc_entry *e, void *p)
{
    (void)e;
    ++*(uint64_t *)p;
    return 0;
}

int main(int argc, char **argv)
{
    bconf c;
    bconf_parse(&c, argc, argv);
    char *dir = bsysdir(&c, "readpath");
    char *path = bpath(dir, "check.slc");
    uint64_t n = c.n;
    slc_options o = {B_KEY, B_INDEX, 1, n + n / 2, 0};
    slc_cache *cache;
    check(slc_open(path, &o, &cache), "slc_open");
    brec *r = brecs_load(n);
    slc_writer *w;
    check(slc_begin_write(cache, &w), "begin");
    for (uint64_t i = 0; i < n; i++)
        check(slc_put(w, r[i].key, B_KEY, r[i].rev, r[i].idx, B_INDEX), "put");
    check(slc_commit(w), "commit");
    slc_writer_close(w);
    uint8_t *hits = bkeys_hits(n, c.gets, 3), *miss = bkeys_misses(n, c.gets);
    int64_t rev;
    uint8_t idx[B_INDEX];
    uint64_t sum = 0, len = 0, gen = 0;

    /* Phase 1: point reads. */
    uint64_t a0 = n_alloc;
    marker("BEGIN get");
    for (uint64_t i = 0; i < c.gets; i++) {
        check(slc_get(cache, hits + i * B_KEY, B_KEY, &rev, idx, B_INDEX), "get");
        sum += bfold(rev, idx);
        check(slc_get(cache, miss + i * B_KEY, B_KEY, &rev, idx, B_INDEX),
              "get miss");
    }
    check(slc_len(cache, &len), "len");
    check(slc_generation(cache, &gen), "generation");
    {
        static int res[256];
        static int64_t revs[256];
        static uint8_t many_idx[256 * B_INDEX];
        for (uint64_t i = 0; i + 256 <= c.gets; i += 256)
            check(slc_get_many(cache, hits + i * B_KEY, 256, B_KEY, res, revs,
                               many_idx, B_INDEX),
                  "get_many");
    }
    marker("END get");
    printf("CHECK get allocs %llu\n", (unsigned long long)(n_alloc - a0));

    /* Phase 2: streaming scan, with and without a filter: O(1) memory. */
    a0 = n_alloc;
    marker("BEGIN scan_stream");
    slc_scan_opts so = {filter, NULL, SLC_SCAN_STREAMING, 0, 0};
    check(slc_scan(cache, &so, visit, &sum), "scan stream");
    so.filter = NULL;
    check(slc_scan(cache, &so, visit, &sum), "scan stream all");
    static const uint8_t zero[1] = {0};
    slc_index_match m0 = {0, 1, zero, NULL};
    check(slc_scan_match(cache, &m0, &so, visit, &sum), "scan_match stream");
    marker("END scan_stream");
    printf("CHECK scan_stream allocs %llu\n", (unsigned long long)(n_alloc - a0));

    /* Phase 3: snapshot scans, allocating only for what they keep. The
     * growth policy may allocate a few times, but the bytes must track the
     * matches, not the file: compare 0 matches, 1 %, and all. */
    const char *names[3] = {"none", "one_percent", "all"};
    slc_filter_fn filters[3] = {reject, filter, NULL};
    for (int k = 0; k < 3; k++) {
        char b[64], e[64];
        snprintf(b, sizeof b, "BEGIN scan_snapshot_%s", names[k]);
        snprintf(e, sizeof e, "END scan_snapshot_%s", names[k]);
        uint64_t matches = 0;
        slc_scan_opts ss = {filters[k], NULL, 0, 0, 0};
        a0 = n_alloc;
        uint64_t l0 = live_bytes;
        peak_bytes = live_bytes;
        marker(b);
        check(slc_scan(cache, &ss, count_visit, &matches), "snapshot");
        if (k == 1) { /* the same selection through the built-in predicate */
            static const uint8_t z[1] = {0};
            slc_index_match m1 = {0, 1, z, NULL};
            slc_scan_opts plain = {NULL, NULL, 0, 0, 0};
            uint64_t mm = 0;
            check(slc_scan_match(cache, &m1, &plain, count_visit, &mm),
                  "scan_match snapshot");
            if (mm != matches)
                bdie("scan_match: %llu matches, filter %llu",
                     (unsigned long long)mm, (unsigned long long)matches);
        }
        marker(e);
        printf("CHECK scan_snapshot_%s allocs %llu peak_bytes %llu matches "
               "%llu bytes_per_match %.1f\n",
               names[k], (unsigned long long)(n_alloc - a0),
               (unsigned long long)(peak_bytes - l0),
               (unsigned long long)matches,
               matches ? (double)(peak_bytes - l0) / (double)matches : 0.0);
    }

    /* Phase 4: writer staging memory per staged op (updates of existing
     * keys, then a commit), measured as live heap growth. */
    uint64_t ops = n < 100000 ? n : 100000;
    uint64_t l0 = live_bytes;
    peak_bytes = live_bytes;
    check(slc_begin_write(cache, &w), "begin");
    for (uint64_t i = 0; i < ops; i++)
        check(slc_put(w, r[i].key, B_KEY, r[i].rev + 1, r[i].idx, B_INDEX),
              "put");
    uint64_t staged = live_bytes - l0;
    check(slc_commit(w), "commit");
    uint64_t peak = peak_bytes - l0;
    slc_writer_close(w);
    printf("CHECK staging ops %llu bytes %llu bytes_per_op %.1f "
           "commit_peak_bytes_per_op %.1f\n",
           (unsigned long long)ops, (unsigned long long)staged,
           (double)staged / (double)ops, (double)peak / (double)ops);
    printf("CHECK checksum %016llx len %llu gen %llu\n",
           (unsigned long long)sum, (unsigned long long)len,
           (unsigned long long)gen);
    check(slc_close(cache), "close");
    free(r);
    free(hits);
    free(miss);
    bprepare_dir(dir);
    free(path);
    free(dir);
    return 0;
}
