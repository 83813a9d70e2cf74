/* The check every consumer project runs: create, write, read and reopen a
 * cache through the installed or vendored library. */
#ifndef SLC_CONSUMER_ROUNDTRIP_H
#define SLC_CONSUMER_ROUNDTRIP_H

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when every result was as expected, else 1 (the reason on stderr).
 * Works in a fresh directory below `tmpdir` (NULL: $TMPDIR or /tmp) and
 * removes it afterwards. */
int consumer_roundtrip(const char *tmpdir);

#ifdef __cplusplus
}
#endif

#endif
