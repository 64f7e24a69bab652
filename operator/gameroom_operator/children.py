"""The children concern: who owns a child, and what to write so it is as rendered.

Pure decisions over (the rendered child, the live object, the room): the controller reads
the live objects and carries out the plan. Every write path asks `plan` first, so no path
(create answered 409, a repair, a resync, a deletion) can write to another room's object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from . import GROUP
from . import names as n
from .diff import differences, for_live, merge_patch


class Owner(Enum):
    OURS = "ours"  # the room is its controller owner
    ADOPT = "adopt"  # made for this room (its labels) and owned by nobody: take it back
    FOREIGN = "foreign"  # someone else's: never touch it


@dataclass(frozen=True)
class Ownership:
    owner: Owner
    who: str = ""  # for FOREIGN: whose it is, as an admin would want it named


def ownership(live: dict[str, Any], room_name: str, room_uid: str) -> Ownership:
    """Whether the room may write `live`.

    Ours when the room is its controller. Adopted only when the object carries this room's
    labels (`drawgame.dev/room=<room>` and managed-by this operator) and no controller owns
    it: a child left behind by `kubectl delete --cascade=orphan`, or recreated by hand from
    the room's own manifest. Anything else belongs to someone else, another room included.
    """
    meta = live.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    controllers = [o for o in owners if o.get("controller")]
    if any(o.get("uid") == room_uid for o in controllers):
        return Ownership(Owner.OURS)
    if controllers:
        owner = controllers[0]
        same_name = owner.get("kind") == "GameRoom" and owner.get("name") == room_name
        who = f"{owner.get('kind')} {owner.get('name')}"
        if same_name:
            who += " (an earlier room of the same name, being deleted)"
        return Ownership(Owner.FOREIGN, who)
    labels = meta.get("labels") or {}
    if labels.get(n.ROOM_LABEL) == room_name and labels.get(_MANAGED) == n.MANAGED_BY:
        return Ownership(Owner.ADOPT)
    if labels.get(n.ROOM_LABEL):
        return Ownership(Owner.FOREIGN, f"nobody (it is labelled for room {labels[n.ROOM_LABEL]})")
    return Ownership(Owner.FOREIGN, "nobody (it was not made by this operator)")


_MANAGED = "app.kubernetes.io/managed-by"


class Action(Enum):
    CREATE = "create"
    PATCH = "patch"
    NONE = "none"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class ChildPlan:
    action: Action
    label: str  # Kind/name
    body: dict[str, Any] | None = None  # what to create, or the merge patch
    fields: tuple[str, ...] = ()  # the paths that differ (for the DriftRepaired event)
    adopted: bool = False
    owner: str = ""  # for CONFLICT


def plan(desired: dict[str, Any], live: dict[str, Any] | None, room_uid: str) -> ChildPlan:
    """What to do about one child: create it, patch what differs, leave it, or refuse."""
    meta = desired["metadata"]
    label = f"{desired['kind']}/{meta['name']}"
    if live is None:
        return ChildPlan(Action.CREATE, label, desired)
    room_name = meta["labels"][n.ROOM_LABEL]
    verdict = ownership(live, room_name, room_uid)
    if verdict.owner is Owner.FOREIGN:
        return ChildPlan(Action.CONFLICT, label, owner=verdict.who)
    wanted = for_live(desired, live)
    fields = tuple(differences(live, wanted))
    adopted = verdict.owner is Owner.ADOPT
    if not fields and not adopted:
        return ChildPlan(Action.NONE, label)
    return ChildPlan(Action.PATCH, label, merge_patch(wanted), fields, adopted)


def room_of(live: dict[str, Any]) -> tuple[str, str] | None:
    """(room name, uid) of the GameRoom that controls `live`, by owner reference: a label
    can be removed by anyone who can edit the object, its owner reference tells the truth."""
    for owner in (live.get("metadata") or {}).get("ownerReferences") or []:
        if (
            owner.get("controller")
            and owner.get("kind") == "GameRoom"
            and str(owner.get("apiVersion", "")).startswith(f"{GROUP}/")
        ):
            return str(owner.get("name", "")), str(owner.get("uid", ""))
    return None


@dataclass
class Outcome:
    """What one pass over the children did."""

    created: list[str] = field(default_factory=list)
    patched: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> fields
    deleted: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.patched) + len(self.deleted)


class NameConflict(Exception):
    """A child's name is taken by an object the room does not own."""

    def __init__(self, label: str, owner: str) -> None:
        self.label = label
        self.owner = owner
        super().__init__(
            f"{label.replace('/', ' ')} already exists and belongs to {owner}; the room "
            "will not take it over: delete or rename that object, or give the room another name"
        )
