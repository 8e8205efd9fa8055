"""Install a hashed lock file (pip-compile's output) with one pip per core, each on its share of the lock.

    python scripts/install_lock.py requirements-dev.lock -- python3 -m pip --python .venv/bin/python

Unpacking wheels is what an install of the lock spends its time on, and pip does it on one core; the lock is
complete, so its packages install independently (`--no-deps`) and two pips halve the wait. The arguments
after `--` are the pip command; the exit status is the first failing pip's (every share is still tried).
Standard library only: the machine's own Python runs it before the virtualenv has anything in it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*==")


def shares(lock_text: str, count: int) -> list[str]:
    """The lock's requirements (each with its `--hash` lines) dealt round-robin into `count` texts; option
    lines (`--index-url`, …) go into every share."""
    entries, options = [], []
    for line in lock_text.splitlines():
        if REQUIREMENT.match(line):
            entries.append([line])
        elif line.startswith("-") and not entries:
            options.append(line)
        elif line.startswith((" ", "\t")) and entries and not line.strip().startswith("#"):
            entries[-1].append(line)
    dealt = [entries[i::count] for i in range(count)]
    return ["\n".join(options + [line for entry in share for line in entry]) + "\n" for share in dealt if share]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":  # a lock, "--", and a pip command
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    lock, pip = argv[0], argv[2:]
    with open(lock, encoding="utf-8") as fh:
        parts = shares(fh.read(), min(4, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory(prefix="install-lock-") as tmp:
        procs = []
        for n, text in enumerate(parts):
            path = os.path.join(tmp, f"share{n}.txt")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            procs.append(subprocess.Popen([*pip, "install", "--no-deps", "--no-compile", "-r", path]))
        codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
