/* The public header alone, in strict C (built with -std=c99 and -std=c11,
 * -Wall -Wextra -Wpedantic -Werror): it must be self-contained, clean and
 * keep the values that are ABI. Linked against the library, so it also
 * checks that every function it names is exported. */
#include <slotcache.h>

#include <stdio.h>
#include <string.h>

/* C99 has no _Static_assert: a negative array size fails the build. */
#define HT_ASSERT(name, cond) typedef char ht_assert_##name[(cond) ? 1 : -1]

HT_ASSERT(ok, SLC_OK == 0);
HT_ASSERT(notfound, SLC_NOTFOUND == 1);
HT_ASSERT(corrupt, SLC_ECORRUPT == -1);
HT_ASSERT(incompatible, SLC_EINCOMPATIBLE == -2);
HT_ASSERT(invalidated, SLC_EINVALIDATED == -3);
HT_ASSERT(busy, SLC_EBUSY == -4);
HT_ASSERT(full, SLC_EFULL == -5);
HT_ASSERT(closed, SLC_ECLOSED == -6);
HT_ASSERT(writeback, SLC_EWRITEBACK == -7);
HT_ASSERT(inval, SLC_EINVAL == -8);
HT_ASSERT(unordered, SLC_EUNORDERED == -9);
HT_ASSERT(outoforder, SLC_EOUTOFORDER == -10);
HT_ASSERT(nomem, SLC_ENOMEM == -11);
HT_ASSERT(sys, SLC_ESYS == -12);
HT_ASSERT(flags, SLC_ORDERED_KEYS == 1u && SLC_WRITEBACK_SYNC == 2u &&
                     SLC_NO_LOCK == 4u);
HT_ASSERT(scan_flags, SLC_SCAN_REVERSE == 1u && SLC_SCAN_STREAMING == 2u);
HT_ASSERT(version_number,
          SLC_VERSION_NUMBER == ((SLC_VERSION_MAJOR << 16) |
                                 (SLC_VERSION_MINOR << 8) | SLC_VERSION_PATCH));
HT_ASSERT(user_data, SLC_USER_DATA_SIZE == 64u);

/* Every public function, by type: a changed prototype fails to compile. */
static const struct {
    const char *(*version)(void);
    const char *(*strerror_)(int);
    const char *(*errdetail)(void);
    int (*open)(const char *, const slc_options *, slc_cache **);
    int (*read_options)(const char *, slc_options *);
    int (*close)(slc_cache *);
    int (*invalidate)(slc_cache *);
    int (*len)(slc_cache *, uint64_t *);
    int (*generation)(slc_cache *, uint64_t *);
    int (*user_header)(slc_cache *, uint64_t *, uint8_t *);
    int (*get)(slc_cache *, const void *, size_t, int64_t *, void *, size_t);
    int (*stat_get)(slc_cache *, slc_stat *);
    int (*scan)(slc_cache *, const slc_scan_opts *, slc_visit_fn, void *);
    int (*scan_prefix)(slc_cache *, const slc_prefix *, const slc_scan_opts *,
                       slc_visit_fn, void *);
    int (*scan_range)(slc_cache *, const void *, size_t, const void *, size_t,
                      const slc_scan_opts *, slc_visit_fn, void *);
    int (*begin_write)(slc_cache *, slc_writer **);
    int (*put)(slc_writer *, const void *, size_t, int64_t, const void *,
               size_t);
    int (*del)(slc_writer *, const void *, size_t, int *);
    int (*set_user_flags)(slc_writer *, uint64_t);
    int (*set_user_data)(slc_writer *, const uint8_t *);
    int (*commit)(slc_writer *);
    int (*writer_close)(slc_writer *);
    int (*verify)(slc_cache *);
    /* extensions */
    int (*get_many)(slc_cache *, const void *, size_t, size_t, int *,
                    int64_t *, void *, size_t);
    int (*scan_match)(slc_cache *, const slc_index_match *,
                      const slc_scan_opts *, slc_visit_fn, void *);
} api = {slc_version,        slc_strerror,       slc_errdetail,
         slc_open,           slc_read_options,   slc_close,
         slc_invalidate,     slc_len,            slc_generation,
         slc_user_header,    slc_get,            slc_stat_get,
         slc_scan,           slc_scan_prefix,    slc_scan_range,
         slc_begin_write,    slc_put,            slc_delete,
         slc_set_user_flags, slc_set_user_data,  slc_commit,
         slc_writer_close,   slc_verify,         slc_get_many,
         slc_scan_match};

/* The lifecycle extensions (issue 13), kept in a block of their own. */
HT_ASSERT(capacity_at_least, SLC_CAPACITY_AT_LEAST == 0x20000u);
HT_ASSERT(wait_forever, SLC_WAIT_FOREVER == 0xFFFFFFFFu);
static const struct {
    int (*count)(slc_cache *, const slc_scan_opts *, uint64_t *);
    int (*count_prefix)(slc_cache *, const slc_prefix *,
                        const slc_scan_opts *, uint64_t *);
    int (*count_range)(slc_cache *, const void *, size_t, const void *,
                       size_t, const slc_scan_opts *, uint64_t *);
    int (*count_match)(slc_cache *, const slc_index_match *,
                       const slc_scan_opts *, uint64_t *);
    int (*begin_write_timeout)(slc_cache *, uint32_t, slc_writer **);
    int (*set_replace_all)(slc_writer *);
    int (*rebuild_begin)(const char *, const slc_options *, slc_rebuild **);
    int (*rebuild_put)(slc_rebuild *, const void *, size_t, int64_t,
                       const void *, size_t);
    int (*rebuild_user_header)(slc_rebuild *, const uint64_t *,
                               const uint8_t *);
    int (*rebuild_publish)(slc_rebuild *, uint32_t);
    int (*rebuild_close)(slc_rebuild *);
    int (*reopen)(slc_cache *);
} lifecycle = {slc_count,           slc_count_prefix, slc_count_range,
               slc_count_match,     slc_begin_write_timeout,
               slc_set_replace_all, slc_rebuild_begin, slc_rebuild_put,
               slc_rebuild_user_header, slc_rebuild_publish,
               slc_rebuild_close,   slc_reopen};

int main(void)
{
    char want[32];
    sprintf(want, "%d.%d.%d", SLC_VERSION_MAJOR, SLC_VERSION_MINOR,
            SLC_VERSION_PATCH);
    if (strcmp(api.version(), want) != 0) {
        fprintf(stderr, "slc_version() %s, header %s\n", api.version(), want);
        return 1;
    }
    /* NULL handles are argument errors, never crashes. */
    if (api.close(NULL) != SLC_OK || api.writer_close(NULL) != SLC_OK ||
        api.len(NULL, NULL) != SLC_EINVAL)
        return 1;
    if (lifecycle.rebuild_close(NULL) != SLC_OK ||
        lifecycle.reopen(NULL) != SLC_EINVAL)
        return 1;
    puts("header test (C): ok");
    return 0;
}
