"""One row per figure: ours beside the floor measured in the same run, the ratio, the target, pass/fail."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    name: str
    ours: str
    floor: str
    ratio: float | None
    target: str
    passed: bool | None  # None: reported, no target to pass
    raw: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


HEADERS = ("figure", "ours", "floor", "ratio", "target", "pass/fail")


def _cells(f: Figure) -> tuple[str, ...]:
    ratio = "—" if f.ratio is None else f"{f.ratio:.2f}×"
    verdict = "—" if f.passed is None else ("pass" if f.passed else "FAIL")
    return f.name, f.ours, f.floor, ratio, f.target, verdict


def markdown(figures: list[Figure]) -> str:
    """The table as Markdown (what bench/README.md keeps)."""
    rows = [HEADERS, *(_cells(f) for f in figures)]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("---" for _ in HEADERS) + "|")
    return "\n".join(lines)


def plain(figures: list[Figure]) -> str:
    """The table aligned for a terminal."""
    rows = [HEADERS, *(_cells(f) for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
