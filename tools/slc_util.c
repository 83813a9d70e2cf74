/* Helpers of the slc tool; see slc_util.h. */
#include "slc_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int g_json;
int g_text;
const char *g_cmd = "slc";

static const char *const code_names[] = {
    "SLC_OK",           "SLC_ECORRUPT",    "SLC_EINCOMPATIBLE",
    "SLC_EINVALIDATED", "SLC_EBUSY",       "SLC_EFULL",
    "SLC_ECLOSED",      "SLC_EWRITEBACK",  "SLC_EINVAL",
    "SLC_EUNORDERED",   "SLC_EOUTOFORDER", "SLC_ENOMEM",
    "SLC_ESYS",
};

/* What a user of the tool can do about each class (SLC1 section 13). */
static const char *const code_hints[] = {
    NULL,
    "the file is damaged or a writer died mid-commit: delete it and rebuild "
    "the cache from its source",
    "not an SLC1 version 1 file this build can use: delete it and recreate "
    "it",
    "the cache was invalidated (its owner rebuilt it): delete it, or reopen "
    "the path if a new file was put there",
    "another writer holds the lock or keeps publishing: retry later",
    "slot capacity exhausted: rebuild with a larger capacity "
    "(slc dump | slc load --capacity N NEW)",
    NULL,
    "the change is visible but may not be on disk",
    NULL,
    "range scans need a cache created with --ordered",
    "ordered cache: new keys must not sort below the last slot's key; load "
    "sorted input",
    NULL,
    NULL,
};

const char *code_name(int rc)
{
    if (rc == SLC_NOTFOUND)
        return "SLC_NOTFOUND";
    if (rc <= 0 && rc >= SLC_ESYS)
        return code_names[-rc];
    return "SLC_E?";
}

int tool_exit(int rc)
{
    if (rc == SLC_OK)
        return 0;
    if (rc == SLC_NOTFOUND)
        return EXIT_NOTFOUND;
    if (rc < 0 && rc >= SLC_ESYS)
        return EXIT_LIB_BASE - rc;
    return EXIT_INPUT;
}

static void json_error(int code, const char *name, const char *message,
                       const char *detail)
{
    if (!g_json)
        return;
    fflush(stdout);
    fputs("{\"error\":", stdout);
    put_json_str(stdout, name);
    printf(",\"exit\":%d,\"message\":", code);
    put_json_str(stdout, message);
    fputs(",\"detail\":", stdout);
    put_json_str(stdout, detail);
    fputs("}\n", stdout);
}

int report(const char *what, int rc)
{
    int code = tool_exit(rc);
    /* Copy first: nothing below may overwrite the thread's detail, but
     * the copy also survives any later library call. */
    char detail[512];
    snprintf(detail, sizeof detail, "%s", slc_errdetail());
    fprintf(stderr, "slc %s: %s: %s [%s]%s%s\n", g_cmd, what, slc_strerror(rc),
            code_name(rc), *detail ? ": " : "", detail);
    if (rc < 0 && rc >= SLC_ESYS && code_hints[-rc])
        fprintf(stderr, "slc %s: hint: %s\n", g_cmd, code_hints[-rc]);
    json_error(code, code_name(rc), slc_strerror(rc), detail);
    return code;
}

int fail(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "slc %s: %s\n", g_cmd, msg);
    if (code == EXIT_USAGE)
        fprintf(stderr, "Try 'slc %s --help'.\n", g_cmd);
    json_error(code,
               code == EXIT_USAGE   ? "usage"
               : code == EXIT_INPUT ? "input"
                                    : code_name(EXIT_LIB_BASE - code),
               msg, "");
    return code;
}

int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s)
            return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end || end == s || (base == 16 && (*s == '-' || *s == '+')))
        return -1;
    *out = v;
    return 0;
}

int parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || *s == ' ' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
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

long hex_decode(const char *s, size_t slen, uint8_t *out, size_t max)
{
    if (slen % 2 || slen / 2 > max)
        return -1;
    for (size_t i = 0; i < slen; i += 2) {
        int hi = hexval((unsigned char)s[i]);
        int lo = hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(slen / 2);
}

long arg_bytes(const char *arg, uint8_t *out, size_t max)
{
    size_t n = strlen(arg);
    if (!g_text)
        return hex_decode(arg, n, out, max);
    if (n > max)
        return -1;
    memcpy(out, arg, n);
    return (long)n;
}

void put_hex(FILE *f, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        putc(digits[p[i] >> 4], f);
        putc(digits[p[i] & 15], f);
    }
}

void put_bytes(FILE *f, const uint8_t *p, size_t n)
{
    if (!g_text) {
        put_hex(f, p, n);
        return;
    }
    while (n && p[n - 1] == 0)
        n--; /* the zero padding added on input */
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' || p[i] == '"')
            fprintf(f, "\\%c", p[i]);
        else if (p[i] >= ' ' && p[i] < 0x7f)
            putc(p[i], f);
        else
            fprintf(f, "\\x%02x", p[i]);
    }
}

void put_json_str(FILE *f, const char *s)
{
    putc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\u%04x", *p); /* details are ASCII in practice */
        else
            putc(*p, f);
    }
    putc('"', f);
}

uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int slcu_open_existing(const char *path, uint32_t extra_flags,
                       slc_cache **out, slc_options *opts)
{
    slc_options o;
    int rc = slc_read_options(path, &o);
    if (rc)
        return rc;
    /* Capacity 0: accept the file's, and never create one if the path
     * vanished between the two calls. */
    o.slot_capacity = 0;
    o.flags |= extra_flags;
    rc = slc_open(path, &o, out);
    if (rc == SLC_OK && opts)
        *opts = o;
    return rc;
}
