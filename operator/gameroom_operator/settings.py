"""The operator's settings: command-line flags, each also read from a GAMEROOM_OPERATOR_* env."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from . import DEFAULT_IMAGE

ENV_PREFIX = "GAMEROOM_OPERATOR_"


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...]  # empty: every namespace
    default_image: str
    log_format: str
    log_level: str
    metrics_port: int
    metrics_host: str
    peering: str  # "" = standalone, else a Kopf peering name
    priority: int
    probe_interval: float
    resync_interval: float
    kubeconfig: str | None
    room_log_format: str
    operator_namespace: str = ""  # "" = not known: rooms admit only operators in their namespace

    @property
    def standalone(self) -> bool:
        return not self.peering


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace(path: str = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The namespace the operator runs in: POD_NAMESPACE (downward API), else its service
    account's, else "" (running outside the cluster)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except OSError:
        return ""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gameroom-operator",
        description="Runs GameRoom resources (drawgame.dev/v1alpha1) as game rooms. "
        f"Every flag can also be set as an environment variable {ENV_PREFIX}<FLAG>, "
        "e.g. GAMEROOM_OPERATOR_NAMESPACES=games,staging.",
    )
    p.add_argument(
        "--namespaces",
        default=_env("NAMESPACES", ""),
        help="comma-separated namespaces to watch (glob patterns allowed); empty: all namespaces",
    )
    p.add_argument(
        "--default-image",
        default=_env("DEFAULT_IMAGE", DEFAULT_IMAGE),
        help=f"image for rooms that set no spec.image (default {DEFAULT_IMAGE})",
    )
    p.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default=_env("LOG_FORMAT", "auto"),
        help="json for log collectors, console for people; auto picks by terminal",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"), help="DEBUG, INFO, WARNING")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(_env("METRICS_PORT", "8090")),
        help="port of /healthz and /metrics (0 turns them off)",
    )
    p.add_argument("--metrics-host", default=_env("METRICS_HOST", "0.0.0.0"))
    peering = p.add_mutually_exclusive_group()
    peering.add_argument(
        "--standalone",
        action="store_true",
        help="run without peering (the default): one operator replica",
    )
    peering.add_argument(
        "--peering",
        default=_env("PEERING", ""),
        help="Kopf peering name for several replicas (active/standby; needs Kopf's peering CRDs)",
    )
    p.add_argument("--priority", type=int, default=int(_env("PRIORITY", "0")))
    p.add_argument(
        "--probe-interval",
        type=float,
        default=float(_env("PROBE_INTERVAL", "0")),
        help="when set, caps every room's probe period (spec.health.periodSeconds); "
        "0 (the default): each room is probed on its own period",
    )
    p.add_argument(
        "--resync-interval",
        type=float,
        default=float(_env("RESYNC_INTERVAL", "3600")),
        help="seconds between two checks that every room's children are as rendered (0: never)",
    )
    p.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG") or None,
        help="kubeconfig file; default: in-cluster service account, else KUBECONFIG or ~/.kube",
    )
    p.add_argument(
        "--room-log-format",
        choices=("json", "console"),
        default=_env("ROOM_LOG_FORMAT", "json"),
        help="log format the game servers are started with",
    )
    p.add_argument(
        "--operator-namespace",
        default=_env("OPERATOR_NAMESPACE", ""),
        help="namespace of the operator's Pods, the only one the rooms' NetworkPolicies admit "
        "to the admin port; default: POD_NAMESPACE, else the service account's namespace, "
        "else none (only operator Pods in the room's own namespace)",
    )
    return p


def from_args(argv: list[str] | None = None) -> Settings:
    args = parser().parse_args(argv)
    namespaces = tuple(ns.strip() for ns in args.namespaces.split(",") if ns.strip())
    return Settings(
        namespaces=namespaces,
        default_image=args.default_image,
        log_format=args.log_format,
        log_level=args.log_level.upper(),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        peering="" if args.standalone else args.peering,
        priority=args.priority,
        probe_interval=args.probe_interval,
        resync_interval=args.resync_interval,
        kubeconfig=args.kubeconfig,
        room_log_format=args.room_log_format,
        operator_namespace=args.operator_namespace or own_namespace(),
    )
