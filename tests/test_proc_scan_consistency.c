/* Scan consistency (SLC1 11.2) against writers: snapshot scans deliver a
 * whole result of one generation or nothing (SLC_EBUSY); streaming scans
 * deliver entries of their first generation only and stop with SLC_EBUSY
 * when it moves.
 *
 * Every commit here rewrites *every* entry's revision and index bytes with
 * the commit number, so a result mixing two generations is visible.
 *   - Deterministic, one process: the visit or filter callback itself
 *     commits through a writer on a second handle of the file, or a crash
 *     hook scans while a commit holds the generation odd.
 *   - Two processes: a child commits in a loop while the parent scans; only
 *     the contract is asserted, never timing. Bounded by operation counts;
 *     the child runs under alarm(). */
#include "scan_util.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "hook.h"

enum { N = 24 };

typedef struct fixture {
    char *dir;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = t_tmpdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    slc__test_hook = NULL;
    t_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Entry i: key = big-endian i (+ 1 so no key is all zero), revision and
 * the 8 index bytes = the commit number. */
static void key_of(uint8_t *k, uint64_t i) { sc_be_key(k, 8, i + 1); }

static int rewrite_all(slc_cache *c, uint64_t n, int64_t commit_no)
{
    slc_writer *w = NULL;
    int rc = slc_begin_write(c, &w);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < n && !rc; i++) {
        uint8_t k[8];
        key_of(k, i);
        rc = slc_put(w, k, 8, commit_no, &commit_no, 8);
    }
    int crc = slc_commit(w);
    slc_writer_close(w);
    return rc ? rc : crc;
}

static int64_t idx_commit(const uint8_t *idx)
{
    int64_t v;
    memcpy(&v, idx, 8);
    return v;
}

/* ---- Commits from inside callbacks -------------------------------------- */

typedef struct cb_ctx {
    slc_cache *other; /* second handle: the writer side */
    sc_list got;
    size_t commit_at;   /* visit: commit during this visit (1-based) */
    int64_t next;       /* next commit number */
    int commit_rc;
    size_t filter_calls;
    size_t filter_commits_left; /* filter: commit on this many calls */
} cb_ctx;

static int visit_commits(const slc_entry *e, void *ctx)
{
    cb_ctx *x = ctx;
    sc_collect(e, &x->got);
    if (x->got.n == x->commit_at)
        x->commit_rc = rewrite_all(x->other, N, x->next++);
    return 0;
}

static int filter_commits(const slc_entry *e, void *ctx)
{
    cb_ctx *x = ctx;
    (void)e;
    x->filter_calls++;
    if (x->filter_commits_left) {
        x->filter_commits_left--;
        x->commit_rc = rewrite_all(x->other, N, x->next++);
    }
    return 1;
}

/* Keep every id but the last one in slot order (streaming tail test). */
static int filter_not_last(const slc_entry *e, void *ctx)
{
    (void)ctx;
    return e->slot_id != N - 1;
}

static int do_scan(slc_cache *c, int kind, const slc_scan_opts *o,
                   slc_visit_fn visit, void *ctx)
{
    static const uint8_t zero = 0;
    slc_prefix p = {0, 4, &zero, 1}; /* keys 1..N: top nibble 0 */
    if (kind == 0)
        return slc_scan(c, o, visit, ctx);
    if (kind == 1)
        return slc_scan_prefix(c, &p, o, visit, ctx);
    return slc_scan_range(c, NULL, 0, NULL, 0, o, visit, ctx);
}

/* Open the file twice (reader handle, writer handle) with N entries at
 * commit 0. */
static void open_pair(const char *dir, const char *name, uint32_t flags,
                      slc_cache **a, slc_cache **b)
{
    slc_options o = sc_opts(8, 8, 64, flags);
    *a = sc_open(dir, name, &o);
    *b = sc_open(dir, name, &o);
    assert_int_equal(rewrite_all(*b, N, 0), SLC_OK);
}

static void check_prefix_of_walk(const sc_list *l, uint32_t flags, int64_t no)
{
    for (size_t i = 0; i < l->n; i++) {
        uint64_t id = flags & SLC_SCAN_REVERSE ? N - 1 - i : i;
        uint8_t k[8];
        key_of(k, id);
        assert_int_equal(l->id[i], id);
        assert_memory_equal(sc_key(l, i), k, 8);
        assert_int_equal(l->rev[i], no);
        assert_int_equal(idx_commit(sc_idx(l, i)), no);
    }
}

/* Streaming: a commit during the k-th visit stops the scan before the next
 * delivery with SLC_EBUSY, exactly the first k entries (all of commit 0)
 * having been delivered. Snapshot: the result was gathered and checked
 * before the first visit, so all N entries of commit 0 arrive and the
 * commit made meanwhile does not disturb them. */
static void commit_inside_visit(void **state)
{
    fixture *f = *state;
    for (int ordered = 0; ordered < 2; ordered++) {
        for (uint32_t lockf = 0; lockf <= SLC_NO_LOCK; lockf += SLC_NO_LOCK) {
            slc_cache *a, *b;
            char name[32];
            snprintf(name, sizeof name, "v%d%u.slc", ordered, lockf);
            open_pair(f->dir, name, (ordered ? SLC_ORDERED_KEYS : 0) | lockf,
                      &a, &b);
            int64_t next = 1;
            for (int kind = 0; kind < (ordered ? 3 : 2); kind++) {
                for (uint32_t rev = 0; rev <= SLC_SCAN_REVERSE; rev++) {
                    for (size_t k = 1; k < N; k += 7) {
                        cb_ctx x = {b, {0}, k, next, -1, 0, 0};
                        sc_list_init(&x.got, 8, 8);
                        slc_scan_opts so = {NULL, NULL,
                                            SLC_SCAN_STREAMING | rev, 0, 0};
                        int rc = do_scan(a, kind, &so, visit_commits, &x);
                        assert_int_equal(x.commit_rc, SLC_OK);
                        assert_int_equal(rc, SLC_EBUSY);
                        assert_int_equal(x.got.n, k);
                        check_prefix_of_walk(&x.got, rev, next - 1);
                        next = x.next;
                        sc_list_free(&x.got);

                        /* Snapshot: everything, of the generation before. */
                        x = (cb_ctx){b, {0}, k, next, -1, 0, 0};
                        sc_list_init(&x.got, 8, 8);
                        so.flags = rev;
                        rc = do_scan(a, kind, &so, visit_commits, &x);
                        assert_int_equal(x.commit_rc, SLC_OK);
                        assert_int_equal(rc, SLC_OK);
                        assert_int_equal(x.got.n, N);
                        check_prefix_of_walk(&x.got, rev, next - 1);
                        next = x.next;
                        sc_list_free(&x.got);
                    }
                }
            }
            /* The commits were published: a quiet scan sees the last. */
            sc_list l;
            sc_list_init(&l, 8, 8);
            assert_int_equal(slc_scan(a, NULL, sc_collect, &l), SLC_OK);
            assert_int_equal(l.n, N);
            check_prefix_of_walk(&l, 0, next - 1);
            sc_list_free(&l);
            uint64_t gen;
            assert_int_equal(slc_generation(a, &gen), SLC_OK);
            assert_int_equal(gen, 2 * (uint64_t)next);
            assert_int_equal(slc_close(a), SLC_OK);
            assert_int_equal(slc_close(b), SLC_OK);
        }
    }
}

/* Streaming, commit during the last delivery. When nothing was read from
 * the mapping after that delivery's generation check (the limit was reached,
 * or the delivered entry was the walk's last slot) the result is complete
 * and of one generation: SLC_OK. When the walk still reads slots afterwards
 * (here a filter drops the last slot), those reads are unverified: the
 * scan must end with SLC_EBUSY. */
static void commit_inside_last_visit(void **state)
{
    fixture *f = *state;
    slc_cache *a, *b;
    open_pair(f->dir, "last.slc", SLC_ORDERED_KEYS, &a, &b);
    int64_t next = 1;
    for (int kind = 0; kind < 3; kind++) {
        for (uint32_t rev = 0; rev <= SLC_SCAN_REVERSE; rev++) {
            /* Limit reached in the committing visit. */
            for (size_t lim = 1; lim <= N; lim += 5) {
                cb_ctx x = {b, {0}, lim, next, -1, 0, 0};
                sc_list_init(&x.got, 8, 8);
                slc_scan_opts so = {NULL, NULL, SLC_SCAN_STREAMING | rev, 0,
                                    lim};
                int rc = do_scan(a, kind, &so, visit_commits, &x);
                assert_int_equal(x.commit_rc, SLC_OK);
                if (rc != SLC_OK)
                    fail_msg("kind %d rev %u limit %zu: rc %d (%s)", kind, rev,
                             lim, rc, slc_errdetail());
                assert_int_equal(x.got.n, lim);
                check_prefix_of_walk(&x.got, rev, next - 1);
                next = x.next;
                sc_list_free(&x.got);
            }
            /* The walk's last slot delivered, no limit. */
            cb_ctx x = {b, {0}, N, next, -1, 0, 0};
            sc_list_init(&x.got, 8, 8);
            slc_scan_opts so = {NULL, NULL, SLC_SCAN_STREAMING | rev, 0, 0};
            assert_int_equal(do_scan(a, kind, &so, visit_commits, &x), SLC_OK);
            assert_int_equal(x.commit_rc, SLC_OK);
            assert_int_equal(x.got.n, N);
            check_prefix_of_walk(&x.got, rev, next - 1);
            next = x.next;
            sc_list_free(&x.got);
        }
        /* Forward with the last slot filtered out: slot N-1 is read after
         * the commit in visit N-1, so the scan cannot vouch for it. */
        cb_ctx x = {b, {0}, N - 1, next, -1, 0, 0};
        sc_list_init(&x.got, 8, 8);
        slc_scan_opts so = {filter_not_last, NULL, SLC_SCAN_STREAMING, 0, 0};
        assert_int_equal(do_scan(a, kind, &so, visit_commits, &x), SLC_EBUSY);
        assert_int_equal(x.commit_rc, SLC_OK);
        assert_int_equal(x.got.n, N - 1);
        check_prefix_of_walk(&x.got, 0, next - 1);
        next = x.next;
        sc_list_free(&x.got);
    }
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

/* Snapshot: a filter that commits moves the generation under every gather
 * attempt, so the scan gives up with SLC_EBUSY and visits nothing. With
 * commits in only the first few filter calls, a later attempt is quiet and
 * the whole result is of the last commit. */
static void commit_inside_filter(void **state)
{
    fixture *f = *state;
    slc_cache *a, *b;
    open_pair(f->dir, "flt.slc", SLC_ORDERED_KEYS, &a, &b);
    int64_t next = 1;
    for (int kind = 0; kind < 3; kind++) {
        cb_ctx x = {b, {0}, 0, next, -1, 0, SIZE_MAX};
        sc_list_init(&x.got, 8, 8);
        slc_scan_opts so = {filter_commits, &x, 0, 0, 0};
        assert_int_equal(do_scan(a, kind, &so, sc_collect, &x.got), SLC_EBUSY);
        assert_int_equal(x.commit_rc, SLC_OK);
        assert_int_equal(x.got.n, 0);
        /* A snapshot gather checks the generation only at its end, so every
         * filter call of every attempt committed; there were retries. */
        assert_true(x.filter_calls > N);
        assert_int_equal((int64_t)x.filter_calls, x.next - next);
        next = x.next;

        for (size_t commits = 1; commits <= 3; commits++) {
            x = (cb_ctx){b, {0}, 0, next, -1, 0, commits};
            sc_list_init(&x.got, 8, 8);
            so.filter_ctx = &x;
            assert_int_equal(do_scan(a, kind, &so, sc_collect, &x.got), SLC_OK);
            assert_int_equal(x.commit_rc, SLC_OK);
            assert_int_equal(x.next, next + (int64_t)commits);
            next = x.next;
            assert_int_equal(x.got.n, N);
            check_prefix_of_walk(&x.got, 0, next - 1);
            sc_list_free(&x.got);
        }

        /* Streaming: the first delivery already fails its check. */
        x = (cb_ctx){b, {0}, 0, next, -1, 0, 1};
        sc_list_init(&x.got, 8, 8);
        so.filter_ctx = &x;
        so.flags = SLC_SCAN_STREAMING;
        assert_int_equal(do_scan(a, kind, &so, sc_collect, &x.got), SLC_EBUSY);
        assert_int_equal(x.got.n, 0);
        assert_int_equal(x.filter_calls, 1);
        next = x.next;
        so.flags = 0;
        sc_list_free(&x.got);
    }
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

/* ---- Scans while a commit holds the generation odd ---------------------- */

static slc_cache *hook_reader;
static int hook_ran;
static const char *hook_point;

static void scan_while_odd(const char *point)
{
    if (hook_ran || strcmp(point, hook_point) != 0)
        return;
    hook_ran = 1;
    uint64_t gen;
    /* Every read in this window finds no stable generation. */
    assert_int_equal(slc_generation(hook_reader, &gen), SLC_EBUSY);
    for (int kind = 0; kind < 3; kind++) {
        for (uint32_t flags = 0; flags < 4; flags++) {
            slc_scan_opts so = {NULL, NULL, flags, 0, 0};
            sc_list l;
            sc_list_init(&l, 8, 8);
            /* Leave a known detail behind: the scan must replace it. */
            assert_int_equal(slc_scan(NULL, NULL, NULL, NULL), SLC_EINVAL);
            char before[256];
            snprintf(before, sizeof before, "%s", slc_errdetail());
            int rc = do_scan(hook_reader, kind, &so, sc_collect, &l);
            if (rc != SLC_EBUSY || l.n != 0)
                fail_msg("%s: kind %d flags %u: rc %d, %zu visits", point,
                         kind, flags, rc, l.n);
            if (!slc_errdetail()[0] || !strcmp(slc_errdetail(), before))
                fail_msg("%s: kind %d flags %u: SLC_EBUSY without its own "
                         "detail",
                         point, kind, flags);
            sc_list_free(&l);
        }
    }
}

static void odd_generation_delivers_nothing(void **state)
{
    fixture *f = *state;
    static const char *points[] = {"after_odd", "slot_write", "before_crc",
                                   "before_even"};
    slc_cache *a, *b;
    open_pair(f->dir, "odd.slc", SLC_ORDERED_KEYS, &a, &b);
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        hook_reader = a;
        hook_ran = 0;
        hook_point = points[i];
        slc__test_hook = scan_while_odd;
        assert_int_equal(rewrite_all(b, N, (int64_t)i + 1), SLC_OK);
        slc__test_hook = NULL;
        assert_int_equal(hook_ran, 1);
        sc_list l;
        sc_list_init(&l, 8, 8);
        assert_int_equal(slc_scan(a, NULL, sc_collect, &l), SLC_OK);
        assert_int_equal(l.n, N);
        check_prefix_of_walk(&l, 0, (int64_t)i + 1);
        sc_list_free(&l);
    }
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

/* ---- A writer in another process ---------------------------------------- */

enum { PN = 400, COMMITS = 300, MAX_SCANS = 200000 };

typedef struct pscan {
    size_t n;
    int64_t first, mixed; /* commit of the first entry; entries unlike it */
    uint64_t last_id;
    int order_bad;
    uint32_t flags;
} pscan;

/* Copies nothing: checks each delivered entry against the first one. */
static int pscan_visit(const slc_entry *e, void *ctx)
{
    pscan *p = ctx;
    int64_t no = idx_commit(e->index);
    if (p->n == 0)
        p->first = no;
    if (no != p->first || e->revision != no)
        p->mixed++;
    uint8_t k[8];
    key_of(k, e->slot_id);
    if (memcmp(e->key, k, 8) != 0)
        p->mixed++;
    if (p->n && ((p->flags & SLC_SCAN_REVERSE) ? e->slot_id >= p->last_id
                                               : e->slot_id <= p->last_id))
        p->order_bad = 1;
    p->last_id = e->slot_id;
    p->n++;
    return 0;
}

/* Keep even slot ids; sees possibly torn copies, which the scan discards. */
static int keep_even(const slc_entry *e, void *ctx)
{
    (*(size_t *)ctx)++;
    return e->slot_id % 2 == 0;
}

static void writer_child(const char *path, int ready_fd, uint32_t flags)
{
    alarm(120); /* a hung child must not hang the suite */
    slc_options o = sc_opts(8, 8, 0, flags);
    slc_cache *c = NULL;
    if (slc_open(path, &o, &c) != SLC_OK)
        _exit(10);
    if (write(ready_fd, "r", 1) != 1)
        _exit(11);
    close(ready_fd);
    for (int64_t i = 1; i <= COMMITS; i++)
        if (rewrite_all(c, PN, i) != SLC_OK)
            _exit(12);
    slc_close(c);
    _exit(0);
}

typedef struct pstats {
    size_t snap_ok, snap_busy, snap_retried, stream_ok, stream_busy,
        stream_partial;
    int64_t max_seen;
} pstats;

static void scan_against_writer(const char *dir, uint32_t file_flags,
                                uint64_t *rng, pstats *st)
{
    char *path = t_join(dir, file_flags ? "po.slc" : "pu.slc");
    slc_options o = sc_opts(8, 8, PN, file_flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(rewrite_all(c, PN, 0), SLC_OK);

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        writer_child(path, pfd[1], file_flags);
    }
    close(pfd[1]);
    char ch;
    assert_int_equal(read(pfd[0], &ch, 1), 1);
    close(pfd[0]);

    int status = 0, done = 0;
    int64_t last_snapshot = 0;
    for (size_t i = 0; i < MAX_SCANS && !done; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        assert_true(w == 0 || w == pid);
        done = w == pid;
        int kind = (int)(t_rand(rng) % (file_flags ? 3 : 2));
        uint32_t flags = (uint32_t)(t_rand(rng) % 4);
        int filtered = t_rand(rng) % 4 == 0;
        uint64_t limit = t_rand(rng) % 4 == 0 ? 1 + t_rand(rng) % PN : 0;
        size_t fcalls = 0;
        slc_scan_opts so = {filtered ? keep_even : NULL, &fcalls, flags, 0,
                            limit};
        pscan p = {0, 0, 0, 0, 0, flags};
        int rc = do_scan(c, kind, &so, pscan_visit, &p);
        uint64_t full = filtered ? PN / 2 : PN;
        if (limit && limit < full)
            full = limit;
        if (p.mixed || p.order_bad)
            fail_msg("scan %zu kind %d flags %u: %" PRId64 " entries unlike "
                     "commit %" PRId64 ", order %s (rc %d)",
                     i, kind, flags, p.mixed, p.first,
                     p.order_bad ? "broken" : "ok", rc);
        if (p.n && p.first > st->max_seen)
            st->max_seen = p.first;
        if (!(flags & SLC_SCAN_STREAMING)) {
            if (rc == SLC_OK) {
                assert_int_equal(p.n, full);
                /* Generations only move forward. */
                assert_true(p.first >= last_snapshot);
                last_snapshot = p.first;
                st->snap_ok++;
                /* One walk calls the filter once per live slot. */
                st->snap_retried += filtered && !limit && fcalls > PN;
            } else {
                assert_int_equal(rc, SLC_EBUSY);
                assert_int_equal(p.n, 0);
                st->snap_busy++;
            }
        } else if (rc == SLC_OK) {
            assert_int_equal(p.n, full);
            st->stream_ok++;
        } else {
            assert_int_equal(rc, SLC_EBUSY);
            assert_true(p.n <= full);
            st->stream_busy++;
            st->stream_partial += p.n > 0 && p.n < full;
        }
    }
    if (!done)
        assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Quiet again: the last commit, whole. */
    pscan p = {0, 0, 0, 0, 0, 0};
    assert_int_equal(slc_scan(c, NULL, pscan_visit, &p), SLC_OK);
    assert_int_equal(p.n, PN);
    assert_int_equal(p.first, COMMITS);
    assert_int_equal(p.mixed, 0);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    free(path);
}

static void scans_against_writer_process(void **state)
{
    fixture *f = *state;
    uint64_t rng = t_seed("test_proc_scan_consistency");
    for (int ordered = 0; ordered < 2; ordered++) {
        pstats st = {0};
        scan_against_writer(f->dir, ordered ? SLC_ORDERED_KEYS : 0, &rng, &st);
        fprintf(stderr,
                "[%s] snapshot ok %zu (seen retrying %zu) busy %zu; streaming "
                "ok %zu busy %zu (partial %zu); newest commit seen %" PRId64
                "\n",
                ordered ? "ordered" : "unordered", st.snap_ok, st.snap_retried,
                st.snap_busy,
                st.stream_ok, st.stream_busy, st.stream_partial, st.max_seen);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commit_inside_visit, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_inside_last_visit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(commit_inside_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(odd_generation_delivers_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scans_against_writer_process, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
