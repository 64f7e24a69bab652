"""`helm install` and `helm test` in kubesandbox, RBAC enforced: the chart's objects applied
in Helm's install order to a sandbox of their own; the operator runs as the chart's Pod
(in-cluster config, its projected ServiceAccount token, the chart's ClusterRole), becomes
ready on its /healthz, and runs a room with no API call refused; then the `helm test`
hook's objects are applied in hook-weight order and its Pod (its own ServiceAccount and
Role) applies a room, waits for Ready, plays the smoke test, deletes the room, and
succeeds.
"""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
import yaml

from .chart import render
from .helpers import install_crds, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Helm's install order (pkg/release/util/kind_sorter.go), the kinds this chart has.
INSTALL_ORDER = [
    "PodDisruptionBudget",
    "ServiceAccount",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Pod",
    "Deployment",
]
NAMESPACE = "gameroom-system"


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def apply(sandbox: Any, objects: list[dict[str, Any]]) -> None:
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def test_helm_install_then_helm_test(kube_sandbox_factory: Any) -> None:
    sandbox = kube_sandbox_factory()
    install_crds(sandbox)
    sandbox.kubectl("create", "namespace", NAMESPACE)
    objects = render({}, namespace=NAMESPACE)
    release = [o for o in objects if "helm.sh/hook" not in annotations(o)]
    hooks = [o for o in objects if annotations(o).get("helm.sh/hook") == "test"]
    release.sort(key=lambda o: INSTALL_ORDER.index(o["kind"]))
    apply(sandbox, release)

    rollout = sandbox.kubectl(
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        "deployment/gro-gameroom-operator",
        "--timeout=90s",
        check=False,
        timeout=120,
    )
    logs = sandbox.kubectl("-n", NAMESPACE, "logs", "deployment/gro-gameroom-operator", check=False)
    assert rollout.returncode == 0, rollout.stderr + logs.stdout[-4000:]

    sandbox.kubectl("create", "namespace", "games")
    sandbox.kubectl(
        "-n",
        "games",
        "apply",
        "-f",
        "-",
        input="apiVersion: drawgame.dev/v1alpha1\nkind: GameRoom\nmetadata: {name: first}\n",
    )
    ready = sandbox.kubectl(
        "-n",
        "games",
        "wait",
        "--for=condition=Ready",
        "gameroom/first",
        "--timeout=90s",
        check=False,
        timeout=120,
    )
    assert ready.returncode == 0, ready.stderr
    # Least privilege in the all-namespaces mode: nothing the operator asked was refused.
    pod_ip = sandbox.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=gameroom-operator",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ).stdout
    with urllib.request.urlopen(f"http://{pod_ip}:8090/metrics", timeout=5) as response:  # noqa: S310
        metrics = response.read().decode()
    assert "gameroom_operator_api_calls_total" in metrics
    assert [line for line in metrics.splitlines() if 'code="403"' in line] == []
    logs = sandbox.kubectl("-n", NAMESPACE, "logs", "deployment/gro-gameroom-operator").stdout
    assert "Forbidden" not in logs

    # helm test: the hooks by weight, then wait for the test Pod to finish.
    hooks.sort(
        key=lambda o: (int(annotations(o)["helm.sh/hook-weight"]), INSTALL_ORDER.index(o["kind"]))
    )
    apply(sandbox, hooks)

    def finished() -> str:
        pod = sandbox.kubectl(
            "-n",
            NAMESPACE,
            "get",
            "pod",
            "gro-gameroom-operator-test",
            "-o",
            "jsonpath={.status.phase}",
            check=False,
        )
        return pod.stdout if pod.stdout in ("Succeeded", "Failed") else ""

    phase = wait_for("the helm test Pod to finish", finished, timeout=180)
    log = sandbox.kubectl("-n", NAMESPACE, "logs", "gro-gameroom-operator-test", check=False).stdout
    assert phase == "Succeeded", log
    assert "helm-test: Ready; smoke test against http://helm-test-gro.gameroom-system.svc/" in log
    assert "helm-test: passed" in log
    gone = sandbox.kubectl("-n", NAMESPACE, "get", "gameroom", "helm-test-gro", check=False)
    assert gone.returncode != 0  # the test deleted its room
