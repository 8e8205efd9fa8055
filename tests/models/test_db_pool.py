"""Pool sizes come from the environment (DATABASE_POOL_SIZE, DATABASE_MAX_OVERFLOW): many hosts fit max_connections."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from models.db import get_engine, reset_engine
from models.settings import reset_settings


def test_the_pool_holds_database_pool_size_plus_max_overflow_connections_and_no_more(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "1")
    reset_settings()
    reset_engine()
    held = []
    try:
        engine = get_engine()
        assert engine.pool.size() == 2
        held = [engine.connect() for _ in range(3)]
        with pytest.raises(PoolTimeout):
            engine.connect()
    finally:
        for conn in held:
            conn.close()
        monkeypatch.undo()
        reset_settings()
        reset_engine()
