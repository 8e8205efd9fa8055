"""scripts/ensure_chromium.py: a background install holds the lock until it is done, so the browser test's own call
waits for it instead of racing apt-get; a failed install is retried after `apt-get update` and reported.

A stand-in `apt-get` (a shell script) "installs" by creating the two binaries, and records how it was called."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts import ensure_chromium
from tests.support.procs import ROOT

# The script run as a process with its paths pointed into a temporary directory (a background install forks, which
# must not happen to the test process itself).
WRAPPER = """\
import sys
sys.path.insert(0, {root!r})
from scripts import ensure_chromium as m
m.CHROMIUM, m.CHROMEDRIVER, m.APT_GET, m.LOCK = {chromium!r}, {driver!r}, {apt!r}, {lock!r}
m.cannot_install = lambda: None
sys.exit(m.main(sys.argv[1:]))
"""


def stand_in_apt(tmp_path: Path, install: str, update: str = ":") -> Path:
    """An apt-get that logs its arguments, then runs `install` for `apt-get install …`, `update` for `… update`."""
    apt = tmp_path / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
                   f'case "$1" in install) {install} ;; update) {update} ;; esac\n')
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)
    return apt


def creates_binaries(tmp_path: Path) -> str:
    return " && ".join(f"printf '#!/bin/sh\\n' > {tmp_path}/{name} && chmod +x {tmp_path}/{name}"
                       for name in ("chromium", "chromedriver"))


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def pointed(tmp_path, monkeypatch):
    """The module's paths pointed into tmp_path, for in-process calls (no background: those would fork pytest)."""
    monkeypatch.setattr(ensure_chromium, "CHROMIUM", str(tmp_path / "chromium"))
    monkeypatch.setattr(ensure_chromium, "CHROMEDRIVER", str(tmp_path / "chromedriver"))
    monkeypatch.setattr(ensure_chromium, "LOCK", str(tmp_path / "lock"))
    monkeypatch.setattr(ensure_chromium, "cannot_install", lambda: None)
    return tmp_path


def test_a_background_install_returns_at_once_and_a_later_call_waits_for_it_instead_of_installing_again(tmp_path):
    go = tmp_path / "go"
    apt = stand_in_apt(tmp_path, f"while [ ! -e {go} ]; do sleep 0.05; done; {creates_binaries(tmp_path)}")
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER.format(root=str(ROOT), chromium=str(tmp_path / "chromium"),
                                     driver=str(tmp_path / "chromedriver"), apt=str(apt), lock=str(tmp_path / "lock")))

    started = subprocess.run([sys.executable, str(script), "--background"], capture_output=True, text=True,
                             timeout=30)
    assert started.returncode == 0, started.stderr
    assert "in the background" in started.stdout
    assert not (tmp_path / "chromium").exists()  # apt-get is still waiting for `go`: the call did not wait for it

    waiter = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert waiter.poll() is None, "the second call returned while the install was still running"
        go.touch()
        out, _ = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode == 0
    assert "are present" in out
    assert calls(tmp_path) == ["install -y -q --no-install-recommends chromium chromium-driver"]
    assert "ensure_chromium: ready" in (tmp_path / "lock").read_text()  # the background install's output


def test_an_install_that_fails_is_retried_after_update_and_exits_1(pointed, monkeypatch, capsys):
    monkeypatch.setattr(ensure_chromium, "APT_GET", str(stand_in_apt(pointed, "exit 1")))
    assert ensure_chromium.main([]) == 1
    assert [c.split()[0] for c in calls(pointed)] == ["install", "update", "install"]
    assert "could not install" in capsys.readouterr().err


def test_a_first_failure_then_update_then_success_installs(pointed, monkeypatch):
    flag = pointed / "updated"
    monkeypatch.setattr(ensure_chromium, "APT_GET", str(stand_in_apt(
        pointed, f"[ -e {flag} ] || exit 1; {creates_binaries(pointed)}", update=f"touch {flag}")))
    assert ensure_chromium.main([]) == 0
    assert ensure_chromium.present()
    assert [c.split()[0] for c in calls(pointed)] == ["install", "update", "install"]


def test_present_binaries_mean_no_apt_get_at_all(pointed, monkeypatch):
    monkeypatch.setattr(ensure_chromium, "APT_GET", str(stand_in_apt(pointed, "exit 1")))
    for name in ("chromium", "chromedriver"):
        (pointed / name).write_text("#!/bin/sh\n")
        os.chmod(pointed / name, 0o755)
    assert ensure_chromium.main(["--background"]) == 0
    assert calls(pointed) == []


def test_where_it_cannot_install_it_says_why_and_exits_0(pointed, monkeypatch, capsys):
    monkeypatch.setattr(ensure_chromium, "cannot_install", lambda: "needs root")
    assert ensure_chromium.main([]) == 0
    assert "needs root" in capsys.readouterr().err


def test_an_unknown_argument_prints_the_usage_and_exits_2(capsys):
    assert ensure_chromium.main(["--now"]) == 2
    assert "ensure_chromium.py" in capsys.readouterr().err
