/* Faults of the environment (issue 12, API.md "Faults of the environment"):
 * a second name for one cache file (symlink, hard link, bind mount), a FIFO
 * at the cache or lock path, a reader without access to the lock file, a
 * file size beyond RLIMIT_FSIZE.
 *
 * Cross-process cases run the second process with fork and talk over
 * pipes; a child reports through its exit status (0 = every check held, or
 * a line on stderr saying which did not). Anything that could hang runs
 * under alarm(), so a regression fails instead of blocking the suite. Tests
 * that need root print why they skip, and fail when CI=true. */
#include "core_helpers.h"

#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

enum { KS = 16, IS = 8, CAP = 100, WATCHDOG = 30 };

static slc_options opts_rw(void) { return cu_opts(KS, IS, CAP, 7, 0); }

/* Without the privilege: skip, except under CI=true, where it fails. */
static void need_privilege(const char *why)
{
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true"))
        fail_msg("CI=true and %s", why);
    fprintf(stderr, "skipped: %s\n", why);
    skip();
}

/* A cache with one committed key, closed again. */
static void make_cache(const char *path)
{
    slc_options o = opts_rw();
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    slc_writer *w;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 1, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* Names in dir, sorted, joined by spaces: what a failed call left. */
static void list_dir(const char *dir, char *out, size_t n)
{
    struct dirent **ents;
    int k = scandir(dir, &ents, NULL, alphasort);
    assert_true(k >= 0);
    out[0] = '\0';
    for (int i = 0; i < k; i++) {
        if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
            if (out[0])
                strncat(out, " ", n - strlen(out) - 1);
            strncat(out, ents[i]->d_name, n - strlen(out) - 1);
        }
        free(ents[i]);
    }
    free(ents);
}

/* Wait for a child; its exit status must be 0 (77: no privilege). */
static int child_status(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("child killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* Checks inside a child: report the first failure and exit 1. */
#define CHILD_EXPECT(cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "child check failed (%s:%d): ", __FILE__,          \
                    __LINE__);                                                 \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " [detail: %s]\n", slc_errdetail());               \
            _exit(1);                                                          \
        }                                                                      \
    } while (0)

/* The same in the process that drives a writer child: report, stop the
 * child, return 1. */
#define EXPECT_R(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "check failed (%s:%d): ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " [detail: %s]\n", slc_errdetail());              \
            kill(pid, SIGKILL);                                                \
            waitpid(pid, NULL, 0);                                             \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static void put_byte(int fd, char b)
{
    ssize_t r;
    do
        r = write(fd, &b, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(3);
}

static char get_byte(int fd)
{
    char b = 0;
    ssize_t r;
    do
        r = read(fd, &b, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(3);
    return b;
}

/* ---- One file, two names -------------------------------------------------- */

/* Writer through `a` in a child; this process, through `b`, must find the
 * file busy at every step: while the generation is odd (a commit in
 * progress) no open calls the file corrupt; while the session is open no
 * second writer starts. Returns 0 or exits via CHILD_EXPECT (the caller
 * may itself be a child). */
static int two_names(const char *a, const char *b)
{
    int up[2], down[2];
    if (pipe(up) || pipe(down))
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        alarm(WATCHDOG);
        close(up[0]);
        close(down[1]);
        slc_options o = opts_rw();
        slc_cache *c;
        slc_writer *w;
        CHILD_EXPECT(slc_open(a, &o, &c) == SLC_OK, "writer open");
        CHILD_EXPECT(slc_begin_write(c, &w) == SLC_OK, "writer begin");
        uint64_t g = cu_get64(a, SLC__OFF_GENERATION);
        /* Mid-commit, as seen by everyone else: the generation odd. */
        cu_set64(a, SLC__OFF_GENERATION, g + 1);
        put_byte(up[1], '1');
        get_byte(down[0]);
        cu_set64(a, SLC__OFF_GENERATION, g);
        put_byte(up[1], '2');
        get_byte(down[0]);
        slc_writer_close(w);
        slc_close(c);
        put_byte(up[1], '3');
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    slc_options o = opts_rw(), ro = cu_opts(KS, IS, 0, 7, SLC_READ_ONLY), got;
    slc_cache *c = NULL;
    slc_writer *w = NULL;

    EXPECT_R(get_byte(up[0]) == '1', "handshake 1");
    int rc = slc_open(b, &o, &c);
    EXPECT_R(rc == SLC_EBUSY, "open via the second name during a commit: "
                                  "%s", slc_strerror(rc));
    rc = slc_open(b, &ro, &c);
    EXPECT_R(rc == SLC_EBUSY, "read-only open during a commit: %s",
                 slc_strerror(rc));
    rc = slc_read_options(b, &got);
    EXPECT_R(rc == SLC_EBUSY, "slc_read_options during a commit: %s",
                 slc_strerror(rc));
    put_byte(down[1], 'g');

    EXPECT_R(get_byte(up[0]) == '2', "handshake 2");
    EXPECT_R(slc_open(b, &o, &c) == SLC_OK, "open via the second name");
    rc = slc_begin_write(c, &w);
    EXPECT_R(rc == SLC_EBUSY && !w, "second writer through the other "
                                        "name: %s",
                 slc_strerror(rc));
    rc = slc_invalidate(c);
    EXPECT_R(rc == SLC_EBUSY, "invalidate through the other name: %s",
                 slc_strerror(rc));
    put_byte(down[1], 'g');

    EXPECT_R(get_byte(up[0]) == '3', "handshake 3");
    int st;
    EXPECT_R(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
                     WEXITSTATUS(st) == 0,
                 "writer child failed");
    /* The session ended: the file lock went with it. */
    EXPECT_R(slc_begin_write(c, &w) == SLC_OK, "writer after the other "
                                                   "ended");
    EXPECT_R(cu_put(w, KS, IS, 2, 2) == SLC_OK, "put");
    EXPECT_R(slc_commit(w) == SLC_OK, "commit");
    slc_writer_close(w);
    EXPECT_R(slc_verify(c) == SLC_OK, "verify");
    slc_close(c);
    close(up[0]);
    close(down[1]);
    return 0;
}

static void test_symlink_second_name(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    char *b = t_join(f->dir, "other.slc");
    assert_int_equal(symlink(f->path, b), 0);
    assert_int_equal(two_names(f->path, b), 0);
    free(b);
}

static void test_hard_link_second_name(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    char *b = t_join(f->dir, "other.slc");
    assert_int_equal(link(f->path, b), 0);
    assert_int_equal(two_names(f->path, b), 0);
    /* and the other way round */
    assert_int_equal(two_names(b, f->path), 0);
    free(b);
}

static void test_bind_mount_second_name(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    char *b = t_join(f->dir, "other.slc");
    assert_int_equal(t_write_file(b, "", 0), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A private mount namespace: the bind mount never leaks out and
         * goes away with this process. */
        alarm(WATCHDOG);
        if (unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount(f->path, b, NULL, MS_BIND, NULL) < 0) {
            fprintf(stderr, "bind mount: %s\n", strerror(errno));
            _exit(77);
        }
        struct stat sa, sb;
        CHILD_EXPECT(stat(f->path, &sa) == 0 && stat(b, &sb) == 0 &&
                         sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev,
                     "bind mount shows the same file");
        _exit(two_names(b, f->path) || two_names(f->path, b));
    }
    int rc = child_status(pid);
    free(b);
    if (rc == 77)
        need_privilege("mounting needs CAP_SYS_ADMIN (root)");
    assert_int_equal(rc, 0);
}

/* A child of a process with an active writer is another process: its own
 * sessions are refused, whichever handle or name it uses. */
static void test_fork_child_of_active_writer(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    char *b = t_join(f->dir, "other.slc");
    assert_int_equal(symlink(f->path, b), 0);
    slc_options o = opts_rw();
    slc_cache *c;
    slc_writer *w;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(WATCHDOG);
        slc_writer *w2 = NULL;
        slc_cache *c2, *c3;
        int rc = slc_begin_write(c, &w2);
        CHILD_EXPECT(rc == SLC_EBUSY && !w2, "inherited handle: %s",
                     slc_strerror(rc));
        CHILD_EXPECT(slc_open(f->path, &o, &c2) == SLC_OK, "open same name");
        rc = slc_begin_write(c2, &w2);
        CHILD_EXPECT(rc == SLC_EBUSY, "same name: %s", slc_strerror(rc));
        CHILD_EXPECT(slc_open(b, &o, &c3) == SLC_OK, "open symlink");
        rc = slc_begin_write(c3, &w2);
        CHILD_EXPECT(rc == SLC_EBUSY, "through a symlink: %s",
                     slc_strerror(rc));
        slc_writer_close(w); /* the parent's session, inherited: no effect */
        rc = slc_begin_write(c3, &w2);
        CHILD_EXPECT(rc == SLC_EBUSY, "after closing the inherited writer: %s",
                     slc_strerror(rc));
        _exit(0);
    }
    assert_int_equal(child_status(pid), 0);
    /* The parent's session is intact. */
    assert_int_equal(cu_put(w, KS, IS, 3, 3), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    slc_writer_close(w);
    cu_expect_get(c, KS, IS, 3, 3);
    assert_int_equal(slc_close(c), SLC_OK);
    free(b);
}

/* The file lock is taken on the handle's inode even after the path was
 * renamed away (the handle reopens it through /proc/self/fd): a process
 * reaching the file by its new name is still excluded. */
static void test_file_lock_after_rename(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    char *moved = t_join(f->dir, "moved.slc");
    slc_options o = opts_rw();
    slc_cache *c;
    slc_writer *w;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(rename(f->path, moved), 0);
    assert_int_equal(t_write_file(f->path, "", 0), 0); /* another inode */
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(WATCHDOG);
        slc_cache *c2;
        slc_writer *w2 = NULL;
        CHILD_EXPECT(slc_open(moved, &o, &c2) == SLC_OK, "open moved");
        int rc = slc_begin_write(c2, &w2);
        CHILD_EXPECT(rc == SLC_EBUSY && !w2, "writer through the new name: "
                                             "%s",
                     slc_strerror(rc));
        _exit(0);
    }
    assert_int_equal(child_status(pid), 0);
    slc_writer_close(w);
    assert_int_equal(slc_close(c), SLC_OK);
    free(moved);
}

/* An in-place initialisation takes the file lock too: while another
 * description of the file holds it (a writer through another name), the
 * empty file is not initialised under it. */
static void test_init_in_place_takes_file_lock(void **state)
{
    fx *f = *state;
    assert_int_equal(t_write_file(f->path, "", 0), 0);
    int other = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    slc_options o = opts_rw();
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EBUSY);
    assert_null(c);
    assert_int_equal(cu_file_size(f->path), 0);
    close(other);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* An odd generation with the lock file free but the file lock held: a
 * commit through another name, so SLC_EBUSY for every opener (not a
 * crash). The same with SLC_NO_LOCK takes no lock at all. */
static void test_odd_probe_takes_file_lock(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    uint64_t g = cu_get64(f->path, SLC__OFF_GENERATION);
    cu_set64(f->path, SLC__OFF_GENERATION, g + 1);
    int other = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    slc_options o = opts_rw(), ro = cu_opts(KS, IS, 0, 7, SLC_READ_ONLY), got;
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EBUSY);
    assert_int_equal(slc_open(f->path, &ro, &c), SLC_EBUSY);
    assert_int_equal(slc_read_options(f->path, &got), SLC_EBUSY);
    /* SLC_NO_LOCK: odd is busy, and no lock was needed to say so. */
    slc_options nl = cu_opts(KS, IS, 0, 7, SLC_NO_LOCK);
    assert_int_equal(slc_open(f->path, &nl, &c), SLC_EBUSY);
    close(other);
    /* Nobody holds anything now: a crashed writer. */
    assert_int_equal(slc_open(f->path, &o, &c), SLC_ECORRUPT);
    assert_int_equal(slc_open(f->path, &ro, &c), SLC_ECORRUPT);
}

/* With SLC_NO_LOCK a writer takes no lock, the file lock included: a
 * flock held elsewhere does not stop it. */
static void test_no_lock_takes_no_file_lock(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    int other = open(f->path, O_RDONLY | O_CLOEXEC);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    slc_options nl = cu_opts(KS, IS, 0, 7, SLC_NO_LOCK);
    slc_cache *c;
    slc_writer *w;
    assert_int_equal(slc_open(f->path, &nl, &c), SLC_OK);
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    slc_writer_close(w);
    assert_int_equal(slc_invalidate(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    close(other);
}

/* ---- Special files ------------------------------------------------------- */

static void test_fifo_at_cache_path(void **state)
{
    fx *f = *state;
    assert_int_equal(mkfifo(f->path, 0600), 0);
    alarm(WATCHDOG); /* a blocking open would be killed, not hang */
    static const uint32_t flags[] = {
        0,
        SLC_READ_ONLY,
        SLC_NO_LOCK,
        SLC_NO_LOCK | SLC_READ_ONLY,
        SLC_WRITEBACK_SYNC,
        SLC_ORDERED_KEYS,
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        for (uint64_t cap = 0; cap <= CAP; cap += CAP) {
            slc_options o = cu_opts(KS, IS, cap, 7, flags[i]);
            slc_cache *c = NULL;
            assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
            assert_null(c);
        }
    slc_options got;
    assert_int_equal(slc_read_options(f->path, &got), SLC_EINVAL);
    assert_non_null(strstr(slc_errdetail(), "not a regular file"));
    alarm(0);
    /* Nothing was created beside it. */
    char names[256];
    list_dir(f->dir, names, sizeof names);
    assert_string_equal(names, "cache.slc cache.slc.lock");
}

static void test_fifo_at_lock_path(void **state)
{
    fx *f = *state;
    make_cache(f->path);
    slc_options o = opts_rw(), ro = cu_opts(KS, IS, 0, 7, SLC_READ_ONLY), got;
    slc_cache *c;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(unlink(f->lock), 0);
    assert_int_equal(mkfifo(f->lock, 0600), 0);
    alarm(WATCHDOG);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_EINVAL);
    assert_null(w);
    assert_int_equal(slc_invalidate(c), SLC_EINVAL);
    assert_int_equal(slc_close(c), SLC_OK);
    c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    /* A read-only open touches the lock file only for an odd generation:
     * that probe must not block either. */
    uint64_t g = cu_get64(f->path, SLC__OFF_GENERATION);
    cu_set64(f->path, SLC__OFF_GENERATION, g + 1);
    assert_int_equal(slc_open(f->path, &ro, &c), SLC_EINVAL);
    assert_int_equal(slc_read_options(f->path, &got), SLC_EINVAL);
    alarm(0);
}

static void test_device_and_directory_at_cache_path(void **state)
{
    fx *f = *state;
    alarm(WATCHDOG);
    slc_options o = cu_opts(KS, IS, 0, 7, SLC_NO_LOCK | SLC_READ_ONLY), got;
    slc_cache *c = NULL;
    assert_int_equal(slc_open("/dev/null", &o, &c), SLC_EINVAL);
    assert_int_equal(slc_read_options("/dev/null", &got), SLC_EINVAL);
    assert_int_equal(slc_read_options(f->dir, &got), SLC_EINVAL);
    alarm(0);
}

/* ---- A reader without access to the lock file ----------------------------- */

static void test_reader_without_lock_access_odd(void **state)
{
    fx *f = *state;
    if (geteuid() != 0)
        need_privilege("changing to another user needs root");
    make_cache(f->path); /* the lock file exists, 0600, owned by root */
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(chmod(f->path, 0644), 0);
    uint64_t g = cu_get64(f->path, SLC__OFF_GENERATION);
    cu_set64(f->path, SLC__OFF_GENERATION, g + 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(WATCHDOG);
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(77);
        CHILD_EXPECT(open(f->lock, O_RDONLY) < 0 && errno == EACCES,
                     "the lock file must be out of reach");
        slc_options ro = cu_opts(KS, IS, 0, 7, SLC_READ_ONLY), got;
        slc_cache *c = NULL;
        int rc = slc_open(f->path, &ro, &c);
        CHILD_EXPECT(rc == SLC_EBUSY, "read-only open: %s", slc_strerror(rc));
        rc = slc_read_options(f->path, &got);
        CHILD_EXPECT(rc == SLC_EBUSY, "slc_read_options: %s",
                     slc_strerror(rc));
        _exit(0);
    }
    int rc = child_status(pid);
    if (rc == 77)
        need_privilege("setuid to 65534 failed");
    assert_int_equal(rc, 0);
}

/* ---- RLIMIT_FSIZE --------------------------------------------------------- */

/* In a child with the limit below the file size and SIGXFSZ at its default
 * (fatal) disposition: open must fail with EFBIG, not kill the process. */
static void fsize_child(const char *path, rlim_t limit)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(WATCHDOG);
        signal(SIGXFSZ, SIG_DFL);
        struct rlimit rl = {limit, limit};
        CHILD_EXPECT(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit");
        slc_options o = cu_opts(KS, IS, 100000, 7, SLC_WRITEBACK_SYNC);
        slc_cache *c = NULL;
        int rc = slc_open(path, &o, &c);
        CHILD_EXPECT(rc == SLC_ESYS && errno == EFBIG, "open: %s, errno %d",
                     slc_strerror(rc), errno);
        CHILD_EXPECT(strstr(slc_errdetail(), path) != NULL,
                     "detail names the file");
        _exit(0);
    }
    assert_int_equal(child_status(pid), 0);
}

static void test_create_beyond_fsize_limit(void **state)
{
    fx *f = *state;
    char names[256];
    fsize_child(f->path, 1u << 16);
    list_dir(f->dir, names, sizeof names);
    assert_string_equal(names, "cache.slc.lock"); /* no file, no temp file */
    fsize_child(f->path, 100); /* below even the header */
    list_dir(f->dir, names, sizeof names);
    assert_string_equal(names, "cache.slc.lock");
}

static void test_init_in_place_beyond_fsize_limit(void **state)
{
    fx *f = *state;
    assert_int_equal(t_write_file(f->path, "", 0), 0);
    fsize_child(f->path, 1u << 16);
    char names[256];
    list_dir(f->dir, names, sizeof names);
    assert_string_equal(names, "cache.slc cache.slc.lock");
    assert_int_equal(cu_file_size(f->path), 0); /* still empty */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)
        T(test_symlink_second_name),
        T(test_hard_link_second_name),
        T(test_bind_mount_second_name),
        T(test_fork_child_of_active_writer),
        T(test_file_lock_after_rename),
        T(test_init_in_place_takes_file_lock),
        T(test_odd_probe_takes_file_lock),
        T(test_no_lock_takes_no_file_lock),
        T(test_fifo_at_cache_path),
        T(test_fifo_at_lock_path),
        T(test_device_and_directory_at_cache_path),
        T(test_reader_without_lock_access_odd),
        T(test_create_beyond_fsize_limit),
        T(test_init_in_place_beyond_fsize_limit),
#undef T
    };
    if (getenv("SLC_TEST_FILTER")) /* one test by name, e.g. to bisect */
        cmocka_set_test_filter(getenv("SLC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
