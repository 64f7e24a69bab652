"""spec.rollout.liveSettings against kubesandbox with the real game server: a change of
spec.game reaches the running room through its admin API (no new Pod, no player thrown out,
the game being played keeps its rounds, the next one uses the new ones); an image change is
still a revision, and its new Pod starts with the settings from the ConfigMap."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from .harness import (
    Kubectl,
    OperatorProcess,
    new_namespace,
    room_events,
    room_manifest,
    run_operator,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NEW_IMAGE = "ghcr.io/drawgame/gameroom:0.1.1"


@pytest.fixture(scope="module")
def live_ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "live")


@pytest.fixture(scope="module")
def live_operator(
    kubeconfig: str, live_ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig, tmp_path_factory.mktemp("live"), live_ns.namespace)


class Bot:
    """A player over a real WebSocket to the room's Pod, keeping every frame."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session, self.ws = session, ws
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.id = ""
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def join(cls, pod_ip: str, name: str) -> Bot:
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"ws://{pod_ip}:8080/ws")
        bot = cls(session, ws)
        await bot.send({"type": "join", "name": name})
        bot.id = (await bot.expect("welcome"))["you"]["id"]
        return bot

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.inbox.append(json.loads(msg.data))
                self.arrived.set()
        self.arrived.set()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(payload))

    async def expect(
        self,
        kind: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        within: float = 30.0,
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                for index, frame in enumerate(self.inbox):
                    if frame.get("type") == kind and (where is None or where(frame)):
                        del self.inbox[: index + 1]
                        return frame
                assert not self.closed, f"closed ({self.ws.close_code}) waiting for {kind}"
                self.arrived.clear()
                await self.arrived.wait()

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
        self.reader.cancel()


async def play_turn(bots: dict[str, Bot]) -> None:
    """The drawer picks the first word, the other player guesses it: the turn ends."""
    anyone = next(iter(bots.values()))
    turn = await anyone.expect("turn", lambda f: f["phase"] == "choosing")
    drawer = bots[turn["drawerId"]]
    await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 0})
    word = (await drawer.expect("turn", lambda f: f["phase"] == "drawing"))["word"]
    for bot in bots.values():
        if bot is not drawer:
            await bot.expect("turn", lambda f: f["phase"] == "drawing")
            await bot.send({"type": "chat", "text": word})
    await anyone.expect("turn_end")


def rollout(kubectl: Kubectl) -> dict[str, Any]:
    return (kubectl.json("gameroom", "live").get("status") or {}).get("rollout") or {}


def ready_pod(kubectl: Kubectl) -> dict[str, Any] | None:
    pods = kubectl.json("pods", "-l", "app.kubernetes.io/instance=live")["items"]
    live = [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p["spec"]["containers"][0]["name"] == "gameserver"  # not a smoke-test Job's
    ]
    if len(live) != 1:
        return None
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (live[0].get("status") or {}).get("conditions") or []
    )
    return live[0] if ready else None


def admin_settings(kubectl: Kubectl, pod_ip: str) -> dict[str, Any]:
    secret = kubectl.json("secret", "live-admin-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    request = urllib.request.Request(  # noqa: S310 - a loopback URL of the sandbox
        f"http://{pod_ip}:8081/admin/settings", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def revisions(kubectl: Kubectl) -> list[dict[str, Any]]:
    listed = kubectl.json("controllerrevisions", "-l", "drawgame.dev/revision-of=live")
    return sorted(listed["items"], key=lambda r: int(r["revision"]))


def applied_event(kubectl: Kubectl) -> dict[str, Any] | None:
    return next(
        (
            e
            for e in room_events(kubectl, "live")
            if e["reason"] == "SettingsApplied" and "without a restart" in e["message"]
        ),
        None,
    )


async def test_live_game_settings_keep_the_pod_and_the_players(
    live_ns: Kubectl, live_operator: OperatorProcess
) -> None:
    kubectl = live_ns
    kubectl.apply(
        room_manifest(
            "live",
            game={"rounds": 1},
            health={"periodSeconds": 5, "timeoutSeconds": 2},
            rollout={"liveSettings": True, "healthWindowSeconds": 10, "strategy": "Immediate"},
        )
    )
    await asyncio.to_thread(
        wait_for,
        "revision 1 verified",
        lambda: rollout(kubectl).get("phase") == "Succeeded" and ready_pod(kubectl),
        120,
    )
    first = ready_pod(kubectl)
    assert first is not None
    ip = first["status"]["podIP"]
    ann = await Bot.join(ip, "Ann")
    bob = await Bot.join(ip, "Bob")
    bots = {ann.id: ann, bob.id: bob}
    try:
        await ann.send({"type": "start"})
        assert (await bob.expect("game_started"))["rounds"] == 1
        await play_turn(bots)

        kubectl.patch_room("live", {"game": {"rounds": 2, "drawTimeSeconds": 45}})
        notice = await bob.expect("announce", within=60)
        assert notice["text"] == "Next game: 2 rounds, 45 s to draw."
        event = await asyncio.to_thread(wait_for, "SettingsApplied", lambda: applied_event(kubectl))
        assert "game.rounds: 1 -> 2" in event["message"]
        assert "game.drawTimeSeconds: 80 -> 45" in event["message"]
        shown = admin_settings(kubectl, ip)
        assert shown["game"]["rounds"] == 2 and shown["pendingForNextGame"] is True
        assert shown["runningGame"]["rounds"] == 1

        # The running game keeps its one round: the second turn ends it.
        await play_turn(bots)
        assert (await ann.expect("game_over"))["reason"] == "finished"
        lobby = await bob.expect("lobby")
        assert lobby["settings"]["rounds"] == 2 and lobby["settings"]["drawTimeSeconds"] == 45
        await ann.send({"type": "start"})
        assert (await bob.expect("game_started"))["rounds"] == 2

        now = ready_pod(kubectl)
        assert now is not None and now["metadata"]["uid"] == first["metadata"]["uid"]
        assert not ann.closed and not bob.closed  # nobody was disconnected
        assert [int(r["revision"]) for r in revisions(kubectl)] == [1]
        assert rollout(kubectl)["currentRevision"] == 1
        config = kubectl.json("configmap", "live-config")["data"]["config.yaml"]
        assert "rounds: 2" in config  # a later restart reads them
    finally:
        for bot in bots.values():
            with contextlib.suppress(Exception):
                await bot.close()

    # An image change is still a revision; its new Pod starts with the live values.
    kubectl.patch_room("live", {"image": NEW_IMAGE})

    def second_pod() -> dict[str, Any] | None:
        found = ready_pod(kubectl)
        if found is None or found["metadata"]["uid"] == first["metadata"]["uid"]:
            return None
        return found if found["spec"]["containers"][0]["image"] == NEW_IMAGE else None

    try:
        fresh = await asyncio.to_thread(wait_for, "the new image's Pod Ready", second_pod, 120)
    except AssertionError as error:
        pods = kubectl.json("pods", "-l", "app.kubernetes.io/instance=live")["items"]
        seen = [(p["spec"]["containers"][0]["image"], p.get("status")) for p in pods]
        raise AssertionError(f"{error}; rollout {rollout(kubectl)}; pods {seen}") from None
    listed = revisions(kubectl)
    assert [int(r["revision"]) for r in listed] == [1, 2]
    assert listed[1]["data"]["image"] == NEW_IMAGE and listed[1]["data"]["liveSettings"] is True
    assert admin_settings(kubectl, fresh["status"]["podIP"])["game"]["rounds"] == 2
