// Tests of lightning.hpp, the header-only C++17 wrapper, and of using lightning.h from C++
// directly (extern "C", the same handles).
#include "lightning.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ftw.h>
#include <unistd.h>

static long checks = 0, failures = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            checks++;                                                            \
        } else {                                                                 \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

// Runs `body`, which must throw lightning::Error with `code`.
template <typename F>
static void expect_error(int code, F body, const char *what) {
    try {
        body();
        std::fprintf(stderr, "%s: no exception, expected %s\n", what, lightning_code_name(code));
        failures++;
    } catch (const lightning::Error &e) {
        if (e.code() != code) {
            std::fprintf(stderr, "%s: code %d (%s), expected %d\n", what, e.code(), e.what(), code);
            failures++;
        } else {
            checks++;
        }
    }
}

static int rm_entry(const char *path, const struct stat *, int, struct FTW *) { return remove(path); }

int main() {
    char tmpl[] = "/tmp/lightning-cpp-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    if (!dir) return 2;
    const std::string base(dir);

    CHECK(lightning::header_matches_library());
    CHECK(std::string(lightning::version()) == std::to_string(LIGHTNING_VERSION_MAJOR) + "." +
                                                   std::to_string(LIGHTNING_VERSION_MINOR) + "." +
                                                   std::to_string(LIGHTNING_VERSION_PATCH));

    {
        lightning::Options opts;
        opts.durability(LIGHTNING_DURABILITY_NO_SYNC).cache_size(1 << 20).max_key_size(64).compression(true);
        opts.validate();
        CHECK(opts.to_json().find("\"max_key_size\": 64") != std::string::npos);
        CHECK(opts.to_json().find("\"mmap_reads\": true") != std::string::npos);
        opts.mmap_reads(false);
        CHECK(opts.to_json().find("\"mmap_reads\": false") != std::string::npos);
        opts.mmap_reads(true);
        auto db = lightning::Database::open(base + "/db", opts);

        // put / get / contains / remove
        db.put("hello", "world");
        CHECK(db.get("hello") == std::optional<std::string>("world"));
        CHECK(!db.get("missing").has_value());
        CHECK(db.contains("hello"));
        CHECK(!db.contains("missing"));
        std::string binary("a\0b", 3);
        db.put(binary, std::string_view("\0\1\2", 3));
        CHECK(db.get(binary)->size() == 3);
        std::vector<uint8_t> vkey{1, 2, 3};
        db.put(vkey, "");
        CHECK(db.get(vkey) == std::optional<std::string>(""));
        expect_error(LIGHTNING_EMPTY_KEY, [&] { db.put(std::string_view(), "x"); }, "empty key");
        expect_error(LIGHTNING_KEY_TOO_LARGE, [&] { db.put(std::string(65, 'k'), "x"); }, "long key");
        try {
            db.put(std::string(100, 'k'), "x");
        } catch (const lightning::Error &e) {
            CHECK(std::string(e.name()) == "KEY_TOO_LARGE");
            CHECK(std::string(e.what()).find("suggested action") != std::string::npos);
            CHECK(db.last_error().find("KEY_TOO_LARGE") != std::string::npos);
        }
        CHECK(db.remove("hello"));
        CHECK(!db.remove("hello"));

        // get_into
        db.put("k4", "four");
        uint8_t buf[8];
        CHECK(db.get_into("k4", buf, sizeof buf) == std::optional<size_t>(4));
        CHECK(std::memcmp(buf, "four", 4) == 0);
        CHECK(db.get_into("k4", buf, 2) == std::optional<size_t>(4));  // too small: length
        CHECK(!db.get_into("nope", buf, sizeof buf));

        // batch
        auto batch = db.batch();
        batch.put("b1", "1").put("b2", "2").remove("k4");
        CHECK(batch.size() == 3);
        db.write(batch);
        CHECK(db.get("b2") == std::optional<std::string>("2"));
        CHECK(!db.contains("k4"));
        lightning::Batch plain;
        plain.put("b3", "3");
        db.write(plain);
        plain.clear();
        CHECK(plain.size() == 0);

        // transactions: commit, conflict, rollback by destruction
        {
            auto txn = db.begin_transaction();
            txn.put("t1", "v1");
            CHECK(txn.get("t1") == std::optional<std::string>("v1"));
            CHECK(!db.contains("t1"));
            int seen = 0;
            for (auto [k, v] : txn.prefix("t")) {
                CHECK(k == "t1" && v == "v1");
                seen++;
            }
            CHECK(seen == 1);
            txn.commit();
            CHECK(!txn);
        }
        CHECK(db.get("t1") == std::optional<std::string>("v1"));
        {
            auto a = db.begin_transaction();
            auto b = db.begin_transaction();
            a.put("c", "a");
            b.put("c", "b");
            a.commit();
            expect_error(LIGHTNING_TRANSACTION_CONFLICT, [&] { b.commit(); }, "conflict");
        }
        {
            auto t = db.begin_transaction(LIGHTNING_TXN_MODE_PESSIMISTIC, 100);
            t.put("dropped", "x");
        }  // destroyed without commit: rolled back
        CHECK(!db.contains("dropped"));
        {
            auto t = db.begin_transaction();
            t.remove("b1");
            t.rollback();
        }
        CHECK(db.contains("b1"));

        // snapshot
        auto snap = db.snapshot();
        db.put("b1", "changed");
        CHECK(snap.get("b1") == std::optional<std::string>("1"));
        CHECK(snap.sequence() > 0);
        int n = 0;
        for (auto kv : snap.prefix("b")) {
            (void)kv;
            n++;
        }
        CHECK(n == 3);

        // iterators: forward, reverse, ranges
        std::string keys;
        for (auto [k, v] : db.iter()) {
            (void)v;
            keys += std::string(k) + ",";
        }
        CHECK(keys == std::string("\1\2\3,", 4) + std::string("a\0b,", 4) + "b1,b2,b3,c,t1,");
        std::string rev;
        for (auto [k, v] : db.iter(lightning::Range{std::string_view("b1"), std::string_view("c")}, true)) {
            (void)v;
            rev += std::string(k) + ",";
        }
        CHECK(rev == "b3,b2,b1,");
        lightning::Range incl{std::string_view("b2"), std::string_view("c")};
        incl.end_inclusive = true;
        incl.start_exclusive = true;
        auto it = db.iter(incl);
        CHECK(it.next() && it.key() == "b3");
        CHECK(it.next() && it.key() == "c" && it.value() == "a");
        CHECK(!it.next());
        CHECK(!it.next());

        // stats and maintenance
        db.flush();
        db.compact();
        db.sync();
        CHECK(db.stats_json().find("\"puts\"") != std::string::npos);
        bool clean = false;
        CHECK(db.check(LIGHTNING_INTEGRITY_LEVEL_PARANOID, &clean).find("\"problems\": []") != std::string::npos);
        CHECK(clean);

        // move semantics
        lightning::Database moved = std::move(db);
        CHECK(!db);
        CHECK(moved.contains("b2"));

        // The database is shared between threads.
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; t++) {
            threads.emplace_back([&moved, t] {
                for (int i = 0; i < 100; i++) {
                    std::string key = "thr" + std::to_string(t) + "-" + std::to_string(i);
                    moved.put(key, key);
                    if (moved.get(key) != std::optional<std::string>(key)) std::abort();
                }
            });
        }
        for (auto &th : threads) th.join();
        int count = 0;
        for (auto kv : moved.prefix("thr")) {
            (void)kv;
            count++;
        }
        CHECK(count == 400);

        // The C API from C++ directly, on the wrapper's handle.
        uint8_t *v = nullptr;
        size_t vlen = 0;
        CHECK(lightning_get(moved.get(), reinterpret_cast<const uint8_t *>("b2"), 2, &v, &vlen) == LIGHTNING_OK);
        CHECK(vlen == 1 && v[0] == '2');
        lightning_free(v, vlen);

        // Errors opening: locked, bad JSON.
        expect_error(LIGHTNING_DATABASE_LOCKED, [&] { lightning::Database::open(base + "/db"); }, "locked");
        expect_error(LIGHTNING_CONFIGURATION_ERROR, [&] { lightning::Database::open_json(base + "/x", "{bad"); },
                     "bad json");
        expect_error(LIGHTNING_CONFIGURATION_ERROR, [&] { lightning::Options::from_json("{\"nope\": 1}"); },
                     "bad option");
        moved.close();
        CHECK(!moved);
    }
    {
        // Reopen with JSON settings: the data is there.
        auto db = lightning::Database::open_json(base + "/db", "{\"durability\": \"NoSync\"}");
        CHECK(db.get("b3") == std::optional<std::string>("3"));
    }

    {
        // Events through a std::function: the open's recovery stages arrive before open
        // returns, a flush's event before flush() returns.
        std::mutex lock;
        std::vector<std::string> kinds;
        std::string last_json;
        lightning::Options opts;
        opts.durability(LIGHTNING_DURABILITY_NO_SYNC);
        auto db = lightning::Database::open(base + "/events", opts, [&](std::string_view kind, std::string_view json) {
            std::lock_guard<std::mutex> g(lock);
            kinds.emplace_back(kind);
            last_json = std::string(json);
        });
        {
            std::lock_guard<std::mutex> g(lock);
            CHECK(kinds.size() >= 12);
            CHECK(!kinds.empty() && kinds.front() == "recovery_stage");
            CHECK(last_json.find("\"stage\":\"start\"") != std::string::npos);
            CHECK(last_json.find("\"phase\":\"finished\"") != std::string::npos);
        }
        db.put("e", "1");
        db.flush();
        {
            std::lock_guard<std::mutex> g(lock);
            bool flushed = false;
            for (const auto &k : kinds) flushed = flushed || k == "flush_completed";
            CHECK(flushed);
        }
        // Moving keeps the handler with the handle.
        lightning::Database moved = std::move(db);
        moved.put("e", "2");
        moved.flush();
        size_t heard = 0;
        {
            std::lock_guard<std::mutex> g(lock);
            heard = kinds.size();
        }
        moved.close();
        CHECK(kinds.size() == heard);

        // A throwing handler cannot crash the library's threads or the caller.
        std::atomic<int> calls{0};
        auto noisy = lightning::Database::open(base + "/events", &opts, [&](std::string_view, std::string_view) {
            calls++;
            throw std::runtime_error("handler bug");
        });
        noisy.put("e", "3");
        noisy.flush();
        CHECK(noisy.get("e") == std::optional<std::string>("3"));
        CHECK(calls > 12);
        // An empty std::function opens without a listener.
        noisy.close();
        auto quiet = lightning::Database::open(base + "/events", nullptr, lightning::EventHandler());
        CHECK(quiet.get("e") == std::optional<std::string>("3"));
    }

    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    std::printf("test_cpp: %ld checks, %ld failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
