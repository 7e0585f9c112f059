// lightning.hpp: a small header-only C++17 wrapper over the C API of Lightning DB
// (lightning.h). RAII handles, string_view / byte-span inputs, and exceptions carrying the
// status code. It adds no behaviour of its own: every method is one C call (plus the copy of
// a returned buffer and its lightning_free), and the C header's documentation applies.
//
//     #include "lightning.hpp"
//     auto db = lightning::Database::open("/tmp/demo");
//     db.put("hello", "world");
//     if (auto v = db.get("hello")) std::cout << *v << "\n";
//     for (auto [key, value] : db.prefix("he")) std::cout << key << " = " << value << "\n";
//
// Errors: a failing call throws lightning::Error, whose code() is the LIGHTNING_* status and
// whose what() is the library's detail (function, code, cause, suggested action). A missing
// key is not an error: get() returns std::nullopt and remove() returns false.
//
// Thread-safety is the C API's: a Database and a Snapshot may be shared between threads;
// Options, Batch, Transaction and Iterator are used by one thread at a time.
//
// Events: Database::open(path, options, handler) calls handler(kind, json) for each of the
// engine's events (flushes, compactions, errors, corruption, recovery stages, write stalls),
// on the library's threads; see lightning_event_fn in lightning.h.
#ifndef LIGHTNING_HPP
#define LIGHTNING_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lightning.h"

namespace lightning {

/// A failed call: code() is the LIGHTNING_* status, what() the library's detail.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &detail) : std::runtime_error(detail), code_(code) {}

    /// The LIGHTNING_* status code.
    int code() const noexcept { return code_; }

    /// The code's name without the prefix, such as "TRANSACTION_CONFLICT".
    const char *name() const noexcept { return lightning_code_name(code_); }

private:
    int code_;
};

namespace detail {

/// The calling thread's last failure detail (the C API records it for every failing call).
inline std::string last_error_text() {
    size_t len = 0;
    lightning_last_error(nullptr, 0, &len);
    std::string text(len + 1, '\0');
    lightning_last_error(text.data(), text.size(), &len);
    text.resize(len);
    return text;
}

/// Throws for any status other than the ones the caller accepts.
inline int check(int rc, int also_ok = LIGHTNING_OK) {
    if (rc != LIGHTNING_OK && rc != also_ok) {
        std::string text = last_error_text();
        if (text.empty()) text = lightning_strerror(rc);
        throw Error(rc, text);
    }
    return rc;
}

/// Takes a library-allocated buffer: copies it and gives it back with lightning_free.
inline std::string take(void *p, size_t len) {
    std::string out(static_cast<const char *>(p), len);
    lightning_free(p, len);
    return out;
}

}  // namespace detail

/// A read-only view of bytes: built from a string_view, a std::string, a C string, a byte
/// vector or a pointer and a length (std::span-style, for C++17).
class Bytes {
public:
    Bytes(std::string_view s) noexcept : data_(ptr(s.data())), size_(s.size()) {}
    Bytes(const std::string &s) noexcept : data_(ptr(s.data())), size_(s.size()) {}
    Bytes(const char *s) : Bytes(std::string_view(s)) {}
    Bytes(const std::vector<uint8_t> &v) noexcept : data_(ptr(v.data())), size_(v.size()) {}
    Bytes(const uint8_t *p, size_t n) noexcept : data_(ptr(p)), size_(n) {}

    const uint8_t *data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }

private:
    // An empty view may have no data pointer; the C API wants a non-NULL one.
    static const uint8_t *ptr(const void *p) noexcept {
        static const uint8_t empty = 0;
        return p ? static_cast<const uint8_t *>(p) : &empty;
    }
    const uint8_t *data_;
    size_t size_;
};

/// A key range: [start, end) by default; std::nullopt for an open end.
struct Range {
    std::optional<std::string_view> start;
    std::optional<std::string_view> end;
    bool start_exclusive = false;
    bool end_inclusive = false;

    lightning_range c() const noexcept {
        lightning_range r{};
        if (start) {
            r.start = Bytes(*start).data();
            r.start_len = start->size();
        }
        if (end) {
            r.end = Bytes(*end).data();
            r.end_len = end->size();
        }
        r.start_exclusive = start_exclusive ? 1 : 0;
        r.end_inclusive = end_inclusive ? 1 : 0;
        return r;
    }
};

/// Owns one C handle and releases it with `Free` (move-only).
template <typename T, void (*Free)(T *)>
class Handle {
public:
    Handle() noexcept = default;
    explicit Handle(T *h) noexcept : h_(h) {}
    Handle(Handle &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) reset(std::exchange(o.h_, nullptr));
        return *this;
    }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    ~Handle() { reset(); }

    /// The C handle, for calls this wrapper does not cover.
    T *get() const noexcept { return h_; }
    T *release() noexcept { return std::exchange(h_, nullptr); }
    void reset(T *h = nullptr) noexcept {
        if (h_) Free(h_);
        h_ = h;
    }
    explicit operator bool() const noexcept { return h_ != nullptr; }

private:
    T *h_ = nullptr;
};

/// Settings for Database::open (lightning_options).
class Options : public Handle<lightning_options, lightning_options_free> {
public:
    Options() {
        lightning_options *o = nullptr;
        detail::check(lightning_options_new(&o));
        reset(o);
    }
    static Options from_json(const std::string &json) {
        lightning_options *o = nullptr;
        detail::check(lightning_options_from_json(json.c_str(), &o));
        return Options(o);
    }
    Options &cache_size(uint64_t bytes) { return set(lightning_options_set_cache_size(get(), bytes)); }
    Options &write_buffer_size(size_t bytes) { return set(lightning_options_set_write_buffer_size(get(), bytes)); }
    Options &max_key_size(size_t bytes) { return set(lightning_options_set_max_key_size(get(), bytes)); }
    Options &max_value_size(size_t bytes) { return set(lightning_options_set_max_value_size(get(), bytes)); }
    Options &compression(bool on) { return set(lightning_options_set_compression(get(), on ? 1 : 0)); }
    Options &mmap_reads(bool on) { return set(lightning_options_set_mmap_reads(get(), on ? 1 : 0)); }
    Options &durability(lightning_durability mode) { return set(lightning_options_set_durability(get(), mode)); }
    Options &sync_interval_ms(uint64_t ms) { return set(lightning_options_set_sync_interval_ms(get(), ms)); }
    Options &checksum_algorithm(lightning_checksum_algorithm a) {
        return set(lightning_options_set_checksum_algorithm(get(), a));
    }
    Options &integrity_level(lightning_integrity_level l) {
        return set(lightning_options_set_integrity_level(get(), l));
    }
    Options &block_size(size_t bytes) { return set(lightning_options_set_block_size(get(), bytes)); }
    Options &bloom_bits_per_key(uint32_t bits) { return set(lightning_options_set_bloom_bits_per_key(get(), bits)); }
    Options &memtable_index_min_versions(size_t versions) { return set(lightning_options_set_memtable_index_min_versions(get(), versions)); }
    Options &fail_on_corruption(bool on) { return set(lightning_options_set_fail_on_corruption(get(), on ? 1 : 0)); }
    Options &statistics(bool on) { return set(lightning_options_set_statistics(get(), on ? 1 : 0)); }
    void validate() const { detail::check(lightning_options_validate(get())); }
    std::string to_json() const {
        char *json = nullptr;
        size_t len = 0;
        detail::check(lightning_options_to_json(get(), &json, &len));
        return detail::take(json, len);
    }

private:
    explicit Options(lightning_options *o) noexcept : Handle(o) {}
    Options &set(int rc) {
        detail::check(rc);
        return *this;
    }
};

/// An ordered scan (lightning_iter). Use next() / key() / value(), or a range-for loop over
/// (key, value) pairs of string_views that stay valid until the next step.
class Iterator : public Handle<lightning_iter, lightning_iter_free> {
public:
    explicit Iterator(lightning_iter *it) noexcept : Handle(it) {}

    /// Advances; false at the end.
    bool next() {
        const uint8_t *k = nullptr, *v = nullptr;
        size_t kl = 0, vl = 0;
        int rc = detail::check(lightning_iter_next(get(), &k, &kl, &v, &vl), LIGHTNING_DONE);
        if (rc == LIGHTNING_DONE) return false;
        key_ = std::string_view(reinterpret_cast<const char *>(k), kl);
        value_ = std::string_view(reinterpret_cast<const char *>(v), vl);
        return true;
    }
    std::string_view key() const noexcept { return key_; }
    std::string_view value() const noexcept { return value_; }

    using Entry = std::pair<std::string_view, std::string_view>;

    /// Input iterator for range-for.
    class Cursor {
    public:
        Cursor(Iterator *it) : it_(it) { advance(); }
        Entry operator*() const { return {it_->key(), it_->value()}; }
        Cursor &operator++() {
            advance();
            return *this;
        }
        bool operator!=(const Cursor &o) const noexcept { return it_ != o.it_; }

    private:
        void advance() {
            if (it_ && !it_->next()) it_ = nullptr;
        }
        Iterator *it_;
    };
    Cursor begin() { return Cursor(this); }
    Cursor end() { return Cursor(nullptr); }

private:
    std::string_view key_, value_;
};

/// A write batch (lightning_batch), applied atomically by Database::write.
class Batch : public Handle<lightning_batch, lightning_batch_free> {
public:
    Batch() {
        lightning_batch *b = nullptr;
        detail::check(lightning_batch_new(&b));
        reset(b);
    }
    explicit Batch(lightning_batch *b) noexcept : Handle(b) {}
    Batch &put(Bytes key, Bytes value) {
        detail::check(lightning_batch_put(get(), key.data(), key.size(), value.data(), value.size()));
        return *this;
    }
    Batch &remove(Bytes key) {
        detail::check(lightning_batch_delete(get(), key.data(), key.size()));
        return *this;
    }
    void clear() { detail::check(lightning_batch_clear(get())); }
    size_t size() const {
        size_t n = 0;
        detail::check(lightning_batch_count(get(), &n));
        return n;
    }
};

/// A transaction (lightning_txn). Destroying one that was not committed rolls it back.
class Transaction : public Handle<lightning_txn, lightning_txn_free> {
public:
    explicit Transaction(lightning_txn *t) noexcept : Handle(t) {}
    std::optional<std::string> get(Bytes key) {
        uint8_t *v = nullptr;
        size_t len = 0;
        if (detail::check(lightning_txn_get(get(), key.data(), key.size(), &v, &len), LIGHTNING_NOT_FOUND) ==
            LIGHTNING_NOT_FOUND)
            return std::nullopt;
        return detail::take(v, len);
    }
    void put(Bytes key, Bytes value) {
        detail::check(lightning_txn_put(get(), key.data(), key.size(), value.data(), value.size()));
    }
    void remove(Bytes key) { detail::check(lightning_txn_delete(get(), key.data(), key.size())); }
    Iterator iter(const Range &range = {}, bool reverse = false) {
        lightning_range r = range.c();
        lightning_iter *it = nullptr;
        detail::check(lightning_txn_iter_new(get(), &r, reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    Iterator prefix(Bytes p, bool reverse = false) {
        lightning_iter *it = nullptr;
        detail::check(lightning_txn_iter_prefix(get(), p.data(), p.size(), reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    /// Commits; throws Error (TRANSACTION_CONFLICT: retry the whole transaction). The
    /// transaction is over either way.
    void commit() { detail::check(lightning_txn_commit(release())); }
    void rollback() { detail::check(lightning_txn_rollback(release())); }
    // Handle::get() names the C handle; the Transaction::get above looks a key up.
    using Handle::get;
};

/// A consistent read-only view (lightning_snapshot); may be shared between threads.
class Snapshot : public Handle<lightning_snapshot, lightning_snapshot_free> {
public:
    explicit Snapshot(lightning_snapshot *s) noexcept : Handle(s) {}
    std::optional<std::string> get(Bytes key) const {
        uint8_t *v = nullptr;
        size_t len = 0;
        if (detail::check(lightning_snapshot_get(get(), key.data(), key.size(), &v, &len),
                          LIGHTNING_NOT_FOUND) == LIGHTNING_NOT_FOUND)
            return std::nullopt;
        return detail::take(v, len);
    }
    uint64_t sequence() const {
        uint64_t seq = 0;
        detail::check(lightning_snapshot_sequence(get(), &seq));
        return seq;
    }
    Iterator iter(const Range &range = {}, bool reverse = false) const {
        lightning_range r = range.c();
        lightning_iter *it = nullptr;
        detail::check(lightning_snapshot_iter_new(get(), &r, reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    Iterator prefix(Bytes p, bool reverse = false) const {
        lightning_iter *it = nullptr;
        detail::check(lightning_snapshot_iter_prefix(get(), p.data(), p.size(), reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    using Handle::get;
};

/// Receives the engine's events: `kind` ("flush_completed", "recovery_stage", ...) and the
/// event as a JSON object, both valid only during the call (see lightning_event_fn). Called
/// on the library's threads, so it must be thread-safe; an exception it throws is caught and
/// dropped (it cannot cross the C API).
using EventHandler = std::function<void(std::string_view kind, std::string_view json)>;

/// An open database (lightning_db); may be shared between threads. Closed on destruction.
class Database : public Handle<lightning_db, lightning_db_close> {
public:
    /// Opens (creating) the database in `path`; `options` may be null for the defaults.
    static Database open(const std::string &path, const Options *options = nullptr) {
        lightning_db *db = nullptr;
        detail::check(lightning_db_open(path.c_str(), options ? options->get() : nullptr, &db));
        return Database(db);
    }
    static Database open(const std::string &path, const Options &options) { return open(path, &options); }
    /// Opens with `on_event` hearing the engine's events, starting with this open's recovery
    /// stages (delivered before open returns). The handler lives as long as the database:
    /// it is released after close(), and never called after it.
    static Database open(const std::string &path, const Options *options, EventHandler on_event) {
        auto handler = std::make_unique<EventHandler>(std::move(on_event));
        lightning_db *db = nullptr;
        detail::check(lightning_db_open_with_events(path.c_str(), options ? options->get() : nullptr,
                                                    *handler ? &Database::deliver : nullptr, handler.get(), &db));
        Database out(db);
        out.on_event_ = std::move(handler);
        return out;
    }
    static Database open(const std::string &path, const Options &options, EventHandler on_event) {
        return open(path, &options, std::move(on_event));
    }

    Database(Database &&) noexcept = default;
    Database &operator=(Database &&o) noexcept {
        if (this != &o) {
            reset(o.release());  // closes this database before its handler goes
            on_event_ = std::move(o.on_event_);
        }
        return *this;
    }
    ~Database() { reset(); }  // closes before on_event_ is destroyed
    /// Opens with settings as JSON ("{}" for the defaults).
    static Database open_json(const std::string &path, const std::string &config_json) {
        lightning_db *db = nullptr;
        detail::check(lightning_db_open_json(path.c_str(), config_json.c_str(), &db));
        return Database(db);
    }

    void put(Bytes key, Bytes value) {
        detail::check(lightning_put(get(), key.data(), key.size(), value.data(), value.size()));
    }
    /// The value, or std::nullopt when the key is missing.
    std::optional<std::string> get(Bytes key) {
        uint8_t *v = nullptr;
        size_t len = 0;
        if (detail::check(lightning_get(get(), key.data(), key.size(), &v, &len), LIGHTNING_NOT_FOUND) ==
            LIGHTNING_NOT_FOUND)
            return std::nullopt;
        return detail::take(v, len);
    }
    /// Copies the value into `buf` (no allocation): std::nullopt when missing, else its
    /// length, which is larger than `cap` when the buffer was too small (and left untouched).
    std::optional<size_t> get_into(Bytes key, uint8_t *buf, size_t cap) {
        size_t len = 0;
        int rc = lightning_get_into(get(), key.data(), key.size(), buf, cap, &len);
        if (rc == LIGHTNING_NOT_FOUND) return std::nullopt;
        detail::check(rc, LIGHTNING_BUFFER_TOO_SMALL);
        return len;
    }
    bool contains(Bytes key) {
        return detail::check(lightning_exists(get(), key.data(), key.size()), LIGHTNING_NOT_FOUND) ==
               LIGHTNING_OK;
    }
    /// Deletes the key; true when it held a value.
    bool remove(Bytes key) {
        return detail::check(lightning_delete(get(), key.data(), key.size()), LIGHTNING_NOT_FOUND) ==
               LIGHTNING_OK;
    }
    /// A batch checking sizes against this database's limits.
    Batch batch() {
        lightning_batch *b = nullptr;
        detail::check(lightning_db_batch_new(get(), &b));
        return Batch(b);
    }
    void write(const Batch &batch) { detail::check(lightning_write_batch(get(), batch.get())); }
    Transaction begin_transaction() {
        lightning_txn *t = nullptr;
        detail::check(lightning_txn_begin(get(), &t));
        return Transaction(t);
    }
    Transaction begin_transaction(lightning_txn_mode mode, uint64_t lock_timeout_ms) {
        lightning_txn *t = nullptr;
        detail::check(lightning_txn_begin_with(get(), mode, lock_timeout_ms, &t));
        return Transaction(t);
    }
    Snapshot snapshot() {
        lightning_snapshot *s = nullptr;
        detail::check(lightning_snapshot_new(get(), &s));
        return Snapshot(s);
    }
    Iterator iter(const Range &range = {}, bool reverse = false) {
        lightning_range r = range.c();
        lightning_iter *it = nullptr;
        detail::check(lightning_iter_new(get(), &r, reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    Iterator prefix(Bytes p, bool reverse = false) {
        lightning_iter *it = nullptr;
        detail::check(lightning_iter_prefix(get(), p.data(), p.size(), reverse ? 1 : 0, &it));
        return Iterator(it);
    }
    void flush() { detail::check(lightning_db_flush(get())); }
    void compact() { detail::check(lightning_db_compact(get())); }
    void sync() { detail::check(lightning_db_sync(get())); }
    std::string stats_json() {
        char *json = nullptr;
        size_t len = 0;
        detail::check(lightning_db_stats_json(get(), &json, &len));
        return detail::take(json, len);
    }
    /// Checks the database's files at `level` and returns the JSON report; `clean`, when
    /// given, receives whether no problem was found (problems are listed, not thrown).
    std::string check(lightning_integrity_level level, bool *clean = nullptr) {
        char *report = nullptr;
        int rc = detail::check(lightning_db_check(get(), level, &report), LIGHTNING_INTEGRITY_VALIDATION_FAILED);
        if (clean) *clean = rc == LIGHTNING_OK;
        return detail::take(report, std::strlen(report));
    }
    /// The detail of the last failure on this handle (empty when none).
    std::string last_error() const {
        size_t len = 0;
        lightning_db_last_error(get(), nullptr, 0, &len);
        std::string text(len + 1, '\0');
        detail::check(lightning_db_last_error(get(), text.data(), text.size(), &len), LIGHTNING_BUFFER_TOO_SMALL);
        text.resize(len < text.size() ? len : text.size() - 1);
        return text;
    }
    /// Closes now (the destructor would otherwise).
    void close() noexcept {
        reset();
        on_event_.reset();
    }
    using Handle::get;

private:
    explicit Database(lightning_db *db) noexcept : Handle(db) {}
    static void deliver(void *handler, const char *kind, const char *json, size_t json_len) noexcept {
        try {
            (*static_cast<EventHandler *>(handler))(std::string_view(kind), std::string_view(json, json_len));
        } catch (...) {
            // Nothing may unwind into the library's threads.
        }
    }
    std::unique_ptr<EventHandler> on_event_;
};

/// The library's version ("0.1.0") and whether it matches this header.
inline const char *version() noexcept { return lightning_version_string(); }
inline bool header_matches_library() noexcept { return lightning_version() == LIGHTNING_VERSION; }

}  // namespace lightning

#endif  // LIGHTNING_HPP
