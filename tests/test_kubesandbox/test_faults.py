"""Injected API faults (apiserver/faults.py): off by default, each kind answers as a real
control plane's failure would, scoped to namespaces, marked in the request log."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubesandbox.apiserver import ApiServer
from kubesandbox.apiserver.faults import FaultPlan
from kubesandbox.config import load_faults

from .conftest import admin


class Client:
    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.headers = admin(server)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        async with self.session.request(
            method, self.server.url + path, json=body, headers=self.headers
        ) as response:
            text = await response.text()
            return response.status, response.headers, json.loads(text) if text else None

    async def faults(self, plan: dict[str, Any]) -> tuple[int, Any]:
        status, _, body = await self.call("PUT", "/sandbox/v1/faults", plan)
        return status, body

    async def make_namespace(self, name: str) -> None:
        status, _, body = await self.call(
            "POST", "/api/v1/namespaces", {"metadata": {"name": name}}
        )
        assert status == 201, body


def config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


@pytest.fixture
async def api(local_api: ApiServer) -> Any:
    async with aiohttp.ClientSession() as session:
        client = Client(local_api, session)
        await client.make_namespace("hit")
        await client.make_namespace("spared")
        yield client


async def test_no_faults_unless_asked(api: Client) -> None:
    status, body = await api.faults({})
    assert status == 200 and body["rate"] == 0
    for i in range(50):
        code, _, _ = await api.call(
            "POST", "/api/v1/namespaces/hit/configmaps", config_map(f"c{i}")
        )
        assert code == 201
    assert not [r for r in api.server.requests if r["fault"]]


async def test_errors_conflicts_and_throttling_do_nothing_and_say_why(api: Client) -> None:
    await api.faults({"rate": 1, "kinds": ["error"], "namespaces": ["hit"]})
    code, _, body = await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("a"))
    assert code == 500 and body["kind"] == "Status" and body["reason"] == "InternalError"
    # Another namespace is not touched.
    code, _, _ = await api.call("POST", "/api/v1/namespaces/spared/configmaps", config_map("a"))
    assert code == 201

    await api.faults({"rate": 1, "kinds": ["conflict"], "namespaces": ["hit"]})
    code, _, body = await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("a"))
    assert code == 409 and body["reason"] == "Conflict"
    # A conflict is a write's fault: reads are served.
    code, _, body = await api.call("GET", "/api/v1/namespaces/hit/configmaps")
    names = [item["metadata"]["name"] for item in body["items"]]
    assert code == 200 and "a" not in names  # neither refused create happened

    await api.faults({"rate": 1, "kinds": ["throttle"], "retryAfterSeconds": 3})
    code, headers, body = await api.call("GET", "/api/v1/namespaces/hit/configmaps")
    assert code == 429 and headers["Retry-After"] == "3"
    assert body["reason"] == "TooManyRequests"

    await api.faults({})
    code, _, _ = await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("a"))
    assert code == 201
    marked = [(r["method"], r["code"], r["fault"]) for r in api.server.requests if r["fault"]]
    assert marked == [
        ("POST", 500, "error"),
        ("POST", 409, "conflict"),
        ("GET", 429, "throttle"),
    ]


async def test_a_slow_answer_is_served_late(api: Client) -> None:
    await api.faults({"rate": 1, "kinds": ["slow"], "slowSeconds": 0.5})
    started = time.monotonic()
    code, _, _ = await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("s"))
    assert code == 201 and time.monotonic() - started >= 0.5
    await api.faults({})
    code, _, _ = await api.call("GET", "/api/v1/namespaces/hit/configmaps/s")
    assert code == 200


async def test_a_watch_is_expired_or_cut(api: Client) -> None:
    _, _, listed = await api.call("GET", "/api/v1/namespaces/hit/configmaps")
    rv = listed["metadata"]["resourceVersion"]
    watch = f"/api/v1/namespaces/hit/configmaps?watch=1&resourceVersion={rv}"

    await api.faults({"rate": 1, "kinds": ["gone"]})
    async with api.session.get(api.server.url + watch, headers=api.headers) as response:
        lines = (await response.read()).decode().splitlines()
    assert [json.loads(line)["object"]["code"] for line in lines] == [410]
    assert json.loads(lines[0])["type"] == "ERROR"

    await api.faults({"rate": 1, "kinds": ["reset"], "resetAfterSeconds": 0.5})
    with pytest.raises(aiohttp.ClientError):
        async with (
            asyncio.timeout(10),
            api.session.get(api.server.url + watch, headers=api.headers) as response,
        ):
            await response.read()  # the watch never ends by itself: only the cut ends it


async def test_a_seeded_rate_is_repeatable_and_near_its_value() -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(rate=0.05, seed=seed)
        return [plan.draw("PATCH", False, "ns", "ua") for _ in range(2000)]

    watches = FaultPlan(rate=0.0, watch_rate=1.0, seed=1)
    assert watches.draw("GET", True, "ns", "ua") in ("error", "throttle", "gone", "reset")
    assert watches.draw("GET", False, "ns", "ua") is None  # other requests: rate 0

    first = draws(7)
    assert first == draws(7)
    hits = [d for d in first if d]
    assert 60 <= len(hits) <= 140  # 5 % of 2,000 is 100
    assert set(hits) == {"error", "conflict", "throttle", "slow"}  # no watch-only kind


async def test_bad_plans_are_refused_with_the_field_named(api: Client, tmp_path: Path) -> None:
    for plan, field in (
        ({"rate": 2}, "rate"),
        ({"watchRate": 1.5}, "watchRate"),
        ({"kinds": ["boom"]}, "kinds"),
        ({"rate": 0.1, "typo": 1}, "typo"),
        ({"slowSeconds": "x"}, "slowSeconds"),
        ({"namespaces": "hit"}, "namespaces"),
    ):
        status, body = await api.faults(plan)
        assert status == 400 and field in body["error"], (plan, body)
    status, body = await api.faults({})
    assert body["rate"] == 0  # the refused plans changed nothing

    config = tmp_path / "sandbox.yaml"
    config.write_text("faults:\n  rate: 0.05\n  kinds: [error, gone]\n  seed: 3\n")
    plan = load_faults(config)
    assert plan.rate == 0.05 and plan.kinds == ("error", "gone") and plan.seed == 3
    config.write_text("virtualPods: true\n")
    assert not load_faults(config).enabled
    config.write_text("faults:\n  rate: -1\n")
    with pytest.raises(ValueError, match="rate"):
        load_faults(config)


async def test_a_killpoint_sigkills_the_client_right_after_its_nth_write(api: Client) -> None:
    victim = await asyncio.create_subprocess_exec("sleep", "600")
    try:
        status, _ = await api.faults({})
        code, _, point = await api.call(
            "PUT",
            "/sandbox/v1/killpoint",
            {"pid": victim.pid, "method": "POST", "resource": "configmaps", "nth": 2},
        )
        assert code == 200 and point["fired"] is False
        await api.call("GET", "/api/v1/namespaces/hit/configmaps")  # a read: not counted
        await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("k1"))
        assert victim.returncode is None
        code, _, _ = await api.call("POST", "/api/v1/namespaces/hit/configmaps", config_map("k2"))
        assert code == 201  # the write was done; its client is killed right after
        assert await asyncio.wait_for(victim.wait(), 10) == -9
        _, _, point = await api.call("GET", "/sandbox/v1/killpoint")
        assert point["fired"] is True and point["seen"] == 2
        code, _, body = await api.call("PUT", "/sandbox/v1/killpoint", {"pid": 1, "method": "GET"})
        assert code == 400 and "pid" in body["error"]
    finally:
        if victim.returncode is None:
            victim.kill()
            await victim.wait()
