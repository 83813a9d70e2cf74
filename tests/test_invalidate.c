/* slc_invalidate (SLC1 10.8): the signal is seen by every handle, in this
 * process and others, and by slc_open; it is idempotent, refused while a
 * writer is active, and advances the generation by 2. */
#include "core_helpers.h"

#include <signal.h>
#include <sys/wait.h>

enum { KS = 16, IS = 8, CAP = 32 };

static slc_cache *open_c(const char *path, uint32_t flags)
{
    slc_options o = cu_opts(KS, IS, CAP, 3, flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    return c;
}

/* Keys 0..n-1 (rev = n + 1) and user flags 77 in one commit. */
static void fill(slc_cache *c, uint64_t n)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(cu_put(w, KS, IS, i, (int64_t)i + 1), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 77), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

static int visit_count(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

/* Every read of c reports the invalidation; outputs are left alone. This
 * returns the first unexpected code (0 if all are as expected) so forked
 * children can use it too. */
static int reads_invalidated(slc_cache *c)
{
    uint64_t v = 12345;
    uint8_t ud[64], k[KS], ix[IS];
    int64_t rev = 5;
    slc_stat st;
    int n = 0, rc;
    cu_key(k, KS, 1);
    memset(ud, 0x42, sizeof ud);
    if ((rc = slc_len(c, &v)) != SLC_EINVALIDATED)
        return rc ? rc : 100;
    if ((rc = slc_generation(c, &v)) != SLC_EINVALIDATED)
        return rc ? rc : 101;
    if ((rc = slc_user_header(c, &v, ud)) != SLC_EINVALIDATED)
        return rc ? rc : 102;
    if ((rc = slc_stat_get(c, &st)) != SLC_EINVALIDATED)
        return rc ? rc : 103;
    if ((rc = slc_get(c, k, KS, &rev, ix, IS)) != SLC_EINVALIDATED)
        return rc ? rc : 104;
    if ((rc = slc_scan(c, NULL, visit_count, &n)) != SLC_EINVALIDATED)
        return rc ? rc : 105;
    slc_prefix p = {0, 0, k, 1};
    if ((rc = slc_scan_prefix(c, &p, NULL, visit_count, &n)) !=
        SLC_EINVALIDATED)
        return rc ? rc : 106;
    /* Invalidated is reported before EUNORDERED and argument checks. */
    if ((rc = slc_scan_range(c, k, KS, k, 0, NULL, NULL, NULL)) !=
        SLC_EINVALIDATED)
        return rc ? rc : 107;
    if ((rc = slc_verify(c)) != SLC_EINVALIDATED)
        return rc ? rc : 108;
    slc_writer *w = (slc_writer *)(uintptr_t)1;
    if ((rc = slc_begin_write(c, &w)) != SLC_EINVALIDATED)
        return rc ? rc : 109;
    if (w != NULL)
        return 110;
    if (v != 12345 || rev != 5 || n != 0 || ud[0] != 0x42)
        return 111;
    /* Point reads too report the state before their arguments. */
    if ((rc = slc_get(c, k, KS - 1, &rev, ix, IS)) != SLC_EINVALIDATED)
        return rc ? rc : 112;
    if ((rc = slc_get(c, NULL, KS, NULL, NULL, 0)) != SLC_EINVALIDATED)
        return rc ? rc : 113;
    if ((rc = slc_get(c, k, KS, NULL, ix, IS + 1)) != SLC_EINVALIDATED)
        return rc ? rc : 114;
    if ((rc = slc_len(c, NULL)) != SLC_EINVALIDATED)
        return rc ? rc : 115;
    if ((rc = slc_stat_get(c, NULL)) != SLC_EINVALIDATED)
        return rc ? rc : 116;
    int res[1];
    if ((rc = slc_get_many(c, k, 1, KS, NULL, NULL, NULL, 0)) !=
        SLC_EINVALIDATED)
        return rc ? rc : 117;
    if ((rc = slc_get_many(c, k, 1, KS + 1, res, NULL, NULL, 0)) !=
        SLC_EINVALIDATED)
        return rc ? rc : 118;
    /* A NULL handle stays an argument error. */
    if ((rc = slc_get(NULL, k, KS, NULL, NULL, 0)) != SLC_EINVAL)
        return rc ? rc : 119;
    return 0;
}

static void seen_by_other_handle(void **state)
{
    fx *f = *state;
    slc_cache *a = open_c(f->path, 0);
    slc_cache *b = open_c(f->path, 0);
    fill(a, 5);
    uint64_t g;
    assert_int_equal(slc_generation(b, &g), SLC_OK);
    assert_int_equal(g, 2);
    assert_int_equal(slc_invalidate(a), SLC_OK);
    assert_int_equal(reads_invalidated(b), 0);
    assert_int_equal(reads_invalidated(a), 0);
    assert_true(slc_errdetail()[0] != '\0');
    /* Published through the seqlock: g + 2, state 1, valid CRC. */
    slc__header h;
    uint8_t raw[SLC__HEADER_SIZE];
    cu_pread(f->path, 0, raw, sizeof raw);
    slc__header_decode(raw, &h);
    assert_int_equal(h.generation, 4);
    assert_int_equal(h.state, 1);
    assert_int_equal(h.header_crc32c, slc__header_crc(raw));
    /* The data itself is untouched. */
    assert_int_equal(h.live_count, 5);
    assert_int_equal(h.user_flags, 77);
    assert_int_equal(slc_close(b), SLC_OK);
    assert_int_equal(slc_close(a), SLC_OK);

    /* New opens and configuration reads are refused. */
    slc_options o = cu_opts(KS, IS, CAP, 3, 0);
    slc_cache *c = (slc_cache *)(uintptr_t)1;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVALIDATED);
    assert_null(c);
    o.slot_capacity = 0;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVALIDATED);
    assert_int_equal(slc_read_options(f->path, &o), SLC_EINVALIDATED);
}

/* The use case: a reader of the old inode learns to reopen the path. */
static void rebuild_and_reopen(void **state)
{
    fx *f = *state;
    slc_cache *old = open_c(f->path, 0);
    fill(old, 3);
    slc_cache *rebuilder = open_c(f->path, 0);
    assert_int_equal(slc_invalidate(rebuilder), SLC_OK);
    assert_int_equal(slc_close(rebuilder), SLC_OK);
    assert_int_equal(unlink(f->path), 0);
    slc_cache *fresh = open_c(f->path, 0);
    fill(fresh, 1);
    /* The old handle still maps the old inode: invalidated. */
    uint64_t n;
    assert_int_equal(slc_len(old, &n), SLC_EINVALIDATED);
    assert_int_equal(slc_close(old), SLC_OK);
    old = open_c(f->path, 0);
    assert_int_equal(slc_len(old, &n), SLC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(slc_close(old), SLC_OK);
    assert_int_equal(slc_close(fresh), SLC_OK);
}

static void idempotent(void **state)
{
    fx *f = *state;
    slc_cache *a = open_c(f->path, 0);
    slc_cache *b = open_c(f->path, 0);
    fill(a, 2);
    assert_int_equal(slc_invalidate(a), SLC_OK);
    size_t len;
    char *before = t_read_file(f->path, &len);
    assert_int_equal(slc_invalidate(a), SLC_OK);
    assert_int_equal(slc_invalidate(b), SLC_OK);
    char *after = t_read_file(f->path, NULL);
    assert_memory_equal(before, after, len);
    assert_int_equal(slc__le64((uint8_t *)after + SLC__OFF_GENERATION), 4);
    free(before);
    free(after);
    assert_int_equal(slc_close(a), SLC_OK);
    assert_int_equal(slc_close(b), SLC_OK);
}

static void generation_advances_by_two(void **state)
{
    fx *f = *state;
    for (int nolock = 0; nolock <= 1; nolock++) {
        unlink(f->path);
        slc_cache *c = open_c(f->path, nolock ? SLC_NO_LOCK : 0);
        for (int i = 0; i < 3; i++)
            fill(c, 1);
        uint64_t g;
        assert_int_equal(slc_generation(c, &g), SLC_OK);
        assert_int_equal(g, 6);
        assert_int_equal(slc_invalidate(c), SLC_OK);
        assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 8);
        assert_int_equal(cu_get32(f->path, SLC__OFF_STATE), 1);
        assert_int_equal(slc_generation(c, &g), SLC_EINVALIDATED);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* A writer died mid-commit (odd generation): invalidation steps past it
 * to g + 2 (odd), then g + 3 (even). */
static void over_crashed_writer(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, 0);
    fill(c, 2);
    cu_set64(f->path, SLC__OFF_GENERATION, 5);
    slc_writer *w = (slc_writer *)(uintptr_t)1;
    assert_int_equal(slc_begin_write(c, &w), SLC_ECORRUPT);
    assert_null(w);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 8);
    assert_int_equal(cu_get32(f->path, SLC__OFF_STATE), 1);
    assert_int_equal(reads_invalidated(c), 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void busy_while_writer_active(void **state)
{
    fx *f = *state;
    for (int nolock = 0; nolock <= 1; nolock++) {
        unlink(f->path);
        uint32_t fl = nolock ? SLC_NO_LOCK : 0;
        slc_cache *a = open_c(f->path, fl);
        slc_cache *b = open_c(f->path, fl);
        fill(a, 2);
        size_t len;
        char *before = t_read_file(f->path, &len);
        slc_writer *w;
        assert_int_equal(slc_begin_write(a, &w), SLC_OK);
        assert_int_equal(cu_put(w, KS, IS, 9, 9), SLC_OK);
        assert_int_equal(slc_invalidate(a), SLC_EBUSY);
        assert_int_equal(slc_invalidate(b), SLC_EBUSY);
        char *after = t_read_file(f->path, NULL);
        assert_memory_equal(before, after, len);
        free(after);
        free(before);
        /* The session is unharmed and commits. */
        assert_int_equal(slc_commit(w), SLC_OK);
        /* Ended but not yet freed: the file is free to invalidate. */
        assert_int_equal(slc_invalidate(b), SLC_OK);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 6);
        assert_int_equal(reads_invalidated(a), 0);
        assert_int_equal(slc_close(a), SLC_OK);
        assert_int_equal(slc_close(b), SLC_OK);
    }
}

/* ---- Other processes ------------------------------------------------------ */

typedef struct child {
    pid_t pid;
    int ready; /* read end: the child reports it is set */
    int go;    /* write end: the parent lets it continue */
} child;

static void wait_ready(child *ch)
{
    char b;
    assert_int_equal(read(ch->ready, &b, 1), 1);
}

static int finish(child *ch)
{
    char b = 'g';
    assert_int_equal(write(ch->go, &b, 1), 1);
    close(ch->go);
    close(ch->ready);
    int status;
    assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* fork; in the child run fn(arg, ready_fd, go_fd) and _exit with its code. */
static child spawn(int (*fn)(void *, int, int), void *arg)
{
    int r[2], g[2];
    assert_int_equal(pipe(r), 0);
    assert_int_equal(pipe(g), 0);
    child ch;
    ch.pid = fork();
    assert_true(ch.pid >= 0);
    if (ch.pid == 0) {
        alarm(30); /* never outlive a stuck parent */
        close(r[0]);
        close(g[1]);
        _exit(fn(arg, r[1], g[0]));
    }
    close(r[1]);
    close(g[0]);
    ch.ready = r[0];
    ch.go = g[1];
    return ch;
}

static int signal_and_wait(int ready, int go)
{
    char b = 'r';
    if (write(ready, &b, 1) != 1 || read(go, &b, 1) != 1)
        return 90;
    return 0;
}

typedef struct reader_arg {
    const char *path;
    slc_cache *inherited;
} reader_arg;

static int child_reader(void *p, int ready, int go)
{
    reader_arg *a = p;
    slc_options o = cu_opts(KS, IS, 0, 3, 0);
    slc_cache *own = NULL;
    if (slc_open(a->path, &o, &own) != SLC_OK)
        return 80;
    uint64_t n = 0;
    if (slc_len(own, &n) != SLC_OK || n != 4)
        return 81;
    if (slc_len(a->inherited, &n) != SLC_OK || n != 4)
        return 82;
    int rc = signal_and_wait(ready, go);
    if (rc)
        return rc;
    /* The parent has invalidated the file meanwhile. */
    if (reads_invalidated(own) != 0)
        return 83;
    if (reads_invalidated(a->inherited) != 0)
        return 84;
    slc_cache *again = NULL;
    if (slc_open(a->path, &o, &again) != SLC_EINVALIDATED || again)
        return 85;
    return slc_close(own) == SLC_OK ? 0 : 86;
}

static void seen_by_forked_reader(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, 0);
    fill(c, 4);
    reader_arg a = {f->path, c};
    child ch = spawn(child_reader, &a);
    wait_ready(&ch);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(finish(&ch), 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

static int child_writer(void *p, int ready, int go)
{
    const char *path = p;
    slc_options o = cu_opts(KS, IS, 0, 3, 0);
    slc_cache *c = NULL;
    slc_writer *w = NULL;
    if (slc_open(path, &o, &c) != SLC_OK)
        return 70;
    if (slc_begin_write(c, &w) != SLC_OK)
        return 71;
    int rc = signal_and_wait(ready, go);
    if (rc)
        return rc;
    if (slc_commit(w) != SLC_OK)
        return 72;
    if (slc_writer_close(w) != SLC_OK || slc_close(c) != SLC_OK)
        return 73;
    return 0;
}

static void busy_while_other_process_writes(void **state)
{
    fx *f = *state;
    slc_cache *c = open_c(f->path, 0);
    fill(c, 2);
    child ch = spawn(child_writer, f->path);
    wait_ready(&ch);
    assert_int_equal(slc_invalidate(c), SLC_EBUSY);
    assert_int_equal(cu_get32(f->path, SLC__OFF_STATE), 0);
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 2);
    assert_int_equal(finish(&ch), 0);
    /* The child's commit landed; now the lock is free. */
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 4);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(cu_get64(f->path, SLC__OFF_GENERATION), 6);
    assert_int_equal(slc_close(c), SLC_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(seen_by_other_handle),
        T(rebuild_and_reopen),
        T(idempotent),
        T(generation_advances_by_two),
        T(over_crashed_writer),
        T(busy_while_writer_active),
        T(seen_by_forked_reader),
        T(busy_while_other_process_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
