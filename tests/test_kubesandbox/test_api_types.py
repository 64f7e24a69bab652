"""Values of the wrong type in built-in kinds fail as Go's decoding fails them (400)."""

from __future__ import annotations

import json

from kubesandbox.testing import Sandbox

LEASE = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {"name": "typed"},
    "spec": {"holderIdentity": "me", "leaseDurationSeconds": "abc"},
}


def test_wrong_types_are_refused_on_create_patch_and_apply(
    kube_sandbox: Sandbox, namespace: str
) -> None:
    created = kube_sandbox.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(LEASE), check=False
    )
    assert created.returncode == 1
    assert (
        'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string into '
        "Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32"
    ) in created.stderr
    applied = kube_sandbox.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(LEASE), check=False
    )
    assert "Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32" in applied.stderr
    good = {**LEASE, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}
    kube_sandbox.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(good))
    patched = kube_sandbox.kubectl(
        "patch", "lease", "typed", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"holderIdentity": 7}}', check=False,
    )  # fmt: skip
    assert (
        "cannot unmarshal number into Go struct field LeaseSpec.spec.holderIdentity of type string"
    ) in patched.stderr
    lease = json.loads(kube_sandbox.kubectl("get", "lease", "typed", "-n", namespace,
                                            "-o", "json").stdout)  # fmt: skip
    assert lease["spec"] == {"holderIdentity": "me", "leaseDurationSeconds": 15}
    # deep inside a Pod template, in a list: the path has no indices, as Go reports it
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "typed"},
        "spec": {
            "selector": {"matchLabels": {"app": "typed"}},
            "template": {
                "metadata": {"labels": {"app": "typed"}},
                "spec": {
                    "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": "80"}]}]
                },
            },
        },
    }
    refused = kube_sandbox.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(deployment), check=False
    )
    assert (
        "json: cannot unmarshal string into Go struct field "
        "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"
    ) in refused.stderr
