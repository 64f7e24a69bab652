"""Deep health (`/api/health`), liveness (`/livez`) and readiness (`/readyz`)."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import TYPE_CHECKING, Any

from gameserver.store import SCHEMA_VERSION

if TYPE_CHECKING:
    from gameserver.server import GameServer

DB_TIMEOUT = 2.0
DB_SLOW = 0.25
STORAGE_LOW_BYTES = 64 * 1024 * 1024
STORAGE_CRITICAL_BYTES = 4 * 1024 * 1024
LOOP_LAG_WARN = 0.25
LOOP_LAG_FAIL = 5.0
BROADCAST_P95_WARN = 0.05

_ORDER = {"ok": 0, "warn": 1, "fail": 2}
OVERALL = {"ok": "healthy", "warn": "degraded", "fail": "unhealthy"}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _ORDER[s]) if statuses else "ok"


async def database_check(server: GameServer) -> dict[str, Any]:
    started = time.perf_counter()
    if not server.store.is_open:
        return {"status": "fail", "error": "database is not open", "latencyMs": 0.0}
    try:
        players, _ = await asyncio.wait_for(asyncio.to_thread(server.store.probe), DB_TIMEOUT)
    except TimeoutError:
        return {
            "status": "fail",
            "error": f"query took longer than {DB_TIMEOUT:.0f} s",
            "latencyMs": round((time.perf_counter() - started) * 1000, 2),
        }
    except Exception as exc:
        return {
            "status": "fail",
            "error": f"query failed: {exc}",
            "latencyMs": round((time.perf_counter() - started) * 1000, 2),
        }
    latency = time.perf_counter() - started
    server.metrics.db_latency.set(latency)
    status = "warn" if latency > DB_SLOW else "ok"
    check: dict[str, Any] = {
        "status": status,
        "latencyMs": round(latency * 1000, 2),
        "playersStored": players,
        "schemaVersion": server.store.schema_version,
        # The file's name only: its absolute path tells an outsider about the host.
        "file": server.settings.db_path.name,
        # Events the writer had to leave out (the rest of their batch was kept).
        "eventsSkipped": server.store.skipped,
    }
    if server.store.last_skipped:
        check["lastSkipped"] = server.store.last_skipped[:200]
    if server.store.error:
        check["status"] = "fail"
        check["error"] = f"last write failed: {server.store.error}"
    return check


def storage_check(server: GameServer) -> dict[str, Any]:
    folder = server.settings.db_path.resolve().parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        return {"status": "fail", "error": f"cannot stat the database folder: {exc.strerror}"}
    status = "ok"
    if usage.free < STORAGE_CRITICAL_BYTES:
        status = "fail"
    elif usage.free < STORAGE_LOW_BYTES:
        status = "warn"
    return {
        "status": status,
        "freeBytes": usage.free,
        "totalBytes": usage.total,
        "usedPercent": round(100 * (usage.total - usage.free) / max(1, usage.total), 1),
    }


def websocket_check(server: GameServer) -> dict[str, Any]:
    room = server.room
    return {
        "status": "ok",
        "connections": len(server.sockets),
        "waitingToJoin": len(server.unjoined),
        # Players online now; `seats` also counts seats kept for a reconnect.
        "players": len(room.connected_players()),
        "connectedPlayers": len(room.connected_players()),
        "seats": len(room.players()),
        "spectators": len(room.spectators()),
        "acceptingJoins": not (server.draining or server.maintenance_enabled),
    }


def performance(server: GameServer) -> dict[str, Any]:
    m = server.metrics
    lag = server.loop_lag
    p95 = m.broadcast_latency.percentile(0.95)
    status = "ok"
    if lag > LOOP_LAG_FAIL:
        status = "fail"
    elif lag > LOOP_LAG_WARN or p95 > BROADCAST_P95_WARN:
        status = "warn"
    return {
        "status": status,
        "messagesInPerSecond": round(m.rate_in.per_second(), 2),
        "messagesOutPerSecond": round(m.rate_out.per_second(), 2),
        "broadcastP50Ms": round(m.broadcast_latency.percentile(0.5) * 1000, 3),
        "broadcastP95Ms": round(p95 * 1000, 3),
        "eventLoopLagMs": round(lag * 1000, 2),
        "slowClientsDropped": m.slow_dropped,
        "uptimeSeconds": round(time.monotonic() - server.started_at, 1),
    }


async def health_report(server: GameServer) -> tuple[int, dict[str, Any]]:
    checks = {
        "database": await database_check(server),
        "websocket": websocket_check(server),
        "storage": storage_check(server),
    }
    perf = performance(server)
    status = worst([c["status"] for c in checks.values()] + [perf["status"]])
    body = {
        "status": OVERALL[status],
        "checks": checks,
        "performance": perf,
        "version": server.settings.version,
        "maintenance": server.maintenance_enabled,
        "maintenanceMessage": server.maintenance_message,
        "draining": server.draining,
        "room": server.settings.room_name,
        "phase": server.room.phase,
    }
    return (503 if status == "fail" else 200), body


def readiness(server: GameServer) -> tuple[bool, dict[str, str]]:
    checks = {
        "database": "ok" if server.store.is_open else "database is not open",
        "migrations": "ok"
        if server.store.schema_version == SCHEMA_VERSION
        else f"schema {server.store.schema_version}, expected {SCHEMA_VERSION}",
        "draining": "ok" if not server.draining else "the room is draining",
        "started": "ok" if server.ready else "the room is starting or restoring",
    }
    return all(v == "ok" for v in checks.values()), checks
