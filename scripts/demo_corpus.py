#!/usr/bin/env python3
"""Writes the demo corpus: the descriptions of the Debian packages installed on this machine.

Every Debian system carries them in /var/lib/dpkg/status, so the demo needs no download and
copies no text into the repository. One jsonl document per package:
  {"id": <n>, "text": "<package>: <synopsis>. <long description>", "meta": {"package": ...}}
Usage: demo_corpus.py OUT.jsonl [STATUS_FILE]
"""
import json
import sys


def packages(path):
    pkg, desc, in_desc = None, [], False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if pkg and desc:
                    yield pkg, desc
                pkg, desc, in_desc = None, [], False
            elif line.startswith("Package: "):
                pkg = line[len("Package: "):].strip()
            elif line.startswith("Description: "):
                desc, in_desc = [line[len("Description: "):].strip()], True
            elif in_desc and line.startswith(" "):
                body = line.strip()
                desc.append("" if body == "." else body)
            else:
                in_desc = False
    if pkg and desc:
        yield pkg, desc


def main():
    out = sys.argv[1]
    status = sys.argv[2] if len(sys.argv) > 2 else "/var/lib/dpkg/status"
    seen = set()
    n = 0
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        for pkg, desc in sorted(packages(status)):
            if pkg in seen:
                continue
            seen.add(pkg)
            synopsis, body = desc[0], " ".join(x for x in desc[1:] if x)
            text = f"{pkg}: {synopsis}." + (f" {body}" if body else "")
            f.write(json.dumps({"id": n, "text": text, "meta": {"package": pkg}}) + "\n")
            n += 1
    import os
    os.replace(out + ".tmp", out)
    print(f"demo corpus: {n} package descriptions from {status} -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
