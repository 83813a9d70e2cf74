/* slc: look inside, check and maintain SLC1 cache files from the shell.
 *
 * Built on the public API only (slotcache.h): every file is opened with the
 * configuration read from its own header (slc_read_options), so the user
 * never repeats sizes. One subcommand per job, in the spirit of mdb_stat /
 * mdb_dump; exit codes name the library's status class (slc --help). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slc_util.h"

/* ---- Command-line options ----------------------------------------------- */

enum {
    O_JSON = 256,
    O_TEXT,
    O_NO_LOCK,
    O_SYNC,
    O_KEY_SIZE,
    O_INDEX_SIZE,
    O_CAPACITY,
    O_USER_VERSION,
    O_ORDERED,
    O_PREFIX,
    O_BITS,
    O_KEY_OFFSET,
    O_START,
    O_END,
    O_RANGE,
    O_REVERSE,
    O_OFFSET,
    O_LIMIT,
    O_COUNT,
    O_STREAMING,
    O_BATCH,
    O_USER_FLAGS,
    O_USER_DATA,
    O_FORCE,
    O_MATCH,
};

/* Bit of an option in a command's allowed set. */
#define OPT(o) (1ull << ((o) - O_JSON))
#define COMMON (OPT(O_JSON) | OPT(O_NO_LOCK))

typedef struct opt_def {
    const char *name;
    int has_value;
    int id;
} opt_def;

static const opt_def long_options[] = {
    {"json", 0, O_JSON},
    {"text", 0, O_TEXT},
    {"no-lock", 0, O_NO_LOCK},
    {"sync", 0, O_SYNC},
    {"key-size", 1, O_KEY_SIZE},
    {"index-size", 1, O_INDEX_SIZE},
    {"capacity", 1, O_CAPACITY},
    {"user-version", 1, O_USER_VERSION},
    {"ordered", 0, O_ORDERED},
    {"prefix", 1, O_PREFIX},
    {"bits", 1, O_BITS},
    {"key-offset", 1, O_KEY_OFFSET},
    {"start", 1, O_START},
    {"end", 1, O_END},
    {"range", 0, O_RANGE},
    {"reverse", 0, O_REVERSE},
    {"offset", 1, O_OFFSET},
    {"limit", 1, O_LIMIT},
    {"count", 0, O_COUNT},
    {"streaming", 0, O_STREAMING},
    {"batch", 1, O_BATCH},
    {"user-flags", 1, O_USER_FLAGS},
    {"user-data", 1, O_USER_DATA},
    {"force", 0, O_FORCE},
    {"match", 1, O_MATCH},
    {NULL, 0, 0},
};

typedef struct args {
    const char *path;
    char **pos; /* positional arguments after FILE */
    int npos;
    unsigned long long seen; /* OPT() bits given */
    uint64_t key_size, index_size, capacity, user_version;
    uint64_t bits, key_offset, offset, limit, batch, user_flags;
    const char *prefix, *start, *end, *user_data, *match;
    uint32_t open_flags; /* SLC_NO_LOCK, SLC_WRITEBACK_SYNC */
} args;

#define HAS(a, o) (((a)->seen & OPT(o)) != 0)

typedef struct command {
    const char *name;
    int (*run)(args *a);
    unsigned long long allowed;
    int min_pos, max_pos; /* positional arguments after FILE; -1 = any */
    const char *help;
} command;

/* ---- Small helpers ------------------------------------------------------ */

/* A key argument, zero-padded to key_size. */
static int key_arg(const char *arg, const slc_options *o, uint8_t *key)
{
    long n = arg_bytes(arg, key, o->key_size);
    if (n < 0)
        return fail(EXIT_USAGE, "key '%s': %s (key_size is %" PRIu32 " bytes)",
                    arg, g_text ? "too long" : "not hex or too long",
                    o->key_size);
    memset(key + n, 0, o->key_size - (size_t)n);
    return 0;
}

/* Text output of one entry: KEY REV INDEX ("-" when index_size is 0). */
static void print_entry(const uint8_t *key, size_t key_size, int64_t rev,
                        const uint8_t *index, size_t index_size)
{
    if (g_text)
        putchar('"');
    put_bytes(stdout, key, key_size);
    if (g_text)
        putchar('"');
    printf(" %" PRId64 " ", rev);
    if (!index_size)
        putchar('-');
    else {
        if (g_text)
            putchar('"');
        put_bytes(stdout, index, index_size);
        if (g_text)
            putchar('"');
    }
    putchar('\n');
}

static void json_entry(const slc_entry *e, size_t key_size, size_t index_size)
{
    printf("{\"slot\":%" PRIu64 ",\"key\":\"", e->slot_id);
    put_hex(stdout, e->key, key_size);
    printf("\",\"revision\":%" PRId64 ",\"index\":\"", e->revision);
    if (index_size)
        put_hex(stdout, e->index, index_size);
    fputs("\"}\n", stdout);
}

/* Flush stdout and turn a write error (full disk, closed pipe) into 3. */
static int finish_output(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        fprintf(stderr, "slc %s: writing output: %s\n", g_cmd, strerror(e));
        return code ? code : EXIT_INPUT;
    }
    return code;
}

/* Commands that only read open with SLC_READ_ONLY: no lock file is made
 * and a file the user may only read can still be inspected. */
enum { FOR_READING = SLC_READ_ONLY, FOR_WRITING = 0 };

static int open_or_report(args *a, uint32_t mode, slc_cache **c,
                          slc_options *o)
{
    int rc = slcu_open_existing(a->path, a->open_flags | mode, c, o);
    return rc ? report(a->path, rc) : 0;
}

/* The other end: report a library status (nothing for SLC_OK), then close
 * the handle (any writer of it closed first); returns the exit code. */
static int close_report(slc_cache *c, const char *path, int rc)
{
    int code = rc ? report(path, rc) : 0;
    slc_close(c);
    return code;
}

/* ---- create ------------------------------------------------------------- */

/* A failed create or load removes the cache file this call made (never
 * one that was there before), so the directory is left as it was found;
 * `<path>.lock` stays, as SLC1 7.2 never removes it. */
static int undo_create(const char *path, int made, int code)
{
    if (code && made && unlink(path) == 0)
        fprintf(stderr, "slc %s: removed %s, which this call created\n",
                g_cmd, path);
    return code;
}

static int cmd_create(args *a)
{
    if (!HAS(a, O_KEY_SIZE) || !HAS(a, O_CAPACITY))
        return fail(EXIT_USAGE, "--key-size and --capacity are required");
    if (a->key_size > UINT32_MAX || a->index_size > UINT32_MAX)
        return fail(EXIT_USAGE, "--key-size/--index-size too large");
    struct stat st;
    int existed = stat(a->path, &st) == 0;
    if (existed && st.st_size > 0)
        return fail(EXIT_INPUT,
                    "%s already exists (%lld bytes); remove it first or use "
                    "'slc info'",
                    a->path, (long long)st.st_size);
    slc_options o = {
        .key_size = (uint32_t)a->key_size,
        .index_size = (uint32_t)a->index_size,
        .user_version = a->user_version,
        .slot_capacity = a->capacity,
        .flags = a->open_flags | (HAS(a, O_ORDERED) ? SLC_ORDERED_KEYS : 0),
    };
    slc_cache *c;
    int rc = slc_open(a->path, &o, &c);
    if (rc)
        return report(a->path, rc);
    slc_stat s;
    int code = close_report(c, a->path, slc_stat_get(c, &s));
    if (code)
        return undo_create(a->path, !existed, code);
    if (g_json) {
        fputs("{\"created\":", stdout);
        put_json_str(stdout, a->path);
        printf(",\"key_size\":%" PRIu32
               ",\"index_size\":%" PRIu32 ",\"slot_size\":%" PRIu32
               ",\"slot_capacity\":%" PRIu64 ",\"bucket_count\":%" PRIu64
               ",\"ordered\":%s,\"user_version\":%" PRIu64
               ",\"file_size\":%" PRIu64 "}\n",
               s.key_size, s.index_size, s.slot_size,
               s.slot_capacity, s.bucket_count,
               (s.flags & SLC_ORDERED_KEYS) ? "true" : "false",
               s.user_version, s.file_size);
    } else
        printf("created %s: key_size %" PRIu32 ", index_size %" PRIu32
               ", slot_size %" PRIu32 ", capacity %" PRIu64
               ", %" PRIu64 " buckets, %s, user_version %" PRIu64
               ", %" PRIu64 " bytes (sparse)\n",
               a->path, s.key_size, s.index_size, s.slot_size,
               s.slot_capacity, s.bucket_count,
               (s.flags & SLC_ORDERED_KEYS) ? "ordered" : "unordered",
               s.user_version, s.file_size);
    return undo_create(a->path, !existed, finish_output(0));
}

/* ---- info --------------------------------------------------------------- */

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static int cmd_info(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    slc_stat s;
    uint64_t uflags = 0, gen = 0;
    uint8_t udata[SLC_USER_DATA_SIZE];
    int rc;
    /* Stat and user header are two snapshots: retry until they agree. */
    for (int tries = 0;; tries++) {
        rc = slc_stat_get(c, &s);
        if (!rc)
            rc = slc_user_header(c, &uflags, udata);
        if (!rc)
            rc = slc_generation(c, &gen);
        if (rc || gen == s.generation || tries == 9)
            break;
    }
    if ((code = close_report(c, a->path, rc)) != 0)
        return code;
    if (gen != s.generation)
        return fail(tool_exit(SLC_EBUSY),
                    "%s: no consistent header snapshot: writers keep "
                    "committing",
                    a->path);
    struct stat st;
    if (stat(a->path, &st) != 0)
        return fail(EXIT_INPUT, "stat %s: %s", a->path, strerror(errno));
    uint64_t disk = (uint64_t)st.st_blocks * 512u;
    int ordered = (s.flags & SLC_ORDERED_KEYS) != 0;
    uint64_t slot_tomb = s.slot_highwater - s.live_count;
    if (g_json) {
        fputs("{\"file\":", stdout);
        put_json_str(stdout, a->path);
        printf(",\"format\":\"SLC1\",\"version\":1,\"library\":\"%s\","
               "\"state\":\"normal\",\"generation\":%" PRIu64
               ",\"key_size\":%" PRIu32 ",\"index_size\":%" PRIu32
               ",\"slot_size\":%" PRIu32 ",\"ordered\":%s"
               ",\"user_version\":%" PRIu64 ",\"slot_capacity\":%" PRIu64
               ",\"slot_highwater\":%" PRIu64 ",\"live_count\":%" PRIu64
               ",\"slot_tombstones\":%" PRIu64 ",\"bucket_count\":%" PRIu64
               ",\"bucket_used\":%" PRIu64 ",\"bucket_tombstones\":%" PRIu64
               ",\"load_factor\":%.6f,\"probe_load\":%.6f,\"fill\":%.6f"
               ",\"file_size\":%" PRIu64 ",\"st_size\":%lld"
               ",\"disk_usage\":%" PRIu64 ",\"user_flags\":%" PRIu64
               ",\"user_data\":\"",
               slc_version(), s.generation, s.key_size, s.index_size,
               s.slot_size, ordered ? "true" : "false", s.user_version,
               s.slot_capacity, s.slot_highwater, s.live_count, slot_tomb,
               s.bucket_count, s.bucket_used, s.bucket_tombstones,
               ratio(s.bucket_used, s.bucket_count),
               ratio(s.bucket_used + s.bucket_tombstones, s.bucket_count),
               ratio(s.slot_highwater, s.slot_capacity), s.file_size,
               (long long)st.st_size, disk, uflags);
        put_hex(stdout, udata, sizeof udata);
        fputs("\"}\n", stdout);
        return finish_output(0);
    }
    printf("file               %s\n", a->path);
    printf("format             SLC1 version 1 (libslotcache %s)\n",
           slc_version());
    printf("state              normal\n");
    printf("generation         %" PRIu64 "\n", s.generation);
    printf("key_size           %" PRIu32 "\n", s.key_size);
    printf("index_size         %" PRIu32 "\n", s.index_size);
    printf("slot_size          %" PRIu32 "\n", s.slot_size);
    printf("ordered_keys       %s\n", ordered ? "yes" : "no");
    printf("user_version       %" PRIu64 "\n", s.user_version);
    printf("slot_capacity      %" PRIu64 "\n", s.slot_capacity);
    printf("slot_highwater     %" PRIu64 "  (%.2f%% of capacity used)\n",
           s.slot_highwater, 100.0 * ratio(s.slot_highwater, s.slot_capacity));
    printf("live_count         %" PRIu64 "\n", s.live_count);
    printf("slot_tombstones    %" PRIu64 "\n", slot_tomb);
    printf("bucket_count       %" PRIu64 "\n", s.bucket_count);
    printf("bucket_used        %" PRIu64 "\n", s.bucket_used);
    printf("bucket_tombstones  %" PRIu64 "\n", s.bucket_tombstones);
    printf("load_factor        %.4f  (bucket_used / bucket_count)\n",
           ratio(s.bucket_used, s.bucket_count));
    printf("probe_load         %.4f  ((bucket_used + bucket_tombstones) / "
           "bucket_count)\n",
           ratio(s.bucket_used + s.bucket_tombstones, s.bucket_count));
    printf("file_size          %" PRIu64 "  (logical; st_size %lld)\n",
           s.file_size, (long long)st.st_size);
    printf("disk_usage         %" PRIu64 "  (st_blocks * 512; the file is "
           "sparse)\n",
           disk);
    printf("user_flags         0x%016" PRIx64 "\n", uflags);
    printf("user_data          ");
    put_hex(stdout, udata, sizeof udata);
    putchar('\n');
    return finish_output(0);
}

/* ---- verify ------------------------------------------------------------- */

static int cmd_verify(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    int rc = slc_verify(c);
    slc_stat s;
    if ((code = close_report(c, a->path, rc ? rc : slc_stat_get(c, &s))) != 0)
        return code;
    if (g_json)
        printf("{\"ok\":true,\"generation\":%" PRIu64
               ",\"live_count\":%" PRIu64 ",\"slot_highwater\":%" PRIu64
               ",\"bucket_count\":%" PRIu64 "}\n",
               s.generation, s.live_count, s.slot_highwater, s.bucket_count);
    else
        printf("%s: OK (%" PRIu64 " live entries, %" PRIu64
               " allocated slots, %" PRIu64 " buckets checked)\n",
               a->path, s.live_count, s.slot_highwater, s.bucket_count);
    return finish_output(0);
}

/* ---- get ---------------------------------------------------------------- */

/* A rebuild (slc compact, slc_rebuild_publish) may replace the path
 * between our open and our read, several times on a slow machine: follow
 * it, as a long-lived reader would, a bounded number of times. True when
 * the read should be tried again. */
static int follows_left = 8;
static int follow_path(slc_cache *c, int rc)
{
    if (rc != SLC_EINVALIDATED || follows_left == 0)
        return 0;
    follows_left--;
    return slc_reopen(c) == SLC_OK;
}

static int cmd_get(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    uint8_t key[SLC_MAX_KEY_SIZE];
    uint8_t *index = malloc(o.index_size ? o.index_size : 1);
    int missing = 0;
    if (!index)
        return close_report(c, a->path, SLC_ENOMEM);
    for (int i = 0; i < a->npos && !code; i++) {
        if ((code = key_arg(a->pos[i], &o, key)) != 0)
            break;
        int64_t rev;
        int rc = slc_get(c, key, o.key_size, &rev, index, o.index_size);
        while (follow_path(c, rc))
            rc = slc_get(c, key, o.key_size, &rev, index, o.index_size);
        if (rc < 0) {
            code = report(a->path, rc);
            break;
        }
        if (g_json) {
            fputs("{\"key\":\"", stdout);
            put_hex(stdout, key, o.key_size);
            if (rc == SLC_OK) {
                printf("\",\"found\":true,\"revision\":%" PRId64
                       ",\"index\":\"",
                       rev);
                put_hex(stdout, index, o.index_size);
                fputs("\"}\n", stdout);
            } else
                fputs("\",\"found\":false}\n", stdout);
        } else if (rc == SLC_OK)
            print_entry(key, o.key_size, rev, index, o.index_size);
        if (rc == SLC_NOTFOUND) {
            missing++;
            fprintf(stderr, "slc get: %s: not found\n", a->pos[i]);
        }
    }
    free(index);
    slc_close(c);
    return finish_output(code ? code : missing ? EXIT_NOTFOUND : 0);
}

/* ---- put, del ----------------------------------------------------------- */

static int cmd_put(args *a)
{
    if (a->npos == 0 && !HAS(a, O_USER_FLAGS) && !HAS(a, O_USER_DATA))
        return fail(EXIT_USAGE, "nothing to put: give KEY REV [INDEX] or "
                                "--user-flags/--user-data");
    if (a->npos == 1)
        return fail(EXIT_USAGE, "missing REV after KEY");
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_WRITING, &c, &o);
    if (code)
        return code;
    uint8_t key[SLC_MAX_KEY_SIZE], udata[SLC_USER_DATA_SIZE] = {0};
    uint8_t *index = calloc(1, o.index_size ? o.index_size : 1);
    int64_t rev = 0;
    slc_writer *w = NULL;
    int rc = SLC_OK;
    if (!index)
        code = report(a->path, SLC_ENOMEM);
    if (!code && a->npos >= 2) {
        code = key_arg(a->pos[0], &o, key);
        if (!code && parse_i64(a->pos[1], &rev))
            code = fail(EXIT_USAGE, "revision '%s' is not a signed 64-bit "
                                    "decimal number",
                        a->pos[1]);
        if (!code && a->npos == 3 &&
            arg_bytes(a->pos[2], index, o.index_size) < 0)
            code = fail(EXIT_USAGE, "index '%s': %s (index_size is %" PRIu32
                                    " bytes)",
                        a->pos[2], g_text ? "too long" : "not hex or too long",
                        o.index_size);
    }
    if (!code && HAS(a, O_USER_DATA)) {
        long n = arg_bytes(a->user_data, udata, sizeof udata);
        if (n < 0)
            code = fail(EXIT_USAGE, "--user-data: %s (at most 64 bytes)",
                        g_text ? "too long" : "not hex or too long");
    }
    if (!code)
        rc = slc_begin_write(c, &w);
    if (!code && !rc && a->npos >= 2)
        rc = slc_put(w, key, o.key_size, rev, index, o.index_size);
    if (!code && !rc && HAS(a, O_USER_FLAGS))
        rc = slc_set_user_flags(w, a->user_flags);
    if (!code && !rc && HAS(a, O_USER_DATA))
        rc = slc_set_user_data(w, udata);
    if (!code && !rc)
        rc = slc_commit(w);
    if (!code && rc)
        code = report(a->path, rc);
    slc_writer_close(w);
    free(index);
    slc_close(c);
    if (!code && g_json)
        puts("{\"ok\":true}");
    return finish_output(code);
}

static int cmd_del(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_WRITING, &c, &o);
    if (code)
        return code;
    uint8_t key[SLC_MAX_KEY_SIZE];
    slc_writer *w = NULL;
    int rc = slc_begin_write(c, &w), deleted = 0, missing = 0;
    for (int i = 0; i < a->npos && !rc && !code; i++) {
        if ((code = key_arg(a->pos[i], &o, key)) != 0)
            break;
        int existed = 0;
        rc = slc_delete(w, key, o.key_size, &existed);
        if (!rc && !existed) {
            missing++;
            fprintf(stderr, "slc del: %s: not found\n", a->pos[i]);
        }
        deleted += existed;
    }
    /* Nothing to delete: publish nothing (no new generation). */
    if (!rc && !code && deleted)
        rc = slc_commit(w);
    if (rc && !code)
        code = report(a->path, rc);
    slc_writer_close(w);
    slc_close(c);
    if (!code && g_json)
        printf("{\"deleted\":%d,\"missing\":%d}\n", deleted, missing);
    return finish_output(code ? code : missing ? EXIT_NOTFOUND : 0);
}

/* ---- scan --------------------------------------------------------------- */

typedef struct scan_ctx {
    const slc_options *o;
    int count_only;
    uint64_t count;
} scan_ctx;

static int scan_visit(const slc_entry *e, void *ctx)
{
    scan_ctx *s = ctx;
    s->count++;
    if (s->count_only)
        return 0;
    if (g_json)
        json_entry(e, s->o->key_size, s->o->index_size);
    else
        print_entry(e->key, s->o->key_size, e->revision, e->index,
                    s->o->index_size);
    return 0;
}

/* --match OFFSET:HEX[/MASK]: the built-in index predicate. The value is
 * always hex (index bytes are binary); the mask, when given, has the
 * value's length. 0 or a usage exit code. */
typedef struct match_arg {
    slc_index_match m;
    uint8_t value[SLC_MAX_MATCH_LEN], mask[SLC_MAX_MATCH_LEN];
} match_arg;

static int parse_match(const char *arg, match_arg *ma)
{
    char *end;
    errno = 0;
    unsigned long long off = strtoull(arg, &end, 10);
    if (end == arg || *end != ':' || errno || off > UINT32_MAX ||
        arg[0] == '-')
        return fail(EXIT_USAGE, "--match '%s': expected OFFSET:HEX[/MASK]",
                    arg);
    const char *val = end + 1, *slash = strchr(val, '/');
    size_t vlen = slash ? (size_t)(slash - val) : strlen(val);
    long n = hex_decode(val, vlen, ma->value, SLC_MAX_MATCH_LEN);
    long nm = slash ? hex_decode(slash + 1, strlen(slash + 1), ma->mask,
                                 SLC_MAX_MATCH_LEN)
                    : n;
    if (n <= 0 || nm != n)
        return fail(EXIT_USAGE,
                    "--match '%s': HEX and MASK must be 1..%u hex bytes of "
                    "one length",
                    arg, SLC_MAX_MATCH_LEN);
    ma->m.offset = (uint32_t)off;
    ma->m.len = (uint32_t)n;
    ma->m.value = ma->value;
    ma->m.mask = slash ? ma->mask : NULL;
    return 0;
}

static int cmd_scan(args *a)
{
    int is_range = HAS(a, O_RANGE) || HAS(a, O_START) || HAS(a, O_END);
    if (is_range && HAS(a, O_PREFIX))
        return fail(EXIT_USAGE, "--prefix and --range/--start/--end exclude "
                                "each other");
    if (HAS(a, O_MATCH) && (is_range || HAS(a, O_PREFIX)))
        return fail(EXIT_USAGE, "--match excludes --prefix and "
                                "--range/--start/--end");
    match_arg ma;
    if (HAS(a, O_MATCH)) {
        int bad = parse_match(a->match, &ma);
        if (bad)
            return bad;
    }
    if (!HAS(a, O_PREFIX) && (HAS(a, O_BITS) || HAS(a, O_KEY_OFFSET)))
        return fail(EXIT_USAGE, "--bits and --key-offset need --prefix");
    if (a->bits > UINT32_MAX || a->key_offset > UINT32_MAX)
        return fail(EXIT_USAGE, "--bits/--key-offset too large");
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    uint8_t pat[SLC_MAX_KEY_SIZE], lo[SLC_MAX_KEY_SIZE], hi[SLC_MAX_KEY_SIZE];
    long plen = 0, lolen = 0, hilen = 0;
    if (HAS(a, O_PREFIX) &&
        (plen = arg_bytes(a->prefix, pat, o.key_size)) < 0)
        code = fail(EXIT_USAGE, "--prefix '%s': not hex or longer than the "
                                "key (%" PRIu32 " bytes)",
                    a->prefix, o.key_size);
    if (!code && HAS(a, O_START) &&
        (lolen = arg_bytes(a->start, lo, o.key_size)) < 0)
        code = fail(EXIT_USAGE, "--start '%s': not hex or longer than the key",
                    a->start);
    if (!code && HAS(a, O_END) &&
        (hilen = arg_bytes(a->end, hi, o.key_size)) < 0)
        code = fail(EXIT_USAGE, "--end '%s': not hex or longer than the key",
                    a->end);
    if (code) {
        slc_close(c);
        return code;
    }
    slc_scan_opts so = {
        .flags = (HAS(a, O_REVERSE) ? SLC_SCAN_REVERSE : 0) |
                 (HAS(a, O_STREAMING) ? SLC_SCAN_STREAMING : 0),
        .offset = a->offset,
        .limit = a->limit,
    };
    scan_ctx s = {.o = &o, .count_only = HAS(a, O_COUNT)};
    /* --count counts in the library: nothing is copied or visited. */
    uint64_t *cnt = s.count_only ? &s.count : NULL;
    int rc;
again:
    if (HAS(a, O_PREFIX)) {
        slc_prefix p = {.offset = (uint32_t)a->key_offset,
                        .bits = (uint32_t)a->bits,
                        .bytes = pat,
                        .len = (size_t)plen};
        rc = cnt ? slc_count_prefix(c, &p, &so, cnt)
                 : slc_scan_prefix(c, &p, &so, scan_visit, &s);
    } else if (is_range) {
        const uint8_t *l = HAS(a, O_START) ? lo : NULL;
        const uint8_t *h = HAS(a, O_END) ? hi : NULL;
        rc = cnt ? slc_count_range(c, l, (size_t)lolen, h, (size_t)hilen, &so,
                                   cnt)
                 : slc_scan_range(c, l, (size_t)lolen, h, (size_t)hilen, &so,
                                  scan_visit, &s);
    } else if (HAS(a, O_MATCH)) {
        rc = cnt ? slc_count_match(c, &ma.m, &so, cnt)
                 : slc_scan_match(c, &ma.m, &so, scan_visit, &s);
    } else {
        rc = cnt ? slc_count(c, &so, cnt) : slc_scan(c, &so, scan_visit, &s);
    }
    if (s.count == 0 && follow_path(c, rc))
        goto again;
    if (rc)
        code = report(a->path, rc);
    else if (s.count_only && g_json)
        printf("{\"count\":%" PRIu64 "}\n", s.count);
    else if (s.count_only)
        printf("%" PRIu64 "\n", s.count);
    slc_close(c);
    return finish_output(code);
}

/* ---- dump --------------------------------------------------------------- */

/* The slc-dump format (docs/slc.1, docs/cli.md):
 *   slc-dump 1 key_size=K index_size=I cap=C user_version=V ordered=0|1
 *   flags U64
 *   data HEX(64 bytes)
 *   put HEXKEY REV HEXINDEX|-     one per live entry, in slot-id order
 *   end N                          N = number of put lines
 * Loading it into a new file re-creates the same slot order, so a dump of
 * the loaded file is identical. */
typedef struct dump_ctx {
    const slc_options *o;
    uint64_t count;
} dump_ctx;

static int dump_visit(const slc_entry *e, void *ctx)
{
    dump_ctx *d = ctx;
    d->count++;
    if (g_json) {
        json_entry(e, d->o->key_size, d->o->index_size);
        return 0;
    }
    fputs("put ", stdout);
    put_hex(stdout, e->key, d->o->key_size);
    printf(" %" PRId64 " ", e->revision);
    if (d->o->index_size)
        put_hex(stdout, e->index, d->o->index_size);
    else
        putchar('-');
    putchar('\n');
    return 0;
}

static int cmd_dump(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    slc_stat s;
    uint64_t uflags, gen = 0;
    uint8_t udata[SLC_USER_DATA_SIZE];
    int rc = slc_stat_get(c, &s);
    if (!rc)
        rc = slc_user_header(c, &uflags, udata);
    if (rc)
        return close_report(c, a->path, rc);
    if (!g_json) {
        printf("slc-dump 1 key_size=%" PRIu32 " index_size=%" PRIu32
               " cap=%" PRIu64 " user_version=%" PRIu64 " ordered=%d\n",
               s.key_size, s.index_size, s.slot_capacity, s.user_version,
               (s.flags & SLC_ORDERED_KEYS) ? 1 : 0);
        printf("flags %" PRIu64 "\ndata ", uflags);
        put_hex(stdout, udata, sizeof udata);
        putchar('\n');
    }
    /* Streaming: O(1) memory for any size; the scan stops with SLC_EBUSY
     * if a commit lands, and the generation check below also covers the
     * header lines read before the scan. */
    dump_ctx d = {.o = &o};
    slc_scan_opts so = {.flags = SLC_SCAN_STREAMING};
    rc = slc_scan(c, &so, dump_visit, &d);
    if (!rc)
        rc = slc_generation(c, &gen);
    fflush(stdout);
    if (rc)
        code = report(a->path, rc);
    else if (gen != s.generation)
        code = fail(tool_exit(SLC_EBUSY),
                    "%s: generation moved from %" PRIu64 " to %" PRIu64
                    " during the dump",
                    a->path, s.generation, gen);
    if (code)
        fprintf(stderr, "slc dump: the output is incomplete (no end line)\n");
    else if (!g_json)
        printf("end %" PRIu64 "\n", d.count);
    slc_close(c);
    return finish_output(code);
}

/* ---- load --------------------------------------------------------------- */

typedef struct load_state {
    args *a;
    const char *input;
    unsigned long line;
    slc_cache *c;
    slc_options o;
    slc_writer *w;
    uint64_t ops;      /* put/del calls in the open session */
    uint64_t puts, dels, sessions;
    uint8_t *index;
    int nul; /* the last line read held a NUL byte */
} load_state;

/* Split a line into at most max whitespace-separated words, in place. */
static int split(char *s, char **word, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            *s++ = '\0';
        if (!*s)
            break;
        if (n == max)
            return max + 1;
        word[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
    }
    return n;
}

static int bad_line(load_state *L, const char *what)
{
    return fail(EXIT_INPUT, "%s:%lu: %s", L->input, L->line, what);
}

static int lib_error(load_state *L, int rc)
{
    char what[512];
    snprintf(what, sizeof what, "%s (input line %lu)", L->a->path, L->line);
    return report(what, rc);
}

static int ensure_session(load_state *L)
{
    if (L->w)
        return 0;
    int rc = slc_begin_write(L->c, &L->w);
    return rc ? lib_error(L, rc) : 0;
}

static int commit_session(load_state *L)
{
    int rc = slc_commit(L->w);
    slc_writer_close(L->w);
    L->w = NULL;
    L->ops = 0;
    if (rc)
        return lib_error(L, rc);
    L->sessions++;
    return 0;
}

/* Count one put/delete; a full batch is committed at once, so no session
 * exceeds the library's 1,000,000 operations. */
static int count_op(load_state *L)
{
    return ++L->ops == L->a->batch ? commit_session(L) : 0;
}

/* The header line: slc-dump 1 key_size=.. index_size=.. cap=.. ... */
static int parse_header(char **word, int n, slc_options *o)
{
    enum { K, I, C, V, ORD, NFIELDS };
    static const char *const names[NFIELDS] = {"key_size=", "index_size=",
                                               "cap=", "user_version=",
                                               "ordered="};
    uint64_t v[NFIELDS];
    int got = 0;
    if (n != 2 + NFIELDS || strcmp(word[1], "1") != 0)
        return -1;
    for (int i = 2; i < n; i++) {
        int f = 0;
        while (f < NFIELDS && strncmp(word[i], names[f], strlen(names[f])))
            f++;
        if (f == NFIELDS || (got & (1 << f)) ||
            parse_u64(word[i] + strlen(names[f]), &v[f]))
            return -1;
        got |= 1 << f;
    }
    if (v[K] > UINT32_MAX || v[I] > UINT32_MAX || v[ORD] > 1)
        return -1;
    *o = (slc_options){.key_size = (uint32_t)v[K],
                       .index_size = (uint32_t)v[I],
                       .user_version = v[V],
                       .slot_capacity = v[C],
                       .flags = v[ORD] ? SLC_ORDERED_KEYS : 0};
    return 0;
}

static int load_line(load_state *L, char **word, int n)
{
    const slc_options *o = &L->o;
    uint8_t key[SLC_MAX_KEY_SIZE];
    const char *cmd = word[0];
    int code;
    if (!strcmp(cmd, "put")) {
        int64_t rev;
        if (n != 4)
            return bad_line(L, "expected: put HEXKEY REV HEXINDEX");
        if (hex_decode(word[1], strlen(word[1]), key, o->key_size) !=
            (long)o->key_size)
            return bad_line(L, "key is not key_size bytes of hex");
        if (parse_i64(word[2], &rev))
            return bad_line(L, "revision is not a signed 64-bit decimal");
        if (o->index_size ? hex_decode(word[3], strlen(word[3]), L->index,
                                       o->index_size) != (long)o->index_size
                          : strcmp(word[3], "-") != 0)
            return bad_line(L, o->index_size
                                   ? "index is not index_size bytes of hex"
                                   : "index must be '-' (index_size 0)");
        if ((code = ensure_session(L)) != 0)
            return code;
        int rc = slc_put(L->w, key, o->key_size, rev, L->index, o->index_size);
        if (rc)
            return lib_error(L, rc);
        L->puts++;
        return count_op(L);
    }
    if (!strcmp(cmd, "del")) {
        if (n != 2 || hex_decode(word[1], strlen(word[1]), key, o->key_size) !=
                          (long)o->key_size)
            return bad_line(L, "expected: del HEXKEY (key_size bytes)");
        if ((code = ensure_session(L)) != 0)
            return code;
        int rc = slc_delete(L->w, key, o->key_size, NULL);
        if (rc)
            return lib_error(L, rc);
        L->dels++;
        return count_op(L);
    }
    if (!strcmp(cmd, "flags")) {
        uint64_t v;
        if (n != 2 || parse_u64(word[1], &v))
            return bad_line(L, "expected: flags U64");
        if ((code = ensure_session(L)) != 0)
            return code;
        int rc = slc_set_user_flags(L->w, v);
        return rc ? lib_error(L, rc) : 0;
    }
    if (!strcmp(cmd, "data")) {
        uint8_t d[SLC_USER_DATA_SIZE] = {0};
        if (n != 2 || hex_decode(word[1], strlen(word[1]), d, sizeof d) < 0)
            return bad_line(L, "expected: data HEX (at most 64 bytes)");
        if ((code = ensure_session(L)) != 0)
            return code;
        int rc = slc_set_user_data(L->w, d);
        return rc ? lib_error(L, rc) : 0;
    }
    if (!strcmp(cmd, "commit")) {
        if (n != 1)
            return bad_line(L, "expected: commit");
        if ((code = ensure_session(L)) != 0)
            return code;
        return commit_session(L);
    }
    if (!strcmp(cmd, "slc-dump"))
        return bad_line(L, "the slc-dump header must be the first line");
    return bad_line(L, "unknown line (expected put, del, flags, data, "
                       "commit or end)");
}

/* Read one line without its newline; NULL at end of input, and also at a
 * line holding a NUL byte (L->nul set): the text after it would be
 * silently ignored. */
static char *next_line(FILE *in, char **buf, size_t *cap, load_state *L)
{
    ssize_t n = getline(buf, cap, in);
    if (n < 0)
        return NULL;
    L->line++;
    if (memchr(*buf, '\0', (size_t)n)) {
        L->nul = 1;
        return NULL;
    }
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
        (*buf)[--n] = '\0';
    return *buf;
}

static int is_blank(const char *s)
{
    s += strspn(s, " \t");
    return *s == '\0' || *s == '#';
}

static int cmd_load(args *a)
{
    if (a->npos > 1)
        return fail(EXIT_USAGE, "one INPUT at most");
    if (HAS(a, O_BATCH) && (a->batch == 0 || a->batch > SLC_MAX_SESSION_OPS))
        return fail(EXIT_USAGE, "--batch must be 1..%u", SLC_MAX_SESSION_OPS);
    if (!HAS(a, O_BATCH))
        a->batch = SLC_MAX_SESSION_OPS;
    load_state L = {.a = a, .input = a->npos ? a->pos[0] : "-"};
    FILE *in = strcmp(L.input, "-") ? fopen(L.input, "r") : stdin;
    if (!in)
        return fail(EXIT_INPUT, "%s: %s", L.input, strerror(errno));
    char *buf = NULL, *line, *word[8] = {0};
    size_t cap = 0;
    int code = 0, n = 0, pending = 0, have_header = 0, end_seen = 0;
    slc_options hdr = {0};

    /* The first content line decides whether this is an slc-dump; any
     * other first line stays pending for the main loop. */
    while ((line = next_line(in, &buf, &cap, &L)) && is_blank(line))
        ;
    if (line) {
        n = split(line, word, 8);
        if (!strcmp(word[0], "slc-dump")) {
            have_header = 1;
            if (parse_header(word, n, &hdr))
                code = bad_line(&L, "bad header; expected: slc-dump 1 "
                                    "key_size=K index_size=I cap=C "
                                    "user_version=V ordered=0|1");
        } else
            pending = 1;
    }
    if (L.nul)
        code = bad_line(&L, "the line contains a NUL byte");

    struct stat st;
    int existed = stat(a->path, &st) == 0, made = 0;
    int exists = existed && st.st_size > 0;
    if (!code && exists && HAS(a, O_CAPACITY))
        code = fail(EXIT_USAGE, "--capacity applies only when load creates "
                                "FILE; %s exists",
                    a->path);
    if (!code && exists) {
        int rc = slcu_open_existing(a->path, a->open_flags, &L.c, &L.o);
        if (rc)
            code = report(a->path, rc);
        else if (have_header && (hdr.key_size != L.o.key_size ||
                                 hdr.index_size != L.o.index_size))
            code = fail(tool_exit(SLC_EINCOMPATIBLE),
                        "%s has key_size %" PRIu32 " index_size %" PRIu32
                        ", the input key_size %" PRIu32 " index_size %" PRIu32,
                        a->path, L.o.key_size, L.o.index_size, hdr.key_size,
                        hdr.index_size);
        else if (have_header && !HAS(a, O_FORCE) &&
                 (hdr.user_version != L.o.user_version ||
                  (hdr.flags & SLC_ORDERED_KEYS) !=
                      (L.o.flags & SLC_ORDERED_KEYS)))
            code = fail(tool_exit(SLC_EINCOMPATIBLE),
                        "%s has user_version %" PRIu64 " ordered=%d, the "
                        "input user_version %" PRIu64 " ordered=%d; "
                        "--force loads it anyway",
                        a->path, L.o.user_version,
                        (L.o.flags & SLC_ORDERED_KEYS) ? 1 : 0,
                        hdr.user_version,
                        (hdr.flags & SLC_ORDERED_KEYS) ? 1 : 0);
    } else if (!code && !have_header)
        code = fail(EXIT_INPUT, "%s does not exist and the input has no "
                                "slc-dump header: create it first with "
                                "'slc create'",
                    a->path);
    else if (!code) {
        if (HAS(a, O_CAPACITY))
            hdr.slot_capacity = a->capacity;
        hdr.flags |= a->open_flags;
        int rc = slc_open(a->path, &hdr, &L.c);
        if (rc)
            code = report(a->path, rc);
        made = !rc && !existed;
        L.o = hdr;
    }
    if (!code && !(L.index = malloc(L.o.index_size ? L.o.index_size : 1)))
        code = report(a->path, SLC_ENOMEM);

    while (!code) {
        if (!pending) {
            if (!(line = next_line(in, &buf, &cap, &L)))
                break;
            if (is_blank(line))
                continue;
            n = split(line, word, 8);
        }
        pending = 0;
        if (end_seen)
            code = bad_line(&L, "content after the end line");
        else if (!strcmp(word[0], "end")) {
            uint64_t want;
            if (n != 2 || parse_u64(word[1], &want))
                code = bad_line(&L, "expected: end N");
            else if (want != L.puts) {
                char msg[128];
                snprintf(msg, sizeof msg,
                         "end line says %" PRIu64 " entries, input had %" PRIu64,
                         want, L.puts);
                code = bad_line(&L, msg);
            }
            end_seen = 1;
        } else
            code = load_line(&L, word, n);
    }
    if (!code && L.nul)
        code = bad_line(&L, "the line contains a NUL byte");
    if (!code && ferror(in))
        code = fail(EXIT_INPUT, "%s: read error: %s", L.input, strerror(errno));
    if (!code && have_header && !end_seen)
        code = fail(EXIT_INPUT, "%s: input ends without the 'end N' line of "
                                "an slc-dump (truncated?)",
                    L.input);
    if (!code && L.w)
        code = commit_session(&L);
    if (code && (L.sessions || L.w) && !made)
        fprintf(stderr, "slc load: %" PRIu64 " session(s) committed before "
                        "the error stay in %s; the open session was "
                        "discarded\n",
                L.sessions, a->path);
    slc_writer_close(L.w);
    uint64_t live = 0, gen = 0;
    if (!code) {
        int rc = slc_len(L.c, &live);
        if (!rc)
            rc = slc_generation(L.c, &gen);
        if (rc)
            code = report(a->path, rc);
    }
    if (!code) {
        if (g_json)
            printf("{\"puts\":%" PRIu64 ",\"deletes\":%" PRIu64
                   ",\"sessions\":%" PRIu64 ",\"live_count\":%" PRIu64
                   ",\"generation\":%" PRIu64 "}\n",
                   L.puts, L.dels, L.sessions, live, gen);
        else
            printf("loaded %s into %s: %" PRIu64 " puts, %" PRIu64
                   " deletes, %" PRIu64 " session(s); live_count %" PRIu64
                   ", generation %" PRIu64 "\n",
                   L.input, a->path, L.puts, L.dels, L.sessions, live, gen);
    }
    free(L.index);
    free(buf);
    if (in != stdin)
        fclose(in);
    slc_close(L.c);
    return undo_create(a->path, made, finish_output(code));
}

/* ---- invalidate --------------------------------------------------------- */

static int cmd_invalidate(args *a)
{
    slc_cache *c;
    int rc = slcu_open_existing(a->path, a->open_flags, &c, NULL);
    if (rc == SLC_EINVALIDATED) {
        if (g_json)
            puts("{\"invalidated\":true,\"already\":true}");
        else
            printf("%s was already invalidated\n", a->path);
        return finish_output(0);
    }
    if (rc)
        return report(a->path, rc);
    int code = close_report(c, a->path, slc_invalidate(c));
    if (code)
        return code;
    if (g_json)
        puts("{\"invalidated\":true,\"already\":false}");
    else
        printf("%s invalidated: its readers get SLC_EINVALIDATED; delete "
               "and recreate it\n",
               a->path);
    return finish_output(0);
}

/* ---- compact ------------------------------------------------------------ */

typedef struct compact_ctx {
    slc_rebuild *r;
    const slc_options *o;
} compact_ctx;

static int compact_visit(const slc_entry *e, void *ctx)
{
    compact_ctx *k = ctx;
    return slc_rebuild_put(k->r, e->key, k->o->key_size, e->revision,
                           e->index, k->o->index_size);
}

/* Rebuild FILE from a snapshot of its live entries (and user header) and
 * replace it in place through slc_rebuild_*: readers keep working and
 * follow with slc_reopen; deleted slots and tombstones are gone. */
static int cmd_compact(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    slc_options n = o;
    n.flags = (o.flags & SLC_ORDERED_KEYS) |
              (a->open_flags & (SLC_NO_LOCK | SLC_WRITEBACK_SYNC));
    slc_stat st;
    uint64_t live = 0, uf = 0;
    uint8_t ud[SLC_USER_DATA_SIZE];
    slc_rebuild *r = NULL;
    int rc = slc_stat_get(c, &st);
    n.slot_capacity = HAS(a, O_CAPACITY) ? a->capacity : st.slot_capacity;
    if (!rc)
        rc = slc_len(c, &live);
    if (!rc)
        rc = slc_user_header(c, &uf, ud);
    if (!rc && n.slot_capacity < live) {
        slc_close(c);
        return fail(EXIT_USAGE,
                    "--capacity %" PRIu64 " is below the %" PRIu64
                    " live entries",
                    n.slot_capacity, live);
    }
    if (!rc)
        rc = slc_rebuild_begin(a->path, &n, &r);
    if (!rc)
        rc = slc_rebuild_user_header(r, &uf, ud);
    compact_ctx k = {r, &o};
    if (!rc)
        rc = slc_scan(c, NULL, compact_visit, &k);
    uint64_t copied = 0;
    if (!rc)
        rc = slc_len(c, &copied);
    slc_close(c);
    if (!rc)
        rc = slc_rebuild_publish(r, 10000); /* wait <= 10 s for a writer */
    slc_rebuild_close(r);
    if (rc && rc != SLC_EWRITEBACK)
        return report(a->path, rc);
    if (g_json)
        printf("{\"compacted\":true,\"live\":%" PRIu64
               ",\"capacity\":%" PRIu64 "}\n",
               copied, n.slot_capacity);
    else
        printf("%s compacted: %" PRIu64 " live entries, capacity %" PRIu64
               "\n",
               a->path, copied, n.slot_capacity);
    return finish_output(rc ? report(a->path, rc) : 0);
}

/* ---- stats -------------------------------------------------------------- */

/* The public API does not expose buckets, so the probe lengths are those of
 * a table built by inserting the live keys in slot-id order, as a writer
 * does when no key was ever deleted and as a rehash does. That is the
 * file's own table when slot_highwater == live_count; with deletes it
 * estimates the table the next rehash would build. */
typedef struct stats_ctx {
    const slc_options *o;
    uint64_t mask;
    uint8_t *used; /* one bit per simulated bucket */
    uint64_t *hist; /* hist[len] successful lookups needing len probes */
    uint64_t hist_len, keys, max_probe;
    int oom;
} stats_ctx;

static int stats_visit(const slc_entry *e, void *ctx)
{
    stats_ctx *s = ctx;
    uint64_t i = fnv1a64(e->key, s->o->key_size) & s->mask, len = 1;
    if (s->keys >= s->mask)
        return 1; /* cannot happen (live < buckets); never loop forever */
    while (s->used[i / 8] & (1u << (i % 8))) {
        i = (i + 1) & s->mask;
        len++;
    }
    s->used[i / 8] |= (uint8_t)(1u << (i % 8));
    if (len >= s->hist_len) {
        uint64_t n = len * 2;
        uint64_t *h = realloc(s->hist, n * sizeof *h);
        if (!h) {
            s->oom = 1;
            return 1;
        }
        memset(h + s->hist_len, 0, (n - s->hist_len) * sizeof *h);
        s->hist = h;
        s->hist_len = n;
    }
    s->hist[len]++;
    s->keys++;
    if (len > s->max_probe)
        s->max_probe = len;
    return 0;
}

static int cmd_stats(args *a)
{
    slc_cache *c;
    slc_options o;
    int code = open_or_report(a, FOR_READING, &c, &o);
    if (code)
        return code;
    slc_stat s;
    stats_ctx sc = {.o = &o};
    int rc = slc_stat_get(c, &s);
    size_t bitmap = 0;
    if (!rc) {
        bitmap = (size_t)(s.bucket_count / 8 + 1);
        sc.mask = s.bucket_count - 1;
        sc.used = malloc(bitmap);
        sc.hist_len = 64;
        sc.hist = calloc(sc.hist_len, sizeof *sc.hist);
        if (!sc.used || !sc.hist)
            rc = SLC_ENOMEM;
    }
    /* Streaming keeps memory at the bitmap; a commit meanwhile restarts,
     * up to five times. */
    for (int tries = 0, stable = 0; !rc && !stable; tries++) {
        memset(sc.used, 0, bitmap);
        memset(sc.hist, 0, sc.hist_len * sizeof *sc.hist);
        sc.keys = sc.max_probe = 0;
        uint64_t gen = 0;
        slc_scan_opts so = {.flags = SLC_SCAN_STREAMING};
        rc = slc_scan(c, &so, stats_visit, &sc);
        if (rc > 0)
            rc = sc.oom ? SLC_ENOMEM : SLC_ECORRUPT; /* stopped by visit */
        if (!rc)
            rc = slc_generation(c, &gen);
        stable = !rc && gen == s.generation;
        if (stable || (rc && rc != SLC_EBUSY))
            break;
        if (tries == 4) {
            slc_close(c);
            free(sc.used);
            free(sc.hist);
            return fail(tool_exit(SLC_EBUSY),
                        "%s: writers kept committing during 5 scans", a->path);
        }
        rc = slc_stat_get(c, &s); /* the file moved on: start again */
    }
    if ((code = close_report(c, a->path, rc)) != 0) {
        free(sc.used);
        free(sc.hist);
        return code;
    }
    /* Unsuccessful lookups: from each home bucket, probes to the first
     * EMPTY, inclusive. Sum over each run of L FULL buckets is
     * 2 + 3 + ... + (L + 1); every EMPTY start costs 1. */
    uint64_t miss_sum = 0, run = 0, longest = 0, start = 0;
    while (sc.used[start / 8] & (1u << (start % 8)))
        start++; /* an EMPTY bucket exists: keys <= capacity < buckets */
    for (uint64_t k = 1; k <= s.bucket_count; k++) {
        uint64_t i = (start + k) & sc.mask;
        if (sc.used[i / 8] & (1u << (i % 8))) {
            run++;
            continue;
        }
        miss_sum += (run + 1) * (run + 2) / 2;
        if (run > longest)
            longest = run;
        run = 0;
    }
    uint64_t hit_sum = 0;
    for (uint64_t l = 1; l <= sc.max_probe; l++)
        hit_sum += l * sc.hist[l];
    int exact = s.slot_highwater == s.live_count;
    double hit_mean = ratio(hit_sum, sc.keys);
    double miss_mean = ratio(miss_sum, s.bucket_count);
    if (g_json) {
        printf("{\"live_count\":%" PRIu64 ",\"slot_highwater\":%" PRIu64
               ",\"slot_capacity\":%" PRIu64 ",\"slot_tombstones\":%" PRIu64
               ",\"slot_tombstone_ratio\":%.6f,\"bucket_count\":%" PRIu64
               ",\"bucket_tombstones\":%" PRIu64
               ",\"bucket_tombstone_ratio\":%.6f,\"load_factor\":%.6f"
               ",\"probe_exact\":%s,\"probe_hit_mean\":%.6f"
               ",\"probe_hit_max\":%" PRIu64 ",\"probe_miss_mean\":%.6f"
               ",\"longest_run\":%" PRIu64 ",\"probe_histogram\":{",
               s.live_count, s.slot_highwater, s.slot_capacity,
               s.slot_highwater - s.live_count,
               ratio(s.slot_highwater - s.live_count, s.slot_highwater),
               s.bucket_count, s.bucket_tombstones,
               ratio(s.bucket_tombstones, s.bucket_count),
               ratio(s.bucket_used, s.bucket_count), exact ? "true" : "false",
               hit_mean, sc.max_probe, miss_mean, longest);
        const char *sep = "";
        for (uint64_t l = 1; l <= sc.max_probe; l++)
            if (sc.hist[l]) {
                printf("%s\"%" PRIu64 "\":%" PRIu64, sep, l, sc.hist[l]);
                sep = ",";
            }
        puts("}}");
    } else {
        printf("live_count          %" PRIu64 "\n", s.live_count);
        printf("slot_tombstones     %" PRIu64 "  (%.2f%% of %" PRIu64
               " allocated slots; reclaimed only by a rebuild)\n",
               s.slot_highwater - s.live_count,
               100.0 * ratio(s.slot_highwater - s.live_count, s.slot_highwater),
               s.slot_highwater);
        printf("inserts_left        %" PRIu64 "  (slot_capacity %" PRIu64
               " - slot_highwater)\n",
               s.slot_capacity - s.slot_highwater, s.slot_capacity);
        printf("bucket_tombstones   %" PRIu64 "  (%.2f%% of %" PRIu64
               " buckets; a commit rehashes above 25%%)\n",
               s.bucket_tombstones,
               100.0 * ratio(s.bucket_tombstones, s.bucket_count),
               s.bucket_count);
        printf("load_factor         %.4f\n",
               ratio(s.bucket_used, s.bucket_count));
        printf("probe lengths       %s\n",
               exact ? "exact (no key was ever deleted)"
                     : "estimated: as after a rehash (keys were deleted; "
                       "bucket tombstones lengthen real probes)");
        printf("probe_hit_mean      %.4f\n", hit_mean);
        printf("probe_hit_max       %" PRIu64 "\n", sc.max_probe);
        printf("probe_miss_mean     %.4f  (probes to the first EMPTY "
               "bucket)\n",
               miss_mean);
        printf("longest_run         %" PRIu64 "  (consecutive FULL "
               "buckets)\n",
               longest);
        printf("histogram           probes      lookups  share\n");
        for (uint64_t l = 1; l <= sc.max_probe; l++)
            if (sc.hist[l])
                printf("                    %6" PRIu64 " %12" PRIu64
                       "  %5.2f%%\n",
                       l, sc.hist[l], 100.0 * ratio(sc.hist[l], sc.keys));
    }
    free(sc.used);
    free(sc.hist);
    return finish_output(0);
}

/* ---- Help and dispatch -------------------------------------------------- */

static const char main_help[] =
    "usage: slc COMMAND FILE [ARGS] [OPTIONS]\n"
    "\n"
    "Inspect, check and maintain libslotcache (SLC1) cache files. Every\n"
    "command but create reads the sizes from FILE's header.\n"
    "\n"
    "Commands:\n"
    "  create      create a new cache file\n"
    "  info        header, counters, load factors, sizes, user header\n"
    "  verify      full structural check of every slot and bucket\n"
    "  get         look up keys\n"
    "  put         insert or update one entry, set user header fields\n"
    "  del         delete keys\n"
    "  scan        list entries: all, by bit prefix, key range, index bytes\n"
    "  dump        write the live entries in the slc-dump line format\n"
    "  load        apply an slc-dump (or op script), in batched sessions\n"
    "  invalidate  mark the cache invalidated so its readers reopen it\n"
    "  compact     rebuild in place (optionally with a new capacity)\n"
    "  stats       probe-length histogram, tombstones, capacity left\n"
    "Run 'slc COMMAND --help' for the arguments and options of each.\n"
    "\n"
    "Common options:\n"
    "  --json      machine-readable output, one JSON object per line\n"
    "  --text      keys and index bytes are text instead of hex\n"
    "  --no-lock   do not use FILE.lock (only when writers are serialised\n"
    "              some other way)\n"
    "  -h, --help  show help\n"
    "\n"
    "Keys and index bytes are hex (\"0a1b\") unless --text is given; an\n"
    "argument shorter than the key or index size is padded on the right\n"
    "with zero bytes. Options go anywhere after COMMAND, as '--name VALUE'\n"
    "or '--name=VALUE'; '--' ends them (for text keys starting with '-').\n"
    "\n"
    "Exit status:\n"
    "   0  success\n"
    "   1  not found (get, del)\n"
    "   2  usage error\n"
    "   3  bad input data, I/O error outside the library, FILE exists (create)\n"
    "  10  SLC_ECORRUPT       damaged file, crashed writer; verify found a fault\n"
    "  11  SLC_EINCOMPATIBLE  not SLC1 version 1, configuration mismatch\n"
    "  12  SLC_EINVALIDATED   the cache was invalidated\n"
    "  13  SLC_EBUSY          another writer, or no stable read\n"
    "  14  SLC_EFULL          slot capacity exhausted\n"
    "  15  SLC_ECLOSED        writer session already ended\n"
    "  16  SLC_EWRITEBACK     msync failed (the change was published)\n"
    "  17  SLC_EINVAL         argument or limit refused by the library\n"
    "  18  SLC_EUNORDERED     range scan on a cache without ordered keys\n"
    "  19  SLC_EOUTOFORDER    ordered insert below the last key\n"
    "  20  SLC_ENOMEM         out of memory\n"
    "  21  SLC_ESYS           system call failed (the message says which)\n"
    "\n"
    "See 'man slc' for the full manual.\n";

static const command commands[] = {
    {"create", cmd_create,
     COMMON | OPT(O_SYNC) | OPT(O_KEY_SIZE) | OPT(O_INDEX_SIZE) |
         OPT(O_CAPACITY) | OPT(O_USER_VERSION) | OPT(O_ORDERED),
     0, 0,
     "usage: slc create FILE --key-size N --capacity N [--index-size N]\n"
     "                  [--user-version N] [--ordered] [--json]\n"
     "\n"
     "Create a new cache file (refused if FILE exists and is not empty; an\n"
     "empty FILE is initialised in place, keeping its mode and owner). The\n"
     "file is sparse: it takes disk space only as entries are written.\n"
     "\n"
     "  --key-size N      key bytes, 1..512 (required)\n"
     "  --capacity N      slots, 1..100000000; each insert of a new key uses\n"
     "                    one for the life of the file (required)\n"
     "  --index-size N    index bytes per entry, 0..1048576 (default 0)\n"
     "  --user-version N  schema version of the index bytes (default 0)\n"
     "  --ordered         keys must be inserted in ascending order; enables\n"
     "                    range scans\n"},
    {"info", cmd_info, COMMON, 0, 0,
     "usage: slc info FILE [--json]\n"
     "\n"
     "Show the header: configuration, generation, state, counters, load\n"
     "factors, logical file size and disk usage (st_blocks), user header.\n"
     "When FILE cannot be opened the message and exit status say why\n"
     "(corrupt, incompatible, invalidated, busy).\n"},
    {"verify", cmd_verify, COMMON, 0, 0,
     "usage: slc verify FILE [--json]\n"
     "\n"
     "Check the whole file under one stable generation (slc_verify): every\n"
     "allocated slot and every bucket, header counters, probe chains,\n"
     "reserved bits, key order in ordered caches. Exit 0 when sound, 10\n"
     "(SLC_ECORRUPT) with the first fault found, or the open error.\n"},
    {"get", cmd_get, COMMON | OPT(O_TEXT), 1, -1,
     "usage: slc get FILE KEY... [--text] [--json]\n"
     "\n"
     "Look up each KEY; print 'KEY REVISION INDEX' for hits ('-' when the\n"
     "index size is 0). Misses are reported on stderr; exit 1 if any key\n"
     "was not found.\n"},
    {"put", cmd_put,
     COMMON | OPT(O_TEXT) | OPT(O_SYNC) | OPT(O_USER_FLAGS) |
         OPT(O_USER_DATA),
     0, 3,
     "usage: slc put FILE [KEY REVISION [INDEX]] [--user-flags N]\n"
     "               [--user-data BYTES] [--text] [--sync] [--json]\n"
     "\n"
     "Insert or update one entry and/or set user header fields, in one\n"
     "write session and one commit. REVISION is a signed 64-bit decimal\n"
     "(negative ones are fine); INDEX defaults to zero bytes.\n"
     "\n"
     "  --user-flags N     new user_flags (u64)\n"
     "  --user-data BYTES  new user_data, up to 64 bytes, zero-padded\n"
     "  --sync             msync barriers (SLC_WRITEBACK_SYNC)\n"},
    {"del", cmd_del, COMMON | OPT(O_TEXT) | OPT(O_SYNC), 1, -1,
     "usage: slc del FILE KEY... [--text] [--sync] [--json]\n"
     "\n"
     "Delete the keys in one commit (no commit when none was live). Exit 1\n"
     "if any key was not found.\n"},
    {"scan", cmd_scan,
     COMMON | OPT(O_TEXT) | OPT(O_PREFIX) | OPT(O_BITS) | OPT(O_KEY_OFFSET) |
         OPT(O_START) | OPT(O_END) | OPT(O_RANGE) | OPT(O_REVERSE) |
         OPT(O_OFFSET) | OPT(O_LIMIT) | OPT(O_COUNT) | OPT(O_STREAMING) |
         OPT(O_MATCH),
     0, 0,
     "usage: slc scan FILE [--prefix BYTES [--bits N] [--key-offset N]]\n"
     "                [--range | --start KEY | --end KEY] [--reverse]\n"
     "                [--match OFFSET:HEX[/MASK]]\n"
     "                [--offset N] [--limit N] [--count] [--streaming]\n"
     "                [--text] [--json]\n"
     "\n"
     "List live entries as 'KEY REVISION INDEX', in slot order (= key order\n"
     "in ordered caches).\n"
     "\n"
     "  --prefix BYTES    keys whose bits match BYTES, MSB first\n"
     "  --bits N          compare only the first N bits of BYTES (BYTES\n"
     "                    must then be ceil(N/8) bytes); default all bytes\n"
     "  --key-offset N    the prefix starts at key byte N (default 0)\n"
     "  --start KEY       range scan from KEY (inclusive), ordered caches\n"
     "  --end KEY         range scan up to KEY (exclusive); bounds shorter\n"
     "                    than the key are zero-padded\n"
     "  --range           range scan (key order) without bounds\n"
     "  --match OFFSET:HEX[/MASK]\n"
     "                    entries whose index bytes from OFFSET equal HEX\n"
     "                    (under MASK, hex of the same length; up to 64\n"
     "                    bytes); excludes --prefix and range options\n"
     "  --reverse         descending order\n"
     "  --offset N        skip the first N matches\n"
     "  --limit N         print at most N entries (0 = all)\n"
     "  --count           print only the number of entries (counted in\n"
     "                    the library, nothing copied)\n"
     "  --streaming       deliver while scanning (O(1) memory; fails with\n"
     "                    exit 13 if a commit lands) instead of a snapshot\n"},
    {"dump", cmd_dump, COMMON, 0, 0,
     "usage: slc dump FILE [--json] > FILE.dump\n"
     "\n"
     "Write every live entry, in slot order, in the slc-dump format:\n"
     "  slc-dump 1 key_size=K index_size=I cap=C user_version=V ordered=0|1\n"
     "  flags USER_FLAGS\n"
     "  data USER_DATA_HEX\n"
     "  put KEYHEX REVISION INDEXHEX      ('-' when index_size is 0)\n"
     "  end COUNT\n"
     "Streaming, O(1) memory. A commit during the dump stops it (exit 13,\n"
     "no end line). 'slc load' of the output into a new file rebuilds the\n"
     "cache, and dumping that gives the same bytes. --json writes one\n"
     "object per entry instead (not loadable).\n"},
    {"load", cmd_load,
     COMMON | OPT(O_SYNC) | OPT(O_CAPACITY) | OPT(O_BATCH) | OPT(O_FORCE), 0,
     1,
     "usage: slc load FILE [INPUT|-] [--capacity N] [--batch N] [--sync]\n"
     "                [--force]\n"
     "\n"
     "Apply an slc-dump (from 'slc dump' or your own program) or an op\n"
     "script to FILE, reading INPUT (default stdin) line by line. When FILE\n"
     "is missing or empty it is created from the slc-dump header line.\n"
     "Lines:\n"
     "  slc-dump 1 key_size=K index_size=I cap=C user_version=V ordered=0|1\n"
     "  put KEYHEX REVISION INDEXHEX|-    upsert (exact sizes)\n"
     "  del KEYHEX                        delete\n"
     "  flags U64 / data HEX              user header fields\n"
     "  commit                            end the session here\n"
     "  end COUNT                         required after an slc-dump header;\n"
     "                                    COUNT = number of put lines\n"
     "  # comment, blank lines\n"
     "The changes are committed every N put/del lines (--batch, default and\n"
     "maximum 1000000, the library's per-session limit) and at the end. On\n"
     "an error, sessions already committed stay; the open one is dropped;\n"
     "a FILE this load created is removed again. A line holding a NUL byte\n"
     "is an error. An slc-dump header whose user_version or ordered flag\n"
     "differs from an existing FILE's is an error unless --force.\n"
     "\n"
     "  --capacity N  capacity of the created file (default: the header's)\n"
     "  --batch N     put/del lines per session\n"
     "  --sync        msync barriers (SLC_WRITEBACK_SYNC)\n"
     "  --force       load a dump whose user_version or ordered flag differs\n"},
    {"invalidate", cmd_invalidate, COMMON | OPT(O_SYNC), 0, 0,
     "usage: slc invalidate FILE [--sync] [--json]\n"
     "\n"
     "Mark the cache invalidated (terminal): every reader in every process\n"
     "gets SLC_EINVALIDATED on its next read and reopens the path. Use it\n"
     "before replacing the file. Already invalidated: exit 0.\n"},
    {"compact", cmd_compact, COMMON | OPT(O_SYNC) | OPT(O_CAPACITY), 0, 0,
     "usage: slc compact FILE [--capacity N] [--sync] [--json]\n"
     "\n"
     "Rebuild FILE from its live entries and user header, with capacity N\n"
     "(default: the current one), and replace it in place: the new file is\n"
     "built beside FILE, made durable and renamed over it under FILE.lock,\n"
     "then the old file is invalidated. Readers keep working throughout\n"
     "(those that mapped the old file reopen on SLC_EINVALIDATED). Drops\n"
     "deleted slots and tombstones; grows or shrinks the capacity. Waits up\n"
     "to 10 s for a running writer; commits made while the entries are\n"
     "being copied are not carried over.\n"},
    {"stats", cmd_stats, COMMON, 0, 0,
     "usage: slc stats FILE [--json]\n"
     "\n"
     "Tombstones (slots and buckets), capacity left, load factor, and the\n"
     "probe-length histogram of successful lookups with the mean probe\n"
     "length of misses. Computed through the public API from the live keys\n"
     "and the FNV-1a hash: exact when no key was ever deleted, otherwise\n"
     "the table a rehash would build.\n"},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static int parse_num(const char *opt, const char *v, uint64_t *out)
{
    if (parse_u64(v, out))
        return fail(EXIT_USAGE, "--%s '%s' is not an unsigned number", opt, v);
    return 0;
}

static const opt_def *find_option(const char *name, size_t len)
{
    for (const opt_def *o = long_options; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

/* A negative number is an argument (a revision), not an option. */
static int is_negative_number(const char *s)
{
    return s[0] == '-' && s[1] >= '0' && s[1] <= '9';
}

/* Options anywhere after COMMAND ("--name value", "--name=value", "-h");
 * "--" ends them. Everything else is positional, FILE first. */
static int parse_args(const command *cmd, int argc, char **argv, args *a)
{
    char **pos = argv; /* positional arguments, compacted in place */
    int npos = 0, only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0' ||
            is_negative_number(arg)) {
            pos[npos++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(cmd->help, stdout);
            exit(finish_output(0));
        }
        if (arg[1] != '-')
            return fail(EXIT_USAGE, "unknown option '%s'", arg);
        const char *name = arg + 2, *eq = strchr(name, '='), *value = NULL;
        const opt_def *o = find_option(name, eq ? (size_t)(eq - name)
                                                      : strlen(name));
        if (!o)
            return fail(EXIT_USAGE, "unknown option '%s'", arg);
        name = o->name;
        if (!(cmd->allowed & OPT(o->id)))
            return fail(EXIT_USAGE, "option '--%s' does not apply to '%s'",
                        name, cmd->name);
        if (o->has_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return fail(EXIT_USAGE, "option '--%s' needs a value", name);
        } else if (eq)
            return fail(EXIT_USAGE, "option '--%s' takes no value", name);
        a->seen |= OPT(o->id);
        int r = 0;
        switch (o->id) {
        case O_JSON: g_json = 1; break;
        case O_TEXT: g_text = 1; break;
        case O_NO_LOCK: a->open_flags |= SLC_NO_LOCK; break;
        case O_SYNC: a->open_flags |= SLC_WRITEBACK_SYNC; break;
        case O_KEY_SIZE: r = parse_num(name, value, &a->key_size); break;
        case O_INDEX_SIZE: r = parse_num(name, value, &a->index_size); break;
        case O_CAPACITY: r = parse_num(name, value, &a->capacity); break;
        case O_USER_VERSION: r = parse_num(name, value, &a->user_version); break;
        case O_BITS: r = parse_num(name, value, &a->bits); break;
        case O_KEY_OFFSET: r = parse_num(name, value, &a->key_offset); break;
        case O_OFFSET: r = parse_num(name, value, &a->offset); break;
        case O_LIMIT: r = parse_num(name, value, &a->limit); break;
        case O_BATCH: r = parse_num(name, value, &a->batch); break;
        case O_USER_FLAGS: r = parse_num(name, value, &a->user_flags); break;
        case O_PREFIX: a->prefix = value; break;
        case O_START: a->start = value; break;
        case O_END: a->end = value; break;
        case O_USER_DATA: a->user_data = value; break;
        case O_MATCH: a->match = value; break;
        default: break; /* flags: recorded in seen */
        }
        if (r)
            return r;
    }
    if (npos == 0)
        return fail(EXIT_USAGE, "missing FILE");
    a->path = pos[0];
    a->pos = pos + 1;
    a->npos = npos - 1;
    if (a->npos < cmd->min_pos)
        return fail(EXIT_USAGE, "missing arguments after FILE");
    if (cmd->max_pos >= 0 && a->npos > cmd->max_pos)
        return fail(EXIT_USAGE, "unexpected argument '%s'",
                    a->pos[cmd->max_pos]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") ||
        !strcmp(name, "help")) {
        const command *cmd = argc > 2 ? find_command(argv[2]) : NULL;
        fputs(cmd ? cmd->help : main_help, stdout);
        return finish_output(0);
    }
    if (!strcmp(name, "--version")) {
        printf("slc (libslotcache %s)\n", slc_version());
        return finish_output(0);
    }
    const command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "slc: unknown command '%s'\nTry 'slc --help'.\n",
                name);
        return EXIT_USAGE;
    }
    g_cmd = cmd->name;
    args a = {0};
    int code = parse_args(cmd, argc - 2, argv + 2, &a);
    return code ? code : cmd->run(&a);
}
