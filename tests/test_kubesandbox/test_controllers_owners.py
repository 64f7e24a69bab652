"""The owner index the owning controllers share: routing of child events to their owner."""

from __future__ import annotations

from typing import Any

import pytest

from kubesandbox.controllers.owners import OwnerIndex


def obj(name: str, uid: str, owner_uid: str | None = None, ns: str = "games") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid}
    if owner_uid is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "Other", "name": "x", "uid": "not-the-controller"},
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": owner_uid,
                "controller": True,
            },
        ]
    return {"metadata": meta}


def test_child_events_route_to_the_known_owner_until_it_is_deleted() -> None:
    index = OwnerIndex()
    owner = obj("web", "d-1")
    assert index.owner_event("ADDED", owner) == ("games", "web")

    assert index.child_event("ADDED", obj("web-abc", "rs-1", owner_uid="d-1")) == "d-1"
    assert index.owner_key("d-1") == ("games", "web")

    index.owner_event("DELETED", owner)
    assert index.owner_key("d-1") is None
    # A child that no controller owns is not indexed at all.
    assert index.child_event("ADDED", obj("loose", "p-9")) is None


def test_children_are_those_still_cached_and_still_controlled() -> None:
    index = OwnerIndex()
    kept, moved, gone = (
        obj("a", "p-1", owner_uid="rs-1"),
        obj("b", "p-2", owner_uid="rs-1"),
        obj("c", "p-3", owner_uid="rs-1"),
    )
    for child in (kept, moved, gone):
        index.child_event("ADDED", child)
    cache = {
        ("games", "a"): kept,
        # "b" was adopted by another controller since; "c" left the cache.
        ("games", "b"): obj("b", "p-2", owner_uid="rs-2"),
    }
    assert index.children("rs-1", cache) == [kept]

    index.child_event("DELETED", kept)
    assert index.children("rs-1", cache) == []


def test_grandchild_events_reach_the_grand_owner_through_child_uids() -> None:
    index = OwnerIndex(track_child_uids=True)
    index.owner_event("ADDED", obj("web", "d-1"))
    index.child_event("ADDED", obj("web-abc", "rs-1", owner_uid="d-1"))

    assert index.owner_key(index.owner_of_child("rs-1")) == ("games", "web")

    index.child_event("DELETED", obj("web-abc", "rs-1", owner_uid="d-1"))
    assert index.owner_of_child("rs-1") is None


def test_child_uids_must_be_asked_for() -> None:
    with pytest.raises(RuntimeError, match="track_child_uids=True"):
        OwnerIndex().owner_of_child("rs-1")
