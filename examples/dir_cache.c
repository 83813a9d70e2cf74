/*
 * dir_cache - a cache of file metadata for a directory tree, kept fresh by
 * refreshes and read by long-lived readers, with the lifecycle calls:
 *
 *   refresh   walk the tree and publish it in one replace-all session
 *             (files that vanished are deleted at commit, nothing to
 *             sweep); when the cache is full (SLC_EFULL), corrupt or from
 *             another schema, rebuild it beside the path with twice the
 *             room and publish it while readers run (slc_rebuild_*);
 *   query     a reader that keeps its handle; after a rebuild its reads
 *             return SLC_EINVALIDATED and one slc_reopen follows the path;
 *   count     how many entries carry a tag, counted inside the library.
 *
 * Entry: key = 16-byte hash of the relative path, revision = mtime in ns,
 * index = size (8 bytes) | mode (4) | tag (4: the file extension).
 *
 *   dir_cache              self-test in a temporary directory: builds a
 *                          tree, refreshes it through churn until a rebuild
 *                          happens, and checks every answer (exit 0 = ok)
 *   dir_cache CACHE DIR    refresh CACHE from DIR and print counts
 */
#define _XOPEN_SOURCE 700
#include <slotcache.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_SIZE 16
#define INDEX_SIZE 16
#define SCHEMA 1 /* user_version: bump when the index layout changes */

typedef struct entry {
    uint8_t key[KEY_SIZE];
    int64_t mtime_ns;
    uint8_t index[INDEX_SIZE];
} entry;

/* ---- Walking the tree --------------------------------------------------- */

static entry *walked;
static size_t n_walked, cap_walked, root_len;

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static void path_key(const char *rel, uint8_t key[KEY_SIZE])
{
    uint64_t a = fnv1a(rel, 0xcbf29ce484222325ull);
    uint64_t b = fnv1a(rel, a ^ 0x9e3779b97f4a7c15ull);
    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
}

static void tag_of(const char *rel, uint8_t tag[4])
{
    const char *dot = strrchr(rel, '.'), *slash = strrchr(rel, '/');
    memset(tag, 0, 4);
    if (dot && (!slash || dot > slash))
        strncpy((char *)tag, dot + 1, 4);
}

static int visit(const char *path, const struct stat *st, int type,
                 struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F)
        return 0;
    if (n_walked == cap_walked) {
        size_t cap = cap_walked ? cap_walked * 2 : 256;
        entry *n = realloc(walked, cap * sizeof *n);
        if (!n)
            return -1;
        walked = n;
        cap_walked = cap;
    }
    entry *e = &walked[n_walked++];
    const char *rel = path + root_len;
    path_key(rel, e->key);
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    uint64_t size = (uint64_t)st->st_size;
    uint32_t mode = (uint32_t)st->st_mode;
    memcpy(e->index, &size, 8);
    memcpy(e->index + 8, &mode, 4);
    tag_of(rel, e->index + 12);
    return 0;
}

static int walk(const char *dir)
{
    n_walked = 0;
    root_len = strlen(dir) + 1; /* keys are paths relative to dir */
    return nftw(dir, visit, 16, FTW_PHYS) == 0 ? 0 : -1;
}

/* ---- Refresh ------------------------------------------------------------ */

static slc_options options(uint64_t capacity)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = KEY_SIZE;
    o.index_size = INDEX_SIZE;
    o.user_version = SCHEMA;
    o.slot_capacity = capacity;
    /* The capacity is computed from the tree: keep any file that is big
     * enough instead of rebuilding it on every run. */
    o.flags = SLC_CAPACITY_AT_LEAST;
    return o;
}

static unsigned rebuilds;

/* Replace the cache at `path` with the walked entries, capacity `cap`. */
static int rebuild(const char *path, uint64_t cap)
{
    slc_options o = options(cap);
    slc_rebuild *r = NULL;
    int rc = slc_rebuild_begin(path, &o, &r);
    for (size_t i = 0; rc == SLC_OK && i < n_walked; i++)
        rc = slc_rebuild_put(r, walked[i].key, KEY_SIZE, walked[i].mtime_ns,
                             walked[i].index, INDEX_SIZE);
    if (rc == SLC_OK)
        rc = slc_rebuild_publish(r, 5000); /* wait up to 5 s for a writer */
    slc_rebuild_close(r);
    if (rc == SLC_OK)
        rebuilds++;
    return rc;
}

/* One refresh: the walked tree becomes the cache's whole content. */
static int refresh(const char *path, const char *dir)
{
    if (walk(dir) != 0) {
        fprintf(stderr, "dir_cache: walking %s: %s\n", dir, strerror(errno));
        return SLC_ESYS;
    }
    /* Room for the tree, its churn, and a load factor that keeps probes
     * short; a larger existing file is kept. */
    uint64_t want = 2 * (uint64_t)n_walked + 64;
    slc_options o = options(want);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    if (rc == SLC_ECORRUPT || rc == SLC_EINCOMPATIBLE ||
        rc == SLC_EINVALIDATED)
        return rebuild(path, want); /* unusable or too small: replace it */
    if (rc)
        return rc;
    slc_writer *w = NULL;
    rc = slc_begin_write_timeout(c, 5000, &w); /* another refresh? wait */
    if (rc == SLC_OK)
        rc = slc_set_replace_all(w); /* vanished files go at commit */
    for (size_t i = 0; rc == SLC_OK && i < n_walked; i++)
        rc = slc_put(w, walked[i].key, KEY_SIZE, walked[i].mtime_ns,
                     walked[i].index, INDEX_SIZE);
    if (rc == SLC_OK)
        rc = slc_commit(w);
    slc_writer_close(w);
    slc_stat st;
    if (rc == SLC_EFULL && slc_stat_get(c, &st) == SLC_OK) {
        /* Deleted slots are reclaimed only by a rebuild: grow and compact. */
        uint64_t cap = 2 * st.slot_capacity > want ? 2 * st.slot_capacity
                                                   : want;
        rc = rebuild(path, cap);
    }
    slc_close(c);
    return rc;
}

/* ---- Queries (a long-lived reader) -------------------------------------- */

/* slc_get that follows the path after a rebuild. */
static int lookup(slc_cache *c, const char *rel, int64_t *mtime,
                  uint8_t index[INDEX_SIZE])
{
    uint8_t key[KEY_SIZE];
    path_key(rel, key);
    for (;;) {
        int rc = slc_get(c, key, KEY_SIZE, mtime, index, INDEX_SIZE);
        if (rc != SLC_EINVALIDATED)
            return rc;
        if ((rc = slc_reopen(c)) != SLC_OK)
            return rc;
    }
}

/* Entries whose tag is `tag`, counted without copying them. */
static int count_tag(slc_cache *c, const char *tag, uint64_t *n)
{
    uint8_t want[4] = {0};
    strncpy((char *)want, tag, 4);
    slc_index_match m = {12, 4, want, NULL};
    for (;;) {
        int rc = slc_count_match(c, &m, NULL, n);
        if (rc != SLC_EINVALIDATED)
            return rc;
        if ((rc = slc_reopen(c)) != SLC_OK)
            return rc;
    }
}

/* ---- Self-test ---------------------------------------------------------- */

static int failures;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond) && failures++ < 20) {                                      \
            fprintf(stderr, "dir_cache: check failed: " __VA_ARGS__);          \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static void make_file(const char *root, const char *rel, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (!f) {
        failures++;
        return;
    }
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
}

static void rel_name(char *out, size_t len, int i)
{
    snprintf(out, len, "sub%d/file%04d.%s", i % 4, i, i % 3 ? "c" : "h");
}

static int self_test(void)
{
    char root[] = "/tmp/dir_cache.XXXXXX";
    if (!mkdtemp(root))
        return 1;
    char tree[600], cache[600], rel[64];
    snprintf(tree, sizeof tree, "%s/tree", root);
    snprintf(cache, sizeof cache, "%s/meta.slc", root);
    mkdir(tree, 0755);
    for (int d = 0; d < 4; d++) {
        char sub[620];
        snprintf(sub, sizeof sub, "%s/sub%d", tree, d);
        mkdir(sub, 0755);
    }
    int lo = 0, hi = 100; /* files lo..hi-1 exist */
    for (int i = lo; i < hi; i++) {
        rel_name(rel, sizeof rel, i);
        make_file(tree, rel, (size_t)i);
    }
    int rc = refresh(cache, tree);
    CHECK(rc == SLC_OK, "first refresh: %s (%s)", slc_strerror(rc),
          slc_errdetail());

    /* The reader opens once and keeps its handle through every refresh. */
    slc_options ro;
    memset(&ro, 0, sizeof ro);
    ro.key_size = KEY_SIZE;
    ro.index_size = INDEX_SIZE;
    ro.user_version = SCHEMA;
    slc_cache *reader = NULL;
    rc = slc_open(cache, &ro, &reader);
    CHECK(rc == SLC_OK, "reader open: %s", slc_strerror(rc));
    if (rc)
        return 1;

    /* Churn: each round removes 15 files and adds 15 new ones; vanished
     * files leave dead slots, so the cache fills and is rebuilt. */
    for (int round = 0; round < 12; round++) {
        for (int i = lo; i < lo + 15; i++) {
            char path[700];
            rel_name(rel, sizeof rel, i);
            snprintf(path, sizeof path, "%s/%s", tree, rel);
            unlink(path);
        }
        lo += 15;
        for (int i = hi; i < hi + 15; i++) {
            rel_name(rel, sizeof rel, i);
            make_file(tree, rel, (size_t)i);
        }
        hi += 15;
        rc = refresh(cache, tree);
        CHECK(rc == SLC_OK, "refresh %d: %s (%s)", round, slc_strerror(rc),
              slc_errdetail());
        /* Every present file with its size and tag; vanished ones gone. */
        for (int i = lo - 15; i < hi; i++) {
            int64_t mtime;
            uint8_t index[INDEX_SIZE];
            rel_name(rel, sizeof rel, i);
            rc = lookup(reader, rel, &mtime, index);
            if (i < lo) {
                CHECK(rc == SLC_NOTFOUND, "%s: %s, want not found", rel,
                      slc_strerror(rc));
                continue;
            }
            uint64_t size = 0;
            memcpy(&size, index, 8);
            CHECK(rc == SLC_OK && size == (uint64_t)i &&
                      memcmp(index + 12, i % 3 ? "c" : "h", 2) == 0,
                  "%s: %s, size %" PRIu64, rel, slc_strerror(rc), size);
        }
        uint64_t n_c = 0, n_h = 0, want_c = 0;
        for (int i = lo; i < hi; i++)
            want_c += i % 3 != 0;
        CHECK(count_tag(reader, "c", &n_c) == SLC_OK && n_c == want_c,
              "round %d: %" PRIu64 " .c files, want %" PRIu64, round, n_c,
              want_c);
        CHECK(count_tag(reader, "h", &n_h) == SLC_OK &&
                  n_h + n_c == (uint64_t)(hi - lo),
              "round %d: %" PRIu64 " .h files", round, n_h);
    }
    CHECK(rebuilds > 0, "the churn never filled the cache");
    /* Only the cache and its lock file are left beside the tree: no
     * rebuild's or creation's "<cache>.tmp.<suffix>" survives. */
    char tmpname[700];
    snprintf(tmpname, sizeof tmpname, "%s.lock", cache);
    CHECK(access(tmpname, F_OK) == 0, "no lock file");
    DIR *dir = opendir(root);
    CHECK(dir != NULL, "opendir %s: %s", root, strerror(errno));
    for (struct dirent *de; dir && (de = readdir(dir)) != NULL;) {
        const char *n = de->d_name;
        CHECK(strstr(n, ".tmp.") == NULL, "temporary left: %s", n);
        CHECK(strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
                  strcmp(n, "tree") == 0 || strcmp(n, "meta.slc") == 0 ||
                  strcmp(n, "meta.slc.lock") == 0,
              "unexpected entry beside the tree: %s", n);
    }
    if (dir)
        closedir(dir);
    slc_stat st;
    if (slc_stat_get(reader, &st) == SLC_OK)
        printf("dir_cache: %d files, %u rebuilds, capacity %" PRIu64
               ", live %" PRIu64 ", failures %d\n",
               hi - lo, rebuilds, st.slot_capacity, st.live_count, failures);
    slc_close(reader);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        failures++;
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return self_test();
    if (argc != 3) {
        fprintf(stderr, "usage: dir_cache [CACHE DIR]\n");
        return 2;
    }
    int rc = refresh(argv[1], argv[2]);
    if (rc) {
        fprintf(stderr, "dir_cache: %s (%s)\n", slc_strerror(rc),
                slc_errdetail());
        return 1;
    }
    printf("%s: %zu files\n", argv[1], n_walked);
    return 0;
}
