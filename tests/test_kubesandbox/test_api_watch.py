"""Watches: from a resourceVersion, selectors, bookmarks, timeouts, 410 Gone."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import aiohttp
from kubernetes import client, watch

from kubesandbox.apiserver import ApiServer

from .conftest import admin


def _cm(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": {"v": "1"}}


def test_watch_from_resource_version_sees_every_change_in_order(api, namespace):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("w1"))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("w1", namespace)
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=1
        )
    ]
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_without_resource_version_starts_with_current_objects(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm("existing"))
    events = list(
        watch.Watch().stream(core.list_namespaced_config_map, namespace, timeout_seconds=1)
    )
    assert [
        (e["type"], e["object"].metadata.name)
        for e in events
        if e["object"].metadata.name != "kube-root-ca.crt"
    ] == [("ADDED", "existing")]


def test_live_events_arrive_while_watching(api, namespace):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    got: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for e in w.stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=10
        ):
            got.append((e["type"], e["object"].metadata.name))
            if len(got) == 2:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    core.create_namespaced_config_map(namespace, _cm("live"))
    core.patch_namespaced_config_map("live", namespace, {"data": {"v": "9"}})
    t.join(15)
    assert got == [("ADDED", "live"), ("MODIFIED", "live")]


def test_label_selector_watch_turns_transitions_into_added_and_deleted(api, namespace):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("sel", {"team": "red"}))
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"team": "blue"}}})
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"team": "red"}}})
    core.create_namespaced_config_map(namespace, _cm("other", {"team": "blue"}))
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=rv,
            label_selector="team=red",
            timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "sel"), ("DELETED", "sel"), ("ADDED", "sel")]


def test_field_selector_watch_on_name(api, namespace):
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("one"))
    core.create_namespaced_config_map(namespace, _cm("two"))
    events = [
        e["object"].metadata.name
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=rv,
            field_selector="metadata.name=two",
            timeout_seconds=1,
        )
    ]
    assert events == ["two"]


async def _watch_lines(server: ApiServer, url: str, seconds: float = 10) -> list[dict]:
    lines: list[dict] = []
    async with (
        aiohttp.ClientSession(headers=admin(server)) as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=seconds)) as resp,
    ):
        assert resp.status == 200
        async for raw in resp.content:
            if raw.strip():
                lines.append(json.loads(raw))
    return lines


async def test_too_old_resource_version_gets_410_error_event(local_api: ApiServer):
    async with aiohttp.ClientSession(headers=admin(local_api)) as session:
        for i in range(80):  # the local server keeps only 50 events
            r = await session.post(
                local_api.url + "/api/v1/namespaces/default/configmaps", json=_cm(f"c{i}")
            )
            assert r.status == 201
    events = await _watch_lines(
        local_api,
        local_api.url + "/api/v1/configmaps?watch=true&resourceVersion=2&timeoutSeconds=5",
    )
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version: 2 (")


async def test_timeout_seconds_ends_the_stream(local_api: ApiServer):
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = await _watch_lines(
        local_api,
        local_api.url
        + f"/api/v1/configmaps?watch=true&resourceVersion={local_api.store.rv}&timeoutSeconds=1",
    )
    assert events == []
    assert 0.9 <= loop.time() - start < 5


async def test_bookmarks_and_initial_events_end(local_api: ApiServer, monkeypatch):
    import kubesandbox.apiserver.server as server_module

    monkeypatch.setattr(server_module, "BOOKMARK_INTERVAL", 0.2)
    async with aiohttp.ClientSession(headers=admin(local_api)) as session:
        await session.post(local_api.url + "/api/v1/namespaces/default/configmaps", json=_cm("b1"))
    events = await _watch_lines(
        local_api,
        local_api.url + "/api/v1/namespaces/default/configmaps?watch=true&"
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&"
        "timeoutSeconds=1",
    )
    # (every namespace also has kube-root-ca.crt, as on a cluster)
    events = [e for e in events if e["object"]["metadata"].get("name") != "kube-root-ca.crt"]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ADDED" and kinds[1] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert kinds.count("BOOKMARK") >= 3  # periodic bookmarks follow while idle
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > 0 for e in events)


async def test_one_event_reaches_many_watchers(local_api: ApiServer):
    url = (
        local_api.url + "/api/v1/namespaces/default/configmaps?watch=true&"
        f"resourceVersion={local_api.store.rv}&timeoutSeconds=2"
    )

    def watching() -> int:
        return sum(len(w) for w in local_api.store.watchers.values())

    before = watching()
    tasks = [asyncio.create_task(_watch_lines(local_api, url)) for _ in range(20)]
    # All twenty are live watchers before the event (else some would only replay it from
    # the history): wait for them, not for a while.
    deadline = time.monotonic() + 30
    while watching() < before + 20:
        assert time.monotonic() < deadline, f"{watching() - before} of 20 watchers"
        await asyncio.sleep(0.01)
    async with aiohttp.ClientSession(headers=admin(local_api)) as session:
        await session.post(local_api.url + "/api/v1/namespaces/default/configmaps", json=_cm("fan"))
    results = await asyncio.gather(*tasks)
    assert all([e["object"]["metadata"]["name"] for e in r] == ["fan"] for r in results)
