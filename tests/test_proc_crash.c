/* Crash injection: a child process dies at every step of a commit or an
 * invalidation (through the test hooks of hook.h), by _exit and by SIGKILL.
 * Afterwards the file is never silently wrong:
 *   - a crash before the odd store (in staging) leaves the file byte for
 *     byte as it was;
 *   - every hooked step comes after the odd store, so slc_open (locking)
 *     reports SLC_ECORRUPT, slc_open with SLC_NO_LOCK SLC_EBUSY, and reads
 *     on a handle opened before the crash SLC_EBUSY (never data);
 *   - the dead writer's flock is gone: slc_begin_write in another process
 *     and in this one reports the crash (SLC_ECORRUPT), not SLC_EBUSY;
 *   - slc_invalidate still works and makes every reader reopen; the path
 *     can be deleted and the cache recreated.
 * Plus kills at arbitrary moments of a running writer: the file is then the
 * exact state of a commit the writer made, or SLC_ECORRUPT. */
#include "support.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hook.h"
#include "stress_model.h"

#define MAX_POINTS 64
#define EXIT_CODE 42

enum { SC_COMMIT, SC_COMMIT_SYNC, SC_REHASH, SC_INVALIDATE, SC_COUNT };
static const char *const sc_name[SC_COUNT] = {"commit", "commit (sync)",
                                              "commit with rehash",
                                              "invalidate"};
enum { DIE_EXIT, DIE_KILL };

/* Hook points recorded by a dry run, shared with the parent. */
typedef struct shared {
    int n;
    char points[MAX_POINTS][24];
    uint64_t progress; /* random kills: commits the writer completed */
} shared;
static shared *sh;

static int target, calls, die_how;
static void crash_hook(const char *point)
{
    (void)point;
    if (++calls == target) {
        if (die_how == DIE_KILL)
            raise(SIGKILL);
        _exit(EXIT_CODE);
    }
}
static void record_hook(const char *point)
{
    if (sh->n < MAX_POINTS)
        snprintf(sh->points[sh->n++], sizeof sh->points[0], "%s", point);
}

static slc_options opts(uint32_t flags)
{
    slc_options o = {8, 8, 9, 16, flags}; /* 32 buckets */
    return o;
}

static void key_of(int k, uint8_t key[8])
{
    memcpy(key, "key-", 4);
    key[4] = 0;
    key[5] = 0;
    key[6] = (uint8_t)(k >> 8);
    key[7] = (uint8_t)k;
}

/* The state every case starts from: keys 1..10 and a user header. */
static char *make_base(char **dir)
{
    *dir = t_tmpdir();
    char *path = t_join(*dir, "c.slc");
    slc_options o = opts(0);
    slc_cache *c;
    slc_writer *w;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (int k = 1; k <= 10; k++) {
        uint8_t key[8], idx[8] = {(uint8_t)k, 0xA5};
        key_of(k, key);
        assert_int_equal(slc_put(w, key, 8, k, idx, 8), SLC_OK);
    }
    uint8_t ud[64];
    memset(ud, 0x11, sizeof ud);
    assert_int_equal(slc_set_user_flags(w, 1), SLC_OK);
    assert_int_equal(slc_set_user_data(w, ud), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    return path;
}

/* The operation a child performs (and dies in). SLC_OK when it finished. */
static int do_op(const char *path, int sc)
{
    slc_options o = opts(sc == SC_COMMIT_SYNC ? SLC_WRITEBACK_SYNC : 0);
    slc_cache *c;
    int rc = slc_open(path, &o, &c);
    if (rc)
        return rc;
    if (sc == SC_INVALIDATE)
        return slc_invalidate(c);
    slc_writer *w;
    if ((rc = slc_begin_write(c, &w)))
        return rc;
    uint8_t key[8], idx[8] = {0xEE};
    if (sc == SC_REHASH) {
        /* 9 tombstones in 32 buckets: past the quarter, so it rehashes. */
        for (int k = 1; k <= 9 && !rc; k++) {
            key_of(k, key);
            rc = slc_delete(w, key, 8, NULL);
        }
    } else {
        for (int k = 1; k <= 3 && !rc; k++) { /* updates */
            key_of(k, key);
            rc = slc_put(w, key, 8, 100 + k, idx, 8);
        }
        for (int k = 4; k <= 6 && !rc; k++) { /* deletes */
            key_of(k, key);
            rc = slc_delete(w, key, 8, NULL);
        }
        for (int k = 11; k <= 13 && !rc; k++) { /* inserts */
            key_of(k, key);
            rc = slc_put(w, key, 8, 100 + k, idx, 8);
        }
        if (!rc)
            rc = slc_set_user_flags(w, 2);
    }
    if (!rc)
        rc = slc_commit(w);
    slc_writer_close(w);
    slc_close(c);
    return rc;
}

/* Record the hook sequence of one scenario in a child that completes it. */
static void record(int sc)
{
    char *dir, *path = make_base(&dir);
    sh->n = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        slc__test_hook = record_hook;
        _exit(do_op(path, sc) == SLC_OK ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    t_rmtree(dir);
    free(path);
    free(dir);
}

/* The documented order of steps (SLC1 8.4, 16.2): updates, deletes,
 * inserts (slot, then bucket), rehash, CRC, even. */
static void expect_sequence(int sc)
{
    const char *want[MAX_POINTS];
    int n = 0;
    if (sc == SC_INVALIDATE) {
        want[n++] = "invalidate_odd";
        want[n++] = "before_crc";
        want[n++] = "invalidate_before_even";
    } else {
        want[n++] = "after_odd";
        if (sc == SC_REHASH) {
            for (int i = 0; i < 9; i++)
                want[n++] = "bucket_write";
            want[n++] = "rehash";
        } else {
            for (int i = 0; i < 3; i++)
                want[n++] = "slot_write";
            for (int i = 0; i < 3; i++)
                want[n++] = "bucket_write";
            for (int i = 0; i < 3; i++) {
                want[n++] = "slot_write";
                want[n++] = "bucket_write";
            }
        }
        want[n++] = "before_crc";
        want[n++] = "before_even";
    }
    assert_int_equal(sh->n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(sh->points[i], want[i]);
}

static int visits;
static int count_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    (void)ctx;
    visits++;
    return 0;
}

static uint64_t file_generation(const char *path)
{
    size_t len;
    char *b = t_read_file(path, &len);
    assert_non_null(b);
    assert_true(len >= 256);
    uint64_t g = sm_get64((const uint8_t *)b + 0x40);
    free(b);
    return g;
}

/* Run a child of `fn`-style: 0 when it exits 0. */
static int child_begin_write_code(slc_cache *inherited)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        slc_writer *w = NULL;
        int rc = slc_begin_write(inherited, &w);
        _exit(rc == SLC_ECORRUPT && !w ? 0 : 1);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Everything a crash after the odd store must look like. */
static void check_crashed(const char *dir, const char *path, slc_cache *pre,
                          int sc, int point)
{
    (void)dir;
    uint64_t g = file_generation(path);
    assert_true(g & 1);
    slc_options o = opts(0);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_ECORRUPT);
    assert_null(c);
    o.flags = SLC_NO_LOCK;
    assert_int_equal(slc_open(path, &o, &c), SLC_EBUSY);
    slc_options ro;
    assert_int_equal(slc_read_options(path, &ro), SLC_ECORRUPT);
    /* A handle from before the crash returns no data, only SLC_EBUSY. */
    uint64_t n;
    uint8_t key[8], idx[8], ud[64];
    int64_t rev;
    key_of(1, key);
    assert_int_equal(slc_len(pre, &n), SLC_EBUSY);
    assert_int_equal(slc_get(pre, key, 8, &rev, idx, 8), SLC_EBUSY);
    assert_int_equal(slc_user_header(pre, &n, ud), SLC_EBUSY);
    visits = 0;
    assert_int_equal(slc_scan(pre, NULL, count_visit, NULL), SLC_EBUSY);
    slc_scan_opts so = {NULL, NULL, SLC_SCAN_STREAMING, 0, 0};
    assert_int_equal(slc_scan(pre, &so, count_visit, NULL), SLC_EBUSY);
    assert_int_equal(visits, 0);
    /* The dead writer's lock went with it: another process and this one
     * get the lock and see the crash. */
    assert_int_equal(child_begin_write_code(pre), 0);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(pre, &w), SLC_ECORRUPT);
    assert_null(w);
    assert_int_equal(file_generation(path), g); /* nothing was written */
    /* Invalidation steps past the odd value (g+2, g+3): every reader learns to
     * reopen, including after a crashed invalidation. */
    assert_int_equal(slc_invalidate(pre), SLC_OK);
    assert_int_equal(file_generation(path), g + 3);
    assert_int_equal(slc_len(pre, &n), SLC_EINVALIDATED);
    o.flags = 0;
    assert_int_equal(slc_open(path, &o, &c), SLC_EINVALIDATED);
    assert_int_equal(slc_invalidate(pre), SLC_OK); /* idempotent */
    assert_int_equal(file_generation(path), g + 3);
    /* Delete and recreate. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_len(c, &n), SLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_put(w, key, 8, 7, idx, 8), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_get(c, key, 8, &rev, idx, 8), SLC_OK);
    assert_int_equal(rev, 7);
    assert_int_equal(slc_close(c), SLC_OK);
    (void)sc;
    (void)point;
}

static void crash_every_step(void **state)
{
    (void)state;
    int cases = 0;
    for (int sc = 0; sc < SC_COUNT; sc++) {
        record(sc);
        expect_sequence(sc);
        int points = sh->n;
        char names[MAX_POINTS][24];
        memcpy(names, sh->points, sizeof names);
        for (int p = 1; p <= points; p++) {
            for (int how = DIE_EXIT; how <= DIE_KILL; how++) {
                char *dir, *path = make_base(&dir);
                slc_options o = opts(0);
                slc_cache *pre;
                assert_int_equal(slc_open(path, &o, &pre), SLC_OK);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                    alarm(30);
                    target = p;
                    die_how = how;
                    slc__test_hook = crash_hook;
                    do_op(path, sc);
                    _exit(3); /* the hook never fired: a test bug */
                }
                int st;
                assert_int_equal(waitpid(pid, &st, 0), pid);
                if (how == DIE_KILL) {
                    assert_true(WIFSIGNALED(st));
                    assert_int_equal(WTERMSIG(st), SIGKILL);
                } else {
                    assert_true(WIFEXITED(st));
                    assert_int_equal(WEXITSTATUS(st), EXIT_CODE);
                }
                check_crashed(dir, path, pre, sc, p);
                assert_int_equal(slc_close(pre), SLC_OK);
                t_rmtree(dir);
                free(path);
                free(dir);
                cases++;
            }
        }
        fprintf(stderr, "[proc_crash] %-18s %2d steps:", sc_name[sc], points);
        for (int p = 0; p < points; p++)
            fprintf(stderr, " %s", names[p]);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "[proc_crash] %d crashes (_exit and SIGKILL at each "
                    "step): all SLC_ECORRUPT, none readable\n",
            cases);
}

/* A writer that dies while staging (before any odd store) changes
 * nothing, and its lock is released. */
static void crash_while_staging(void **state)
{
    (void)state;
    for (int how = DIE_EXIT; how <= DIE_KILL; how++) {
        char *dir, *path = make_base(&dir);
        size_t len0, len1;
        char *before = t_read_file(path, &len0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(30);
            slc_options o = opts(0);
            slc_cache *c;
            slc_writer *w;
            if (slc_open(path, &o, &c) || slc_begin_write(c, &w))
                _exit(1);
            uint8_t key[8], idx[8] = {0};
            key_of(99, key);
            slc_put(w, key, 8, 1, idx, 8);
            key_of(1, key);
            slc_delete(w, key, 8, NULL);
            slc_set_user_flags(w, 77);
            if (how == DIE_KILL)
                raise(SIGKILL);
            _exit(EXIT_CODE);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(how == DIE_KILL ? WIFSIGNALED(st)
                                    : WIFEXITED(st) &&
                                          WEXITSTATUS(st) == EXIT_CODE);
        char *after = t_read_file(path, &len1);
        assert_int_equal(len0, len1);
        assert_memory_equal(before, after, len0);
        slc_options o = opts(0);
        slc_cache *c;
        slc_writer *w;
        assert_int_equal(slc_open(path, &o, &c), SLC_OK);
        uint64_t n, f;
        assert_int_equal(slc_len(c, &n), SLC_OK);
        assert_int_equal(n, 10);
        assert_int_equal(slc_user_header(c, &f, NULL), SLC_OK);
        assert_int_equal(f, 1);
        assert_int_equal(slc_verify(c), SLC_OK);
        assert_int_equal(slc_begin_write(c, &w), SLC_OK); /* lock free */
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
        free(before);
        free(after);
        t_rmtree(dir);
        free(path);
        free(dir);
    }
}

/* SIGKILL a writer running the stress schedule at arbitrary moments. The
 * file must then hold exactly the state of a commit it made - the last
 * one it reported or the next - or be detected (SLC_ECORRUPT). */
static void kill_running_writer(void **state)
{
    (void)state;
    enum { KILLS = 40 };
    uint64_t seed = t_seed("proc_crash_kill");
    int clean = 0, corrupt = 0;
    for (int round = 0; round < KILLS; round++) {
        sm_params p = {sm_mix2(seed, (uint64_t)round), 4, 40, 8, 4096, 400};
        char *dir = t_tmpdir();
        char *path = t_join(dir, "k.slc");
        slc_options o = sm_options(p.capacity);
        slc_cache *c;
        assert_int_equal(slc_open(path, &o, &c), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
        __atomic_store_n(&sh->progress, 0, __ATOMIC_RELEASE);
        uint64_t stop_after = 1 + sm_mix2(seed ^ 0x4b, (uint64_t)round) % 300;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(60);
            /* Every other round the writer yields inside its odd windows,
             * where a kill then likely lands. */
            if (round % 2 == 0)
                slc__test_hook = sm_writer_hook;
            sm_writer w;
            sm_wstats ws;
            memset(&ws, 0, sizeof ws);
            sm_slot slot = {path, NULL, 0, NULL};
            sm_writer_init(&w, &p, &slot, &ws);
            if (sm_replace(&slot, 0) != SLC_OK)
                _exit(1);
            for (uint64_t n = 1; n <= p.commits; n++) {
                if (sm_commit_one(&w, n)) {
                    fprintf(stderr, "%s\n", w.self.err);
                    _exit(2);
                }
                __atomic_store_n(&sh->progress, n, __ATOMIC_RELEASE);
            }
            _exit(0);
        }
        while (__atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE) < stop_after)
            sched_yield();
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFSIGNALED(st)) { /* it finished all commits first */
            assert_true(WIFEXITED(st));
            assert_int_equal(WEXITSTATUS(st), 0);
        }
        uint64_t done = __atomic_load_n(&sh->progress, __ATOMIC_ACQUIRE);
        o.slot_capacity = 0;
        int rc = slc_open(path, &o, &c);
        if (rc == SLC_ECORRUPT) {
            assert_true(file_generation(path) & 1);
            corrupt++;
        } else {
            assert_int_equal(rc, SLC_OK);
            uint64_t f;
            uint8_t ud[64];
            assert_int_equal(slc_user_header(c, &f, ud), SLC_OK);
            assert_true(f == done || f == done + 1);
            assert_int_equal(slc_verify(c), SLC_OK);
            sm_stats rst;
            sm_reader r;
            memset(&rst, 0, sizeof rst);
            sm_reader_init(&r, &p, &rst, 3);
            int bad = sm_check_user(&r, f, ud);
            if (!bad) {
                r.n_ents = 0;
                assert_int_equal(slc_scan(c, NULL, sm_visit, &r), SLC_OK);
                sm_pred all;
                memset(&all, 0, sizeof all);
                bad = sm_check_scan(&r, f, f, &all, 0, 1);
            }
            if (bad)
                fprintf(stderr, "%s\n", r.err);
            assert_int_equal(bad, 0);
            sm_reader_free(&r);
            assert_int_equal(slc_close(c), SLC_OK);
            clean++;
        }
        t_rmtree(dir);
        free(path);
        free(dir);
    }
    fprintf(stderr, "[proc_crash] %d SIGKILLs of a running writer: %d left "
                    "the exact state of a commit, %d SLC_ECORRUPT\n",
            KILLS, clean, corrupt);
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
        cmocka_unit_test(crash_every_step),
        cmocka_unit_test(crash_while_staging),
        cmocka_unit_test(kill_running_writer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
