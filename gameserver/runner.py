"""Start and stop a room: the game port and the admin port in one event loop."""

from __future__ import annotations

import random
import socket
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
    # The address the game port's socket is bound to, as the kernel reports it: what
    # a Pod (or the sandbox's per-Pod loopback address) really listens on.
    listen_host: str = "127.0.0.1"
    admin_host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{_shown_host(self.listen_host)}:{self.port}/"

    @property
    def admin_url(self) -> str:
        return f"http://{_shown_host(self.admin_host)}:{self.admin_port}"

    async def stop(self, reason: str = "restart") -> None:
        await self.server.shutdown(reason)
        await self.public.cleanup()
        await self.admin.cleanup()


def _bound(runner: web.AppRunner) -> tuple[str, int]:
    address = runner.addresses[0]
    return str(address[0]), int(address[1])


def _shown_host(bound: str) -> str:
    """A host to reach a socket bound to `bound` by: for a wildcard bind, this host's
    own address (a Pod's IP) when it has one besides loopback."""
    if bound in WILDCARDS:
        try:
            own = socket.gethostbyname(socket.gethostname())
        except OSError:
            own = ""
        return own if own and not own.startswith("127.") else "127.0.0.1"
    if bound.startswith("::ffff:"):
        return bound.removeprefix("::ffff:")
    return f"[{bound}]" if ":" in bound else bound


WILDCARDS = frozenset({"0.0.0.0", "::", ""})


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
    public_host, public_port = _bound(public)
    admin_host, admin_port = _bound(admin)
    return RunningRoom(server, public, admin, public_port, admin_port, public_host, admin_host)
