/* Lightning DB from C: open, put, get, a batch, a transaction, a scan, error handling.
 *
 * Build against the tree (after `cargo build --release`):
 *   cc -std=c11 examples/c/basic.c -Iinclude -Ltarget/release -llightning \
 *      -Wl,-rpath,$PWD/target/release -o basic
 * or, with pkg-config:
 *   PKG_CONFIG_PATH=target/release cc -std=c11 examples/c/basic.c \
 *      $(pkg-config --cflags --libs lightning) -Wl,-rpath,$PWD/target/release -o basic
 * Run: ./basic [DIRECTORY]   (default: a new directory under /tmp) */
#define _DEFAULT_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lightning.h"

/* Prints the failure of `call` with the database's detail, and jumps to cleanup. */
#define TRY(call)                                                                    \
    do {                                                                             \
        int rc_ = (call);                                                            \
        if (rc_ != LIGHTNING_OK) {                                                   \
            char detail_[512];                                                       \
            lightning_last_error(detail_, sizeof detail_, NULL);                     \
            fprintf(stderr, "%s failed: %s (%d)\n  %s\n", #call, lightning_strerror(rc_), rc_, detail_); \
            status = 1;                                                              \
            goto done;                                                               \
        }                                                                            \
    } while (0)

#define BYTES(s) (const uint8_t *)(s), strlen(s)

int main(int argc, char **argv) {
    char tmpl[] = "/tmp/lightning-example-XXXXXX";
    const char *path = argc > 1 ? argv[1] : mkdtemp(tmpl);
    int status = 0;
    lightning_options *opts = NULL;
    lightning_db *db = NULL;
    lightning_batch *batch = NULL;
    lightning_txn *txn = NULL;
    lightning_iter *it = NULL;

    if (lightning_version() != LIGHTNING_VERSION) {
        fprintf(stderr, "header %d.%d.%d does not match the library %s\n", LIGHTNING_VERSION_MAJOR,
                LIGHTNING_VERSION_MINOR, LIGHTNING_VERSION_PATCH, lightning_version_string());
        return 1;
    }
    printf("Lightning DB %s, database in %s\n", lightning_version_string(), path);

    /* Open with options (NULL options would mean the defaults). */
    TRY(lightning_options_new(&opts));
    TRY(lightning_options_set_cache_size(opts, 16u << 20));
    TRY(lightning_options_set_durability(opts, LIGHTNING_DURABILITY_PERIODIC));
    TRY(lightning_options_set_sync_interval_ms(opts, 50)); /* periodic, every 50 ms */
    TRY(lightning_db_open(path, opts, &db));

    /* Put and get (the value is allocated by the library: free it with lightning_free). */
    TRY(lightning_put(db, BYTES("user:1"), BYTES("Ada")));
    uint8_t *value = NULL;
    size_t len = 0;
    TRY(lightning_get(db, BYTES("user:1"), &value, &len));
    printf("user:1 = %.*s\n", (int)len, (const char *)value);
    lightning_free(value, len);

    /* A missing key is an ordinary answer, not an error. */
    if (lightning_get(db, BYTES("user:404"), &value, &len) == LIGHTNING_NOT_FOUND) {
        printf("user:404 is not there\n");
    }

    /* Copy into your own buffer instead; too small reports the needed length. */
    char buf[2];
    int rc = lightning_get_into(db, BYTES("user:1"), (uint8_t *)buf, sizeof buf, &len);
    if (rc == LIGHTNING_BUFFER_TOO_SMALL) printf("user:1 needs %zu bytes\n", len);

    /* A batch: all or nothing. */
    TRY(lightning_batch_new(&batch));
    TRY(lightning_batch_put(batch, BYTES("user:2"), BYTES("Brian")));
    TRY(lightning_batch_put(batch, BYTES("user:3"), BYTES("Claude")));
    TRY(lightning_batch_delete(batch, BYTES("user:1")));
    TRY(lightning_write_batch(db, batch));

    /* A transaction, retried when another writer got there first. */
    for (int attempt = 0; attempt < 5; attempt++) {
        TRY(lightning_txn_begin(db, &txn));
        TRY(lightning_txn_put(txn, BYTES("user:4"), BYTES("Dennis")));
        TRY(lightning_txn_delete(txn, BYTES("user:3")));
        rc = lightning_txn_commit(txn); /* ends the transaction whatever it returns */
        txn = NULL;
        if (rc != LIGHTNING_TRANSACTION_CONFLICT) break;
    }
    TRY(rc);

    /* A prefix scan, in reverse; the pointers are valid until the next call. */
    TRY(lightning_iter_prefix(db, BYTES("user:"), 1, &it));
    const uint8_t *k, *v;
    size_t kl, vl;
    while ((rc = lightning_iter_next(it, &k, &kl, &v, &vl)) == LIGHTNING_OK) {
        printf("  %.*s -> %.*s\n", (int)kl, (const char *)k, (int)vl, (const char *)v);
    }
    if (rc != LIGHTNING_DONE) TRY(rc);

    /* Error handling: an empty key is refused with a code and a detailed message. */
    rc = lightning_put(db, (const uint8_t *)"", 0, BYTES("x"));
    char detail[512];
    lightning_db_last_error(db, detail, sizeof detail, NULL);
    printf("empty key: %s (%s)\n  %s\n", lightning_code_name(rc), lightning_strerror(rc), detail);

done:
    lightning_iter_free(it);
    lightning_txn_free(txn);
    lightning_batch_free(batch);
    lightning_db_close(db);
    lightning_options_free(opts);
    return status;
}
