"""Fan-out benchmark: one room, one drawer, N receivers, our server against a Node `ws` peer.

The drawer (this process, aiohttp) sends 60 `draw` batches of 16 points per second, as a
browser does at 60 fps. N receivers join as spectators and time each stroke they get.
The same load runs against two servers, each fresh for every N:

- ours: `python -m gameserver serve` (a real room: two bot players start a game, the
  drawer picks a word and draws; the receivers are spectators);
- peer: `bench/peers/broadcast.js`, a minimal broadcast room on Node's `ws` package that
  parses each frame as JSON and re-serialises it once, like our server.

Both servers of one N are up at once and drawn on in alternating slices (`--slice`), so
load from elsewhere on a shared machine hits both alike.

Receivers are Node `ws` clients (`bench/peers/receivers.js`) in one or two processes so
the load generator is not the bottleneck; their CPU is reported to show it. Latency is
receipt time minus the send time that the drawer encodes into the stroke's first three
y coordinates (CLOCK_MONOTONIC in microseconds, 13 bits per coordinate), so both ends
read the same clock and the figure includes everything between `send_str` and the
receiver's `JSON.parse`. See bench/README.md for the figures.

Usage: .venv/bin/python bench/fanout.py [--quick] [--receivers 16,100,500] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from gameserver.testing import ServerProcess, ServerStartError, draw_message

BENCH_DIR = Path(__file__).resolve().parent
PEERS_DIR = BENCH_DIR / "peers"
RESULTS_FILE = BENCH_DIR / "results" / "fanout.json"
BATCHES_PER_SECOND = 60
POINTS_PER_BATCH = 16
CLOCK_MODULUS = 2**39  # microseconds, about 6.4 days; both ends reduce modulo this
CHUNK_BITS = 13
SLICE_SETTLE_SECONDS = 0.3  # drawing before each measured slice, so it starts steady
BUSY_MACHINE_PERCENT = 85.0
GOAL_P99_MS_AT_100 = 20.0
GOAL_THROUGHPUT_RATIO = 0.8
GOAL_IDLE_RSS_MB = 60.0
ADMIN_TOKEN = "bench-admin-token-not-secret"  # noqa: S105 (loopback-only bench room)


# ---------------------------------------------------------------------------
# Pure parts: the stroke format and the statistics
# ---------------------------------------------------------------------------


def now_micros() -> int:
    """CLOCK_MONOTONIC in microseconds: the clock Node's process.hrtime.bigint() reads."""
    return time.monotonic_ns() // 1000


def encode_send_time(micros: int) -> list[float]:
    """Three y coordinates (0..819.1) carrying `micros` modulo 2**39."""
    value = micros % CLOCK_MODULUS
    mask = (1 << CHUNK_BITS) - 1
    return [((value >> (CHUNK_BITS * i)) & mask) / 10 for i in range(3)]


def decode_send_time(ys: list[float]) -> int:
    value = 0
    for y in reversed(ys[:3]):
        value = (value << CHUNK_BITS) | round(y * 10)
    return value


def draw_batch(seq: int, sent_micros: int) -> dict[str, Any]:
    """The `draw` message for batch `seq`: one stroke per second of drawing, 16 points."""
    ys = encode_send_time(sent_micros)
    base_x = (seq * 7) % 1400
    points = [
        [round(base_x + i * 10.0, 1), ys[i] if i < 3 else round(450 + 300 * math.sin(seq + i), 1)]
        for i in range(POINTS_PER_BATCH)
    ]
    return draw_message(seq // BATCHES_PER_SECOND, points, color=seq % 20, width=6)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ratio(ours: float, peer: float) -> float:
    return ours / peer if peer else math.nan


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_node_modules() -> None:
    if (PEERS_DIR / "node_modules" / "ws").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("fanout: npm is not installed; install Node 20 and npm to run the peer")
    print("fanout: installing the peer's npm packages in bench/peers ...", flush=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=PEERS_DIR, check=True)


@dataclass
class Server:
    kind: str
    ws_url: str
    log_path: Path
    pid: int
    http_url: str = ""
    stop_process: Callable[[], Awaitable[None]] | None = None

    async def stop(self) -> None:
        if self.stop_process is not None:
            await self.stop_process()


async def stop_subprocess(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def start_ours(workdir: Path) -> Server:
    config = {
        "roomName": "fanout-bench",
        "game": {"maxPlayers": 24, "rounds": 1, "drawTimeSeconds": 240, "hints": 0},
        "maxSpectators": 2000,
        "timing": {"chooseSeconds": 60},
    }
    room = ServerProcess(
        workdir, config, admin_token=ADMIN_TOKEN, env={"GAMESERVER_VERSION": "bench"}
    )
    try:
        await asyncio.to_thread(room.start, 30)
    except ServerStartError as exc:
        raise RuntimeError(f"{exc}\nserver log: {room.log_path}") from None

    async def stop() -> None:
        await asyncio.to_thread(room.stop)

    return Server("ours", room.ws_url, room.log_path, room.pid, room.url, stop)


async def start_peer(workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / "peer.log"
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(PEERS_DIR / "broadcast.js"),
        str(port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log_path.open("wb"),
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line.startswith(b"listening"):
        raise RuntimeError(f"peer did not start: {line!r}; log: {log_path}")
    return Server(
        "peer",
        f"ws://127.0.0.1:{port}",
        log_path,
        proc.pid,
        stop_process=partial(stop_subprocess, proc),
    )


@dataclass
class ReceiverGroup:
    procs: list[asyncio.subprocess.Process]

    @classmethod
    async def start(
        cls, url: str, count: int, nprocs: int, deflate: bool, log: Path
    ) -> ReceiverGroup:
        sizes = [count // nprocs + (1 if i < count % nprocs else 0) for i in range(nprocs)]
        env = {**os.environ, "BENCH_DEFLATE": "1" if deflate else "0"}
        procs = []
        with log.open("ab") as log_file:
            for i, size in enumerate(s for s in sizes if s):
                procs.append(
                    await asyncio.create_subprocess_exec(
                        "node",
                        str(PEERS_DIR / "receivers.js"),
                        url,
                        str(size),
                        f"spec{i}-",
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log_file,
                        env=env,
                        limit=1 << 28,
                    )
                )
        group = cls(procs)
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                if not line.startswith(b"ready"):
                    raise RuntimeError(f"receivers did not all join: {line!r}; log: {log}")
        except (TimeoutError, RuntimeError):
            await group.kill()
            raise RuntimeError(f"receivers did not all join within 60 s; log: {log}") from None
        return group

    async def command(self, text: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(text.encode() + b"\n")
            await proc.stdin.drain()

    async def stop(self) -> list[dict[str, Any]]:
        await self.command("stop")
        results = []
        for proc in self.procs:
            assert proc.stdout is not None
            results.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 60)))
            await proc.wait()
        return results

    async def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(proc.pid).cpu_times()
                total += times.user + times.system
        return total


# ---------------------------------------------------------------------------
# The two players (drawer and partner) speaking protocol v1
# ---------------------------------------------------------------------------


class Player:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: dict[str, int] = {}
        self.id = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            kind = data.get("type")
            if kind == "draw":
                continue  # the echo of our own strokes; drained so the socket never backs up
            if kind == "error":
                self.errors[data.get("code", "?")] = self.errors.get(data.get("code", "?"), 0) + 1
            await self.inbox.put(data)

    async def expect(self, kind: str, wait_s: float = 20, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        while True:
            data = await asyncio.wait_for(self.inbox.get(), max(0.01, deadline - time.monotonic()))
            if data.get("type") == "error" and data.get("code") != "rate_limited":
                raise RuntimeError(f"server error while waiting for {kind}: {data}")
            if data.get("type") == kind and all(data.get(k) == v for k, v in fields.items()):
                return data

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def join_player(session: aiohttp.ClientSession, url: str, name: str) -> Player:
    ws = await session.ws_connect(url, autoping=True)
    player = Player(ws)
    await player.send({"type": "join", "name": name, "protocol": 1})
    welcome = await player.expect("welcome")
    player.id = str(welcome.get("you", {}).get("id", ""))
    return player


async def setup_turn(first: Player, second: Player) -> Player:
    """Start a game with the two players and return the one who is drawing."""
    await first.send({"type": "start"})
    turn = await first.expect("turn", phase="choosing")
    drawer = first if turn.get("drawerId") == first.id else second
    await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 0})
    await drawer.expect("turn", phase="drawing")
    return drawer


async def draw_loop(drawer: Player, stop: asyncio.Event) -> int:
    """Send 60 batches a second on an absolute schedule until `stop`; returns batches sent."""
    loop = asyncio.get_running_loop()
    interval = 1 / BATCHES_PER_SECOND
    next_at = loop.time()
    seq = 0
    while not stop.is_set():
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await drawer.send(draw_batch(seq, now_micros()))
        seq += 1
        next_at += interval
    return seq


# ---------------------------------------------------------------------------
# Profiling our server (py-spy, from the dev extra)
# ---------------------------------------------------------------------------


def find_py_spy() -> str | None:
    beside_python = Path(sys.executable).with_name("py-spy")
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


async def start_profiler(pid: int, out: Path) -> asyncio.subprocess.Process | None:
    py_spy = find_py_spy()
    if py_spy is None:
        print("fanout: --profile needs py-spy (pip install py-spy); not profiling")
        return None
    return await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "250",
        "--nonblocking",
        "--output",
        str(out),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def stop_profiler(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def summarize_profile(raw: str, top: int = 12) -> list[tuple[str, float, float]]:
    """(function (file), self %, inclusive %) from py-spy's raw collapsed stacks, by self time.

    Each line is `frame;frame;...;leaf COUNT` with frames `func (path:line)`; lines are
    dropped so that one function counts once per stack however many lines it spans.
    """
    self_samples: dict[str, int] = {}
    incl_samples: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        self_samples[frames[-1]] = self_samples.get(frames[-1], 0) + count
        for name in set(frames):
            incl_samples[name] = incl_samples.get(name, 0) + count
    if not total:
        return []
    ranked = sorted(self_samples.items(), key=lambda item: item[1], reverse=True)[:top]
    return [(name, n / total * 100, incl_samples[name] / total * 100) for name, n in ranked]


def _frame_name(frame: str) -> str:
    func, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = "/".join(path.rsplit("/", 2)[-2:])
    return f"{func} ({path})"


# ---------------------------------------------------------------------------
# One measurement
# ---------------------------------------------------------------------------


@dataclass
class Measurement:
    server: str
    receivers: int
    seconds: float
    delivered: int
    delivered_per_second: float
    expected_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_percent: float
    # CPU time the server spent per delivered message: robust to a busy machine, where a
    # starved server delivers less but also burns less
    server_cpu_us_per_message: float
    server_rss_mb: float
    idle_rss_mb: float
    loadgen_cpu_percent: float
    machine_busy_percent: float
    batches_sent: int
    drawer_errors: dict[str, int] = field(default_factory=dict)
    # ours only: the server's own view from /api/health `performance` (time spent in one
    # broadcast loop, event-loop lag), which separates its work from scheduling delays
    server_performance: dict[str, Any] = field(default_factory=dict)
    undecodable: int = 0
    receivers_closed: int = 0


def machine_busy(before: Any, after: Any) -> tuple[float, float]:
    """CPU seconds the whole machine was busy, and available, between two cpu_times()."""
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (
        getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
    )
    return total - idle, total


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


@dataclass
class Contender:
    """One server under load, with its receivers, players and running totals."""

    kind: str
    server: Server
    group: ReceiverGroup
    players: list[Player]
    drawer: Player
    idle_rss_mb: float
    cpu_seconds: float = 0.0
    loadgen_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    batches: int = 0
    slices: int = 0
    machine_busy_seconds: float = 0.0
    machine_total_seconds: float = 0.0
    profiler: asyncio.subprocess.Process | None = None
    profile_path: Path | None = None

    async def run_slice(self, settle: float, seconds: float) -> None:
        """Draw on this server for `settle` + `seconds`, measuring the last `seconds`."""
        stop = asyncio.Event()
        drawing = asyncio.create_task(draw_loop(self.drawer, stop))
        try:
            await asyncio.sleep(settle)
            proc = psutil.Process(self.server.pid)
            cpu0, load0 = sum(proc.cpu_times()[:2]), self.group.cpu_seconds()
            machine0 = psutil.cpu_times()
            started = time.monotonic()
            await self.group.command("measure")
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(self.server.pid))
            while (left := seconds - (time.monotonic() - started)) > 0:
                await asyncio.sleep(min(0.5, left))
                self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(self.server.pid))
            await self.group.command("pause")
            self.cpu_seconds += sum(proc.cpu_times()[:2]) - cpu0
            self.loadgen_seconds += self.group.cpu_seconds() - load0
            busy, total = machine_busy(machine0, psutil.cpu_times())
            self.machine_busy_seconds += busy
            self.machine_total_seconds += total
            self.wall_seconds += time.monotonic() - started
            self.slices += 1
        finally:
            stop.set()
            self.batches += await drawing

    async def server_performance(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        if not self.server.http_url:
            return {}
        with contextlib.suppress(aiohttp.ClientError, OSError, ValueError, TimeoutError):
            url = self.server.http_url + "/api/health"
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                body = await response.json()
                performance = body.get("performance", {})
                return performance if isinstance(performance, dict) else {}
        return {}

    def result(
        self, receivers: int, outputs: list[dict[str, Any]], performance: dict[str, Any]
    ) -> Measurement:
        latencies = sorted(v / 1000 for r in outputs for v in r["latenciesMicros"])
        delivered = sum(r["received"] for r in outputs)
        seconds = max(r["seconds"] for r in outputs)
        return Measurement(
            server=self.kind,
            receivers=receivers,
            seconds=round(seconds, 2),
            delivered=delivered,
            delivered_per_second=round(delivered / seconds, 1),
            expected_per_second=float(receivers * BATCHES_PER_SECOND),
            p50_ms=round(percentile(latencies, 50), 2),
            p99_ms=round(percentile(latencies, 99), 2),
            max_ms=round(latencies[-1], 2) if latencies else math.nan,
            server_cpu_percent=round(self.cpu_seconds / self.wall_seconds * 100, 1),
            server_cpu_us_per_message=round(self.cpu_seconds / max(delivered, 1) * 1e6, 2),
            server_rss_mb=round(self.peak_rss_mb, 1),
            idle_rss_mb=round(self.idle_rss_mb, 1),
            loadgen_cpu_percent=round(self.loadgen_seconds / self.wall_seconds * 100, 1),
            machine_busy_percent=round(
                self.machine_busy_seconds / max(self.machine_total_seconds, 1e-9) * 100, 1
            ),
            batches_sent=self.batches,
            drawer_errors=dict(self.drawer.errors),
            undecodable=sum(r["undecodable"] for r in outputs),
            receivers_closed=sum(r["closedEarly"] for r in outputs),
            server_performance=performance,
        )


async def prepare(
    kind: str,
    receivers: int,
    args: argparse.Namespace,
    workdir: Path,
    session: aiohttp.ClientSession,
    started: list[Server | ReceiverGroup],
) -> Contender:
    """A fresh server of `kind` with N joined receivers and a drawer in a drawing turn."""
    server = await (start_ours(workdir) if kind == "ours" else start_peer(workdir))
    started.append(server)
    await asyncio.sleep(1.0)  # let the fresh room settle before reading its idle RSS
    idle_rss = rss_mb(server.pid)
    nprocs = args.receiver_procs or (1 if receivers <= 100 else 2)
    log = workdir / f"receivers-{kind}.log"
    group = await ReceiverGroup.start(server.ws_url, receivers, nprocs, args.deflate, log)
    started.append(group)
    players = [
        await join_player(session, server.ws_url, "drawer-a"),
        await join_player(session, server.ws_url, "drawer-b"),
    ]
    drawer = await setup_turn(*players) if kind == "ours" else players[0]
    contender = Contender(kind, server, group, players, drawer, idle_rss)
    if args.profile and kind == "ours":
        contender.profile_path = workdir / "profile.txt"
        contender.profiler = await start_profiler(server.pid, contender.profile_path)
    return contender


async def measure(
    kinds: list[str], receivers: int, args: argparse.Namespace, workdir: Path
) -> list[Measurement]:
    """Measure every server in `kinds` at N receivers, interleaved in short slices.

    All servers are up at once, each with its own receivers; only one is drawn on at a
    time, alternating every `--slice` seconds, so a burst of load from elsewhere on a
    shared machine hits both servers alike instead of spoiling one server's whole run.
    """
    started: list[Server | ReceiverGroup] = []
    async with aiohttp.ClientSession() as session:
        try:
            contenders = [
                await prepare(kind, receivers, args, workdir / kind, session, started)
                for kind in kinds
            ]
            slices = max(1, math.ceil(args.duration / args.slice))
            for i in range(slices):
                for contender in contenders if i % 2 == 0 else contenders[::-1]:
                    settle = args.warmup if i == 0 else SLICE_SETTLE_SECONDS
                    await contender.run_slice(settle, args.duration / slices)
            rows = []
            for contender in contenders:
                if contender.profiler is not None and contender.profile_path is not None:
                    await stop_profiler(contender.profiler)
                    print_profile(contender.profile_path, receivers, args.profile)
                performance = await contender.server_performance(session)
                outputs = await contender.group.stop()
                rows.append(contender.result(receivers, outputs, performance))
                for player in contender.players:
                    await player.close()
            return rows
        finally:
            for item in reversed(started):
                await (item.kill() if isinstance(item, ReceiverGroup) else item.stop())


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def print_profile(raw_path: Path, receivers: int, keep_dir: Path) -> None:
    if not raw_path.exists():
        print("fanout: py-spy wrote no profile (is ptrace allowed?)")
        return
    keep_dir.mkdir(parents=True, exist_ok=True)
    kept = keep_dir / f"ours-{receivers}.raw.txt"
    shutil.copyfile(raw_path, kept)
    print(
        f"\nprofile of our server at {receivers} receivers (py-spy, CPU samples only; "
        f"raw stacks in {kept}):"
    )
    print(f"  {'self %':>6} {'incl %':>6}  function")
    for name, self_pct, incl_pct in summarize_profile(raw_path.read_text()):
        print(f"  {self_pct:>6.1f} {incl_pct:>6.1f}  {name}")


def format_table(rows: list[Measurement]) -> str:
    header = (
        f"{'N':>4}  {'server':<6} {'msgs/s':>9} {'of':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'CPU %':>6} {'us/msg':>6} {'RSS MB':>7} {'idle MB':>7} "
        f"{'loadgen %':>9} "
        f"{'machine %':>9}"
    )
    lines = [header, "-" * len(header)]
    by_n: dict[int, dict[str, Measurement]] = {}
    for m in rows:
        by_n.setdefault(m.receivers, {})[m.server] = m
        lines.append(
            f"{m.receivers:>4}  {m.server:<6} {m.delivered_per_second:>9.0f} "
            f"{m.expected_per_second:>7.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f} {m.max_ms:>7.1f} "
            f"{m.server_cpu_percent:>6.0f} {m.server_cpu_us_per_message:>6.1f} "
            f"{m.server_rss_mb:>7.1f} {m.idle_rss_mb:>7.1f} "
            f"{m.loadgen_cpu_percent:>9.0f} {m.machine_busy_percent:>9.0f}"
        )
        perf = m.server_performance
        if perf:
            lines.append(
                f"      (server's own view: one broadcast loop p50 "
                f"{perf.get('broadcastP50Ms', '?')} ms, p95 {perf.get('broadcastP95Ms', '?')} ms;"
                f" event-loop lag {perf.get('eventLoopLagMs', '?')} ms)"
            )
        if m.drawer_errors or m.undecodable or m.receivers_closed:
            lines.append(
                f"      ! drawer errors {m.drawer_errors}, undecodable {m.undecodable}, "
                f"receivers closed {m.receivers_closed}"
            )
    lines.append(
        "CPU % and loadgen %: 100 = one core; us/msg: server CPU time per delivered message;"
        " machine %: all cores busy, anyone's work."
    )
    busy = [m for m in rows if m.machine_busy_percent > BUSY_MACHINE_PERCENT]
    if busy:
        lines.append(
            f"! the machine was over {BUSY_MACHINE_PERCENT:.0f} % busy in "
            f"{len(busy)} of {len(rows)} runs: other work competed, latencies are inflated"
        )
    lines.append("")
    lines.append("ratios ours/peer (throughput: higher is better; latency, CPU, RSS: lower)")
    for n, pair in sorted(by_n.items()):
        if "ours" in pair and "peer" in pair:
            o, p = pair["ours"], pair["peer"]
            lines.append(
                f"{n:>4}  throughput {ratio(o.delivered_per_second, p.delivered_per_second):.2f}x"
                f"  p50 {ratio(o.p50_ms, p.p50_ms):.1f}x  p99 {ratio(o.p99_ms, p.p99_ms):.1f}x"
                f"  CPU {ratio(o.server_cpu_percent, p.server_cpu_percent):.1f}x"
                f"  CPU/msg "
                f"{ratio(o.server_cpu_us_per_message, p.server_cpu_us_per_message):.1f}x"
                f"  RSS {ratio(o.server_rss_mb, p.server_rss_mb):.1f}x"
            )
    return "\n".join(lines)


def goals(rows: list[Measurement]) -> list[tuple[str, bool | None, str]]:
    ours = {m.receivers: m for m in rows if m.server == "ours"}
    peer = {m.receivers: m for m in rows if m.server == "peer"}
    out: list[tuple[str, bool | None, str]] = []
    if 100 in ours:
        p99 = ours[100].p99_ms
        out.append(
            (
                f"p99 < {GOAL_P99_MS_AT_100:g} ms at 100 receivers",
                p99 < GOAL_P99_MS_AT_100,
                f"{p99:.2f} ms",
            )
        )
    worst = [
        (n, ratio(ours[n].delivered_per_second, peer[n].delivered_per_second))
        for n in sorted(ours)
        if n in peer
    ]
    if worst:
        n, r = min(worst, key=lambda item: item[1])
        out.append(
            (
                f"throughput >= {GOAL_THROUGHPUT_RATIO}x peer at every N",
                r >= GOAL_THROUGHPUT_RATIO,
                f"lowest {r:.2f}x at N={n}",
            )
        )
    if ours:
        idle = max(m.idle_rss_mb for m in ours.values())
        out.append(
            (f"idle room RSS < {GOAL_IDLE_RSS_MB:g} MB", idle < GOAL_IDLE_RSS_MB, f"{idle:.1f} MB")
        )
    return out


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "node": subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def main_async(args: argparse.Namespace) -> int:
    ensure_node_modules()
    servers = ["ours", "peer"] if args.only is None else [args.only]
    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        for n in args.receivers:
            workdir = Path(tmp) / f"n{n}"
            for kind in servers:
                (workdir / kind).mkdir(parents=True)
            print(f"fanout: {' and '.join(servers)} with {n} receivers ...", flush=True)
            try:
                rows += await measure(servers, n, args, workdir)
            except (RuntimeError, OSError, TimeoutError) as exc:
                logs = "\n".join(
                    f"--- {p.relative_to(workdir)}\n{p.read_text(errors='replace')[-2000:]}"
                    for p in workdir.glob("*/*.log")
                )
                print(f"fanout: the run with {n} receivers failed: {exc}\n{logs}")
                return 1
    print()
    print(format_table(rows))
    print()
    verdicts = goals(rows)
    for name, ok, observed in verdicts:
        print(f"goal {'met   ' if ok else 'MISSED'} {name}: {observed}")
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "settings": {
                    "receivers": args.receivers,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "slice_s": args.slice,
                    "batches_per_second": BATCHES_PER_SECOND,
                    "points_per_batch": POINTS_PER_BATCH,
                    "deflate": args.deflate,
                },
                "results": [asdict(m) for m in rows],
                "goals": [{"goal": g, "met": ok, "observed": o} for g, ok, o in verdicts],
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS_FILE.relative_to(BENCH_DIR.parent)}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--receivers",
        default="16,100,500",
        help="comma-separated receiver counts (default 16,100,500)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="measured seconds per run (default 10, --quick 3)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of drawing before measuring (default 2, --quick 1)",
    )
    parser.add_argument(
        "--slice",
        type=float,
        default=None,
        help="seconds per measured slice; servers alternate (default 2, --quick 1)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="profile our server with py-spy during its slices; keep stacks in DIR",
    )
    parser.add_argument("--only", choices=["ours", "peer"], help="measure one server")
    parser.add_argument(
        "--receiver-procs",
        type=int,
        default=0,
        help="receiver processes (default 1 up to 100 receivers, else 2)",
    )
    parser.add_argument(
        "--deflate", action="store_true", help="receivers offer permessage-deflate, as browsers do"
    )
    args = parser.parse_args(argv)
    args.receivers = [int(n) for n in str(args.receivers).split(",") if n.strip()]
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.slice is None:
        args.slice = 1.0 if args.quick else 2.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async(parse_args())))
