/* Disk space for a commit, claimed before its generation goes odd. */
#ifndef SLC_SPACE_H
#define SLC_SPACE_H

#include <stdint.h>

#include "cache.h"

/* The pages one commit will write that may still be holes, as a list of
 * page indices of the file. Built during planning, claimed before the odd
 * window. */
typedef struct slc__claim {
    uint64_t *pages;
    size_t n, cap;
    int failed_alloc; /* a page could not be noted: SLC_ENOMEM at commit */
} slc__claim;

/* Note that bytes [off, off+len) of the file will be written by this
 * commit. Pages this handle already knows to be allocated are skipped. */
SLC__HIDDEN void slc__claim_bytes(slc_cache *c, slc__claim *cl, uint64_t off,
                                  uint64_t len);

/* The same for bytes known to lie in a hole (not looked at). */
SLC__HIDDEN void slc__claim_new(slc_cache *c, slc__claim *cl, uint64_t off,
                                uint64_t len);

/* Allocate every noted page: fallocate, or where the filesystem has no
 * fallocate, write the pages' current bytes back with pwrite. SLC_OK, or
 * SLC_ESYS (ENOSPC, EDQUOT, EFBIG past RLIMIT_FSIZE, ...) with nothing of
 * the file changed. Frees the list either way. */
SLC__HIDDEN int slc__claim_commit(slc_cache *c, slc__claim *cl);

/* Drop a list that will not be claimed (a failed plan). */
SLC__HIDDEN void slc__claim_drop(slc_cache *c, slc__claim *cl);

/* pwrite all n bytes at off (EINTR resumed). 0, or -1 with errno (ENOSPC
 * when the kernel wrote nothing). The caller keeps off + n within
 * slc__write_limit(): past it the kernel raises SIGXFSZ. */
SLC__HIDDEN int slc__pwrite_all(int fd, const void *p, size_t n,
                                uint64_t off);

/* The largest file offset a write(2) of this process may reach before the
 * kernel raises SIGXFSZ (RLIMIT_FSIZE), capped at UINT64_MAX. */
SLC__HIDDEN uint64_t slc__write_limit(void);

/* For a file being created: on tmpfs, where even reading a hole allocates
 * a page (and a full tmpfs answers with SIGBUS), allocate the bucket
 * section now, which every lookup reads. Elsewhere nothing. */
SLC__HIDDEN int slc__space_new_file(int fd, uint64_t buckets_offset,
                                    uint64_t buckets_len, const char *path);

/* Once per handle, before its first write session reads the index: on
 * tmpfs, make sure the bucket section has no hole left (a file made by
 * another program). SLC_OK or SLC_ESYS (ENOSPC). */
SLC__HIDDEN int slc__space_prepare(slc_cache *c);

/* SEEK_DATA / SEEK_HOLE: the first offset >= off that holds data (or
 * UINT64_MAX when only hole follows), and the first that is a hole (or
 * UINT64_MAX). Where the system cannot say, everything is data. Bytes in
 * a hole read as zero without reading them. */
SLC__HIDDEN uint64_t slc__data_from(const slc_cache *c, uint64_t off);
SLC__HIDDEN uint64_t slc__hole_from(const slc_cache *c, uint64_t off);

/* Zeroed memory for a private copy of a bucket section: anonymous pages,
 * huge where the kernel allows (a section is written at random: 4 KiB
 * pages would cost a fault and a TLB miss for nearly every bucket).
 * NULL on failure. */
SLC__HIDDEN void *slc__section_alloc(size_t bytes);
SLC__HIDDEN void slc__section_free(void *p, size_t bytes);

/* Free the per-handle bookkeeping (slc_close). */
SLC__HIDDEN void slc__space_free(slc_cache *c);

#endif
