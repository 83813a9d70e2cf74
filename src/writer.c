/* Write sessions: staging, commit planning, publication.
 *
 * A session is exclusive (registry mark + flock), so the file cannot change
 * under it: planning reads the index directly and decides every outcome -
 * SLC_EFULL, SLC_EOUTOFORDER, SLC_ECORRUPT, SLC_ENOMEM - before the
 * generation goes odd. Publication then cannot fail; it only stores.
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
#include "validate.h"
#include "writeback.h"

#ifdef SLC_TEST_HOOKS
void (*slc__test_hook)(const char *point);
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
    uint8_t user_data[64];

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
    if (*odd)
        return c->lock_path
                   ? slc__fail(SLC_ECORRUPT,
                               "generation %" PRIu64 " is odd with the writer "
                               "lock held: a writer crashed mid-commit",
                               h->generation)
                   : slc__fail(SLC_EBUSY,
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

int slc_set_user_data(slc_writer *w, const uint8_t user_data[64])
{
    if (!w)
        return slc__fail(SLC_EINVAL, "slc_set_user_data: NULL writer");
    int rc = user_header_open(w);
    if (rc)
        return rc;
    if (!user_data)
        return slc__fail(SLC_EINVAL, "slc_set_user_data: NULL user_data");
    memcpy(w->user_data, user_data, 64);
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
} plan;

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
    return SLC_OK;
}

/* ---- Publication -------------------------------------------------------- */

/* Pages changed in the odd window, for the Sync-mode data barrier. */
typedef struct dirty {
    uint64_t slot_lo, slot_hi;     /* slot ids [lo, hi) */
    uint64_t bucket_lo, bucket_hi; /* bucket indices [lo, hi) */
} dirty;

static void mark(uint64_t *lo, uint64_t *hi, uint64_t i)
{
    if (i < *lo)
        *lo = i;
    if (i + 1 > *hi)
        *hi = i + 1;
}

/* First TOMBSTONE or EMPTY on the probe path of h (SLC1 5.5, 16.4). The
 * plan guarantees one exists; the bound only keeps a damaged file from
 * looping. */
static uint64_t insert_bucket(const slc_cache *c, uint64_t h, int *tombstone)
{
    uint64_t i = h & c->bucket_mask;
    for (uint64_t n = 0; n < c->bucket_count; n++) {
        uint64_t sp = slc__ld(slc__bucket(c, i) + 8);
        if (sp == SLC__BUCKET_EMPTY || sp == SLC__BUCKET_TOMBSTONE) {
            *tombstone = sp == SLC__BUCKET_TOMBSTONE;
            return i;
        }
        i = (i + 1) & c->bucket_mask;
    }
    return UINT64_MAX;
}

/* Rebuild the index from live slots in ascending id order (SLC1 5.6). */
static uint64_t rehash(slc_cache *c, uint64_t highwater)
{
    SLC__HOOK("rehash");
    slc__zero_words(c->buckets, c->bucket_count * SLC__BUCKET_SIZE);
    uint8_t key[SLC_MAX_KEY_SIZE];
    uint64_t used = 0;
    for (uint64_t id = 0; id < highwater; id++) {
        const uint8_t *s = slc__slot(c, id);
        if (!(slc__ld(s) & SLC__META_USED))
            continue;
        slc__copy_out(key, s + 8, c->key_size);
        uint64_t h = slc__fnv1a64(key, c->key_size);
        int tomb;
        uint64_t b = insert_bucket(c, h, &tomb);
        if (b == UINT64_MAX)
            break; /* more live slots than buckets: the file lied */
        slc__st(slc__bucket(c, b), h);
        slc__st(slc__bucket(c, b) + 8, id + 1);
        used++;
    }
    return used;
}

static void write_slot(slc_writer *w, uint64_t id, const stage_entry *se,
                       const uint8_t *pl)
{
    slc_cache *c = w->c;
    uint8_t *s = slc__slot(c, id);
    /* Key words carry zero key padding; index words a zero tail. */
    slc__copy_in(s + 8, pl, w->key_bytes);
    slc__st(s + c->rev_off, (uint64_t)se->revision);
    slc__copy_in(s + c->index_off, pl + w->key_bytes,
                 w->rec_bytes - w->key_bytes);
    slc__st(s, SLC__META_USED);
}

#define INSERT_PREFETCH 8

/* Apply the plan inside the odd window. Returns the new counters in h. */
static void apply(slc_writer *w, const plan *p, slc__header *h, dirty *d)
{
    slc_cache *c = w->c;
    for (size_t i = 0; i < p->n_updates; i++) {
        const stage_entry *se = &w->entries[p->updates[i]];
        uint8_t *s = slc__slot(c, se->file_slot);
        slc__st(s + c->rev_off, (uint64_t)se->revision);
        slc__copy_in(s + c->index_off, payload_of(w, p->updates[i]) + w->key_bytes,
                     c->index_size);
        mark(&d->slot_lo, &d->slot_hi, se->file_slot);
        SLC__HOOK("slot_write");
    }
    for (size_t i = 0; i < p->n_deletes; i++) {
        const stage_entry *se = &w->entries[p->deletes[i]];
        slc__st(slc__slot(c, se->file_slot), 0);
        slc__st(slc__bucket(c, se->file_bucket) + 8, SLC__BUCKET_TOMBSTONE);
        h->live_count--;
        h->bucket_used--;
        h->bucket_tombstones++;
        mark(&d->slot_lo, &d->slot_hi, se->file_slot);
        mark(&d->bucket_lo, &d->bucket_hi, se->file_bucket);
        SLC__HOOK("bucket_write");
    }
    for (size_t i = 0; i < p->n_inserts; i++) {
        /* Inserts land in random buckets: fetch a few ahead so the misses
         * overlap (the order of inserts itself is fixed by SLC1 16.3). */
        if (i + INSERT_PREFETCH < p->n_inserts)
            __builtin_prefetch(
                slc__bucket(c, w->entries[p->inserts[i + INSERT_PREFETCH]].hash &
                                   c->bucket_mask),
                1, 3);
        const stage_entry *se = &w->entries[p->inserts[i]];
        uint64_t id = h->slot_highwater++;
        write_slot(w, id, se, payload_of(w, p->inserts[i]));
        mark(&d->slot_lo, &d->slot_hi, id);
        SLC__HOOK("slot_write");
        int tomb = 0;
        uint64_t b = insert_bucket(c, se->hash, &tomb);
        if (b != UINT64_MAX) {
            slc__st(slc__bucket(c, b), se->hash);
            slc__st(slc__bucket(c, b) + 8, id + 1);
            mark(&d->bucket_lo, &d->bucket_hi, b);
            h->bucket_tombstones -= (uint64_t)tomb;
            h->bucket_used++;
        }
        h->live_count++;
        SLC__HOOK("bucket_write");
    }
    if (4 * h->bucket_tombstones > c->bucket_count) {
        h->bucket_used = rehash(c, h->slot_highwater);
        h->bucket_tombstones = 0;
        d->bucket_lo = 0;
        d->bucket_hi = c->bucket_count;
    }
    if (w->flags_dirty)
        h->user_flags = w->user_flags;
    if (w->data_dirty)
        memcpy(h->user_data, w->user_data, 64);
}

void slc__store_header(slc_cache *c, const slc__header *h)
{
    uint8_t raw[SLC__HEADER_SIZE];
    slc__header_encode(h, raw);
    slc__put_le32(raw + SLC__OFF_HEADER_CRC, slc__header_crc(raw));
    SLC__HOOK("before_crc");
    for (unsigned off = 0; off < SLC__HEADER_SIZE; off += 8)
        if (off != SLC__OFF_GENERATION)
            slc__st(c->map + off, slc__le64(raw + off));
}

/* A big batch of inserts writes every new slot page and, once inserts
 * outnumber the bucket pages, nearly every bucket page: fault them in with
 * one call each, before the odd window opens (about 20 % off a 1,000,000
 * entry bulk load, bench/proposals/writer-populate.patch). */
#define PREFAULT_MIN_BYTES (64u << 10)
static void prefault(const slc_writer *w, const plan *p)
{
    const slc_cache *c = w->c;
    uint64_t slot_bytes = (uint64_t)p->n_inserts * c->slot_size;
    if (slot_bytes < PREFAULT_MIN_BYTES)
        return;
    slc__prefault(c, SLC__HEADER_SIZE + w->start.slot_highwater * c->slot_size,
                  slot_bytes);
    uint64_t bucket_bytes = c->bucket_count * SLC__BUCKET_SIZE;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if ((uint64_t)p->n_inserts >= bucket_bytes / page)
        slc__prefault(c, (uint64_t)(c->buckets - c->map), bucket_bytes);
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
    if (rc) {
        free(p.mem);
        session_end(w);
        return rc;
    }

    int sync = (c->open_flags & SLC_WRITEBACK_SYNC) != 0;
    slc__writeback wb = {0, 0};
    slc__header h = w->start;
    dirty d = {UINT64_MAX, 0, UINT64_MAX, 0};

    prefault(w, &p);
    uint64_t g = slc__publish_begin(c->gen); /* N1/S1: odd */
    SLC__HOOK("after_odd");
    if (sync) /* S2: the odd marker is durable before any data page */
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    apply(w, &p, &h, &d);                    /* N2/S3 */
    slc__store_header(c, &h);                /* N3/S4 */
    if (sync) { /* S5 as one barrier: header through the last dirty byte */
        uint64_t end = SLC__HEADER_SIZE;
        if (d.slot_hi)
            end = SLC__HEADER_SIZE + d.slot_hi * c->slot_size;
        if (d.bucket_hi)
            end = (uint64_t)(c->buckets - c->map) + d.bucket_hi * SLC__BUCKET_SIZE;
        slc__sync_range(c, 0, end, &wb);
    }
    SLC__HOOK("before_even");
    slc__publish_end(c->gen, g);             /* N4/S6: even */
    if (sync)                                /* S7 */
        slc__sync_range(c, 0, SLC__HEADER_SIZE, &wb);
    free(p.mem);
    session_end(w);
    return slc__writeback_status(&wb, "commit");
}
