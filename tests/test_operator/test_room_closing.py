"""Deleting a room closes it for its players first (closing.py): they get `room_closed`
and close code 4010 from the real game server, not "restarting", and the deletion then
finishes; an orphaning delete keeps the players; the finalizer decisions are pure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from gameroom_operator.closing import (
    FAREWELL,
    FINALIZER,
    Step,
    decide,
    finalizers_patch,
    owned_by,
)

from .harness import (
    Kubectl,
    OperatorProcess,
    condition,
    new_namespace,
    room_manifest,
    run_operator,
    wait_for,
)

READY_TIMEOUT = 90.0


# ---- the decisions --------------------------------------------------------------------------


def test_a_live_room_gets_the_finalizer_once() -> None:
    assert decide({"finalizers": []}) is Step.ADD
    assert decide({"finalizers": ["someone/else"]}) is Step.ADD
    assert decide({"finalizers": [FINALIZER]}) is Step.NOTHING


def test_a_deleted_room_is_closed_unless_its_children_are_orphaned() -> None:
    gone = "2026-01-01T00:00:00Z"
    assert decide({"deletionTimestamp": gone, "finalizers": [FINALIZER]}) is Step.CLOSE
    assert decide({"deletionTimestamp": gone, "finalizers": ["orphan", FINALIZER]}) is (
        Step.RELEASE
    )
    # Released already (or never ours): nothing, and never added to a room being deleted.
    assert decide({"deletionTimestamp": gone, "finalizers": ["other"]}) is Step.NOTHING


def test_the_patch_keeps_other_finalizers_and_guards_with_the_resource_version() -> None:
    meta = {"finalizers": ["a/b", FINALIZER], "resourceVersion": "42"}
    assert finalizers_patch(meta, add=False) == {
        "metadata": {"finalizers": ["a/b"], "resourceVersion": "42"}
    }
    assert finalizers_patch({"resourceVersion": "7"}, add=True) == {
        "metadata": {"finalizers": [FINALIZER], "resourceVersion": "7"}
    }


# ---- against the sandbox, with real game servers --------------------------------------------


@pytest.fixture(scope="module")
def closing_ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "closing")


@pytest.fixture(scope="module")
def closing_operator(
    kubeconfig: str, closing_ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig, tmp_path_factory.mktemp("closing"), closing_ns.namespace)


def ready_room(kubectl: Kubectl, name: str) -> tuple[dict[str, Any], str]:
    """The Ready room (with the finalizer on it) and its Pod's IP."""
    kubectl.apply(room_manifest(name))

    def ready() -> dict[str, Any] | None:
        room = kubectl.json("gameroom", name)
        ok = condition(room, "Ready").get("status") == "True"
        return room if ok and FINALIZER in room["metadata"].get("finalizers", []) else None

    room = wait_for(f"gameroom {name} Ready with its finalizer", ready, READY_TIMEOUT)
    pods = kubectl.json("pods", "-l", f"app.kubernetes.io/instance={name}")["items"]
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    assert len(running) == 1
    return room, str(running[0]["status"]["podIP"])


class Seat:
    """A player seated in the room over a real WebSocket, recording what it is told."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def join(cls, pod_ip: str, name: str) -> Seat:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        ws = await session.ws_connect(f"ws://{pod_ip}:8080/ws")
        seat = cls(session, ws)
        await ws.send_json({"type": "join", "name": name, "protocol": 1})
        await seat.until(lambda frame: frame.get("type") == "welcome", 15)
        return seat

    async def until(self, wanted: Any, within: float) -> dict[str, Any] | None:
        """Frames up to the first `wanted` one; None when the socket closed first."""
        async with asyncio.timeout(within):
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    self.frames.append(frame)
                    if wanted(frame):
                        return dict(frame)
        return None

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


async def test_deleting_a_room_tells_its_players_it_is_gone_then_deletes_it(
    closing_ns: Kubectl, closing_operator: OperatorProcess
) -> None:
    kubectl = closing_ns
    _, pod_ip = ready_room(kubectl, "farewell")
    seats = [await Seat.join(pod_ip, name) for name in ("ada", "bob")]
    try:
        kubectl.run("delete", "gameroom", "farewell", "--wait=false")
        for seat in seats:
            said = await seat.until(lambda f: f.get("type") in ("room_closed", "reconnect"), 30)
            assert said == {"type": "room_closed", "message": FAREWELL}, seat.frames
            await seat.until(lambda f: False, 10)  # read on to the close frame
            assert seat.ws.close_code == 4010
        # Then the deletion finishes: the room and its Pod go.
        wait_for(
            "the room gone", lambda: kubectl.maybe("gameroom", "farewell") is None, READY_TIMEOUT
        )
        wait_for(
            "its Pod gone",
            lambda: not kubectl.json("pods", "-l", "app.kubernetes.io/instance=farewell")["items"],
            READY_TIMEOUT,
        )
    finally:
        for seat in seats:
            await seat.close()
    assert '"room_closed_for_players"' in closing_operator.logs()


async def test_a_foreground_delete_tells_its_players_before_their_pod_stops(
    closing_ns: Kubectl, closing_operator: OperatorProcess
) -> None:
    """`--cascade=foreground`: the garbage collector deletes the children first (the
    admin-token Secret at once), not waiting for the operator's finalizer; the room is
    closed during its Pod's preStop sleep with the token the operator already knows."""
    kubectl = closing_ns
    _, pod_ip = ready_room(kubectl, "fore")
    seats = [await Seat.join(pod_ip, name) for name in ("ada", "bob")]
    try:
        kubectl.run("delete", "gameroom", "fore", "--cascade=foreground", "--wait=false")
        for seat in seats:
            said = await seat.until(lambda f: f.get("type") in ("room_closed", "reconnect"), 30)
            assert said == {"type": "room_closed", "message": FAREWELL}, seat.frames
            await seat.until(lambda f: False, 10)
            assert seat.ws.close_code == 4010
        wait_for("the room gone", lambda: kubectl.maybe("gameroom", "fore") is None, READY_TIMEOUT)
        assert kubectl.maybe("secret", "fore-admin-token") is None
        wait_for(
            "its Pod gone",
            lambda: not kubectl.json("pods", "-l", "app.kubernetes.io/instance=fore")["items"],
            READY_TIMEOUT,
        )
    finally:
        for seat in seats:
            await seat.close()


def test_a_foreground_delete_cannot_take_the_final_backup_and_says_so(
    closing_ns: Kubectl, closing_operator: OperatorProcess
) -> None:
    """The final backup's CronJob and admin-token Secret are gone before the operator can
    start it: the room is deleted all the same, with a FinalBackupFailed Warning."""
    kubectl = closing_ns
    backup = {"enabled": True, "schedule": "0 0 1 1 *", "finalBackupTimeoutSeconds": 30}
    kubectl.apply(room_manifest("fore-bk", backup=backup))
    wait_for(
        "fore-bk Ready",
        lambda: condition(kubectl.json("gameroom", "fore-bk"), "Ready").get("status") == "True",
        READY_TIMEOUT,
    )
    kubectl.run("delete", "gameroom", "fore-bk", "--cascade=foreground", "--wait=false")
    wait_for("the room gone", lambda: kubectl.maybe("gameroom", "fore-bk") is None, 90)
    events = kubectl.json("events", "--field-selector", "involvedObject.name=fore-bk")["items"]
    reasons = {e["reason"]: e for e in events if e["involvedObject"].get("kind") == "GameRoom"}
    assert "FinalBackupSucceeded" not in reasons
    assert reasons["FinalBackupFailed"]["type"] == "Warning", reasons.keys()
    print(f"foreground delete: {reasons['FinalBackupFailed']['message']}")


async def test_an_orphaning_delete_keeps_the_players_in_their_room(
    closing_ns: Kubectl, closing_operator: OperatorProcess
) -> None:
    kubectl = closing_ns
    _, pod_ip = ready_room(kubectl, "keeper")
    seat = await Seat.join(pod_ip, "ada")
    try:
        kubectl.run("delete", "gameroom", "keeper", "--cascade=orphan", "--wait=false")
        wait_for(
            "the room gone", lambda: kubectl.maybe("gameroom", "keeper") is None, READY_TIMEOUT
        )
        # The Pod was kept on purpose, and so were its players: the room still plays.
        await seat.ws.send_json({"type": "chat", "text": "still here"})
        said = await seat.until(lambda f: f.get("type") in ("chat", "room_closed"), 15)
        assert said is not None and said["type"] == "chat", seat.frames
    finally:
        await seat.close()


def test_an_orphaned_child_is_told_apart_from_an_owned_one() -> None:
    owned = {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "GameRoom"}]}}
    assert owned_by(owned, "u1")
    assert not owned_by(owned, "u2")
    assert not owned_by({"metadata": {}}, "u1")
