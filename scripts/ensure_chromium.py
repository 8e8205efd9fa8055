#!/usr/bin/env python3
"""Make sure headless Chromium and its driver are present for the dashboard's browser test (stdlib only).

    python3 scripts/ensure_chromium.py               # install if missing, then return
    python3 scripts/ensure_chromium.py --background  # install if missing, in a detached process; return at once

`make test` starts it with `--background` before anything else: on a fresh machine apt-get takes ~12 s of wall
time, which now passes while the virtualenv is filled and the other tests run. The browser test calls `main()`
itself: the install holds a lock (`LOCK`) from start to end, so that call waits for a background install to
finish (and installs, or retries, when there was none or it failed).

When `/usr/bin/chromium` or `/usr/bin/chromedriver` is missing and we run as root on a machine with apt-get,
installs the Debian packages `chromium` and `chromium-driver` without their recommendations (a headless browser
needs none of them; they would be ~90 more packages), running `apt-get update` first if the install fails, as on
a fresh image with empty package lists. Otherwise it says why it cannot, and exits 0 all the same: the browser test
then skips with that reason instead of failing the whole suite. Exit status 1 only when an install was attempted
and failed.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = ["chromium", "chromium-driver"]
APT_GET = "apt-get"
LOCK = os.path.join(tempfile.gettempdir(), "zohosync-ensure-chromium.lock")
"""Held by whoever is checking or installing; its file also receives a background install's output."""
WAIT = 600.0
"""Seconds a caller waits for another's install before giving up on it."""


def present() -> bool:
    return all(os.path.exists(p) and os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER))


def apt(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.call([APT_GET, *args], env=env, stdin=subprocess.DEVNULL)


def locked(wait: float = WAIT) -> int | None:
    """The lock's file descriptor, held; None if another process held it for `wait` seconds."""
    try:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # another user's lock: enough to wait on, and this user cannot install anyway
        fd = os.open(LOCK, os.O_RDONLY)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.2)


def cannot_install() -> str | None:
    """Why this process cannot install Chromium, or None when it can."""
    if shutil.which(APT_GET) is None:
        return ("Chromium is missing and this machine has no apt-get; install chromium and chromium-driver "
                "yourself (the dashboard browser test will be skipped)")
    if os.geteuid() != 0:
        return ("Chromium is missing and installing it needs root: sudo apt-get install -y --no-install-recommends "
                "chromium chromium-driver (the dashboard browser test will be skipped)")
    return None


def install() -> int:
    """apt-get install, once more after `apt-get update` if it fails; 0 once both binaries are there."""
    print("ensure_chromium: installing " + " ".join(PACKAGES), flush=True)
    command = ["install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if apt(*command) != 0:
        print("ensure_chromium: install failed; refreshing package lists and retrying", flush=True)
        apt("update", "-q")
        if apt(*command) != 0:
            print("ensure_chromium: apt-get could not install chromium chromium-driver "
                  "(the dashboard browser test will be skipped)", file=sys.stderr, flush=True)
            return 1
    if not present():
        print(f"ensure_chromium: packages installed but {CHROMIUM} / {CHROMEDRIVER} are still missing",
              file=sys.stderr, flush=True)
        return 1
    print("ensure_chromium: ready", flush=True)
    return 0


def background(fd: int) -> int:
    """Install in a detached child that holds the lock `fd` until it exits; its output goes to LOCK.

    The parent returns 0 at once, the child the install's status."""
    if os.fork():  # the child's copy of `fd` keeps the lock after the parent closes its own
        print(f"ensure_chromium: installing {' '.join(PACKAGES)} in the background (output in {LOCK}; "
              "the browser test waits for it)", flush=True)
        return 0
    os.setsid()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    return install()  # and the child exits with its status, which releases the lock


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--background"]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    fd = locked()
    if fd is None:
        print(f"ensure_chromium: another install has held {LOCK} for {WAIT:.0f} s; giving up", file=sys.stderr)
        return 1
    try:
        if present():
            print(f"ensure_chromium: {CHROMIUM} and {CHROMEDRIVER} are present")
            return 0
        why = cannot_install()
        if why:
            print(f"ensure_chromium: {why}", file=sys.stderr)
            return 0
        return background(fd) if argv == ["--background"] else install()
    finally:
        os.close(fd)

if __name__ == "__main__":
    sys.exit(main())
