/* Power loss just after a Sync-mode create: the rename of the temporary
 * file is only durable once the directory is synced (issue 12).
 *
 * fsync is interposed: this file defines it, so the static test library
 * calls this definition. Each call is classified with fstat (directory or
 * not) and by whether the cache path exists at that moment (before or
 * after the rename); then it is forwarded to the kernel with syscall(2),
 * or fails with EIO for directories when a test asks for it. */
#include "core_helpers.h"

#include <dirent.h>
#include <sys/syscall.h>

enum { KS = 16, IS = 8, CAP = 100 };

static struct {
    const char *path; /* the cache path being created; NULL: not watching */
    int file_syncs, dir_before_rename, dir_after_rename;
    int fail_dirs;
} rec;

int fsync(int fd)
{
    struct stat st;
    if (rec.path && fstat(fd, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            rec.file_syncs++;
        else if (cu_exists(rec.path))
            rec.dir_after_rename++;
        else
            rec.dir_before_rename++;
        if (S_ISDIR(st.st_mode) && rec.fail_dirs) {
            errno = EIO;
            return -1;
        }
    }
    return (int)syscall(SYS_fsync, fd);
}

static void watch(const char *path, int fail_dirs)
{
    memset(&rec, 0, sizeof rec);
    rec.path = path;
    rec.fail_dirs = fail_dirs;
}

static void test_sync_create_syncs_directory_after_rename(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, CAP, 0, SLC_WRITEBACK_SYNC);
    slc_cache *c;
    watch(f->path, 0);
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    rec.path = NULL;
    assert_true(rec.file_syncs >= 1);      /* the temporary file's contents */
    assert_true(rec.dir_after_rename >= 1); /* then the directory entry */
    assert_int_equal(rec.dir_before_rename, 0);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* A directory that cannot be synced: the create is not known durable, so
 * it fails and leaves the directory as it was (only the lock file). */
static void test_sync_create_dir_sync_failure(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, CAP, 0, SLC_WRITEBACK_SYNC);
    slc_cache *c = NULL;
    watch(f->path, 1);
    int rc = slc_open(f->path, &o, &c);
    int err = errno;
    rec.path = NULL;
    assert_int_equal(rc, SLC_ESYS);
    assert_int_equal(err, EIO);
    assert_null(c);
    assert_false(cu_exists(f->path));
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    int others = 0;
    while ((e = readdir(d)))
        others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                  strcmp(e->d_name, "cache.slc.lock");
    closedir(d);
    assert_int_equal(others, 0);
}

/* A rebuild's publication (to a path with no file yet, so that the
 * cache path's existence tells before from after the rename): the
 * temporary's contents and its directory entry are synced before the
 * rename, and the directory again after it, or a power loss can undo the
 * publication. */
static void test_rebuild_syncs_directory_after_rename(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, CAP, 0, 0);
    slc_rebuild *r;
    assert_int_equal(slc_rebuild_begin(f->path, &o, &r), SLC_OK);
    uint8_t key[KS], ix[IS];
    cu_key(key, KS, 7);
    memset(ix, 7, sizeof ix);
    assert_int_equal(slc_rebuild_put(r, key, KS, 1, ix, IS), SLC_OK);
    watch(f->path, 0);
    assert_int_equal(slc_rebuild_publish(r, 0), SLC_OK);
    rec.path = NULL;
    assert_int_equal(slc_rebuild_close(r), SLC_OK);
    assert_true(rec.file_syncs >= 1);
    assert_true(rec.dir_before_rename >= 1);
    assert_true(rec.dir_after_rename >= 1);
    assert_true(cu_exists(f->path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sync_create_syncs_directory_after_rename, cu_fx_setup,
            cu_fx_teardown),
        cmocka_unit_test_setup_teardown(test_sync_create_dir_sync_failure,
                                        cu_fx_setup, cu_fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_rebuild_syncs_directory_after_rename, cu_fx_setup,
            cu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
