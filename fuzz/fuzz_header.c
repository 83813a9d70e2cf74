/* fuzz_header: the header codec, CRC-32C, sizing and the validation order.
 *
 *   - codec: encode(decode(b)) == b for any 256 bytes, decode(encode(h)) == h;
 *   - CRC: slc__header_crc equals a bitwise CRC-32C written from SLC1 3.8,
 *     ignores the generation and crc bytes and sees every other byte; the
 *     hardware and portable CRC paths agree on any data and alignment;
 *   - sizing: slot size, bucket count and create layout against plain
 *     integer arithmetic;
 *   - classification: the header (with optional repairs chosen by the
 *     input: CRC, even generation, consistent layout) is written to a file
 *     of a chosen length, and slc_open / slc_read_options must return what
 *     a reference classifier written from SLC1 10.7 says, group by group,
 *     in order (A, B, odd generation, C, D, E, F, G). A file that fails is
 *     never modified; a file that opens reports its header fields.
 *
 * Input: 4 control bytes, then the file's first bytes (header, maybe some
 * slot/bucket bytes). Files may be sparse up to FH_MAX_SPARSE (8 GiB) so
 * the capacity limit of SLC1 14 is reachable (the 1 TiB one is not); open
 * reads only the header and one bucket page of them. */
#include "common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "sizing.h"
#include "validate.h"

#define FH_MAX_SPARSE (UINT64_C(8) << 30)
#define FH_SAMPLE_BUCKETS 32 /* open.c's group G sample: buckets 0..31 */

/* ---- The file as the classifier sees it --------------------------------- */

typedef struct fh_file {
    const uint8_t *img; /* bytes written at offset 0 */
    size_t img_len;
    uint64_t len; /* file length after sizing */
} fh_file;

static uint64_t fh_le64_at(const fh_file *f, uint64_t off)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        uint64_t p = off + (uint64_t)i;
        b[i] = p < f->img_len && p < f->len ? f->img[p] : 0;
    }
    return fz_le64(b);
}

static int fh_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* a * b + c without overflow: 1 and *out, or 0. */
static int fh_muladd(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    uint64_t m;
    return !__builtin_mul_overflow(a, b, &m) &&
           !__builtin_add_overflow(m, c, out);
}

/* Option checks of slc_open (SLC1 10.1, 14): SLC_OK or SLC_EINVAL. */
static int fh_ref_options(const slc_options *o)
{
    if (o->flags & ~(uint32_t)(SLC_ORDERED_KEYS | SLC_WRITEBACK_SYNC |
                               SLC_NO_LOCK | SLC_READ_ONLY |
                               SLC_CAPACITY_AT_LEAST))
        return SLC_EINVAL;
    if (o->key_size < 1 || o->key_size > SLC_MAX_KEY_SIZE ||
        o->index_size > SLC_MAX_INDEX_SIZE)
        return SLC_EINVAL;
    uint64_t ss = fz_slot_size(o->key_size, o->index_size);
    if (ss > SLC_MAX_SLOT_SIZE || o->slot_capacity > SLC_MAX_SLOT_CAPACITY)
        return SLC_EINVAL;
    if (o->slot_capacity) {
        uint64_t size = 256 + o->slot_capacity * ss +
                        16 * fz_bucket_count(o->slot_capacity);
        if (size > SLC_MAX_FILE_SIZE)
            return SLC_EINVAL;
    }
    return SLC_OK;
}

/* Group F (structure) with its codes; opt_cap 0 = accept the file's. */
static int fh_ref_structure(const uint8_t *h, uint64_t len, uint64_t opt_cap,
                            uint64_t *required)
{
    uint32_t ss = fz_le32(h + 0x14);
    uint64_t cap = fz_le64(h + 0x20), hw = fz_le64(h + 0x28),
             live = fz_le64(h + 0x30), bc = fz_le64(h + 0x48),
             used = fz_le64(h + 0x50), tomb = fz_le64(h + 0x58),
             so = fz_le64(h + 0x60), bo = fz_le64(h + 0x68);
    if (so != 256 || cap == 0)
        return SLC_ECORRUPT;
    uint64_t want_bo, req;
    if (!fh_muladd(cap, ss, 256, &want_bo) || want_bo != bo)
        return SLC_ECORRUPT; /* overflow counts as a mismatch */
    if (!fh_muladd(bc, 16, bo, &req) || req > len)
        return SLC_ECORRUPT;
    if (hw > cap || live > hw || bc < 2 || !fh_pow2(bc))
        return SLC_ECORRUPT;
    if (bc <= cap)
        return SLC_EINCOMPATIBLE;
    if (used >= bc || tomb >= bc - used || used != live)
        return SLC_ECORRUPT;
    if (opt_cap == 0 && cap > SLC_MAX_SLOT_CAPACITY)
        return SLC_EINVAL;
    if (req > SLC_MAX_FILE_SIZE)
        return SLC_EINVAL;
    *required = req;
    return SLC_OK;
}

/* Groups A..D, shared by open and read_options. 1 = go on. */
static int fh_ref_ad(const fh_file *f, int nolock, int *rc)
{
    const uint8_t *h = f->img;
    if (f->len < 256) {
        *rc = SLC_ECORRUPT;
        return 0;
    }
    int reserved = 0;
    for (int i = 0xC0; i < 0x100; i++)
        reserved |= h[i];
    if (memcmp(h, "SLC1", 4) != 0 || fz_le32(h + 4) != 1 ||
        fz_le32(h + 8) != 256 || fz_le32(h + 0x18) != 1 ||
        (fz_le32(h + 0x1C) & ~1u) || reserved) {
        *rc = SLC_EINCOMPATIBLE;
        return 0;
    }
    if (fz_le64(h + 0x40) & 1) { /* 10.6: the lock is free here */
        *rc = nolock ? SLC_EBUSY : SLC_ECORRUPT;
        return 0;
    }
    uint32_t state = fz_le32(h + 0x74);
    if (state > 1) {
        *rc = SLC_EINCOMPATIBLE;
        return 0;
    }
    if (fz_header_crc(h) != fz_le32(h + 0x70)) {
        *rc = SLC_ECORRUPT;
        return 0;
    }
    if (state == 1) {
        *rc = SLC_EINVALIDATED;
        return 0;
    }
    return 1;
}

static int fh_ref_open(const fh_file *f, const slc_options *o)
{
    int rc = fh_ref_options(o);
    if (rc)
        return rc;
    if (f->len == 0) /* initialised in place, never by a read-only open */
        return o->slot_capacity && !(o->flags & SLC_READ_ONLY) ? SLC_OK
                                                               : SLC_EINVAL;
    if (!fh_ref_ad(f, (o->flags & SLC_NO_LOCK) != 0, &rc))
        return rc;
    const uint8_t *h = f->img;
    uint32_t ks = fz_le32(h + 0x0C), is = fz_le32(h + 0x10),
             ss = fz_le32(h + 0x14), flags = fz_le32(h + 0x1C);
    uint64_t cap = fz_le64(h + 0x20), uv = fz_le64(h + 0x38);
    /* E: configuration against the options (SLC_CAPACITY_AT_LEAST: the
     * file's capacity may be larger than asked). */
    int at_least = (o->flags & SLC_CAPACITY_AT_LEAST) != 0;
    if (ks != o->key_size || is != o->index_size || uv != o->user_version ||
        (o->slot_capacity && !at_least && cap != o->slot_capacity) ||
        (o->slot_capacity && at_least && cap < o->slot_capacity) ||
        (flags & 1u) != ((o->flags & SLC_ORDERED_KEYS) ? 1u : 0u) ||
        ss != fz_slot_size(ks, is))
        return SLC_EINCOMPATIBLE;
    uint64_t required;
    if ((rc = fh_ref_structure(h, f->len, at_least ? 0 : o->slot_capacity,
                               &required)))
        return rc;
    /* G, as open.c samples it: FULL buckets among the first 32. */
    uint64_t hw = fz_le64(h + 0x28), bc = fz_le64(h + 0x48),
             bo = fz_le64(h + 0x68);
    for (uint64_t i = 0; i < bc && i < FH_SAMPLE_BUCKETS; i++) {
        uint64_t sp = fh_le64_at(f, bo + 16 * i + 8);
        if (sp != 0 && sp != UINT64_MAX && sp - 1 >= hw)
            return SLC_ECORRUPT;
    }
    return SLC_OK;
}

/* slc_read_options: A, B, odd, C, D and F (SLC1 10.7); no part of E, the
 * slot_size formula included. Size limits (key_size 1..512, index_size)
 * come last: SLC_EINVAL only for an otherwise sound file. */
static int fh_ref_read_options(const fh_file *f)
{
    int rc;
    if (f->len == 0)
        return SLC_EINVAL; /* API.md: an empty file has no configuration */
    if (!fh_ref_ad(f, 0, &rc)) /* read_options always probes the lock */
        return rc;
    const uint8_t *h = f->img;
    uint32_t ks = fz_le32(h + 0x0C), is = fz_le32(h + 0x10);
    uint64_t required;
    if ((rc = fh_ref_structure(h, f->len, 0, &required)))
        return rc;
    if (ks == 0 || ks > SLC_MAX_KEY_SIZE || is > SLC_MAX_INDEX_SIZE)
        return SLC_EINVAL;
    return SLC_OK;
}

/* ---- Codec and CRC properties ------------------------------------------- */

static void fh_codec(const uint8_t raw[256])
{
    slc__header a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    slc__header_decode(raw, &a);
    uint8_t again[256];
    slc__header_encode(&a, again);
    FZ_CHECK(memcmp(again, raw, 256) == 0, "encode(decode(b)) != b");
    slc__header_decode(again, &b);
    FZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "decode(encode(h)) != h");
    /* Field spot checks against the table of SLC1 3.2. */
    FZ_CHECK(a.key_size == fz_le32(raw + 0x0C) &&
                 a.slot_capacity == fz_le64(raw + 0x20) &&
                 a.generation == fz_le64(raw + 0x40) &&
                 a.header_crc32c == fz_le32(raw + 0x70) &&
                 a.state == fz_le32(raw + 0x74) &&
                 a.user_flags == fz_le64(raw + 0x78) &&
                 a.buckets_offset == fz_le64(raw + 0x68),
             "decoded fields differ from the byte offsets of SLC1 3.2");
}

static void fh_crc(const uint8_t raw[256], uint8_t pos, uint8_t val)
{
    uint32_t crc = slc__header_crc(raw);
    FZ_CHECK(crc == fz_header_crc(raw),
             "header crc 0x%08" PRIx32 ", reference 0x%08" PRIx32, crc,
             fz_header_crc(raw));
    uint8_t m[256];
    memcpy(m, raw, 256);
    for (int i = 0; i < 8; i++)
        m[0x40 + i] ^= (uint8_t)(val + i + 1);
    for (int i = 0; i < 4; i++)
        m[0x70 + i] ^= (uint8_t)(val + i + 1);
    FZ_CHECK(slc__header_crc(m) == crc,
             "generation or crc bytes changed the header crc");
    memcpy(m, raw, 256);
    unsigned p = pos;
    if ((p >= 0x40 && p < 0x48) || (p >= 0x70 && p < 0x74))
        p = 0x78 + (p & 7); /* a covered byte */
    m[p] ^= (uint8_t)(val | 1);
    FZ_CHECK(slc__header_crc(m) != crc,
             "changing header byte 0x%02x did not change the crc", p);
}

static void fh_crc_data(const uint8_t *data, size_t size)
{
    /* Every start alignment, lengths crossing the 8-byte loop. */
    for (size_t off = 0; off < 8 && off < size; off++) {
        size_t n = size - off;
        uint32_t ref = fz_crc32c(data + off, n);
        FZ_CHECK(slc__crc32c(data + off, n) == ref, "crc32c differs at %zu+%zu",
                 off, n);
        FZ_CHECK(slc__crc32c_portable(data + off, n) == ref,
                 "portable crc32c differs at %zu+%zu", off, n);
    }
}

static void fh_sizing(uint32_t ks, uint32_t is, uint64_t cap)
{
    uint32_t ss = 0;
    int rc = slc__slot_size(ks, is, &ss);
    uint64_t want = fz_slot_size(ks, is);
    int ok = ks >= 1 && ks <= SLC_MAX_KEY_SIZE && is <= SLC_MAX_INDEX_SIZE &&
             want <= SLC_MAX_SLOT_SIZE;
    FZ_RC(rc, ok ? SLC_OK : SLC_EINVAL, "slc__slot_size");
    FZ_CHECK(!ok || ss == want, "slot_size %" PRIu32 ", formula %" PRIu64, ss,
             want);
    uint64_t bc = 0;
    rc = slc__bucket_count(cap, &bc);
    int bok = cap >= 1 && cap <= (UINT64_C(1) << 62);
    FZ_RC(rc, bok ? SLC_OK : SLC_EINVAL, "slc__bucket_count");
    FZ_CHECK(!bok || bc == fz_bucket_count(cap),
             "bucket_count %" PRIu64 " for capacity %" PRIu64, bc, cap);
    slc__layout l;
    rc = slc__layout_for_create(ks, is, cap, &l);
    int lok = ok && cap >= 1 && cap <= SLC_MAX_SLOT_CAPACITY;
    uint64_t size = 0;
    if (lok) {
        size = 256 + cap * want + 16 * fz_bucket_count(cap);
        lok = size <= SLC_MAX_FILE_SIZE;
    }
    FZ_RC(rc, lok ? SLC_OK : SLC_EINVAL, "slc__layout_for_create");
    if (lok)
        FZ_CHECK(l.slot_size == want && l.bucket_count == fz_bucket_count(cap) &&
                     l.slots_offset == 256 &&
                     l.buckets_offset == 256 + cap * want &&
                     l.file_size == size,
                 "layout differs from SLC1 3.1/5.2");
}

/* ---- Repairs chosen by the input ---------------------------------------- */

static void fh_fix_layout(uint8_t *h, uint8_t how)
{
    uint32_t ks = fz_le32(h + 0x0C), is = fz_le32(h + 0x10);
    uint64_t cap = fz_le64(h + 0x20);
    if (how & 1) { /* sizes within limits */
        ks = 1 + ks % 64;
        is = is % 64;
        fz_put32(h + 0x0C, ks);
        fz_put32(h + 0x10, is);
    }
    if (how & 2) { /* a capacity the harness can make a file for */
        cap = 1 + cap % 4096;
        fz_put64(h + 0x20, cap);
    }
    uint64_t ss = fz_slot_size(ks, is);
    if (ss <= UINT32_MAX)
        fz_put32(h + 0x14, (uint32_t)ss);
    fz_put64(h + 0x60, 256);
    uint64_t bo;
    if (cap && cap <= (UINT64_C(1) << 40) && ss <= UINT32_MAX &&
        fh_muladd(cap, ss, 256, &bo)) {
        fz_put64(h + 0x68, bo);
        if (!(how & 4))
            fz_put64(h + 0x48, fz_bucket_count(cap));
    }
    if (how & 8) { /* sound counters */
        uint64_t hw = fz_le64(h + 0x28), live = fz_le64(h + 0x30);
        if (cap && hw > cap)
            hw %= cap + 1;
        if (live > hw)
            live = hw ? live % (hw + 1) : 0;
        fz_put64(h + 0x28, hw);
        fz_put64(h + 0x30, live);
        fz_put64(h + 0x50, live);
        fz_put64(h + 0x58, (how & 16) ? fz_le64(h + 0x58) % 4 : 0);
    }
    if (how & 32)
        memset(h + 0xC0, 0, 64);
    if (how & 64) { /* identification right */
        memcpy(h, "SLC1", 4);
        fz_put32(h + 4, 1);
        fz_put32(h + 8, 256);
        fz_put32(h + 0x18, 1);
        fz_put32(h + 0x1C, fz_le32(h + 0x1C) & 1);
        fz_put32(h + 0x74, fz_le32(h + 0x74) & 1);
    }
}

/* Options from the header, perturbed on request. */
static slc_options fh_options(const uint8_t *h, uint8_t c0, uint8_t c1)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = fz_le32(h + 0x0C);
    o.index_size = fz_le32(h + 0x10);
    o.user_version = fz_le64(h + 0x38);
    o.slot_capacity = (c0 & 0x40) ? 0 : fz_le64(h + 0x20);
    o.flags = (fz_le32(h + 0x1C) & 1) ? SLC_ORDERED_KEYS : 0;
    if (c0 & 0x20)
        o.flags |= SLC_NO_LOCK;
    if (c0 & 0x80) {
        switch (c1 % 9) {
        case 0: o.key_size++; break;
        case 1: o.index_size++; break;
        case 2: o.user_version++; break;
        case 3: o.slot_capacity++; break;
        case 4: o.flags ^= SLC_ORDERED_KEYS; break;
        case 5: o.key_size = c1 >> 3; break;
        case 6: o.flags |= 1u << (3 + (c1 >> 3) % 29); break;
        case 7: o.flags |= SLC_WRITEBACK_SYNC; break;
        default: o.flags |= SLC_READ_ONLY; break;
        }
    }
    /* The empty-file case initialises: keep what it would create small. */
    if (o.slot_capacity > 4096)
        o.slot_capacity = 1 + o.slot_capacity % 4096;
    return o;
}

static void fh_check_unchanged(const char *path, const fh_file *f,
                               const char *what)
{
    size_t len;
    uint64_t size;
    size_t want = f->img_len < f->len ? f->img_len : (size_t)f->len;
    uint8_t *got = fz_read_file(path, want, &len, &size);
    FZ_CHECK(got, "%s: file vanished", what);
    FZ_CHECK(size == f->len && len == want && memcmp(got, f->img, want) == 0,
             "%s changed the file (size %llu, was %llu)", what,
             (unsigned long long)size, (unsigned long long)f->len);
    free(got);
}

/* slc_read_options, read-only and lock-free opens create no lock file. */
static int fh_lock_exists(const char *path)
{
    char lock[4096];
    int n = snprintf(lock, sizeof lock, "%s.lock", path);
    FZ_CHECK(n > 0 && (size_t)n < sizeof lock, "path too long");
    return access(lock, F_OK) == 0;
}

static void fh_check_open(slc_cache *c, const uint8_t *h)
{
    slc_stat s;
    FZ_RC(slc_stat_get(c, &s), SLC_OK, "stat after open");
    FZ_CHECK(s.key_size == fz_le32(h + 0x0C) &&
                 s.index_size == fz_le32(h + 0x10) &&
                 s.slot_size == fz_le32(h + 0x14) &&
                 s.flags == fz_le32(h + 0x1C) &&
                 s.slot_capacity == fz_le64(h + 0x20) &&
                 s.slot_highwater == fz_le64(h + 0x28) &&
                 s.live_count == fz_le64(h + 0x30) &&
                 s.user_version == fz_le64(h + 0x38) &&
                 s.generation == fz_le64(h + 0x40) &&
                 s.bucket_count == fz_le64(h + 0x48) &&
                 s.bucket_used == fz_le64(h + 0x50) &&
                 s.bucket_tombstones == fz_le64(h + 0x58) &&
                 s.file_size == fz_le64(h + 0x68) + 16 * fz_le64(h + 0x48),
             "stat differs from the header that was opened");
    uint64_t uf;
    uint8_t ud[64];
    FZ_RC(slc_user_header(c, &uf, ud), SLC_OK, "user header after open");
    FZ_CHECK(uf == fz_le64(h + 0x78) && memcmp(ud, h + 0x80, 64) == 0,
             "user header differs from the file");
}

int fz_header_one(const uint8_t *data, size_t size)
{
    fz_fd_begin();
    fz_in in = {data, size};
    uint8_t c[4];
    fz_bytes(&in, c, 4);
    fh_crc_data(in.p, in.n);

    /* The image: input bytes, the header part padded to 256 when a length
     * mode other than "as given" is asked for. */
    size_t img_len = in.n;
    uint8_t *img = malloc(img_len > 256 ? img_len : 256);
    FZ_CHECK(img, "out of memory");
    memset(img, 0, img_len > 256 ? img_len : 256);
    memcpy(img, in.p, in.n);
    int mode = (c[0] >> 3) & 3;
    if (mode && img_len < 256)
        img_len = 256;

    uint8_t raw[256];
    memcpy(raw, img, 256);
    fh_codec(raw);
    fh_crc(raw, c[3], c[2]);
    fh_sizing(fz_le32(raw + 0x0C) % 1100, fz_le32(raw + 0x10) % (3u << 20),
              fz_le64(raw + 0x20) >> (c[1] % 64));

    if (img_len >= 256) {
        if (c[0] & 4)
            fh_fix_layout(img, c[1]);
        if (c[0] & 2)
            img[0x40] &= 0xFE;
        if (c[0] & 1)
            fz_put32(img + 0x70, fz_header_crc(img));
    }

    /* File length. */
    fh_file f = {img, img_len, img_len};
    if (img_len >= 256 && mode) {
        uint64_t bo = fz_le64(img + 0x68), bc = fz_le64(img + 0x48), req;
        uint64_t d = c[2];
        if (fh_muladd(bc, 16, bo, &req) && req <= FH_MAX_SPARSE) {
            if (mode == 1)
                f.len = req;
            else if (mode == 2)
                f.len = req > d ? req - 1 - d : 256;
            else
                f.len = req + d;
            if (f.len < 256)
                f.len = 256;
        }
    }
    const char *path = fz_path(0, "header.slc");
    fz_remove(path);
    FZ_CHECK(fz_write_file(path, img, f.img_len < f.len ? f.img_len
                                                        : (size_t)f.len,
                           f.len) == 0,
             "write %s", path);
    size_t written = f.img_len < f.len ? f.img_len : (size_t)f.len;
    f.img_len = written;

    /* slc_read_options. */
    slc_options ro;
    memset(&ro, 0, sizeof ro);
    int rrc = slc_read_options(path, &ro);
    FZ_RC(rrc, fh_ref_read_options(&f), "read_options");
    fh_check_unchanged(path, &f, "read_options");
    FZ_CHECK(!fh_lock_exists(path), "read_options created a lock file");

    /* slc_open with options from the header. */
    slc_options o = fh_options(img, c[0], c[1]);
    slc_cache *cache = NULL;
    int orc = slc_open(path, &o, &cache);
    FZ_RC(orc, fh_ref_open(&f, &o), "open");
    if (o.flags & (SLC_READ_ONLY | SLC_NO_LOCK))
        FZ_CHECK(!fh_lock_exists(path), "open with flags 0x%x made a lock file",
                 o.flags);
    if (f.len == 0) {
        /* Initialised in place: a new file, nothing more to compare. */
        FZ_RC(slc_close(cache), SLC_OK, "close");
    } else if (orc == SLC_OK) {
        fh_check_open(cache, img);
        FZ_RC(slc_close(cache), SLC_OK, "close");
        fh_check_unchanged(path, &f, "open and close");
    } else {
        FZ_CHECK(cache == NULL, "failed open left a handle");
        fh_check_unchanged(path, &f, "failed open");
    }

    /* What read_options reports opens, with the file's own options. */
    if (rrc == SLC_OK) {
        FZ_CHECK(ro.key_size == fz_le32(img + 0x0C) &&
                     ro.index_size == fz_le32(img + 0x10) &&
                     ro.user_version == fz_le64(img + 0x38) &&
                     ro.slot_capacity == fz_le64(img + 0x20) &&
                     ro.flags == ((fz_le32(img + 0x1C) & 1) ? SLC_ORDERED_KEYS
                                                            : 0u),
                 "read_options differs from the header");
        ro.flags |= (c[0] & 0x20) ? SLC_NO_LOCK : 0;
        ro.flags |= (c[1] & 0x80) ? SLC_READ_ONLY : 0;
        if (c[0] & 0x40)
            ro.slot_capacity = 0;
        cache = NULL;
        int rc2 = slc_open(path, &ro, &cache);
        FZ_RC(rc2, fh_ref_open(&f, &ro), "open with read_options' result");
        FZ_CHECK(rc2 == SLC_OK || rc2 == SLC_ECORRUPT,
                 "read_options accepted a file open refuses with %d", rc2);
        FZ_RC(slc_close(cache), SLC_OK, "close");
    }

    /* The internal groups agree with the reference on their own. */
    if (f.len >= 256) {
        slc__header h;
        slc__header_decode(img, &h);
        uint64_t req = 0, rreq = 0;
        int src = slc__validate_structure(&h, f.len, o.slot_capacity, &req);
        int ref = fh_ref_structure(img, f.len, o.slot_capacity, &rreq);
        FZ_RC(src, ref, "slc__validate_structure");
        FZ_CHECK(src || req == rreq, "required length %" PRIu64 " vs %" PRIu64,
                 req, rreq);
    }

    fz_remove(path);
    free(img);
    fz_fd_end();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_header_one(data, size);
}
