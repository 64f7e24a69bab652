"""A stand-in game server for the operator's health tests: the image `drawgame.test/sickroom`.

kubesandbox's image rule for that image puts this folder first on PYTHONPATH, so the
operator's own command line (`python -m gameserver serve --port ... --admin-port ...
--admin-token-file ... --db ...`) starts this program instead of the game. The image tag
(SICKROOM_MODE) says how it is sick:

- healthy:    every check passes
- db-fails:   /api/health says the database check fails (503), at every start
- hangs:      /api/health never answers; /livez, /readyz and the admin API do
- ws-fails:   the WebSocket check fails
- slow:       the server reports event-loop lag (P2: never restarted)
- sick-once:  the database fails until the Pod is restarted once (a marker on the volume)
- deaf:       healthy, but accepts the maintenance switch and ignores it
- crash:      exits with code 3 at start (a crash loop)
- never-ready: serves, but /readyz always answers 503
- smoke-fails: healthy, but its smoke test (`python -m gameserver smoke-test --url U`,
               the rollout's smoke-test Job) fails as the real one reports a lost stroke

A tag may carry a suffix after a dot (`healthy.2`): the same mode as another revision.
For the rollout tests the admin API also has `PUT /admin/test/turn {"seconds", "players"}`
(a turn is drawn for that long with that many players connected, as /admin/stats tells
the operator) and `GET /admin/test/announcements` (what the operator announced).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import signal
import sys
import time

from aiohttp import web

MODE = os.environ.get("SICKROOM_MODE", "healthy").split(".", 1)[0]


def checks(mode: str) -> tuple[int, dict[str, object]]:
    database: dict[str, object] = {"status": "ok", "latencyMs": 0.4}
    websocket: dict[str, object] = {"status": "ok", "acceptingJoins": True, "connections": 0}
    performance: dict[str, object] = {"status": "ok", "eventLoopLagMs": 0.2, "broadcastP95Ms": 0.1}
    if mode == "db-fails":
        database = {"status": "fail", "error": "database is locked"}
    if mode == "ws-fails":
        websocket = {"status": "fail", "error": "the WebSocket endpoint does not upgrade"}
    if mode == "slow":
        performance = {"status": "warn", "eventLoopLagMs": 900.0, "broadcastP95Ms": 80.0}
    body = {
        "status": "unhealthy" if "fail" in (database["status"], websocket["status"]) else "healthy",
        "checks": {
            "database": database,
            "websocket": websocket,
            "storage": {"status": "ok", "usedPercent": 3.0, "freeBytes": 10**9},
        },
        "performance": performance,
        "version": f"sickroom-{mode}",
        "maintenance": False,
    }
    return (503 if body["status"] == "unhealthy" else 200), body


def smoke_test() -> None:
    """The smoke-test Job's command: the real report's last lines, and its exit code."""
    if MODE == "smoke-fails":
        print("result: FAILED (6 checks, 1 failed, 0 skipped) in 0.1 s")
        print("first failure: draw: no echo of the stroke", flush=True)
        sys.exit(1)
    print("result: ok (6 checks, 0 failed, 0 skipped) in 0.1 s", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["smoke-test"]:
        smoke_test()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=8081)
    parser.add_argument("--admin-token-file", default="")
    parser.add_argument("--db", default="")
    parser.add_argument("--config", default="")
    args = parser.parse_args()
    token = pathlib.Path(args.admin_token_file).read_text().strip()
    mode = MODE
    if mode == "crash":
        print("sickroom crash: exiting with code 3", flush=True)
        sys.exit(3)
    if mode == "sick-once":
        marker = pathlib.Path(args.db).parent / "started-before"
        mode = "healthy" if marker.exists() else "db-fails"
        marker.write_text("1")
    maintenance = {"enabled": False, "message": ""}
    turn = {"ends": 0.0, "players": 0}
    announcements: list[str] = []

    async def health(_: web.Request) -> web.Response:
        if mode == "hangs":
            await asyncio.sleep(3600)
        code, body = checks(mode)
        return web.json_response(body, status=code)

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        if mode == "never-ready":
            return web.json_response({"status": "not ready"}, status=503)
        return web.json_response({"status": "ok"})

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {token}"

    async def stats(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        left = turn["ends"] - time.monotonic()
        drawing = left > 0
        players = int(turn["players"]) if drawing else 0
        return web.json_response(
            {
                "players": players,
                "connectedPlayers": players,
                "spectators": 0,
                "phase": "drawing" if drawing else "lobby",
                "turnEndsInSeconds": round(left, 1) if drawing else None,
                "version": f"sickroom-{mode}",
                "maintenance": maintenance,
            }
        )

    async def start_turn(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        asked = await request.json()
        turn["ends"] = time.monotonic() + float(asked["seconds"])
        turn["players"] = int(asked.get("players", 2))
        return web.json_response(asked)

    async def announce(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        announcements.append(str((await request.json()).get("text", "")))
        return web.json_response({"delivered": int(turn["players"])})

    async def announced(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response(announcements)

    async def set_maintenance(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        asked = await request.json()
        if mode != "deaf":
            maintenance.update(asked)
        return web.json_response(asked)

    game = web.Application()
    game.router.add_get("/api/health", health)
    game.router.add_get("/livez", ok)
    game.router.add_get("/readyz", ready)
    admin = web.Application()
    admin.router.add_get("/admin/stats", stats)
    admin.router.add_put("/admin/maintenance", set_maintenance)
    admin.router.add_post("/admin/announce", announce)
    admin.router.add_put("/admin/test/turn", start_turn)
    admin.router.add_get("/admin/test/announcements", announced)

    async def serve() -> None:
        runners = []
        for app, port in ((game, args.port), (admin, args.admin_port)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - the Pod's address
            runners.append(runner)
        print(f"sickroom {mode} serving on {args.port} and {args.admin_port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        for runner in runners:
            await runner.cleanup()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
