/* Writer exclusivity under contention, threads of one process: many threads
 * race slc_begin_write on one handle, on one handle each (with and without
 * the lock file), and against slc_invalidate. Never two writers:
 *   - a counter of sessions, raised after slc_begin_write succeeds and
 *     lowered before the session ends, must stay <= 1;
 *   - a counter of publication windows, kept by the test hooks inside the
 *     odd generation of commits and invalidations, must stay <= 1;
 *   - each winner increments a counter key read-modify-write, so an overlap
 *     would lose an update: the final value must equal the commit count.
 * Every loser gets exactly SLC_EBUSY. Label "threads": also run under TSan. */
#include "support.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"

#define THREADS 8
#define ATTEMPTS 1500

typedef struct race {
    slc_cache *handles[THREADS];
    int nhandles;
    pthread_barrier_t start;
    int sessions, sessions_max; /* active write sessions */
    int wins, commits, abandons, busy, invalidated_seen;
    int invalidate_thread; /* -1: nobody invalidates */
    int invalidated;       /* slc_invalidate returned SLC_OK */
    int invalidate_busy;   /* ... after this many SLC_EBUSY */
    int ok_after_invalidation;
    int other; /* unexpected status codes */
    int other_code;
    char detail[256];
} race;

/* Publication windows seen through the hooks (all threads, one process). */
static int windows, windows_max;
static void window_hook(const char *point)
{
    if (!strcmp(point, "after_odd") || !strcmp(point, "invalidate_odd")) {
        int n = __atomic_add_fetch(&windows, 1, __ATOMIC_ACQ_REL);
        int m = __atomic_load_n(&windows_max, __ATOMIC_RELAXED);
        while (n > m && !__atomic_compare_exchange_n(&windows_max, &m, n, 0,
                                                     __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED)) {
        }
        sched_yield(); /* hold the window open while others try */
    } else if (!strcmp(point, "before_even") ||
               !strcmp(point, "invalidate_before_even")) {
        __atomic_sub_fetch(&windows, 1, __ATOMIC_ACQ_REL);
    }
}

static const uint8_t counter_key[8] = "counter";

static void note_other(race *r, int rc)
{
    if (__atomic_fetch_add(&r->other, 1, __ATOMIC_RELAXED) == 0) {
        r->other_code = rc;
        snprintf(r->detail, sizeof r->detail, "%s", slc_errdetail());
    }
}

typedef struct targ {
    race *r;
    int id;
} targ;

/* One won session: read-modify-write the counter, commit or abandon. */
static void session(race *r, slc_writer *w, slc_cache *c, uint64_t *rng)
{
    int n = __atomic_add_fetch(&r->sessions, 1, __ATOMIC_ACQ_REL);
    int m = __atomic_load_n(&r->sessions_max, __ATOMIC_RELAXED);
    while (n > m && !__atomic_compare_exchange_n(&r->sessions_max, &m, n, 0,
                                                 __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED)) {
    }
    __atomic_add_fetch(&r->wins, 1, __ATOMIC_RELAXED);
    int64_t v = 0;
    uint8_t idx[8];
    int rc = slc_get(c, counter_key, 8, &v, idx, 8);
    if (rc != SLC_OK && rc != SLC_NOTFOUND)
        note_other(r, rc);
    sched_yield(); /* let the others run into the held lock */
    int abandon = t_rand(rng) % 4 == 0;
    memcpy(idx, &v, 8);
    rc = slc_put(w, counter_key, 8, v + 1, idx, 8);
    if (rc != SLC_OK)
        note_other(r, rc);
    __atomic_sub_fetch(&r->sessions, 1, __ATOMIC_ACQ_REL);
    if (abandon) {
        __atomic_add_fetch(&r->abandons, 1, __ATOMIC_RELAXED);
    } else {
        rc = slc_commit(w);
        if (rc != SLC_OK)
            note_other(r, rc);
        else
            __atomic_add_fetch(&r->commits, 1, __ATOMIC_RELAXED);
    }
    if ((rc = slc_writer_close(w)) != SLC_OK)
        note_other(r, rc);
}

static void *racer(void *arg)
{
    targ *t = arg;
    race *r = t->r;
    slc_cache *c = r->handles[t->id % r->nhandles];
    uint64_t rng = (uint64_t)t->id * 0x9E3779B97F4A7C15ull + 1;
    pthread_barrier_wait(&r->start);
    for (int i = 0; i < ATTEMPTS; i++) {
        if (t->id == r->invalidate_thread && i == ATTEMPTS / 2) {
            /* Halfway: invalidate, retrying while sessions hold the lock. */
            int rc = SLC_EBUSY;
            for (int k = 0; k < 1000000 && rc == SLC_EBUSY; k++) {
                rc = slc_invalidate(c);
                if (rc == SLC_EBUSY) {
                    __atomic_add_fetch(&r->invalidate_busy, 1, __ATOMIC_RELAXED);
                    sched_yield();
                }
            }
            if (rc == SLC_OK)
                __atomic_store_n(&r->invalidated, 1, __ATOMIC_RELEASE);
            else
                note_other(r, rc);
        }
        int before = __atomic_load_n(&r->invalidated, __ATOMIC_ACQUIRE);
        slc_writer *w = NULL;
        int rc = slc_begin_write(c, &w);
        if (rc == SLC_OK) {
            if (before)
                __atomic_add_fetch(&r->ok_after_invalidation, 1,
                                   __ATOMIC_RELAXED);
            session(r, w, c, &rng);
            sched_yield(); /* give the free lock to someone else */
        } else if (rc == SLC_EBUSY) {
            if (w)
                note_other(r, 1000); /* *out must be NULL on failure */
            __atomic_add_fetch(&r->busy, 1, __ATOMIC_RELAXED);
            sched_yield(); /* spread the wins over the threads */
        } else if (rc == SLC_EINVALIDATED && r->invalidate_thread >= 0) {
            __atomic_add_fetch(&r->invalidated_seen, 1, __ATOMIC_RELAXED);
        } else {
            note_other(r, rc);
        }
    }
    return NULL;
}

/* Race THREADS threads over `nhandles` handles of one new file. */
static void run_race(int nhandles, uint32_t flags, int invalidate_thread,
                     race *r, char **dir_out)
{
    char *dir = t_tmpdir();
    char *path = t_join(dir, "x.slc");
    slc_options o = {8, 8, 1, 64, flags};
    memset(r, 0, sizeof *r);
    r->nhandles = nhandles;
    r->invalidate_thread = invalidate_thread;
    for (int i = 0; i < nhandles; i++)
        assert_int_equal(slc_open(path, &o, &r->handles[i]), SLC_OK);
    assert_int_equal(pthread_barrier_init(&r->start, NULL, THREADS), 0);
    windows = windows_max = 0;
    slc__test_hook = window_hook;
    pthread_t th[THREADS];
    targ ta[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ta[i] = (targ){r, i};
        assert_int_equal(pthread_create(&th[i], NULL, racer, &ta[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    slc__test_hook = NULL;
    pthread_barrier_destroy(&r->start);
    fprintf(stderr,
            "[thread_exclusive] %d threads x %d attempts on %d handle(s)%s: "
            "%d sessions won (%d committed, %d abandoned), %d SLC_EBUSY, "
            "%d SLC_EINVALIDATED (slc_invalidate: %d SLC_EBUSY first); max "
            "concurrent sessions %d, max publication windows %d\n",
            THREADS, ATTEMPTS, nhandles,
            flags & SLC_NO_LOCK ? " (SLC_NO_LOCK)" : "", r->wins, r->commits,
            r->abandons, r->busy, r->invalidated_seen, r->invalidate_busy,
            r->sessions_max,
            windows_max);
    if (r->other)
        fprintf(stderr, "unexpected status %d (%d times): %s\n", r->other_code,
                r->other, r->detail);
    assert_int_equal(r->other, 0);
    assert_int_equal(r->sessions_max, 1);
    assert_int_equal(windows_max, 1);
    assert_int_equal(r->ok_after_invalidation, 0);
    assert_true(r->wins > 0);
    assert_true(r->busy > 0);
    assert_int_equal(r->wins + r->busy + r->invalidated_seen,
                     THREADS * ATTEMPTS);
    free(path);
    *dir_out = dir;
}

/* No update lost: the counter and the generation count the commits. */
static void check_counter(race *r)
{
    int64_t v = -1;
    uint8_t idx[8];
    int rc = slc_get(r->handles[0], counter_key, 8, &v, idx, 8);
    assert_int_equal(rc, r->commits ? SLC_OK : SLC_NOTFOUND);
    if (r->commits)
        assert_int_equal(v, r->commits);
    uint64_t g;
    assert_int_equal(slc_generation(r->handles[0], &g), SLC_OK);
    assert_int_equal(g, 2 * (uint64_t)r->commits);
    assert_int_equal(slc_verify(r->handles[0]), SLC_OK);
}

static void finish(race *r, char *dir)
{
    for (int i = 0; i < r->nhandles; i++)
        assert_int_equal(slc_close(r->handles[i]), SLC_OK);
    t_rmtree(dir);
    free(dir);
}

static void one_handle(void **state)
{
    (void)state;
    race r;
    char *dir;
    run_race(1, 0, -1, &r, &dir);
    check_counter(&r);
    finish(&r, dir);
}

static void handle_per_thread(void **state)
{
    (void)state;
    race r;
    char *dir;
    run_race(THREADS, 0, -1, &r, &dir);
    check_counter(&r);
    finish(&r, dir);
}

/* Without the lock file the process registry alone must exclude. */
static void handle_per_thread_no_lock(void **state)
{
    (void)state;
    race r;
    char *dir;
    run_race(THREADS, SLC_NO_LOCK, -1, &r, &dir);
    check_counter(&r);
    finish(&r, dir);
}

/* slc_invalidate competes for the same exclusivity; once it has succeeded
 * no session can begin. */
static void invalidate_races_writers(void **state)
{
    (void)state;
    race r;
    char *dir;
    run_race(3, 0, 0, &r, &dir);
    assert_int_equal(r.invalidated, 1);
    assert_true(r.invalidated_seen > 0);
    uint64_t n;
    for (int i = 0; i < r.nhandles; i++)
        assert_int_equal(slc_len(r.handles[i], &n), SLC_EINVALIDATED);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(r.handles[1], &w), SLC_EINVALIDATED);
    assert_null(w);
    finish(&r, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_handle),
        cmocka_unit_test(handle_per_thread),
        cmocka_unit_test(handle_per_thread_no_lock),
        cmocka_unit_test(invalidate_races_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
