"""Benchmark: 200 GameRooms updated to a new image at once, each rollout verified, against
the same number of plain Deployments rolled by kubesandbox's own controllers.

    .venv/bin/python bench/mass_rollout.py [--rooms 200]

kubesandbox with virtual Pods (Ready without a process); bench/probe_targets.py answers the
operator's deep probes at the Pods' addresses, so every room is probed healthy over real
HTTP. The rooms (health every 5 s, healthWindowSeconds 10: the CRD's shortest, WaitForIdle)
are created and their first revision verified; then one patch per room asks for a new image
(with `drawgame.dev/skip-smoke-test: "true"`: a virtual Pod runs no process, so a smoke-test
Job would never finish; the smoke test's own cost is a Job per rollout, not the operator's).
Measured from the first patch: when every room's new Pod serves (rollout Verifying or later
on revision 2), when every rollout is Succeeded (Ready, then healthy for the 10 s window),
rollouts per minute, and the operator's and the sandbox's CPU. The peer, in the same run with
the operator stopped: as many plain Deployments (strategy Recreate, minReadySeconds 10, the
counterpart of the health window) get a new image at once; time until every one is rolled
out and available. JSON in bench/results/mass_rollout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reconcile import (  # noqa: E402
    ROOT,
    Sampler,
    current_version,
    free_port,
    kubeconfig_auth,
    operator_metric,
    prepare,
    start_probe_targets,
)

OLD, NEW = "ghcr.io/drawgame/gameroom:0.1.0", "ghcr.io/drawgame/gameroom:0.1.1"
ROOMS = "/apis/drawgame.dev/v1alpha1/namespaces/bench/gamerooms"
DEPLOYMENTS = "/apis/apps/v1/namespaces/peer/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}


def room(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "image": OLD,
            "health": {"periodSeconds": 5, "timeoutSeconds": 2},
            # liveSettings off: the virtual Pods run no server to answer GET /admin/settings
            # (see bench/reconcile.py); the image change is what this measures.
            "rollout": {
                "healthWindowSeconds": 10,
                "progressDeadlineSeconds": 300,
                "liveSettings": False,
            },
        },
    }


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "peer"},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "minReadySeconds": 10,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": OLD}]},
            },
        },
    }


def rollout(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("status") or {}).get("rollout") or {})


async def watch_until(
    api: aiohttp.ClientSession,
    path: str,
    version: str,
    done: Callable[[dict[str, Any]], bool],
    count: int,
    limit: float,
    seen: Callable[[dict[str, Any], float], None] | None = None,
) -> float:
    """Watch `path` until `count` objects satisfy `done`; the monotonic time of the last."""
    finished: set[str] = set()
    deadline = time.monotonic() + limit
    while len(finished) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(finished)}/{count} done after {limit:.0f} s ({path})")
        params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "30"}
        async with api.get(
            path, params=params, timeout=aiohttp.ClientTimeout(total=None)
        ) as response:
            response.raise_for_status()
            async for line in response.content:
                event = json.loads(line)
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] not in ("ADDED", "MODIFIED"):
                    continue
                if seen is not None:
                    seen(obj, time.monotonic())
                if done(obj):
                    finished.add(obj["metadata"]["name"])
                if len(finished) >= count:
                    break
    return time.monotonic()


async def send_all(
    api: aiohttp.ClientSession, method: str, paths: list[tuple[str, Any]], slots: int = 64
) -> None:
    gate = asyncio.Semaphore(slots)

    async def one(path: str, body: Any) -> None:
        async with gate:
            headers = MERGE if method == "PATCH" else None
            async with api.request(method, path, json=body, headers=headers) as response:
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path}: {await response.text()}")

    await asyncio.gather(*(one(path, body) for path, body in paths))


def deployment_done(image: str) -> Callable[[dict[str, Any]], bool]:
    def done(obj: dict[str, Any]) -> bool:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return (
            spec["template"]["spec"]["containers"][0]["image"] == image
            and status.get("observedGeneration") == obj["metadata"]["generation"]
            and status.get("updatedReplicas") == 1
            and status.get("availableReplicas") == 1
            and not status.get("unavailableReplicas")
            and status.get("replicas") == 1
        )

    return done


async def run(rooms: int, state_dir: Path) -> dict[str, Any]:
    demo = prepare(state_dir)
    targets = start_probe_targets(state_dir, rooms * 4)
    try:
        demo.kubectl_apply(
            json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "peer"}})
        )
        config = yaml.safe_load(demo.kubeconfig.read_text())
        ssl_context, headers = kubeconfig_auth(config)
        sandbox = Sampler(next(p.pid for name, p in demo.processes if "kubesandbox" in name))
        port = free_port()
        operator = demo.spawn(
            "the operator",
            [
                *(sys.executable, "-m", "gameroom_operator", "--standalone"),
                *("--kubeconfig", str(demo.kubeconfig), "--log-format", "json"),
                *("--log-level", "WARNING", "--metrics-host", "127.0.0.1"),
                *("--metrics-port", str(port), "--resync-interval", "0"),
            ],
            state_dir / "operator.log",
        )
        sampler = Sampler(operator.pid)
        sampler.start()
        async with aiohttp.ClientSession(
            base_url=config["clusters"][0]["cluster"]["server"],
            connector=aiohttp.TCPConnector(limit=64, ssl=ssl_context or True),
            headers=headers,
        ) as api:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    await operator_metric(port, "gameroom_operator_writes_skipped_total")
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
            names = [f"room-{i:03d}" for i in range(rooms)]
            version = await current_version(api)
            first = asyncio.ensure_future(
                watch_until(
                    api,
                    ROOMS,
                    version,
                    lambda o: (
                        rollout(o).get("phase") == "Succeeded"
                        and rollout(o).get("currentRevision") == 1
                    ),
                    rooms,
                    900,
                )
            )
            await send_all(api, "POST", [(ROOMS, room(name)) for name in names])
            await first
            print(f"{rooms} rooms created, revision 1 verified", flush=True)
            await asyncio.sleep(3)

            # ---- the operator: every room asks for a new image at once ----
            serving: dict[str, float] = {}
            rolled_back: set[str] = set()

            def seen(obj: dict[str, Any], at: float) -> None:
                found = rollout(obj)
                name = obj["metadata"]["name"]
                if found.get("updateRevision") == 2 and found.get("phase") in (
                    "Verifying",
                    "Succeeded",
                ):
                    serving.setdefault(name, at)
                if found.get("phase") in ("RolledBack", "Failed"):
                    rolled_back.add(name)

            version = await current_version(api)
            cpu, sandbox_cpu = sampler.cpu_seconds(), sandbox.cpu_seconds()
            patch = {
                "metadata": {"annotations": {"drawgame.dev/skip-smoke-test": "true"}},
                "spec": {"image": NEW},
            }
            started = time.monotonic()
            verified = asyncio.ensure_future(
                watch_until(
                    api,
                    ROOMS,
                    version,
                    lambda o: (
                        rollout(o).get("phase") == "Succeeded"
                        and rollout(o).get("currentRevision") == 2
                    ),
                    rooms,
                    900,
                    seen,
                )
            )
            await send_all(api, "PATCH", [(f"{ROOMS}/{name}", patch) for name in names])
            patched = time.monotonic()
            done = await verified
            operator_cpu = sampler.cpu_seconds() - cpu
            operator_sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
            peak_rss = sampler.peak_rss
            sampler.running = False
        await asyncio.to_thread(demo.stop_named, "the operator")

        # ---- the peer: plain Deployments, kubesandbox's controllers alone ----
        async with aiohttp.ClientSession(
            base_url=config["clusters"][0]["cluster"]["server"],
            connector=aiohttp.TCPConnector(limit=64, ssl=ssl_context or True),
            headers=headers,
        ) as api:
            peers = [f"app-{i:03d}" for i in range(rooms)]
            version = await current_version(api)
            ready = asyncio.ensure_future(
                watch_until(api, DEPLOYMENTS, version, deployment_done(OLD), rooms, 600)
            )
            await send_all(api, "POST", [(DEPLOYMENTS, deployment(name)) for name in peers])
            await ready
            await asyncio.sleep(3)
            version = await current_version(api)
            peer_cpu = sandbox.cpu_seconds()
            peer_started = time.monotonic()
            rolled = asyncio.ensure_future(
                watch_until(api, DEPLOYMENTS, version, deployment_done(NEW), rooms, 600)
            )
            body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": NEW}]}}}}
            await send_all(api, "PATCH", [(f"{DEPLOYMENTS}/{name}", body) for name in peers])
            peer_done = await rolled
            peer_sandbox_cpu = sandbox.cpu_seconds() - peer_cpu
    finally:
        targets.kill()
        demo.stop_all()

    seconds = done - started
    peer_seconds = peer_done - peer_started
    gaps = sorted(serving.values())
    return {
        "rooms": rooms,
        "patchSeconds": round(patched - started, 2),
        "allServingNewSeconds": round(gaps[-1] - started, 2) if gaps else None,
        "allVerifiedSeconds": round(seconds, 2),
        "rolloutsPerMinute": round(rooms / seconds * 60, 1),
        "rolledBackOrFailed": len(rolled_back),
        "operatorCpuSeconds": round(operator_cpu, 2),
        "operatorCpuPercentOfOneCore": round(100 * operator_cpu / seconds, 1),
        "operatorCpuMsPerRollout": round(1000 * operator_cpu / rooms, 1),
        "operatorPeakRssMb": round(peak_rss / 2**20, 1),
        "sandboxCpuSecondsDuringRollouts": round(operator_sandbox_cpu, 2),
        "peerDeploymentsSeconds": round(peer_seconds, 2),
        "peerSandboxCpuSeconds": round(peer_sandbox_cpu, 2),
        "ratioVerifiedToPeer": round(seconds / peer_seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox state folder")
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="bench-mass-rollout-"))
    try:
        result = asyncio.run(run(args.rooms, state_dir))
    finally:
        if not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    print(
        f"\n{result['rooms']} rooms to a new image at once: all verified after "
        f"{result['allVerifiedSeconds']} s ({result['rolloutsPerMinute']} rollouts/min, "
        f"{result['rolledBackOrFailed']} rolled back); every new Pod serving after "
        f"{result['allServingNewSeconds']} s; operator CPU {result['operatorCpuSeconds']} s "
        f"({result['operatorCpuPercentOfOneCore']} % of one core, "
        f"{result['operatorCpuMsPerRollout']} ms per rollout)\n"
        f"peer: {result['rooms']} plain Deployments (Recreate, minReadySeconds 10) rolled by "
        f"kubesandbox alone in {result['peerDeploymentsSeconds']} s; ratio "
        f"{result['ratioVerifiedToPeer']}"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "mass_rollout.json").write_text(json.dumps(result, indent=2))
    return 0 if result["rolledBackOrFailed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
