/* Open-time validation, SLC1 10.2 (file states) and 10.7 (groups A-G, in
 * their order), slc_read_options, and reads of damaged files (7.6).
 *
 * Damaged files are made from a valid cache by patching header fields with
 * pwrite; where the row needs it the CRC is recomputed, so the intended
 * check is the one that fires. Every refused open must leave the file
 * exactly as it was (bytes, size, mode). */
#include "core_helpers.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

/* Base file: key 16, index 8, capacity 100 (256 buckets), user_version 7,
 * keys 0..9 committed. */
enum { KS = 16, IS = 8, CAP = 100, UV = 7, NKEYS = 10, BUCKETS = 256 };

static slc_options base_opts(void) { return cu_opts(KS, IS, CAP, UV, 0); }

/* A fresh base file at path (any previous one removed). */
static void make_base(const char *path, uint32_t flags)
{
    unlink(path);
    slc_options o = cu_opts(KS, IS, CAP, UV, flags);
    cu_make(path, &o, NKEYS);
}

/* ---- Unchanged-file check ---------------------------------------------- */

typedef struct snap {
    char *bytes; /* whole file, or its first 64 KiB when huge */
    size_t len;
    uint64_t size;
    mode_t mode;
    ino_t ino;
} snap;

static snap take_snap(const char *path)
{
    snap s;
    memset(&s, 0, sizeof s);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    s.size = (uint64_t)st.st_size;
    s.mode = st.st_mode;
    s.ino = st.st_ino;
    if (s.size <= (64u << 20)) {
        s.bytes = t_read_file(path, &s.len);
        assert_non_null(s.bytes);
    } else {
        s.len = 65536;
        s.bytes = malloc(s.len);
        cu_pread(path, 0, s.bytes, s.len);
    }
    return s;
}

static void expect_same(const char *path, snap *s)
{
    snap now = take_snap(path);
    assert_int_equal(now.size, s->size);
    assert_int_equal(now.mode, s->mode);
    assert_int_equal(now.ino, s->ino);
    assert_int_equal(now.len, s->len);
    assert_memory_equal(now.bytes, s->bytes, s->len);
    free(now.bytes);
    free(s->bytes);
    s->bytes = NULL;
}

/* slc_open must return `code`, no handle, a detail, and change nothing. */
static void expect_open(const char *path, const slc_options *o, int code)
{
    snap s = take_snap(path);
    slc_cache *c = (slc_cache *)(uintptr_t)1;
    int rc = slc_open(path, o, &c);
    if (rc != code)
        fail_msg("slc_open: %d (%s), want %d; detail: %s", rc,
                 slc_strerror(rc), code, slc_errdetail());
    if (code == SLC_OK) {
        assert_non_null(c);
        assert_int_equal(slc_close(c), SLC_OK);
    } else {
        assert_null(c);
        assert_true(slc_errdetail()[0] != '\0');
    }
    expect_same(path, &s);
}

static void expect_ro(const char *path, int code)
{
    snap s = take_snap(path);
    slc_options o;
    memset(&o, 0xAB, sizeof o);
    int rc = slc_read_options(path, &o);
    if (rc != code)
        fail_msg("slc_read_options: %d (%s), want %d; detail: %s", rc,
                 slc_strerror(rc), code, slc_errdetail());
    if (code != SLC_OK)
        assert_true(slc_errdetail()[0] != '\0');
    expect_same(path, &s);
}

/* ---- Patches ----------------------------------------------------------- */

typedef struct patch {
    uint32_t off;
    uint8_t width; /* 1, 4 or 8 */
    uint64_t value;
} patch;

static void apply_patch(const char *path, const patch *p)
{
    if (p->width == 1) {
        uint8_t b = (uint8_t)p->value;
        cu_pwrite(path, p->off, &b, 1);
    } else if (p->width == 4) {
        cu_set32(path, p->off, (uint32_t)p->value);
    } else {
        cu_set64(path, p->off, p->value);
    }
}

typedef struct row {
    const char *name;
    patch p[3];
    int fix_crc;
    uint64_t opt_cap; /* capacity option for slc_open */
    int open_code, ro_code;
} row;

#define P4(o, v) {(o), 4, (v)}
#define P8(o, v) {(o), 8, (v)}
#define P1(o, v) {(o), 1, (v)}

static void run_rows(const char *path, const row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        print_message("row: %s\n", r->name);
        make_base(path, 0);
        for (size_t j = 0; j < 3 && r->p[j].width; j++)
            apply_patch(path, &r->p[j]);
        if (r->fix_crc)
            cu_fix_crc(path);
        slc_options o = base_opts();
        o.slot_capacity = r->opt_cap;
        expect_open(path, &o, r->open_code);
        /* With locking off the codes are the same for these rows. */
        o.flags |= SLC_NO_LOCK;
        expect_open(path, &o, r->open_code);
        expect_ro(path, r->ro_code);
    }
}

/* ---- 10.2: file states ------------------------------------------------- */

static void missing_with_capacity_0(void **state)
{
    fx *f = *state;
    slc_options o = cu_opts(KS, IS, 0, UV, 0);
    slc_cache *c = (slc_cache *)(uintptr_t)1;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    assert_null(c);
    assert_false(cu_exists(f->path));
    o.flags = SLC_NO_LOCK;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_EINVAL);
    assert_false(cu_exists(f->path));
    /* Nothing to read either: the OS error, errno kept. */
    errno = 0;
    assert_int_equal(slc_read_options(f->path, &o), SLC_ESYS);
    assert_int_equal(errno, ENOENT);
}

static size_t dir_entries(const char *dir, char names[][64], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && n < max)
            snprintf(names[n++], 64, "%.63s", e->d_name);
    closedir(d);
    return n;
}

static void missing_is_created(void **state)
{
    fx *f = *state;
    mode_t old = umask(022);
    slc_options o = cu_opts(KS, IS, 100000, UV, 0);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    umask(old);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    uint64_t want = 256 + 100000ull * 40 + 16ull * 262144;
    assert_int_equal((uint64_t)st.st_size, want);
    /* Sparse: only the header page (and filesystem metadata) allocated. */
    assert_true((uint64_t)st.st_blocks * 512 <= 64 * 1024);
    char lock[4096];
    snprintf(lock, sizeof lock, "%s.lock", f->path);
    assert_int_equal(stat(lock, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* No temporary file is left behind. */
    char names[8][64];
    assert_int_equal(dir_entries(f->dir, names, 8), 2);
    slc_stat s;
    assert_int_equal(slc_stat_get(c, &s), SLC_OK);
    assert_int_equal(s.generation, 0);
    assert_int_equal(s.live_count, 0);
    assert_int_equal(s.slot_highwater, 0);
    assert_int_equal(s.user_version, UV);
    assert_int_equal(slc_close(c), SLC_OK);

    /* SLC_NO_LOCK creates no lock file. */
    char *p2 = t_join(f->dir, "nolock.slc");
    o.flags = SLC_NO_LOCK;
    assert_int_equal(slc_open(p2, &o, &c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);
    snprintf(lock, sizeof lock, "%s.lock", p2);
    assert_false(cu_exists(lock));
    free(p2);
}

static void empty_file_initialised_in_place(void **state)
{
    fx *f = *state;
    int fd = open(f->path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0640), 0);
    close(fd);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);
    slc_options o = base_opts();
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(after.st_mode & 07777, 0640);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal((uint64_t)after.st_size, 256 + CAP * 40 + 16 * BUCKETS);
    uint64_t n = 99;
    assert_int_equal(slc_len(c, &n), SLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slc_generation(c, &n), SLC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(slc_close(c), SLC_OK);
    /* The header is the one a created file gets. */
    slc__header h;
    cu_header(f->path, &h);
    assert_int_equal(h.key_size, KS);
    assert_int_equal(h.index_size, IS);
    assert_int_equal(h.slot_capacity, CAP);
    assert_int_equal(h.bucket_count, BUCKETS);
    assert_int_equal(h.user_version, UV);
    expect_ro(f->path, SLC_OK);
}

static void empty_file_capacity_0(void **state)
{
    fx *f = *state;
    int fd = open(f->path, O_RDWR | O_CREAT | O_EXCL, 0640);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, 0640), 0);
    close(fd);
    slc_options o = cu_opts(KS, IS, 0, UV, 0);
    expect_open(f->path, &o, SLC_EINVAL);
    o.flags = SLC_NO_LOCK;
    expect_open(f->path, &o, SLC_EINVAL);
    assert_int_equal(cu_file_size(f->path), 0);
    /* No configuration to read in an empty file. */
    expect_ro(f->path, SLC_EINVAL);
}

static void short_files_are_corrupt(void **state)
{
    fx *f = *state;
    char *src = t_join(f->dir, "src.slc");
    make_base(src, 0);
    size_t len;
    char *full = t_read_file(src, &len);
    static const size_t sizes[] = {1, 100, 255};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        /* The start of a valid header: only the size is wrong. */
        assert_int_equal(t_write_file(f->path, full, sizes[i]), 0);
        slc_options o = base_opts();
        expect_open(f->path, &o, SLC_ECORRUPT);
        o.slot_capacity = 0;
        expect_open(f->path, &o, SLC_ECORRUPT);
        o.flags = SLC_NO_LOCK;
        expect_open(f->path, &o, SLC_ECORRUPT);
        expect_ro(f->path, SLC_ECORRUPT);
    }
    free(full);
    free(src);
}

static void valid_file_opens_and_reads_options(void **state)
{
    fx *f = *state;
    for (int ordered = 0; ordered <= 1; ordered++) {
        make_base(f->path, ordered ? SLC_ORDERED_KEYS : 0);
        slc_options o = base_opts();
        o.flags = ordered ? SLC_ORDERED_KEYS : 0;
        expect_open(f->path, &o, SLC_OK);
        o.slot_capacity = 0; /* accept the file's capacity */
        expect_open(f->path, &o, SLC_OK);
        slc_options got;
        memset(&got, 0xAB, sizeof got);
        assert_int_equal(slc_read_options(f->path, &got), SLC_OK);
        assert_int_equal(got.key_size, KS);
        assert_int_equal(got.index_size, IS);
        assert_int_equal(got.user_version, UV);
        assert_int_equal(got.slot_capacity, CAP);
        assert_int_equal(got.flags, ordered ? SLC_ORDERED_KEYS : 0u);
        /* What it read opens the file. */
        slc_cache *c = NULL;
        assert_int_equal(slc_open(f->path, &got, &c), SLC_OK);
        uint64_t n;
        assert_int_equal(slc_len(c, &n), SLC_OK);
        assert_int_equal(n, NKEYS);
        assert_int_equal(slc_close(c), SLC_OK);
    }
}

/* ---- 10.7 B: identification -------------------------------------------- */

static void group_b_identification(void **state)
{
    fx *f = *state;
    const int I = SLC_EINCOMPATIBLE;
    static const row rows[] = {
        {"magic SLC2", {P4(0x00, 0x32434C53u)}, 1, CAP, I, I},
        {"magic slc1", {P4(0x00, 0x31636C73u)}, 1, CAP, I, I},
        {"version 2", {P4(0x04, 2)}, 1, CAP, I, I},
        {"version 0", {P4(0x04, 0)}, 1, CAP, I, I},
        {"header_size 255", {P4(0x08, 255)}, 1, CAP, I, I},
        {"header_size 512", {P4(0x08, 512)}, 1, CAP, I, I},
        {"hash_alg 0", {P4(0x18, 0)}, 1, CAP, I, I},
        {"hash_alg 2", {P4(0x18, 2)}, 1, CAP, I, I},
        {"flags bit 1", {P4(0x1C, 2)}, 1, CAP, I, I},
        {"flags bit 31", {P4(0x1C, 0x80000000u)}, 1, CAP, I, I},
        {"state 2", {P4(0x74, 2)}, 1, CAP, I, I},
        {"state 0xffffffff", {P4(0x74, 0xFFFFFFFFu)}, 1, CAP, I, I},
        {"reserved 0xc0", {P1(0xC0, 1)}, 1, CAP, I, I},
        {"reserved 0xe7", {P1(0xE7, 0x80)}, 1, CAP, I, I},
        {"reserved 0xff", {P1(0xFF, 0x01)}, 1, CAP, I, I},
    };
    run_rows(f->path, rows, sizeof rows / sizeof rows[0]);
}

/* ---- Odd generation (10.6) --------------------------------------------- */

/* A child holding the writer lock of path until told to go. */
typedef struct holder {
    pid_t pid;
    int go; /* write end: tell the child to release and exit */
} holder;

static holder hold_lock(const char *path)
{
    char lock[4096];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        close(ready[0]);
        close(go[1]);
        int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
            _exit(2);
        char ch = 'r';
        if (write(ready[1], &ch, 1) != 1)
            _exit(3);
        if (read(go[0], &ch, 1) != 1)
            _exit(4);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char ch;
    assert_int_equal(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    holder h = {pid, go[1]};
    return h;
}

static void release_lock(holder *h)
{
    char ch = 'g';
    assert_int_equal(write(h->go, &ch, 1), 1);
    close(h->go);
    int status;
    assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void odd_generation(void **state)
{
    fx *f = *state;
    make_base(f->path, 0);
    cu_set64(f->path, SLC__OFF_GENERATION, 5); /* not under the CRC */
    slc_options o = base_opts();
    /* Lock free and still odd: a writer died mid-commit. */
    expect_open(f->path, &o, SLC_ECORRUPT);
    assert_true(strstr(slc_errdetail(), "odd") != NULL);
    expect_ro(f->path, SLC_ECORRUPT);
    /* Without locking an odd generation may be a live writer. */
    o.flags = SLC_NO_LOCK;
    expect_open(f->path, &o, SLC_EBUSY);
    /* Another process holds the lock: busy, not corrupt. */
    holder h = hold_lock(f->path);
    o.flags = 0;
    expect_open(f->path, &o, SLC_EBUSY);
    expect_ro(f->path, SLC_EBUSY);
    release_lock(&h);
    expect_open(f->path, &o, SLC_ECORRUPT);

    /* An even generation opens without the lock, even while it is held,
     * whatever its value (the generation is outside the CRC). */
    cu_set64(f->path, SLC__OFF_GENERATION, 1000);
    h = hold_lock(f->path);
    expect_open(f->path, &o, SLC_OK);
    expect_ro(f->path, SLC_OK);
    release_lock(&h);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    uint64_t g;
    assert_int_equal(slc_generation(c, &g), SLC_OK);
    assert_int_equal(g, 1000);
    assert_int_equal(slc_close(c), SLC_OK);
}

/* ---- C and D ------------------------------------------------------------ */

static void group_c_crc(void **state)
{
    fx *f = *state;
    const int C = SLC_ECORRUPT;
    static const row rows[] = {
        {"user_data byte changed", {P1(0x80, 1)}, 0, CAP, C, C},
        {"stored crc flipped", {P4(0x70, 0)}, 0, CAP, C, C},
        {"live_count changed", {P8(0x30, 9), P8(0x50, 9)}, 0, CAP, C, C},
    };
    run_rows(f->path, rows, sizeof rows / sizeof rows[0]);
    /* The detail names the check. */
    make_base(f->path, 0);
    cu_set64(f->path, SLC__OFF_USER_FLAGS, 1);
    slc_options o = base_opts();
    expect_open(f->path, &o, SLC_ECORRUPT);
    assert_true(strstr(slc_errdetail(), "crc") != NULL);
}

static void group_d_invalidated(void **state)
{
    fx *f = *state;
    static const row rows[] = {
        {"state 1", {P4(0x74, 1)}, 1, CAP, SLC_EINVALIDATED,
         SLC_EINVALIDATED},
    };
    run_rows(f->path, rows, sizeof rows / sizeof rows[0]);
}

/* ---- E: configuration --------------------------------------------------- */

static void group_e_configuration(void **state)
{
    fx *f = *state;
    make_base(f->path, 0);
    static const struct {
        uint32_t ks, is;
        uint64_t uv, cap;
        uint32_t flags;
    } bad[] = {
        {KS - 1, IS, UV, CAP, 0}, {KS + 1, IS, UV, CAP, 0},
        {KS, IS - 1, UV, CAP, 0}, {KS, IS + 1, UV, CAP, 0},
        {KS, 0, UV, CAP, 0},      {KS, IS, UV + 1, CAP, 0},
        {KS, IS, 0, CAP, 0},      {KS, IS, UV, CAP - 1, 0},
        {KS, IS, UV, CAP + 1, 0}, {KS, IS, UV, 1, 0},
        {KS, IS, UV, CAP, SLC_ORDERED_KEYS},
        {KS, IS, UV, 0, SLC_ORDERED_KEYS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        slc_options o = cu_opts(bad[i].ks, bad[i].is, bad[i].cap, bad[i].uv,
                                bad[i].flags);
        expect_open(f->path, &o, SLC_EINCOMPATIBLE);
    }
    /* Capacity 0 accepts the file's; the same options open. */
    slc_options o = base_opts();
    expect_open(f->path, &o, SLC_OK);
    o.slot_capacity = 0;
    expect_open(f->path, &o, SLC_OK);
    /* Nothing to compare against: slc_read_options succeeds. */
    expect_ro(f->path, SLC_OK);

    /* Ordered file, unordered options. */
    make_base(f->path, SLC_ORDERED_KEYS);
    o = base_opts();
    expect_open(f->path, &o, SLC_EINCOMPATIBLE);
    o.slot_capacity = 0;
    expect_open(f->path, &o, SLC_EINCOMPATIBLE);
    o.flags = SLC_ORDERED_KEYS;
    expect_open(f->path, &o, SLC_OK);

    /* Stored slot_size unlike the formula (CRC valid). */
    static const uint32_t sizes[] = {32, 48, 0, 40 + 8 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        make_base(f->path, 0);
        cu_set32(f->path, SLC__OFF_SLOT_SIZE, sizes[i]);
        cu_fix_crc(f->path);
        o = base_opts();
        expect_open(f->path, &o, SLC_EINCOMPATIBLE);
        o.slot_capacity = 0;
        expect_open(f->path, &o, SLC_EINCOMPATIBLE);
        /* slc_read_options skips group E; F then finds buckets_offset
         * unlike slots_offset + capacity * slot_size. */
        expect_ro(f->path, SLC_ECORRUPT);
    }
    /* The same with a layout that follows the stored slot_size: F holds,
     * so slc_read_options succeeds and the open it informs refuses. */
    make_base(f->path, 0);
    cu_set32(f->path, SLC__OFF_SLOT_SIZE, 32);
    cu_set64(f->path, SLC__OFF_BUCKETS_OFFSET, 256 + CAP * 32);
    cu_fix_crc(f->path);
    slc_options ro;
    assert_int_equal(slc_read_options(f->path, &ro), SLC_OK);
    assert_int_equal(ro.key_size, KS);
    assert_int_equal(ro.index_size, IS);
    assert_int_equal(ro.slot_capacity, CAP);
    expect_open(f->path, &ro, SLC_EINCOMPATIBLE);
    assert_true(strstr(slc_errdetail(), "slot_size") != NULL);
}

/* ---- F: structure ------------------------------------------------------- */

static void group_f_structure(void **state)
{
    fx *f = *state;
    const int C = SLC_ECORRUPT, I = SLC_EINCOMPATIBLE;
    const uint64_t boff = 256 + CAP * 40;
    static const row rows_proto[] = {
        {"slots_offset 264", {P8(0x60, 264)}, 1, 0, C, C},
        {"slots_offset 0", {P8(0x60, 0)}, 1, 0, C, C},
        {"slot_capacity 0", {P8(0x20, 0)}, 1, 0, C, C},
        {"highwater > capacity", {P8(0x28, CAP + 1)}, 1, 0, C, C},
        {"live > highwater", {P8(0x30, NKEYS + 1), P8(0x50, NKEYS + 1)}, 1, 0,
         C, C},
        {"bucket_count 255", {P8(0x48, 255)}, 1, 0, C, C},
        {"bucket_count 1", {P8(0x48, 1)}, 1, 0, C, C},
        {"bucket_count 0", {P8(0x48, 0)}, 1, 0, C, C},
        {"bucket_count 64 <= capacity", {P8(0x48, 64)}, 1, 0, I, I},
        {"used + tombstones = bucket_count",
         {P8(0x58, BUCKETS - NKEYS)}, 1, 0, C, C},
        {"used + tombstones > bucket_count", {P8(0x58, UINT64_MAX)}, 1, 0, C,
         C},
        {"used != live", {P8(0x50, NKEYS - 1)}, 1, 0, C, C},
        {"used != live (more)", {P8(0x50, NKEYS + 1)}, 1, 0, C, C},
    };
    run_rows(f->path, rows_proto, sizeof rows_proto / sizeof rows_proto[0]);
    /* Rows whose values depend on the layout. */
    const row rows[] = {
        {"buckets_offset + 8", {P8(0x68, boff + 8)}, 1, 0, C, C},
        {"buckets_offset - 40", {P8(0x68, boff - 40)}, 1, 0, C, C},
        {"capacity overflowing the offset",
         {P8(0x20, UINT64_MAX / 40 + 2)}, 1, 0, C, C},
        /* Past the file's end (buckets_offset is consistent). */
        {"bucket_count 512, file too short", {P8(0x48, 512)}, 1, 0, C, C},
        {"bucket_count 2^60", {P8(0x48, UINT64_C(1) << 60)}, 1, 0, C, C},
    };
    run_rows(f->path, rows, sizeof rows / sizeof rows[0]);

    /* Boundary: one EMPTY bucket left is sound. */
    make_base(f->path, 0);
    cu_set64(f->path, SLC__OFF_BUCKET_TOMBSTONES, BUCKETS - NKEYS - 1);
    cu_fix_crc(f->path);
    slc_options o = cu_opts(KS, IS, 0, UV, 0);
    expect_open(f->path, &o, SLC_OK);

    /* A file one byte short of the required length, and header only. */
    uint64_t full = 256 + CAP * 40 + 16 * BUCKETS;
    static const uint64_t lens[] = {1, 16 * BUCKETS, 16 * BUCKETS + CAP * 40};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        make_base(f->path, 0);
        assert_int_equal(truncate(f->path, (off_t)(full - lens[i])), 0);
        o = base_opts();
        expect_open(f->path, &o, SLC_ECORRUPT);
        o.slot_capacity = 0;
        expect_open(f->path, &o, SLC_ECORRUPT);
        expect_ro(f->path, SLC_ECORRUPT);
    }
    /* A short file whose header is not a fresh one is corrupt whoever holds
     * the writer lock: another lock holder, or a writer of this process. */
    {
        make_base(f->path, 0);
        assert_int_equal(truncate(f->path, (off_t)(full - 1)), 0);
        holder h = hold_lock(f->path);
        o = base_opts();
        expect_open(f->path, &o, SLC_ECORRUPT);
        expect_ro(f->path, SLC_ECORRUPT);
        release_lock(&h);

        make_base(f->path, 0);
        slc_cache *held = NULL;
        slc_writer *w = NULL;
        assert_int_equal(slc_open(f->path, &o, &held), SLC_OK);
        assert_int_equal(slc_begin_write(held, &w), SLC_OK);
        assert_int_equal(truncate(f->path, (off_t)(full - 1)), 0);
        expect_open(f->path, &o, SLC_ECORRUPT);
        expect_ro(f->path, SLC_ECORRUPT);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_close(held), SLC_OK);
    }
    /* Longer files are fine: trailing bytes mean nothing. */
    make_base(f->path, 0);
    assert_int_equal(truncate(f->path, (off_t)(full + 12345)), 0);
    o = base_opts();
    expect_open(f->path, &o, SLC_OK);
    expect_ro(f->path, SLC_OK);
    slc_cache *c = NULL;
    assert_int_equal(slc_open(f->path, &o, &c), SLC_OK);
    slc_stat st;
    assert_int_equal(slc_stat_get(c, &st), SLC_OK);
    assert_int_equal(st.file_size, full); /* the logical size */
    assert_int_equal(slc_verify(c), SLC_OK);
    assert_int_equal(slc_close(c), SLC_OK);

    /* bucket_count equal to capacity is refused like a smaller one. */
    make_base(f->path, 0);
    char *p8 = t_join(f->dir, "cap8.slc");
    slc_options o8 = cu_opts(KS, IS, 8, UV, 0);
    cu_make(p8, &o8, 3);
    cu_set64(p8, SLC__OFF_BUCKET_COUNT, 8);
    cu_fix_crc(p8);
    expect_open(p8, &o8, SLC_EINCOMPATIBLE);
    expect_ro(p8, SLC_EINCOMPATIBLE);
    free(p8);
}

/* A sparse file whose header describes a sound layout beyond a limit.
 * Returns 0 when the filesystem cannot hold a file that long. */
static int write_big_header(const char *path, uint32_t ks, uint32_t is,
                            uint64_t cap, uint64_t buckets)
{
    slc__header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "SLC1", 4);
    h.version = 1;
    h.header_size = 256;
    h.key_size = ks;
    h.index_size = is;
    h.slot_size = 16 + ((ks + 7) & ~7u) + ((is + 7) & ~7u);
    h.hash_alg = 1;
    h.slot_capacity = cap;
    h.bucket_count = buckets;
    h.slots_offset = 256;
    h.buckets_offset = 256 + cap * h.slot_size;
    uint8_t raw[SLC__HEADER_SIZE];
    slc__header_encode(&h, raw);
    slc__put_le32(raw + SLC__OFF_HEADER_CRC, slc__header_crc(raw));
    assert_int_equal(t_write_file(path, raw, sizeof raw), 0);
    if (truncate(path, (off_t)(h.buckets_offset + 16 * buckets)) == 0)
        return 1;
    assert_true(errno == EFBIG || errno == EINVAL);
    print_message("skipped: %s cannot be %" PRIu64 " bytes long here\n",
                  path, h.buckets_offset + 16 * buckets);
    return 0;
}

static void group_f_limits(void **state)
{
    fx *f = *state;
    /* slot_capacity 100,000,001 with option 0 (a 6.7 GB sparse file). */
    slc_options o = cu_opts(1, 0, 0, 0, 0);
    if (write_big_header(f->path, 1, 0, 100000001, UINT64_C(1) << 28)) {
        expect_open(f->path, &o, SLC_EINVAL);
        expect_ro(f->path, SLC_EINVAL);
        o.slot_capacity = 100000001; /* the option itself is too big */
        expect_open(f->path, &o, SLC_EINVAL);
    }
    unlink(f->path);

    /* The same layout one slot smaller is within limits. */
    if (write_big_header(f->path, 1, 0, 100000000, UINT64_C(1) << 28))
        expect_ro(f->path, SLC_OK);
    unlink(f->path);

    /* Logical length just above 1 TiB (sparse). */
    uint32_t slot = 16 + 512 + SLC_MAX_INDEX_SIZE;
    uint64_t cap =
        (SLC_MAX_FILE_SIZE - 256 - 16 * (UINT64_C(1) << 21)) / slot + 1;
    if (write_big_header(f->path, 512, SLC_MAX_INDEX_SIZE, cap,
                         UINT64_C(1) << 21)) {
        assert_true(cu_file_size(f->path) > SLC_MAX_FILE_SIZE);
        o = cu_opts(512, SLC_MAX_INDEX_SIZE, 0, 0, 0);
        expect_open(f->path, &o, SLC_EINVAL);
        assert_true(strstr(slc_errdetail(), "1 TiB") != NULL);
        expect_ro(f->path, SLC_EINVAL);
    }
    unlink(f->path);
}

/* ---- Order of groups ---------------------------------------------------- */

static void groups_apply_in_order(void **state)
{
    fx *f = *state;
    const int C = SLC_ECORRUPT, I = SLC_EINCOMPATIBLE, V = SLC_EINVALIDATED,
              L = SLC_EINVAL;
    static const row rows[] = {
        /* B before C */
        {"version 2 + stale crc", {P4(0x04, 2)}, 0, CAP, I, I},
        {"reserved + stale crc", {P1(0xD0, 7)}, 0, CAP, I, I},
        {"state 2 + stale crc", {P4(0x74, 2)}, 0, CAP, I, I},
        {"hash_alg 0 + stale crc", {P4(0x18, 0)}, 0, CAP, I, I},
        /* B before the odd-generation probe */
        {"bad magic + odd generation", {P1(0x00, 'X'), P8(0x40, 3)}, 0, CAP,
         I, I},
        /* C before D */
        {"state 1 + stale crc", {P4(0x74, 1), P1(0x90, 1)}, 0, CAP, C, C},
        /* D before E and F */
        {"state 1 + highwater > capacity", {P4(0x74, 1), P8(0x28, CAP + 1)},
         1, CAP, V, V},
        {"state 1 + capacity option mismatch", {P4(0x74, 1)}, 1, CAP + 1, V,
         V},
        /* E before F */
        {"capacity option mismatch + used != live", {P8(0x50, 3)}, 1, CAP + 1,
         I, C},
        {"file capacity 0 + capacity option", {P8(0x20, 0)}, 1, CAP, I, C},
        {"slot_size + used != live", {P4(0x14, 48), P8(0x50, 3)}, 1, 0, I, C},
        /* read_options: F, then the size limits */
        {"key_size 0 + used != live", {P4(0x0C, 0), P8(0x50, 3)}, 1, 0, I, C},
        {"key_size 0", {P4(0x0C, 0)}, 1, 0, I, L},
        {"key_size 513", {P4(0x0C, 513)}, 1, 0, I, L},
        {"index_size over 1 MiB", {P4(0x10, SLC_MAX_INDEX_SIZE + 1)}, 1, 0,
         I, L},
        /* within F */
        {"slots_offset + bucket_count <= capacity",
         {P8(0x60, 0), P8(0x48, 64)}, 1, 0, C, C},
        {"highwater > capacity + bucket_count <= capacity",
         {P8(0x28, CAP + 1), P8(0x48, 64)}, 1, 0, C, C},
        {"bucket_count not pow2 (<= capacity)", {P8(0x48, 63)}, 1, 0, C, C},
        {"bucket_count <= capacity + used != live",
         {P8(0x48, 64), P8(0x50, 3)}, 1, 0, I, I},
    };
    run_rows(f->path, rows, sizeof rows / sizeof rows[0]);

    /* Odd generation before C: with locking off the stale CRC is never
     * looked at. */
    make_base(f->path, 0);
    cu_set64(f->path, SLC__OFF_GENERATION, 7);
    cu_set64(f->path, SLC__OFF_USER_FLAGS, 1);
    slc_options o = base_opts();
    o.flags = SLC_NO_LOCK;
    expect_open(f->path, &o, SLC_EBUSY);
    holder h = hold_lock(f->path);
    o.flags = 0;
    expect_open(f->path, &o, SLC_EBUSY);
    release_lock(&h);
}

/* ---- G: sampled buckets ------------------------------------------------- */

static void group_g_sampled_bucket(void **state)
{
    fx *f = *state;
    static const uint64_t bad[] = {NKEYS + 1, CAP + 1, UINT64_MAX - 1};
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            make_base(f->path, 0);
            /* Bucket b names slot bad[i]-1 >= slot_highwater. */
            slc__header h;
            cu_header(f->path, &h);
            uint64_t at = h.buckets_offset + 16 * (b * 13) + 8;
            cu_set64(f->path, at, bad[i]);
            slc_options o = base_opts();
            expect_open(f->path, &o, SLC_ECORRUPT);
            expect_ro(f->path, SLC_OK); /* header only */
        }
}

/* ---- Reads under corruption (7.6) --------------------------------------- */

typedef struct opened {
    slc_cache *c;
    slc__header h;
} opened;

static opened open_base(const char *path)
{
    make_base(path, 0);
    opened r;
    slc_options o = base_opts();
    assert_int_equal(slc_open(path, &o, &r.c), SLC_OK);
    cu_header(path, &r.h);
    return r;
}

static uint64_t bucket_of(const char *path, uint64_t n, uint64_t *slot)
{
    uint8_t k[KS];
    cu_key(k, KS, n);
    uint64_t b = cu_find_bucket(path, k, slot);
    assert_true(b != UINT64_MAX);
    return b;
}

/* A key other than `except` sitting in its home bucket: no other bucket
 * lies on its probe path, so damage elsewhere cannot affect its lookup. */
static uint64_t home_key(const char *path, uint64_t except)
{
    for (uint64_t n = 0; n < NKEYS; n++) {
        if (n == except)
            continue;
        uint8_t k[KS];
        cu_key(k, KS, n);
        if (bucket_of(path, n, NULL) == (slc__fnv1a64(k, KS) & (BUCKETS - 1)))
            return n;
    }
    fail_msg("no key in its home bucket");
    return 0;
}

static void expect_get_corrupt(slc_cache *c, uint64_t n)
{
    uint8_t k[KS], ix[IS];
    int64_t rev = -77;
    memset(ix, 0x11, sizeof ix);
    cu_key(k, KS, n);
    assert_int_equal(slc_get(c, k, KS, &rev, ix, IS), SLC_ECORRUPT);
    assert_true(slc_errdetail()[0] != '\0');
}

static void read_bucket_beyond_highwater(void **state)
{
    fx *f = *state;
    static const uint64_t bad[] = {NKEYS + 1, CAP, CAP + 1,
                                   UINT64_C(1) << 40, UINT64_MAX - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opened o = open_base(f->path);
        uint64_t other = home_key(f->path, 3);
        uint64_t b = bucket_of(f->path, 3, NULL);
        cu_set64(f->path, o.h.buckets_offset + 16 * b + 8, bad[i]);
        expect_get_corrupt(o.c, 3);
        assert_true(strstr(slc_errdetail(), "slot_highwater") != NULL);
        /* a key whose probe does not pass there is unaffected */
        cu_expect_get(o.c, KS, IS, other, (int64_t)other + 1);
        assert_int_equal(slc_verify(o.c), SLC_ECORRUPT);
        slc_writer *w = NULL;
        assert_int_equal(slc_begin_write(o.c, &w), SLC_OK);
        uint8_t k[KS];
        cu_key(k, KS, 3);
        int existed = -1;
        assert_int_equal(slc_delete(w, k, KS, &existed), SLC_ECORRUPT);
        assert_int_equal(existed, -1);
        assert_int_equal(slc_writer_close(w), SLC_OK);
        assert_int_equal(slc_close(o.c), SLC_OK);
    }
}

/* A bucket naming the wrong (valid) slot: key bytes decide, so the lookup
 * misses rather than returning another key's entry. */
static void read_bucket_naming_other_slot(void **state)
{
    fx *f = *state;
    opened o = open_base(f->path);
    uint64_t s4 = 0;
    bucket_of(f->path, 4, &s4);
    uint64_t b3 = bucket_of(f->path, 3, NULL);
    cu_set64(f->path, o.h.buckets_offset + 16 * b3 + 8, s4 + 1);
    uint8_t k[KS];
    cu_key(k, KS, 3);
    int64_t rev = -5;
    assert_int_equal(slc_get(o.c, k, KS, &rev, NULL, 0), SLC_NOTFOUND);
    assert_int_equal(rev, -5);
    cu_expect_get(o.c, KS, IS, 4, 5);
    assert_int_equal(slc_verify(o.c), SLC_ECORRUPT);
    assert_int_equal(slc_close(o.c), SLC_OK);
}

static void read_slot_meta_reserved_bits(void **state)
{
    fx *f = *state;
    static const uint64_t metas[] = {3, 2, UINT64_C(1) << 63 | 1};
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++) {
        opened o = open_base(f->path);
        uint64_t s5 = 0;
        bucket_of(f->path, 5, &s5);
        cu_set64(f->path, o.h.slots_offset + s5 * 40, metas[i]);
        expect_get_corrupt(o.c, 5);
        assert_true(strstr(slc_errdetail(), "reserved") != NULL);
        assert_int_equal(slc_verify(o.c), SLC_ECORRUPT);
        assert_int_equal(slc_close(o.c), SLC_OK);
    }
}

static int count_visit(const slc_entry *e, void *ctx)
{
    (void)e;
    ++*(int *)ctx;
    return 0;
}

static void read_scan_meets_reserved_bits(void **state)
{
    fx *f = *state;
    opened o = open_base(f->path);
    cu_set64(f->path, o.h.slots_offset + 7 * 40, 5);
    int n = 0;
    assert_int_equal(slc_scan(o.c, NULL, count_visit, &n), SLC_ECORRUPT);
    assert_int_equal(n, 0); /* snapshot: nothing delivered */
    assert_int_equal(slc_close(o.c), SLC_OK);
}

static void read_no_empty_bucket(void **state)
{
    fx *f = *state;
    opened o = open_base(f->path);
    for (uint64_t i = 0; i < BUCKETS; i++) {
        uint64_t at = o.h.buckets_offset + 16 * i + 8;
        if (cu_get64(f->path, at) == 0)
            cu_set64(f->path, at, UINT64_MAX);
    }
    /* Absent keys probe every bucket and find no EMPTY one. */
    for (uint64_t n = 100; n < 110; n++)
        expect_get_corrupt(o.c, n);
    assert_true(strstr(slc_errdetail(), "EMPTY") != NULL);
    /* Present keys are still found correctly. */
    for (uint64_t n = 0; n < NKEYS; n++)
        cu_expect_get(o.c, KS, IS, n, (int64_t)n + 1);
    assert_int_equal(slc_verify(o.c), SLC_ECORRUPT);
    assert_int_equal(slc_close(o.c), SLC_OK);
}

static void read_bucket_names_deleted_slot(void **state)
{
    fx *f = *state;
    opened o = open_base(f->path);
    uint64_t s6 = 0;
    bucket_of(f->path, 6, &s6);
    cu_set64(f->path, o.h.slots_offset + s6 * 40, 0);
    expect_get_corrupt(o.c, 6);
    assert_true(strstr(slc_errdetail(), "deleted") != NULL);
    assert_int_equal(slc_verify(o.c), SLC_ECORRUPT);
    /* The writer meets it in its lookups: nothing is published. */
    uint64_t g0;
    assert_int_equal(slc_generation(o.c, &g0), SLC_OK);
    slc_writer *w = NULL;
    assert_int_equal(slc_begin_write(o.c, &w), SLC_OK);
    assert_int_equal(cu_put(w, KS, IS, 6, 60), SLC_OK);
    assert_int_equal(slc_commit(w), SLC_ECORRUPT);
    assert_int_equal(slc_writer_close(w), SLC_OK);
    uint64_t g1;
    assert_int_equal(slc_generation(o.c, &g1), SLC_OK);
    assert_int_equal(g1, g0);
    assert_int_equal(slc_close(o.c), SLC_OK);
}

/* Every counter rule of 3.10 broken on an open handle: each read sees the
 * impossible header and says SLC_ECORRUPT, get and get_many included. */
static void read_counters_broken(void **state)
{
    fx *f = *state;
    opened o = open_base(f->path);
    static const struct {
        uint32_t off;
        uint64_t bad;
        const char *detail; /* what slc_errdetail names */
    } rows[] = {
        {SLC__OFF_SLOT_HIGHWATER, CAP + 1, "slot_highwater"},
        {SLC__OFF_LIVE_COUNT, NKEYS + 1, "live_count"},
        {SLC__OFF_BUCKET_USED, NKEYS - 1, "bucket_used"},
        {SLC__OFF_BUCKET_TOMBSTONES, BUCKETS - NKEYS, "EMPTY"},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        uint64_t good = cu_get64(f->path, rows[r].off);
        cu_set64(f->path, rows[r].off, rows[r].bad);
        uint64_t n = 77;
        assert_int_equal(slc_len(o.c, &n), SLC_ECORRUPT);
        assert_int_equal(n, 77);
        slc_stat st;
        assert_int_equal(slc_stat_get(o.c, &st), SLC_ECORRUPT);
        expect_get_corrupt(o.c, 1);
        uint8_t keys[2 * KS];
        int res[2] = {42, 42};
        cu_key(keys, KS, 1);
        cu_key(keys + KS, KS, 2);
        assert_int_equal(slc_get_many(o.c, keys, 2, KS, res, NULL, NULL, 0),
                         SLC_ECORRUPT);
        int cnt = 0;
        assert_int_equal(slc_scan(o.c, NULL, count_visit, &cnt), SLC_ECORRUPT);
        assert_int_equal(cnt, 0);
        if (!strstr(slc_errdetail(), rows[r].detail))
            fail_msg("row %zu: detail \"%s\"", r, slc_errdetail());
        cu_set64(f->path, rows[r].off, good);
        cu_expect_get(o.c, KS, IS, 1, 2);
    }
    assert_int_equal(slc_close(o.c), SLC_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, cu_fx_setup, cu_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(missing_with_capacity_0),
        T(missing_is_created),
        T(empty_file_initialised_in_place),
        T(empty_file_capacity_0),
        T(short_files_are_corrupt),
        T(valid_file_opens_and_reads_options),
        T(group_b_identification),
        T(odd_generation),
        T(group_c_crc),
        T(group_d_invalidated),
        T(group_e_configuration),
        T(group_f_structure),
        T(group_f_limits),
        T(groups_apply_in_order),
        T(group_g_sampled_bucket),
        T(read_bucket_beyond_highwater),
        T(read_bucket_naming_other_slot),
        T(read_slot_meta_reserved_bits),
        T(read_scan_meets_reserved_bits),
        T(read_no_empty_bucket),
        T(read_bucket_names_deleted_slot),
        T(read_counters_broken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
