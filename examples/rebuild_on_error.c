/*
 * rebuild_on_error - treat the cache as throwaway: rebuild it from the
 * source of truth whenever it cannot be used as it is.
 *
 * open_or_rebuild() is the pattern: open; on SLC_EINCOMPATIBLE (another
 * schema or configuration), SLC_ECORRUPT (broken file, crashed writer) or
 * SLC_EINVALIDATED (someone retired the file) remove the file, create it
 * anew and fill it. A fill is marked complete by a user_flags bit published
 * in the same commit, so a cache that was created but never filled is
 * recognised and filled too. A long-lived reader that gets
 * SLC_EINVALIDATED from a read closes its handle and opens the path again.
 *
 * Demonstrated, each checked: a changed user_version; a damaged header; an
 * invalidation from another handle while a reader holds the old file.
 * Exits 0 only if every step saw the expected code and the expected data.
 */
#define _XOPEN_SOURCE 700
#include <slotcache.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTRIES 100
#define FILLED (UINT64_C(1) << 63) /* user_flags: the fill completed */

/* The source of truth, generation `epoch`: entry i has revision
 * epoch * 1000 + i. A real program would re-read its sources here. */
static int fill(slc_cache *c, uint64_t epoch)
{
    slc_writer *w = NULL;
    int rc = slc_begin_write(c, &w);
    for (uint32_t i = 0; rc == SLC_OK && i < ENTRIES; i++) {
        uint32_t key = i, index = i * 7;
        rc = slc_put(w, &key, sizeof key, (int64_t)(epoch * 1000 + i), &index,
                     sizeof index);
    }
    if (rc == SLC_OK)
        rc = slc_set_user_flags(w, FILLED | epoch);
    if (rc == SLC_OK)
        rc = slc_commit(w);
    slc_writer_close(w);
    return rc;
}

static int is_rebuild_code(int rc)
{
    return rc == SLC_EINCOMPATIBLE || rc == SLC_ECORRUPT ||
           rc == SLC_EINVALIDATED;
}

/* Open `path`, rebuilding it when it cannot be used. *first_rc gets what
 * the first open said, so the demo can check it. */
static int open_or_rebuild(const char *path, const slc_options *o,
                           uint64_t epoch, slc_cache **out, int *first_rc)
{
    slc_cache *c = NULL;
    int rc = slc_open(path, o, &c);
    *first_rc = rc;
    if (is_rebuild_code(rc)) {
        printf("  open: %s (%s): rebuilding\n", slc_strerror(rc),
               slc_errdetail());
        /* Only the cache file goes; "<path>.lock" must stay, or two
         * writers could lock two different lock files. */
        if (unlink(path) != 0 && errno != ENOENT) {
            perror("unlink");
            return SLC_ESYS;
        }
        rc = slc_open(path, o, &c);
    }
    uint64_t flags = 0;
    if (rc == SLC_OK)
        rc = slc_user_header(c, &flags, NULL);
    if (rc == SLC_OK && !(flags & FILLED))
        rc = fill(c, epoch);
    if (rc != SLC_OK) {
        fprintf(stderr, "  open_or_rebuild: %s: %s\n", slc_strerror(rc),
                slc_errdetail());
        slc_close(c);
        return rc;
    }
    *out = c;
    return SLC_OK;
}

/* Does the cache hold exactly the source of truth of `epoch`? */
static int holds_epoch(slc_cache *c, uint64_t epoch, uint64_t user_version)
{
    slc_stat st;
    uint64_t flags = 0;
    if (slc_stat_get(c, &st) != SLC_OK || st.user_version != user_version ||
        st.live_count != ENTRIES || slc_user_header(c, &flags, NULL) != SLC_OK ||
        flags != (FILLED | epoch))
        return 0;
    for (uint32_t i = 0; i < ENTRIES; i++) {
        int64_t rev;
        uint32_t index;
        if (slc_get(c, &i, sizeof i, &rev, &index, sizeof index) != SLC_OK ||
            rev != (int64_t)(epoch * 1000 + i) || index != i * 7)
            return 0;
    }
    return slc_verify(c) == SLC_OK;
}

/* A reader's lookup that follows a rebuild: on SLC_EINVALIDATED it reopens
 * the path (reaching the new file) and tries once more. */
static int reader_get(slc_cache **c, const char *path, const slc_options *o,
                      uint32_t key, int64_t *rev, int *reopened)
{
    int rc = slc_get(*c, &key, sizeof key, rev, NULL, 0);
    if (rc != SLC_EINVALIDATED)
        return rc;
    printf("  reader: %s: reopening %s\n", slc_strerror(rc), path);
    slc_close(*c);
    *c = NULL;
    ++*reopened;
    if ((rc = slc_open(path, o, c)) != SLC_OK)
        return rc;
    return slc_get(*c, &key, sizeof key, rev, NULL, 0);
}

int main(void)
{
    char dir[] = "/tmp/rebuild_on_error-XXXXXX", path[64], lock[80];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/cache.slc", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);

    slc_options o = {.key_size = 4, .index_size = 4, .user_version = 1,
                     .slot_capacity = 2 * ENTRIES};
    slc_cache *c = NULL, *reader = NULL, *other = NULL;
    int first = 0, passed = 0;

    printf("1. first run: the file is created and filled\n");
    if (open_or_rebuild(path, &o, 1, &c, &first) != SLC_OK ||
        first != SLC_OK || !holds_epoch(c, 1, 1))
        goto out;
    slc_close(c);
    c = NULL;
    passed++;

    printf("2. the program's index encoding changed: user_version 2\n");
    o.user_version = 2;
    if (open_or_rebuild(path, &o, 2, &c, &first) != SLC_OK ||
        first != SLC_EINCOMPATIBLE || !holds_epoch(c, 2, 2))
        goto out;
    slc_close(c);
    c = NULL;
    passed++;

    printf("3. the header is damaged (a user_data byte, covered by the "
           "CRC)\n");
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, "\x5a", 1, 0x80) != 1 || close(fd) != 0) {
        perror("damaging the header");
        goto out;
    }
    if (open_or_rebuild(path, &o, 3, &c, &first) != SLC_OK ||
        first != SLC_ECORRUPT || !holds_epoch(c, 3, 2))
        goto out;
    slc_close(c);
    c = NULL;
    passed++;

    printf("4. another handle retires the file while a reader holds it\n");
    int64_t rev = 0;
    int reopened = 0;
    if (slc_open(path, &o, &reader) != SLC_OK ||
        reader_get(&reader, path, &o, 5, &rev, &reopened) != SLC_OK ||
        rev != 3005 || reopened != 0)
        goto out;
    /* The rebuilder: invalidate the old file first, so every reader of it,
     * in any process, learns to reopen; then rebuild at the same path. */
    if (slc_open(path, &o, &other) != SLC_OK || slc_invalidate(other) != SLC_OK)
        goto out;
    slc_close(other);
    other = NULL;
    if (open_or_rebuild(path, &o, 4, &c, &first) != SLC_OK ||
        first != SLC_EINVALIDATED || !holds_epoch(c, 4, 2))
        goto out;
    /* The reader's next lookup hits the invalidated file and moves on. */
    if (reader_get(&reader, path, &o, 5, &rev, &reopened) != SLC_OK ||
        rev != 4005 || reopened != 1 || !holds_epoch(reader, 4, 2))
        goto out;
    passed++;

out:
    slc_close(c);
    slc_close(reader);
    slc_close(other);
    unlink(path);
    unlink(lock);
    rmdir(dir);
    printf("%d of 4 steps passed\n", passed);
    if (passed != 4)
        fprintf(stderr, "rebuild_on_error: FAILED (%s)\n", slc_errdetail());
    return passed == 4 ? 0 : 1;
}
