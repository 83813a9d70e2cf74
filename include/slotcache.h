/*
 * slotcache.h - libslotcache, an embeddable reader/writer for SLC1 cache files.
 *
 * An SLC1 file is a throwaway cache of fixed-size records (key, 64-bit
 * revision, opaque index bytes) in one regular file, mapped MAP_SHARED.
 * Any number of threads and processes read it without locks through a
 * seqlock; one writer at a time (per file, across processes) publishes
 * whole sessions atomically. The on-disk format is described in
 * docs/format.md, the contract of every call in docs/api.md, guarantees
 * and crash behaviour in docs/semantics.md, compatibility rules in
 * docs/abi.md.
 *
 * Conventions
 *   - Every call that can fail returns SLC_OK (0) or a negative SLC_E* code.
 *     slc_get returns SLC_NOTFOUND (positive, not an error) on a miss.
 *   - Branch on the code, never on slc_errdetail() text.
 *   - On SLC_ESYS, errno holds the cause of the failing OS call.
 *   - A NULL required pointer, or a length other than the file dictates,
 *     is SLC_EINVAL.
 *   - The library keeps no pointer passed in after a call returns, and
 *     returns copies, except the slc_entry pointers given to callbacks
 *     (valid during the callback only).
 *
 * Caveats
 *   - Local filesystems only. NFS, SMB, FUSE and sync folders are undefined.
 *   - Never truncate or rewrite a cache file that is open somewhere: the
 *     library maps it and a shrunk file raises SIGBUS in every reader.
 *   - A cache handle may be used from many threads at once, except that
 *     slc_close must not race with other calls on the same handle.
 *   - A writer handle belongs to one thread at a time.
 *   - fork: a child may keep reading through inherited cache handles; a
 *     writer handle is never inherited as a writer (its calls return
 *     SLC_ECLOSED in the child).
 *   - Without SLC_NO_LOCK a "<path>.lock" file is created next to the cache
 *     and never removed; removing it while in use breaks writer exclusion.
 */
#ifndef SLOTCACHE_H
#define SLOTCACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported functions (default visibility; the library itself is
 * built with hidden visibility). Defining SLC_STATIC_DEFINE before
 * including this header makes it expand to nothing. */
#if defined(SLC_STATIC_DEFINE) || !defined(__GNUC__)
#define SLC_API
#else
#define SLC_API __attribute__((visibility("default")))
#endif

/* ---- Version ------------------------------------------------------------ */

/* Version of this header. A major version change means an incompatible
 * ABI (docs/abi.md); the shared library's SONAME is libslotcache.so.MAJOR. */
#define SLC_VERSION_MAJOR 0
#define SLC_VERSION_MINOR 1
#define SLC_VERSION_PATCH 0
/* One number for compile-time comparisons: 0x00MMmmpp. */
#define SLC_VERSION_NUMBER                                                     \
    ((SLC_VERSION_MAJOR << 16) | (SLC_VERSION_MINOR << 8) | SLC_VERSION_PATCH)

/* The version of the library linked at run time, "MAJOR.MINOR.PATCH" (a
 * static string): compare with the SLC_VERSION_* macros to detect a header
 * and library mismatch. */
SLC_API const char *slc_version(void);

/* ---- Status codes (values are ABI: never renumbered) -------------------- */

#define SLC_OK 0             /* success */
#define SLC_NOTFOUND 1       /* slc_get: no live entry for the key */
#define SLC_ECORRUPT (-1)    /* file structurally broken, crashed writer */
#define SLC_EINCOMPATIBLE (-2) /* not SLC1 v1, configuration mismatch, host */
#define SLC_EINVALIDATED (-3) /* the cache was invalidated: reopen/rebuild */
#define SLC_EBUSY (-4)       /* writer active, lock held, no stable read */
#define SLC_EFULL (-5)       /* slot capacity exhausted (commit) */
#define SLC_ECLOSED (-6)     /* writer session already ended */
#define SLC_EWRITEBACK (-7)  /* msync failed; the commit was still published */
#define SLC_EINVAL (-8)      /* bad argument, impossible layout, limit */
#define SLC_EUNORDERED (-9)  /* ordered-only call on an unordered file */
#define SLC_EOUTOFORDER (-10) /* ordered mode: insert below the tail key */
#define SLC_ENOMEM (-11)     /* allocation failed */
#define SLC_ESYS (-12)       /* OS call failed; errno holds the cause */

/* Short description of a status code: a static string, never NULL
 * ("unknown status code" for other values). */
SLC_API const char *slc_strerror(int code);

/* Detail of the last failed call in the calling thread, naming the check
 * that failed and the values involved ("" when no call has failed yet;
 * successful calls do not clear it). The string is thread-local library
 * storage, overwritten by the thread's next failing call. For humans and
 * logs only: branch on the status code. */
SLC_API const char *slc_errdetail(void);

/* ---- Limits (SLC1 section 14) ------------------------------------------- */
/* Exceeding one, in an argument or in a file being opened, is SLC_EINVAL.
 * SLC_MAX_SESSION_OPS counts slc_put and slc_delete calls per session. */

#define SLC_MAX_KEY_SIZE 512u
#define SLC_MAX_INDEX_SIZE (1u << 20)
#define SLC_MAX_SLOT_SIZE (2u << 20)
#define SLC_MAX_SLOT_CAPACITY 100000000u
#define SLC_MAX_FILE_SIZE ((uint64_t)1 << 40)
#define SLC_MAX_SCAN_OFFSET 100000000u
#define SLC_MAX_SCAN_LIMIT 100000000u
#define SLC_MAX_SESSION_OPS 1000000u
#define SLC_MAX_MATCH_LEN 64u /* slc_index_match.len */
#define SLC_USER_DATA_SIZE 64u

/* ---- Handles ------------------------------------------------------------ */

typedef struct slc_cache slc_cache;   /* read access to one mapped file */
typedef struct slc_writer slc_writer; /* one write session */

/* ---- Options and open --------------------------------------------------- */

#define SLC_ORDERED_KEYS (1u << 0)   /* create/expect ordered-keys mode */
#define SLC_WRITEBACK_SYNC (1u << 1) /* msync barriers in commit/invalidate */
#define SLC_NO_LOCK (1u << 2)        /* no lock file: caller serialises */
/* Extension: open an existing file for reading only (O_RDONLY, PROT_READ):
 * never creates or initialises a file, never creates the lock file, and
 * slc_begin_write / slc_invalidate on the handle are SLC_EINVAL. For
 * readers without write permission and for inspection tools. Extension
 * flags live from bit 16 up, so every bit of the low range that the
 * contract does not name stays an unknown flag (SLC_EINVAL). */
#define SLC_READ_ONLY (1u << 16)
/* Extension: slot_capacity is a minimum, not an exact match. It applies
 * when the file is created (or an empty file initialised); an existing
 * file whose capacity is at least slot_capacity is accepted, one with less
 * is SLC_EINCOMPATIBLE (rebuild it larger). For applications that compute
 * the capacity from their data on every run and want to keep the cache. */
#define SLC_CAPACITY_AT_LEAST (1u << 17)

/* Open options. Zero-initialise and set the fields. user_version is the
 * caller's schema version: bump it when the meaning of the index bytes
 * changes, so old files are refused (SLC_EINCOMPATIBLE) and rebuilt. */

typedef struct slc_options {
    uint32_t key_size;      /* 1..512 */
    uint32_t index_size;    /* 0..1 MiB */
    uint64_t user_version;  /* must equal the file's */
    uint64_t slot_capacity; /* >= 1 to create; 0 = accept an existing file's;
                               a minimum with SLC_CAPACITY_AT_LEAST */
    uint32_t flags;         /* SLC_ORDERED_KEYS | SLC_WRITEBACK_SYNC |
                               SLC_NO_LOCK | SLC_READ_ONLY |
                               SLC_CAPACITY_AT_LEAST; other bits ->
                               SLC_EINVAL */
} slc_options;

/* Open the cache at `path`, creating it when missing (needs slot_capacity
 * >= 1) or initialising it in place when it is an empty file (mode and owner
 * kept). An existing file is validated (header, CRC, configuration against
 * `opts`) but its slots and buckets are not read.
 * Errors: SLC_EINVAL (arguments, options, limits), SLC_EINCOMPATIBLE (not
 * SLC1 v1, configuration differs, unsupported host), SLC_ECORRUPT (broken
 * header, crashed writer), SLC_EINVALIDATED, SLC_EBUSY (creation or an odd
 * generation while another process or handle holds the lock), SLC_ENOMEM,
 * SLC_ESYS (errno kept). A file that fails validation is never modified.
 * Unless SLC_NO_LOCK or SLC_READ_ONLY, "<path>.lock" is created (never
 * removed). The file is opened read-write (read-only with SLC_READ_ONLY).
 * *out is NULL on failure. Any thread. */
SLC_API int slc_open(const char *path, const slc_options *opts,
                     slc_cache **out);

/* Read an existing file's configuration (sizes, user_version, capacity,
 * ordered flag) into `opts` without opening it for use: for tools that open
 * files they did not create. flags is SLC_ORDERED_KEYS or 0. Applies the
 * same header checks as slc_open except the comparison with options and
 * the bucket sample; never creates or changes any file (not even the lock
 * file; it needs only read permission). An empty (0-byte)
 * file has no configuration: SLC_EINVAL; a missing one is SLC_ESYS
 * (ENOENT). `opts` is written only on success. */
SLC_API int slc_read_options(const char *path, slc_options *opts);

/* Unmap and free the handle. SLC_EBUSY (nothing freed) while a writer
 * obtained from it has not been freed with slc_writer_close.
 * slc_close(NULL) is SLC_OK. Works on invalidated caches. Must not run
 * concurrently with any other call on the same handle. */
SLC_API int slc_close(slc_cache *c);

/* Mark the file invalidated (terminal): every handle in every process gets
 * SLC_EINVALIDATED on its next read, and slc_open refuses the file, so
 * long-lived readers learn to reopen the path after it was rebuilt.
 * Call it on the old file before deleting and recreating it. Idempotent
 * (an invalidated file is not written again). SLC_EBUSY while a writer is
 * active in this process or holds the lock; SLC_EWRITEBACK when an msync
 * failed in SLC_WRITEBACK_SYNC mode (the state is still published);
 * SLC_EINVAL, SLC_ENOMEM, SLC_ESYS. Afterwards only slc_close is useful. */
SLC_API int slc_invalidate(slc_cache *c);

/* ---- Reads: thread-safe, lock-free, no allocation ----------------------- */
/* Every read may also return SLC_EBUSY (no stable generation within about
 * 5.5 ms of backoff), SLC_ECORRUPT, SLC_EINVALIDATED and SLC_EINCOMPATIBLE
 * (unknown state), and SLC_EINVAL for a NULL handle or output. A read
 * during this process's own write session sees the last published state. */

/* Number of live entries (deleted slots excluded). */
SLC_API int slc_len(slc_cache *c, uint64_t *live_count);

/* The current stable (even) generation. It advances by 2 with every
 * successful commit (empty ones included) and moves on invalidation, never
 * otherwise: compare it later to learn cheaply whether anything was
 * published. */
SLC_API int slc_generation(slc_cache *c, uint64_t *generation);

/* Copy user_flags and the 64 user_data bytes from one snapshot. Either
 * output may be NULL. */
SLC_API int slc_user_header(slc_cache *c, uint64_t *user_flags,
                            uint8_t user_data[64]);

/* Look up `key` (key_len must equal key_size). SLC_OK and copies of the
 * revision and index bytes on a hit, SLC_NOTFOUND on a miss. revision and
 * index may be NULL; a non-NULL index needs index_len == index_size (with
 * index_size 0, index is ignored when index_len is 0); with a NULL index,
 * index_len must be 0 or index_size. Unless SLC_OK is returned, *revision
 * and index hold unspecified bytes. */
SLC_API int slc_get(slc_cache *c, const void *key, size_t key_len,
                    int64_t *revision, void *index, size_t index_len);

/* Look up n keys in one call (libslotcache extension). `keys` holds n keys
 * of key_len (= key_size) bytes back to back. results[i] gets SLC_OK or
 * SLC_NOTFOUND for key i; on SLC_OK revisions[i] and the index_len bytes at
 * index + i * index_len get its revision and index bytes (revisions and
 * index may be NULL; a non-NULL index needs index_len == index_size).
 * Keys are resolved in groups of 16 whose memory accesses overlap, which is
 * several times faster than n slc_get calls on a cache larger than the CPU
 * caches. Each group is read under one stable generation; different groups
 * may see different generations. Returns SLC_OK when every key was looked
 * up; any other status (as slc_get) leaves the outputs unspecified. */
SLC_API int slc_get_many(slc_cache *c, const void *keys, size_t n,
                         size_t key_len, int *results, int64_t *revisions,
                         void *index, size_t index_len);

typedef struct slc_stat { /* one consistent snapshot of the header */
    uint32_t key_size, index_size, slot_size, flags;
    uint64_t slot_capacity, slot_highwater, live_count, user_version;
    uint64_t generation, bucket_count, bucket_used, bucket_tombstones;
    uint64_t file_size; /* logical size: 256 + capacity*slot_size + 16*buckets */
} slc_stat;

/* Copy the header counters and configuration from one snapshot (flags as
 * in the file: bit 0 = ordered keys). */
SLC_API int slc_stat_get(slc_cache *c, slc_stat *out);

/* ---- Scans -------------------------------------------------------------- */

typedef struct slc_entry {
    const uint8_t *key;   /* key_size bytes */
    int64_t revision;
    const uint8_t *index; /* index_size bytes; NULL when index_size == 0 */
    uint64_t slot_id;
} slc_entry;

/* filter: nonzero keeps the entry. Its pointers are borrowed from the
 * mapping, valid only during the call, and may be torn (mixed from two
 * commits, even changing while it runs) when a writer publishes meanwhile;
 * the library then discards the result and retries, so a filter may run more
 * than once per slot and must not keep the pointers or have side effects
 * that matter. (A library built with ThreadSanitizer passes a private copy
 * instead, so in-process writers and filters never race under TSan.)
 * visit: called for each delivered entry, whose pointers are valid only
 * during the call. A nonzero return stops the scan and is returned by the
 * slc_scan* call unchanged. */
typedef int (*slc_filter_fn)(const slc_entry *e, void *ctx);
typedef int (*slc_visit_fn)(const slc_entry *e, void *ctx);

#define SLC_SCAN_REVERSE (1u << 0)   /* descending slot id (key order in
                                        range scans) */
#define SLC_SCAN_STREAMING (1u << 1) /* streaming consistency, see below */

typedef struct slc_scan_opts {
    slc_filter_fn filter; /* NULL: every live entry matches */
    void *filter_ctx;
    uint32_t flags;  /* SLC_SCAN_*; other bits -> SLC_EINVAL */
    uint64_t offset; /* matches skipped before delivery (<= 100,000,000) */
    uint64_t limit;  /* deliveries at most; 0 = no limit (<= 100,000,000) */
} slc_scan_opts;     /* a NULL opts pointer means all defaults */

/* Visit live entries in slot-id order (reverse with SLC_SCAN_REVERSE).
 * Entries the filter rejects count toward neither offset nor limit.
 *
 * Consistency. By default a scan is a snapshot: every result is copied
 * under one stable generation before the first visit; if a writer keeps
 * publishing through all retries the call returns SLC_EBUSY and visits
 * nothing. Memory grows with the number of results kept (offset + limit
 * bounds it), never with the file size.
 * With SLC_SCAN_STREAMING nothing is gathered: each entry is copied, the
 * generation is checked unchanged, and only then visited; when a commit
 * lands midway the scan stops with SLC_EBUSY after visiting only entries of
 * the first generation. O(1) memory, but possibly a partial result.
 * Returns SLC_OK, the non-zero value a visit returned, or an error; extra
 * errors SLC_EINVAL (NULL visit, unknown flag, offset or limit above the
 * limit; checked after the invalidated state) and SLC_ENOMEM. Callbacks
 * must not close the handle. */
SLC_API int slc_scan(slc_cache *c, const slc_scan_opts *o, slc_visit_fn visit,
                     void *ctx);

typedef struct slc_prefix {
    uint32_t offset;   /* byte offset into the key */
    uint32_t bits;     /* 0 = len * 8 (byte-aligned) */
    const void *bytes; /* pattern, MSB first from bit 7 of key[offset] */
    size_t len;        /* bits == 0: 1..key_size-offset; else ceil(bits/8) */
} slc_prefix;

/* Visit live entries whose key matches the bit prefix `p` (see slc_prefix),
 * with the options and consistency of slc_scan. With bits > 0, the first
 * bits/8 pattern bytes compare fully and the top bits%8 bits of the next;
 * bits past `bits` are ignored. In ordered-keys files with offset 0 the
 * matching slots are found by binary search. SLC_EINVAL for a NULL p or
 * pattern, bits 0 with len 0, offset >= key_size, a pattern reaching past
 * the key, or len != ceil(bits/8) when bits > 0. */
SLC_API int slc_scan_prefix(slc_cache *c, const slc_prefix *p,
                            const slc_scan_opts *o, slc_visit_fn visit,
                            void *ctx);

/* Ordered-keys files only (else SLC_EUNORDERED). Visit live entries with
 * start <= key < end in key order (descending with SLC_SCAN_REVERSE). A NULL
 * bound is unbounded; a bound has 1..key_size bytes and is zero-padded on
 * the right; start > end is SLC_EINVAL, start == end an empty result.
 * Binary search: O(log n + k). Errors in order: the read errors,
 * SLC_EUNORDERED, SLC_EINVAL, SLC_ENOMEM. */
SLC_API int slc_scan_range(slc_cache *c, const void *start, size_t start_len,
                           const void *end, size_t end_len,
                           const slc_scan_opts *o, slc_visit_fn visit,
                           void *ctx);

/* Built-in predicate on index bytes (libslotcache extension): an entry
 * matches when, for every i < len,
 *     (index[offset + i] & mask[i]) == (value[i] & mask[i])
 * with mask all ones when `mask` is NULL. */
typedef struct slc_index_match {
    uint32_t offset;   /* first index byte tested */
    uint32_t len;      /* 1..SLC_MAX_MATCH_LEN; offset + len <= index_size */
    const void *value; /* len bytes */
    const void *mask;  /* len bytes, or NULL */
} slc_index_match;

/* slc_scan restricted to entries whose index bytes match `m`. The test runs
 * on the mapping with word loads before anything is copied or the filter
 * (if any, in `o`) is called, so a selective filter on index bytes needs no
 * callback and scans near memory bandwidth. Options, consistency and
 * errors are those of slc_scan; an invalid `m` is SLC_EINVAL. */
SLC_API int slc_scan_match(slc_cache *c, const slc_index_match *m,
                           const slc_scan_opts *o, slc_visit_fn visit,
                           void *ctx);

/* ---- Counting (libslotcache extension) ---------------------------------- */
/* Each count is the number of entries the matching slc_scan* call with the
 * same arguments would deliver (filter, offset and limit included), taken
 * under one stable generation, without copying or visiting any entry. O(1)
 * memory. SLC_SCAN_REVERSE has no effect and SLC_SCAN_STREAMING is ignored
 * (a count is always of one generation). *count is 0 unless SLC_OK.
 * Errors: those of the scan call; a NULL count is SLC_EINVAL. */

/* Count the live entries slc_scan would deliver. */
SLC_API int slc_count(slc_cache *c, const slc_scan_opts *o, uint64_t *count);
/* Count the live entries slc_scan_prefix would deliver. */
SLC_API int slc_count_prefix(slc_cache *c, const slc_prefix *p,
                             const slc_scan_opts *o, uint64_t *count);
/* Count the live entries slc_scan_range would deliver (ordered files). */
SLC_API int slc_count_range(slc_cache *c, const void *start, size_t start_len,
                            const void *end, size_t end_len,
                            const slc_scan_opts *o, uint64_t *count);
/* Count the live entries slc_scan_match would deliver. */
SLC_API int slc_count_match(slc_cache *c, const slc_index_match *m,
                            const slc_scan_opts *o, uint64_t *count);

/* ---- Writer sessions ---------------------------------------------------- */

/* Start a write session: takes the process registry mark and (unless
 * SLC_NO_LOCK) the lock file, never blocking. SLC_EBUSY if any writer is
 * active on the file in this process or, with locking, in any process.
 * SLC_ECORRUPT when the file shows a crashed writer (odd generation) or a
 * broken header; also SLC_EINVALIDATED, SLC_EINCOMPATIBLE, SLC_EINVAL,
 * SLC_ENOMEM, SLC_ESYS. Safe from any thread on any handle: exactly one
 * concurrent caller wins. Free the writer with slc_writer_close. */
SLC_API int slc_begin_write(slc_cache *c, slc_writer **out);

/* slc_begin_write_timeout: wait no longer than this many milliseconds;
 * SLC_WAIT_FOREVER waits without a limit. */
#define SLC_WAIT_FOREVER 0xFFFFFFFFu

/* slc_begin_write that waits (libslotcache extension): while the answer is
 * SLC_EBUSY (another writer in this or another process), sleep and try
 * again - 1 ms first, doubling up to 50 ms, no busy polling - until the
 * session starts or timeout_ms have passed (then SLC_EBUSY, with the last
 * holder's detail). timeout_ms 0 tries once. Other errors return at once.
 * Do not call it while this thread holds a writer of the same file: it
 * would wait for itself until the timeout. */
SLC_API int slc_begin_write_timeout(slc_cache *c, uint32_t timeout_ms,
                                    slc_writer **out);

/* Stage an upsert (insert if the key is not live at commit, else update
 * in place); the last staged operation per key wins and the bytes are
 * copied. key_len must be key_size and index_len index_size (with
 * index_size 0, index may be NULL). Nothing is visible before commit.
 * SLC_EINVAL (also once the session made SLC_MAX_SESSION_OPS put/delete
 * calls), SLC_ECLOSED, SLC_ENOMEM; a failed call stages nothing. */
SLC_API int slc_put(slc_writer *w, const void *key, size_t key_len,
                    int64_t revision, const void *index, size_t index_len);

/* Stage a delete. *existed (may be NULL) tells whether the key is live in
 * the writer's view: the file at session start overlaid with what this
 * session staged so far. Deleting an absent key is not an error. Errors as
 * slc_put, plus SLC_ECORRUPT (the file lookup met a broken index). */
SLC_API int slc_delete(slc_writer *w, const void *key, size_t key_len,
                       int *existed);

/* Stage new user_flags / user_data, published atomically with the commit.
 * Each marks only its own field; a field not set keeps its file value.
 * SLC_EINVAL, SLC_ECLOSED, SLC_EINVALIDATED. */
SLC_API int slc_set_user_flags(slc_writer *w, uint64_t user_flags);
SLC_API int slc_set_user_data(slc_writer *w, const uint8_t user_data[64]);

/* Make the session replace-all (libslotcache extension): at commit, every
 * key live in the file whose last staged operation in this session is not
 * a put is deleted, in the same atomic publication as the rest - the
 * refresh of a cache whose source is walked in full ("keep what I put,
 * drop the rest"). Callable any time before commit. The deletes do not
 * count toward SLC_MAX_SESSION_OPS and free no slots for the commit's
 * inserts (slots are never reused), so SLC_EFULL and every other commit
 * rule are those of any session. SLC_EINVAL, SLC_ECLOSED. */
SLC_API int slc_set_replace_all(slc_writer *w);

/* Publish everything staged as one new generation (even when nothing was
 * staged). Ends the session whatever the result: afterwards only
 * slc_writer_close is allowed (others return SLC_ECLOSED).
 * Errors before anything changes (nothing published): SLC_EFULL,
 * SLC_EOUTOFORDER (ordered file: a new key below the last allocated slot's
 * key), SLC_ECORRUPT, SLC_ENOMEM; SLC_ECLOSED, SLC_EINVAL.
 * SLC_EWRITEBACK: published, but an msync failed (errno holds why). */
SLC_API int slc_commit(slc_writer *w);

/* Discard what was not committed, release the lock, free. NULL is fine;
 * always SLC_OK. In a child that inherited the writer across fork it frees
 * the child's copy and leaves the parent's lock alone. */
SLC_API int slc_writer_close(slc_writer *w);

/* ---- Rebuild and replace (libslotcache extension) ----------------------- */
/* Build a replacement of the cache at a path beside it, then publish it in
 * one step while readers run: slc_open of the path gets the old file or the
 * complete new one, never a missing, empty or half-filled one. Typical
 * uses: grow a full cache (SLC_EFULL), replace a corrupt or incompatible
 * one, change options (capacity, sizes, user_version). Details, crash
 * behaviour and the reader loop: docs/api.md "Rebuild and replace". */

typedef struct slc_rebuild slc_rebuild;

/* Start a rebuild of `path` with `opts` (slot_capacity >= 1; any sizes,
 * user_version and flags but SLC_READ_ONLY): removes temporaries left by
 * crashed rebuilds of the path, creates "<path>.tmp.<16 hex>" in the same
 * directory (mode and owner of the current file) and opens a writer
 * session on it. The path's file is not touched and may not even exist.
 * Errors: SLC_EINVAL, SLC_ENOMEM, SLC_ESYS, and those of slc_open. One
 * thread at a time per rebuild; rebuilds of one path may run at once (the
 * last to publish wins). */
SLC_API int slc_rebuild_begin(const char *path, const slc_options *opts,
                              slc_rebuild **out);

/* Stage an entry of the new file, as slc_put (last put per key wins).
 * Sessions are committed and restarted as the per-session limit requires,
 * so a rebuild holds any number of entries up to the capacity; in
 * ordered-keys files put keys in ascending order. SLC_EINVAL (arguments;
 * the rebuild stays usable); SLC_EFULL, SLC_EOUTOFORDER, SLC_ENOMEM and
 * others end the rebuild (later calls: SLC_ECLOSED). */
SLC_API int slc_rebuild_put(slc_rebuild *r, const void *key, size_t key_len,
                            int64_t revision, const void *index,
                            size_t index_len);

/* Set the new file's user_flags and/or user_data (either may be NULL to
 * leave it zero / as last set), published with it. SLC_EINVAL,
 * SLC_ECLOSED. */
SLC_API int slc_rebuild_user_header(slc_rebuild *r, const uint64_t *user_flags,
                                    const uint8_t *user_data);

/* Publish: commit the last session; fsync the new file and the directory;
 * take "<path>.lock" (waiting up to timeout_ms for an ordinary session to
 * end, SLC_WAIT_FOREVER without limit; SLC_EBUSY on timeout, after which
 * publish may be called again); rename the new file over the path; fsync
 * the directory; mark the replaced file invalidated so readers that map it
 * get SLC_EINVALIDATED and reopen. SLC_OK, or SLC_EWRITEBACK when the
 * final directory sync failed (published all the same); other errors
 * publish nothing and end the rebuild (SLC_EFULL, SLC_EOUTOFORDER from the
 * last session, SLC_ESYS, ...). Then only slc_rebuild_close is useful. */
SLC_API int slc_rebuild_publish(slc_rebuild *r, uint32_t timeout_ms);

/* Free the rebuild; one that was not published is abandoned and its
 * temporary removed. NULL is fine; always SLC_OK. */
SLC_API int slc_rebuild_close(slc_rebuild *r);

/* Follow the path: open the file now at the handle's path with the
 * handle's options (key and index size, user_version, flags; any capacity)
 * and, when it is another file, switch the handle to it and unmap the old
 * one. Call it after SLC_EINVALIDATED (a rebuild replaced the file); a
 * path that is replaced again while it is opened is followed again.
 * SLC_OK leaves the handle on the path's current file (unchanged when it
 * already was); on an error the handle is unchanged. Errors: those of
 * slc_open, SLC_EBUSY while a writer of the handle is not freed. Like
 * slc_close, it must not run concurrently with any other call on the same
 * handle: threads sharing a handle must agree on who reopens (for example
 * a read-write lock that readers take shared and the reopening thread
 * exclusive; a second thread that reopens finds the file current and gets
 * SLC_OK). Slot ids, generations and capacity may change. */
SLC_API int slc_reopen(slc_cache *c);

/* ---- Integrity check ---------------------------------------------------- */

/* Full structural check under one stable generation: every allocated slot
 * and every bucket against the header counters, hashes, probe chains,
 * reserved bits, padding and (ordered mode) key order. SLC_OK or
 * SLC_ECORRUPT with detail (also SLC_ENOMEM and the read errors). Reads
 * the whole file, O(file size), and allocates one bit per allocated slot. */
SLC_API int slc_verify(slc_cache *c);

#ifdef __cplusplus
}
#endif

#endif /* SLOTCACHE_H */
