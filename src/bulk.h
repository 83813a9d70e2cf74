/* Filling a private, empty, unordered file fast: a rebuild's append path. */
#ifndef SLC_BULK_H
#define SLC_BULK_H

#include <stdint.h>

#include "cache.h"

typedef struct slc__bulk slc__bulk;

/* Start filling c, a file nobody else has open, with an empty index and
 * no ordered-keys flag. SLC_OK or SLC_ENOMEM. */
SLC__HIDDEN int slc__bulk_begin(slc_cache *c, slc__bulk **out);

/* One put, arguments already checked (key_size bytes of key, index_size
 * bytes of index or NULL when index_size is 0). The last put of a key
 * wins. SLC_OK, or SLC_ESYS when writing the slots failed, SLC_ENOMEM (the
 * fill is then over). More keys than slots is reported by
 * slc__bulk_finish. */
SLC__HIDDEN int slc__bulk_put(slc__bulk *b, const void *key, int64_t revision,
                              const void *index);

/* Write what is pending, build and write the bucket section (and merge
 * the keys put more than once), then the header (generation 2, as after
 * one commit; user fields when given). SLC_OK, SLC_EFULL (more distinct
 * keys than slot_capacity: nothing published, as a commit), SLC_ESYS,
 * SLC_ENOMEM. */
SLC__HIDDEN int slc__bulk_finish(slc__bulk *b, const uint64_t *user_flags,
                                 const uint8_t *user_data);

SLC__HIDDEN void slc__bulk_free(slc__bulk *b);

#endif
