#!/usr/bin/env bash
# A/B of two venice-batch binaries with the default config (durable writes, fan-out) against nginx
# serving the canned Venice-style answer over TLS (bench/nginx_canned.sh), out dirs on the disk a
# user writes to (DISK_DIR, default build-bench/), alternating OLD NEW ROUNDS times; sync and (as
# root) the page cache dropped before each run. Prints images/s, user and sys CPU, and the file
# syscalls per image of each run (perf stat tracepoints, when perf can read them).
#   bench/ab_disk_nginx.sh OLD_BINARY NEW_BINARY [ROUNDS]      (N=2000 CONC=16 DISK_DIR=build-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-4}
N=${N:-2000} CONC=${CONC:-16} DISK_DIR=${DISK_DIR:-build-bench} MOCK=${MOCK:-build-bench/venice-mock}
work=$(mktemp -d /tmp/venice-ab-XXXXXX)
disk_root=$(mktemp -d "$DISK_DIR/ab-out-XXXXXX")
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work" "$disk_root"
}
trap cleanup EXIT
chmod 0755 "$work"
mkdir "$work/nginx" "$work/canned"
timeout 300 python3 bench/make_canned_response.py "$MOCK" "$work/canned/generate.json"
chmod 0644 "$work/canned/generate.json"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bash bench/nginx_canned.sh "$work/nginx" "$port" "$work/canned/generate.json" bench 1 >"$work/nginx/stdout" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do [ -f "$work/nginx/cert.pem" ] && curl -sk "https://127.0.0.1:$port/" -o /dev/null && break; sleep 0.1; done
python3 -c "
import json
with open('$work/m.jsonl', 'w') as f:
    for i in range($N): f.write(json.dumps({'id': f'p{i}', 'prompt': f'ab {i}', 'width': 1024, 'height': 1024}) + '\n')"
echo '{"check_api_at_start": false, "fetch_catalog": false}' >"$work/config.json"
events=syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_mkdirat,syscalls:sys_enter_openat
perf_ok=0; perf stat -e "$events" true >/dev/null 2>&1 && perf_ok=1
for r in $(seq "$rounds"); do
  for b in "$old" "$new"; do
    out="$disk_root/out-$r-$(basename "$(dirname "$b")")-$(echo "$b" | md5sum | cut -c1-4)"
    sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 >/proc/sys/vm/drop_caches
    cmd=(env VENICE_API_KEY=bench "$b" run --manifest "$work/m.jsonl" --out "$out" --config "$work/config.json"
         --base-url "https://127.0.0.1:$port/api/v1" --ca-file "$work/nginx/cert.pem" --concurrency "$CONC" --quiet)
    [ $perf_ok = 1 ] && cmd=(perf stat -x, -o "$work/perf.txt" -e "$events" "${cmd[@]}")
    s=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$work/time.txt" "${cmd[@]}" >/dev/null 2>&1 || echo "$b: run failed"
    e=$(date +%s.%N)
    per=""
    [ $perf_ok = 1 ] && per=$(awk -F, -v n="$N" '/sys_enter/ {sub("syscalls:sys_enter_", "", $3); printf " %s %.2f", $3, $1 / n}' "$work/perf.txt")
    read -r user sys <"$work/time.txt"
    echo "$b round $r: $(python3 -c "print(round($N / ($e - $s)))") images/s, user $user s, sys $sys s; per image:$per"
  done
done
