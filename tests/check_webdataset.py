#!/usr/bin/env python3
"""Checks a webdataset out dir (issue 11) the way a reader of the dataset would see it.

Usage: check_webdataset.py DIR [--expect N] [--interrupted]

DIR is the out dir (its shards/ is read) or the shards directory itself. Every NNNNN.tar is
opened with Python's tarfile; each sample (members grouped by the name before the first dot,
as WebDataset does) must have one image, a .txt and a .json that parses; no key may appear
twice in one shard or across shards; every shard has its NNNNN_stats.json with a matching
count; no temp file (".NNNNN.tar.tmp-...") is left. With --interrupted (the state a kill
leaves, before the next run's recovery) temp files are fine and so is a missing stats file
beside the highest-numbered shard. Prints a JSON summary
on stdout; exits 0 when no problem was found, 1 otherwise, 2 on bad usage. Standard library
only, so the tests and the bench can run it anywhere.
"""
import argparse
import json
import os
import re
import sys
import tarfile

SHARD = re.compile(r"^(\d{5,})\.tar$")


def check(shards_dir, expect=None, interrupted=False):
    problems = []
    per_shard = {}
    seen = {}  # key -> shard that holds it
    members_total = 0
    bytes_total = 0
    names = sorted(os.listdir(shards_dir))
    temp = [n for n in names if n.startswith(".") and ".tmp-" in n]
    if temp and not interrupted:
        problems.append(f"temp files left: {temp}")
    shards = sorted((n for n in names if SHARD.match(n)), key=lambda n: int(n[:-4]))
    for shard in shards:
        path = os.path.join(shards_dir, shard)
        samples = {}
        try:
            with tarfile.open(path, "r:") as tar:
                for m in tar:
                    members_total += 1
                    if not m.isfile():
                        problems.append(f"{shard}: {m.name} is not a regular file")
                        continue
                    if "/" in m.name or "." not in m.name:
                        problems.append(f"{shard}: bad member name {m.name!r}")
                        continue
                    key, ext = m.name.split(".", 1)
                    data = tar.extractfile(m).read()
                    if len(data) != m.size:
                        problems.append(f"{shard}: {m.name} holds {len(data)} of {m.size} bytes")
                    bytes_total += m.size
                    sample = samples.setdefault(key, {})
                    if ext in sample:
                        problems.append(f"{shard}: member {m.name} twice")
                    sample[ext] = data
        except (tarfile.TarError, OSError, EOFError) as e:
            problems.append(f"{shard}: unreadable: {e}")
            continue
        for key, parts in samples.items():
            images = [e for e in parts if e not in ("txt", "json")]
            if len(images) != 1:
                problems.append(f"{shard}: sample {key} has {len(images)} images")
            if "txt" not in parts:
                problems.append(f"{shard}: sample {key} has no .txt")
            if "json" not in parts:
                problems.append(f"{shard}: sample {key} has no .json")
            else:
                try:
                    json.loads(parts["json"])
                except ValueError as e:
                    problems.append(f"{shard}: {key}.json is not JSON: {e}")
            if key in seen:
                problems.append(f"key {key} in {seen[key]} and {shard}")
            else:
                seen[key] = shard
        per_shard[shard] = len(samples)
        stats_path = os.path.join(shards_dir, shard[:-4] + "_stats.json")
        try:
            with open(stats_path) as f:
                stats = json.load(f)
            if stats.get("successes") != len(samples):
                problems.append(f"{shard}: stats say {stats.get('successes')} samples, the tar holds {len(samples)}")
        except FileNotFoundError as e:
            if not (interrupted and shard == shards[-1]):
                problems.append(f"{shard}: no stats: {e}")
        except (OSError, ValueError) as e:
            problems.append(f"{shard}: no readable stats: {e}")
    if expect is not None and len(seen) != expect:
        problems.append(f"expected {expect} samples, found {len(seen)}")
    return {
        "ok": not problems,
        "shards": len(shards),
        "samples": len(seen),
        "members": members_total,
        "bytes": bytes_total,
        "per_shard": per_shard,
        "temp_files": len(temp),
        "problems": problems,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--expect", type=int, help="the number of samples there must be")
    parser.add_argument("--interrupted", action="store_true",
                        help="a killed run, not yet recovered: temp shards and the last shard's missing stats are fine")
    args = parser.parse_args()
    shards_dir = os.path.join(args.dir, "shards")
    if not os.path.isdir(shards_dir):
        shards_dir = args.dir
    if not os.path.isdir(shards_dir):
        parser.error(f"{args.dir} is not a directory")
    summary = check(shards_dir, args.expect, args.interrupted)
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
