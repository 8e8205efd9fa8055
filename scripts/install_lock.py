"""Fill a virtualenv from a hashed lock file (pip-compile's output): pip installs uv, then uv installs the lock.

    python3 scripts/install_lock.py requirements-dev.lock .venv

pip unpacks wheels on one core and, on this kind of machine, fetches every one again on each install (~18 s for
this lock on 2 cores); uv, itself pinned and hashed in the lock, installs the whole lock in ~4 s from the network
and ~1 s from its cache (~/.cache/uv). The pip that installs uv is the machine's own when it can target the venv
(`pip --python`, pip 22.3+); otherwise the venv gets one from ensurepip (Debian's python3-venv installed first when
that is what is missing and we are root). Every package is checked against the lock's hashes, uv's included.
The uv that pip installed is kept beside uv's cache (~/.cache/zohosync/uv-<version>), so the next fresh venv
skips pip (~5 s: it reads PyPI's 2.6 MB index page of uv each time).
Standard library only: the machine's Python runs it before the virtualenv has anything in it.
"""
from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile

REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==")
QUIET = ["--quiet", "--disable-pip-version-check"]


def pinned(lock_text: str, name: str) -> str:
    """The lock's entry for `name` (its requirement line and hash lines) as a requirements file of its own."""
    lines, taking = [], False
    for line in lock_text.splitlines():
        found = REQUIREMENT.match(line)
        if found:
            taking = found.group(1).lower() == name
        elif not line.startswith((" ", "\t")):
            taking = False
        if taking and not line.strip().startswith("#"):
            lines.append(line)
    if not lines:
        raise LookupError(f"{name} is not pinned in the lock")
    return "\n".join(lines).rstrip(" \\") + "\n"


def pinned_version(entry: str) -> str:
    """The version an entry of `pinned` pins."""
    return entry.split("==", 1)[1].split()[0]


def can_target(pip_version: str | None) -> bool:
    """Whether a pip of this version (None: no pip) installs into another interpreter's environment (`--python`,
    pip 22.3 and later)."""
    if not pip_version:
        return False
    parts = re.findall(r"\d+", pip_version)[:2]
    return tuple(int(p) for p in parts) >= (22, 3)


def machine_pip_version() -> str | None:
    """The version of the pip this Python has, read from its metadata (starting pip to ask takes ~1-2 s)."""
    try:
        return importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return None


def venv_pip(python: str) -> list[str]:
    """A pip command that installs into the venv of `python`: the machine's, else the venv's own from ensurepip."""
    if can_target(machine_pip_version()):
        return [sys.executable, "-m", "pip", "--python", python]
    ensurepip = [python, "-m", "ensurepip", "--default-pip"]
    if subprocess.run(ensurepip, capture_output=True, check=False).returncode != 0:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise SystemExit("Python's venv module is missing: install it (apt-get install python3-venv) and retry.")
        subprocess.run(["apt-get", "install", "-y", "python3-venv"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        subprocess.run(ensurepip, check=True, capture_output=True)
    return [python, "-m", "pip"]


def kept_uv(version: str) -> str:
    """Where the uv of `version` that pip installed is kept for the next venv."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "zohosync", f"uv-{version}")


def runs(uv: str, version: str) -> bool:
    try:
        done = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.split()[1:2] == [version]


def main(argv: list[str]) -> int:
    if len(argv) != 2:  # a lock and a venv
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    lock, venv = argv
    python, uv = os.path.join(venv, "bin", "python"), os.path.join(venv, "bin", "uv")
    with open(lock, encoding="utf-8") as fh:
        entry = pinned(fh.read(), "uv")
    version = pinned_version(entry)
    kept = kept_uv(version)
    installer = next((u for u in (uv, kept) if runs(u, version)), None)
    if installer is None:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as req:
            req.write(entry)
            req.flush()
            installed = subprocess.run([*venv_pip(python), "install", *QUIET, "--no-deps", "--no-compile", "-r",
                                        req.name], check=False)
        if installed.returncode:
            return installed.returncode
        installer = uv
        try:
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            shutil.copy2(uv, kept + ".tmp")
            os.replace(kept + ".tmp", kept)
        except OSError:
            pass  # a read-only home: the next venv asks pip again
    return subprocess.run([installer, "pip", "install", "--quiet", "--python", python, "--no-deps",
                           "--require-hashes", "-r", lock], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
