#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing Debian packages,
# builds with -Wall -Wextra -Werror, runs every test (unit and integration),
# lints the deployment files (tools/lint_deploy.sh), then rebuilds with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs them all again,
# runs the unit tests under valgrind, and fuzzes the decoder and the
# configuration parser for a minute (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

echo "== build (warnings are errors)"
cmake -S . -B build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLTV_WERROR=ON >/dev/null
cmake --build build/ci -j"$jobs"
echo "== tests"
(cd build/ci && ctest --output-on-failure -j"$jobs")

echo "== deployment files (Dockerfile, docker-compose.yml, deploy/k8s)"
bash tools/lint_deploy.sh build/ci/ltvstream

echo "== build with ASan + UBSan"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DLTV_WERROR=ON -DLTV_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"
echo "== tests under ASan + UBSan"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

echo "== unit tests under valgrind"
for t in build/ci/tests/test_*; do
  [ -x "$t" ] || continue
  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    "$t" >/dev/null 2>build/ci/valgrind.log || { echo "valgrind: $t"; cat build/ci/valgrind.log; exit 1; }
done
for t in decode conf; do  # the fuzz seeds and regressions, without libFuzzer
  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    build/ci/tests/fuzz/fuzz_replay_$t tests/fuzz/corpus/$t tests/fuzz/regressions/$t \
    >/dev/null 2>build/ci/valgrind.log || { echo "valgrind: fuzz_replay_$t"; cat build/ci/valgrind.log; exit 1; }
done

echo "== fuzzing (clang libFuzzer + ASan + UBSan): regressions, then 40 s + 20 s"
bash tools/fuzz.sh 40 20

echo "== all tests passed in $(( $(date +%s) - start )) s"
