"""Controllers end to end: the real API server, controllers and kubelet, real processes,
the real kubectl. Deployments, Services, Jobs, CronJobs and PVCs as a user sees them."""

from __future__ import annotations

import asyncio
import ipaddress
import pathlib
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from kubesandbox.apiserver import ApiServer
from kubesandbox.config import DEFAULT_IMAGE_RULES, ImageRule, SandboxConfig
from kubesandbox.controllers import ControllerManager
from kubesandbox.controllers.client import ApiClient
from kubesandbox.controllers.local import LocalClient
from kubesandbox.network import install_resolver
from kubesandbox.network.slots import claim_slot

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.integration]

KUBECTL = str(pathlib.Path(sys.executable).with_name("kubectl"))
IMAGE = "test.local/python:3.11"
NS = "e2e"

HELLO = textwrap.dedent(
    """
    import http.server, os, signal, sys
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = (os.environ["HOSTNAME"] + " " + os.environ.get("COLOR", "none")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            print("request", self.path, flush=True)
    http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
    """
)


@dataclass
class Sandbox:
    url: str
    client: ApiClient
    config: SandboxConfig
    kubeconfig: pathlib.Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    state = tmp_path_factory.mktemp("sandbox")
    slot = claim_slot()  # other sandboxes may run on this machine: use our own addresses
    api = ApiServer(state_dir=state, service_cidr=slot.service_cidr)
    url = await api.start()
    config = SandboxConfig(
        network_slot=slot,
        state_dir=state,
        image_rules=[ImageRule("test.local/python:*", default_command=("python",))]
        + list(DEFAULT_IMAGE_RULES),
        backoff_base_seconds=0.2,
        backoff_max_seconds=1.0,
    )
    # In process, as `kubesandbox up` runs them; every object handed to the controllers is
    # fingerprinted, so that the teardown can check none of them was changed in place.
    # "Strict": a controller that sends a field the schema does not know fails the test.
    manager = ControllerManager(
        url, config, server=api, audit_objects=True, field_validation="Strict"
    )
    assert manager.transport == "local"
    await manager.start()
    client = ApiClient(url, api.admin_token)
    kubeconfig = state / "kubeconfig"
    kubeconfig.write_text(api.kubeconfig(NS))
    await client.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    try:
        yield Sandbox(url, client, config, kubeconfig)
    finally:
        await manager.stop()
        await client.close()
        await api.stop()
        slot.release()
    assert isinstance(manager.client, LocalClient)
    changed = manager.client.mutated()
    assert not changed, f"objects changed in place after the API handed them out: {changed[:3]}"


async def kubectl(sb: Sandbox, *args: str, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(sb.kubeconfig),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {text}")
    return proc.returncode or 0, text


async def eventually(
    check: Callable[[], Awaitable[Any]], limit: float = 90.0, what: str = "condition"
) -> Any:
    """Wait until check() returns something truthy (polling the API, with a deadline)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    last: Any = None
    while loop.time() < end:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def deployment(name: str, replicas: int = 2, **spec: Any) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "web",
                            "image": IMAGE,
                            "args": ["-c", HELLO],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
            **spec,
        },
    }


async def get(sb: Sandbox, path: str) -> dict:
    obj = await sb.client.get(path)
    assert obj is not None, f"{path} not found"
    return obj


async def rollout_done(sb: Sandbox, name: str) -> dict | None:
    d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")
    st = d.get("status") or {}
    want = d["spec"]["replicas"]
    done = (
        st.get("observedGeneration") == d["metadata"]["generation"]
        and st.get("updatedReplicas") == want
        and st.get("replicas") == want
        and st.get("availableReplicas") == want
    )
    return d if done else None


async def test_deployment_pods_run_and_the_service_answers_by_ip_and_name(sb: Sandbox) -> None:
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("hello"))
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/services",
        {
            "metadata": {"name": "hello"},
            "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    d = await eventually(lambda: rollout_done(sb, "hello"), what="hello available")
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Available"]["status"] == "True"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    pods = (await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=hello"}))[
        "items"
    ]
    assert len(pods) == 2
    ips = {p["status"]["podIP"] for p in pods}
    slot = sb.config.network_slot
    assert slot is not None and len(ips) == 2
    assert all(slot.first_pod_ip <= ipaddress.IPv4Address(ip) <= slot.last_pod_ip for ip in ips)
    assert all(p["spec"]["nodeName"] == "sandbox-node" for p in pods)
    assert all(p["metadata"]["labels"].get("pod-template-hash") for p in pods)

    async def endpoints_ready() -> list[str]:
        ep = await sb.client.get(f"/api/v1/namespaces/{NS}/endpoints/hello") or {}
        return sorted(a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or [])

    assert await eventually(endpoints_ready, what="endpoints") == sorted(ips)
    slices = await sb.client.list(
        f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
        {"labelSelector": "kubernetes.io/service-name=hello"},
    )
    assert sorted(e["addresses"][0] for e in slices["items"][0]["endpoints"]) == sorted(ips)

    svc = await get(sb, f"/api/v1/namespaces/{NS}/services/hello")
    cluster_ip = svc["spec"]["clusterIP"]
    assert cluster_ip.startswith("127.2.")
    names = {p["metadata"]["name"] for p in pods}
    seen = set()
    undo = install_resolver(sb.url, token=sb.client.token)
    try:
        async with aiohttp.ClientSession() as http:
            for url in (f"http://{cluster_ip}/", f"http://hello.{NS}.svc.cluster.local/") * 3:
                async with http.get(url) as resp:
                    seen.add((await resp.text()).split()[0])
    finally:
        undo()
    assert seen == names  # round robin over both ready pods, by ClusterIP and DNS name


async def test_pods_reach_services_by_their_dns_names(sb: Sandbox) -> None:
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("echo", 1))
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/services",
        {
            "metadata": {"name": "echo"},
            "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    await eventually(lambda: rollout_done(sb, "echo"), what="echo available")
    pods = await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=echo"})
    echo_pod = pods["items"][0]["metadata"]["name"]

    async def endpoint_ready() -> bool:
        # The Service answers once its EndpointSlice lists the ready Pod (on a real cluster
        # too: kube-proxy programs a Service from its slices, after the Pod turns Ready).
        slices = await sb.client.list(
            f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
            {"labelSelector": "kubernetes.io/service-name=echo"},
        )
        return any(
            (e.get("conditions") or {}).get("ready")
            and (e.get("targetRef") or {}).get("name") == echo_pod
            for s in slices["items"]
            for e in s.get("endpoints") or []
        )

    await eventually(endpoint_ready, what="echo's endpoint ready")
    client_script = textwrap.dedent(
        f"""
        import urllib.request
        for url in ("http://echo/", "http://echo.{NS}/", "http://echo.{NS}.svc.cluster.local/"):
            print(url, urllib.request.urlopen(url, timeout=5).read().decode().split()[0])
        """
    )
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/jobs", job("dig", client_script, backoffLimit=0)
    )
    await kubectl(sb, "wait", "--for=condition=complete", "job/dig", "--timeout=60s")
    runs = await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "job-name=dig"})
    [run] = runs["items"]
    # The Pod's own log, not `kubectl logs job/dig` (whose notes such as "Found 2 pods" go to
    # stderr, which this file's kubectl helper merges into the output).
    out = await sb.client.request(
        "GET", f"/api/v1/namespaces/{NS}/pods/{run['metadata']['name']}/log"
    )
    lines = [line.split() for line in out.strip().splitlines()]
    assert [answer for _, answer in lines] == [echo_pod] * 3, out


async def test_rolling_update_history_and_undo_with_kubectl(sb: Sandbox) -> None:
    body = deployment(
        "roll",
        replicas=2,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    )
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first"}
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", body)
    await kubectl(sb, "rollout", "status", "deployment/roll", "--timeout=60s")
    await kubectl(sb, "set", "env", "deployment/roll", "COLOR=blue")
    await kubectl(
        sb, "annotate", "deployment/roll", "kubernetes.io/change-cause=blue", "--overwrite"
    )
    _, out = await kubectl(sb, "rollout", "status", "deployment/roll", "--timeout=60s")
    assert "successfully rolled out" in out
    d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/roll")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    rss = (await sb.client.list(f"/apis/apps/v1/namespaces/{NS}/replicasets"))["items"]
    mine = {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
        for r in rss
        if r["metadata"]["name"].startswith("roll-")
    }
    assert set(mine) == {"1", "2"}
    assert mine["1"]["spec"]["replicas"] == 0 and mine["2"]["spec"]["replicas"] == 2
    _, history = await kubectl(sb, "rollout", "history", "deployment/roll")
    rows = [line.split(None, 1) for line in history.strip().splitlines()]
    header = next(i for i, row in enumerate(rows) if row[0] == "REVISION")
    assert {row[0]: row[1].strip() for row in rows[header + 1 :]} == {"1": "first", "2": "blue"}

    pods = await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=roll"})
    colors = {
        e.get("value")
        for p in pods["items"]
        if not p["metadata"].get("deletionTimestamp")
        for e in p["spec"]["containers"][0].get("env") or []
    }
    assert colors == {"blue"}

    await kubectl(sb, "rollout", "undo", "deployment/roll")
    await kubectl(sb, "rollout", "status", "deployment/roll", "--timeout=60s")
    d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/roll")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert not d["spec"]["template"]["spec"]["containers"][0].get("env")
    rs_first = await get(
        sb, f"/apis/apps/v1/namespaces/{NS}/replicasets/{mine['1']['metadata']['name']}"
    )
    assert rs_first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs_first["spec"]["replicas"] == 2


async def test_paused_rollouts_wait_for_resume(sb: Sandbox) -> None:
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("paused", 1))
    await eventually(lambda: rollout_done(sb, "paused"), what="paused available")
    await kubectl(sb, "rollout", "pause", "deployment/paused")
    await kubectl(sb, "set", "env", "deployment/paused", "COLOR=red")

    async def paused_condition() -> bool:
        d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/paused")
        return any(
            c["type"] == "Progressing" and c.get("reason") == "DeploymentPaused"
            for c in (d.get("status") or {}).get("conditions") or []
        )

    await eventually(paused_condition, what="DeploymentPaused")
    rss = await sb.client.list(
        f"/apis/apps/v1/namespaces/{NS}/replicasets", {"labelSelector": "app=paused"}
    )
    assert len(rss["items"]) == 1  # no rollout while paused
    await kubectl(sb, "rollout", "resume", "deployment/paused")
    await kubectl(sb, "rollout", "status", "deployment/paused", "--timeout=60s")
    rss = await sb.client.list(
        f"/apis/apps/v1/namespaces/{NS}/replicasets", {"labelSelector": "app=paused"}
    )
    assert len(rss["items"]) == 2


async def test_progress_deadline_exceeded_fails_rollout_status(sb: Sandbox) -> None:
    body = deployment("stuck", replicas=1, progressDeadlineSeconds=2)
    body["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": [sys.executable, "-c", "raise SystemExit(1)"]},
        "periodSeconds": 1,
    }
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", body)

    async def deadline_exceeded() -> bool:
        d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/stuck")
        return any(
            c["type"] == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
            for c in (d.get("status") or {}).get("conditions") or []
        )

    await eventually(deadline_exceeded, what="ProgressDeadlineExceeded")
    code, out = await kubectl(
        sb, "rollout", "status", "deployment/stuck", "--timeout=20s", check=False
    )
    assert code != 0 and "exceeded its progress deadline" in out


async def test_recreate_stops_old_pods_before_starting_new_ones(sb: Sandbox) -> None:
    body = deployment("recreate", replicas=2, strategy={"type": "Recreate"})
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", body)
    await eventually(lambda: rollout_done(sb, "recreate"), what="recreate available")
    old_pods = await sb.client.list(
        f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=recreate"}
    )
    old_names = {p["metadata"]["name"] for p in old_pods["items"]}
    timeline: list[tuple[str, str]] = []

    async def watch() -> None:
        rv = old_pods["metadata"]["resourceVersion"]
        async for ev in sb.client.watch(
            f"/api/v1/namespaces/{NS}/pods", rv, 60, {"labelSelector": "app=recreate"}
        ):
            timeline.append((ev["type"], ev["object"]["metadata"]["name"]))

    watcher = asyncio.create_task(watch())
    await kubectl(sb, "set", "env", "deployment/recreate", "COLOR=green")
    await kubectl(sb, "rollout", "status", "deployment/recreate", "--timeout=60s")
    watcher.cancel()
    first_new = next(i for i, (t, n) in enumerate(timeline) if t == "ADDED" and n not in old_names)
    deleted_before = {n for t, n in timeline[:first_new] if t == "DELETED"}
    assert deleted_before == old_names


async def test_kubectl_scale_changes_the_pod_count(sb: Sandbox) -> None:
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("scale", 1))
    svc = await sb.client.create(
        f"/api/v1/namespaces/{NS}/services",
        {
            "metadata": {"name": "scale"},
            "spec": {"selector": {"app": "scale"}, "ports": [{"port": 8000, "targetPort": 8080}]},
        },
    )
    await eventually(lambda: rollout_done(sb, "scale"), what="scale available")
    await kubectl(sb, "scale", "deployment/scale", "--replicas=3")
    d = await eventually(lambda: rollout_done(sb, "scale"), what="3 replicas")
    assert d["status"]["readyReplicas"] == 3
    await kubectl(sb, "scale", "deployment/scale", "--replicas=0")
    d = await eventually(lambda: rollout_done(sb, "scale"), what="0 replicas")

    async def no_pods() -> bool:
        pods = await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=scale"})
        return not pods["items"]

    await eventually(no_pods, what="pods gone")

    async def refused() -> bool:
        # No ready endpoint: the service proxy refuses the connection, as kube-proxy does.
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"http://{svc['spec']['clusterIP']}:8000/",
                    timeout=aiohttp.ClientTimeout(total=3),
                ),
            ):
                return False
        except aiohttp.ClientError:
            return True

    await eventually(refused, what="connections refused without endpoints")


def job(name: str, script: str, **spec: Any) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "task", "image": IMAGE, "args": ["-c", script]}],
                }
            },
            **spec,
        },
    }


async def test_job_completes_and_kubectl_wait_sees_it(sb: Sandbox) -> None:
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        job("ok", "print('done')", completions=3, parallelism=2),
    )
    await kubectl(sb, "wait", "--for=condition=complete", "job/ok", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/ok")
    assert j["status"]["succeeded"] == 3
    assert j["status"].get("completionTime")
    _, logs = await kubectl(sb, "logs", "job/ok")
    assert "done" in logs


async def test_job_fails_after_its_backoff_limit(sb: Sandbox) -> None:
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        job("bad", "raise SystemExit(3)", backoffLimit=1),
    )
    await kubectl(sb, "wait", "--for=condition=failed", "job/bad", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/bad")
    assert j["status"]["failed"] == 2
    failed = next(c for c in j["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    pods = await sb.client.list(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "job-name=bad"})
    codes = {
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
        for p in pods["items"]
    }
    assert codes == {3}


async def test_cronjob_triggered_by_kubectl_and_by_annotation(sb: Sandbox) -> None:
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/cronjobs",
        {
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 3 1 1 *",
                "successfulJobsHistoryLimit": 1,
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "containers": [
                                    {"name": "b", "image": IMAGE, "args": ["-c", "print('backup')"]}
                                ],
                            }
                        }
                    }
                },
            },
        },
    )
    await kubectl(sb, "create", "job", "--from=cronjob/nightly", "nightly-manual")
    manual = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/nightly-manual")
    assert manual["metadata"]["ownerReferences"][0]["name"] == "nightly"
    await kubectl(sb, "wait", "--for=condition=complete", "job/nightly-manual", "--timeout=60s")
    _, logs = await kubectl(sb, "logs", "job/nightly-manual")
    assert "backup" in logs
    await kubectl(sb, "annotate", "cronjob/nightly", "kubesandbox.dev/run-now=true")

    async def triggered() -> list[dict]:
        jobs = await sb.client.list(f"/apis/batch/v1/namespaces/{NS}/jobs")
        return [
            j
            for j in jobs["items"]
            if j["metadata"]["name"].startswith("nightly-manual-")
            and any(c["type"] == "Complete" for c in j["status"].get("conditions") or [])
        ]

    done = await eventually(triggered, what="annotation-triggered job")
    cj = await get(sb, f"/apis/batch/v1/namespaces/{NS}/cronjobs/nightly")
    assert "kubesandbox.dev/run-now" not in (cj["metadata"].get("annotations") or {})

    async def history_trimmed() -> bool:
        c = await get(sb, f"/apis/batch/v1/namespaces/{NS}/cronjobs/nightly")
        return bool((c.get("status") or {}).get("lastSuccessfulTime")) and not (
            await sb.client.get(f"/apis/batch/v1/namespaces/{NS}/jobs/nightly-manual")
        )

    # Both jobs are owned by the CronJob: with a history limit of 1 the older one goes.
    await eventually(history_trimmed, what="history limit")
    assert done[0]["metadata"]["ownerReferences"][0]["name"] == "nightly"


async def test_claims_bind_to_directories_that_outlive_pods(sb: Sandbox) -> None:
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/persistentvolumeclaims",
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )

    async def bound() -> dict | None:
        pvc = await get(sb, f"/api/v1/namespaces/{NS}/persistentvolumeclaims/data")
        return pvc if (pvc.get("status") or {}).get("phase") == "Bound" else None

    pvc = await eventually(bound, what="pvc bound")
    assert pvc["status"]["capacity"] == {"storage": "1Gi"}
    writer = job(
        "write",
        "import sys; open(sys.argv[1], 'w').write('kept')",
    )
    spec = writer["spec"]["template"]["spec"]
    spec["containers"][0]["args"].append("/data/note.txt")
    spec["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    spec["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    await sb.client.create(f"/apis/batch/v1/namespaces/{NS}/jobs", writer)
    await kubectl(sb, "wait", "--for=condition=complete", "job/write", "--timeout=60s")
    reader = job("read", "import os; print(open(os.environ['NOTE']).read())")
    rspec = reader["spec"]["template"]["spec"]
    rspec["containers"][0]["env"] = [{"name": "NOTE", "value": "/data/note.txt"}]
    rspec["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    rspec["volumes"] = spec["volumes"]
    await sb.client.create(f"/apis/batch/v1/namespaces/{NS}/jobs", reader)
    await kubectl(sb, "wait", "--for=condition=complete", "job/read", "--timeout=60s")
    _, logs = await kubectl(sb, "logs", "job/read")
    assert logs.strip() == "kept"
    files = list(sb.config.pvc_dir.rglob("note.txt"))
    assert len(files) == 1 and files[0].read_text() == "kept"


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    return sandbox


async def test_cascading_deletes_with_running_controllers(sb: Sandbox) -> None:
    for name in ("fg", "orphan"):
        await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment(name, 2))
    for name in ("fg", "orphan"):
        await eventually(lambda n=name: rollout_done(sb, n), what=f"{name} available")

    async def pods_of(app: str) -> list[dict]:
        listing = await sb.client.list(
            f"/api/v1/namespaces/{NS}/pods", {"labelSelector": f"app={app}"}
        )
        return list(listing["items"])

    orphans = {p["metadata"]["name"] for p in await pods_of("orphan")}
    await kubectl(sb, "delete", "deployment", "fg", "--cascade=foreground", "--wait=true")

    async def fg_gone() -> bool:
        return not await pods_of("fg") and not await sb.client.get(
            f"/apis/apps/v1/namespaces/{NS}/deployments/fg"
        )

    await eventually(fg_gone, what="foreground deletion")
    await kubectl(sb, "delete", "deployment", "orphan", "--cascade=orphan")
    # The garbage collector acted inside the delete; the ReplicaSet controller reacts to
    # the orphaned ReplicaSet through its watch. A barrier instead of a pause: a spec
    # change that touches no Pod (minReadySeconds) is observed only after that.
    [kept] = (
        await sb.client.list(
            f"/apis/apps/v1/namespaces/{NS}/replicasets", {"labelSelector": "app=orphan"}
        )
    )["items"]
    path = f"/apis/apps/v1/namespaces/{NS}/replicasets/{kept['metadata']['name']}"
    bumped = await sb.client.patch(path, {"spec": {"minReadySeconds": 1}})

    async def observed() -> bool:
        found = await sb.client.get(path) or {}
        generation = bumped["metadata"]["generation"]
        return bool((found.get("status") or {}).get("observedGeneration") == generation)

    await eventually(observed, what="the ReplicaSet controller caught up")
    survivors = await pods_of("orphan")
    assert {p["metadata"]["name"] for p in survivors} == orphans
    assert all(not p["metadata"].get("deletionTimestamp") for p in survivors)
    rss = await sb.client.list(
        f"/apis/apps/v1/namespaces/{NS}/replicasets", {"labelSelector": "app=orphan"}
    )
    assert len(rss["items"]) == 1 and not rss["items"][0]["metadata"].get("ownerReferences")


async def test_on_failure_job_fails_at_its_backoff_limit(sb: Sandbox) -> None:
    # OnFailure: the container restarts inside one Pod; restarts count against the limit
    body = job("crashy", "raise SystemExit(1)", backoffLimit=2)
    body["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    await sb.client.create(f"/apis/batch/v1/namespaces/{NS}/jobs", body)
    await kubectl(sb, "wait", "--for=condition=failed", "job/crashy", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/crashy")
    failed = next(c for c in j["status"]["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    assert j["status"]["failed"] == 1 and j["status"]["active"] == 0

    async def pod_gone() -> bool:
        pods = await sb.client.list(
            f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "job-name=crashy"}
        )
        return not pods["items"]

    await eventually(pod_gone, what="the crashing Pod to be removed")


async def test_active_deadline_fails_the_job_and_counts_the_pod(sb: Sandbox) -> None:
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/jobs",
        job("slow", "import time; time.sleep(600)", activeDeadlineSeconds=2),
    )
    await kubectl(sb, "wait", "--for=condition=failed", "job/slow", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/slow")
    failed = next(c for c in j["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert (j["status"]["failed"], j["status"]["active"]) == (1, 0)


async def test_suspended_job_starts_only_when_resumed(sb: Sandbox) -> None:
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/jobs", job("later", "print('ran')", suspend=True)
    )
    await kubectl(sb, "wait", "--for=condition=suspended", "job/later", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/later")
    suspended = next(c for c in j["status"]["conditions"] if c["type"] == "Suspended")
    assert (suspended["status"], suspended["reason"]) == ("True", "JobSuspended")
    assert "startTime" not in j["status"]
    pods = await sb.client.list(
        f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "job-name=later"}
    )
    assert pods["items"] == []
    await kubectl(sb, "patch", "job/later", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    await kubectl(sb, "wait", "--for=condition=complete", "job/later", "--timeout=60s")
    j = await get(sb, f"/apis/batch/v1/namespaces/{NS}/jobs/later")
    resumed = next(c for c in j["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
    assert j["status"]["startTime"] >= suspended["lastTransitionTime"]
    _, events = await kubectl(
        sb, "get", "events", "--field-selector", "involvedObject.name=later", "-o",
        "jsonpath={.items[*].reason}",
    )  # fmt: skip
    assert "Suspended" in events.split() and "Resumed" in events.split()


async def test_cronjob_tracks_only_the_jobs_it_started(sb: Sandbox) -> None:
    # Every Job of this CronJob waits for a file, so the test decides when they finish.
    gate = sb.config.state_dir / "node-root" / "var" / "cron-gate"
    wait_for_gate = (
        "import os, time\n"
        "deadline = time.time() + 90\n"
        "while not os.path.exists(os.environ['GATE']) and time.time() < deadline:\n"
        "    time.sleep(0.1)\n"
    )
    pod_spec = {
        "restartPolicy": "Never",
        "volumes": [{"name": "gate", "hostPath": {"path": "/var/cron-gate"}}],
        "containers": [
            {
                "name": "b",
                "image": IMAGE,
                "args": ["-c", wait_for_gate],
                "env": [{"name": "GATE", "value": "/gate/open"}],
                "volumeMounts": [{"name": "gate", "mountPath": "/gate"}],
            }
        ],
    }
    await sb.client.create(
        f"/apis/batch/v1/namespaces/{NS}/cronjobs",
        {
            "metadata": {"name": "gated"},
            "spec": {
                "schedule": "0 3 1 1 *",
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"spec": {"template": {"spec": pod_spec}}},
            },
        },
    )
    await kubectl(sb, "create", "job", "--from=cronjob/gated", "gated-by-hand")

    async def reasons() -> list[str]:
        _, out = await kubectl(
            sb, "get", "events", "--field-selector", "involvedObject.name=gated",
            "-o", "jsonpath={.items[*].reason}",
        )  # fmt: skip
        return out.split()

    await eventually(lambda: _has(reasons, "UnexpectedJob"), what="UnexpectedJob event")
    cj = await get(sb, f"/apis/batch/v1/namespaces/{NS}/cronjobs/gated")
    assert not (cj.get("status") or {}).get("active")
    # The hand-made Job runs, yet under Forbid the CronJob still starts its own.
    await kubectl(sb, "annotate", "cronjob/gated", "kubesandbox.dev/run-now=true")

    async def tracked() -> list[str]:
        c = await get(sb, f"/apis/batch/v1/namespaces/{NS}/cronjobs/gated")
        return [a["name"] for a in (c.get("status") or {}).get("active") or []]

    active = await eventually(tracked, what="the CronJob's own Job in status.active")
    assert len(active) == 1 and active[0].startswith("gated-manual-")
    gate.mkdir(parents=True, exist_ok=True)
    (gate / "open").write_text("go")
    await eventually(lambda: _has(reasons, "SawCompletedJob"), what="SawCompletedJob event")
    assert await eventually(lambda: _not(tracked), what="status.active emptied")


async def _has(reasons: Callable[[], Awaitable[list[str]]], reason: str) -> bool:
    return reason in await reasons()


async def _not(check: Callable[[], Awaitable[Any]]) -> bool:
    return not await check()


async def test_undo_as_kubectl_1_32_sends_it_reuses_the_old_replica_set(sb: Sandbox) -> None:
    """kubectl <= 1.32 `rollout undo`: a JSON patch whose template carries
    `creationTimestamp: null` (Go's zero time). No kubectl 1.32 wheel exists on PyPI, so the
    test sends the patch that version sends."""
    await sb.client.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment("old", 1))
    await kubectl(sb, "rollout", "status", "deployment/old", "--timeout=60s")
    await kubectl(sb, "set", "env", "deployment/old", "COLOR=green")
    await kubectl(sb, "rollout", "status", "deployment/old", "--timeout=60s")
    rss = (await sb.client.list(f"/apis/apps/v1/namespaces/{NS}/replicasets"))["items"]
    mine = [r for r in rss if r["metadata"]["name"].startswith("old-")]
    first = next(
        r for r in mine if r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    )
    template = {**first["spec"]["template"]}
    template["metadata"] = {**template["metadata"], "creationTimestamp": None}
    template["metadata"]["labels"] = {
        k: v for k, v in template["metadata"]["labels"].items() if k != "pod-template-hash"
    }
    d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/old")
    await sb.client.patch(
        f"/apis/apps/v1/namespaces/{NS}/deployments/old",
        [
            {"op": "replace", "path": "/spec/template", "value": template},
            {
                "op": "replace",
                "path": "/metadata/annotations",
                "value": d["metadata"]["annotations"],
            },
        ],
        kind="json",
    )
    await kubectl(sb, "rollout", "status", "deployment/old", "--timeout=60s")
    d = await get(sb, f"/apis/apps/v1/namespaces/{NS}/deployments/old")
    assert "creationTimestamp" not in d["spec"]["template"]["metadata"]
    rss = (await sb.client.list(f"/apis/apps/v1/namespaces/{NS}/replicasets"))["items"]
    assert sorted(
        r["metadata"]["name"] for r in rss if r["metadata"]["name"].startswith("old-")
    ) == (sorted(r["metadata"]["name"] for r in mine))  # no third ReplicaSet
    again = await get(sb, f"/apis/apps/v1/namespaces/{NS}/replicasets/{first['metadata']['name']}")
    assert again["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert again["spec"]["replicas"] == 1
