/* Consumer round trip. Written against the public header only, as any
 * application would be; each step checks the exact status and data. */
#define _POSIX_C_SOURCE 200809L
#include <slotcache.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roundtrip.h"

#define KEYS 10

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s (detail: %s)\n",          \
                    __FILE__, __LINE__, #cond, slc_errdetail());               \
            goto fail;                                                         \
        }                                                                      \
    } while (0)

static void make_key(uint8_t key[16], unsigned i)
{
    memset(key, 0, 16);
    snprintf((char *)key, 16, "key-%04u", i);
}

static int count_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(uint64_t *)ctx;
    return 0;
}

/* Every live key must read back with its revision and index bytes. */
static int check_contents(slc_cache *c, unsigned deleted)
{
    uint8_t key[16], index[8];
    int64_t rev;
    for (unsigned i = 0; i < KEYS; i++) {
        make_key(key, i);
        int rc = slc_get(c, key, sizeof key, &rev, index, sizeof index);
        if (i == deleted) {
            if (rc != SLC_NOTFOUND)
                return 1;
            continue;
        }
        uint64_t want = 0x0101010101010101u * i;
        if (rc != SLC_OK || rev != (int64_t)i * 1000 ||
            memcmp(index, &want, sizeof index) != 0)
            return 1;
    }
    uint64_t n = 0, live = 0;
    if (slc_scan(c, NULL, count_visit, &n) != SLC_OK ||
        slc_len(c, &live) != SLC_OK)
        return 1;
    uint64_t expect = deleted < KEYS ? KEYS - 1 : KEYS;
    return n == expect && live == expect ? 0 : 1;
}

int consumer_roundtrip(const char *tmpdir)
{
    char dir[4096] = "", path[4200] = "", lock[4300] = "";
    slc_cache *c = NULL;
    slc_writer *w = NULL;
    uint8_t key[16], udata[64], got_data[64];
    uint64_t gen = 0, flags = 0;
    int made_dir = 0;

    if (!tmpdir)
        tmpdir = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/slc-consumer-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    made_dir = 1;
    snprintf(path, sizeof path, "%s/roundtrip.slc", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);

    /* The header's version macros and the linked library must agree. */
    char want_version[32];
    snprintf(want_version, sizeof want_version, "%d.%d.%d", SLC_VERSION_MAJOR,
             SLC_VERSION_MINOR, SLC_VERSION_PATCH);
    CHECK(strcmp(slc_version(), want_version) == 0);
    CHECK(strcmp(slc_strerror(SLC_EBUSY), "") != 0);

    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = 16;
    o.index_size = 8;
    o.user_version = 7;
    o.slot_capacity = 64;

    /* Create and fill. */
    CHECK(slc_open(path, &o, &c) == SLC_OK);
    CHECK(slc_generation(c, &gen) == SLC_OK && gen == 0);
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    for (unsigned i = 0; i < KEYS; i++) {
        uint64_t idx = 0x0101010101010101u * i;
        make_key(key, i);
        CHECK(slc_put(w, key, sizeof key, (int64_t)i * 1000, &idx,
                      sizeof idx) == SLC_OK);
    }
    memset(udata, 0xA5, sizeof udata);
    CHECK(slc_set_user_flags(w, 0x1234) == SLC_OK);
    CHECK(slc_set_user_data(w, udata) == SLC_OK);
    CHECK(slc_commit(w) == SLC_OK);
    CHECK(slc_writer_close(w) == SLC_OK);
    w = NULL;
    CHECK(slc_generation(c, &gen) == SLC_OK && gen == 2);
    CHECK(check_contents(c, KEYS) == 0);
    CHECK(slc_verify(c) == SLC_OK);
    CHECK(slc_close(c) == SLC_OK);
    c = NULL;

    /* Reopen without knowing the capacity; everything is still there. */
    slc_options ro;
    CHECK(slc_read_options(path, &ro) == SLC_OK);
    CHECK(ro.key_size == 16 && ro.index_size == 8 && ro.user_version == 7 &&
          ro.slot_capacity == 64 && ro.flags == 0);
    o.slot_capacity = 0;
    CHECK(slc_open(path, &o, &c) == SLC_OK);
    CHECK(check_contents(c, KEYS) == 0);
    CHECK(slc_user_header(c, &flags, got_data) == SLC_OK);
    CHECK(flags == 0x1234 && memcmp(got_data, udata, sizeof udata) == 0);

    /* Delete one key, reopen, and see exactly that change. */
    int existed = 0;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    make_key(key, 3);
    CHECK(slc_delete(w, key, sizeof key, &existed) == SLC_OK && existed == 1);
    CHECK(slc_commit(w) == SLC_OK);
    CHECK(slc_writer_close(w) == SLC_OK);
    w = NULL;
    CHECK(slc_close(c) == SLC_OK);
    c = NULL;
    CHECK(slc_open(path, &o, &c) == SLC_OK);
    CHECK(slc_generation(c, &gen) == SLC_OK && gen == 4);
    CHECK(check_contents(c, 3) == 0);

    /* A different schema version is refused, not misread. */
    slc_cache *other = NULL;
    o.user_version = 8;
    CHECK(slc_open(path, &o, &other) == SLC_EINCOMPATIBLE && other == NULL);
    CHECK(slc_close(c) == SLC_OK);
    c = NULL;

    unlink(path);
    unlink(lock);
    rmdir(dir);
    return 0;

fail:
    slc_writer_close(w);
    slc_close(c);
    if (made_dir) {
        unlink(path);
        unlink(lock);
        rmdir(dir);
    }
    return 1;
}
