"""Sandbox mode follows SANDBOX_PORT: nothing pins the API or accounts host to the default port."""
from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from models.settings import effective, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_sandbox_hosts_follow_sandbox_port(monkeypatch, tmp_path):
    for key in ("ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL", "ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET",
                "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID", "ZOHOSYNC_SANDBOX_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ZOHOSYNC_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("SANDBOX_PORT", "8152")
    s = effective(load_settings())
    assert s.sandbox_mode
    assert (s.zoho_api_base_url, s.zoho_accounts_url) == ("http://127.0.0.1:8152", "http://127.0.0.1:8152")
    monkeypatch.setenv("ZOHO_API_BASE_URL", "http://127.0.0.1:9999")  # an explicit value still wins
    assert effective(load_settings()).zoho_api_base_url == "http://127.0.0.1:9999"


def test_dev_env_pins_no_port_and_holds_no_secret():
    values = dotenv_values(ROOT / "dev.env")
    assert "ZOHO_API_BASE_URL" not in values and "ZOHO_ACCOUNTS_URL" not in values
    assert not {"ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"} & set(values)
