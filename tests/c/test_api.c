/* Every function of lightning.h, its success paths and its error paths: NULL arguments,
 * closed / freed / wrong handles, oversized keys and values, a locked database,
 * LIGHTNING_BUFFER_TOO_SMALL, iterators forward and reverse over ranges and prefixes. */
#include "harness.h"

#include <sys/stat.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>

static char *g_dir;

/* Opens a fresh database in g_dir/<name> with fast options. */
static lightning_db *open_fresh(const char *name) {
    char path[1024];
    h_join(path, sizeof path, g_dir, name);
    lightning_options *o = h_fast_options();
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    lightning_options_free(o);
    CHECK(db != NULL);
    return db;
}

static bool contains(const char *haystack, const char *needle) {
    return haystack && strstr(haystack, needle) != NULL;
}

/* The number after `"name": ` in pretty-printed JSON (-1 when absent). */
static double pretty_num(const char *json, const char *name) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\": ", name);
    const char *p = json ? strstr(json, needle) : NULL;
    return p ? strtod(p + strlen(needle), NULL) : -1.0;
}

/* The nanoseconds of the duration field `name` (`{"secs": S, "nanos": N}`), -1 if absent. */
static double pretty_duration_ns(const char *json, const char *name) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\": {", name);
    const char *p = json ? strstr(json, needle) : NULL;
    if (!p) return -1.0;
    return pretty_num(p, "secs") * 1e9 + pretty_num(p, "nanos");
}

static void test_version(void) {
    CHECK(lightning_version() == LIGHTNING_VERSION);
    CHECK(lightning_version() ==
          (((uint32_t)LIGHTNING_VERSION_MAJOR << 16) | ((uint32_t)LIGHTNING_VERSION_MINOR << 8) |
           (uint32_t)LIGHTNING_VERSION_PATCH));
    CHECK((lightning_version() >> 16) == LIGHTNING_VERSION_MAJOR);
    CHECK(((lightning_version() >> 8) & 0xff) == LIGHTNING_VERSION_MINOR);
    CHECK((lightning_version() & 0xff) == LIGHTNING_VERSION_PATCH);
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", LIGHTNING_VERSION_MAJOR, LIGHTNING_VERSION_MINOR,
             LIGHTNING_VERSION_PATCH);
    CHECK(strcmp(lightning_version_string(), expect) == 0);
}

static void test_strerror(void) {
    CHECK(strcmp(lightning_strerror(LIGHTNING_OK), "success") == 0);
    CHECK(strcmp(lightning_strerror(LIGHTNING_NOT_FOUND), "key not found") == 0);
    CHECK(LIGHTNING_NOT_FOUND == LIGHTNING_KEY_NOT_FOUND);
    CHECK(strcmp(lightning_code_name(LIGHTNING_NOT_FOUND), "KEY_NOT_FOUND") == 0);
    CHECK(strcmp(lightning_code_name(LIGHTNING_TRANSACTION_CONFLICT), "TRANSACTION_CONFLICT") == 0);
    CHECK(strcmp(lightning_strerror(-12345), "unknown status code") == 0);
    CHECK(strcmp(lightning_code_name(99999), "UNKNOWN") == 0);
    /* Every defined code has a description and a name; the same pointer every time. */
    const int codes[] = {
        LIGHTNING_OK, LIGHTNING_DONE, LIGHTNING_BUFFER_TOO_SMALL, LIGHTNING_KEY_NOT_FOUND,
        LIGHTNING_VALUE_TOO_LARGE, LIGHTNING_KEY_TOO_LARGE, LIGHTNING_EMPTY_KEY,
        LIGHTNING_TRANSACTION_CONFLICT, LIGHTNING_LOCK_TIMEOUT, LIGHTNING_DATABASE_CLOSED,
        LIGHTNING_INVALID_ARGUMENT, LIGHTNING_IO_ERROR, LIGHTNING_DATABASE_LOCKED,
        LIGHTNING_POISONED, LIGHTNING_INTERNAL, LIGHTNING_STORAGE_FULL,
        LIGHTNING_ENCRYPTION_FAILED, LIGHTNING_DATA_CORRUPTION, LIGHTNING_CHECKSUM_MISMATCH,
        LIGHTNING_DEADLOCK_DETECTED, LIGHTNING_TIMEOUT, LIGHTNING_WAL_CORRUPTED,
        LIGHTNING_MANIFEST_CORRUPTED, LIGHTNING_CONFIGURATION_ERROR,
        LIGHTNING_INITIALIZATION_FAILED,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = lightning_strerror(codes[i]);
        CHECK(s != NULL && strlen(s) > 0 && strcmp(s, "unknown status code") != 0);
        CHECK(s == lightning_strerror(codes[i]));
        CHECK(strcmp(lightning_code_name(codes[i]), "UNKNOWN") != 0);
    }
    /* Codes are grouped by hundreds and never below 0. */
    int defined = 0;
    for (int c = -5; c < 700; c++) {
        if (strcmp(lightning_code_name(c), "UNKNOWN") != 0) {
            defined++;
            CHECK(c >= 0);
        }
    }
    CHECK(defined >= 40);
}

static void test_options(void) {
    lightning_options *o = NULL;
    CHECK_RC(lightning_options_new(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_options_new(&o));
    CHECK_OK(lightning_options_set_cache_size(o, 8u << 20));
    CHECK_OK(lightning_options_set_write_buffer_size(o, 1u << 20));
    CHECK_OK(lightning_options_set_max_key_size(o, 1024));
    CHECK_OK(lightning_options_set_max_value_size(o, 1u << 20));
    CHECK_OK(lightning_options_set_compression(o, 0));
    CHECK_OK(lightning_options_set_mmap_reads(o, 0));
    CHECK_OK(lightning_options_set_mmap_reads(o, 1));
    CHECK_OK(lightning_options_set_durability(o, LIGHTNING_DURABILITY_PERIODIC));
    CHECK_OK(lightning_options_set_sync_interval_ms(o, 50));
    CHECK_OK(lightning_options_set_durability(o, LIGHTNING_DURABILITY_PERIODIC)); /* keeps 50 */
    char *pj = NULL;
    CHECK_OK(lightning_options_to_json(o, &pj, NULL));
    CHECK(contains(pj, "\"Periodic\": 50"));
    lightning_free(pj, 0);
    CHECK_OK(lightning_options_set_durability(o, LIGHTNING_DURABILITY_SYNC));
    CHECK_OK(lightning_options_set_durability(o, LIGHTNING_DURABILITY_NO_SYNC));
    CHECK_OK(lightning_options_set_checksum_algorithm(o, LIGHTNING_CHECKSUM_ALGORITHM_BLAKE3));
    CHECK_OK(lightning_options_set_checksum_algorithm(o, LIGHTNING_CHECKSUM_ALGORITHM_CRC32));
    CHECK_OK(lightning_options_set_checksum_algorithm(o, LIGHTNING_CHECKSUM_ALGORITHM_XXH64));
    CHECK_OK(lightning_options_set_integrity_level(o, LIGHTNING_INTEGRITY_LEVEL_PARANOID));
    CHECK_OK(lightning_options_set_integrity_level(o, LIGHTNING_INTEGRITY_LEVEL_COMPREHENSIVE));
    CHECK_OK(lightning_options_set_integrity_level(o, LIGHTNING_INTEGRITY_LEVEL_BASIC));
    CHECK_OK(lightning_options_set_integrity_level(o, LIGHTNING_INTEGRITY_LEVEL_STANDARD));
    CHECK_OK(lightning_options_set_block_size(o, 8192));
    CHECK_OK(lightning_options_set_bloom_bits_per_key(o, 12));
    CHECK_OK(lightning_options_set_memtable_index_min_versions(o, 16));
    CHECK_OK(lightning_options_set_fail_on_corruption(o, 1));
    CHECK_OK(lightning_options_set_statistics(o, 1));
    CHECK_OK(lightning_options_validate(o));

    /* Unknown enum values are refused, not undefined behaviour. */
    CHECK_RC(lightning_options_set_durability(o, 42), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_durability(o, -1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_checksum_algorithm(o, 0), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_checksum_algorithm(o, 4), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_integrity_level(o, 7), LIGHTNING_INVALID_ARGUMENT);

    char *json = NULL;
    size_t json_len = 0;
    CHECK_OK(lightning_options_to_json(o, &json, &json_len));
    CHECK(json != NULL && strlen(json) == json_len);
    CHECK(contains(json, "\"max_key_size\": 1024"));
    CHECK(contains(json, "\"block_size\": 8192"));
    CHECK(contains(json, "\"memtable_index_min_versions\": 16"));
    CHECK(contains(json, "NoSync"));
    lightning_free(json, json_len);
    json = NULL;
    CHECK_OK(lightning_options_to_json(o, &json, NULL)); /* out_len is optional */
    lightning_free(json, 0);
    CHECK_RC(lightning_options_to_json(o, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);

    /* Out-of-range values are judged by validate / open, naming the field. */
    CHECK_OK(lightning_options_set_cache_size(o, 1));
    CHECK_RC(lightning_options_validate(o), LIGHTNING_CONFIGURATION_ERROR);
    char buf[1024];
    CHECK_OK(lightning_last_error(buf, sizeof buf, NULL));
    CHECK(contains(buf, "cache_size"));
    CHECK(contains(buf, "lightning_options_validate"));
    char path[1024];
    h_join(path, sizeof path, g_dir, "badopts");
    lightning_db *db = (lightning_db *)0x1; /* sentinel: must stay untouched on failure */
    CHECK_RC(lightning_db_open(path, o, &db), LIGHTNING_CONFIGURATION_ERROR);
    CHECK(db == (lightning_db *)0x1);
    CHECK_OK(lightning_options_set_sync_interval_ms(o, 0));
    CHECK_OK(lightning_options_set_cache_size(o, 8u << 20));
    CHECK_RC(lightning_options_validate(o), LIGHTNING_CONFIGURATION_ERROR);
    lightning_options_free(o);

    /* JSON options. */
    lightning_options *j = NULL;
    CHECK_OK(lightning_options_from_json("{}", &j));
    CHECK_OK(lightning_options_validate(j));
    lightning_options_free(j);
    j = NULL;
    CHECK_OK(lightning_options_from_json(
        "{\"cache_size\": 1048576, \"durability\": \"NoSync\", \"max_key_size\": 128}", &j));
    CHECK_OK(lightning_options_to_json(j, &json, &json_len));
    CHECK(contains(json, "\"max_key_size\": 128"));
    lightning_free(json, json_len);
    lightning_options_free(j);
    j = (lightning_options *)0x1;
    CHECK_RC(lightning_options_from_json("{\"no_such_field\": 1}", &j), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_RC(lightning_options_from_json("{not json", &j), LIGHTNING_CONFIGURATION_ERROR);
    CHECK(j == (lightning_options *)0x1);
    CHECK_RC(lightning_options_from_json(NULL, &j), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_from_json("{}", NULL), LIGHTNING_INVALID_ARGUMENT);

    /* NULL, freed and wrong options handles. */
    CHECK_RC(lightning_options_set_cache_size(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_write_buffer_size(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_max_key_size(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_max_value_size(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_compression(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_mmap_reads(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_durability(NULL, 0), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_sync_interval_ms(NULL, 10), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_checksum_algorithm(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_integrity_level(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_block_size(NULL, 4096), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_bloom_bits_per_key(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_memtable_index_min_versions(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_fail_on_corruption(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_statistics(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_validate(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_to_json(NULL, &json, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_options_set_cache_size(o, 1), LIGHTNING_INVALID_ARGUMENT); /* freed */
    lightning_options_free(o); /* double free: ignored */
    lightning_options_free(NULL);
}

static void test_open_errors(void) {
    lightning_db *db = NULL;
    char path[1024];
    h_join(path, sizeof path, g_dir, "open");
    CHECK_RC(lightning_db_open(NULL, NULL, &db), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open(path, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_json(NULL, "{}", &db), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_json(path, NULL, &db), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_json(path, "{}", NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_json(path, "[1,2", &db), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_RC(lightning_db_open_json(path, "{\"cache_size\": 3}", &db), LIGHTNING_CONFIGURATION_ERROR);
    CHECK(db == NULL);
    /* A regular file where the directory should be. */
    char file[1024];
    h_join(file, sizeof file, g_dir, "plainfile");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK(lightning_db_open(file, NULL, &db) != LIGHTNING_OK);
    CHECK(db == NULL);

    /* NULL options mean the defaults (synced durability). */
    CHECK_OK(lightning_db_open(path, NULL, &db));
    CHECK_OK(lightning_put(db, K("k"), K("v")));

    /* A locked database: a second handle on the same directory is refused. */
    lightning_db *second = NULL;
    CHECK_RC(lightning_db_open(path, NULL, &second), LIGHTNING_DATABASE_LOCKED);
    CHECK(second == NULL);
    char buf[1024];
    size_t len = 0;
    CHECK_OK(lightning_last_error(buf, sizeof buf, &len));
    CHECK(len == strlen(buf));
    CHECK(contains(buf, "lightning_db_open"));
    CHECK(contains(buf, "DATABASE_LOCKED"));
    CHECK_RC(lightning_db_open_json(path, "{}", &second), LIGHTNING_DATABASE_LOCKED);
    lightning_db_close(db);

    /* Closed, the lock is released and the data is there. */
    CHECK_OK(lightning_db_open_json(path, "{\"durability\": \"NoSync\"}", &db));
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_get(db, K("k"), &v, &vlen));
    CHECK(vlen == 1 && v && v[0] == 'v' && v[1] == '\0');
    lightning_free(v, vlen);
    lightning_db_close(db);
}

static void test_kv(void) {
    lightning_db *db = open_fresh("kv");
    uint8_t *v = NULL;
    size_t vlen = 0;

    CHECK_OK(lightning_put(db, K("alpha"), K("one")));
    CHECK_OK(lightning_get(db, K("alpha"), &v, &vlen));
    CHECK(vlen == 3 && memcmp(v, "one", 3) == 0 && v[3] == '\0');
    lightning_free(v, vlen);

    /* Overwrite. */
    CHECK_OK(lightning_put(db, K("alpha"), K("uno!")));
    CHECK_OK(lightning_get(db, K("alpha"), &v, &vlen));
    CHECK(vlen == 4 && memcmp(v, "uno!", 4) == 0);
    lightning_free(v, vlen);

    /* Missing keys: LIGHTNING_NOT_FOUND, outputs untouched. */
    uint8_t *sentinel = (uint8_t *)0x1;
    v = sentinel;
    vlen = 777;
    CHECK_RC(lightning_get(db, K("missing"), &v, &vlen), LIGHTNING_NOT_FOUND);
    CHECK(v == sentinel && vlen == 777);
    CHECK_RC(lightning_exists(db, K("missing")), LIGHTNING_NOT_FOUND);
    CHECK_OK(lightning_exists(db, K("alpha")));

    /* Binary keys and values with NUL bytes; an empty value. */
    const uint8_t bkey[] = {0, 1, 2, 0, 255};
    const uint8_t bval[] = {9, 0, 0, 9};
    CHECK_OK(lightning_put(db, bkey, sizeof bkey, bval, sizeof bval));
    CHECK_OK(lightning_get(db, bkey, sizeof bkey, &v, &vlen));
    CHECK(vlen == sizeof bval && memcmp(v, bval, vlen) == 0);
    lightning_free(v, vlen);
    CHECK_OK(lightning_put(db, K("empty"), (const uint8_t *)"", 0));
    v = NULL;
    CHECK_OK(lightning_get(db, K("empty"), &v, &vlen));
    CHECK(v != NULL && vlen == 0 && v[0] == '\0');
    lightning_free(v, vlen);

    /* get_into: exact fit, larger buffer, too small (needed length, buffer untouched),
     * length query with a NULL buffer, missing key. */
    uint8_t buf[16];
    size_t n = 0;
    memset(buf, 'x', sizeof buf);
    CHECK_OK(lightning_get_into(db, K("alpha"), buf, 4, &n));
    CHECK(n == 4 && memcmp(buf, "uno!", 4) == 0 && buf[4] == 'x');
    CHECK_OK(lightning_get_into(db, K("alpha"), buf, sizeof buf, &n));
    CHECK(n == 4);
    memset(buf, 'x', sizeof buf);
    n = 0;
    CHECK_RC(lightning_get_into(db, K("alpha"), buf, 3, &n), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(n == 4 && buf[0] == 'x');
    n = 0;
    CHECK_RC(lightning_get_into(db, K("alpha"), NULL, 0, &n), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(n == 4);
    CHECK_OK(lightning_get_into(db, K("empty"), NULL, 0, &n));
    CHECK(n == 0);
    n = 55;
    CHECK_RC(lightning_get_into(db, K("missing"), buf, sizeof buf, &n), LIGHTNING_NOT_FOUND);
    CHECK(n == 55);
    CHECK_RC(lightning_get_into(db, K("alpha"), NULL, 8, &n), LIGHTNING_INVALID_ARGUMENT);

    /* delete: OK when the key was there, NOT_FOUND when not; absent afterwards. */
    CHECK_OK(lightning_delete(db, K("alpha")));
    CHECK_RC(lightning_delete(db, K("alpha")), LIGHTNING_NOT_FOUND);
    CHECK_RC(lightning_get(db, K("alpha"), &v, &vlen), LIGHTNING_NOT_FOUND);
    CHECK_RC(lightning_delete(db, K("never-was")), LIGHTNING_NOT_FOUND);

    /* Many keys, flush, compact, sync, still readable. */
    for (int i = 0; i < 300; i++) {
        char key[32], val[64];
        int kl = snprintf(key, sizeof key, "bulk%05d", i);
        int vl = snprintf(val, sizeof val, "value-%d-%d", i, i * i);
        CHECK_OK(lightning_put(db, (const uint8_t *)key, (size_t)kl, (const uint8_t *)val, (size_t)vl));
    }
    CHECK_OK(lightning_db_flush(db));
    CHECK_OK(lightning_db_compact(db));
    CHECK_OK(lightning_db_sync(db));
    CHECK_OK(lightning_get(db, K("bulk00123"), &v, &vlen));
    CHECK(vlen == strlen("value-123-15129") && memcmp(v, "value-123-15129", vlen) == 0);
    lightning_free(v, vlen);

    /* Statistics. */
    char *stats = NULL;
    size_t slen = 0;
    CHECK_OK(lightning_db_stats_json(db, &stats, &slen));
    CHECK(stats && strlen(stats) == slen && stats[0] == '{');
    CHECK(contains(stats, "\"puts\""));
    CHECK(contains(stats, "\"compactions\""));
    lightning_free(stats, slen);
    CHECK_OK(lightning_db_stats_json(db, &stats, NULL));
    lightning_free(stats, 0);

    /* Health: each built-in check with its status and remediation, and the engine's
     * self-checks. */
    char *text = NULL;
    size_t tlen = 0;
    CHECK_OK(lightning_db_health_json(db, &text, &tlen));
    CHECK(text && strlen(text) == tlen && text[0] == '{');
    CHECK(contains(text, "\"name\": \"integrity\""));
    CHECK(contains(text, "\"name\": \"resources\""));
    CHECK(contains(text, "\"name\": \"performance\""));
    CHECK(contains(text, "\"remediation\""));
    CHECK(contains(text, "\"engine\""));
    CHECK(contains(text, "\"writes\""));
    CHECK(!contains(text, "\"status\": \"critical\""));
    lightning_free(text, tlen);

    /* Performance metrics: the reference's fields, measured from the work above. */
    CHECK_OK(lightning_db_metrics_json(db, &text, &tlen));
    CHECK(text && strlen(text) == tlen && text[0] == '{');
    const char *fields[] = {"read_latency_p50", "read_latency_p95", "read_latency_p99",
                            "write_latency_p50", "write_latency_p95", "write_latency_p99",
                            "read_throughput", "write_throughput", "mixed_workload_throughput",
                            "cache_hit_rate", "memory_usage", "disk_usage", "cpu_usage",
                            "error_rate", "availability", "recovery_time", "meets_sla",
                            "performance_score", "bottlenecks"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", fields[i]);
        CHECK(contains(text, key));
    }
    double ops = pretty_num(text, "operations");
    CHECK(ops > 0);
    CHECK(pretty_num(text, "write_throughput") > 0);
    CHECK(pretty_duration_ns(text, "write_latency_p50") > 0);
    CHECK(pretty_num(text, "disk_usage") > 0);
    CHECK(pretty_num(text, "availability") == 1.0);
    CHECK(pretty_num(text, "error_rate") == 0.0);
    double score = pretty_num(text, "performance_score");
    CHECK(score > 0 && score <= 100);
    lightning_free(text, tlen);
    /* More work after every sample taken so far: counted in the next interval. */
    for (int i = 0; i < 10; i++) CHECK_OK(lightning_put(db, K("more"), K("work")));
    CHECK_OK(lightning_db_metrics_json(db, &text, NULL));
    CHECK(pretty_num(text, "operations") >= 10);
    lightning_free(text, 0);

    CHECK_OK(lightning_db_metrics_prometheus(db, &text, &tlen));
    CHECK(strlen(text) == tlen);
    CHECK(contains(text, "# TYPE lightning_puts_total counter"));
    CHECK(contains(text, "lightning_compactions_total 1"));
    CHECK(contains(text, "# TYPE lightning_write_latency_seconds summary"));
    CHECK(contains(text, "lightning_write_latency_seconds{quantile=\"0.99\"}"));
    CHECK(contains(text, "# TYPE lightning_read_throughput_ops_per_second gauge"));
    lightning_free(text, tlen);

    lightning_db_close(db);
}

static void test_sizes(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "sizes");
    lightning_options *o = h_fast_options();
    CHECK_OK(lightning_options_set_max_key_size(o, 16));
    CHECK_OK(lightning_options_set_max_value_size(o, 64));
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    lightning_options_free(o);

    uint8_t big[4096];
    memset(big, 'b', sizeof big);
    CHECK_OK(lightning_put(db, big, 16, big, 64));
    CHECK_RC(lightning_put(db, big, 17, K("v")), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_put(db, K("k"), big, 65), LIGHTNING_VALUE_TOO_LARGE);
    CHECK_RC(lightning_put(db, big, 0, K("v")), LIGHTNING_EMPTY_KEY);
    CHECK_RC(lightning_delete(db, big, 17), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_delete(db, big, 0), LIGHTNING_EMPTY_KEY);
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_RC(lightning_get(db, big, 0, &v, &vlen), LIGHTNING_EMPTY_KEY);
    CHECK_RC(lightning_get(db, K("k"), &v, &vlen), LIGHTNING_NOT_FOUND); /* nothing written */

    /* The per-handle detail names the code and suggests an action. */
    CHECK_RC(lightning_put(db, big, 17, K("v")), LIGHTNING_KEY_TOO_LARGE);
    char buf[2048];
    size_t len = 0;
    CHECK_OK(lightning_db_last_error(db, buf, sizeof buf, &len));
    CHECK(len == strlen(buf));
    CHECK(contains(buf, "lightning_put"));
    CHECK(contains(buf, "KEY_TOO_LARGE"));
    CHECK(contains(buf, "17"));
    CHECK(contains(buf, "suggested action"));
    /* snprintf-style truncation. */
    char small[8];
    size_t full = 0;
    CHECK_RC(lightning_db_last_error(db, small, sizeof small, &full), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(full == len && strlen(small) == sizeof small - 1 && memcmp(small, buf, 7) == 0);
    CHECK_RC(lightning_db_last_error(db, NULL, 0, &full), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(full == len);
    CHECK_RC(lightning_db_last_error(db, NULL, 4, &full), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_db_last_error(db, buf, sizeof buf, NULL));
    CHECK(contains(buf, "KEY_TOO_LARGE")); /* its own failure did not overwrite the slot */
    /* Successful calls leave the detail as it was. */
    CHECK_OK(lightning_put(db, K("fine"), K("v")));
    CHECK_OK(lightning_db_last_error(db, buf, sizeof buf, NULL));
    CHECK(contains(buf, "KEY_TOO_LARGE"));
    /* NOT_FOUND is an answer, not a failure: it does not set the detail. */
    CHECK_RC(lightning_get(db, K("nope"), &v, &vlen), LIGHTNING_NOT_FOUND);
    CHECK_OK(lightning_db_last_error(db, buf, sizeof buf, NULL));
    CHECK(contains(buf, "KEY_TOO_LARGE"));

    /* Batches: a batch made for this database checks its limits at once; a default batch
     * is checked again when written, and refused whole. */
    lightning_batch *b = NULL;
    CHECK_OK(lightning_db_batch_new(db, &b));
    CHECK_RC(lightning_batch_put(b, big, 17, K("v")), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_batch_put(b, K("k"), big, 65), LIGHTNING_VALUE_TOO_LARGE);
    CHECK_RC(lightning_batch_delete(b, big, 0), LIGHTNING_EMPTY_KEY);
    size_t count = 99;
    CHECK_OK(lightning_batch_count(b, &count));
    CHECK(count == 0);
    lightning_batch_free(b);
    b = NULL;
    CHECK_OK(lightning_batch_new(&b));
    CHECK_OK(lightning_batch_put(b, K("ok-key"), K("v")));
    CHECK_OK(lightning_batch_put(b, big, 100, K("v")));
    CHECK_RC(lightning_write_batch(db, b), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_exists(db, K("ok-key")), LIGHTNING_NOT_FOUND); /* all or nothing */
    lightning_batch_free(b);

    /* Transactions: a refused put fails the commit too. */
    lightning_txn *t = NULL;
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_OK(lightning_txn_put(t, K("t-ok"), K("v")));
    CHECK_RC(lightning_txn_put(t, big, 17, K("v")), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_txn_commit(t), LIGHTNING_KEY_TOO_LARGE);
    CHECK_RC(lightning_exists(db, K("t-ok")), LIGHTNING_NOT_FOUND);

    lightning_db_close(db);
}

/* The default key limit (64 KiB) also applies without options. */
static void test_default_key_limit(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "defaultlimit");
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open_json(path, "{\"durability\": \"NoSync\"}", &db));
    size_t n = 64 * 1024 + 1;
    uint8_t *huge = malloc(n);
    CHECK(huge != NULL);
    if (!huge) return;
    memset(huge, 'h', n);
    CHECK_RC(lightning_put(db, huge, n, K("v")), LIGHTNING_KEY_TOO_LARGE);
    CHECK_OK(lightning_put(db, huge, n - 1, K("v")));
    lightning_batch *b = NULL;
    CHECK_OK(lightning_batch_new(&b));
    CHECK_RC(lightning_batch_put(b, huge, n, K("v")), LIGHTNING_KEY_TOO_LARGE);
    lightning_batch_free(b);
    free(huge);
    lightning_db_close(db);
}

static void test_batch(void) {
    lightning_db *db = open_fresh("batch");
    CHECK_OK(lightning_put(db, K("gone"), K("soon")));
    lightning_batch *b = NULL;
    CHECK_RC(lightning_batch_new(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_batch_new(&b));
    CHECK_OK(lightning_batch_put(b, K("a"), K("1")));
    CHECK_OK(lightning_batch_put(b, K("b"), K("2")));
    CHECK_OK(lightning_batch_put(b, K("a"), K("3"))); /* later wins */
    CHECK_OK(lightning_batch_delete(b, K("gone")));
    size_t count = 0;
    CHECK_OK(lightning_batch_count(b, &count));
    CHECK(count == 4);
    CHECK_OK(lightning_write_batch(db, b));
    uint8_t buf[8];
    size_t n = 0;
    CHECK_OK(lightning_get_into(db, K("a"), buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == '3');
    CHECK_OK(lightning_get_into(db, K("b"), buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == '2');
    CHECK_RC(lightning_exists(db, K("gone")), LIGHTNING_NOT_FOUND);
    /* Not consumed: clear and reuse. */
    CHECK_OK(lightning_batch_count(b, &count));
    CHECK(count == 4);
    CHECK_OK(lightning_batch_clear(b));
    CHECK_OK(lightning_batch_count(b, &count));
    CHECK(count == 0);
    CHECK_OK(lightning_write_batch(db, b)); /* empty batch */
    CHECK_OK(lightning_batch_put(b, K("c"), K("4")));
    CHECK_OK(lightning_write_batch(db, b));
    CHECK_OK(lightning_exists(db, K("c")));

    /* NULL arguments. */
    CHECK_RC(lightning_batch_put(NULL, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_put(b, NULL, 1, K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_put(b, K("k"), NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_delete(NULL, K("k")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_delete(b, NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_clear(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_count(NULL, &count), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_batch_count(b, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_write_batch(NULL, b), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_write_batch(db, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_batch_new(NULL, &b), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_batch_new(db, NULL), LIGHTNING_INVALID_ARGUMENT);

    /* A freed batch is a stale handle. */
    lightning_batch_free(b);
    CHECK_RC(lightning_batch_put(b, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_write_batch(db, b), LIGHTNING_INVALID_ARGUMENT);
    lightning_batch_free(b);
    lightning_batch_free(NULL);
    lightning_db_close(db);
}

static void test_txn(void) {
    lightning_db *db = open_fresh("txn");
    CHECK_OK(lightning_put(db, K("base"), K("0")));

    lightning_txn *t = NULL;
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_OK(lightning_txn_put(t, K("x"), K("10")));
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_txn_get(t, K("x"), &v, &vlen)); /* own write */
    CHECK(vlen == 2 && memcmp(v, "10", 2) == 0);
    lightning_free(v, vlen);
    CHECK_RC(lightning_get(db, K("x"), &v, &vlen), LIGHTNING_NOT_FOUND); /* not yet visible */
    uint8_t buf[8];
    size_t n = 0;
    CHECK_OK(lightning_txn_get_into(t, K("base"), buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == '0');
    CHECK_RC(lightning_txn_get_into(t, K("x"), buf, 1, &n), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(n == 2);
    CHECK_OK(lightning_txn_delete(t, K("base")));
    CHECK_RC(lightning_txn_get(t, K("base"), &v, &vlen), LIGHTNING_NOT_FOUND);
    CHECK_RC(lightning_txn_get(t, K("nothing"), &v, &vlen), LIGHTNING_NOT_FOUND);

    /* The transaction's iterator sees its own writes. */
    lightning_iter *it = NULL;
    CHECK_OK(lightning_txn_iter_new(t, NULL, 0, &it));
    const uint8_t *k, *val;
    size_t kl, vl;
    CHECK_OK(lightning_iter_next(it, &k, &kl, &val, &vl));
    CHECK(kl == 1 && k[0] == 'x' && vl == 2);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &val, &vl), LIGHTNING_DONE);
    lightning_iter_free(it);
    CHECK_OK(lightning_txn_iter_prefix(t, K("x"), 1, &it));
    CHECK_OK(lightning_iter_next(it, &k, &kl, &val, &vl));
    CHECK(kl == 1 && k[0] == 'x');
    lightning_iter_free(it);

    CHECK_OK(lightning_txn_commit(t));
    CHECK_OK(lightning_get_into(db, K("x"), buf, sizeof buf, &n));
    CHECK(n == 2 && memcmp(buf, "10", 2) == 0);
    CHECK_RC(lightning_exists(db, K("base")), LIGHTNING_NOT_FOUND);

    /* A committed transaction is a stale handle: every use is an error, freeing it is
     * harmless. */
    CHECK_RC(lightning_txn_put(t, K("y"), K("1")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get(t, K("x"), &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_commit(t), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_rollback(t), LIGHTNING_INVALID_ARGUMENT);
    lightning_txn_free(t);

    /* Rollback discards. */
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_OK(lightning_txn_put(t, K("rolled"), K("back")));
    CHECK_OK(lightning_txn_rollback(t));
    CHECK_RC(lightning_exists(db, K("rolled")), LIGHTNING_NOT_FOUND);

    /* free rolls back an open transaction. */
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_OK(lightning_txn_put(t, K("freed"), K("x")));
    lightning_txn_free(t);
    CHECK_RC(lightning_exists(db, K("freed")), LIGHTNING_NOT_FOUND);

    /* Conflict: two transactions write the same key; the second commit fails. */
    lightning_txn *t1 = NULL, *t2 = NULL;
    CHECK_OK(lightning_txn_begin(db, &t1));
    CHECK_OK(lightning_txn_begin(db, &t2));
    CHECK_OK(lightning_txn_get(t1, K("x"), &v, &vlen));
    lightning_free(v, vlen);
    CHECK_OK(lightning_txn_put(t1, K("x"), K("11")));
    CHECK_OK(lightning_txn_put(t2, K("x"), K("12")));
    CHECK_OK(lightning_txn_commit(t1));
    CHECK_RC(lightning_txn_commit(t2), LIGHTNING_TRANSACTION_CONFLICT);
    char msg[1024];
    CHECK_OK(lightning_db_last_error(db, msg, sizeof msg, NULL));
    CHECK(contains(msg, "TRANSACTION_CONFLICT"));
    CHECK(contains(msg, "lightning_txn_commit"));
    CHECK_OK(lightning_get_into(db, K("x"), buf, sizeof buf, &n));
    CHECK(n == 2 && memcmp(buf, "11", 2) == 0);

    /* Pessimistic mode; unknown mode refused. */
    CHECK_OK(lightning_txn_begin_with(db, LIGHTNING_TXN_MODE_PESSIMISTIC, 100, &t));
    CHECK_OK(lightning_txn_put(t, K("p"), K("1")));
    CHECK_OK(lightning_txn_commit(t));
    CHECK_OK(lightning_txn_begin_with(db, LIGHTNING_TXN_MODE_OPTIMISTIC, 0, &t));
    CHECK_OK(lightning_txn_rollback(t));
    t = NULL;
    CHECK_RC(lightning_txn_begin_with(db, 9, 100, &t), LIGHTNING_INVALID_ARGUMENT);
    CHECK(t == NULL);

    /* NULL arguments. */
    CHECK_RC(lightning_txn_begin(NULL, &t), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_begin(db, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_begin_with(NULL, 0, 0, &t), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_begin_with(db, 0, 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_RC(lightning_txn_get(NULL, K("k"), &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get(t, NULL, 1, &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get(t, K("k"), NULL, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get(t, K("k"), &v, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get_into(NULL, K("k"), buf, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get_into(t, NULL, 1, buf, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get_into(t, K("k"), NULL, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_get_into(t, K("k"), buf, 1, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_put(NULL, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_put(t, NULL, 1, K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_put(t, K("k"), NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_delete(NULL, K("k")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_delete(t, NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_iter_new(NULL, NULL, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_iter_new(t, NULL, 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_iter_prefix(NULL, K("p"), 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_iter_prefix(t, NULL, 0, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_iter_prefix(t, K("p"), 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_commit(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_rollback(NULL), LIGHTNING_INVALID_ARGUMENT);
    lightning_txn_free(NULL);
    /* The failed calls above did not end the transaction. */
    CHECK_OK(lightning_txn_put(t, K("still"), K("open")));
    CHECK_OK(lightning_txn_commit(t));
    CHECK_OK(lightning_exists(db, K("still")));

    lightning_db_close(db);
}

static void test_snapshot(void) {
    lightning_db *db = open_fresh("snap");
    CHECK_OK(lightning_put(db, K("k1"), K("old")));
    CHECK_OK(lightning_put(db, K("k2"), K("old2")));
    lightning_snapshot *s = NULL;
    CHECK_OK(lightning_snapshot_new(db, &s));
    CHECK_OK(lightning_put(db, K("k1"), K("new")));
    CHECK_OK(lightning_delete(db, K("k2")));
    CHECK_OK(lightning_put(db, K("k3"), K("later")));

    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_snapshot_get(s, K("k1"), &v, &vlen));
    CHECK(vlen == 3 && memcmp(v, "old", 3) == 0);
    lightning_free(v, vlen);
    CHECK_OK(lightning_snapshot_get(s, K("k2"), &v, &vlen));
    lightning_free(v, vlen);
    CHECK_RC(lightning_snapshot_get(s, K("k3"), &v, &vlen), LIGHTNING_NOT_FOUND);
    uint8_t buf[8];
    size_t n = 0;
    CHECK_OK(lightning_snapshot_get_into(s, K("k2"), buf, sizeof buf, &n));
    CHECK(n == 4 && memcmp(buf, "old2", 4) == 0);
    CHECK_RC(lightning_snapshot_get_into(s, K("k2"), buf, 2, &n), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(n == 4);
    uint64_t seq = 0;
    CHECK_OK(lightning_snapshot_sequence(s, &seq));
    CHECK(seq > 0);

    /* Snapshot iterators see the old view, forward and reverse. */
    lightning_iter *it = NULL;
    const uint8_t *k, *val;
    size_t kl, vl;
    CHECK_OK(lightning_snapshot_iter_new(s, NULL, 1, &it));
    CHECK_OK(lightning_iter_next(it, &k, &kl, &val, &vl));
    CHECK(kl == 2 && memcmp(k, "k2", 2) == 0 && vl == 4);
    CHECK_OK(lightning_iter_next(it, &k, &kl, &val, &vl));
    CHECK(kl == 2 && memcmp(k, "k1", 2) == 0 && vl == 3 && memcmp(val, "old", 3) == 0);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &val, &vl), LIGHTNING_DONE);
    lightning_iter_free(it);
    CHECK_OK(lightning_snapshot_iter_prefix(s, K("k1"), 0, &it));
    CHECK_OK(lightning_iter_next(it, &k, &kl, &val, &vl));
    CHECK(kl == 2 && memcmp(k, "k1", 2) == 0);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &val, &vl), LIGHTNING_DONE);
    /* The iterator may outlive its snapshot handle. */
    lightning_snapshot_free(s);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &val, &vl), LIGHTNING_DONE);
    lightning_iter_free(it);

    /* Stale and NULL. */
    CHECK_RC(lightning_snapshot_get(s, K("k1"), &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_sequence(s, &seq), LIGHTNING_INVALID_ARGUMENT);
    lightning_snapshot_free(s);
    lightning_snapshot_free(NULL);
    CHECK_RC(lightning_snapshot_new(NULL, &s), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_new(db, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_snapshot_new(db, &s));
    CHECK_RC(lightning_snapshot_get(NULL, K("k"), &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get(s, NULL, 1, &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get(s, K("k"), NULL, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get(s, K("k"), &v, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get_into(NULL, K("k"), buf, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get_into(s, NULL, 1, buf, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get_into(s, K("k"), NULL, 1, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_get_into(s, K("k"), buf, 1, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_sequence(NULL, &seq), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_sequence(s, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_iter_new(NULL, NULL, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_iter_new(s, NULL, 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_iter_prefix(NULL, K("k"), 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_iter_prefix(s, NULL, 0, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_snapshot_iter_prefix(s, K("k"), 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    lightning_snapshot_free(s);
    lightning_db_close(db);
}

/* Collects an iterator's keys as "a,b,c" into out. */
static int collect(lightning_iter *it, char *out, size_t cap) {
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc;
    size_t pos = 0;
    out[0] = '\0';
    while ((rc = lightning_iter_next(it, &k, &kl, &v, &vl)) == LIGHTNING_OK) {
        if (pos + kl + 2 >= cap) return -1;
        if (pos) out[pos++] = ',';
        memcpy(out + pos, k, kl);
        pos += kl;
        out[pos] = '\0';
        /* Values are "v" + key, and the borrowed pointers are readable. */
        if (!(vl == kl + 1 && v[0] == 'v' && memcmp(v + 1, k, kl) == 0)) return -2;
    }
    return rc;
}

static void expect_scan(lightning_db *db, const lightning_range *r, int reverse, const char *want) {
    lightning_iter *it = NULL;
    CHECK_OK(lightning_iter_new(db, r, reverse, &it));
    char got[256];
    CHECK_RC(collect(it, got, sizeof got), LIGHTNING_DONE);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "scan (reverse=%d): got \"%s\", want \"%s\"\n", reverse, got, want);
    }
    CHECK(strcmp(got, want) == 0);
    lightning_iter_free(it);
}

static void expect_prefix(lightning_db *db, const char *p, int reverse, const char *want) {
    lightning_iter *it = NULL;
    CHECK_OK(lightning_iter_prefix(db, (const uint8_t *)p, strlen(p), reverse, &it));
    char got[256];
    CHECK_RC(collect(it, got, sizeof got), LIGHTNING_DONE);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "prefix %s (reverse=%d): got \"%s\", want \"%s\"\n", p, reverse, got, want);
    }
    CHECK(strcmp(got, want) == 0);
    lightning_iter_free(it);
}

static void test_iter(void) {
    lightning_db *db = open_fresh("iter");
    const char *keys[] = {"d", "a", "ab", "b", "c", "ac", "e"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char val[8];
        snprintf(val, sizeof val, "v%s", keys[i]);
        CHECK_OK(lightning_put(db, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)val,
                               strlen(val)));
    }
    expect_scan(db, NULL, 0, "a,ab,ac,b,c,d,e");
    expect_scan(db, NULL, 1, "e,d,c,b,ac,ab,a");

    lightning_range r = {0};
    r.start = (const uint8_t *)"ab";
    r.start_len = 2;
    r.end = (const uint8_t *)"c";
    r.end_len = 1;
    expect_scan(db, &r, 0, "ab,ac,b");
    expect_scan(db, &r, 1, "b,ac,ab");
    r.end_inclusive = 1;
    expect_scan(db, &r, 0, "ab,ac,b,c");
    expect_scan(db, &r, 1, "c,b,ac,ab");
    r.start_exclusive = 1;
    expect_scan(db, &r, 0, "ac,b,c");
    expect_scan(db, &r, 1, "c,b,ac");

    lightning_range from = {.start = (const uint8_t *)"c", .start_len = 1};
    expect_scan(db, &from, 0, "c,d,e");
    expect_scan(db, &from, 1, "e,d,c");
    lightning_range upto = {.end = (const uint8_t *)"b", .end_len = 1};
    expect_scan(db, &upto, 0, "a,ab,ac");
    expect_scan(db, &upto, 1, "ac,ab,a");
    lightning_range all = {0};
    expect_scan(db, &all, 0, "a,ab,ac,b,c,d,e");
    lightning_range empty = {.start = (const uint8_t *)"d", .start_len = 1,
                             .end = (const uint8_t *)"b", .end_len = 1};
    expect_scan(db, &empty, 0, "");
    expect_scan(db, &empty, 1, "");

    expect_prefix(db, "a", 0, "a,ab,ac");
    expect_prefix(db, "a", 1, "ac,ab,a");
    expect_prefix(db, "ab", 0, "ab");
    expect_prefix(db, "z", 0, "");
    expect_prefix(db, "", 0, "a,ab,ac,b,c,d,e");

    /* An iterator sees the data as of its creation. */
    lightning_iter *it = NULL;
    CHECK_OK(lightning_iter_new(db, NULL, 0, &it));
    CHECK_OK(lightning_put(db, K("aa"), K("vaa")));
    CHECK_OK(lightning_delete(db, K("e")));
    char got[256];
    CHECK_RC(collect(it, got, sizeof got), LIGHTNING_DONE);
    CHECK(strcmp(got, "a,ab,ac,b,c,d,e") == 0);
    /* DONE again, and again. */
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    CHECK_RC(lightning_iter_next(it, &k, &kl, &v, &vl), LIGHTNING_DONE);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &v, &vl), LIGHTNING_DONE);
    lightning_iter_free(it);
    expect_scan(db, NULL, 0, "a,aa,ab,ac,b,c,d");

    /* Empty values come back as length 0 with a non-NULL pointer. */
    CHECK_OK(lightning_put(db, K("zz-empty"), (const uint8_t *)"", 0));
    CHECK_OK(lightning_iter_prefix(db, K("zz"), 0, &it));
    CHECK_OK(lightning_iter_next(it, &k, &kl, &v, &vl));
    CHECK(kl == 8 && v != NULL && vl == 0);
    lightning_iter_free(it);

    /* Survives flush and compaction in the middle of a scan. */
    CHECK_OK(lightning_iter_new(db, NULL, 0, &it));
    CHECK_OK(lightning_iter_next(it, &k, &kl, &v, &vl));
    CHECK_OK(lightning_db_flush(db));
    CHECK_OK(lightning_db_compact(db));
    int count = 1;
    while (lightning_iter_next(it, &k, &kl, &v, &vl) == LIGHTNING_OK) count++;
    CHECK(count == 8);
    lightning_iter_free(it);

    /* Errors: NULL everything, bad ranges, stale iterator. */
    CHECK_RC(lightning_iter_new(NULL, NULL, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_new(db, NULL, 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    lightning_range bad = {.start = NULL, .start_len = 3};
    CHECK_RC(lightning_iter_new(db, &bad, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    lightning_range bad2 = {.end = NULL, .end_len = 1};
    CHECK_RC(lightning_iter_new(db, &bad2, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_prefix(NULL, K("a"), 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_prefix(db, NULL, 0, 0, &it), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_prefix(db, K("a"), 0, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_iter_new(db, NULL, 0, &it));
    CHECK_RC(lightning_iter_next(NULL, &k, &kl, &v, &vl), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_next(it, NULL, &kl, &v, &vl), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_next(it, &k, NULL, &v, &vl), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_next(it, &k, &kl, NULL, &vl), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &v, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_iter_next(it, &k, &kl, &v, &vl)); /* not advanced by the failures */
    CHECK(kl == 1 && k[0] == 'a');
    lightning_iter_free(it);
    CHECK_RC(lightning_iter_next(it, &k, &kl, &v, &vl), LIGHTNING_INVALID_ARGUMENT);
    lightning_iter_free(it);
    lightning_iter_free(NULL);
    lightning_db_close(db);
}

/* Closed, double-closed, freed, forged and wrong-kind handles. */
static void test_stale_handles(void) {
    lightning_db *db = open_fresh("stale");
    CHECK_OK(lightning_put(db, K("k"), K("v")));
    lightning_snapshot *s = NULL;
    lightning_txn *t = NULL;
    lightning_iter *it = NULL;
    lightning_batch *b = NULL;
    CHECK_OK(lightning_snapshot_new(db, &s));
    CHECK_OK(lightning_txn_begin(db, &t));
    CHECK_OK(lightning_iter_new(db, NULL, 0, &it));
    CHECK_OK(lightning_batch_new(&b));
    CHECK_OK(lightning_batch_put(b, K("k2"), K("v2")));

    /* Wrong kinds of handle. */
    CHECK_RC(lightning_put((lightning_db *)(void *)t, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_txn_put((lightning_txn *)(void *)db, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_write_batch(db, (lightning_batch *)(void *)s), LIGHTNING_INVALID_ARGUMENT);
    lightning_iter_free((lightning_iter *)(void *)b); /* ignored: not an iterator */
    CHECK_OK(lightning_batch_count(b, &(size_t){0}));
    char msg[512];
    CHECK_OK(lightning_last_error(msg, sizeof msg, NULL));
    CHECK(contains(msg, "lightning_batch"));

    /* Forged pointers, including one to real memory. */
    int local = 0;
    CHECK(lightning_put((lightning_db *)(void *)&local, K("k"), K("v")) != LIGHTNING_OK);
    CHECK(lightning_put((lightning_db *)(uintptr_t)0x1234, K("k"), K("v")) != LIGHTNING_OK);
    CHECK(lightning_put((lightning_db *)(uintptr_t)UINTPTR_MAX, K("k"), K("v")) != LIGHTNING_OK);
    lightning_db_close((lightning_db *)(void *)&local);
    CHECK(local == 0);

    /* Close with children alive; the children answer DATABASE_CLOSED. */
    lightning_db_close(db);
    CHECK_RC(lightning_put(db, K("k"), K("v")), LIGHTNING_DATABASE_CLOSED);
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_RC(lightning_get(db, K("k"), &v, &vlen), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_exists(db, K("k")), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_delete(db, K("k")), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_flush(db), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_compact(db), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_sync(db), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_write_batch(db, b), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_snapshot_new(db, &s), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_txn_begin(db, &t), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_iter_new(db, NULL, 0, &it), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_last_error(db, msg, sizeof msg, NULL), LIGHTNING_DATABASE_CLOSED);
    char *json = NULL;
    CHECK_RC(lightning_db_stats_json(db, &json, NULL), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_health_json(db, &json, NULL), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_metrics_json(db, &json, NULL), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_db_metrics_prometheus(db, &json, NULL), LIGHTNING_DATABASE_CLOSED);
    lightning_db_close(db); /* double close: harmless */
    lightning_db_close(db);

    CHECK_RC(lightning_snapshot_get(s, K("k"), &v, &vlen), LIGHTNING_DATABASE_CLOSED);
    CHECK_RC(lightning_txn_put(t, K("k"), K("v")), LIGHTNING_OK); /* buffered only */
    CHECK_RC(lightning_txn_commit(t), LIGHTNING_DATABASE_CLOSED);
    const uint8_t *k, *val;
    size_t kl, vl;
    int rc = lightning_iter_next(it, &k, &kl, &val, &vl);
    CHECK(rc == LIGHTNING_OK || rc == LIGHTNING_DATABASE_CLOSED || rc == LIGHTNING_DONE);
    lightning_iter_free(it);
    lightning_snapshot_free(s);
    lightning_batch_free(b);
}

static void test_free(void) {
    lightning_free(NULL, 0);
    lightning_free(NULL, 10);
    int local = 0;
    lightning_free(&local, sizeof local); /* not ours: ignored */
    char msg[512];
    CHECK_OK(lightning_last_error(msg, sizeof msg, NULL));
    CHECK(contains(msg, "lightning_free"));
    lightning_db *db = open_fresh("free");
    CHECK_OK(lightning_put(db, K("k"), K("value")));
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_get(db, K("k"), &v, &vlen));
    lightning_free(v, 12345); /* the length is advisory */
    lightning_free(v, vlen);  /* double free: ignored */
    lightning_db_close(db);
}

/* NULL in each argument of the single-key functions. */
/* lightning_get_if_cached: answers from memory, LIGHTNING_NEEDS_IO (reading nothing) when
 * the block it needs is on disk only. Tables read with pread (mmap off) make "on disk only"
 * deterministic: a block is in memory once a read put it in the block cache. */
static void test_get_if_cached(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "cached");
    lightning_options *o = h_fast_options();
    CHECK_OK(lightning_options_set_mmap_reads(o, 0));
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    lightning_options_free(o);
    uint8_t buf[16];
    size_t n = 0;

    /* From the memtable: every answer of lightning_get_into. */
    CHECK_OK(lightning_put(db, K("alpha"), K("uno!")));
    memset(buf, 'x', sizeof buf);
    CHECK_OK(lightning_get_if_cached(db, K("alpha"), buf, sizeof buf, &n));
    CHECK(n == 4 && memcmp(buf, "uno!", 4) == 0 && buf[4] == 'x');
    n = 0;
    CHECK_RC(lightning_get_if_cached(db, K("alpha"), buf, 3, &n), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(n == 4);
    n = 9;
    CHECK_RC(lightning_get_if_cached(db, K("missing"), buf, sizeof buf, &n), LIGHTNING_NOT_FOUND);
    CHECK(n == 9);

    /* From a table nobody has read yet: NEEDS_IO, outputs untouched; after a read, OK. */
    for (int i = 0; i < 500; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "t%05d", i);
        CHECK_OK(lightning_put(db, (const uint8_t *)key, (size_t)kl, K("tabled")));
    }
    CHECK_OK(lightning_db_flush(db));
    memset(buf, 'x', sizeof buf);
    n = 77;
    CHECK_RC(lightning_get_if_cached(db, K("t00321"), buf, sizeof buf, &n), LIGHTNING_NEEDS_IO);
    CHECK(n == 77 && buf[0] == 'x');
    CHECK(strcmp(lightning_strerror(LIGHTNING_NEEDS_IO),
                 "the answer needs a read from disk; nothing was read") == 0);
    CHECK_OK(lightning_get_into(db, K("t00321"), buf, sizeof buf, &n));
    CHECK_OK(lightning_get_if_cached(db, K("t00321"), buf, sizeof buf, &n));
    CHECK(n == 6 && memcmp(buf, "tabled", 6) == 0);

    /* Bad input: NULLs and an empty key are errors, never a crash. */
    CHECK_RC(lightning_get_if_cached(NULL, K("k"), buf, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_if_cached(db, NULL, 1, buf, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_if_cached(db, K("k"), NULL, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_if_cached(db, K("k"), buf, 4, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_if_cached(db, (const uint8_t *)"", 0, buf, 4, &n), LIGHTNING_EMPTY_KEY);
    lightning_db_close(db);
    /* A closed handle answers DATABASE_CLOSED. */
    CHECK_RC(lightning_get_if_cached(db, K("alpha"), buf, sizeof buf, &n), LIGHTNING_DATABASE_CLOSED);
}

static void test_null_everywhere(void) {
    lightning_db *db = open_fresh("nulls");
    uint8_t *v = NULL;
    size_t vlen = 0;
    uint8_t buf[4];
    size_t n = 0;
    CHECK_RC(lightning_put(NULL, K("k"), K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_put(db, NULL, 1, K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_put(db, NULL, 0, K("v")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_put(db, K("k"), NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_put(db, K("k"), NULL, 0), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get(NULL, K("k"), &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get(db, NULL, 1, &v, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get(db, K("k"), NULL, &vlen), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get(db, K("k"), &v, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_into(NULL, K("k"), buf, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_into(db, NULL, 1, buf, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_into(db, K("k"), NULL, 4, &n), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_get_into(db, K("k"), buf, 4, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_exists(NULL, K("k")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_exists(db, NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_delete(NULL, K("k")), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_delete(db, NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_flush(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_compact(NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_sync(NULL), LIGHTNING_INVALID_ARGUMENT);
    char *json = NULL;
    CHECK_RC(lightning_db_stats_json(NULL, &json, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_stats_json(db, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_health_json(NULL, &json, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_health_json(db, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_metrics_json(NULL, &json, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_metrics_prometheus(db, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    char msg[64];
    CHECK_RC(lightning_db_last_error(NULL, msg, sizeof msg, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_last_error(NULL, 5, NULL), LIGHTNING_INVALID_ARGUMENT);
    size_t len = 0;
    CHECK_RC(lightning_last_error(NULL, 0, &len), LIGHTNING_BUFFER_TOO_SMALL);
    CHECK(len > 0);
    /* The per-handle detail names the NULL argument. */
    CHECK_RC(lightning_put(db, K("k"), NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    char detail[256];
    CHECK_OK(lightning_db_last_error(db, detail, sizeof detail, NULL));
    CHECK(contains(detail, "`val` is NULL"));
    lightning_db_close(NULL);
    lightning_db_close(db);
}

static void test_persistence(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "persist");
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, NULL, &db));
    lightning_batch *b = NULL;
    CHECK_OK(lightning_db_batch_new(db, &b));
    for (int i = 0; i < 50; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "p%03d", i);
        CHECK_OK(lightning_batch_put(b, (const uint8_t *)key, (size_t)kl, (const uint8_t *)key, (size_t)kl));
    }
    CHECK_OK(lightning_write_batch(db, b));
    lightning_batch_free(b);
    lightning_db_close(db);
    db = NULL;
    CHECK_OK(lightning_db_open(path, NULL, &db));
    lightning_iter *it = NULL;
    CHECK_OK(lightning_iter_prefix(db, K("p"), 0, &it));
    int count = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    while (lightning_iter_next(it, &k, &kl, &v, &vl) == LIGHTNING_OK) {
        CHECK(kl == vl && memcmp(k, v, kl) == 0);
        count++;
    }
    CHECK(count == 50);
    lightning_iter_free(it);
    lightning_db_close(db);
}

/* Encryption at rest: a database made with a key opens only with that key; bad key
 * material is refused by the setter. */
static void test_encryption(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "encrypted");
    uint8_t key[32], other[32];
    memset(key, 7, sizeof key);
    memset(other, 8, sizeof other);
    lightning_options *opts = NULL;
    CHECK_OK(lightning_options_new(&opts));
    CHECK_RC(lightning_options_set_encryption_key(opts, key, 31), LIGHTNING_INVALID_KEY_MATERIAL);
    CHECK_RC(lightning_options_set_encryption_key(opts, NULL, 32), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_options_set_encryption_key(opts, key, sizeof key));
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, opts, &db));
    CHECK_OK(lightning_put(db, K("k"), K("secret")));
    lightning_db_close(db);
    db = NULL;
    /* No key, then the wrong key: refused. */
    CHECK_RC(lightning_db_open(path, NULL, &db), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_OK(lightning_options_set_encryption_key(opts, other, sizeof other));
    CHECK_RC(lightning_db_open(path, opts, &db), LIGHTNING_WRONG_KEY);
    CHECK_OK(lightning_options_set_encryption_key(opts, key, sizeof key));
    CHECK_OK(lightning_db_open(path, opts, &db));
    uint8_t *v = NULL;
    size_t vl = 0;
    CHECK_OK(lightning_get(db, K("k"), &v, &vl));
    CHECK(vl == 6 && memcmp(v, "secret", 6) == 0);
    lightning_free(v, vl);
    /* Rotation, then re-wrapping under `other`: the old key no longer opens it. */
    uint32_t generation = 0;
    CHECK_OK(lightning_db_rotate_key(db, &generation));
    CHECK(generation == 2);
    /* Every file re-sealed under a newer key, the older keys retired. */
    size_t retired = 0;
    CHECK_OK(lightning_db_rotate_key_now(db, &generation, &retired));
    CHECK(generation == 3 && retired == 2);
    CHECK_RC(lightning_db_rotate_key_now(NULL, &generation, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_get(db, K("k"), &v, &vl));
    CHECK(vl == 6 && memcmp(v, "secret", 6) == 0);
    lightning_free(v, vl);
    /* The integrity check opens and authenticates the re-sealed files. */
    char *report = NULL;
    CHECK_OK(lightning_db_check(db, LIGHTNING_INTEGRITY_LEVEL_PARANOID, &report));
    CHECK(contains(report, "\"problems\": []"));
    CHECK(contains(report, "\"tables_checked\": 1"));
    lightning_free(report, 0);
    CHECK_OK(lightning_db_rewrap_key(db, other, sizeof other));
    lightning_db_close(db);
    db = NULL;
    CHECK_RC(lightning_db_open(path, opts, &db), LIGHTNING_WRONG_KEY);
    CHECK_OK(lightning_options_set_encryption_key(opts, other, sizeof other));
    CHECK_OK(lightning_db_open(path, opts, &db));
    lightning_db_close(db);
    lightning_options_free(opts);
}

/* Flips a byte in the middle of the first table file of `dir`; false when there is none. */
static bool corrupt_a_table(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool done = false;
    while (!done && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".sst") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r+b");
        if (!f) continue;
        if (fseek(f, 100, SEEK_SET) == 0) {
            int c = fgetc(f);
            if (c != EOF && fseek(f, 100, SEEK_SET) == 0 && fputc(c ^ 0x5a, f) != EOF) done = true;
        }
        fclose(f);
    }
    closedir(d);
    return done;
}

static void test_check(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "check");
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open_json(path, "{\"durability\": \"NoSync\"}", &db));
    for (int i = 0; i < 2000; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(lightning_put(db, (const uint8_t *)key, (size_t)kl, K("some value bytes")));
    }
    CHECK_OK(lightning_db_flush(db));
    const int levels[] = {LIGHTNING_INTEGRITY_LEVEL_BASIC, LIGHTNING_INTEGRITY_LEVEL_STANDARD,
                          LIGHTNING_INTEGRITY_LEVEL_COMPREHENSIVE, LIGHTNING_INTEGRITY_LEVEL_PARANOID};
    for (size_t i = 0; i < 4; i++) {
        char *report = NULL;
        CHECK_OK(lightning_db_check(db, levels[i], &report));
        CHECK(contains(report, "\"problems\": []"));
        CHECK(contains(report, "\"tables_checked\": 1"));
        lightning_free(report, 0);
    }
    char *report = (char *)0x1;
    CHECK_RC(lightning_db_check(db, 42, &report), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_check(db, LIGHTNING_INTEGRITY_LEVEL_BASIC, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_check(NULL, LIGHTNING_INTEGRITY_LEVEL_BASIC, &report), LIGHTNING_INVALID_ARGUMENT);
    CHECK(report == (char *)0x1);

    /* Damage a table file behind the database's back: the check finds it. */
    CHECK(corrupt_a_table(path));
    report = NULL;
    CHECK_RC(lightning_db_check(db, LIGHTNING_INTEGRITY_LEVEL_BASIC, &report), LIGHTNING_INTEGRITY_VALIDATION_FAILED);
    CHECK(report != NULL && !contains(report, "\"problems\": []"));
    CHECK(contains(report, ".sst"));
    lightning_free(report, 0);
    /* The health report's integrity check finds it too, in the open database, and says
     * what to do. */
    char *health = NULL;
    CHECK_OK(lightning_db_health_json(db, &health, NULL));
    CHECK(contains(health, "\"state\": \"critical\""));
    CHECK(contains(health, "\"immediate_action\""));
    CHECK(contains(health, "lightning repair"));
    CHECK(contains(health, ".sst"));
    lightning_free(health, 0);
    lightning_db_close(db);
    report = (char *)0x1;
    CHECK_RC(lightning_db_check(db, LIGHTNING_INTEGRITY_LEVEL_BASIC, &report), LIGHTNING_DATABASE_CLOSED);
    CHECK(report == (char *)0x1);
}

/* What the event callback of test_events heard. Callbacks arrive on the library's threads,
 * so the record is behind a mutex; strings are copied out (they live only during the call). */
struct heard {
    pthread_mutex_t lock;
    int events;
    int bad_json; /* events whose JSON lacked "kind" or whose length was wrong */
    int flushes;
    int replay_progress;
    unsigned long long last_done, last_total;
    bool progress_rising;
    char stages[2048]; /* "stage:phase," for each recovery stage that is not progress */
};

/* Copies the string value of "name": in `json` into `out` (empty when absent). */
static void json_str(const char *json, const char *name, char *out, size_t cap) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":\"", name);
    out[0] = '\0';
    const char *p = strstr(json, needle);
    if (!p) return;
    p += strlen(needle);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The number value of "name": in `json` (0 when absent). */
static unsigned long long json_num(const char *json, const char *name) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", name);
    const char *p = strstr(json, needle);
    return p ? strtoull(p + strlen(needle), NULL, 10) : 0;
}

static void on_event(void *user_data, const char *kind, const char *json, size_t json_len) {
    struct heard *h = user_data;
    char stage[32], phase[32], want[64];
    json_str(json, "stage", stage, sizeof stage);
    json_str(json, "phase", phase, sizeof phase);
    snprintf(want, sizeof want, "\"kind\":\"%s\"", kind);
    pthread_mutex_lock(&h->lock);
    h->events++;
    if (strlen(json) != json_len || json[0] != '{' || !strstr(json, want)) h->bad_json++;
    if (strcmp(kind, "flush_completed") == 0) h->flushes++;
    if (strcmp(kind, "recovery_stage") == 0) {
        if (strcmp(phase, "progress") == 0) {
            unsigned long long done = json_num(json, "done");
            if (strcmp(stage, "log_replay") != 0 || !strstr(json, "\"unit\":\"bytes\"") || done < h->last_done)
                h->progress_rising = false;
            h->replay_progress++;
            h->last_done = done;
            h->last_total = json_num(json, "total");
        } else {
            size_t used = strlen(h->stages);
            snprintf(h->stages + used, sizeof h->stages - used, "%s:%s,", stage, phase);
        }
    }
    pthread_mutex_unlock(&h->lock);
}

static void heard_init(struct heard *h) {
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    h->progress_rising = true;
}

static int heard_events(struct heard *h) {
    pthread_mutex_lock(&h->lock);
    int n = h->events;
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void test_events(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "events");
    lightning_options *o = h_fast_options();
    CHECK_OK(lightning_options_set_write_buffer_size(o, 8u << 20));
    /* Writes left in the log only (closing does not flush): the next open replays them. */
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    char key[32], val[100];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 20000; i++) {
        int kl = snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(lightning_put(db, (const uint8_t *)key, (size_t)kl, (const uint8_t *)val, sizeof val));
    }
    lightning_db_close(db);

    struct heard h;
    heard_init(&h);
    db = NULL;
    CHECK_OK(lightning_db_open_with_events(path, o, on_event, &h, &db));
    CHECK(db != NULL);
    /* Every stage of the open started and finished, in order, before the open returned. */
    CHECK(strcmp(h.stages,
                 "lock:started,lock:finished,manifest:started,manifest:finished,"
                 "log_replay:started,log_replay:finished,flush_recovered:started,"
                 "flush_recovered:finished,verification:started,verification:finished,"
                 "cleanup:started,cleanup:finished,start:started,start:finished,") == 0);
    if (strncmp(h.stages, "lock:started", 12) != 0) fprintf(stderr, "stages heard: %s\n", h.stages);
    /* The log replay reported its progress in bytes, rising to the whole log. */
    CHECK(h.replay_progress >= 10);
    CHECK(h.progress_rising);
    CHECK(h.last_total > 2000000 && h.last_done == h.last_total);
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_get(db, K("key019999"), &v, &vlen));
    CHECK(vlen == sizeof val);
    lightning_free(v, vlen);

    /* A flush returns after its event was delivered. */
    CHECK_OK(lightning_put(db, K("after"), K("open")));
    int flushes_before = h.flushes;
    CHECK_OK(lightning_db_flush(db));
    pthread_mutex_lock(&h.lock);
    CHECK(h.flushes > flushes_before);
    pthread_mutex_unlock(&h.lock);
    CHECK(h.bad_json == 0);

    /* A second handle on the locked directory hears the lock stage fail, then nothing. */
    struct heard locked;
    heard_init(&locked);
    lightning_db *second = NULL;
    CHECK_RC(lightning_db_open_with_events(path, o, on_event, &locked, &second), LIGHTNING_DATABASE_LOCKED);
    CHECK(second == NULL);
    CHECK(strcmp(locked.stages, "lock:started,lock:failed,") == 0);

    /* After close returns, the callback is never called again. */
    lightning_db_close(db);
    int after_close = heard_events(&h);
    CHECK_RC(lightning_db_flush(db), LIGHTNING_DATABASE_CLOSED);
    CHECK(heard_events(&h) == after_close);
    pthread_mutex_destroy(&h.lock);
    pthread_mutex_destroy(&locked.lock);

    /* A NULL callback opens without a listener; NULL user_data is handed back as is. */
    CHECK_OK(lightning_db_open_with_events(path, NULL, NULL, NULL, &db));
    lightning_db_close(db);
    CHECK_RC(lightning_db_open_with_events(NULL, NULL, on_event, NULL, &db), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_with_events(path, NULL, on_event, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    lightning_options_free(o);
}

struct progress_seen {
    int calls;
    double last;
    bool rising;
    bool eta_known;
    int bad;
    int replay_calls;
    char stages[256]; /* each stage once, in the order first heard */
    char last_stage[32];
};

static void progress_init(struct progress_seen *p) {
    memset(p, 0, sizeof *p);
    p->rising = true;
}

static void on_progress(void *user_data, const char *stage, double progress, int64_t eta_ms) {
    struct progress_seen *p = user_data;
    p->calls++;
    if (progress < p->last || progress < 0.0 || progress > 100.0) p->rising = false;
    p->last = progress;
    if (eta_ms < -1) p->bad++;
    if (eta_ms >= 0) p->eta_known = true;
    if (strcmp(stage, "log_replay") == 0) p->replay_calls++;
    if (strcmp(stage, p->last_stage) != 0) {
        size_t used = strlen(p->stages);
        snprintf(p->stages + used, sizeof p->stages - used, "%s,", stage);
        snprintf(p->last_stage, sizeof p->last_stage, "%s", stage);
    }
}

static void test_open_with_progress(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "progress");
    lightning_options *o = h_fast_options();
    CHECK_OK(lightning_options_set_write_buffer_size(o, 8u << 20));
    /* Writes left in the log only (closing does not flush): the next open replays them. */
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));
    char key[32], val[100];
    memset(val, 'p', sizeof val);
    for (int i = 0; i < 20000; i++) {
        int kl = snprintf(key, sizeof key, "key%06d", i);
        CHECK_OK(lightning_put(db, (const uint8_t *)key, (size_t)kl, (const uint8_t *)val, sizeof val));
    }
    lightning_db_close(db);

    struct progress_seen p;
    progress_init(&p);
    db = NULL;
    CHECK_OK(lightning_db_open_with_progress(path, o, on_progress, &p, &db));
    CHECK(db != NULL);
    /* Every stage in order, progress never falling and ending at 100%, the log replay
     * reported as it went, with an estimate of the time left once one was known. */
    CHECK(strcmp(p.stages, "lock,manifest,log_replay,flush_recovered,verification,cleanup,start,") == 0);
    if (strcmp(p.stages, "lock,manifest,log_replay,flush_recovered,verification,cleanup,start,") != 0)
        fprintf(stderr, "stages heard: %s\n", p.stages);
    CHECK(p.rising);
    CHECK(p.last == 100.0);
    CHECK(p.replay_calls >= 10);
    CHECK(p.eta_known);
    CHECK(p.bad == 0);
    uint8_t *v = NULL;
    size_t vlen = 0;
    CHECK_OK(lightning_get(db, K("key019999"), &v, &vlen));
    CHECK(vlen == sizeof val);
    lightning_free(v, vlen);
    /* The final state, as JSON: complete, every stage, the replayed segments. */
    char *state = NULL;
    size_t slen = 0;
    CHECK_OK(lightning_db_recovery_state_json(db, &state, &slen));
    CHECK(state != NULL && strlen(state) == slen);
    CHECK(strstr(state, "\"complete\":true") != NULL);
    CHECK(strstr(state, "\"failed_stages\":[]") != NULL);
    CHECK(strstr(state, "\"verification\"") != NULL);
    CHECK(strstr(state, "\"replayed_segments\":{\"done\":") != NULL);
    lightning_free(state, slen);
    CHECK_RC(lightning_db_recovery_state_json(NULL, &state, NULL), LIGHTNING_INVALID_ARGUMENT);
    int calls = p.calls;

    /* A second open of the locked directory hears the lock stage fail, and returns why. */
    struct progress_seen locked;
    progress_init(&locked);
    lightning_db *second = NULL;
    CHECK_RC(lightning_db_open_with_progress(path, o, on_progress, &locked, &second),
             LIGHTNING_DATABASE_LOCKED);
    CHECK(second == NULL);
    CHECK(locked.calls >= 1);
    CHECK(strcmp(locked.last_stage, "lock") == 0);
    CHECK(locked.last < 100.0);

    /* Once the open returned the callback is never called again. */
    CHECK_OK(lightning_put(db, K("after"), K("open")));
    CHECK_OK(lightning_db_flush(db));
    lightning_db_close(db);
    CHECK(p.calls == calls);

    /* A NULL callback opens as lightning_db_open does; NULL path or out_db are refused. */
    CHECK_OK(lightning_db_open_with_progress(path, NULL, NULL, NULL, &db));
    lightning_db_close(db);
    CHECK_RC(lightning_db_open_with_progress(NULL, NULL, on_progress, &p, &db), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_open_with_progress(path, NULL, on_progress, &p, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK(p.calls == calls);
    lightning_options_free(o);
}

/* Copies the format 1 fixture (core/tests/fixtures/formats/v1/db, written by the release
 * before log format 2; the tests run from the repository root) into `dir`. */
static void copy_v1_fixture(const char *dir) {
    static const char *const names[] = {"000007.sst", "000008.log", "000009.sst", "CURRENT",
                                        "MANIFEST-000002"};
    CHECK(mkdir(dir, 0700) == 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char from[1024], to[2200];
        snprintf(from, sizeof from, "core/tests/fixtures/formats/v1/db/%s", names[i]);
        h_join(to, sizeof to, dir, names[i]);
        FILE *in = fopen(from, "rb");
        FILE *out = fopen(to, "wb");
        CHECK(in != NULL && out != NULL);
        if (!in || !out) {
            if (in) fclose(in);
            if (out) fclose(out);
            return;
        }
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK(fwrite(buf, 1, n, out) == n);
        fclose(in);
        fclose(out);
    }
}

static void test_migrate(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "v1");
    copy_v1_fixture(path);
    uint32_t version = 0;
    CHECK_OK(lightning_detect_version(path, &version));
    CHECK(version == 1);

    /* Refused while open, with the database unchanged. */
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, NULL, &db));
    char *report = NULL;
    size_t report_len = 0;
    CHECK_RC(lightning_migrate(path, "latest", &report, &report_len), LIGHTNING_DATABASE_LOCKED);
    CHECK(report == NULL);
    uint8_t *value = NULL;
    size_t value_len = 0;
    CHECK_OK(lightning_get(db, K("log-059"), &value, &value_len));
    CHECK(value_len == strlen("only in the log 59") && memcmp(value, "only in the log 59", value_len) == 0);
    lightning_free(value, value_len);
    lightning_db_close(db);

    /* A bad target, and NULLs, are refused without touching it. */
    CHECK_RC(lightning_migrate(path, "v9", &report, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_migrate(NULL, "v2", &report, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_migrate(path, "v2", NULL, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_detect_version(path, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_detect_version(NULL, &version), LIGHTNING_INVALID_ARGUMENT);
    CHECK_OK(lightning_detect_version(path, &version));
    CHECK(version == 1);

    CHECK_OK(lightning_migrate(path, NULL, &report, &report_len));
    CHECK(report != NULL && strlen(report) == report_len);
    CHECK(report && strstr(report, "\"from\":1") && strstr(report, "\"to\":2") &&
          strstr(report, "\"bytes_rewritten\":"));
    lightning_free(report, report_len);
    CHECK_OK(lightning_detect_version(path, &version));
    CHECK(version == 2);

    CHECK_OK(lightning_db_open(path, NULL, &db));
    CHECK_OK(lightning_get(db, K("log-059"), &value, &value_len));
    CHECK(value_len == strlen("only in the log 59"));
    lightning_free(value, value_len);
    lightning_db_close(db);

    /* And back to format 1, with the report's length optional. */
    report = NULL;
    CHECK_OK(lightning_migrate(path, "v1", &report, NULL));
    CHECK(report && strstr(report, "\"to\":1"));
    if (report) lightning_free(report, strlen(report));
    CHECK_OK(lightning_detect_version(path, &version));
    CHECK(version == 1);

    char empty[1024];
    h_join(empty, sizeof empty, g_dir, "no-database");
    CHECK(mkdir(empty, 0700) == 0);
    CHECK_RC(lightning_detect_version(empty, &version), LIGHTNING_INVALID_ARGUMENT);
}

/* Encryption turned on, then off, on a closed database: the key decides who opens it. */
static void test_migrate_encryption(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "to-encrypt");
    uint8_t key[32], other[32];
    memset(key, 0x31, sizeof key);
    memset(other, 0x32, sizeof other);
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, NULL, &db));
    CHECK_OK(lightning_put(db, K("flushed"), K("in a table")));
    CHECK_OK(lightning_db_flush(db));
    CHECK_OK(lightning_put(db, K("logged"), K("only in the log")));
    lightning_db_close(db);
    db = NULL;

    char *report = NULL;
    size_t report_len = 0;
    CHECK_RC(lightning_migrate_encrypt(path, key, 31, &report, &report_len), LIGHTNING_INVALID_KEY_MATERIAL);
    CHECK_RC(lightning_migrate_encrypt(path, NULL, 32, &report, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_migrate_encrypt(NULL, key, 32, &report, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_migrate_encrypt(path, key, 32, NULL, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_migrate_decrypt(path, key, 32, &report, &report_len), LIGHTNING_INVALID_ARGUMENT);
    CHECK(report == NULL);

    CHECK_OK(lightning_migrate_encrypt(path, key, sizeof key, &report, &report_len));
    CHECK(report != NULL && strlen(report) == report_len);
    CHECK(report && strstr(report, "\"encrypted_after\":true") && strstr(report, "\"to\":3"));
    lightning_free(report, report_len);
    report = NULL;
    CHECK_RC(lightning_migrate_encrypt(path, key, sizeof key, &report, NULL), LIGHTNING_INVALID_ARGUMENT);

    /* Now it opens with the key only. */
    CHECK_RC(lightning_db_open(path, NULL, &db), LIGHTNING_CONFIGURATION_ERROR);
    lightning_options *opts = NULL;
    CHECK_OK(lightning_options_new(&opts));
    CHECK_OK(lightning_options_set_encryption_key(opts, key, sizeof key));
    CHECK_OK(lightning_db_open(path, opts, &db));
    uint8_t *v = NULL;
    size_t vl = 0;
    CHECK_OK(lightning_get(db, K("logged"), &v, &vl));
    CHECK(vl == strlen("only in the log") && memcmp(v, "only in the log", vl) == 0);
    lightning_free(v, vl);
    lightning_db_close(db);
    db = NULL;

    /* A wrong key changes nothing; the right one decrypts. */
    CHECK_RC(lightning_migrate_decrypt(path, other, sizeof other, &report, NULL), LIGHTNING_WRONG_KEY);
    CHECK(report == NULL);
    CHECK_OK(lightning_migrate_decrypt(path, key, sizeof key, &report, NULL));
    CHECK(report && strstr(report, "\"encrypted_after\":false"));
    if (report) lightning_free(report, strlen(report));
    CHECK_RC(lightning_db_open(path, opts, &db), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_OK(lightning_db_open(path, NULL, &db));
    CHECK_OK(lightning_get(db, K("flushed"), &v, &vl));
    CHECK(vl == strlen("in a table") && memcmp(v, "in a table", vl) == 0);
    lightning_free(v, vl);
    lightning_db_close(db);
    lightning_options_free(opts);
}

/* Reads the whole file at `path` into a new NUL-terminated buffer (free it). */
static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[got] = '\0';
    *len = got;
    return buf;
}

static void test_audit(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "audited");
    lightning_db *db = NULL;
    const char *cfg = "{\"enable_audit_logging\": true, \"security\": {\"audit_level\": \"Standard\"}}";
    for (int i = 0; i < 2; i++) {
        CHECK_OK(lightning_db_open_json(path, cfg, &db));
        CHECK_OK(lightning_put(db, K("k"), K("v")));
        lightning_db_close(db);
    }
    char *report = NULL;
    size_t report_len = 0;
    CHECK_OK(lightning_audit_verify(path, NULL, 0, &report, &report_len));
    CHECK(report && strlen(report) == report_len);
    CHECK(report && strstr(report, "\"intact\":true") && strstr(report, "\"entries\":4") &&
          strstr(report, "\"tampering\":null"));
    if (report) lightning_free(report, report_len);

    /* Bad arguments write no report. */
    report = NULL;
    uint8_t short_key[5] = {0};
    CHECK_RC(lightning_audit_verify(path, short_key, sizeof short_key, &report, NULL),
             LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_audit_verify(NULL, NULL, 0, &report, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_audit_verify(path, NULL, 0, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    char none[1024];
    h_join(none, sizeof none, g_dir, "no-audit-log");
    CHECK_RC(lightning_audit_verify(none, NULL, 0, &report, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK(report == NULL);

    /* Drop the second entry: tampering, named, with the report. */
    char logfile[2100];
    h_join(logfile, sizeof logfile, path, "audit/audit-000001.log");
    size_t len = 0;
    char *text = read_text(logfile, &len);
    CHECK(text != NULL);
    if (text) {
        char *first_end = strchr(text, '\n');
        char *second_end = first_end ? strchr(first_end + 1, '\n') : NULL;
        CHECK(second_end != NULL);
        if (second_end) {
            FILE *f = fopen(logfile, "wb");
            CHECK(f != NULL);
            if (f) {
                fwrite(text, 1, (size_t)(first_end + 1 - text), f);
                fwrite(second_end + 1, 1, len - (size_t)(second_end + 1 - text), f);
                fclose(f);
            }
        }
        free(text);
    }
    CHECK_RC(lightning_audit_verify(path, NULL, 0, &report, &report_len), LIGHTNING_AUDIT_LOG_TAMPERED);
    CHECK(report && strstr(report, "\"intact\":false") && strstr(report, "\"kind\":\"Removed\"") &&
          strstr(report, "\"seq\":2"));
    if (report) lightning_free(report, report_len);
}

/* The database's own circuit breaker, retries and self-healing: the options turn them on,
 * the breaker's state is readable, and the statistics report what they did. */
static void test_reliability(void) {
    char path[1024];
    h_join(path, sizeof path, g_dir, "reliability");
    lightning_options *o = h_fast_options();
    CHECK_OK(lightning_options_set_circuit_breaker(o, 1, 4, 30000));
    CHECK_OK(lightning_options_set_retry_max_attempts(o, 2));
    CHECK_OK(lightning_options_set_self_healing(o, 1));
    char *json = NULL;
    CHECK_OK(lightning_options_to_json(o, &json, NULL));
    CHECK(contains(json, "\"circuit_breaker_enabled\": true"));
    CHECK(contains(json, "\"circuit_breaker_failure_threshold\": 4"));
    CHECK(contains(json, "\"retry_max_attempts\": 2"));
    CHECK(contains(json, "\"self_healing_enabled\": true"));
    lightning_free(json, 0);
    lightning_db *db = NULL;
    CHECK_OK(lightning_db_open(path, o, &db));

    lightning_circuit_state state = LIGHTNING_CIRCUIT_STATE_OPEN;
    uint64_t retry_ms = 99;
    CHECK_OK(lightning_db_circuit_breaker_state(db, &state, &retry_ms));
    CHECK(state == LIGHTNING_CIRCUIT_STATE_CLOSED && retry_ms == 0);
    CHECK_OK(lightning_db_circuit_breaker_state(db, &state, NULL));
    CHECK_RC(lightning_db_circuit_breaker_state(db, NULL, NULL), LIGHTNING_INVALID_ARGUMENT);
    CHECK_RC(lightning_db_circuit_breaker_state(NULL, &state, NULL), LIGHTNING_INVALID_ARGUMENT);

    CHECK_OK(lightning_put(db, K("k"), K("v")));
    CHECK_OK(lightning_db_stats_json(db, &json, NULL));
    CHECK(contains(json, "\"circuit_breaker\": {"));
    CHECK(contains(json, "\"state\": \"closed\""));
    CHECK(contains(json, "\"background_retries\": 0"));
    CHECK(contains(json, "\"self_healing\": {"));
    lightning_free(json, 0);
    CHECK_OK(lightning_db_health_json(db, &json, NULL));
    CHECK(contains(json, "\"self_healing\": []"));
    lightning_free(json, 0);
    lightning_db_close(db);

    /* Without the breaker its state says so; an enabled breaker needs a threshold. */
    CHECK_OK(lightning_options_set_circuit_breaker(o, 0, 0, 30000));
    CHECK_OK(lightning_db_open(path, o, &db));
    CHECK_OK(lightning_db_circuit_breaker_state(db, &state, NULL));
    CHECK(state == LIGHTNING_CIRCUIT_STATE_DISABLED);
    lightning_db_close(db);
    CHECK_OK(lightning_options_set_circuit_breaker(o, 1, 0, 30000));
    CHECK_RC(lightning_options_validate(o), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_OK(lightning_options_set_retry_max_attempts(o, 101));
    CHECK_RC(lightning_options_validate(o), LIGHTNING_CONFIGURATION_ERROR);
    CHECK_RC(lightning_options_set_self_healing(NULL, 1), LIGHTNING_INVALID_ARGUMENT);
    lightning_options_free(o);
}

int main(void) {
    g_dir = h_tempdir("api");
    test_version();
    test_strerror();
    test_options();
    test_open_errors();
    test_kv();
    test_sizes();
    test_default_key_limit();
    test_batch();
    test_txn();
    test_snapshot();
    test_iter();
    test_stale_handles();
    test_free();
    test_get_if_cached();
    test_null_everywhere();
    test_persistence();
    test_encryption();
    test_check();
    test_events();
    test_open_with_progress();
    test_migrate();
    test_migrate_encryption();
    test_audit();
    test_reliability();
    h_rmtree(g_dir);
    free(g_dir);
    return h_finish("test_api");
}
