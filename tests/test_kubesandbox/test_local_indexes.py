"""The per-key indexes that replaced scans (the proxy's per-Service hosts entries and slice
index, the Deployment controller's pods-per-ReplicaSet index) must follow every change
(added, modified, relabelled, deleted), not just the first; the helpers that replaced
copies and re-formatting (template comparison, Pods from a template, time stamps) must
give the same answers and leave their inputs alone."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import pathlib
from typing import Any

from kubesandbox.controllers.client import (
    DEPLOYMENTS,
    ENDPOINTSLICES,
    PODS,
    REPLICASETS,
    SERVICES,
    ApiClient,
    Informer,
)
from kubesandbox.controllers.common import fmt_time
from kubesandbox.controllers.deployment import DeploymentController
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.replicaset import pod_from_template
from kubesandbox.controllers.rollout import HASH_LABEL, templates_equal
from kubesandbox.network.proxy import ServiceProxy

Obj = dict[str, Any]
NEVER = "http://127.0.0.1:9"  # never contacted: caches are filled and events fed here


def service(name: str, ip: str, ns: str = "games") -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip}}


def endpoint_slice(name: str, svc: str, *ready: str, ns: str = "games") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": svc},
        },
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ready],
    }


class Feed:
    """An informer cache plus its handlers, driven by hand like a watch would."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self.informer._store(key, obj)
        self.informer._emit("ADDED" if old is None else "MODIFIED", obj, old)

    def drop(self, obj: Obj) -> None:
        meta = obj["metadata"]
        old = self.informer._drop((meta.get("namespace", ""), meta["name"]))
        self.informer._emit("DELETED", obj, old)


async def test_hosts_entries_follow_services_and_headless_slices(tmp_path: pathlib.Path) -> None:
    client = ApiClient(NEVER)
    services, slices = Informer(client, SERVICES), Informer(client, ENDPOINTSLICES)
    svc, sl = Feed(services), Feed(slices)
    # Objects already cached before the proxy exists are part of its first file.
    svc.put(service("web", "127.2.0.5"))
    proxy = ServiceProxy(services, slices, tmp_path / "hosts")
    proxy.start()
    assert proxy.hosts_lines() == ["127.2.0.5 web.games.svc web.games.svc.cluster.local"]

    svc.put(service("db", "None"))
    sl.put(endpoint_slice("db-a", "db", "127.0.0.20"))
    assert proxy.hosts_lines() == [
        "127.0.0.20 db.games.svc db.games.svc.cluster.local",
        "127.2.0.5 web.games.svc web.games.svc.cluster.local",
    ]
    # A second slice, then a changed address, then the first slice relabelled away.
    sl.put(endpoint_slice("db-b", "db", "127.0.0.21"))
    sl.put(endpoint_slice("db-a", "db", "127.0.0.22"))
    assert proxy.hosts_lines()[:2] == [
        "127.0.0.22 db.games.svc db.games.svc.cluster.local",
        "127.0.0.21 db.games.svc db.games.svc.cluster.local",
    ]
    sl.put(endpoint_slice("db-a", "cache", "127.0.0.22"))
    assert proxy.hosts_lines()[0] == "127.0.0.21 db.games.svc db.games.svc.cluster.local"
    assert [s["metadata"]["name"] for s in proxy.service_slices("games", "cache")] == ["db-a"]
    # A new ClusterIP, a deleted Service, a deleted slice.
    svc.put(service("web", "127.2.0.9"))
    svc.drop(service("db", "None"))
    sl.drop(endpoint_slice("db-b", "db"))
    assert proxy.hosts_lines() == ["127.2.0.9 web.games.svc web.games.svc.cluster.local"]
    assert proxy.service_slices("games", "db") == []
    # Back again, between others: the order is by namespace, then name.
    svc.put(service("db", "127.2.0.7"))
    svc.put(service("api", "127.2.0.8", ns="a-first"))
    svc.put(service("zz", "127.2.0.6"))
    assert [line.split()[1] for line in proxy.hosts_lines()] == [
        "api.a-first.svc",
        "db.games.svc",
        "web.games.svc",
        "zz.games.svc",
    ]
    svc.drop(service("db", "127.2.0.7"))
    svc.drop(service("api", "127.2.0.8", ns="a-first"))
    svc.drop(service("zz", "127.2.0.6"))
    # The file written is what hosts_lines says.
    proxy._write_hosts()
    assert proxy._hosts_writing is not None
    await proxy._hosts_writing  # the file is written off the event loop
    text = (tmp_path / "hosts").read_text().splitlines()
    assert text[1:] == ["127.2.0.9 web.games.svc web.games.svc.cluster.local"]
    await asyncio.sleep(0)  # let the listener syncs the events started run
    await proxy.stop()


async def test_status_only_service_changes_leave_the_hosts_entries_alone(
    tmp_path: pathlib.Path,
) -> None:
    client = ApiClient(NEVER)
    services, slices = Informer(client, SERVICES), Informer(client, ENDPOINTSLICES)
    proxy = ServiceProxy(services, slices, tmp_path / "hosts")
    proxy.start()
    feed = Feed(services)
    feed.put(service("web", "127.2.0.5"))
    assert proxy.hosts_lines() == ["127.2.0.5 web.games.svc web.games.svc.cluster.local"]
    labelled = copy.deepcopy(service("web", "127.2.0.5"))
    labelled["metadata"]["labels"] = {"a": "b"}
    feed.put(labelled)
    assert proxy._stale_hosts == set()
    await asyncio.sleep(0)
    await proxy.stop()


def pod(name: str, rs_uid: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"pod-{name}",
            "ownerReferences": [{"uid": rs_uid, "controller": True, "kind": "ReplicaSet"}],
        }
    }


def test_old_pods_are_found_through_the_owner_index_until_they_are_gone() -> None:
    client = ApiClient(NEVER)
    deployments, replicasets = Informer(client, DEPLOYMENTS), Informer(client, REPLICASETS)
    pods = Informer(client, PODS)
    controller = DeploymentController(
        client, deployments, replicasets, pods, EventRecorder(client, "deployment-controller")
    )
    feed = Feed(pods)
    old_rs = {"metadata": {"name": "web-1", "namespace": "ns", "uid": "rs-1"}}
    other_rs = {"metadata": {"name": "web-2", "namespace": "ns", "uid": "rs-2"}}
    assert not controller._old_pods_exist([old_rs])
    feed.put(pod("a", "rs-1"))
    feed.put(pod("b", "rs-2"))
    assert controller._old_pods_exist([old_rs])
    assert controller._old_pods_exist([other_rs])
    feed.drop(pod("a", "rs-1"))
    assert not controller._old_pods_exist([old_rs])
    # Released by its owner (ownerReference removed): no longer one of its pods.
    orphan = pod("b", "rs-2")
    orphan["metadata"]["ownerReferences"] = []
    feed.put(orphan)
    assert not controller._old_pods_exist([other_rs])


def test_templates_equal_ignores_only_the_hash_label_and_copies_nothing() -> None:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "web:1", "ports": [{"containerPort": 80}]}]},
    }
    hashed = copy.deepcopy(template)
    hashed["metadata"]["labels"][HASH_LABEL] = "abc"
    before = copy.deepcopy(hashed)
    assert templates_equal(hashed, template) and templates_equal(template, hashed)
    assert hashed == before  # the ReplicaSet's template (a cached object) is untouched
    changed = copy.deepcopy(hashed)
    changed["spec"]["containers"][0]["ports"][0]["containerPort"] = 81
    assert not templates_equal(changed, template)
    relabelled = copy.deepcopy(hashed)
    relabelled["metadata"]["labels"]["app"] = "api"
    assert not templates_equal(relabelled, template)
    assert not templates_equal({**template, "metadata": {}}, template)


def test_fmt_time_reuses_the_last_second_but_is_right_for_any_time() -> None:
    base = dt.datetime(2026, 11, 28, 17, 0, 5, 999_000, tzinfo=dt.UTC)
    assert fmt_time(base) == "2026-11-28T17:00:05Z"
    assert fmt_time(base + dt.timedelta(milliseconds=1)) == "2026-11-28T17:00:06Z"
    assert fmt_time(base - dt.timedelta(days=400)) == "2025-10-24T17:00:05Z"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert fmt_time(dt.datetime(2026, 1, 1, 1, 30, tzinfo=plus_two)) == "2025-12-31T23:30:00Z"
    assert fmt_time(base) == "2026-11-28T17:00:05Z"


def test_pods_from_a_template_leave_the_template_alone() -> None:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "web:1"}]},
    }
    before = copy.deepcopy(template)
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": "ns", "uid": "u"},
    }
    pod = pod_from_template(owner, template, "web-1")
    assert pod["metadata"]["generateName"] == "web-1-"
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert pod["spec"] == template["spec"] and template == before
