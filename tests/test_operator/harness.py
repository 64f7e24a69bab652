"""Helpers for the operator's integration tests: kubectl, the operator process, waiting."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    delay = 0.05
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - kept for the failure message
            last_error = error
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_error}")


class Kubectl:
    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        command = [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--namespace={self.namespace}"]
        result = subprocess.run(
            [*command, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def maybe(self, *args: str) -> dict[str, Any] | None:
        result = self.run("get", *args, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def apply(self, manifest: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.run("apply", "-f", "-", stdin=text)

    def create_namespace(self, name: str) -> None:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def patch_room(self, name: str, spec: dict[str, Any]) -> None:
        self.run("patch", "gameroom", name, "--type=merge", "-p", json.dumps({"spec": spec}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """`python -m gameroom_operator` in a subprocess, pointed at a kubeconfig."""

    def __init__(self, kubeconfig: str, log_path: Path, *extra: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra = extra
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gameroom_operator",
                "--standalone",
                "--kubeconfig",
                self.kubeconfig,
                "--metrics-host",
                "127.0.0.1",
                "--metrics-port",
                str(self.metrics_port),
                "--log-format",
                "json",
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        wait_for("the operator's /healthz", self.healthy, timeout=60)

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited:\n{self.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    def writes(self) -> float:
        """Writes the operator made through its own client (creates, patches, deletes)."""
        metrics = self.metrics()
        return sum(
            metrics.get(f'gameroom_operator_api_calls_total{{verb="{verb}"}}', 0.0)
            for verb in ("POST", "PUT", "PATCH", "DELETE")
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


# The stand-in room of the auto-heal and rollout tests: one image per mode (tag), a small
# process kubesandbox runs for it (an image rule); on a real cluster, $SICKROOM_IMAGE built
# from standins/sickroom/Dockerfile.
STANDIN = Path(__file__).parent / "standins" / "sickroom"
SICKROOM_IMAGE = os.environ.get("SICKROOM_IMAGE", "drawgame.test/sickroom")


def standin_sandbox(folder: Path) -> Iterator[Any]:
    """A kubesandbox whose image rule runs the stand-in room for `SICKROOM_IMAGE:<mode>`
    (for a fixture to yield from); its state and logs go to `folder`."""
    import yaml

    from kubesandbox.testing import SandboxProcess

    rule = {
        "image": f"{SICKROOM_IMAGE}:*",
        "mode": "process",
        "env": {"PYTHONPATH": str(STANDIN)},
        "versionEnv": "SICKROOM_MODE",
    }
    config = folder / "sandbox.yaml"
    config.write_text(yaml.safe_dump({"imageRules": [rule]}))
    process = SandboxProcess(["--config", str(config)], log_dir=folder)
    yield process.start()
    process.stop()


READY_TIMEOUT = 90.0  # seconds a room may take to turn Ready on a busy 2-core machine


def install_crd(kubeconfig: str) -> None:
    """Apply the GameRoom CRD and wait until it is served."""
    admin = Kubectl(kubeconfig, "default")
    admin.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"))
    admin.run("wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s")


def new_namespace(kubeconfig: str, prefix: str) -> Iterator[Kubectl]:
    """A fresh namespace (for a fixture to yield from), deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(kubeconfig, name)
    kubectl.create_namespace(name)
    yield kubectl
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def run_operator(
    kubeconfig: str, log_dir: Path, namespace: str, *extra: str
) -> Iterator[OperatorProcess]:
    """The operator watching one namespace (for a fixture to yield from); no resync unless
    `extra` asks for one, so that repairs must come from the watches."""
    process = OperatorProcess(
        kubeconfig,
        log_dir / "operator.log",
        "--namespaces",
        namespace,
        "--resync-interval",
        "0",
        *extra,
    )
    process.start()
    yield process
    process.stop()


def wait_ready(kubectl: Kubectl, name: str, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    """The room once its Ready condition is True."""

    def ready() -> dict[str, Any] | None:
        room = kubectl.json("gameroom", name)
        return room if condition(room, "Ready").get("status") == "True" else None

    return wait_for(f"gameroom {name} Ready", ready, timeout)


def room_events(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    """The Events posted on room `name` (not on its children of the same name)."""
    items = kubectl.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e for e in items if e["involvedObject"].get("kind") == "GameRoom"]


def event_reasons(kubectl: Kubectl, name: str) -> list[str]:
    return [e["reason"] for e in room_events(kubectl, name)]


def room_manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {"name": name},
        "spec": {"image": "ghcr.io/drawgame/gameroom:0.1.0", **spec},
    }


def condition(room: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in (room.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


CHILD_KINDS = (
    "configmap",
    "secret",
    "persistentvolumeclaim",
    "service",
    "deployment",
    "networkpolicy",
    "ingress",
)


class HoldingProxy:
    """A pass-through proxy to the API server that holds chosen requests forever.

    The operator talks through it; holding, say, every Deployment create freezes the
    operator in the middle of its reconciles, at a point chosen by the test.
    """

    def __init__(
        self,
        upstream: str,
        hold: Callable[[str, str], bool],
        refuse: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold = hold
        self.held = 0
        # Requests answered at once with 503 Service Unavailable (a passing API outage).
        self.refuse = refuse or (lambda method, path: False)
        self.refused = 0
        self.port = 0
        self._loop: Any = None
        self._thread: Any = None
        self._ready = __import__("threading").Event()

    def start(self) -> None:
        import asyncio
        import threading

        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the holding proxy did not start")

    async def _main(self) -> None:
        import asyncio

        import aiohttp
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        hop = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False
        ) as session:

            async def handle(request: web.Request) -> web.StreamResponse:
                if self.hold(request.method, request.path):
                    self.held += 1
                    await self._stop.wait()
                    raise web.HTTPServiceUnavailable()
                if self.refuse(request.method, request.path):
                    self.refused += 1
                    raise web.HTTPServiceUnavailable(
                        text='{"kind":"Status","status":"Failure","reason":"ServiceUnavailable",'
                        '"message":"the server is currently unable to handle the request",'
                        '"code":503}',
                        content_type="application/json",
                    )
                headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
                body = await request.read()
                async with session.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=body or None,
                    headers=headers,
                ) as upstream:
                    response = web.StreamResponse(
                        status=upstream.status,
                        headers={k: v for k, v in upstream.headers.items() if k.lower() not in hop},
                    )
                    await response.prepare(request)
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                    return response

            app = web.Application(client_max_size=64 << 20)
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def kubeconfig(self, original: str, target: Path) -> str:
        """A copy of `original` whose server is this proxy."""
        import yaml

        config = yaml.safe_load(Path(original).read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"http://127.0.0.1:{self.port}"
        target.write_text(yaml.safe_dump(config))
        return str(target)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
