"""Calls to a room's own APIs: /api/health on the game port, the admin API on the admin port."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

from . import metrics
from . import names as n
from .status import Probe

log = structlog.get_logger("gameroom_operator")


class RoomClient:
    """One shared HTTP session for every room's admin API (one prober, not one per room)."""

    def __init__(self, timeout: float = 5.0, max_connections: int = 64) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max, force_close=True),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _json(
        self, method: str, url: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._ensure().request(method, url, json=body, headers=headers) as response:
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = None
            return response.status, payload

    async def probe(self, pod_ip: str, token: str) -> Probe:
        """Health from /api/health and players/maintenance/version from /admin/stats."""
        game = f"http://{pod_ip}:{n.GAME_PORT}"
        admin = f"http://{pod_ip}:{n.ADMIN_PORT}"
        try:
            (health_code, health), (stats_code, stats) = await asyncio.gather(
                self._json("GET", f"{game}/api/health"),
                self._json("GET", f"{admin}/admin/stats", token),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            metrics.PROBES.labels(result="unreachable").inc()
            # A stable category, not the error text: the status must not flap with details.
            category = "timed out" if isinstance(error, TimeoutError) else "connection failed"
            log.debug("room_probe_failed", pod_ip=pod_ip, error=f"{type(error).__name__}: {error}")
            return Probe(reachable=False, error=category)
        if stats_code != 200 or not isinstance(stats, dict):
            metrics.PROBES.labels(result="refused").inc()
            hint = " (the admin token does not match)" if stats_code == 401 else ""
            return Probe(reachable=False, error=f"/admin/stats answered {stats_code}{hint}")
        metrics.PROBES.labels(result="ok").inc()
        health_status = "unhealthy" if health_code >= 500 else "Unknown"
        reported = health.get("status") if isinstance(health, dict) else None
        if reported in ("healthy", "degraded", "unhealthy"):
            health_status = str(reported)
        maintenance = stats.get("maintenance") or {}
        return Probe(
            reachable=True,
            health=health_status,
            players=int(stats.get("players") or 0),
            spectators=int(stats.get("spectators") or 0),
            version=str(stats.get("version") or ""),
            maintenance_enabled=bool(maintenance.get("enabled")),
            maintenance_message=str(maintenance.get("message") or ""),
        )

    async def set_maintenance(self, pod_ip: str, token: str, enabled: bool, message: str) -> None:
        url = f"http://{pod_ip}:{n.ADMIN_PORT}/admin/maintenance"
        code, payload = await self._json(
            "PUT", url, token, {"enabled": enabled, "message": message}
        )
        if code != 200:
            raise RuntimeError(f"PUT /admin/maintenance answered {code}: {payload}")
