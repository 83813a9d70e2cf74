/* Shared workload definition for every benchmark driver.
 *
 * All drivers (libslotcache, LMDB, tinycdb) call the same functions, so they
 * store the same keys with the same values, look up the same keys in the
 * same order and must report the same checksums. Keys and values are pure
 * functions of an entry number and the seed: nothing random is stored
 * between runs, and a driver never needs another driver's files.
 *
 * Record: 16-byte key, 8-byte revision, 32 index bytes. Index byte 0 is
 * (mix % 100), so the W5 predicate `index[0] == 0` keeps about 1 %. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define B_KEY 16
#define B_INDEX 32
#define B_VALUE (8 + B_INDEX) /* revision then index, for the KV peers */
#define B_SEED UINT64_C(0x5EED5107CAC4E001)

/* Timed loops: never inlined or cloned, so callgrind can find them by
 * name (clang has no noclone and does not clone these). */
#if defined(__clang__)
#define BHOT __attribute__((noinline))
#else
#define BHOT __attribute__((noinline, noclone))
#endif

/* Sizes of one run; presets "default" and "small". */
typedef struct bconf {
    uint64_t n;          /* W1 entries */
    uint64_t gets;       /* W3 and W4 lookups each */
    uint64_t w2_commits; /* W2: commits of w2_ops upserts */
    uint64_t w2_ops;
    uint64_t w6_commits; /* W6: durable commits of w6_ops upserts */
    uint64_t w6_ops;
    uint64_t w7_gets;    /* W7: lookups per reader process */
    int w7_readers;
    uint64_t w7_interval_us; /* W7 writer pace: one commit per interval */
    int w5_passes;       /* W5 scans per mode; the median is reported */
    const char *dir;     /* scratch directory for the store files */
    const char *only;    /* comma list of workloads to run, NULL = all */
    int quiet;
} bconf;

/* Parse --preset, --n, --gets, --dir, --only ... (exits on a bad option). */
void bconf_parse(bconf *c, int argc, char **argv);
int bconf_wants(const bconf *c, const char *w);

/* splitmix64 finaliser: a bijection, so distinct inputs never collide. */
static inline uint64_t bmix(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* Entry number i -> key. Entries >= n are never stored by W1, so their keys
 * are the W4 misses and the W2 inserts. */
static inline void bkey(uint64_t i, uint8_t key[B_KEY])
{
    uint64_t a = bmix(B_SEED ^ (2 * i)), b = bmix(B_SEED ^ (2 * i + 1));
    for (int k = 0; k < 8; k++) {
        key[k] = (uint8_t)(a >> (8 * k));
        key[8 + k] = (uint8_t)(b >> (8 * k));
    }
}

/* Index bytes of entry i at revision rev (a new revision changes them, so
 * an update is visible in checksums). Byte 0 in 0..99 drives W5. */
static inline void bindex(uint64_t i, int64_t rev, uint8_t idx[B_INDEX])
{
    uint64_t s = bmix(i ^ (B_SEED >> 1));
    for (int w = 0; w < B_INDEX / 8; w++) {
        uint64_t v = bmix(s + (uint64_t)w + (uint64_t)rev * 977u);
        for (int k = 0; k < 8; k++)
            idx[8 * w + k] = (uint8_t)(v >> (8 * k));
    }
    idx[0] = (uint8_t)(s % 100u);
}

static inline int bpred(const uint8_t *idx) { return idx[0] == 0; }

/* Folding a found record into a checksum: order-independent. */
static inline uint64_t bfold(int64_t rev, const uint8_t *idx)
{
    uint64_t w0, w3;
    __builtin_memcpy(&w0, idx, 8);
    __builtin_memcpy(&w3, idx + 24, 8);
    return bmix((uint64_t)rev ^ w0) + w3;
}

/* Deterministic stream (xorshift-style) for lookup order and W2 choices. */
typedef struct brng {
    uint64_t s;
} brng;
static inline uint64_t brng_next(brng *r)
{
    r->s += UINT64_C(0x9E3779B97F4A7C15);
    return bmix(r->s);
}

/* Lookup key lists, built before timing so every system pays the same
 * (sequential) cost to read them: hits are entries < n in random order,
 * misses entries >= 2n (never inserted anywhere). */
uint8_t *bkeys_hits(uint64_t n, uint64_t count, uint64_t stream);
uint8_t *bkeys_misses(uint64_t n, uint64_t count);

/* One W2/W6/W7 upsert, the same sequence for every system: even ops
 * update a random existing entry, odd ops (W2 only) insert the next new
 * entry n, n+1, ... */
typedef struct bupsert {
    uint64_t entry;
    int64_t rev;
} bupsert;
typedef struct bwriter_seq {
    brng r;
    uint64_t n, next_new;
    int64_t rev;
    int inserts;
} bwriter_seq;
void bseq_init(bwriter_seq *q, uint64_t n, uint64_t stream, int inserts,
               int64_t first_rev);
bupsert bseq_next(bwriter_seq *q, uint64_t op);

/* A whole record, laid out so that rev..idx is the 40-byte value the KV
 * peers store (revision then index bytes, as in an SLC1 slot). */
typedef struct brec {
    uint8_t key[B_KEY];
    int64_t rev;
    uint8_t idx[B_INDEX];
} brec;
_Static_assert(sizeof(brec) == B_KEY + B_VALUE, "brec must be packed");

/* Records built before timing, so generating them is never measured:
 * W1 entries 0..n-1 at revision i+1; write sequences of `count` upserts. */
brec *brecs_load(uint64_t n);
brec *brecs_seq(uint64_t n, uint64_t count, uint64_t stream, int inserts,
                int64_t first_rev);
/* Inserted by a W2 sequence of `count` ops. */
static inline uint64_t bseq_inserts(uint64_t count) { return count / 2; }

/* Per-system scratch directory <dir>/<sys>, emptied. Caller frees. */
char *bsysdir(const bconf *c, const char *sys);

/* W7: readers in child processes look up hits while the parent commits.
 * Each child opens its own handle (ropen), reports ready, waits for the
 * start signal, runs rbatch over its keys; the parent calls wstep (one
 * commit of w2_ops upserts) every w7_interval_us until every child has
 * finished. The writer is paced, not flat out, so every system's readers
 * face the same write load (a faster writer would otherwise be punished
 * with more interference) and the writer does not take a reader's core. */
typedef struct bw7 {
    void *(*ropen)(void *ctx);
    void (*rbatch)(void *rh, const uint8_t *keys, uint64_t count,
                   uint64_t *hits, uint64_t *busy);
    void (*rclose)(void *rh);
    void (*wstep)(void *ctx, uint64_t commit);
    void *ctx;
} bw7;
/* writer 0: the same readers with no commits (workload "W7idle"). */
void bw7_run(const bconf *c, const char *sys, const bw7 *ops, int writer);

/* Bytes this process has caused to be written to storage
 * (/proc/self/io write_bytes; 0 where unavailable). The kernel counts them
 * when a page-cache folio is dirtied, a whole folio at a time: a 4 KiB
 * pwrite into a 2 MiB folio counts 2 MiB, although writeback then sends
 * only its dirty blocks to the device (an mmap store dirties the whole
 * folio, and all of it is written). */
uint64_t bio_write_bytes(void);
/* Bytes written to the block device that holds `path` so far
 * (/proc/diskstats sectors written x 512; 0 where unavailable). Whole
 * device: includes every other process's writes. */
uint64_t bdev_write_bytes(const char *path);

/* W6 bookkeeping shared by the drivers: bw6_begin builds the run's
 * w6_commits x w6_ops upserts of `stream` and notes the write counters;
 * the driver times each commit into lat[]; bw6_end reports the median
 * commit latency and the bytes written per commit, and frees. */
typedef struct bw6 {
    brec *recs;
    double *lat;
    uint64_t io0, dev0;
} bw6;
void bw6_begin(bw6 *b, const bconf *c, uint64_t stream);
void bw6_end(bw6 *b, const bconf *c, const char *sys, const char *w);

/* W6fifo: run the calling process as SCHED_FIFO (priority 1) so that a
 * commit waking from a disk flush gets its CPU back at once, even when
 * other processes keep both CPUs busy; 0 on success, -1 when not permitted
 * (no CAP_SYS_NICE). brt_leave returns to SCHED_OTHER. */
int brt_enter(void);
void brt_leave(void);

/* Time. */
double bnow(void);

/* Result line, the only output run.py reads:
 *   R <system> <workload> <metric> <value> <unit> <checksum>  */
void bresult(const char *sys, const char *w, const char *metric, double v,
             const char *unit, uint64_t checksum);

/* Median of a double array (sorts it). */
double bmedian(double *v, size_t n);

void bdie(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Remove a file or a directory's files (best effort) and make the dir. */
void bprepare_dir(const char *dir);
char *bpath(const char *dir, const char *name);

#endif
