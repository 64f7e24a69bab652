"""What the operator writes to bring a new room to Ready, read from kubesandbox's request
log: each write is API server work that a thousand rooms created at once pay a thousand
times (bench/reconcile.py), so a needless one shows here first."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from gameroom_operator.childsync import FIRST_STATUS_WAIT_SECONDS
from gameroom_operator.closing import FINALIZER as CLOSE_ROOM
from gameroom_operator.closing import creation_finalizers, finalizers_patch
from gameroom_operator.names import FINAL_BACKUP_FINALIZER

from .harness import (
    Kubectl,
    OperatorProcess,
    condition,
    new_namespace,
    room_manifest,
    run_operator,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.kubesandbox_only, pytest.mark.timeout(180)]

YEARLY = "0 0 1 1 *"
AGENTS = ("gameroom-operator/", "kopf/")


@pytest.fixture(scope="module")
def ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "writes")


@pytest.fixture(scope="module")
def operator(
    kubeconfig: str, ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig, tmp_path_factory.mktemp("operator"), ns.namespace)


def operator_writes(counter: Callable[[], list[str]], room: str) -> Counter[str]:
    """The operator's writes about `room` by method and resource ("PATCH gamerooms/status")."""
    found: Counter[str] = Counter()
    for line in counter():
        method, path, agent = line.split(" ", 2)
        if not agent.strip("()").startswith(AGENTS):
            continue
        match = re.search(r"/namespaces/[^/]+/([a-z]+)(?:/([^/]+))?(?:/([a-z]+))?$", path)
        if match is None:
            continue
        resource, name, sub = match.groups()
        if resource == "gamerooms" and name != room:
            continue
        found[f"{method} {resource}" + (f"/{sub}" if sub else "")] += 1
    return found


def test_the_finalizers_a_new_room_wants_are_one_patch() -> None:
    backed_up = {"spec": {"backup": {"enabled": True}}}  # onDelete defaults to Backup
    assert creation_finalizers(backed_up) == (FINAL_BACKUP_FINALIZER,)
    assert creation_finalizers({"spec": {"backup": {"enabled": True, "onDelete": "Skip"}}}) == ()
    assert creation_finalizers({"spec": {}}) == ()
    meta = {"finalizers": ["someone/else"], "resourceVersion": "7"}
    assert finalizers_patch(meta, add=True, also=(FINAL_BACKUP_FINALIZER,)) == {
        "metadata": {
            "finalizers": ["someone/else", CLOSE_ROOM, FINAL_BACKUP_FINALIZER],
            "resourceVersion": "7",
        }
    }
    # Already there (the backup concern added it): not twice. Released: only ours goes.
    meta["finalizers"] = [FINAL_BACKUP_FINALIZER]
    wanted = finalizers_patch(meta, add=True, also=(FINAL_BACKUP_FINALIZER,))
    assert wanted["metadata"]["finalizers"] == [FINAL_BACKUP_FINALIZER, CLOSE_ROOM]
    meta["finalizers"] = [CLOSE_ROOM, FINAL_BACKUP_FINALIZER]
    released = finalizers_patch(meta, add=False, also=(FINAL_BACKUP_FINALIZER,))
    assert released["metadata"]["finalizers"] == [FINAL_BACKUP_FINALIZER]


def test_a_room_with_a_final_backup_gets_both_finalizers_in_one_write(
    ns: Kubectl, operator: OperatorProcess, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    ns.apply(room_manifest("keeper", backup={"enabled": True, "schedule": YEARLY}))
    room = wait_ready(ns, "keeper")
    assert set(room["metadata"]["finalizers"]) >= {CLOSE_ROOM, FINAL_BACKUP_FINALIZER}
    writes = operator_writes(counter, "keeper")
    assert writes["PATCH gamerooms"] == 1, writes
    # The backup concern still owns its finalizer afterwards: backups off, it goes.
    ns.run(
        "patch", "gameroom", "keeper", "--type=merge", "-p", '{"spec":{"backup":{"enabled":false}}}'
    )

    def finalizers() -> list[str] | None:
        found = list(ns.json("gameroom", "keeper")["metadata"].get("finalizers") or [])
        return found if FINAL_BACKUP_FINALIZER not in found else None

    assert wait_for("the final-backup finalizer dropped", finalizers, 60) == [CLOSE_ROOM]


def test_a_new_room_is_ready_after_its_children_one_finalizer_patch_and_its_status(
    ns: Kubectl, operator: OperatorProcess, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    ns.apply(room_manifest("plain"))
    room = wait_ready(ns, "plain")
    assert room["metadata"]["finalizers"] == [CLOSE_ROOM]
    writes = operator_writes(counter, "plain")
    children = {
        "POST configmaps": 1,
        "POST secrets": 1,
        "POST persistentvolumeclaims": 1,
        "POST services": 2,
        "POST networkpolicies": 1,
        "POST deployments": 1,
    }
    assert {k: writes[k] for k in children} == children, writes
    assert writes["PATCH gamerooms"] == 1, writes
    assert writes["POST events"] == 1, writes  # Created
    # One status write (Ready) when the Pod was Ready within the first status's wait;
    # a slower one (a busy machine) gets Starting first, as before.
    created = datetime.fromisoformat(room["metadata"]["creationTimestamp"])
    ready = datetime.fromisoformat(condition(room, "Ready")["lastTransitionTime"])
    quick = (ready - created).total_seconds() < FIRST_STATUS_WAIT_SECONDS - 1
    wanted = (1,) if quick else (1, 2)
    assert writes["PATCH gamerooms/status"] in wanted, (writes, created, ready)
