#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void bdie(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void preset(bconf *c, const char *name)
{
    if (strcmp(name, "default") == 0) {
        c->n = 1000000;
        c->gets = 2000000;
        c->w2_commits = 1000;
        c->w2_ops = 100;
        c->w6_commits = 100;
        c->w6_ops = 10;
        c->w7_gets = 2000000;
    } else if (strcmp(name, "small") == 0) {
        c->n = 10000;
        c->gets = 200000;
        c->w2_commits = 100;
        c->w2_ops = 100;
        c->w6_commits = 20;
        c->w6_ops = 10;
        c->w7_gets = 200000;
    } else {
        bdie("unknown preset %s (default, small)", name);
    }
    c->w7_readers = 2;
    c->w7_interval_us = 1000;
    c->w5_passes = 5;
}

static uint64_t num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        bdie("not a number: %s", s);
    return (uint64_t)v;
}

void bconf_parse(bconf *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    preset(c, "default");
    c->dir = "/tmp/slc-bench";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
            continue;
        }
        if (!v)
            bdie("option %s needs a value", a);
        i++;
        if (strcmp(a, "--preset") == 0)
            preset(c, v);
        else if (strcmp(a, "--n") == 0)
            c->n = num(v);
        else if (strcmp(a, "--gets") == 0)
            c->gets = num(v);
        else if (strcmp(a, "--w2-commits") == 0)
            c->w2_commits = num(v);
        else if (strcmp(a, "--w6-commits") == 0)
            c->w6_commits = num(v);
        else if (strcmp(a, "--w7-gets") == 0)
            c->w7_gets = num(v);
        else if (strcmp(a, "--w7-interval-us") == 0)
            c->w7_interval_us = num(v);
        else if (strcmp(a, "--w5-passes") == 0)
            c->w5_passes = (int)num(v);
        else if (strcmp(a, "--dir") == 0)
            c->dir = v;
        else if (strcmp(a, "--only") == 0)
            c->only = v;
        else
            bdie("unknown option %s", a);
    }
    if (c->n == 0 || c->gets == 0)
        bdie("--n and --gets must be positive");
}

int bconf_wants(const bconf *c, const char *w)
{
    if (!c->only)
        return 1;
    size_t lw = strlen(w);
    for (const char *p = c->only; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == lw && strncmp(p, w, l) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

uint8_t *bkeys_hits(uint64_t n, uint64_t count, uint64_t stream)
{
    uint8_t *k = malloc(count * B_KEY);
    if (!k)
        bdie("out of memory for %llu keys", (unsigned long long)count);
    brng r = {B_SEED ^ stream};
    for (uint64_t i = 0; i < count; i++)
        bkey(brng_next(&r) % n, k + i * B_KEY);
    return k;
}

uint8_t *bkeys_misses(uint64_t n, uint64_t count)
{
    uint8_t *k = malloc(count * B_KEY);
    if (!k)
        bdie("out of memory for %llu keys", (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++)
        bkey(2 * n + i, k + i * B_KEY);
    return k;
}

void bseq_init(bwriter_seq *q, uint64_t n, uint64_t stream, int inserts,
               int64_t first_rev)
{
    q->r.s = B_SEED ^ (stream * UINT64_C(0x100000001B3));
    q->n = n;
    q->next_new = n;
    q->rev = first_rev;
    q->inserts = inserts;
}

bupsert bseq_next(bwriter_seq *q, uint64_t op)
{
    bupsert u;
    u.rev = q->rev++;
    if (q->inserts && (op & 1))
        u.entry = q->next_new++;
    else
        u.entry = brng_next(&q->r) % q->n;
    return u;
}

double bnow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bresult(const char *sys, const char *w, const char *metric, double v,
             const char *unit, uint64_t checksum)
{
    printf("R %s %s %s %.6g %s %016llx\n", sys, w, metric, v, unit,
           (unsigned long long)checksum);
    fflush(stdout);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bmedian(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

char *bpath(const char *dir, const char *name)
{
    size_t l = strlen(dir) + strlen(name) + 2;
    char *p = malloc(l);
    if (!p)
        bdie("out of memory");
    snprintf(p, l, "%s/%s", dir, name);
    return p;
}

/* Stores are recreated for each run: a clean directory keeps runs
 * comparable (no file-system history from a previous repetition). */
void bprepare_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        bdie("mkdir %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        bdie("opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = bpath(dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

brec *brecs_load(uint64_t n)
{
    brec *r = malloc(n * sizeof *r);
    if (!r)
        bdie("out of memory for %llu records", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        bkey(i, r[i].key);
        r[i].rev = (int64_t)i + 1;
        bindex(i, r[i].rev, r[i].idx);
    }
    return r;
}

brec *brecs_seq(uint64_t n, uint64_t count, uint64_t stream, int inserts,
                int64_t first_rev)
{
    brec *r = malloc((count ? count : 1) * sizeof *r);
    if (!r)
        bdie("out of memory for %llu records", (unsigned long long)count);
    bwriter_seq q;
    bseq_init(&q, n, stream, inserts, first_rev);
    for (uint64_t i = 0; i < count; i++) {
        bupsert u = bseq_next(&q, i);
        bkey(u.entry, r[i].key);
        r[i].rev = u.rev;
        bindex(u.entry, u.rev, r[i].idx);
    }
    return r;
}

char *bsysdir(const bconf *c, const char *sys)
{
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
        bdie("mkdir %s: %s", c->dir, strerror(errno));
    char *d = bpath(c->dir, sys);
    bprepare_dir(d);
    return d;
}

typedef struct w7_report {
    double secs;
    uint64_t hits, busy;
} w7_report;

static void xread(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            bdie("W7 pipe read: %s", r ? strerror(errno) : "EOF");
        b += r;
        n -= (size_t)r;
    }
}

static void xwrite(int fd, const void *p, size_t n)
{
    if (write(fd, p, n) != (ssize_t)n)
        bdie("W7 pipe write: %s", strerror(errno));
}

void bw7_run(const bconf *c, const char *sys, const bw7 *ops, int writer)
{
    int nr = c->w7_readers;
    int ready[2], go[2], res[2];
    if (pipe(ready) || pipe(go) || pipe(res))
        bdie("pipe: %s", strerror(errno));
    pid_t pids[16];
    if (nr < 1 || nr > 16)
        bdie("1..16 W7 readers");
    fflush(stdout);
    for (int r = 0; r < nr; r++) {
        pid_t p = fork();
        if (p < 0)
            bdie("fork: %s", strerror(errno));
        if (p == 0) {
            uint8_t *keys = bkeys_hits(c->n, c->w7_gets, 70u + (unsigned)r);
            void *rh = ops->ropen(ops->ctx);
            char b = 'r';
            xwrite(ready[1], &b, 1);
            xread(go[0], &b, 1);
            w7_report rep = {0, 0, 0};
            double t0 = bnow();
            ops->rbatch(rh, keys, c->w7_gets, &rep.hits, &rep.busy);
            rep.secs = bnow() - t0;
            xwrite(res[1], &rep, sizeof rep);
            ops->rclose(rh);
            _exit(0);
        }
        pids[r] = p;
    }
    for (int r = 0; r < nr; r++) {
        char b;
        xread(ready[0], &b, 1);
    }
    char gob[16] = {0};
    double t0 = bnow();
    xwrite(go[1], gob, (size_t)nr);
    uint64_t commits = 0;
    int left = nr;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (left > 0) {
        if (writer)
            ops->wstep(ops->ctx, commits++);
        next.tv_nsec += (long)(c->w7_interval_us * 1000u);
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        int st;
        while (left > 0 && waitpid(-1, &st, WNOHANG) > 0) {
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                bdie("W7 reader failed (status %d)", st);
            left--;
        }
    }
    double wsecs = bnow() - t0;
    double maxs = 0;
    uint64_t hits = 0, busy = 0;
    for (int r = 0; r < nr; r++) {
        w7_report rep;
        xread(res[0], &rep, sizeof rep);
        if (rep.secs > maxs)
            maxs = rep.secs;
        hits += rep.hits;
        busy += rep.busy;
    }
    (void)pids;
    close(ready[0]); close(ready[1]); close(go[0]); close(go[1]);
    close(res[0]); close(res[1]);
    double total = (double)c->w7_gets * nr;
    const char *w = writer ? "W7" : "W7idle";
    bresult(sys, w, "reads_per_s", total / maxs, "op/s", hits);
    if (writer) {
        bresult(sys, w, "commits_per_s", (double)commits / wsecs, "commit/s",
                commits);
        bresult(sys, w, "busy_reads", (double)busy, "count", busy);
    }
}

uint64_t bio_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %llu", &v) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)v;
}

uint64_t bdev_write_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    unsigned want_ma = major(st.st_dev), want_mi = minor(st.st_dev);
    FILE *f = fopen("/proc/diskstats", "r");
    char line[512];
    unsigned long long sectors = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned ma, mi;
        unsigned long long x, w;
        char name[64];
        if (sscanf(line, "%u %u %63s %llu %llu %llu %llu %llu %llu %llu", &ma,
                   &mi, name, &x, &x, &x, &x, &x, &x, &w) == 10 &&
            ma == want_ma && mi == want_mi) {
            sectors = w;
            break;
        }
    }
    if (f)
        fclose(f);
    return (uint64_t)sectors * 512u;
}

void bw6_begin(bw6 *b, const bconf *c, uint64_t stream)
{
    b->recs = brecs_seq(c->n, c->w6_commits * c->w6_ops, stream, 0,
                        (INT64_C(1) << 40) +
                            (int64_t)stream * (INT64_C(1) << 32));
    b->lat = calloc(c->w6_commits, sizeof *b->lat);
    if (!b->lat)
        bdie("out of memory");
    b->io0 = bio_write_bytes();
    b->dev0 = bdev_write_bytes(c->dir);
}

void bw6_end(bw6 *b, const bconf *c, const char *sys, const char *w)
{
    double commits = (double)c->w6_commits;
    double wb = (double)(bio_write_bytes() - b->io0) / commits;
    double dev = (double)(bdev_write_bytes(c->dir) - b->dev0) / commits;
    double m = bmedian(b->lat, c->w6_commits);
    bresult(sys, w, "median_commit_us", m * 1e6, "us", c->w6_commits);
    /* Write amplification for the records changed: bytes dirtied, as the
     * kernel accounts them (whole folios), and bytes the device took
     * (every process's; others' writes add noise). */
    bresult(sys, w, "bytes_written_per_commit", wb, "B", c->w6_commits);
    bresult(sys, w, "device_bytes_per_commit", dev, "B", c->w6_commits);
    free(b->lat);
    free(b->recs);
}

int brt_enter(void)
{
    struct sched_param sp = {.sched_priority = 1};
    return sched_setscheduler(0, SCHED_FIFO, &sp) == 0 ? 0 : -1;
}

void brt_leave(void)
{
    struct sched_param sp = {.sched_priority = 0};
    (void)sched_setscheduler(0, SCHED_OTHER, &sp);
}
