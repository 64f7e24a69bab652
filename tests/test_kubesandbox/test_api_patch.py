"""Writes: JSON merge patch, JSON patch, strategic merge patch and server-side apply."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, dynamic

from .conftest import http


def _deploy(name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "example.com/app:1",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                        },
                        {"name": "side", "image": "example.com/side:1"},
                    ]
                },
            },
        },
    }


def _patch(sandbox, path: str, body, content_type: str, query: str = ""):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http(sandbox, "PATCH", path + query, raw, headers={"Content-Type": content_type})


def test_strategic_merge_patch_merges_lists_by_key(api, kube_sandbox, namespace):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, _deploy("smp"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                            "ports": [{"containerPort": 9090, "name": "metrics"}],
                        }
                    ]
                }
            }
        }
    }
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/smp"
    code, _, raw = _patch(kube_sandbox, path, patch, "application/strategic-merge-patch+json")
    assert code == 200, raw
    containers = json.loads(raw)["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two"},
        {"name": "C", "value": "3"},
    ]
    assert [p["containerPort"] for p in containers[0]["ports"]] == [8080, 9090]
    # $patch: delete removes one list item by its key
    delete = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}
    }
    code, _, raw = _patch(kube_sandbox, path, delete, "application/strategic-merge-patch+json")
    assert [c["name"] for c in json.loads(raw)["spec"]["template"]["spec"]["containers"]] == [
        "main"
    ]


def test_json_merge_patch_replaces_lists(api, kube_sandbox, namespace):
    client.AppsV1Api(api).create_namespaced_deployment(namespace, _deploy("jmp"))
    patch = {
        "metadata": {"labels": {"x": "1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "i:1"}]}}},
    }
    code, _, raw = _patch(
        kube_sandbox,
        f"/apis/apps/v1/namespaces/{namespace}/deployments/jmp",
        patch,
        "application/merge-patch+json",
    )
    obj = json.loads(raw)
    assert code == 200 and obj["metadata"]["labels"] == {"x": "1"}
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["only"]
    # null removes a key
    code, _, raw = _patch(
        kube_sandbox,
        f"/apis/apps/v1/namespaces/{namespace}/deployments/jmp",
        {"metadata": {"labels": {"x": None}}},
        "application/merge-patch+json",
    )
    assert "x" not in (json.loads(raw)["metadata"].get("labels") or {})


def test_json_patch_operations_and_failed_test(api, kube_sandbox, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "jp"}, "data": {"a": "1", "b": "2"}}
    )
    ops = [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "remove", "path": "/data/b"},
        {"op": "copy", "from": "/data/c", "path": "/data/d"},
        {"op": "move", "from": "/data/d", "path": "/data/e"},
    ]
    path = f"/api/v1/namespaces/{namespace}/configmaps/jp"
    code, _, raw = _patch(kube_sandbox, path, ops, "application/json-patch+json")
    assert code == 200 and json.loads(raw)["data"] == {"a": "10", "c": "3", "e": "3"}
    code, _, raw = _patch(
        kube_sandbox,
        path,
        [{"op": "test", "path": "/data/a", "value": "1"}],
        "application/json-patch+json",
    )
    assert code == 422 and json.loads(raw)["kind"] == "Status"
    code, _, raw = _patch(
        kube_sandbox, path, [{"op": "remove", "path": "/data/zzz"}], "application/json-patch+json"
    )
    assert code == 422


def test_strategic_merge_patch_is_refused_for_custom_resources(
    api, kube_sandbox, test_crd, namespace
):
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "sandbox.test",
        "v1",
        namespace,
        "testrooms",
        {
            "apiVersion": "sandbox.test/v1",
            "kind": "TestRoom",
            "metadata": {"name": "r"},
            "spec": {"game": {}},
        },
    )
    code, _, raw = _patch(
        kube_sandbox,
        f"/apis/sandbox.test/v1/namespaces/{namespace}/testrooms/r",
        {"spec": {"replicas": 2}},
        "application/strategic-merge-patch+json",
    )
    assert code == 415 and json.loads(raw)["reason"] == "UnsupportedMediaType"


def test_server_side_apply_owns_fields_and_reports_conflicts(api, kube_sandbox, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps/ssa"
    first = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n  b: '2'\n"
    code, _, raw = _patch(
        kube_sandbox, path, first, "application/apply-patch+yaml", "?fieldManager=alice"
    )
    assert code == 201, raw
    obj = json.loads(raw)
    assert obj["data"] == {"a": "1", "b": "2"}
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "alice" and entry["operation"] == "Apply"
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    # another manager setting a field alice owns to another value conflicts...
    other = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: 'x'\n"
    code, _, raw = _patch(
        kube_sandbox, path, other, "application/apply-patch+yaml", "?fieldManager=bob"
    )
    status = json.loads(raw)
    assert code == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "alice" using v1: .data.a'
    )
    assert status["details"]["causes"][0]["field"] == ".data.a"
    # ...unless forced, which moves ownership
    code, _, raw = _patch(
        kube_sandbox, path, other, "application/apply-patch+yaml", "?fieldManager=bob&force=true"
    )
    obj = json.loads(raw)
    assert code == 200 and obj["data"] == {"a": "x", "b": "2"}
    owners = {e["manager"]: e["fieldsV1"] for e in obj["metadata"]["managedFields"]}
    assert owners == {"alice": {"f:data": {"f:b": {}}}, "bob": {"f:data": {"f:a": {}}}}
    # a field alice stops applying (and nobody else owns) is removed
    code, _, raw = _patch(
        kube_sandbox,
        path,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n",
        "application/apply-patch+yaml",
        "?fieldManager=alice",
    )
    assert json.loads(raw)["data"] == {"a": "x"}


def test_server_side_apply_with_the_dynamic_client(api, namespace):
    dc = dynamic.DynamicClient(api)
    deployments = dc.resources.get(api_version="apps/v1", kind="Deployment")
    body = _deploy("applied")
    body["metadata"]["namespace"] = namespace
    obj = dc.server_side_apply(deployments, body=body, field_manager="ops", namespace=namespace)
    assert obj.spec.template.spec.containers[0].name == "main"
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "Z", "value": "26"}]
    obj = dc.server_side_apply(deployments, body=body, field_manager="ops", namespace=namespace)
    env = obj.spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("Z", "26")]


def test_apply_needs_a_field_manager(kube_sandbox, namespace):
    code, _, raw = _patch(
        kube_sandbox,
        f"/api/v1/namespaces/{namespace}/configmaps/nofm",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nofm\n",
        "application/apply-patch+yaml",
    )
    assert code == 400 and "fieldManager" in json.loads(raw)["message"]


def test_unknown_fields_strict_and_warn(kube_sandbox, namespace):
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "uf"},
        "data": {"a": "1"},
        "bogus": True,
    }
    code, _, raw = http(
        kube_sandbox,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict",
        body,
    )
    assert code == 400
    assert json.loads(raw)["message"] == 'strict decoding error: unknown field "bogus"'
    code, headers, raw = http(
        kube_sandbox, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body
    )
    assert code == 201 and "bogus" not in json.loads(raw)
    assert 'unknown field \\"bogus\\"' in headers.get(
        "Warning", ""
    ) or 'unknown field "bogus"' in headers.get("Warning", "")


@pytest.mark.parametrize("dry_run", ["All"])
def test_dry_run_persists_nothing(api, namespace, dry_run):
    core = client.CoreV1Api(api)
    obj = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dry"}}, dry_run=dry_run
    )
    assert obj.metadata.name == "dry"
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("dry", namespace)
    assert err.value.status == 404
