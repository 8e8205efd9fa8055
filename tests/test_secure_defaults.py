"""Issue 14, safe defaults: sandbox secrets are random and per checkout, partial Zoho credentials stop every
process, weak secrets stop the receiver, and every listener binds 127.0.0.1 unless configured otherwise."""
from __future__ import annotations

import os
import runpy
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from models.settings import DEVELOPMENT_VALUES, ConfigError, get_settings, load_settings, reset_settings

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID")
REAL = {"ZOHO_CLIENT_ID": "1000.ABCDEF", "ZOHO_CLIENT_SECRET": "f00dcafe" * 4, "ZOHO_REFRESH_TOKEN": "1000.aa.bb",
        "ZOHO_ORGANIZATION_ID": "10234695"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No Zoho credential, no secret, no listener setting, `.run/` in a temporary directory."""
    saved = dict(os.environ)
    for name in (*CREDENTIALS, "ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN", "FLOWER_BASIC_AUTH", "FLOWER_ADDRESS",
                 "WEB_ADDRESS", "SANDBOX_ADDRESS", "SANDBOX_HOST", "ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL",
                 "SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "SANDBOX_REFRESH_TOKEN", "SANDBOX_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOHOSYNC_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ZOHOSYNC_ENV_FILE", "/nonexistent/.env")
    reset_settings()
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
    reset_settings()


def test_sandbox_mode_makes_random_secrets_once_kept_0600_and_every_load_agrees(env, tmp_path, capsys):
    first = get_settings()
    secrets_file = tmp_path / "run" / "sandbox-secrets.env"
    assert first.sandbox_mode and stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    values = [first.webhook_secret, first.admin_token, first.zoho_client_id, first.zoho_client_secret,
              first.zoho_refresh_token]
    assert all(v and len(v) >= 12 and v not in DEVELOPMENT_VALUES for v in values)
    assert 12 <= len(first.webhook_secret) <= 50  # Zoho's webhook secret length
    assert first.admin_token in capsys.readouterr().err  # printed once, with the dashboard's address
    for name in ("ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN"):  # a fresh process reads the same file
        os.environ.pop(name)
    reset_settings()
    again = get_settings()
    assert (again.webhook_secret, again.admin_token, again.zoho_client_secret) == tuple(values[i] for i in (0, 1, 3))
    assert first.admin_token not in capsys.readouterr().err
    assert again.zoho_api_base_url == f"http://127.0.0.1:{again.sandbox_port}"


def test_another_checkout_gets_other_secrets(env, tmp_path):
    one = get_settings().webhook_secret
    env.delenv("ZOHO_WEBHOOK_SECRET")
    env.setenv("ZOHOSYNC_RUN_DIR", str(tmp_path / "other"))
    reset_settings()
    assert get_settings().webhook_secret != one


def test_a_configured_value_wins_over_the_generated_one(env):
    env.setenv("ADMIN_TOKEN", "operator-chosen-admin-token")
    assert get_settings().admin_token == "operator-chosen-admin-token"


@pytest.mark.parametrize("given", [("ZOHO_CLIENT_ID",), ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"),
                                   ("ZOHO_ORGANIZATION_ID",)])
def test_partial_zoho_credentials_are_an_error_naming_what_is_missing(env, given):
    for name in given:
        env.setenv(name, REAL[name])
    with pytest.raises(ConfigError) as e:
        get_settings()
    for name in CREDENTIALS:
        assert (f"{name}" in str(e.value).split(" missing")[0]) is (name not in given)


def _receiver_config(env):
    reset_settings()
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


@pytest.mark.parametrize("secret, token", [("x", "long-enough-admin-token-1"), ("long-enough-secret-1", "short"),
                                           ("sandbox-webhook-secret", "long-enough-admin-token-1"),
                                           ("long-enough-secret-1", "dev-admin-token")])
def test_outside_sandbox_mode_the_receiver_refuses_short_or_published_secrets(env, secret, token):
    for name, value in REAL.items():
        env.setenv(name, value)
    env.setenv("ZOHO_WEBHOOK_SECRET", secret)
    env.setenv("ADMIN_TOKEN", token)
    with pytest.raises(SystemExit) as e:
        _receiver_config(env)
    assert "ZOHO_WEBHOOK_SECRET" in str(e.value) or "ADMIN_TOKEN" in str(e.value)
    with pytest.raises(ConfigError):
        reset_settings()
        sys.modules.pop("webhook_app.wsgi", None)
        __import__("webhook_app.wsgi")


def test_the_receiver_binds_loopback_unless_web_address_says_otherwise(env):
    env.setenv("WEB_PORT", "8123")
    conf = _receiver_config(env)
    assert conf["bind"] == ["127.0.0.1:8123"] and conf["worker_class"] == "gevent"
    assert conf["control_socket"].startswith(os.environ["ZOHOSYNC_RUN_DIR"])  # not a path shared in $HOME
    env.setenv("WEB_ADDRESS", "0.0.0.0")
    assert _receiver_config(env)["bind"] == ["0.0.0.0:8123"]


def _flower_config(env, argv=()):
    reset_settings()
    env.setattr(sys, "argv", ["celery", *argv])
    return runpy.run_path(str(ROOT / "flowerconfig.py"))


def test_flower_binds_loopback_and_needs_basic_auth_anywhere_else(env):
    for name, value in REAL.items():
        env.setenv(name, value)
    conf = _flower_config(env)
    assert conf["address"] == "127.0.0.1" and conf["basic_auth"] == []
    env.setenv("FLOWER_ADDRESS", "0.0.0.0")
    with pytest.raises(SystemExit, match="FLOWER_BASIC_AUTH"):
        _flower_config(env)
    env.delenv("FLOWER_ADDRESS")
    with pytest.raises(SystemExit, match="FLOWER_BASIC_AUTH"):
        _flower_config(env, ["--address=0.0.0.0"])
    env.setenv("FLOWER_ADDRESS", "0.0.0.0")
    env.setenv("FLOWER_BASIC_AUTH", "ops:a-long-password,audit:another-one")
    assert _flower_config(env)["basic_auth"] == ["ops:a-long-password", "audit:another-one"]


def test_flower_off_loopback_in_sandbox_mode_gets_the_generated_basic_auth(env, tmp_path):
    env.setenv("FLOWER_ADDRESS", "0.0.0.0")
    conf = _flower_config(env)
    assert conf["basic_auth"] and conf["basic_auth"][0].startswith("flower:")
    assert conf["basic_auth"][0] in (tmp_path / "run" / "sandbox-secrets.env").read_text()


def test_the_sandbox_binds_loopback_and_takes_the_checkouts_secrets(env):
    from zoho_sandbox.__main__ import build_parser

    settings = get_settings()
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert (args.client_id, args.client_secret, args.refresh_token, args.webhook_secret) == (
        settings.zoho_client_id, settings.zoho_client_secret, settings.zoho_refresh_token, settings.webhook_secret)


def test_dev_env_holds_no_secret():
    text = (ROOT / "dev.env").read_text() if (ROOT / "dev.env").exists() else ""
    for value in DEVELOPMENT_VALUES:
        assert value not in text
    assert not [line for line in text.splitlines() if line.split("=", 1)[0].strip() in
                ("ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")]


def test_load_settings_has_no_side_effect(env, tmp_path):
    load_settings()
    assert not (tmp_path / "run").exists()


def test_a_process_with_partial_credentials_exits_at_start_with_the_message(env):
    env.setenv("ZOHO_CLIENT_ID", "1000.ABC")
    out = subprocess.run([sys.executable, "-c", "import webhook_app.wsgi"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode != 0 and "ZOHO_CLIENT_SECRET" in out.stderr and "missing" in out.stderr
