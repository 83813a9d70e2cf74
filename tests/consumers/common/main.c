/* Consumer test driver: exits 0 only when the round trip checked out. */
#include <stdio.h>

#include "roundtrip.h"

int main(int argc, char **argv)
{
    int rc = consumer_roundtrip(argc > 1 ? argv[1] : NULL);
    puts(rc == 0 ? "consumer roundtrip: ok" : "consumer roundtrip: FAILED");
    return rc;
}
