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
