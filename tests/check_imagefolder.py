#!/usr/bin/env python3
"""Checks an out dir against the Hugging Face ImageFolder convention, with the stdlib only
(the datasets library is not installable here): metadata.jsonl at the data dir's root; each line a
JSON object with the same columns, `file_name` first, a relative path (no '..', no leading '/')
to an image file that exists; every image file the loader would find (not in a hidden folder) is
named by exactly one line. Usage: check_imagefolder.py DATA_DIR [--expect N]. Prints a JSON summary;
exit 1 on any problem."""
import json
import os
import sys

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp"}


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    expect = int(args[args.index("--expect") + 1]) if "--expect" in args else None
    problems = []
    named = {}
    columns = None
    with open(os.path.join(root, "metadata.jsonl"), "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                problems.append(f"line {n}: not JSON ({e})")
                continue
            keys = list(row.keys())
            if not keys or keys[0] != "file_name":
                problems.append(f"line {n}: file_name is not the first column")
            if columns is None:
                columns = keys
            elif keys != columns:
                problems.append(f"line {n}: columns {keys} differ from {columns}")
            name = row.get("file_name", "")
            if name.startswith("/") or ".." in name.split("/"):
                problems.append(f"line {n}: file_name {name!r} is not relative")
            if not os.path.isfile(os.path.join(root, name)):
                problems.append(f"line {n}: {name} does not exist")
            named[name] = named.get(name, 0) + 1
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # the loader skips hidden folders
        for fn in filenames:
            if os.path.splitext(fn)[1].lower() in IMAGE_EXT and not fn.startswith("."):
                found.add(os.path.relpath(os.path.join(dirpath, fn), root))
    for name, count in named.items():
        if count != 1:
            problems.append(f"{name} is named {count} times")
    for name in sorted(found - set(named)):
        problems.append(f"{name} has no metadata line")
    if expect is not None and len(named) != expect:
        problems.append(f"{len(named)} images named, expected {expect}")
    print(json.dumps({"ok": not problems, "images": len(named), "columns": columns, "problems": problems[:20]},
                     indent=1, sort_keys=True))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
