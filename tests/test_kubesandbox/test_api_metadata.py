"""Object metadata is checked for every kind, built-in and custom, as kube-apiserver does:
string maps that are not strings fail decoding (400), bad labels, annotations and owner
references are 422 Invalid with causes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from .conftest import http


def _cm(metadata: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", **metadata}, **extra}


def _refused(call: Any, status: int) -> dict[str, Any]:
    with pytest.raises(client.ApiException) as err:
        call()
    assert err.value.status == status, err.value.body
    return json.loads(err.value.body)


def test_bad_label_keys_and_values_are_invalid(api, namespace):
    core = client.CoreV1Api(api)
    body = _refused(
        lambda: core.create_namespaced_config_map(
            namespace, _cm({"labels": {"bad key!": "x", "ok": "v" * 70}})
        ),
        422,
    )
    assert body["reason"] == "Invalid"
    messages = [(c["field"], c["message"]) for c in body["details"]["causes"]]
    assert messages[0][0] == "metadata.labels"
    assert messages[0][1].startswith('Invalid value: "bad key!": name part must consist of')
    assert messages[1] == (
        "metadata.labels",
        f'Invalid value: "{"v" * 70}": must be no more than 63 characters',
    )
    assert body["message"].startswith('ConfigMap "m" is invalid: [metadata.labels: ')


def test_good_metadata_is_accepted(api, namespace):
    core = client.CoreV1Api(api)
    obj = core.create_namespaced_config_map(
        namespace,
        _cm(
            {
                "labels": {"app.kubernetes.io/name": "web", "empty": "", "v": "a" * 63},
                "annotations": {"Example.com/Note": "any text: at all!"},
            }
        ),
    )
    assert obj.metadata.labels["app.kubernetes.io/name"] == "web"


def test_updates_and_patches_are_checked_too(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm({}))
    body = _refused(
        lambda: core.patch_namespaced_config_map(
            "m", namespace, {"metadata": {"annotations": {"a/b/c": "x"}}}
        ),
        422,
    )
    assert body["details"]["causes"][0]["field"] == "metadata.annotations"
    assert "labels" not in (core.read_namespaced_config_map("m", namespace).metadata.labels or {})


def test_non_string_values_fail_decoding_with_400(kube_sandbox, api, namespace):
    # The typed client refuses these itself; kubectl and raw clients send them.
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    code, _, raw = http(kube_sandbox, "POST", path, _cm({"labels": {"a": 1}}))
    assert code == 400, raw
    assert json.loads(raw)["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "number into Go struct field ObjectMeta.metadata.labels of type string"
    )
    code, _, raw = http(kube_sandbox, "POST", path, _cm({}, data={"a": 1}))
    assert code == 400, raw
    assert "Go struct field ConfigMap.data of type string" in json.loads(raw)["message"]
    code, _, _ = http(kube_sandbox, "GET", f"{path}/m")
    assert code == 404


def test_owner_references_need_every_field(api, namespace):
    core = client.CoreV1Api(api)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": ""}
    body = _refused(
        lambda: core.create_namespaced_config_map(namespace, _cm({"ownerReferences": [ref]})),
        422,
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.ownerReferences.uid",
            "message": 'Invalid value: "": uid must not be empty',
        }
    ]


def test_custom_objects_get_the_same_metadata_checks(kube_sandbox, api, test_crd, namespace):
    co = client.CustomObjectsApi(api)
    room = {
        "apiVersion": "sandbox.test/v1",
        "kind": "TestRoom",
        "metadata": {"name": "r", "labels": {"-bad": "x"}},
        "spec": {"game": {}},
    }
    body = _refused(
        lambda: co.create_namespaced_custom_object(
            "sandbox.test", "v1", namespace, "testrooms", room
        ),
        422,
    )
    assert body["message"].startswith('TestRoom.sandbox.test "r" is invalid: metadata.labels: ')
    room["metadata"]["labels"] = {"ok": True}
    code, _, raw = http(
        kube_sandbox, "POST", f"/apis/sandbox.test/v1/namespaces/{namespace}/testrooms", room
    )
    assert code == 400, raw
    assert "of type string" in json.loads(raw)["message"]
