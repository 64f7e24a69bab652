"""The in-process transport (LocalClient) answers as the HTTP API does, and isolates the
objects it hands out: same results, status codes, managedFields, request log and watch
events as ApiClient over HTTP against the same real API server."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from kubesandbox.apiserver import ApiServer
from kubesandbox.config import SandboxConfig
from kubesandbox.controllers import ControllerManager
from kubesandbox.controllers.client import (
    CONFIGMAPS,
    DEPLOYMENTS,
    EVENTS,
    PODS,
    USER_AGENT,
    ApiClient,
    ApiError,
)
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.local import LocalClient, split_path

Obj = dict[str, Any]
NS = "default"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[ApiServer]:
    server = ApiServer(watch_history=200)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def http(api: ApiServer) -> AsyncIterator[ApiClient]:
    client = ApiClient(api.url, api.admin_token)
    try:
        yield client
    finally:
        await client.close()


def deployment(name: str, app: str = "web", **labels: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "example/web:1"}]},
            },
        },
    }


def stripped(obj: Obj) -> Obj:
    """An object without what differs between two creations (uid, times, rv, name)."""
    out = copy.deepcopy(obj)
    for key in ("uid", "creationTimestamp", "resourceVersion", "name"):
        out["metadata"].pop(key, None)
    for entry in out["metadata"].get("managedFields") or []:
        entry.pop("time", None)
    return out


async def next_event(events: AsyncIterator[Obj], skip_bookmarks: bool = True) -> Obj:
    while True:
        event = await asyncio.wait_for(anext(events), 5)
        if not skip_bookmarks or event["type"] != "BOOKMARK":
            return event


def test_split_path_reads_core_group_and_subresource_paths() -> None:
    assert split_path("/api/v1/namespaces/ns/pods/p/status") == (
        "",
        "v1",
        "ns",
        "pods",
        "p",
        "status",
    )
    assert split_path("/apis/apps/v1/deployments") == ("apps", "v1", "", "deployments", "", "")
    assert split_path("/api/v1/nodes/n") == ("", "v1", "", "nodes", "n", "")


async def test_writes_match_http_writes_field_for_field(api: ApiServer, http: ApiClient) -> None:
    local = LocalClient(api)
    over_http = await http.create(DEPLOYMENTS.collection(NS), deployment("web-a"))
    in_process = await local.create(DEPLOYMENTS.collection(NS), deployment("web-b"))
    # Same defaulting, same managedFields under the controller manager's name.
    assert stripped(in_process) == stripped(over_http)
    assert in_process["metadata"]["managedFields"][0]["manager"] == USER_AGENT.split("/")[0]
    patch = {"spec": {"replicas": 3}}
    p_http = await http.patch(DEPLOYMENTS.item(NS, "web-a"), patch)
    p_local = await local.patch(DEPLOYMENTS.item(NS, "web-b"), patch)
    assert stripped(p_local) == stripped(p_http)
    assert p_local["metadata"]["generation"] == 2
    status = {"status": {"observedGeneration": 2, "replicas": 0}}
    s_local = await local.patch(DEPLOYMENTS.item(NS, "web-b", "status"), status)
    assert s_local["status"]["observedGeneration"] == 2
    assert s_local["spec"]["replicas"] == 3
    # What the HTTP API shows afterwards is what the in-process write stored.
    assert await http.get(DEPLOYMENTS.item(NS, "web-b")) == s_local
    assert int(s_local["metadata"]["resourceVersion"]) == api.store.rv


async def test_errors_carry_the_http_status_codes(api: ApiServer, http: ApiClient) -> None:
    local = LocalClient(api)
    assert await local.get(CONFIGMAPS.item(NS, "missing")) is None
    assert await local.delete(CONFIGMAPS.item(NS, "missing")) is None
    await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "cm"}})
    for client in (local, http):
        with pytest.raises(ApiError) as exists:
            await client.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "cm"}})
        assert exists.value.status == 409 and exists.value.reason == "AlreadyExists"
        with pytest.raises(ApiError) as invalid:
            await client.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "Bad_Name"}})
        assert invalid.value.status == 422 and invalid.value.reason == "Invalid"
        with pytest.raises(ApiError) as stale:
            await client.replace(
                CONFIGMAPS.item(NS, "cm"), {"metadata": {"name": "cm", "resourceVersion": "1"}}
            )
        assert stale.value.status == 409 and stale.value.reason == "Conflict"
        with pytest.raises(ApiError) as no_ns:
            await client.create(CONFIGMAPS.collection("nowhere"), {"metadata": {"name": "x"}})
        assert no_ns.value.status == 404
        with pytest.raises(ApiError) as unknown:
            await client.request("GET", "/apis/example.com/v1/namespaces/default/widgets/w")
        assert unknown.value.status == 404


async def test_requests_are_in_the_request_log(api: ApiServer) -> None:
    local = LocalClient(api)
    api.requests.clear()
    await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "logged"}})
    await local.patch(CONFIGMAPS.item(NS, "logged"), {"data": {"a": "b"}})
    with pytest.raises(ApiError):
        await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "logged"}})
    logged = [(r["method"], r["verb"], r["resource"], r["name"], r["code"]) for r in api.requests]
    assert logged == [
        ("POST", "create", "configmaps", "", 201),
        ("PATCH", "patch", "configmaps", "logged", 200),
        ("POST", "create", "configmaps", "", 409),
    ]
    assert {r["userAgent"] for r in api.requests} == {USER_AGENT}
    assert api.requests[1]["contentType"] == "application/merge-patch+json"


async def test_unknown_fields_are_dropped_without_touching_the_callers_body(
    api: ApiServer,
) -> None:
    local = LocalClient(api, field_validation="Warn")
    body = {"metadata": {"name": "cm"}, "data": {"a": "b"}, "bogus": {"x": 1}}
    created = await local.create(CONFIGMAPS.collection(NS), body)
    assert "bogus" not in created and created["data"] == {"a": "b"}
    assert body["bogus"] == {"x": 1}
    strict = LocalClient(api, field_validation="Strict")
    with pytest.raises(ApiError) as rejected:
        await strict.create(CONFIGMAPS.collection(NS), {**body, "metadata": {"name": "cm2"}})
    assert rejected.value.status == 400 and 'unknown field "bogus"' in str(rejected.value)
    with pytest.raises(ValueError, match="field_validation"):
        LocalClient(api, field_validation="Loose")  # type: ignore[arg-type]


async def test_handed_out_objects_do_not_change_when_the_object_is_written_again(
    api: ApiServer, http: ApiClient
) -> None:
    local = LocalClient(api, audit=True)
    await http.create(DEPLOYMENTS.collection(NS), deployment("held"))
    held = await local.get(DEPLOYMENTS.item(NS, "held"))
    assert held is not None
    before = copy.deepcopy(held)
    # Someone else (the operator, kubectl) patches it over HTTP, twice.
    await http.patch(DEPLOYMENTS.item(NS, "held"), {"spec": {"replicas": 4}})
    await http.patch(DEPLOYMENTS.item(NS, "held", "status"), {"status": {"replicas": 1}})
    assert held == before
    # A body given to a write stays the caller's: the stored object is a copy.
    body = deployment("mine")
    created = await local.create(DEPLOYMENTS.collection(NS), body)
    body["spec"]["replicas"] = 9
    body["spec"]["template"]["metadata"]["labels"]["app"] = "changed"
    stored = await local.get(DEPLOYMENTS.item(NS, "mine"))
    assert stored is not None and stored["spec"]["replicas"] == created["spec"]["replicas"] == 1
    assert stored["spec"]["template"]["metadata"]["labels"]["app"] == "web"
    assert local.mutated() == []
    # The audit does see a change made in place.
    held["metadata"]["labels"]["app"] = "scribbled"
    assert [o["metadata"]["name"] for o in local.mutated()] == ["held"]


async def test_watch_sees_every_writer_and_follows_label_selectors(
    api: ApiServer, http: ApiClient
) -> None:
    local = LocalClient(api)
    listing = await local.list(DEPLOYMENTS.collection(), {"labelSelector": "tier=web"})
    assert listing["items"] == [] and listing["kind"] == "DeploymentList"
    events = aiter(
        local.watch(
            DEPLOYMENTS.collection(),
            listing["metadata"]["resourceVersion"],
            extra={"labelSelector": "tier=web"},
        )
    )
    await http.create(DEPLOYMENTS.collection(NS), deployment("other", tier="db"))
    await http.create(DEPLOYMENTS.collection(NS), deployment("front", tier="web"))
    added = await next_event(events)
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "front")
    assert added["object"]["apiVersion"] == "apps/v1"
    await local.patch(DEPLOYMENTS.item(NS, "front"), {"spec": {"replicas": 2}})
    modified = await next_event(events)
    assert modified["type"] == "MODIFIED" and modified["object"]["spec"]["replicas"] == 2
    # Leaving the selector is a DELETED for this watch, as kube-apiserver sends it.
    await http.patch(DEPLOYMENTS.item(NS, "front"), {"metadata": {"labels": {"tier": "cache"}}})
    left = await next_event(events)
    assert (left["type"], left["object"]["metadata"]["name"]) == ("DELETED", "front")
    await http.patch(DEPLOYMENTS.item(NS, "other"), {"metadata": {"labels": {"tier": "web"}}})
    joined = await next_event(events)
    assert (joined["type"], joined["object"]["metadata"]["name"]) == ("ADDED", "other")
    await http.delete(DEPLOYMENTS.item(NS, "other"))
    gone = await next_event(events)
    assert gone["type"] == "DELETED"
    assert int(gone["object"]["metadata"]["resourceVersion"]) == api.store.rv
    await events.aclose()  # type: ignore[attr-defined]
    assert sum(len(w) for w in api.store.watchers.values()) == 0


async def test_watch_resumes_from_a_version_and_ends_with_a_bookmark(api: ApiServer) -> None:
    local = LocalClient(api)
    first = await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "one"}})
    await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "two"}})
    since = first["metadata"]["resourceVersion"]
    seen = [
        (e["type"], e["object"]["metadata"].get("name"))
        async for e in local.watch(CONFIGMAPS.collection(), since, timeout_seconds=1)
    ]
    assert seen == [("ADDED", "two"), ("BOOKMARK", None)]
    everything = [
        e["object"]["metadata"].get("name")
        async for e in local.watch(CONFIGMAPS.collection(NS), "0", timeout_seconds=0)
        if e["type"] == "ADDED"
    ]
    assert sorted(everything) == ["kube-root-ca.crt", "one", "two"]


async def test_watch_from_a_compacted_version_is_410(api: ApiServer) -> None:
    local = LocalClient(api)
    first = await local.create(CONFIGMAPS.collection(NS), {"metadata": {"name": "old"}})
    for i in range(250):  # more than the history of 200 events kept
        await local.patch(CONFIGMAPS.item(NS, "old"), {"data": {"i": str(i)}})
    events = [
        e
        async for e in local.watch(
            CONFIGMAPS.collection(), first["metadata"]["resourceVersion"], timeout_seconds=1
        )
    ]
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


async def test_binding_schedules_a_pod_once(api: ApiServer) -> None:
    local = LocalClient(api)
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "example/web:1"}]},
    }
    await local.create(PODS.collection(NS), pod)
    binding = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}}
    answer = await local.create(PODS.item(NS, "p", "binding"), binding)
    assert answer["status"] == "Success"
    bound = await local.get(PODS.item(NS, "p"))
    assert bound is not None and bound["spec"]["nodeName"] == "node-1"
    scheduled = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True"
    with pytest.raises(ApiError) as again:
        await local.create(PODS.item(NS, "p", "binding"), binding)
    assert again.value.status == 409


async def test_requests_after_shutdown_fail_with_503(api: ApiServer) -> None:
    local = LocalClient(api)
    await api.stop()
    with pytest.raises(ApiError) as stopped:
        await local.get(CONFIGMAPS.item(NS, "x"))
    assert stopped.value.status == 503


def test_manager_picks_the_transport(tmp_path: Any) -> None:
    config = SandboxConfig(state_dir=tmp_path)
    assert ControllerManager("http://127.0.0.1:1", config).transport == "http"
    with pytest.raises(ValueError, match="needs the ApiServer"):
        ControllerManager("http://127.0.0.1:1", config, transport="local")
    with pytest.raises(ValueError, match="transport must be"):
        ControllerManager("http://127.0.0.1:1", config, transport="grpc")  # type: ignore[arg-type]


async def test_events_are_named_by_time_and_never_collide(api: ApiServer) -> None:
    local = LocalClient(api)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS}}
    first, second = EventRecorder(local, "kubelet"), EventRecorder(local, "default-scheduler")
    for i in range(20):  # two recorders, same object, as fast as they can
        await first.record(pod, "Normal", "Pulled", f"pulled {i}")
        await second.record(pod, "Normal", "Scheduled", f"scheduled {i}")
    await first.record(pod, "Normal", "Pulled", "pulled 0")  # a repeat bumps the count
    events = (await local.list(EVENTS.collection(NS)))["items"]
    assert len(events) == 40
    suffixes = [int(e["metadata"]["name"].split(".")[1], 16) for e in events]
    assert len(set(suffixes)) == 40
    assert all(abs(s - time.time_ns()) < 60 * 10**9 for s in suffixes)
    repeated = [e for e in events if e["message"] == "pulled 0"]
    assert [e["count"] for e in repeated] == [2]
