#!/usr/bin/env python3
"""The baseline of bench/compare_clients.sh: the short asyncio + aiohttp client a user would write.
N jobs at concurrency C over keep-alive: POST, decode base64, write the image, append a result
line to results.jsonl (no fsync). Prints images/s. Needs python3-aiohttp (Debian's, /usr/bin/python3)."""
import argparse, asyncio, base64, json, os, ssl, sys, time

import aiohttp


async def main(a):
    os.makedirs(f"{a.out}/images", exist_ok=True)
    journal = open(f"{a.out}/results.jsonl", "a")
    jobs = iter(range(a.jobs))
    headers = {"Authorization": f"Bearer {a.key}"}
    ctx = ssl.create_default_context(cafile=a.ca)
    failed = 0

    async def worker(session):
        nonlocal failed
        for i in jobs:  # one shared iterator: each job is taken by exactly one worker
            job = {"model": "z-image-turbo", "prompt": f"throughput probe {i}", "width": 1024, "height": 1024,
                   "format": "webp"}
            async with session.post(f"{a.base_url}/image/generate", json=job, headers=headers) as r:
                body = await r.json() if r.status == 200 else None
            if body is None:
                failed += 1
                journal.write(json.dumps({"id": f"e{i}", "status": "failed", "http_status": r.status}) + "\n")
                continue
            path = f"{a.out}/images/e{i}.webp"
            with open(path, "wb") as f:
                f.write(base64.b64decode(body["images"][0]))
            journal.write(json.dumps({"id": f"e{i}", "status": "ok", "file": path, "api_id": body["id"]}) + "\n")

    start = time.monotonic()
    connector = aiohttp.TCPConnector(limit=a.concurrency, ssl=ctx)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=a.timeout)) as s:
        await asyncio.gather(*(worker(s) for _ in range(a.concurrency)))
    wall = time.monotonic() - start
    journal.close()
    print(f"py_client: {a.jobs - failed} ok, {failed} failed in {wall:.2f} s: {(a.jobs - failed) / wall:.0f} images/s")
    return 1 if failed else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base-url", required=True, help="API root, e.g. https://127.0.0.1:8443/api/v1")
    p.add_argument("--ca", help="CA certificate (PEM) to trust (default: the system store)")
    p.add_argument("--key", default=os.environ.get("VENICE_API_KEY", ""))
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--timeout", type=float, default=180, help="seconds per request")
    p.add_argument("--out", required=True)
    sys.exit(asyncio.run(main(p.parse_args())))
