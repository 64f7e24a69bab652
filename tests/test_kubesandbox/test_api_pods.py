"""Pod subresources served by the API server: log, binding, graceful deletion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from kubesandbox.apiserver import ApiServer

from .conftest import admin

POD = {
    "metadata": {"name": "p"},
    "spec": {
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {"name": "app", "image": "example.com/app:1"},
            {"name": "sidecar", "image": "example.com/side:1"},
        ],
    },
}


async def _setup(api: ApiServer, session: aiohttp.ClientSession) -> Path:
    r = await session.post(api.url + "/api/v1/namespaces/default/pods", json=POD)
    assert r.status == 201
    assert api.state_dir is not None
    logs = api.state_dir / "pods" / "default" / "p"
    logs.mkdir(parents=True)
    (logs / "app.log").write_text("one\ntwo\nthree\n")
    (logs / "app.previous.log").write_text("before the crash\n")
    return logs


async def test_pod_log_options(local_api: ApiServer):
    base = local_api.url + "/api/v1/namespaces/default/pods/p/log"
    async with aiohttp.ClientSession(headers=admin(local_api)) as s:
        await _setup(local_api, s)
        r = await s.get(base)
        assert r.status == 400
        assert (await r.json())["message"] == (
            "a container name must be specified for pod p, choose one of: [app sidecar]"
        )
        r = await s.get(base + "?container=app")
        assert r.status == 200 and await r.text() == "one\ntwo\nthree\n"
        assert await (await s.get(base + "?container=app&tailLines=2")).text() == "two\nthree\n"
        assert await (await s.get(base + "?container=app&limitBytes=5")).text() == "one\nt"
        assert await (await s.get(base + "?container=app&previous=true")).text() == (
            "before the crash\n"
        )
        r = await s.get(base + "?container=sidecar")
        assert r.status == 400 and "is waiting to start" in (await r.json())["message"]
        r = await s.get(base + "?container=nope")
        assert r.status == 400


async def test_pod_log_follow_streams_new_lines(local_api: ApiServer):
    async with aiohttp.ClientSession(headers=admin(local_api)) as s:
        logs = await _setup(local_api, s)
        url = local_api.url + "/api/v1/namespaces/default/pods/p/log?container=app&follow=true"
        async with s.get(url) as resp:
            first = await resp.content.readuntil(b"three\n")
            assert first == b"one\ntwo\nthree\n"
            with (logs / "app.log").open("a") as fh:
                fh.write("four\n")
            line = await asyncio.wait_for(resp.content.readline(), 10)
            assert line == b"four\n"
            # the stream ends when the container terminates
            patch = {
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "app",
                            "ready": False,
                            "restartCount": 0,
                            "image": "x",
                            "imageID": "",
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                        }
                    ],
                }
            }
            r = await s.patch(
                local_api.url + "/api/v1/namespaces/default/pods/p/status",
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert r.status == 200
            assert await asyncio.wait_for(resp.content.read(), 10) == b""


async def test_bound_pods_are_deleted_gracefully(local_api: ApiServer):
    pods = local_api.url + "/api/v1/namespaces/default/pods"
    async with aiohttp.ClientSession(headers=admin(local_api)) as s:
        await s.post(pods, json=POD)
        r = await s.post(
            pods + "/p/binding",
            json={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "p"},
                "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
            },
        )
        assert r.status == 201
        pod = await (await s.get(pods + "/p")).json()
        assert pod["spec"]["nodeName"] == "node-1"
        r = await s.delete(pods + "/p")
        pod = await r.json()
        assert r.status == 200
        assert (
            pod["metadata"]["deletionTimestamp"]
            and pod["metadata"]["deletionGracePeriodSeconds"] == 30
        )
        assert (await s.get(pods + "/p")).status == 200  # the kubelet's turn now
        r = await s.delete(pods + "/p", json={"gracePeriodSeconds": 0})
        assert r.status == 200
        assert (await s.get(pods + "/p")).status == 404
        # a Pod no kubelet has bound is deleted at once
        await s.post(pods, json=POD)
        await s.delete(pods + "/p")
        assert (await s.get(pods + "/p")).status == 404


async def test_objects_persist_across_restarts(tmp_path: Path):
    first = ApiServer(state_dir=tmp_path, persist=True, port=0)
    await first.start()
    async with aiohttp.ClientSession(headers=admin(first)) as s:
        r = await s.post(
            first.url + "/api/v1/namespaces/default/configmaps",
            json={"metadata": {"name": "kept"}, "data": {"k": "v"}},
        )
        created = await r.json()
    await first.stop()
    second = ApiServer(state_dir=tmp_path, persist=True, port=0)
    await second.start()
    try:
        async with aiohttp.ClientSession(headers=admin(second)) as s:
            got = await (
                await s.get(second.url + "/api/v1/namespaces/default/configmaps/kept")
            ).json()
            assert (
                got["data"] == {"k": "v"} and got["metadata"]["uid"] == created["metadata"]["uid"]
            )
            r = await s.post(
                second.url + "/api/v1/namespaces/default/configmaps",
                json={"metadata": {"name": "after"}},
            )
            after = await r.json()
            assert int(after["metadata"]["resourceVersion"]) > int(
                created["metadata"]["resourceVersion"]
            )
    finally:
        await second.stop()
