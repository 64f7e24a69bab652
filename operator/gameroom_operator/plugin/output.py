"""Output for people (aligned tables and sections) and for scripts (-o json|yaml)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from .client import to_yaml

FORMATS = ("json", "yaml", "table")


def emit(
    data: Any,
    output: str | None,
    human: Callable[[Any], str],
    stream: TextIO | None = None,
) -> None:
    """Print `data` as JSON or YAML for scripts, or `human(data)` for people."""
    out = stream or sys.stdout
    if output == "json":
        out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    elif output == "yaml":
        out.write(to_yaml(data))
    else:
        text = human(data)
        if text:
            out.write(text if text.endswith("\n") else text + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A kubectl-style table: upper-case headers, columns padded with three spaces."""
    cells = [[str(h).upper() for h in headers]]
    cells += [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Iterable[tuple[str, Any]], indent: int = 0) -> str:
    """`Key:  value` lines, aligned, skipping empty values (as kubectl describe does)."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
    if not shown:
        return ""
    width = max(len(k) for k, _ in shown) + 2
    pad = " " * indent
    return "\n".join(f"{pad}{(k + ':').ljust(width)}{v}" for k, v in shown)


def headed(title: str, pairs: Iterable[tuple[str, Any]]) -> str:
    """A title line and its `fields` below it, indented (a verb's outcome for people)."""
    return "\n".join([title, fields(pairs, indent=2)])


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: str | None, now: datetime | None = None) -> str:
    """kubectl's short ages: 42s, 5m, 3h, 2d."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
