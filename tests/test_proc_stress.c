/* Multi-process stress: one writer process commits a deterministic schedule
 * (updates, inserts, deletes, user header, abandoned sessions, rehashes,
 * file rotation with invalidation) while reader processes hammer every read
 * call and check each result against the schedule (stress_model.h). A torn
 * read, a stale read or a result from an odd generation fails the test.
 *
 * Bounded by the writer's commit count. SLC_STRESS_SCALE=N multiplies it
 * (and the reader count grows to 2 + N/2, at most 8). */
#include "support.h"

#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "hook.h"
#include "stress_model.h"

#define MAX_READERS 8
#define BASE_COMMITS 20000u
#define PACE_MUL 2u /* each reader does at least PACE_MUL reads per commit */

typedef struct shared {
    sm_params p;
    int fd_writes; /* the writer stores through its descriptor (pwrite) */
    int readers;
    int started, done, failed; /* started: commit 1 is published */
    uint64_t reader_ops[MAX_READERS];
    sm_stats rs[MAX_READERS];
    sm_wstats ws;
    char err[MAX_READERS + 1][600];
} shared;

static unsigned stress_scale(void)
{
    const char *s = getenv("SLC_STRESS_SCALE");
    unsigned long v = s && *s ? strtoul(s, NULL, 10) : 1;
    return v < 1 ? 1 : v > 1000 ? 1000 : (unsigned)v;
}

static void fail_child(shared *sh, int who, const char *msg)
{
    snprintf(sh->err[who], sizeof sh->err[who], "%s", msg);
    __atomic_store_n(&sh->failed, 1, __ATOMIC_RELEASE);
    fprintf(stderr, "[%s %d] %s\n", who == 0 ? "writer" : "reader", who, msg);
    _exit(1);
}

/* Writer pacing: wait until every reader has kept up (op counts only). */
static void pace(void *ctx, uint64_t n)
{
    shared *sh = ctx;
    if (n == 2) /* readers start on a non-empty file */
        __atomic_store_n(&sh->started, 1, __ATOMIC_RELEASE);
    for (;;) {
        if (__atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE))
            return;
        int behind = 0;
        for (int i = 0; i < sh->readers; i++)
            behind |= __atomic_load_n(&sh->reader_ops[i], __ATOMIC_RELAXED) <
                      (n - 1) * PACE_MUL;
        if (!behind)
            return;
        sched_yield();
    }
}

static void writer_main(shared *sh, const char *path)
{
    slc__test_hook = sm_writer_hook;
    slc__test_fd_writes = sh->fd_writes;
    char err[600];
    sm_slot slot = {path, NULL, 0, NULL};
    if (sm_writer_run(&sh->p, &slot, &sh->ws, pace, sh, err, sizeof err))
        fail_child(sh, 0, err);
    slc_close(slot.c);
    __atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
    _exit(0);
}

static void reader_main(shared *sh, int i, const char *path)
{
    int who = i + 1;
    sm_reader r;
    sm_reader_init(&r, &sh->p, &sh->rs[i], sm_mix2(sh->p.seed, (uint64_t)who));
    sm_slot slot = {path, NULL, 0, NULL};
    char m[300];
    if (sm_replace(&slot, 0) != SLC_OK) {
        snprintf(m, sizeof m, "open: %s", slc_errdetail());
        fail_child(sh, who, m);
    }
    while (!__atomic_load_n(&sh->started, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE))
        sched_yield();
    while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE))
            _exit(2);
        uint64_t epoch;
        slc_cache *c = sm_pin(&slot, &epoch);
        int rc = sm_step(&r, c, epoch);
        sm_unpin(&slot);
        if (rc == SM_STEP_FAIL)
            fail_child(sh, who, r.err);
        if (rc == SM_STEP_INVALIDATED) {
            sh->rs[i].reopens++;
            if ((rc = sm_replace(&slot, epoch)) != SLC_OK) {
                snprintf(m, sizeof m, "reopen: %d (%s)", rc, slc_errdetail());
                fail_child(sh, who, m);
            }
        }
        __atomic_add_fetch(&sh->reader_ops[i], 1, __ATOMIC_RELAXED);
    }
    slc_close(slot.c);
    sm_reader_free(&r);
    _exit(0);
}

static void run_stress(int fd_writes)
{
    unsigned scale = stress_scale();
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    sh->fd_writes = fd_writes;
    sh->p.seed = t_seed("proc_stress");
    sh->p.stride = 4;
    sh->p.window = 40; /* at most 161 live keys */
    sh->p.max_ops = 8;
    sh->p.capacity = 512; /* 1024 buckets: rehash past 256 tombstones */
    sh->p.commits = (uint64_t)BASE_COMMITS * scale;
    sh->readers = 3 + (int)(scale / 2);
    if (sh->readers > MAX_READERS)
        sh->readers = MAX_READERS;

    char *dir = t_tmpdir();
    char *path = t_join(dir, "stress.slc");
    slc_options o = sm_options(sh->p.capacity);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    unsigned timeout = 120 * scale;
    pid_t pids[MAX_READERS + 1];
    for (int i = 0; i <= sh->readers; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            alarm(timeout);
            if (i == 0)
                writer_main(sh, path);
            reader_main(sh, i - 1, path);
        }
    }
    int bad = 0;
    for (int i = 0; i <= sh->readers; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "%s %d: %s %d\n", i ? "reader" : "writer", i,
                    WIFSIGNALED(st) ? "killed by signal" : "exit status",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            bad = 1;
        }
    }
    for (int i = 0; i <= sh->readers; i++)
        if (sh->err[i][0])
            fprintf(stderr, "%s %d failed: %s\n", i ? "reader" : "writer", i,
                    sh->err[i]);

    sm_stats tot;
    memset(&tot, 0, sizeof tot);
    for (int i = 0; i < sh->readers; i++) {
        for (int k = 0; k < SM_NKINDS; k++) {
            tot.ops[k] += sh->rs[i].ops[k];
            tot.busy[k] += sh->rs[i].busy[k];
        }
        tot.hits += sh->rs[i].hits;
        tot.misses += sh->rs[i].misses;
        tot.exact += sh->rs[i].exact;
        tot.raced += sh->rs[i].raced;
        tot.hdr_busy += sh->rs[i].hdr_busy;
        tot.reopens += sh->rs[i].reopens;
        tot.partial += sh->rs[i].partial;
    }
    uint64_t all = 0;
    for (int k = 0; k < SM_NKINDS; k++)
        all += tot.ops[k];
    fprintf(stderr,
            "[proc_stress] writer: %" PRIu64 " commits, %" PRIu64
            " abandoned sessions, %" PRIu64 " SLC_EFULL -> %" PRIu64
            " rotations, %" PRIu64 " rehashes (max tombstones %" PRIu64 "/%" PRIu64
            " buckets), %" PRIu64 " self-checks, %" PRIu64 " begin_write "
            "SLC_EBUSY retried\n",
            sh->ws.commits, sh->ws.abandoned, sh->ws.efull, sh->ws.rotations,
            sh->ws.rehashes, sh->ws.max_tombstones, sh->ws.bucket_count,
            sh->ws.verified, sh->ws.begin_busy);
    fprintf(stderr,
            "[proc_stress] %d readers: %" PRIu64 " reads (%" PRIu64
            " raced a commit), gets %" PRIu64 " hit / %" PRIu64 " miss, %" PRIu64
            " scans checked exactly, %" PRIu64 " partial streams, %" PRIu64
            " reopens, %" PRIu64 " busy header reads\n",
            sh->readers, all, tot.raced, tot.hits, tot.misses, tot.exact,
            tot.partial, tot.reopens, tot.hdr_busy);
    for (int k = 0; k < SM_NKINDS; k++)
        fprintf(stderr, "[proc_stress]   %-10s %8" PRIu64 " ops, %6" PRIu64
                        " SLC_EBUSY\n",
                sm_kind_name[k], tot.ops[k], tot.busy[k]);

    assert_int_equal(bad, 0);
    assert_int_equal(sh->ws.commits, sh->p.commits);
    /* The schedule is sized so every run crosses both paths. */
    assert_true(sh->ws.rotations >= 1);
    assert_true(sh->ws.rehashes >= 1);
    for (int i = 0; i < sh->readers; i++)
        assert_true(sh->reader_ops[i] >= (sh->p.commits - 1) * PACE_MUL);

    /* The final file is exactly the schedule's last state. */
    o.slot_capacity = 0;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    sm_stats fst;
    sm_reader r;
    memset(&fst, 0, sizeof fst);
    sm_reader_init(&r, &sh->p, &fst, 7);
    assert_int_equal(sm_advance(&r, sh->p.commits), 0);
    assert_int_equal(slc_scan(c, NULL, sm_visit, &r), SLC_OK);
    sm_pred pall;
    memset(&pall, 0, sizeof pall);
    int ok = sm_check_scan(&r, sh->p.commits, sh->p.commits, &pall, 0, 1);
    if (ok)
        fprintf(stderr, "%s\n", r.err);
    assert_int_equal(ok, 0);
    assert_int_equal(r.n_ents, r.m.live);
    sm_reader_free(&r);
    assert_int_equal(slc_close(c), SLC_OK);

    t_rmtree(dir);
    free(path);
    free(dir);
    munmap(sh, sizeof *sh);
}

static void stress(void **state)
{
    (void)state;
    run_stress(0);
}

/* The same with every commit written through the descriptor, as small
 * durable commits are (without their msync: the readers check ordering,
 * not durability). */
static void stress_fd_writes(void **state)
{
    (void)state;
    run_stress(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress),
        cmocka_unit_test(stress_fd_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
