#!/usr/bin/env bash
# End-to-end comparison of issue 10, in one run: venice-batch against an independent server (Debian's
# nginx serving one canned Venice-style response over TLS on loopback: bench/nginx_canned.sh), next
# to a plain Python asyncio + aiohttp client (bench/py_client.py) and wrk, on the disk a user writes
# to and on tmpfs. Runs alternate (A B C ... A B C ...) REPEATS times; prints every run, then
# medians and the ratios issue 10 names. Every run is bounded by RUN_TIMEOUT; nginx, temp dirs and
# out dirs go at exit.
# Usage (all optional, defaults shown):
#   N=2000 CONC=16 CONC_RSS=64 REPEATS=3 WRK_SECONDS=10 DISK_DIR=build-bench TMPFS_DIR=/dev/shm \
#   NGINX_WORKERS=1 RUN_TIMEOUT=600 SYNC=1 DROP_CACHES=1(if root) SKIP_BUILD=0 BUILD=build-bench PYTHON=<python3 with aiohttp> \
#   bash bench/compare_clients.sh
# BUILD is the build dir whose venice-batch and venice-mock run (built there unless SKIP_BUILD=1).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000} CONC=${CONC:-16} CONC_RSS=${CONC_RSS:-64} REPEATS=${REPEATS:-3} WRK_SECONDS=${WRK_SECONDS:-10}
DISK_DIR=${DISK_DIR:-build-bench} TMPFS_DIR=${TMPFS_DIR:-/dev/shm} NGINX_WORKERS=${NGINX_WORKERS:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-600} SYNC=${SYNC:-1} DROP_CACHES=${DROP_CACHES:-$([ -w /proc/sys/vm/drop_caches ] && echo 1 || echo 0)} SKIP_BUILD=${SKIP_BUILD:-0} BUILD=${BUILD:-build-bench}
echo "command: N=$N CONC=$CONC CONC_RSS=$CONC_RSS REPEATS=$REPEATS WRK_SECONDS=$WRK_SECONDS DISK_DIR=$DISK_DIR" \
  "TMPFS_DIR=$TMPFS_DIR NGINX_WORKERS=$NGINX_WORKERS RUN_TIMEOUT=$RUN_TIMEOUT SYNC=$SYNC DROP_CACHES=$DROP_CACHES SKIP_BUILD=$SKIP_BUILD BUILD=$BUILD" \
  "bash bench/compare_clients.sh"

# Debian's aiohttp lives in /usr/bin/python3's dist-packages: a pyenv or venv python3 may lack it.
PY=""
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if "$p" -c 'import aiohttp' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "compare_clients: no python3 with aiohttp (bash scripts/setup.sh installs python3-aiohttp)" >&2; exit 2; }
for tool in nginx wrk openssl; do
  command -v $tool >/dev/null || { echo "compare_clients: $tool missing (bash scripts/setup.sh)" >&2; exit 2; }
done
if [ "$SKIP_BUILD" != 1 ]; then
  timeout 600 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  timeout 3600 cmake --build "$BUILD" --parallel "${JOBS:-2}" --target venice-batch venice-mock floor_client >/dev/null
fi
mkdir -p "$DISK_DIR"

work="" disk_root="" tmpfs_root="" nginx_pid="" current=""
cleanup() {
  set +e  # every step runs, whatever the one before returned
  [ -n "$current" ] && kill "$current" 2>/dev/null && wait "$current" 2>/dev/null
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work" "$disk_root" "$tmpfs_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
work=$(mktemp -d /tmp/venice-compare-XXXXXX)
disk_root=$(mktemp -d "$DISK_DIR/compare-out-XXXXXX")
tmpfs_root=$(mktemp -d "$TMPFS_DIR/venice-compare-XXXXXX")
chmod 0755 "$work"  # nginx's workers (www-data) read the canned response in it
mkdir "$work/nginx" "$work/canned"

echo "venice-batch: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include config 2>/dev/null || echo '+uncommitted changes')," \
  "$BUILD ($(grep -m1 '^CMAKE_BUILD_TYPE' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2)); $(nginx -v 2>&1 | sed 's/.*: //'); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2);" \
  "$("$PY" -c 'import aiohttp, platform; print(f"python {platform.python_version()} aiohttp {aiohttp.__version__}")')"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); out dirs: disk $(realpath "$disk_root")" \
  "($(findmnt -n -o FSTYPE -T "$disk_root" | tail -1)), tmpfs $tmpfs_root ($(findmnt -n -o FSTYPE -T "$tmpfs_root" | tail -1))"

timeout 300 "$PY" bench/make_canned_response.py "$BUILD/venice-mock" "$work/canned/generate.json"
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bash bench/nginx_canned.sh "$work/nginx" "$port" "$work/canned/generate.json" bench "$NGINX_WORKERS" \
  >"$work/nginx/stdout" 2>&1 &
nginx_pid=$!
base="https://127.0.0.1:$port/api/v1" ca="$work/nginx/cert.pem"
# Ready when both endpoints answer as venice-batch expects (bounded: 10 s).
if ! timeout 10 "$PY" - "$base" "$ca" "$work/canned/generate.json" <<'PY'; then
import json, os, ssl, sys, time, urllib.request
base, ca, canned = sys.argv[1:4]
auth = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
while True:
    try:
        ctx = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api_keys/rate_limits", headers=auth), context=ctx) as r:
            assert json.load(r) == {"data": {"rateLimits": [], "balances": {}}}
        req = urllib.request.Request(f"{base}/image/generate", data=b'{"prompt":"x"}', headers=auth)
        with urllib.request.urlopen(req, context=ctx) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "application/json"
            assert len(r.read()) == os.path.getsize(canned)
        break
    except (OSError, ValueError):
        time.sleep(0.1)
PY
  echo "compare_clients: nginx did not come up on port $port:" >&2
  cat "$work/nginx/stdout" "$work/nginx/error.log" >&2 2>/dev/null || true
  exit 1
fi
echo "server: nginx on $base, $NGINX_WORKERS worker(s), TLS (self-signed EC P-256), keep-alive"

"$PY" - "$work/manifest.jsonl" "$N" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"id": f"e{i}", "prompt": f"throughput probe {i}", "width": 1024, "height": 1024,
                            "format": "webp"}) + "\n")
PY
echo '{"durable_writes": false}' >"$work/durable_off.json"
cat >"$work/wrk.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"z-image-turbo","prompt":"throughput probe","width":1024,"height":1024,"format":"webp"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
LUA
unset VENICE_BASE_URL VENICE_CONCURRENCY VENICE_RPM VENICE_CA_FILE VENICE_TIMEOUT
export VENICE_API_KEY=bench

# measure.py RUNS REP TIMEOUT NGINX_PID NAME KIND OUT_DIR CMD...: runs CMD once (bounded), prints one
# line and appends a JSON record to RUNS: wall, work done, user/sys CPU and peak RSS of CMD (wait4),
# the CPU nginx used meanwhile and the connections and requests it served (stub_status; each read
# is one connection and one request of its own). KIND: images (count OUT_DIR/images) or wrk.
cat >"$work/measure.py" <<'PY'
import json, os, re, signal, ssl, subprocess, sys, threading, time, urllib.request
runs, rep, timeout, nginx, name, kind, out, *cmd = sys.argv[1:]
def nginx_served():  # (connections accepted, requests)
    req = urllib.request.Request(os.environ["BASE"].replace("/api/v1", "/__nginx_status"),
                                 headers={"Authorization": "Bearer bench"})
    ctx = ssl.create_default_context(cafile=os.environ["CA"])
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        accepts, _, requests = r.read().decode().splitlines()[2].split()
    return int(accepts), int(requests)
def nginx_cpu():
    pids = [nginx] + open(f"/proc/{nginx}/task/{nginx}/children").read().split()
    total = 0
    for pid in pids:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / os.sysconf("SC_CLK_TCK")
log = open(f"{runs}.log", "w+")
s0, n0, t0 = nginx_served(), nginx_cpu(), time.monotonic()
p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
reaped, timed_out = False, False
def kill_child(*_):  # plain os.kill: Popen does not know that wait4 reaps the child
    if not reaped:
        os.kill(p.pid, signal.SIGKILL)
def on_timeout():
    global timed_out
    timed_out = True
    kill_child()
killer = threading.Timer(float(timeout), on_timeout)
killer.daemon = True
killer.start()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: (kill_child(), os._exit(143)))
_, status, ru = os.wait4(p.pid, 0)
reaped = True
wall, server = time.monotonic() - t0, nginx_cpu() - n0
killer.cancel()
conns, reqs = (b - a - 1 for a, b in zip(s0, nginx_served()))
log.seek(0)
text = log.read()
rc = os.waitstatus_to_exitcode(status)
r = {"rep": int(rep), "name": name, "wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
     "rss_mb": ru.ru_maxrss / 1024, "nginx_cpu": server, "conns": conns, "reqs": reqs, "ok": rc == 0}
if kind == "wrk":
    m = re.search(r"(\d+) requests in", text)
    r["done"] = int(m.group(1)) if m else 0
    r["rate"] = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1)) if m else 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", text)
    r["ok"] = r["ok"] and r["done"] > 0 and not bad
else:
    # Files, in images/ or its fan-out folders (venice-batch's files layout: images/<3 hex>/).
    r["done"] = sum(len(files) for _, _, files in os.walk(f"{out}/images"))
    r["rate"] = r["done"] / wall
    r["ok"] = r["ok"] and r["done"] == int(os.environ["N"])
cpu_ms = 1000 * (r["user"] + r["sys"]) / max(r["done"], 1)
unit = "req/s" if kind == "wrk" else "images/s"
print(f"run {rep} {name:<20} wall {wall:6.2f} s  {r['rate']:7.0f} {unit:<8}  user {r['user']:5.2f} s  sys "
      f"{r['sys']:5.2f} s  {cpu_ms:5.2f} ms/image  peak RSS {r['rss_mb']:6.1f} MB  nginx {server:5.2f} s CPU, "
      f"{conns} conns, {reqs} reqs"
      + ("" if r["ok"] else f"  FAILED (exit {rc}{', killed after ' + timeout + ' s' if timed_out else ''}, "
                            f"{r['done']} done)"), flush=True)
if not r["ok"]:
    print("  | " + "\n  | ".join(text.strip().splitlines()[-40:] or ["(no output)"]), flush=True)
with open(runs, "a") as f:
    f.write(json.dumps(r) + "\n")
PY

run_one() {  # run_one REP NAME KIND OUT_DIR CMD...: measured in the background so a signal ends it at once
  local rep=$1 name=$2 kind=$3 out=$4
  shift 4
  if ! kill -0 "$nginx_pid" 2>/dev/null; then
    echo "compare_clients: nginx exited:" >&2
    cat "$work/nginx/stdout" "$work/nginx/error.log" >&2 2>/dev/null || true
    exit 1
  fi
  if [ "$SYNC" = 1 ]; then timeout 300 sync || true; fi  # earlier runs' dirty pages are not this run's
  # The page cache of earlier runs is dropped too (root only): otherwise it grows, run after run,
  # into memory this VM has never touched, whose first touch costs a fault in the host; a probe
  # writing 418 KB files measured 0.26 ms of CPU per file so, 0.14 ms in memory touched before.
  if [ "$DROP_CACHES" = 1 ]; then echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; fi
  N=$N BASE=$base CA=$ca "$PY" "$work/measure.py" "$work/runs.jsonl" "$rep" "$RUN_TIMEOUT" "$nginx_pid" "$name" "$kind" "$out" "$@" &
  current=$!
  wait "$current" || true
  current=""
  # Out dirs on disk stay until the script ends (with $disk_root). Deleting a run's 2,000 files
  # right before the next run makes ext4's inode allocator skip the just-freed inodes one by one
  # (recently_deleted, find_get_block_common: 35% of a file-writing probe's CPU, 2-3x its cost per
  # file), which no user's run meets. tmpfs has no such cost and holds memory: deleted at once.
  case "$out" in "$disk_root"/*) ;; *) rm -rf "$out" ;; esac
}
vb() {  # vb REP NAME OUT_DIR CONCURRENCY [--config FILE]
  local rep=$1 name=$2 out=$3 c=$4
  shift 4
  run_one "$rep" "$name" images "$out" "$BUILD/venice-batch" run --manifest "$work/manifest.jsonl" --out "$out" \
    --base-url "$base" --ca-file "$ca" --concurrency "$c" --quiet "$@"
}

need_mb=$(( N * 420 * 6 * REPEATS / 1024 ))  # 3 venice-batch runs, the Python client's and 2 floor runs per repeat
free_mb=$(df -Pm "$disk_root" | awk 'NR==2 {print $4}')
if [ "$free_mb" -lt "$need_mb" ]; then
  echo "compare_clients: $DISK_DIR has $free_mb MB free; the out dirs on disk need about $need_mb MB (kept until the end)" >&2
  exit 2
fi
echo "$N jobs (one 1024x1024 WebP each) per client run, concurrency $CONC; wrk -t1 -c$CONC -d${WRK_SECONDS}s;" \
  "sync before each run: $SYNC; page cache dropped before each run: $DROP_CACHES; CPU = the client's user + sys (wait4), nginx's CPU over the same time"
for rep in $(seq "$REPEATS"); do
  vb "$rep" vb-durable-disk "$disk_root/vb-on-$rep" "$CONC"
  run_one "$rep" py-client-disk images "$disk_root/py-$rep" \
    "$PY" bench/py_client.py --base-url "$base" --ca "$ca" --key bench --jobs "$N" --concurrency "$CONC" \
    --out "$disk_root/py-$rep"
  run_one "$rep" wrk wrk "$work/none" \
    wrk -t1 -c"$CONC" -d"${WRK_SECONDS}s" --timeout 30s -s "$work/wrk.lua" "$base/image/generate"
  vb "$rep" vb-nodurable-disk "$disk_root/vb-off-$rep" "$CONC" --config "$work/durable_off.json"
  vb "$rep" vb-durable-tmpfs "$tmpfs_root/vb-on-$rep" "$CONC"
  vb "$rep" vb-nodurable-tmpfs "$tmpfs_root/vb-off-$rep" "$CONC" --config "$work/durable_off.json"
  if [ -x "$BUILD/bench/floor_client" ]; then
    run_one "$rep" floor-tmpfs images "$tmpfs_root/floor-$rep" \
      "$BUILD/bench/floor_client" 127.0.0.1 "$port" "$N" "$CONC" "$tmpfs_root/floor-$rep" bench
    for d in fanout flat; do  # durable as venice-batch's default, with the least syncing that allows
      run_one "$rep" floor-durable-disk-$d images "$disk_root/floor-$d-$rep" \
        "$BUILD/bench/floor_client" 127.0.0.1 "$port" "$N" "$CONC" "$disk_root/floor-$d-$rep" bench "$d"
    done
  fi
  vb "$rep" vb-durable-disk-c$CONC_RSS "$disk_root/vb-c64-$rep" "$CONC_RSS"
done

"$PY" - "$work/runs.jsonl" "$CONC_RSS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in runs))
ok = {n: [r for r in runs if r["name"] == n and r["ok"]] for n in names}
med = lambda n, k: statistics.median(r[k] for r in ok[n]) if ok[n] else float("nan")
cpu_ms = lambda r: 1000 * (r["user"] + r["sys"]) / r["done"]
print("\nmedians of the runs that succeeded (rate: images/s, wrk requests/s):")
print(f"{'client':<26} {'ok runs':>7} {'wall s':>7} {'rate':>7} {'user s':>7} {'sys s':>7} {'CPU ms/img':>10} "
      f"{'peak RSS MB':>11} {'nginx CPU s':>11}")
for n in names:
    runs_n = [r for r in runs if r["name"] == n]
    cpu = statistics.median(cpu_ms(r) for r in ok[n]) if ok[n] else float("nan")
    print(f"{n:<26} {len(ok[n]):>3}/{len(runs_n):<3} {med(n, 'wall'):7.2f} {med(n, 'rate'):7.0f} {med(n, 'user'):7.2f} "
          f"{med(n, 'sys'):7.2f} {cpu:10.2f} {med(n, 'rss_mb'):11.1f} {med(n, 'nginx_cpu'):11.2f}")
def ratio(a, b, target, what):
    paired = [x["rate"] / y["rate"] for x in ok.get(a, []) for y in ok.get(b, []) if x["rep"] == y["rep"]]
    value = med(a, "rate") / med(b, "rate") if ok.get(a) and ok.get(b) else float("nan")
    spread = f"per repeat {min(paired):.2f}-{max(paired):.2f}" if paired else "no paired runs"
    print(f"{what:<55} {value:5.2f}x  (target >= {target}x; {spread})")
print("\nratios (of medians):")
ratio("vb-durable-disk", "py-client-disk", 2, "venice-batch default config, disk / Python client")
ratio("vb-durable-disk", "wrk", 0.5, "venice-batch default config, disk / wrk")
ratio("vb-nodurable-tmpfs", "wrk", 0.7, "venice-batch durable_writes off, tmpfs / wrk")
if ok.get("floor-tmpfs"):
    print("and against the floor (bench/floor_client.cpp: decode and write each image, nothing else):")
    ratio("floor-tmpfs", "wrk", 0.7, "  floor client, tmpfs / wrk")
    ratio("vb-nodurable-tmpfs", "floor-tmpfs", 1, "  venice-batch durable_writes off, tmpfs / floor client")
if ok.get("floor-durable-disk-fanout"):
    print("and against the durable floor on disk (the floor, each image fsynced with its folder before it counts):")
    ratio("floor-durable-disk-fanout", "wrk", 0.5, "  durable floor, fan-out folders, disk / wrk")
    ratio("floor-durable-disk-flat", "wrk", 0.5, "  durable floor, one folder, disk / wrk")
    ratio("vb-durable-disk", "floor-durable-disk-fanout", 1, "  venice-batch default, disk / durable floor, fan-out")
rss = f"vb-durable-disk-c{sys.argv[2]}"
print(f"{'peak RSS of venice-batch at concurrency ' + sys.argv[2]:<55} {med(rss, 'rss_mb'):5.1f} MB (target < 150 MB)")
failed = sum(1 for r in runs if not r["ok"])
if failed:
    print(f"\n{failed} run(s) FAILED: see their lines above")
    sys.exit(1)
PY
