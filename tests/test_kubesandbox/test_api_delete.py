"""Deletion: finalizers, propagation policies, garbage collection, namespaces, eviction."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from .conftest import wait_until


def _owner_ref(obj) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "blockOwnerDeletion": True,
    }


def _tree(core: client.CoreV1Api, ns: str, prefix: str):
    """owner -> child -> grandchild, all ConfigMaps linked by ownerReferences."""
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": f"{prefix}-owner"}})
    child = core.create_namespaced_config_map(
        ns, {"metadata": {"name": f"{prefix}-child", "ownerReferences": [_owner_ref(owner)]}}
    )
    grandchild = core.create_namespaced_config_map(
        ns, {"metadata": {"name": f"{prefix}-grandchild", "ownerReferences": [_owner_ref(child)]}}
    )
    return owner, child, grandchild


def _exists(core: client.CoreV1Api, ns: str, name: str) -> bool:
    try:
        core.read_namespaced_config_map(name, ns)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_finalizers_hold_deletion_until_removed(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "fin", "finalizers": ["example.com/cleanup"]}}
    )
    core.delete_namespaced_config_map("fin", namespace)
    obj = core.read_namespaced_config_map("fin", namespace)
    assert obj.metadata.deletion_timestamp is not None
    with pytest.raises(client.ApiException) as err:  # no new finalizers while deleting
        core.patch_namespaced_config_map(
            "fin",
            namespace,
            {"metadata": {"finalizers": ["example.com/cleanup", "example.com/more"]}},
        )
    assert err.value.status == 422
    core.patch_namespaced_config_map("fin", namespace, {"metadata": {"finalizers": None}})
    assert not _exists(core, namespace, "fin")


def test_background_propagation_collects_the_whole_tree(api, namespace):
    core = client.CoreV1Api(api)
    owner, _, _ = _tree(core, namespace, "bg")
    core.delete_namespaced_config_map("bg-owner", namespace, propagation_policy="Background")
    wait_until(lambda: not _exists(core, namespace, "bg-grandchild"), message="GC")
    assert not _exists(core, namespace, "bg-child")


def test_foreground_propagation_deletes_dependents_first(api, namespace):
    core = client.CoreV1Api(api)
    _tree(core, namespace, "fg")
    # a finalizer on the grandchild keeps the foreground deletion visible
    core.patch_namespaced_config_map(
        "fg-grandchild", namespace, {"metadata": {"finalizers": ["example.com/hold"]}}
    )
    core.delete_namespaced_config_map("fg-owner", namespace, propagation_policy="Foreground")
    owner = core.read_namespaced_config_map("fg-owner", namespace)
    assert owner.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in owner.metadata.finalizers
    child = core.read_namespaced_config_map("fg-child", namespace)
    assert child.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("fg-grandchild", namespace, {"metadata": {"finalizers": None}})
    wait_until(lambda: not _exists(core, namespace, "fg-owner"), message="owner deletion")
    assert not _exists(core, namespace, "fg-child")


def test_orphan_propagation_keeps_dependents_without_owner_reference(api, namespace):
    core = client.CoreV1Api(api)
    _tree(core, namespace, "or")
    core.delete_namespaced_config_map("or-owner", namespace, propagation_policy="Orphan")
    wait_until(lambda: not _exists(core, namespace, "or-owner"), message="owner deletion")
    child = core.read_namespaced_config_map("or-child", namespace)
    assert child.metadata.owner_references is None
    assert _exists(core, namespace, "or-grandchild")


def test_dependent_with_a_living_second_owner_survives(api, namespace):
    core = client.CoreV1Api(api)
    a = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner-a"}})
    b = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner-b"}})
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "shared", "ownerReferences": [_owner_ref(a), _owner_ref(b)]}},
    )
    core.delete_namespaced_config_map("owner-a", namespace)
    shared = wait_until(
        lambda: (lambda o: o if len(o.metadata.owner_references) == 1 else None)(
            core.read_namespaced_config_map("shared", namespace)
        ),
        message="owner ref removal",
    )
    assert shared.metadata.owner_references[0].name == "owner-b"


def test_delete_collection_with_label_selector(api, namespace):
    core = client.CoreV1Api(api)
    for i, team in enumerate(["red", "red", "blue"]):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"dc{i}", "labels": {"team": team}}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="team=red")
    left = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert left == ["dc2", "kube-root-ca.crt"]  # every namespace has the root CA


def test_preconditions_guard_deletion(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "pre"}})
    with pytest.raises(client.ApiException) as err:
        core.delete_namespaced_config_map(
            "pre",
            namespace,
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
        )
    assert err.value.status == 409 and "Precondition failed" in err.value.body


def test_namespace_deletion_deletes_its_contents(api):
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(
        "doomed", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    core.delete_namespace("doomed")
    ns = core.read_namespace("doomed")
    assert ns.status.phase == "Terminating"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert err.value.status == 403 and "being terminated" in err.value.body
    assert not _exists(core, "doomed", "a")
    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, message="namespace removal")


def test_eviction_honours_pod_disruption_budgets(api, namespace):
    core = client.CoreV1Api(api)
    for i in range(2):
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": f"ev{i}", "labels": {"app": "ev"}},
                "spec": {"containers": [{"name": "c", "image": "example.com/x:1"}]},
            },
        )
        core.patch_namespaced_pod_status(
            f"ev{i}",
            namespace,
            {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        )
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        namespace,
        {
            "metadata": {"name": "pdb"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "ev"}}},
        },
    )
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "ev0", "namespace": namespace},
    }
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod_eviction("ev0", namespace, eviction)
    assert err.value.status == 429
    assert json.loads(err.value.body)["message"] == (
        "Cannot evict pod as it would violate the pod's disruption budget."
    )
    client.PolicyV1Api(api).patch_namespaced_pod_disruption_budget(
        "pdb", namespace, {"spec": {"minAvailable": 1}}
    )
    core.create_namespaced_pod_eviction("ev0", namespace, eviction)
    wait_until(
        lambda: all(
            p.metadata.name != "ev0" or p.metadata.deletion_timestamp
            for p in core.list_namespaced_pod(namespace).items
        ),
        message="the evicted pod to be deleted",
    )


def test_job_deletion_defaults_to_orphan_like_kube_apiserver(api, namespace):
    batch = client.BatchV1Api(api)
    job = batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "j"},
            "spec": {
                "suspend": True,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "example.com/x:1"}],
                    }
                },
            },
        },
    )
    assert job.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": job.metadata.uid
    }
    assert job.spec.template.metadata.labels["job-name"] == "j"
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "job-child",
                "ownerReferences": [
                    {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job.metadata.uid}
                ],
            }
        },
    )
    batch.delete_namespaced_job("j", namespace)
    wait_until(lambda: not batch.list_namespaced_job(namespace).items, message="job deletion")
    assert core.read_namespaced_config_map("job-child", namespace).metadata.owner_references is None
