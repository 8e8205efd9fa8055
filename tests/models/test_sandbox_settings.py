"""Sandbox mode follows SANDBOX_PORT: nothing pins the API or accounts host to the default port."""
from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from models.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_sandbox_hosts_follow_sandbox_port(monkeypatch):
    for key in ("ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ZOHOSYNC_SANDBOX", "1")
    monkeypatch.setenv("SANDBOX_PORT", "8152")
    s = load_settings()
    assert (s.zoho_api_base_url, s.zoho_accounts_url) == ("http://127.0.0.1:8152", "http://127.0.0.1:8152")
    monkeypatch.setenv("ZOHO_API_BASE_URL", "http://127.0.0.1:9999")  # an explicit value still wins
    assert load_settings().zoho_api_base_url == "http://127.0.0.1:9999"


def test_dev_env_marks_sandbox_mode_and_pins_no_port():
    values = dotenv_values(ROOT / "dev.env")
    assert values.get("ZOHOSYNC_SANDBOX") == "1"
    assert "ZOHO_API_BASE_URL" not in values and "ZOHO_ACCOUNTS_URL" not in values
