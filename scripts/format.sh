#!/usr/bin/env bash
# Formats the project's C++ with the project's .clang-format.
# --check: change nothing, list unformatted files, exit 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard \
  '*.cpp' '*.hpp' | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done)
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "needs formatting: $f"; bad=1
    fi
  done
  exit $bad
fi
clang-format --style=file -i "${files[@]}"
