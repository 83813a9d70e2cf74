/* Upper-bound loops over an SLC1 mapping (see whatif.c): evidence for
 * proposed library changes, not a benchmarked system. */
#ifndef BENCH_WHATIF_H
#define BENCH_WHATIF_H

#include "common.h"

uint64_t whatif_get_single(const uint8_t *map, const uint8_t *keys,
                           uint64_t count);
uint64_t whatif_get_batch(const uint8_t *map, const uint8_t *keys,
                          uint64_t count);
uint64_t whatif_scan(const uint8_t *map);

#endif
