#!/usr/bin/env bash
# Installs the Debian 12 packages scopehub needs, only those missing, and
# the browser test's npm package (tests/browser: playwright-core, which
# drives Debian's chromium; no browser is ever downloaded). Idempotent and
# quiet when everything is present. Needs root or sudo only when something
# must be installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkgs=(cmake g++ make git clang-format pkg-config
      libcaf-dev libboost-dev rapidjson-dev libspdlog-dev libssl-dev
      zlib1g-dev python3 python3-websockets openssl
      clang libclang-rt-14-dev chromium)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'
  then missing+=("$p"); fi
done
# Node.js and npm may come from elsewhere than Debian: ask for Debian's
# only when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
fi
browser="$root/tests/browser"
if [ ! -d "$browser/node_modules/playwright-core" ]; then
  echo "setup: installing the browser test's npm packages" >&2
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  npm_flags=(--prefix "$browser" --no-audit --no-fund --loglevel=error)
  if [ -f "$browser/package-lock.json" ]; then
    npm ci "${npm_flags[@]}" >/dev/null
  else
    npm install "${npm_flags[@]}" >/dev/null
  fi
fi
