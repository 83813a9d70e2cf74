/* Replay of the fuzz corpora (fuzz/corpus/<target>/) and past findings
 * (fuzz/regressions/<target>/) through the same target bodies libFuzzer
 * runs, compiled here without libFuzzer: every compiler and sanitizer of
 * the suite checks them. A divergence aborts inside the body (FZ_CHECK),
 * after the file's name was printed. */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLC_FUZZ_REPLAY 1
#include "../fuzz/common.c"
#include "../fuzz/fuzz_header.c"
#include "../fuzz/fuzz_open.c"
#include "../fuzz/fuzz_ops.c"
#include "../fuzz/fuzz_prefix.c"

typedef int (*body_fn)(const uint8_t *, size_t);

static const char *fuzz_dir(void)
{
    static char dir[4096];
    const char *env = getenv("SLC_FUZZ_DIR");
    if (env && *env)
        return env;
    snprintf(dir, sizeof dir, "%s/../../fuzz", SLC_TEST_DATA_DIR);
    return dir;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of fuzz/<group>/<target>; returns how many. */
static size_t replay_dir(const char *group, const char *target, body_fn body)
{
    char *g = t_join(fuzz_dir(), group);
    char *dir = t_join(g, target);
    free(g);
    DIR *d = opendir(dir);
    if (!d) /* a missing folder would make the replay pass vacuously */
        fail_msg("fuzz_%s: cannot read %s: %s", target, dir, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        assert_non_null(names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char *path = t_join(dir, names[i]);
        size_t len;
        char *data = t_read_file(path, &len);
        assert_non_null(data);
        fprintf(stderr, "replay %s\n", path);
        body((const uint8_t *)data, len);
        free(data);
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);
    return n;
}

static void replay(const char *target, body_fn body)
{
    size_t corpus = replay_dir("corpus", target, body);
    size_t past = replay_dir("regressions", target, body);
    printf("fuzz_%s: %zu corpus files, %zu regressions\n", target, corpus,
           past);
    /* Both folders are checked in (git keeps no empty folder). */
    if (corpus == 0 || past == 0)
        fail_msg("fuzz_%s: empty %s folder", target,
                 corpus == 0 ? "corpus" : "regressions");
}

static void test_open(void **state)
{
    (void)state;
    replay("open", fz_open_one);
}

static void test_ops(void **state)
{
    (void)state;
    replay("ops", fz_ops_one);
}

static void test_prefix(void **state)
{
    (void)state;
    replay("prefix", fz_prefix_one);
}

static void test_header(void **state)
{
    (void)state;
    replay("header", fz_header_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
