#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) in
# build/fuzz, replays every regression input, then fuzzes each target for
# a while starting from the seeds in tests/fuzz/corpus/. A crash, a
# sanitizer report, a leak or a timeout fails the script.
#
#   bash tools/fuzz.sh                 # what CI runs: decode 40 s, conf 20 s
#   bash tools/fuzz.sh 3600 1800       # a longer session (seconds per target)
#   FUZZ_FLAGS="-jobs=2 -workers=2 -max_len=65536" bash tools/fuzz.sh 3600 0
#
# New interesting inputs go to build/fuzz/corpus/<target>/ (kept between
# runs, so sessions build on each other), crashes to build/fuzz/artifacts/.
# A target given 0 seconds only has its regressions replayed.
set -euo pipefail
cd "$(dirname "$0")/.."

decode_secs=${1:-40}
conf_secs=${2:-20}
CC_FUZZ=${CC_FUZZ:-clang-14}
jobs=$(nproc 2>/dev/null || echo 2)
B=build/fuzz

start=$(date +%s)
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC_FUZZ" -DLTV_FUZZ=ON -DLTV_WERROR=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"$jobs" --target fuzz_decode fuzz_conf
echo "fuzz targets built in $(( $(date +%s) - start )) s"
mkdir -p "$B/artifacts"

fail() {
  echo "fuzz_$1 failed; the last lines of $2:"
  tail -n 60 "$2"
  echo "To keep a crashing input as a regression: copy it (build/fuzz/artifacts/) to"
  echo "tests/fuzz/regressions/$1/<what-it-does>, fix the code, and run this again."
  exit 1
}

for t in decode conf; do
  bin=$B/tests/fuzz/fuzz_$t
  log=$B/$t.log
  # Regressions: each file run once, in full (no -max_len cut).
  mapfile -t regs < <(find "tests/fuzz/regressions/$t" -type f ! -name '.*' | sort)
  if [ ${#regs[@]} -gt 0 ]; then
    "$bin" "${regs[@]}" >"$log" 2>&1 || fail "$t" "$log"
    echo "fuzz_$t: ${#regs[@]} regression inputs replayed"
  fi
  secs=$decode_secs
  [ "$t" = conf ] && secs=$conf_secs
  [ "$secs" -gt 0 ] || continue
  mkdir -p "$B/corpus/$t"
  # Seeds are read from the repository and not written to: new inputs go
  # to the scratch corpus, listed first.
  # shellcheck disable=SC2086
  (cd "$B/artifacts" && "../tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
     -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 ${FUZZ_FLAGS:-} \
     "../corpus/$t" "../../../tests/fuzz/corpus/$t") >"$log" 2>&1 || fail "$t" "$log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  echo "fuzz_$t: ${runs:-?} inputs in $secs s, $cov, no crash"
done
echo "fuzzing done in $(( $(date +%s) - start )) s"
