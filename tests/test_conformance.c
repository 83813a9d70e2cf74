/* Conformance with the independent SLC1 implementation, both directions:
 * its files read exactly as its dumps say, and replaying its op scripts
 * here produces byte-identical files and the same op errors. */
#include "support.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* The directory of a group: data/<group>, or <group> itself when it is
 * an absolute path (the in-tree local cases, whatever SLC_TEST_DATA_DIR
 * says). */
static char *group_dir(const char *group)
{
    return group[0] == '/' ? strdup(group) : t_join(t_data_dir(), group);
}

/* Sorted subdirectory names of data/<group>. */
static char **list_cases(const char *group, size_t *n)
{
    char *dir = group_dir(group);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type == DT_REG) /* README.md */
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
    char *g = group_dir(group);
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

/* Point lookups (get-args.txt + get.txt, README "get-args.txt, get.txt"):
 * every key of get.txt through slc_get and, all at once, slc_get_many; both
 * must print get.txt exactly. Returns 1 if the case had lookups. */
static int check_gets(const char *group, const char *name)
{
    char *args = read_case(group, name, "get-args.txt");
    char *want = read_case(group, name, "get.txt");
    if (!args && !want)
        return 0;
    if (!args || !want)
        fail_msg("%s/%s: get-args.txt and get.txt come together", group, name);
    if (strncmp(args, "get ", 4) != 0)
        fail_msg("%s/%s: get-args.txt does not start with \"get \"", group,
                 name);
    char *ctext = read_case(group, name, "case.txt");
    assert_non_null(ctext);
    slc_options o;
    assert_int_equal(t_parse_case(ctext, &o), 0);
    char *dir;
    char *path = stage_copy(group, name, &dir);
    slc_cache *c = NULL;
    int rc = slc_open(path, &o, &c);
    t_buf got = {0}, many = {0};
    t_buf_printf(&got, "open: %s\n", t_errclass(rc));
    t_buf_printf(&many, "open: %s\n", t_errclass(rc));
    /* The keys, in order, are the "get HEXKEY:" lines of get.txt; each
     * must also be an argument of get-args.txt. */
    size_t n = 0, ks = o.key_size, is = o.index_size;
    uint8_t *keys = NULL;
    for (const char *l = want; (l = strstr(l, "get ")) != NULL; l += 4) {
        if (l != want && l[-1] != '\n')
            continue;
        const char *colon = strchr(l, ':');
        assert_non_null(colon);
        char hex[2 * SLC_MAX_KEY_SIZE + 1];
        size_t hl = (size_t)(colon - l - 4);
        assert_true(hl < sizeof hex);
        memcpy(hex, l + 4, hl);
        hex[hl] = 0;
        char *tok = strstr(args, hex);
        if (!tok || tok[-1] != ' ' || (tok[hl] && tok[hl] != ' ' &&
                                       tok[hl] != '\n'))
            fail_msg("%s/%s: key %s of get.txt is not in get-args.txt", group,
                     name, hex);
        keys = realloc(keys, (n + 1) * ks);
        assert_non_null(keys);
        assert_int_equal(t_hex_decode(hex, keys + n * ks, ks), (int)ks);
        n++;
    }
    assert_true(n > 0);
    int *res = calloc(n, sizeof *res);
    int64_t *revs = calloc(n, sizeof *revs);
    uint8_t *ix = calloc(n, is + 1);
    assert_true(res && revs && ix);
    int many_rc = rc == SLC_OK
                      ? slc_get_many(c, keys, n, ks, res, revs, is ? ix : NULL, is)
                      : rc;
    for (size_t i = 0; rc == SLC_OK && i < n; i++) {
        char kh[2 * SLC_MAX_KEY_SIZE + 1], ih[2 * 64 + 1];
        uint8_t one[64];
        int64_t rev = 0;
        assert_true(is <= sizeof one);
        t_hex_encode(keys + i * ks, ks, kh);
        int r = slc_get(c, keys + i * ks, ks, &rev, is ? one : NULL, is);
        if (r == SLC_OK) {
            if (is)
                t_hex_encode(one, is, ih);
            t_buf_printf(&got, "get %s: hit %lld %s\n", kh, (long long)rev,
                         is ? ih : "-");
        } else if (r == SLC_NOTFOUND) {
            t_buf_printf(&got, "get %s: miss\n", kh);
        } else {
            t_buf_printf(&got, "get %s: %s\n", kh, t_errclass(r));
        }
        if (many_rc != SLC_OK) {
            t_buf_printf(&many, "get %s: %s\n", kh, t_errclass(many_rc));
        } else if (res[i] == SLC_OK) {
            if (is)
                t_hex_encode(ix + i * is, is, ih);
            t_buf_printf(&many, "get %s: hit %lld %s\n", kh,
                         (long long)revs[i], is ? ih : "-");
        } else if (res[i] == SLC_NOTFOUND) {
            t_buf_printf(&many, "get %s: miss\n", kh);
        } else {
            t_buf_printf(&many, "get %s: %s\n", kh, t_errclass(res[i]));
        }
    }
    if (strcmp(got.s, want) != 0)
        fail_msg("%s/%s gets: got\n%s--- want\n%s", group, name, got.s, want);
    if (strcmp(many.s, want) != 0)
        fail_msg("%s/%s slc_get_many: got\n%s--- want\n%s", group, name,
                 many.s, want);
    if (c)
        slc_close(c);
    t_buf_free(&got);
    t_buf_free(&many);
    free(res);
    free(revs);
    free(ix);
    free(keys);
    free(path);
    t_rmtree(dir);
    free(dir);
    free(ctext);
    free(args);
    free(want);
    return 1;
}

static void golden_gets(void **state)
{
    (void)state;
    size_t n, checked = 0;
    char **names = list_cases("golden", &n);
    for (size_t i = 0; i < n; i++) {
        checked += (size_t)check_gets("golden", names[i]);
        free(names[i]);
    }
    free(names);
    /* Passing with no case run would claim coverage that is not there. */
    if (checked == 0) {
        print_message("golden_gets: no golden case has get-args.txt/get.txt; "
                      "nothing checked\n");
        skip();
    }
}

/* local/NAME/: cases this project made itself (local/README.md), in the
 * golden layout but without ops.txt: each is checked with its lookups. */
static void local_gets(void **state)
{
    (void)state;
    size_t n, checked = 0;
    const char *local = SLC_TEST_DATA_DIR "/local";
    char **names = list_cases(local, &n);
    for (size_t i = 0; i < n; i++) {
        if (!check_gets(local, names[i]))
            fail_msg("local/%s has no get-args.txt/get.txt", names[i]);
        checked++;
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
        cmocka_unit_test(golden_gets),
        cmocka_unit_test(local_gets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
