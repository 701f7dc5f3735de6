#!/usr/bin/env bash
# Configures and builds the libFuzzer targets with clang++ (ASan, UBSan,
# -O1) in their own build directory: the project's CMake with
# SCOPEHUB_FUZZ=ON, building only the fuzz_<target> executables.
#
#   tests/fuzz/build.sh [source-dir] [build-dir]
#
# Defaults: this checkout, <source>/build/fuzz. Incremental when run again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$(cd "$here/../.." && pwd)}"
bin="${2:-$src/build/fuzz}"
targets=(fuzz_frame fuzz_seestar fuzz_http fuzz_session)
start=$(date +%s)
# Configured every time (a few seconds): flag changes here take effect.
# Warnings are not errors: the g++ build already holds the code to
# -Werror, and clang-only warnings in the libraries must not fail CI.
mkdir -p "$bin"
cmake -S "$src" -B "$bin" \
  -DCMAKE_CXX_COMPILER=/usr/bin/clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -fsanitize-ignorelist=$here/ubsan-ignore.txt" \
  -DSCOPEHUB_SANITIZE=ON -DSCOPEHUB_WERROR=OFF -DSCOPEHUB_FUZZ=ON \
  >"$bin/configure.log" 2>&1 || { cat "$bin/configure.log"; exit 1; }
cmake --build "$bin" --target "${targets[@]}" -j2
echo "fuzz: built ${targets[*]} in $bin in $(($(date +%s) - start)) s"
