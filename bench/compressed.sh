#!/usr/bin/env bash
# Compressed vs identity answers (issue 9): `venice-batch bench` at concurrency CONC against
# Debian's nginx over TLS on loopback serving one canned Venice answer (a 1024x1024 WebP in base64,
# from the emulator), and against venice-mock when its --help lists compression. nginx modes:
#   identity   no Accept-Encoding (compressed_responses false)
#   gzip, br   compressed on the fly by nginx's gzip module (level 1) / brotli filter (level 6)
#   gzip-pre, br-pre  the same compressed bytes, captured once and served as files: the server does
#              no compression work, so the client's own cost of decoding shows alone
# Modes alternate REPEATS times, each run measured for DURATION (no warmup: every answer counts, so
# the client's CPU time (user + sys, /usr/bin/time) divides by them); prints every run and the
# medians: bytes on the wire per answer (HTTP, headers included), bodies on the wire and decoded
# (metrics bytes_wire / bytes_decoded, when bench records them), client CPU per answer, images/s.
# Usage (all optional, defaults shown):
#   DURATION=15s CONC=16 REPEATS=3 BUILD=build-bench SKIP_BUILD=0 RUN_TIMEOUT=300 bash bench/compressed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s} CONC=${CONC:-16} REPEATS=${REPEATS:-3} BUILD=${BUILD:-build-bench}
SKIP_BUILD=${SKIP_BUILD:-0} RUN_TIMEOUT=${RUN_TIMEOUT:-300}
echo "command: DURATION=$DURATION CONC=$CONC REPEATS=$REPEATS BUILD=$BUILD SKIP_BUILD=$SKIP_BUILD" \
  "RUN_TIMEOUT=$RUN_TIMEOUT bash bench/compressed.sh"
command -v nginx >/dev/null || { echo "compressed: nginx missing (bash scripts/setup.sh)" >&2; exit 2; }
if [ "$SKIP_BUILD" != 1 ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --parallel "${JOBS:-1}" --target venice-batch venice-mock >/dev/null
fi
brotli_module=/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so

work="" nginx_pid="" mock_pid=""
cleanup() {
  set +e
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
work=$(mktemp -d /tmp/venice-compressed-XXXXXX)
chmod 0755 "$work"
echo "venice-batch: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include 2>/dev/null || echo '+uncommitted changes')," \
  "$BUILD; $(nginx -v 2>&1 | sed 's/.*: //'); machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

timeout 300 python3 bench/make_canned_response.py "$BUILD/venice-mock" "$work/generate.json"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
modes="identity gzip gzip-pre"
load="" br_locations=""
if [ -f "$brotli_module" ]; then
  modes="identity gzip gzip-pre br br-pre"
  load="load_module $brotli_module;"
  br_locations="location = /br/api/v1/image/generate { alias $work/generate.json; brotli on; brotli_types application/json; }
    location = /br-pre/api/v1/image/generate { alias $work/generate.json.br; add_header Content-Encoding br; }"
fi
# One worker; gzip at nginx's default level 1, brotli at the module's default 6. The identity runs
# go to /gzip/ too, without Accept-Encoding: the header alone decides.
cat >"$work/nginx.conf" <<EOF
$load
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/client_body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    error_page 405 =200 \$uri;
    location ~ /api_keys/rate_limits\$ { return 200 '{"data":{"rateLimits":[],"balances":{}}}'; }
    location = /gzip/api/v1/image/generate { alias $work/generate.json; gzip on; gzip_types application/json; }
    location = /gzip-pre/api/v1/image/generate { alias $work/generate.json.gz; add_header Content-Encoding gzip; }
    $br_locations
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" &
nginx_pid=$!
for _ in $(seq 100); do [ -f "$work/nginx.pid" ] && break; sleep 0.1; done
[ -f "$work/nginx.pid" ] || { echo "compressed: nginx did not start:" >&2; cat "$work/error.log" >&2; exit 1; }
# The -pre files: nginx's own compressed answers, captured raw (urllib does not decode them).
python3 - "https://127.0.0.1:$port" "$work" "$modes" <<'PY'
import ssl, sys, urllib.request
base, work, modes = sys.argv[1], sys.argv[2], sys.argv[3].split()
ctx = ssl.create_default_context(cafile=f"{work}/cert.pem")
for coding, suffix in (("gzip", "gz"), ("br", "br")):
    if f"{coding}-pre" not in modes:
        continue
    req = urllib.request.Request(f"{base}/{coding}/api/v1/image/generate", headers={"Accept-Encoding": coding})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        assert r.headers["Content-Encoding"] == coding, r.headers
        open(f"{work}/generate.json.{suffix}", "wb").write(r.read())
PY
echo "canned answer: $(stat -c %s "$work/generate.json") bytes; compressed by nginx:" \
  "$(cd "$work" && for f in generate.json.*; do echo -n "${f##*.} $(stat -c %s "$f") bytes, "; done)"

python3 - "$work/manifest.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write(json.dumps({"id": f"c{i}", "prompt": f"compression probe {i}", "width": 1024, "height": 1024,
                            "format": "webp"}) + "\n")
PY
# "concurrency" too: bench's pool is sized by the config's concurrency, not by --concurrency.
echo "{\"compressed_responses\": true, \"concurrency\": $CONC}" >"$work/on.json"
echo "{\"compressed_responses\": false, \"concurrency\": $CONC}" >"$work/off.json"
export VENICE_API_KEY=bench
unset VENICE_BASE_URL VENICE_CONCURRENCY VENICE_RPM VENICE_CA_FILE VENICE_TIMEOUT

# run_mode SERVER MODE BASE CA REP [LENGTH...]: one bench run (default: for DURATION), its JSON and
# CPU time kept as $work/SERVER-MODE-REP.json and .cpu.
run_mode() {
  local server=$1 mode=$2 base=$3 ca=$4 rep=$5 cfg=on
  shift 5
  local length=("$@")
  [ ${#length[@]} -eq 0 ] && length=(--duration "$DURATION")
  [ "$mode" = identity ] && cfg=off
  if [ "$server" = nginx ]; then base="$base/$([ "$mode" = identity ] && echo gzip || echo "$mode")/api/v1"; fi
  /usr/bin/time -f "%U %S" -o "$work/$server-$mode-$rep.cpu" \
    timeout "$RUN_TIMEOUT" "$BUILD/venice-batch" bench --manifest "$work/manifest.jsonl" "${length[@]}" \
    --warmup 0s --concurrency "$CONC" --discard-images --base-url "$base" --ca-file "$ca" --config "$work/$cfg.json" \
    --json "$work/$server-$mode-$rep.json" >/dev/null
}
mock_modes=""
mock_help=$("$BUILD/venice-mock" --help 2>&1 || true)
if grep -qi -E 'gzip|compress' <<<"$mock_help"; then
  mock_modes="identity br"  # asked for "gzip, br", the emulator answers br
  mkdir -p "$work/mock"
  VENICE_MOCK_API_KEY=bench "$BUILD/venice-mock" --port 0 --cert-dir "$work/mock" >"$work/mock.out" &
  mock_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  mock_port=$(sed -E 's/.*127.0.0.1:([0-9]+).*/\1/' "$work/mock.out")
else
  echo "venice-mock --help lists no compression: nginx only"
fi
# What a run costs before and around its answers (start, CA store, one answer), taken off each run's CPU.
run_mode nginx identity "https://127.0.0.1:$port" "$work/cert.pem" startup --requests 1
for rep in $(seq "$REPEATS"); do
  for mode in $modes; do run_mode nginx "$mode" "https://127.0.0.1:$port" "$work/cert.pem" "$rep"; done
  for mode in $mock_modes; do
    run_mode mock "$mode" "https://127.0.0.1:$mock_port/api/v1" "$work/mock/cert.pem" "$rep"
  done
done

python3 - "$work" "$REPEATS" "nginx:$modes" ${mock_modes:+"mock:$mock_modes"} <<'PY'
import json, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
runs = [(a.split(":")[0], a.split(":")[1].split()) for a in sys.argv[3:]]
startup = sum(float(x) for x in open(f"{work}/nginx-identity-startup.cpu").read().split()[-2:])
print(f"client CPU of a 1-answer run (taken off each run's CPU before dividing by its answers): {1000 * startup:.0f} ms")
def row(name):
    r = json.load(open(f"{work}/{name}.json"))
    cpu = sum(float(x) for x in open(f"{work}/{name}.cpu").read().split()[-2:])
    n = max(r["requests"], 1)
    m = r["metrics"]
    wire_http = r["mb_per_s"] * 1e6 * r["measured_s"] / n
    body_wire, body_dec = m.get("bytes_wire", 0) / n, m.get("bytes_decoded", 0) / n
    return {"ok": r["ok"], "failed": r["failed"], "images_s": r["images_per_s"], "http_in": wire_http,
            "body_wire": body_wire, "body_dec": body_dec, "cpu_ms": 1000 * max(cpu - startup, 0) / n,
            "p50": m["phases"]["attempt_total"].get("p50_ms", 0)}
fmt = "{:<6} {:<9} {:>4} {:>6} {:>7} {:>13} {:>12} {:>12} {:>11} {:>9} {:>8}"
print(fmt.format("server", "mode", "rep", "ok", "failed", "HTTP_in_B/ans", "body_wire_B", "body_dec_B",
                 "cpu_ms/ans", "images/s", "p50_ms"))
med = {}
for s, modes in runs:
    for mode in modes:
        rows = [row(f"{s}-{mode}-{rep}") for rep in range(1, reps + 1)]
        for i, x in enumerate(rows, 1):
            print(fmt.format(s, mode, i, x["ok"], x["failed"], f"{x['http_in']:.0f}", f"{x['body_wire']:.0f}",
                             f"{x['body_dec']:.0f}", f"{x['cpu_ms']:.2f}", f"{x['images_s']:.1f}", f"{x['p50']:.1f}"))
        med[s, mode] = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
print("\nmedians")
print("{:<6} {:<9} {:>14} {:>10} {:>11} {:>10} {:>9}".format("server", "mode", "HTTP_in_B/ans", "vs_ident",
                                                               "cpu_ms/ans", "images/s", "vs_ident"))
for s, modes in runs:
    base = med[s, "identity"]
    for mode in modes:
        x = med[s, mode]
        print("{:<6} {:<9} {:>14.0f} {:>9.1f}% {:>11.2f} {:>10.1f} {:>8.1f}%".format(
            s, mode, x["http_in"], 100 * x["http_in"] / base["http_in"], x["cpu_ms"], x["images_s"],
            100 * x["images_s"] / base["images_s"]))
PY
