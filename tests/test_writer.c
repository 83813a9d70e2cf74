/* Writer semantics: writer lifecycle, staging and coalescing (SLC1 8.2,
 * 8.3), capacity and ordered-mode checks (8.7, 8.8), user-header staging
 * (8.6), rehash (5.6), and isolation of staged writes (7.4). Argument
 * validation of the writer calls is in test_api.c. */
#include "core_helpers.h"

#include <limits.h>
#include <pthread.h>

enum { KS = 16, IS = 8 };

static uint64_t gen_of(slc_cache *c)
{
    uint64_t g = 1;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    return g;
}

static slc_stat stat_of(slc_cache *c)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    return st;
}

/* Slot id of key n per a full scan; UINT64_MAX when not live. */
static uint64_t slot_of(slc_cache *c, uint64_t n)
{
    uint8_t k[KS];
    cu_key(k, KS, n);
    cu_seen *s = cu_scan_all(c, KS);
    uint64_t id = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->key[i], k, KS) == 0)
            id = s->id[i];
    free(s);
    return id;
}

/* ---- Writer lifecycle --------------------------------------------------- */

static void expect_ended(slc_writer *w)
{
    uint8_t k[KS] = {1}, ix[IS] = {2}, data[64] = {3};
    int existed = -1;
    assert_int_equal(slc_put(w, k, KS, 1, ix, IS), SLC_ECLOSED);
    assert_int_equal(slc_delete(w, k, KS, &existed), SLC_ECLOSED);
    assert_int_equal(existed, -1);
    assert_int_equal(slc_set_user_flags(w, 1), SLC_ECLOSED);
    assert_int_equal(slc_set_user_data(w, data), SLC_ECLOSED);
    assert_int_equal(slc_commit(w), SLC_ECLOSED);
    assert_int_equal(slc_commit(w), SLC_ECLOSED);
    /* Every call but slc_writer_close, whatever its other arguments. */
    assert_int_equal(slc_put(w, NULL, KS, 1, ix, IS), SLC_ECLOSED);
    assert_int_equal(slc_put(w, k, KS + 1, 1, ix, IS - 1), SLC_ECLOSED);
    assert_int_equal(slc_delete(w, NULL, 0, NULL), SLC_ECLOSED);
    assert_int_equal(slc_set_user_data(w, NULL), SLC_ECLOSED);
}

static void writer_lifecycle(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 4, 0);
    slc_cache *c2 = cu_open(f->path, KS, IS, 4, 0);
    slc_writer *w = NULL, *w2 = (slc_writer *)(uintptr_t)1;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    /* One writer per file: same handle, another handle. */
    assert_int_equal(slc_begin_write(c, &w2), SLC_EBUSY);
    assert_null(w2);
    assert_int_equal(slc_begin_write(c2, &w2), SLC_EBUSY);
    /* slc_close refuses while the writer is not freed. */
    assert_int_equal(slc_close(c), SLC_EBUSY);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    expect_ended(w);
    /* The session is over: others may write, but c still has w. */
    assert_int_equal(slc_close(c), SLC_EBUSY);
    assert_int_equal(slc_begin_write(c2, &w2), SLC_OK);
    assert_int_equal(slc_writer_close(w2), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    /* A failed commit ends the session too. */
    c = cu_open(f->path, KS, IS, 4, 0);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t i = 10; i < 14; i++)
        assert_int_equal(cu_put(w, KS, IS, i, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    expect_ended(w);
    assert_int_equal(slc_close(c), SLC_EBUSY);
    assert_int_equal(slc_begin_write(c, &w2), SLC_OK); /* lock released */
    assert_int_equal(slc_commit(w2), SLC_OK);
    assert_int_equal(slc_writer_close(w2), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    /* Close without commit releases too. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_begin_write(c2, &w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(slc_close(c2), SLC_OK);
}

static void delete_existed(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 2, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);

    uint8_t k1[KS], k2[KS], k3[KS], k4[KS];
    cu_key(k1, KS, 1);
    cu_key(k2, KS, 2);
    cu_key(k3, KS, 3);
    cu_key(k4, KS, 4);
    int e = -1;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_delete(w, k1, KS, &e), SLC_OK); /* live */
    assert_int_equal(e, 1);
    assert_int_equal(slc_delete(w, k1, KS, &e), SLC_OK); /* deleted twice */
    assert_int_equal(e, 0);
    assert_int_equal(slc_delete(w, k3, KS, &e), SLC_OK); /* absent */
    assert_int_equal(e, 0);
    assert_int_equal(cu_put(w, KS, IS, 4, 1), SLC_OK); /* put, then delete */
    assert_int_equal(slc_delete(w, k4, KS, &e), SLC_OK);
    assert_int_equal(e, 1);
    assert_int_equal(slc_delete(w, k4, KS, &e), SLC_OK);
    assert_int_equal(e, 0);
    assert_int_equal(cu_put(w, KS, IS, 1, 7), SLC_OK); /* deleted, put back */
    assert_int_equal(slc_delete(w, k1, KS, &e), SLC_OK);
    assert_int_equal(e, 1);
    assert_int_equal(slc_delete(w, k2, KS, NULL), SLC_OK);
    assert_int_equal(slc_delete(w, k2, KS, &e), SLC_OK);
    assert_int_equal(e, 0);
    /* Nothing staged is visible before the commit. */
    cu_expect_get(c, KS, IS, 1, 1);
    cu_expect_get(c, KS, IS, 2, 1);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(cu_len(c), 0);
    for (uint64_t n = 1; n <= 4; n++)
        cu_expect_absent(c, KS, n);
    slc_stat st = stat_of(c);
    assert_int_equal(st.slot_highwater, 2); /* key 4 never reached the file */
    assert_int_equal(slc_close(c), SLC_OK);
}

/* SLC1 8.3: the net operation per key against the file. */
static void coalescing(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 4; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint64_t id1 = slot_of(c, 1), id2 = slot_of(c, 2);
    assert_int_equal(id1, 1);
    assert_int_equal(id2, 2);

    uint8_t k[KS];
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    cu_key(k, KS, 1); /* live: delete then put = update in place */
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 11), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 2, 12), SLC_OK); /* live put: update */
    cu_key(k, KS, 3); /* live delete */
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    cu_key(k, KS, 8); /* absent delete: nothing */
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    cu_key(k, KS, 9); /* absent put then delete: nothing */
    assert_int_equal(cu_put(w, KS, IS, 9, 1), SLC_OK);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    slc_stat st = stat_of(c);
    assert_int_equal(st.slot_highwater, 4);
    assert_int_equal(st.live_count, 3);
    assert_int_equal(slot_of(c, 1), id1);
    assert_int_equal(slot_of(c, 2), id2);
    cu_expect_get(c, KS, IS, 1, 11);
    cu_expect_get(c, KS, IS, 2, 12);
    cu_expect_absent(c, KS, 3);
    cu_expect_absent(c, KS, 8);
    cu_expect_absent(c, KS, 9);

    /* Absent put: insert at slot_highwater, in the order each key was last
     * staged (put 5, put 6, put 7, put 5 -> 6, 7, 5). */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 5, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 6, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 7, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 5, 2), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slot_of(c, 6), 4);
    assert_int_equal(slot_of(c, 7), 5);
    assert_int_equal(slot_of(c, 5), 6);
    cu_expect_get(c, KS, IS, 5, 2);
    /* A deleted key put back is a new insert (ids are never reused). */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 3, 33), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slot_of(c, 3), 7);
    assert_int_equal(stat_of(c).slot_highwater, 8);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void empty_commit_advances_generation(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    assert_int_equal(gen_of(c), 0);
    char *before = t_read_file(f->path, NULL);
    for (uint64_t i = 1; i <= 3; i++) {
        slc_writer *w;
        assert_int_equal(slc_begin_write(c, &w), SLC_OK);
        assert_int_equal(slc_commit(w), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(gen_of(c), 2 * i);
    }
    /* Only the generation changed; the CRC excludes it. */
    size_t len;
    char *after = t_read_file(f->path, &len);
    assert_int_equal(slc__le64((uint8_t *)after + SLC__OFF_GENERATION), 6);
    memset(after + SLC__OFF_GENERATION, 0, 8);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
    /* An abandoned session publishes nothing. */
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(gen_of(c), 6);
    assert_int_equal(cu_len(c), 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void session_call_limit(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    uint8_t a[KS], b[KS], x[KS], ix[IS] = {1, 2, 3, 4, 5, 6, 7, 8};
    cu_key(a, KS, 1);
    cu_key(b, KS, 2);
    cu_key(x, KS, 3);
    /* 1,000,000 calls: a is put, b alternately put and deleted. */
    for (uint32_t i = 0; i < SLC_MAX_SESSION_OPS / 2; i++) {
        assert_int_equal(slc_put(w, a, KS, (int64_t)i, ix, IS), SLC_OK);
        if (i % 2 == 0)
            assert_int_equal(slc_put(w, b, KS, (int64_t)i, ix, IS), SLC_OK);
        else
            assert_int_equal(slc_delete(w, b, KS, NULL), SLC_OK);
    }
    /* The next one of either kind is refused and stages nothing. */
    int e = -1;
    assert_int_equal(slc_put(w, x, KS, 1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_delete(w, a, KS, &e), SLC_EINVAL);
    assert_int_equal(e, -1);
    assert_int_equal(slc_put(w, a, KS, -1, ix, IS), SLC_EINVAL);
    assert_int_equal(slc_set_user_flags(w, 5), SLC_OK); /* not counted */
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    int64_t rev = 0;
    assert_int_equal(slc_get(c, a, KS, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, SLC_MAX_SESSION_OPS / 2 - 1);
    assert_int_equal(slc_get(c, b, KS, &rev, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(slc_get(c, x, KS, &rev, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(cu_len(c), 1);
    assert_int_equal(gen_of(c), 2);
    uint64_t uf = 0;
    assert_int_equal(slc_user_header(c, &uf, NULL), SLC_OK);
    assert_int_equal(uf, 5);
    /* The count is per session. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_put(w, x, KS, 1, ix, IS), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(cu_len(c), 2);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- Capacity and order (8.7, 8.8, 16.9) -------------------------------- */

static void efull_publishes_nothing(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 4, 0);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 3; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    uint8_t data[64];
    memset(data, 0x3C, sizeof data);
    assert_int_equal(slc_set_user_flags(w, 0x1111), SLC_OK);
    assert_int_equal(slc_set_user_data(w, data), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    size_t len;
    char *before = t_read_file(f->path, &len);
    uint64_t g = gen_of(c);

    /* Two new keys with one slot free, plus an update, a delete and user
     * header changes: all or nothing. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 0, 50), SLC_OK);
    uint8_t k[KS];
    cu_key(k, KS, 1);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 10, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 11, 1), SLC_OK);
    memset(data, 0x77, sizeof data);
    assert_int_equal(slc_set_user_flags(w, 0x2222), SLC_OK);
    assert_int_equal(slc_set_user_data(w, data), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(gen_of(c), g);
    char *after = t_read_file(f->path, NULL);
    assert_memory_equal(before, after, len);
    free(after);
    free(before);
    uint64_t uf;
    uint8_t ud[64];
    assert_int_equal(slc_user_header(c, &uf, ud), SLC_OK);
    assert_int_equal(uf, 0x1111);
    memset(data, 0x3C, sizeof data);
    assert_memory_equal(ud, data, 64);
    cu_expect_get(c, KS, IS, 0, 1);
    cu_expect_get(c, KS, IS, 1, 1);
    cu_expect_absent(c, KS, 10);

    /* Exactly the free slot is fine. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 10, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    /* Full now: updates and deletes still work, inserts do not. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 10, 2), SLC_OK);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK); /* deleted: insert */
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(cu_len(c), 3);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static slc_cache *open3(const char *path, uint64_t cap)
{
    slc_options o = cu_opts(3, 0, cap, 1, SLC_ORDERED_KEYS);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    return c;
}

/* Stage puts and deletes of 3-byte keys ("+key" / "-key"), commit. */
static int session3(slc_cache *c, const char *const *ops, size_t n)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (size_t i = 0; i < n; i++) {
        if (ops[i][0] == '+')
            assert_int_equal(slc_put(w, ops[i] + 1, 3, (int64_t)i, NULL, 0),
                             SLC_OK);
        else
            assert_int_equal(slc_delete(w, ops[i] + 1, 3, NULL), SLC_OK);
    }
    int rc = slc_commit(w);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    return rc;
}

static void ordered_spec_example(void **state)
{
    fx *f = *state;
    slc_cache *c = open3(f->path, 10);
    const char *s1[] = {"+bbb", "+ccc"};
    assert_int_equal(session3(c, s1, 2), SLC_OK);
    const char *s2[] = {"-bbb"};
    assert_int_equal(session3(c, s2, 1), SLC_OK);
    uint64_t g = gen_of(c);
    const char *aaa[] = {"+aaa"};
    assert_int_equal(session3(c, aaa, 1), SLC_EOUTOFORDER);
    const char *bbb[] = {"+bbb"};
    assert_int_equal(session3(c, bbb, 1), SLC_EOUTOFORDER);
    assert_int_equal(gen_of(c), g);
    const char *ddd[] = {"+ddd"};
    assert_int_equal(session3(c, ddd, 1), SLC_OK);
    cu_seen *s = cu_scan_all(c, 3);
    assert_int_equal(s->n, 2);
    assert_memory_equal(s->key[0], "ccc", 3);
    assert_int_equal(s->id[0], 1);
    assert_memory_equal(s->key[1], "ddd", 3);
    assert_int_equal(s->id[1], 2);
    free(s);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void ordered_tail_rules(void **state)
{
    fx *f = *state;
    slc_cache *c = open3(f->path, 10);
    const char *s1[] = {"+aaa", "+ccc", "+eee"};
    assert_int_equal(session3(c, s1, 3), SLC_OK);
    /* Tombstone tail still counts. */
    const char *s2[] = {"-eee"};
    assert_int_equal(session3(c, s2, 1), SLC_OK);
    const char *below[] = {"+ddd"};
    assert_int_equal(session3(c, below, 1), SLC_EOUTOFORDER);
    /* Even with nothing live. */
    const char *s3[] = {"-aaa", "-ccc"};
    assert_int_equal(session3(c, s3, 2), SLC_OK);
    assert_int_equal(cu_len(c), 0);
    assert_int_equal(session3(c, below, 1), SLC_EOUTOFORDER);
    /* Equal to the (deleted) tail key is allowed. */
    const char *eq[] = {"+eee"};
    assert_int_equal(session3(c, eq, 1), SLC_OK);
    assert_int_equal(stat_of(c).slot_highwater, 4);
    /* Inserts of one session are sorted; one low key fails them all. */
    const char *mixed[] = {"+ggg", "+fff", "+eef"};
    assert_int_equal(session3(c, mixed, 3), SLC_OK);
    const char *bad[] = {"+zzz", "+yyy", "+eed"};
    assert_int_equal(session3(c, bad, 3), SLC_EOUTOFORDER);
    /* Updates and delete-then-put of a live key below the tail are
     * updates: no order check. */
    const char *upd[] = {"+eee", "-eef", "+eef"};
    assert_int_equal(session3(c, upd, 3), SLC_OK);
    cu_seen *s = cu_scan_all(c, 3);
    static const char *want[] = {"eee", "eef", "fff", "ggg"};
    assert_int_equal(s->n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_memory_equal(s->key[i], want[i], 3);
        assert_int_equal(s->id[i], 3 + i);
    }
    assert_int_equal(s->rev[0], 0);
    assert_int_equal(s->rev[1], 2);
    free(s);
    assert_int_equal(stat_of(c).slot_highwater, 7);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void efull_before_outoforder(void **state)
{
    fx *f = *state;
    slc_cache *c = open3(f->path, 4);
    const char *s1[] = {"+mmm", "+nnn", "+ooo"};
    assert_int_equal(session3(c, s1, 3), SLC_OK);
    /* Two inserts below the tail, one slot free: capacity decides. */
    const char *both[] = {"+aaa", "+bbb"};
    assert_int_equal(session3(c, both, 2), SLC_EFULL);
    const char *one[] = {"+aaa"};
    assert_int_equal(session3(c, one, 1), SLC_EOUTOFORDER);
    const char *ok[] = {"+ppp"};
    assert_int_equal(session3(c, ok, 1), SLC_OK);
    assert_int_equal(session3(c, one, 1), SLC_EFULL);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- User header staging (8.6) ----------------------------------------- */

static void user_header_staging(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 2, 0);
    slc_cache *r = cu_open(f->path, KS, IS, 2, 0);
    uint64_t uf = 1;
    uint8_t ud[64], zero[64] = {0}, d1[64], d2[64];
    memset(d1, 0xA1, 64);
    memset(d2, 0xB2, 64);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, 0);
    assert_memory_equal(ud, zero, 64);

    /* Only flags dirty: data keeps its value; last call wins. */
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 5), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 6), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, NULL), SLC_OK);
    assert_int_equal(uf, 0); /* not before the commit */
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, 6);
    assert_memory_equal(ud, zero, 64);

    /* Only data dirty: flags keep theirs. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_user_data(w, d2), SLC_OK);
    assert_int_equal(slc_set_user_data(w, d1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, 6);
    assert_memory_equal(ud, d1, 64);

    /* Both, with data: published together. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, UINT64_MAX), SLC_OK);
    assert_int_equal(slc_set_user_data(w, d2), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, 6);
    assert_memory_equal(ud, d1, 64);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, UINT64_MAX);
    assert_memory_equal(ud, d2, 64);

    /* Discarded by close without commit. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 9), SLC_OK);
    assert_int_equal(slc_set_user_data(w, d1), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    /* Discarded by a failed commit (2 inserts, 1 slot free). */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 10), SLC_OK);
    assert_int_equal(slc_set_user_data(w, d1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 2, 1), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 3, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_EFULL);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    /* A later session does not inherit them either. */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_user_header(r, &uf, ud), SLC_OK);
    assert_int_equal(uf, UINT64_MAX);
    assert_memory_equal(ud, d2, 64);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(slc_close(r), SLC_OK);

    /* Stored under the CRC: the file reopens with the same values. */
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(slc_user_header(c, &uf, ud), SLC_OK);
    assert_int_equal(uf, UINT64_MAX);
    assert_memory_equal(ud, d2, 64);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(cu_get64(f->path, SLC__OFF_USER_FLAGS), UINT64_MAX);
}

/* ---- Rehash (5.6) -------------------------------------------------------- */

static void delete_keys(slc_cache *c, uint64_t from, uint64_t to)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = from; n < to; n++) {
        uint8_t k[KS];
        int e = -1;
        cu_key(k, KS, n);
        assert_int_equal(slc_delete(w, k, KS, &e), SLC_OK);
        assert_int_equal(e, 1);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

static void rehash_clears_tombstones(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 64, 0); /* 128 buckets */
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 60; n++)
        assert_int_equal(cu_put(w, KS, IS, n, (int64_t)n), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    slc_stat st = stat_of(c);
    assert_int_equal(st.bucket_count, 128);
    assert_int_equal(st.bucket_used, 60);
    assert_int_equal(st.bucket_tombstones, 0);

    /* 32 tombstones: 4 * 32 = 128 is not above 128, no rehash. */
    delete_keys(c, 0, 20);
    st = stat_of(c);
    assert_int_equal(st.bucket_tombstones, 20);
    assert_int_equal(st.bucket_used, 40);
    delete_keys(c, 20, 32);
    st = stat_of(c);
    assert_int_equal(st.bucket_tombstones, 32);
    assert_int_equal(st.bucket_used, 28);
    assert_int_equal(slc_verify(c), SLC_OK);
    /* One more: rebuilt. */
    delete_keys(c, 32, 33);
    st = stat_of(c);
    assert_int_equal(st.bucket_tombstones, 0);
    assert_int_equal(st.bucket_used, 27);
    assert_int_equal(st.live_count, 27);
    assert_int_equal(st.slot_highwater, 60);
    for (uint64_t n = 0; n < 60; n++) {
        if (n < 33)
            cu_expect_absent(c, KS, n);
        else
            cu_expect_get(c, KS, IS, n, (int64_t)n);
    }
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    /* Rehashed in one session that also updates and inserts: 40 deletes
     * leave more than 32 tombstones even if the inserts reuse some. */
    char *p2 = t_join(f->dir, "one.slc");
    c = cu_open(p2, KS, IS, 64, 0);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 50; n++)
        assert_int_equal(cu_put(w, KS, IS, n, (int64_t)n), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 40; n++) {
        uint8_t k[KS];
        cu_key(k, KS, n);
        assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    }
    for (uint64_t n = 45; n < 50; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1000 + (int64_t)n), SLC_OK);
    for (uint64_t n = 100; n < 104; n++)
        assert_int_equal(cu_put(w, KS, IS, n, (int64_t)n), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    st = stat_of(c);
    assert_int_equal(st.bucket_tombstones, 0);
    assert_int_equal(st.live_count, 14);
    assert_int_equal(st.bucket_used, 14);
    assert_int_equal(st.slot_highwater, 54);
    for (uint64_t n = 0; n < 50; n++) {
        if (n < 40)
            cu_expect_absent(c, KS, n);
        else
            cu_expect_get(c, KS, IS, n, n < 45 ? (int64_t)n : 1000 + (int64_t)n);
    }
    for (uint64_t n = 100; n < 104; n++)
        cu_expect_get(c, KS, IS, n, (int64_t)n);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    free(p2);
}

/* ---- Isolation of staged writes (7.4) ----------------------------------- */

static void reads_during_session(void **state)
{
    fx *f = *state;
    slc_cache *c = cu_open(f->path, KS, IS, 10, 0);
    slc_cache *r = cu_open(f->path, KS, IS, 10, 0);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 3; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 3), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);

    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 0, 2), SLC_OK);
    uint8_t k[KS];
    cu_key(k, KS, 1);
    assert_int_equal(slc_delete(w, k, KS, NULL), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 5, 1), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 4), SLC_OK);
    slc_cache *both[2] = {c, r};
    for (int i = 0; i < 2; i++) {
        slc_cache *x = both[i];
        assert_int_equal(gen_of(x), 2);
        assert_int_equal(cu_len(x), 3);
        cu_expect_get(x, KS, IS, 0, 1);
        cu_expect_get(x, KS, IS, 1, 1);
        cu_expect_absent(x, KS, 5);
        uint64_t uf;
        assert_int_equal(slc_user_header(x, &uf, NULL), SLC_OK);
        assert_int_equal(uf, 3);
        cu_seen *s = cu_scan_all(x, KS);
        assert_int_equal(s->n, 3);
        free(s);
        assert_int_equal(stat_of(x).slot_highwater, 3);
        assert_int_equal(slc_verify(x), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    for (int i = 0; i < 2; i++) {
        slc_cache *x = both[i];
        assert_int_equal(gen_of(x), 4);
        assert_int_equal(cu_len(x), 3);
        cu_expect_get(x, KS, IS, 0, 2);
        cu_expect_absent(x, KS, 1);
        cu_expect_get(x, KS, IS, 5, 1);
    }
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(slc_close(r), SLC_OK);
}
#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(writer_lifecycle),
        T(delete_existed),
        T(coalescing),
        T(empty_commit_advances_generation),
        T(session_call_limit),
        T(efull_publishes_nothing),
        T(ordered_spec_example),
        T(ordered_tail_rules),
        T(efull_before_outoforder),
        T(user_header_staging),
        T(rehash_clears_tombstones),
        T(reads_during_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
