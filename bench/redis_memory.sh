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
# Customers live as fields of 256 bucket hashes (ltv:cs:<n>): "c:<id>" a
# customer, "v:<id>" an anonymous visitor.
fields() { for b in $(seq 0 255); do redis-cli -p "$port" hkeys "ltv:cs:$b"; done; }
nc=$(fields | grep -c '^c:' || true); nv=$(fields | grep -c '^v:' || true)
nr=$(redis-cli -p "$port" --scan --pattern 'ltv:row:*' | wc -l); keys=$(redis-cli -p "$port" dbsize)
# Sizes of the stored values themselves (bytes of the compact encoding).
vlen() {
  for b in $(seq 0 7); do
    redis-cli -p "$port" hkeys "ltv:cs:$b" | grep "^$1" | head -250 \
      | while read -r f; do redis-cli -p "$port" hstrlen "ltv:cs:$b" "$f"; done
  done | awk '{ s += $1; n++ } END { printf "%.0f", n ? s / n : 0 }'
}
python3 - "$before" "$after" "$nc" "$nv" "$nr" "$keys" "$(vlen c:)" "$(vlen v:)" \
  "$(cat "$dir/stats.json")" <<'PY'
import json, sys
before, after, nc, nv, nr, keys, cavg, vavg = map(int, sys.argv[1:9])
st = json.loads(sys.argv[9])
d = after - before
print("events consumed %d (applied %d)" % (st["consumed"], st["applied"]))
print("keys %d: %d customers and %d anonymous visitors (fields of ltv:cs:*), %d rows"
      % (keys, nc, nv, nr))
print("used_memory %.1f MiB -> %.1f MiB: +%.1f MiB" % (before / 2**20, after / 2**20, d / 2**20))
print("per customer or visitor (growth / entries): %.0f bytes" % (d / (nc + nv)))
print("stored value, average (HSTRLEN, sampled): customer %d bytes, visitor %d bytes" % (cavg, vavg))
PY
