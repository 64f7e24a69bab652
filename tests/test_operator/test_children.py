"""The children concern's pure decisions: who owns a child, and what to write."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gameroom_operator.children import Action, Owner, ownership, plan, room_of
from gameroom_operator.render import Room, render_children, strip_absent

UID = "11111111-2222-3333-4444-555555555555"
ROOM = Room(name="duo", namespace="games", uid=UID, spec={})
TOKEN = "t0ken"  # noqa: S105 - a test value


def child(kind: str) -> dict[str, Any]:
    return next(c for c in render_children(ROOM, TOKEN) if c["kind"] == kind)


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server would hold after creating `desired`."""
    live = strip_absent(copy.deepcopy(desired))
    live["metadata"].update(uid="live-uid", resourceVersion="7")
    return live


def owned_by(uid: str, kind: str = "GameRoom", name: str = "duo") -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "drawgame.dev/v1alpha1",
            "kind": kind,
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize(
    ("owners", "labels", "expected"),
    [
        (owned_by(UID), {}, Owner.OURS),
        (owned_by("other-uid", name="duo-admin"), {}, Owner.FOREIGN),
        (owned_by("old-uid"), {"drawgame.dev/room": "duo"}, Owner.FOREIGN),  # being deleted
        (owned_by("rs", kind="ReplicaSet", name="x"), {}, Owner.FOREIGN),
        (
            [],
            {"drawgame.dev/room": "duo", "app.kubernetes.io/managed-by": "gameroom-operator"},
            Owner.ADOPT,
        ),
        (
            [],
            {"drawgame.dev/room": "duo-admin", "app.kubernetes.io/managed-by": "gameroom-operator"},
            Owner.FOREIGN,
        ),
        ([], {"drawgame.dev/room": "duo"}, Owner.FOREIGN),  # not made by this operator
        ([], {}, Owner.FOREIGN),  # made by hand
    ],
    ids=[
        "ours",
        "another-room",
        "earlier-room-same-name",
        "another-controller",
        "orphan-of-this-room",
        "orphan-of-another-room",
        "label-without-managed-by",
        "hand-made",
    ],
)
def test_ownership(owners: list[dict[str, Any]], labels: dict[str, str], expected: Owner) -> None:
    live = {"metadata": {"name": "duo", "ownerReferences": owners, "labels": labels}}
    assert ownership(live, "duo", UID).owner is expected


def test_a_foreign_owner_is_named() -> None:
    live = {"metadata": {"ownerReferences": owned_by("x", name="duo-admin")}}
    assert ownership(live, "duo", UID).who == "GameRoom duo-admin"
    assert "nobody" in ownership({"metadata": {}}, "duo", UID).who


def test_missing_child_is_created() -> None:
    assert plan(child("Service"), None, UID).action is Action.CREATE


def test_a_child_as_rendered_needs_no_write() -> None:
    for desired in render_children(ROOM, TOKEN):
        assert plan(desired, live_of(desired), UID).action is Action.NONE, desired["kind"]


def test_an_edited_child_is_patched_back_naming_the_fields() -> None:
    desired = child("Service")
    live = live_of(desired)
    live["spec"]["selector"] = {"app.kubernetes.io/instance": "other-room"}
    decided = plan(desired, live, UID)
    assert decided.action is Action.PATCH
    assert any(f.startswith("spec.selector") for f in decided.fields)
    assert decided.body is not None
    assert decided.body["spec"]["selector"] == desired["spec"]["selector"]


def test_another_rooms_object_is_never_written() -> None:
    desired = child("Service")
    live = live_of(desired)
    live["metadata"]["ownerReferences"] = owned_by("other", name="duo-admin")
    decided = plan(desired, live, UID)
    assert (decided.action, decided.owner) == (Action.CONFLICT, "GameRoom duo-admin")
    assert decided.body is None


def test_an_orphan_of_this_room_is_adopted_with_an_owner_reference() -> None:
    desired = child("ConfigMap")
    live = live_of(desired)
    del live["metadata"]["ownerReferences"]
    decided = plan(desired, live, UID)
    assert decided.action is Action.PATCH and decided.adopted
    assert decided.body is not None
    assert decided.body["metadata"]["ownerReferences"][0]["uid"] == UID


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("spec", "paused"), True),
        (("spec", "template", "spec", "hostNetwork"), True),
        (("spec", "template", "spec", "hostPID"), True),
        (("spec", "template", "spec", "hostIPC"), True),
        (("spec", "template", "spec", "serviceAccountName"), "admin"),
        (("spec", "template", "spec", "automountServiceAccountToken"), True),
        (("spec", "template", "spec", "containers", 0, "securityContext", "privileged"), True),
        (
            ("spec", "template", "spec", "containers", 0, "securityContext", "capabilities"),
            {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
        ),
        (
            ("spec", "template", "spec", "containers", 0, "securityContext"),
            {"allowPrivilegeEscalation": True},
        ),
        (
            ("spec", "template", "spec", "volumes"),
            [{"name": "host", "hostPath": {"path": "/"}}],
        ),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_the_security_posture_is_enforced(where: tuple[Any, ...], value: Any) -> None:
    desired = child("Deployment")
    live = live_of(desired)
    node: Any = live
    for part in where[:-1]:
        node = node[part]
    if where[-1] == "volumes":
        node[where[-1]] = [*node[where[-1]], *value]
    else:
        node[where[-1]] = value
    decided = plan(desired, live, UID)
    assert decided.action is Action.PATCH, where
    assert decided.body is not None
    # what the merge patch sends puts the rendered value back (null removes an added field)
    patched: Any = decided.body
    for part in where[:-1]:
        patched = patched[part]
    rendered: Any = desired
    for part in where[:-1]:
        rendered = rendered[part]
    assert patched[where[-1]] == rendered.get(where[-1]) if isinstance(rendered, dict) else True


def test_room_of_reads_the_controller_owner_reference() -> None:
    assert room_of({"metadata": {"ownerReferences": owned_by(UID)}}) == ("duo", UID)
    assert room_of({"metadata": {"ownerReferences": owned_by("x", kind="ReplicaSet")}}) is None
    assert room_of({"metadata": {}}) is None
