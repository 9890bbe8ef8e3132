#!/usr/bin/env bash
# Installs the Debian 12 packages ltvstream needs to build, test and run its
# demo. Installs only what is missing, so it is quick on a prepared machine.
# Needs root (or sudo) when something is missing.
set -euo pipefail

PKGS=(build-essential cmake pkg-config
      librdkafka-dev libavro-dev libhiredis-dev libmicrohttpd-dev libcmocka-dev
      libjemalloc-dev # the stage's allocator (CMakeLists.txt, LTV_JEMALLOC)
      libcurl4-openssl-dev libjansson-dev # Schema Registry client (consumer/registry.c)
      redis-server valgrind python3
      yamllint docker-compose python3-yaml # tools/lint_deploy.sh (Compose v1 validates offline)
      clang-14 libclang-rt-14-dev) # libFuzzer and the sanitizer runtimes (tools/fuzz.sh)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
