/* Helpers shared by the core test files (format, validation, api, model,
 * invalidate, sync, readonly): a temporary-directory fixture, option
 * shorthands, deterministic keys, and raw file access for crafting damaged
 * files with pwrite. Header-only so the test
 * glob picks up nothing extra. */
#ifndef SLC_TEST_CORE_HELPERS_H
#define SLC_TEST_CORE_HELPERS_H

#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"

/* cmocka fixture: a fresh temporary directory per test, the path of a
 * cache file inside it and of that file's lock file, removed again by
 * cu_fx_teardown. */
typedef struct fx {
    char *dir, *path, *lock;
} fx;

static inline int cu_fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = t_tmpdir();
    f->path = t_join(f->dir, "cache.slc");
    f->lock = t_join(f->dir, "cache.slc.lock");
    *state = f;
    return 0;
}

static inline int cu_fx_teardown(void **state)
{
    fx *f = *state;
    t_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f->lock);
    free(f);
    return 0;
}

static inline slc_options cu_opts(uint32_t key_size, uint32_t index_size,
                                  uint64_t cap, uint64_t user_version,
                                  uint32_t flags)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = key_size;
    o.index_size = index_size;
    o.slot_capacity = cap;
    o.user_version = user_version;
    o.flags = flags;
    return o;
}

/* Key number n: big-endian in the leading bytes (so memcmp order is numeric
 * order for key_size >= 8), then a filler derived from n. */
/* Open (or create) a cache that must open. */
static inline slc_cache *cu_open(const char *path, uint32_t key_size,
                                 uint32_t index_size, uint64_t cap,
                                 uint32_t flags)
{
    slc_options o = cu_opts(key_size, index_size, cap, 1, flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_non_null(c);
    return c;
}

static inline uint64_t cu_len(slc_cache *c)
{
    uint64_t n = UINT64_MAX;
    assert_int_equal(slc_len(c, &n), SLC_OK);
    return n;
}

/* Everything a full scan delivered (at most 256 entries). */
typedef struct cu_seen {
    size_t n, ks;
    uint8_t key[256][SLC_MAX_KEY_SIZE];
    int64_t rev[256];
    uint64_t id[256];
} cu_seen;

static inline int cu_collect(const slc_entry *e, void *ctx)
{
    cu_seen *s = (cu_seen *)ctx;
    assert_true(s->n < 256);
    memcpy(s->key[s->n], e->key, s->ks);
    s->rev[s->n] = e->revision;
    s->id[s->n] = e->slot_id;
    s->n++;
    return 0;
}

/* The caller frees the result. */
static inline cu_seen *cu_scan_all(slc_cache *c, size_t ks)
{
    cu_seen *s = (cu_seen *)calloc(1, sizeof *s);
    assert_non_null(s);
    s->ks = ks;
    assert_int_equal(slc_scan(c, NULL, cu_collect, s), SLC_OK);
    return s;
}

static inline void cu_key(uint8_t *k, uint32_t key_size, uint64_t n)
{
    for (uint32_t i = 0; i < key_size; i++)
        k[i] = i < 8 ? (uint8_t)(n >> (56 - 8 * i)) : (uint8_t)(n * 31 + i);
}

/* Index bytes for key n and revision rev. */
static inline void cu_index(uint8_t *ix, uint32_t index_size, uint64_t n,
                            int64_t rev)
{
    for (uint32_t i = 0; i < index_size; i++)
        ix[i] = (uint8_t)(n * 7 + (uint64_t)rev * 13 + i);
}

static inline int cu_put(slc_writer *w, uint32_t key_size, uint32_t index_size,
                         uint64_t n, int64_t rev)
{
    uint8_t k[SLC_MAX_KEY_SIZE];
    uint8_t ix[256];
    assert_true(index_size <= sizeof ix);
    cu_key(k, key_size, n);
    cu_index(ix, index_size, n, rev);
    return slc_put(w, k, key_size, rev, index_size ? ix : NULL, index_size);
}

/* Expect key n live with revision rev and the cu_index bytes. */
static inline void cu_expect_get(slc_cache *c, uint32_t key_size,
                                 uint32_t index_size, uint64_t n, int64_t rev)
{
    uint8_t k[SLC_MAX_KEY_SIZE], ix[256], want[256];
    int64_t got = 0;
    assert_true(index_size <= sizeof ix);
    cu_key(k, key_size, n);
    cu_index(want, index_size, n, rev);
    memset(ix, 0xEE, sizeof ix);
    assert_int_equal(slc_get(c, k, key_size, &got, index_size ? ix : NULL,
                             index_size),
                     SLC_OK);
    assert_int_equal(got, rev);
    if (index_size)
        assert_memory_equal(ix, want, index_size);
}

static inline void cu_expect_absent(slc_cache *c, uint32_t key_size,
                                    uint64_t n)
{
    uint8_t k[SLC_MAX_KEY_SIZE];
    cu_key(k, key_size, n);
    int64_t rev = 12345;
    assert_int_equal(slc_get(c, k, key_size, &rev, NULL, 0), SLC_NOTFOUND);
}

/* ---- Raw file access ----------------------------------------------------- */

static inline void cu_pread(const char *path, uint64_t off, void *buf,
                            size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static inline void cu_pwrite(const char *path, uint64_t off, const void *buf,
                             size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static inline uint32_t cu_get32(const char *path, uint64_t off)
{
    uint8_t b[4];
    cu_pread(path, off, b, 4);
    return slc__le32(b);
}

static inline uint64_t cu_get64(const char *path, uint64_t off)
{
    uint8_t b[8];
    cu_pread(path, off, b, 8);
    return slc__le64(b);
}

static inline void cu_set32(const char *path, uint64_t off, uint32_t v)
{
    uint8_t b[4];
    slc__put_le32(b, v);
    cu_pwrite(path, off, b, 4);
}

static inline void cu_set64(const char *path, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    slc__put_le64(b, v);
    cu_pwrite(path, off, b, 8);
}

/* Recompute and store header_crc32c, so a patched field is what fails. */
static inline void cu_fix_crc(const char *path)
{
    uint8_t h[SLC__HEADER_SIZE];
    cu_pread(path, 0, h, sizeof h);
    cu_set32(path, SLC__OFF_HEADER_CRC, slc__header_crc(h));
}

static inline void cu_header(const char *path, slc__header *h)
{
    uint8_t raw[SLC__HEADER_SIZE];
    cu_pread(path, 0, raw, sizeof raw);
    slc__header_decode(raw, h);
}

static inline uint64_t cu_file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static inline int cu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Bucket holding key k (slot id in *slot), or UINT64_MAX: a plain probe
 * over the file's bytes, independent of the library's reader. */
static inline uint64_t cu_find_bucket(const char *path, const uint8_t *k,
                                      uint64_t *slot)
{
    slc__header h;
    cu_header(path, &h);
    uint64_t hash = slc__fnv1a64(k, h.key_size);
    uint64_t mask = h.bucket_count - 1;
    for (uint64_t n = 0, i = hash & mask; n < h.bucket_count;
         n++, i = (i + 1) & mask) {
        uint64_t sp = cu_get64(path, h.buckets_offset + 16 * i + 8);
        if (sp == 0)
            return UINT64_MAX;
        if (sp == UINT64_MAX)
            continue;
        uint8_t sk[SLC_MAX_KEY_SIZE];
        cu_pread(path, h.slots_offset + (sp - 1) * h.slot_size + 8, sk,
                 h.key_size);
        if (memcmp(sk, k, h.key_size) == 0) {
            if (slot)
                *slot = sp - 1;
            return i;
        }
    }
    return UINT64_MAX;
}

/* Create (or reuse) a cache at path with keys 0..n-1 committed (rev = key
 * number + 1), then close it. */
static inline void cu_make(const char *path, const slc_options *o, uint64_t n)
{
    slc_cache *c = NULL;
    slc_writer *w = NULL;
    assert_int_equal(slc_open(path, o, &c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(
            cu_put(w, o->key_size, o->index_size, i, (int64_t)i + 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

#endif
