/* Helpers shared by the scan tests (test_scan*.c, test_proc_scan_*.c):
 * opening caches, building keys, collecting visited entries, patching
 * bytes of a file behind the library's back. Static, so each test
 * executable gets its own copy. */
#ifndef SLC_TEST_SCAN_UTIL_H
#define SLC_TEST_SCAN_UTIL_H

#include "support.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything one visit call showed, copied (the pointers die with the call). */
typedef struct sc_list {
    size_t ks, is; /* key_size, index_size of the scanned cache */
    size_t n, cap;
    uint8_t *keys; /* n * ks */
    uint8_t *idx;  /* n * is */
    int64_t *rev;
    uint64_t *id;
    size_t index_null; /* entries whose index pointer was NULL */
    size_t stop_at;    /* nonzero: return stop_value on the stop_at-th visit */
    int stop_value;
} sc_list;

static inline void sc_list_init(sc_list *l, size_t ks, size_t is)
{
    memset(l, 0, sizeof *l);
    l->ks = ks;
    l->is = is;
}

static inline void sc_list_clear(sc_list *l) { l->n = 0; l->index_null = 0; }

static inline void sc_list_free(sc_list *l)
{
    free(l->keys);
    free(l->idx);
    free(l->rev);
    free(l->id);
    memset(l, 0, sizeof *l);
}

static inline void sc_list_add(sc_list *l, const uint8_t *key, int64_t rev,
                               const uint8_t *idx, uint64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->keys = realloc(l->keys, l->cap * (l->ks ? l->ks : 1));
        l->idx = realloc(l->idx, l->cap * (l->is ? l->is : 1));
        l->rev = realloc(l->rev, l->cap * sizeof *l->rev);
        l->id = realloc(l->id, l->cap * sizeof *l->id);
        if (!l->keys || !l->idx || !l->rev || !l->id)
            abort();
    }
    memcpy(l->keys + l->n * l->ks, key, l->ks);
    if (l->is && idx)
        memcpy(l->idx + l->n * l->is, idx, l->is);
    l->rev[l->n] = rev;
    l->id[l->n] = id;
    l->n++;
}

/* slc_visit_fn: append the entry; stop with stop_value when asked. */
static inline int sc_collect(const slc_entry *e, void *ctx)
{
    sc_list *l = ctx;
    if (!e->index)
        l->index_null++;
    sc_list_add(l, e->key, e->revision, e->index, e->slot_id);
    if (l->stop_at && l->n == l->stop_at)
        return l->stop_value;
    return 0;
}

static inline const uint8_t *sc_key(const sc_list *l, size_t i)
{
    return l->keys + i * l->ks;
}
static inline const uint8_t *sc_idx(const sc_list *l, size_t i)
{
    return l->idx + i * l->is;
}

/* Big-endian counter key: memcmp order = numeric order. */
static inline void sc_be_key(uint8_t *k, size_t ks, uint64_t v)
{
    memset(k, 0, ks);
    for (size_t i = 0; i < ks && i < 8; i++)
        k[ks - 1 - i] = (uint8_t)(v >> (8 * i));
}

static inline slc_options sc_opts(uint32_t ks, uint32_t is, uint64_t cap,
                                  uint32_t flags)
{
    slc_options o = {ks, is, 1, cap, flags};
    return o;
}

/* Open (creating) dir/name; asserts success. */
static inline slc_cache *sc_open(const char *dir, const char *name,
                                 const slc_options *o)
{
    char *path = t_join(dir, name);
    slc_cache *c = NULL;
    int rc = slc_open(path, o, &c);
    if (rc != SLC_OK)
        fail_msg("slc_open %s: %d (%s)", path, rc, slc_errdetail());
    free(path);
    return c;
}

/* Write n bytes at file offset `off` with pwrite: the page cache is shared
 * with every MAP_SHARED mapping, so open handles see the change at once. */
static inline void sc_patch(const char *dir, const char *name, uint64_t off,
                            const void *bytes, size_t n)
{
    char *path = t_join(dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    assert_int_equal(close(fd), 0);
    free(path);
}

static inline void sc_read_at(const char *dir, const char *name, uint64_t off,
                              void *bytes, size_t n)
{
    char *path = t_join(dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, bytes, n, (off_t)off), (ssize_t)n);
    assert_int_equal(close(fd), 0);
    free(path);
}

/* Byte offset of slot `id` (SLC1 3.1, 4.1). */
static inline uint64_t sc_slot_off(slc_cache *c, uint64_t id)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    return 256 + id * (uint64_t)st.slot_size;
}

#endif
