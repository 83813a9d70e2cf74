/* Shared helpers for the cmocka suite: temp dirs, hex, files, the
 * conformance dump format and op-script replay. */
#ifndef SLC_TEST_SUPPORT_H
#define SLC_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "slotcache.h"

/* A fresh private directory (removed by t_rmtree). */
char *t_tmpdir(void);
void t_rmtree(const char *dir);
/* dir + "/" + name, malloc'd. */
char *t_join(const char *dir, const char *name);

/* Hex: decode returns the byte count, or -1 on bad input / overflow. */
int t_hex_decode(const char *hex, uint8_t *out, size_t max);
void t_hex_encode(const void *data, size_t n, char *out);

/* Whole-file helpers; t_read_file returns malloc'd, NUL-terminated data. */
char *t_read_file(const char *path, size_t *len);
int t_write_file(const char *path, const void *data, size_t len);
int t_copy_file(const char *from, const char *to);

/* Growable string. */
typedef struct t_buf {
    char *s;
    size_t len, cap;
} t_buf;
void t_buf_printf(t_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void t_buf_free(t_buf *b);

/* "ErrCorrupt" etc. for a status code, as in the conformance files. */
const char *t_errclass(int code);

/* Parse a conformance case.txt line into options. */
int t_parse_case(const char *text, slc_options *o);

/* The dump.txt text of an open cache (len, gen, user header, entries). */
void t_dump(slc_cache *c, t_buf *out);

/* Apply a conformance ops.txt script to an open cache; errors are
 * appended as "OP: ErrClass" lines (apply.txt format). */
void t_apply_ops(slc_cache *c, const char *ops, t_buf *apply);

/* Path of the test data directory (conformance copies). */
const char *t_data_dir(void);

/* Seed for randomized tests: $SLC_TEST_SEED or time; printed once. */
uint64_t t_seed(const char *test);
/* xorshift64* */
uint64_t t_rand(uint64_t *state);

#endif
