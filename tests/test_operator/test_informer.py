"""The operator's own list-then-watch of the rooms' children, against a real API server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gameroom_operator.informer import ChildWatch, Kind, watches_for
from gameroom_operator.kube import Credentials, Kube, load_credentials

from .harness import Kubectl

SELECTOR = "app.kubernetes.io/managed-by=gameroom-operator"


def config_map(name: str, managed: bool) -> str:
    labels = {"app.kubernetes.io/managed-by": "gameroom-operator"} if managed else {}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels},
            "data": {"k": "v"},
        }
    )


@pytest.fixture
def namespace(sandbox_kubeconfig: str) -> Any:
    name = f"inf-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(sandbox_kubeconfig, name)
    kubectl.create_namespace(name)
    yield kubectl
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def kube(sandbox_kubeconfig: str) -> AsyncIterator[Kube]:
    client = Kube(load_credentials(sandbox_kubeconfig))
    yield client
    await client.close()


async def until(what: str, check: Any, limit: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_lists_then_watches_only_labelled_children(kube: Kube, namespace: Kubectl) -> None:
    kubectl = namespace
    kubectl.run("apply", "-f", "-", stdin=config_map("before", managed=True))
    kubectl.run("apply", "-f", "-", stdin=config_map("not-ours", managed=False))
    seen: list[tuple[str | None, str]] = []

    async def handler(event_type: str | None, obj: dict[str, Any]) -> None:
        seen.append((event_type, obj["metadata"]["name"]))

    watch = ChildWatch(kube, Kind("v1", "configmaps"), SELECTOR, handler, kubectl.namespace)
    task = asyncio.get_running_loop().create_task(watch.run())
    try:
        await until("the initial listing", lambda: (None, "before") in seen)
        kubectl.run("apply", "-f", "-", stdin=config_map("after", managed=True))
        await until("the ADDED event", lambda: ("ADDED", "after") in seen)
        kubectl.run("delete", "configmap", "before")
        await until("the DELETED event", lambda: ("DELETED", "before") in seen)
        kubectl.run("apply", "-f", "-", stdin=config_map("not-ours-2", managed=False))
        kubectl.run("apply", "-f", "-", stdin=config_map("last", managed=True))
        await until("the last ADDED event", lambda: ("ADDED", "last") in seen)
        await watch.drain()
        assert not any(name.startswith("not-ours") for _, name in seen)
        # Each object's events arrive in the order they happened.
        assert seen.index((None, "before")) < seen.index(("DELETED", "before"))
    finally:
        task.cancel()


async def test_a_failing_handler_does_not_stop_the_watch(kube: Kube, namespace: Kubectl) -> None:
    kubectl = namespace
    seen: list[str] = []

    async def handler(event_type: str | None, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if name == "poison":
            raise RuntimeError("a bug in a handler")
        seen.append(name)

    kubectl.run("apply", "-f", "-", stdin=config_map("listed", managed=True))
    watch = ChildWatch(kube, Kind("v1", "configmaps"), SELECTOR, handler, kubectl.namespace)
    task = asyncio.get_running_loop().create_task(watch.run())
    try:
        # Listed: what is created from now on comes through the watch (it starts from the
        # listing's resourceVersion), not through the listing.
        await until("the initial listing", lambda: "listed" in seen)
        kubectl.run("apply", "-f", "-", stdin=config_map("poison", managed=True))
        kubectl.run("apply", "-f", "-", stdin=config_map("healthy", managed=True))
        await until("the event after the failing one", lambda: "healthy" in seen)
    finally:
        task.cancel()


def test_namespaces_become_one_watch_each_or_one_filtered_watch_for_globs() -> None:
    async def handler(event_type: str | None, obj: dict[str, Any]) -> None:
        return None

    kube = Kube(Credentials("http://127.0.0.1:1"))
    kinds = [
        (Kind("v1", "pods"), handler, SELECTOR),
        (Kind("apps/v1", "deployments"), handler, ""),
    ]
    exact = watches_for(kube, kinds, ("games", "lobby"))
    assert sorted(w.path for w in exact) == [
        "/api/v1/namespaces/games/pods",
        "/api/v1/namespaces/lobby/pods",
        "/apis/apps/v1/namespaces/games/deployments",
        "/apis/apps/v1/namespaces/lobby/deployments",
    ]
    globbed = watches_for(kube, kinds, ("team-*",))
    assert sorted(w.path for w in globbed) == ["/api/v1/pods", "/apis/apps/v1/deployments"]
    assert globbed[0]._wanted({"metadata": {"namespace": "team-red"}})
    assert not globbed[0]._wanted({"metadata": {"namespace": "other"}})
    deployments = next(w for w in globbed if w.kind.plural == "deployments")
    assert deployments._selector() == {}  # matched to rooms by owner reference
    assert next(w for w in globbed if w.kind.plural == "pods")._selector() == {
        "labelSelector": SELECTOR
    }
    everywhere = watches_for(kube, kinds, ())
    assert sorted(w.path for w in everywhere) == ["/api/v1/pods", "/apis/apps/v1/deployments"]
