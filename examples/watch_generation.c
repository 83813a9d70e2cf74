/*
 * watch_generation - a reader that re-scans only when something changed.
 *
 * slc_generation is a cheap header read: it advances by 2 with every
 * commit, so a long-lived reader can poll it and skip its (costly) scan
 * while the number stays the same.
 *
 * The program forks a writer child that commits COMMITS times (each commit
 * adds one entry and sets user_flags to the commit number). The parent
 * polls the generation; on each change it re-scans and checks that the
 * scan shows exactly the state of that commit. So that every commit can be
 * checked, the child waits for the parent's acknowledgement (one byte on a
 * pipe) before its next commit; a real reader needs no such channel.
 * Bounded by the commit count (and a poll budget per commit); exits 0 only
 * when it saw and verified every commit and the child succeeded.
 */
#define _XOPEN_SOURCE 700
#include <slotcache.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMMITS 5
#define POLLS_PER_COMMIT 20000 /* 1 ms apart: 20 s before giving up */

static const slc_options options = {.key_size = 8, .index_size = 8,
                                    .user_version = 1, .slot_capacity = 64};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void make_key(uint8_t key[8], uint64_t n)
{
    for (int b = 0; b < 8; b++) /* big-endian: slot order = number order */
        key[b] = (uint8_t)(n >> (56 - 8 * b));
}

/* ---- The writer child --------------------------------------------------- */

static int writer_main(const char *path, int ack_fd)
{
    slc_cache *c = NULL;
    /* A fresh handle: the parent's stays the parent's. */
    int rc = slc_open(path, &options, &c);
    for (uint64_t i = 1; rc == SLC_OK && i <= COMMITS; i++) {
        slc_writer *w = NULL;
        uint8_t key[8];
        uint64_t index = i * i;
        make_key(key, i);
        rc = slc_begin_write(c, &w);
        if (rc == SLC_OK)
            rc = slc_put(w, key, sizeof key, (int64_t)i, &index, sizeof index);
        if (rc == SLC_OK)
            rc = slc_set_user_flags(w, i);
        if (rc == SLC_OK)
            rc = slc_commit(w);
        slc_writer_close(w);
        char b;
        if (rc == SLC_OK && read(ack_fd, &b, 1) != 1)
            rc = SLC_ESYS; /* the reader went away */
    }
    if (rc != SLC_OK)
        fprintf(stderr, "writer: %s: %s\n", slc_strerror(rc), slc_errdetail());
    slc_close(c);
    return rc == SLC_OK ? 0 : 1;
}

/* ---- The reader --------------------------------------------------------- */

typedef struct view {
    uint64_t entries, sum_revision, bad;
} view;

static int tally(const slc_entry *e, void *ctx)
{
    view *v = ctx;
    uint64_t n = (uint64_t)e->revision, index;
    uint8_t key[8];
    memcpy(&index, e->index, 8);
    make_key(key, n);
    if (memcmp(key, e->key, 8) != 0 || index != n * n)
        v->bad++;
    v->entries++;
    v->sum_revision += n;
    return 0;
}

/* The state after commit k: entries 1..k and user_flags k. The generation
 * read after the scan must still be g, or the scan may show a later state. */
static int check_state(slc_cache *c, uint64_t g, uint64_t k)
{
    view v = {0, 0, 0};
    uint64_t flags = 0, g_after = 0;
    int rc = slc_scan(c, NULL, tally, &v);
    if (rc == SLC_OK)
        rc = slc_user_header(c, &flags, NULL);
    if (rc == SLC_OK)
        rc = slc_generation(c, &g_after);
    if (rc != SLC_OK) {
        fprintf(stderr, "reader: %s: %s\n", slc_strerror(rc), slc_errdetail());
        return 0;
    }
    return g_after == g && v.entries == k && v.bad == 0 &&
           v.sum_revision == k * (k + 1) / 2 && flags == k;
}

int main(void)
{
    char dir[] = "/tmp/watch_generation-XXXXXX", path[64], lock[80];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/watch.slc", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    signal(SIGPIPE, SIG_IGN); /* a dead child shows as EPIPE, not a kill */

    slc_cache *c = NULL;
    uint64_t g0 = 0;
    int ok = 0, ack[2] = {-1, -1};
    pid_t child = -1;
    int rc = slc_open(path, &options, &c);
    if (rc == SLC_OK)
        rc = slc_generation(c, &g0);
    if (rc != SLC_OK) {
        fprintf(stderr, "open: %s: %s\n", slc_strerror(rc), slc_errdetail());
        goto out;
    }
    if (pipe(ack) != 0 || (child = fork()) < 0) {
        perror("pipe/fork");
        goto out;
    }
    if (child == 0) {
        close(ack[1]);
        _exit(writer_main(path, ack[0]));
    }
    close(ack[0]);
    ack[0] = -1;

    uint64_t last = g0, seen = 0, scans = 0, polls = 0, idle = 0;
    int child_done = 0, status = 0;
    while (seen < COMMITS && polls < (uint64_t)COMMITS * POLLS_PER_COMMIT) {
        polls++;
        uint64_t g;
        rc = slc_generation(c, &g);
        if (rc == SLC_EBUSY) { /* a commit in progress: look again soon */
            sleep_ms(1);
            continue;
        }
        if (rc != SLC_OK) {
            fprintf(stderr, "generation: %s: %s\n", slc_strerror(rc),
                    slc_errdetail());
            goto out;
        }
        if (g == last) { /* nothing published: no scan */
            idle++;
            if (!child_done && waitpid(child, &status, WNOHANG) == child) {
                child_done = 1;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    break; /* the writer failed: stop waiting for it */
            }
            sleep_ms(1);
            continue;
        }
        /* One commit since the last change: the generation moved by 2. */
        if (g != last + 2 || !check_state(c, g, seen + 1)) {
            fprintf(stderr, "generation %" PRIu64 " after %" PRIu64
                            ": unexpected state\n", g, last);
            goto out;
        }
        scans++;
        seen++;
        last = g;
        printf("generation %" PRIu64 ": re-scanned, %" PRIu64
               " entries as expected\n", g, seen);
        if (write(ack[1], "k", 1) != 1) {
            perror("ack");
            goto out;
        }
    }
    if (!child_done && waitpid(child, &status, 0) == child)
        child_done = 1;
    child = -1;
    printf("%" PRIu64 " commits seen, %" PRIu64 " scans, %" PRIu64
           " polls without a change (no scan)\n", seen, scans, idle);
    ok = seen == COMMITS && scans == COMMITS && last == g0 + 2 * COMMITS &&
         child_done && WIFEXITED(status) && WEXITSTATUS(status) == 0;

out:
    if (ack[1] >= 0)
        close(ack[1]); /* unblocks a child still waiting */
    if (child > 0)
        waitpid(child, NULL, 0);
    slc_close(c);
    unlink(path);
    unlink(lock);
    rmdir(dir);
    if (!ok)
        fprintf(stderr, "watch_generation: FAILED\n");
    return ok ? 0 : 1;
}
