"""The operator against a cluster: kubesandbox here, a real cluster with --cluster=kubeconfig.

The operator runs as a subprocess (`python -m gameroom_operator --standalone`); the rooms'
game servers are real processes started by the sandbox's kubelet, and the tests talk to
them over HTTP and WebSocket at their pod IPs, as players would.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from .harness import (
    CHILD_KINDS,
    READY_TIMEOUT,
    ROOT,
    HoldingProxy,
    Kubectl,
    OperatorProcess,
    condition,
    new_namespace,
    room_manifest,
    run_operator,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def shared_ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "op")


@pytest.fixture(scope="module")
def operator(
    kubeconfig: str, shared_ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(
        kubeconfig,
        tmp_path_factory.mktemp("operator"),
        shared_ns.namespace,
        "--probe-interval",
        "1",
    )


def pod_of(kubectl: Kubectl, name: str) -> dict[str, Any]:
    pods = kubectl.json("pods", "-l", f"app.kubernetes.io/instance={name}")["items"]
    running = [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") == "Running"
    ]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    return running[0]


async def join(pod_ip: str, name: str = "ada") -> dict[str, Any]:
    """Join the room over WebSocket as a player; the server's first answer."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.ws_connect(f"ws://{pod_ip}:8080/ws") as ws,
    ):
        await ws.send_json({"type": "join", "name": name, "protocol": 1})
        while True:
            message = await ws.receive_json(timeout=10)
            if message.get("type") in ("welcome", "error"):
                return dict(message)


async def room_info(pod_ip: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://{pod_ip}:8080/api/room") as response,
    ):
        assert response.status == 200
        return dict(await response.json())


def children(kubectl: Kubectl, name: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind in CHILD_KINDS:
        items = kubectl.json(kind, "-l", f"drawgame.dev/room={name}")["items"]
        found[kind] = [i for i in items if not i["metadata"].get("deletionTimestamp")]
    return found


def events(kubectl: Kubectl, name: str) -> list[str]:
    items = kubectl.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items if e["involvedObject"].get("kind") == "GameRoom"]


# ---------------------------------------------------------------------------------------------


async def test_create_reaches_ready_and_serves_players(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(room_manifest("lobby-one", game={"maxPlayers": 6, "rounds": 2}))
    room = wait_ready(kubectl, "lobby-one")
    uid = room["metadata"]["uid"]
    status = room["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == room["metadata"]["generation"]
    assert status["url"] == f"http://lobby-one.{kubectl.namespace}.svc/"
    assert status["image"] == "ghcr.io/drawgame/gameroom:0.1.0"
    kinds = {c["type"]: c["status"] for c in status["conditions"]}
    assert kinds == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
        "Healthy": "True",
        "Reconciling": "False",
        "Stalled": "False",
    }
    assert status["healthSummary"] == "healthy"
    assert status["health"]["status"] == "healthy"
    assert status["health"]["checks"]["database"]["status"] == "ok"
    assert status["players"] == 0
    # kstatus: kubectl wait works on the condition.
    kubectl.run("wait", "--for=condition=Ready", "gameroom/lobby-one", "--timeout=10s")

    found = children(kubectl, "lobby-one")
    counts = {kind: len(items) for kind, items in found.items()}
    assert counts == {
        "configmap": 1,
        "secret": 1,
        "persistentvolumeclaim": 1,
        "service": 2,
        "deployment": 1,
        "networkpolicy": 1,
        "ingress": 0,
    }
    for items in found.values():
        for item in items:
            owners = item["metadata"]["ownerReferences"]
            assert [(o["kind"], o["uid"], o["controller"]) for o in owners] == [
                ("GameRoom", uid, True)
            ]
            assert item["metadata"]["labels"]["app.kubernetes.io/managed-by"] == (
                "gameroom-operator"
            )

    pod_ip = pod_of(kubectl, "lobby-one")["status"]["podIP"]
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.ws_connect(f"ws://{pod_ip}:8080/ws") as ws,
    ):
        await ws.send_json({"type": "join", "name": "bob", "protocol": 1})

        async def players_counted() -> bool:
            room = await asyncio.to_thread(kubectl.json, "gameroom", "lobby-one")
            return bool(room["status"].get("players") == 1)

        # The one prober reports the connected player in the room's status.
        await async_wait_for("status.players to count the player", players_counted)
        columns = kubectl.run("get", "gameroom", "lobby-one", "--no-headers").stdout.split()
        assert columns[:3] == ["lobby-one", "Ready", "1"], columns
    welcome = await join(pod_ip)
    assert welcome["type"] == "welcome", welcome
    assert welcome["room"]["name"] == "lobby-one"
    assert welcome["state"]["settings"]["maxPlayers"] == 6
    assert welcome["state"]["settings"]["rounds"] == 2
    assert "Created" in events(kubectl, "lobby-one")
    table = kubectl.run("get", "gamerooms", "-o", "wide").stdout
    assert "lobby-one" in table and "Ready" in table
    # The operator's own metrics count the room by phase (recounted at most once a second).
    wait_for(
        "the rooms-by-phase gauge to count a Ready room",
        lambda: operator.metrics().get('gameroom_operator_rooms{phase="Ready"}', 0) >= 1,
        30,
    )


async def test_settings_change_rolls_the_room(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(
        room_manifest(
            "settings-room",
            game={"rounds": 2, "drawTimeSeconds": 60},
            rollout={"liveSettings": False},  # the default takes them live: test_live_settings
        )
    )
    wait_ready(kubectl, "settings-room")
    old_config = kubectl.json("configmap", "settings-room-config")["data"]["config.yaml"]
    old_pod = pod_of(kubectl, "settings-room")["metadata"]["uid"]
    old_secret = kubectl.json("secret", "settings-room-admin-token")["data"]["token"]

    kubectl.patch_room("settings-room", {"game": {"rounds": 5, "drawTimeSeconds": 120}})

    def new_config() -> dict[str, Any] | None:
        text = kubectl.json("configmap", "settings-room-config")["data"]["config.yaml"]
        return yaml.safe_load(text) if text != old_config else None

    config = wait_for("the ConfigMap to change", new_config, 30)
    assert config["game"]["rounds"] == 5 and config["game"]["drawTimeSeconds"] == 120

    def rolled_and_serving() -> dict[str, Any] | None:
        room = kubectl.json("gameroom", "settings-room")
        if room["status"].get("observedGeneration") != room["metadata"]["generation"]:
            return None
        if condition(room, "Ready").get("status") != "True":
            return None
        pod = pod_of(kubectl, "settings-room")
        return pod if pod["metadata"]["uid"] != old_pod else None

    pod = wait_for("the room to serve the new settings", rolled_and_serving, READY_TIMEOUT)
    welcome = await join(pod["status"]["podIP"], "grace")
    assert welcome["state"]["settings"]["rounds"] == 5
    assert welcome["state"]["settings"]["drawTimeSeconds"] == 120
    # The admin token is generated once and kept across reconciles.
    assert kubectl.json("secret", "settings-room-admin-token")["data"]["token"] == old_secret
    assert "SettingsApplied" in events(kubectl, "settings-room")


async def test_maintenance_on_and_off_without_restart(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(room_manifest("quiet-room"))
    wait_ready(kubectl, "quiet-room")
    pod = pod_of(kubectl, "quiet-room")
    pod_ip = pod["status"]["podIP"]

    kubectl.patch_room("quiet-room", {"maintenance": {"enabled": True, "message": "brb"}})

    async def in_maintenance() -> bool:
        info = await room_info(pod_ip)
        return bool(info["maintenance"]["enabled"]) and info["maintenance"]["message"] == "brb"

    await async_wait_for("the room to enter maintenance", in_maintenance)
    refused = await join(pod_ip, "late")
    assert refused["type"] == "error" and refused.get("code") == "maintenance", refused
    wait_for(
        "phase Maintenance",
        lambda: kubectl.json("gameroom", "quiet-room")["status"]["phase"] == "Maintenance",
        30,
    )
    assert "MaintenanceOn" in events(kubectl, "quiet-room")

    kubectl.patch_room("quiet-room", {"maintenance": {"enabled": False}})

    async def out_of_maintenance() -> bool:
        return not (await room_info(pod_ip))["maintenance"]["enabled"]

    await async_wait_for("the room to leave maintenance", out_of_maintenance)
    assert (await join(pod_ip, "back"))["type"] == "welcome"
    wait_for(
        "phase Ready",
        lambda: kubectl.json("gameroom", "quiet-room")["status"]["phase"] == "Ready",
        30,
    )
    # Same Pod throughout: no restart.
    assert pod_of(kubectl, "quiet-room")["metadata"]["uid"] == pod["metadata"]["uid"]


async def test_delete_removes_every_child(shared_ns: Kubectl, operator: OperatorProcess) -> None:
    kubectl = shared_ns
    kubectl.apply(room_manifest("short-lived"))
    wait_ready(kubectl, "short-lived")
    kubectl.run("delete", "gameroom", "short-lived", "--timeout=60s")

    def all_gone() -> bool:
        left = children(kubectl, "short-lived")
        pods = kubectl.json("pods", "-l", "app.kubernetes.io/instance=short-lived")["items"]
        return not any(left.values()) and not pods

    wait_for("every child to be deleted", all_gone, 60)


async def test_deleted_deployment_is_put_back(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(room_manifest("self-healing"))
    wait_ready(kubectl, "self-healing")
    old_uid = kubectl.json("deployment", "self-healing")["metadata"]["uid"]
    kubectl.run("delete", "deployment", "self-healing", "--wait=false")

    def recreated() -> bool:
        found = kubectl.maybe("deployment", "self-healing")
        return found is not None and found["metadata"]["uid"] != old_uid

    wait_for("the Deployment to be recreated", recreated, 30)
    room = wait_ready(kubectl, "self-healing")
    pod_ip = pod_of(kubectl, "self-healing")["status"]["podIP"]
    assert (await join(pod_ip, "mend"))["type"] == "welcome"
    assert room["status"]["phase"] == "Ready"


def test_deleted_service_and_config_are_put_back_without_waiting_for_a_resync(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns  # the shared operator runs with --resync-interval 0
    kubectl.apply(room_manifest("mended"))
    wait_ready(kubectl, "mended")
    before = {
        kind: kubectl.json(kind, name)["metadata"]["uid"]
        for kind, name in (
            ("service", "mended"),
            ("configmap", "mended-config"),
            ("networkpolicy", "mended-admin"),
        )
    }
    kubectl.run("delete", "service/mended", "configmap/mended-config", "networkpolicy/mended-admin")

    def put_back() -> bool:
        for (kind, name), uid in zip(
            (
                ("service", "mended"),
                ("configmap", "mended-config"),
                ("networkpolicy", "mended-admin"),
            ),
            before.values(),
            strict=True,
        ):
            found = kubectl.maybe(kind, name)
            if found is None or found["metadata"]["uid"] == uid:
                return False
        return True

    wait_for("the Service, ConfigMap and NetworkPolicy to be recreated", put_back, 30)
    config = kubectl.json("configmap", "mended-config")
    assert "roomName: mended" in config["data"]["config.yaml"]
    owners = kubectl.json("service", "mended")["metadata"]["ownerReferences"]
    assert owners[0]["kind"] == "GameRoom" and owners[0]["name"] == "mended"
    assert wait_ready(kubectl, "mended")["status"]["phase"] == "Ready"


async def test_edited_deployment_is_repaired_without_waiting_for_a_resync(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns  # the shared operator runs with --resync-interval 0
    kubectl.apply(room_manifest("edited"))
    wait_ready(kubectl, "edited")
    kubectl.run("scale", "deployment", "edited", "--replicas=0")
    kubectl.run(
        "set", "env", "deployment/edited", "-c", "gameserver", "GAMESERVER_LOG_FORMAT=console"
    )

    def repaired() -> bool:
        deployment = kubectl.json("deployment", "edited")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        return deployment["spec"]["replicas"] == 1 and env["GAMESERVER_LOG_FORMAT"] == "json"

    wait_for("the Deployment to be repaired", repaired, 30)
    wait_ready(kubectl, "edited")
    pod = wait_for("a running Pod", lambda: pod_of(kubectl, "edited"), 30)
    assert (await join(pod["status"]["podIP"], "fixed"))["type"] == "welcome"


async def test_invalid_spec_change_is_refused_and_room_keeps_running(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(room_manifest("stubborn"))
    wait_ready(kubectl, "stubborn")
    result = kubectl.run(
        "patch",
        "gameroom",
        "stubborn",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"game": {"maxPlayers": 99}}}),
        check=False,
    )
    assert result.returncode != 0
    assert "spec.game.maxPlayers" in result.stderr
    # The operator goes on serving the room and applying valid changes; the refused value
    # never reaches the game server.
    kubectl.patch_room("stubborn", {"game": {"rounds": 4}})

    def applied() -> dict[str, Any] | None:
        room = kubectl.json("gameroom", "stubborn")
        done = room["status"].get("observedGeneration") == room["metadata"]["generation"]
        return room if done and condition(room, "Ready").get("status") == "True" else None

    room = wait_for("the valid change to be applied", applied, READY_TIMEOUT)
    assert room["status"]["phase"] == "Ready"
    config = yaml.safe_load(kubectl.json("configmap", "stubborn-config")["data"]["config.yaml"])
    assert config["game"]["rounds"] == 4 and config["game"]["maxPlayers"] == 12

    def serving_new_settings() -> dict[str, Any] | None:
        pod = pod_of(kubectl, "stubborn")
        hash_now = kubectl.json("deployment", "stubborn")["metadata"]["annotations"]
        annotations = pod["metadata"].get("annotations") or {}
        key = "drawgame.dev/config-hash"
        return pod if annotations.get(key) == hash_now[key] else None

    pod = wait_for("the Pod with the new settings", serving_new_settings, READY_TIMEOUT)
    welcome = await join(pod["status"]["podIP"], "late")
    assert welcome["state"]["settings"]["maxPlayers"] == 12
    assert welcome["state"]["settings"]["rounds"] == 4


async def test_removed_ingress_and_keys_are_removed_from_the_children(
    shared_ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = shared_ns
    kubectl.apply(
        room_manifest(
            "trimmed",
            expose={"ingress": {"host": "trimmed.example.com"}},
            podTemplate={"labels": {"team": "blue"}, "nodeSelector": {"kubernetes.io/os": "linux"}},
            resources={"limits": {"cpu": "0.5", "memory": "256Mi"}},
        )
    )

    def template() -> dict[str, Any] | None:
        found = kubectl.maybe("deployment", "trimmed")
        return found["spec"]["template"] if found else None

    ingress = wait_for("the Ingress", lambda: kubectl.maybe("ingress", "trimmed"), 30)
    assert ingress["spec"]["rules"][0]["host"] == "trimmed.example.com"
    assert ingress["metadata"]["ownerReferences"][0]["kind"] == "GameRoom"
    before = wait_for("the Deployment", template, 30)
    assert before["metadata"]["labels"]["team"] == "blue"

    kubectl.run(
        "patch",
        "gameroom",
        "trimmed",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "remove", "path": "/spec/expose/ingress"},
                {"op": "remove", "path": "/spec/podTemplate/labels/team"},
                {"op": "remove", "path": "/spec/podTemplate/nodeSelector"},
                {"op": "remove", "path": "/spec/resources/limits/cpu"},
            ]
        ),
    )

    def trimmed() -> dict[str, Any] | None:
        found = template()
        if found is None or "team" in found["metadata"]["labels"]:
            return None
        return found

    after = wait_for("the label to be removed from the Deployment", trimmed, 30)
    assert "nodeSelector" not in after["spec"]
    assert after["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}
    wait_for("the Ingress to be deleted", lambda: kubectl.maybe("ingress", "trimmed") is None, 30)
    wait_ready(kubectl, "trimmed")
    kubectl.run("delete", "gameroom", "trimmed", "--timeout=60s")


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def own_ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "op")


def _own_operator(kubeconfig: str, kubectl: Kubectl, log: Path, *extra: str) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig, log, "--namespaces", kubectl.namespace, "--probe-interval", "1", *extra
    )


def _resource_versions(kubectl: Kubectl, names: list[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        room = kubectl.json("gameroom", name)
        versions[f"gameroom/{name}"] = room["metadata"]["resourceVersion"]
        for kind, items in children(kubectl, name).items():
            for item in items:
                versions[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return versions


@pytest.mark.kubesandbox_only
def test_killed_mid_reconcile_converges_without_duplicates(
    kubeconfig: str, own_ns: Kubectl, tmp_path: Path, kube_sandbox: Any
) -> None:
    kubectl = own_ns
    # The first operator talks through a proxy that holds every Deployment create, so it is
    # certainly in the middle of its reconciles (some children made, some not) when killed.
    proxy = HoldingProxy(
        str(kube_sandbox.url),
        lambda method, path: method == "POST" and path.endswith("/deployments"),
    )
    proxy.start()
    first = _own_operator(
        proxy.kubeconfig(kubeconfig, tmp_path / "proxied.kubeconfig"),
        kubectl,
        tmp_path / "first.log",
        "--resync-interval",
        "0",
    )
    names = [f"crash-{i}" for i in range(3)]
    try:
        first.start()
        for name in names:
            kubectl.apply(room_manifest(name))
        wait_for("the operator to be stuck creating Deployments", lambda: proxy.held >= 3, 60)
        made = {name: children(kubectl, name) for name in names}
        assert all(len(found["configmap"]) == 1 for found in made.values())
        assert all(found["deployment"] == [] for found in made.values())
        tokens = {name: made[name]["secret"][0]["data"]["token"] for name in names}
        first.kill()
    finally:
        first.kill()
        proxy.stop()
    second = _own_operator(kubeconfig, kubectl, tmp_path / "second.log", "--resync-interval", "0")
    second.start()
    try:
        for name in names:
            wait_ready(kubectl, name)
            counts = {kind: len(items) for kind, items in children(kubectl, name).items()}
            assert counts == {
                "configmap": 1,
                "secret": 1,
                "persistentvolumeclaim": 1,
                "service": 2,
                "deployment": 1,
                "networkpolicy": 1,
                "ingress": 0,
            }, name
            pods = kubectl.json("pods", "-l", f"app.kubernetes.io/instance={name}")["items"]
            assert len([p for p in pods if not p["metadata"].get("deletionTimestamp")]) == 1
            # The admin token made before the crash is kept, not replaced.
            secret = kubectl.json("secret", f"{name}-admin-token")
            assert secret["data"]["token"] == tokens[name]
    finally:
        second.stop()


@pytest.mark.kubesandbox_only
def test_api_outage_during_create_is_retried_until_ready(
    kubeconfig: str, own_ns: Kubectl, tmp_path: Path, kube_sandbox: Any
) -> None:
    """Deployment creates fail with 503 for a while: the room says so, then, with no one
    touching it, the operator retries and the room becomes Ready."""
    kubectl = own_ns
    outage = {"on": True}
    proxy = HoldingProxy(
        str(kube_sandbox.url),
        lambda method, path: False,
        refuse=lambda method, path: (
            outage["on"] and method == "POST" and path.endswith("/deployments")
        ),
    )
    proxy.start()
    operator = _own_operator(
        proxy.kubeconfig(kubeconfig, tmp_path / "proxied.kubeconfig"),
        kubectl,
        tmp_path / "operator.log",
        "--resync-interval",
        "0",
    )
    try:
        operator.start()
        kubectl.apply(room_manifest("outage-room"))
        wait_for("the Deployment create to be refused", lambda: proxy.refused >= 1, 60)

        def says_why() -> bool:
            status = kubectl.json("gameroom", "outage-room").get("status") or {}
            ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
            return bool(ready) and "unable to handle" in ready[0].get("message", "")

        wait_for("the room's status to carry the API error", says_why, 60)
        assert (
            kubectl.json("deployments", "-l", "app.kubernetes.io/instance=outage-room")["items"]
            == []
        )
        outage["on"] = False
        wait_ready(kubectl, "outage-room")
        assert proxy.refused >= 1
        assert len(children(kubectl, "outage-room")["deployment"]) == 1
    finally:
        operator.stop()
        proxy.stop()


def test_resync_with_nothing_to_change_writes_nothing(
    kubeconfig: str, own_ns: Kubectl, tmp_path: Path, sandbox_write_counter: Any
) -> None:
    kubectl = own_ns
    operator = _own_operator(kubeconfig, kubectl, tmp_path / "op.log", "--resync-interval", "1")
    operator.start()
    names = ["steady-a", "steady-b"]
    try:
        for name in names:
            kubectl.apply(room_manifest(name))
        for name in names:
            wait_ready(kubectl, name)
        # Let the first probes settle the status (players, health, version).
        wait_for(
            "health reported",
            lambda: all(
                kubectl.json("gameroom", n)["status"].get("healthSummary") == "healthy"
                for n in names
            ),
            30,
        )
        before = _resource_versions(kubectl, names)
        writes_before = operator.writes()
        reconciles = "gameroom_operator_reconcile_duration_seconds_count"
        done_before = operator.metrics()[reconciles]
        counter = sandbox_write_counter(kubectl.namespace)
        # At least three resyncs of both rooms, plus a restart (Kopf's resume) in between.
        wait_for("three resyncs", lambda: operator.metrics()[reconciles] >= done_before + 6, 60)
        operator.stop()
        operator.start()
        wait_for("the resume", lambda: operator.metrics().get(reconciles, 0) >= 2, 60)
        wait_for("a resync after the resume", lambda: operator.metrics()[reconciles] >= 4, 60)
        assert operator.writes() == 0, "the restarted operator wrote"
        assert _resource_versions(kubectl, names) == before
        assert writes_before >= 14  # it did write while creating: 7 children x 2 rooms
        assert counter() == []
    finally:
        operator.stop()


# ---------------------------------------------------------------------------------------------


def test_every_example_applies(own_ns: Kubectl) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        result = own_ns.run("apply", "-f", str(path))
        assert "created" in result.stdout or "configured" in result.stdout, path.name
    names = own_ns.run("get", "gamerooms", "-o", "name").stdout.split()
    assert len(names) == len(list((ROOT / "examples").glob("*.yaml")))


async def async_wait_for(what: str, check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except Exception as error:  # noqa: BLE001 - kept for the failure message
            last = error
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last error: {last}")


@pytest.mark.kubesandbox_only
def test_image_that_cannot_be_pulled_fails_with_its_cause(
    kube_sandbox_factory: Any, tmp_path: Path
) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text("unmatchedImages: fail\n")
    sandbox = kube_sandbox_factory(args=["--config", str(config)])
    kubectl = Kubectl(str(sandbox.kubeconfig), "default")
    kubectl.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"))
    kubectl.run(
        "wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s"
    )
    operator = OperatorProcess(
        str(sandbox.kubeconfig), tmp_path / "op.log", "--probe-interval", "1"
    )
    operator.start()
    try:
        manifest = room_manifest("no-such-image")
        manifest["spec"]["image"] = "registry.invalid/drawgame/missing:9.9"
        kubectl.apply(manifest)

        def failed() -> dict[str, Any] | None:
            room = kubectl.json("gameroom", "no-such-image")
            return room if room.get("status", {}).get("phase") == "Failed" else None

        room = wait_for("phase Failed", failed, 60)
        ready = condition(room, "Ready")
        assert ready["status"] == "False"
        assert ready["reason"] == "ServerNotStarting"
        assert "ErrImagePull" in ready["message"] or "ImagePullBackOff" in ready["message"]
        assert condition(room, "Degraded")["status"] == "True"
        assert "ServerNotStarting" in events(kubectl, "no-such-image")
    finally:
        operator.stop()
