"""Calls to a room's own APIs: /api/health on the game port, the admin API on the admin port."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import structlog

from . import metrics
from . import names as n
from .status import Probe

log = structlog.get_logger("gameroom_operator")


def _category(error: BaseException) -> str:
    """A stable category, not the error text: the status must not flap with details."""
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return "connection failed"


class RoomClient:
    """One shared HTTP session for every room's admin API (one prober, not one per room)."""

    def __init__(
        self, timeout: float = 5.0, max_connections: int = 0, keepalive: float = 330.0
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Connections are kept between probes (at most one per room and port, kept
            # longer than the longest probe period): opening two TCP connections per room
            # and probe was most of the prober's CPU. The probes in flight are bounded by
            # the controller's probe slots.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    limit=self._max, limit_per_host=1, keepalive_timeout=self._keepalive
                ),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _json(
        self,
        method: str,
        url: str,
        token: str | None = None,
        body: Any = None,
        timeout: aiohttp.ClientTimeout | None = None,  # noqa: ASYNC109 - aiohttp's own
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._ensure().request(
            method, url, json=body, headers=headers, timeout=timeout or self._timeout
        ) as response:
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = None
            return response.status, payload

    async def probe(
        self,
        pod_ip: str,
        token: str,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request limit, not a cancel
    ) -> Probe:
        """Deep health from /api/health (game port) and players, maintenance and version from
        /admin/stats (admin port), read side by side: one that hangs does not hide the other.
        `timeout` is the room's health.timeoutSeconds."""
        game = f"http://{pod_ip}:{n.GAME_PORT}"
        admin = f"http://{pod_ip}:{n.ADMIN_PORT}"
        limit = aiohttp.ClientTimeout(total=timeout) if timeout else None
        started = time.perf_counter()

        async def health() -> tuple[int, Any, float]:
            code, body = await self._json("GET", f"{game}/api/health", timeout=limit)
            return code, body, time.perf_counter() - started

        health_result, stats_result = await asyncio.gather(
            health(),
            self._json("GET", f"{admin}/admin/stats", token, timeout=limit),
            return_exceptions=True,
        )
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
        url = f"http://{pod_ip}:{n.ADMIN_PORT}/admin/maintenance"
        code, payload = await self._json(
            "PUT", url, token, {"enabled": enabled, "message": message}
        )
        if code != 200:
            raise RuntimeError(f"PUT /admin/maintenance answered {code}: {payload}")
