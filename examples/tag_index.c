/*
 * tag_index - a tag/filter index over the files of a directory tree.
 *
 *   tag_index [DIR [TAG...]]
 *
 * Each regular file below DIR (default: this example's source directory)
 * gets one cache entry:
 *   key       16 bytes: a hash of the path (the cache never needs the path
 *             back; the program keeps its file list in memory)
 *   revision  the file's mtime in nanoseconds, to tell a stale entry
 *   index     16 bytes: tag bits (little-endian u64) and the size (u64)
 * The program syncs the cache with the tree twice - once from scratch, once
 * after "forgetting" one file, which must cost exactly one delete and no
 * put - then lists the files carrying every TAG (default: c) with a
 * filtered scan. It exits 0 only if every count and every result matches
 * what the walk found.
 *
 * Tags: c h md txt cmake exec large empty.
 */
#define _XOPEN_SOURCE 700
#include <slotcache.h>

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SLC_EXAMPLE_SOURCE_DIR
#define SLC_EXAMPLE_SOURCE_DIR "."
#endif

#define KEY_SIZE 16
#define INDEX_SIZE 16
#define LARGE_FILE (16 * 1024)

static const char *const tag_names[] = {"c",     "h",    "md",    "txt",
                                        "cmake", "exec", "large", "empty"};
#define TAG_COUNT (sizeof tag_names / sizeof tag_names[0])

typedef struct file {
    uint8_t key[KEY_SIZE];
    char *path;
    int64_t mtime_ns;
    uint64_t size, tags;
} file;

static file *files;
static size_t nfiles, cap_files;

/* ---- Keys and tags ------------------------------------------------------ */

/* Two FNV-1a 64 hashes with different offset bases make a 16-byte key.
 * Not cryptographic: good enough to tell the paths of one tree apart. */
static void path_key(const char *path, uint8_t key[KEY_SIZE])
{
    uint64_t h[2] = {0xcbf29ce484222325u, 0x84222325cbf29ce4u};
    for (int k = 0; k < 2; k++) {
        for (const char *p = path; *p; p++)
            h[k] = (h[k] ^ (uint8_t)*p) * 0x100000001b3u;
        for (int b = 0; b < 8; b++)
            key[8 * k + b] = (uint8_t)(h[k] >> (8 * b));
    }
}

static uint64_t tag_bit(const char *name)
{
    for (size_t i = 0; i < TAG_COUNT; i++)
        if (strcmp(tag_names[i], name) == 0)
            return UINT64_C(1) << i;
    return 0;
}

static uint64_t file_tags(const char *path, const struct stat *st)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    uint64_t t = 0;
    if (dot && strcmp(dot, ".c") == 0)
        t |= tag_bit("c");
    if (dot && strcmp(dot, ".h") == 0)
        t |= tag_bit("h");
    if (dot && strcmp(dot, ".md") == 0)
        t |= tag_bit("md");
    if (dot && strcmp(dot, ".txt") == 0)
        t |= tag_bit("txt");
    if (strcmp(base, "CMakeLists.txt") == 0 || (dot && strcmp(dot, ".cmake") == 0))
        t |= tag_bit("cmake");
    if (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))
        t |= tag_bit("exec");
    if (st->st_size >= LARGE_FILE)
        t |= tag_bit("large");
    if (st->st_size == 0)
        t |= tag_bit("empty");
    return t;
}

static void encode_index(const file *f, uint8_t index[INDEX_SIZE])
{
    for (int b = 0; b < 8; b++) {
        index[b] = (uint8_t)(f->tags >> (8 * b));
        index[8 + b] = (uint8_t)(f->size >> (8 * b));
    }
}

static uint64_t index_tags(const uint8_t *index)
{
    uint64_t t = 0;
    for (int b = 0; b < 8; b++)
        t |= (uint64_t)index[b] << (8 * b);
    return t;
}

/* ---- Walking the tree --------------------------------------------------- */

static int add_file(const char *path, const struct stat *st, int type,
                    struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    if (nfiles == cap_files) {
        size_t cap = cap_files ? cap_files * 2 : 64;
        file *n = realloc(files, cap * sizeof *n);
        if (!n)
            return -1;
        files = n;
        cap_files = cap;
    }
    file *f = &files[nfiles];
    if (!(f->path = strdup(path)))
        return -1;
    path_key(path, f->key);
    f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    f->size = (uint64_t)st->st_size;
    f->tags = file_tags(path, st);
    nfiles++;
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return memcmp(((const file *)a)->key, ((const file *)b)->key, KEY_SIZE);
}

/* The walked file with this key among the first n (sorted by key). */
static const file *find_file(const uint8_t *key, size_t n)
{
    file probe;
    memcpy(probe.key, key, KEY_SIZE);
    return bsearch(&probe, files, n, sizeof *files, by_key);
}

/* ---- Keeping the cache in sync ------------------------------------------ */

typedef struct stale_keys {
    size_t n_files;       /* the files the cache should hold */
    uint8_t (*keys)[KEY_SIZE];
    size_t count, cap;
} stale_keys;

/* Collect cached keys whose file is not in the list any more. */
static int collect_vanished(const slc_entry *e, void *ctx)
{
    stale_keys *s = ctx;
    if (find_file(e->key, s->n_files))
        return 0;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        uint8_t(*n)[KEY_SIZE] = realloc(s->keys, cap * sizeof *n);
        if (!n)
            return -1; /* stops the scan; returned by slc_scan */
        s->keys = n;
        s->cap = cap;
    }
    memcpy(s->keys[s->count++], e->key, KEY_SIZE);
    return 0;
}

/* Make the cache hold exactly files[0..n): put new or changed files (their
 * revision, the mtime, differs), delete entries of files no longer listed.
 * One session, so readers see the whole sync or nothing. */
static int sync_cache(slc_cache *c, size_t n, size_t *puts, size_t *deletes)
{
    stale_keys vanished = {n, NULL, 0, 0};
    slc_writer *w = NULL;
    int rc = slc_scan(c, NULL, collect_vanished, &vanished);
    if (rc == SLC_OK)
        rc = slc_begin_write(c, &w);
    *puts = *deletes = 0;
    for (size_t i = 0; rc == SLC_OK && i < n; i++) {
        int64_t rev;
        int got = slc_get(c, files[i].key, KEY_SIZE, &rev, NULL, 0);
        if (got == SLC_OK && rev == files[i].mtime_ns)
            continue; /* fresh */
        if (got != SLC_OK && got != SLC_NOTFOUND) {
            rc = got;
            break;
        }
        uint8_t index[INDEX_SIZE];
        encode_index(&files[i], index);
        rc = slc_put(w, files[i].key, KEY_SIZE, files[i].mtime_ns, index,
                     INDEX_SIZE);
        ++*puts;
    }
    for (size_t i = 0; rc == SLC_OK && i < vanished.count; i++) {
        int existed = 0;
        rc = slc_delete(w, vanished.keys[i], KEY_SIZE, &existed);
        *deletes += (size_t)existed;
    }
    if (rc == SLC_OK)
        rc = slc_commit(w);
    if (rc != SLC_OK)
        fprintf(stderr, "sync: %s: %s\n", slc_strerror(rc), slc_errdetail());
    slc_writer_close(w);
    free(vanished.keys);
    return rc;
}

/* ---- Querying by tag ---------------------------------------------------- */

typedef struct query {
    uint64_t mask;
    size_t n_files;
    size_t hits, wrong;
} query;

/* Runs on a private copy of each live slot; may run more than once per
 * slot if a writer publishes meanwhile, so it only reads. */
static int has_tags(const slc_entry *e, void *ctx)
{
    const query *q = ctx;
    return (index_tags(e->index) & q->mask) == q->mask;
}

static int print_hit(const slc_entry *e, void *ctx)
{
    query *q = ctx;
    const file *f = find_file(e->key, q->n_files);
    q->hits++;
    if (!f || e->revision != f->mtime_ns || (f->tags & q->mask) != q->mask) {
        q->wrong++;
        return 0;
    }
    printf("  %s (%" PRIu64 " bytes)\n", f->path, f->size);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : SLC_EXAMPLE_SOURCE_DIR;
    uint64_t mask = 0;
    for (int i = 2; i < argc; i++) {
        uint64_t bit = tag_bit(argv[i]);
        if (!bit) {
            fprintf(stderr, "unknown tag %s (known: c h md txt cmake exec "
                            "large empty)\n", argv[i]);
            return 2;
        }
        mask |= bit;
    }
    if (argc <= 2)
        mask = tag_bit("c");

    if (nftw(dir, add_file, 32, FTW_PHYS) != 0) {
        fprintf(stderr, "walking %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (nfiles < 2) {
        fprintf(stderr, "%s: need at least two files to index\n", dir);
        return 1;
    }
    qsort(files, nfiles, sizeof *files, by_key);

    char tmp[] = "/tmp/tag_index-XXXXXX", path[64], lock[80];
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/tags.slc", tmp);
    snprintf(lock, sizeof lock, "%s.lock", path);

    /* Room for the tree growing to twice its size before a rebuild. */
    slc_options o = {.key_size = KEY_SIZE, .index_size = INDEX_SIZE,
                     .user_version = 1, .slot_capacity = 2 * nfiles + 16};
    slc_cache *c = NULL;
    int ok = 0;
    size_t puts, deletes;
    int rc = slc_open(path, &o, &c);
    if (rc != SLC_OK) {
        fprintf(stderr, "open: %s: %s\n", slc_strerror(rc), slc_errdetail());
        goto out;
    }

    /* First sync: everything is new. */
    if (sync_cache(c, nfiles, &puts, &deletes) != SLC_OK)
        goto out;
    printf("indexed %zu files from %s: %zu puts, %zu deletes\n", nfiles, dir,
           puts, deletes);
    if (puts != nfiles || deletes != 0)
        goto out;

    /* Second sync with the last file gone from the list: unchanged files
     * are skipped by their revision, the missing one is deleted. */
    size_t kept = nfiles - 1;
    if (sync_cache(c, kept, &puts, &deletes) != SLC_OK)
        goto out;
    printf("resynced without %s: %zu puts, %zu deletes\n", files[kept].path,
           puts, deletes);
    uint64_t live = 0;
    if (puts != 0 || deletes != 1 || slc_len(c, &live) != SLC_OK ||
        live != kept)
        goto out;

    /* The query: a scan whose filter tests the tag bits in place. */
    query q = {mask, kept, 0, 0};
    slc_scan_opts so = {.filter = has_tags, .filter_ctx = &q};
    printf("files tagged");
    for (size_t t = 0; t < TAG_COUNT; t++)
        if (mask & (UINT64_C(1) << t))
            printf(" %s", tag_names[t]);
    printf(":\n");
    rc = slc_scan(c, &so, print_hit, &q);
    if (rc != SLC_OK) {
        fprintf(stderr, "scan: %s: %s\n", slc_strerror(rc), slc_errdetail());
        goto out;
    }
    size_t expect = 0;
    for (size_t i = 0; i < kept; i++)
        expect += (files[i].tags & mask) == mask;
    printf("%zu matches (the walk found %zu)\n", q.hits, expect);
    ok = q.hits == expect && q.wrong == 0 && slc_verify(c) == SLC_OK;

out:
    slc_close(c);
    unlink(path);
    unlink(lock);
    rmdir(tmp);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].path);
    free(files);
    if (!ok)
        fprintf(stderr, "tag_index: FAILED\n");
    return ok ? 0 : 1;
}
