#!/usr/bin/env bash
# The demo, end to end: installs missing Debian packages, builds, and runs
# `ltvstream demo` (embedded broker, private redis-server on a free port,
# generated events, the stage, the metrics). Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec ./build/release/ltvstream demo "$@"
