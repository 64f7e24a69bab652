"""kubectl's typed commands send protobuf bodies; kubesandbox decodes them."""

from __future__ import annotations

import base64
import json

from kubesandbox.testing import Sandbox

from .conftest import unique, wait_until


def _get(sandbox: Sandbox, ns: str, what: str) -> dict:
    return json.loads(sandbox.kubectl("get", "-n", ns, *what.split(), "-o", "json").stdout)


def test_kubectl_create_commands(kube_sandbox: Sandbox):
    k = kube_sandbox.kubectl
    ns = unique("create")
    k("create", "namespace", ns)
    k("-n", ns, "create", "configmap", "cfg", "--from-literal=players=8")
    k("-n", ns, "create", "secret", "generic", "sec", "--from-literal=token=s3cret")
    k(
        "-n",
        ns,
        "create",
        "deployment",
        "web",
        "--image=sandbox.test/virtual:1",
        "--replicas=2",
        "--port=8080",
    )
    k("-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
    k(
        "-n",
        ns,
        "create",
        "cronjob",
        "backup",
        "--image=sandbox.test/virtual:1",
        "--schedule=*/5 * * * *",
        "--",
        "sh",
        "-c",
        "echo hi",
    )
    k("-n", ns, "create", "job", "now", "--from=cronjob/backup")
    k("-n", ns, "create", "serviceaccount", "robot")
    k("-n", ns, "create", "role", "reader", "--verb=get,list", "--resource=pods")
    k("-n", ns, "create", "rolebinding", "rb", "--role=reader", f"--serviceaccount={ns}:robot")
    k("-n", ns, "create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=1")
    k("-n", ns, "create", "ingress", "ing", "--rule=rooms.example/=web:80")

    assert _get(kube_sandbox, ns, "configmap cfg")["data"] == {"players": "8"}
    secret = _get(kube_sandbox, ns, "secret sec")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["token"]) == b"s3cret"
    deploy = _get(kube_sandbox, ns, "deployment web")
    assert deploy["spec"]["replicas"] == 2
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "sandbox.test/virtual:1"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert (
        "creationTimestamp" not in deploy["spec"]["template"]["metadata"]
        or deploy["spec"]["template"]["metadata"]["creationTimestamp"] is None
    )
    svc = _get(kube_sandbox, ns, "service web")
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["clusterIP"].startswith("127.2.")
    job = _get(kube_sandbox, ns, "job now")
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["sh", "-c", "echo hi"]
    rb = _get(kube_sandbox, ns, "rolebinding rb")
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}]
    assert _get(kube_sandbox, ns, "role reader")["rules"][0]["verbs"] == ["get", "list"]
    pdb = _get(kube_sandbox, ns, "pdb pdb")
    assert pdb["spec"]["minAvailable"] == 1
    ing = _get(kube_sandbox, ns, "ingress ing")
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"number": 80}}
    wait_until(
        lambda: (
            _get(kube_sandbox, ns, "deployment web").get("status", {}).get("readyReplicas") == 2
        ),
        timeout=30,
        message="the created deployment to become ready",
    )
    k("delete", "namespace", ns, "--wait=false")
