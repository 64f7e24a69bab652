"""Discovery (legacy and aggregated), /version and the OpenAPI v3 documents."""

from __future__ import annotations

import json

from kubernetes import client

from .conftest import http


def test_version(api):
    info = client.VersionApi(api).get_code()
    assert info.major == "1" and info.git_version.startswith("v1.37")


def test_legacy_discovery_lists_groups_resources_and_subresources(kube_sandbox):
    code, _, raw = http(kube_sandbox, "GET", "/api")
    assert code == 200 and json.loads(raw)["versions"] == ["v1"]
    code, _, raw = http(kube_sandbox, "GET", "/apis")
    groups = {g["name"]: g for g in json.loads(raw)["groups"]}
    for name in (
        "apps",
        "batch",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "events.k8s.io",
        "discovery.k8s.io",
    ):
        assert groups[name]["preferredVersion"]["version"] == "v1"
    code, _, raw = http(kube_sandbox, "GET", "/api/v1")
    resources = {r["name"]: r for r in json.loads(raw)["resources"]}
    pods = resources["pods"]
    assert pods["namespaced"] and pods["kind"] == "Pod" and pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"] and "watch" in pods["verbs"]
    assert {"pods/status", "pods/log", "pods/eviction"} <= set(resources)
    assert resources["pods/eviction"]["kind"] == "Eviction"
    code, _, raw = http(kube_sandbox, "GET", "/apis/apps/v1")
    resources = {r["name"]: r for r in json.loads(raw)["resources"]}
    assert resources["deployments/scale"]["group"] == "autoscaling"


def test_aggregated_discovery(kube_sandbox, test_crd):
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    code, headers, raw = http(kube_sandbox, "GET", "/apis", headers={"Accept": accept})
    assert code == 200
    assert headers["Content-Type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    doc = json.loads(raw)
    assert doc["kind"] == "APIGroupDiscoveryList"
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    rooms = groups["sandbox.test"]["versions"][0]["resources"][0]
    assert rooms["resource"] == "testrooms" and rooms["scope"] == "Namespaced"
    assert {s["subresource"] for s in rooms["subresources"]} == {"status", "scale"}
    assert rooms["categories"] == ["sandboxtest"]


def test_unknown_paths_are_kubernetes_404s(kube_sandbox):
    for path in ("/apis/nope.example/v1", "/api/v1/widgets", "/apis/apps/v1/namespaces/x/pods"):
        code, _, raw = http(kube_sandbox, "GET", path)
        assert code == 404 and json.loads(raw)["kind"] == "Status", path


def test_openapi_v3_has_builtin_and_crd_schemas(kube_sandbox, test_crd):
    code, _, raw = http(kube_sandbox, "GET", "/openapi/v3")
    paths = json.loads(raw)["paths"]
    assert "api/v1" in paths and "apis/sandbox.test/v1" in paths
    code, _, raw = http(kube_sandbox, "GET", paths["apis/apps/v1"]["serverRelativeURL"])
    doc = json.loads(raw)
    deployment = doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}
    ]
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"][
        "containers"
    ]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    code, _, raw = http(kube_sandbox, "GET", paths["apis/sandbox.test/v1"]["serverRelativeURL"])
    room = json.loads(raw)["components"]["schemas"]["test.sandbox.v1.TestRoom"]
    assert (
        room["properties"]["spec"]["properties"]["game"]["properties"]["maxPlayers"]["maximum"]
        == 24
    )
