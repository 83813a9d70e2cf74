// The public header from C++ (g++/clang++, -Wall -Wextra -Wpedantic
// -Werror): extern "C" linkage, no C-only constructs. Linking it against
// the library proves the names are not mangled.
#include <slotcache.h>

#include <cstdio>
#include <cstring>

static_assert(SLC_EINVAL == -8, "status values are ABI");
static_assert(sizeof(slc_entry().revision) == 8, "revision is 64-bit");

namespace {
int count_visit(const slc_entry *, void *ctx)
{
    ++*static_cast<unsigned long *>(ctx);
    return 0;
}
} // namespace

int main()
{
    slc_options o = slc_options();
    o.key_size = 8;
    o.slot_capacity = 4;
    slc_cache *c = nullptr;
    // An empty path is refused before anything touches the filesystem.
    if (slc_open("", &o, &c) != SLC_EINVAL || c != nullptr)
        return 1;
    slc_scan_opts so = slc_scan_opts();
    so.flags = SLC_SCAN_REVERSE;
    unsigned long n = 0;
    if (slc_scan(nullptr, &so, count_visit, &n) != SLC_EINVAL)
        return 1;
    if (std::strlen(slc_strerror(SLC_ECORRUPT)) == 0)
        return 1;
    std::printf("header test (C++): ok, library %s\n", slc_version());
    return 0;
}
