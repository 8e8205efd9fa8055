"""SQLAlchemy 2.0 models (queue mirror and ERP), the engine/session, and upsert helpers.

Imports nothing else of ours: every other package builds on this one. Importing the package itself is cheap
(`models.settings` is read by every process, gunicorn's master included): the tables are defined by the modules
that need them, and `models.metadata` imports every table module before it answers, so it is always complete.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "metadata":
        from models import erp, queue, shape_warnings  # noqa: F401  (register every table on Base.metadata)
        from models.base import Base

        return Base.metadata
    raise AttributeError(f"module 'models' has no attribute {name!r}")
