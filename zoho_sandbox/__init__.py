"""The Zoho sandbox: a local HTTP server that behaves like Zoho Books v3 / Inventory v1 for one seeded organisation.

It is the Zoho peer of every end-to-end test and the embedded default of `make run`:
OAuth token endpoint, paged and filtered list/detail endpoints, rate limits, injected
failures, and signed webhooks fired at the receiver as records change (live mode).
Run it with `python -m zoho_sandbox --port 8765 --seed 42`.
"""

from zoho_sandbox.app import create_sandbox_app, sandbox_of
from zoho_sandbox.data import ENTITIES, OrgSnapshot, SandboxOrg
from zoho_sandbox.runtime import Sandbox, SandboxOptions
from zoho_sandbox.server import SandboxServer
from zoho_sandbox.signing import sign, verify

__all__ = [
    "ENTITIES",
    "OrgSnapshot",
    "Sandbox",
    "SandboxOptions",
    "SandboxOrg",
    "SandboxServer",
    "create_sandbox_app",
    "sandbox_of",
    "sign",
    "verify",
]
