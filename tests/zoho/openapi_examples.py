"""Zoho's documented response examples, rendered mechanically from the OpenAPI specs.

Every value comes from an `example` in `zoho-openapi/*.yml` (following `$ref`s); nothing is
made up: a property without an example is left out, an array holds its one documented item.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(os.environ.get("ZOHO_OPENAPI_DIR", Path(__file__).resolve().parents[1] / "fixtures" / "zoho-openapi"))
"""Zoho's published specs, kept in the repository (tests/fixtures/zoho-openapi, see its README)."""

_MISSING = object()
METHODS = ("get", "post", "put")


_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: 11 specs in ~0.3 s, not ~2 s


class _JsonLikeLoader(_BASE_LOADER):
    """YAML without implicit timestamps: `example: 2013-11-17` is the string Zoho's JSON carries."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@cache
def load(spec: str) -> dict[str, Any]:
    with open(SPEC_DIR / spec, encoding="utf-8") as f:
        return yaml.load(f, Loader=_JsonLikeLoader)


def render(schema: dict[str, Any], schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The example a schema documents: its `example`, else its properties' / items' examples."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:  # a recursive schema: Zoho documents no example that deep
            return _MISSING
        return render(schemas[name], schemas, seen + (name,))
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "object" or "properties" in schema:
        out = {}
        for key, sub in (schema.get("properties") or {}).items():
            value = render(sub, schemas, seen)
            if value is not _MISSING:
                out[key] = value
        return out
    if schema.get("type") == "array":
        item = render(schema.get("items") or {}, schemas, seen)
        return [] if item is _MISSING else [item]
    return _MISSING


@dataclass(frozen=True)
class Example:
    """One documented response: where it is documented and the body Zoho answers with."""

    spec: str
    operation: str
    status: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.spec}:{self.operation}:{self.status}"


def examples(spec: str) -> list[Example]:
    """Every JSON 2xx response example of every GET / POST / PUT operation of one spec file."""
    doc = load(spec)
    schemas = doc.get("components", {}).get("schemas", {})
    out = []
    for path, ops in doc.get("paths", {}).items():
        for method in METHODS:
            op = ops.get(method)
            if not isinstance(op, dict):
                continue
            for status, response in (op.get("responses") or {}).items():
                if not str(status).startswith("2"):
                    continue
                schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
                if not schema:
                    continue
                body = render(schema, schemas)
                if isinstance(body, dict):
                    out.append(Example(spec, op.get("operationId") or f"{method} {path}", str(status), body))
    return out
