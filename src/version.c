/* Library version string, derived from the header's macros. */
#include "slotcache.h"

#define SLC__STR2(x) #x
#define SLC__STR(x) SLC__STR2(x)

const char *slc_version(void)
{
    return SLC__STR(SLC_VERSION_MAJOR) "." SLC__STR(
        SLC_VERSION_MINOR) "." SLC__STR(SLC_VERSION_PATCH);
}
