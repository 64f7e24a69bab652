"""Benchmark: 1,000 GameRooms created at once in kubesandbox (virtual Pods).

Reports rooms/s until every room has its children and is Ready, the operator's API writes
per room (read from kubesandbox's request log by the operator's User-Agent), the
writes of a full resync (an operator restart: Kopf resumes every room), and the operator's
peak RSS and CPU. Goals on a 2-core machine, sandbox included: >= 50 rooms/s, <= 12 writes
per room from creation to Ready, 0 writes on a resync, < 250 MB RSS.

For scale: Agones publishes up to 10,000 GameServers per minute (~167/s) on a large GKE
cluster; this runs on one laptop-class machine with the API server in the same box.

    .venv/bin/python bench/reconcile.py [--rooms 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from kubesandbox.network.slots import pod_octet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from fanout import start_profiler, stop_profiler, summarize_profile  # noqa: E402
from gameroom_operator.demo import Demo  # noqa: E402

OPERATOR_LOG_LEVEL = os.environ.get("BENCH_OPERATOR_LOG_LEVEL", "WARNING")
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


class OperatorRequests:
    """The operator's requests, read from kubesandbox's own request log.

    No proxy sits between the operator and the API server: the harness costs the two CPUs
    nothing while it measures. The operator's requests are those whose User-Agent is ours
    (gameroom-operator/...) or Kopf's (kopf/...).
    """

    AGENTS = ("gameroom-operator/", "kopf/")
    LOG = "/sandbox/v1/requests"

    def __init__(self, api: aiohttp.ClientSession) -> None:
        self.api = api

    async def clear(self) -> None:
        async with self.api.delete(self.LOG) as response:
            response.raise_for_status()

    async def records(self) -> list[dict[str, Any]]:
        async with self.api.get(self.LOG) as response:
            response.raise_for_status()
            items = (await response.json())["items"]
        return [r for r in items if str(r.get("userAgent", "")).startswith(self.AGENTS)]

    @staticmethod
    def writes(records: list[dict[str, Any]], reads: bool = False) -> dict[str, int]:
        """Requests by method and resource: the writes, or (`reads`) the gets and lists (not
        the watches: one long request per kind, not a cost per room)."""
        found: collections.Counter[str] = collections.Counter()
        for record in records:
            if reads:
                wanted = record.get("verb") in ("get", "list")
            else:
                wanted = record["method"] in WRITE_VERBS
            if wanted:
                resource = record.get("resource") or "?"
                if record.get("subresource"):
                    resource += "/" + record["subresource"]
                found[f"{record['method']} {resource}"] += 1
        return dict(found)

    @staticmethod
    def last_time(records: list[dict[str, Any]], method: str, resource: str) -> float | None:
        times = [
            float(r["time"])
            for r in records
            if r["method"] == method and r.get("resource") == resource and not r.get("subresource")
        ]
        return max(times) if times else None


class Sampler(threading.Thread):
    """Peak RSS and CPU time of a process, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self.running = True

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def run(self) -> None:
        while self.running:
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)


def room(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "image": "ghcr.io/drawgame/gameroom:0.1.0",
            "game": {"rounds": 3},
            # The virtual Pods run no server: nothing would answer the operator's one
            # GET /admin/settings to each new Pod, and each would get a SettingsNotApplied
            # Event no real room gets. With the settings in the revision, nothing is asked.
            "rollout": {"liveSettings": False},
        },
    }


ROOMS_PATH = "/apis/drawgame.dev/v1alpha1/namespaces/bench/gamerooms"


def is_ready(room: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (room.get("status") or {}).get("conditions") or []
    )


async def current_version(session: aiohttp.ClientSession) -> str:
    async with session.get(ROOMS_PATH, params={"limit": "1"}) as r:
        r.raise_for_status()
        return str((await r.json())["metadata"]["resourceVersion"])


async def wait_all_ready(
    session: aiohttp.ClientSession, rooms: int, version: str, limit: float
) -> float:
    """Watch the rooms (one stream: polling lists of 1,000 rooms would load the API server
    being measured) until `rooms` are Ready; the monotonic time when the last one was."""
    ready: set[str] = set()
    deadline = time.monotonic() + limit
    while len(ready) < rooms:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)}/{rooms} rooms Ready after {limit:.0f} s")
        params = {
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "30",
        }
        async with session.get(
            ROOMS_PATH, params=params, timeout=aiohttp.ClientTimeout(total=None)
        ) as response:
            response.raise_for_status()
            async for line in response.content:
                event = json.loads(line)
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED") and is_ready(obj):
                    ready.add(obj["metadata"]["name"])
                if len(ready) >= rooms:
                    break
    return time.monotonic()


async def operator_metric(port: int, name: str) -> float:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(state_dir: Path) -> Demo:
    demo = Demo(state_dir, keep_state=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        demo.start_sandbox(virtual_pods=True)
        demo.install_crd()
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
        demo.kubectl_apply(json.dumps(namespace))
    except BaseException:
        demo.stop_all()
        raise
    return demo


def start_probe_targets(state_dir: Path, rooms: int) -> subprocess.Popen[str]:
    """Virtual Pods run no process: bench/probe_targets.py answers the operator's deep
    probes at the addresses the sandbox gives the rooms' Pods (its network slot's block,
    handed out in order), so the rooms are probed healthy over real HTTP."""
    info = json.loads(next(state_dir.rglob("sandbox.json")).read_text())
    first = f"127.{pod_octet(int(info['networkSlot']))}.0.10"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "probe_targets.py"),
            "--first",
            first,
            "--count",
            str(int(rooms * 1.05) + 50),
            "--control-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("bench/probe_targets.py did not start")
    return process


def kubeconfig_auth(config: dict[str, Any]) -> tuple[ssl.SSLContext | None, dict[str, str]]:
    """The TLS trust and bearer token of a kubeconfig's first cluster and user."""
    cluster = config["clusters"][0]["cluster"]
    context: ssl.SSLContext | None = None
    if cluster.get("certificate-authority-data"):
        context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    elif cluster.get("certificate-authority"):
        context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    users = config.get("users") or [{}]
    token = (users[0].get("user") or {}).get("token")
    return context, ({"Authorization": f"Bearer {token}"} if token else {})


async def run(
    demo: Demo, rooms: int, concurrency: int, profile: Path | None = None
) -> dict[str, Any]:
    state_dir = demo.state_dir
    config = yaml.safe_load(demo.kubeconfig.read_text())
    upstream = config["clusters"][0]["cluster"]["server"]
    metrics_port = free_port()  # two benchmarks at once must not share the operator's port

    def start_operator(log: str) -> Sampler:
        process = demo.spawn(
            "the operator",
            [
                sys.executable,
                "-m",
                "gameroom_operator",
                "--standalone",
                "--kubeconfig",
                str(demo.kubeconfig),
                "--log-format",
                "json",
                "--log-level",
                OPERATOR_LOG_LEVEL,
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(metrics_port),
                "--probe-interval",
                "30",
                "--resync-interval",
                "0",
            ],
            state_dir / log,
        )
        sampler = Sampler(process.pid)
        sampler.start()
        return sampler

    # The sandbox (API server, controllers, kubelet) is one process: the first spawned.
    sandbox = Sampler(next(p.pid for name, p in demo.processes if "kubesandbox" in name))
    ssl_context, headers = kubeconfig_auth(config)
    async with aiohttp.ClientSession(
        base_url=upstream,
        connector=aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context),
        headers=headers,
    ) as api:
        log = OperatorRequests(api)
        sampler = start_operator("operator.log")
        # Wait until the operator watches (its healthz answers) before the clock starts.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                await operator_metric(metrics_port, "gameroom_operator_writes_skipped_total")
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        await log.clear()
        version = await current_version(api)
        profilers = []
        if profile is not None:
            for who, sampled in (("operator", sampler), ("sandbox", sandbox)):
                started_profiler = await start_profiler(
                    sampled.process.pid, profile / f"{who}.raw.txt"
                )
                if started_profiler is not None:
                    profilers.append(started_profiler)
        cpu_before = sampler.cpu_seconds()
        sandbox_cpu_before = sandbox.cpu_seconds()
        slots = asyncio.Semaphore(concurrency)

        async def create(i: int) -> None:
            async with slots:
                path = "/apis/drawgame.dev/v1alpha1/namespaces/bench/gamerooms"
                async with api.post(path, json=room(f"room-{i:04d}")) as response:
                    if response.status >= 300:
                        raise RuntimeError(f"create failed: {await response.text()}")

        started, started_wall = time.monotonic(), time.time()
        all_ready = asyncio.ensure_future(wait_all_ready(api, rooms, version, 1800))
        await asyncio.gather(*(create(i) for i in range(rooms)))
        created = time.monotonic()
        finished = await all_ready
        cpu_create = sampler.cpu_seconds() - cpu_before
        sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu_before
        for profiler in profilers:
            await stop_profiler(profiler)
        records = await log.records()
        last_deployment = OperatorRequests.last_time(records, "POST", "deployments")
        children_done = started + (last_deployment - started_wall) if last_deployment else finished
        create_writes = OperatorRequests.writes(records)
        create_reads = OperatorRequests.writes(records, reads=True)
        peak_create = sampler.peak_rss
        sampler.running = False

        # A full resync: restart the operator; Kopf resumes every room.
        await asyncio.to_thread(demo.stop_named, "the operator")
        await asyncio.sleep(1)
        await log.clear()
        sampler = start_operator("operator-resync.log")
        resync_started = time.monotonic()
        count_name = "gameroom_operator_reconcile_duration_seconds_count"
        reconciled = 0.0
        while reconciled < rooms:
            await asyncio.sleep(0.5)
            try:
                reconciled = await operator_metric(metrics_port, count_name)
            except aiohttp.ClientError:
                continue
            if time.monotonic() - resync_started > 900:
                raise RuntimeError(f"resync reconciled only {reconciled}/{rooms} rooms")
        resync_seconds = time.monotonic() - resync_started
        await asyncio.sleep(3)  # let stragglers (status, Kopf annotations) show up
        resync_writes = OperatorRequests.writes(await log.records())
        peak_resync = sampler.peak_rss
        sampler.running = False
    await asyncio.to_thread(demo.stop_named, "the operator")

    total_create_writes = sum(create_writes.values())
    return {
        "rooms": rooms,
        "create_seconds": round(created - started, 2),
        "ready_seconds": round(finished - started, 2),
        "rooms_per_second": round(rooms / (finished - started), 1),
        "children_seconds": round(children_done - started, 2),
        "children_per_second": round(rooms / (children_done - started), 1),
        "writes_per_room": round(total_create_writes / rooms, 2),
        "writes_by_kind": dict(sorted(create_writes.items())),
        "reads_per_room": round(sum(create_reads.values()) / rooms, 2),
        "reads_by_kind": dict(sorted(create_reads.items())),
        "resync_seconds": round(resync_seconds, 2),
        "resync_writes": sum(resync_writes.values()),
        "resync_writes_by_kind": resync_writes,
        "operator_peak_rss_mb": round(max(peak_create, peak_resync) / 2**20, 1),
        "operator_peak_rss_mb_creating": round(peak_create / 2**20, 1),
        "operator_peak_rss_mb_resync": round(peak_resync / 2**20, 1),
        "operator_cpu_percent_while_creating": round(100 * cpu_create / (finished - started), 1),
        "sandbox_cpu_percent_while_creating": round(100 * sandbox_cpu / (finished - started), 1),
        "sandbox_cpu_ms_per_room": round(1000 * sandbox_cpu / rooms, 1),
        "operator_cpu_ms_per_room": round(1000 * cpu_create / rooms, 1),
    }


def report(result: dict[str, Any]) -> None:
    goals = [
        (
            "rooms/s until all Ready",
            result["rooms_per_second"],
            ">= 50",
            result["rooms_per_second"] >= 50,
        ),
        (
            "API writes per room to Ready",
            result["writes_per_room"],
            "<= 12",
            result["writes_per_room"] <= 12,
        ),
        ("API writes on a full resync", result["resync_writes"], "0", result["resync_writes"] == 0),
        (
            "operator peak RSS (MB)",
            result["operator_peak_rss_mb"],
            "< 250",
            result["operator_peak_rss_mb"] < 250,
        ),
        (
            "operator CPU while creating (%)",
            result["operator_cpu_percent_while_creating"],
            "",
            True,
        ),
    ]
    print(f"\nreconcile benchmark: {result['rooms']} GameRooms, virtual Pods, kubesandbox")
    print(f"{'figure':34} {'value':>10}  {'goal':>6}  met")
    for name, value, goal, met in goals:
        print(f"{name:34} {value:>10}  {goal:>6}  {'yes' if met else 'NO'}")
    agones = 10_000 / 60
    print(
        f"\nratio to Agones' published 10,000 GameServers/min ({agones:.0f}/s on a large GKE "
        f"cluster): {result['rooms_per_second'] / agones:.2f}"
    )
    print(
        f"children of all rooms created after {result['children_seconds']} s "
        f"({result['children_per_second']} rooms/s: the operator's part); the rest of the time "
        "to Ready is the sandbox's Deployment/ReplicaSet controllers and kubelet"
    )
    print(
        f"CPU while creating: sandbox {result['sandbox_cpu_percent_while_creating']} % "
        f"({result['sandbox_cpu_ms_per_room']} ms/room), operator "
        f"{result['operator_cpu_percent_while_creating']} % "
        f"({result['operator_cpu_ms_per_room']} ms/room); 100 % is one core"
    )
    print("writes by kind:", json.dumps(result["writes_by_kind"]))
    print(f"reads per room {result['reads_per_room']}:", json.dumps(result["reads_by_kind"]))
    print(f"resync of {result['rooms']} rooms took {result['resync_seconds']} s")
    print("resync writes by kind:", json.dumps(result["resync_writes_by_kind"]))
    print(
        f"peak RSS while creating {result['operator_peak_rss_mb_creating']} MB, "
        f"during the resync {result['operator_peak_rss_mb_resync']} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox state folder")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the operator and the sandbox from the first create to the last Ready",
    )
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    demo = prepare(state_dir)
    targets: subprocess.Popen[str] | None = None
    try:
        targets = start_probe_targets(state_dir, args.rooms)
        result = asyncio.run(run(demo, args.rooms, args.concurrency, args.profile))
    finally:
        if targets is not None:
            targets.kill()
        demo.stop_all()
        if not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    report(result)
    if args.profile:
        for who in ("operator", "sandbox"):
            raw = args.profile / f"{who}.raw.txt"
            if not raw.exists():
                print(f"no profile of the {who} (py-spy missing, or ptrace not allowed)")
                continue
            print(f"\nprofile of the {who} (py-spy, CPU samples; raw stacks: {raw})")
            print(f"  {'self %':>6} {'incl %':>6}  function")
            for name, self_pct, incl_pct in summarize_profile(raw.read_text(), top=30):
                print(f"  {self_pct:>6.1f} {incl_pct:>6.1f}  {name}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "reconcile.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
