#!/usr/bin/env bash
# Measures Redis memory per customer (README "Scaling"): runs the stage
# over a generated stream into a private redis-server and divides the
# growth of used_memory by the customers stored. A measurement, not a timed
# test. Usage:
#   bench/redis_memory.sh [customers (100000)] [days (120)] [build dir (build/release)]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-100000}
days=${2:-120}
build=${3:-build/release}
if [ ! -x "$build/ltvstream" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target ltvstream >/dev/null
fi
bin=$build/ltvstream
dir=$(mktemp -d /tmp/ltvstream-redismem.XXXXXX)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cleanup() {
  kill "$bpid" 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
# 64 partitions: the embedded broker keeps 5 MiB per partition.
"$bin" broker -p 64 >"$dir/bootstrap" 2>"$dir/broker.log" &
bpid=$!
for _ in $(seq 100); do [ -s "$dir/bootstrap" ] && break; sleep 0.1; done
bs=$(cat "$dir/bootstrap")
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$dir" --logfile "$dir/redis.log" >/dev/null
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
info() { redis-cli -p "$port" info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
before=$(info used_memory)

"$bin" gen -b "$bs" --customers "$customers" --days "$days" --framing single-object 2>&1 | tail -1
"$bin" run -b "$bs" -X redis.port="$port" -X run.stop.at.end=true -X metrics.port=0 \
  -X log.level=3 -X run.stats.file="$dir/stats.json"

after=$(info used_memory)
count() { redis-cli -p "$port" --scan --pattern "$1" | wc -l; }
nc=$(count 'ltv:c:*'); nv=$(count 'ltv:v:*'); nr=$(count 'ltv:row:*'); keys=$(redis-cli -p "$port" dbsize)
# Sampled per-key sizes (MEMORY USAGE: the key's own allocation).
avg() {
  redis-cli -p "$port" --scan --pattern "$1" | head -2000 \
    | while read -r k; do redis-cli -p "$port" memory usage "$k"; done \
    | awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }'
}
python3 - "$before" "$after" "$nc" "$nv" "$nr" "$keys" "$(avg 'ltv:c:*')" "$(avg 'ltv:v:*')" \
  "$(cat "$dir/stats.json")" <<'PY'
import json, sys
before, after, nc, nv, nr, keys, cavg, vavg = map(int, sys.argv[1:9])
st = json.loads(sys.argv[9])
d = after - before
print("events consumed %d (applied %d)" % (st["consumed"], st["applied"]))
print("keys %d: %d customers (ltv:c), %d anonymous visitors (ltv:v), %d rows" % (keys, nc, nv, nr))
print("used_memory %.1f MiB -> %.1f MiB: +%.1f MiB" % (before / 2**20, after / 2**20, d / 2**20))
print("per customer (growth / customers): %.0f bytes" % (d / nc))
print("MEMORY USAGE sampled: customer hash %d bytes, visitor hash %d bytes" % (cavg, vavg))
PY
