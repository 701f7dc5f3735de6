#!/usr/bin/env bash
# Fuzzes one target with libFuzzer for a while (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh <frame|seestar|http|session> [seconds] [libFuzzer flags]
#
# Builds the clang targets first (tests/fuzz/build.sh) unless
# SCOPEHUB_FUZZ_NO_BUILD is set; SCOPEHUB_FUZZ_BUILD names the build
# directory (default build/fuzz). It replays the checked-in regressions,
# then fuzzes from the checked-in corpus plus a work corpus kept in
# <build>/corpus/<target> (new finds land there, never in the source
# tree). Crashing inputs are written to <build>/artifacts/<target>/.
# Exits non-zero on a crash; the last line gives cov and exec/s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
target="${1:?usage: run.sh <frame|seestar|http|session> [seconds] [flags]}"
secs="${2:-600}"
shift $(($# < 2 ? $# : 2))
bin="${SCOPEHUB_FUZZ_BUILD:-$src/build/fuzz}"
if [ ! -f "$here/fuzz_$target.cpp" ]; then
  echo "run.sh: unknown target '$target'" >&2
  exit 2
fi
if [ -z "${SCOPEHUB_FUZZ_NO_BUILD:-}" ]; then
  "$here/build.sh" "$src" "$bin"
fi
exe="$(find "$bin" -name "fuzz_$target" -type f -perm -u+x | head -n 1)"
if [ -z "$exe" ]; then
  echo "run.sh: fuzz_$target not built in $bin" >&2
  exit 1
fi
work="$bin/corpus/$target"
arts="$bin/artifacts/$target"
mkdir -p "$work" "$arts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ -d "$here/regressions/$target" ] \
   && [ -n "$(ls -A "$here/regressions/$target")" ]; then
  echo "fuzz $target: replaying regressions"
  "$exe" -runs=1 "$here"/regressions/"$target"/* 2>&1 | tail -n 3
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
fi
log="$bin/$target.log"
echo "fuzz $target: ${secs} s, log in $log"
set +e
"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 \
  -dict="$here/$target.dict" -artifact_prefix="$arts/" \
  "$@" "$work" "$here/corpus/$target" >"$log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  tail -n 60 "$log"
  echo "fuzz $target: FAILED (exit $rc); crashing input in $arts/" >&2
  exit $rc
fi
grep -E '^#[0-9]+' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss)' "$log"
echo "fuzz $target: no crash in ${secs} s"
