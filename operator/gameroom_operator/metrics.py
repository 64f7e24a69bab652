"""The operator's Prometheus metrics and its /healthz + /metrics HTTP server."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry()

ROOMS = Gauge(
    "gameroom_operator_rooms",
    "GameRooms known to the operator, by phase",
    ["phase"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "gameroom_operator_reconcile_duration_seconds",
    "Time to bring a room's children in line with its spec",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "gameroom_operator_reconcile_errors_total",
    "Reconciles that failed, by kind of error",
    ["kind"],
    registry=REGISTRY,
)
API_CALLS = Counter(
    "gameroom_operator_api_calls_total",
    "Kubernetes API calls the operator made itself (Kopf's watches not included), by verb",
    ["verb"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "gameroom_operator_api_errors_total",
    "Kubernetes API calls that failed, by verb and HTTP status",
    ["verb", "code"],
    registry=REGISTRY,
)
WRITES_SKIPPED = Counter(
    "gameroom_operator_writes_skipped_total",
    "Child objects and statuses already as desired, so not written",
    registry=REGISTRY,
)
PROBES = Counter(
    "gameroom_operator_room_probes_total",
    "Calls to rooms' admin APIs, by result",
    ["result"],
    registry=REGISTRY,
)

PROBE_SECONDS = Histogram(
    "gameroom_operator_probe_duration_seconds",
    "Time a room's deep probe (/api/health and /admin/stats) took",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
PROBE_FAILURES = Counter(
    "gameroom_operator_probe_failures_total",
    "Deep probes that found a room not healthy, by the runbook's severity (P0-P3)",
    ["severity"],
    registry=REGISTRY,
)
ROOMS_BY_SEVERITY = Gauge(
    "gameroom_operator_rooms_by_severity",
    "Rooms by the severity of their last deep probe (none: healthy or not probed)",
    ["severity"],
    registry=REGISTRY,
)
AUTOHEAL_RESTARTS = Counter(
    "gameroom_operator_autoheal_restarts_total",
    "Pods of unhealthy rooms restarted by auto-heal",
    registry=REGISTRY,
)
AUTOHEAL_EXHAUSTED = Gauge(
    "gameroom_operator_autoheal_exhausted_rooms",
    "Rooms whose auto-heal budget (health.maxRestartsPerHour) is spent",
    registry=REGISTRY,
)

# Backups (backups.py): one sample per room for the alerts GameRoomBackupStale and
# GameRoomBackupFailed (charts/gameroom-operator/templates/prometheusrule.yaml).
BACKUP_LAST_SUCCESS = Gauge(
    "gameroom_operator_backup_last_success_timestamp_seconds",
    "When the room's newest verified backup was taken (Unix time)",
    ["namespace", "room"],
    registry=REGISTRY,
)
BACKUPS = Counter(
    "gameroom_operator_backups",
    "Backup Jobs that finished, by result (succeeded, failed)",
    ["namespace", "room", "result"],
    registry=REGISTRY,
)
BACKUP_SECONDS = Histogram(
    "gameroom_operator_backup_duration_seconds",
    "Time a backup Job took to take, store, verify and prune a backup",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
BACKUP_BYTES = Gauge(
    "gameroom_operator_backup_size_bytes",
    "Size of the room's newest backup",
    ["namespace", "room"],
    registry=REGISTRY,
)
RESTORES = Counter(
    "gameroom_operator_restores",
    "Restore Jobs that finished, by result (succeeded, failed)",
    ["result"],
    registry=REGISTRY,
)


def render() -> bytes:
    return generate_latest(REGISTRY)


def make_app(is_healthy: Callable[[], tuple[bool, str]]) -> web.Application:
    started = time.monotonic()

    async def healthz(_: web.Request) -> web.Response:
        healthy, detail = is_healthy()
        body = {
            "status": "ok" if healthy else "failing",
            "detail": detail,
            "uptimeSeconds": round(time.monotonic() - started, 1),
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
