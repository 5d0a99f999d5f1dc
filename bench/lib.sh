# Shared by the end-to-end bench scripts (source it after `cd` to the repository root).

# start_mock MOCK WORK [VENICE-MOCK ARGS...]: starts the emulator MOCK in the background with the
# API key "bench", its certificate in WORK/cert.pem and its output in WORK/mock.out; waits (up to
# 10 s) until it listens, then sets mock_pid and port. The caller's EXIT trap kills $mock_pid.
start_mock() {
  local mock=$1 work=$2
  shift 2
  VENICE_MOCK_API_KEY=bench "$mock" --port 0 --cert-dir "$work" "$@" >"$work/mock.out" &
  mock_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -o '127.0.0.1:[0-9]*' "$work/mock.out" | head -1 | cut -d: -f2)
}

# write_manifest FILE N LINE: N manifest lines into FILE, line i (from 0) being the Python
# expression LINE (a dict; `i` in scope), e.g. '{"id": f"j{i}", "prompt": f"probe {i}"}'.
write_manifest() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
line = compile(sys.argv[3], "LINE", "eval")
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps(eval(line, {"i": i})) + "\n")
PY
}
