/* Writer exclusivity across processes (flock lock file) and within them
 * (registry): processes - and threads inside them, on inherited and own
 * handles - race slc_begin_write. Never two writers anywhere:
 *   - a session counter in a MAP_SHARED anonymous mapping made before fork,
 *     raised after slc_begin_write succeeds and lowered before the session
 *     ends, stays <= 1;
 *   - a publication-window counter kept by the test hooks inside the odd
 *     generation of every commit stays <= 1;
 *   - winners increment a counter key read-modify-write: the final value
 *     equals the number of commits, the generation twice that.
 * Every loser gets exactly SLC_EBUSY. Each child runs under alarm(). */
#include "support.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hook.h"

#define MAX_PROCS 8
#define MAX_THREADS 4

typedef struct shared {
    int ready, go;
    int sessions, sessions_max, windows, windows_max;
    int wins, commits, abandons, busy;
    int other, other_code;
    char detail[256];
} shared;

static shared *sh; /* mapped before fork: one instance for all processes */

static void raise_max(int *cur, int *max)
{
    int n = __atomic_add_fetch(cur, 1, __ATOMIC_ACQ_REL);
    int m = __atomic_load_n(max, __ATOMIC_RELAXED);
    while (n > m && !__atomic_compare_exchange_n(max, &m, n, 0,
                                                 __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED)) {
    }
}

static void window_hook(const char *point)
{
    if (!strcmp(point, "after_odd")) {
        raise_max(&sh->windows, &sh->windows_max);
        sched_yield(); /* hold the window open while others try */
    } else if (!strcmp(point, "before_even")) {
        __atomic_sub_fetch(&sh->windows, 1, __ATOMIC_ACQ_REL);
    }
}

static void note_other(int rc)
{
    if (__atomic_fetch_add(&sh->other, 1, __ATOMIC_RELAXED) == 0) {
        sh->other_code = rc;
        snprintf(sh->detail, sizeof sh->detail, "pid %d: %s", (int)getpid(),
                 slc_errdetail());
    }
}

static const uint8_t counter_key[8] = "counter";

/* `attempts` tries at a session on c: the race body of every test. */
static void contend(slc_cache *c, int attempts, uint64_t seed)
{
    uint64_t rng = seed | 1;
    for (int i = 0; i < attempts; i++) {
        slc_writer *w = NULL;
        int rc = slc_begin_write(c, &w);
        if (rc == SLC_EBUSY) {
            if (w)
                note_other(1000); /* *out must stay NULL */
            __atomic_add_fetch(&sh->busy, 1, __ATOMIC_RELAXED);
            sched_yield();
            continue;
        }
        if (rc != SLC_OK) {
            note_other(rc);
            continue;
        }
        raise_max(&sh->sessions, &sh->sessions_max);
        __atomic_add_fetch(&sh->wins, 1, __ATOMIC_RELAXED);
        int64_t v = 0;
        uint8_t idx[8] = {0};
        rc = slc_get(c, counter_key, 8, &v, idx, 8);
        if (rc != SLC_OK && rc != SLC_NOTFOUND)
            note_other(rc);
        sched_yield(); /* let the others run into the held lock */
        if ((rc = slc_put(w, counter_key, 8, v + 1, idx, 8)) != SLC_OK)
            note_other(rc);
        __atomic_sub_fetch(&sh->sessions, 1, __ATOMIC_ACQ_REL);
        if (t_rand(&rng) % 4 == 0) {
            __atomic_add_fetch(&sh->abandons, 1, __ATOMIC_RELAXED);
        } else if ((rc = slc_commit(w)) == SLC_OK) {
            __atomic_add_fetch(&sh->commits, 1, __ATOMIC_RELAXED);
        } else {
            note_other(rc);
        }
        if ((rc = slc_writer_close(w)) != SLC_OK)
            note_other(rc);
        sched_yield(); /* give the free lock to someone else */
    }
}

static void start_line(int parties)
{
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < parties)
        sched_yield();
}

typedef struct targ {
    slc_cache *c;
    int attempts, parties;
    uint64_t seed;
} targ;

static void *thread_main(void *arg)
{
    targ *t = arg;
    start_line(t->parties);
    contend(t->c, t->attempts, t->seed);
    return NULL;
}

static slc_options opts(void)
{
    slc_options o = {8, 8, 5, 64, 0};
    return o;
}

static char *new_file(char **dir)
{
    *dir = t_tmpdir();
    char *path = t_join(*dir, "x.slc");
    slc_options o = opts();
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    return path;
}

static void reset_shared(void)
{
    memset(sh, 0, sizeof *sh);
    slc__test_hook = window_hook;
}

/* Waits for the children and checks the shared verdict and the data. */
static void conclude(pid_t *pids, int n, const char *path, int attempts_total,
                     const char *what)
{
    for (int i = 0; i < n; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("child %d: %s %d", i,
                     WIFSIGNALED(st) ? "signal" : "exit status",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    }
    slc__test_hook = NULL;
    fprintf(stderr,
            "[proc_exclusive] %s: %d attempts, %d sessions (%d committed, %d "
            "abandoned), %d SLC_EBUSY; max concurrent sessions %d, max "
            "publication windows %d\n",
            what, attempts_total, sh->wins, sh->commits, sh->abandons, sh->busy,
            sh->sessions_max, sh->windows_max);
    if (sh->other)
        fprintf(stderr, "unexpected status %d (%d times): %s\n", sh->other_code,
                sh->other, sh->detail);
    assert_int_equal(sh->other, 0);
    assert_int_equal(sh->sessions_max, 1);
    assert_int_equal(sh->windows_max, 1);
    assert_int_equal(sh->wins + sh->busy, attempts_total);
    assert_true(sh->wins > 0);
    assert_true(sh->busy > 0);

    slc_options o = opts();
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    int64_t v = -1;
    uint8_t idx[8];
    assert_int_equal(slc_get(c, counter_key, 8, &v, idx, 8),
                     sh->commits ? SLC_OK : SLC_NOTFOUND);
    if (sh->commits)
        assert_int_equal(v, sh->commits);
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 2 * (uint64_t)sh->commits);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* M processes, one handle each (opened in the child), one thread each. */
static void processes_race(void **state)
{
    (void)state;
    enum { PROCS = 6, ATTEMPTS = 400 };
    char *dir, *path = new_file(&dir);
    reset_shared();
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(60);
            slc_options o = opts();
            slc_cache *c;
            if (slc_open(path, &o, &c) != SLC_OK)
                _exit(10);
            start_line(PROCS);
            contend(c, ATTEMPTS, (uint64_t)i + 1);
            _exit(slc_close(c) == SLC_OK ? 0 : 11);
        }
    }
    conclude(pids, PROCS, path, PROCS * ATTEMPTS, "6 processes");
    t_rmtree(dir);
    free(path);
    free(dir);
}

/* Processes x threads: in each process, threads alternate between a handle
 * inherited from the parent and one the child opened itself. */
static void processes_and_threads_race(void **state)
{
    (void)state;
    enum { PROCS = 3, THREADS = 3, ATTEMPTS = 300 };
    char *dir, *path = new_file(&dir);
    slc_options o = opts();
    slc_cache *inherited;
    assert_int_equal(slc_open(path, &o, &inherited), SLC_OK);
    reset_shared();
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(60);
            slc_cache *own;
            if (slc_open(path, &o, &own) != SLC_OK)
                _exit(10);
            pthread_t th[THREADS];
            targ ta[THREADS];
            for (int k = 0; k < THREADS; k++) {
                ta[k] = (targ){k % 2 ? own : inherited, ATTEMPTS,
                               PROCS * THREADS, (uint64_t)(i * THREADS + k + 1)};
                if (pthread_create(&th[k], NULL, thread_main, &ta[k]))
                    _exit(12);
            }
            for (int k = 0; k < THREADS; k++)
                pthread_join(th[k], NULL);
            _exit(slc_close(own) == SLC_OK && slc_close(inherited) == SLC_OK
                      ? 0
                      : 11);
        }
    }
    conclude(pids, PROCS, path, PROCS * THREADS * ATTEMPTS,
             "3 processes x 3 threads, inherited + own handles");
    assert_int_equal(slc_close(inherited), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

/* Step by step: while one writer is active, a second handle in the same
 * process, another thread and a forked child (inherited handle and own
 * handle) all get SLC_EBUSY; then the child's session excludes the parent's
 * handles and threads the same way. */
typedef struct try_arg {
    slc_cache *c;
    int rc;
} try_arg;

static void *try_begin(void *arg)
{
    try_arg *t = arg;
    slc_writer *w = NULL;
    t->rc = slc_begin_write(t->c, &w);
    if (w)
        slc_writer_close(w);
    return NULL;
}

static int thread_try(slc_cache *c)
{
    pthread_t th;
    try_arg t = {c, 0};
    if (pthread_create(&th, NULL, try_begin, &t))
        return -1000;
    pthread_join(th, NULL);
    return t.rc;
}

static void exactly_one_writer_sequence(void **state)
{
    (void)state;
    char *dir, *path = new_file(&dir);
    slc_options o = opts();
    slc_cache *h1, *h2;
    assert_int_equal(slc_open(path, &o, &h1), SLC_OK);
    assert_int_equal(slc_open(path, &o, &h2), SLC_OK);

    slc_writer *w, *w2 = NULL;
    assert_int_equal(slc_begin_write(h1, &w), SLC_OK);
    assert_int_equal(slc_begin_write(h1, &w2), SLC_EBUSY);
    assert_null(w2);
    assert_int_equal(slc_begin_write(h2, &w2), SLC_EBUSY);
    assert_int_equal(thread_try(h1), SLC_EBUSY);
    assert_int_equal(thread_try(h2), SLC_EBUSY);
    assert_int_equal(slc_invalidate(h2), SLC_EBUSY);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        slc_cache *own;
        slc_writer *cw = NULL;
        int ok = slc_begin_write(h1, &cw) == SLC_EBUSY && !cw &&
                 slc_begin_write(h2, &cw) == SLC_EBUSY &&
                 thread_try(h2) == SLC_EBUSY &&
                 slc_open(path, &o, &own) == SLC_OK &&
                 slc_begin_write(own, &cw) == SLC_EBUSY &&
                 slc_invalidate(own) == SLC_EBUSY && slc_close(own) == SLC_OK;
        _exit(ok ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    uint8_t idx[8] = {1};
    assert_int_equal(slc_put(w, counter_key, 8, 1, idx, 8), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);

    /* Now a child holds the session: pipes order the steps. */
    int to_child[2], to_parent[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        char b = 0;
        slc_writer *cw = NULL;
        int rc = slc_begin_write(h2, &cw); /* inherited handle */
        b = rc == SLC_OK ? 'w' : 'x';
        if (write(to_parent[1], &b, 1) != 1 || read(to_child[0], &b, 1) != 1)
            _exit(2);
        if (rc != SLC_OK)
            _exit(3);
        uint8_t x[8] = {2};
        rc = slc_put(cw, counter_key, 8, 2, x, 8);
        if (rc == SLC_OK)
            rc = slc_commit(cw);
        slc_writer_close(cw);
        _exit(rc == SLC_OK ? 0 : 4);
    }
    char b;
    assert_int_equal(read(to_parent[0], &b, 1), 1);
    assert_int_equal(b, 'w');
    assert_int_equal(slc_begin_write(h1, &w2), SLC_EBUSY);
    assert_int_equal(slc_begin_write(h2, &w2), SLC_EBUSY);
    assert_int_equal(thread_try(h1), SLC_EBUSY);
    assert_int_equal(slc_invalidate(h1), SLC_EBUSY);
    assert_int_equal(write(to_child[1], "g", 1), 1);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    int64_t rev;
    assert_int_equal(slc_get(h1, counter_key, 8, &rev, idx, 8), SLC_OK);
    assert_int_equal(rev, 2);
    assert_int_equal(slc_begin_write(h1, &w2), SLC_OK); /* free again */
    assert_int_equal(slc_writer_close(w2), SLC_OK);
    uint64_t g;
    assert_int_equal(slc_generation(h2, &g), SLC_OK);
    assert_int_equal(g, 4);

    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
    assert_int_equal(slc_close(h1), SLC_OK);
    assert_int_equal(slc_close(h2), SLC_OK);
    t_rmtree(dir);
    free(path);
    free(dir);
}

static int setup(void **state)
{
    (void)state;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return sh == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(sh, sizeof *sh);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(processes_race),
        cmocka_unit_test(processes_and_threads_race),
        cmocka_unit_test(exactly_one_writer_sequence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
