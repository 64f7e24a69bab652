"""Crash safety in the manner of Sieve, behind the `crash` marker (minutes long):

    .venv/bin/python -m pytest tests/test_operator -m crash -q -s

First a clean run records, from kubesandbox's request log, every distinct kind of write
(method, resource, subresource) the operator makes while rooms are created and while
their settings are updated. Then, for each kind, the sandbox SIGKILLs the operator right
after its first such write succeeds, before the operator hears the answer
(`PUT /sandbox/v1/killpoint`), during the same action; a new operator process starts and
must converge: every room Ready at its latest generation, exactly one of each child, no
orphaned child, its finalizer on.
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gameroom_operator.closing import FINALIZER

from .harness import ROOT, Kubectl, OperatorProcess, condition, room_manifest, wait_for

pytestmark = [
    pytest.mark.crash,
    pytest.mark.integration,
    pytest.mark.kubesandbox_only,
    pytest.mark.timeout(1800),
]

AGENT = "gameroom-operator/"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
CHILDREN = {
    "deployments": 1,
    "services": 2,
    "configmaps": 1,
    "secrets": 1,
    "persistentvolumeclaims": 1,
    "networkpolicies": 1,
}
Kind = tuple[str, str, str]  # method, resource, subresource


@pytest.fixture
def crash_ns(sandbox_kubeconfig: str) -> Iterator[Kubectl]:
    admin = Kubectl(sandbox_kubeconfig, "default")
    admin.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"), check=False)
    admin.run("wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s")
    name = f"crash-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(sandbox_kubeconfig, name)
    kubectl.create_namespace(name)
    yield kubectl
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


class Operators:
    """The operator under test, restarted after each kill."""

    def __init__(self, kubectl: Kubectl, logs: Path) -> None:
        self.kubectl = kubectl
        self.logs = logs
        self.runs = 0
        self.current: OperatorProcess | None = None

    def start(self) -> OperatorProcess:
        self.runs += 1
        self.current = OperatorProcess(
            str(self.kubectl.kubeconfig),
            self.logs / f"operator-{self.runs}.log",
            "--namespaces",
            self.kubectl.namespace,
            "--resync-interval",
            "0",
        )
        self.current.start()
        return self.current

    @property
    def pid(self) -> int:
        assert self.current is not None and self.current.process is not None
        return self.current.process.pid

    def dead(self) -> bool:
        assert self.current is not None and self.current.process is not None
        return self.current.process.poll() is not None

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


def converged(kubectl: Kubectl, rounds: int) -> list[dict[str, Any]] | None:
    rooms = kubectl.json("gamerooms")["items"]
    for room in rooms:
        status = room.get("status") or {}
        if condition(room, "Ready").get("status") != "True":
            return None
        if status.get("observedGeneration") != room["metadata"]["generation"]:
            return None
        if room["spec"].get("game", {}).get("rounds") != rounds:
            return None
    return list(rooms) if rooms else None


def check_children(kubectl: Kubectl, rooms: list[dict[str, Any]]) -> None:
    """Exactly one of each child per room, and no child whose owner is gone."""
    uids = {room["metadata"]["uid"] for room in rooms}
    for room in rooms:
        assert FINALIZER in room["metadata"].get("finalizers", []), room["metadata"]
    for kind, count in CHILDREN.items():
        owners: collections.Counter[str] = collections.Counter()
        # Everything the operator made carries its label (the rooms' Pods and ReplicaSets
        # belong to the Deployments and are not listed here).
        for item in kubectl.json(kind, "-l", "app.kubernetes.io/managed-by=gameroom-operator")[
            "items"
        ]:
            meta = item["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("kind") == "GameRoom"]
            assert refs, f"{kind}/{meta['name']} has no GameRoom owner: an orphan"
            owners[refs[0]["uid"]] += 1
        assert set(owners) == uids, (kind, owners, uids)
        assert all(n == count for n in owners.values()), (kind, owners)


def operator_writes(sandbox: Any, since: int) -> list[Kind]:
    return [
        (r.method, r.resource, r.subresource)
        for r in sandbox.requests()[since:]
        if r.method in WRITES and AGENT in r.user_agent and 200 <= r.code < 300
    ]


def test_killed_after_each_kind_of_write_the_operator_converges(
    crash_ns: Kubectl, kube_sandbox: Any, tmp_path: Path
) -> None:
    kubectl = crash_ns
    operators = Operators(kubectl, tmp_path)
    operators.start()
    rounds = 1
    created = 0

    def create_rooms(count: int) -> None:
        nonlocal created
        for _ in range(count):
            kubectl.apply(room_manifest(f"crash-{created:02d}", game={"rounds": rounds}))
            created += 1

    def update_rooms() -> None:
        nonlocal rounds
        rounds += 1
        for room in kubectl.json("gamerooms")["items"]:
            kubectl.patch_room(room["metadata"]["name"], {"game": {"rounds": rounds}})

    try:
        # The clean run: which kinds of write does each action make?
        since = len(kube_sandbox.requests())
        create_rooms(2)
        wait_for("the first rooms Ready", lambda: converged(kubectl, rounds), 180)
        create_kinds = sorted(set(operator_writes(kube_sandbox, since)))
        since = len(kube_sandbox.requests())
        update_rooms()
        wait_for("the first update applied", lambda: converged(kubectl, rounds), 180)
        update_kinds = sorted(set(operator_writes(kube_sandbox, since)))
        assert ("POST", "deployments", "") in create_kinds, create_kinds
        assert ("PATCH", "gamerooms", "status") in update_kinds, update_kinds
        print(f"kill points: create {create_kinds}; update {update_kinds}")

        fired: list[str] = []
        for action, kinds in (("create", create_kinds), ("update", update_kinds)):
            for method, resource, subresource in kinds:
                label = f"{action}: {method} {resource}{'/' + subresource if subresource else ''}"
                kube_sandbox.set_killpoint(
                    {
                        "pid": operators.pid,
                        "method": method,
                        "resource": resource,
                        "subresource": subresource,
                        "userAgent": AGENT,
                    }
                )
                started = time.monotonic()
                if action == "create":
                    create_rooms(2)
                else:
                    update_rooms()
                wait_for(f"the operator killed after {label}", operators.dead, 120)
                assert kube_sandbox.killpoint()["fired"], label
                kube_sandbox.set_killpoint({})
                operators.start()
                rooms = wait_for(
                    f"convergence after a kill at {label}",
                    lambda: converged(kubectl, rounds),
                    180,
                )
                check_children(kubectl, rooms)
                fired.append(f"{label} ({time.monotonic() - started:.0f} s)")
        print(f"{len(fired)} kill points, each converged: {fired}; rooms: {created}")
        assert len(fired) == len(create_kinds) + len(update_kinds)
    finally:
        kube_sandbox.set_killpoint({})
        operators.stop()
