/* Creating and initialising files (create.c). */
#ifndef SLC_CREATE_H
#define SLC_CREATE_H

#include <sys/types.h>

#include "cache.h"
#include "sizing.h"

/* SLC1 10.4: a temporary file in the same directory, formatted, then
 * renamed onto `path` (and, with SLC_WRITEBACK_SYNC, the directory
 * synced; a failure there unlinks the path again). On success *fd_out is
 * the new file, now at `path`; on failure no file is left behind. */
SLC__HIDDEN int slc__create_file(const char *path, const slc__layout *l,
                                 const slc_options *o, int *fd_out);

/* SLC1 10.5: initialise the empty file fd in place, keeping its mode and
 * owner. The header is written before the file is extended, so a racing
 * opener sees an empty file or a sound header in a short file. On failure
 * the file is truncated back to empty (best effort). */
SLC__HIDDEN int slc__init_in_place(int fd, const char *path,
                                   const slc__layout *l, const slc_options *o);

/* Temporaries are "<path>" SLC__TEMP_INFIX "<16 lowercase hex digits>". */
#define SLC__TEMP_INFIX ".tmp."
#define SLC__TEMP_HEX 16u

/* Create a new temporary beside path (O_EXCL, a fresh random name each of
 * up to 64 tries) with `mode`. The descriptor, or -1 with errno; *tmp_out
 * is the malloc'd name (NULL when out of memory), for the caller to free. */
SLC__HIDDEN int slc__open_temp(const char *path, mode_t mode, char **tmp_out);

/* Split path into directory (malloc'd; "." when none) and base name. */
SLC__HIDDEN int slc__split_path(const char *path, char **dir,
                                const char **base);

/* fsync a directory (EINTR resumed); a filesystem that cannot sync
 * directories (EINVAL) is SLC_OK. */
SLC__HIDDEN int slc__fsync_dir(const char *dir);

/* a followed by b in a new malloc'd string; NULL when out of memory. */
SLC__HIDDEN char *slc__concat(const char *a, const char *b);

#endif
