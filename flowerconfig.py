"""Flower's settings: `celery -A tasks flower` run here reads this file (Flower's `--conf` default).

Flower alone would listen on every interface with no authentication. Here it binds
FLOWER_ADDRESS (127.0.0.1 unless configured) : FLOWER_PORT, takes basic auth from
FLOWER_BASIC_AUTH (`user:password[,user2:password2]`), and refuses to start off loopback
without it (sandbox mode has a random one ready in `.run/sandbox-secrets.env`).
"""
import sys

from models.settings import get_settings, is_loopback

_settings = get_settings()
# a command-line --address (read after this file) counts for the check too
_address = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--address=")), _settings.flower_address)

address = _settings.flower_address
port = _settings.flower_port
basic_auth = [cred.strip() for cred in (_settings.flower_basic_auth or "").split(",") if cred.strip()]

if not is_loopback(_address) and not basic_auth:
    sys.exit(f"zohosync: Flower would listen on {_address} without authentication; set FLOWER_BASIC_AUTH=user:password "
             "or FLOWER_ADDRESS=127.0.0.1")
