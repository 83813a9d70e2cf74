/* slc_get_many agrees with slc_get key by key: hits, misses, tombstones,
 * group boundaries, optional outputs, hash collisions and corruption. */
#include "support.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"

#define KEY 16
#define INDEX 12
#define CAP 3000

static void key_of(uint32_t i, uint8_t key[KEY])
{
    memset(key, 0, KEY);
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    memcpy(key, &x, 8);
    memcpy(key + 8, &i, 4);
}

static slc_cache *build(const char *path)
{
    slc_options o = {KEY, INDEX, 0, CAP, 0};
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint32_t i = 0; i < 2000; i++) {
        uint8_t key[KEY], index[INDEX];
        key_of(i, key);
        memset(index, (int)(i & 0xFF), INDEX);
        assert_int_equal(slc_put(w, key, KEY, -(int64_t)i, index, INDEX),
                         SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint32_t i = 0; i < 2000; i += 5) { /* tombstones on probe paths */
        uint8_t key[KEY];
        key_of(i, key);
        assert_int_equal(slc_delete(w, key, KEY, NULL), SLC_OK);
    }
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    return c;
}

static void agrees_with_get(void **state)
{
    (void)state;
    uint64_t rng = t_seed("get_many");
    char *dir = t_tmpdir();
    char *path = t_join(dir, "g.slc");
    slc_cache *c = build(path);
    enum { MAX = 200 };
    uint8_t *keys = malloc(MAX * KEY), *index = malloc(MAX * INDEX);
    int results[MAX];
    int64_t revs[MAX];
    size_t sizes[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 100, MAX};
    size_t hits = 0, misses = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = sizes[t_rand(&rng) % (sizeof sizes / sizeof sizes[0])];
        for (size_t i = 0; i < n; i++)
            key_of((uint32_t)(t_rand(&rng) % 2600), keys + i * KEY);
        int with_rev = t_rand(&rng) % 2, with_index = t_rand(&rng) % 2;
        memset(results, 0x55, sizeof results);
        assert_int_equal(slc_get_many(c, keys, n, KEY, results,
                                      with_rev ? revs : NULL,
                                      with_index ? index : NULL,
                                      with_index ? INDEX : 0),
                         SLC_OK);
        for (size_t i = 0; i < n; i++) {
            int64_t rev;
            uint8_t want[INDEX];
            int rc = slc_get(c, keys + i * KEY, KEY, &rev, want, INDEX);
            assert_int_equal(results[i], rc);
            if (rc == SLC_OK) {
                hits++;
                if (with_rev)
                    assert_int_equal(revs[i], rev);
                if (with_index)
                    assert_memory_equal(index + i * INDEX, want, INDEX);
            } else {
                misses++;
            }
        }
    }
    assert_true(hits > 1000 && misses > 1000);
    /* Argument checks. */
    assert_int_equal(slc_get_many(NULL, keys, 1, KEY, results, NULL, NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(slc_get_many(c, NULL, 1, KEY, results, NULL, NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(slc_get_many(c, keys, 1, KEY, NULL, NULL, NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(slc_get_many(c, keys, 1, KEY - 1, results, NULL, NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(
        slc_get_many(c, keys, 1, KEY, results, NULL, index, INDEX + 1),
        SLC_EINVAL);
    assert_int_equal(slc_get_many(c, keys, SIZE_MAX / 2, KEY, results, NULL,
                                  NULL, 0),
                     SLC_EINVAL);
    free(keys);
    free(index);
    assert_int_equal(slc_close(c), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

/* Patch bucket words of the file behind the library's back. */
static void patch_u64(const char *path, uint64_t off, uint64_t v)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b[8];
    slc__put_le64(b, v);
    assert_int_equal(pwrite(fd, b, 8, (off_t)off), 8);
    close(fd);
}

static uint64_t read_u64(const char *path, uint64_t off)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 8, (off_t)off), 8);
    close(fd);
    return slc__le64(b);
}

/* Find the bucket that holds key i by walking its probe in the file. */
static uint64_t bucket_of(const char *path, slc_cache *c, uint32_t i)
{
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    uint64_t boff = 256 + st.slot_capacity * st.slot_size;
    uint8_t key[KEY];
    key_of(i, key);
    uint64_t h = slc__fnv1a64(key, KEY);
    for (uint64_t j = h & (st.bucket_count - 1);;
         j = (j + 1) & (st.bucket_count - 1))
        if (read_u64(path, boff + 16 * j) == h)
            return boff + 16 * j;
}

static void collisions_and_corruption(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "g.slc");
    slc_cache *c = build(path);
    uint8_t keys[2 * KEY];
    key_of(1, keys);
    key_of(2, keys + KEY);
    int results[2];
    /* Key 2's bucket gets key 1's hash: a lookup of key 1 that meets it
     * first must compare the key and probe on; key 2's own lookups now
     * skip its bucket (a hash mismatch may be skipped). Both calls must
     * agree key by key. */
    uint64_t b1 = bucket_of(path, c, 1), b2 = bucket_of(path, c, 2);
    uint64_t h1 = read_u64(path, b1);
    patch_u64(path, b2, h1);
    assert_int_equal(slc_get_many(c, keys, 2, KEY, results, NULL, NULL, 0),
                     SLC_OK);
    assert_int_equal(results[0], slc_get(c, keys, KEY, NULL, NULL, 0));
    assert_int_equal(results[1], slc_get(c, keys + KEY, KEY, NULL, NULL, 0));
    assert_int_equal(results[0], SLC_OK);
    /* A bucket naming a slot beyond slot_highwater: ECORRUPT, as slc_get. */
    patch_u64(path, b1 + 8, CAP + 1);
    assert_int_equal(slc_get(c, keys, KEY, NULL, NULL, 0), SLC_ECORRUPT);
    assert_int_equal(slc_get_many(c, keys, 2, KEY, results, NULL, NULL, 0),
                     SLC_ECORRUPT);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_get_many(c, keys, 2, KEY, results, NULL, NULL, 0),
                     SLC_EINVALIDATED);
    assert_int_equal(slc_close(c), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

/* n == 0 needs no key buffer (keys NULL is fine) but is still a read: an
 * invalidated cache says so. Every output array is overflow-checked like
 * the keys: with 1-byte keys, n keys fit in memory while n 8-byte index
 * records, revisions or ints cannot. */
static void empty_and_overflow(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "e.slc");
    slc_options o = {1, 8, 0, 10, 0};
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    int results[1];
    int64_t revs[1];
    uint8_t key[1] = {7}, index[8];
    assert_int_equal(slc_get_many(c, NULL, 0, 1, results, NULL, NULL, 0),
                     SLC_OK);
    assert_int_equal(slc_get_many(c, key, 0, 1, results, revs, index, 8),
                     SLC_OK);
    size_t n = SIZE_MAX / 8 + 1; /* n bytes of keys fit; n * 8 does not */
    assert_int_equal(slc_get_many(c, key, n, 1, results, NULL, index, 8),
                     SLC_EINVAL);
    assert_int_equal(slc_get_many(c, key, n, 1, results, revs, NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(slc_get_many(c, key, SIZE_MAX / 2, 1, results, NULL,
                                  NULL, 0),
                     SLC_EINVAL);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_get_many(c, NULL, 0, 1, results, NULL, NULL, 0),
                     SLC_EINVALIDATED);
    assert_int_equal(slc_close(c), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_get),
        cmocka_unit_test(collisions_and_corruption),
        cmocka_unit_test(empty_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
