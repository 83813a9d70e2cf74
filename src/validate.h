/* Header validation groups of SLC1 10.7, shared by slc_open,
 * slc_read_options and slc_begin_write. Each returns SLC_OK or the group's
 * status code with a detail naming the failed check and its values. */
#ifndef SLC_VALIDATE_H
#define SLC_VALIDATE_H

#include <stdint.h>

#include "format.h"
#include "slotcache.h"

/* B without state: immutable identification fields, on any copy. */
SLC__HIDDEN int slc__validate_ident(const slc__header *h);

/* On the stable copy: state in {0,1} (B), CRC (C), state 1 (D). */
SLC__HIDDEN int slc__validate_stable(const uint8_t raw[SLC__HEADER_SIZE],
                                     const slc__header *h);

/* C alone: the stored header_crc32c against the image `raw`. */
SLC__HIDDEN int slc__validate_crc(const uint8_t raw[SLC__HEADER_SIZE],
                                  const slc__header *h);

/* SLC_ECORRUPT for slot `id` whose meta word has reserved bits set. */
SLC__HIDDEN int slc__bad_meta(uint64_t id, uint64_t meta);

/* E: the file's configuration against the caller's options. */
SLC__HIDDEN int slc__validate_config(const slc__header *h,
                                     const slc_options *o);

/* For callers without options (slc_read_options), after group F: a sound
 * file whose key_size (1..512) or index_size is beyond the limits of SLC1
 * 14 is SLC_EINVAL. */
SLC__HIDDEN int slc__validate_size_limits(const slc__header *h);

/* F: offsets, length, counters and limits. opt_capacity 0 means the file's
 * capacity is accepted (and then bounded by the limit). On success
 * *required_len is the logical file size to map. */
SLC__HIDDEN int slc__validate_structure(const slc__header *h,
                                        uint64_t file_len,
                                        uint64_t opt_capacity,
                                        uint64_t *required_len);

/* 3.10 invariants over live counters (used by readers and the writer). */
SLC__HIDDEN int slc__validate_counters(uint64_t capacity, uint64_t buckets,
                                       uint64_t highwater, uint64_t live,
                                       uint64_t used, uint64_t tombstones);

#endif
