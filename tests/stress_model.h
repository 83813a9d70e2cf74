/* stress_model.h - the deterministic writer schedule of the stress and
 * crash tests, and reader-side checks that a torn or stale read would fail.
 *
 * Commit n (n >= 1) puts the marker key (id 0) with commit number n, then
 * applies ops drawn from a PRNG seeded by (seed, n) alone, so anyone can
 * tell what commit c did to key k without replaying history. Every value
 * encodes its key and the commit that wrote it:
 *   key        = le64(k) | le64(mix(k))
 *   revision   = c
 *   index      = le64(k) | le64(c) | le64(mix2(k, c))
 *   user_flags = n; user_data = n, live count after n, mix2(n, 2..7)
 * A reader keeps a model of the state after the newest commit it has seen
 * (commit numbers it observes never decrease) and checks each result
 * against it: a snapshot scan must equal the model at the commit its marker
 * names; a single get must be a value the key held at some commit between
 * the user headers read just before and just after it.
 *
 * The writer rotates files when one fills up (SLC_EFULL): it builds the
 * logical state in "<path>.next", renames it over <path> and invalidates
 * the old file, so readers also cross invalidation and reopen.
 *
 * Declarations only; the code is tests/stress_model.c, compiled once into
 * the test support library (tests/CMakeLists.txt). */
#ifndef SLC_STRESS_MODEL_H
#define SLC_STRESS_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "slotcache.h"

#define SM_KEY_SIZE 16u
#define SM_INDEX_SIZE 24u
#define SM_USER_VERSION 0x5354u
#define SM_MAX_OPS 64u   /* ops in one commit, at most */
#define SM_OVERFLOW 7001 /* visit return: more entries than capacity */

/* ---- Schedule ----------------------------------------------------------- */

#define SM_MAX_STRIDE 8u

typedef struct sm_params {
    uint64_t seed;
    uint32_t stride;   /* commit n may insert fresh ids n*stride + 0..stride-1 */
    uint32_t window;   /* commit n deletes the ids of commit n - window */
    uint32_t max_ops;  /* random ops per ordinary commit: 1..max_ops */
    uint64_t capacity; /* slot_capacity of every file */
    uint64_t commits;  /* commits the writer makes */
} sm_params;

/* Key ids are below this; 0 is the marker. */
uint64_t sm_keys(const sm_params *p);

uint64_t sm_mix(uint64_t x);
uint64_t sm_mix2(uint64_t a, uint64_t b);

void sm_le64(uint8_t *p, uint64_t v);
uint64_t sm_get64(const uint8_t *p);

void sm_key(uint64_t k, uint8_t out[SM_KEY_SIZE]);
void sm_index(uint64_t k, uint64_t c, uint8_t out[SM_INDEX_SIZE]);
void sm_user(uint64_t n, uint64_t live, uint64_t *flags, uint8_t data[64]);

typedef struct sm_op {
    uint64_t key;
    int put;
} sm_op;

#define SM_OPS_CAP (SM_MAX_OPS + SM_MAX_STRIDE)

/* The ops of commit n, in staging order (the marker put is implicit).
 * Keys get fresh ids, are updated, resurrected or deleted while young and
 * expire `window` commits after their birth, so a small live set keeps
 * moving through the hash table and leaves tombstones behind. */
size_t sm_ops(const sm_params *p, uint64_t n, sm_op out[SM_OPS_CAP]);

/* Last op of commit c on key k: 1 put, -1 delete, 0 untouched. */
int sm_last_op(const sm_params *p, uint64_t c, uint64_t k);

/* ---- Model -------------------------------------------------------------- */

typedef struct sm_model {
    const sm_params *p;
    uint64_t n;        /* state after commit n */
    uint32_t *last;    /* per id: commit of the live value, 0 = absent */
    uint32_t *pos;     /* per id: index + 1 in ids[], 0 = absent */
    uint32_t *ids;     /* the live ids, unordered */
    uint32_t *live_at; /* [0..commits]: live count after commit m */
    uint64_t live;
} sm_model;

void sm_model_init(sm_model *m, const sm_params *p);
void sm_model_free(sm_model *m);

void sm_model_set(sm_model *m, uint64_t k, uint64_t c);

/* Apply commit m->n + 1. Returns the number of inserts it makes. */
uint64_t sm_model_step(sm_model *m);

/* ---- Reader checks ------------------------------------------------------ */

enum { SM_GET, SM_LEN, SM_GEN, SM_STAT, SM_SNAP, SM_STREAM, SM_FILTER,
       SM_PREFIX, SM_NKINDS };
extern const char *const sm_kind_name[SM_NKINDS];

typedef struct sm_stats {
    uint64_t ops[SM_NKINDS], busy[SM_NKINDS];
    uint64_t hits, misses, exact;  /* get OK/NOTFOUND; scans checked exactly */
    uint64_t raced;                /* ops during which a commit landed */
    uint64_t hdr_busy, reopens, partial;
    uint64_t max_commit;
} sm_stats;

typedef struct sm_ent {
    uint64_t k, c, slot;
} sm_ent;

typedef struct sm_reader {
    const sm_params *p;
    sm_model m;
    sm_stats *st;
    uint64_t rng;
    uint64_t gen_epoch; /* generations grow per handle: its epoch, last value */
    uint64_t gen_last;
    sm_ent *ents;
    size_t n_ents, cap_ents;
    char err[600];
} sm_reader;

void sm_reader_init(sm_reader *r, const sm_params *p,
                    sm_stats *st, uint64_t rng);
void sm_reader_free(sm_reader *r);

/* Advance the model to commit n (never backwards). */
int sm_advance(sm_reader *r, uint64_t n);

/* A user header must be exactly the one commit `flags` wrote. */
int sm_check_user(sm_reader *r, uint64_t flags, const uint8_t data[64]);

/* Parse and self-check a delivered (key, revision, index). */
int sm_parse(sm_reader *r, const uint8_t *key, int64_t rev,
             const uint8_t *index, sm_ent *e);

/* With the model at nb: could key k hold the value of commit c at some
 * moment between commits nb and na? */
int sm_plausible(sm_reader *r, uint64_t nb, uint64_t na,
                 uint64_t k, uint64_t c);

int sm_absent_between(const sm_reader *r, uint64_t nb, uint64_t na, uint64_t k);

/* Scan predicate. */
typedef struct sm_pred {
    int kind; /* 0 all, 1 k % 3 == mod or marker, 2 prefix */
    uint32_t mod;
    uint32_t off, bits;
    uint8_t pattern[SM_KEY_SIZE];
    uint64_t tick; /* the filter's yield schedule */
} sm_pred;

int sm_pred_key(const sm_pred *p, const uint8_t *key);
int sm_pred_id(const sm_pred *p, uint64_t k);

/* Check the entries a scan delivered (r->ents) between user headers nb and
 * na. complete: the scan returned SLC_OK. The marker, when delivered, names
 * the commit and the result must be that commit's state exactly. */
int sm_check_scan(sm_reader *r, uint64_t nb, uint64_t na,
                  const sm_pred *pred, int reverse, int complete);

/* ---- Reader operations -------------------------------------------------- */

/* Outcome of one reader step. */
enum { SM_STEP_OK = 0, SM_STEP_INVALIDATED = 1, SM_STEP_FAIL = -1 };

/* Read a handle's user header (retrying SLC_EBUSY, bounded). The model is
 * not advanced: the caller checks it with sm_check_user when it may. */
int sm_read_user(sm_reader *r, slc_cache *c, uint64_t *flags, uint8_t data[64]);

int sm_visit(const slc_entry *e, void *ctx);

/* Is v the live count after some commit in [nb, na]? Model at >= na. */
int sm_count_ok(const sm_reader *r, uint64_t nb, uint64_t na, uint64_t v);

/* One random read on handle c, bracketed by user-header reads (commits nb
 * before, na after), checked against the model. `epoch` names the handle:
 * it changes whenever the handle is replaced. */
int sm_step(sm_reader *r, slc_cache *c, uint64_t epoch);

/* ---- Writer ------------------------------------------------------------- */

slc_options sm_options(uint64_t capacity);

/* Open <path> for reading, as a reader does after SLC_EINVALIDATED. The
 * writer renames the new file in before it invalidates the old one, so the
 * loop ends quickly; it is bounded by tries, not time. */
int sm_open_retry(const char *path, slc_cache **out);

/* Where a party finds the cache handle it uses. In the thread test the
 * writer and two readers share one slot, so ThreadSanitizer sees both sides
 * of the seqlock at the same addresses (a handle per thread would be a
 * separate mapping, invisible to it). Every use is bracketed by sm_pin and
 * sm_unpin (a read lock: slc_close must not race with calls on a handle);
 * after an invalidation sm_replace reopens the path unless another party
 * already did (epoch). A private slot has no lock. */
typedef struct sm_slot {
    const char *path;
    slc_cache *c;
    uint64_t epoch;
    pthread_rwlock_t *lk;
} sm_slot;

slc_cache *sm_pin(sm_slot *s, uint64_t *epoch);
void sm_unpin(sm_slot *s);
int sm_replace(sm_slot *s, uint64_t epoch);

typedef struct sm_wstats {
    uint64_t commits, rotations, rehashes, efull, abandoned, verified;
    uint64_t begin_busy; /* begin_write met a reader's brief open-time lock */
    uint64_t max_tombstones, bucket_count;
} sm_wstats;

/* The writer's test hook (hook.h): counts rehashes and often yields the
 * CPU inside the odd window. */
void sm_writer_hook(const char *point);

typedef void (*sm_pace_fn)(void *ctx, uint64_t n);

typedef struct sm_writer {
    const sm_params *p;
    sm_slot *slot;
    sm_reader self; /* the writer's model and checks on its own file */
    sm_stats self_stats;
    sm_wstats *ws;
} sm_writer;

/* slc_begin_write for the only writer. Readers' slc_open may hold the lock
 * for a moment (odd-generation probe, SLC1 10.6), so SLC_EBUSY is retried,
 * a bounded number of times. */
int sm_begin(sm_writer *w, slc_cache *c, slc_writer **wr);

/* Stage model state m (marker and every live key) into a fresh file. */
int sm_fill(sm_writer *w, slc_cache *c);

/* The file is full: build the logical state in <path>.next, rename it over
 * <path>, invalidate the old file so its readers reopen. */
int sm_rotate(sm_writer *w);

/* A session that is staged and dropped: readers must never see it. */
int sm_abandon_on(sm_writer *w, slc_cache *c, uint64_t n);

int sm_abandon(sm_writer *w, uint64_t n);

/* The whole file against the model: slc_verify and an exact scan. */
int sm_self_check_on(sm_writer *w, slc_cache *c);

int sm_self_check(sm_writer *w);

/* Commit n: the marker, the schedule's ops, the user header. *full is set
 * when the file had no room (SLC_EFULL, nothing published). */
int sm_commit_on(sm_writer *w, slc_cache *c, uint64_t n, int *full_out);

int sm_commit_one(sm_writer *w, uint64_t n);

void sm_writer_init(sm_writer *w, const sm_params *p,
                    sm_slot *slot, sm_wstats *ws);

/* Make p->commits commits on the cache in `slot` (opened here if its
 * handle is NULL; the file exists). */
int sm_writer_run(const sm_params *p, sm_slot *slot,
                  sm_wstats *ws, sm_pace_fn pace, void *pctx,
                  char *err, size_t errlen);

#endif
