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
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .chart import CHART, ROOT
from .helpers import Operator, install_crds, running_operator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = CHART / "files" / "helm-test.py"
SHIM = ROOT / "kubesandbox" / "network" / "shim"


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
    install_crds(kube_sandbox)
    name = f"helm-test-{request.node.name[5:25].replace('_', '-').strip('-')}"
    kube_sandbox.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def operator(kube_sandbox: Any, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    with running_operator(kube_sandbox, namespace, tmp_path / "operator.log") as running:
        yield running


def test_helm_test_applies_a_room_plays_it_and_deletes_it(
    kube_sandbox: Any, namespace: str, operator: Operator
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
