"""One engine per process and short, explicit transactions.

Celery's prefork children must not share the parent's sockets, so `dispose_after_fork`
is called from the worker's process-init hook.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from models.settings import get_settings

POOL_SIZE = 10
"""The default of `DATABASE_POOL_SIZE`."""

_lock = threading.Lock()
_engine: Engine | None = None
_autocommit_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def _new_engine(**extra) -> Engine:
    settings = get_settings()
    return create_engine(
        settings.database_url,
        # `DATABASE_POOL_SIZE` (default 10): at least as many kept connections as the receiver's
        # gthread threads (8): a smaller pool closes and reopens overflow connections under load,
        # and every reopen forks a PostgreSQL backend. Many hosts × processes × (size + overflow)
        # must stay under PostgreSQL's max_connections, or go through PgBouncer (docs/scaling.md).
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=5,
        pool_recycle=1800,
        # Liveness is detected on use (SQLAlchemy invalidates the whole pool on the first
        # disconnect error) instead of a pre-ping round trip per checkout.
        pool_pre_ping=False,
        connect_args={"connect_timeout": 3, "application_name": "zohosync"},
        **extra,
    )


def get_engine() -> Engine:
    global _engine, _sessionmaker
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _new_engine()
                _sessionmaker = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def get_autocommit_engine() -> Engine:
    """An engine whose every statement commits on its own (the webhook receiver's recording path).

    A single INSERT … RETURNING in autocommit is one round trip, committed (synchronously)
    when it returns — instead of BEGIN, INSERT, COMMIT. It is its own pool: switching a
    pooled connection to autocommit and back costs a `SET` round trip on every check-in.
    """
    global _autocommit_engine
    if _autocommit_engine is None:
        with _lock:
            if _autocommit_engine is None:
                _autocommit_engine = _new_engine(isolation_level="AUTOCOMMIT")
    return _autocommit_engine


def get_sessionmaker() -> sessionmaker[Session]:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_after_fork() -> None:
    """Drop connections inherited from a parent process without closing the parent's sockets."""
    for engine in (_engine, _autocommit_engine):
        if engine is not None:
            engine.dispose(close=False)


def reset_engine() -> None:
    """Close everything and forget the engine (tests that switch databases call this)."""
    global _engine, _autocommit_engine, _sessionmaker
    with _lock:
        for engine in (_engine, _autocommit_engine):
            if engine is not None:
                engine.dispose()
        _engine = None
        _autocommit_engine = None
        _sessionmaker = None
