"""Benchmark of the kubesandbox API server, with kmock's Kubernetes emulator as the peer.

Both servers run in their own process on loopback and get the same load from this
process (aiohttp, 32 concurrent requests): creates, gets, merge patches, lists, and the
fan-out of one stream of changes to 20 watchers, with 10,000 ConfigMaps stored. Prints
requests/s per operation, the kubesandbox/kmock ratio and the servers' memory (RSS).
Targets on a 2-core machine: >= 2,000 gets/s and >= 500 writes/s.

kmock runs as its README shows (`KubernetesEmulator` in a `kmock.Server`), with no
per-request timeout: one request on an empty emulator takes about 3 ms. Its rates fall as
the run goes on because it records every request and re-filters that history on each new
one (profiled: `kmock/_internal/dsl.py` `Filter.__iter__`), so its figures measure that
design; read the ratios with this in mind.

Run: .venv/bin/python bench/sandbox.py [--objects 10000] [--watchers 20]

`--core N` measures instead the API server's own cost per write, in this process and
without HTTP: the writes one GameRoom causes from creation to Ready (the room and its
children as the operator renders them, the Deployment -> ReplicaSet -> Pod chain with the
controllers' status patches, the kubelet's Pod status updates, the operator's status
patches), repeated for N rooms, plus what saving the state (--state-dir) costs for them.
It prints milliseconds of CPU per room: the figure to compare between versions of the
API server (it does not depend on the machine's load the way wall-clock rates do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

CONCURRENCY = 32
NAMESPACES = 10
KMOCK_SERVER = textwrap.dedent(
    """
    import asyncio, kmock
    async def main():
        emulator = kmock.KubernetesEmulator()
        async with kmock.Server(emulator):
            print(emulator.url, flush=True)
            await asyncio.Event().wait()
    asyncio.run(main())
    """
)


@dataclass
class Target:
    name: str
    url: str
    proc: subprocess.Popen[str]
    results: dict[str, float] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # the sandbox's admin token
    # requests per second of server CPU time: the capacity with a core to itself
    capacity: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        rss = psutil.Process(self.proc.pid).memory_info().rss
        return rss / 1e6


def start_sandbox() -> Target:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesandbox",
            "--log-level",
            "warning",
            "up",
            "--port",
            "0",
            "--no-controllers",
            "--watch-history",
            "20000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    kubeconfig = proc.stdout.readline().strip().split("=", 1)[1]
    ready = proc.stdout.readline()  # its plain-HTTP URL, next to the TLS one of the kubeconfig
    server = ready.split("bearer tokens only: ", 1)[1].split(")", 1)[0]
    token = next(
        line.split("token:", 1)[1].strip()
        for line in Path(kubeconfig).read_text().splitlines()
        if "token:" in line
    )
    return Target("kubesandbox", server, proc, headers={"Authorization": f"Bearer {token}"})


def start_kmock() -> Target:
    proc = subprocess.Popen(
        [sys.executable, "-c", KMOCK_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return Target("kmock", proc.stdout.readline().strip(), proc)


PHASE_BUDGET = 60.0  # seconds; a slow server is measured on what it managed by then


async def run_many(target: Target, label: str, count: int, make) -> int:  # type: ignore[no-untyped-def]
    """Run up to `count` requests with CONCURRENCY workers (at most PHASE_BUDGET seconds);
    record requests per second (wall clock) and per second of the server's CPU time.
    Returns how many requests completed."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    done = 0
    cpu = target.cpu_seconds()
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            left = PHASE_BUDGET - (time.perf_counter() - start)
            if left <= 0:
                return
            i = queue.get_nowait()
            try:
                await asyncio.wait_for(make(i), left)
            except TimeoutError:
                return
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    rate = done / (time.perf_counter() - start)
    target.results[label] = rate
    target.capacity[label] = done / max(target.cpu_seconds() - cpu, 1e-6)
    if done < count:
        print(f"  {target.name}: {label} stopped after {PHASE_BUDGET:.0f}s at {done}/{count}")
    return done


def cm_path(base: str, i: int, n: int = 0) -> str:
    return f"{base}/api/v1/namespaces/bench-{i % NAMESPACES}/configmaps"


async def bench(target: Target, objects: int, watchers: int) -> None:
    connector = aiohttp.TCPConnector(limit=CONCURRENCY + watchers + 4)
    async with aiohttp.ClientSession(connector=connector, headers=target.headers) as s:
        for n in range(NAMESPACES):
            await s.post(
                target.url + "/api/v1/namespaces",
                json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}},
            )

        async def create(i: int) -> None:
            async with s.post(
                cm_path(target.url, i, objects),
                json={
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm-{i}", "labels": {"app": "bench", "n": str(i % 7)}},
                    "data": {"players": str(i), "room": f"room-{i}"},
                },
            ) as r:
                assert r.status in (200, 201), await r.text()

        async def get(i: int) -> None:
            j = random.randrange(stored)
            async with s.get(cm_path(target.url, j, objects) + f"/cm-{j}") as r:
                assert r.status == 200
                await r.read()

        async def patch(i: int) -> None:
            j = random.randrange(stored)
            async with s.patch(
                cm_path(target.url, j, objects) + f"/cm-{j}",
                data=json.dumps({"data": {"patched": str(i)}}),
                headers={"Content-Type": "application/merge-patch+json"},
            ) as r:
                assert r.status == 200, await r.text()

        async def list_ns(i: int) -> None:
            async with s.get(cm_path(target.url, i, objects)) as r:
                assert r.status == 200
                await r.read()

        stored = await run_many(target, "create/s", objects, create)
        await run_many(target, "get/s", max(objects, 5000), get)
        await run_many(target, "patch/s", objects // 2, patch)
        await run_many(target, f"list {objects // NAMESPACES} objs/s", 50, list_ns)
        target.rss_after = target.rss_mb()  # type: ignore[attr-defined]
        try:
            rate = await asyncio.wait_for(fan_out(s, target, objects, watchers), 2 * PHASE_BUDGET)
        except TimeoutError:
            print(f"  {target.name}: watch fan-out did not finish in {2 * PHASE_BUDGET:.0f}s")
            rate = 0.0
        target.results["watch events/s"] = rate


async def fan_out(s: aiohttp.ClientSession, target: Target, objects: int, watchers: int) -> float:
    """Time from the first of `changes` patches until every watcher saw all of them."""
    changes = 1000
    async with s.get(target.url + "/api/v1/namespaces/bench-0/configmaps?limit=1") as r:
        rv = ((await r.json()).get("metadata") or {}).get("resourceVersion", "")
    done = [0] * watchers
    finished = asyncio.Event()

    async def watch(k: int) -> None:
        query = "watch=true&timeoutSeconds=120" + (f"&resourceVersion={rv}" if rv else "")
        async with s.get(
            target.url + f"/api/v1/namespaces/bench-0/configmaps?{query}",
            timeout=aiohttp.ClientTimeout(total=180),
        ) as resp:
            async for line in resp.content:
                event = json.loads(line)
                if event["type"] == "MODIFIED" and event["object"]["metadata"]["name"] == "cm-0":
                    done[k] += 1
                    if done[k] >= changes:
                        if all(d >= changes for d in done):
                            finished.set()
                        return

    tasks = [asyncio.create_task(watch(k)) for k in range(watchers)]
    await asyncio.sleep(1.0)
    start = time.perf_counter()
    for i in range(changes):
        async with s.patch(
            target.url + "/api/v1/namespaces/bench-0/configmaps/cm-0",
            data=json.dumps({"data": {"seq": str(i)}}),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as r:
            assert r.status == 200
    try:
        await asyncio.wait_for(finished.wait(), PHASE_BUDGET)
    except TimeoutError:
        print(f"  {target.name}: watchers saw {min(done)}..{max(done)} of {changes} events")
        for t in tasks:
            t.cancel()
        return 0.0
    return watchers * changes / (time.perf_counter() - start)


# ---------------------------------------------------------------- core cost per room


def core_bench(rooms: int) -> None:
    import copy
    import inspect
    import tempfile
    import uuid

    import yaml

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "operator"))
    from gameroom_operator.render import Room, render_children

    from kubesandbox.apiserver.core import PATCH_MERGE
    from kubesandbox.apiserver.server import ApiServer

    example = yaml.safe_load((root / "examples" / "gameroom.yaml").read_text())

    spent = [0.0]  # CPU seconds inside the API server's calls only

    def create(group: str, version: str, plural: str, body: dict, manager: str) -> dict:
        rt = api.lookup(group, version, plural)
        extra = {"consume": True} if consume else {}
        t = time.process_time()
        obj = api.create(rt, version, "games", body, manager=manager, **extra)
        spent[0] += time.process_time() - t
        return obj

    def merge(
        group: str,
        version: str,
        plural: str,
        name: str,
        patch: dict,
        manager: str,
        sub: str | None = None,
    ) -> dict:
        rt = api.lookup(group, version, plural)
        raw = json.dumps(patch).encode()
        t = time.process_time()
        obj = api.patch(
            rt, version, "games", name, raw, PATCH_MERGE, subresource=sub, manager=manager
        )[0]
        spent[0] += time.process_time() - t
        return obj

    def one_room(i: int) -> None:
        body = copy.deepcopy(example)
        body["metadata"] = {"name": f"room-{i}", "namespace": "games"}
        gr = create("drawgame.dev", "v1alpha1", "gamerooms", body, "kubectl-client-side-apply")
        name = gr["metadata"]["name"]
        merge(
            "drawgame.dev",
            "v1alpha1",
            "gamerooms",
            name,
            {"metadata": {"finalizers": ["drawgame.dev/cleanup"]}},
            "gameroom-operator",
        )
        room = Room(name, "games", gr["metadata"]["uid"], gr["spec"])
        for child in render_children(room, "token-" + uuid.uuid4().hex):
            group, _, version = child["apiVersion"].rpartition("/")
            plural = {
                "ConfigMap": "configmaps",
                "Secret": "secrets",
                "PersistentVolumeClaim": "persistentvolumeclaims",
                "Service": "services",
                "NetworkPolicy": "networkpolicies",
                "Deployment": "deployments",
                "Ingress": "ingresses",
            }[child["kind"]]
            create(group, version, plural, child, "gameroom-operator")
        deploy = api.get(api.lookup("apps", "v1", "deployments"), "games", name)
        template = copy.deepcopy(deploy["spec"]["template"])
        owner = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
            "uid": deploy["metadata"]["uid"],
            "controller": True,
        }
        rs = create(
            "apps",
            "v1",
            "replicasets",
            {
                "metadata": {
                    "name": name + "-5d4f8",
                    "labels": template["metadata"]["labels"],
                    "ownerReferences": [owner],
                },
                "spec": {
                    "replicas": 1,
                    "selector": deploy["spec"]["selector"],
                    "template": template,
                },
            },
            "kube-controller-manager",
        )
        merge(
            "apps",
            "v1",
            "deployments",
            name,
            {
                "status": {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "unavailableReplicas": 1,
                }
            },
            "kube-controller-manager",
            "status",
        )
        pod = copy.deepcopy(template)
        pod["metadata"]["name"] = name + "-5d4f8-x7k2q"
        pod["metadata"]["ownerReferences"] = [
            {
                **owner,
                "kind": "ReplicaSet",
                "name": rs["metadata"]["name"],
                "uid": rs["metadata"]["uid"],
            }
        ]
        create("", "v1", "pods", pod, "kube-controller-manager")
        merge(
            "apps",
            "v1",
            "replicasets",
            rs["metadata"]["name"],
            {"status": {"replicas": 1, "observedGeneration": 1}},
            "kube-controller-manager",
            "status",
        )
        merge(
            "",
            "v1",
            "pods",
            pod["metadata"]["name"],
            {"spec": {"nodeName": "sandbox"}},
            "kube-scheduler",
        )
        for ready in ("False", "True"):
            conditions = [
                {
                    "type": t,
                    "status": ready if t in ("Ready", "ContainersReady") else "True",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ]
            merge(
                "",
                "v1",
                "pods",
                pod["metadata"]["name"],
                {
                    "status": {
                        "phase": "Running",
                        "podIP": "127.0.0.2",
                        "conditions": conditions,
                        "containerStatuses": [
                            {
                                "name": c["name"],
                                "ready": ready == "True",
                                "restartCount": 0,
                                "image": c["image"],
                                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                            }
                            for c in pod["spec"]["containers"]
                        ],
                    }
                },
                "kubelet",
                "status",
            )
        merge(
            "apps",
            "v1",
            "replicasets",
            rs["metadata"]["name"],
            {"status": {"readyReplicas": 1, "availableReplicas": 1}},
            "kube-controller-manager",
            "status",
        )
        merge(
            "apps",
            "v1",
            "deployments",
            name,
            {"status": {"readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": None}},
            "kube-controller-manager",
            "status",
        )
        for phase in ("Starting", "Ready"):
            merge(
                "drawgame.dev",
                "v1alpha1",
                "gamerooms",
                name,
                {"status": {"phase": phase, "observedGeneration": 1}},
                "gameroom-operator",
                "status",
            )

    crd = yaml.safe_load((root / "crds" / "gameroom.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        server = ApiServer(state_dir=Path(tmp), persist=True)
        store, api = server.store, server.core
        consume = "consume" in inspect.signature(api.create).parameters
        api.create(
            api.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            None,
            "",
            crd,
            manager="kubectl",
        )
        api.create(
            api.lookup("", "v1", "namespaces"),
            None,
            "",
            {"metadata": {"name": "games"}},
            manager="kubectl",
        )
        writes_before = store.rv
        save_cpu = 0.0
        batch = 25  # a save every 25 rooms: 0.5 s at the 50 rooms/s goal
        for i in range(rooms):
            one_room(i)
            if (i + 1) % batch == 0:
                t = time.process_time()
                server._save()
                save_cpu += time.process_time() - t
        writes = store.rv - writes_before
        if hasattr(server, "state_files"):
            server.state_files.close()  # a clean stop
    print(f"{rooms} rooms through ApiCore in process: {writes / rooms:.1f} writes/room")
    per_write, per_save = 1000 * spent[0] / rooms, 1000 * save_cpu / rooms
    print(
        f"API server CPU per room: {per_write:.2f} ms in create/patch + {per_save:.2f} ms "
        f"saving state = {per_write + per_save:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--no-peer", action="store_true", help="skip the kmock peer")
    parser.add_argument(
        "--core", type=int, metavar="ROOMS", help="measure ApiCore's CPU per room instead"
    )
    args = parser.parse_args()
    if args.core:
        core_bench(args.core)
        return 0
    targets = [start_sandbox()]
    if not args.no_peer:
        targets.append(start_kmock())
    try:
        for t in targets:
            t.rss_before = t.rss_mb()  # type: ignore[attr-defined]
            print(f"benchmarking {t.name} at {t.url} ...", flush=True)
            asyncio.run(bench(t, args.objects, args.watchers))
    finally:
        for t in targets:
            t.proc.terminate()
            t.proc.wait(30)
    ours = targets[0]
    peer = targets[1] if len(targets) > 1 else None
    print(
        f"\n{args.objects} ConfigMaps, {CONCURRENCY} concurrent requests, {args.watchers} watchers"
    )
    print("requests/s (wall clock, this loaded machine) | requests per server CPU-second")
    print(
        f"{'operation':<22}{'kubesandbox':>12}{'kmock':>10}{'ratio':>9}  |"
        f"{'kubesandbox':>12}{'kmock':>10}{'ratio':>9}"
    )
    for key in ours.results:
        row = f"{key:<22}"
        for table in ("results", "capacity"):
            mine = getattr(ours, table).get(key)
            other = getattr(peer, table).get(key) if peer else None
            row += f"{mine:>12,.0f}" if mine else f"{'-':>12}"
            row += f"{other:>10,.0f}" if other else f"{'-':>10}"
            row += f"{mine / other:>8.1f}x" if mine and other else f"{'-':>9}"
            row += "  |" if table == "results" else ""
        print(row)
    print(f"load average during the run: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs")
    for t in targets:
        print(
            f"{t.name} RSS: {t.rss_before:.0f} MB empty, "  # type: ignore[attr-defined]
            f"{t.rss_after:.0f} MB after the load phases ({args.objects} objects offered)"
        )  # type: ignore[attr-defined]
    for table, what in (("results", "wall clock"), ("capacity", "per server CPU-second")):
        figures = getattr(ours, table)
        gets = figures["get/s"]
        writes = min(figures["create/s"], figures["patch/s"])
        print(
            f"targets ({what}): gets {gets:,.0f}/s (>= 2,000: "
            f"{'met' if gets >= 2000 else 'NOT met'}), writes {writes:,.0f}/s (>= 500: "
            f"{'met' if writes >= 500 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
