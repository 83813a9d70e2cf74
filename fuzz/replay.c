/* Replay driver: a main() that feeds every regular file of the folders
 * given on the command line, in name order, to LLVMFuzzerTestOneInput of
 * the one target it is linked with. Built without libFuzzer (the target
 * compiled with SLC_FUZZ_REPLAY), so every compiler and sanitizer of the
 * test suite runs the checked-in corpora and past findings
 * (tests/CMakeLists.txt registers one ctest per target).
 *
 * A missing or empty folder is a failure: git keeps no empty folder, so
 * either means a renamed or lost corpus, and the replay would otherwise
 * pass without replaying anything. A harness check that fails aborts
 * inside the target, after the file's name was printed. */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Whole file into a malloc'd buffer (never NULL, even for 0 bytes). */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *more = realloc(buf, cap *= 2);
        if (!more)
            free(buf);
        buf = more;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Replays one folder; returns the number of files, or -1 on an error. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot read %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (!more) {
                fprintf(stderr, "replay: out of memory\n");
                exit(2);
            }
            names = more;
        }
        names[n++] = join(dir, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    long done = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            size_t len = 0;
            uint8_t *data = slurp(names[i], &len);
            if (!data) {
                fprintf(stderr, "replay: cannot read %s: %s\n", names[i],
                        strerror(errno));
                done = -1;
            } else {
                fprintf(stderr, "replay %s\n", names[i]);
                LLVMFuzzerTestOneInput(data, len);
                free(data);
                if (done >= 0)
                    done++;
            }
        }
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        long n = replay_dir(argv[i]);
        if (n == 0)
            fprintf(stderr, "replay: no files in %s\n", argv[i]);
        if (n <= 0)
            status = 1;
        else
            printf("%s: %ld files from %s\n", argv[0], n, argv[i]);
    }
    return status;
}
