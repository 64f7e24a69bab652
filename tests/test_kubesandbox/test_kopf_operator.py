"""A minimal Kopf operator run against kubesandbox behaves as on a real cluster:
watches, create/update/delete handlers, a timer, status patches, finalizers, Events and
garbage collection of adopted children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from kubesandbox.testing import Sandbox

from .conftest import wait_until

OPERATOR = textwrap.dedent(
    """
    import kopf
    import kubernetes


    @kopf.on.startup()
    def configure(settings: kopf.OperatorSettings, **_):
        settings.posting.level = 0
        settings.watching.server_timeout = 10


    @kopf.on.create("sandbox.test", "v1", "testrooms")
    def created(spec, name, namespace, body, patch, **_):
        child = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": f"{name}-config"},
                 "data": {"players": str(spec["game"]["maxPlayers"])}}
        kopf.adopt(child, owner=body)
        kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, child)
        patch.status["phase"] = "Created"
        kopf.info(body, reason="Provisioned", message=f"made {name}-config")
        return {"child": f"{name}-config"}


    @kopf.on.update("sandbox.test", "v1", "testrooms", field="spec.game.maxPlayers")
    def resized(new, patch, **_):
        patch.status["players"] = new


    @kopf.timer("sandbox.test", "v1", "testrooms", interval=0.5)
    def tick(status, patch, **_):
        patch.status["ticks"] = (status.get("ticks") or 0) + 1


    @kopf.on.delete("sandbox.test", "v1", "testrooms")
    def deleted(name, namespace, **_):
        # What the API server shows while the handler runs: the object, held by the finalizer.
        live = kubernetes.client.CustomObjectsApi().get_namespaced_custom_object(
            "sandbox.test", "v1", namespace, "testrooms", name)["metadata"]
        kubernetes.client.CoreV1Api().create_namespaced_config_map(
            namespace, {"metadata": {"name": f"{name}-farewell"},
                        "data": {"deletionTimestamp": live.get("deletionTimestamp") or "",
                                 "finalizers": ",".join(live.get("finalizers") or [])}})
    """
)


@pytest.fixture
def operator(kube_sandbox: Sandbox, test_crd, namespace: str, tmp_path: Path) -> Iterator[str]:
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR)
    log = (tmp_path / "kopf.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kopf",
            "run",
            str(script),
            "--standalone",
            "--namespace",
            namespace,
            "--verbose",
        ],
        env={**os.environ, "KUBECONFIG": str(kube_sandbox.kubeconfig)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield namespace
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        if proc.returncode not in (0, -signal.SIGINT, -signal.SIGKILL):
            print((tmp_path / "kopf.log").read_text()[-5000:])


def test_kopf_operator_lifecycle(api, operator):
    ns = operator
    co = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    co.create_namespaced_custom_object(
        "sandbox.test",
        "v1",
        ns,
        "testrooms",
        {
            "apiVersion": "sandbox.test/v1",
            "kind": "TestRoom",
            "metadata": {"name": "kopfed"},
            "spec": {"game": {"maxPlayers": 4}},
        },
    )

    def room() -> dict:
        return co.get_namespaced_custom_object("sandbox.test", "v1", ns, "testrooms", "kopfed")

    # create handler: status patch, handler result, finalizer, adopted child, Event
    wait_until(
        lambda: (room().get("status") or {}).get("phase") == "Created",
        timeout=30,
        message="the create handler's status patch",
    )
    obj = room()
    assert obj["status"]["created"] == {"child": "kopfed-config"}
    assert any("kopf" in f for f in obj["metadata"]["finalizers"])
    child = core.read_namespaced_config_map("kopfed-config", ns)
    assert child.data == {"players": "4"}
    assert child.metadata.owner_references[0].uid == obj["metadata"]["uid"]
    events = wait_until(
        lambda: [
            e
            for e in core.list_namespaced_event(
                ns, field_selector="involvedObject.name=kopfed"
            ).items
            if e.reason == "Provisioned"
        ],
        timeout=15,
        message="the Provisioned event",
    )
    assert events[0].message == "made kopfed-config"

    # update handler reacts to the field
    co.patch_namespaced_custom_object(
        "sandbox.test", "v1", ns, "testrooms", "kopfed", {"spec": {"game": {"maxPlayers": 10}}}
    )
    wait_until(
        lambda: (room().get("status") or {}).get("players") == 10,
        timeout=30,
        message="the update handler",
    )

    # the timer keeps ticking
    first = (room().get("status") or {}).get("ticks") or 0
    wait_until(
        lambda: ((room().get("status") or {}).get("ticks") or 0) >= first + 2,
        timeout=30,
        message="timer ticks",
    )

    # delete: the finalizer holds the object until the delete handler ran
    co.delete_namespaced_custom_object("sandbox.test", "v1", ns, "testrooms", "kopfed")

    def gone() -> bool:
        try:
            room()
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, timeout=30, message="the room to be deleted after its finalizer")
    seen = core.read_namespaced_config_map("kopfed-farewell", ns).data
    # The handler ran on the object being deleted, still held by Kopf's finalizer.
    assert seen["deletionTimestamp"], seen
    assert "kopf.zalando.org/KopfFinalizerMarker" in seen["finalizers"].split(","), seen
    wait_until(
        lambda: (
            not [
                c
                for c in core.list_namespaced_config_map(ns).items
                if c.metadata.name == "kopfed-config"
            ]
        ),
        timeout=15,
        message="garbage collection of the adopted child",
    )
