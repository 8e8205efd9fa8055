"""The error classes every layer acts on: classified once here, never by message text.

The task layer retries `TransientError` (and waits out `RateLimited`), and sends
`PermanentError` / `MappingError` straight to the dead-letter table.
"""
from __future__ import annotations


class SyncError(Exception):
    """Base of every classified sync error."""


class TransientError(SyncError):
    """Worth retrying later: network trouble, 5xx, a database hiccup, lock contention."""


class RateLimited(TransientError):
    """Zoho (or our own budget) says wait; `retry_after` seconds is the advice."""

    def __init__(self, message: str = "rate limited", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """Retrying cannot help: a 4xx from Zoho, a record that no longer exists, bad credentials."""


class NotFound(PermanentError):
    """Zoho says the record does not exist (code 1002): for a sweep, a deletion."""


class AuthError(PermanentError):
    """OAuth credentials are invalid or lack scope; needs an operator, raises an alert."""


class MappingError(PermanentError):
    """The payload cannot be mapped to ERP rows (missing key, impossible value)."""


class LockContention(TransientError):
    """Another worker holds the record; retry soon without spending an attempt."""
