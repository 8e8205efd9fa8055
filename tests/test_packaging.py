"""What ships: the production package set has no sandbox, and `zoho` runs without Flask (design: zoho is pure)."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_zoho_module_imports_without_flask():
    code = ("import zoho, pkgutil, importlib, sys; "
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(zoho.__path__, 'zoho.')]; "
            "assert 'flask' not in sys.modules, sorted(m for m in sys.modules if m.startswith('flask'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "ZOHOSYNC_ENV_FILE": "/nonexistent/.env"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_wheel_holds_no_sandbox_and_no_tests():
    """The packages setuptools puts in the wheel, from pyproject's own `packages.find` configuration."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(where=str(ROOT), include=config["packages"]["find"]["include"])
    assert "zoho" in packages and "webhook_app" in packages and "tasks" in packages
    assert not [p for p in packages if p.split(".")[0] in ("zoho_sandbox", "tests", "bench", "scripts")], packages


def test_the_production_image_leaves_the_sandbox_to_the_dev_target():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dockerfile.split("\nFROM ")
    production = next(s for s in stages if s.startswith("app AS production"))
    assert "zoho_sandbox" not in production
    assert "rm -rf /src/zoho_sandbox" in dockerfile  # the source copied into every image lacks it
    assert stages[-1].startswith("app AS production")  # `docker build .` builds production
    assert "COPY --chown=zohosync:zohosync zoho_sandbox" in next(s for s in stages if s.startswith("app AS dev"))
