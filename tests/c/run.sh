#!/usr/bin/env bash
# Builds liblightning (release) and runs the C and C++ tests and examples against it:
#   * every test and example compiled with -Wall -Wextra -Werror (C11 / C++17), linked once
#     with the shared library (rpath) and once with the static one;
#   * run under AddressSanitizer + UndefinedBehaviorSanitizer with leak detection (the Rust
#     library is not instrumented, but LeakSanitizer still sees every allocation it hands
#     out, so a buffer or handle a test forgets to free fails the run);
#   * lightning.h compiled on its own as strict C99 and C++11, and an example built through
#     pkg-config with the generated lightning.pc.
# Prints "C tests: N passed, M failed" last and exits non-zero on any failure.
#
# Usage: tests/c/run.sh            (from anywhere; respects CARGO_TARGET_DIR, CC, CXX)
#        LIGHTNING_VALGRIND=1 tests/c/run.sh   (also run the tests under valgrind)
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
LIBDIR="$TARGET_DIR/release"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"

echo "== building liblightning (cargo build --release -p lightning-ffi)"
if ! cargo build --release -p lightning-ffi; then
    echo "C tests: 0 passed, 1 failed"
    exit 1
fi
for f in liblightning.so liblightning.a lightning.pc; do
    if [ ! -e "$LIBDIR/$f" ]; then
        echo "missing $LIBDIR/$f"
        echo "C tests: 0 passed, 1 failed"
        exit 1
    fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/lightning-ctests-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export TMPDIR="$WORK"

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -O1 -pthread -I"$ROOT/include")
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -g -O1 -pthread -I"$ROOT/include")
SHARED=(-L"$LIBDIR" -llightning -Wl,-rpath,"$LIBDIR")
# What the static library needs besides libc (see `rustc --print native-static-libs`).
STATIC=("$LIBDIR/liblightning.a" -lpthread -ldl -lm)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
failed_names=()

# case NAME COMMAND...: runs one check, counting it.
check() {
    local name="$1"
    shift
    local log="$WORK/$name.log"
    local start=$SECONDS
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        printf '  ok    %-28s %3ss  %s\n' "$name" "$((SECONDS - start))" "$(tail -n 1 "$log")"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        printf '  FAIL  %-28s %3ss\n' "$name" "$((SECONDS - start))"
        sed 's/^/        /' "$log" | tail -n 60
    fi
}

# build_and_run NAME LANG SOURCE ARGS...: compiles SOURCE twice (shared, static) with the
# sanitizers and runs both.
build_and_run() {
    local name="$1" lang="$2" src="$3"
    shift 3
    local compiler flags
    if [ "$lang" = c ]; then compiler="$CC"; flags=("${CFLAGS[@]}"); else compiler="$CXX"; flags=("${CXXFLAGS[@]}"); fi
    local link
    for link in shared static; do
        local exe="$WORK/$name-$link"
        local libs
        if [ "$link" = shared ]; then libs=("${SHARED[@]}"); else libs=("${STATIC[@]}"); fi
        if "$compiler" "${flags[@]}" "${SAN[@]}" "$src" -o "$exe" "${libs[@]}" >"$WORK/$name-$link.build.log" 2>&1; then
            check "$name ($link)" "$exe" "$@"
        else
            failed=$((failed + 1))
            failed_names+=("$name ($link): build")
            echo "  FAIL  $name ($link): does not compile"
            sed 's/^/        /' "$WORK/$name-$link.build.log" | head -n 40
        fi
    done
}

echo "== header checks"
header_c() {
    printf '#include "lightning.h"\nint main(void) { return lightning_version() == LIGHTNING_VERSION ? 0 : 1; }\n' >"$WORK/h.c"
    "$CC" -std=c99 -pedantic -Wall -Wextra -Werror -I"$ROOT/include" "$WORK/h.c" -o "$WORK/h-c" "${SHARED[@]}" && "$WORK/h-c"
}
header_cxx() {
    printf '#include "lightning.h"\n#include "lightning.h"\nint main() { return lightning_version() == LIGHTNING_VERSION ? 0 : 1; }\n' >"$WORK/h.cpp"
    "$CXX" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$ROOT/include" "$WORK/h.cpp" -o "$WORK/h-cpp" "${SHARED[@]}" && "$WORK/h-cpp"
}
pkg_config_build() {
    local flags
    flags="$(PKG_CONFIG_PATH="$LIBDIR" pkg-config --cflags --libs lightning)" || return 1
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    "$CC" -std=c11 -Wall -Wextra -Werror "$ROOT/examples/c/basic.c" $flags -Wl,-rpath,"$LIBDIR" -o "$WORK/basic-pc" &&
        "$WORK/basic-pc" "$WORK/pc-db" >/dev/null && echo "built and ran examples/c/basic.c via pkg-config"
}
exports_match() {
    # Every function the header declares is exported by the library, and nothing else is.
    grep -vE '^[[:space:]]*(\*|/\*)' "$ROOT/include/lightning.h" | grep -oE 'lightning_[a-z0-9_]+\(' |
        tr -d '(' | sort -u >"$WORK/declared.txt"
    nm -D --defined-only "$LIBDIR/liblightning.so" | awk '{print $3}' | sort -u >"$WORK/exported.txt"
    if diff "$WORK/declared.txt" "$WORK/exported.txt"; then
        echo "$(wc -l <"$WORK/declared.txt") functions declared and exported"
    else
        return 1
    fi
}
check "lightning.h as C99" header_c
check "lightning.h as C++11" header_cxx
if command -v nm >/dev/null; then
    check "header = exports" exports_match
fi
if command -v pkg-config >/dev/null; then
    check "pkg-config lightning" pkg_config_build
fi

echo "== tests and examples (ASan + UBSan, shared and static)"
build_and_run test_api c "$ROOT/tests/c/test_api.c"
build_and_run test_threads c "$ROOT/tests/c/test_threads.c"
build_and_run test_fuzz c "$ROOT/tests/c/test_fuzz.c"
build_and_run test_cpp cxx "$ROOT/tests/c/test_cpp.cpp"
build_and_run example_c c "$ROOT/examples/c/basic.c" "$WORK/example-c-db"
build_and_run example_cpp cxx "$ROOT/examples/cpp/basic.cpp" "$WORK/example-cpp-db"

if [ "${LIGHTNING_VALGRIND:-0}" = 1 ] && command -v valgrind >/dev/null; then
    echo "== valgrind (no sanitizers, shared library)"
    for t in test_api test_threads test_cpp; do
        src="$ROOT/tests/c/$t.c"
        comp=("$CC" "${CFLAGS[@]}")
        if [ "$t" = test_cpp ]; then src="$ROOT/tests/c/$t.cpp"; comp=("$CXX" "${CXXFLAGS[@]}"); fi
        if "${comp[@]}" "$src" -o "$WORK/$t-vg" "${SHARED[@]}"; then
            check "$t (valgrind)" valgrind -q --error-exitcode=9 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite "$WORK/$t-vg"
        fi
    done
fi

if [ "$failed" -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "C tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
