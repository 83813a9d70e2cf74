/* Seqlock torture: one writer thread publishes at full speed, without any
 * pacing, values whose every word is derived from one number v (the
 * commit's sequence number): the revision of key K, all words of its index,
 * user_flags and all of user_data. Reader threads sharing the handle check
 * that every read that returned SLC_OK is internally consistent, i.e. comes
 * from one publication. A torn read - a reader that accepted bytes from
 * two commits - is the failure the seqlock exists to prevent.
 *
 * It targets the read side of src/seqlock.h and the retry decisions of the
 * read paths (mutants read-get-torn-accepted, seqlock-second-load-skipped,
 * seqlock-begin-even). Which memory-order mutants no test on x86-64 can
 * tell apart is written down in docs/concurrency.md.
 *
 * Bounded by the commit count (SLC_TORTURE_COMMITS, default 40000, 4000
 * under ThreadSanitizer); run under ThreadSanitizer in CI (label
 * "threads"). */
#include "support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Commits per run; ThreadSanitizer makes each read ~50x slower. */
#if defined(__SANITIZE_THREAD__)
#define DEFAULT_COMMITS 4000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DEFAULT_COMMITS 4000
#endif
#endif
#ifndef DEFAULT_COMMITS
#define DEFAULT_COMMITS 40000
#endif

#define READERS 2
/* index_size 4 KiB: copying one slot takes long enough that a reader's
 * copy and a writer's update overlap often even on a loaded 2-CPU box. */
#define INDEX_WORDS 512
#define KEY_SIZE 16

typedef struct ctx {
    slc_cache *c;
    uint64_t commits;
    int done;
    int failed;
    char err[READERS + 1][300];
    uint64_t ok_reads[READERS], distinct[READERS];
    uint64_t ok_scans[READERS], ok_headers[READERS];
} ctx;

static uint64_t word_of(uint64_t v, unsigned i)
{
    /* Different in every word and every commit; never equal across two
     * nearby v for the same i. */
    return (v * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)i << 56) ^ (v << 3);
}

static const uint8_t the_key[KEY_SIZE] = "torture-key-0001";

static void fail_in(ctx *x, int who, const char *fmt, uint64_t a, uint64_t b)
{
    if (__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE))
        return; /* keep the first report of each thread readable */
    snprintf(x->err[who], sizeof x->err[who], fmt, (unsigned long long)a,
             (unsigned long long)b);
    __atomic_store_n(&x->failed, 1, __ATOMIC_RELEASE);
}

static void fail_rc(ctx *x, int who, const char *what, int rc)
{
    if (__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE))
        return;
    snprintf(x->err[who], sizeof x->err[who], "%s: %s (%d): %s", what,
             slc_strerror(rc), rc, slc_errdetail());
    __atomic_store_n(&x->failed, 1, __ATOMIC_RELEASE);
}

static void *writer_main(void *arg)
{
    ctx *x = arg;
    static uint64_t ix[INDEX_WORDS];
    uint8_t ud[64];
    for (uint64_t v = 1; v <= x->commits; v++) {
        if (__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE))
            break;
        slc_writer *w = NULL;
        int rc = slc_begin_write(x->c, &w);
        for (unsigned i = 0; i < INDEX_WORDS; i++)
            ix[i] = word_of(v, i);
        for (unsigned i = 0; i < 8; i++) {
            uint64_t u = word_of(v, 100 + i);
            memcpy(ud + 8 * i, &u, 8);
        }
        if (!rc)
            rc = slc_put(w, the_key, KEY_SIZE, (int64_t)v, ix, sizeof ix);
        if (!rc)
            rc = slc_set_user_flags(w, v);
        if (!rc)
            rc = slc_set_user_data(w, ud);
        if (!rc)
            rc = slc_commit(w);
        if (w)
            slc_writer_close(w);
        if (rc) {
            fail_rc(x, READERS, "commit", rc);
            break;
        }
    }
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

typedef struct reader_arg {
    ctx *x;
    int i;
} reader_arg;

/* Scan visitor: the one entry must be consistent. */
typedef struct scan_check {
    uint64_t bad_rev, bad_word, seen;
    int bad;
} scan_check;

static int check_entry(const slc_entry *e, void *arg)
{
    scan_check *s = arg;
    s->seen++;
    for (unsigned i = 0; i < INDEX_WORDS; i++) {
        uint64_t w;
        memcpy(&w, e->index + 8 * i, 8);
        if (w != word_of((uint64_t)e->revision, i)) {
            s->bad = 1;
            s->bad_rev = (uint64_t)e->revision;
            s->bad_word = i;
        }
    }
    return 0;
}

static void *reader_main(void *arg)
{
    reader_arg *ra = arg;
    ctx *x = ra->x;
    int me = ra->i;
    static _Thread_local uint64_t ix[INDEX_WORDS];
    uint64_t last = 0, n = 0;
    uint8_t ud[64];
    while (!__atomic_load_n(&x->done, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&x->failed, __ATOMIC_ACQUIRE)) {
        int64_t rev = -1;
        int rc = slc_get(x->c, the_key, KEY_SIZE, &rev, ix, sizeof ix);
        if (rc == SLC_OK) {
            for (unsigned i = 0; i < INDEX_WORDS; i++)
                if (ix[i] != word_of((uint64_t)rev, i)) {
                    fail_in(x, me, "slc_get: torn read, revision %llu, "
                                   "index word %llu from another commit",
                            (uint64_t)rev, i);
                    return NULL;
                }
            x->ok_reads[me]++;
            if ((uint64_t)rev != last)
                x->distinct[me]++;
            last = (uint64_t)rev;
        } else if (rc != SLC_NOTFOUND && rc != SLC_EBUSY) {
            fail_rc(x, me, "slc_get", rc);
            return NULL;
        }
        uint64_t flags = 0;
        rc = slc_user_header(x->c, &flags, ud);
        if (rc == SLC_OK && flags != 0) {
            for (unsigned i = 0; i < 8; i++) {
                uint64_t u;
                memcpy(&u, ud + 8 * i, 8);
                if (u != word_of(flags, 100 + i)) {
                    fail_in(x, me, "slc_user_header: torn read, flags %llu, "
                                   "user_data word %llu from another commit",
                            flags, i);
                    return NULL;
                }
            }
            x->ok_headers[me]++;
        } else if (rc != SLC_OK && rc != SLC_EBUSY) {
            fail_rc(x, me, "slc_user_header", rc);
            return NULL;
        }
        if ((++n & 7) == 0) {
            scan_check s = {0, 0, 0, 0};
            rc = slc_scan(x->c, NULL, check_entry, &s);
            if (rc == SLC_OK && s.bad) {
                fail_in(x, me, "slc_scan: torn entry, revision %llu, index "
                               "word %llu from another commit",
                        s.bad_rev, s.bad_word);
                return NULL;
            }
            if (rc != SLC_OK && rc != SLC_EBUSY) {
                fail_rc(x, me, "slc_scan", rc);
                return NULL;
            }
            if (rc == SLC_OK && s.seen)
                x->ok_scans[me]++;
        }
    }
    return NULL;
}

static void torture(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "torture.slc");
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = KEY_SIZE;
    o.index_size = 8 * INDEX_WORDS;
    o.slot_capacity = 4;
    ctx x;
    memset(&x, 0, sizeof x);
    const char *env = getenv("SLC_TORTURE_COMMITS");
    x.commits = env && *env ? strtoull(env, NULL, 10) : DEFAULT_COMMITS;
    assert_int_equal(slc_open(path, &o, &x.c), SLC_OK);

    pthread_t wt, rt[READERS];
    reader_arg ra[READERS];
    for (int i = 0; i < READERS; i++) {
        ra[i] = (reader_arg){&x, i};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&wt, NULL, writer_main, &x), 0);
    pthread_join(wt, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);

    uint64_t reads = 0, distinct = 0, scans = 0, headers = 0;
    for (int i = 0; i < READERS; i++) {
        reads += x.ok_reads[i];
        distinct += x.distinct[i];
        scans += x.ok_scans[i];
        headers += x.ok_headers[i];
    }
    printf("torture: %llu commits, %llu consistent reads of %llu distinct "
           "values, %llu scans, %llu user headers\n",
           (unsigned long long)x.commits, (unsigned long long)reads,
           (unsigned long long)distinct, (unsigned long long)scans,
           (unsigned long long)headers);
    for (int i = 0; i <= READERS; i++)
        if (x.err[i][0])
            fail_msg("%s %d: %s", i == READERS ? "writer" : "reader", i,
                     x.err[i]);
    assert_false(x.failed);
    /* The checks above run only on reads that succeeded: a run where every
     * read was busy, or saw one value only, checked nothing. */
    assert_true(reads > 0);
    assert_true(distinct > 1);
    assert_true(scans > 0);
    assert_true(headers > 0);
    /* The final state is the last commit's. */
    int64_t rev = 0;
    assert_int_equal(slc_get(x.c, the_key, KEY_SIZE, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, (int64_t)x.commits);
    assert_int_equal(slc_close(x.c), SLC_OK);
    t_rmtree(dir);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
