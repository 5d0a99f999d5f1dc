#!/usr/bin/env bash
# A/B of two venice-batch binaries in one run: 2,000 jobs of one 1024x1024 WebP at concurrency 16 against
# venice-mock, out dir on /dev/shm, alternating. Usage: bench/ab_binaries.sh OLD_BINARY NEW_BINARY [MOCK]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1; new=$2; mock=${3:-build-bench/venice-mock}
work=$(mktemp -d /dev/shm/ab-XXXX)
python3 -c "
import json
with open('$work/m.jsonl','w') as f:
    for i in range(2000): f.write(json.dumps({'id':f'e{i}','prompt':f'p {i}','width':1024,'height':1024,'format':'webp'})+'\n')"
VENICE_MOCK_API_KEY=k $mock --port 0 --cert-dir $work > $work/mock.out &
mp=$!; sleep 1; port=$(sed -E 's/.*127.0.0.1:([0-9]+).*/\1/' $work/mock.out)
for r in 1 2; do for b in "$old" "$new"; do
  out=$work/out-$r-$(echo $b | md5sum | cut -c1-4)
  s=$(date +%s.%N); VENICE_API_KEY=k "$b" run --manifest $work/m.jsonl --out $out --base-url https://127.0.0.1:$port/api/v1 --ca-file $work/cert.pem --concurrency 16 --quiet 2>/dev/null || true
  e=$(date +%s.%N); echo "$b run$r $(ls $out/images | wc -l) images $(python3 -c "print(round(2000/($e-$s)))")/s"
  rm -rf $out
done; done
kill $mp; rm -rf "$work"
