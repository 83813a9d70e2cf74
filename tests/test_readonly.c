/* SLC_READ_ONLY: opens existing files only, creates nothing (not even the
 * lock file), maps read-only, refuses writers, and still sees commits made
 * through other handles. slc_read_options creates no lock file either. */
#include "core_helpers.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#define KEY 8
#define INDEX 4

static slc_options opts(uint32_t flags)
{
    slc_options o = {KEY, INDEX, 7, 0, flags};
    return o;
}

/* A valid file made without a lock file (SLC_NO_LOCK), one entry. */
static void make_file(const fx *f)
{
    slc_options o = opts(SLC_NO_LOCK);
    o.slot_capacity = 16;
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_put(w, "key-0001", KEY, 11, "abcd", INDEX), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_false(cu_exists(f->lock));
}

static void never_creates(void **state)
{
    fx *f = *state;
    slc_options o = opts(SLC_READ_ONLY);
    o.slot_capacity = 16;
    slc_cache *c = (slc_cache *)(uintptr_t)1;
    errno = 0;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_ESYS);
    assert_int_equal(errno, ENOENT);
    assert_null(c);
    assert_false(cu_exists(f->path));
    assert_false(cu_exists(f->lock));
    /* An empty pre-created file is not initialised. */
    int fd = open(f->path, O_RDWR | O_CREAT, 0640);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_false(cu_exists(f->lock));
}

static void reads_and_refuses_writes(void **state)
{
    fx *f = *state;
    make_file(f);
    slc_options ro = opts(SLC_READ_ONLY);
    slc_cache *r;
    assert_int_equal(slc_open(f->path, &ro, &r), SLC_OK);
    assert_false(cu_exists(f->lock)); /* no lock file was made */
    int64_t rev;
    uint8_t idx[INDEX];
    assert_int_equal(slc_get(r, "key-0001", KEY, &rev, idx, INDEX), SLC_OK);
    assert_int_equal(rev, 11);
    assert_memory_equal(idx, "abcd", INDEX);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(r, &w), SLC_EINVAL);
    assert_null(w);
    assert_non_null(strstr(slc_errdetail(), "SLC_READ_ONLY"));
    assert_int_equal(slc_invalidate(r), SLC_EINVAL);
    assert_int_equal(slc_verify(r), SLC_OK);
    /* A writer on another handle commits; the read-only handle sees it. */
    slc_options rw = opts(0);
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &rw, &c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(slc_put(w, "key-0002", KEY, 22, "efgh", INDEX), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    uint64_t n;
    assert_int_equal(slc_len(r, &n), SLC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(slc_get(r, "key-0002", KEY, &rev, NULL, 0), SLC_OK);
    assert_int_equal(rev, 22);
    /* Invalidation through the writable handle reaches the reader. */
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_len(r, &n), SLC_EINVALIDATED);
    assert_int_equal(slc_close(c), SLC_OK);
    assert_int_equal(slc_close(r), SLC_OK);
}

static void set_odd_generation(const char *path)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 8, SLC__OFF_GENERATION), 8);
    slc__put_le64(b, slc__le64(b) | 1);
    assert_int_equal(pwrite(fd, b, 8, SLC__OFF_GENERATION), 8);
    close(fd);
}

static void odd_generation_probe(void **state)
{
    fx *f = *state;
    make_file(f);
    set_odd_generation(f->path);
    slc_options ro = opts(SLC_READ_ONLY);
    slc_cache *r;
    slc_options got;
    /* No lock file: no locking writer can be active, so it is a crash. */
    assert_int_equal(slc_open(f->path, &ro, &r), SLC_ECORRUPT);
    assert_int_equal(slc_read_options(f->path, &got), SLC_ECORRUPT);
    assert_false(cu_exists(f->lock));
    /* A lock file held by another process: a writer may be publishing. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        int lfd = open(f->lock, O_RDWR | O_CREAT, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
            _exit(1);
        char ch = 'x';
        if (write(pipefd[1], &ch, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char ch;
    assert_int_equal(read(pipefd[0], &ch, 1), 1);
    assert_int_equal(slc_open(f->path, &ro, &r), SLC_EBUSY);
    assert_int_equal(slc_read_options(f->path, &got), SLC_EBUSY);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(pipefd[0]);
    close(pipefd[1]);
    /* The holder died: the lock is free again and the verdict is final. */
    assert_int_equal(slc_open(f->path, &ro, &r), SLC_ECORRUPT);
}

static void read_options_creates_nothing(void **state)
{
    fx *f = *state;
    make_file(f);
    slc_options got;
    assert_int_equal(slc_read_options(f->path, &got), SLC_OK);
    assert_int_equal(got.key_size, KEY);
    assert_int_equal(got.index_size, INDEX);
    assert_int_equal(got.user_version, 7);
    assert_false(cu_exists(f->lock));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(never_creates),
        T(reads_and_refuses_writes),
        T(odd_generation_probe),
        T(read_options_creates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
