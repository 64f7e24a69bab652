"""What every verb shares: kubectl's global flags, the run context, `add_verb` (and
`add_room_verb` for a verb on one room), and waiting for an answer (`poll`, `wait_and_emit`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .client import Kube, PluginError
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


def add_room_verb(
    subparsers: Any,
    name: str,
    *,
    help: str,
    run: Runner,
    timeout: float | None = None,
    timeout_help: str = "",
    no_wait: str = "",
) -> argparse.ArgumentParser:
    """A verb on one GameRoom: its NAME argument and, for a verb that waits, `--timeout`
    (default `timeout` seconds) and, when it can return early, `--no-wait` (`no_wait` is
    what it then waits for)."""
    parser = add_verb(subparsers, name, help=help, run=run)
    parser.add_argument("name", help="the GameRoom's name")
    if timeout is not None:
        parser.add_argument("--timeout", type=duration, default=timeout, help=timeout_help)
    if no_wait:
        parser.add_argument("--no-wait", action="store_true", help=no_wait)
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


def wait_and_emit(
    ctx: Context,
    args: argparse.Namespace,
    result: dict[str, Any],
    key: str,
    answer: Callable[[], dict[str, Any] | None],
    human: Callable[[Any], str],
    late: str,
) -> dict[str, Any] | None:
    """The waiting half of a verb that asks for something: with --no-wait, `result` is
    printed as it is (None); else `answer` is polled each second up to --timeout, what it
    returns goes in result[key] and is printed and returned. No answer in time: `result`
    is printed all the same, then the verb fails saying `late` (and the timeout)."""
    if args.no_wait:
        ctx.emit(result, human)
        return None
    found = poll(answer, args.timeout, interval=1.0)
    if found is None:
        ctx.emit(result, human)
        raise PluginError(f"{late} within {args.timeout:g}s")
    result[key] = found
    ctx.emit(result, human)
    return found
