"""Small stand-in rooms for the benchmarks: the probe endpoints of docs/CONTRACT.md, one
loopback address per room, all in one process.

    python bench/probe_targets.py --first 127.42.0.1 --count 1000 --control-port 9999

Each address answers GET /api/health on 8080 (the game server's JSON shape) and
GET /admin/stats on 8081 (any bearer token), as a room's Pod does. POST /sick on
127.0.0.1:<control-port> with {"ips": [...]} makes those rooms' database check fail.
Prints "ready" once every address listens.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
from typing import Any

from aiohttp import web

sick: set[str] = set()


def health_body(ip: str) -> dict[str, Any]:
    failing = ip in sick
    database = (
        {"status": "fail", "error": "database is locked"}
        if failing
        else {"status": "ok", "latencyMs": 0.3}
    )
    return {
        "status": "unhealthy" if failing else "healthy",
        "checks": {
            "database": database,
            "websocket": {"status": "ok", "acceptingJoins": True, "connections": 3},
            "storage": {"status": "ok", "usedPercent": 4.0, "freeBytes": 10**9},
        },
        "performance": {"status": "ok", "eventLoopLagMs": 0.4, "broadcastP95Ms": 0.2},
        "version": "0.1.0",
        "maintenance": False,
    }


async def health(request: web.Request) -> web.Response:
    ip = request.transport.get_extra_info("sockname")[0] if request.transport else ""
    return web.json_response(health_body(ip), status=503 if ip in sick else 200)


async def stats(request: web.Request) -> web.Response:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return web.json_response({}, status=401)
    return web.json_response(
        {
            "players": 3,
            "spectators": 0,
            "version": "0.1.0",
            "maintenance": {"enabled": False, "message": ""},
        }
    )


async def make_sick(request: web.Request) -> web.Response:
    sick.update((await request.json())["ips"])
    return web.json_response({"sick": len(sick)})


async def serve(first: str, count: int, control_port: int) -> None:
    game, admin, control = web.Application(), web.Application(), web.Application()
    game.router.add_get("/api/health", health)
    admin.router.add_get("/admin/stats", stats)
    control.router.add_post("/sick", make_sick)
    runners = []
    for app in (game, admin, control):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
    start = ipaddress.IPv4Address(first)
    for index in range(count):
        ip = str(start + index)
        await web.TCPSite(runners[0], ip, 8080).start()
        await web.TCPSite(runners[1], ip, 8081).start()
    await web.TCPSite(runners[2], "127.0.0.1", control_port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", required=True, help="the first room's address")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.first, args.count, args.control_port))


if __name__ == "__main__":
    main()
