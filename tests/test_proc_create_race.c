/* Many processes open one path at the same moment: a missing path (create
 * through a temporary file and rename) and a pre-created empty file
 * (initialised in place). Every opener must end with a handle on the same,
 * valid file - SLC_EBUSY is allowed for losers of the creation lock, which
 * then succeed on retry - and the directory must hold no partial or
 * temporary file. Each child also commits its own key: all keys in the final
 * file prove all handles map the same inode. */
#include "support.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h" /* the handle's (dev, ino), to compare inodes directly */

#define OPENERS 8
#define ROUNDS 25
#define CAPACITY 64

typedef struct shared {
    int ready, go;
    uint64_t ino[OPENERS];
    int open_busy, write_busy;
    int bad_code[OPENERS];
} shared;

static slc_options opts(void)
{
    slc_options o = {8, 8, 3, CAPACITY, 0};
    return o;
}

static void opener(shared *sh, int i, const char *path)
{
    alarm(60);
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
        sched_yield();
    slc_options o = opts();
    slc_cache *c = NULL;
    int rc = SLC_EBUSY;
    for (int tries = 0; tries < 100000 && rc == SLC_EBUSY; tries++) {
        rc = slc_open(path, &o, &c);
        if (rc == SLC_EBUSY) {
            __atomic_add_fetch(&sh->open_busy, 1, __ATOMIC_RELAXED);
            sched_yield();
        }
    }
    if (rc != SLC_OK) {
        sh->bad_code[i] = rc;
        fprintf(stderr, "opener %d: slc_open %d (%s)\n", i, rc, slc_errdetail());
        _exit(1);
    }
    sh->ino[i] = (uint64_t)c->ino;
    slc_writer *w = NULL;
    rc = SLC_EBUSY;
    for (int tries = 0; tries < 100000 && rc == SLC_EBUSY; tries++) {
        rc = slc_begin_write(c, &w);
        if (rc == SLC_EBUSY) {
            __atomic_add_fetch(&sh->write_busy, 1, __ATOMIC_RELAXED);
            sched_yield();
        }
    }
    uint8_t key[8] = {'o', 'p', 'e', 'n', 'e', 'r', 0, (uint8_t)i};
    uint8_t idx[8] = {(uint8_t)i};
    if (rc == SLC_OK)
        rc = slc_put(w, key, 8, i, idx, 8);
    if (rc == SLC_OK)
        rc = slc_commit(w);
    slc_writer_close(w);
    if (rc != SLC_OK) {
        sh->bad_code[i] = rc;
        fprintf(stderr, "opener %d: write %d (%s)\n", i, rc, slc_errdetail());
        _exit(2);
    }
    _exit(slc_close(c) == SLC_OK ? 0 : 3);
}

/* Fork the openers, release them together, wait for all. */
static void race(shared *sh, const char *path)
{
    memset(sh, 0, sizeof *sh);
    pid_t pids[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            opener(sh, i, path);
    }
    while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < OPENERS)
        sched_yield();
    __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < OPENERS; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

/* The path holds one valid file: every opener's inode, every opener's key,
 * and nothing else in the directory but the lock file. */
static void check_result(shared *sh, const char *dir, const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    for (int i = 0; i < OPENERS; i++)
        assert_int_equal(sh->ino[i], (uint64_t)st.st_ino);
    slc_options o = opts();
    slc_cache *c;
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    uint64_t n;
    assert_int_equal(slc_len(c, &n), SLC_OK);
    assert_int_equal(n, OPENERS);
    for (int i = 0; i < OPENERS; i++) {
        uint8_t key[8] = {'o', 'p', 'e', 'n', 'e', 'r', 0, (uint8_t)i};
        uint8_t idx[8];
        int64_t rev;
        assert_int_equal(slc_get(c, key, 8, &rev, idx, 8), SLC_OK);
        assert_int_equal(rev, i);
        assert_int_equal(idx[0], i);
    }
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 2 * OPENERS);
    assert_int_equal(slc_close(c), SLC_OK);

    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        entries++;
        if (strcmp(e->d_name, "x.slc") && strcmp(e->d_name, "x.slc.lock"))
            fail_msg("unexpected file left in the directory: %s", e->d_name);
    }
    closedir(d);
    assert_int_equal(entries, 2);
}

static shared *map_shared(void)
{
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(sh != MAP_FAILED);
    return sh;
}

static void missing_path(void **state)
{
    (void)state;
    shared *sh = map_shared();
    int open_busy = 0, write_busy = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char *dir = t_tmpdir();
        char *path = t_join(dir, "x.slc");
        race(sh, path);
        check_result(sh, dir, path);
        open_busy += sh->open_busy;
        write_busy += sh->write_busy;
        t_rmtree(dir);
        free(path);
        free(dir);
    }
    fprintf(stderr, "[create_race] missing path: %d rounds x %d openers, "
                    "%d SLC_EBUSY opens retried, %d SLC_EBUSY begin_write\n",
            ROUNDS, OPENERS, open_busy, write_busy);
    munmap(sh, sizeof *sh);
}

static void empty_file_keeps_mode(void **state)
{
    (void)state;
    shared *sh = map_shared();
    int open_busy = 0;
    slc_options o = opts();
    uint64_t want_size = 0;
    {
        /* The logical size of this configuration, from a scratch file. */
        char *dir = t_tmpdir();
        char *p = t_join(dir, "size.slc");
        slc_cache *c;
        slc_stat s;
        assert_int_equal(slc_open(p, &o, &c), SLC_OK);
        assert_int_equal(slc_stat_get(c, &s), SLC_OK);
        want_size = s.file_size;
        slc_close(c);
        t_rmtree(dir);
        free(p);
        free(dir);
    }
    for (int round = 0; round < ROUNDS; round++) {
        char *dir = t_tmpdir();
        char *path = t_join(dir, "x.slc");
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, 0640), 0); /* whatever the umask */
        struct stat before, after;
        assert_int_equal(fstat(fd, &before), 0);
        close(fd);
        race(sh, path);
        assert_int_equal(stat(path, &after), 0);
        assert_int_equal(after.st_mode & 07777, 0640);
        assert_int_equal(after.st_ino, before.st_ino);
        assert_int_equal((uint64_t)after.st_size, want_size);
        check_result(sh, dir, path);
        open_busy += sh->open_busy;
        t_rmtree(dir);
        free(path);
        free(dir);
    }
    fprintf(stderr, "[create_race] empty file: %d rounds x %d openers, %d "
                    "SLC_EBUSY opens retried\n",
            ROUNDS, OPENERS, open_busy);
    munmap(sh, sizeof *sh);
}

/* An opener that finds a non-empty file whose header is not (yet) valid
 * while the writer lock is held may be looking at an in-place
 * initialisation between its ftruncate and its header write (SLC1 10.5):
 * that is SLC_EBUSY, not a verdict on the file. The lock is held here by a
 * separate descriptor, as another process's initialiser would hold it. With
 * the lock free the same bytes get their real verdict, unchanged. */
static void open_while_initialising(void **state)
{
    (void)state;
    char *dir = t_tmpdir();
    char *ref = t_join(dir, "ref.slc");
    char *path = t_join(dir, "x.slc");
    char *lock = t_join(dir, "x.slc.lock");
    slc_options o = opts();
    slc_cache *c;
    assert_int_equal(slc_open(ref, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    size_t len;
    char *image = t_read_file(ref, &len); /* a fresh file: header + zeros */
    assert_non_null(image);

    /* The initialiser writes the header, then extends the file: in between
     * the file holds a sound header but is shorter than it requires. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, image, 256, 0), 256);
    int lfd = open(lock, O_RDWR | O_CREAT, 0600);
    assert_true(lfd >= 0);
    assert_int_equal(flock(lfd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(slc_open(path, &o, &c), SLC_EBUSY);
    slc_options ro;
    assert_int_equal(slc_read_options(path, &ro), SLC_EBUSY);
    /* The initialiser dies here: its lock goes, the verdict stands. */
    assert_int_equal(flock(lfd, LOCK_UN), 0);
    assert_int_equal(slc_open(path, &o, &c), SLC_ECORRUPT); /* length */
    assert_int_equal(slc_read_options(path, &ro), SLC_ECORRUPT);
    /* Other faults are verdicts whoever holds the lock: the initialiser
     * never shows a full-length file without its header. */
    assert_int_equal(flock(lfd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(ftruncate(fd, (off_t)len), 0);
    assert_int_equal(pwrite(fd, "\0\0\0\0", 4, 0), 4);
    assert_int_equal(slc_open(path, &o, &c), SLC_EINCOMPATIBLE); /* magic */
    assert_int_equal(flock(lfd, LOCK_UN), 0);
    size_t now_len;
    char *now = t_read_file(path, &now_len);
    assert_int_equal(now_len, len); /* failed opens changed nothing */
    assert_int_equal(memcmp(now + 4, image + 4, 252), 0);
    free(now);
    /* Completed by a later initialiser: opens. */
    assert_int_equal(pwrite(fd, image, 256, 0), 256);
    assert_int_equal(slc_open(path, &o, &c), SLC_OK);
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    close(lfd);
    close(fd);
    free(image);
    t_rmtree(dir);
    free(ref);
    free(path);
    free(lock);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_path),
        cmocka_unit_test(empty_file_keeps_mode),
        cmocka_unit_test(open_while_initialising),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
