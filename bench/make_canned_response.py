#!/usr/bin/env python3
"""Writes the canned answer nginx serves in bench/compare_clients.sh: one Venice-style JSON response
{"id", "images": [<base64 of one 1024x1024 WebP>], "timing"} with the image the project's emulator
makes (deterministic: the same bytes every time for one libwebp version).
Usage: make_canned_response.py VENICE_MOCK OUT_JSON"""
import base64, json, os, ssl, subprocess, sys, tempfile, urllib.request


def fetch_one(mock, cert_dir):
    env = dict(os.environ, VENICE_MOCK_API_KEY="canned")
    p = subprocess.Popen([mock, "--port", "0", "--cert-dir", cert_dir], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()  # "venice-mock listening on https://127.0.0.1:PORT ca=..."
        if "listening on" not in line:
            sys.exit(f"make_canned_response: venice-mock did not start: {line!r}")
        base = line.split()[3]
        job = {"model": "z-image-turbo", "prompt": "canned", "width": 1024, "height": 1024, "format": "webp"}
        req = urllib.request.Request(f"{base}/api/v1/image/generate", data=json.dumps(job).encode(),
                                     headers={"Authorization": "Bearer canned", "Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=f"{cert_dir}/cert.pem")
        with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
            return json.load(r)
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    mock, out = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as d:
        image = fetch_one(mock, d)["images"][0]
    raw = base64.b64decode(image, validate=True)
    if raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        sys.exit("make_canned_response: the emulator's image is not a WebP")
    # Fixed id and timing so the file is the same on every run.
    body = {"id": "generate-image-canned", "images": [image],
            "timing": {"inferenceDuration": 1800, "inferencePreprocessingTime": 100, "inferenceQueueTime": 200,
                       "total": 2100}}
    with open(out, "w") as f:
        json.dump(body, f, separators=(",", ":"))
    print(f"canned response: {os.path.getsize(out) / 1000:.0f} KB of JSON, one 1024x1024 WebP of {len(raw) / 1000:.0f} KB")


if __name__ == "__main__":
    main()
