"""`zohosync` beside a sandbox-mode stack sees the stack's settings (dev.env fills what is unset, as for the stack)."""
from __future__ import annotations

import json

from tests.support.procs import child_env, run_cli


def test_the_cli_reads_the_same_organisation_and_budget_as_the_stack(db, redis_client):
    from models.settings import SANDBOX_ORG_ID
    from zoho.ratelimit import RateLimiter

    org = SANDBOX_ORG_ID
    limiter = RateLimiter(namespace=org)  # what the stack's workers spend, under the sandbox organisation
    for _ in range(5):
        limiter.acquire("realtime", timeout=1)
    env = child_env()
    for key in ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID",
                "ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL", "ZOHOSYNC_SANDBOX", "ZOHO_DAILY_CALL_BUDGET"):
        env.pop(key, None)
    out = run_cli(["health", "--json"], env, timeout=120)
    budget = json.loads(out.stdout)["checks"]["zoho_budget"]
    assert budget["value"] == 10000 - 5, out.stdout + out.stderr
