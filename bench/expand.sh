#!/usr/bin/env bash
# `venice-batch expand` on a sweep of 10,000,000 combinations (100 wildcard lines x 10 styles x
# 10,000 seeds): wall time, lines/s and peak RSS (/usr/bin/time -v), the manifest streamed to
# /dev/null; then the same 10 M lines into a file, counted. Baseline in the same run: the
# script users write today (Python: itertools.product, json.dumps, hashlib.sha256) on 1 M lines.
# Usage: bench/expand.sh        (VENICE_BATCH=path/to/venice-batch to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
if [[ -z "${VENICE_BATCH:-}" ]]; then
  BUILD_DIR=$build BUILD_TYPE=${BUILD_TYPE:-Release} JOBS=${JOBS:-1} bash scripts/build.sh >/dev/null
fi
exe=${VENICE_BATCH:-$build/venice-batch}
work=$(mktemp -d "${TMPDIR:-/tmp}/venice-expand-XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir "$work/wildcards"
for i in $(seq 1 100); do echo "a red fox number $i asleep in fresh snow"; done >"$work/wildcards/subject.txt"
cat >"$work/sweep.json" <<'SPEC'
{
  "prompt": "__subject__, {watercolor|oil painting|photo|pencil sketch|pixel art|ukiyo-e|charcoal|3d render|linocut|pastel}, highly detailed",
  "fixed": {"model": "z-image-turbo", "format": "webp", "width": 1024, "height": 1024},
  "matrix": {"seed": {"from": 1, "to": 10000}}
}
SPEC

# On a shared machine the wall time says how busy it is; the CPU time (user + sys) what expand costs.
measure() {  # label, lines, then the command; prints wall s, lines/s, CPU s, lines per CPU s, peak RSS MB
  local label=$1 lines=$2
  shift 2
  /usr/bin/time -v -o "$work/time" "$@"
  awk -F': ' -v l="$label" -v n="$lines" '
    /Elapsed \(wall clock\)/ { k = split($2, p, ":"); w = 0; for (i = 1; i <= k; i++) w = w * 60 + p[i] }
    /User time|System time/ { cpu += $2 }
    /Maximum resident set size/ { rss = $2 }
    END { printf "%-42s %9d %7.2f %10.0f %7.2f %10.0f %8.0f\n", l, n, w, n / w, cpu, n / cpu, rss / 1024 }' "$work/time"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-42s %9s %7s %10s %7s %10s %8s\n' run lines wall_s lines/s cpu_s lines/cpu_s RSS_MB
"$exe" expand "$work/sweep.json" --count
measure "expand 10M -> /dev/null" 10000000 sh -c "'$exe' expand '$work/sweep.json' >/dev/null"
measure "expand 10M -o file" 10000000 "$exe" expand "$work/sweep.json" -o "$work/m.jsonl"
echo "file: $(wc -l <"$work/m.jsonl") lines, $(du -m "$work/m.jsonl" | cut -f1) MB"
rm -f "$work/m.jsonl"
measure "expand --sample 1M of 10M -> /dev/null" 1000000 \
  sh -c "'$exe' expand '$work/sweep.json' --sample 1000000 --sample-seed 1 >/dev/null"

cat >"$work/baseline.py" <<'PY'
import hashlib, itertools, json, sys
subjects = [l.strip() for l in open(sys.argv[1]) if l.strip()]
styles = ["watercolor", "oil painting", "photo", "pencil sketch", "pixel art", "ukiyo-e", "charcoal",
          "3d render", "linocut", "pastel"]
out = sys.stdout
for n, (subject, style, seed) in enumerate(itertools.product(subjects, styles, range(1, 10001))):
    if n == 1000000:
        break
    req = {"model": "z-image-turbo", "format": "webp", "width": 1024, "height": 1024,
           "prompt": f"{subject}, {style}, highly detailed", "seed": seed}
    body = json.dumps(req, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    req["id"] = "s-" + hashlib.sha256(body.encode()).hexdigest()[:16]
    req["metadata"] = {"values": {"__subject__": subject, "{1}": style, "seed": seed}}
    out.write(json.dumps(req, separators=(",", ":"), ensure_ascii=False) + "\n")
PY
measure "baseline: Python script, 1M -> /dev/null" 1000000 \
  sh -c "python3 '$work/baseline.py' '$work/wildcards/subject.txt' >/dev/null"
