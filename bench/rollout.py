"""An update between turns, as players see it: 12 bots in a real room, a new image asked
for while a turn is being drawn (WaitForIdle), and the gap each bot sees.

    .venv/bin/python bench/rollout.py [--players 12] [--draw-seconds 30]

kubesandbox runs the real game server for `ghcr.io/drawgame/gameroom:*`; the operator runs
as a process. The bots join through the room's Service (its ClusterIP, loopback in
kubesandbox), start a game, the drawer draws and nobody guesses, so the turn runs its full
time. When the first turn's drawing starts the image changes. Reported: how long the
update waited, whether the turn being drawn ended on its own (`turn_end` with reason
`time`) before any bot was disconnected, each bot's gap from its disconnect to its
`welcome` on the new Pod (same seat: the same player id), p50/p95/max, and the time to
the new revision's `Succeeded`. JSON in bench/results/rollout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "test_operator"))

from harness import Kubectl, OperatorProcess, wait_for  # noqa: E402

from gameserver.testing import draw_message  # noqa: E402
from kubesandbox.testing import SandboxProcess  # noqa: E402

OLD, NEW = "ghcr.io/drawgame/gameroom:0.1.0", "ghcr.io/drawgame/gameroom:0.1.1"


class Bot:
    def __init__(self, name: str, url: str, session: aiohttp.ClientSession) -> None:
        self.name, self.url, self.session = name, url, session
        self.token = ""
        self.id = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.closed_at: float | None = None
        self.back_at: float | None = None
        self.same_seat = False
        self.turn_ends: list[tuple[float, str]] = []
        self.drawing_seen = asyncio.Event()
        self.versions: list[str] = []
        self.error = ""
        self.announced: list[str] = []

    async def join(self) -> bool:
        try:
            self.ws = await asyncio.wait_for(self.session.ws_connect(self.url), 3)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.error = repr(error)
            return False
        join: dict[str, Any] = {"type": "join", "name": self.name}
        if self.token:
            join["token"] = self.token
        await self.ws.send_json(join)
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                return False
            data = json.loads(message.data)
            if data["type"] == "welcome":
                if self.id:
                    self.same_seat = data["you"]["id"] == self.id
                self.id, self.token = data["you"]["id"], data["you"]["token"]
                self.versions.append(str(data["room"].get("version")))
                return True
            if data["type"] == "error":
                self.error = str(data)
                return False
        return False

    async def play(self) -> None:
        """Until the update's disconnect: draw when drawing, never guess."""
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            kind = data["type"]
            if kind == "choose_word":
                await self.ws.send_json({"type": "choose_word", "index": 0})
            elif kind == "turn" and data.get("phase") == "drawing":
                self.drawing_seen.set()
                if data.get("drawerId") == self.id:
                    await self.ws.send_json(draw_message(1, [[10, 10], [20, 20]], width=6))
            elif kind == "announce":
                self.announced.append(str(data.get("text")))
            elif kind == "turn_end":
                self.turn_ends.append((time.monotonic(), str(data.get("reason"))))
        self.closed_at = time.monotonic()

    async def come_back(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if await self.join():
                self.back_at = time.monotonic()
                return
            await asyncio.sleep(0.1)


async def play(url: str, players: int, kubectl: Kubectl) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        bots = [Bot(f"bot{i}", url, session) for i in range(players)]
        # One at a time: the server holds few unjoined sockets per address, and every bot
        # comes from this one.
        joined = [await b.join() for b in bots]
        assert all(joined), f"not every bot could join: {[b.error for b in bots if b.error]}"
        assert bots[0].ws is not None
        await bots[0].ws.send_json({"type": "start"})
        playing = [asyncio.create_task(b.play()) for b in bots]
        await asyncio.wait_for(bots[0].drawing_seen.wait(), 60)
        asked = time.monotonic()
        kubectl.patch_room("bench", {"image": NEW})
        await asyncio.wait_for(asyncio.gather(*playing), 300)
        deadline = time.monotonic() + 120
        await asyncio.gather(*(b.come_back(deadline) for b in bots))
        for bot in bots:
            if bot.ws is not None:
                await bot.ws.close()
    first_close = min(b.closed_at or 0 for b in bots)
    first_end = [t for t, _ in bots[0].turn_ends]
    gaps = sorted((b.back_at or float("inf")) - (b.closed_at or 0) for b in bots)
    reasons = [r for _, r in bots[0].turn_ends]
    return {
        "players": players,
        "askedToDisconnectSeconds": round(first_close - asked, 1),
        "turnEndedBeforeDisconnect": bool(first_end) and first_end[0] <= first_close,
        "turnEndReasons": reasons,
        "sameSeat": sum(b.same_seat for b in bots),
        "announcementsSeen": sorted({text for b in bots for text in b.announced}),
        "botsTold": sum(bool(b.announced) for b in bots),
        "newVersion": sorted({b.versions[-1] for b in bots}),
        "gapSeconds": {
            "p50": round(statistics.median(gaps), 2),
            "p95": round(gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))], 2),
            "max": round(gaps[-1], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=12)
    parser.add_argument("--draw-seconds", type=int, default=30)
    args = parser.parse_args()
    folder = Path(f"/tmp/bench-rollout-{uuid.uuid4().hex[:6]}")
    folder.mkdir()
    process = SandboxProcess([], log_dir=folder)
    sandbox = process.start()
    operator: OperatorProcess | None = None
    try:
        admin = Kubectl(str(sandbox.kubeconfig), "default")
        admin.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"))
        admin.run("wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev")
        kubectl = Kubectl(str(sandbox.kubeconfig), "bench")
        kubectl.create_namespace("bench")
        operator = OperatorProcess(
            str(sandbox.kubeconfig), folder / "operator.log", "--namespaces", "bench"
        )
        operator.start()
        kubectl.apply(
            {
                "apiVersion": "drawgame.dev/v1alpha1",
                "kind": "GameRoom",
                "metadata": {"name": "bench"},
                "spec": {
                    "image": OLD,
                    "game": {"maxPlayers": 12, "rounds": 10, "drawTimeSeconds": args.draw_seconds},
                    "health": {"periodSeconds": 5, "timeoutSeconds": 2},
                    "rollout": {"healthWindowSeconds": 10},
                },
            }
        )

        def rollout() -> dict[str, Any]:
            status = kubectl.json("gameroom", "bench").get("status") or {}
            return dict(status.get("rollout") or {})

        wait_for(
            "revision 1 verified",
            lambda: rollout().get("phase") == "Succeeded" and rollout()["currentRevision"] == 1,
            120,
        )
        ip = kubectl.json("service", "bench")["spec"]["clusterIP"]
        started = time.monotonic()
        result = asyncio.run(play(f"http://{ip}:80/ws", args.players, kubectl))
        wait_for(
            "revision 2 verified",
            lambda: rollout().get("phase") == "Succeeded" and rollout()["currentRevision"] == 2,
            180,
        )
        result["askedToSucceededSeconds"] = round(time.monotonic() - started, 1)
        events = subprocess.run(
            [
                "kubectl",
                f"--kubeconfig={sandbox.kubeconfig}",
                "-n",
                "bench",
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=bench",
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result["events"] = [
            e["reason"]
            for e in sorted(
                json.loads(events.stdout)["items"],
                key=lambda e: str(e.get("lastTimestamp") or ""),
            )
        ]
    finally:
        if operator is not None:
            operator.stop()
        process.stop()
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "rollout.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
