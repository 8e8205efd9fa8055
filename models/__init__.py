"""SQLAlchemy 2.0 models (queue mirror and ERP), the engine/session, and upsert helpers.

Imports nothing else of ours: every other package builds on this one.
"""
from models import erp, queue, shape_warnings  # noqa: F401  (register every table on Base.metadata)
from models.base import Base

metadata = Base.metadata
