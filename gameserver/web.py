"""The game port's HTTP routes: web client, WebSocket, public API, probes, metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web, web_response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gameserver.health import health_report, readiness
from gameserver.server import CSP, MIME_TYPES, STATIC_DIR, GameServer

SERVER_KEY = web.AppKey("gameserver", GameServer)

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# What the Server header says: no framework or version for a scanner to match.
SERVER_NAME = "gameroom"
# aiohttp answers a request it cannot parse (400) before any application sees it, with
# this process-wide default Server header; every other answer also passes
# `harden_headers` below.
web_response.SERVER_SOFTWARE = SERVER_NAME


async def harden_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (API, metrics, errors, the WebSocket upgrade): no MIME sniffing,
    and a Server header without the aiohttp version."""
    response.headers["Server"] = SERVER_NAME
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


def _server(request: web.Request) -> GameServer:
    return request.app[SERVER_KEY]


def _static_response(path: Path) -> web.StreamResponse:
    content_type = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = dict(SECURITY_HEADERS)
    headers["Content-Type"] = content_type
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
        headers["Cache-Control"] = "no-cache"
    else:
        headers["Cache-Control"] = "public, max-age=300"
    return web.FileResponse(path, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    static_dir: Path = request.app[STATIC_KEY]
    page = static_dir / "index.html"
    if not page.is_file():
        return web.Response(
            status=503,
            text="The web client is not installed (gameserver/static/index.html is missing).",
            headers={**SECURITY_HEADERS, "Content-Security-Policy": CSP},
        )
    return _static_response(page)


async def static_file(request: web.Request) -> web.StreamResponse:
    target = _resolve_static(request.app[STATIC_KEY], request.match_info["path"])
    if target is None:
        raise web.HTTPNotFound(headers=SECURITY_HEADERS)
    return _static_response(target)


def _resolve_static(static_dir: Path, rel: str) -> Path | None:
    """The file under `static_dir` named by `rel`, or None (also for `..` escapes)."""
    root = static_dir.resolve()
    try:
        target = (root / rel).resolve()
    except (OSError, ValueError):
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


async def websocket(request: web.Request) -> web.StreamResponse:
    return await _server(request).websocket(request)


async def api_room(request: web.Request) -> web.Response:
    server = _server(request)
    if server.closed_message is not None:
        # 410, not 503: a client seeing it stops retrying (the room is gone for good).
        body = {"error": "room closed", "closed": True, "message": server.closed_message}
        return web.json_response(body, status=410, headers=SECURITY_HEADERS)
    return web.json_response(server.room_info(), headers=SECURITY_HEADERS)


async def api_health(request: web.Request) -> web.Response:
    status, body = await health_report(_server(request))
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def livez(request: web.Request) -> web.Response:
    server = _server(request)
    # Served by the event loop itself, so answering proves it runs; no database here.
    if server.loop_lag > 10:
        return web.Response(status=503, text=f"event loop lag {server.loop_lag:.1f}s\n")
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    ok, checks = readiness(_server(request))
    if "verbose" in request.query:
        lines = [f"[{'+' if v == 'ok' else '-'}]{k} {v}" for k, v in checks.items()]
        text = "\n".join(lines) + ("\nreadyz check passed\n" if ok else "\nreadyz check failed\n")
    else:
        text = "ok\n" if ok else "; ".join(v for v in checks.values() if v != "ok") + "\n"
    return web.Response(status=200 if ok else 503, text=text)


async def metrics(request: web.Request) -> web.Response:
    server = _server(request)
    body = generate_latest(server.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def api_leaderboard(request: web.Request) -> web.Response:
    server = _server(request)
    return web.json_response({"leaderboard": server.room.leaderboard_top(50)})


async def api_gallery(request: web.Request) -> web.Response:
    server = _server(request)
    try:
        items = await asyncio.to_thread(server.store.gallery)
    except Exception as exc:
        return web.json_response({"error": f"gallery unavailable: {exc}"}, status=503)
    return web.json_response({"gallery": items})


STATIC_KEY = web.AppKey("static_dir", Path)


def build_public_app(server: GameServer, static_dir: Path = STATIC_DIR) -> web.Application:
    app = web.Application()
    app.on_response_prepare.append(harden_headers)
    app[SERVER_KEY] = server
    app[STATIC_KEY] = static_dir
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", static_file)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/api/room", api_room)
    app.router.add_get("/api/health", api_health)
    app.router.add_get("/api/leaderboard", api_leaderboard)
    app.router.add_get("/api/gallery", api_gallery)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
