/* The reader backoff of SLC1 7.7 under signals (issue 12): 10 attempts,
 * sleeps of 50, 100, 200, 400, 800 us then 1 ms x4 between them, each to
 * an absolute CLOCK_MONOTONIC deadline that an EINTR does not move.
 *
 * clock_gettime and clock_nanosleep are interposed: this file defines them,
 * so the static test library calls these definitions. While `fake.on`,
 * CLOCK_MONOTONIC is a counter that only a completed sleep advances, so
 * the requested durations are exact and nothing really sleeps; no timing
 * is measured. Otherwise both calls go to the kernel with syscall(2). */
#include "core_helpers.h"

#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>

enum { KS = 16, IS = 8, CAP = 100, MAXCALLS = 64 };

static struct {
    int on;
    int64_t now_ns;
    int eintr_every; /* > 0: every call whose index % this == 0 gets EINTR */
    int calls;
    int64_t deadline[MAXCALLS]; /* absolute, ns */
    int64_t asked[MAXCALLS];    /* deadline - now at the call, ns */
    int interrupted[MAXCALLS];
    int bad; /* a call that was not (CLOCK_MONOTONIC, TIMER_ABSTIME) */
} fake;

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

int clock_gettime(clockid_t clk, struct timespec *tp)
{
    if (fake.on && clk == CLOCK_MONOTONIC) {
        tp->tv_sec = (time_t)(fake.now_ns / 1000000000);
        tp->tv_nsec = (long)(fake.now_ns % 1000000000);
        return 0;
    }
    return (int)syscall(SYS_clock_gettime, clk, tp);
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                    struct timespec *rem)
{
    if (!fake.on) {
        /* The kernel's convention (-1, errno) to the function's (errno). */
        long r = syscall(SYS_clock_nanosleep, clk, flags, req, rem);
        return r < 0 ? errno : 0;
    }
    if (clk != CLOCK_MONOTONIC || flags != TIMER_ABSTIME) {
        fake.bad++;
        return EINVAL;
    }
    int i = fake.calls++;
    int64_t d = ns_of(req);
    if (i < MAXCALLS) {
        fake.deadline[i] = d;
        fake.asked[i] = d - fake.now_ns;
    }
    if (fake.eintr_every > 0 && i % fake.eintr_every == 0) {
        /* A signal half way: time has passed, the deadline has not. */
        fake.now_ns += (d - fake.now_ns) / 2;
        if (i < MAXCALLS)
            fake.interrupted[i] = 1;
        return EINTR;
    }
    if (d > fake.now_ns)
        fake.now_ns = d;
    return 0;
}

static void fake_start(int eintr_every)
{
    memset(&fake, 0, sizeof fake);
    fake.now_ns = 1000000000; /* any start; one second in */
    fake.eintr_every = eintr_every;
    fake.on = 1;
}

/* How many calls ran to their deadline. */
static int completed_sleeps(void)
{
    int n = 0;
    for (int i = 0; i < fake.calls && i < MAXCALLS; i++)
        n += !fake.interrupted[i];
    return n;
}

static const int64_t schedule_us[] = {50, 100, 200, 400, 800,
                                      1000, 1000, 1000, 1000};
enum { SLEEPS = sizeof schedule_us / sizeof schedule_us[0] };

/* Without interruptions: one call per sleep, each asking exactly the
 * schedule's duration; 9 sleeps means 10 attempts. */
static void expect_schedule(void)
{
    assert_int_equal(fake.bad, 0);
    assert_int_equal(fake.calls, SLEEPS);
    for (int i = 0; i < SLEEPS; i++)
        assert_int_equal(fake.asked[i], schedule_us[i] * 1000);
}

/* A cache whose generation is now odd, as a stuck or crashed writer leaves
 * it; *c is a handle opened (with `flags`) before that. */
static void odd_cache(fx *f, uint32_t flags, slc_cache **c)
{
    slc_options o = cu_opts(KS, IS, CAP, 0, flags);
    assert_int_equal(slc_open(f->path, &o, c), SLC_OK);
    uint64_t g = cu_get64(f->path, SLC__OFF_GENERATION);
    cu_set64(f->path, SLC__OFF_GENERATION, g + 1);
}

/* A get on an odd cache (locking off) under the fake clock, every
 * `eintr_every`-th sleep interrupted (0: none): it ends SLC_EBUSY. */
static void busy_get(fx *f, int eintr_every)
{
    slc_cache *c;
    odd_cache(f, SLC_NO_LOCK, &c);
    uint8_t k[KS];
    cu_key(k, KS, 1);
    int64_t rev;
    fake_start(eintr_every);
    int rc = slc_get(c, k, KS, &rev, NULL, 0);
    fake.on = 0;
    assert_int_equal(rc, SLC_EBUSY);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void test_get_backoff_schedule(void **state)
{
    busy_get(*state, 0);
    expect_schedule();
}

/* slc_open with locking, the lock held elsewhere: the open's header read
 * runs the same schedule, then the probe says busy. */
static void test_open_backoff_schedule_lock_held(void **state)
{
    fx *f = *state;
    slc_cache *c;
    odd_cache(f, 0, &c);
    assert_int_equal(slc_close(c), SLC_OK);
    int other = open(f->lock, O_RDWR | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    slc_options o = cu_opts(KS, IS, CAP, 0, 0);
    c = NULL;
    fake_start(0);
    int rc = slc_open(f->path, &o, &c);
    fake.on = 0;
    assert_int_equal(rc, SLC_EBUSY);
    assert_null(c);
    expect_schedule();
    close(other);
}

/* Every other call interrupted: each interrupted call is made again with
 * the same absolute deadline, and the completed sleeps still follow the
 * whole schedule. */
static void test_backoff_resumes_after_eintr(void **state)
{
    busy_get(*state, 2);
    assert_int_equal(fake.bad, 0);
    assert_int_equal(fake.calls, 2 * SLEEPS);
    assert_int_equal(completed_sleeps(), SLEEPS);
    for (int s = 0; s < SLEEPS; s++) {
        int i = 2 * s; /* interrupted call, then its retry */
        assert_true(fake.interrupted[i]);
        assert_false(fake.interrupted[i + 1]);
        assert_int_equal(fake.deadline[i + 1], fake.deadline[i]);
        assert_int_equal(fake.asked[i], schedule_us[s] * 1000);
    }
}

/* slc_begin_write_timeout while another process holds the writer lock,
 * every other sleep interrupted: the interrupted sleep is resumed to the
 * same deadline, the sleeps double from 1 ms, and the wait ends SLC_EBUSY
 * once the 100 ms are up (fake clock: nothing really sleeps). */
static void test_lock_wait_resumes_after_eintr(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, CAP, 0, 0);
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    int other = open(f->lock, O_RDWR | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    slc_writer *w = NULL;
    fake_start(2);
    int rc = slc_begin_write_timeout(c, 100, &w);
    fake.on = 0;
    assert_int_equal(rc, SLC_EBUSY);
    assert_null(w);
    assert_int_equal(fake.bad, 0);
    /* 1, 2, 4, 8, 16, 32 ms, then the 37 ms left: 7 sleeps, each made of
     * an interrupted call and its resumption. */
    static const int64_t ms[] = {1, 2, 4, 8, 16, 32, 37};
    assert_int_equal(fake.calls, 14);
    for (int s = 0; s < 7; s++) {
        assert_true(fake.interrupted[2 * s]);
        assert_false(fake.interrupted[2 * s + 1]);
        assert_int_equal(fake.deadline[2 * s + 1], fake.deadline[2 * s]);
        assert_int_equal(fake.asked[2 * s], ms[s] * 1000000);
    }
    close(other);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Nobody writing: opening the file and reading it never sleeps (a stable
 * first attempt ends the seqlock loop). */
static void test_quiet_open_never_sleeps(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, CAP, 0, 0);
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK); /* creates */
    assert_int_equal(slc_close(c), SLC_OK);
    fake_start(0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    uint8_t k[KS];
    cu_key(k, KS, 1);
    int64_t rev;
    assert_int_equal(slc_get(c, k, KS, &rev, NULL, 0), SLC_NOTFOUND);
    slc_options got;
    assert_int_equal(slc_read_options(f->path, &got), SLC_OK);
    fake.on = 0;
    assert_int_equal(fake.calls, 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)
        T(test_get_backoff_schedule),
        T(test_open_backoff_schedule_lock_held),
        T(test_backoff_resumes_after_eintr),
        T(test_quiet_open_never_sleeps),
        T(test_lock_wait_resumes_after_eintr),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
