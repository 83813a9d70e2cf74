/* The cache's lifecycle calls (issue 13): SLC_CAPACITY_AT_LEAST, counting,
 * replace-all sessions, slc_begin_write_timeout, rebuild and reopen within
 * one process. Cross-process readers during rebuilds and crash injection
 * are in test_proc_rebuild.c. */
#include "core_helpers.h"
#include "hook.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/file.h>

#define KS 16u
#define IS 8u

static slc_cache *open_or_die(const char *path, const slc_options *o)
{
    slc_cache *c = NULL;
    int rc = slc_open(path, o, &c);
    if (rc)
        fail_msg("slc_open %s: %s (%s)", path, slc_strerror(rc),
                 slc_errdetail());
    return c;
}

/* Keys [from, to) with revision rev, in one session. */
static void fill(slc_cache *c, uint64_t from, uint64_t to, int64_t rev)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = from; n < to; n++)
        assert_int_equal(cu_put(w, KS, IS, n, rev), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

static uint64_t capacity_of(slc_cache *c)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    return st.slot_capacity;
}

/* ---- SLC_CAPACITY_AT_LEAST --------------------------------------------- */

static void capacity_at_least(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 100, 1, SLC_CAPACITY_AT_LEAST);
    slc_cache *c = open_or_die(f->path, &o); /* creates with 100 */
    assert_int_equal(capacity_of(c), 100);
    fill(c, 0, 10, 1);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A smaller minimum keeps the file and its entries. */
    o.slot_capacity = 40;
    c = open_or_die(f->path, &o);
    assert_int_equal(capacity_of(c), 100);
    cu_expect_get(c, KS, IS, 3, 1);
    assert_int_equal(slc_close(c), SLC_OK);
    /* Equal too. */
    o.slot_capacity = 100;
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A larger minimum is a mismatch, named with the path. */
    o.slot_capacity = 101;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_null(c);
    assert_non_null(strstr(slc_errdetail(), "minimum"));
    assert_non_null(strstr(slc_errdetail(), f->path));

    /* Without the flag the spec's exact rule stands. */
    o.flags = 0;
    o.slot_capacity = 40;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    assert_non_null(strstr(slc_errdetail(), f->path));
    /* Other fields are still compared exactly. */
    o.flags = SLC_CAPACITY_AT_LEAST;
    o.user_version = 2;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINCOMPATIBLE);
    /* Read-only opens accept the flag too. */
    o.user_version = 1;
    o.flags = SLC_CAPACITY_AT_LEAST | SLC_READ_ONLY;
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Counting ---------------------------------------------------------- */

static int visit_count(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(uint64_t *)ctx;
    return 0;
}

static int odd_key(const slc_entry *e, void *ctx)
{
    (void)ctx;
    return e->key[7] & 1;
}

/* Every count equals the number of visits of the same scan. */
static void check_counts(slc_cache *c, int ordered)
{
    static const uint64_t offsets[] = {0, 1, 7, 500};
    static const uint64_t limits[] = {0, 1, 10, 1000};
    uint8_t lo[KS], hi[KS], pat[8] = {0};
    cu_key(lo, KS, 20);
    cu_key(hi, KS, 150);
    uint8_t val[2] = {0, 0}, msk[2] = {0x01, 0};
    slc_index_match m = {0, 1, val, msk};
    /* cu_key puts n big-endian in key[0..7]: 57 zero bits select n < 128. */
    slc_prefix p = {0, 57, pat, 8};
    uint64_t live = 0, sel = 0;
    assert_int_equal(slc_count(c, NULL, &live), SLC_OK);
    assert_int_equal(slc_count_prefix(c, &p, NULL, &sel), SLC_OK);
    assert_true(sel > 0);
    assert_true(sel < live);
    for (int fl = 0; fl < 2; fl++)
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                slc_scan_opts o = {fl ? odd_key : NULL, NULL,
                                   b & 1 ? SLC_SCAN_REVERSE : 0, offsets[a],
                                   limits[b]};
                uint64_t want = 0, got = 99;
                assert_int_equal(slc_scan(c, &o, visit_count, &want), SLC_OK);
                assert_int_equal(slc_count(c, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                want = 0;
                assert_int_equal(slc_scan_prefix(c, &p, &o, visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_prefix(c, &p, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                want = 0;
                assert_int_equal(slc_scan_match(c, &m, &o, visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_match(c, &m, &o, &got), SLC_OK);
                assert_int_equal(got, want);
                if (!ordered) {
                    assert_int_equal(slc_count_range(c, lo, KS, hi, KS, &o,
                                                     &got),
                                     SLC_EUNORDERED);
                    continue;
                }
                want = 0;
                assert_int_equal(slc_scan_range(c, lo, KS, hi, KS, &o,
                                                visit_count, &want),
                                 SLC_OK);
                assert_int_equal(slc_count_range(c, lo, KS, hi, KS, &o, &got),
                                 SLC_OK);
                assert_int_equal(got, want);
            }
}

static void counting(void **state)
{
    fx *f = *state;
    for (int ordered = 0; ordered < 2; ordered++) {
        slc_options o = cu_opts(KS, IS, 1000, 1,
                                ordered ? SLC_ORDERED_KEYS : 0);
        slc_cache *c = open_or_die(f->path, &o);
        uint64_t n = 5;
        assert_int_equal(slc_count(c, NULL, &n), SLC_OK);
        assert_int_equal(n, 0);
        fill(c, 0, 300, 1);
        slc_writer *w;
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        for (uint64_t k = 0; k < 300; k += 3) {
            uint8_t key[KS];
            cu_key(key, KS, k);
            assert_int_equal(slc_delete(w, key, KS, NULL), SLC_OK);
        }
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_count(c, NULL, &n), SLC_OK);
        assert_int_equal(n, 200);
        check_counts(c, ordered);
        /* Streaming is accepted and counts the same. */
        slc_scan_opts so = {NULL, NULL, SLC_SCAN_STREAMING, 0, 0};
        assert_int_equal(slc_count(c, &so, &n), SLC_OK);
        assert_int_equal(n, 200);
        /* Errors: NULL count, bad options, bad predicates. */
        assert_int_equal(slc_count(c, NULL, NULL), SLC_EINVAL);
        assert_int_equal(slc_count(NULL, NULL, &n), SLC_EINVAL);
        so.flags = 1u << 5;
        assert_int_equal(slc_count(c, &so, &n), SLC_EINVAL);
        assert_int_equal(slc_count_prefix(c, NULL, NULL, &n), SLC_EINVAL);
        assert_int_equal(slc_count_match(c, NULL, NULL, &n), SLC_EINVAL);
        assert_int_equal(slc_close(c), SLC_OK);
        unlink(f->path);
    }
}

/* Slots above the 4 KiB stack record take the heap scratch record. */
static void counting_big_slots(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, 5000, 20, 1, SLC_ORDERED_KEYS);
    slc_cache *c = open_or_die(f->path, &o);
    slc_writer *w;
    static uint8_t ix[5000];
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t k = 0; k < 12; k++) {
        uint8_t key[KS];
        cu_key(key, KS, k);
        ix[0] = (uint8_t)k;
        assert_int_equal(slc_put(w, key, KS, 1, ix, sizeof ix), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint64_t n = 0;
    uint8_t lo[KS];
    cu_key(lo, KS, 4);
    assert_int_equal(slc_count_range(c, lo, KS, NULL, 0, NULL, &n), SLC_OK);
    assert_int_equal(n, 8);
    uint8_t val = 0, msk = 1;
    slc_index_match m = {0, 1, &val, &msk};
    slc_scan_opts so = {odd_key, NULL, 0, 0, 0};
    assert_int_equal(slc_count_match(c, &m, &so, &n), SLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slc_count_match(c, &m, NULL, &n), SLC_OK);
    assert_int_equal(n, 6);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Replace-all sessions ----------------------------------------------- */

static void replace_all(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 300, 1, 0);
    slc_cache *c = open_or_die(f->path, &o);
    fill(c, 0, 100, 1);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_replace_all(w), SLC_OK);
    for (uint64_t n = 50; n < 150; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 2), SLC_OK);
    uint8_t k[KS];
    cu_key(k, KS, 60);
    int existed = 0;
    assert_int_equal(slc_delete(w, k, KS, &existed), SLC_OK);
    assert_int_equal(existed, 1);
    /* Nothing is visible before the commit. */
    uint64_t len;
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, 100);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_set_replace_all(w), SLC_ECLOSED);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, 99);
    for (uint64_t n = 0; n < 160; n++) {
        if (n >= 50 && n < 150 && n != 60)
            cu_expect_get(c, KS, IS, n, 2);
        else
            cu_expect_absent(c, KS, n);
    }
    assert_int_equal(slc_verify(c), SLC_OK);

    /* SLC_EFULL as in any session: 150 of 300 slots used, 200 new keys. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_replace_all(w), SLC_OK);
    for (uint64_t n = 1000; n < 1200; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 3), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, 99);
    cu_expect_get(c, KS, IS, 70, 2);

    /* A replace-all session that puts nothing empties the cache (and the
     * tombstones make it rehash). */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_replace_all(w), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, 0);
    assert_int_equal(slc_verify(c), SLC_OK);
    /* An ordinary session afterwards deletes nothing it did not stage. */
    fill(c, 0, 5, 4);
    fill(c, 5, 6, 4);
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, 6);
    assert_int_equal(slc_set_replace_all(NULL), SLC_EINVAL);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- slc_begin_write_timeout ------------------------------------------- */

typedef struct holder {
    slc_writer *w;
    int ms;
} holder;

static void *release_later(void *arg)
{
    holder *h = arg;
    struct timespec ts = {0, h->ms * 1000000L};
    nanosleep(&ts, NULL);
    slc_writer_close(h->w);
    return NULL;
}

static void begin_write_timeout(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 100, 1, 0);
    slc_cache *a = open_or_die(f->path, &o), *b = open_or_die(f->path, &o);
    slc_writer *w, *w2 = (slc_writer *)(uintptr_t)1;
    assert_int_equal(slc_begin_write(a, &w), SLC_OK);
    assert_int_equal(slc_begin_write_timeout(b, 0, &w2), SLC_EBUSY);
    assert_null(w2);
    assert_int_equal(slc_begin_write_timeout(b, 30, &w2), SLC_EBUSY);
    assert_non_null(strstr(slc_errdetail(), "30 ms"));
    /* Released by another thread while this one waits. */
    holder h = {w, 40};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
    assert_int_equal(slc_begin_write_timeout(b, SLC_WAIT_FOREVER, &w2), SLC_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(cu_put(w2, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_commit(w2), SLC_OK);
    assert_int_equal(slc_writer_close(w2), SLC_OK);
    /* Other errors return at once. */
    assert_int_equal(slc_begin_write_timeout(NULL, 1000, &w2), SLC_EINVAL);
    assert_int_equal(slc_invalidate(a), SLC_OK);
    assert_int_equal(slc_begin_write_timeout(b, SLC_WAIT_FOREVER, &w2),
                     SLC_EINVALIDATED);
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

/* ---- Rebuild and reopen ------------------------------------------------ */

/* Names in dir other than "." and "..", sorted into one string. */
static int count_dir(const char *dir, const char *contains)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            strstr(e->d_name, contains))
            n++;
    closedir(d);
    return n;
}

static slc_rebuild *rebuild_range(const char *path, uint64_t cap, uint64_t from,
                                  uint64_t to, int64_t rev)
{
    slc_options o = cu_opts(KS, IS, cap, 1, 0);
    slc_rebuild *r = NULL;
    int rc = slc_rebuild_begin(path, &o, &r);
    if (rc)
        fail_msg("slc_rebuild_begin: %s (%s)", slc_strerror(rc),
                 slc_errdetail());
    uint8_t k[KS], ix[IS];
    for (uint64_t n = from; n < to; n++) {
        cu_key(k, KS, n);
        cu_index(ix, IS, n, rev);
        assert_int_equal(slc_rebuild_put(r, k, KS, rev, ix, IS), SLC_OK);
    }
    return r;
}

static void rebuild_and_reopen(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 200, 1, 0);
    slc_cache *c = open_or_die(f->path, &o);
    fill(c, 0, 100, 1);
    assert_int_equal(chmod(f->path, 0640), 0);
    uint8_t ud[64];
    memset(ud, 0xAB, sizeof ud);
    uint64_t uf = 77;

    slc_rebuild *r = rebuild_range(f->path, 1000, 50, 600, 2);
    assert_int_equal(slc_rebuild_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(count_dir(f->dir, ".tmp."), 1);
    /* Before publication the path is the old file. */
    cu_expect_get(c, KS, IS, 10, 1);
    slc_cache *c2 = open_or_die(f->path, &o);
    assert_int_equal(capacity_of(c2), 200);
    assert_int_equal(slc_close(c2), SLC_OK);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_put(r, "0123456789abcdef", KS, 1, ud, IS),
                     SLC_ECLOSED);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_ECLOSED);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_int_equal(count_dir(f->dir, ".tmp."), 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* The old handle learns it was replaced, and follows the path. */
    uint64_t n;
    assert_int_equal(slc_len(c, &n), SLC_EINVALIDATED);
    assert_non_null(strstr(slc_errdetail(), "reopen"));
    assert_int_equal(slc_reopen(c), SLC_OK);
    assert_int_equal(capacity_of(c), 1000);
    assert_int_equal(slc_len(c, &n), SLC_OK);
    assert_int_equal(n, 550);
    cu_expect_absent(c, KS, 10);
    cu_expect_get(c, KS, IS, 50, 2);
    cu_expect_get(c, KS, IS, 599, 2);
    uint64_t got_uf = 0;
    uint8_t got_ud[64];
    assert_int_equal(slc_user_header(c, &got_uf, got_ud), SLC_OK);
    assert_int_equal(got_uf, 77);
    assert_memory_equal(got_ud, ud, 64);
    assert_int_equal(slc_verify(c), SLC_OK);
    /* Current already: no change. Writers work on the new file. */
    assert_int_equal(slc_reopen(c), SLC_OK);
    fill(c, 600, 610, 3);
    cu_expect_get(c, KS, IS, 605, 3);
    /* Reopen refuses while a writer of the handle is alive. */
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_reopen(c), SLC_EBUSY);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A rebuild can also create the path. */
    unlink(f->path);
    r = rebuild_range(f->path, 10, 0, 5, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    o.slot_capacity = 0;
    c = open_or_die(f->path, &o);
    cu_expect_get(c, KS, IS, 4, 1);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Publication waits for an ordinary session on the path (the lock file
 * outlives the rename) and ordinary sessions wait for a publication. */
static void rebuild_excludes_sessions(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 200, 1, 0);
    slc_cache *c = open_or_die(f->path, &o);
    fill(c, 0, 10, 1);
    slc_rebuild *r = rebuild_range(f->path, 300, 0, 20, 2);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_EBUSY);
    assert_int_equal(slc_rebuild_publish(r, 20), SLC_EBUSY);
    holder h = {w, 30};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &h), 0);
    assert_int_equal(slc_rebuild_publish(r, SLC_WAIT_FOREVER), SLC_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    /* The old handle's writers see the invalidation. */
    assert_int_equal(slc_begin_write(c, &w), SLC_EINVALIDATED);
    assert_int_equal(slc_reopen(c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(access(f->lock, F_OK), 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Temporaries of crashed rebuilds are removed by the next rebuild, never
 * those of a live one, never other names; none trips an open. */
static void rebuild_removes_stale(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 50, 1, 0);
    slc_cache *c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);
    char *stale = t_join(f->dir, "cache.slc.tmp.0123456789abcdef");
    char *other = t_join(f->dir, "cache.slc.tmp.keep-me");
    char *foreign = t_join(f->dir, "other.slc.tmp.0123456789abcdef");
    assert_int_equal(t_write_file(stale, "junk", 4), 0);
    assert_int_equal(t_write_file(other, "junk", 4), 0);
    assert_int_equal(t_write_file(foreign, "junk", 4), 0);
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_close(c), SLC_OK);
    slc_rebuild *live = rebuild_range(f->path, 50, 0, 3, 1);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(access(foreign, F_OK), 0);
    /* A second rebuild keeps the live one's temporary. */
    slc_rebuild *second = rebuild_range(f->path, 60, 0, 4, 1);
    assert_int_equal(count_dir(f->dir, "cache.slc.tmp."), 3);
    assert_int_equal(slc_rebuild_close(second), SLC_OK); /* abandoned */
    assert_int_equal(count_dir(f->dir, "cache.slc.tmp."), 2);
    assert_int_equal(slc_rebuild_publish(live, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(live), SLC_OK);
    assert_int_equal(count_dir(f->dir, "cache.slc.tmp."), 1);
    o.slot_capacity = 0;
    c = open_or_die(f->path, &o);
    cu_expect_get(c, KS, IS, 2, 1);
    assert_int_equal(slc_close(c), SLC_OK);
    free(stale);
    free(other);
    free(foreign);
}

/* More puts than one session may hold: the rebuild rolls sessions. */
static void rebuild_beyond_session_limit(void **state)
{
    fx *f = *state;
    uint64_t n = SLC_MAX_SESSION_OPS + 1000;
    slc_rebuild *r = rebuild_range(f->path, n, 0, n, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c = open_or_die(f->path, &o);
    uint64_t len;
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, n);
    cu_expect_get(c, KS, IS, 0, 1);
    cu_expect_get(c, KS, IS, n - 1, 1);
    assert_int_equal(slc_close(c), SLC_OK);
    /* Errors: EFULL ends the rebuild and publishes nothing. */
    r = rebuild_range(f->path, 5, 0, 6, 1);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_EFULL);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_ECLOSED);
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_int_equal(count_dir(f->dir, ".tmp."), 0);
    c = open_or_die(f->path, &o);
    assert_int_equal(slc_len(c, &len), SLC_OK);
    assert_int_equal(len, n);
    assert_int_equal(slc_close(c), SLC_OK);
    slc_rebuild *x = (slc_rebuild *)(uintptr_t)1;
    slc_options bad = cu_opts(KS, IS, 0, 1, 0);
    assert_int_equal(slc_rebuild_begin(f->path, &bad, &x), SLC_EINVAL);
    assert_null(x);
    bad.slot_capacity = 5;
    bad.flags = SLC_READ_ONLY;
    assert_int_equal(slc_rebuild_begin(f->path, &bad, &x), SLC_EINVAL);
    assert_int_equal(slc_rebuild_close(NULL), SLC_OK);
}

/* ---- Opening a path that a rebuild replaces meanwhile -------------------- */

/* One-shot: between finding the file and judging it, slc_open (or
 * slc_read_options) sees a rebuild publish: the new file is renamed over
 * the path, then the one just found is invalidated. */
static const char *swap_from, *swap_to;
static slc_cache *swap_old;
static void swap_hook(const char *path)
{
    (void)path;
    slc__test_open_hook = NULL;
    assert_int_equal(rename(swap_from, swap_to), 0);
    assert_int_equal(slc_invalidate(swap_old), SLC_OK);
}

static slc_cache *one_key(const char *path, uint64_t n, int64_t rev)
{
    slc_options o = cu_opts(KS, IS, 10, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, n, rev), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    return c;
}

static void open_follows_replaced_path(void **state)
{
    fx *f = *state;
    char *next = t_join(f->dir, "next.slc");
    for (int reader = 0; reader < 2; reader++) {
        slc_cache *old = one_key(f->path, 1, 1);
        assert_int_equal(slc_close(one_key(next, 2, 2)), SLC_OK);
        swap_from = next;
        swap_to = f->path;
        swap_old = old;
        slc__test_open_hook = swap_hook;
        slc_options o = cu_opts(KS, IS, 0, 1, 0);
        if (reader == 0) {
            slc_cache *c = NULL;
            assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
            cu_expect_get(c, KS, IS, 2, 2); /* the new file */
            assert_int_equal(slc_close(c), SLC_OK);
        } else {
            slc_options got;
            assert_int_equal(slc_read_options(f->path, &got), SLC_OK);
            assert_int_equal(got.key_size, KS);
        }
        assert_null(slc__test_open_hook); /* the swap did happen */
        assert_int_equal(slc_close(old), SLC_OK);
        unlink(f->path);
    }
    /* An invalidated file still at the path is the path's verdict. */
    slc_cache *old = one_key(f->path, 1, 1);
    assert_int_equal(slc_invalidate(old), SLC_OK);
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVALIDATED);
    assert_int_equal(slc_close(old), SLC_OK);
    free(next);
}

/* ---- main -------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(capacity_at_least),
        T(counting),
        T(counting_big_slots),
        T(replace_all),
        T(begin_write_timeout),
        T(rebuild_and_reopen),
        T(rebuild_excludes_sessions),
        T(rebuild_removes_stale),
        T(rebuild_beyond_session_limit),
        T(open_follows_replaced_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
