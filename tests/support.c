#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *p = t_join(base, "slctest.XXXXXX");
    if (!mkdtemp(p)) {
        fprintf(stderr, "mkdtemp %s: %s\n", p, strerror(errno));
        abort();
    }
    return p;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void t_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *t_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int t_hex_decode(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

void t_hex_encode(const void *data, size_t n, char *out)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = 0;
}

char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    t_buf b = {0};
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + r + 1 > b.cap) {
            b.cap = (b.len + r + 1) * 2;
            b.s = realloc(b.s, b.cap);
            if (!b.s)
                abort();
        }
        memcpy(b.s + b.len, chunk, r);
        b.len += r;
    }
    fclose(f);
    if (!b.s) {
        b.s = malloc(1);
        if (!b.s)
            abort();
    }
    b.s[b.len] = 0;
    if (len)
        *len = b.len;
    return b.s;
}

int t_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int t_copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = t_read_file(from, &n);
    if (!d)
        return -1;
    int rc = t_write_file(to, d, n);
    free(d);
    return rc;
}

void t_buf_printf(t_buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s)
            abort();
    }
}

void t_buf_free(t_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

const char *t_errclass(int code)
{
    switch (code) {
    case SLC_OK:
        return "OK";
    case SLC_ECORRUPT:
        return "ErrCorrupt";
    case SLC_EINCOMPATIBLE:
        return "ErrIncompatible";
    case SLC_EINVALIDATED:
        return "ErrInvalidated";
    case SLC_EBUSY:
        return "ErrBusy";
    case SLC_EFULL:
        return "ErrFull";
    case SLC_ECLOSED:
        return "ErrClosed";
    case SLC_EWRITEBACK:
        return "ErrWriteback";
    case SLC_EINVAL:
        return "ErrInvalidInput";
    case SLC_EUNORDERED:
        return "ErrUnordered";
    case SLC_EOUTOFORDER:
        return "ErrOutOfOrderInsert";
    default:
        return "ErrOther";
    }
}

int t_parse_case(const char *text, slc_options *o)
{
    unsigned k, i, ord;
    unsigned long long cap, uv;
    memset(o, 0, sizeof *o);
    if (sscanf(text, "key_size=%u index_size=%u cap=%llu user_version=%llu "
                     "ordered=%u",
               &k, &i, &cap, &uv, &ord) != 5)
        return -1;
    o->key_size = k;
    o->index_size = i;
    o->slot_capacity = cap;
    o->user_version = uv;
    o->flags = ord ? SLC_ORDERED_KEYS : 0;
    return 0;
}

typedef struct dump_ctx {
    t_buf *out;
    size_t key_size, index_size;
} dump_ctx;

static int dump_entry(const slc_entry *e, void *ctx)
{
    dump_ctx *d = ctx;
    char kh[2 * SLC_MAX_KEY_SIZE + 1];
    t_hex_encode(e->key, d->key_size, kh);
    if (d->index_size == 0) {
        t_buf_printf(d->out, "entry %s %" PRId64 " -\n", kh, e->revision);
        return 0;
    }
    char *ih = malloc(2 * d->index_size + 1);
    if (!ih)
        abort();
    t_hex_encode(e->index, d->index_size, ih);
    t_buf_printf(d->out, "entry %s %" PRId64 " %s\n", kh, e->revision, ih);
    free(ih);
    return 0;
}

void t_dump(slc_cache *c, t_buf *out)
{
    uint64_t v;
    int rc = slc_len(c, &v);
    if (rc)
        t_buf_printf(out, "len: %s\n", t_errclass(rc));
    else
        t_buf_printf(out, "len %" PRIu64 "\n", v);
    rc = slc_generation(c, &v);
    if (rc)
        t_buf_printf(out, "gen: %s\n", t_errclass(rc));
    else
        t_buf_printf(out, "gen %" PRIu64 "\n", v);
    uint8_t data[64];
    rc = slc_user_header(c, &v, data);
    if (rc) {
        t_buf_printf(out, "user_header: %s\n", t_errclass(rc));
    } else {
        char dh[129];
        t_hex_encode(data, 64, dh);
        t_buf_printf(out, "user_flags %" PRIu64 "\nuser_data %s\n", v, dh);
    }
    slc_stat st;
    if (slc_stat_get(c, &st) != SLC_OK)
        memset(&st, 0, sizeof st);
    dump_ctx d = {out, st.key_size, st.index_size};
    rc = slc_scan(c, NULL, dump_entry, &d);
    if (rc)
        t_buf_printf(out, "scan: %s\n", t_errclass(rc));
}

/* ---- ops.txt replay ----------------------------------------------------- */

typedef struct replay {
    slc_cache *c;
    slc_writer *w;
    t_buf *apply;
    slc_stat st;
} replay;

static int ensure_writer(replay *r, const char *op)
{
    if (r->w)
        return 0;
    int rc = slc_begin_write(r->c, &r->w);
    if (rc) {
        t_buf_printf(r->apply, "%s: %s\n", op, t_errclass(rc));
        r->w = NULL;
        return -1;
    }
    return 0;
}

static void report(replay *r, const char *op, int rc)
{
    if (rc)
        t_buf_printf(r->apply, "%s: %s\n", op, t_errclass(rc));
}

void t_apply_ops(slc_cache *c, const char *ops, t_buf *apply)
{
    replay r = {c, NULL, apply, {0}};
    assert_int_equal(slc_stat_get(c, &r.st), SLC_OK);
    char *text = strdup(ops);
    if (!text)
        abort();
    uint8_t key[SLC_MAX_KEY_SIZE];
    uint8_t *index = malloc(r.st.index_size + 1);
    if (!index)
        abort();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char op[16], a[2 * SLC_MAX_KEY_SIZE + 8];
        char *ib = malloc(2 * (size_t)r.st.index_size + 8);
        if (!ib)
            abort();
        int n = sscanf(line, "%15s", op);
        if (n != 1 || op[0] == '#') {
            free(ib);
            continue;
        }
        if (!strcmp(op, "put")) {
            long long rev;
            if (sscanf(line, "put %1031s %lld %s", a, &rev, ib) != 3)
                fail_msg("bad put line: %s", line);
            int kl = t_hex_decode(a, key, sizeof key);
            int il = strcmp(ib, "-") ? t_hex_decode(ib, index, r.st.index_size)
                                     : 0;
            if (!ensure_writer(&r, "put"))
                report(&r, "put",
                       slc_put(r.w, key, (size_t)kl, rev, index, (size_t)il));
        } else if (!strcmp(op, "del")) {
            if (sscanf(line, "del %1031s", a) != 1)
                fail_msg("bad del line: %s", line);
            int kl = t_hex_decode(a, key, sizeof key);
            if (!ensure_writer(&r, "del"))
                report(&r, "del", slc_delete(r.w, key, (size_t)kl, NULL));
        } else if (!strcmp(op, "flags")) {
            unsigned long long f;
            if (sscanf(line, "flags %llu", &f) != 1)
                fail_msg("bad flags line: %s", line);
            if (!ensure_writer(&r, "flags"))
                report(&r, "flags", slc_set_user_flags(r.w, f));
        } else if (!strcmp(op, "data")) {
            uint8_t data[64] = {0};
            const char *hex = line + 4;
            while (*hex == ' ')
                hex++;
            if (t_hex_decode(hex, data, sizeof data) < 0)
                fail_msg("bad data line: %s", line);
            if (!ensure_writer(&r, "data"))
                report(&r, "data", slc_set_user_data(r.w, data));
        } else if (!strcmp(op, "commit")) {
            if (!ensure_writer(&r, "commit")) {
                report(&r, "commit", slc_commit(r.w));
                slc_writer_close(r.w);
                r.w = NULL;
            }
        } else if (!strcmp(op, "abort")) {
            slc_writer_close(r.w);
            r.w = NULL;
        } else if (!strcmp(op, "invalidate")) {
            slc_writer_close(r.w);
            r.w = NULL;
            report(&r, "invalidate", slc_invalidate(c));
        } else {
            fail_msg("unknown op line: %s", line);
        }
        free(ib);
    }
    slc_writer_close(r.w);
    free(index);
    free(text);
}

const char *t_data_dir(void)
{
    const char *d = getenv("SLC_TEST_DATA_DIR");
    return d && *d ? d : SLC_TEST_DATA_DIR;
}

uint64_t t_seed(const char *test)
{
    const char *s = getenv("SLC_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 0)
                            : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    if (!seed)
        seed = 1;
    fprintf(stderr, "[%s] seed %" PRIu64 " (rerun with SLC_TEST_SEED=%" PRIu64
                    ")\n",
            test, seed, seed);
    return seed;
}

uint64_t t_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
