/* Faults of the environment: no disk space (issue 12, API.md "Faults of
 * the environment").
 *
 * A small ext4 image on a loop device and a small tmpfs are filled up
 * around a cache. Commits that need space must fail with SLC_ESYS/ENOSPC
 * and publish nothing; no process - writer, reader - may be killed by
 * SIGBUS; once space is back the next session commits. Every scenario runs
 * in a child process, so a signal shows as a failed wait status rather
 * than killing the test runner.
 *
 * Mounting needs root. Without it the tests skip with the reason, except
 * under CI=true, where a missing privilege is a failure. */
#include "core_helpers.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define KS 16u
#define IS 32u

typedef struct mnt {
    char *dir, *mp, *img;
    int mounted;
} mnt;

/* Mount points still mounted, detached by the group teardown when an
 * assertion ended a test early. */
static char *left_mounted[16];

static void remember_mount(const char *mp, int on)
{
    for (int i = 0; i < 16; i++) {
        if (on && !left_mounted[i]) {
            left_mounted[i] = strdup(mp);
            return;
        }
        if (!on && left_mounted[i] && strcmp(left_mounted[i], mp) == 0) {
            free(left_mounted[i]);
            left_mounted[i] = NULL;
            return;
        }
    }
}

static int detach_left(void **state)
{
    (void)state;
    for (int i = 0; i < 16; i++)
        if (left_mounted[i]) {
            (void)umount2(left_mounted[i], MNT_DETACH);
            free(left_mounted[i]);
            left_mounted[i] = NULL;
        }
    return 0;
}

static int in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

/* Skip without the privilege, fail in CI. */
static void need(int ok, const char *why)
{
    if (ok)
        return;
    if (in_ci())
        fail_msg("CI=true and %s", why);
    print_message("skipped: %s\n", why);
    skip();
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static mnt *mount_fs(const char *kind)
{
    need(geteuid() == 0, "mounting a small filesystem needs root");
    mnt *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->dir = t_tmpdir();
    m->mp = t_join(m->dir, "mnt");
    m->img = t_join(m->dir, "fs.img");
    assert_int_equal(mkdir(m->mp, 0755), 0);
    int rc;
    if (strcmp(kind, "ext4") == 0)
        rc = run("truncate -s 8M '%s' && mkfs.ext4 -q -F '%s' >/dev/null "
                 "2>&1 && mount -o loop '%s' '%s'",
                 m->img, m->img, m->img, m->mp);
    else
        rc = mount("slc-test", m->mp, "tmpfs", 0, "size=2m") == 0 ? 0 : 1;
    need(rc == 0, "could not mount a test filesystem (loop device, "
                  "mkfs.ext4 or tmpfs unavailable)");
    m->mounted = 1;
    remember_mount(m->mp, 1);
    return m;
}

static void unmount_fs(mnt *m)
{
    if (m->mounted) {
        assert_int_equal(umount2(m->mp, MNT_DETACH), 0);
        remember_mount(m->mp, 0);
    }
    t_rmtree(m->dir);
    free(m->dir);
    free(m->mp);
    free(m->img);
    free(m);
}

/* Write a filler file until the filesystem refuses a single byte. */
static void fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static uint8_t chunk[65536];
    memset(chunk, 0xA5, sizeof chunk);
    for (size_t n = sizeof chunk; n > 0; n /= 2) {
        while (write(fd, chunk, n) == (ssize_t)n) {
        }
        assert_true(errno == ENOSPC || errno == 0 || errno == EFBIG);
    }
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

/* Fork; the child runs fn and exits 0 on success. The parent insists on a
 * normal exit with 0: a signal (SIGBUS, SIGXFSZ) fails the test. */
static void in_child(void (*fn)(void *), void *arg, const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A fault must show as the signal it is, not as cmocka's report. */
        signal(SIGBUS, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGXFSZ, SIG_DFL);
        alarm(60);
        fn(arg);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("%s: child killed by signal %d (%s)", what, WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s: child exited with status %d", what, WEXITSTATUS(st));
}

/* Child-side checks: print and exit non-zero (cmocka asserts in a forked
 * child would longjmp into the parent's state). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s (detail: %s)\n",         \
                    __FILE__, __LINE__, #cond, slc_errdetail());               \
            _exit(3);                                                          \
        }                                                                      \
    } while (0)

typedef struct scenario {
    const char *path;
    uint64_t cap;
    uint64_t have;  /* keys 0..have-1 are live with revision 1 */
    uint64_t extra; /* how many new keys the failing commit adds */
    uint32_t flags;
    uint64_t gen;   /* generation before the failing commit */
} scenario;

static slc_cache *child_open(const scenario *s, uint32_t flags)
{
    slc_options o = cu_opts(KS, IS, 0, 1, flags);
    slc_cache *c = NULL;
    int rc = slc_open(s->path, &o, &c);
    CHECK(rc == SLC_OK);
    return c;
}

static void child_check_old_state(const scenario *s, slc_cache *c)
{
    uint64_t g = 0, live = 0;
    CHECK(slc_generation(c, &g) == SLC_OK);
    CHECK(g == s->gen);
    CHECK(slc_len(c, &live) == SLC_OK);
    CHECK(live == s->have);
    CHECK(slc_verify(c) == SLC_OK);
    uint8_t k[KS], ix[IS];
    for (uint64_t n = 0; n < s->have + s->extra; n++) {
        int64_t rev = 0;
        cu_key(k, KS, n);
        int rc = slc_get(c, k, KS, &rev, ix, IS);
        CHECK(rc == (n < s->have ? SLC_OK : SLC_NOTFOUND));
        CHECK(n >= s->have || rev == 1);
    }
}

static void put_range(slc_writer *w, uint64_t from, uint64_t to, int64_t rev)
{
    uint8_t k[KS], ix[IS];
    for (uint64_t n = from; n < to; n++) {
        cu_key(k, KS, n);
        cu_index(ix, IS, n, rev);
        CHECK(slc_put(w, k, KS, rev, ix, IS) == SLC_OK);
    }
}

/* The commit that needs space: ESYS/ENOSPC, nothing published. */
static void child_failing_commit(void *arg)
{
    const scenario *s = arg;
    slc_cache *c = child_open(s, s->flags);
    slc_writer *w = NULL;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    put_range(w, s->have, s->have + s->extra, 1);
    CHECK(slc_set_user_flags(w, 77) == SLC_OK);
    errno = 0;
    int rc = slc_commit(w);
    int err = errno;
    if (rc != SLC_ESYS || err != ENOSPC)
        fprintf(stderr, "commit: %s, errno %d: %s\n", slc_strerror(rc), err,
                slc_errdetail());
    CHECK(rc == SLC_ESYS);
    CHECK(err == ENOSPC);
    CHECK(strstr(slc_errdetail(), s->path) != NULL);
    CHECK(slc_writer_close(w) == SLC_OK);
    child_check_old_state(s, c);
    uint64_t uf = 1;
    CHECK(slc_user_header(c, &uf, NULL) == SLC_OK);
    CHECK(uf == 0);
    CHECK(slc_close(c) == SLC_OK);
    /* A fresh open of the path, as after a restart. */
    c = child_open(s, s->flags);
    child_check_old_state(s, c);
    CHECK(slc_close(c) == SLC_OK);
}

/* A rebuild on the full filesystem (the append path writes with pwrite):
 * a clean SLC_ESYS/ENOSPC somewhere between begin and publish, the path
 * keeps the old file, no temporary stays. */
static void child_rebuild_on_full(void *arg)
{
    const scenario *s = arg;
    slc_options o = cu_opts(KS, IS, s->cap, 1, s->flags);
    slc_rebuild *r = NULL;
    int rc = slc_rebuild_begin(s->path, &o, &r);
    uint8_t k[KS], ix[IS];
    for (uint64_t n = 0; n < s->have + s->extra && rc == SLC_OK; n++) {
        cu_key(k, KS, n);
        cu_index(ix, IS, n, 4);
        rc = slc_rebuild_put(r, k, KS, 4, ix, IS);
    }
    if (rc == SLC_OK)
        rc = slc_rebuild_publish(r, 0);
    int err = errno;
    slc_rebuild_close(r);
    if (rc != SLC_ESYS || err != ENOSPC)
        fprintf(stderr, "rebuild: %s, errno %d: %s\n", slc_strerror(rc), err,
                slc_errdetail());
    CHECK(rc == SLC_ESYS && err == ENOSPC);
    slc_cache *c = child_open(s, s->flags);
    child_check_old_state(s, c);
    CHECK(slc_close(c) == SLC_OK);
}

/* Readers on the full filesystem: gets (hits and misses), scans, verify,
 * read-only and read-write handles. */
static int count_entry(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(uint64_t *)ctx;
    return 0;
}

static void child_readers(void *arg)
{
    const scenario *s = arg;
    for (int ro = 0; ro < 2; ro++) {
        slc_cache *c = child_open(s, ro ? SLC_READ_ONLY : 0);
        child_check_old_state(s, c);
        uint64_t n = 0;
        CHECK(slc_scan(c, NULL, count_entry, &n) == SLC_OK);
        CHECK(n == s->have);
        CHECK(slc_close(c) == SLC_OK);
    }
}

/* Updates of live entries need no new space: they still commit. */
static void child_update_commit(void *arg)
{
    const scenario *s = arg;
    slc_cache *c = child_open(s, s->flags);
    slc_writer *w = NULL;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    put_range(w, 0, s->have, 1); /* same values: an update of each */
    CHECK(slc_commit(w) == SLC_OK);
    CHECK(slc_writer_close(w) == SLC_OK);
    CHECK(slc_verify(c) == SLC_OK);
    CHECK(slc_close(c) == SLC_OK);
}

/* Space is back: the same session commits. */
static void child_commit_after(void *arg)
{
    const scenario *s = arg;
    slc_cache *c = child_open(s, s->flags);
    slc_writer *w = NULL;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    put_range(w, s->have, s->have + s->extra, 2);
    CHECK(slc_commit(w) == SLC_OK);
    CHECK(slc_writer_close(w) == SLC_OK);
    uint64_t live = 0;
    CHECK(slc_len(c, &live) == SLC_OK);
    CHECK(live == s->have + s->extra);
    CHECK(slc_verify(c) == SLC_OK);
    CHECK(slc_close(c) == SLC_OK);
}

/* The cache of a scenario: keys 0..have-1 with revision 1 in one commit;
 * notes its generation. */
static void load_scenario(scenario *s)
{
    slc_options o = cu_opts(KS, IS, s->cap, 1, s->flags);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(s->path, &o, &c), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < s->have; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_generation(c, &s->gen), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
}

static void fill_scenario(const char *kind, uint64_t cap, uint64_t have,
                          uint64_t extra, uint32_t flags)
{
    mnt *m = mount_fs(kind);
    char *path = t_join(m->mp, "cache.slc");
    char *filler = t_join(m->mp, "filler");
    scenario s = {path, cap, have, extra, flags, 0};
    load_scenario(&s);
    /* Make what the first commit wrote hit the disk, then fill it. */
    sync();
    fill(filler);

    in_child(child_failing_commit, &s, "commit on a full filesystem");
    in_child(child_readers, &s, "readers on a full filesystem");
    in_child(child_rebuild_on_full, &s, "rebuild on a full filesystem");
    in_child(child_update_commit, &s, "updates on a full filesystem");
    /* Nothing but the cache, its lock file and the filler is left. */
    assert_int_equal(run("test \"$(ls -A '%s' | grep -v -e '^cache.slc$' -e "
                         "'^cache.slc.lock$' -e '^filler$' -e "
                         "'^lost+found$' | wc -l)\" = 0",
                         m->mp),
                     0);

    assert_int_equal(unlink(filler), 0);
    sync(); /* ext4 frees the blocks when the unlink commits */
    in_child(child_commit_after, &s, "commit once space is back");

    free(path);
    free(filler);
    unmount_fs(m);
}

static void full_ext4(void **state)
{
    (void)state;
    /* A 5.9 MB sparse file on an 8 MB filesystem, then filled. */
    fill_scenario("ext4", 60000, 2000, 20000, 0);
}

static void full_ext4_sync(void **state)
{
    (void)state;
    fill_scenario("ext4", 60000, 2000, 20000, SLC_WRITEBACK_SYNC);
}

static void full_tmpfs(void **state)
{
    (void)state;
    /* 640 KB of slots and 512 KB of buckets on a 2 MB tmpfs. */
    fill_scenario("tmpfs", 10000, 500, 9000, 0);
}

static void full_tmpfs_sync(void **state)
{
    (void)state;
    fill_scenario("tmpfs", 10000, 500, 9000, SLC_WRITEBACK_SYNC);
}

/* An insert whose slot page is allocated already (new slots claim 64 KiB
 * ahead) but whose bucket lies in a page nothing has written yet: the
 * bucket page alone must be claimed before the odd window. */
static uint64_t page_of_key(uint64_t n, uint64_t buckets, uint64_t page)
{
    uint8_t k[KS];
    cu_key(k, KS, n);
    return (slc__fnv1a64(k, KS) & (buckets - 1)) * SLC__BUCKET_SIZE / page;
}

static void child_insert_into_hole_bucket(void *arg)
{
    const scenario *s = arg;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), buckets = 131072;
    /* A key whose home bucket page holds none of the live keys, nor the
     * next page (a probe may run on). */
    uint64_t pick = UINT64_MAX;
    for (uint64_t n = s->have; n < s->have + 100000 && pick == UINT64_MAX;
         n++) {
        uint64_t pg = page_of_key(n, buckets, page);
        int clear = 1;
        for (uint64_t m = 0; m < s->have && clear; m++) {
            uint64_t q = page_of_key(m, buckets, page);
            clear = q != pg && q != pg + 1 && q + 1 != pg;
        }
        if (clear)
            pick = n;
    }
    CHECK(pick != UINT64_MAX);
    slc_cache *c = child_open(s, s->flags);
    slc_stat st;
    CHECK(slc_stat_get(c, &st) == SLC_OK && st.bucket_count == buckets);
    slc_writer *w = NULL;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    put_range(w, pick, pick + 1, 1);
    errno = 0;
    int rc = slc_commit(w);
    int err = errno;
    CHECK(slc_writer_close(w) == SLC_OK);
    CHECK(rc == SLC_ESYS && err == ENOSPC);
    CHECK(slc_verify(c) == SLC_OK);
    CHECK(slc_close(c) == SLC_OK);
}

static void insert_hole_bucket(uint32_t flags)
{
    mnt *m = mount_fs("ext4");
    char *path = t_join(m->mp, "cache.slc");
    char *filler = t_join(m->mp, "filler");
    scenario s = {path, 60000, 20, 1, flags, 0};
    load_scenario(&s);
    sync();
    fill(filler);
    in_child(child_insert_into_hole_bucket, &s, "insert into a hole bucket");
    free(path);
    free(filler);
    unmount_fs(m);
}

static void hole_bucket_ext4(void **state)
{
    (void)state;
    insert_hole_bucket(0);
}

static void hole_bucket_ext4_sync(void **state)
{
    (void)state;
    insert_hole_bucket(SLC_WRITEBACK_SYNC);
}

/* A rebuild that gets its temporary file and its slots but no room for its
 * buckets: 32 KiB are given back after the fill, enough for the
 * temporary's header and 400 slots, not for a 1 MiB partition of buckets
 * (bulk.c writes them at publication). A clean SLC_ESYS/ENOSPC, no
 * SIGBUS, the old file, no temporary left. */
static void rebuild_bucket_pages(void **state)
{
    (void)state;
    mnt *m = mount_fs("ext4");
    char *path = t_join(m->mp, "cache.slc");
    char *filler = t_join(m->mp, "filler");
    scenario s = {path, 60000, 20, 400, 0, 0};
    load_scenario(&s);
    sync();
    fill(filler);
    struct stat st;
    assert_int_equal(stat(filler, &st), 0);
    assert_int_equal(truncate(filler, st.st_size - 32768), 0);
    sync(); /* ext4 frees the blocks when the truncation commits */
    in_child(child_rebuild_on_full, &s, "rebuild without room for buckets");
    assert_int_equal(run("test \"$(ls -A '%s' | grep -c '\\.tmp\\.')\" = 0",
                         m->mp),
                     0);
    free(path);
    free(filler);
    unmount_fs(m);
}

/* Creating a cache on a full filesystem: a clean error, and nothing left
 * in the directory but the lock file. */
static void child_create_on_full(void *arg)
{
    const char *mp = arg;
    char path[4096];
    snprintf(path, sizeof path, "%s/new.slc", mp);
    slc_options o = cu_opts(KS, IS, 10000, 1, 0);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    if (rc == SLC_OK) {
        /* Created (only the header needs a block): a commit must then
         * fail cleanly, as for any cache. */
        slc_writer *w = NULL;
        CHECK(slc_begin_write(c, &w) == SLC_OK);
        put_range(w, 0, 5000, 1);
        rc = slc_commit(w);
        CHECK(rc == SLC_ESYS && errno == ENOSPC);
        CHECK(slc_writer_close(w) == SLC_OK);
        CHECK(slc_close(c) == SLC_OK);
    } else {
        CHECK(rc == SLC_ESYS);
        CHECK(errno == ENOSPC);
        CHECK(access(path, F_OK) != 0);
    }
}

static void create_on_full(const char *kind)
{
    mnt *m = mount_fs(kind);
    char *filler = t_join(m->mp, "filler");
    fill(filler);
    in_child(child_create_on_full, m->mp, "create on a full filesystem");
    assert_int_equal(run("test \"$(ls -A '%s' | grep -c '\\.tmp\\.')\" = 0",
                         m->mp),
                     0);
    free(filler);
    unmount_fs(m);
}

static void create_full_ext4(void **state)
{
    (void)state;
    create_on_full("ext4");
}

static void create_full_tmpfs(void **state)
{
    (void)state;
    create_on_full("tmpfs");
}

/* Initialising an empty file in place on a full tmpfs (where creation
 * allocates the bucket section): the failure leaves the file empty, as it
 * was. Its first page is allocated beforehand (FALLOC_FL_KEEP_SIZE), so
 * the header write succeeds and the failure comes after it: the undo
 * (truncation to 0) is what keeps the file empty. */
static void child_init_in_place_on_full(void *arg)
{
    const char *path = arg;
    slc_options o = cu_opts(KS, IS, 10000, 1, 0);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    CHECK(rc == SLC_ESYS);
    CHECK(errno == ENOSPC);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(st.st_size == 0);
}

static void init_in_place_full_tmpfs(void **state)
{
    (void)state;
    mnt *m = mount_fs("tmpfs");
    char *path = t_join(m->mp, "empty.slc");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
    close(fd);
    char *filler = t_join(m->mp, "filler");
    errno = 0; /* fill() reads errno after a short write */
    fill(filler);
    in_child(child_init_in_place_on_full, path,
             "init in place on a full tmpfs");
    free(filler);
    free(path);
    unmount_fs(m);
}

/* A durable writer whose RLIMIT_FSIZE is below the file's size: commits
 * near the end of the file must not raise SIGXFSZ. */
typedef struct limit_case {
    const char *path;
} limit_case;

static void child_small_fsize(void *arg)
{
    const limit_case *lc = arg;
    struct rlimit rl = {65536, 65536};
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    slc_options o = cu_opts(KS, IS, 0, 1, SLC_WRITEBACK_SYNC);
    slc_cache *c = NULL;
    CHECK(slc_open(lc->path, &o, &c) == SLC_OK);
    slc_writer *w = NULL;
    CHECK(slc_begin_write(c, &w) == SLC_OK);
    put_range(w, 0, 3000, 5);      /* updates, slots up to ~190 KB */
    put_range(w, 3000, 3100, 5);   /* inserts past the limit */
    /* Past the limit the commit stores through the mapping, where the
     * limit does not apply: it succeeds. */
    CHECK(slc_commit(w) == SLC_OK);
    CHECK(slc_writer_close(w) == SLC_OK);
    CHECK(slc_verify(c) == SLC_OK);
    for (uint64_t n = 0; n < 3100; n += 97) {
        uint8_t k[KS];
        int64_t rev = 0;
        cu_key(k, KS, n);
        CHECK(slc_get(c, k, KS, &rev, NULL, 0) == SLC_OK && rev == 5);
    }
    CHECK(slc_close(c) == SLC_OK);
}

static void commit_past_fsize_limit(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 5000, 1, 0);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(c, &w), SLC_OK);
    for (uint64_t n = 0; n < 3000; n++)
        assert_int_equal(cu_put(w, KS, IS, n, 1), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_OK);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    limit_case lc = {f->path};
    in_child(child_small_fsize, &lc, "durable commit past RLIMIT_FSIZE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_ext4),
        cmocka_unit_test(full_ext4_sync),
        cmocka_unit_test(full_tmpfs),
        cmocka_unit_test(full_tmpfs_sync),
        cmocka_unit_test(hole_bucket_ext4),
        cmocka_unit_test(hole_bucket_ext4_sync),
        cmocka_unit_test(rebuild_bucket_pages),
        cmocka_unit_test(create_full_ext4),
        cmocka_unit_test(create_full_tmpfs),
        cmocka_unit_test(init_in_place_full_tmpfs),
        cmocka_unit_test_setup_teardown(commit_past_fsize_limit, cu_fx_setup,
                                        cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, detach_left);
}
