// Lightning DB from C++17 with the header-only wrapper lightning.hpp: open, put, get, a
// batch, a transaction, a scan, error handling.
//
// Build against the tree (after `cargo build --release`):
//   c++ -std=c++17 examples/cpp/basic.cpp -Iinclude -Ltarget/release -llightning
//       -Wl,-rpath,$PWD/target/release -o basic_cpp
// or: PKG_CONFIG_PATH=target/release c++ -std=c++17 examples/cpp/basic.cpp
//       $(pkg-config --cflags --libs lightning) -Wl,-rpath,$PWD/target/release -o basic_cpp
// Run: ./basic_cpp [DIRECTORY]   (default: a new directory under /tmp)
#include <cstdlib>
#include <iostream>
#include <string>

#include <unistd.h>

#include "lightning.hpp"

int main(int argc, char **argv) {
    char tmpl[] = "/tmp/lightning-example-cpp-XXXXXX";
    const std::string path = argc > 1 ? argv[1] : mkdtemp(tmpl);
    try {
        std::cout << "Lightning DB " << lightning::version() << ", database in " << path << "\n";
        lightning::Options options;
        options.cache_size(16 << 20).durability(LIGHTNING_DURABILITY_PERIODIC).sync_interval_ms(50);
        auto db = lightning::Database::open(path, options);

        db.put("user:1", "Ada");
        std::cout << "user:1 = " << db.get("user:1").value_or("?") << "\n";
        if (!db.get("user:404")) std::cout << "user:404 is not there\n";

        auto batch = db.batch();
        batch.put("user:2", "Brian").put("user:3", "Claude").remove("user:1");
        db.write(batch);

        for (int attempt = 0;; attempt++) {
            auto txn = db.begin_transaction();
            txn.put("user:4", "Dennis");
            txn.remove("user:3");
            try {
                txn.commit();
                break;
            } catch (const lightning::Error &e) {
                if (e.code() != LIGHTNING_TRANSACTION_CONFLICT || attempt == 4) throw;
            }
        }

        for (auto [key, value] : db.prefix("user:", /*reverse=*/true))
            std::cout << "  " << key << " -> " << value << "\n";

        try {
            db.put("", "x");
        } catch (const lightning::Error &e) {
            std::cout << "empty key: " << e.name() << "\n  " << e.what() << "\n";
        }
    } catch (const lightning::Error &e) {
        std::cerr << "error " << e.code() << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
