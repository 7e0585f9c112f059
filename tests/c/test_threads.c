/* One lightning_db handle shared by many pthreads: concurrent puts, gets, deletes, batches,
 * iterators and snapshots; transactions that retry on conflicts; thread-local last errors;
 * synced commits from several threads (group commit); and a close racing with users of the
 * handle, which must see LIGHTNING_DATABASE_CLOSED and nothing worse. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define THREADS 8
#define PER_THREAD 300

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* CHECK from several threads: the counters are shared, so take a lock. */
#define TCHECK(cond)                       \
    do {                                   \
        pthread_mutex_lock(&g_lock);       \
        CHECK(cond);                       \
        pthread_mutex_unlock(&g_lock);     \
    } while (0)
#define TCHECK_RC(expr, want)              \
    do {                                   \
        int t_rc_ = (expr);                \
        pthread_mutex_lock(&g_lock);       \
        CHECK_RC(t_rc_, want);             \
        pthread_mutex_unlock(&g_lock);     \
    } while (0)

struct worker {
    lightning_db *db;
    lightning_snapshot *snap;
    int id;
};

static void *kv_worker(void *arg) {
    struct worker *w = arg;
    char key[64], val[64];
    for (int i = 0; i < PER_THREAD; i++) {
        int kl = snprintf(key, sizeof key, "t%02d-k%04d", w->id, i);
        int vl = snprintf(val, sizeof val, "value-%d-%d", w->id, i);
        TCHECK_RC(lightning_put(w->db, (const uint8_t *)key, (size_t)kl, (const uint8_t *)val, (size_t)vl),
                  LIGHTNING_OK);
        uint8_t buf[64];
        size_t n = 0;
        TCHECK_RC(lightning_get_into(w->db, (const uint8_t *)key, (size_t)kl, buf, sizeof buf, &n),
                  LIGHTNING_OK);
        TCHECK(n == (size_t)vl && memcmp(buf, val, n) == 0);
        if (i % 3 == 0) {
            uint8_t *v = NULL;
            size_t vlen = 0;
            TCHECK_RC(lightning_get(w->db, (const uint8_t *)key, (size_t)kl, &v, &vlen), LIGHTNING_OK);
            lightning_free(v, vlen); /* freed on another thread than other buffers: fine */
        }
        /* Every thread reads the shared snapshot: it never sees these writes. */
        if (i % 50 == 0) {
            TCHECK_RC(lightning_snapshot_get_into(w->snap, (const uint8_t *)key, (size_t)kl, buf,
                                                  sizeof buf, &n),
                      LIGHTNING_NOT_FOUND);
            TCHECK_RC(lightning_snapshot_get_into(w->snap, K("seed"), buf, sizeof buf, &n), LIGHTNING_OK);
        }
    }
    /* Delete the odd keys with one batch per thread. */
    lightning_batch *b = NULL;
    TCHECK_RC(lightning_db_batch_new(w->db, &b), LIGHTNING_OK);
    for (int i = 1; i < PER_THREAD; i += 2) {
        int kl = snprintf(key, sizeof key, "t%02d-k%04d", w->id, i);
        TCHECK_RC(lightning_batch_delete(b, (const uint8_t *)key, (size_t)kl), LIGHTNING_OK);
    }
    TCHECK_RC(lightning_write_batch(w->db, b), LIGHTNING_OK);
    lightning_batch_free(b);

    /* This thread's prefix holds exactly its even keys, in order, both ways. */
    char prefix[16];
    int pl = snprintf(prefix, sizeof prefix, "t%02d-", w->id);
    for (int reverse = 0; reverse <= 1; reverse++) {
        lightning_iter *it = NULL;
        TCHECK_RC(lightning_iter_prefix(w->db, (const uint8_t *)prefix, (size_t)pl, reverse, &it),
                  LIGHTNING_OK);
        const uint8_t *k, *v;
        size_t klen, vlen;
        int count = 0, ordered = 1;
        char last[64] = "";
        while (lightning_iter_next(it, &k, &klen, &v, &vlen) == LIGHTNING_OK) {
            char cur[64];
            memcpy(cur, k, klen);
            cur[klen] = '\0';
            if (count > 0 && (reverse ? strcmp(cur, last) >= 0 : strcmp(cur, last) <= 0)) ordered = 0;
            memcpy(last, cur, klen + 1);
            count++;
        }
        TCHECK(count == PER_THREAD / 2);
        TCHECK(ordered);
        lightning_iter_free(it);
    }

    /* The thread-local last error is this thread's own. */
    uint8_t huge[70000];
    memset(huge, 'x', sizeof huge);
    int want = (w->id % 2) ? LIGHTNING_KEY_TOO_LARGE : LIGHTNING_EMPTY_KEY;
    size_t klen = (w->id % 2) ? sizeof huge : 0;
    for (int round = 0; round < 20; round++) {
        TCHECK_RC(lightning_put(w->db, huge, klen, K("v")), want);
        char msg[512];
        lightning_last_error(msg, sizeof msg, NULL);
        TCHECK(strstr(msg, lightning_code_name(want)) != NULL);
    }
    return NULL;
}

static void *counter_worker(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        for (int attempt = 0;; attempt++) {
            lightning_txn *t = NULL;
            TCHECK_RC(lightning_txn_begin(w->db, &t), LIGHTNING_OK);
            uint8_t buf[32];
            size_t n = 0;
            long value = 0;
            int rc = lightning_txn_get_into(t, K("counter"), buf, sizeof buf - 1, &n);
            TCHECK(rc == LIGHTNING_OK || rc == LIGHTNING_NOT_FOUND);
            if (rc == LIGHTNING_OK) {
                buf[n] = '\0';
                value = strtol((const char *)buf, NULL, 10);
            }
            char next[32];
            int nl = snprintf(next, sizeof next, "%ld", value + 1);
            TCHECK_RC(lightning_txn_put(t, K("counter"), (const uint8_t *)next, (size_t)nl), LIGHTNING_OK);
            rc = lightning_txn_commit(t);
            if (rc == LIGHTNING_OK) break;
            TCHECK(rc == LIGHTNING_TRANSACTION_CONFLICT);
            TCHECK(attempt < 10000);
        }
    }
    return NULL;
}

static void *synced_worker(void *arg) {
    struct worker *w = arg;
    char key[32];
    for (int i = 0; i < 20; i++) {
        int kl = snprintf(key, sizeof key, "sync-%d-%d", w->id, i);
        TCHECK_RC(lightning_put(w->db, (const uint8_t *)key, (size_t)kl, K("durable")), LIGHTNING_OK);
    }
    return NULL;
}

static atomic_int g_closed_seen;

static void *racing_worker(void *arg) {
    struct worker *w = arg;
    char key[32];
    for (long i = 0;; i++) {
        int kl = snprintf(key, sizeof key, "race-%d-%ld", w->id, i % 100);
        int rc = lightning_put(w->db, (const uint8_t *)key, (size_t)kl, K("v"));
        TCHECK(rc == LIGHTNING_OK || rc == LIGHTNING_DATABASE_CLOSED);
        uint8_t *v = NULL;
        size_t vlen = 0;
        int rc2 = lightning_get(w->db, (const uint8_t *)key, (size_t)kl, &v, &vlen);
        TCHECK(rc2 == LIGHTNING_OK || rc2 == LIGHTNING_NOT_FOUND || rc2 == LIGHTNING_DATABASE_CLOSED);
        if (rc2 == LIGHTNING_OK) lightning_free(v, vlen);
        lightning_iter *it = NULL;
        int rc3 = lightning_iter_new(w->db, NULL, 0, &it);
        TCHECK(rc3 == LIGHTNING_OK || rc3 == LIGHTNING_DATABASE_CLOSED);
        if (rc3 == LIGHTNING_OK) {
            const uint8_t *k, *val;
            size_t kl2, vl2;
            int steps = 0;
            int r;
            while (steps++ < 5 && (r = lightning_iter_next(it, &k, &kl2, &val, &vl2)) == LIGHTNING_OK) {
            }
            lightning_iter_free(it);
        }
        if (rc == LIGHTNING_DATABASE_CLOSED && rc2 == LIGHTNING_DATABASE_CLOSED) {
            atomic_fetch_add(&g_closed_seen, 1);
            return NULL;
        }
    }
}

static void run(void *(*fn)(void *), struct worker *workers, int n) {
    pthread_t threads[THREADS];
    for (int i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, fn, &workers[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    }
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
}

int main(void) {
    char *dir = h_tempdir("threads");
    char path[1024];
    h_join(path, sizeof path, dir, "shared");
    lightning_options *o = h_fast_options();
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    lightning_options_free(o);
    CHECK_OK(lightning_put(db, K("seed"), K("1")));
    lightning_snapshot *snap = NULL;
    CHECK_OK(lightning_snapshot_new(db, &snap));

    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i].db = db;
        workers[i].snap = snap;
        workers[i].id = i;
    }
    run(kv_worker, workers, THREADS);
    run(counter_worker, workers, 4);
    uint8_t buf[32];
    size_t n = 0;
    CHECK_OK(lightning_get_into(db, K("counter"), buf, sizeof buf - 1, &n));
    buf[n] = '\0';
    CHECK(strtol((const char *)buf, NULL, 10) == 100);
    lightning_snapshot_free(snap);
    char *stats = NULL;
    size_t slen = 0;
    CHECK_OK(lightning_db_stats_json(db, &stats, &slen));
    lightning_free(stats, slen);
    lightning_db_close(db);

    /* Synced commits from several threads at once. */
    h_join(path, sizeof path, dir, "synced");
    CHECK_OK(lightning_db_open(path, NULL, &db));
    for (int i = 0; i < 4; i++) workers[i].db = db;
    run(synced_worker, workers, 4);
    lightning_iter *it = NULL;
    CHECK_OK(lightning_iter_prefix(db, K("sync-"), 0, &it));
    int count = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    while (lightning_iter_next(it, &k, &kl, &v, &vl) == LIGHTNING_OK) count++;
    CHECK(count == 80);
    lightning_iter_free(it);
    lightning_db_close(db);

    /* A close racing with users of the handle. */
    h_join(path, sizeof path, dir, "race");
    o = h_fast_options();
    CHECK_OK(lightning_db_open(path, o, &db));
    lightning_options_free(o);
    for (int i = 0; i < 4; i++) workers[i].db = db;
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, racing_worker, &workers[i]);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    lightning_db_close(db);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    CHECK(atomic_load(&g_closed_seen) == 4);
    /* The directory lock was released: it opens again. */
    CHECK_OK(lightning_db_open(path, NULL, &db));
    lightning_db_close(db);

    h_rmtree(dir);
    free(dir);
    return h_finish("test_threads");
}
