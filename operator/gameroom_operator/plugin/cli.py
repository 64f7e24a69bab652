"""What every verb shares: kubectl's global flags, the run context, and `add_verb`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .client import Kube
from .output import FORMATS, emit


class UsageError(Exception):
    """Arguments argparse cannot check itself; main() prints it and exits 2."""


@dataclass
class Context:
    kube: Kube
    output: str | None

    def emit(self, data: Any, human: Callable[[Any], str]) -> None:
        emit(data, self.output, human)


T = TypeVar("T")

Runner = Callable[[argparse.Namespace, Context], int | None]


def common_options(suppress: bool) -> argparse.ArgumentParser:
    """kubectl's flags, accepted before or after the verb (`-n ns status x`, `status x -n ns`).

    On the verbs' parsers the defaults are SUPPRESS, so a flag given before the verb is not
    reset by the verb's parser.
    """
    default = argparse.SUPPRESS if suppress else None
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("kubectl options")
    group.add_argument("-n", "--namespace", default=default, help="the room's namespace")
    group.add_argument("--context", default=default, help="the kubeconfig context to use")
    group.add_argument("--kubeconfig", default=default, help="path to the kubeconfig file")
    group.add_argument("--request-timeout", default=default, help="passed to kubectl (e.g. 30s)")
    group.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=default,
        help="json or yaml for scripts; a table for people (the default)",
    )
    return parser


def add_verb(
    subparsers: Any, name: str, *, help: str, run: Runner, description: str | None = None
) -> argparse.ArgumentParser:
    """Add one verb; its module then adds its own arguments to the returned parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        parents=[common_options(suppress=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run, verb_parser=parser)
    return parser


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """kubectl's short durations (90s, 5m, 1h, 1h30m) or plain seconds, for argparse."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    total, number = 0.0, ""
    for char in value:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total += float(number) * _UNITS[char]
            number = ""
        else:
            number = "x"
            break
    if number or total <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h)")
    return total


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T | None:
    """Call `check` until it returns something truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.05)))
