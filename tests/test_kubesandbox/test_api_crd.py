"""CustomResourceDefinitions: served at once, schema validation with kube-apiserver's
messages, defaults, pruning, CEL rules, status and scale subresources, printer columns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, dynamic

from .conftest import http

GROUP, VERSION, PLURAL = "sandbox.test", "v1", "testrooms"


def _room(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TestRoom",
        "metadata": {"name": name},
        "spec": {"game": {}, **spec},
    }


def _create(api, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )


def _invalid(api, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(client.ApiException) as err:
        _create(api, namespace, body)
    assert err.value.status == 422
    return json.loads(err.value.body)


def test_crd_is_established_and_discoverable(api, test_crd):
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition("testrooms.sandbox.test")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.accepted_names.kind == "TestRoom"
    dyn = dynamic.DynamicClient(api)
    rooms = dyn.resources.get(api_version=f"{GROUP}/{VERSION}", kind="TestRoom")
    assert rooms.namespaced and rooms.short_names == ["tr"]
    assert "status" in rooms.subresources and "scale" in rooms.subresources


def test_defaults_are_applied_and_unknown_fields_pruned(api, test_crd, namespace):
    body = _room("d1", unknownField=1, extra={"anything": {"goes": True}})
    body["spec"]["game"] = {"maxPlayers": 8, "bogus": "x"}
    obj = _create(api, namespace, body)
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["mode"] == "casual"
    assert obj["spec"]["game"] == {"maxPlayers": 8, "language": "en"}
    assert "unknownField" not in obj["spec"]
    assert obj["spec"]["extra"] == {"anything": {"goes": True}}


def test_schema_violation_messages_read_like_kube_apiserver(api, test_crd, namespace):
    body = _room("x")
    body["spec"]["game"] = {"maxPlayers": 500}
    status = _invalid(api, namespace, body)
    assert status["message"] == (
        'TestRoom.sandbox.test "x" is invalid: spec.game.maxPlayers: Invalid value: 500: '
        "spec.game.maxPlayers in body should be less than or equal to 24"
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 500: spec.game.maxPlayers in body should be less than or "
            "equal to 24",
            "field": "spec.game.maxPlayers",
        }
    ]
    assert status["details"]["kind"] == "TestRoom" and status["details"]["group"] == GROUP


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"game": {"maxPlayers": 1}},
            "spec.game.maxPlayers",
            "Invalid value: 1: spec.game.maxPlayers in body should be greater than or equal to 2",
        ),
        (
            {"game": {"maxPlayers": "many"}},
            "spec.game.maxPlayers",
            'Invalid value: "string": spec.game.maxPlayers in body must be of type integer: '
            '"string"',
        ),
        (
            {"game": {}, "mode": "wild"},
            "spec.mode",
            'Unsupported value: "wild": supported values: "casual", "ranked"',
        ),
        (
            {"game": {}, "version": "v1"},
            "spec.version",
            "Invalid value: \"v1\": spec.version in body should match '^[0-9]+\\.[0-9]+$'",
        ),
        (
            {"game": {"language": "e"}},
            "spec.game.language",
            'Invalid value: "e": spec.game.language in body should be at least 2 chars long',
        ),
        (
            {"game": {"language": "english"}},
            "spec.game.language",
            "Too long: may not be more than 5 bytes",
        ),
        (
            {"game": {"customWords": ["a", "b", "c", "d"]}},
            "spec.game.customWords",
            "Too many: 4: must have at most 3 items",
        ),
        (
            {"game": {}, "contact": "not-an-email"},
            "spec.contact",
            'Invalid value: "not-an-email": spec.contact in body must be of type email: '
            '"not-an-email"',
        ),
        ({}, "spec.game", "Required value"),
    ],
)
def test_each_schema_keyword_is_enforced(api, test_crd, namespace, spec, field, message):
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TestRoom",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    status = _invalid(api, namespace, body)
    assert {"field": field, "message": message} in [
        {"field": c["field"], "message": c["message"]} for c in status["details"]["causes"]
    ]
    assert status["message"].startswith('TestRoom.sandbox.test "bad" is invalid: ')


def test_several_errors_are_listed_together(api, test_crd, namespace):
    body = _room("many", mode="wild")
    body["spec"]["game"] = {"maxPlayers": 99}
    status = _invalid(api, namespace, body)
    assert status["message"].startswith('TestRoom.sandbox.test "many" is invalid: [')
    assert len(status["details"]["causes"]) == 2


def test_cel_rule_failure(api, test_crd, namespace):
    status = _invalid(api, namespace, _room("cel", replicas=5))
    assert status["message"] == (
        'TestRoom.sandbox.test "cel" is invalid: spec: Invalid value: "object": '
        "replicas must be at most 3"
    )
    assert status["details"]["causes"][0]["field"] == "spec"


def test_updates_are_validated_too(api, test_crd, namespace):
    _create(api, namespace, _room("upd"))
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "upd", {"spec": {"game": {"maxPlayers": 100}}}
        )
    assert err.value.status == 422


def test_status_subresource_rules(api, test_crd, namespace):
    co = client.CustomObjectsApi(api)
    body = _room("st")
    body["status"] = {"phase": "Ignored"}
    obj = _create(api, namespace, body)
    assert "status" not in obj  # status is dropped on create
    # the main endpoint ignores status changes...
    obj = co.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "st",
        {"status": {"phase": "X"}, "metadata": {"labels": {"a": "b"}}},
    )
    assert "status" not in obj and obj["metadata"]["labels"] == {"a": "b"}
    gen = obj["metadata"]["generation"]
    # ...and /status ignores everything else
    obj = co.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "st",
        {
            "status": {"phase": "Running"},
            "spec": {"replicas": 3},
            "metadata": {"labels": {"c": "d"}},
        },
    )
    assert obj["status"] == {"phase": "Running"}
    assert obj["spec"]["replicas"] == 1 and obj["metadata"]["labels"] == {"a": "b"}
    assert obj["metadata"]["generation"] == gen  # status writes never bump generation


def test_scale_subresource(api, test_crd, namespace):
    co = client.CustomObjectsApi(api)
    _create(api, namespace, _room("sc"))
    scale = co.get_namespaced_custom_object_scale(GROUP, VERSION, namespace, PLURAL, "sc")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    co.patch_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, PLURAL, "sc", {"spec": {"replicas": 2}}
    )
    obj = co.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "sc")
    assert obj["spec"]["replicas"] == 2 and obj["metadata"]["generation"] == 2


def test_printer_columns_are_served_as_table(api, kube_sandbox, test_crd, namespace):
    co = client.CustomObjectsApi(api)
    body = _room("tbl")
    body["spec"]["game"] = {"maxPlayers": 6}
    _create(api, namespace, body)
    co.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "tbl",
        {"status": {"phase": "Lobby", "conditions": [{"type": "Ready", "status": "True"}]}},
    )
    code, _, raw = http(
        kube_sandbox,
        "GET",
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    assert code == 200
    resp = json.loads(raw)
    assert resp["kind"] == "Table"
    names = [c["name"] for c in resp["columnDefinitions"]]
    assert names == ["Name", "Players", "Phase", "Ready", "Age"]
    row = resp["rows"][0]
    assert row["cells"][:4] == ["tbl", 6, "Lobby", "True"]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_deleting_the_crd_stops_serving_and_removes_objects(api, namespace):
    ext = client.ApiextensionsV1Api(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.tmp.test"},
        "spec": {
            "group": "tmp.test",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    co = client.CustomObjectsApi(api)
    co.create_cluster_custom_object(
        "tmp.test",
        "v1",
        "gadgets",
        {"apiVersion": "tmp.test/v1", "kind": "Gadget", "metadata": {"name": "g"}, "x": 1},
    )
    assert co.get_cluster_custom_object("tmp.test", "v1", "gadgets", "g")["x"] == 1
    ext.delete_custom_resource_definition("gadgets.tmp.test")
    with pytest.raises(client.ApiException) as err:
        co.list_cluster_custom_object("tmp.test", "v1", "gadgets")
    assert err.value.status == 404


def test_invalid_crd_is_rejected(api):
    ext = client.ApiextensionsV1Api(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "wrong.tmp.test"},
        "spec": {
            "group": "tmp.test",
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    with pytest.raises(client.ApiException) as err:
        ext.create_custom_resource_definition(crd)
    assert err.value.status == 422
    assert "metadata.name" in err.value.body


def test_cel_transition_rule_sees_the_old_object(api, test_crd, namespace):
    co = client.CustomObjectsApi(api)
    _create(api, namespace, _room("trans", mode="ranked"))
    with pytest.raises(client.ApiException) as err:
        co.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "trans", {"spec": {"mode": "casual"}}
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"] == (
        'TestRoom.sandbox.test "trans" is invalid: spec: Invalid value: "object": '
        "mode cannot be changed"
    )
    co.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "trans", {"spec": {"replicas": 2}}
    )


def test_crd_with_two_versions_serves_both(api, namespace):
    ext = client.ApiextensionsV1Api(api)
    schema = {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
        }
    }
    ext.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "boxes.multi.test"},
            "spec": {
                "group": "multi.test",
                "scope": "Namespaced",
                "names": {"plural": "boxes", "singular": "box", "kind": "Box"},
                "versions": [
                    {"name": "v1beta1", "served": True, "storage": False, "schema": schema},
                    {"name": "v1", "served": True, "storage": True, "schema": schema},
                ],
            },
        }
    )
    try:
        co = client.CustomObjectsApi(api)
        co.create_namespaced_custom_object(
            "multi.test",
            "v1beta1",
            namespace,
            "boxes",
            {
                "apiVersion": "multi.test/v1beta1",
                "kind": "Box",
                "metadata": {"name": "b"},
                "spec": {"size": 3, "dropped": True},
            },
        )
        as_v1 = co.get_namespaced_custom_object("multi.test", "v1", namespace, "boxes", "b")
        as_beta = co.get_namespaced_custom_object("multi.test", "v1beta1", namespace, "boxes", "b")
        assert as_v1["apiVersion"] == "multi.test/v1" and as_v1["spec"] == {"size": 3}
        assert as_beta["apiVersion"] == "multi.test/v1beta1"
        crd = ext.read_custom_resource_definition("boxes.multi.test")
        assert crd.status.stored_versions == ["v1"]
    finally:
        ext.delete_custom_resource_definition("boxes.multi.test")


STRICT_STATUS_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "lamps.strict.test"},
    "spec": {
        "group": "strict.test",
        "scope": "Namespaced",
        "names": {"plural": "lamps", "singular": "lamp", "kind": "Lamp"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"watts": {"type": "integer", "maximum": 100}},
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(oldSelf.lit) || !oldSelf.lit || self.lit",
                                        "message": "a lit lamp stays lit",
                                    }
                                ],
                                "properties": {
                                    "phase": {"type": "string", "enum": ["Off", "On"]},
                                    "players": {"type": "integer"},
                                    "lit": {"type": "boolean"},
                                    "level": {"type": "integer", "default": 1},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def test_status_writes_are_pruned_defaulted_and_validated(api, namespace):
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(STRICT_STATUS_CRD)
    try:
        co = client.CustomObjectsApi(api)
        lamp = {"apiVersion": "strict.test/v1", "kind": "Lamp", "metadata": {"name": "l"}}
        co.create_namespaced_custom_object(
            "strict.test", "v1", namespace, "lamps", {**lamp, "spec": {"watts": 40}}
        )
        with pytest.raises(client.ApiException) as err:
            co.patch_namespaced_custom_object_status(
                "strict.test",
                "v1",
                namespace,
                "lamps",
                "l",
                {"status": {"phase": "Bogus", "players": "many", "notInSchema": 1}},
            )
        assert err.value.status == 422
        body = json.loads(err.value.body)
        assert sorted(c["field"] for c in body["details"]["causes"]) == [
            "status.phase",
            "status.players",
        ]
        assert body["message"].startswith('Lamp.strict.test "l" is invalid: [')
        assert "status" not in co.get_namespaced_custom_object(
            "strict.test", "v1", namespace, "lamps", "l"
        )
        # A valid status is stored pruned and defaulted.
        obj = co.patch_namespaced_custom_object_status(
            "strict.test",
            "v1",
            namespace,
            "lamps",
            "l",
            {"status": {"phase": "On", "lit": True, "notInSchema": 1}},
        )
        assert obj["status"] == {"phase": "On", "lit": True, "level": 1}
        # CEL transition rules see the old status.
        with pytest.raises(client.ApiException) as err:
            co.patch_namespaced_custom_object_status(
                "strict.test", "v1", namespace, "lamps", "l", {"status": {"lit": False}}
            )
        assert err.value.status == 422
        assert "a lit lamp stays lit" in json.loads(err.value.body)["message"]
        # Spec writes on the main endpoint keep working.
        obj = co.patch_namespaced_custom_object(
            "strict.test", "v1", namespace, "lamps", "l", {"spec": {"watts": 60}}
        )
        assert obj["spec"] == {"watts": 60} and obj["status"]["phase"] == "On"
    finally:
        ext.delete_custom_resource_definition("lamps.strict.test")


def test_spec_writes_are_not_refused_for_a_status_that_a_newer_schema_rejects(api, namespace):
    ext = client.ApiextensionsV1Api(api)
    crd = json.loads(json.dumps(STRICT_STATUS_CRD))
    crd["metadata"]["name"] = "bulbs.strict.test"
    crd["spec"]["names"] = {"plural": "bulbs", "singular": "bulb", "kind": "Bulb"}
    ext.create_custom_resource_definition(crd)
    try:
        co = client.CustomObjectsApi(api)
        bulb = {"apiVersion": "strict.test/v1", "kind": "Bulb", "metadata": {"name": "b"}}
        co.create_namespaced_custom_object("strict.test", "v1", namespace, "bulbs", bulb)
        co.patch_namespaced_custom_object_status(
            "strict.test", "v1", namespace, "bulbs", "b", {"status": {"phase": "On"}}
        )
        # The schema is tightened: the stored status is no longer valid...
        live = ext.read_custom_resource_definition("bulbs.strict.test")
        schema = live.spec.versions[0].schema.open_apiv3_schema
        schema.properties["status"].properties["phase"].enum = ["Off"]
        ext.replace_custom_resource_definition("bulbs.strict.test", live)
        # ...but writes that leave it alone are accepted (validation ratcheting)...
        obj = co.patch_namespaced_custom_object(
            "strict.test", "v1", namespace, "bulbs", "b", {"spec": {"watts": 5}}
        )
        assert obj["spec"] == {"watts": 5} and obj["status"]["phase"] == "On"
        # ...while new invalid values are still refused.
        with pytest.raises(client.ApiException) as err:
            co.patch_namespaced_custom_object(
                "strict.test", "v1", namespace, "bulbs", "b", {"spec": {"watts": 500}}
            )
        assert err.value.status == 422
        assert [c["field"] for c in json.loads(err.value.body)["details"]["causes"]] == [
            "spec.watts"
        ]
    finally:
        ext.delete_custom_resource_definition("bulbs.strict.test")
