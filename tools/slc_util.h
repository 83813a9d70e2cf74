/* Helpers of the slc tool: exit codes, error reports, byte and number
 * parsing, hex/text/JSON output. Public API only (slotcache.h). */
#ifndef SLC_TOOL_UTIL_H
#define SLC_TOOL_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "slotcache.h"

/* Exit codes. Library failures map to 9 - code, one per status class:
 * SLC_ECORRUPT (-1) -> 10 ... SLC_ESYS (-12) -> 21. */
enum {
    EXIT_NOTFOUND = 1,
    EXIT_USAGE = 2,
    EXIT_INPUT = 3, /* bad load input, unreadable input, output error, exists */
    EXIT_LIB_BASE = 9,
};

/* The tool's exit code for a library status (SLC_NOTFOUND -> 1). */
int tool_exit(int rc);
/* "SLC_ECORRUPT" etc.; "SLC_E?" for an unknown code. */
const char *code_name(int rc);

/* Global output switches, set from the command line. */
extern int g_json;      /* --json */
extern int g_text;      /* --text: keys/index given and shown as text */
extern const char *g_cmd; /* subcommand name for messages */

/* Print "slc CMD: WHAT: message [NAME]: detail" (and a hint) to stderr, and
 * with --json an error object to stdout; return the exit code. */
int report(const char *what, int rc);
/* A failure outside the library (usage, input, I/O): message to stderr
 * (and JSON error object), returns `code`. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Numbers: decimal, or hex with 0x; no sign for unsigned, trailing junk
 * rejected. 0 on success, -1 on error. */
int parse_u64(const char *s, uint64_t *out);
int parse_i64(const char *s, int64_t *out);

/* Bytes from a hex string (even length, any case) into out[max]; returns
 * the byte count or -1 (bad digit, odd length, longer than max). */
long hex_decode(const char *s, size_t slen, uint8_t *out, size_t max);
/* A command-line key or index argument: hex, or raw bytes with --text.
 * Returns the byte count or -1 when longer than max / bad hex. */
long arg_bytes(const char *arg, uint8_t *out, size_t max);

/* Output of bytes: hex, or with --text escaped text without the trailing
 * zero padding (\\, \" and \xHH for bytes outside printable ASCII). */
void put_hex(FILE *f, const uint8_t *p, size_t n);
void put_bytes(FILE *f, const uint8_t *p, size_t n);
/* A JSON string literal of s. */
void put_json_str(FILE *f, const char *s);

/* FNV-1a 64, the SLC1 hash (format spec 5.3), for `slc stats`. */
uint64_t fnv1a64(const uint8_t *p, size_t n);

/* Open an existing cache with the options stored in its header.
 * extra_flags: SLC_NO_LOCK / SLC_WRITEBACK_SYNC. Returns the library
 * status; the caller reports it. */
int slcu_open_existing(const char *path, uint32_t extra_flags,
                       slc_cache **out, slc_options *opts);

#endif
