#!/usr/bin/env bash
# Installs the Debian 12 packages scopehub needs, only those missing.
# Idempotent and quiet when everything is present. Needs root or sudo
# only when something must be installed.
set -euo pipefail
pkgs=(cmake g++ make git clang-format pkg-config
      libcaf-dev libboost-dev rapidjson-dev libspdlog-dev libssl-dev
      zlib1g-dev python3 python3-websockets openssl
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'
  then missing+=("$p"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
