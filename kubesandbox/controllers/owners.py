"""Owner index: which controller object owns which children, fed by informer events.

Every owning controller (Deployment -> ReplicaSets, ReplicaSet -> Pods, Job -> Pods,
CronJob -> Jobs) keeps the same bookkeeping: owner uid -> owner key (to requeue the owner
when a child changes) and owner uid -> child keys (to list an owner's children without
scanning the whole cache). Optionally it also remembers child uid -> owner uid, so that a
grandchild event (a Pod of a ReplicaSet) can be routed to the grand-owner (the Deployment).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesandbox.controllers.common import Obj, controller_uid

Key = tuple[str, str]


def object_key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


class OwnerIndex:
    """Owner uid -> key and owner uid -> child keys, updated from watch events.

    With ``track_child_uids`` it also maps child uid -> owner uid (see ``owner_of_child``).
    """

    def __init__(self, track_child_uids: bool = False) -> None:
        self._owner_keys: dict[str, Key] = {}
        self._children: dict[str, set[Key]] = {}
        self._child_owner: dict[str, str] | None = {} if track_child_uids else None

    def owner_event(self, kind: str, owner: Obj) -> Key:
        """Record (or forget, on DELETED) an owner; returns its key, to be requeued."""
        key = object_key(owner)
        uid = owner["metadata"].get("uid", "")
        if kind == "DELETED":
            self._owner_keys.pop(uid, None)
        else:
            self._owner_keys[uid] = key
        return key

    def child_event(self, kind: str, child: Obj) -> str | None:
        """Record (or forget, on DELETED) a child under its controller owner.

        Returns the owner uid, or None when the child has no controller owner (not indexed).
        """
        uid = controller_uid(child)
        if uid is None:
            return None
        key = object_key(child)
        child_uid = child["metadata"].get("uid", "")
        if kind == "DELETED":
            owned = self._children.get(uid)
            if owned is not None:
                owned.discard(key)
            if self._child_owner is not None:
                self._child_owner.pop(child_uid, None)
        else:
            self._children.setdefault(uid, set()).add(key)
            if self._child_owner is not None:
                self._child_owner[child_uid] = uid
        return uid

    def owner_key(self, uid: str | None) -> Key | None:
        """The key of a known owner, or None if the owner is unknown (or deleted)."""
        return self._owner_keys.get(uid or "")

    def owner_of_child(self, child_uid: str | None) -> str | None:
        """The owner uid of a known child (only with ``track_child_uids``)."""
        if self._child_owner is None:
            raise RuntimeError("owner_of_child needs OwnerIndex(track_child_uids=True)")
        return self._child_owner.get(child_uid or "")

    def children(self, uid: str, cache: Mapping[Key, Obj]) -> list[Obj]:
        """The owner's children still in the cache and still controlled by that owner."""
        out = []
        for key in list(self._children.get(uid, ())):
            child = cache.get(key)
            if child is not None and controller_uid(child) == uid:
                out.append(child)
        return out
