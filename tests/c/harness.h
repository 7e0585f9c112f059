/* A tiny test harness for the C tests of liblightning: CHECK macros that count, print the
 * library's last error on a wrong status, temporary directories, and a summary line. */
#ifndef LIGHTNING_TEST_HARNESS_H
#define LIGHTNING_TEST_HARNESS_H

#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE 1

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lightning.h"

static long h_checks = 0;
static long h_failures = 0;

static inline void h_fail_line(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    h_failures++;
}

#define CHECK(cond)                                   \
    do {                                              \
        if (cond) {                                   \
            h_checks++;                               \
        } else {                                      \
            h_fail_line(__FILE__, __LINE__, #cond);   \
        }                                             \
    } while (0)

/* Checks that `expr` returns status `want`; on a mismatch prints both codes and the
 * thread's last error. */
#define CHECK_RC(expr, want)                                                              \
    do {                                                                                  \
        int h_rc_ = (expr);                                                               \
        int h_want_ = (want);                                                             \
        if (h_rc_ == h_want_) {                                                           \
            h_checks++;                                                                   \
        } else {                                                                          \
            char h_buf_[1024];                                                            \
            lightning_last_error(h_buf_, sizeof h_buf_, NULL);                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n  last error: %s\n", \
                    __FILE__, __LINE__, #expr, h_rc_, lightning_code_name(h_rc_), h_want_, \
                    lightning_code_name(h_want_), h_buf_);                                \
            h_failures++;                                                                 \
        }                                                                                 \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, LIGHTNING_OK)

/* Byte-string helpers: K("abc") expands to a pointer and a length. */
#define K(s) (const uint8_t *)(s), (sizeof(s) - 1)

static inline int h_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree. */
static inline void h_rmtree(const char *path) { nftw(path, h_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Makes a fresh temporary directory; the caller frees the string and removes the tree. */
static inline char *h_tempdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/lightning-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        exit(2);
    }
    char *copy = malloc(strlen(dir) + 1);
    if (!copy) exit(2);
    strcpy(copy, dir);
    return copy;
}

/* A path under `dir`, in a static buffer per call site (copy it if kept). */
static inline void h_join(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Prints the summary and returns the process exit status. */
static inline int h_finish(const char *name) {
    printf("%s: %ld checks, %ld failed\n", name, h_checks, h_failures);
    return h_failures == 0 ? 0 : 1;
}

/* Options for fast tests: no syncs. The caller frees them. */
static inline lightning_options *h_fast_options(void) {
    lightning_options *o = NULL;
    if (lightning_options_new(&o) != LIGHTNING_OK) exit(2);
    if (lightning_options_set_durability(o, LIGHTNING_DURABILITY_NO_SYNC) != LIGHTNING_OK) exit(2);
    if (lightning_options_set_cache_size(o, 1u << 20) != LIGHTNING_OK) exit(2);
    if (lightning_options_set_write_buffer_size(o, 256u * 1024u) != LIGHTNING_OK) exit(2);
    return o;
}

#endif
