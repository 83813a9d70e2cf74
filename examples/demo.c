/* demo: libslotcache doing real work, with timings.
 *
 * Creates a cache in a fresh temporary directory, writes 100,000 entries in
 * one session, reads every one back by key, filters them with a scan,
 * resolves a short bit prefix, updates a tenth of them, and reopens the file
 * to show the data persisted. Exits non-zero if any result is wrong. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slotcache.h"

#define ENTRIES 100000u
#define KEY_SIZE 16u
#define INDEX_SIZE 32u

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic 16-byte key for entry i (a mixed 64-bit counter, twice). */
static void make_key(uint32_t i, uint8_t key[KEY_SIZE])
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (int half = 0; half < 2; half++) {
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 27;
        memcpy(key + 8 * half, &x, 8);
    }
}

/* Index bytes: byte 0 is a "tag" (i % 100), bytes 4..7 the entry number. */
static void make_index(uint32_t i, uint8_t index[INDEX_SIZE])
{
    memset(index, 0, INDEX_SIZE);
    index[0] = (uint8_t)(i % 100);
    memcpy(index + 4, &i, 4);
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "demo: %s: %s (%s)\n", what, slc_strerror(rc),
            slc_errdetail());
    exit(1);
}

static int tag_is_7(const slc_entry *e, void *ctx)
{
    (void)ctx;
    return e->index[0] == 7;
}

static int count_entry_any(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(uint64_t *)ctx;
    return 0;
}

static int count_entry(const slc_entry *e, void *ctx)
{
    uint32_t i;
    memcpy(&i, e->index + 4, 4);
    if (e->revision != (int64_t)i || e->index[0] != 7) {
        fprintf(stderr, "demo: scan delivered a wrong entry %u\n", i);
        exit(1);
    }
    ++*(uint64_t *)ctx;
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/slotcache-demo.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/demo.slc", dir);
    printf("libslotcache %s demo: %u entries, %u-byte keys, %u-byte index\n",
           slc_version(), ENTRIES, KEY_SIZE, INDEX_SIZE);
    printf("cache file: %s\n", path);

    slc_options opts = {KEY_SIZE, INDEX_SIZE, 1, ENTRIES + ENTRIES / 4, 0};
    slc_cache *c;
    double t0 = now();
    int rc = slc_open(path, &opts, &c);
    if (rc)
        die("open", rc);
    printf("  create            %8.2f ms\n", (now() - t0) * 1e3);

    uint8_t key[KEY_SIZE], index[INDEX_SIZE];
    slc_writer *w;
    t0 = now();
    if ((rc = slc_begin_write(c, &w)))
        die("begin_write", rc);
    for (uint32_t i = 0; i < ENTRIES; i++) {
        make_key(i, key);
        make_index(i, index);
        if ((rc = slc_put(w, key, KEY_SIZE, (int64_t)i, index, INDEX_SIZE)))
            die("put", rc);
    }
    if ((rc = slc_commit(w)))
        die("commit", rc);
    slc_writer_close(w);
    double dt = now() - t0;
    printf("  write 1 session   %8.2f ms  (%.0f ns/entry)\n", dt * 1e3,
           dt * 1e9 / ENTRIES);

    t0 = now();
    uint64_t hits = 0;
    for (uint32_t i = 0; i < ENTRIES; i++) {
        int64_t rev;
        make_key(i, key);
        if ((rc = slc_get(c, key, KEY_SIZE, &rev, index, INDEX_SIZE)) != SLC_OK)
            die("get", rc);
        uint32_t stored;
        memcpy(&stored, index + 4, 4);
        hits += rev == (int64_t)i && stored == i;
    }
    dt = now() - t0;
    printf("  get every key     %8.2f ms  (%.0f ns/get), %" PRIu64
           " correct\n",
           dt * 1e3, dt * 1e9 / ENTRIES, hits);

    uint64_t tagged = 0;
    slc_scan_opts so = {tag_is_7, NULL, 0, 0, 0};
    t0 = now();
    if ((rc = slc_scan(c, &so, count_entry, &tagged)))
        die("scan", rc);
    dt = now() - t0;
    printf("  scan tag == 7     %8.2f ms  (%.1f ns/slot), %" PRIu64
           " matches\n",
           dt * 1e3, dt * 1e9 / ENTRIES, tagged);

    /* Resolve a "short id": the first 12 bits of entry 42's key. */
    make_key(42, key);
    uint8_t pat[2] = {key[0], (uint8_t)(key[1] & 0xF0)};
    slc_prefix p = {0, 12, pat, 2};
    uint64_t prefixed = 0;
    t0 = now();
    slc_scan_opts all = {NULL, NULL, 0, 0, 0};
    rc = slc_scan_prefix(c, &p, &all, count_entry_any, &prefixed);
    if (rc)
        die("scan_prefix", rc);
    printf("  prefix 12 bits    %8.2f ms, %" PRIu64 " candidates (expect ~%u)\n",
           (now() - t0) * 1e3, prefixed, ENTRIES >> 12);

    t0 = now();
    if ((rc = slc_begin_write(c, &w)))
        die("begin_write", rc);
    for (uint32_t i = 0; i < ENTRIES; i += 10) {
        make_key(i, key);
        make_index(i, index);
        if ((rc = slc_put(w, key, KEY_SIZE, (int64_t)i + 1000000, index,
                          INDEX_SIZE)))
            die("put", rc);
    }
    if ((rc = slc_commit(w)))
        die("commit", rc);
    slc_writer_close(w);
    printf("  update 10%%        %8.2f ms\n", (now() - t0) * 1e3);

    slc_stat st;
    if ((rc = slc_stat_get(c, &st)))
        die("stat", rc);
    slc_close(c);
    if ((rc = slc_open(path, &opts, &c)))
        die("reopen", rc);
    int64_t rev;
    make_key(10, key);
    if ((rc = slc_get(c, key, KEY_SIZE, &rev, NULL, 0)) != SLC_OK ||
        rev != 1000010)
        die("get after reopen", rc ? rc : SLC_ECORRUPT);
    if ((rc = slc_verify(c)))
        die("verify", rc);
    slc_close(c);
    printf("  reopened, verified: live %" PRIu64 ", highwater %" PRIu64
           ", generation %" PRIu64 ", file %" PRIu64 " bytes\n",
           st.live_count, st.slot_highwater, st.generation, st.file_size);

    char lock[sizeof path + 8];
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    rmdir(dir);
    int ok = hits == ENTRIES && tagged == ENTRIES / 100 && prefixed >= 1;
    printf("%s\n", ok ? "demo: all results correct" : "demo: WRONG RESULTS");
    return ok ? 0 : 1;
}
