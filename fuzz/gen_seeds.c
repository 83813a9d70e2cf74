/* Writes the seed corpora of the fuzz targets:
 *
 *   fuzz_gen_seeds OUT_DIR [CONFORMANCE_DIR]
 *
 * OUT_DIR/open/   control bytes + real cache files made here with the
 *                 library (and the small conformance files, if given)
 * OUT_DIR/header/ control bytes + those files' first bytes
 * OUT_DIR/ops/, OUT_DIR/prefix/  small hand-written call programs
 *
 * The library's output is canonical (SLC1 16), so reruns give the same
 * bytes. fuzz/corpus/ holds what this wrote, plus inputs the fuzzers found
 * (see fuzz/README.md). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotcache.h"

static const char *out_dir;
static char tmp_dir[] = "/tmp/slcseeds.XXXXXX";

static void die(const char *what, int rc)
{
    fprintf(stderr, "gen_seeds: %s: %d (%s) %s\n", what, rc, slc_strerror(rc),
            slc_errdetail());
    exit(1);
}

static void put_file(const char *target, const char *name, const void *a,
                     size_t alen, const void *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen ||
        (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds: write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One file seed for fuzz_open (two control variants) and fuzz_header. */
static void emit_file(const char *name, const uint8_t *img, size_t len)
{
    /* fuzz_open: exact options + write session; and with SLC_NO_LOCK, a
     * capacity-0 option, invalidation and a perturbation. */
    static const uint8_t ctrl_a[8] = {0x20, 0x00, 0x00, 0x05,
                                      0x01, 0x1B, 0x25, 0x03};
    static const uint8_t ctrl_b[8] = {0x76, 0x02, 0x04, 0x00,
                                      0x03, 0xE7, 0x9A, 0xC5};
    char n[256];
    snprintf(n, sizeof n, "%s-a", name);
    put_file("open", n, ctrl_a, 8, img, len);
    snprintf(n, sizeof n, "%s-b", name);
    put_file("open", n, ctrl_b, 8, img, len);
    /* fuzz_header: the header and a little of what follows, sized to
     * the layout (mode 1), CRC and generation kept. */
    static const uint8_t hctrl[4] = {0x08, 0x00, 0x00, 0x11};
    size_t h = len < 512 ? len : 512;
    put_file("header", name, hctrl, 4, img, h);
}

typedef struct cfg {
    const char *name;
    uint32_t ks, is, flags;
    uint64_t cap, uv;
    unsigned inserts, deletes, rounds;
    int user, invalidate;
} cfg;

/* Key number k: ascending in k for key sizes >= 4 (ordered caches). */
static void seed_key(uint32_t ks, unsigned k, uint8_t *key)
{
    memset(key, 0, 64);
    if (ks < 4) {
        for (uint32_t b = 0; b < ks; b++)
            key[b] = (uint8_t)(k * 7 + b + 1);
        return;
    }
    for (uint32_t b = 0; b < 4; b++)
        key[b] = (uint8_t)(k >> (8 * (3 - b)));
    if (ks > 4)
        key[ks - 1] = (uint8_t)(0x30 + k % 10);
}

static void make_cache(const cfg *c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.slc", tmp_dir, c->name);
    slc_options o = {c->ks, c->is, c->uv, c->cap, c->flags};
    slc_cache *h;
    int rc = slc_open(path, &o, &h);
    if (rc)
        die("open", rc);
    uint8_t key[64], ix[64];
    unsigned next = 0;
    for (unsigned r = 0; r < c->rounds; r++) {
        slc_writer *w;
        if ((rc = slc_begin_write(h, &w)))
            die("begin", rc);
        for (unsigned i = 0; i < c->inserts; i++, next++) {
            seed_key(c->ks, next, key);
            memset(ix, (int)next, sizeof ix);
            if ((rc = slc_put(w, key, c->ks, (int64_t)next * 1000 - 3, ix,
                              c->is)))
                die("put", rc);
        }
        if (c->user && (rc = slc_set_user_flags(w, 0xC0FFEEu + r)))
            die("flags", rc);
        if ((rc = slc_commit(w)) && rc != SLC_EFULL)
            die("commit", rc);
        slc_writer_close(w);
        if (!c->deletes)
            continue;
        if ((rc = slc_begin_write(h, &w)))
            die("begin", rc);
        /* Delete every third key made so far. */
        for (unsigned i = 0; i < c->deletes && i < next; i++) {
            unsigned k = (i * 3) % next;
            seed_key(c->ks, k, key);
            if ((rc = slc_delete(w, key, c->ks, NULL)))
                die("delete", rc);
        }
        if ((rc = slc_commit(w)))
            die("commit deletes", rc);
        slc_writer_close(w);
    }
    if (c->invalidate && (rc = slc_invalidate(h)))
        die("invalidate", rc);
    slc_close(h);
    size_t len;
    uint8_t *img = read_all(path, &len);
    if (!img)
        die("read back", -1);
    emit_file(c->name, img, len);
    free(img);
    unlink(path);
    strcat(path, ".lock");
    unlink(path);
}

/* ---- Call programs (see fuzz_ops.c op_step and fuzz_prefix.c) ----------- */

static void ops_seeds(void)
{
    /* config: key size idx, index size idx, capacity idx, flags, misc */
    static const uint8_t basic[] = {
        7, 8, 9, 0x00, 0x04,
        0, 0, 1, 5, 3,      /* put key 1 */
        1, 0, 2, 9, 4,      /* put key 2 */
        0, 0, 3, 0xFF, 1, 2, 3, 4, 5, 6, 7, 0x80, 9, /* put key 3, rev u64 */
        8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, /* user flags */
        5, 0x04,            /* commit, free writer */
        10, 0, 2, 0,        /* get key 2 */
        10, 1, 9, 3,        /* get, bad key length */
        12, 0, 4,           /* stat */
        13, 0, 0x05, 0x09, 0x81, 0, /* scan reverse, filter, stop */
        3, 0, 2,            /* delete key 2 */
        5, 0x08,            /* commit */
        15, 0, 0x00, 0, 1, 3, 1, 0, 0, 0, /* prefix */
        23, 0,              /* full check */
        22, 0, 7,           /* read_options */
        18, 0,              /* invalidate */
        12, 0, 0,           /* len: EINVALIDATED */
        19, 0, 0, 0,        /* reopen: EINVALIDATED */
        21, 0, 3, 0, 1, 1, 0x04, /* recreate ordered cap 2 */
        0, 0, 5, 1, 1, 0, 0, 6, 1, 1, 0, 0, 7, 1, 1, /* three puts */
        5, 0x04,            /* commit: EFULL */
        0, 0, 9, 1, 1, 5, 0x04, /* put, commit */
        0, 0, 2, 1, 1, 5, 0x04, /* put below the tail: EOUTOFORDER */
        16, 0, 1, 0, 0, 0, 0, 0, 0, /* range */
        20, 0, 19, 1, 6, 0,  /* second handle; reopen h1 mismatched */
    };
    put_file("ops", "basic", basic, sizeof basic, NULL, 0);
    static const uint8_t rehash[] = {
        4, 3, 11, 0x02, 0x00,
        0, 0, 1, 1, 1, 0, 0, 2, 2, 2, 0, 0, 3, 3, 3, 0, 0, 4, 4, 4,
        0, 0, 5, 5, 5, 0, 0, 6, 6, 6, 5, 0x04,
        3, 0, 1, 3, 0, 2, 3, 0, 3, 3, 0, 4, 3, 0, 5, 5, 0x04,
        0, 0, 7, 7, 7, 0, 0, 1, 8, 8, 5, 0x00, /* keep ended writer */
        0, 0, 8, 1, 1,      /* put on ended writer: ECLOSED */
        6, 0,               /* free */
        7, 0, 7, 1,         /* begin, begin again: EBUSY */
        19, 0, 1, 0,        /* reopen handle 0 while its writer lives */
        6, 0, 23, 0,
    };
    put_file("ops", "rehash", rehash, sizeof rehash, NULL, 0);
    static const uint8_t bad[] = {
        0, 3, 0, 0x01, 0x01,
        22, 0, 0, 22, 0, 1, 22, 0, 2, 0, 0, 1, 1, 1, 22, 0, 3, 22, 0, 4,
        22, 0, 5, 22, 0, 6, 22, 0, 8, 22, 0, 9, 12, 0, 5, 6, 0,
        13, 0, 0, 0, 0, 7, 13, 0, 0, 0, 0, 2, 14, 0, 0, 0, 0, 8,
    };
    put_file("ops", "bad-args", bad, sizeof bad, NULL, 0);
}

static void prefix_seeds(void)
{
    /* key size 16 ordered, 20 keys sharing prefixes, deletes, queries */
    uint8_t p[512];
    size_t n = 0;
    p[n++] = 15;   /* key size 16 */
    p[n++] = 0x82; /* index 2, ordered */
    p[n++] = 20;   /* keys */
    for (int i = 0; i < 20; i++) {
        if (i % 2) { /* neighbour: flip a bit */
            p[n++] = 0xC0 | (uint8_t)(i % 8);
            p[n++] = (uint8_t)(i % 16);
        } else {
            p[n++] = 3;
            p[n++] = (uint8_t)(0x10 * i);
            p[n++] = 0xAB;
            p[n++] = (uint8_t)i;
            p[n++] = 0x00;
            p[n++] = 0x5A;
        }
    }
    for (int i = 0; i < 8; i++)
        p[n++] = i == 0 ? 0x49 : 0; /* delete mask */
    static const uint8_t q[] = {
        0, 0x08, 10, 0, 3, 0, 0, 0, 0,     /* prefix offset 0, 10 bits */
        1, 0x0B, 4, 0, 5, 0, 0x01, 0, 0,   /* offset 4 */
        2, 2, 2, 5, 1, 0, 0, 0, 0, 0, 0, 0, /* range */
        3, 0x01, 0x09, 0x82, 1,            /* scan */
        0, 0x1D, 0, 0, 0, 0, 0, 0, 0,      /* offset = key size */
        0xFF, 0, 0x00, 1, 0, 0, 0, 0,      /* invalidate, prefix */
    };
    memcpy(p + n, q, sizeof q);
    n += sizeof q;
    put_file("prefix", "ordered-16", p, n, NULL, 0);
    p[1] = 0x03; /* unordered, index 3 */
    put_file("prefix", "unordered-16", p, n, NULL, 0);
    static const uint8_t tiny[] = {0, 0x80, 6,  1, 5, 1, 9, 1, 1, 1, 3,
                                   1, 7, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0x10, 3, 1, 0, 0, 0, 0, 0, 0, 0,
                                   2, 7, 7, 0, 0, 0, 0, 0};
    put_file("prefix", "key1-ordered", tiny, sizeof tiny, NULL, 0);
}

/* Small conformance files (skipping ones over 8 KiB). */
static void conformance_seeds(const char *dir)
{
    static const char *groups[] = {"golden", "corrupt"};
    for (int g = 0; g < 2; g++) {
        char gdir[4096];
        snprintf(gdir, sizeof gdir, "%s/%s", dir, groups[g]);
        DIR *d = opendir(gdir);
        if (!d)
            continue;
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                names = realloc(names, (n + 1) * sizeof *names);
                names[n++] = strdup(e->d_name);
            }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
            char path[8192], name[512];
            snprintf(path, sizeof path, "%s/%s/file.slc", gdir, names[i]);
            size_t len;
            uint8_t *img = read_all(path, &len);
            if (img && len <= 8192) {
                snprintf(name, sizeof name, "conf-%s-%s", groups[g], names[i]);
                emit_file(name, img, len);
            }
            free(img);
            free(names[i]);
        }
        free(names);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR [CONFORMANCE_DIR]\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    static const cfg cfgs[] = {
        {"k16-i8", 16, 8, 0, 8, 1, 5, 1, 1, 1, 0},
        {"k4-i2-ordered", 4, 2, SLC_ORDERED_KEYS, 16, 0, 6, 2, 2, 0, 0},
        {"k1-i0-full", 1, 0, 0, 1, 0, 1, 0, 1, 0, 0},
        {"k10-i5-rehash", 10, 5, 0, 12, 3, 4, 3, 3, 0, 0},
        {"k8-user", 8, 0, 0, 4, 0, 2, 0, 2, 1, 0},
        {"k8-invalidated", 8, 1, 0, 4, 0, 3, 1, 1, 0, 1},
        {"k33-i17", 33, 17, SLC_ORDERED_KEYS, 5, 9, 4, 1, 1, 1, 0},
        {"k2-empty", 2, 0, 0, 4, 0, 0, 0, 0, 0, 0},
        {"k24-i0-ordered", 24, 0, SLC_ORDERED_KEYS, 32, 0, 12, 4, 2, 0, 0},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        make_cache(&cfgs[i]);
    if (argc > 2)
        conformance_seeds(argv[2]);
    ops_seeds();
    prefix_seeds();
    rmdir(tmp_dir);
    return 0;
}
