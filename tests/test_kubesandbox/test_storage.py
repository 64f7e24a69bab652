"""Volumes as a cluster has them, driven by kubectl: the default StorageClass,
PersistentVolumes bound to claims, PVC protection, expansion and ReadWriteOncePod."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubesandbox.testing import Sandbox

from .conftest import wait_until

pytestmark = pytest.mark.kubesandbox_only
IMAGE = "ghcr.io/drawgame/gameroom:storage-test"  # a rule the sandbox runs as a process


def apply(sb: Sandbox, namespace: str, *objects: dict[str, Any]) -> None:
    documents = "\n---\n".join(json.dumps(o) for o in objects)
    sb.kubectl("apply", "-n", namespace, "-f", "-", input=documents)


def get(sb: Sandbox, namespace: str, *what: str) -> dict[str, Any] | None:
    got = sb.kubectl("get", *what, "-n", namespace, "-o", "json", check=False)
    return json.loads(got.stdout) if got.returncode == 0 else None


def claim(
    name: str, size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec},
    }


def sleeper(name: str, claim_name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "command": ["python", "-c", "import time; time.sleep(3600)"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
        },
    }


def phase(sb: Sandbox, namespace: str, kind: str, name: str) -> str:
    found = get(sb, namespace, kind, name)
    return str(((found or {}).get("status") or {}).get("phase", "<gone>"))


def test_default_class_binds_a_volume_that_outlives_nothing_in_use(
    kube_sandbox: Sandbox, namespace: str
) -> None:
    sb = kube_sandbox
    classes = json.loads(sb.kubectl("get", "storageclass", "-o", "json").stdout)["items"]
    standard = next(c for c in classes if c["metadata"]["name"] == "standard")
    assert (
        standard["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    )
    assert standard["allowVolumeExpansion"] is True
    apply(sb, namespace, claim("data"), sleeper("user", "data"))
    wait_until(lambda: phase(sb, namespace, "pvc", "data") == "Bound", message="claim bound")
    pvc = get(sb, namespace, "pvc", "data")
    assert pvc is not None
    assert pvc["spec"]["storageClassName"] == "standard"
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    pv = json.loads(sb.kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)
    assert pv["status"]["phase"] == "Bound"
    assert pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    row = sb.kubectl("get", "pv", pv["metadata"]["name"], "--no-headers").stdout.split()
    assert row[1:7] == ["1Gi", "RWO", "Delete", "Bound", f"{namespace}/data", "standard"]
    assert "standard (default)" in sb.kubectl("get", "storageclass").stdout
    wait_until(lambda: phase(sb, namespace, "pod", "user") == "Running", message="pod running")
    # In use: deleting the claim only marks it; it goes when the Pod does.
    sb.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=false")
    terminating = get(sb, namespace, "pvc", "data")
    assert terminating is not None and terminating["metadata"].get("deletionTimestamp")
    assert phase(sb, namespace, "pvc", "data") == "Bound"
    sb.kubectl("delete", "pod", "user", "-n", namespace, "--wait=false")
    wait_until(lambda: get(sb, namespace, "pvc", "data") is None, message="claim removed")
    wait_until(
        lambda: sb.kubectl("get", "pv", pv["metadata"]["name"], check=False).returncode == 1,
        message="volume reclaimed",
    )


def test_expansion_where_the_class_allows_it(kube_sandbox: Sandbox, namespace: str) -> None:
    sb = kube_sandbox
    sb.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": f"fixed-{namespace}"}, "provisioner": "kubesandbox.dev/hostpath",
    }))  # fmt: skip
    apply(sb, namespace, claim("grow"), claim("fixed", storageClassName=f"fixed-{namespace}"))
    for name in ("grow", "fixed"):
        wait_until(lambda n=name: phase(sb, namespace, "pvc", n) == "Bound", message="bound")
    bigger = json.dumps({"spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    sb.kubectl("patch", "pvc", "grow", "-n", namespace, "-p", bigger)
    wait_until(
        lambda: (get(sb, namespace, "pvc", "grow") or {})["status"]["capacity"]["storage"] == "2Gi",
        message="capacity grown",
    )
    smaller = json.dumps({"spec": {"resources": {"requests": {"storage": "1Gi"}}}})
    shrink = sb.kubectl("patch", "pvc", "grow", "-n", namespace, "-p", smaller, check=False)
    assert (
        "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"
        in (shrink.stderr)
    )
    refused = sb.kubectl("patch", "pvc", "fixed", "-n", namespace, "-p", bigger, check=False)
    assert (
        'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be '
        "resized and the storageclass that provisions the pvc must support resize"
    ) in refused.stderr
    sb.kubectl("delete", "storageclass", f"fixed-{namespace}")


def test_read_write_once_pod_admits_one_pod_at_a_time(
    kube_sandbox: Sandbox, namespace: str
) -> None:
    sb = kube_sandbox
    apply(sb, namespace, claim("solo", modes=("ReadWriteOncePod",)), sleeper("first", "solo"))
    wait_until(lambda: phase(sb, namespace, "pod", "first") == "Running", message="first runs")
    apply(sb, namespace, sleeper("second", "solo"))

    def refused() -> dict | None:
        pod = get(sb, namespace, "pod", "second") or {}
        conds = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
        return conds.get("PodScheduled")

    scheduled = wait_until(refused, message="second refused by the scheduler")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert "ReadWriteOncePod access mode" in scheduled["message"]
    assert phase(sb, namespace, "pod", "second") == "Pending"
    sb.kubectl("delete", "pod", "first", "-n", namespace, "--wait=false")
    wait_until(lambda: phase(sb, namespace, "pod", "second") == "Running", message="second runs")
