"""The kubelet end to end: restarts and back-off, probes, init containers, logs,
configuration and volumes reaching the process, graceful deletion, virtual pods."""

from __future__ import annotations

import asyncio
import ipaddress
import pathlib
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
import pytest_asyncio

from kubesandbox.apiserver import ApiServer
from kubesandbox.config import DEFAULT_IMAGE_RULES, ImageRule, SandboxConfig
from kubesandbox.controllers import ControllerManager
from kubesandbox.controllers.client import ApiClient
from kubesandbox.network.slots import claim_slot

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.integration]

KUBECTL = str(pathlib.Path(sys.executable).with_name("kubectl"))
IMAGE = "test.local/python:3.11"
NS = "kubelet"


@dataclass
class Sandbox:
    url: str
    client: ApiClient
    config: SandboxConfig
    kubeconfig: pathlib.Path


def sandbox_config(state: pathlib.Path) -> SandboxConfig:
    return SandboxConfig(
        state_dir=state,
        image_rules=[
            ImageRule("test.local/python:*", default_command=("python",), version_env="PY_TAG"),
            ImageRule("test.local/broken:*", mode="fail"),
        ]
        + list(DEFAULT_IMAGE_RULES),
        backoff_base_seconds=0.3,
        backoff_max_seconds=1.2,
    )


async def start(
    state: pathlib.Path, persist: bool = False, slot_index: int | None = None
) -> tuple[ApiServer, ControllerManager, Sandbox]:
    # Other sandboxes may run on this machine: use our own addresses.
    slot = claim_slot(preferred=slot_index)
    api = ApiServer(state_dir=state, persist=persist, service_cidr=slot.service_cidr)
    url = await api.start()
    config = sandbox_config(state)
    config.network_slot = slot
    manager = ControllerManager(url, config, server=api, transport="http")
    await manager.start()
    kubeconfig = state / "kubeconfig"
    kubeconfig.write_text(api.kubeconfig(NS))
    client = ApiClient(url, api.admin_token)
    if await client.get(f"/api/v1/namespaces/{NS}") is None:
        await client.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    return api, manager, Sandbox(url, client, config, kubeconfig)


async def stop(api: ApiServer, manager: ControllerManager, sandbox: Sandbox) -> None:
    await manager.stop()
    await sandbox.client.close()
    await api.stop()
    if sandbox.config.network_slot is not None:
        sandbox.config.network_slot.release()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sb(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    api, manager, sandbox = await start(tmp_path_factory.mktemp("kubelet"))
    try:
        yield sandbox
    finally:
        await manager.stop()
        await sandbox.client.close()
        await api.stop()
        if sandbox.config.network_slot is not None:
            sandbox.config.network_slot.release()


async def kubectl(sb: Sandbox, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(sb.kubeconfig),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {out.decode()}"
    return out.decode()


async def eventually(
    check: Callable[[], Awaitable[Any]], limit: float = 90.0, what: str = "condition"
) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    last: Any = None
    while loop.time() < end:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def pod(name: str, script: str, **spec: Any) -> dict:
    container = {"name": "main", "image": IMAGE, "args": ["-c", textwrap.dedent(script)]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, **spec.pop("metadata", {})},
        "spec": {"containers": [container], **spec},
    }


async def create(sb: Sandbox, body: dict) -> dict:
    return await sb.client.create(f"/api/v1/namespaces/{NS}/pods", body)


async def get_pod(sb: Sandbox, name: str) -> dict:
    obj = await sb.client.get(f"/api/v1/namespaces/{NS}/pods/{name}")
    assert obj is not None, f"pod {name} is gone"
    return obj


def container_status(p: dict, name: str = "main") -> dict:
    for cs in (p.get("status") or {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


def ready(p: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (p.get("status") or {}).get("conditions") or []
    )


async def events_for(sb: Sandbox, name: str) -> list[str]:
    evs = await sb.client.list(
        f"/api/v1/namespaces/{NS}/events", {"fieldSelector": f"involvedObject.name={name}"}
    )
    return [e["reason"] for e in evs["items"]]


async def test_crash_loop_back_off_counts_restarts_and_keeps_logs(sb: Sandbox) -> None:
    await create(sb, pod("crash", "import sys; print('boom', flush=True); sys.exit(3)"))

    async def looping() -> dict | None:
        cs = container_status(await get_pod(sb, "crash"))
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if cs.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff":
            return cs
        return None

    cs = await eventually(looping, what="CrashLoopBackOff")
    last = cs["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    p = await get_pod(sb, "crash")
    assert p["status"]["phase"] == "Running" and not ready(p)
    assert "back-off" in cs["state"]["waiting"]["message"]
    logs = await kubectl(sb, "logs", "crash")
    assert "boom" in logs
    previous = await kubectl(sb, "logs", "crash", "--previous")
    assert "boom" in previous
    reasons = await events_for(sb, "crash")
    for reason in ("Scheduled", "Pulled", "Created", "Started", "BackOff"):
        assert reason in reasons


async def test_restart_policy_never_and_on_failure(sb: Sandbox) -> None:
    await create(sb, pod("once", "raise SystemExit(4)", restartPolicy="Never"))
    await create(
        sb,
        pod(
            "retry",
            """
            import os, pathlib
            marker = pathlib.Path("tried")
            if not marker.exists():
                marker.write_text("x")
                raise SystemExit(1)
            print("second time lucky")
            """,
            restartPolicy="OnFailure",
        ),
    )

    async def phase(name: str, want: str) -> dict | None:
        p = await get_pod(sb, name)
        return p if p["status"].get("phase") == want else None

    failed = await eventually(lambda: phase("once", "Failed"), what="once Failed")
    term = container_status(failed)["state"]["terminated"]
    assert term["exitCode"] == 4 and container_status(failed)["restartCount"] == 0
    done = await eventually(lambda: phase("retry", "Succeeded"), what="retry Succeeded")
    assert container_status(done)["restartCount"] == 1
    assert container_status(done)["state"]["terminated"]["reason"] == "Completed"


async def test_liveness_failure_restarts_and_readiness_gates_ready(sb: Sandbox) -> None:
    server = """
    import http.server, os
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = os.path.exists("ready") if self.path == "/ready" else True
            self.send_response(200 if ok else 503)
            self.end_headers()
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
    """
    await create(
        sb,
        pod(
            "probed",
            server,
            container={
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
                "ports": [{"containerPort": 8080}],
            },
        ),
    )
    await create(
        sb,
        pod(
            "unlive",
            "import time; time.sleep(3600)",
            container={
                "livenessProbe": {
                    "tcpSocket": {"port": 9999},
                    "periodSeconds": 1,
                    "failureThreshold": 2,
                }
            },
        ),
    )

    async def running(name: str) -> dict | None:
        p = await get_pod(sb, name)
        return p if "running" in (container_status(p).get("state") or {}) else None

    p = await eventually(lambda: running("probed"), what="probed running")

    async def failed_twice() -> bool:
        # The kubelet's Warning for each failing readiness check (aggregated by count).
        evs = await sb.client.list(
            f"/api/v1/namespaces/{NS}/events", {"fieldSelector": "involvedObject.name=probed"}
        )
        return (
            sum(
                int(e.get("count") or 1)
                for e in evs["items"]
                if e["reason"] == "Unhealthy"
                and str(e.get("message", "")).startswith("Readiness probe failed")
            )
            >= 2
        )

    await eventually(failed_twice, what="two failing readiness checks")
    assert not ready(await get_pod(sb, "probed"))
    rootfs = sb.config.pods_dir / NS / "probed" / "rootfs" / "main"
    (rootfs / "ready").write_text("yes")

    async def is_ready() -> bool:
        return ready(await get_pod(sb, "probed"))

    await eventually(is_ready, what="probed Ready")
    assert container_status(await get_pod(sb, "probed"))["restartCount"] == 0

    async def restarted() -> dict | None:
        cs = container_status(await get_pod(sb, "unlive"))
        return cs if cs.get("restartCount", 0) >= 1 else None

    cs = await eventually(restarted, what="liveness restart")
    # Killed with SIGTERM (Python's default handler dies of it): 128 + 15, an error.
    assert cs["lastState"]["terminated"]["exitCode"] == 143
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    reasons = await events_for(sb, "unlive")
    assert "Unhealthy" in reasons and "Killing" in reasons
    del p


async def test_startup_probe_holds_back_liveness_and_readiness(sb: Sandbox) -> None:
    check = [
        "python",
        "-c",
        "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 1)",
        "/scratch/started",
    ]
    body = pod(
        "slowstart",
        "import sys, time; time.sleep(1.5); open(sys.argv[1], 'w').write('ok'); time.sleep(3600)",
        volumes=[{"name": "scratch", "emptyDir": {}}],
        container={
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            "startupProbe": {
                "exec": {"command": check},
                "periodSeconds": 1,
                "failureThreshold": 10,
            },
            "livenessProbe": {
                "exec": {"command": check},
                "periodSeconds": 1,
                "failureThreshold": 1,
            },
        },
    )
    body["spec"]["containers"][0]["args"].append("/scratch/started")
    await create(sb, body)

    async def running_not_started() -> dict | None:
        cs = container_status(await get_pod(sb, "slowstart"))
        return cs if "running" in (cs.get("state") or {}) else None

    cs = await eventually(running_not_started, what="slowstart running")
    assert cs["started"] is False and cs["ready"] is False

    async def started() -> dict | None:
        p = await get_pod(sb, "slowstart")
        return p if container_status(p).get("started") and ready(p) else None

    p = await eventually(started, what="startup probe success")
    assert container_status(p)["restartCount"] == 0


async def test_init_containers_run_in_order_before_the_main_container(sb: Sandbox) -> None:
    def step(word: str) -> dict:
        return {
            "name": f"init-{word}",
            "image": IMAGE,
            "args": ["-c", f"import sys; open(sys.argv[1], 'a').write('{word}\\n')", "/work/steps"],
            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        }

    body = pod(
        "inits",
        "import sys, time; print(open(sys.argv[1]).read().split(), flush=True); time.sleep(3600)",
        initContainers=[step("one"), step("two")],
        volumes=[{"name": "work", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "work", "mountPath": "/work"}]},
    )
    body["spec"]["containers"][0]["args"].append("/work/steps")
    await create(sb, body)

    async def main_running() -> dict | None:
        p = await get_pod(sb, "inits")
        return p if p["status"].get("phase") == "Running" else None

    p = await eventually(main_running, what="inits running")
    inits = p["status"]["initContainerStatuses"]
    assert [c["name"] for c in inits] == ["init-one", "init-two"]
    assert all(c["state"]["terminated"]["reason"] == "Completed" for c in inits)

    async def logged() -> str | None:
        out = await kubectl(sb, "logs", "inits")
        return out if "[" in out else None

    assert "['one', 'two']" in await eventually(logged, what="main log")


async def test_config_secrets_and_mount_paths_reach_the_process(sb: Sandbox) -> None:
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/configmaps",
        {"metadata": {"name": "cfg"}, "data": {"room.yaml": "roomName: friday\n", "MODE": "fast"}},
    )
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/secrets",
        {"metadata": {"name": "tok"}, "stringData": {"token": "t0p"}},
    )
    script = """
    import os, sys
    print("mode", os.environ["MODE"])
    print("token", os.environ["TOKEN"])
    print("tag", os.environ["PY_TAG"])
    print("config", open(sys.argv[1]).read().strip())
    print("secretfile", open(os.environ["TOKEN_FILE"]).read())
    print("cwd-writable", os.access(os.getcwd(), os.W_OK))
    print("pod", os.environ["HOSTNAME"], os.environ["POD_IP"])
    """
    body = pod(
        "configured",
        script,
        restartPolicy="Never",
        volumes=[
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "tok", "secret": {"secretName": "tok"}},
        ],
        container={
            "envFrom": [{"configMapRef": {"name": "cfg"}}],
            "env": [
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "token"}}},
                {"name": "TOKEN_FILE", "value": "/var/run/tok/token"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            ],
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/gameroom"},
                {"name": "tok", "mountPath": "/var/run/tok", "readOnly": True},
            ],
        },
    )
    body["spec"]["containers"][0]["args"].append("/etc/gameroom/room.yaml")
    await create(sb, body)

    async def succeeded() -> dict | None:
        p = await get_pod(sb, "configured")
        return p if p["status"].get("phase") == "Succeeded" else None

    p = await eventually(succeeded, what="configured Succeeded")
    out = await kubectl(sb, "logs", "configured")
    assert "mode fast" in out and "token t0p" in out and "tag 3.11" in out
    assert "config roomName: friday" in out and "secretfile t0p" in out
    assert "cwd-writable True" in out
    assert f"pod configured {p['status']['podIP']}" in out


async def test_processes_in_pods_reach_the_api_server(sb: Sandbox) -> None:
    script = """
    import os
    from kubernetes import client, config
    config.load_incluster_config()  # token, CA and namespace from the projected volume
    api = client.CoreV1Api()
    me = api.read_namespaced_pod(os.environ["HOSTNAME"], "kubelet")
    print("phase", me.status.phase, me.status.pod_ip, flush=True)
    try:
        api.list_namespaced_secret("kubelet")
    except client.ApiException as exc:
        print("secrets", exc.status, flush=True)
    # what the operator's own client does: aiohttp, the CA file, the token file
    import asyncio, ssl, aiohttp
    async def raw():
        base = "/var/run/secrets/kubernetes.io/serviceaccount"
        ctx = ssl.create_default_context(cafile=base + "/ca.crt")
        host = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
        ns = open(base + "/namespace").read()
        url = f"https://{host}/api/v1/namespaces/{ns}/pods/" + os.environ["HOSTNAME"]
        headers = {"Authorization": "Bearer " + open(base + "/token").read()}
        async with aiohttp.ClientSession() as s, s.get(url, ssl=ctx, headers=headers) as r:
            print("aiohttp", r.status, flush=True)
    asyncio.run(raw())
    """
    await sb.client.create(
        f"/api/v1/namespaces/{NS}/serviceaccounts", {"metadata": {"name": "pod-reader"}}
    )
    await sb.client.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles",
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
    )
    await sb.client.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings",
        {
            "metadata": {"name": "pod-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "pod-reader", "namespace": NS}],
        },
    )
    body = pod("operator-like", script, restartPolicy="Never")
    body["spec"]["serviceAccountName"] = "pod-reader"
    await create(sb, body)

    async def done() -> dict | None:
        p = await get_pod(sb, "operator-like")
        return p if p["status"].get("phase") in ("Succeeded", "Failed") else None

    p = await eventually(done, what="operator-like finished")
    out = await kubectl(sb, "logs", "operator-like")
    assert p["status"]["phase"] == "Succeeded", out
    assert f"phase Running {p['status']['podIP']}" in out
    # It is its ServiceAccount, not the admin: the Role grants no Secrets.
    assert "secrets 403" in out
    assert "aiohttp 200" in out


async def test_graceful_deletion_sigterm_then_sigkill(sb: Sandbox) -> None:
    polite = """
    import signal, sys, time
    def bye(*a):
        open(sys.argv[1], "w").write("got SIGTERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print("up", flush=True)
    time.sleep(3600)
    """
    stubborn = """
    import os, signal, time
    import sys
    def term(*a):
        open(sys.argv[1], "a").write(f"term {time.time()}\\n")
    signal.signal(signal.SIGTERM, term)
    print("pid", os.getpid(), flush=True)
    while True:
        time.sleep(3600)
    """
    body = pod(
        "polite",
        polite,
        volumes=[{"name": "node", "hostPath": {"path": "/var/polite"}}],
        container={
            "volumeMounts": [{"name": "node", "mountPath": "/out"}],
            "lifecycle": {
                "preStop": {
                    "exec": {
                        "command": [
                            "python",
                            "-c",
                            "import sys; open(sys.argv[1], 'w').write('before')",
                            "/out/prestop",
                        ]
                    }
                }
            },
        },
    )
    body["spec"]["containers"][0]["args"].append("/out/said")
    await create(sb, body)
    stubborn_body = pod(
        "stubborn",
        stubborn,
        terminationGracePeriodSeconds=1,
        volumes=[{"name": "node", "hostPath": {"path": "/var/stubborn"}}],
        container={"volumeMounts": [{"name": "node", "mountPath": "/out"}]},
    )
    stubborn_body["spec"]["containers"][0]["args"].append("/out/term")
    await create(sb, stubborn_body)
    log_polite = sb.config.log_path(NS, "polite", "main")
    log_stubborn = sb.config.log_path(NS, "stubborn", "main")

    async def started() -> bool:
        return (
            log_polite.exists()
            and "up" in log_polite.read_text()
            and log_stubborn.exists()
            and "pid" in log_stubborn.read_text()
        )

    await eventually(started, what="both started")
    pid = int(log_stubborn.read_text().split()[1])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await sb.client.delete(f"/api/v1/namespaces/{NS}/pods/stubborn")
    await sb.client.delete(f"/api/v1/namespaces/{NS}/pods/polite")

    async def gone(name: str) -> bool:
        return await sb.client.get(f"/api/v1/namespaces/{NS}/pods/{name}") is None

    async def killed() -> float | None:
        alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        return None if alive else time.time()

    died = await eventually(killed, what="stubborn process killed")
    await eventually(lambda: gone("polite"), what="polite gone")
    await eventually(lambda: gone("stubborn"), what="stubborn gone")
    assert loop.time() - t0 >= 0.9
    # SIGTERM came first and was survived; SIGKILL followed when the 1 s grace ran out.
    terms = (sb.config.state_dir / "node-root" / "var" / "stubborn" / "term").read_text()
    assert len(terms.splitlines()) == 1, terms
    since_term = died - float(terms.split()[1])
    assert 0.9 <= since_term <= 5.0, since_term
    node_dir = sb.config.state_dir / "node-root" / "var" / "polite"
    assert (node_dir / "prestop").read_text() == "before"  # the preStop hook ran first
    assert (node_dir / "said").read_text() == "got SIGTERM"


async def test_virtual_pods_and_unpullable_images(sb: Sandbox) -> None:
    virtual = pod("virtual", "raise SystemExit(1)")
    virtual["metadata"]["annotations"] = {"kubesandbox.dev/virtual": "true"}
    await create(sb, virtual)
    unknown = pod("unknown", "")
    unknown["spec"]["containers"][0]["image"] = "docker.io/library/nginx:1.27"
    await create(sb, unknown)
    broken = pod("broken", "")
    broken["spec"]["containers"][0]["image"] = "test.local/broken:1"
    await create(sb, broken)

    async def is_ready(name: str) -> dict | None:
        p = await get_pod(sb, name)
        return p if ready(p) and p["status"]["phase"] == "Running" else None

    for name in ("virtual", "unknown"):
        p = await eventually(lambda n=name: is_ready(n), what=f"{name} ready")
        assert (
            container_status(p)["ready"] and ipaddress.IPv4Address(p["status"]["podIP"]).is_loopback
        )
        assert not sb.config.log_path(NS, name, "main").exists()

    async def pull_error() -> dict | None:
        cs = container_status(await get_pod(sb, "broken"))
        return cs if (cs.get("state") or {}).get("waiting", {}).get("reason") else None

    cs = await eventually(pull_error, what="ErrImagePull")
    assert cs["state"]["waiting"]["reason"] == "ErrImagePull"


async def test_stopping_the_sandbox_stops_every_process(tmp_path: pathlib.Path) -> None:
    api, manager, sandbox = await start(tmp_path)
    try:
        await create(
            sandbox,
            pod(
                "stays",
                """
                import os, signal, time
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                print(os.getpid(), flush=True)
                time.sleep(3600)
                """,
                terminationGracePeriodSeconds=1,
            ),
        )
        log = sandbox.config.log_path(NS, "stays", "main")

        async def pid() -> int | None:
            text = log.read_text().strip() if log.exists() else ""
            return int(text) if text else None

        process = psutil.Process(await eventually(pid, what="process started"))
        assert process.is_running()
    finally:
        await manager.stop()
        await sandbox.client.close()
        await api.stop()
        if sandbox.config.network_slot is not None:
            sandbox.config.network_slot.release()
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


async def test_pods_come_back_after_a_sandbox_restart(tmp_path: pathlib.Path) -> None:
    script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(3600)"
    api, manager, sandbox = await start(tmp_path, persist=True)
    slot_index = sandbox.config.network_slot.index if sandbox.config.network_slot else None
    try:
        await create(sandbox, pod("survivor", script))

        async def running() -> dict | None:
            p = await get_pod(sandbox, "survivor")
            log = sandbox.config.log_path(NS, "survivor", "main")
            up = "running" in (container_status(p).get("state") or {})
            return p if up and log.exists() and "pid" in log.read_text() else None

        before = await eventually(running, what="survivor running")
        first_pid = int(sandbox.config.log_path(NS, "survivor", "main").read_text().split()[1])
    finally:
        await stop(api, manager, sandbox)
    assert not psutil.pid_exists(first_pid) or (
        psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE
    )
    api, manager, sandbox = await start(tmp_path, persist=True, slot_index=slot_index)
    try:

        async def restarted() -> dict | None:
            p = await get_pod(sandbox, "survivor")
            cs = container_status(p)
            return p if "running" in (cs.get("state") or {}) and cs["restartCount"] == 1 else None

        after = await eventually(restarted, what="survivor restarted")
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["status"]["podIP"] == before["status"]["podIP"]
        assert container_status(after)["lastState"]["terminated"]["reason"] == "Unknown"
        previous = sandbox.config.log_path(NS, "survivor", "main", previous=True)
        assert f"pid {first_pid}" in previous.read_text()
    finally:
        await stop(api, manager, sandbox)
