/* fork(2) and handles: a child reads through an inherited cache handle
 * (and sees the parent's later commits: the mapping stays shared) and can
 * open the file itself; a writer handle is never inherited as a writer -
 * its calls return SLC_ECLOSED in the child, and neither slc_writer_close
 * in the child nor the child's exit releases the parent's lock; a child
 * forked while no writer is active can begin its own session. Pipes order
 * the steps; every child runs under alarm(). */
#include "support.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static slc_options opts(void)
{
    slc_options o = {8, 8, 11, 32, 0};
    return o;
}

static void key_of(int k, uint8_t key[8])
{
    memset(key, 0, 8);
    memcpy(key, "fork", 4);
    key[7] = (uint8_t)k;
}

static void put_keys(slc_cache *c, int from, int to, uint64_t flags)
{
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (int k = from; k <= to; k++) {
        uint8_t key[8], idx[8] = {(uint8_t)k, 0x5A};
        key_of(k, key);
        assert_int_equal(slc_put(w, key, 8, 1000 + k, idx, 8), SLC_OK);
    }
    assert_int_equal(slc_set_user_flags(w, flags), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
}

/* In a child: does c hold exactly keys from..to and user_flags? */
static int holds(slc_cache *c, int from, int to, uint64_t flags)
{
    uint64_t n, f;
    if (slc_len(c, &n) != SLC_OK || n != (uint64_t)(to - from + 1))
        return 0;
    if (slc_user_header(c, &f, NULL) != SLC_OK || f != flags)
        return 0;
    for (int k = from; k <= to; k++) {
        uint8_t key[8], idx[8];
        int64_t rev;
        key_of(k, key);
        if (slc_get(c, key, 8, &rev, idx, 8) != SLC_OK || rev != 1000 + k ||
            idx[0] != k || idx[1] != 0x5A)
            return 0;
    }
    uint8_t key[8];
    key_of(to + 1, key);
    return slc_get(c, key, 8, NULL, NULL, 0) == SLC_NOTFOUND;
}

static int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *new_cache(char **dir, slc_cache **c)
{
    *dir = t_tmpdir();
    char *path = t_join(*dir, "f.slc");
    slc_options o = opts();
    assert_int_equal(slc_open(path, &o, c), SLC_OK);
    return path;
}

static void done(char *dir, char *path)
{
    t_rmtree(dir);
    free(path);
    free(dir);
}

static void child_reads_inherited_handle(void **state)
{
    (void)state;
    char *dir;
    slc_cache *c;
    char *path = new_cache(&dir, &c);
    put_keys(c, 1, 5, 1);
    int go[2], ack[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ack), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        char b;
        if (!holds(c, 1, 5, 1))
            _exit(1);
        slc_options o = opts();
        slc_cache *own;
        if (slc_open(path, &o, &own) != SLC_OK || !holds(own, 1, 5, 1))
            _exit(2);
        if (write(ack[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(3);
        /* The parent committed meanwhile: both handles see it. */
        if (!holds(c, 1, 8, 2) || !holds(own, 1, 8, 2))
            _exit(4);
        _exit(slc_close(own) == SLC_OK && slc_close(c) == SLC_OK ? 0 : 5);
    }
    char b;
    assert_int_equal(read(ack[0], &b, 1), 1);
    put_keys(c, 6, 8, 2);
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(wait_child(pid), 0);
    assert_true(holds(c, 1, 8, 2)); /* the child's close left ours alone */
    close(go[0]);
    close(go[1]);
    close(ack[0]);
    close(ack[1]);
    assert_int_equal(slc_close(c), SLC_OK);
    done(dir, path);
}

static void writer_not_inherited(void **state)
{
    (void)state;
    char *dir;
    slc_cache *c;
    char *path = new_cache(&dir, &c);
    put_keys(c, 1, 2, 1);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    uint8_t key[8], idx[8] = {9, 0x5A};
    key_of(9, key);
    assert_int_equal(slc_put(w, key, 8, 1009, idx, 8), SLC_OK);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        uint8_t ud[64] = {0};
        int existed;
        int ok = slc_put(w, key, 8, 1, idx, 8) == SLC_ECLOSED &&
                 slc_delete(w, key, 8, &existed) == SLC_ECLOSED &&
                 slc_set_user_flags(w, 5) == SLC_ECLOSED &&
                 slc_set_user_data(w, ud) == SLC_ECLOSED &&
                 slc_commit(w) == SLC_ECLOSED;
        if (!ok)
            _exit(1);
        if (slc_writer_close(w) != SLC_OK) /* frees the copy only */
            _exit(2);
        slc_writer *cw = NULL;
        if (slc_begin_write(c, &cw) != SLC_EBUSY || cw) /* parent's lock */
            _exit(3);
        slc_options o = opts();
        slc_cache *own;
        if (slc_open(path, &o, &own) != SLC_OK ||
            slc_begin_write(own, &cw) != SLC_EBUSY ||
            slc_invalidate(own) != SLC_EBUSY)
            _exit(4);
        if (!holds(own, 1, 2, 1) || !holds(c, 1, 2, 1)) /* staged: unseen */
            _exit(5);
        _exit(slc_close(own) == SLC_OK && slc_close(c) == SLC_OK ? 0 : 6);
    }
    assert_int_equal(wait_child(pid), 0);

    /* A child that exits without any cleanup releases nothing either. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(wait_child(pid), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        slc_options o = opts();
        slc_cache *own;
        slc_writer *cw = NULL;
        _exit(slc_open(path, &o, &own) == SLC_OK &&
                      slc_begin_write(own, &cw) == SLC_EBUSY
                  ? 0
                  : 1);
    }
    assert_int_equal(wait_child(pid), 0);

    /* The parent's session is intact and commits. */
    uint8_t key10[8], idx10[8] = {10, 0x5A};
    key_of(10, key10);
    assert_int_equal(slc_put(w, key10, 8, 1010, idx10, 8), SLC_OK);
    assert_int_equal(slc_set_user_flags(w, 2), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    int64_t rev;
    assert_int_equal(slc_get(c, key, 8, &rev, idx, 8), SLC_OK);
    assert_int_equal(rev, 1009);
    assert_int_equal(slc_get(c, key10, 8, &rev, idx, 8), SLC_OK);
    assert_int_equal(rev, 1010);
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 4);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK); /* lock released */
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    done(dir, path);
}

/* slc_writer_close in a child frees the child's copy of the staging: the
 * child exits through exit(), so LeakSanitizer (the ASan+UBSan stage of
 * CI) checks it and fails the child's exit status on a leak. */
static void child_close_frees_staging(void **state)
{
    (void)state;
    char *dir;
    slc_cache *c;
    char *path = new_cache(&dir, &c);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (int k = 0; k < 200; k++) {
        uint8_t key[8], idx[8] = {(uint8_t)k};
        key_of(k, key);
        assert_int_equal(slc_put(w, key, 8, k, idx, 8), SLC_OK);
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        int ok = slc_writer_close(w) == SLC_OK && slc_close(c) == SLC_OK;
        exit(ok ? 0 : 1);
    }
    assert_int_equal(wait_child(pid), 0);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    done(dir, path);
}

/* A child's own writer on an inherited handle counts for that handle in
 * the child: slc_close refuses while it is open (SLC_NO_LOCK, so the
 * child can begin one while the parent's is open). */
static void child_writer_keeps_handle_open(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *path = t_join(dir, "f.slc");
    slc_options o = opts();
    o.flags |= SLC_NO_LOCK;
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        slc_writer *cw = NULL;
        if (slc_begin_write(c, &cw) != SLC_OK) /* parent's mark is not ours */
            _exit(1);
        if (slc_close(c) != SLC_EBUSY) /* our writer is open */
            _exit(2);
        if (slc_writer_close(cw) != SLC_OK || slc_close(c) != SLC_OK)
            _exit(3);
        _exit(0);
    }
    assert_int_equal(wait_child(pid), 0);
    assert_int_equal(slc_close(c), SLC_EBUSY); /* the parent's writer */
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    done(dir, path);
}

static void child_begins_own_session(void **state)
{
    (void)state;
    char *dir;
    slc_cache *c;
    char *path = new_cache(&dir, &c);
    put_keys(c, 1, 3, 1);
    int go[2], ack[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ack), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        char b;
        slc_writer *w;
        if (slc_begin_write(c, &w) != SLC_OK) /* the inherited handle */
            _exit(1);
        uint8_t key[8], idx[8] = {4, 0x5A};
        key_of(4, key);
        if (slc_put(w, key, 8, 1004, idx, 8) != SLC_OK ||
            slc_set_user_flags(w, 2) != SLC_OK)
            _exit(2);
        if (write(ack[1], "w", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(3);
        if (slc_commit(w) != SLC_OK || slc_writer_close(w) != SLC_OK)
            _exit(4);
        _exit(slc_close(c) == SLC_OK ? 0 : 5);
    }
    char b;
    assert_int_equal(read(ack[0], &b, 1), 1);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_EBUSY); /* child's lock */
    assert_null(w);
    assert_true(holds(c, 1, 3, 1));
    assert_int_equal(write(go[1], "g", 1), 1);
    assert_int_equal(wait_child(pid), 0);
    assert_true(holds(c, 1, 4, 2));
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    close(go[0]);
    close(go[1]);
    close(ack[0]);
    close(ack[1]);
    done(dir, path);
}

/* A child forked after the parent's session ended may write; the parent's
 * ended writer, not yet freed, is ECLOSED in both. */
static void child_after_parent_session(void **state)
{
    (void)state;
    char *dir;
    slc_cache *c;
    char *path = new_cache(&dir, &c);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK); /* ended, not freed */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        uint8_t key[8], idx[8] = {1, 0x5A};
        key_of(1, key);
        slc_writer *cw;
        if (slc_put(w, key, 8, 1, idx, 8) != SLC_ECLOSED ||
            slc_writer_close(w) != SLC_OK)
            _exit(1);
        if (slc_begin_write(c, &cw) != SLC_OK ||
            slc_put(cw, key, 8, 1001, idx, 8) != SLC_OK ||
            slc_set_user_flags(cw, 3) != SLC_OK || slc_commit(cw) != SLC_OK ||
            slc_writer_close(cw) != SLC_OK)
            _exit(2);
        _exit(slc_close(c) == SLC_OK ? 0 : 3);
    }
    assert_int_equal(wait_child(pid), 0);
    uint8_t key[8], idx[8] = {0};
    key_of(1, key);
    assert_int_equal(slc_put(w, key, 8, 1, idx, 8), SLC_ECLOSED);
    assert_int_equal(slc_close(c), SLC_EBUSY); /* our writer is not freed */
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_true(holds(c, 1, 1, 3));
    assert_int_equal(slc_close(c), SLC_OK);
    done(dir, path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(child_reads_inherited_handle),
        cmocka_unit_test(writer_not_inherited),
        cmocka_unit_test(child_close_frees_staging),
        cmocka_unit_test(child_writer_keeps_handle_open),
        cmocka_unit_test(child_begins_own_session),
        cmocka_unit_test(child_after_parent_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
