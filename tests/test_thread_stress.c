/* In-process stress: a writer thread commits the deterministic schedule of
 * stress_model.h while reader threads read and check every result. The
 * writer and two readers share one cache handle (so ThreadSanitizer sees
 * the seqlock's stores and loads at the same addresses; a rwlock only
 * keeps slc_close from racing when the handle is replaced after an
 * invalidation); two readers own a handle each. Run under ThreadSanitizer
 * in CI (label "threads").
 *
 * Bounded by the writer's commit count; SLC_STRESS_SCALE=N multiplies it. */
#include "support.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"
#include "stress_model.h"

#define SHARED_READERS 2
#define OWN_READERS 2
#define READERS (SHARED_READERS + OWN_READERS)
#define BASE_COMMITS 6000u
#define PACE_MUL 2u

typedef struct ctx {
    sm_params p;
    const char *path;
    int started, done, failed; /* started: commit 1 is published */
    uint64_t reader_ops[READERS];
    sm_stats rs[READERS];
    sm_wstats ws;
    char err[READERS + 1][600];

    /* The handle of the writer and the sharing readers. */
    pthread_rwlock_t lk;
    sm_slot shared;
} ctx;

typedef struct reader_arg {
    ctx *x;
    int i;
} reader_arg;

static unsigned stress_scale(void)
{
    const char *s = getenv("SLC_STRESS_SCALE");
    unsigned long v = s && *s ? strtoul(s, NULL, 10) : 1;
    return v < 1 ? 1 : v > 1000 ? 1000 : (unsigned)v;
}

static void thread_fail(ctx *x, int who, const char *msg)
{
    snprintf(x->err[who], sizeof x->err[who], "%s", msg);
    __atomic_store_n(&x->failed, 1, __ATOMIC_RELEASE);
}

static void pace(void *arg, uint64_t n)
{
    ctx *x = arg;
    if (n == 2) /* readers start on a non-empty file */
        __atomic_store_n(&x->started, 1, __ATOMIC_RELEASE);
    for (;;) {
        if (__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE))
            return;
        int behind = 0;
        for (int i = 0; i < READERS; i++)
            behind |= __atomic_load_n(&x->reader_ops[i], __ATOMIC_RELAXED) <
                      (n - 1) * PACE_MUL;
        if (!behind)
            return;
        sched_yield();
    }
}

static void *writer_main(void *arg)
{
    ctx *x = arg;
    char err[600];
    if (sm_writer_run(&x->p, &x->shared, &x->ws, pace, x, err, sizeof err))
        thread_fail(x, 0, err);
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *reader_main(void *arg)
{
    reader_arg *ra = arg;
    ctx *x = ra->x;
    int i = ra->i, who = i + 1, own = i >= SHARED_READERS;
    sm_reader r;
    sm_reader_init(&r, &x->p, &x->rs[i], sm_mix2(x->p.seed, (uint64_t)who));
    sm_slot mine = {x->path, NULL, 0, NULL}, *slot = own ? &mine : &x->shared;
    char m[300];
    if (own && sm_replace(&mine, 0) != SLC_OK) {
        snprintf(m, sizeof m, "open: %s", slc_errdetail());
        thread_fail(x, who, m);
    }
    while (!__atomic_load_n(&x->started, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&x->done, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE))
        sched_yield();
    while (!__atomic_load_n(&x->done, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE)) {
        uint64_t epoch;
        slc_cache *c = sm_pin(slot, &epoch);
        int rc = sm_step(&r, c, epoch);
        sm_unpin(slot);
        if (rc == SM_STEP_FAIL) {
            thread_fail(x, who, r.err);
            break;
        }
        if (rc == SM_STEP_INVALIDATED) {
            x->rs[i].reopens++;
            if ((rc = sm_replace(slot, epoch)) != SLC_OK) {
                snprintf(m, sizeof m, "reopen: %d (%s)", rc, slc_errdetail());
                thread_fail(x, who, m);
                break;
            }
        }
        __atomic_add_fetch(&x->reader_ops[i], 1, __ATOMIC_RELAXED);
    }
    if (own)
        slc_close(mine.c);
    sm_reader_free(&r);
    return NULL;
}

static void stress(void **state)
{
    (void)state;
    unsigned scale = stress_scale();
    ctx *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->p.seed = t_seed("thread_stress");
    x->p.stride = 4;
    x->p.window = 40;
    x->p.max_ops = 8;
    x->p.capacity = 512;
    x->p.commits = (uint64_t)BASE_COMMITS * scale;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "stress.slc");
    x->path = path;
    slc_options o = sm_options(x->p.capacity);
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    /* Writer-preferring: a replacement is not starved by readers. */
    pthread_rwlockattr_t la;
    assert_int_equal(pthread_rwlockattr_init(&la), 0);
    assert_int_equal(pthread_rwlockattr_setkind_np(
                         &la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
                     0);
    assert_int_equal(pthread_rwlock_init(&x->lk, &la), 0);
    pthread_rwlockattr_destroy(&la);
    x->shared = (sm_slot){path, NULL, 0, &x->lk};
    assert_int_equal(sm_open_retry(path, &x->shared.c), SLC_OK);

    /* Set before any thread starts; only the writer thread commits. */
    slc__test_hook = sm_writer_hook;
    pthread_t wt, rt[READERS];
    reader_arg ra[READERS];
    for (int i = 0; i < READERS; i++) {
        ra[i] = (reader_arg){x, i};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&wt, NULL, writer_main, x), 0);
    assert_int_equal(pthread_join(wt, NULL), 0);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(rt[i], NULL), 0);
    slc__test_hook = NULL;

    int bad = 0;
    for (int i = 0; i <= READERS; i++)
        if (x->err[i][0]) {
            fprintf(stderr, "%s %d failed: %s\n", i ? "reader" : "writer", i,
                    x->err[i]);
            bad = 1;
        }
    sm_stats tot;
    memset(&tot, 0, sizeof tot);
    uint64_t all = 0;
    for (int i = 0; i < READERS; i++) {
        for (int k = 0; k < SM_NKINDS; k++) {
            tot.ops[k] += x->rs[i].ops[k];
            tot.busy[k] += x->rs[i].busy[k];
            all += x->rs[i].ops[k];
        }
        tot.hits += x->rs[i].hits;
        tot.misses += x->rs[i].misses;
        tot.exact += x->rs[i].exact;
        tot.raced += x->rs[i].raced;
        tot.reopens += x->rs[i].reopens;
        tot.partial += x->rs[i].partial;
    }
    fprintf(stderr,
            "[thread_stress] writer: %" PRIu64 " commits, %" PRIu64
            " abandoned, %" PRIu64 " rotations, %" PRIu64 " rehashes; %d "
            "readers: %" PRIu64 " reads (%" PRIu64 " raced a commit), gets %" PRIu64
            " hit / %" PRIu64 " miss, %" PRIu64 " exact scans, %" PRIu64
            " partial streams, %" PRIu64 " reopens\n",
            x->ws.commits, x->ws.abandoned, x->ws.rotations, x->ws.rehashes,
            READERS, all, tot.raced, tot.hits, tot.misses, tot.exact,
            tot.partial, tot.reopens);
    for (int k = 0; k < SM_NKINDS; k++)
        fprintf(stderr, "[thread_stress]   %-10s %8" PRIu64 " ops, %6" PRIu64
                        " SLC_EBUSY\n",
                sm_kind_name[k], tot.ops[k], tot.busy[k]);

    assert_int_equal(bad, 0);
    assert_int_equal(x->ws.commits, x->p.commits);
    assert_true(x->ws.rotations >= 1);
    assert_true(x->ws.rehashes >= 1);
    for (int i = 0; i < READERS; i++)
        assert_true(x->reader_ops[i] >= (x->p.commits - 1) * PACE_MUL);

    assert_int_equal(slc_close(x->shared.c), SLC_OK);
    pthread_rwlock_destroy(&x->lk);
    t_rmtree(dir);
    free(path);
    free(dir);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
