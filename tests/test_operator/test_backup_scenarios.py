"""Backups through the operator, the scenarios test_backups.py leaves out: a backup while bots
draw, a room whose data is lost and restored by spec.restore, retention by count and by
age, and a scheduled drill (BackupStale on a short schedule is in test_backups.py, whose
tests run while its two-minute clock does).

Jobs are started from the room's CronJob (as `kubectl create job --from=cronjob` does); only
the drill's schedule is waited for, on a condition, while the other tests run: its room is
made first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gameserver.testing import draw_message

from .harness import (
    KUBECTL,
    Kubectl,
    OperatorProcess,
    condition,
    event_reasons,
    new_namespace,
    room_manifest,
    run_operator,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

YEARLY = "0 0 1 1 *"
EVERY_MINUTE = "*/1 * * * *"  # the shortest a cron schedule goes
JOB_TIMEOUT = 90
RETAIN = 3
BUSY_BACKUP = {
    "enabled": True,
    "schedule": YEARLY,
    "retention": {"count": RETAIN, "maxAgeDays": 1},
    "onDelete": "Skip",
}
TAKEN: list[dict[str, Any]] = []  # busy's backups, oldest first (lastSuccessful of each)


@pytest.fixture(scope="module")
def ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "bks")


@pytest.fixture(scope="module")
def operator(
    kubeconfig: str, ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig, tmp_path_factory.mktemp("operator"), ns.namespace)


@pytest.fixture(scope="module")
def rooms(ns: Kubectl, operator: OperatorProcess) -> None:
    """`busy` (bots, wipe, restore, retention) and `drilled` (one backup, then a drill every
    minute: it runs while the other tests do)."""
    ns.apply(room_manifest("busy", backup=BUSY_BACKUP))
    ns.apply(room_manifest("drilled", backup={"enabled": True, "schedule": YEARLY}))
    for name in ("busy", "drilled"):
        wait_ready(ns, name)
    backup_now(ns, "drilled", "drilled-1")
    backed_up_by(ns, "drilled", "drilled-1")
    # Only now: a drill before the first backup would fail for want of one.
    ns.patch_room("drilled", {"backup": {"drill": {"schedule": EVERY_MINUTE}}})


def backup_now(ns: Kubectl, room: str, job: str) -> None:
    ns.run("create", "job", f"--from=cronjob/{room}-backup", job)


def backed_up_by(ns: Kubectl, room: str, job: str) -> dict[str, Any]:
    """The room once its status.backup.lastSuccessful is Job `job`'s backup."""

    def done() -> dict[str, Any] | None:
        found = ns.json("gameroom", room)
        backup = (found.get("status") or {}).get("backup") or {}
        failure = backup.get("lastFailure") or {}
        assert failure.get("job") != job, failure  # fail at once, not at the deadline
        return found if (backup.get("lastSuccessful") or {}).get("job") == job else None

    return wait_for(f"{room}'s backup by Job {job}", done, JOB_TIMEOUT)


def take(ns: Kubectl, job: str) -> dict[str, Any]:
    """A backup of busy now: its status.backup.lastSuccessful (kept in TAKEN)."""
    backup_now(ns, "busy", job)
    last = dict(backed_up_by(ns, "busy", job)["status"]["backup"]["lastSuccessful"])
    TAKEN.append(last)
    return last


def gameroom(ns: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl gameroom ARGS`, found by kubectl's plugin discovery on PATH."""
    environment = {**os.environ, "PATH": f"{Path(KUBECTL).parent}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("KUBECTL", None)
    return subprocess.run(
        [KUBECTL, "gameroom", *args, f"--kubeconfig={ns.kubeconfig}", "-n", ns.namespace],
        capture_output=True,
        text=True,
        timeout=200,
        env=environment,
    )


def listed(ns: Kubectl, room: str) -> list[dict[str, Any]]:
    """The backups the room's destination holds, newest first (`kubectl gameroom backups`)."""
    done = gameroom(ns, "backups", room, "-o", "json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["backups"])


def pod_ip(ns: Kubectl, room: str) -> str:
    pods = ns.json(
        "pods", "-l", f"app.kubernetes.io/instance={room},app.kubernetes.io/name=gameroom"
    )
    running = [p for p in pods["items"] if (p.get("status") or {}).get("phase") == "Running"]
    return str(running[0]["status"]["podIP"])


class Bots:
    """Two players in a thread of their own: one starts a game, whoever is asked to choose
    a word draws a stroke every 25 ms until stop(); `sent` counts the strokes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> Bots:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._play())
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error

    async def _play(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
            ann = await http.ws_connect(self.url)
            bob = await http.ws_connect(self.url)
            drawer: asyncio.Future[aiohttp.ClientWebSocketResponse] = asyncio.Future()
            welcomed = {id(ann): asyncio.Event(), id(bob): asyncio.Event()}

            async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
                async for message in ws:
                    data = json.loads(message.data)
                    if data.get("type") == "welcome":
                        welcomed[id(ws)].set()
                    elif data.get("type") == "choose_word" and not drawer.done():
                        await ws.send_json({"type": "choose_word", "index": 0})
                        drawer.set_result(ws)

            listeners = [asyncio.ensure_future(listen(ws)) for ws in (ann, bob)]
            for ws, name in ((ann, "Ann"), (bob, "Bob")):
                await ws.send_json({"type": "join", "name": name, "protocol": 1})
            for event in welcomed.values():
                await asyncio.wait_for(event.wait(), 20)
            await ann.send_json({"type": "start"})
            pen = await asyncio.wait_for(drawer, 20)
            while not self._stop.is_set():
                self.sent += 1
                await pen.send_json(draw_message(self.sent, [[self.sent % 800, 1], [2, 2]]))
                await asyncio.sleep(0.025)  # 40 a second: under drawPerSecond's 60
            for ws in (ann, bob):
                await ws.close()
            for task in listeners:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def test_a_backup_taken_while_bots_draw_verifies_and_holds_their_strokes(
    ns: Kubectl, rooms: None
) -> None:
    with Bots(f"ws://{pod_ip(ns, 'busy')}:8080/ws") as bots:
        wait_for("the bots drawing", lambda: bots.error or bots.sent >= 50, 30)
        assert bots.error is None, bots.error
        before = bots.sent
        last = take(ns, "busy-1")
        during = bots.sent - before
    assert bots.error is None, bots.error
    assert during > 0  # they drew on while the backup was taken
    room = ns.json("gameroom", "busy")
    assert last["verified"] is True and len(last["sha256"]) == 64
    assert condition(room, "BackupSucceeded")["reason"] == "Verified"
    # The strokes drawn before the Job started are all in it (a row each), and not more
    # than were ever drawn.
    assert before <= last["rows"] <= bots.sent + 100, (before, last["rows"], bots.sent)


@pytest.mark.kubesandbox_only  # plants an old backup where kubesandbox keeps the volume
def test_retention_by_age_prunes_an_old_backup_the_count_would_keep(ns: Kubectl) -> None:
    volume = ns.json("pvc", "busy-backup")["spec"]["volumeName"]
    folder = Path(ns.json("pv", volume)["spec"]["hostPath"]["path"])
    first = TAKEN[0]["name"]
    old = f"backup-{(datetime.now(UTC) - timedelta(days=2)).strftime('%Y%m%d-%H%M%S')}.sql"
    shutil.copy(folder / first, folder / old)
    manifest = first.removesuffix(".sql") + ".manifest.json"
    shutil.copy(folder / manifest, folder / (old.removesuffix(".sql") + ".manifest.json"))
    assert [b["name"] for b in listed(ns, "busy")] == [first, old]

    second = take(ns, "busy-2")
    # Three may be kept, but the planted one is two days old (maxAgeDays: 1).
    assert [b["name"] for b in listed(ns, "busy")] == [second["name"], first]
    assert not (folder / old).exists()
    assert ns.json("gameroom", "busy")["status"]["backup"]["count"] == 2


def test_a_room_whose_data_is_lost_is_restored_by_spec_restore(
    ns: Kubectl, operator: OperatorProcess
) -> None:
    """The room and its data volume are deleted by mistake; the room is made again (empty)
    and restored from the backup taken while the bots drew: rows and sha256 as in the
    backup's manifest."""
    drawn = TAKEN[0]
    ns.run("delete", "gameroom", "busy", "--wait=false")
    wait_for("busy and its data gone", lambda: ns.maybe("pvc", "busy-data") is None, 90)
    wait_for("busy gone", lambda: ns.maybe("gameroom", "busy") is None, 30)
    assert ns.maybe("pvc", "busy-backup") is not None  # backups outlive their room
    ns.apply(room_manifest("busy", backup=BUSY_BACKUP))
    wait_ready(ns, "busy")
    empty = take(ns, "busy-empty")
    assert empty["rows"] < drawn["rows"] // 2, (empty, drawn)  # the strokes are gone

    ns.patch_room("busy", {"restore": {"backupName": drawn["name"], "requestId": "dr-1"}})

    def answered() -> dict[str, Any] | None:
        restore = (ns.json("gameroom", "busy").get("status") or {}).get("restore") or {}
        return restore if restore.get("phase") in ("Succeeded", "Failed") else None

    restore = wait_for("the restore", answered, JOB_TIMEOUT)
    assert restore["phase"] == "Succeeded", restore
    assert restore["backupName"] == drawn["name"] and restore["requestId"] == "dr-1"
    (stored,) = [b for b in listed(ns, "busy") if b["name"] == drawn["name"]]
    assert restore["rows"] == stored["rows"] == drawn["rows"]  # the room's own count
    result = json.loads(
        ns.json("job", restore["job"])["metadata"]["annotations"]["drawgame.dev/result"]
    )
    assert result["sha256"] == stored["sha256"] == drawn["sha256"]
    assert "RestoreSucceeded" in event_reasons(ns, "busy")
    # The room holds the bots' strokes again: a backup of it has the same rows.
    wait_ready(ns, "busy")
    after = take(ns, "busy-after")
    assert after["rows"] == drawn["rows"], (after, drawn)


def test_retention_keeps_exactly_the_newest_count(ns: Kubectl) -> None:
    while len(TAKEN) < RETAIN + 2:
        take(ns, f"busy-n{len(TAKEN)}")
    newest = [b["name"] for b in reversed(TAKEN[-RETAIN:])]
    assert [b["name"] for b in listed(ns, "busy")] == newest
    assert ns.json("gameroom", "busy")["status"]["backup"]["count"] == RETAIN


def test_a_scheduled_drill_runs_and_cleans_up(ns: Kubectl) -> None:
    backup = ns.json("gameroom", "drilled")["status"]["backup"]

    def drilled() -> dict[str, Any] | None:
        status = ns.json("gameroom", "drilled")["status"]["backup"]
        return status if status.get("lastDrill") else None

    status = wait_for("drilled's scheduled drill", drilled, 180)
    last = status["lastDrill"]
    assert last["result"] == "Succeeded", last
    assert last["backupName"] == backup["lastSuccessful"]["name"]
    assert "request" not in last  # the schedule's, not drill-now's
    wait_for(
        "the scratch room gone",
        lambda: not ns.json("gameroom", "-l", "drawgame.dev/drill-of=drilled")["items"],
        60,
    )
    assert "DrillSucceeded" in event_reasons(ns, "drilled")
