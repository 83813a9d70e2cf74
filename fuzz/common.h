/* Shared pieces of the libFuzzer targets and of their replay in the normal
 * test suite (fuzz/replay.c, linked with each target compiled with
 * SLC_FUZZ_REPLAY defined, runs the same bodies without libFuzzer).
 *
 * A harness never trusts the library: every expectation it has is checked
 * with FZ_CHECK, which prints what diverged and aborts, so libFuzzer (or the
 * replay test) records a crash. */
#ifndef SLC_FUZZ_COMMON_H
#define SLC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "slotcache.h"

/* ---- Target bodies: one per fuzz_*.c ------------------------------------ */

int fz_open_one(const uint8_t *data, size_t size);
int fz_ops_one(const uint8_t *data, size_t size);
int fz_prefix_one(const uint8_t *data, size_t size);
int fz_header_one(const uint8_t *data, size_t size);

/* libFuzzer hooks, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---- Failing loudly ----------------------------------------------------- */

void fz_fail(const char *file, int line, const char *cond, const char *fmt,
             ...) __attribute__((noreturn, format(printf, 4, 5)));

/* FZ_CHECK(cond, fmt, args...): the format string is mandatory. */
#define FZ_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                   \
    } while (0)

/* Exact status code expected. */
#define FZ_RC(got, want, what)                                                 \
    do {                                                                       \
        int fz_g_ = (got), fz_w_ = (want);                                     \
        FZ_CHECK(fz_g_ == fz_w_, "%s: got %d (%s), want %d (%s); detail: %s",  \
                 (what), fz_g_, slc_strerror(fz_g_), fz_w_,                    \
                 slc_strerror(fz_w_), slc_errdetail());                        \
    } while (0)

/* ---- Input reader: returns zeros once the input is exhausted ------------ */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}
static inline uint16_t fz_u16(fz_in *in)
{
    uint16_t v = fz_u8(in);
    return (uint16_t)(v | (uint16_t)fz_u8(in) << 8);
}
static inline uint32_t fz_u32(fz_in *in)
{
    uint32_t v = fz_u16(in);
    return v | (uint32_t)fz_u16(in) << 16;
}
static inline uint64_t fz_u64(fz_in *in)
{
    uint64_t v = fz_u32(in);
    return v | (uint64_t)fz_u32(in) << 32;
}
/* Copy n bytes, zero-filling what the input no longer has. */
void fz_bytes(fz_in *in, void *dst, size_t n);

/* ---- Format helpers written from SLC1 3, independent of src/format.c ---- */

static inline uint32_t fz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t fz_le64(const uint8_t *p)
{
    return (uint64_t)fz_le32(p) | (uint64_t)fz_le32(p + 4) << 32;
}
static inline void fz_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fz_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t fz_align8(uint32_t x) { return (x + 7u) & ~7u; }
/* SLC1's slot_size formula in 64 bits, for any stored key/index sizes;
 * callers compare it with the stored u32. */
static inline uint64_t fz_slot_size(uint64_t ks, uint64_t is)
{
    return 16 + ((ks + 7) & ~UINT64_C(7)) + ((is + 7) & ~UINT64_C(7));
}

/* Bitwise CRC-32C (reflected 0x82F63B78, init/final xor 0xFFFFFFFF). */
uint32_t fz_crc32c(const void *data, size_t n);
/* SLC1 3.8: over the header with generation and header_crc32c as zero. */
uint32_t fz_header_crc(const uint8_t h[256]);
/* FNV-1a 64 (SLC1 5.3). */
uint64_t fz_fnv1a(const void *data, size_t n);
/* Smallest power of two >= 2 * cap (SLC1 5.2), for cap <= 2^62. */
uint64_t fz_bucket_count(uint64_t cap);

/* ---- Files -------------------------------------------------------------- */

/* A private directory for this process, on tmpfs when /dev/shm is usable
 * ($SLC_FUZZ_TMPDIR overrides); removed at exit. */
const char *fz_dir(void);
/* fz_dir() + "/" + name in a static buffer (one per slot 0..3). */
const char *fz_path(int slot, const char *name);
/* Replace `path` by a new file holding data[0..len) and then sized to
 * `total` bytes (sparse when larger, truncated when smaller). 0 or -1. */
int fz_write_file(const char *path, const void *data, size_t len,
                  uint64_t total);
/* Remove path and path.lock (missing is fine). */
void fz_remove(const char *path);
/* Read up to max bytes of the file; returns a malloc'd buffer, sets *len
 * (bytes read) and *size (st_size). NULL if it cannot be opened. */
uint8_t *fz_read_file(const char *path, size_t max, size_t *len,
                      uint64_t *size);

/* Descriptor leak check around one input: begin records the lowest free
 * descriptor, end aborts if it moved. (Between inputs libFuzzer itself may
 * open pipes to its symbolizer, so only the span of one input is judged.) */
void fz_fd_begin(void);
void fz_fd_end(void);

/* ---- Reference prefix and range semantics (SLC1 11.6, 11.7) -------------- */

/* Is the prefix spec valid for key_size ks (every SLC_EINVAL rule)? */
int fz_prefix_valid(uint32_t ks, const slc_prefix *p);
/* Bit-by-bit match of a valid spec, written independently of scan.c. */
int fz_prefix_match(const slc_prefix *p, const uint8_t *key);

/* Range bounds: 0 invalid (SLC_EINVAL), 1 valid; *empty when start == end.
 * lo/hi get the zero-padded bounds (ks bytes) of the non-NULL ones. */
int fz_range_valid(uint32_t ks, const void *start, size_t start_len,
                   const void *end, size_t end_len, uint8_t *lo, uint8_t *hi,
                   int *empty);
int fz_range_match(uint32_t ks, const uint8_t *lo, const uint8_t *hi,
                   const uint8_t *key);

/* ---- Scans: a recording visitor, deterministic filters, comparison ------ */

/* An entry as the reference model sees it (pointers into model storage). */
typedef struct fz_ent {
    uint64_t slot_id;
    int64_t revision;
    const uint8_t *key;
    const uint8_t *index;
} fz_ent;

/* One scan request: options plus how the visitor behaves. */
typedef struct fz_scanq {
    slc_scan_opts opts;
    int filter_kind; /* FZ_FILTER_* */
    int null_opts;   /* pass NULL options (defaults) */
    int null_visit;  /* pass a NULL visit callback: SLC_EINVAL */
    uint32_t stop_after; /* visitor returns stop_value at this delivery */
    int stop_value;
} fz_scanq;

enum {
    FZ_FILTER_NONE,
    FZ_FILTER_KEY_ODD,    /* key[0] odd */
    FZ_FILTER_REV_NONNEG, /* revision >= 0 */
    FZ_FILTER_ID_MOD3,    /* slot_id % 3 != 1 */
    FZ_FILTER_REJECT,     /* nothing */
    FZ_FILTER_ACCEPT,     /* everything, but through a filter */
    FZ_FILTER_KINDS
};

/* Fill a scan request from the input. `rare` allows out-of-range offsets,
 * limits, flags and NULL callbacks (each SLC_EINVAL). */
void fz_scanq_read(fz_in *in, fz_scanq *q, int rare);
/* Does the request pass argument validation (SLC1 11.5)? */
int fz_scanq_valid(const fz_scanq *q);
/* Does the filter keep this entry? */
int fz_filter_keeps(int kind, const fz_ent *e);

/* Entries a visitor received (copies). */
typedef struct fz_got {
    uint32_t ks, is;
    size_t count, cap;
    uint8_t *buf; /* per entry: slot id, revision, key, index */
    uint32_t stop_after;
    int stop_value;
} fz_got;

void fz_got_init(fz_got *g, uint32_t ks, uint32_t is, const fz_scanq *q);
void fz_got_free(fz_got *g);
fz_ent fz_got_at(const fz_got *g, size_t i);

/* Run the request through slc_scan / slc_scan_prefix / slc_scan_range. */
int fz_run_scan(slc_cache *c, const fz_scanq *q, fz_got *g);
int fz_run_prefix(slc_cache *c, const slc_prefix *p, const fz_scanq *q,
                  fz_got *g);
int fz_run_range(slc_cache *c, const void *s, size_t sl, const void *e,
                 size_t el, const fz_scanq *q, fz_got *g);
int fz_run_match(slc_cache *c, const slc_index_match *m, const fz_scanq *q,
                 fz_got *g);

/* Check a successful-or-stopped scan against the candidates in delivery
 * order (key predicate applied, before filter/offset/limit): the return
 * code and every delivered entry. */
void fz_expect_scan(int rc, const fz_got *g, const fz_scanq *q,
                    const fz_ent *cand, size_t n, const char *what);

#endif
