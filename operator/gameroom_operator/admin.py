"""Calls to a room's own APIs: /api/health on the game port, the admin API on the admin port."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from . import metrics
from . import names as n
from .roomhttp import HttpClient, HttpError
from .status import Probe

log = structlog.get_logger("gameroom_operator")


def _category(error: BaseException) -> str:
    """A stable category, not the error text: the status must not flap with details."""
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, HttpError):
        return "unreadable answer"
    return "connection failed"


class RoomClient:
    """One client for every room's own APIs (one prober, not one per room).

    Connections are kept between probes, at most one idle per room and port and longer
    than the longest probe period: opening two TCP connections per room and probe was most
    of the prober's CPU. The probes in flight are bounded by the controller's probe slots.
    """

    def __init__(self, timeout: float = 5.0, keepalive: float = 330.0) -> None:
        self._timeout = timeout
        self._http = HttpClient(keepalive=keepalive)

    @property
    def connects(self) -> int:
        """TCP connections opened so far (kept-alive ones are reused)."""
        return self._http.connects

    async def close(self) -> None:
        await self._http.close()

    async def _json(
        self,
        method: str,
        host: str,
        port: int,
        path: str,
        token: str | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = await self._http.request(
            method, host, port, path, self._timeout, headers=headers, body=body
        )
        return response.status, response.json()

    async def probe(
        self,
        pod_ip: str,
        token: str,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request limit, not a cancel
    ) -> Probe:
        """Deep health from /api/health (game port) and players, maintenance and version from
        /admin/stats (admin port), read side by side: one that hangs does not hide the other.
        `timeout` is the room's health.timeoutSeconds."""
        limit = timeout or self._timeout
        started = time.perf_counter()
        # Both GETs are sent before either answer is awaited: one that hangs does not
        # delay the other, and no task is made for either.
        health_pending = self._http.start("GET", pod_ip, n.GAME_PORT, "/api/health", limit)
        stats_pending = self._http.start(
            "GET",
            pod_ip,
            n.ADMIN_PORT,
            "/admin/stats",
            limit,
            headers={"Authorization": f"Bearer {token}"},
        )
        health_result: tuple[int, Any, float] | BaseException
        stats_result: tuple[int, Any] | BaseException
        try:
            answer = await health_pending.wait()
            health_result = (answer.status, answer.json(), time.perf_counter() - started)
        except (OSError, TimeoutError, HttpError) as error:
            health_result = error
        except asyncio.CancelledError:
            stats_pending.discard()
            raise
        try:
            answer = await stats_pending.wait()
            stats_result = (answer.status, answer.json())
        except (OSError, TimeoutError, HttpError) as error:
            stats_result = error
        health_body: dict[str, Any] | None = None
        health_error = ""
        latency = time.perf_counter() - started
        health_status = "Unknown"
        if isinstance(health_result, BaseException):
            health_error = _category(health_result)
        else:
            code, payload, latency = health_result
            if isinstance(payload, dict):
                health_body = payload
                reported = payload.get("status")
                if reported in ("healthy", "degraded", "unhealthy"):
                    health_status = str(reported)
            else:
                health_error = f"answered {code} without JSON"
            if code >= 500 and health_status == "Unknown":
                health_status = "unhealthy"
        if isinstance(stats_result, BaseException):
            metrics.PROBES.labels(result="unreachable").inc()
            log.debug("room_probe_failed", pod_ip=pod_ip, error=repr(stats_result))
            return Probe(
                reachable=False,
                error=_category(stats_result),
                health=health_status,
                health_body=health_body,
                health_error=health_error,
                latency=latency,
            )
        stats_code, stats = stats_result
        if stats_code != 200 or not isinstance(stats, dict):
            metrics.PROBES.labels(result="refused").inc()
            hint = " (the admin token does not match)" if stats_code == 401 else ""
            return Probe(
                reachable=False,
                error=f"/admin/stats answered {stats_code}{hint}",
                health=health_status,
                health_body=health_body,
                health_error=health_error,
                latency=latency,
            )
        metrics.PROBES.labels(result="ok").inc()
        maintenance = stats.get("maintenance") or {}
        return Probe(
            reachable=True,
            health=health_status,
            players=int(stats.get("players") or 0),
            spectators=int(stats.get("spectators") or 0),
            version=str(stats.get("version") or ""),
            maintenance_enabled=bool(maintenance.get("enabled")),
            maintenance_message=str(maintenance.get("message") or ""),
            health_body=health_body,
            health_error=health_error,
            latency=latency,
        )

    async def set_maintenance(self, pod_ip: str, token: str, enabled: bool, message: str) -> None:
        code, payload = await self._json(
            "PUT",
            pod_ip,
            n.ADMIN_PORT,
            "/admin/maintenance",
            token,
            {"enabled": enabled, "message": message},
        )
        if code != 200:
            raise RuntimeError(f"PUT /admin/maintenance answered {code}: {payload}")
