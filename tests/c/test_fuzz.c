/* Fuzz-style test: calls the C API in random sequences, passing live handles, closed and
 * freed (stale) handles, NULL, forged pointers and handles of the wrong type, and checks
 * that every call answers a defined status code, that live handles behave exactly like a
 * model of the data (gets, deletes, batches, transactions, snapshots and iterators), and,
 * under AddressSanitizer, that nothing is touched out of bounds or leaked.
 *
 * LIGHTNING_FUZZ_SEED and LIGHTNING_FUZZ_OPS override the seed and the number of calls. */
#include "harness.h"

#include <inttypes.h>
#include <stdbool.h>

#define NKEYS 12
#define NPATHS 2
#define MAXH 6
#define MAXSTALE 64
#define VALCAP 24

static uint64_t g_rng;

static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}
static int pick(int n) { return (int)(rnd() % (uint64_t)n); }

/* The data of one database directory: value of key i, or absent. */
struct model {
    bool present[NKEYS];
    char val[NKEYS][VALCAP];
};

static struct model g_models[NPATHS];
static char g_paths[NPATHS][1024];

static const char *keyname(int i) {
    static const char *names[NKEYS] = {"a", "ab", "abc", "b", "ba", "c", "d", "da", "e", "f", "fa", "g"};
    return names[i];
}

struct dbh { lightning_db *h; int path; };
struct bop { int key; bool del; char val[VALCAP]; };
struct batchh { lightning_batch *h; int n; struct bop ops[32]; };
struct txnh { lightning_txn *h; int path; lightning_db *owner; int n; struct bop ops[32]; };
struct snaph { lightning_snapshot *h; lightning_db *owner; struct model m; };
struct iterh { lightning_iter *h; lightning_db *owner; int reverse; int pos; int n; int keys[NKEYS]; char vals[NKEYS][VALCAP]; bool checked; };

static struct dbh g_db[MAXH];
static int g_ndb;
static struct batchh g_batch[MAXH];
static int g_nbatch;
static struct txnh g_txn[MAXH];
static int g_ntxn;
static struct snaph g_snap[MAXH];
static int g_nsnap;
static struct iterh g_iter[MAXH];
static int g_niter;
static lightning_options *g_opts[MAXH];
static int g_nopts;
static void *g_stale[MAXSTALE];
static int g_nstale;
static int g_forged_target;

static void remember_stale(void *h) {
    g_stale[g_nstale % MAXSTALE] = h;
    g_nstale++;
}

enum kind { KIND_DB, KIND_BATCH, KIND_TXN, KIND_SNAP, KIND_ITER, KIND_OPTS };

/* Some handle that is not a live handle of `kind`. */
static void *bad_handle(enum kind kind) {
    switch (pick(5)) {
    case 0: return NULL;
    case 1: return g_nstale ? g_stale[pick(g_nstale < MAXSTALE ? g_nstale : MAXSTALE)] : NULL;
    case 2: return &g_forged_target;
    case 3: return (void *)(uintptr_t)(rnd() | 1);
    default:
        /* A live handle of some other kind. */
        if (kind != KIND_BATCH && g_nbatch) return g_batch[pick(g_nbatch)].h;
        if (kind != KIND_SNAP && g_nsnap) return g_snap[pick(g_nsnap)].h;
        if (kind != KIND_DB && g_ndb) return g_db[pick(g_ndb)].h;
        return NULL;
    }
}

static bool known_code(int rc) { return strcmp(lightning_code_name(rc), "UNKNOWN") != 0; }

#define EXPECT_BAD(expr)                          \
    do {                                          \
        int e_rc_ = (expr);                       \
        CHECK(e_rc_ != LIGHTNING_OK);             \
        CHECK(known_code(e_rc_));                 \
    } while (0)

static bool db_live(const lightning_db *h) {
    for (int i = 0; i < g_ndb; i++)
        if (g_db[i].h == h) return true;
    return false;
}

static int db_index_for_path(int path) {
    for (int i = 0; i < g_ndb; i++)
        if (g_db[i].path == path) return i;
    return -1;
}

static void random_value(char *out) {
    int len = pick(VALCAP - 1);
    for (int i = 0; i < len; i++) out[i] = (char)('a' + pick(26));
    out[len] = '\0';
}

static void apply(struct model *m, const struct bop *ops, int n) {
    for (int i = 0; i < n; i++) {
        m->present[ops[i].key] = !ops[i].del;
        if (!ops[i].del) memcpy(m->val[ops[i].key], ops[i].val, VALCAP);
    }
}

static void op_open(void) {
    int path = pick(NPATHS);
    lightning_db *db = NULL;
    int rc;
    if (pick(2)) {
        rc = lightning_db_open_json(g_paths[path], "{\"durability\": \"NoSync\", \"cache_size\": 1048576, \"write_buffer_size\": 65536}", &db);
    } else {
        lightning_options *o = g_nopts && pick(2) ? g_opts[pick(g_nopts)] : NULL;
        rc = lightning_db_open(g_paths[path], o, &db);
    }
    if (db_index_for_path(path) >= 0) {
        CHECK_RC(rc, LIGHTNING_DATABASE_LOCKED);
        CHECK(db == NULL);
    } else if (g_ndb < MAXH) {
        CHECK_OK(rc);
        g_db[g_ndb].h = db;
        g_db[g_ndb].path = path;
        g_ndb++;
    } else if (rc == LIGHTNING_OK) {
        lightning_db_close(db);
    }
}

static void op_close(void) {
    if (g_ndb && pick(4)) {
        int i = pick(g_ndb);
        lightning_db_close(g_db[i].h);
        remember_stale(g_db[i].h);
        g_db[i] = g_db[--g_ndb];
    } else {
        lightning_db_close(bad_handle(KIND_DB)); /* NULL, stale, forged, wrong kind: ignored */
    }
}

static void op_put_get_delete(void) {
    int k = pick(NKEYS);
    const char *key = keyname(k);
    char val[VALCAP];
    random_value(val);
    int which = pick(5);
    if (!g_ndb || pick(6) == 0) {
        lightning_db *bad = bad_handle(KIND_DB);
        uint8_t *v = NULL;
        size_t vl = 0;
        uint8_t buf[8];
        switch (which) {
        case 0: EXPECT_BAD(lightning_put(bad, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val))); break;
        case 1: EXPECT_BAD(lightning_get(bad, (const uint8_t *)key, strlen(key), &v, &vl)); break;
        case 2: EXPECT_BAD(lightning_get_into(bad, (const uint8_t *)key, strlen(key), buf, sizeof buf, &vl)); break;
        case 3: EXPECT_BAD(lightning_delete(bad, (const uint8_t *)key, strlen(key))); break;
        default: EXPECT_BAD(lightning_exists(bad, (const uint8_t *)key, strlen(key))); break;
        }
        CHECK(v == NULL);
        return;
    }
    struct dbh *d = &g_db[pick(g_ndb)];
    struct model *m = &g_models[d->path];
    switch (which) {
    case 0:
        if (pick(8) == 0) { /* NULL arguments on a live handle */
            CHECK_RC(lightning_put(d->h, NULL, 1, (const uint8_t *)val, strlen(val)), LIGHTNING_INVALID_ARGUMENT);
            CHECK_RC(lightning_put(d->h, (const uint8_t *)key, strlen(key), NULL, 0), LIGHTNING_INVALID_ARGUMENT);
            CHECK_RC(lightning_put(d->h, (const uint8_t *)key, 0, (const uint8_t *)val, 0), LIGHTNING_EMPTY_KEY);
            break;
        }
        CHECK_OK(lightning_put(d->h, (const uint8_t *)key, strlen(key), (const uint8_t *)val, strlen(val)));
        m->present[k] = true;
        memcpy(m->val[k], val, VALCAP);
        break;
    case 1: {
        uint8_t *v = NULL;
        size_t vl = 0;
        int rc = lightning_get(d->h, (const uint8_t *)key, strlen(key), &v, &vl);
        if (m->present[k]) {
            CHECK_OK(rc);
            CHECK(v && vl == strlen(m->val[k]) && memcmp(v, m->val[k], vl) == 0 && v[vl] == '\0');
            lightning_free(v, vl);
            if (pick(4) == 0) lightning_free(v, vl); /* double free: ignored */
        } else {
            CHECK_RC(rc, LIGHTNING_NOT_FOUND);
            CHECK(v == NULL);
        }
        break;
    }
    case 2: {
        uint8_t buf[VALCAP + 4];
        size_t cap = (size_t)pick(VALCAP + 1);
        size_t n = 9999;
        memset(buf, 0xEE, sizeof buf);
        int rc = lightning_get_into(d->h, (const uint8_t *)key, strlen(key), cap ? buf : NULL, cap, &n);
        if (!m->present[k]) {
            CHECK_RC(rc, LIGHTNING_NOT_FOUND);
            CHECK(n == 9999);
        } else if (strlen(m->val[k]) > cap) {
            CHECK_RC(rc, LIGHTNING_BUFFER_TOO_SMALL);
            CHECK(n == strlen(m->val[k]) && buf[0] == 0xEE);
        } else {
            CHECK_OK(rc);
            CHECK(n == strlen(m->val[k]) && memcmp(buf, m->val[k], n) == 0);
            CHECK(n >= cap || buf[n] == 0xEE);
        }
        break;
    }
    case 3: {
        int rc = lightning_delete(d->h, (const uint8_t *)key, strlen(key));
        CHECK_RC(rc, m->present[k] ? LIGHTNING_OK : LIGHTNING_NOT_FOUND);
        m->present[k] = false;
        break;
    }
    default:
        CHECK_RC(lightning_exists(d->h, (const uint8_t *)key, strlen(key)),
                 m->present[k] ? LIGHTNING_OK : LIGHTNING_NOT_FOUND);
        break;
    }
}

static void op_batch(void) {
    int which = pick(6);
    if (which == 0 && g_nbatch < MAXH) {
        lightning_batch *b = NULL;
        if (g_ndb && pick(2)) CHECK_OK(lightning_db_batch_new(g_db[pick(g_ndb)].h, &b));
        else CHECK_OK(lightning_batch_new(&b));
        g_batch[g_nbatch].h = b;
        g_batch[g_nbatch].n = 0;
        g_nbatch++;
        return;
    }
    if (!g_nbatch || pick(6) == 0) {
        lightning_batch *bad = bad_handle(KIND_BATCH);
        size_t c;
        EXPECT_BAD(lightning_batch_put(bad, K("k"), K("v")));
        EXPECT_BAD(lightning_batch_count(bad, &c));
        if (g_ndb) EXPECT_BAD(lightning_write_batch(g_db[0].h, bad));
        lightning_batch_free(bad);
        return;
    }
    int bi = pick(g_nbatch);
    struct batchh *b = &g_batch[bi];
    switch (which) {
    case 1:
    case 2:
        if (b->n < 32) {
            struct bop *op = &b->ops[b->n];
            op->key = pick(NKEYS);
            op->del = which == 2;
            random_value(op->val);
            const char *key = keyname(op->key);
            if (op->del) CHECK_OK(lightning_batch_delete(b->h, (const uint8_t *)key, strlen(key)));
            else CHECK_OK(lightning_batch_put(b->h, (const uint8_t *)key, strlen(key), (const uint8_t *)op->val, strlen(op->val)));
            b->n++;
        }
        break;
    case 3: {
        size_t c = 0;
        CHECK_OK(lightning_batch_count(b->h, &c));
        CHECK(c == (size_t)b->n);
        if (pick(3) == 0) {
            CHECK_OK(lightning_batch_clear(b->h));
            b->n = 0;
        }
        break;
    }
    case 4:
        if (g_ndb) {
            struct dbh *d = &g_db[pick(g_ndb)];
            CHECK_OK(lightning_write_batch(d->h, b->h));
            apply(&g_models[d->path], b->ops, b->n);
        } else {
            EXPECT_BAD(lightning_write_batch(bad_handle(KIND_DB), b->h));
        }
        break;
    default:
        lightning_batch_free(b->h);
        remember_stale(b->h);
        g_batch[bi] = g_batch[--g_nbatch];
        break;
    }
}

static void op_txn(void) {
    int which = pick(7);
    if (which == 0 && g_ntxn < MAXH && g_ndb) {
        struct dbh *d = &g_db[pick(g_ndb)];
        lightning_txn *t = NULL;
        if (pick(2)) CHECK_OK(lightning_txn_begin(d->h, &t));
        else CHECK_OK(lightning_txn_begin_with(d->h, LIGHTNING_TXN_MODE_OPTIMISTIC, 10, &t));
        g_txn[g_ntxn].h = t;
        g_txn[g_ntxn].path = d->path;
        g_txn[g_ntxn].owner = d->h;
        g_txn[g_ntxn].n = 0;
        g_ntxn++;
        return;
    }
    if (!g_ntxn || pick(6) == 0) {
        lightning_txn *bad = bad_handle(KIND_TXN);
        uint8_t *v = NULL;
        size_t vl;
        EXPECT_BAD(lightning_txn_put(bad, K("k"), K("v")));
        EXPECT_BAD(lightning_txn_get(bad, K("k"), &v, &vl));
        EXPECT_BAD(lightning_txn_commit(bad));
        EXPECT_BAD(lightning_txn_rollback(bad));
        lightning_txn_free(bad);
        CHECK(v == NULL);
        return;
    }
    int ti = pick(g_ntxn);
    struct txnh *t = &g_txn[ti];
    bool owner_live = db_live(t->owner);
    switch (which) {
    case 1:
    case 2:
        if (t->n < 32) {
            struct bop *op = &t->ops[t->n];
            op->key = pick(NKEYS);
            op->del = which == 2;
            random_value(op->val);
            const char *key = keyname(op->key);
            if (op->del) CHECK_OK(lightning_txn_delete(t->h, (const uint8_t *)key, strlen(key)));
            else CHECK_OK(lightning_txn_put(t->h, (const uint8_t *)key, strlen(key), (const uint8_t *)op->val, strlen(op->val)));
            t->n++;
        }
        break;
    case 3: {
        /* A key this transaction wrote reads back its own last write. */
        if (!t->n) break;
        struct bop *op = &t->ops[pick(t->n)];
        struct bop *last = op;
        for (int i = 0; i < t->n; i++)
            if (t->ops[i].key == op->key) last = &t->ops[i];
        const char *key = keyname(op->key);
        uint8_t *v = NULL;
        size_t vl = 0;
        int rc = lightning_txn_get(t->h, (const uint8_t *)key, strlen(key), &v, &vl);
        if (last->del) {
            CHECK_RC(rc, LIGHTNING_NOT_FOUND);
        } else {
            CHECK_OK(rc);
            CHECK(vl == strlen(last->val) && memcmp(v, last->val, vl) == 0);
            lightning_free(v, vl);
        }
        break;
    }
    case 4: {
        int rc = lightning_txn_commit(t->h);
        if (!owner_live) {
            /* Nothing to write commits trivially, even on a closed database. */
            CHECK_RC(rc, t->n ? LIGHTNING_DATABASE_CLOSED : LIGHTNING_OK);
        } else if (rc == LIGHTNING_OK) {
            apply(&g_models[t->path], t->ops, t->n);
        } else {
            CHECK_RC(rc, LIGHTNING_TRANSACTION_CONFLICT);
        }
        remember_stale(t->h);
        g_txn[ti] = g_txn[--g_ntxn];
        break;
    }
    case 5:
        CHECK_OK(lightning_txn_rollback(t->h));
        remember_stale(t->h);
        g_txn[ti] = g_txn[--g_ntxn];
        break;
    default:
        lightning_txn_free(t->h);
        remember_stale(t->h);
        g_txn[ti] = g_txn[--g_ntxn];
        break;
    }
}

static void op_snapshot(void) {
    int which = pick(4);
    if (which == 0 && g_nsnap < MAXH && g_ndb) {
        struct dbh *d = &g_db[pick(g_ndb)];
        CHECK_OK(lightning_snapshot_new(d->h, &g_snap[g_nsnap].h));
        g_snap[g_nsnap].owner = d->h;
        g_snap[g_nsnap].m = g_models[d->path];
        g_nsnap++;
        return;
    }
    if (!g_nsnap || pick(6) == 0) {
        lightning_snapshot *bad = bad_handle(KIND_SNAP);
        uint8_t *v = NULL;
        size_t vl;
        uint64_t seq;
        EXPECT_BAD(lightning_snapshot_get(bad, K("a"), &v, &vl));
        EXPECT_BAD(lightning_snapshot_sequence(bad, &seq));
        lightning_snapshot_free(bad);
        return;
    }
    int si = pick(g_nsnap);
    struct snaph *s = &g_snap[si];
    if (which == 3) {
        lightning_snapshot_free(s->h);
        remember_stale(s->h);
        g_snap[si] = g_snap[--g_nsnap];
        return;
    }
    int k = pick(NKEYS);
    const char *key = keyname(k);
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = lightning_snapshot_get(s->h, (const uint8_t *)key, strlen(key), &v, &vl);
    if (!db_live(s->owner)) { /* its database was closed since */
        CHECK_RC(rc, LIGHTNING_DATABASE_CLOSED);
        return;
    }
    if (s->m.present[k]) {
        CHECK_OK(rc);
        CHECK(v && vl == strlen(s->m.val[k]) && memcmp(v, s->m.val[k], vl) == 0);
        lightning_free(v, vl);
    } else {
        CHECK_RC(rc, LIGHTNING_NOT_FOUND);
    }
}

static void expect_iter(struct iterh *it, const struct model *m, const char *prefix, int lo, int hi) {
    it->n = 0;
    it->pos = 0;
    it->checked = true;
    for (int i = 0; i < NKEYS; i++) {
        if (!m->present[i]) continue;
        if (prefix && strncmp(keyname(i), prefix, strlen(prefix)) != 0) continue;
        if (!prefix && (i < lo || i >= hi)) continue;
        it->keys[it->n] = i;
        memcpy(it->vals[it->n], m->val[i], VALCAP);
        it->n++;
    }
}

static void op_iter(void) {
    int which = pick(5);
    if (which == 0 && g_niter < MAXH && (g_ndb || g_nsnap)) {
        struct iterh *it = &g_iter[g_niter];
        it->reverse = pick(2);
        const struct model *m;
        int rc;
        bool from_snap = g_nsnap && pick(2);
        struct snaph *s = from_snap ? &g_snap[pick(g_nsnap)] : NULL;
        struct dbh *d = (!from_snap && g_ndb) ? &g_db[pick(g_ndb)] : NULL;
        if (!s && !d) return;
        m = s ? &s->m : &g_models[d->path];
        if (pick(2)) {
            const char *prefixes[] = {"a", "ab", "d", "f", "z", ""};
            const char *p = prefixes[pick(6)];
            rc = s ? lightning_snapshot_iter_prefix(s->h, (const uint8_t *)p, strlen(p), it->reverse, &it->h)
                   : lightning_iter_prefix(d->h, (const uint8_t *)p, strlen(p), it->reverse, &it->h);
            expect_iter(it, m, p, 0, 0);
        } else {
            /* Keys are named so that index order is key order. */
            int lo = pick(NKEYS + 1), hi = pick(NKEYS + 1);
            lightning_range r = {0};
            if (lo > 0) { r.start = (const uint8_t *)keyname(lo - 1); r.start_len = strlen(keyname(lo - 1)); r.start_exclusive = 1; }
            if (hi < NKEYS) { r.end = (const uint8_t *)keyname(hi); r.end_len = strlen(keyname(hi)); }
            bool whole = d && pick(4) == 0;
            rc = s ? lightning_snapshot_iter_new(s->h, &r, it->reverse, &it->h)
                   : lightning_iter_new(d->h, whole ? NULL : &r, it->reverse, &it->h);
            if (whole) expect_iter(it, m, NULL, 0, NKEYS);
            else expect_iter(it, m, NULL, lo, hi);
        }
        it->owner = s ? s->owner : d->h;
        CHECK_OK(rc); /* even for a snapshot of a closed database */
        if (rc == LIGHTNING_OK) g_niter++;
        return;
    }
    if (!g_niter || pick(6) == 0) {
        const uint8_t *k, *v;
        size_t kl, vl;
        lightning_iter *bad = bad_handle(KIND_ITER);
        EXPECT_BAD(lightning_iter_next(bad, &k, &kl, &v, &vl));
        lightning_iter_free(bad);
        return;
    }
    int ii = pick(g_niter);
    struct iterh *it = &g_iter[ii];
    if (which == 4) {
        lightning_iter_free(it->h);
        remember_stale(it->h);
        g_iter[ii] = g_iter[--g_niter];
        return;
    }
    const uint8_t *k, *v;
    size_t kl, vl;
    int steps = 1 + pick(4);
    for (int s = 0; s < steps; s++) {
        int rc = lightning_iter_next(it->h, &k, &kl, &v, &vl);
        if (it->pos >= it->n) {
            CHECK_RC(rc, LIGHTNING_DONE);
            continue;
        }
        if (rc == LIGHTNING_DATABASE_CLOSED && !db_live(it->owner)) {
            it->pos = it->n; /* reading after the database closed may stop */
            continue;
        }
        if (rc != LIGHTNING_OK) {
            CHECK_RC(rc, LIGHTNING_OK);
            return;
        }
        int idx = it->reverse ? it->n - 1 - it->pos : it->pos;
        const char *want = keyname(it->keys[idx]);
        CHECK(kl == strlen(want) && memcmp(k, want, kl) == 0);
        CHECK(vl == strlen(it->vals[idx]) && memcmp(v, it->vals[idx], vl) == 0);
        it->pos++;
    }
}

static void op_options(void) {
    int which = pick(4);
    if (which == 0 && g_nopts < MAXH) {
        lightning_options *o = NULL;
        CHECK_OK(lightning_options_new(&o));
        CHECK_OK(lightning_options_set_durability(o, LIGHTNING_DURABILITY_NO_SYNC));
        CHECK_OK(lightning_options_set_cache_size(o, 1u << 20));
        CHECK_OK(lightning_options_set_write_buffer_size(o, 64u * 1024u));
        g_opts[g_nopts++] = o;
        return;
    }
    if (!g_nopts || pick(4) == 0) {
        lightning_options *bad = bad_handle(KIND_OPTS);
        EXPECT_BAD(lightning_options_set_cache_size(bad, 1u << 20));
        EXPECT_BAD(lightning_options_set_durability(bad, 0));
        lightning_options_free(bad);
        return;
    }
    int oi = pick(g_nopts);
    if (which == 1) {
        CHECK_OK(lightning_options_set_compression(g_opts[oi], pick(2)));
        CHECK_OK(lightning_options_set_mmap_reads(g_opts[oi], pick(2)));
        CHECK_OK(lightning_options_set_checksum_algorithm(g_opts[oi], 1 + pick(3)));
        CHECK_RC(lightning_options_set_integrity_level(g_opts[oi], 4 + pick(100)), LIGHTNING_INVALID_ARGUMENT);
    } else {
        lightning_options_free(g_opts[oi]);
        remember_stale(g_opts[oi]);
        g_opts[oi] = g_opts[--g_nopts];
    }
}

static void op_misc(void) {
    char buf[64];
    size_t len = 0;
    switch (pick(7)) {
    case 0: {
        int rc = lightning_last_error(pick(2) ? buf : NULL, pick(2) ? sizeof buf : 0, &len);
        CHECK(known_code(rc));
        break;
    }
    case 1:
        if (g_ndb) {
            int rc = lightning_db_last_error(g_db[pick(g_ndb)].h, buf, (size_t)pick(sizeof buf), &len);
            CHECK(rc == LIGHTNING_OK || rc == LIGHTNING_BUFFER_TOO_SMALL);
        } else {
            EXPECT_BAD(lightning_db_last_error(bad_handle(KIND_DB), buf, sizeof buf, &len));
        }
        break;
    case 2:
        CHECK(lightning_strerror((int)(rnd() % 1000) - 100) != NULL);
        CHECK(lightning_code_name((int)(rnd() % 1000) - 100) != NULL);
        break;
    case 3:
        lightning_free(pick(2) ? NULL : &g_forged_target, (size_t)pick(10));
        break;
    case 4:
        if (g_ndb && pick(10) == 0) {
            struct dbh *d = &g_db[pick(g_ndb)];
            CHECK_OK(pick(3) == 0 ? lightning_db_compact(d->h) : lightning_db_flush(d->h));
        } else if (g_ndb && pick(5) == 0) {
            char *report = NULL;
            int level = pick(5); /* 4 is not a level */
            int rc = lightning_db_check(g_db[pick(g_ndb)].h, level, &report);
            CHECK_RC(rc, level < 4 ? LIGHTNING_OK : LIGHTNING_INVALID_ARGUMENT);
            CHECK((report != NULL) == (rc == LIGHTNING_OK));
            lightning_free(report, 0);
        }
        break;
    case 5:
        if (g_ndb) {
            char *json = NULL;
            size_t jl = 0;
            CHECK_OK(lightning_db_stats_json(g_db[pick(g_ndb)].h, &json, &jl));
            CHECK(json && strlen(json) == jl);
            lightning_free(json, jl);
        }
        break;
    default:
        if (g_ndb) CHECK_OK(lightning_db_sync(g_db[pick(g_ndb)].h));
        else EXPECT_BAD(lightning_db_sync(bad_handle(KIND_DB)));
        break;
    }
}

int main(void) {
    const char *seed_env = getenv("LIGHTNING_FUZZ_SEED");
    const char *ops_env = getenv("LIGHTNING_FUZZ_OPS");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed1234abcdULL;
    long ops = ops_env ? strtol(ops_env, NULL, 10) : 6000;
    g_rng = seed ? seed : 1;
    printf("test_fuzz: seed %" PRIu64 ", %ld operations\n", seed, ops);

    char *dir = h_tempdir("fuzz");
    for (int p = 0; p < NPATHS; p++) {
        char name[16];
        snprintf(name, sizeof name, "db%d", p);
        h_join(g_paths[p], sizeof g_paths[p], dir, name);
    }
    for (long i = 0; i < ops; i++) {
        switch (pick(10)) {
        case 0: op_open(); break;
        case 1: if (pick(3) == 0) op_close(); break;
        case 2: case 3: op_put_get_delete(); break;
        case 4: op_batch(); break;
        case 5: op_txn(); break;
        case 6: op_snapshot(); break;
        case 7: op_iter(); break;
        case 8: op_options(); break;
        default: op_misc(); break;
        }
        if (h_failures > 20) {
            fprintf(stderr, "test_fuzz: too many failures, stopping at operation %ld (seed %" PRIu64 ")\n", i, seed);
            break;
        }
    }
    /* Release everything still live. */
    for (int i = 0; i < g_niter; i++) lightning_iter_free(g_iter[i].h);
    for (int i = 0; i < g_nsnap; i++) lightning_snapshot_free(g_snap[i].h);
    for (int i = 0; i < g_ntxn; i++) lightning_txn_free(g_txn[i].h);
    for (int i = 0; i < g_nbatch; i++) lightning_batch_free(g_batch[i].h);
    for (int i = 0; i < g_nopts; i++) lightning_options_free(g_opts[i]);
    for (int i = 0; i < g_ndb; i++) lightning_db_close(g_db[i].h);
    /* After a final reopen, each directory holds exactly its model. */
    for (int p = 0; p < NPATHS; p++) {
        lightning_db *db = NULL;
        if (lightning_db_open(g_paths[p], NULL, &db) != LIGHTNING_OK) {
            CHECK(0);
            continue;
        }
        for (int k = 0; k < NKEYS; k++) {
            uint8_t buf[VALCAP];
            size_t n = 0;
            int rc = lightning_get_into(db, (const uint8_t *)keyname(k), strlen(keyname(k)), buf, sizeof buf, &n);
            if (g_models[p].present[k]) {
                CHECK_OK(rc);
                CHECK(n == strlen(g_models[p].val[k]) && memcmp(buf, g_models[p].val[k], n) == 0);
            } else {
                CHECK_RC(rc, LIGHTNING_NOT_FOUND);
            }
        }
        lightning_db_close(db);
    }
    h_rmtree(dir);
    free(dir);
    return h_finish("test_fuzz");
}
