/* tinycdb driver. A cdb is written once and never updated, so it takes
 * part in W1 (cdb_make over the same records), W3, W4 and a W5-like full
 * iteration (cdb_seqnext with the same predicate); W2, W6 and W7 do not
 * apply. Reads go through the library's mmap (cdb_init); the value is
 * revision then index bytes, copied out with cdb_read as slc_get copies. */
#define _GNU_SOURCE
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static const char *SYS = "tinycdb";

BHOT void hot_load(struct cdb_make *m, const brec *r,
                                        uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (cdb_make_add(m, r[i].key, B_KEY, &r[i].rev, B_VALUE) < 0)
            bdie("cdb_make_add: %s", strerror(errno));
}

BHOT uint64_t hot_get_hit(struct cdb *db,
                                               const uint8_t *keys,
                                               uint64_t count)
{
    uint64_t sum = 0;
    uint8_t v[B_VALUE];
    for (uint64_t i = 0; i < count; i++) {
        if (cdb_find(db, keys + i * B_KEY, B_KEY) <= 0 ||
            cdb_datalen(db) != B_VALUE)
            bdie("W3 get %llu failed", (unsigned long long)i);
        cdb_read(db, v, B_VALUE, cdb_datapos(db));
        int64_t rev;
        memcpy(&rev, v, 8);
        sum += bfold(rev, v + 8);
    }
    return sum;
}

BHOT uint64_t hot_get_miss(struct cdb *db,
                                                const uint8_t *keys,
                                                uint64_t count)
{
    uint64_t misses = 0;
    for (uint64_t i = 0; i < count; i++)
        misses += cdb_find(db, keys + i * B_KEY, B_KEY) == 0;
    return misses;
}

BHOT uint64_t hot_iter(struct cdb *db, uint64_t *entries)
{
    unsigned pos;
    uint64_t count = 0, sum = 0, seen = 0;
    cdb_seqinit(&pos, db);
    while (cdb_seqnext(&pos, db) > 0) {
        seen++;
        const uint8_t *d = cdb_get(db, cdb_datalen(db), cdb_datapos(db));
        if (d && bpred(d + 8)) {
            int64_t rev;
            uint8_t idx[B_INDEX];
            memcpy(&rev, d, 8);
            memcpy(idx, d + 8, B_INDEX);
            count++;
            sum += bfold(rev, idx);
        }
    }
    *entries = seen;
    return count + sum;
}

int main(int argc, char **argv)
{
    bconf c;
    bconf_parse(&c, argc, argv);
    char *dir = bsysdir(&c, SYS);
    char *path = bpath(dir, "bench.cdb");

    /* W1: build the whole file (cdb_make writes through stdio-like
     * buffers, then the hash tables at finish; no fsync, like the others). */
    brec *r = brecs_load(c.n);
    double t0 = bnow();
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        bdie("open %s: %s", path, strerror(errno));
    struct cdb_make m;
    if (cdb_make_start(&m, fd) < 0)
        bdie("cdb_make_start: %s", strerror(errno));
    hot_load(&m, r, c.n);
    if (cdb_make_finish(&m) < 0)
        bdie("cdb_make_finish: %s", strerror(errno));
    double t = bnow() - t0;
    bresult(SYS, "W1", "ops_per_s", (double)c.n / t, "op/s", c.n);
    /* W1durable: the same build made durable (fsync), the comparison for
     * slotcache's W1rebuild, whose publication fsyncs before its rename. */
    if (fsync(fd) < 0)
        bdie("fsync %s: %s", path, strerror(errno));
    double td = bnow() - t0;
    bresult(SYS, "W1durable", "ops_per_s", (double)c.n / td, "op/s", c.n);

    struct cdb db;
    if (cdb_init(&db, fd) < 0)
        bdie("cdb_init: %s", strerror(errno));
    uint8_t key[B_KEY], want[B_INDEX];
    for (uint64_t i = 0; i < c.n; i++) { /* untimed check, maps every page */
        bkey(i, key);
        if (cdb_find(&db, key, B_KEY) <= 0)
            bdie("verify: entry %llu missing", (unsigned long long)i);
        const uint8_t *d = cdb_get(&db, B_VALUE, cdb_datapos(&db));
        int64_t rev;
        memcpy(&rev, d, 8);
        bindex(i, (int64_t)i + 1, want);
        if (rev != (int64_t)i + 1 || memcmp(d + 8, want, B_INDEX) != 0)
            bdie("verify: entry %llu differs", (unsigned long long)i);
    }
    free(r);

    if (bconf_wants(&c, "W3")) {
        uint8_t *k = bkeys_hits(c.n, c.gets, 3);
        t0 = bnow();
        uint64_t sum = hot_get_hit(&db, k, c.gets);
        t = bnow() - t0;
        bresult(SYS, "W3", "ns_per_op", t * 1e9 / (double)c.gets, "ns", sum);
        free(k);
    }
    if (bconf_wants(&c, "W4")) {
        uint8_t *k = bkeys_misses(c.n, c.gets);
        t0 = bnow();
        uint64_t mi = hot_get_miss(&db, k, c.gets);
        t = bnow() - t0;
        if (mi != c.gets)
            bdie("W4: %llu misses", (unsigned long long)mi);
        bresult(SYS, "W4", "ns_per_op", t * 1e9 / (double)c.gets, "ns", mi);
        free(k);
    }
    if (bconf_wants(&c, "W5")) {
        double *ts = calloc((size_t)c.w5_passes, sizeof *ts);
        uint64_t sum = 0, seen = 0;
        for (int p = 0; p < c.w5_passes; p++) {
            t0 = bnow();
            sum = hot_iter(&db, &seen);
            ts[p] = bnow() - t0;
        }
        t = bmedian(ts, (size_t)c.w5_passes);
        bresult(SYS, "W5iter", "GB_per_s", (double)seen * 64 / t / 1e9, "GB/s",
                sum);
        bresult(SYS, "W5iter", "Mentries_per_s", (double)seen / t / 1e6,
                "Mentry/s", sum);
        free(ts);
    }
    cdb_free(&db);
    close(fd);
    bprepare_dir(dir);
    free(path);
    free(dir);
    return 0;
}
