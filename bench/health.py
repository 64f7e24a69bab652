"""Deep probes of many rooms: the operator's cost, its status writes, its reaction time.

    .venv/bin/python bench/health.py --rooms 1000 --period 15 --seconds 60

A subprocess (bench/probe_targets.py) serves N small rooms over real HTTP on loopback (one
address per room, as pods have: /api/health on 8080, /admin/stats on 8081, the game
server's JSON shapes). In
this process the operator's own Controller probes them off its work queue, exactly as it
runs (status written through a recording API client, so no API server's cost is counted).
Side by side, in the same run, a peer: the least a prober can do (the same two GETs per
room per period with aiohttp, no decisions, no status). Reported:

- the operator's CPU for probing, as a share of one core, and its ratio to the peer's;
- status writes per room in steady state (goal: 0 per minute);
- from a room's failure (its database check starts failing) to its Healthy=False status
  write, against period x failureThreshold + 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from fanout import start_profiler, stop_profiler, summarize_profile  # noqa: E402
from gameroom_operator import names as n  # noqa: E402
from gameroom_operator.controller import Controller, RoomState  # noqa: E402
from gameroom_operator.kube import Credentials, Kube  # noqa: E402
from gameroom_operator.render import RenderOptions, config_hash, image_of  # noqa: E402
from gameroom_operator.roomhttp import HttpClient  # noqa: E402

TOKEN = "bench-token"  # noqa: S105 - a benchmark value


FIRST = ["127.42.0.1"]  # the first room's address: a free block is picked at start


def address(index: int) -> str:
    return str(ipaddress.IPv4Address(FIRST[0]) + index)


def free_block() -> str:
    """The first 127.N.0.1 (N from 42) whose game port is free: two runs of this bench at
    once (a shared machine) must not serve their rooms on the same addresses."""
    for octet in range(42, 100):
        first = f"127.{octet}.0.1"
        with socket.socket() as sock:
            try:
                sock.bind((first, 8080))
            except OSError:
                continue
        return first
    raise RuntimeError("no free 127.N.0.0/16 block for the rooms")


# ---- the rooms: one subprocess, one loopback address per room -------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_rooms(first: str, count: int) -> tuple[subprocess.Popen[str], int]:
    """bench/probe_targets.py serving `count` rooms from address `first` on."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "probe_targets.py"),
            "--first",
            first,
            "--count",
            str(count),
            "--control-port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"the probe targets did not start: {line!r}")
    return process, port


# ---- the operator side --------------------------------------------------------------------


class RecordingKube(Kube):
    """The operator's API client with the API server left out: status patches and Events
    are recorded (time, path, body) and answered as the API server would."""

    def __init__(self) -> None:
        super().__init__(Credentials(host="http://127.0.0.1:9"))
        self.writes: list[tuple[float, str, dict[str, Any]]] = []

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.writes.append((time.monotonic(), path, patch))
        return patch

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if method == "POST":
            self.writes.append((time.monotonic(), path, body or {}))
        return body or {}


def ready_room(controller: Controller, index: int, period: int, threshold: int) -> RoomState:
    state = controller.state("bench", f"room-{index}")
    state.uid = f"uid-{index}"
    state.generation = state.applied_generation = 1
    state.spec = {
        "health": {
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": threshold,
            "restartUnhealthy": False,
        }
    }
    state.seen_status = True
    state.token = TOKEN
    state.pod_ip, state.pod_ready, state.pod_seen = address(index), True, True
    state.pod_name = f"room-{index}-pod"
    digest = config_hash(state.room)
    state.pod_config_hash = digest
    state.pod_image = image_of(state.room.effective, controller.options)
    state.deployment = {
        "metadata": {"generation": 1, "annotations": {n.CONFIG_HASH_ANNOTATION: digest}},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    }
    return state


def cpu() -> float:
    times = os.times()
    return times.user + times.system


async def operator_phase(
    rooms: int,
    period: int,
    threshold: int,
    seconds: float,
    control_port: int,
    sick: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    kube = RecordingKube()
    controller = Controller(kube, RenderOptions(), resync_interval=0, reconcile_concurrency=64)
    for index in range(rooms):
        ready_room(controller, index, period, threshold)
        controller.queue.add(("bench", f"room-{index}"), index * period / rooms)
    controller.queue.start()
    try:
        # Settle: every room probed once and its first status written.
        deadline = time.monotonic() + period * 3
        while time.monotonic() < deadline:
            written = {path for _, path, _ in kube.writes if path.endswith("/status")}
            if len(written) >= rooms:
                break
            await asyncio.sleep(0.5)
        first_writes = len(kube.writes)
        await asyncio.sleep(period)  # one more full period before the window opens
        steady_from = len(kube.writes)
        profiler = await start_profiler(os.getpid(), profile) if profile else None
        start_cpu, start = cpu(), time.monotonic()
        await asyncio.sleep(seconds)
        used, wall = cpu() - start_cpu, time.monotonic() - start
        if profiler is not None:
            await stop_profiler(profiler)
        steady_writes = len(kube.writes) - steady_from
        # Make `sick` rooms fail, and time each one's Healthy=False status write.
        # Spread over the rooms, and at a moment unrelated to their probe phases.
        chosen = list(range(rooms // (2 * sick), rooms, max(1, rooms // sick)))[:sick]
        names = {f"room-{i}" for i in chosen}
        await asyncio.sleep(period * 0.37)
        async with aiohttp.ClientSession() as session:
            await session.post(
                f"http://127.0.0.1:{control_port}/sick",
                json={"ips": [address(i) for i in chosen]},
            )
        failed_at = time.monotonic()
        mark = len(kube.writes)
        seen: dict[str, float] = {}
        deadline = failed_at + period * threshold + 30
        while len(seen) < sick and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for when, path, body in kube.writes[mark:]:
                name = path.rsplit("/", 2)[-2] if path.endswith("/status") else ""
                conditions = (body.get("status") or {}).get("conditions") or []
                unhealthy = any(
                    c["type"] == "Healthy" and c["status"] == "False" for c in conditions
                )
                if name in names and unhealthy and name not in seen:
                    seen[name] = when - failed_at
            mark = len(kube.writes)
        latencies = sorted(seen.values())
    finally:
        await controller.queue.stop()
        await controller.close()
    return {
        "cpu_share": used / wall,
        "first_writes_per_room": first_writes / rooms,
        "steady_writes_per_room_minute": steady_writes / rooms / (wall / 60),
        "steady_writes": steady_writes,
        "failure_to_unhealthy_max": latencies[-1] if latencies else None,
        "failure_to_unhealthy_median": latencies[len(latencies) // 2] if latencies else None,
        "failures_seen": len(latencies),
    }


async def paced(
    probe: Callable[[str], Awaitable[None]], rooms: int, period: int, seconds: float
) -> float:
    """Probe every room once per period, spread over the period in 50 groups as the
    operator's queue spreads them; the CPU share over `seconds` after 1.5 periods."""

    async def loop(ips: Iterable[str], offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            started = time.monotonic()
            await asyncio.gather(*(probe(ip) for ip in ips))
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    groups = [[address(i) for i in range(g, rooms, 50)] for g in range(50)]
    tasks = [
        asyncio.get_running_loop().create_task(loop(ips, g * period / 50))
        for g, ips in enumerate(groups)
    ]
    await asyncio.sleep(period * 1.5)
    start_cpu, start = cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    used, wall = cpu() - start_cpu, time.monotonic() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return used / wall


async def peer_phase(rooms: int, period: int, seconds: float) -> dict[str, Any]:
    """The least a prober can do with aiohttp: the same two GETs per room per period."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    # The connection policy the operator had with aiohttp: one kept-alive connection per
    # room and port.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=1, keepalive_timeout=330)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def probe(ip: str) -> None:
            async with session.get(f"http://{ip}:8080/api/health") as r:
                await r.json()
            async with session.get(f"http://{ip}:8081/admin/stats", headers=headers) as r:
                await r.json()

        return {"cpu_share": await paced(probe, rooms, period, seconds)}


async def lean_peer_phase(rooms: int, period: int, seconds: float) -> dict[str, Any]:
    """The same two GETs with the operator's own HTTP client (roomhttp), nothing else:
    what the probing costs before any decision, status or queue."""
    client = HttpClient()
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def probe(ip: str) -> None:
        health = client.start("GET", ip, 8080, "/api/health", 5.0)
        stats = client.start("GET", ip, 8081, "/admin/stats", 5.0, headers=headers)
        (await health.wait()).json()
        (await stats.wait()).json()

    try:
        return {"cpu_share": await paced(probe, rooms, period, seconds)}
    finally:
        await client.close()


def print_profile(raw: Path) -> None:
    if not raw.exists():
        print("health: py-spy wrote no profile (is it installed, is ptrace allowed?)")
        return
    print(f"profile of the operator's measured window (py-spy, CPU samples; raw: {raw}):")
    print(f"  {'self %':>6} {'incl %':>6}  function")
    for name, self_pct, incl_pct in summarize_profile(raw.read_text(), top=40):
        print(f"  {self_pct:>6.1f} {incl_pct:>6.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--period", type=int, default=15)
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sick", type=int, default=20, help="rooms made to fail at the end")
    parser.add_argument(
        "--only", choices=["operator"], help="measure the operator alone (no peer, no ratio)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the operator during its measured window; raw stacks kept in DIR",
    )
    args = parser.parse_args()
    raw = args.profile / "operator.raw.txt" if args.profile else None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    FIRST[0] = free_block()
    server, control_port = start_rooms(FIRST[0], args.rooms)
    try:
        peer = (
            asyncio.run(peer_phase(args.rooms, args.period, args.seconds))
            if args.only is None
            else None
        )
        lean = (
            asyncio.run(lean_peer_phase(args.rooms, args.period, args.seconds))
            if args.only is None
            else None
        )
        ours = asyncio.run(
            operator_phase(
                args.rooms,
                args.period,
                args.threshold,
                args.seconds,
                control_port,
                args.sick,
                raw,
            )
        )
    finally:
        server.kill()
    if raw is not None:
        print_profile(raw)
    if peer is None or lean is None:
        print(json.dumps(ours, indent=2))
        print(f"operator probing CPU: {ours['cpu_share']:.1%} of a core (goal <= 5%)")
        return
    bound = args.period * args.threshold + 2
    result = {
        "rooms": args.rooms,
        "period_seconds": args.period,
        "failure_threshold": args.threshold,
        "operator": ours,
        "peer": peer,
        "lean_peer": lean,
        "cpu_ratio_operator_to_peer": ours["cpu_share"] / peer["cpu_share"],
        "cpu_ratio_operator_to_lean_peer": ours["cpu_share"] / lean["cpu_share"],
        "goal_cpu_share": 0.05,
        "goal_failure_to_unhealthy_seconds": bound,
    }
    print(json.dumps(result, indent=2))
    print(
        f"operator probing CPU: {ours['cpu_share']:.1%} of a core "
        f"(goal <= 5%); bare aiohttp prober: {peer['cpu_share']:.1%}; "
        f"ratio {result['cpu_ratio_operator_to_peer']:.2f}x; "
        f"the same GETs on the operator's own client: {lean['cpu_share']:.1%}, "
        f"ratio {result['cpu_ratio_operator_to_lean_peer']:.2f}x"
    )
    print(
        f"steady-state status writes per room per minute: "
        f"{ours['steady_writes_per_room_minute']:.3f} (goal 0)"
    )
    print(
        f"failure -> Healthy=False: median {ours['failure_to_unhealthy_median']:.1f} s, "
        f"max {ours['failure_to_unhealthy_max']:.1f} s over {ours['failures_seen']} rooms "
        f"(goal <= {bound} s = period x threshold + 2 s)"
    )
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "health.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
