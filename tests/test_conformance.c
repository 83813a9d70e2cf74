/* Conformance with the independent SLC1 implementation, both directions:
 * its files read exactly as its dumps say, and replaying its op scripts
 * here produces byte-identical files and the same op errors. */
#include "support.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* Sorted subdirectory names of data/<group>. */
static char **list_cases(const char *group, size_t *n)
{
    char *dir = t_join(t_data_dir(), group);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (*n + 1) * sizeof *names);
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    free(dir);
    for (size_t i = 0; i < *n; i++)
        for (size_t j = i + 1; j < *n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    assert_true(*n > 0);
    return names;
}

static char *case_file(const char *group, const char *name, const char *file)
{
    char *g = t_join(t_data_dir(), group);
    char *c = t_join(g, name);
    char *p = t_join(c, file);
    free(g);
    free(c);
    return p;
}

static char *read_case(const char *group, const char *name, const char *file)
{
    char *p = case_file(group, name, file);
    char *t = t_read_file(p, NULL);
    free(p);
    return t;
}

/* Copy the case's file.slc into a temp dir (opening creates a lock file
 * beside it and must not touch the data directory). */
static char *stage_copy(const char *group, const char *name, char **dir)
{
    *dir = t_tmpdir();
    char *src = case_file(group, name, "file.slc");
    char *dst = t_join(*dir, "file.slc");
    assert_int_equal(t_copy_file(src, dst), 0);
    free(src);
    return dst;
}

static void golden_read(void **state)
{
    (void)state;
    size_t n;
    char **names = list_cases("golden", &n);
    for (size_t i = 0; i < n; i++) {
        char *dir;
        char *path = stage_copy("golden", names[i], &dir);
        char *ctext = read_case("golden", names[i], "case.txt");
        char *want = read_case("golden", names[i], "dump.txt");
        slc_options o;
        assert_int_equal(t_parse_case(ctext, &o), 0);
        slc_cache *c = NULL;
        t_buf got = {0};
        int rc = slc_open(path, &o, &c);
        t_buf_printf(&got, "open: %s\n", t_errclass(rc));
        if (rc == SLC_OK)
            t_dump(c, &got);
        if (strcmp(got.s, want) != 0)
            fail_msg("golden/%s: dump differs\n--- got\n%.2000s\n--- want\n"
                     "%.2000s",
                     names[i], got.s, want);
        assert_int_equal(slc_verify(c), SLC_OK);
        assert_int_equal(slc_close(c), SLC_OK);
        t_buf_free(&got);
        free(ctext);
        free(want);
        free(path);
        t_rmtree(dir);
        free(dir);
        free(names[i]);
    }
    free(names);
}

static void golden_replay(void **state)
{
    (void)state;
    size_t n;
    char **names = list_cases("golden", &n);
    for (size_t i = 0; i < n; i++) {
        char *dir = t_tmpdir();
        char *path = t_join(dir, "new.slc");
        char *ctext = read_case("golden", names[i], "case.txt");
        char *ops = read_case("golden", names[i], "ops.txt");
        char *want_apply = read_case("golden", names[i], "apply.txt");
        slc_options o;
        assert_int_equal(t_parse_case(ctext, &o), 0);
        slc_cache *c = NULL;
        assert_int_equal(slc_open(path, &o, &c), SLC_OK);
        t_buf apply = {0};
        t_buf_printf(&apply, "%s", "");
        t_apply_ops(c, ops, &apply);
        if (strcmp(apply.s, want_apply) != 0)
            fail_msg("golden/%s: op errors differ\n--- got\n%s--- want\n%s",
                     names[i], apply.s, want_apply);
        assert_int_equal(slc_close(c), SLC_OK);
        size_t got_len, want_len;
        char *got = t_read_file(path, &got_len);
        char *ref = case_file("golden", names[i], "file.slc");
        char *want = t_read_file(ref, &want_len);
        assert_non_null(got);
        assert_non_null(want);
        if (got_len != want_len || memcmp(got, want, got_len) != 0) {
            size_t at = 0;
            while (at < got_len && at < want_len && got[at] == want[at])
                at++;
            fail_msg("golden/%s: file differs from reference at byte %zu "
                     "(sizes %zu, %zu)",
                     names[i], at, got_len, want_len);
        }
        free(got);
        free(want);
        free(ref);
        t_buf_free(&apply);
        free(ctext);
        free(ops);
        free(want_apply);
        free(path);
        t_rmtree(dir);
        free(dir);
        free(names[i]);
    }
    free(names);
}

static void corrupt_open(void **state)
{
    (void)state;
    size_t n;
    char **names = list_cases("corrupt", &n);
    for (size_t i = 0; i < n; i++) {
        char *ctext = read_case("corrupt", names[i], "case.txt");
        char *expect = read_case("corrupt", names[i], "expect.txt");
        slc_options o;
        assert_int_equal(t_parse_case(ctext, &o), 0);
        for (int nolock = 0; nolock < 2; nolock++) {
            char *dir;
            char *path = stage_copy("corrupt", names[i], &dir);
            size_t before_len, after_len;
            char *before = t_read_file(path, &before_len);
            slc_options oo = o;
            if (nolock)
                oo.flags |= SLC_NO_LOCK;
            slc_cache *c = NULL;
            int rc = slc_open(path, &oo, &c);
            t_buf got = {0};
            t_buf_printf(&got, "%s: %s\n", nolock ? "open_nolock" : "open",
                         t_errclass(rc));
            if (rc == SLC_OK) {
                t_dump(c, &got);
                slc_close(c);
            }
            /* The expected line for this mode, and what follows it. */
            const char *key = nolock ? "open_nolock: " : "open: ";
            char *line = strstr(expect, key);
            if (nolock)
                assert_non_null(line);
            else
                assert_ptr_equal(line, expect);
            const char *stop = nolock ? NULL : strstr(expect, "open_nolock: ");
            size_t want_len = stop ? (size_t)(stop - line) : strlen(line);
            if (rc != SLC_OK) {
                char *eol = strchr(line, '\n');
                want_len = (size_t)(eol - line) + 1;
            }
            if (got.len != want_len || memcmp(got.s, line, want_len) != 0)
                fail_msg("corrupt/%s: got\n%s--- want\n%.*s (detail: %s)",
                         names[i], got.s, (int)want_len, line, slc_errdetail());
            /* Validation never changes the file. */
            char *after = t_read_file(path, &after_len);
            assert_int_equal(before_len, after_len);
            assert_memory_equal(before, after, before_len);
            free(before);
            free(after);
            t_buf_free(&got);
            free(path);
            t_rmtree(dir);
            free(dir);
        }
        free(ctext);
        free(expect);
        free(names[i]);
    }
    free(names);
}

/* scan-args.txt: "prefix|range file.slc --key-size K ... [scan params]" */
typedef struct scan_args {
    int is_prefix, reverse;
    unsigned offset, bits;
    unsigned long long skip, limit;
    uint8_t pattern[SLC_MAX_KEY_SIZE], start[SLC_MAX_KEY_SIZE],
        end[SLC_MAX_KEY_SIZE];
    int pattern_len, start_len, end_len; /* -1 = absent */
} scan_args;

static void parse_scan_args(char *text, scan_args *a)
{
    memset(a, 0, sizeof *a);
    a->start_len = a->end_len = -1;
    char *save = NULL;
    char *tok = strtok_r(text, " \n", &save);
    assert_non_null(tok);
    a->is_prefix = !strcmp(tok, "prefix");
    while ((tok = strtok_r(NULL, " \n", &save))) {
        if (!strcmp(tok, "--reverse")) {
            a->reverse = 1;
        } else if (!strcmp(tok, "--offset")) {
            a->offset = (unsigned)strtoul(strtok_r(NULL, " \n", &save), 0, 10);
        } else if (!strcmp(tok, "--bits")) {
            a->bits = (unsigned)strtoul(strtok_r(NULL, " \n", &save), 0, 10);
        } else if (!strcmp(tok, "--skip")) {
            a->skip = strtoull(strtok_r(NULL, " \n", &save), 0, 10);
        } else if (!strcmp(tok, "--limit")) {
            a->limit = strtoull(strtok_r(NULL, " \n", &save), 0, 10);
        } else if (!strcmp(tok, "--start")) {
            a->start_len = t_hex_decode(strtok_r(NULL, " \n", &save), a->start,
                                        sizeof a->start);
        } else if (!strcmp(tok, "--end")) {
            a->end_len = t_hex_decode(strtok_r(NULL, " \n", &save), a->end,
                                      sizeof a->end);
        } else if (!strncmp(tok, "--", 2)) {
            strtok_r(NULL, " \n", &save); /* open option and its value */
        } else if (strcmp(tok, "file.slc") != 0) {
            a->pattern_len = t_hex_decode(tok, a->pattern, sizeof a->pattern);
        }
    }
}

typedef struct scan_out {
    t_buf *b;
    size_t key_size, index_size, count;
    t_buf entries;
} scan_out;

static int collect(const slc_entry *e, void *ctx)
{
    scan_out *s = ctx;
    char kh[2 * SLC_MAX_KEY_SIZE + 1], ih[2 * 64 + 1];
    t_hex_encode(e->key, s->key_size, kh);
    if (s->index_size)
        t_hex_encode(e->index, s->index_size, ih);
    t_buf_printf(&s->entries, "entry %s %lld %s\n", kh, (long long)e->revision,
                 s->index_size ? ih : "-");
    s->count++;
    return 0;
}

static void golden_scans(void **state)
{
    (void)state;
    size_t n, checked = 0;
    char **names = list_cases("golden", &n);
    for (size_t i = 0; i < n; i++) {
        char *args = read_case("golden", names[i], "scan-args.txt");
        if (!args) {
            free(names[i]);
            continue;
        }
        scan_args a;
        parse_scan_args(args, &a);
        char *want = read_case("golden", names[i],
                               a.is_prefix ? "prefix.txt" : "range.txt");
        assert_non_null(want);
        char *ctext = read_case("golden", names[i], "case.txt");
        slc_options o;
        assert_int_equal(t_parse_case(ctext, &o), 0);
        char *dir;
        char *path = stage_copy("golden", names[i], &dir);
        slc_cache *c = NULL;
        assert_int_equal(slc_open(path, &o, &c), SLC_OK);
        t_buf got = {0};
        scan_out so = {&got, o.key_size, o.index_size, 0, {0}};
        t_buf_printf(&so.entries, "%s", "");
        slc_scan_opts so_opts = {NULL, NULL, a.reverse ? SLC_SCAN_REVERSE : 0,
                                 a.skip, a.limit};
        int rc;
        if (a.is_prefix) {
            slc_prefix p = {a.offset, a.bits, a.pattern, (size_t)a.pattern_len};
            rc = slc_scan_prefix(c, &p, &so_opts, collect, &so);
        } else {
            rc = slc_scan_range(c, a.start_len >= 0 ? a.start : NULL,
                                (size_t)(a.start_len >= 0 ? a.start_len : 0),
                                a.end_len >= 0 ? a.end : NULL,
                                (size_t)(a.end_len >= 0 ? a.end_len : 0),
                                &so_opts, collect, &so);
        }
        t_buf_printf(&got, "open: OK\nscan: %s\n", t_errclass(rc));
        if (rc == SLC_OK)
            t_buf_printf(&got, "count %zu\n%s", so.count, so.entries.s);
        if (strcmp(got.s, want) != 0)
            fail_msg("golden/%s scan: got\n%s--- want\n%s", names[i], got.s,
                     want);
        checked++;
        slc_close(c);
        t_buf_free(&got);
        t_buf_free(&so.entries);
        free(path);
        t_rmtree(dir);
        free(dir);
        free(ctext);
        free(want);
        free(args);
        free(names[i]);
    }
    free(names);
    assert_true(checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_read),
        cmocka_unit_test(golden_replay),
        cmocka_unit_test(corrupt_open),
        cmocka_unit_test(golden_scans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
