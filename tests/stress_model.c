/* stress_model.c - the deterministic writer schedule of the stress and
 * crash tests and the reader-side checks (see stress_model.h). */
#include "stress_model.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t sm_keys(const sm_params *p)
{
    return (p->commits + 1) * p->stride;
}

uint64_t sm_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t sm_mix2(uint64_t a, uint64_t b)
{
    return sm_mix(sm_mix(a) ^ b);
}

void sm_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t sm_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void sm_key(uint64_t k, uint8_t out[SM_KEY_SIZE])
{
    sm_le64(out, k);
    sm_le64(out + 8, sm_mix(k ^ 0x6b6579ull));
}

void sm_index(uint64_t k, uint64_t c, uint8_t out[SM_INDEX_SIZE])
{
    sm_le64(out, k);
    sm_le64(out + 8, c);
    sm_le64(out + 16, sm_mix2(k, c));
}

void sm_user(uint64_t n, uint64_t live, uint64_t *flags, uint8_t data[64])
{
    *flags = n;
    sm_le64(data, n);
    sm_le64(data + 8, live);
    for (unsigned i = 2; i < 8; i++)
        sm_le64(data + 8 * i, sm_mix2(n, i));
}

size_t sm_ops(const sm_params *p, uint64_t n, sm_op out[SM_OPS_CAP])
{
    size_t m = 0;
    if (n > p->window)
        for (uint32_t j = 0; j < p->stride; j++)
            out[m++] = (sm_op){(n - p->window) * p->stride + j, 0};
    uint64_t st = sm_mix2(p->seed, n) | 1;
    uint64_t r = sm_mix(st++);
    /* One commit in 32 is a bulk one: a longer odd window. */
    size_t cnt = (r % 32 == 0) ? 1 + (size_t)(r >> 8) % SM_MAX_OPS
                               : 1 + (size_t)(r >> 8) % p->max_ops;
    uint64_t span = (uint64_t)(p->window - 1) * p->stride;
    for (size_t i = 0; i < cnt; i++) {
        r = sm_mix(st++);
        uint64_t sel = r % 4, fresh = n * p->stride + (r >> 8) % p->stride;
        uint64_t back = 1 + (r >> 16) % span;
        if (sel < 2 || back > n * p->stride - p->stride)
            out[m++] = (sm_op){fresh, 1};
        else /* a young key: update / resurrect, or delete */
            out[m++] = (sm_op){n * p->stride - back, sel == 2};
    }
    return m;
}

int sm_last_op(const sm_params *p, uint64_t c, uint64_t k)
{
    if (c == 0 || c > p->commits)
        return 0;
    if (k == 0)
        return 1;
    sm_op ops[SM_OPS_CAP];
    size_t m = sm_ops(p, c, ops);
    while (m--)
        if (ops[m].key == k)
            return ops[m].put ? 1 : -1;
    return 0;
}

void sm_model_init(sm_model *m, const sm_params *p)
{
    memset(m, 0, sizeof *m);
    m->p = p;
    uint64_t keys = sm_keys(p);
    m->last = calloc(keys, sizeof *m->last);
    m->pos = calloc(keys, sizeof *m->pos);
    m->ids = calloc(keys, sizeof *m->ids);
    m->live_at = calloc(p->commits + 1, sizeof *m->live_at);
    if (!m->last || !m->pos || !m->ids || !m->live_at)
        abort();
}

void sm_model_free(sm_model *m)
{
    free(m->last);
    free(m->pos);
    free(m->ids);
    free(m->live_at);
}

void sm_model_set(sm_model *m, uint64_t k, uint64_t c)
{
    if (c && !m->last[k]) {
        m->ids[m->live] = (uint32_t)k;
        m->pos[k] = (uint32_t)++m->live;
    } else if (!c && m->last[k]) {
        uint32_t i = m->pos[k] - 1, moved = m->ids[--m->live];
        m->ids[i] = moved;
        m->pos[moved] = i + 1;
        m->pos[k] = 0;
    }
    m->last[k] = (uint32_t)c;
}

uint64_t sm_model_step(sm_model *m)
{
    uint64_t n = ++m->n, inserts = !m->last[0];
    sm_model_set(m, 0, n);
    sm_op ops[SM_OPS_CAP];
    size_t cnt = sm_ops(m->p, n, ops);
    /* Last op per key wins: walk backwards, skip keys decided later. */
    for (size_t i = cnt; i-- > 0;) {
        int later = 0;
        for (size_t j = i + 1; j < cnt; j++)
            later |= ops[j].key == ops[i].key;
        if (later)
            continue;
        inserts += ops[i].put && !m->last[ops[i].key];
        sm_model_set(m, ops[i].key, ops[i].put ? n : 0);
    }
    m->live_at[n] = (uint32_t)m->live;
    return inserts;
}

const char *const sm_kind_name[SM_NKINDS] = {
    "get", "len", "generation", "stat", "scan", "stream", "filter", "prefix"};

static int sm_fail(sm_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sm_fail(sm_reader *r, const char *fmt, ...)
{
    if (!r->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(r->err, sizeof r->err, "seed %" PRIu64 " model %" PRIu64 ": ",
                         r->p->seed, r->m.n);
        vsnprintf(r->err + n, sizeof r->err - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void sm_reader_init(sm_reader *r, const sm_params *p,
                    sm_stats *st, uint64_t rng)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->st = st;
    r->rng = rng | 1;
    sm_model_init(&r->m, p);
    r->cap_ents = p->capacity + 2;
    r->ents = calloc(r->cap_ents, sizeof *r->ents);
    if (!r->ents)
        abort();
}

void sm_reader_free(sm_reader *r)
{
    sm_model_free(&r->m);
    free(r->ents);
}

static uint64_t sm_rand(sm_reader *r)
{
    return sm_mix(r->rng++);
}

int sm_advance(sm_reader *r, uint64_t n)
{
    if (n < r->m.n)
        return sm_fail(r, "commit number went back from %" PRIu64 " to %" PRIu64,
                       r->m.n, n);
    if (n > r->p->commits)
        return sm_fail(r, "commit number %" PRIu64 " beyond the schedule", n);
    while (r->m.n < n)
        sm_model_step(&r->m);
    if (n > r->st->max_commit)
        r->st->max_commit = n;
    return 0;
}

int sm_check_user(sm_reader *r, uint64_t flags, const uint8_t data[64])
{
    if (sm_advance(r, flags))
        return -1;
    uint64_t wf;
    uint8_t want[64];
    if (flags == 0) { /* a fresh file: all zero */
        memset(want, 0, 64);
        wf = 0;
    } else {
        sm_user(flags, r->m.live_at[flags], &wf, want);
    }
    if (memcmp(want, data, 64) != 0)
        return sm_fail(r, "user_data of commit %" PRIu64 " is torn or wrong "
                          "(word0 %" PRIu64 ", live word %" PRIu64 ")",
                       flags, sm_get64(data), sm_get64(data + 8));
    return 0;
}

int sm_parse(sm_reader *r, const uint8_t *key, int64_t rev,
             const uint8_t *index, sm_ent *e)
{
    uint64_t k = sm_get64(key);
    if (k >= sm_keys(r->p) || sm_get64(key + 8) != sm_mix(k ^ 0x6b6579ull))
        return sm_fail(r, "delivered key %016" PRIx64 ":%016" PRIx64
                          " is not a key of the schedule",
                       k, sm_get64(key + 8));
    uint64_t ik = sm_get64(index), ic = sm_get64(index + 8);
    if (ik != k || ic != (uint64_t)rev || ic == 0 ||
        sm_get64(index + 16) != sm_mix2(ik, ic))
        return sm_fail(r, "key %" PRIu64 ": value (rev %" PRId64 ", index k %" PRIu64
                          " c %" PRIu64 ") is torn or foreign",
                       k, rev, ik, ic);
    e->k = k;
    e->c = ic;
    return 0;
}

int sm_plausible(sm_reader *r, uint64_t nb, uint64_t na, uint64_t k, uint64_t c)
{
    if (c > na)
        return sm_fail(r, "key %" PRIu64 " has the value of commit %" PRIu64
                          ", not yet published (<= %" PRIu64 ")",
                       k, c, na);
    if (r->m.last[k] == c)
        return 0;
    if (c > nb && sm_last_op(r->p, c, k) == 1)
        return 0;
    return sm_fail(r, "key %" PRIu64 " has the value of commit %" PRIu64
                      ", which it never held between commits %" PRIu64
                      " and %" PRIu64 " (held %" PRIu64 " at %" PRIu64 ")",
                   k, c, nb, na, (uint64_t)r->m.last[k], nb);
}

int sm_absent_between(const sm_reader *r, uint64_t nb, uint64_t na, uint64_t k)
{
    if (k >= sm_keys(r->p) || !r->m.last[k])
        return 1;
    for (uint64_t c = nb + 1; c <= na; c++)
        if (sm_last_op(r->p, c, k) == -1)
            return 1;
    return 0;
}

int sm_pred_key(const sm_pred *p, const uint8_t *key)
{
    if (p->kind == 1) {
        uint64_t k = sm_get64(key);
        return k == 0 || k % 3 == p->mod;
    }
    if (p->kind == 2) {
        uint32_t full = p->bits / 8, rest = p->bits % 8;
        if (memcmp(key + p->off, p->pattern, full) != 0)
            return 0;
        uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
        return !rest || ((key[p->off + full] ^ p->pattern[full]) & mask) == 0;
    }
    return 1;
}

int sm_pred_id(const sm_pred *p, uint64_t k)
{
    uint8_t key[SM_KEY_SIZE];
    sm_key(k, key);
    return sm_pred_key(p, key);
}

int sm_check_scan(sm_reader *r, uint64_t nb, uint64_t na,
                  const sm_pred *pred, int reverse, int complete)
{
    const sm_ent *e = r->ents;
    size_t n = r->n_ents;
    for (size_t i = 1; i < n; i++)
        if (reverse ? e[i].slot >= e[i - 1].slot : e[i].slot <= e[i - 1].slot)
            return sm_fail(r, "scan slot ids out of order: %" PRIu64 " then %" PRIu64,
                           e[i - 1].slot, e[i].slot);
    for (size_t i = 0; i < n; i++) {
        if (e[i].slot >= r->p->capacity)
            return sm_fail(r, "slot id %" PRIu64 " beyond capacity", e[i].slot);
        if (!sm_pred_id(pred, e[i].k))
            return sm_fail(r, "scan delivered key %" PRIu64 " outside its "
                              "predicate", e[i].k);
    }
    uint64_t at = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (e[i].k == 0)
            at = e[i].c;
    if (at == UINT64_MAX && complete && sm_pred_id(pred, 0)) {
        /* Only the empty state of a fresh file lacks the marker. */
        if (n == 0 && nb == 0)
            return 0;
        return sm_fail(r, "complete scan of %zu entries without the marker", n);
    }
    if (at == UINT64_MAX) {
        for (size_t i = 0; i < n; i++)
            if (sm_plausible(r, nb, na, e[i].k, e[i].c))
                return -1;
        return 0;
    }
    if (at < nb || at > na)
        return sm_fail(r, "scan marker says commit %" PRIu64 ", outside "
                          "[%" PRIu64 ", %" PRIu64 "]",
                       at, nb, na);
    if (sm_advance(r, at))
        return -1;
    size_t want = 0;
    for (uint64_t i = 0; i < r->m.live; i++)
        want += (size_t)sm_pred_id(pred, r->m.ids[i]);
    for (size_t i = 0; i < n; i++)
        if (r->m.last[e[i].k] != e[i].c)
            return sm_fail(r, "scan at commit %" PRIu64 ": key %" PRIu64
                              " has commit %" PRIu64 "'s value, model %" PRIu64,
                           at, e[i].k, e[i].c, (uint64_t)r->m.last[e[i].k]);
    /* Matching values and strictly ordered slots: no key appears twice, so
     * equal counts mean equal sets. */
    if (complete && n != want)
        return sm_fail(r, "scan at commit %" PRIu64 " delivered %zu entries, "
                          "the state has %zu",
                       at, n, want);
    r->st->exact++;
    return 0;
}

int sm_read_user(sm_reader *r, slc_cache *c, uint64_t *flags, uint8_t data[64])
{
    for (int tries = 0; tries < 2000; tries++) {
        int rc = slc_user_header(c, flags, data);
        if (rc == SLC_OK)
            return SM_STEP_OK;
        if (rc == SLC_EINVALIDATED)
            return SM_STEP_INVALIDATED;
        if (rc != SLC_EBUSY)
            return sm_fail(r, "slc_user_header: %d (%s)", rc, slc_errdetail());
        r->st->hdr_busy++;
    }
    return sm_fail(r, "slc_user_header: SLC_EBUSY 2000 times in a row");
}

int sm_visit(const slc_entry *e, void *ctx)
{
    sm_reader *r = ctx;
    if (r->n_ents == r->cap_ents)
        return SM_OVERFLOW;
    sm_ent *x = &r->ents[r->n_ents];
    if (sm_parse(r, e->key, e->revision, e->index, x))
        return SM_OVERFLOW + 1;
    x->slot = e->slot_id;
    r->n_ents++;
    /* Streaming delivers inside the attempt: a yield lets a commit land. */
    if (sm_rand(r) % 256 == 0)
        sched_yield();
    return 0;
}

static int sm_filter_fn(const slc_entry *e, void *ctx)
{
    /* Runs inside a seqlock attempt: now and then give the writer the CPU
     * so the attempt spans a commit. May see torn bytes: only reads them. */
    sm_pred *p = ctx;
    if (sm_mix(++p->tick) % 128 == 0)
        sched_yield();
    return sm_pred_key(p, e->key);
}

int sm_count_ok(const sm_reader *r, uint64_t nb, uint64_t na, uint64_t v)
{
    for (uint64_t m = nb; m <= na; m++)
        if (r->m.live_at[m] == v)
            return 1;
    return 0;
}

/* Kind of read for a random draw: 7/16 get, the rest spread. */
static int sm_kind_of(uint64_t x)
{
    static const int8_t kinds[16] = {SM_GET,    SM_GET,    SM_GET,    SM_GET,
                                     SM_GET,    SM_GET,    SM_GET,    SM_LEN,
                                     SM_GEN,    SM_STAT,   SM_SNAP,   SM_SNAP,
                                     SM_STREAM, SM_STREAM, SM_FILTER, SM_PREFIX};
    return kinds[x % 16];
}

int sm_step(sm_reader *r, slc_cache *c, uint64_t epoch)
{
    uint64_t x = sm_rand(r), nb, na, fa;
    uint8_t db[64], da[64];
    int kind = sm_kind_of(x), rc;
    if ((rc = sm_read_user(r, c, &nb, db)) != SM_STEP_OK)
        return rc;
    if (sm_check_user(r, nb, db))
        return SM_STEP_FAIL;
    r->st->ops[kind]++;

    uint64_t v = 0, k = 0;
    int64_t rev = 0;
    uint8_t idx[SM_INDEX_SIZE], key[SM_KEY_SIZE];
    sm_pred pred;
    memset(&pred, 0, sizeof pred);
    slc_scan_opts so;
    memset(&so, 0, sizeof so);
    slc_stat sst;
    memset(&sst, 0, sizeof sst);
    r->n_ents = 0;
    switch (kind) {
    case SM_GET:
        /* The marker, young keys, and ids not yet (or never) written. */
        if ((x >> 8) % 16 == 0) {
            k = 0;
        } else {
            uint64_t top = (r->m.n + 2) * r->p->stride;
            uint64_t back = 1 + (x >> 12) % ((uint64_t)(r->p->window + 3) *
                                             r->p->stride);
            k = back < top ? top - back : top;
        }
        sm_key(k, key);
        rc = slc_get(c, key, SM_KEY_SIZE, &rev, idx, SM_INDEX_SIZE);
        break;
    case SM_LEN:
        rc = slc_len(c, &v);
        break;
    case SM_GEN:
        rc = slc_generation(c, &v);
        break;
    case SM_STAT:
        rc = slc_stat_get(c, &sst);
        break;
    case SM_PREFIX:
        /* Mostly a prefix of key byte 0 that the marker matches (exact
         * check), sometimes a random one of the hashed half. */
        pred.kind = 2;
        pred.bits = 1 + (uint32_t)((x >> 8) % 8);
        if ((x >> 20) % 4 == 0) {
            pred.off = 8;
            pred.bits += 8 * (uint32_t)((x >> 24) % 2);
            sm_le64(pred.pattern, sm_mix(x));
        }
        if ((x >> 17) & 1)
            so.flags |= SLC_SCAN_STREAMING;
        break;
    case SM_FILTER:
        pred.kind = 1;
        pred.mod = (uint32_t)((x >> 8) % 3);
        pred.tick = x;
        so.filter = sm_filter_fn;
        so.filter_ctx = &pred;
        break;
    case SM_STREAM:
        so.flags |= SLC_SCAN_STREAMING;
        break;
    default:
        break;
    }
    if (kind >= SM_SNAP) {
        if ((x >> 16) & 1)
            so.flags |= SLC_SCAN_REVERSE;
        if (kind == SM_PREFIX) {
            slc_prefix pf = {pred.off, pred.bits, pred.pattern,
                             (pred.bits + 7) / 8};
            rc = slc_scan_prefix(c, &pf, &so, sm_visit, r);
        } else {
            rc = slc_scan(c, &so, sm_visit, r);
        }
        if (rc == SM_OVERFLOW)
            return sm_fail(r, "scan delivered more than %zu entries",
                           r->cap_ents);
        if (rc == SM_OVERFLOW + 1)
            return SM_STEP_FAIL;
    }
    int streaming = (so.flags & SLC_SCAN_STREAMING) != 0;
    if (rc == SLC_EINVALIDATED)
        return SM_STEP_INVALIDATED;
    if (rc == SLC_EBUSY) {
        r->st->busy[kind]++;
        if (!streaming && r->n_ents)
            return sm_fail(r, "%s: SLC_EBUSY after delivering %zu entries",
                           sm_kind_name[kind], r->n_ents);
        if (!r->n_ents)
            return SM_STEP_OK;
        r->st->partial++;
    } else if (rc != SLC_OK && !(kind == SM_GET && rc == SLC_NOTFOUND)) {
        return sm_fail(r, "%s: unexpected status %d (%s)", sm_kind_name[kind],
                       rc, slc_errdetail());
    }
    int status = rc;
    if ((rc = sm_read_user(r, c, &fa, da)) != SM_STEP_OK)
        return rc;
    na = fa;
    if (na < nb)
        return sm_fail(r, "commit number went back from %" PRIu64
                          " to %" PRIu64, nb, na);
    if (na > r->p->commits)
        return sm_fail(r, "commit number %" PRIu64 " beyond the schedule", na);
    r->st->raced += na != nb;

    /* Checks that need the model at nb come first. */
    if (kind == SM_GET) {
        if (status == SLC_OK) {
            sm_ent e = {0, 0, 0};
            r->st->hits++;
            if (sm_parse(r, key, rev, idx, &e))
                return SM_STEP_FAIL;
            if (e.k != k)
                return sm_fail(r, "get %" PRIu64 " returned key %" PRIu64 "'s value",
                               k, e.k);
            if (sm_plausible(r, nb, na, k, e.c))
                return SM_STEP_FAIL;
        } else {
            r->st->misses++;
            if (!sm_absent_between(r, nb, na, k))
                return sm_fail(r, "get %" PRIu64 ": SLC_NOTFOUND, but it was live "
                                  "from commit %" PRIu64 " through %" PRIu64,
                               k, nb, na);
        }
    } else if (kind >= SM_SNAP) {
        if (sm_check_scan(r, nb, na, &pred, (so.flags & SLC_SCAN_REVERSE) != 0,
                          status == SLC_OK))
            return SM_STEP_FAIL;
    }
    if (sm_check_user(r, na, da))
        return SM_STEP_FAIL;
    if (kind == SM_LEN && !sm_count_ok(r, nb, na, v))
        return sm_fail(r, "slc_len %" PRIu64 " is no live count of commits "
                          "%" PRIu64 "..%" PRIu64, v, nb, na);
    if (kind == SM_GEN || kind == SM_STAT) {
        uint64_t g = kind == SM_GEN ? v : sst.generation;
        if (g & 1)
            return sm_fail(r, "%s returned odd generation %" PRIu64,
                           sm_kind_name[kind], g);
        if (r->gen_epoch == epoch && g < r->gen_last)
            return sm_fail(r, "generation went back from %" PRIu64 " to %" PRIu64,
                           r->gen_last, g);
        r->gen_epoch = epoch;
        r->gen_last = g;
    }
    if (kind == SM_STAT) {
        if (!sm_count_ok(r, nb, na, sst.live_count) ||
            sst.bucket_used != sst.live_count ||
            sst.slot_highwater < sst.live_count ||
            sst.slot_highwater > r->p->capacity ||
            sst.bucket_used + sst.bucket_tombstones >= sst.bucket_count ||
            sst.key_size != SM_KEY_SIZE || sst.index_size != SM_INDEX_SIZE)
            return sm_fail(r, "slc_stat_get: inconsistent snapshot (live %" PRIu64
                              " used %" PRIu64 " tomb %" PRIu64 " hw %" PRIu64
                              ") for commits %" PRIu64 "..%" PRIu64,
                           sst.live_count, sst.bucket_used,
                           sst.bucket_tombstones, sst.slot_highwater, nb, na);
    }
    return SM_STEP_OK;
}

slc_options sm_options(uint64_t capacity)
{
    slc_options o;
    memset(&o, 0, sizeof o);
    o.key_size = SM_KEY_SIZE;
    o.index_size = SM_INDEX_SIZE;
    o.user_version = SM_USER_VERSION;
    o.slot_capacity = capacity;
    return o;
}

int sm_open_retry(const char *path, slc_cache **out)
{
    slc_options o = sm_options(0);
    int rc = SLC_EBUSY;
    for (int tries = 0; tries < 100000; tries++) {
        rc = slc_open(path, &o, out);
        if (rc != SLC_EINVALIDATED && rc != SLC_EBUSY)
            return rc;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

slc_cache *sm_pin(sm_slot *s, uint64_t *epoch)
{
    if (s->lk)
        pthread_rwlock_rdlock(s->lk);
    *epoch = s->epoch;
    return s->c;
}

void sm_unpin(sm_slot *s)
{
    if (s->lk)
        pthread_rwlock_unlock(s->lk);
}

int sm_replace(sm_slot *s, uint64_t epoch)
{
    int rc = SLC_OK;
    if (s->lk)
        pthread_rwlock_wrlock(s->lk);
    if (s->epoch == epoch) {
        if (s->c)
            rc = slc_close(s->c);
        s->c = NULL;
        if (rc == SLC_OK)
            rc = sm_open_retry(s->path, &s->c);
        s->epoch++;
    }
    if (s->lk)
        pthread_rwlock_unlock(s->lk);
    return rc;
}

/* The writer's test hook (only the writer commits): counts rehashes and
 * often yields the CPU inside the odd window, so readers run into
 * half-applied commits even when all processes share one core. */
static unsigned long sm_rehash_hits, sm_hook_calls;

void sm_writer_hook(const char *point)
{
    if (strcmp(point, "rehash") == 0)
        __atomic_add_fetch(&sm_rehash_hits, 1, __ATOMIC_RELAXED);
    if (sm_mix(__atomic_add_fetch(&sm_hook_calls, 1, __ATOMIC_RELAXED)) % 4 == 0)
        sched_yield();
}

#define SM_WCHECK(w, cond, ...)                                                \
    do {                                                                       \
        if (!(cond))                                                           \
            return sm_fail(&(w)->self, __VA_ARGS__);                           \
    } while (0)

int sm_begin(sm_writer *w, slc_cache *c, slc_writer **wr)
{
    int rc = SLC_EBUSY;
    for (int tries = 0; tries < 100000 && rc == SLC_EBUSY; tries++) {
        rc = slc_begin_write(c, wr);
        if (rc == SLC_EBUSY) {
            w->ws->begin_busy++;
            sched_yield();
        }
    }
    return rc;
}

int sm_fill(sm_writer *w, slc_cache *c)
{
    slc_writer *wr;
    int rc = sm_begin(w, c, &wr);
    SM_WCHECK(w, rc == SLC_OK, "rotate: begin_write %d", rc);
    const sm_model *m = &w->self.m;
    for (uint64_t i = 0; i < m->live && rc == SLC_OK; i++) {
        uint64_t k = m->ids[i];
        uint8_t key[SM_KEY_SIZE], idx[SM_INDEX_SIZE];
        sm_key(k, key);
        sm_index(k, m->last[k], idx);
        rc = slc_put(wr, key, SM_KEY_SIZE, (int64_t)m->last[k], idx,
                     SM_INDEX_SIZE);
    }
    uint64_t f;
    uint8_t d[64];
    sm_user(m->n, m->live, &f, d);
    if (rc == SLC_OK)
        rc = slc_set_user_flags(wr, f);
    if (rc == SLC_OK)
        rc = slc_set_user_data(wr, d);
    if (rc == SLC_OK)
        rc = slc_commit(wr);
    slc_writer_close(wr);
    SM_WCHECK(w, rc == SLC_OK, "rotate: filling the new file: %d (%s)", rc,
              slc_errdetail());
    return 0;
}

int sm_rotate(sm_writer *w)
{
    const char *path = w->slot->path;
    size_t len = strlen(path) + 8;
    char *next = malloc(len);
    if (!next)
        abort();
    snprintf(next, len, "%s.next", path);
    unlink(next);
    slc_options o = sm_options(w->p->capacity);
    slc_cache *nc;
    int rc = slc_open(next, &o, &nc);
    if (rc != SLC_OK) {
        free(next);
        return sm_fail(&w->self, "rotate: open of the next file: %d", rc);
    }
    int bad = sm_fill(w, nc);
    slc_close(nc);
    if (!bad && rename(next, path) != 0)
        bad = sm_fail(&w->self, "rotate: rename: %s", strerror(errno));
    free(next);
    if (bad)
        return -1;
    uint64_t epoch;
    slc_cache *c = sm_pin(w->slot, &epoch);
    rc = slc_invalidate(c);
    sm_unpin(w->slot);
    SM_WCHECK(w, rc == SLC_OK, "rotate: invalidate %d (%s)", rc, slc_errdetail());
    rc = sm_replace(w->slot, epoch);
    SM_WCHECK(w, rc == SLC_OK, "rotate: reopen %d (%s)", rc, slc_errdetail());
    w->ws->rotations++;
    return 0;
}

int sm_abandon_on(sm_writer *w, slc_cache *c, uint64_t n)
{
    slc_writer *wr;
    int rc = sm_begin(w, c, &wr);
    SM_WCHECK(w, rc == SLC_OK, "abandon: begin_write %d (%s)", rc,
              slc_errdetail());
    uint8_t key[SM_KEY_SIZE], idx[SM_INDEX_SIZE];
    uint64_t bogus = w->p->commits + n; /* a commit that never exists */
    sm_key(0, key);
    sm_index(0, bogus, idx);
    rc = slc_put(wr, key, SM_KEY_SIZE, (int64_t)bogus, idx, SM_INDEX_SIZE);
    int existed = 0;
    uint64_t victim = w->self.m.live ? w->self.m.ids[0] : 1;
    sm_key(victim, key);
    if (rc == SLC_OK)
        rc = slc_delete(wr, key, SM_KEY_SIZE, &existed);
    if (rc == SLC_OK)
        rc = slc_set_user_flags(wr, bogus);
    int rc2 = slc_writer_close(wr);
    SM_WCHECK(w, rc == SLC_OK && rc2 == SLC_OK, "abandon: %d %d", rc, rc2);
    SM_WCHECK(w, existed == (w->self.m.last[victim] != 0),
              "abandon: delete existed %d, model says %d", existed,
              w->self.m.last[victim] != 0);
    w->ws->abandoned++;
    return 0;
}

int sm_abandon(sm_writer *w, uint64_t n)
{
    uint64_t epoch;
    slc_cache *c = sm_pin(w->slot, &epoch);
    int rc = sm_abandon_on(w, c, n);
    sm_unpin(w->slot);
    return rc;
}

int sm_self_check_on(sm_writer *w, slc_cache *c)
{
    int rc = slc_verify(c);
    SM_WCHECK(w, rc == SLC_OK, "slc_verify: %d (%s)", rc, slc_errdetail());
    sm_reader *r = &w->self;
    r->n_ents = 0;
    rc = slc_scan(c, NULL, sm_visit, r);
    SM_WCHECK(w, rc == SLC_OK, "writer's own scan: %d", rc);
    sm_pred all;
    memset(&all, 0, sizeof all);
    if (sm_check_scan(r, r->m.n, r->m.n, &all, 0, 1))
        return -1;
    w->ws->verified++;
    return 0;
}

int sm_self_check(sm_writer *w)
{
    uint64_t epoch;
    slc_cache *c = sm_pin(w->slot, &epoch);
    int rc = sm_self_check_on(w, c);
    sm_unpin(w->slot);
    return rc;
}

int sm_commit_on(sm_writer *w, slc_cache *c, uint64_t n, int *full_out)
{
    sm_model *m = &w->self.m;
    slc_stat before, after;
    int rc = slc_stat_get(c, &before);
    SM_WCHECK(w, rc == SLC_OK, "writer stat: %d", rc);
    slc_writer *wr;
    rc = sm_begin(w, c, &wr);
    SM_WCHECK(w, rc == SLC_OK, "begin_write %d (%s)", rc, slc_errdetail());
    uint8_t key[SM_KEY_SIZE], idx[SM_INDEX_SIZE];
    sm_key(0, key);
    sm_index(0, n, idx);
    rc = slc_put(wr, key, SM_KEY_SIZE, (int64_t)n, idx, SM_INDEX_SIZE);
    sm_op ops[SM_OPS_CAP];
    size_t nops = sm_ops(w->p, n, ops);
    for (size_t i = 0; i < nops && rc == SLC_OK; i++) {
        sm_key(ops[i].key, key);
        if (ops[i].put) {
            sm_index(ops[i].key, n, idx);
            rc = slc_put(wr, key, SM_KEY_SIZE, (int64_t)n, idx, SM_INDEX_SIZE);
            continue;
        }
        /* The writer's view: the file overlaid with what was staged. */
        int want = m->last[ops[i].key] != 0, existed = -1;
        for (size_t j = 0; j < i; j++)
            if (ops[j].key == ops[i].key)
                want = ops[j].put;
        rc = slc_delete(wr, key, SM_KEY_SIZE, &existed);
        if (rc == SLC_OK && existed != want) {
            slc_writer_close(wr);
            return sm_fail(&w->self, "commit %" PRIu64 ": delete existed %d, "
                                     "expected %d", n, existed, want);
        }
    }
    uint64_t inserts = sm_model_step(m); /* model now after commit n */
    uint64_t f;
    uint8_t d[64];
    sm_user(n, m->live, &f, d);
    if (rc == SLC_OK)
        rc = slc_set_user_flags(wr, f);
    if (rc == SLC_OK)
        rc = slc_set_user_data(wr, d);
    unsigned long rehash0 = __atomic_load_n(&sm_rehash_hits, __ATOMIC_RELAXED);
    if (rc == SLC_OK)
        rc = slc_commit(wr);
    else
        return sm_fail(&w->self, "staging commit %" PRIu64 ": %d", n, rc);
    slc_writer_close(wr);
    int full = before.slot_highwater + inserts > w->p->capacity;
    SM_WCHECK(w, rc == (full ? SLC_EFULL : SLC_OK),
              "commit %" PRIu64 ": %d (%s), highwater %" PRIu64 " + %" PRIu64
              " inserts, capacity %" PRIu64,
              n, rc, slc_errdetail(), before.slot_highwater, inserts,
              w->p->capacity);
    rc = slc_stat_get(c, &after);
    SM_WCHECK(w, rc == SLC_OK, "writer stat: %d", rc);
    *full_out = full;
    if (full) {
        SM_WCHECK(w, after.generation == before.generation,
                  "SLC_EFULL moved the generation");
        w->ws->efull++;
    } else {
        SM_WCHECK(w, after.generation == before.generation + 2 &&
                         after.live_count == m->live,
                  "commit %" PRIu64 ": generation %" PRIu64 "->%" PRIu64
                  ", live %" PRIu64 " (model %" PRIu64 ")",
                  n, before.generation, after.generation, after.live_count,
                  m->live);
        unsigned long rh = __atomic_load_n(&sm_rehash_hits, __ATOMIC_RELAXED);
        w->ws->rehashes += rh - rehash0;
        if (after.bucket_tombstones > w->ws->max_tombstones)
            w->ws->max_tombstones = after.bucket_tombstones;
        w->ws->bucket_count = after.bucket_count;
        /* The rule of SLC1 5.6, seen from outside. */
        SM_WCHECK(w, 4 * after.bucket_tombstones <= after.bucket_count,
                  "tombstones %" PRIu64 " of %" PRIu64 " buckets after a commit",
                  after.bucket_tombstones, after.bucket_count);
    }
    w->ws->commits++;
    return 0;
}

int sm_commit_one(sm_writer *w, uint64_t n)
{
    uint64_t epoch;
    int full = 0;
    slc_cache *c = sm_pin(w->slot, &epoch);
    int rc = sm_commit_on(w, c, n, &full);
    sm_unpin(w->slot);
    return rc ? rc : full ? sm_rotate(w) : 0;
}

void sm_writer_init(sm_writer *w, const sm_params *p,
                    sm_slot *slot, sm_wstats *ws)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->slot = slot;
    w->ws = ws;
    sm_reader_init(&w->self, p, &w->self_stats, 1);
}

int sm_writer_run(const sm_params *p, sm_slot *slot,
                  sm_wstats *ws, sm_pace_fn pace, void *pctx,
                  char *err, size_t errlen)
{
    sm_writer w;
    sm_writer_init(&w, p, slot, ws);
    int bad = 0, rc = slot->c ? SLC_OK : sm_open_retry(slot->path, &slot->c);
    if (rc != SLC_OK)
        bad = sm_fail(&w.self, "writer open: %d (%s)", rc, slc_errdetail());
    for (uint64_t n = 1; !bad && n <= p->commits; n++) {
        if (pace)
            pace(pctx, n);
        if (sm_mix2(p->seed ^ 0xabdull, n) % 16 == 0 && sm_abandon(&w, n))
            bad = -1;
        if (!bad && sm_commit_one(&w, n))
            bad = -1;
        if (!bad && (n % 256 == 0 || n == p->commits) && sm_self_check(&w))
            bad = -1;
    }
    snprintf(err, errlen, "%s", w.self.err);
    sm_reader_free(&w.self);
    return bad;
}
