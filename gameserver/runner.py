"""Start and stop a room: the game port and the admin port in one event loop."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gameserver.admin import build_admin_app
from gameserver.server import STATIC_DIR, GameServer
from gameserver.settings import ServerSettings
from gameserver.web import build_public_app


@dataclass
class RunningRoom:
    server: GameServer
    public: web.AppRunner
    admin: web.AppRunner
    port: int
    admin_port: int

    @property
    def url(self) -> str:
        host = self.server.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{shown}:{self.port}/"

    @property
    def admin_url(self) -> str:
        host = self.server.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{shown}:{self.admin_port}"

    async def stop(self, reason: str = "restart") -> None:
        await self.server.shutdown(reason)
        await self.public.cleanup()
        await self.admin.cleanup()


def _bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


async def start_room(
    settings: ServerSettings,
    *,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
    static_dir: Path = STATIC_DIR,
) -> RunningRoom:
    server = GameServer(settings, clock=clock, rng=rng)
    await server.start()
    public = web.AppRunner(
        build_public_app(server, static_dir),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=2,
    )
    await public.setup()
    await web.TCPSite(public, settings.host, settings.port, reuse_address=True).start()
    admin = web.AppRunner(
        build_admin_app(server), access_log=None, handle_signals=False, shutdown_timeout=2
    )
    await admin.setup()
    await web.TCPSite(admin, settings.host, settings.admin_port, reuse_address=True).start()
    return RunningRoom(server, public, admin, _bound_port(public), _bound_port(admin))
