"""The chart's `helm test` script (files/helm-test.py) against kubesandbox with the real
operator: it applies its room, waits for Ready, plays the game's smoke test through the
room's Service name, and deletes the room; without an operator it fails in time, saying
why, and still deletes its room.

The script runs as the test Pod would, except for credentials (the sandbox's kubeconfig
instead of the Pod's ServiceAccount token) and name resolution (the sandbox's Service
hosts file through its socket shim, as its Pods resolve names).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .chart import CHART, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = CHART / "files" / "helm-test.py"
SHIM = ROOT / "kubesandbox" / "network" / "shim"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_script(
    sandbox: Any, namespace: str, name: str, timeout: int
) -> subprocess.CompletedProcess[str]:
    assert sandbox.state_dir is not None, (
        "the sandbox keeps its Service hosts file in its state dir"
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(sandbox.kubeconfig),
        "ROOM_NAMESPACE": namespace,
        "ROOM_NAME": name,
        "READY_TIMEOUT_SECONDS": str(timeout),
        # Resolve NAME.NAMESPACE.svc as the sandbox's Pods do (the script and its child).
        "PYTHONPATH": str(SHIM),
        "KUBESANDBOX_POD_IP": "127.0.0.1",
        "KUBESANDBOX_HOSTS_FILE": str(Path(sandbox.state_dir) / "network" / "hosts"),
    }
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout + 120,
        check=False,
    )


def room_exists(sandbox: Any, namespace: str, name: str) -> bool:
    result = sandbox.kubectl("-n", namespace, "get", "gameroom", name, check=False)
    return result.returncode == 0


@pytest.fixture
def namespace(kube_sandbox: Any, request: pytest.FixtureRequest) -> str:
    # As `helm install` does first: the chart's CRDs.
    kube_sandbox.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    kube_sandbox.kubectl(
        "wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s"
    )
    name = f"helm-test-{request.node.name[5:25].replace('_', '-').strip('-')}"
    kube_sandbox.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def operator(kube_sandbox: Any, namespace: str, tmp_path: Path) -> Iterator[None]:
    port = free_port()
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gameroom_operator", "--standalone"]
        + ["--kubeconfig", str(kube_sandbox.kubeconfig), f"--namespaces={namespace}"]
        + ["--metrics-host", "127.0.0.1", f"--metrics-port={port}", "--log-format", "json"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kube_sandbox.kubeconfig)},
    )
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / "operator.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, "the operator's /healthz never answered"
            time.sleep(0.2)
    yield
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_helm_test_applies_a_room_plays_it_and_deletes_it(
    kube_sandbox: Any, namespace: str, operator: None
) -> None:
    result = run_script(kube_sandbox, namespace, "helm-test-gro", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"applied GameRoom {namespace}/helm-test-gro" in result.stdout
    assert f"Ready; smoke test against http://helm-test-gro.{namespace}.svc/" in result.stdout
    assert "passed" in result.stdout
    assert f"deleted GameRoom {namespace}/helm-test-gro" in result.stdout
    assert not room_exists(kube_sandbox, namespace, "helm-test-gro")


def test_helm_test_fails_in_time_without_an_operator_and_cleans_up(
    kube_sandbox: Any, namespace: str
) -> None:
    started = time.monotonic()
    result = run_script(kube_sandbox, namespace, "helm-test-lonely", timeout=5)
    assert result.returncode == 1
    assert "was not Ready within 5 s" in result.stdout
    assert time.monotonic() - started < 60
    assert not room_exists(kube_sandbox, namespace, "helm-test-lonely")
