"""`kubectl gameroom`: every verb through the real kubectl's plugin discovery, against a room
run by the operator in kubesandbox (or a real cluster with --cluster=kubeconfig).

The plugin is reached as users reach it: `kubectl gameroom ...` with the virtualenv's bin
folder (the pinned kubectl and the `kubectl-gameroom` console script) first on PATH.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from .harness import (
    KUBECTL,
    Kubectl,
    OperatorProcess,
    condition,
    new_namespace,
    room_manifest,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BIN = str(Path(KUBECTL).parent)
ROOM = "plug"


def gameroom(
    *args: str, env: dict[str, str] | None = None, timeout: float = 200
) -> subprocess.CompletedProcess[str]:
    """`kubectl gameroom ARGS` found by kubectl's plugin discovery on PATH."""
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    environment.pop("KUBECTL", None)
    environment.update(env or {})
    return subprocess.run(
        [KUBECTL, "gameroom", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


@pytest.fixture(scope="module")
def kubectl(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "plugin")


@pytest.fixture(scope="module")
def room(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    operator = OperatorProcess(
        kubectl.kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        "--namespaces",
        kubectl.namespace,
        "--probe-interval",
        "1",
        "--resync-interval",
        "0",
    )
    operator.start()
    # A low chat rate: a short flood makes the server log a warning (abuse_closed).
    kubectl.apply(
        room_manifest(
            ROOM,
            game={"maxPlayers": 6},
            rateLimits={"chatPerSecond": 1, "chatBurst": 1},
        )
    )
    try:
        ready = wait_ready(kubectl)
    except AssertionError as error:
        operator.stop()
        raise AssertionError(f"{error}\noperator log:\n{operator.logs()[-4000:]}") from None
    yield ready
    operator.stop()


def wait_ready(kubectl: Kubectl) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = kubectl.json("gameroom", ROOM)
        return found if condition(found, "Ready").get("status") == "True" else None

    return wait_for(f"gameroom {ROOM} Ready", ready, 120)


def run_ok(*args: str) -> subprocess.CompletedProcess[str]:
    result = gameroom(*args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def pod_ip(kubectl: Kubectl) -> str:
    def running() -> str | None:
        pods = kubectl.json("pods", "-l", f"app.kubernetes.io/instance={ROOM}")["items"]
        ready = [
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]
        return str(ready[0]["status"]["podIP"]) if len(ready) == 1 else None

    return wait_for("one Ready Pod", running, 60)


async def join(ip: str, name: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.ws_connect(f"ws://{ip}:8080/ws") as ws,
    ):
        await ws.send_json({"type": "join", "name": name, "protocol": 1})
        while True:
            message = await ws.receive_json(timeout=10)
            if message.get("type") in ("welcome", "error"):
                return dict(message)


def screen_fields(text: str) -> dict[str, str]:
    """The `Key: value` lines of a screen (the first of each key)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.strip().partition(":")
        if colon and value.startswith(" ") and key and key not in found:
            found[key] = value.strip()
    return found


def context_kubeconfig(kubectl: Kubectl, folder: Path) -> Path:
    """A copy of the kubeconfig whose context names the test's namespace."""
    config = yaml.safe_load(Path(kubectl.kubeconfig).read_text())
    config["contexts"][0]["context"]["namespace"] = kubectl.namespace
    own = folder / "kubeconfig"
    own.write_text(yaml.safe_dump(config))
    return own


# ---------------------------------------------------------------------------------------------


def test_kubectl_discovers_the_plugin_on_path(sandbox_kubeconfig: str) -> None:
    listed = gameroom()  # bare `kubectl gameroom`: the help, and usage's exit code
    assert listed.returncode == 2
    for verb in ("status", "restart", "maintenance", "smoke-test", "logs", "report"):
        assert verb in listed.stderr
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    plugins = subprocess.run(
        [KUBECTL, "plugin", "list"], capture_output=True, text=True, env=environment, timeout=30
    )
    assert str(Path(BIN) / "kubectl-gameroom") in plugins.stdout, plugins.stdout + plugins.stderr
    helped = gameroom("status", "--help")
    assert helped.returncode == 0 and "--kubeconfig" in helped.stdout


def test_usage_errors_exit_2_and_cluster_errors_exit_1(
    room: dict[str, Any], kubectl: Kubectl
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    for args in (
        ["status"],  # no name
        ["status", ROOM, "-o", "xml", *k],
        ["maintenance", ROOM, "maybe", *k],
        ["maintenance", ROOM, "on", "--message", "x" * 281, *k],
        ["logs", ROOM, "--since", "yesterday", *k],
        ["logs", ROOM, "--grep", "(unclosed", *k],
        ["restart", ROOM, "--timeout", "soon", *k],
        ["frobnicate", ROOM],
    ):
        result = gameroom(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "usage: kubectl gameroom" in result.stderr, result.stderr
    missing = gameroom("status", "no-such-room", *k)
    assert missing.returncode == 1
    assert 'gamerooms.drawgame.dev "no-such-room" not found' in missing.stderr
    wrong_context = gameroom("status", ROOM, "--context", "no-such-context", *k)
    assert wrong_context.returncode == 1 and "no-such-context" in wrong_context.stderr
    # Nothing was changed by the refused maintenance switch.
    assert not kubectl.json("gameroom", ROOM)["spec"]["maintenance"]["enabled"]


async def test_status_shows_phase_health_players_pods_and_events(
    room: dict[str, Any], kubectl: Kubectl, tmp_path: Path
) -> None:
    ip = pod_ip(kubectl)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.ws_connect(f"ws://{ip}:8080/ws") as ws,
    ):
        await ws.send_json({"type": "join", "name": "ada", "protocol": 1})
        while (await ws.receive_json(timeout=10)).get("type") != "welcome":
            pass

        # The namespace from the kubeconfig's context, and KUBECONFIG from the environment,
        # as kubectl takes them: the plugin passes no -n of its own.
        own = context_kubeconfig(kubectl, tmp_path)

        def one_player() -> dict[str, Any] | None:
            result = gameroom("status", ROOM, "-o", "json", env={"KUBECONFIG": str(own)})
            assert result.returncode == 0, result.stderr
            data = json.loads(result.stdout)
            return data if data["players"] == 1 else None

        data = await asyncio.to_thread(wait_for, "status to count the player", one_player, 60)
        screen = run_ok("-n", kubectl.namespace, "--kubeconfig", kubectl.kubeconfig, "status", ROOM)
    assert data["name"] == ROOM and data["namespace"] == kubectl.namespace
    assert data["phase"] == "Ready" and data["ready"] == "True"
    assert data["health"]["status"] == "healthy" and data["health"]["failingChecks"] == {}
    assert data["url"] == f"http://{ROOM}.{kubectl.namespace}.svc/"
    assert [p["phase"] for p in data["pods"]] == ["Running"]
    assert "Created" in [e["reason"] for e in data["events"]]
    text = screen.stdout
    shown = screen_fields(text)
    assert shown["GameRoom"] == f"{kubectl.namespace}/{ROOM}", text
    assert (shown["Phase"], shown["Players"], shown["Maintenance"]) == ("Ready", "1/6", "off")
    assert shown["Status"] == "healthy", text
    # The rollout as the operator reports it, when it does (status.rollout).
    rollout = (kubectl.json("gameroom", ROOM).get("status") or {}).get("rollout")
    assert data["rollout"] == rollout
    assert ("\nRollout\n" in text) == bool(rollout), text
    events = text.split("Recent events", 1)[1]
    assert data["events"][-1]["object"] in events, text
    as_yaml = yaml.safe_load(
        run_ok(
            "status",
            ROOM,
            "-o",
            "yaml",
            "--kubeconfig",
            kubectl.kubeconfig,
            "-n",
            kubectl.namespace,
        ).stdout
    )
    assert as_yaml["phase"] == "Ready" and as_yaml["maxPlayers"] == 6


async def test_maintenance_on_refuses_joins_fails_the_smoke_test_and_off_restores(
    room: dict[str, Any], kubectl: Kubectl
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    on = run_ok("maintenance", ROOM, "on", "--message", "new brushes, back soon", *k)
    assert "maintenance on (confirmed by the room)" in on.stdout
    assert "new brushes, back soon" in on.stdout
    refused = await join(pod_ip(kubectl), "late")
    assert refused["type"] == "error" and refused["code"] == "maintenance", refused
    status = json.loads(run_ok("status", ROOM, "-o", "json", *k).stdout)
    assert status["maintenance"] == {"enabled": True, "message": "new brushes, back soon"}

    # The smoke test fails in maintenance: exit 1, with the room check saying why.
    smoke = gameroom("smoke-test", ROOM, "-o", "json", *k)
    assert smoke.returncode == 1, smoke.stdout + smoke.stderr
    report = json.loads(smoke.stdout)
    assert report["passed"] is False
    assert {"name": "room", "outcome": "FAIL"}.items() <= next(
        c for c in report["checks"] if c["name"] == "room"
    ).items()

    off = json.loads(run_ok("maintenance", ROOM, "off", "-o", "json", *k).stdout)
    assert off["confirmed"] is True and off["maintenance"]["enabled"] is False
    welcome = await join(pod_ip(kubectl), "back")
    assert welcome["type"] == "welcome", welcome


def test_smoke_test_runs_a_job_in_the_cluster_and_cleans_up(
    room: dict[str, Any], kubectl: Kubectl
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    result = run_ok("smoke-test", ROOM, *k)
    assert f"smoke test of http://{ROOM}.{kubectl.namespace}.svc" in result.stdout
    assert "result: ok" in result.stdout
    for check in ("livez", "readyz", "health", "room", "ws-join", "leave"):
        assert any(line.split()[:2] == ["ok", check] for line in result.stdout.splitlines()), (
            result.stdout
        )
    job = result.stdout.strip().splitlines()[-1].removeprefix("(Job ").rstrip(")")
    assert job.startswith(f"{ROOM}-smoke-")

    def job_gone() -> bool:
        return kubectl.maybe("job", job) is None

    wait_for(f"Job {job} deleted", job_gone, 30)


async def test_logs_filter_by_level_and_pattern_without_jq(
    room: dict[str, Any], kubectl: Kubectl
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    everything = run_ok("logs", ROOM, *k)
    assert any(line.split()[1:3] == ["INFO", "serving"] for line in everything.stdout.splitlines())
    before = run_ok("logs", ROOM, "--level", "warn", "--grep", "abuse", *k)
    assert before.stdout == "" and "no log lines" in before.stderr

    # A chat flood: the server closes the socket (1008) and logs a warning.
    ip = pod_ip(kubectl)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.ws_connect(f"ws://{ip}:8080/ws") as ws,
    ):
        await ws.send_json({"type": "join", "name": "flood", "protocol": 1})
        deadline = time.monotonic() + 20
        while not ws.closed and time.monotonic() < deadline:
            await ws.send_json({"type": "chat", "text": "spam"})
            await asyncio.sleep(0.02)
            while True:
                try:
                    message = await ws.receive(timeout=0.001)
                except TimeoutError:
                    break
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        assert ws.close_code == 1008, ws.close_code

    def warned() -> subprocess.CompletedProcess[str] | None:
        result = run_ok("logs", ROOM, "--level", "warn", *k)
        return result if "abuse_closed" in result.stdout else None

    warnings = await asyncio.to_thread(wait_for, "the abuse warning in the logs", warned, 30)
    lines = warnings.stdout.splitlines()
    assert lines and all(line.split()[1] in ("WARNING", "ERROR", "CRITICAL") for line in lines)
    assert any("category=chat" in line for line in lines)
    # --grep is a regular expression, any case; -o json gives the records themselves.
    found = json.loads(run_ok("logs", ROOM, "--grep", "ABUSE_clos", "-o", "json", *k).stdout)
    assert [r["event"] for r in found["lines"]] == ["abuse_closed"]
    assert found["lines"][0]["level"] == "warning"
    errors_only = run_ok("logs", ROOM, "--level", "error", "--since", "1h", *k)
    assert "abuse_closed" not in errors_only.stdout


def test_restart_stops_the_old_pod_first_and_the_room_comes_back(
    room: dict[str, Any], kubectl: Kubectl
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    before = {
        p["metadata"]["name"]
        for p in kubectl.json("pods", "-l", f"app.kubernetes.io/instance={ROOM}")["items"]
    }
    result = json.loads(run_ok("restart", ROOM, "-o", "json", *k).stdout)
    assert result["method"] == "rollout-restart" and "Recreate" in result["why"]
    assert result["previousPod"] in before and result["gracePeriodSeconds"] == 45
    assert result["newPod"] not in before and result["readySeconds"] > 0
    pods = kubectl.json("pods", "-l", f"app.kubernetes.io/instance={ROOM}")["items"]
    assert [p["metadata"]["name"] for p in pods] == [result["newPod"]]
    # The operator keeps the restart annotation: no drift repair puts the old Pod back.
    template = kubectl.json("deployment", ROOM)["spec"]["template"]["metadata"]
    assert "kubectl.kubernetes.io/restartedAt" in template["annotations"]
    wait_ready(kubectl)
    reasons = [
        e["reason"]
        for e in kubectl.json("events", "--field-selector", f"involvedObject.name={ROOM}")["items"]
    ]
    assert "DriftRepaired" not in reasons


def test_report_bundles_objects_timeline_logs_and_health_with_secrets_redacted(
    room: dict[str, Any], kubectl: Kubectl, tmp_path: Path
) -> None:
    k = ["--kubeconfig", kubectl.kubeconfig, "-n", kubectl.namespace]
    target = tmp_path / "incident.tar.gz"
    result = json.loads(run_ok("report", ROOM, "-f", str(target), "-o", "json", *k).stdout)
    assert result["file"] == str(target) and result["missing"] == []
    with tarfile.open(target) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers()}
        read = {name: archive.extractfile(m).read().decode() for name, m in members.items()}  # type: ignore[union-attr]
    for name in (
        "README.txt",
        "gameroom.yaml",
        "health.json",
        "status.txt",
        "events.txt",
        "events.yaml",
        f"children/deployments/{ROOM}.yaml",
        f"children/services/{ROOM}.yaml",
        f"children/configmaps/{ROOM}-config.yaml",
        f"children/secrets/{ROOM}-admin-token.yaml",
        f"children/persistentvolumeclaims/{ROOM}-data.yaml",
    ):
        assert name in read, sorted(read)
    room = yaml.safe_load(read["gameroom.yaml"])
    assert room["metadata"]["name"] == ROOM
    # The room's revisions (rollouts) are in it, as many as the cluster holds for it.
    owned = [
        r
        for r in kubectl.json("controllerrevisions")["items"]
        if any(
            o["uid"] == room["metadata"]["uid"] for o in r["metadata"].get("ownerReferences", [])
        )
    ]
    assert owned or not (room.get("status") or {}).get("rollout"), "no revisions to bundle"
    assert sorted(n for n in read if n.startswith("controllerrevisions/")) == sorted(
        f"controllerrevisions/{r['metadata']['name']}.yaml" for r in owned
    )
    assert json.loads(read["health.json"])["status"] == "healthy"
    logs = [name for name in read if name.startswith("logs/")]
    assert logs and any('"event": "serving"' in read[name] for name in logs)
    # The timeline is in time order and has the room's creation in it.
    times = [line.split()[0] for line in read["events.txt"].splitlines()]
    assert times == sorted(times) and " Created " in read["events.txt"]
    # The admin token never leaves the cluster in a bundle.
    token = kubectl.json("secret", f"{ROOM}-admin-token")["data"]["token"]
    assert all(token not in text for text in read.values())
    assert "<redacted" in read[f"children/secrets/{ROOM}-admin-token.yaml"]
    # The table form says where the file is; a file that cannot be written fails with 1.
    table = run_ok("report", ROOM, "-f", str(tmp_path / "again.tar.gz"), *k)
    assert table.stdout.startswith(f"wrote {tmp_path / 'again.tar.gz'}")
    refused = gameroom("report", ROOM, "-f", str(tmp_path / "no" / "dir" / "x.tar.gz"), *k)
    assert refused.returncode == 1 and "cannot write" in refused.stderr


def test_a_user_who_may_only_read_rooms_gets_status_and_a_clear_refusal(
    room: dict[str, Any], kubectl: Kubectl, tmp_path: Path
) -> None:
    """The plugin can do what the user's RBAC allows, no more: kubectl's own identity."""
    kubectl.run("create", "serviceaccount", "viewer")
    kubectl.run("create", "role", "viewer", "--verb=get", "--resource=gamerooms.drawgame.dev")
    kubectl.run(
        "create",
        "rolebinding",
        "viewer",
        "--role=viewer",
        f"--serviceaccount={kubectl.namespace}:viewer",
    )
    token = kubectl.run("create", "token", "viewer").stdout.strip()
    config = yaml.safe_load(Path(kubectl.kubeconfig).read_text())
    config["users"] = [{"name": "viewer", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "viewer"
    viewer = tmp_path / "viewer.kubeconfig"
    viewer.write_text(yaml.safe_dump(config))
    k = ["--kubeconfig", str(viewer), "-n", kubectl.namespace]

    status = json.loads(run_ok("status", ROOM, "-o", "json", *k).stdout)
    assert status["phase"] == "Ready" and status["pods"] == [] and status["events"] == []
    assert [line.split(":", 1)[0] for line in status["unreadable"]] == ["pods", "events"]
    assert all("forbidden" in line for line in status["unreadable"]), status["unreadable"]
    screen = run_ok("status", ROOM, *k).stdout
    assert "Not shown" in screen and "cannot list resource" in screen

    refused = gameroom("maintenance", ROOM, "on", *k)
    assert refused.returncode == 1 and "forbidden" in refused.stderr, refused.stderr
    assert not kubectl.json("gameroom", ROOM)["spec"]["maintenance"]["enabled"]
