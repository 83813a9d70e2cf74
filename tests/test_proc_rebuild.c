/* Rebuild and replace across processes:
 *   - readers_follow_rebuilds: reader processes loop gets, counts and
 *     fresh opens on the path, calling slc_reopen on SLC_EINVALIDATED,
 *     while the parent runs 100 rebuilds with changing capacity. Keys
 *     0..KEEP-1 are in every content: 0 SLC_NOTFOUND for them, 0 errors,
 *     and every fresh open finds a complete file;
 *   - crash_every_step: a child rebuilds and dies (by _exit and by
 *     SIGKILL) at each hook point of the rebuild in turn, including the
 *     commits of its sessions and the invalidation of the old file; after
 *     each the path opens to exactly the old or exactly the new content,
 *     and the next rebuild removes the temporary the crash left. */
#include "core_helpers.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "hook.h"

#define KS 16u
#define IS 8u
#define KEEP 500u    /* keys in every content */
#define READERS 3
#define REBUILDS 100

typedef struct shared {
    volatile int ready, stop;
    volatile uint64_t gets, notfound, errors, reopens, opens, counts;
    volatile int last_error;
    char detail[256];
    /* crash_every_step: hook points of a dry run */
    int n;
    char points[256][32];
} shared;
static shared *sh;

static shared *map_shared(void)
{
    void *m = mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    memset(m, 0, sizeof(shared));
    return m;
}

static void note_error(int rc)
{
    __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
    sh->last_error = rc;
    snprintf(sh->detail, sizeof sh->detail, "%s", slc_errdetail());
}

/* Content of rebuild i: keys 0..KEEP-1 plus i*7 % 300 extra keys. */
static uint64_t extra_of(int i) { return (uint64_t)(i * 7 % 300); }

static int below_keep(const slc_entry *e, void *ctx)
{
    (void)ctx;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = n << 8 | e->key[i];
    return n < KEEP;
}

static void reader(const char *path, int id)
{
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    if (rc) {
        note_error(rc);
        _exit(1);
    }
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELAXED);
    uint64_t rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
    slc_scan_opts so = {below_keep, NULL, 0, 0, 0};
    for (uint64_t it = 0; !sh->stop; it++) {
        uint8_t k[KS];
        cu_key(k, KS, t_rand(&rnd) % KEEP);
        int64_t rev;
        uint64_t n = 0;
        if (it % 64 == 63) {
            rc = slc_count(c, &so, &n);
            if (rc == SLC_OK && n != KEEP) {
                snprintf(sh->detail, sizeof sh->detail,
                         "count %" PRIu64 " of kept keys", n);
                __atomic_add_fetch(&sh->notfound, 1, __ATOMIC_RELAXED);
            }
            __atomic_add_fetch(&sh->counts, 1, __ATOMIC_RELAXED);
        } else if (it % 256 == 100) {
            /* A fresh open of the path: never missing, empty or partial. */
            slc_cache *f = NULL;
            int tries = 0;
            do
                rc = slc_open(path, &o, &f);
            while (rc == SLC_EINVALIDATED && ++tries < 8);
            if (rc == SLC_OK) {
                rc = slc_get(f, k, KS, &rev, NULL, 0);
                if (rc == SLC_NOTFOUND)
                    __atomic_add_fetch(&sh->notfound, 1, __ATOMIC_RELAXED);
                else if (rc != SLC_OK && rc != SLC_EINVALIDATED)
                    note_error(rc);
                slc_close(f);
            } else {
                note_error(rc);
            }
            __atomic_add_fetch(&sh->opens, 1, __ATOMIC_RELAXED);
            continue;
        } else {
            rc = slc_get(c, k, KS, &rev, NULL, 0);
            __atomic_add_fetch(&sh->gets, 1, __ATOMIC_RELAXED);
        }
        if (rc == SLC_EINVALIDATED) {
            __atomic_add_fetch(&sh->reopens, 1, __ATOMIC_RELAXED);
            if ((rc = slc_reopen(c)) != SLC_OK)
                note_error(rc);
        } else if (rc == SLC_NOTFOUND) {
            __atomic_add_fetch(&sh->notfound, 1, __ATOMIC_RELAXED);
        } else if (rc != SLC_OK) {
            note_error(rc);
        }
    }
    slc_close(c);
    _exit(0);
}

static void rebuild(const char *path, uint64_t cap, uint64_t keys,
                    int64_t rev)
{
    slc_options o = cu_opts(KS, IS, cap, 1, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(path, &o, &r), SLC_OK);
    uint8_t k[KS], ix[IS];
    for (uint64_t n = 0; n < keys; n++) {
        cu_key(k, KS, n);
        cu_index(ix, IS, n, rev);
        assert_int_equal(slc_rebuild_put(r, k, KS, rev, ix, IS), SLC_OK);
    }
    int rc = slc_rebuild_publish(r, SLC_WAIT_FOREVER);
    if (rc)
        fail_msg("publish: %s (%s)", slc_strerror(rc), slc_errdetail());
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
}

static void readers_follow_rebuilds(void **state)
{
    fx *f = *state;
    sh = map_shared();
    rebuild(f->path, KEEP + 10, KEEP, 0);
    pid_t pids[READERS];
    for (int i = 0; i < READERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(120);
            reader(f->path, i);
        }
    }
    while (sh->ready < READERS)
        usleep(1000);
    for (int i = 1; i <= REBUILDS; i++) {
        uint64_t keys = KEEP + extra_of(i);
        /* Capacity grows and shrinks: 1x .. 4x the content. */
        rebuild(f->path, keys * (uint64_t)(1 + i % 4), keys, i);
    }
    sh->stop = 1;
    for (int i = 0; i < READERS; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    print_message("readers: %" PRIu64 " gets, %" PRIu64 " counts, %" PRIu64
                  " fresh opens, %" PRIu64 " reopens\n",
                  sh->gets, sh->counts, sh->opens, sh->reopens);
    if (sh->errors || sh->notfound)
        fail_msg("%" PRIu64 " errors (last %s: %s), %" PRIu64 " NOTFOUND",
                 sh->errors, slc_strerror(sh->last_error), sh->detail,
                 sh->notfound);
    assert_true(sh->reopens > 0);
    munmap(sh, sizeof *sh);
}

/* ---- Crash injection ---------------------------------------------------- */

static int target, calls, die_kill;
static void crash_hook(const char *point)
{
    (void)point;
    if (++calls == target) {
        if (die_kill)
            raise(SIGKILL);
        _exit(42);
    }
}
static void record_hook(const char *point)
{
    if (sh->n < 256)
        snprintf(sh->points[sh->n++], sizeof sh->points[0], "%s", point);
}

/* Old content: keys 0..19 revision 1, capacity 40. New: keys 10..49
 * revision 2, capacity 64. Exactly one of them, whole. */
static int content_of(const char *path)
{
    slc_options o = cu_opts(KS, IS, 0, 1, 0);
    slc_cache *c;
    int rc = slc_open(path, &o, &c);
    if (rc)
        fail_msg("open after crash: %s (%s)", slc_strerror(rc),
                 slc_errdetail());
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    int which = st.slot_capacity == 40 ? 1 : 2;
    assert_int_equal(st.slot_capacity, which == 1 ? 40 : 64);
    assert_int_equal(st.live_count, which == 1 ? 20 : 40);
    for (uint64_t n = 0; n < 60; n++) {
        int in = which == 1 ? n < 20 : (n >= 10 && n < 50);
        if (in)
            cu_expect_get(c, KS, IS, n, which);
        else
            cu_expect_absent(c, KS, n);
    }
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    return which;
}

static int do_rebuild(const char *path)
{
    slc_options o = cu_opts(KS, IS, 64, 1, 0);
    slc_rebuild *r;
    int rc = slc_rebuild_begin(path, &o, &r);
    uint8_t k[KS], ix[IS];
    for (uint64_t n = 10; n < 50 && !rc; n++) {
        cu_key(k, KS, n);
        cu_index(ix, IS, n, 2);
        rc = slc_rebuild_put(r, k, KS, 2, ix, IS);
    }
    if (!rc)
        rc = slc_rebuild_publish(r, SLC_WAIT_FOREVER);
    slc_rebuild_close(r);
    return rc;
}

static void make_old(const char *path)
{
    unlink(path);
    slc_options o = cu_opts(KS, IS, 40, 1, 0);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 20; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static int temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void crash_every_step(void **state)
{
    fx *f = *state;
    sh = map_shared();
    make_old(f->path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        slc__test_hook = record_hook;
        _exit(do_rebuild(f->path) == SLC_OK ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(content_of(f->path), 2);
    /* The steps, in order. An unordered rebuild fills its temporary
     * through the append path (bulk.c): slots, buckets, header. */
    static const char *const must[] = {
        "rebuild_created", "bulk_slots_written", "bulk_buckets_written",
        "bulk_header_written", "rebuild_filled",
        "rebuild_synced", "rebuild_locked", "rebuild_renamed",
        "rebuild_dir_synced", "invalidate_odd", "invalidate_before_even",
        "rebuild_old_invalidated"};
    int at = 0;
    for (int i = 0; i < sh->n && at < (int)(sizeof must / sizeof *must); i++)
        if (!strcmp(sh->points[i], must[at]))
            at++;
    assert_int_equal(at, (int)(sizeof must / sizeof *must));
    assert_true(sh->n < 256);
    int points = sh->n, renamed_at = -1, odd_at = -1, even_at = -1;
    for (int i = 0; i < points; i++)
        if (!strcmp(sh->points[i], "rebuild_renamed"))
            renamed_at = i;
        else if (!strcmp(sh->points[i], "invalidate_odd"))
            odd_at = i;
        else if (!strcmp(sh->points[i], "invalidate_before_even"))
            even_at = i;
    assert_true(renamed_at < odd_at && odd_at < even_at);

    for (die_kill = 0; die_kill < 2; die_kill++)
        for (int t = 1; t <= points; t++) {
            make_old(f->path);
            /* A reader of the old file, to see what a crash leaves it. */
            slc_options o = cu_opts(KS, IS, 0, 1, 0);
            slc_cache *old;
            assert_int_equal(slc_open(f->path, &o, &old), SLC_OK);
            pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                alarm(30);
                target = t;
                calls = 0;
                slc__test_hook = crash_hook;
                do_rebuild(f->path);
                _exit(0);
            }
            assert_int_equal(waitpid(pid, &st, 0), pid);
            if (die_kill)
                assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
            else
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 42);
            /* Died at point t-1 (0-based): before the rename the path is
             * the old file, from the rename on the new one. */
            int want = t - 1 < renamed_at ? 1 : 2;
            int got = content_of(f->path);
            if (got != want)
                fail_msg("crash at %s (%d): content %d, want %d",
                         sh->points[t - 1], t, got, want);
            /* The old handle: intact until the invalidation's odd store
             * (the hook "invalidate_odd" runs after it); busy while the
             * generation stays odd, up to and including the hook
             * "invalidate_before_even"; invalidated once the even store
             * is past. */
            int want_rc = t - 1 < odd_at    ? SLC_OK
                          : t - 1 <= even_at ? SLC_EBUSY
                                             : SLC_EINVALIDATED;
            uint64_t len = 0;
            int rc = slc_len(old, &len);
            if (rc != want_rc)
                fail_msg("crash at %s (%d): old handle %s, want %s",
                         sh->points[t - 1], t, slc_strerror(rc),
                         slc_strerror(want_rc));
            if (rc == SLC_OK)
                assert_int_equal(len, 20);
            assert_int_equal(slc_close(old), SLC_OK);
            /* The next rebuild completes and removes the leftovers. */
            assert_int_equal(do_rebuild(f->path), SLC_OK);
            assert_int_equal(content_of(f->path), 2);
            assert_int_equal(temporaries(f->dir), 0);
        }
    munmap(sh, sizeof *sh);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(readers_follow_rebuilds),
        T(crash_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
