"""Test helpers: run a real `python -m gameserver serve` process (like `aiohttp.test_utils`).

`ServerProcess` writes a room config to a work directory, starts the server on loopback,
learns the ports it really bound (pass 0 to let the OS pick) from its `serving` log
entry (the `Room "..." is open at http://...` line in console mode), waits for `/readyz`,
and stops, kills or restarts it on the same SQLite file. The methods are synchronous;
async callers wrap the blocking ones in `asyncio.to_thread`.

`draw_message()` builds the `draw` client message the protocol defines.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "ServerStartError", "draw_message"]

_OPEN_LINE = re.compile(r'Room "(?P<name>[^"]+)" is open at http://[^\s:/]+:(?P<port>\d+)/')
_ADMIN_URL = re.compile(r'"?admin"?\s*[:=]\s*"?http://[^\s:/"]+:(?P<port>\d+)')
_URL_PORT = re.compile(r"^http://[^/]+:(?P<port>\d+)")


def _serving_ports(text: str) -> tuple[int | None, int | None]:
    """The game and admin ports of the JSON `serving` log line in `text`, if any."""
    for line in text.splitlines():
        if '"serving"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("event") != "serving":
            continue
        game = _URL_PORT.match(str(entry.get("url", "")))
        admin = _URL_PORT.match(str(entry.get("admin", "")))
        return (
            int(game["port"]) if game else None,
            int(admin["port"]) if admin else None,
        )
    return None, None


class ServerStartError(RuntimeError):
    """The game server exited or did not become ready; the message carries its log tail."""


def draw_message(
    stroke: int,
    points: Sequence[Sequence[float]],
    *,
    tool: str = "brush",
    color: int = 3,
    width: int = 4,
) -> dict[str, Any]:
    """A `draw` message: one segment of stroke `stroke` (see gameserver/PROTOCOL.md)."""
    return {
        "type": "draw",
        "stroke": stroke,
        "tool": tool,
        "color": color,
        "width": width,
        "points": points,
    }


class ServerProcess:
    """One `python -m gameserver serve` process in `workdir`, restartable on the same DB.

    `port`/`admin_port` 0 let the OS choose; the chosen ports are kept for restarts so
    clients can reconnect to the same URL. Output (stdout and stderr) is appended to
    `workdir/server.log`; `run_log()` is the part written since the last start.
    """

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        *,
        admin_token: str = "test-admin-token",  # noqa: S107 (loopback test rooms)
        env: dict[str, str] | None = None,
        port: int = 0,
        admin_port: int = 0,
        host: str = "127.0.0.1",
        db: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "room.json"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self.room_name = str(config.get("roomName", ""))
        self.admin_token = admin_token
        self.extra_env = dict(env or {})
        self.host = host
        self.port = port
        self.admin_port = admin_port
        self.db = db if db is not None else workdir / "room.db"
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._run_offset = 0

    # ----------------------------------------------------------------- addresses

    @property
    def url(self) -> str:
        """The game URL without a trailing slash, e.g. `http://127.0.0.1:40123`."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.admin_port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the game server was never started: call start() first")
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ----------------------------------------------------------------- lifecycle

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gameserver",
            "serve",
            "--config",
            str(self.config_path),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--admin-port",
            str(self.admin_port),
            "--db",
            str(self.db),
            "--log-format",
            "json",
        ]

    def _environment(self) -> dict[str, str]:
        # Inherited GAMESERVER_* settings would leak into the room: start from a clean slate.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAMESERVER_")}
        env["GAMESERVER_ADMIN_TOKEN"] = self.admin_token
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start the server and wait until it is ready; raises ServerStartError if not."""
        if self.running:
            raise RuntimeError(f"the game server is already running (pid {self.pid})")
        self.starts += 1
        self._run_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                self.command(),
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Learn the bound ports from the server's output, then wait for `/readyz` 200."""
        deadline = time.monotonic() + timeout
        port: int | None = None
        admin_port: int | None = None
        while port is None or admin_port is None:
            self._check_alive()
            text = self.run_log()
            port, admin_port = _serving_ports(text)
            if port is None and (opened := _OPEN_LINE.search(text)):
                port = int(opened["port"])
            if admin_port is None and (admin := _ADMIN_URL.search(text)):
                admin_port = int(admin["port"])
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"game server logged no 'serving' line within {timeout:g} s:\n"
                    + self.log_tail()
                )
            if port is None or admin_port is None:
                time.sleep(0.05)
        self.port, self.admin_port = port, admin_port
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"game server did not answer /readyz within {timeout:g} s:\n" + self.log_tail()
                )
            time.sleep(0.1)

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ServerStartError(
                f"game server exited with {self.proc.returncode}:\n" + self.log_tail()
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        """Send `sig` and wait; SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL: no flush, no goodbye to clients."""
        return self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM, timeout: float = 30) -> ServerProcess:
        """Stop with `sig` and start again on the same database and ports."""
        self.stop(sig)
        return self.start(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- output

    def log_text(self) -> str:
        """Everything every run of this server wrote, stdout and stderr interleaved."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def run_log(self) -> str:
        """What the current (or last) run wrote since it started."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._run_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log entries of the current (or last) run."""
        entries = []
        for line in self.run_log().splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
        return entries

    def log_tail(self, chars: int = 3000) -> str:
        text = self.log_text()
        return text[-chars:] if text else f"(no output in {self.log_path})"

    # ----------------------------------------------------------------- HTTP

    def get(self, path: str) -> Any:
        """GET a JSON document from the game port, e.g. `get("/api/room")`."""
        with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the admin API with the admin token, e.g. `admin("POST", "/admin/kick", {...})`."""
        request = urllib.request.Request(  # noqa: S310 (loopback admin URL)
            self.admin_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())
