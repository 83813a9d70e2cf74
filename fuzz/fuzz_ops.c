/* fuzz_ops: the input is a program of API calls (open options, put,
 * delete, user header, commit, close without commit, invalidate, reopen,
 * second handle, recreate, bad arguments, every read). Each call goes to
 * the library and to an in-memory model of SLC1; any difference in status
 * code, output or file bytes aborts.
 *
 * The model keeps the published file exactly: slots, the open-addressing
 * bucket array with tombstones and rehash, and the header. So besides every
 * read result, the whole file is compared byte for byte with the model's
 * rendering after each commit (the canonical writer output of SLC1 16).
 * Caches are tiny (capacity <= 64) so SLC_EFULL, ordered-mode
 * SLC_EOUTOFORDER, tombstone reuse and rehash come up quickly.
 *
 * Input: 5 configuration bytes, then one opcode byte per call followed by
 * its operands (see op_step). Missing bytes read as zero. */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OP_MAX_KEY 512
#define OP_MAX_INDEX 64
#define OP_MAX_CAP 64
#define OP_MAX_BUCKETS 128
#define OP_MAX_STAGE 512
#define OP_MAX_STEPS 4000

typedef struct op_slot {
    uint8_t key[OP_MAX_KEY];
    uint8_t index[OP_MAX_INDEX];
    int64_t rev;
    int used;
} op_slot;

typedef struct op_stage {
    uint8_t key[OP_MAX_KEY];
    uint8_t index[OP_MAX_INDEX];
    int64_t rev;
    uint32_t seq;
    int op; /* OP_PUT or OP_DEL */
} op_stage;

enum { OP_PUT = 1, OP_DEL = 2 };

static struct op_model {
    /* Configuration of the file at the path. */
    uint32_t ks, is;
    uint64_t cap, uv, bc;
    int ordered;
    /* Published state. */
    op_slot slots[OP_MAX_CAP];
    uint64_t hw, live, gen, uflags, used, tomb;
    uint64_t bhash[OP_MAX_BUCKETS], bsp[OP_MAX_BUCKETS];
    uint8_t udata[64];
    int invalidated;
    /* Handles and the one writer object. */
    slc_cache *h[2];
    int ro[2]; /* handle opened with SLC_READ_ONLY */
    slc_writer *w;
    int wh;      /* handle the writer came from */
    int w_ended; /* commit ran: only slc_writer_close is allowed */
    op_stage st[OP_MAX_STAGE];
    size_t nst;
    uint32_t seq;
    int fl_dirty, dt_dirty;
    uint64_t st_uflags;
    uint8_t st_udata[64];
} M;

static const char *op_file(void) { return fz_path(0, "ops.slc"); }

/* ---- Model: keys, lookups, buckets -------------------------------------- */

/* Key number id: byte 0 is the id, so key order follows ids; later bytes
 * are shared by ids of one high nibble, which gives prefix scans groups. */
static void op_key(uint8_t id, uint8_t *k)
{
    for (uint32_t i = 0; i < M.ks; i++)
        k[i] = (uint8_t)(((id >> 4) * 0x11u) ^ (i * 0x1Du));
    k[0] = id;
}

/* A key operand: usually one of 64 numbered keys, sometimes raw bytes. */
static void op_read_key(fz_in *in, uint8_t *k)
{
    uint8_t b = fz_u8(in);
    if (b >= 0xF8)
        fz_bytes(in, k, M.ks);
    else
        op_key(b & 0x3F, k);
}

static int64_t op_read_rev(fz_in *in)
{
    uint8_t r = fz_u8(in);
    return r == 0xFF ? (int64_t)fz_u64(in) : (int64_t)(int8_t)r * 1000003;
}

static void op_fill_index(uint8_t x, uint8_t *ix)
{
    for (uint32_t i = 0; i < M.is; i++)
        ix[i] = (uint8_t)(x + 3 * i);
}

/* Live slot holding key, or -1. */
static int op_live(const uint8_t *k)
{
    for (uint64_t i = 0; i < M.hw; i++)
        if (M.slots[i].used && memcmp(M.slots[i].key, k, M.ks) == 0)
            return (int)i;
    return -1;
}

static op_stage *op_staged(const uint8_t *k)
{
    for (size_t i = 0; i < M.nst; i++)
        if (memcmp(M.st[i].key, k, M.ks) == 0)
            return &M.st[i];
    return NULL;
}

/* First TOMBSTONE or EMPTY on the probe path (SLC1 5.5, 16.4). */
static uint64_t op_insert_bucket(uint64_t h)
{
    uint64_t mask = M.bc - 1, i = h & mask;
    while (M.bsp[i] != 0 && M.bsp[i] != UINT64_MAX)
        i = (i + 1) & mask;
    return i;
}

static void op_bucket_put(uint64_t id)
{
    uint64_t h = fz_fnv1a(M.slots[id].key, M.ks);
    uint64_t b = op_insert_bucket(h);
    if (M.bsp[b] == UINT64_MAX)
        M.tomb--;
    M.bhash[b] = h;
    M.bsp[b] = id + 1;
    M.used++;
}

static void op_bucket_del(uint64_t id)
{
    for (uint64_t b = 0; b < M.bc; b++)
        if (M.bsp[b] == id + 1) {
            M.bsp[b] = UINT64_MAX; /* hash64 stays (SLC1 16.6) */
            M.used--;
            M.tomb++;
            return;
        }
    FZ_CHECK(0, "model: slot %llu has no bucket", (unsigned long long)id);
}

static void op_rehash(void)
{
    memset(M.bhash, 0, sizeof M.bhash);
    memset(M.bsp, 0, sizeof M.bsp);
    M.used = M.tomb = 0;
    for (uint64_t id = 0; id < M.hw; id++)
        if (M.slots[id].used)
            op_bucket_put(id);
}

/* ---- Model: the file image ---------------------------------------------- */

static uint32_t op_slot_size(void)
{
    return 16 + fz_align8(M.ks) + fz_align8(M.is);
}

static size_t op_file_size(void)
{
    return 256 + (size_t)M.cap * op_slot_size() + 16 * (size_t)M.bc;
}

static void op_render(uint8_t *img)
{
    uint32_t ss = op_slot_size();
    size_t size = op_file_size();
    memset(img, 0, size);
    memcpy(img, "SLC1", 4);
    fz_put32(img + 0x04, 1);
    fz_put32(img + 0x08, 256);
    fz_put32(img + 0x0C, M.ks);
    fz_put32(img + 0x10, M.is);
    fz_put32(img + 0x14, ss);
    fz_put32(img + 0x18, 1);
    fz_put32(img + 0x1C, M.ordered ? 1u : 0u);
    fz_put64(img + 0x20, M.cap);
    fz_put64(img + 0x28, M.hw);
    fz_put64(img + 0x30, M.live);
    fz_put64(img + 0x38, M.uv);
    fz_put64(img + 0x40, M.gen);
    fz_put64(img + 0x48, M.bc);
    fz_put64(img + 0x50, M.used);
    fz_put64(img + 0x58, M.tomb);
    fz_put64(img + 0x60, 256);
    fz_put64(img + 0x68, 256 + M.cap * ss);
    fz_put32(img + 0x74, M.invalidated ? 1u : 0u);
    fz_put64(img + 0x78, M.uflags);
    memcpy(img + 0x80, M.udata, 64);
    fz_put32(img + 0x70, fz_header_crc(img));
    for (uint64_t id = 0; id < M.hw; id++) {
        uint8_t *s = img + 256 + id * ss;
        fz_put64(s, M.slots[id].used ? 1u : 0u);
        memcpy(s + 8, M.slots[id].key, M.ks);
        fz_put64(s + 8 + fz_align8(M.ks), (uint64_t)M.slots[id].rev);
        memcpy(s + 16 + fz_align8(M.ks), M.slots[id].index, M.is);
    }
    uint8_t *b = img + 256 + M.cap * ss;
    for (uint64_t i = 0; i < M.bc; i++) {
        fz_put64(b + 16 * i, M.bhash[i]);
        fz_put64(b + 16 * i + 8, M.bsp[i]);
    }
}

/* The file must be the model's rendering, byte for byte. */
static void op_check_file(const char *why)
{
    static uint8_t want[256 + OP_MAX_CAP * (16 + OP_MAX_KEY + OP_MAX_INDEX) +
                        16 * OP_MAX_BUCKETS];
    op_render(want);
    size_t len;
    uint64_t size;
    uint8_t *got = fz_read_file(op_file(), sizeof want + 1, &len, &size);
    FZ_CHECK(got, "%s: cannot read the cache file", why);
    FZ_CHECK(size == op_file_size(), "%s: file size %llu, model %zu", why,
             (unsigned long long)size, op_file_size());
    for (size_t i = 0; i < len; i++)
        FZ_CHECK(got[i] == want[i],
                 "%s: file byte 0x%zx is %02x, model %02x (gen %llu)", why, i,
                 got[i], want[i], (unsigned long long)M.gen);
    free(got);
}

/* ---- Model: configuration and creation ---------------------------------- */

static const uint32_t op_key_sizes[16] = {1, 1, 2, 3, 4, 5, 7, 8,
                                          9, 12, 16, 17, 24, 33, 64, 512};
static const uint32_t op_index_sizes[16] = {0, 0, 0, 1, 2, 3, 5, 7,
                                            8, 9, 12, 16, 17, 24, 31, 64};
static const uint64_t op_caps[16] = {1, 1, 2, 2, 3, 4, 5, 6,
                                     7, 8, 11, 16, 23, 32, 47, 64};

static void op_reset_state(void)
{
    memset(M.slots, 0, sizeof M.slots);
    memset(M.bhash, 0, sizeof M.bhash);
    memset(M.bsp, 0, sizeof M.bsp);
    memset(M.udata, 0, sizeof M.udata);
    M.hw = M.live = M.gen = M.uflags = M.used = M.tomb = 0;
    M.invalidated = 0;
}

static uint32_t op_open_flags(uint8_t b)
{
    uint32_t f = M.ordered ? SLC_ORDERED_KEYS : 0;
    if (b & 1)
        f |= SLC_NO_LOCK;
    if ((b & 0x30) == 0x30)
        f |= SLC_READ_ONLY;
    if ((b & 0x0E) == 0x0E)
        f |= SLC_WRITEBACK_SYNC; /* msync on tmpfs: cheap, but keep it rare */
    return f;
}

static slc_options op_options(uint32_t flags, int cap0)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = M.ks;
    o.index_size = M.is;
    o.user_version = M.uv;
    o.slot_capacity = cap0 ? 0 : M.cap;
    o.flags = flags;
    return o;
}

/* Make a new file at the path with configuration bytes c[0..4]. */
static void op_create(const uint8_t c[5])
{
    M.ks = op_key_sizes[c[0] % 16];
    M.is = op_index_sizes[c[1] % 16];
    M.cap = op_caps[c[2] % 16];
    M.bc = fz_bucket_count(M.cap);
    M.ordered = c[3] & 1;
    M.uv = c[4] >> 2;
    op_reset_state();
    const char *path = op_file();
    fz_remove(path);
    slc_options o = op_options(op_open_flags((uint8_t)(c[3] >> 1)), 0);
    if (c[4] & 1) { /* a pre-created empty file is initialised in place */
        FZ_CHECK(fz_write_file(path, NULL, 0, 0) == 0, "create empty file");
    }
    if (o.flags & SLC_READ_ONLY) { /* which never creates or initialises */
        slc_cache *tmp = (slc_cache *)&M;
        int rc = slc_open(path, &o, &tmp);
        if (c[4] & 1) {
            FZ_RC(rc, SLC_EINVAL, "read-only open of an empty file");
        } else {
            FZ_RC(rc, SLC_ESYS, "read-only open of a missing file");
            FZ_CHECK(errno == ENOENT, "read-only open: errno %d", errno);
        }
        FZ_CHECK(tmp == NULL, "failed open left *out set");
        o.flags &= ~SLC_READ_ONLY;
    }
    if (c[4] & 2) { /* capacity 0 cannot create or initialise */
        slc_options z = o;
        z.slot_capacity = 0;
        slc_cache *tmp = (slc_cache *)&M; /* must be reset to NULL */
        FZ_RC(slc_open(path, &z, &tmp), SLC_EINVAL, "open with capacity 0");
        FZ_CHECK(tmp == NULL, "failed open left *out set");
        uint64_t size;
        size_t len;
        uint8_t *got = fz_read_file(path, 16, &len, &size);
        FZ_CHECK((c[4] & 1) ? got && size == 0 : !got && errno == ENOENT,
                 "capacity-0 open changed the path");
        free(got);
    }
    FZ_RC(slc_open(path, &o, &M.h[0]), SLC_OK, "create");
    FZ_CHECK(M.h[0], "create: no handle");
    M.ro[0] = 0;
}

/* ---- Writer ------------------------------------------------------------- */

static int op_handle(uint8_t sel)
{
    int i = sel & 1;
    return M.h[i] ? i : M.h[1 - i] ? 1 - i : -1;
}

static void op_writer_free(void)
{
    if (!M.w)
        return;
    FZ_RC(slc_writer_close(M.w), SLC_OK, "writer_close");
    M.w = NULL;
    M.nst = 0;
    M.fl_dirty = M.dt_dirty = 0;
}

/* Begin on handle i; the model's expectation decides. 1 if a writer now
 * exists (possibly an ended one). */
static int op_begin(int i)
{
    if (i < 0)
        return 0;
    slc_writer *w = (slc_writer *)&M; /* must be reset */
    int rc = slc_begin_write(M.h[i], &w);
    if (M.ro[i]) { /* checked before the registry */
        FZ_RC(rc, SLC_EINVAL, "begin_write on a read-only handle");
        FZ_CHECK(w == NULL, "failed begin_write left *out set");
        return M.w != NULL;
    }
    if (M.w && !M.w_ended) {
        FZ_RC(rc, SLC_EBUSY, "begin_write while a writer is active");
        FZ_CHECK(w == NULL, "failed begin_write left *out set");
        return 1;
    }
    if (M.invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "begin_write on an invalidated cache");
        FZ_CHECK(w == NULL, "failed begin_write left *out set");
        return M.w != NULL;
    }
    FZ_RC(rc, SLC_OK, "begin_write");
    op_writer_free(); /* an ended writer is replaced */
    M.w = w;
    M.wh = i;
    M.w_ended = 0;
    M.nst = 0;
    M.seq = 0;
    M.fl_dirty = M.dt_dirty = 0;
    return 1;
}

/* The writer for a staging op: the existing one, else a new session. */
static int op_need_writer(uint8_t sel)
{
    if (M.w)
        return 1;
    return op_begin(op_handle(sel));
}

static void op_put(fz_in *in, uint8_t sel)
{
    uint8_t k[OP_MAX_KEY], ix[OP_MAX_INDEX];
    op_read_key(in, k);
    int64_t rev = op_read_rev(in);
    op_fill_index(fz_u8(in), ix);
    if (!op_need_writer(sel))
        return;
    op_stage *s = op_staged(k);
    if (!s && M.nst == OP_MAX_STAGE)
        return; /* the model's staging is full: skip the call */
    /* Exact-size copies so ASan sees any read past the lengths. */
    uint8_t *kb = malloc(M.ks), *ib = M.is ? malloc(M.is) : NULL;
    FZ_CHECK(kb && (ib || !M.is), "out of memory");
    memcpy(kb, k, M.ks);
    if (M.is)
        memcpy(ib, ix, M.is);
    const void *ip = ib;
    if (!M.is && (sel & 2))
        ip = k; /* any pointer is fine with index_len 0 */
    int rc = slc_put(M.w, kb, M.ks, rev, ip, M.is);
    free(kb);
    free(ib);
    if (M.w_ended) {
        FZ_RC(rc, SLC_ECLOSED, "put on an ended writer");
        return;
    }
    FZ_RC(rc, SLC_OK, "put");
    if (!s) {
        s = &M.st[M.nst++];
        memcpy(s->key, k, M.ks);
    }
    s->op = OP_PUT;
    s->rev = rev;
    memcpy(s->index, ix, M.is);
    s->seq = ++M.seq;
}

static void op_del(fz_in *in, uint8_t sel)
{
    uint8_t k[OP_MAX_KEY];
    op_read_key(in, k);
    if (!op_need_writer(sel))
        return;
    op_stage *s = op_staged(k);
    if (!s && M.nst == OP_MAX_STAGE)
        return;
    uint8_t *kb = malloc(M.ks);
    FZ_CHECK(kb, "out of memory");
    memcpy(kb, k, M.ks);
    int existed = -7;
    int rc = slc_delete(M.w, kb, M.ks, (sel & 2) ? NULL : &existed);
    free(kb);
    if (M.w_ended) {
        FZ_RC(rc, SLC_ECLOSED, "delete on an ended writer");
        return;
    }
    FZ_RC(rc, SLC_OK, "delete");
    int want = s ? s->op == OP_PUT : op_live(k) >= 0;
    if (!(sel & 2))
        FZ_CHECK(existed == want, "delete: existed %d, model %d", existed,
                 want);
    if (!s) {
        s = &M.st[M.nst++];
        memcpy(s->key, k, M.ks);
    }
    s->op = OP_DEL;
    s->seq = ++M.seq;
}

static int op_cmp_stage_key(const void *a, const void *b)
{
    const op_stage *x = *(const op_stage *const *)a,
                   *y = *(const op_stage *const *)b;
    return memcmp(x->key, y->key, M.ks);
}
static int op_cmp_stage_seq(const void *a, const void *b)
{
    const op_stage *x = *(const op_stage *const *)a,
                   *y = *(const op_stage *const *)b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* SLC1 8.3, 8.4, 8.7, 16: the model's commit. Returns the status. */
static int op_model_commit(void)
{
    static op_stage *ins[OP_MAX_STAGE];
    size_t n_ins = 0;
    for (size_t i = 0; i < M.nst; i++)
        if (M.st[i].op == OP_PUT && op_live(M.st[i].key) < 0)
            ins[n_ins++] = &M.st[i];
    if (n_ins > M.cap - M.hw)
        return SLC_EFULL;
    qsort(ins, n_ins, sizeof *ins,
          M.ordered ? op_cmp_stage_key : op_cmp_stage_seq);
    if (M.ordered && n_ins && M.hw &&
        memcmp(ins[0]->key, M.slots[M.hw - 1].key, M.ks) < 0)
        return SLC_EOUTOFORDER;
    /* Updates, then deletes, then inserts, then the rehash rule. */
    for (size_t i = 0; i < M.nst; i++) {
        int id = op_live(M.st[i].key);
        if (M.st[i].op == OP_PUT && id >= 0) {
            M.slots[id].rev = M.st[i].rev;
            memcpy(M.slots[id].index, M.st[i].index, M.is);
        }
    }
    for (size_t i = 0; i < M.nst; i++) {
        int id = op_live(M.st[i].key);
        if (M.st[i].op == OP_DEL && id >= 0) {
            M.slots[id].used = 0;
            M.live--;
            op_bucket_del((uint64_t)id);
        }
    }
    for (size_t i = 0; i < n_ins; i++) {
        op_slot *s = &M.slots[M.hw];
        memcpy(s->key, ins[i]->key, M.ks);
        memcpy(s->index, ins[i]->index, M.is);
        s->rev = ins[i]->rev;
        s->used = 1;
        M.live++;
        op_bucket_put(M.hw++);
    }
    if (4 * M.tomb > M.bc)
        op_rehash();
    if (M.fl_dirty)
        M.uflags = M.st_uflags;
    if (M.dt_dirty)
        memcpy(M.udata, M.st_udata, 64);
    M.gen += 2;
    return SLC_OK;
}

static void op_check_all(const char *why);

static void op_commit(uint8_t sel)
{
    if (!op_need_writer(sel))
        return;
    int rc = slc_commit(M.w);
    if (M.w_ended) {
        FZ_RC(rc, SLC_ECLOSED, "commit on an ended writer");
    } else {
        FZ_RC(rc, op_model_commit(), "commit");
        M.w_ended = 1;
        M.nst = 0;
        M.fl_dirty = M.dt_dirty = 0;
        op_check_all("after commit");
    }
    if (sel & 0x0C) /* usually free it; sometimes keep the ended writer */
        op_writer_free();
}

static void op_user(fz_in *in, uint8_t sel, int data)
{
    uint64_t flags = fz_u64(in);
    uint8_t ud[64];
    uint8_t x = fz_u8(in);
    for (int i = 0; i < 64; i++)
        ud[i] = (uint8_t)(x * (i + 1));
    if (!op_need_writer(sel))
        return;
    int rc = data ? slc_set_user_data(M.w, ud) : slc_set_user_flags(M.w, flags);
    if (M.w_ended) {
        FZ_RC(rc, SLC_ECLOSED, "set user header on an ended writer");
        return;
    }
    FZ_RC(rc, SLC_OK, "set user header");
    if (data) {
        memcpy(M.st_udata, ud, 64);
        M.dt_dirty = 1;
    } else {
        M.st_uflags = flags;
        M.fl_dirty = 1;
    }
}

/* ---- Reads -------------------------------------------------------------- */

/* Expected code of a well-formed read on handle i (-1: none, EINVAL). */
static int op_read_rc(int i)
{
    if (i < 0)
        return SLC_EINVAL;
    return M.invalidated ? SLC_EINVALIDATED : SLC_OK;
}

static slc_cache *op_h(int i) { return i < 0 ? NULL : M.h[i]; }

static void op_get(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    uint8_t k[OP_MAX_KEY];
    op_read_key(in, k);
    int v = fz_u8(in) % 8;
    size_t klen = M.ks, ilen = M.is;
    int null_key = 0, null_index = 0, bad = 0;
    switch (v) {
    case 1: ilen = 0; null_index = 1; break;
    case 2: null_index = 1; break;
    case 3: klen = (sel & 0x10) && M.ks > 1 ? M.ks - 1 : M.ks + 1; bad = 1; break;
    case 4: null_key = 1; bad = 1; break;
    case 5: ilen = M.is + 1; bad = 1; break;
    case 6: ilen = 0; bad = M.is != 0; break;
    default: break;
    }
    uint8_t *kb = malloc(klen + 1), *ib = malloc(ilen + 1);
    FZ_CHECK(kb && ib, "out of memory");
    memset(kb, 0, klen + 1);
    memcpy(kb, k, klen < M.ks ? klen : M.ks);
    memset(ib, 0xA5, ilen + 1);
    int64_t rev = 0x5A5A;
    int rc = slc_get(op_h(i), null_key ? NULL : kb, klen,
                     (v == 1) ? NULL : &rev, null_index ? NULL : ib, ilen);
    if (i < 0 || (bad && !M.invalidated)) {
        FZ_RC(rc, SLC_EINVAL, "get with bad arguments");
    } else if (M.invalidated) { /* the state before the arguments */
        FZ_RC(rc, SLC_EINVALIDATED, "get on an invalidated cache");
    } else {
        int id = op_live(k);
        FZ_RC(rc, id >= 0 ? SLC_OK : SLC_NOTFOUND, "get");
        if (id >= 0 && v != 1)
            FZ_CHECK(rev == M.slots[id].rev, "get: revision %lld, model %lld",
                     (long long)rev, (long long)M.slots[id].rev);
        if (id >= 0 && !null_index && M.is)
            FZ_CHECK(memcmp(ib, M.slots[id].index, M.is) == 0,
                     "get: index bytes differ from the model");
        FZ_CHECK(ib[ilen] == 0xA5, "get wrote past the index buffer");
    }
    free(kb);
    free(ib);
}

static void op_check_stat(int i, const char *why)
{
    slc_stat s;
    memset(&s, 0xEE, sizeof s);
    int rc = slc_stat_get(M.h[i], &s);
    FZ_RC(rc, op_read_rc(i), why);
    if (rc)
        return;
    FZ_CHECK(s.key_size == M.ks && s.index_size == M.is &&
                 s.slot_size == op_slot_size() &&
                 s.flags == (M.ordered ? 1u : 0u) && s.slot_capacity == M.cap &&
                 s.user_version == M.uv && s.bucket_count == M.bc &&
                 s.file_size == op_file_size(),
             "%s: stat configuration differs from the model", why);
    FZ_CHECK(s.slot_highwater == M.hw && s.live_count == M.live &&
                 s.generation == M.gen && s.bucket_used == M.used &&
                 s.bucket_tombstones == M.tomb,
             "%s: stat hw %llu live %llu gen %llu used %llu tomb %llu, model "
             "%llu %llu %llu %llu %llu",
             why, (unsigned long long)s.slot_highwater,
             (unsigned long long)s.live_count, (unsigned long long)s.generation,
             (unsigned long long)s.bucket_used,
             (unsigned long long)s.bucket_tombstones, (unsigned long long)M.hw,
             (unsigned long long)M.live, (unsigned long long)M.gen,
             (unsigned long long)M.used, (unsigned long long)M.tomb);
}

static void op_header_reads(uint8_t sel, uint8_t v)
{
    int i = op_handle(sel);
    slc_cache *c = op_h(i);
    uint64_t x = 77;
    uint8_t ud[64];
    int rc;
    switch (v % 6) {
    case 0:
        rc = slc_len(c, &x);
        FZ_RC(rc, op_read_rc(i), "len");
        FZ_CHECK(rc || x == M.live, "len %llu, model %llu",
                 (unsigned long long)x, (unsigned long long)M.live);
        break;
    case 1:
        rc = slc_generation(c, &x);
        FZ_RC(rc, op_read_rc(i), "generation");
        FZ_CHECK(rc || x == M.gen, "generation %llu, model %llu",
                 (unsigned long long)x, (unsigned long long)M.gen);
        break;
    case 2:
        rc = slc_user_header(c, &x, ud);
        FZ_RC(rc, op_read_rc(i), "user_header");
        FZ_CHECK(rc || (x == M.uflags && memcmp(ud, M.udata, 64) == 0),
                 "user header differs from the model");
        break;
    case 3:
        rc = slc_user_header(c, (v & 8) ? &x : NULL, (v & 16) ? ud : NULL);
        FZ_RC(rc, op_read_rc(i), "user_header with NULL outputs");
        break;
    case 4:
        if (i >= 0)
            op_check_stat(i, "stat");
        else
            FZ_RC(slc_stat_get(NULL, NULL), SLC_EINVAL, "stat NULL");
        break;
    default: { /* a usable handle reports its file's state first */
        int want = i >= 0 && M.invalidated ? SLC_EINVALIDATED : SLC_EINVAL;
        FZ_RC(slc_len(c, NULL), want, "len NULL output");
        FZ_RC(slc_generation(c, NULL), want, "generation NULL output");
        FZ_RC(slc_stat_get(c, NULL), want, "stat NULL output");
        break;
    }
    }
}

/* Live model slots in ascending id order that satisfy pred (NULL: all). */
typedef int (*op_pred)(const uint8_t *key, const void *arg);

static size_t op_cands(fz_ent *out, op_pred pred, const void *arg)
{
    size_t n = 0;
    for (uint64_t id = 0; id < M.hw; id++) {
        const op_slot *s = &M.slots[id];
        if (!s->used || (pred && !pred(s->key, arg)))
            continue;
        out[n].slot_id = id;
        out[n].revision = s->rev;
        out[n].key = s->key;
        out[n].index = s->index;
        n++;
    }
    return n;
}

static void op_scan(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    fz_scanq q;
    fz_scanq_read(in, &q, 1);
    fz_got g;
    fz_got_init(&g, M.ks, M.is, &q);
    int rc = fz_run_scan(op_h(i), &q, &g);
    if (i < 0 || (!M.invalidated && !fz_scanq_valid(&q))) {
        FZ_RC(rc, SLC_EINVAL, "scan with bad arguments");
    } else if (M.invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "scan on an invalidated cache");
    } else {
        fz_ent cand[OP_MAX_CAP];
        size_t n = op_cands(cand, NULL, NULL);
        fz_expect_scan(rc, &g, &q, cand, n, "scan");
    }
    FZ_CHECK(rc == SLC_OK || rc == q.stop_value || g.count == 0,
             "scan failed with %d after delivering %zu entries", rc, g.count);
    fz_got_free(&g);
}

static int op_pred_prefix(const uint8_t *key, const void *arg)
{
    return fz_prefix_match(arg, key);
}

static void op_prefix(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    uint8_t pb = fz_u8(in);
    slc_prefix p;
    memset(&p, 0, sizeof p);
    p.offset = (pb & 0x80) ? fz_u32(in) : fz_u8(in) % (M.ks + 2);
    uint8_t bb = fz_u8(in);
    p.bits = (bb & 3) == 0 ? 0 : (uint32_t)fz_u8(in) % (8 * M.ks + 10);
    if (pb & 0x40)
        p.len = fz_u8(in) % (M.ks + 3);
    else
        p.len = p.bits ? (p.bits + 7) / 8 : 1 + fz_u8(in) % (M.ks + 1);
    /* Pattern: a numbered key's bytes from the offset, last byte varied. */
    uint8_t k[OP_MAX_KEY + 8];
    memset(k, 0, sizeof k);
    op_key(fz_u8(in) & 0x3F, k);
    uint8_t *pat = malloc(p.len ? p.len : 1);
    FZ_CHECK(pat, "out of memory");
    for (size_t j = 0; j < p.len; j++)
        pat[j] = (size_t)p.offset + j < M.ks ? k[p.offset + j] : 0;
    if (p.len && (bb & 4))
        pat[p.len - 1] ^= (uint8_t)(bb >> 3);
    p.bytes = (pb & 0x3F) == 0x3F ? NULL : pat;
    fz_scanq q;
    fz_scanq_read(in, &q, (pb & 0x20) != 0);
    fz_got g;
    fz_got_init(&g, M.ks, M.is, &q);
    int rc = fz_run_prefix(op_h(i), &p, &q, &g);
    if (i < 0) {
        FZ_RC(rc, SLC_EINVAL, "prefix scan on NULL");
    } else if (M.invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "prefix scan on an invalidated cache");
    } else if (!fz_scanq_valid(&q) || !fz_prefix_valid(M.ks, &p)) {
        FZ_RC(rc, SLC_EINVAL, "prefix scan with bad arguments");
    } else {
        fz_ent cand[OP_MAX_CAP];
        size_t n = op_cands(cand, op_pred_prefix, &p);
        fz_expect_scan(rc, &g, &q, cand, n, "prefix scan");
    }
    fz_got_free(&g);
    free(pat);
}

typedef struct op_bounds {
    const uint8_t *lo, *hi;
} op_bounds;

static int op_pred_range(const uint8_t *key, const void *arg)
{
    const op_bounds *b = arg;
    return fz_range_match(M.ks, b->lo, b->hi, key);
}

/* One range bound: NULL, or a numbered key cut to a length, maybe bad. */
static uint8_t *op_bound(fz_in *in, size_t *len)
{
    uint8_t b = fz_u8(in);
    *len = (size_t)fz_u8(in) * 7; /* ignored for a NULL bound */
    if ((b & 3) == 0)
        return NULL;
    uint8_t k[OP_MAX_KEY];
    op_key(b >> 2, k);
    if ((b & 3) == 1)
        *len = M.ks;
    else if ((b & 3) == 2)
        *len = 1 + *len % M.ks;
    else
        *len = (b & 4) ? 0 : M.ks + 1; /* SLC_EINVAL */
    uint8_t *buf = malloc(*len ? *len : 1);
    FZ_CHECK(buf, "out of memory");
    for (size_t j = 0; j < *len; j++)
        buf[j] = j < M.ks ? k[j] : 0xFF;
    return buf;
}

static void op_range(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    size_t sl, el;
    uint8_t *s = op_bound(in, &sl), *e = op_bound(in, &el);
    fz_scanq q;
    fz_scanq_read(in, &q, (sel & 0x20) != 0);
    fz_got g;
    fz_got_init(&g, M.ks, M.is, &q);
    int rc = fz_run_range(op_h(i), s, sl, e, el, &q, &g);
    uint8_t lo[OP_MAX_KEY], hi[OP_MAX_KEY];
    int empty;
    if (i < 0) {
        FZ_RC(rc, SLC_EINVAL, "range scan on NULL");
    } else if (M.invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "range scan on an invalidated cache");
    } else if (!M.ordered) {
        FZ_RC(rc, SLC_EUNORDERED, "range scan on an unordered cache");
    } else if (!fz_scanq_valid(&q) ||
               !fz_range_valid(M.ks, s, sl, e, el, lo, hi, &empty)) {
        FZ_RC(rc, SLC_EINVAL, "range scan with bad arguments");
    } else {
        op_bounds b = {s ? lo : NULL, e ? hi : NULL};
        fz_ent cand[OP_MAX_CAP];
        size_t n = empty ? 0 : op_cands(cand, op_pred_range, &b);
        fz_expect_scan(rc, &g, &q, cand, n, "range scan");
    }
    fz_got_free(&g);
    free(s);
    free(e);
}

/* slc_get_many: up to 40 keys (several groups of 16), with the argument
 * variants of slc_get plus NULL results and an n * key_len overflow. */
static void op_get_many(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    size_t n = fz_u8(in) % 41;
    int v = fz_u8(in) % 14;
    size_t klen = M.ks, ilen = M.is;
    int bad = 0, null_keys = 0, null_results = 0, null_revs = 0,
        null_index = 0;
    switch (v) {
    case 5: null_revs = 1; break;
    case 6: null_index = 1; ilen = 0; break;
    case 7: null_index = 1; break;
    case 8: klen = M.ks + 1; bad = 1; break;
    case 9: null_keys = 1; bad = n != 0; break; /* n == 0 reads no key */
    case 10: null_results = 1; bad = 1; break;
    case 11: ilen = M.is + 1; bad = 1; break;
    case 12: /* n * key_len overflows size_t: refused before any read */
        if (M.ks > 1) {
            n = SIZE_MAX / M.ks + 1;
            bad = 1;
        }
        break;
    default: break;
    }
    size_t nk = bad && v == 12 ? 1 : n; /* keys actually in the buffer */
    uint8_t *keys = malloc(nk * klen + 1);
    int *res = malloc((nk ? nk : 1) * sizeof *res);
    int64_t *revs = malloc((nk ? nk : 1) * sizeof *revs);
    uint8_t *ix = malloc(nk * ilen + 1);
    FZ_CHECK(keys && res && revs && ix, "out of memory");
    memset(keys, 0, nk * klen + 1);
    for (size_t k = 0; k < nk; k++) {
        uint8_t key[OP_MAX_KEY];
        op_read_key(in, key);
        memcpy(keys + k * klen, key, M.ks);
    }
    int rc = slc_get_many(op_h(i), null_keys ? NULL : keys, n, klen,
                          null_results ? NULL : res, null_revs ? NULL : revs,
                          null_index ? NULL : ix, ilen);
    if (i < 0 || (bad && !M.invalidated)) {
        FZ_RC(rc, SLC_EINVAL, "get_many with bad arguments");
    } else if (M.invalidated) { /* the state before the arguments */
        FZ_CHECK(rc == SLC_EINVALIDATED, "get_many of %zu keys on an invalidated cache: %d", n, rc);
    } else {
        FZ_RC(rc, SLC_OK, "get_many");
        for (size_t k = 0; k < n; k++) {
            int id = op_live(keys + k * klen);
            FZ_CHECK(res[k] == (id >= 0 ? SLC_OK : SLC_NOTFOUND),
                     "get_many: key %zu of %zu: %d, model %s", k, n, res[k],
                     id >= 0 ? "hit" : "miss");
            if (id < 0)
                continue;
            FZ_CHECK(null_revs || revs[k] == M.slots[id].rev,
                     "get_many: key %zu revision", k);
            FZ_CHECK(null_index || !M.is ||
                         !memcmp(ix + k * M.is, M.slots[id].index, M.is),
                     "get_many: key %zu index bytes", k);
        }
    }
    free(keys);
    free(res);
    free(revs);
    free(ix);
}

typedef struct op_match {
    uint32_t offset, len;
    const uint8_t *value, *mask;
} op_match;

static int op_pred_match(const op_slot *s, const void *arg)
{
    const op_match *m = arg;
    for (uint32_t k = 0; k < m->len; k++) {
        uint8_t mk = m->mask ? m->mask[k] : 0xFF;
        if ((s->index[m->offset + k] & mk) != (m->value[k] & mk))
            return 0;
    }
    return 1;
}

/* slc_scan_match: index byte predicates, valid and not (SLC_EINVAL). */
static void op_scan_match(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    uint8_t mb = fz_u8(in);
    slc_index_match m;
    memset(&m, 0, sizeof m);
    m.offset = (mb & 0x80) ? fz_u32(in) : fz_u8(in) % (M.is + 2);
    uint32_t room = M.is > m.offset ? M.is - m.offset : 1;
    if (room > SLC_MAX_MATCH_LEN)
        room = SLC_MAX_MATCH_LEN;
    m.len = (mb & 0x40) ? fz_u8(in) % (SLC_MAX_MATCH_LEN + 6)
                        : 1 + fz_u8(in) % room;
    /* Value: the index bytes a numbered put would write, maybe varied. */
    uint8_t full[OP_MAX_INDEX + SLC_MAX_MATCH_LEN + 8];
    uint8_t x = fz_u8(in);
    for (size_t k = 0; k < sizeof full; k++)
        full[k] = (uint8_t)(x + 3 * k);
    uint8_t *val = malloc(m.len ? m.len : 1), *msk = malloc(m.len ? m.len : 1);
    FZ_CHECK(val && msk, "out of memory");
    for (uint32_t k = 0; k < m.len; k++) {
        val[k] = (uint64_t)m.offset + k < sizeof full ? full[m.offset + k] : 0;
        msk[k] = (mb & 0x10) ? fz_u8(in) : 0xFF;
    }
    if (m.len && (mb & 0x08))
        val[fz_u8(in) % m.len] ^= 1;
    m.value = (mb & 0x07) == 0x07 ? NULL : val;
    m.mask = (mb & 0x20) ? msk : NULL;
    int null_spec = (mb & 0x07) == 0x06 && (mb & 0x08);
    fz_scanq q;
    fz_scanq_read(in, &q, (sel & 0x20) != 0);
    fz_got g;
    fz_got_init(&g, M.ks, M.is, &q);
    int rc = fz_run_match(op_h(i), null_spec ? NULL : &m, &q, &g);
    int valid = !null_spec && m.value && m.len >= 1 &&
                m.len <= SLC_MAX_MATCH_LEN && m.offset <= M.is &&
                m.len <= M.is - m.offset;
    if (i < 0) {
        FZ_RC(rc, SLC_EINVAL, "match scan on NULL");
    } else if (M.invalidated) {
        FZ_RC(rc, SLC_EINVALIDATED, "match scan on an invalidated cache");
    } else if (!fz_scanq_valid(&q) || !valid) {
        FZ_RC(rc, SLC_EINVAL, "match scan with bad arguments");
    } else {
        op_match om = {m.offset, m.len, val, m.mask ? msk : NULL};
        fz_ent cand[OP_MAX_CAP];
        size_t n = 0;
        for (uint64_t id = 0; id < M.hw; id++) {
            const op_slot *sl = &M.slots[id];
            if (!sl->used || !op_pred_match(sl, &om))
                continue;
            cand[n].slot_id = id;
            cand[n].revision = sl->rev;
            cand[n].key = sl->key;
            cand[n].index = sl->index;
            n++;
        }
        fz_expect_scan(rc, &g, &q, cand, n, "match scan");
    }
    fz_got_free(&g);
    free(val);
    free(msk);
}

/* ---- Lifecycle ---------------------------------------------------------- */

static void op_invalidate(uint8_t sel)
{
    int i = op_handle(sel);
    int rc = slc_invalidate(op_h(i));
    if (i < 0) {
        FZ_RC(rc, SLC_EINVAL, "invalidate NULL");
        return;
    }
    if (M.ro[i]) {
        FZ_RC(rc, SLC_EINVAL, "invalidate on a read-only handle");
        return;
    }
    if (M.w && !M.w_ended) {
        FZ_RC(rc, SLC_EBUSY, "invalidate with an active writer");
        return;
    }
    FZ_RC(rc, SLC_OK, "invalidate");
    if (!M.invalidated) {
        M.invalidated = 1;
        M.gen += 2;
    }
    op_check_file("after invalidate");
}

/* Close handle i; 0 if it stays open (a writer of it is not freed). */
static int op_close(int i)
{
    if (!M.h[i])
        return 1;
    int rc = slc_close(M.h[i]);
    if (M.w && M.wh == i) {
        FZ_RC(rc, SLC_EBUSY, "close with an unfreed writer");
        return 0;
    }
    FZ_RC(rc, SLC_OK, "close");
    M.h[i] = NULL;
    return 1;
}

/* Open handle i with options varied by v: exact, mismatched or invalid. */
static void op_open(int i, uint8_t v, uint8_t fl)
{
    slc_options o = op_options(op_open_flags(fl), (fl & 0x10) != 0);
    int want = SLC_OK;
    switch (v % 12) {
    case 6: o.key_size = M.ks < 512 ? M.ks + 1 : M.ks - 1; want = SLC_EINCOMPATIBLE; break;
    case 7: o.index_size = M.is + 1; want = SLC_EINCOMPATIBLE; break;
    case 8: o.user_version = M.uv + 1; want = SLC_EINCOMPATIBLE; break;
    case 9: o.flags ^= SLC_ORDERED_KEYS; want = SLC_EINCOMPATIBLE; break;
    case 10: o.slot_capacity = M.cap + 1; want = SLC_EINCOMPATIBLE; break;
    case 11:
        want = SLC_EINVAL;
        if (fl & 0x20)
            o.key_size = (fl & 0x40) ? 0 : SLC_MAX_KEY_SIZE + 1;
        else if (fl & 0x40)
            o.flags |= 1u << 5;
        else
            o.slot_capacity = SLC_MAX_SLOT_CAPACITY + 1ull;
        break;
    default: break;
    }
    if (want != SLC_EINVAL && M.invalidated)
        want = SLC_EINVALIDATED; /* group D precedes E */
    slc_cache *c = (slc_cache *)&M;
    FZ_RC(slc_open(op_file(), &o, &c), want, "reopen");
    FZ_CHECK((want == SLC_OK) == (c != NULL), "open result and handle disagree");
    M.h[i] = c;
    M.ro[i] = (o.flags & SLC_READ_ONLY) != 0;
}

static void op_reopen(uint8_t sel, uint8_t v, uint8_t fl)
{
    int i = sel & 1;
    if (op_close(i))
        op_open(i, v, fl);
}

static void op_recreate(fz_in *in)
{
    uint8_t c[5];
    fz_bytes(in, c, 5);
    op_writer_free();
    FZ_CHECK(op_close(0) && op_close(1), "recreate: close failed");
    op_create(c);
}

static void op_bad_args(fz_in *in, uint8_t sel)
{
    int i = op_handle(sel);
    slc_cache *c = op_h(i);
    slc_options o = op_options(0, 1);
    slc_cache *out = NULL;
    slc_writer *wout = NULL;
    uint8_t k[OP_MAX_KEY + 1];
    memset(k, 0, sizeof k);
    uint8_t v = fz_u8(in);
    int w_live = M.w && !M.w_ended;
    switch (v % 10) {
    case 0:
        /* Not a regular file, and a path in a missing directory. */
        FZ_RC(slc_read_options(fz_dir(), &o), SLC_EINVAL,
              "read_options of a directory");
        FZ_RC(slc_open(fz_path(1, "missing/x.slc"), &o, &out), SLC_ESYS,
              "open in a missing directory");
        FZ_CHECK(errno == ENOENT, "SLC_ESYS without its errno: %d", errno);
        FZ_RC(slc_open(NULL, &o, &out), SLC_EINVAL, "open NULL path");
        FZ_RC(slc_open(op_file(), NULL, &out), SLC_EINVAL, "open NULL options");
        FZ_RC(slc_open(op_file(), &o, NULL), SLC_EINVAL, "open NULL out");
        FZ_RC(slc_open("", &o, &out), SLC_EINVAL, "open empty path");
        break;
    case 1:
        FZ_RC(slc_put(NULL, k, M.ks, 0, k, M.is), SLC_EINVAL, "put NULL writer");
        FZ_RC(slc_delete(NULL, k, M.ks, NULL), SLC_EINVAL, "delete NULL writer");
        FZ_RC(slc_commit(NULL), SLC_EINVAL, "commit NULL");
        FZ_RC(slc_set_user_flags(NULL, 1), SLC_EINVAL, "user flags NULL");
        FZ_RC(slc_set_user_data(NULL, k), SLC_EINVAL, "user data NULL");
        FZ_RC(slc_writer_close(NULL), SLC_OK, "writer_close NULL");
        FZ_RC(slc_close(NULL), SLC_OK, "close NULL");
        break;
    case 2:
        FZ_RC(slc_invalidate(NULL), SLC_EINVAL, "invalidate NULL");
        FZ_RC(slc_verify(NULL), SLC_EINVAL, "verify NULL");
        FZ_RC(slc_begin_write(NULL, &wout), SLC_EINVAL, "begin NULL cache");
        FZ_RC(slc_scan(NULL, NULL, NULL, NULL), SLC_EINVAL, "scan NULL");
        if (c)
            FZ_RC(slc_begin_write(c, NULL), SLC_EINVAL, "begin NULL out");
        break;
    case 3: /* wrong key length, NULL key */
    case 4: /* wrong index length, NULL index */
    case 5: {
        if (!M.w)
            break;
        int rc;
        if (v % 10 == 3)
            rc = slc_put(M.w, (v & 0x10) ? NULL : k,
                         (v & 0x20) && M.ks > 1 ? M.ks - 1 : M.ks + 1, 0, k,
                         M.is);
        else if (v % 10 == 4)
            rc = (v & 0x10) && M.is
                     ? slc_put(M.w, k, M.ks, 0, NULL, M.is)
                     : slc_put(M.w, k, M.ks, 0, k, M.is + 1 + (v >> 6));
        else
            rc = slc_delete(M.w, (v & 0x10) ? NULL : k,
                            (v & 0x10) ? M.ks : M.ks + 1, NULL);
        if (w_live)
            FZ_RC(rc, SLC_EINVAL, "staging call with bad arguments");
        else /* an ended writer says so whatever the arguments */
            FZ_RC(rc, SLC_ECLOSED, "bad staging call on an ended writer");
        break;
    }
    case 6:
        if (M.w)
            FZ_RC(slc_set_user_data(M.w, NULL),
                  M.w_ended ? SLC_ECLOSED : SLC_EINVAL, "user data NULL");
        break;
    case 7: {
        slc_options r;
        memset(&r, 0xCC, sizeof r);
        FZ_RC(slc_read_options(op_file(), NULL), SLC_EINVAL,
              "read_options NULL");
        int rc = slc_read_options(op_file(), &r);
        FZ_RC(rc, M.invalidated ? SLC_EINVALIDATED : SLC_OK, "read_options");
        if (!rc)
            FZ_CHECK(r.key_size == M.ks && r.index_size == M.is &&
                         r.user_version == M.uv && r.slot_capacity == M.cap &&
                         r.flags == (M.ordered ? SLC_ORDERED_KEYS : 0u),
                     "read_options differs from the model");
        break;
    }
    case 8:
        FZ_RC(slc_verify(c), op_read_rc(i), "verify");
        break;
    default:
        if (c) {
            fz_scanq q;
            memset(&q, 0, sizeof q);
            fz_got g;
            fz_got_init(&g, M.ks, M.is, &q);
            FZ_RC(fz_run_prefix(c, NULL, &q, &g),
                  M.invalidated ? SLC_EINVALIDATED : SLC_EINVAL,
                  "prefix scan with a NULL spec");
            fz_got_free(&g);
        }
        break;
    }
}

/* Everything observable must match the model. */
static void op_check_all(const char *why)
{
    op_check_file(why);
    for (int i = 0; i < 2; i++) {
        if (!M.h[i])
            continue;
        op_check_stat(i, why);
        FZ_RC(slc_verify(M.h[i]), op_read_rc(i), why);
        fz_scanq q;
        memset(&q, 0, sizeof q);
        fz_got g;
        fz_got_init(&g, M.ks, M.is, &q);
        int rc = fz_run_scan(M.h[i], &q, &g);
        if (M.invalidated) {
            FZ_RC(rc, SLC_EINVALIDATED, why);
        } else {
            fz_ent cand[OP_MAX_CAP];
            size_t n = op_cands(cand, NULL, NULL);
            fz_expect_scan(rc, &g, &q, cand, n, why);
        }
        fz_got_free(&g);
    }
}

static void op_step(fz_in *in)
{
    uint8_t op = fz_u8(in), sel = fz_u8(in);
    switch (op % 26) {
    case 0: case 1: case 2: op_put(in, sel); break;
    case 3: case 4: op_del(in, sel); break;
    case 5: op_commit(sel); break;
    case 6: op_writer_free(); break;
    case 7: op_begin(op_handle(sel)); break;
    case 8: op_user(in, sel, 0); break;
    case 9: op_user(in, sel, 1); break;
    case 10: case 11: op_get(in, sel); break;
    case 12: op_header_reads(sel, fz_u8(in)); break;
    case 13: case 14: op_scan(in, sel); break;
    case 15: op_prefix(in, sel); break;
    case 16: op_range(in, sel); break;
    case 17: FZ_RC(slc_verify(op_h(op_handle(sel))),
                   op_read_rc(op_handle(sel)), "verify");
        break;
    case 18: op_invalidate(sel); break;
    case 19: {
        uint8_t v = fz_u8(in);
        op_reopen(sel, v, fz_u8(in));
        break;
    }
    case 20:
        if (M.h[1])
            op_close(1);
        else
            op_open(1, 0, sel);
        break;
    case 21: op_recreate(in); break;
    case 22: op_bad_args(in, sel); break;
    case 24: op_get_many(in, sel); break;
    case 25: op_scan_match(in, sel); break;
    default: op_check_all("check op"); break;
    }
}

int fz_ops_one(const uint8_t *data, size_t size)
{
    fz_fd_begin();
    fz_in in = {data, size};
    uint8_t c[5];
    fz_bytes(&in, c, 5);
    memset(M.h, 0, sizeof M.h);
    M.w = NULL;
    M.nst = 0;
    op_create(c);
    for (int n = 0; in.n && n < OP_MAX_STEPS; n++)
        op_step(&in);
    /* Closing without commit discards; the file stays as published. */
    op_writer_free();
    op_check_all("end");
    FZ_CHECK(op_close(0) && op_close(1), "final close failed");
    fz_remove(op_file());
    fz_fd_end();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_ops_one(data, size);
}
