"""Lenient readers for Zoho's value quirks, as plain functions and as marshmallow fields.

Zoho sends ids as long digit strings (sometimes as JSON numbers in its own examples),
`""` for an empty number, money as JSON numbers, and timestamps in several shapes
(`2025-11-04T21:52:11+0300`, `…+03:00`, `2015-05-29 00:00:00+00:00`, a bare date).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields


def to_text(value: Any) -> str | None:
    """A trimmed string, or None for null / empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    s = str(value).strip()
    return s or None


def to_zoho_id(value: Any) -> str | None:
    """Zoho ids as text; an integral JSON number is accepted and printed without exponent.

    Zoho ids are digit strings (18–19 digits in practice): anything else (`"abc"`) is refused,
    so a malformed record is a 422 at the receiver, not a row keyed by garbage.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not an id: {value!r}")
        value = int(value)
    text = to_text(value)
    if text is not None and not (text.isascii() and text.isdigit() and len(text) <= 32):
        raise ValueError(f"not a Zoho id (digits only): {text[:40]!r}")
    return text


def to_decimal(value: Any) -> Decimal | None:
    """Money/quantity as Decimal; `""` and None become None; `"1,234.50"` and `"10%"` are read."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    s = str(value).strip().replace(",", "")
    if s.endswith("%"):
        s = s[:-1].strip()
    if s == "":
        return None
    try:
        d = Decimal(s)
    except InvalidOperation as e:
        raise ValueError(f"not a number: {value!r}") from e
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def to_int(value: Any) -> int | None:
    d = to_decimal(value)
    return None if d is None else int(d)


def to_datetime(value: Any) -> dt.datetime | None:
    """Any Zoho timestamp form → aware datetime (no offset → UTC); `""` → None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        s = str(value).strip()
        if not s:
            return None
        try:
            parsed = dt.datetime.fromisoformat(s)
        except ValueError as e:
            raise ValueError(f"not a Zoho timestamp: {value!r}") from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def to_date(value: Any) -> dt.date | None:
    """`2025-11-04` (or a timestamp, whose calendar date is kept) → date; `""` → None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    s = str(value).strip()
    if not s:
        return None
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError as e:
        raise ValueError(f"not a Zoho date: {value!r}") from e


def to_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "y", "active")


def custom_field(record: dict, api_name: str) -> Any:
    """A custom field's value by API name (`cf_name_ar`), from `custom_field_hash` or `custom_fields[]`."""
    hashed = record.get("custom_field_hash")
    if isinstance(hashed, dict):
        for key in (f"{api_name}_unformatted", api_name):
            if hashed.get(key) not in (None, ""):
                return hashed[key]
    bare = api_name[3:] if api_name.startswith("cf_") else api_name
    for cf in record.get("custom_fields") or []:
        if not isinstance(cf, dict):
            continue
        names = {cf.get("api_name"), cf.get("placeholder"), cf.get("label")}
        names = {str(n).strip().lower().replace(" ", "_") for n in names if n}
        if api_name.lower() in names or bare.lower() in names:
            value = cf.get("value")
            if value not in (None, ""):
                return value
    return None


def pick_address(value: Any) -> dict | None:
    """One address from what Zoho sends: a mapping, or (Inventory bills / purchase orders) an array of
    them, of which the one marked default wins, else the first; anything else is no address."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        candidates = [a for a in value if isinstance(a, dict)]
        for a in candidates:
            if any(to_bool(a.get(k)) for k in ("is_default", "is_default_address", "is_primary")):
                return a
        return candidates[0] if candidates else None
    return None


def custom_fields_of(record: dict) -> dict[str, Any] | None:
    """Every custom field of a record keyed by api name (`cf_…`) and by label; None when it has none.

    Sources, first wins per key: `custom_fields[]` (`api_name` / `label` / `placeholder`), then
    `custom_field_hash` (`cf_x_unformatted` read as `cf_x`), then top-level `cf_*` keys (Books
    webhooks flatten them). Entries of an unexpected shape are skipped (`raw` keeps them).
    """
    out: dict[str, Any] = {}
    found = False
    entries = record.get("custom_fields")
    if isinstance(entries, list):
        found = True
        for position, cf in enumerate(entries, start=1):
            if not isinstance(cf, dict):
                continue
            value = cf.get("value")
            for name_key in ("api_name", "placeholder", "label"):
                name = cf.get(name_key)
                if isinstance(name, str) and name.strip():
                    out.setdefault(name.strip(), value)
            if not any(isinstance(cf.get(k), str) and cf.get(k).strip() for k in ("api_name", "placeholder", "label")):
                # Nameless entries (Zoho's own examples have them) are kept by id, else by position.
                cid = cf.get("customfield_id")
                cid = to_text(cid) if cid is not None and not isinstance(cid, (dict, list)) else None
                out.setdefault(cid or f"#{position}", value)
    hashed = record.get("custom_field_hash")
    if isinstance(hashed, dict):
        found = True
        for key, value in hashed.items():
            if key.endswith("_unformatted"):
                out.setdefault(key[: -len("_unformatted")], value)
        for key, value in hashed.items():
            if not key.endswith("_unformatted"):
                out.setdefault(key, value)
    for key, value in record.items():
        if isinstance(key, str) and key.startswith("cf_") and not key.endswith("_unformatted"):
            found = True
            unformatted = record.get(f"{key}_unformatted")
            out.setdefault(key, value if unformatted is None else unformatted)
    if not found:
        return None
    return out


def discount_kind(value: Any) -> str | None:
    """'percentage' for a discount written like "10%", 'amount' for a plain number; None when empty."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return "percentage" if text.endswith("%") else "amount"


# --- marshmallow fields: the same readers at the edge, raising ValidationError from the cause ---


class _Lenient(fields.Field):
    reader = staticmethod(to_text)
    message = "Invalid value."

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.reader(value)
        except (ValueError, TypeError) as e:
            raise ValidationError(f"{self.message} {e}") from e

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class ZohoId(_Lenient):
    reader = staticmethod(to_zoho_id)
    message = "Not a Zoho id."

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (dict, list)):
            raise ValidationError("Not a Zoho id: expected a string.")
        result = super()._deserialize(value, attr, data, **kwargs)
        if self.required and result is None:
            raise ValidationError("Missing data for required field.")
        return result


class ZohoDecimal(_Lenient):
    reader = staticmethod(to_decimal)
    message = "Not a number."

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (dict, list)):
            raise ValidationError("Not a number.")
        return super()._deserialize(value, attr, data, **kwargs)


class ZohoDateTime(_Lenient):
    reader = staticmethod(to_datetime)
    message = "Not a Zoho timestamp."

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (str, type(None))):
            raise ValidationError("Not a Zoho timestamp: expected a string.")
        return super()._deserialize(value, attr, data, **kwargs)


class ZohoDate(_Lenient):
    reader = staticmethod(to_date)
    message = "Not a Zoho date."

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (str, type(None))):
            raise ValidationError("Not a Zoho date: expected a string.")
        return super()._deserialize(value, attr, data, **kwargs)


class ZohoText(_Lenient):
    reader = staticmethod(to_text)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (dict, list)):
            raise ValidationError("Not a string.")
        return super()._deserialize(value, attr, data, **kwargs)


def nul_path(value) -> str | None:
    """Where a NUL character sits in the document (PostgreSQL text and JSONB cannot hold one).

    The path is built only once a NUL is found: a clean record (every pulled one) costs the walk alone.
    """
    trail = _nul_trail(value)
    if trail is None:
        return None
    return "".join(reversed(trail)) or "$"


def _nul_trail(value) -> list[str] | None:
    """The steps to the first NUL, innermost first (`[]`: `value` itself), or None without one."""
    if isinstance(value, str):
        return [] if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                return [f".{k}"]
            found = _nul_trail(v)
            if found is not None:
                found.append(f".{k}")
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_trail(v)
            if found is not None:
                found.append(f"[{i}]")
                return found
    return None
