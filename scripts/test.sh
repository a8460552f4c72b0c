#!/bin/sh
# test.sh: set up on a fresh Debian 12 machine, then build and run every
# test three times: once with -Werror, once under AddressSanitizer and
# UndefinedBehaviorSanitizer, once under ThreadSanitizer.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh test
jobs=$(nproc)
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANPR_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
(cd build-test && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DANPR_WERROR=ON -DANPR_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
# Once more under ThreadSanitizer: engines shared between threads, the
# back office's request threads. A race fails the run.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANPR_WERROR=ON -DANPR_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs"
# GCC 12's TSan runtime cannot map its shadow memory under the address
# randomisation of some newer kernels: run without it where allowed.
norand=""
if setarch "$(uname -m)" -R true 2>/dev/null; then norand="setarch $(uname -m) -R"; fi
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 $norand ctest --output-on-failure -j"$jobs")
# A short pass of every fuzzer over its seed corpus (longer runs: see
# fuzz/CMakeLists.txt). A crash fails the run.
CC=clang cmake -S . -B build-fuzz -DANPR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
passed=0
for src in fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    cmake --build build-fuzz -j"$jobs" --target "$name" >/dev/null
    work=$(mktemp -d)
    cp fuzz/corpus/"${name#fuzz_}"/* "$work"/
    build-fuzz/fuzz/"$name" -max_total_time=30 -max_len=16384 "$work" 2>build-fuzz/"$name".log ||
        { tail -40 build-fuzz/"$name".log; echo "$name: crashed (inputs in $work)"; exit 1; }
    rm -rf "$work"
    passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
