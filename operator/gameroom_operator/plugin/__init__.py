"""`kubectl gameroom`: the GameRoom plugin for kubectl.

kubectl finds the `kubectl-gameroom` console script on PATH, so `kubectl gameroom status x`
runs `main(["status", "x"])`. Each verb group is a module with `register(subparsers)`;
adding a group is one line in VERB_MODULES.

Exit codes scripts can rely on: 0 done, 1 failed (the cluster said no, the room is not
found, a check failed), 2 usage (bad arguments), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .cli import Context, UsageError, common_options
from .client import Kube, PluginError

# One line per verb group; each module has `register(subparsers) -> None`.
VERB_MODULES = (
    "gameroom_operator.plugin.status",
    "gameroom_operator.plugin.restart",
    "gameroom_operator.plugin.maintenance",
    "gameroom_operator.plugin.smoke",
    "gameroom_operator.plugin.logs",
    "gameroom_operator.plugin.report",
    "gameroom_operator.plugin.backups",
    "gameroom_operator.plugin.drill",
    "gameroom_operator.plugin.revisions",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl gameroom",
        description="Operate GameRoom resources: status, logs, maintenance, incident reports.",
        parents=[common_options(suppress=False)],
        epilog="Exit codes: 0 done, 1 failed, 2 usage error.",
    )
    subparsers = parser.add_subparsers(title="verbs", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, as argparse does
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    kube = Kube(
        namespace=args.namespace,
        context=args.context,
        kubeconfig=args.kubeconfig,
        request_timeout=args.request_timeout,
    )
    try:
        return int(run(args, Context(kube=kube, output=args.output)) or EXIT_OK)
    except UsageError as error:
        getattr(args, "verb_parser", parser).print_usage(sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
