#!/usr/bin/env bash
# Profiles the stage with callgrind (instruction counts: repeatable, and
# independent of what else the machine runs). Usage:
#   bench/profile.sh [realistic|worst] [events] [build dir]
# Prints the top functions by inclusive and self cost; the full profile is
# left in /tmp/ltvstream-profile/callgrind.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-realistic}
events=${2:-100000}
build=${3:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin=$build/ltvstream
dir=/tmp/ltvstream-profile
rm -rf "$dir"; mkdir -p "$dir"
cleanup() { kill "$bpid" 2>/dev/null || true; redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$bin" broker -p 16 >"$dir/bootstrap" 2>"$dir/broker.log" &
bpid=$!
for _ in $(seq 100); do [ -s "$dir/bootstrap" ] && break; sleep 0.1; done
bs=$(cat "$dir/bootstrap")
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir "$dir" >/dev/null
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
wc=""; [ "$workload" = worst ] && wc="--worst-case"
days=$(( events / 5500 )); [ "$days" -ge 1 ] || days=1   # the density of 2M events a year
"$bin" gen -b "$bs" --customers 1000000 --events "$events" --days "$days" --bad-rate 0 \
  --schema-dir "$dir" $wc
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$bin" run -b "$bs" \
  -X redis.port="$port" -X schema.dir="$dir" -X run.stop.at.end=true -X log.level=4 \
  -X kafka.consumer.queued.min.messages=10000000 >"$dir/stage.log" 2>&1
callgrind_annotate --inclusive=yes "$dir/callgrind.out" 2>/dev/null | head -45
echo "--- self cost"
callgrind_annotate "$dir/callgrind.out" 2>/dev/null | sed -n '1,40p' | tail -28
