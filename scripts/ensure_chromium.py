#!/usr/bin/env python3
"""Make sure headless Chromium and its driver are present for the dashboard's browser test (stdlib only).

Called by `make test`. When `/usr/bin/chromium` or `/usr/bin/chromedriver` is missing and
we run as root on a machine with apt-get, installs the Debian packages `chromium` and
`chromium-driver` (running `apt-get update` first if the install fails, as on a fresh
image with empty package lists). Otherwise it says why it cannot, and exits 0 all the
same: the browser test then skips with that reason instead of failing the whole suite.
Exit status 1 only when an install was attempted and failed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = ["chromium", "chromium-driver"]


def present() -> bool:
    return all(os.path.exists(p) and os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER))


def apt(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.call(["apt-get", *args], env=env)


def main() -> int:
    if present():
        print(f"ensure_chromium: {CHROMIUM} and {CHROMEDRIVER} are present")
        return 0
    if shutil.which("apt-get") is None:
        print("ensure_chromium: Chromium is missing and this machine has no apt-get; install chromium and "
              "chromium-driver yourself (the dashboard browser test will be skipped)", file=sys.stderr)
        return 0
    if os.geteuid() != 0:
        print("ensure_chromium: Chromium is missing and installing it needs root: "
              "sudo apt-get install -y chromium chromium-driver (the dashboard browser test will be skipped)",
              file=sys.stderr)
        return 0
    print("ensure_chromium: installing " + " ".join(PACKAGES), flush=True)
    if apt("install", "-y", *PACKAGES) != 0:
        print("ensure_chromium: install failed; refreshing package lists and retrying", flush=True)
        apt("update")
        if apt("install", "-y", *PACKAGES) != 0:
            print("ensure_chromium: apt-get could not install chromium chromium-driver "
                  "(the dashboard browser test will be skipped)", file=sys.stderr)
            return 1
    if not present():
        print(f"ensure_chromium: packages installed but {CHROMIUM} / {CHROMEDRIVER} are still missing",
              file=sys.stderr)
        return 1
    print("ensure_chromium: ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
