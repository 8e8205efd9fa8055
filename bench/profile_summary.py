"""Summarise a py-spy raw (collapsed) profile: where the samples inside one kind of work go.

    python -m bench.profile_summary /tmp/prof/worker-products.txt --within trace_task
    python -m bench.profile_summary /tmp/prof/receiver.txt --within wsgi_app

`--within` keeps only samples whose stack contains that frame (a task being run, a request
being served), so idle pool loops do not drown the answer. Inclusive shares count a
function once per sample; "self" shares count the leaf frame only.
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"\s*\(([^:()]+):\d+\)$")


def _name(frame: str) -> str:
    """`func (path/file.py:12)` → `func (path/file.py)`: lines merged so a function is one entry."""
    return _LINE.sub(lambda m: f" ({m.group(1)})", frame)


def summarise(path: Path, within: str, top: int = 25, prefixes: tuple[str, ...] = ()) -> str:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or within not in stack:
            continue
        n = int(count)
        frames = stack.split(";")
        cut = next(i for i, f in enumerate(frames) if within in f)
        frames = [_name(f) for f in frames[cut:]]
        total += n
        for f in set(frames):
            if not prefixes or any(p in f for p in prefixes):
                inclusive[f] += n
        leaf[frames[-1]] += n
    if not total:
        return f"{path}: no samples within {within!r}"
    out = [f"{path.name}: {total} samples within {within!r}", "", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out += ["", "self:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in leaf.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--within", default="trace_task")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--only", action="append", default=[], help="keep inclusive entries containing this text")
    args = p.parse_args()
    print(summarise(args.profile, args.within, args.top, tuple(args.only)))


if __name__ == "__main__":
    main()
