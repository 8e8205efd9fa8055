"""Declarative base whose type map makes money NUMERIC and every datetime timezone-aware."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, mapped_column

Money = Annotated[Decimal, 18]
"""Money and quantities: NUMERIC(20, 6) so Zoho's 2-6 decimal values round-trip exactly."""

ZohoId = Annotated[str, 32]
"""Zoho ids are 18-19 digit strings; stored as VARCHAR(32), never as a number. (The 32 only tells this type from
plain `str` in the type map; a string there would be read as a forward reference.)"""

intpk = Annotated[int, mapped_column(BigInteger, primary_key=True, autoincrement=True)]
created_ts = Annotated[dt.datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]


class Base(DeclarativeBase):
    type_annotation_map = {
        Money: Numeric(20, 6),
        Decimal: Numeric(20, 6),
        ZohoId: String(32),
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        str: Text,
    }
