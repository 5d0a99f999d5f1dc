#!/usr/bin/env bash
# End-to-end throughput: `venice-batch run` against `venice-mock` on loopback (TLS), 2,000 jobs of
# one 1024x1024 WebP each (~350 KB, ~470 KB of base64 per response), at concurrency 1, 16 and 64.
# Reports images/s, the client's peak RSS, and the CPU the emulator used over the same time
# (both share this machine's cores, so the emulator's share bounds what the client can reach).
# Usage: bench/e2e_throughput.sh [JOBS=2000] [CONCURRENCIES="1 16 64"] [DURABLE=true]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
jobs=${1:-2000}
concurrencies=${2:-1 16 64}
durable=${3:-true}
BUILD_DIR=build-bench BUILD_TYPE=Release bash scripts/build.sh >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/venice-e2e-XXXXXX")
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
write_manifest "$work/m.jsonl" "$jobs" \
  '{"id": f"e{i}", "prompt": f"throughput probe {i}", "width": 1024, "height": 1024, "format": "webp"}'
# Identity answers: this measures the client, not gzip (bench/compressed.sh compares the two).
echo "{\"durable_writes\": $durable, \"compressed_responses\": false}" >"$work/config.json"
start_mock build-bench/venice-mock "$work"
printf '%-12s %10s %10s %12s %14s %14s\n' concurrency wall_s images/s client_rss_MB client_cpu_% mock_cpu_%
for c in $concurrencies; do
  # A fresh directory per run: re-creating thousands of files where they were just deleted makes
  # ext4 search for free inodes (recently_deleted) and measures the file system, not the client.
  out="$work/out-$c"
  python3 - "$work" "$port" "$c" "$mock_pid" "$out" <<'PY'
import os, subprocess, sys, time
work, port, c, mock, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
env = dict(os.environ, VENICE_API_KEY="bench")
cmd = ["build-bench/venice-batch", "run", "--manifest", f"{work}/m.jsonl", "--out", out,
       "--base-url", f"https://127.0.0.1:{port}/api/v1", "--ca-file", f"{work}/cert.pem",
       "--config", f"{work}/config.json", "--concurrency", c, "--quiet"]
m0, t0 = cpu(mock), time.time()
p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
_, status, usage = os.wait4(p.pid, 0)
t1, m1 = time.time(), cpu(mock)
err = p.stderr.read()
images = sum(1 for _ in os.scandir(f"{out}/images"))
if os.waitstatus_to_exitcode(status) != 0 or images == 0:
    print(err, file=sys.stderr); sys.exit(1)
client = usage.ru_utime + usage.ru_stime
print(f"{c:<12} {t1-t0:10.2f} {images/(t1-t0):10.0f} {usage.ru_maxrss/1024:12.1f} {100*client/(t1-t0):14.0f} {100*(m1-m0)/(t1-t0):14.0f}")
PY
done
