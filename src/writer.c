/* Write sessions: staging, commit planning, publication.
 *
 * A session is exclusive (registry mark + flock), so the file cannot change
 * under it: planning reads the index directly and decides every outcome -
 * SLC_EFULL, SLC_EOUTOFORDER, SLC_ECORRUPT, SLC_ENOMEM, and SLC_ESYS when
 * the disk has no room - before the generation goes odd. It decides every
 * byte too: each insert's bucket, a rehash, the counters, and so every page
 * the commit will write, whose disk space is allocated (space.c) before
 * anything is published. Publication then cannot fail; it only stores.
 *
 * Commit order (SLC1 8.4, 16): odd generation; updates; deletes; inserts
 * (key order in ordered mode, else the order each key was last staged);
 * rehash if tombstones exceed a quarter of the buckets; counters and user
 * header; CRC; even generation. In Sync mode msync makes the odd marker
 * durable before any data page can be, and the data durable before the even
 * marker: after power loss the file shows either the old state or an odd
 * generation, never new and old pages mixed under an even one. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "hook.h"
#include "lock.h"
#include "space.h"
#include "validate.h"
#include "writeback.h"

#ifdef SLC_TEST_HOOKS
void (*slc__test_hook)(const char *point);
int slc__test_fd_writes;
#endif

enum { OP_PUT = 1, OP_DEL = 2 };
enum { FILE_UNKNOWN = 0, FILE_ABSENT = 1, FILE_LIVE = 2 };

/* One staged key: the net operation (last wins) and its file lookup. */
typedef struct stage_entry {
    uint64_t hash;
    int64_t revision;
    uint64_t file_slot, file_bucket; /* valid when file_state == FILE_LIVE */
    uint32_t seq;                    /* when the key was last staged */
    uint8_t op, file_state;
    uint8_t reuse_tomb; /* an insert's bucket (file_bucket) is a TOMBSTONE */
} stage_entry;

struct slc_writer {
    slc_cache *c;
    int lock_fd;
    unsigned epoch; /* fork epoch of the session's process */
    int ended;      /* commit ran: only slc_writer_close is allowed */
    uint32_t calls; /* slc_put/slc_delete calls so far */
    uint32_t seq;

    /* Staged keys: entries[i] with payload i = key words (zero-padded to
     * 8 bytes) then index words (zero tail), ready to copy into a slot. */
    stage_entry *entries;
    uint8_t *payload;
    size_t count, cap;
    size_t key_bytes, rec_bytes;
    uint64_t *table; /* open addressing: hash high 32 bits << 32 | entry index + 1; 0 = empty */
    size_t table_mask;

    int flags_dirty, data_dirty;
    int replace_all; /* slc_set_replace_all: delete live keys not put */
    uint64_t user_flags;
    uint8_t user_data[SLC_USER_DATA_SIZE];

    slc__header start; /* header when the session began */
};

/* ---- Session start and end ---------------------------------------------- */

static int writer_gone(const slc_writer *w)
{
    if (w->epoch != slc__fork_epoch())
        return slc__fail(SLC_ECLOSED,
                         "writer belongs to the parent process (fork)");
    if (w->ended)
        return slc__fail(SLC_ECLOSED, "writer session already ended: "
                                     "slc_commit ends it whatever its result "
                                     "(a failed commit published nothing)");
    return SLC_OK;
}

static void staging_free(slc_writer *w)
{
    free(w->entries);
    free(w->payload);
    free(w->table);
    w->entries = NULL;
    w->payload = NULL;
    w->table = NULL;
    w->count = w->cap = 0;
}

/* Release exclusivity and drop staging: the session is over. */
static void session_end(slc_writer *w)
{
    if (w->ended)
        return;
    w->ended = 1;
    staging_free(w);
    slc__exclusive_release(w->c, w->lock_fd);
    w->lock_fd = -1;
}

/* Read the header while exclusive: no writer can move it, so one copy is
 * stable; it must still be sound before anything is staged against it. */
static int exclusive_header(slc_cache *c, slc__header *h, int *odd)
{
    uint8_t raw[SLC__HEADER_SIZE];
    slc__copy_out(raw, c->map, SLC__HEADER_SIZE);
    slc__header_decode(raw, h);
    *odd = (int)(h->generation & 1);
    if (*odd && c->lock_path) /* we hold the lock: the writer crashed */
        return slc__crashed_writer(h->generation, c->path);
    if (*odd)
        return slc__fail(SLC_EBUSY,
                         "generation %" PRIu64 " is odd and locking is "
                         "off: another writer may be publishing",
                         h->generation);
    int rc = slc__check_state(h->state);
    if (rc)
        return rc;
    rc = slc__validate_crc(raw, h);
    return rc ? rc : slc__check_counters(c, h);
}

int slc_begin_write(slc_cache *c, slc_writer **out)
{
    if (out)
        *out = NULL;
    if (!c || !out)
        return slc__fail(SLC_EINVAL, "slc_begin_write: NULL %s",
                         !c ? "cache" : "out");
    if (c->open_flags & SLC_READ_ONLY)
        return slc__fail(SLC_EINVAL, "slc_begin_write: handle opened with "
                                     "SLC_READ_ONLY");
    int lock_fd;
    int rc = slc__exclusive_acquire(c, &lock_fd);
    if (rc)
        return rc;
    slc_writer *w = calloc(1, sizeof *w);
    int odd;
    if (!w)
        rc = slc__fail(SLC_ENOMEM, "writer allocation failed");
    else
        rc = exclusive_header(c, &w->start, &odd);
    if (!rc) /* tmpfs: no read of the index may meet a hole */
        rc = slc__space_prepare(c);
    if (rc) {
        free(w);
        slc__exclusive_release(c, lock_fd);
        return rc;
    }
    w->c = c;
    w->lock_fd = lock_fd;
    w->epoch = slc__fork_epoch();
    w->key_bytes = slc__align8(c->key_size);
    w->rec_bytes = w->key_bytes + slc__align8(c->index_size);
    slc__handle_writers_add(c, +1);
    *out = w;
    return SLC_OK;
}

int slc_writer_close(slc_writer *w)
{
    if (!w)
        return SLC_OK;
    if (w->epoch != slc__fork_epoch()) {
        /* A forked child's copy: the lock and registry mark are the
         * parent's. Drop only our descriptor; LOCK_UN would free the
         * parent's lock, since both share one open file description. */
        if (!w->ended && w->lock_fd >= 0) {
            int saved = errno;
            close(w->lock_fd);
            errno = saved;
        }
        if (!w->ended)
            staging_free(w); /* our copy of the staging is ours to free */
        w->ended = 1;
    }
    session_end(w);
    slc__handle_writers_add(w->c, -1);
    free(w);
    return SLC_OK;
}

/* ---- Staging ------------------------------------------------------------ */

static uint8_t *payload_of(const slc_writer *w, size_t i)
{
    return w->payload + i * w->rec_bytes;
}

/* Find the staged entry of a key (key words form); SIZE_MAX if none. */
static size_t stage_find(const slc_writer *w, const uint8_t *kp, uint64_t h,
                         size_t *pos)
{
    size_t i = (size_t)h & w->table_mask;
    uint64_t tag = h >> 32 << 32;
    for (;;) {
        uint64_t t = w->table[i];
        if (!t) {
            *pos = i;
            return SIZE_MAX;
        }
        /* The tag rejects most other keys without touching entries. */
        uint32_t e = (uint32_t)t;
        if ((t & ~(uint64_t)UINT32_MAX) == tag && w->entries[e - 1].hash == h &&
            memcmp(payload_of(w, e - 1), kp, w->key_bytes) == 0) {
            *pos = i;
            return e - 1;
        }
        i = (i + 1) & w->table_mask;
    }
}

static int table_grow(slc_writer *w)
{
    size_t n = w->table ? (w->table_mask + 1) * 2 : 64;
    uint64_t *t = calloc(n, sizeof *t);
    if (!t)
        return slc__fail(SLC_ENOMEM, "staging table of %zu slots", n);
    for (size_t e = 0; e < w->count; e++) {
        uint64_t h = w->entries[e].hash;
        size_t i = (size_t)h & (n - 1);
        while (t[i])
            i = (i + 1) & (n - 1);
        t[i] = (h >> 32 << 32) | (uint64_t)(e + 1);
    }
    free(w->table);
    w->table = t;
    w->table_mask = n - 1;
    return SLC_OK;
}

static int entries_grow(slc_writer *w)
{
    size_t cap = w->cap ? w->cap * 2 : 16;
    size_t bytes;
    if (__builtin_mul_overflow(cap, w->rec_bytes, &bytes))
        return slc__fail(SLC_ENOMEM, "staging size overflows");
    stage_entry *e = realloc(w->entries, cap * sizeof *e);
    if (!e)
        return slc__fail(SLC_ENOMEM, "staging of %zu entries", cap);
    w->entries = e;
    uint8_t *p = realloc(w->payload, bytes ? bytes : 1);
    if (!p)
        return slc__fail(SLC_ENOMEM, "staging payload of %zu bytes", bytes);
    w->payload = p;
    w->cap = cap;
    return SLC_OK;
}

/* A staging lookup: the key in payload form, its hash, and where it is (or
 * would go) in the table. */
typedef struct stage_key {
    _Alignas(8) uint8_t kp[SLC_MAX_KEY_SIZE + 8];
    uint64_t hash;
    size_t pos;
    size_t entry; /* SIZE_MAX when the key is not staged */
} stage_key;

static int stage_lookup(slc_writer *w, const void *key, stage_key *sk)
{
    if (!w->table || (w->count + 1) * 2 > w->table_mask + 1) {
        int rc = table_grow(w);
        if (rc)
            return rc;
    }
    memset(sk->kp + w->key_bytes - 8, 0, 8);
    memcpy(sk->kp, key, w->c->key_size);
    sk->hash = slc__fnv1a64(key, w->c->key_size);
    sk->entry = stage_find(w, sk->kp, sk->hash, &sk->pos);
    return SLC_OK;
}

/* Add the looked-up key as a new entry (the table has room: see above). */
static int stage_add(slc_writer *w, stage_key *sk)
{
    if (w->count == w->cap) {
        int rc = entries_grow(w);
        if (rc)
            return rc;
    }
    size_t e = w->count++;
    w->table[sk->pos] = (sk->hash >> 32 << 32) | (uint64_t)(e + 1);
    memset(&w->entries[e], 0, sizeof w->entries[e]);
    w->entries[e].hash = sk->hash;
    uint8_t *p = payload_of(w, e);
    memcpy(p, sk->kp, w->key_bytes);
    memset(p + w->key_bytes, 0, w->rec_bytes - w->key_bytes);
    sk->entry = e;
    return SLC_OK;
}

static int check_call(slc_writer *w, const void *key, size_t key_len,
                      const char *fn)
{
    if (!w)
        return slc__fail(SLC_EINVAL, "%s: NULL writer", fn);
    int rc = writer_gone(w); /* after commit: SLC_ECLOSED, whatever else */
    if (rc)
        return rc;
    if (!key)
        return slc__fail(SLC_EINVAL, "%s: NULL key", fn);
    if (key_len != w->c->key_size)
        return slc__fail(SLC_EINVAL, "%s: key length %zu != key_size %" PRIu32,
                         fn, key_len, w->c->key_size);
    if (w->calls >= SLC_MAX_SESSION_OPS)
        return slc__fail(SLC_EINVAL, "%s: session already has %u put/delete "
                                     "calls (the limit)",
                         fn, SLC_MAX_SESSION_OPS);
    return SLC_OK;
}

int slc_put(slc_writer *w, const void *key, size_t key_len, int64_t revision,
            const void *index, size_t index_len)
{
    int rc = check_call(w, key, key_len, "slc_put");
    if (rc)
        return rc;
    if (index_len != w->c->index_size)
        return slc__fail(SLC_EINVAL,
                         "slc_put: index length %zu != index_size %" PRIu32,
                         index_len, w->c->index_size);
    if (!index && index_len)
        return slc__fail(SLC_EINVAL, "slc_put: NULL index");
    stage_key sk;
    if ((rc = stage_lookup(w, key, &sk)))
        return rc;
    if (sk.entry == SIZE_MAX && (rc = stage_add(w, &sk)))
        return rc;
    w->calls++;
    stage_entry *se = &w->entries[sk.entry];
    se->op = OP_PUT;
    se->revision = revision;
    se->seq = ++w->seq;
    if (index_len)
        memcpy(payload_of(w, sk.entry) + w->key_bytes, index, index_len);
    return SLC_OK;
}

/* Look a key up in the file's index. The writer is exclusive, so one
 * probe is authoritative; an impossible bucket or slot is SLC_ECORRUPT. */
static int file_lookup(slc_writer *w, const uint8_t *kp, uint64_t h,
                       slc__lookup *lk)
{
    return slc__probe(w->c, (const uint64_t *)(const void *)kp, h,
                      w->start.slot_highwater, lk);
}

int slc_delete(slc_writer *w, const void *key, size_t key_len, int *existed)
{
    int rc = check_call(w, key, key_len, "slc_delete");
    if (rc)
        return rc;
    stage_key sk;
    if ((rc = stage_lookup(w, key, &sk)))
        return rc;
    int live;
    if (sk.entry != SIZE_MAX) {
        live = w->entries[sk.entry].op == OP_PUT;
    } else {
        /* Ask the file first, so a failure leaves nothing staged. */
        slc__lookup lk;
        if ((rc = file_lookup(w, sk.kp, sk.hash, &lk)) ||
            (rc = stage_add(w, &sk)))
            return rc;
        stage_entry *se = &w->entries[sk.entry];
        se->file_state = lk.found ? FILE_LIVE : FILE_ABSENT;
        se->file_slot = lk.slot_id;
        se->file_bucket = lk.bucket;
        live = lk.found;
    }
    w->calls++;
    stage_entry *se = &w->entries[sk.entry];
    se->op = OP_DEL;
    se->seq = ++w->seq;
    if (existed)
        *existed = live;
    return SLC_OK;
}

/* User-header staging needs an open session on a file not invalidated. */
static int user_header_open(const slc_writer *w)
{
    int rc = writer_gone(w);
    return rc ? rc : slc__check_state(slc__state_now(w->c));
}

int slc_set_user_flags(slc_writer *w, uint64_t user_flags)
{
    if (!w)
        return slc__fail(SLC_EINVAL, "slc_set_user_flags: NULL writer");
    int rc = user_header_open(w);
    if (rc)
        return rc;
    w->user_flags = user_flags;
    w->flags_dirty = 1;
    return SLC_OK;
}

int slc_set_user_data(slc_writer *w,
                      const uint8_t user_data[SLC_USER_DATA_SIZE])
{
    if (!w)
        return slc__fail(SLC_EINVAL, "slc_set_user_data: NULL writer");
    int rc = user_header_open(w);
    if (rc)
        return rc;
    if (!user_data)
        return slc__fail(SLC_EINVAL, "slc_set_user_data: NULL user_data");
    memcpy(w->user_data, user_data, SLC_USER_DATA_SIZE);
    w->data_dirty = 1;
    return SLC_OK;
}

/* ---- Replace-all sessions ------------------------------------------------ */

int slc_set_replace_all(slc_writer *w)
{
    if (!w)
        return slc__fail(SLC_EINVAL, "slc_set_replace_all: NULL writer");
    int rc = writer_gone(w);
    if (rc)
        return rc;
    w->replace_all = 1;
    return SLC_OK;
}

/* Replace-all: stage a delete of every live key the session has not
 * staged, just before planning, so the commit's plan, atomicity and
 * SLC_EFULL rules are those of any session. The writer is exclusive: the
 * live slots are read directly. Keys the session staged keep their last
 * operation (a put stays, a delete stays). Not counted as calls. */
static int stage_replace_all(slc_writer *w)
{
    slc_cache *c = w->c;
    if (!w->replace_all)
        return SLC_OK;
    uint8_t key[SLC_MAX_KEY_SIZE];
    for (uint64_t id = 0; id < w->start.slot_highwater; id++) {
        const uint8_t *slot = slc__slot(c, id);
        if (slc__ld(slot) != SLC__META_USED)
            continue;
        slc__copy_out(key, slot + 8, c->key_size);
        stage_key sk;
        int rc = stage_lookup(w, key, &sk);
        if (!rc && sk.entry == SIZE_MAX)
            rc = stage_add(w, &sk);
        else if (!rc)
            continue;
        if (rc)
            return rc;
        w->entries[sk.entry].op = OP_DEL; /* file_state: found by the plan */
        w->entries[sk.entry].seq = ++w->seq;
    }
    return SLC_OK;
}

/* ---- Commit planning ---------------------------------------------------- */

/* Stable merge sort of entry indices; the comparators need the writer, so
 * qsort (no context argument in ISO C) does not fit. */
typedef int (*entry_cmp)(const slc_writer *w, uint32_t a, uint32_t b);

static void merge_sort(const slc_writer *w, uint32_t *v, uint32_t *tmp,
                       size_t n, entry_cmp cmp)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp(w, v[j], v[i]) < 0 ? v[j++] : v[i++];
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        memcpy(v, tmp, n * sizeof *v);
    }
}

static int by_key(const slc_writer *w, uint32_t a, uint32_t b)
{
    return memcmp(payload_of(w, a), payload_of(w, b), w->c->key_size);
}

static int by_seq(const slc_writer *w, uint32_t a, uint32_t b)
{
    uint32_t sa = w->entries[a].seq, sb = w->entries[b].seq;
    return (sa > sb) - (sa < sb);
}

/* What the commit will do, decided before anything is stored. */
typedef struct plan {
    uint32_t *updates, *deletes, *inserts; /* entry indices */
    size_t n_updates, n_deletes, n_inserts;
    uint32_t *mem;
    /* The index after the commit. Small commits: each insert's bucket is
     * in its stage_entry (file_bucket, reuse_tomb). Bulk commits and
     * rehashes: `section`, a private copy of the whole bucket section
     * (two words a bucket), and `changed`, the file pages where it differs
     * from the file. */
    uint64_t *section;
    uint64_t *changed;
    size_t n_changed;
    int rehash;
    slc__header after; /* the header to publish, generation aside */
    slc__claim claim;  /* pages to allocate before the odd window */
} plan;

static uint64_t section_bytes(const slc_cache *c)
{
    return c->bucket_count * SLC__BUCKET_SIZE;
}

static void plan_free(slc_writer *w, plan *p)
{
    free(p->mem);
    slc__section_free(p->section, (size_t)section_bytes(w->c));
    free(p->changed);
    slc__claim_drop(w->c, &p->claim);
}

/* Buckets a small commit changes, as planning sees them before anything
 * is stored: a small open-addressing map from bucket index to its new
 * kind. Deletes leave TOMBSTONEs that later inserts may take (SLC1 5.5). */
enum { OV_NONE = 0, OV_FULL = 1, OV_TOMB = 2 };
typedef struct overlay {
    uint64_t *e; /* (bucket + 1) | kind << 62; 0 = free entry */
    uint64_t mask;
} overlay;
#define OV_KEY (((uint64_t)1 << 62) - 1)

static uint64_t ov_home(const overlay *o, uint64_t b)
{
    return (b * 0x9E3779B97F4A7C15ull) >> 32 & o->mask;
}

static int ov_get(const overlay *o, uint64_t b)
{
    for (uint64_t i = ov_home(o, b);; i = (i + 1) & o->mask) {
        uint64_t e = o->e[i];
        if (!e)
            return OV_NONE;
        if ((e & OV_KEY) == b + 1)
            return (int)(e >> 62);
    }
}

static void ov_set(overlay *o, uint64_t b, int kind)
{
    uint64_t i = ov_home(o, b);
    while (o->e[i] && (o->e[i] & OV_KEY) != b + 1)
        i = (i + 1) & o->mask;
    o->e[i] = (b + 1) | (uint64_t)kind << 62;
}

/* The buckets as an insert of this commit sees them: the file's, under
 * the commit's own earlier changes. */
typedef struct overlay_view {
    const slc_cache *c;
    const overlay *o;
} overlay_view;

static uint64_t overlay_word(const void *ctx, uint64_t i)
{
    const overlay_view *v = ctx;
    int kind = ov_get(v->o, i);
    return kind == OV_FULL   ? 1
           : kind == OV_TOMB ? SLC__BUCKET_TOMBSTONE
                             : slc__ld(slc__bucket(v->c, i) + 8);
}

/* The bucket an insert of hash h takes (index.h), counting this commit's
 * own earlier changes, now marked FULL. UINT64_MAX if there is none
 * (counters that lie: the plan checked there is room). */
static uint64_t overlay_insert(const slc_cache *c, overlay *o, uint64_t h,
                               int *tomb)
{
    overlay_view v = {c, o};
    uint64_t b = slc__index_free_on_path(c->bucket_mask, h, overlay_word, &v,
                                         tomb);
    if (b != UINT64_MAX)
        ov_set(o, b, OV_FULL);
    return b;
}

static uint64_t section_word(const void *ctx, uint64_t i)
{
    return ((const uint64_t *)ctx)[2 * i + 1];
}

/* The same on a private section; the bucket gets the hash (the caller
 * stores the slot word). */
static uint64_t section_insert(const slc_cache *c, uint64_t *sec, uint64_t h,
                               int *tomb)
{
    uint64_t b = slc__index_free_on_path(c->bucket_mask, h, section_word, sec,
                                         tomb);
    if (b != UINT64_MAX)
        sec[2 * b] = h;
    return b;
}

static int no_bucket(uint64_t h)
{
    return slc__fail(SLC_ECORRUPT,
                     "no EMPTY or TOMBSTONE bucket on the probe path of hash "
                     "%016" PRIx64 ": the index counters are wrong",
                     h);
}

/* Small commits: the bucket of every insert, with a map of the buckets the
 * commit changes. Counts the TOMBSTONEs inserts take back. */
static int place_small(slc_writer *w, plan *p, uint64_t *reused)
{
    slc_cache *c = w->c;
    size_t want = 2 * (p->n_deletes + p->n_inserts) + 16, n = 16;
    while (n < want)
        n *= 2;
    overlay o = {calloc(n, sizeof(uint64_t)), n - 1};
    if (!o.e)
        return slc__fail(SLC_ENOMEM, "commit bucket map of %zu entries", n);
    for (size_t i = 0; i < p->n_deletes; i++)
        ov_set(&o, w->entries[p->deletes[i]].file_bucket, OV_TOMB);
    int rc = SLC_OK;
    for (size_t i = 0; i < p->n_inserts && !rc; i++) {
        stage_entry *se = &w->entries[p->inserts[i]];
        int tomb = 0;
        uint64_t b = overlay_insert(c, &o, se->hash, &tomb);
        if (b == UINT64_MAX) {
            rc = no_bucket(se->hash);
            break;
        }
        se->file_bucket = b;
        se->reuse_tomb = (uint8_t)tomb;
        *reused += (uint64_t)tomb;
    }
    free(o.e);
    return rc;
}

static uint64_t off_of(const slc_cache *c, const uint8_t *p)
{
    return (uint64_t)(p - c->map);
}

/* Bulk commits: apply the bucket changes to a private copy of the section
 * (a fresh zeroed one when the index is empty, as for a first load). */
static int place_bulk(slc_writer *w, plan *p, uint64_t *reused)
{
    slc_cache *c = w->c;
    size_t bytes = (size_t)section_bytes(c);
    int empty = w->start.bucket_used == 0 && w->start.bucket_tombstones == 0;
    p->section = slc__section_alloc(bytes);
    if (!p->section)
        return slc__fail(SLC_ENOMEM, "commit bucket section of %zu bytes",
                         bytes);
    if (!empty)
        slc__copy_out(p->section, c->buckets, bytes);
    for (size_t i = 0; i < p->n_deletes; i++)
        p->section[2 * w->entries[p->deletes[i]].file_bucket + 1] =
            SLC__BUCKET_TOMBSTONE;
    for (size_t i = 0; i < p->n_inserts; i++) {
        const stage_entry *se = &w->entries[p->inserts[i]];
        uint64_t id = w->start.slot_highwater + i;
        int tomb = 0;
        uint64_t b = section_insert(c, p->section, se->hash, &tomb);
        if (b == UINT64_MAX)
            return no_bucket(se->hash);
        p->section[2 * b + 1] = id + 1;
        *reused += (uint64_t)tomb;
    }
    return SLC_OK;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Rehash (SLC1 5.6): the index rebuilt from the live slots after the
 * commit, in ascending slot id order, into a private section. */
static int place_rehash(slc_writer *w, plan *p, uint64_t *used)
{
    slc_cache *c = w->c;
    size_t bytes = (size_t)section_bytes(c);
    slc__section_free(p->section, bytes);
    p->section = slc__section_alloc(bytes);
    uint64_t *gone = malloc((p->n_deletes + 1) * sizeof *gone);
    if (!p->section || !gone) {
        free(gone);
        return slc__fail(SLC_ENOMEM, "rehash section of %zu bytes", bytes);
    }
    for (size_t i = 0; i < p->n_deletes; i++)
        gone[i] = w->entries[p->deletes[i]].file_slot;
    qsort(gone, p->n_deletes, sizeof *gone, by_u64);
    uint8_t key[SLC_MAX_KEY_SIZE];
    size_t g = 0;
    int rc = SLC_OK;
    *used = 0;
    uint64_t hw = w->start.slot_highwater;
    for (uint64_t id = 0; id < hw + p->n_inserts && !rc; id++) {
        uint64_t h;
        if (id < hw) {
            while (g < p->n_deletes && gone[g] < id)
                g++;
            if (g < p->n_deletes && gone[g] == id)
                continue;
            const uint8_t *s = slc__slot(c, id);
            if (!(slc__ld(s) & SLC__META_USED))
                continue;
            slc__copy_out(key, s + 8, c->key_size);
            h = slc__fnv1a64(key, c->key_size);
        } else {
            h = w->entries[p->inserts[id - hw]].hash;
        }
        int tomb;
        uint64_t b = section_insert(c, p->section, h, &tomb);
        if (b == UINT64_MAX)
            rc = no_bucket(h);
        else
            p->section[2 * b + 1] = id + 1;
        (*used)++;
    }
    free(gone);
    return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w)
            return 0;
    }
    return 1;
}

/* A changed page that was a hole: it is zero, only other words need a
 * store. */
#define PAGE_WAS_HOLE ((uint64_t)1 << 63)

/* The file pages where the private section differs from the file, noted
 * for allocation and for the stores of the odd window. Pages inside holes
 * are zero without reading them (a read would make page-cache pages of a
 * first load's empty section). */
static int diff_section(slc_writer *w, plan *p)
{
    slc_cache *c = w->c;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = off_of(c, c->buckets), hi = lo + section_bytes(c);
    size_t cap = 0;
    const uint8_t *priv = (const uint8_t *)p->section;
    uint64_t data = 0, hole = 0; /* [data, hole): the next run of data */
    for (uint64_t pg = lo / page; pg * page < hi; pg++) {
        uint64_t a = pg * page < lo ? lo : pg * page;
        uint64_t b = (pg + 1) * page > hi ? hi : (pg + 1) * page;
        if (a >= hole) {
            data = slc__data_from(c, a);
            hole = data == UINT64_MAX ? UINT64_MAX : slc__hole_from(c, data);
        }
        int in_hole = b <= data;
        /* Exclusive: nothing stores into the file, plain reads are safe. */
        if (in_hole ? all_zero(priv + (a - lo), (size_t)(b - a))
                    : memcmp(priv + (a - lo), c->map + a, (size_t)(b - a)) == 0)
            continue;
        if (p->n_changed == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *n = realloc(p->changed, cap * sizeof *n);
            if (!n)
                return slc__fail(SLC_ENOMEM, "commit page list");
            p->changed = n;
        }
        p->changed[p->n_changed++] = pg | (in_hole ? PAGE_WAS_HOLE : 0);
        if (in_hole)
            slc__claim_new(c, &p->claim, a, b - a);
        else
            slc__claim_bytes(c, &p->claim, a, b - a);
    }
    return SLC_OK;
}

/* A commit is bulk when its changes are a sizeable part of the index:
 * then one pass over a private section beats a map of changed buckets. */
static int is_bulk(const slc_cache *c, const plan *p)
{
    return (uint64_t)(p->n_inserts + p->n_deletes) * 16 >= c->bucket_count;
}

#define SLOT_CLAIM_AHEAD (64u << 10)

/* Every bucket and counter after the commit, and the pages it may need
 * allocated. */
static int place(slc_writer *w, plan *p)
{
    slc_cache *c = w->c;
    slc__header *a = &p->after;
    *a = w->start;
    uint64_t reused = 0;
    int rc = is_bulk(c, p) ? place_bulk(w, p, &reused)
                           : place_small(w, p, &reused);
    if (rc)
        return rc;
    a->slot_highwater += p->n_inserts;
    a->live_count += p->n_inserts - p->n_deletes;
    a->bucket_used += p->n_inserts - p->n_deletes;
    a->bucket_tombstones += p->n_deletes - reused;
    if (4 * a->bucket_tombstones > c->bucket_count) {
        p->rehash = 1;
        if ((rc = place_rehash(w, p, &a->bucket_used)))
            return rc;
        a->bucket_tombstones = 0;
    }
    if (w->flags_dirty)
        a->user_flags = w->user_flags;
    if (w->data_dirty)
        memcpy(a->user_data, w->user_data, SLC_USER_DATA_SIZE);
    /* Pages that may be holes: new slots, EMPTY buckets inserts take. New
     * slots claim up to the next 64 KiB, so that a run of small commits
     * pays one fallocate per 64 KiB of slots. */
    if (p->n_inserts) {
        uint64_t lo = off_of(c, slc__slot(c, w->start.slot_highwater));
        uint64_t hi = lo + (uint64_t)p->n_inserts * c->slot_size;
        uint64_t ahead = (hi + SLOT_CLAIM_AHEAD - 1) / SLOT_CLAIM_AHEAD *
                         SLOT_CLAIM_AHEAD;
        uint64_t end = off_of(c, c->buckets);
        slc__claim_bytes(c, &p->claim, lo, (ahead < end ? ahead : end) - lo);
    }
    if (p->section)
        return diff_section(w, p);
    for (size_t i = 0; i < p->n_inserts; i++) {
        const stage_entry *se = &w->entries[p->inserts[i]];
        if (!se->reuse_tomb)
            slc__claim_bytes(c, &p->claim,
                             off_of(c, slc__bucket(c, se->file_bucket)),
                             SLC__BUCKET_SIZE);
    }
    return SLC_OK;
}

static int make_plan(slc_writer *w, plan *p)
{
    slc_cache *c = w->c;
    memset(p, 0, sizeof *p);
    int staged = stage_replace_all(w); /* replace-all sessions only */
    if (staged)
        return staged;
    size_t n = w->count;
    /* Three lists plus merge scratch share one allocation of 2n. */
    p->mem = malloc((2 * n + 1) * sizeof *p->mem);
    if (!p->mem)
        return slc__fail(SLC_ENOMEM, "commit plan for %zu keys", n);
    uint32_t *scratch = p->mem + n;
    /* Resolve every key against the index before anything is decided. */
    int empty = w->start.bucket_used == 0 && w->start.bucket_tombstones == 0;
    for (size_t e = 0; e < n; e++) {
        stage_entry *se = &w->entries[e];
        if (se->file_state == FILE_UNKNOWN && empty) {
            se->file_state = FILE_ABSENT; /* no FULL bucket: nothing to find */
            continue;
        }
        if (se->file_state == FILE_UNKNOWN) {
            slc__lookup lk;
            int rc = file_lookup(w, payload_of(w, e), se->hash, &lk);
            if (rc)
                return rc;
            se->file_state = lk.found ? FILE_LIVE : FILE_ABSENT;
            se->file_slot = lk.slot_id;
            se->file_bucket = lk.bucket;
        }
    }
    /* Partition into inserts, updates, deletes (absent deletes vanish). */
    size_t k = 0;
    p->inserts = p->mem;
    for (size_t e = 0; e < n; e++)
        if (w->entries[e].op == OP_PUT && w->entries[e].file_state == FILE_ABSENT)
            p->mem[k++] = (uint32_t)e;
    p->n_inserts = k;
    p->updates = p->mem + k;
    for (size_t e = 0; e < n; e++)
        if (w->entries[e].op == OP_PUT && w->entries[e].file_state == FILE_LIVE)
            p->mem[k++] = (uint32_t)e;
    p->n_updates = (size_t)(p->mem + k - p->updates);
    p->deletes = p->mem + k;
    for (size_t e = 0; e < n; e++)
        if (w->entries[e].op == OP_DEL && w->entries[e].file_state == FILE_LIVE)
            p->mem[k++] = (uint32_t)e;
    p->n_deletes = (size_t)(p->mem + k - p->deletes);

    uint64_t hw = w->start.slot_highwater;
    if (p->n_inserts > c->slot_capacity - hw)
        return slc__fail(SLC_EFULL,
                         "commit needs %zu new slots, %" PRIu64
                         " of %" PRIu64 " are free",
                         p->n_inserts, c->slot_capacity - hw, c->slot_capacity);
    if (c->file_flags & SLC__FLAG_ORDERED_KEYS) {
        merge_sort(w, p->inserts, scratch, p->n_inserts, by_key);
        if (p->n_inserts && hw > 0) {
            uint8_t tail[SLC_MAX_KEY_SIZE];
            slc__copy_out(tail, slc__slot(c, hw - 1) + 8, c->key_size);
            if (memcmp(payload_of(w, p->inserts[0]), tail, c->key_size) < 0)
                return slc__fail(SLC_EOUTOFORDER,
                                 "ordered keys: smallest new key sorts below "
                                 "the key of tail slot %" PRIu64,
                                 hw - 1);
        }
    } else {
        int sorted = 1;
        for (size_t i = 1; i < p->n_inserts && sorted; i++)
            sorted = w->entries[p->inserts[i - 1]].seq < w->entries[p->inserts[i]].seq;
        if (!sorted)
            merge_sort(w, p->inserts, scratch, p->n_inserts, by_seq);
    }
    /* Files sized elsewhere may have fewer buckets than 2x capacity: never
     * publish a table without an EMPTY bucket (deletes keep used+tombstones
     * unchanged; each insert adds at most one). */
    uint64_t taken = w->start.bucket_used + w->start.bucket_tombstones;
    if (p->n_inserts >= c->bucket_count - taken)
        return slc__fail(SLC_EFULL,
                         "commit would fill the hash index: %" PRIu64
                         " of %" PRIu64 " buckets taken, %zu inserts",
                         taken, c->bucket_count, p->n_inserts);
    return place(w, p);
}

/* ---- Publication -------------------------------------------------------- */

/* Where the stores of the odd window go. Through the mapping by default.
 * Small durable commits write through the descriptor instead: a store
 * through a mapping dirties its whole page-cache folio, which readahead
 * may have made large, and msync then writes all of it (about 1 MB per
 * changed slot on ext4, docs/benchmarks.md W6mixed); write(2) dirties
 * only the blocks it covers. Readers see either through the one page
 * cache. Every page written was allocated in planning, so a failed
 * pwrite falls back to the mapping without risk of SIGBUS. */
typedef struct out {
    slc_cache *c;
    int fd_mode;
    uint64_t limit; /* pwrite must not end past RLIMIT_FSIZE (SIGXFSZ) */
    uint64_t off;   /* pending run [off, off+len) in buf */
    size_t len;
    uint64_t end; /* end of the last byte written (the Sync barrier) */
    uint8_t buf[8192];
} out;

static void write_fd(out *o, uint64_t off, const uint8_t *src, size_t n)
{
    int saved = errno;
    if (slc__pwrite_all(o->c->fd, src, n, off) < 0) /* the page is */
        slc__copy_in(o->c->map + off, src, n);  /* allocated: no fault */
    errno = saved;
}

static void out_flush(out *o)
{
    if (o->len)
        write_fd(o, o->off, o->buf, o->len);
    o->len = 0;
}

/* Store n bytes at file offset off (8-aligned), through the descriptor. */
static void out_bytes_fd(out *o, uint64_t off, const void *src, size_t n)
{
    if (off + n > o->limit) {
        out_flush(o); /* keep the order of overlapping stores */
        slc__copy_in(o->c->map + off, src, n);
        return;
    }
    if (o->len && (off != o->off + o->len || o->len + n > sizeof o->buf))
        out_flush(o);
    if (n > sizeof o->buf) {
        write_fd(o, off, src, n);
        return;
    }
    if (!o->len)
        o->off = off;
    memcpy(o->buf + o->len, src, n);
    o->len += n;
}

/* Store n bytes at file offset off (8-aligned). */
static inline void out_bytes(out *o, uint64_t off, const void *src, size_t n)
{
    if (off + n > o->end)
        o->end = off + n;
    if (o->fd_mode)
        out_bytes_fd(o, off, src, n);
    else
        slc__copy_in(o->c->map + off, src, n);
}

static inline void out_word(out *o, uint64_t off, uint64_t v)
{
    if (!o->fd_mode) {
        if (off + 8 > o->end)
            o->end = off + 8;
        slc__st(o->c->map + off, v);
        return;
    }
    uint8_t b[8];
    slc__put_le64(b, v);
    out_bytes(o, off, b, 8);
}

/* Store the section's differing words into the file's changed pages. */
static void store_section(out *o, const plan *p)
{
    slc_cache *c = o->c;
    out_flush(o);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t lo = off_of(c, c->buckets), hi = lo + section_bytes(c);
    for (size_t i = 0; i < p->n_changed; i++) {
        int hole = (p->changed[i] & PAGE_WAS_HOLE) != 0;
        uint64_t a = (p->changed[i] & ~PAGE_WAS_HOLE) * page, b = a + page;
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        /* The page changes: store all of it, without reading it; of a
         * page that was a hole only the words that are not zero. */
        const uint64_t *src = p->section + (a - lo) / 8;
        uint8_t *dst = c->map + a;
        size_t n = (size_t)(b - a) / 8;
        if (hole) {
            /* Mostly zero (a first load): skip zero runs 8 words at once. */
            size_t k = 0;
            for (; k + 8 <= n; k += 8) {
                if (!(src[k] | src[k + 1] | src[k + 2] | src[k + 3] |
                      src[k + 4] | src[k + 5] | src[k + 6] | src[k + 7]))
                    continue;
                for (size_t j = k; j < k + 8; j++)
                    if (src[j])
                        slc__st(dst + 8 * j, src[j]);
            }
            for (; k < n; k++)
                if (src[k])
                    slc__st(dst + 8 * k, src[k]);
        } else {
            for (size_t k = 0; k < n; k++)
                slc__st(dst + 8 * k, src[k]);
        }
        if (b > o->end)
            o->end = b;
    }
}

/* Apply the plan inside the odd window. */
static void apply(slc_writer *w, const plan *p, out *o)
{
    slc_cache *c = w->c;
    for (size_t i = 0; i < p->n_updates; i++) {
        const stage_entry *se = &w->entries[p->updates[i]];
        uint8_t *s = slc__slot(c, se->file_slot);
        out_word(o, off_of(c, s + c->rev_off), (uint64_t)se->revision);
        out_bytes(o, off_of(c, s + c->index_off),
                  payload_of(w, p->updates[i]) + w->key_bytes, c->index_size);
        SLC__HOOK("slot_write");
    }
    for (size_t i = 0; i < p->n_deletes; i++) {
        const stage_entry *se = &w->entries[p->deletes[i]];
        out_word(o, off_of(c, slc__slot(c, se->file_slot)), 0);
        if (!p->section)
            out_word(o, off_of(c, slc__bucket(c, se->file_bucket) + 8),
                     SLC__BUCKET_TOMBSTONE);
        SLC__HOOK("bucket_write");
    }
    uint64_t hw = w->start.slot_highwater;
    for (size_t i = 0; i < p->n_inserts; i++) {
        const stage_entry *se = &w->entries[p->inserts[i]];
        const uint8_t *pl = payload_of(w, p->inserts[i]);
        uint64_t s = off_of(c, slc__slot(c, hw + i));
        /* meta, key words (zero key padding), revision, index words. */
        out_word(o, s, SLC__META_USED);
        out_bytes(o, s + 8, pl, w->key_bytes);
        out_word(o, s + c->rev_off, (uint64_t)se->revision);
        out_bytes(o, s + c->index_off, pl + w->key_bytes,
                  w->rec_bytes - w->key_bytes);
        SLC__HOOK("slot_write");
        if (!p->section) {
            uint64_t b = off_of(c, slc__bucket(c, se->file_bucket));
            out_word(o, b, se->hash);
            out_word(o, b + 8, hw + i + 1);
        }
        SLC__HOOK("bucket_write");
    }
    if (p->rehash)
        SLC__HOOK("rehash");
    if (p->section)
        store_section(o, p);
    out_flush(o);
}

/* A big batch of inserts writes every new slot page and, once inserts
 * outnumber the bucket pages, nearly every bucket page: fault them in with
 * one call each, before the odd window opens (about 20 % off a 1,000,000
 * entry bulk load, bench/proposals/writer-populate.patch). Their space is
 * allocated already, so this cannot fault on a full disk. */
#define PREFAULT_MIN_BYTES (64u << 10)
static void prefault(const slc_writer *w, const plan *p)
{
    const slc_cache *c = w->c;
    uint64_t slot_bytes = (uint64_t)p->n_inserts * c->slot_size;
    if (slot_bytes < PREFAULT_MIN_BYTES)
        return;
    slc__prefault(c, SLC__HEADER_SIZE + w->start.slot_highwater * c->slot_size,
                  slot_bytes);
    uint64_t bucket_bytes = section_bytes(c);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if ((uint64_t)p->n_inserts >= bucket_bytes / page)
        slc__prefault(c, off_of(c, c->buckets), bucket_bytes);
}

int slc_commit(slc_writer *w)
{
    if (!w)
        return slc__fail(SLC_EINVAL, "slc_commit: NULL writer");
    int rc = writer_gone(w);
    if (rc)
        return rc;
    slc_cache *c = w->c;
    plan p;
    rc = make_plan(w, &p);
    if (rc == SLC_OK) /* disk space before anything is published */
        rc = slc__claim_commit(c, &p.claim);
    if (rc) {
        plan_free(w, &p);
        session_end(w);
        return rc;
    }

    int sync = (c->open_flags & SLC_WRITEBACK_SYNC) != 0;
    slc__writeback wb = {0, 0};
    out *o = malloc(sizeof *o);
    if (!o) {
        plan_free(w, &p);
        session_end(w);
        return slc__fail(SLC_ENOMEM, "commit output buffer");
    }
    o->c = c;
    o->fd_mode = sync && !p.section;
#ifdef SLC_TEST_HOOKS
    o->fd_mode |= slc__test_fd_writes && !p.section;
#endif
    o->limit = o->fd_mode ? slc__write_limit() : 0;
    o->len = 0;
    o->end = SLC__HEADER_SIZE;

    prefault(w, &p);
    uint64_t g = slc__publish_begin(c->gen); /* N1/S1: odd */
    SLC__HOOK("after_odd");
    if (sync) /* S2: the odd marker is durable before any data page */
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    apply(w, &p, o);                         /* N2/S3 */
    SLC__HOOK("before_crc");
    slc__header_store(c->map, &p.after);     /* N3/S4 */
    if (sync) /* S5 as one barrier: header through the last dirty byte */
        slc__sync_range(c, 0, o->end, &wb);
    SLC__HOOK("before_even");
    slc__publish_end(c->gen, g);             /* N4/S6: even */
    if (sync)                                /* S7 */
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    free(o);
    plan_free(w, &p);
    session_end(w);
    return slc__writeback_status(&wb, "commit");
}
