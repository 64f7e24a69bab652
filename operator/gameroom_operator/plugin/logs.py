"""`kubectl gameroom logs NAME [--level error|warn] [--grep RE] [--since 1h]`.

The runbook's log searches without jq: the room's game server writes JSON lines with a
`level` key; this filters them by level and by a pattern and prints them readably.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from . import rooms
from .cli import Context, UsageError, add_room_verb
from .client import PluginError

# Each --level shows itself and everything worse (structlog's names; warn == warning).
LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_ALIASES = {"warn": "warning", "fatal": "critical", "err": "error"}
_SINCE = re.compile(r"^(\d+(h|m|s))+$")
# Keys shown in the line's head rather than as key=value.
_HEAD = ("timestamp", "level", "event")


def register(subparsers: Any) -> None:
    parser = add_room_verb(
        subparsers,
        "logs",
        help="the room's game server logs, filtered by level and pattern",
        run=run,
    )
    parser.add_argument(
        "--level",
        choices=("debug", "info", "warn", "warning", "error", "critical"),
        help="this level and worse only (warn shows warnings, errors and critical)",
    )
    parser.add_argument(
        "--grep", metavar="PATTERN", help="lines matching this regular expression (any case)"
    )
    parser.add_argument("--since", help="only newer lines, e.g. 10m, 1h (kubectl's --since)")
    parser.add_argument("--tail", type=int, help="the last N lines before filtering")
    parser.add_argument(
        "-p", "--previous", action="store_true", help="the previous container's logs (a crash)"
    )


def parse_line(line: str) -> dict[str, Any]:
    """One log line as a record; a line that is not a JSON object keeps its text."""
    try:
        record = json.loads(line)
    except ValueError:
        return {"event": line, "level": None, "raw": True}
    if not isinstance(record, dict):
        return {"event": line, "level": None, "raw": True}
    return record


def level_of(record: dict[str, Any]) -> str | None:
    level = str(record.get("level") or "").lower()
    level = LEVEL_ALIASES.get(level, level)
    return level if level in LEVELS else None


def matches(
    record: dict[str, Any], line: str, floor: str | None, pattern: re.Pattern[str] | None
) -> bool:
    if floor is not None:
        level = level_of(record)
        if level is None or LEVELS.index(level) < LEVELS.index(floor):
            return False
    return pattern is None or bool(pattern.search(line))


def format_record(record: dict[str, Any]) -> str:
    if record.get("raw"):
        return str(record["event"])
    head = " ".join(
        str(part)
        for part in (
            record.get("timestamp", ""),
            str(record.get("level") or "-").upper().ljust(8),
            record.get("event", ""),
        )
        if part != ""
    )
    rest = " ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in record.items()
        if key not in _HEAD
    )
    return f"{head}  {rest}".rstrip()


def run(args: argparse.Namespace, ctx: Context) -> int:
    floor = LEVEL_ALIASES.get(args.level, args.level) if args.level else None
    try:
        pattern = re.compile(args.grep, re.IGNORECASE) if args.grep else None
    except re.error as error:
        raise UsageError(f"--grep is not a regular expression: {error}") from error
    if args.since and not _SINCE.match(args.since):
        raise UsageError(f"--since {args.since!r}: use a duration such as 30s, 10m or 1h")
    if args.tail is not None and args.tail < 0:
        raise UsageError("--tail must be 0 or more")
    kube = ctx.kube
    kube.room(args.name)
    pod = rooms.serving_pod(kube, args.name)
    if pod is None:
        raise PluginError(f"gameroom {args.name} has no Pod (kubectl gameroom status {args.name})")
    command = ["logs", pod["metadata"]["name"], "-c", "gameserver"]
    if args.since:
        command.append(f"--since={args.since}")
    if args.tail is not None:
        command.append(f"--tail={args.tail}")
    if args.previous:
        command.append("--previous")
    text = kube.run(*command, timeout=300).stdout
    records = [
        record
        for line in text.splitlines()
        if line.strip()
        for record in [parse_line(line)]
        if matches(record, line, floor, pattern)
    ]
    if not records and ctx.output not in ("json", "yaml"):
        print(f"no log lines of Pod {pod['metadata']['name']} match", file=sys.stderr)
    ctx.emit(
        {"room": args.name, "pod": pod["metadata"]["name"], "lines": records},
        lambda data: "\n".join(format_record(r) for r in data["lines"]),
    )
    return 0
