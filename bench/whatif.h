/* Upper-bound loops over an SLC1 mapping (see whatif.c): evidence for
 * proposed library changes, not a benchmarked system. */
#ifndef BENCH_WHATIF_H
#define BENCH_WHATIF_H

#include "common.h"
#include "slotcache.h"

uint64_t whatif_get_single(const uint8_t *map, const uint8_t *keys,
                           uint64_t count);
uint64_t whatif_get_batch(const uint8_t *map, const uint8_t *keys,
                          uint64_t count);
uint64_t whatif_scan(const uint8_t *map);
/* The same pass through the callback API shape: every live slot becomes an
 * slc_entry pointing into the mapping and goes to `filter` through a
 * function pointer; a kept slot is copied, the generation re-checked, and
 * the copy goes to `visit` (streaming consistency). */
uint64_t whatif_scan_callback(const uint8_t *map, slc_filter_fn filter,
                              slc_visit_fn visit, void *vctx);

#endif
