"""Zoho's documented response examples, rendered mechanically from `zoho-openapi/<module>.yml`.

Every value comes from an `example` in the spec (a property with none is left out; no value
is made up); `$ref`s are followed, `allOf` merged, the first of `oneOf` / `anyOf` taken.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from tests.zoho import openapi_examples

SPEC_DIR = openapi_examples.SPEC_DIR
_MISSING = object()


@cache
def spec(module: str) -> dict[str, Any]:
    return openapi_examples.load(f"{module}.yml")


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _render(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    node = _resolve(doc, node)
    if depth > 12 or not isinstance(node, dict):
        return _MISSING
    kind = node.get("type")
    if "example" in node and kind not in ("object", "array"):
        return node["example"]
    if "allOf" in node:
        out: dict[str, Any] = {}
        for part in node["allOf"]:
            value = _render(doc, part, depth + 1)
            if isinstance(value, dict):
                out.update(value)
        return out
    for key in ("oneOf", "anyOf"):
        if key in node:
            return _render(doc, node[key][0], depth + 1)
    if kind == "object" or "properties" in node:
        out = {}
        for name, sub in (node.get("properties") or {}).items():
            value = _render(doc, sub, depth + 1)
            if value is not _MISSING:
                out[name] = value
        return node["example"] if not out and "example" in node else out
    if kind == "array":
        if "example" in node:
            return node["example"]
        value = _render(doc, node.get("items", {}), depth + 1)
        return [] if value is _MISSING else [value]
    return node.get("example", _MISSING)


def response_example(module: str, path: str, method: str = "get") -> dict[str, Any]:
    """The documented 200 answer of `method path` in `module`'s spec."""
    doc = spec(module)
    schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    rendered = _render(doc, schema)
    assert isinstance(rendered, dict), f"{module} {method.upper()} {path}: no example"
    return rendered


def spec_available() -> bool:
    return SPEC_DIR.is_dir()
