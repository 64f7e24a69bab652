"""Backups of a room through the operator: the CronJob, a Job started from it (as
`kubectl create job --from=cronjob` does, never waiting for the schedule), status.backup and
its conditions, a failing backup, a restore by requestId that runs once, and the final
backup of a deleted room.

The rooms run the real game server; the backup and restore Jobs run the real
`gameserver backup-job` / `restore-job` against the room's admin Service, writing to the
room's backup volume. The schedule is once a year, so only the Jobs the tests start run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .harness import (
    KUBECTL,
    Kubectl,
    OperatorProcess,
    condition,
    new_namespace,
    room_manifest,
    run_operator,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

YEARLY = "0 0 1 1 *"
EVERY_MINUTE = "*/1 * * * *"  # the shortest a cron schedule goes: stale after 2 minutes
S3_HOST = "127.250.0.1"  # loopback, outside kubesandbox's pod and service addresses
TAKEN: dict[str, dict[str, Any]] = {}  # the backups the restore test took, for the next tests
JOB_TIMEOUT = 90


READY_TIMEOUT = 90


@pytest.fixture(scope="module")
def ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "bk")


@pytest.fixture(scope="module")
def operator(
    kubeconfig: str, ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig, tmp_path_factory.mktemp("operator"), ns.namespace)


def wait_ready(ns: Kubectl, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        room = ns.json("gameroom", name)
        return room if condition(room, "Ready").get("status") == "True" else None

    return wait_for(f"gameroom {name} Ready", ready, READY_TIMEOUT)


@pytest.fixture(scope="module")
def rooms(ns: Kubectl, operator: OperatorProcess) -> dict[str, dict[str, Any]]:
    """Rooms created together: `vault` backs up to its volume, `leaky` to an S3 endpoint
    where nothing listens (every backup of it fails), `stale` on a suspended every-minute
    schedule (no backup until the last test)."""
    ns.apply(
        room_manifest(
            "vault", backup={"enabled": True, "schedule": YEARLY, "retention": {"count": 5}}
        )
    )
    s3 = {"bucket": "nowhere", "endpoint": "http://127.0.0.1:9", "region": "us-east-1"}
    ns.apply(
        room_manifest(
            "leaky",
            backup={
                "enabled": True,
                "schedule": YEARLY,
                "onDelete": "Skip",
                "destination": {"type": "s3", "s3": s3},
            },
        )
    )
    # BackupStale's clock (twice the one-minute interval) runs from here, while the other
    # tests do: test_backup_stale_... comes last and waits for the rest of it.
    ns.apply(
        room_manifest(
            "stale",
            backup={"enabled": True, "schedule": EVERY_MINUTE, "suspend": True, "onDelete": "Skip"},
        )
    )
    return {name: wait_ready(ns, name) for name in ("vault", "leaky", "stale")}


def room_events(ns: Kubectl, name: str) -> list[dict[str, Any]]:
    """The Events on room `name` (not on its children of the same name)."""
    items = ns.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e for e in items if e["involvedObject"].get("kind") == "GameRoom"]


def event_reasons(ns: Kubectl, name: str) -> list[str]:
    return [e["reason"] for e in room_events(ns, name)]


def backup_now(ns: Kubectl, room: str, job: str) -> None:
    ns.run("create", "job", f"--from=cronjob/{room}-backup", job)


def status_backup(ns: Kubectl, room: str) -> dict[str, Any]:
    return dict((ns.json("gameroom", room).get("status") or {}).get("backup") or {})


def backed_up_by(ns: Kubectl, room: str, job: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = ns.json("gameroom", room)
        last = ((found.get("status") or {}).get("backup") or {}).get("lastSuccessful") or {}
        return found if last.get("job") == job else None

    return wait_for(f"{room}'s backup by Job {job}", done, JOB_TIMEOUT)


async def join(pod_ip: str, names: list[str]) -> None:
    """Players join the room (their seats are rows of its database) and chat."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        for name in names:
            async with session.ws_connect(f"ws://{pod_ip}:8080/ws") as ws:
                await ws.send_json({"type": "join", "name": name, "protocol": 1})
                while True:
                    message = await ws.receive_json(timeout=10)
                    if message.get("type") in ("welcome", "error"):
                        assert message["type"] == "welcome", message
                        break
                await ws.send_json({"type": "chat", "text": f"hello from {name}"})


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


def pod_ip(ns: Kubectl, room: str) -> str:
    pods = ns.json(
        "pods", "-l", f"app.kubernetes.io/instance={room},app.kubernetes.io/name=gameroom"
    )
    running = [p for p in pods["items"] if (p.get("status") or {}).get("phase") == "Running"]
    return str(running[0]["status"]["podIP"])


def test_a_backup_from_the_cronjob_is_verified_and_shown(
    ns: Kubectl, rooms: dict[str, dict[str, Any]], operator: OperatorProcess
) -> None:
    cronjob = ns.json("cronjob", "vault-backup")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["metadata"]["ownerReferences"][0]["uid"] == rooms["vault"]["metadata"]["uid"]
    volume = ns.json("pvc", "vault-backup")
    assert not volume["metadata"].get("ownerReferences")  # it outlives the room

    backup_now(ns, "vault", "vault-first")
    room = backed_up_by(ns, "vault", "vault-first")
    backup = room["status"]["backup"]
    last = backup["lastSuccessful"]
    assert last["name"].startswith("backup-") and last["name"].endswith(".sql")
    assert last["verified"] is True and last["rows"] > 0 and last["sizeBytes"] > 0
    assert len(last["sha256"]) == 64
    assert backup["count"] == 1
    assert room["status"]["lastBackup"]["name"] == last["name"]  # the Last Backup column
    assert backup["nextScheduleTime"].endswith("-01-01T00:00:00Z")
    succeeded = condition(room, "BackupSucceeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "Verified")
    assert last["name"] in succeeded["message"]
    assert condition(room, "BackupStale")["status"] == "False"
    assert "backup" not in room["status"].get("notActedOn", [])
    wait_for("a BackupSucceeded event", lambda: "BackupSucceeded" in event_reasons(ns, "vault"))
    metrics = operator.metrics()
    key = (
        "gameroom_operator_backup_last_success_timestamp_seconds"
        f'{{namespace="{ns.namespace}",room="vault"}}'
    )
    assert metrics[key] > 0
    # The result was read once and recorded on the Job.
    job = ns.json("job", "vault-first")
    recorded = json.loads(job["metadata"]["annotations"]["drawgame.dev/result"])
    assert recorded["name"] == last["name"] and recorded["succeeded"] is True

    # The CronJob is a child of the room: deleted, it is put back.
    ns.run("delete", "cronjob", "vault-backup", "--wait=false")
    wait_for(
        "the CronJob put back",
        lambda: (
            (ns.maybe("cronjob", "vault-backup") or {}).get("metadata", {}).get("uid")
            not in (None, cronjob["metadata"]["uid"])
        ),
    )


def test_a_failing_backup_sets_backup_succeeded_false_with_the_reason_and_an_event(
    ns: Kubectl, rooms: dict[str, dict[str, Any]], operator: OperatorProcess
) -> None:
    backup_now(ns, "leaky", "leaky-first")

    def failed() -> dict[str, Any] | None:
        found = ns.json("gameroom", "leaky")
        return found if condition(found, "BackupSucceeded").get("status") == "False" else None

    room = wait_for("leaky's BackupSucceeded=False", failed, JOB_TIMEOUT)
    cond = condition(room, "BackupSucceeded")
    assert cond["reason"] == "DestinationNotWritable", cond
    assert "s3://nowhere" in cond["message"]
    failure = room["status"]["backup"]["lastFailure"]
    assert failure["job"] == "leaky-first" and "s3://nowhere" in failure["reason"]
    assert "lastSuccessful" not in room["status"]["backup"]

    def warning() -> dict[str, Any] | None:
        found = [e for e in room_events(ns, "leaky") if e["reason"] == "BackupFailed"]
        return found[0] if found else None

    event = wait_for("a BackupFailed event", warning)
    assert event["type"] == "Warning" and "leaky-first" in event["message"]
    metrics = operator.metrics()
    labels = f'namespace="{ns.namespace}",result="failed",room="leaky"'
    key = f"gameroom_operator_backups_total{{{labels}}}"
    assert metrics[key] == 1
    assert metrics[key.replace('"failed"', '"succeeded"')] == 0  # exported from 0
    # No verified backup yet: the last-success sample is when backups were enabled, so
    # GameRoomBackupStale fires for a room that never got one.
    since = datetime.strptime(room["status"]["backup"]["enabledSince"], "%Y-%m-%dT%H:%M:%SZ")
    stale_key = (
        "gameroom_operator_backup_last_success_timestamp_seconds"
        f'{{namespace="{ns.namespace}",room="leaky"}}'
    )
    assert metrics[stale_key] == since.replace(tzinfo=UTC).timestamp()


def test_a_restore_brings_back_the_backups_rows_and_runs_once_per_request(
    ns: Kubectl, rooms: dict[str, dict[str, Any]]
) -> None:
    first = wait_for(
        "vault's first backup", lambda: status_backup(ns, "vault").get("lastSuccessful"), 120
    )
    asyncio.run(join(pod_ip(ns, "vault"), ["ada", "bob", "cy"]))
    backup_now(ns, "vault", "vault-second")
    second = backed_up_by(ns, "vault", "vault-second")["status"]["backup"]["lastSuccessful"]
    assert second["rows"] > first["rows"], (first, second)  # the players' rows

    done = gameroom(
        ns, "restore", "vault", "--backup", first["name"], "--request-id", "undo-1", "-o", "json"
    )
    assert done.returncode == 0, done.stderr
    restore = json.loads(done.stdout)["restore"]
    assert restore["phase"] == "Succeeded", restore
    assert restore["requestId"] == "undo-1" and restore["backupName"] == first["name"]
    assert restore["rows"] == first["rows"]  # the room's own count after the swap
    assert ns.json("gameroom", "vault")["status"]["restore"] == restore
    assert "RestoreSucceeded" in event_reasons(ns, "vault")

    # The room really holds the first backup's data: a new backup has its rows.
    wait_ready(ns, "vault")
    taken = gameroom(ns, "backup", "vault", "-o", "json")
    assert taken.returncode == 0, taken.stderr
    third = json.loads(taken.stdout)["result"]
    assert third["verified"] is True and third["rows"] == first["rows"]
    listed = gameroom(ns, "backups", "vault", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    backups = json.loads(listed.stdout)["backups"]
    assert [b["name"] for b in backups] == [third["name"], second["name"], first["name"]]
    assert [b["rows"] for b in backups] == [first["rows"], second["rows"], first["rows"]]
    assert all(b["verified"] for b in backups)
    again = gameroom(ns, "restore", "vault", "--backup", "latest", "--request-id", "undo-1")
    assert again.returncode == 2 and "runs once" in again.stderr
    TAKEN.update(first=first, second=second, third=third)

    # The same requestId again (another backupName) does nothing.
    ns.patch_room("vault", {"restore": {"backupName": "latest", "requestId": "undo-1"}})
    wait_for(
        "the spec change seen",
        lambda: (
            ns.json("gameroom", "vault")["status"].get("observedGeneration")
            == ns.json("gameroom", "vault")["metadata"]["generation"]
        ),
    )
    jobs = ns.json("jobs", "-l", "drawgame.dev/job=restore")["items"]
    assert len(jobs) == 1
    assert ns.json("gameroom", "vault")["status"]["restore"] == restore


@pytest.mark.kubesandbox_only  # edits the backup volume's files where kubesandbox keeps them
def test_a_tampered_backup_is_refused_and_the_room_keeps_its_data(
    ns: Kubectl, rooms: dict[str, dict[str, Any]]
) -> None:
    second, third = TAKEN["second"], TAKEN["third"]
    volume = ns.json("pvc", "vault-backup")["spec"]["volumeName"]
    folder = Path(ns.json("pv", volume)["spec"]["hostPath"]["path"])
    dump = folder / second["name"]
    text = dump.read_text()
    assert "hello from bob" in text  # bob's chat line, taken in the second backup
    dump.write_text(text.replace("hello from bob", "hello from eve", 1))

    refused = gameroom(ns, "restore", "vault", "--backup", second["name"], "-o", "json")
    assert refused.returncode == 1, refused.stdout
    restore = ns.json("gameroom", "vault")["status"]["restore"]
    assert restore["phase"] == "Failed"
    assert "refused" in restore["message"] and "keeps its data" in restore["message"]
    assert "sha256" in restore["message"]
    assert "RestoreFailed" in event_reasons(ns, "vault")
    # The room kept the data it had (the first backup's, restored above).
    taken = gameroom(ns, "backup", "vault", "-o", "json")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["result"]["rows"] == third["rows"]


def test_a_clone_starts_from_another_rooms_backup(
    ns: Kubectl, rooms: dict[str, dict[str, Any]]
) -> None:
    first = TAKEN["first"]
    ns.apply(
        room_manifest(
            "copy",
            restore={
                "fromRoom": {"name": "vault", "backupName": first["name"]},
                "requestId": "clone-1",
            },
        )
    )
    ns.apply(room_manifest("stray", restore={"fromRoom": {"name": "ghost"}, "requestId": "c"}))

    def answered(name: str) -> dict[str, Any] | None:
        restore = (ns.json("gameroom", name).get("status") or {}).get("restore") or {}
        return restore if restore.get("phase") in ("Succeeded", "Failed") else None

    restore = wait_for("the clone", lambda: answered("copy"), READY_TIMEOUT + JOB_TIMEOUT)
    assert restore["phase"] == "Succeeded", restore
    assert restore["fromRoom"] == "vault" and restore["backupName"] == first["name"]
    assert restore["rows"] == first["rows"]
    assert ns.maybe("pvc", "copy-backup") is None  # a clone reads vault's volume, has none
    stray = wait_for("the stray clone", lambda: answered("stray"), READY_TIMEOUT)
    assert stray["phase"] == "Failed" and "ghost" in stray["message"]
    assert "RestoreFailed" in event_reasons(ns, "stray")
    for name in ("copy", "stray"):
        ns.run("delete", "gameroom", name, "--wait=false")
    selfish = room_manifest(
        "narcissus", restore={"fromRoom": {"name": "narcissus"}, "requestId": "1"}
    )
    refused = ns.run("apply", "-f", "-", stdin=json.dumps(selfish), check=False)
    assert refused.returncode != 0 and "fromRoom.name must name another room" in refused.stderr


def test_a_drill_asked_now_restores_the_latest_backup_into_a_scratch_room_and_plays_in_it(
    ns: Kubectl, rooms: dict[str, dict[str, Any]]
) -> None:
    """`kubectl gameroom drill` asks the operator (drawgame.dev/drill-now), which clones the
    newest backup into a scratch room, smoke-tests it, compares rows, records
    status.backup.lastDrill and deletes the scratch room."""
    before = ns.json("gameroom", "vault")["status"]
    latest = before["backup"]["lastSuccessful"]
    done = gameroom(ns, "drill", "vault", "-o", "json")
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert (result["result"], result["by"], result["backup"]) == (
        "Succeeded",
        "operator",
        latest["name"],
    )
    last = status_backup(ns, "vault")["lastDrill"]
    assert last["result"] == "Succeeded" and last["backupName"] == latest["name"]
    assert f"restored {latest['rows']} rows and passed the smoke test" in last["message"]
    assert 0 < last["durationSeconds"] < 200
    events = {e["reason"]: e["message"] for e in room_events(ns, "vault")}
    assert "DrillSucceeded" in events and latest["name"] in events["DrillSucceeded"]
    scratch = events["DrillStarted"].split()[2]
    assert scratch.startswith("vault-drill-")

    def scratch_gone() -> bool:
        return not ns.json("gameroom", "-l", "drawgame.dev/drill-of=vault")["items"]

    wait_for("the scratch room gone", scratch_gone, 60)
    # The room itself was not touched.
    assert ns.json("gameroom", "vault")["status"]["restore"] == before["restore"]
    # A room with no verified backup fails its drill at once, with a Warning and exit 1.
    refused = gameroom(ns, "drill", "leaky")
    assert refused.returncode == 1 and "no verified backup" in refused.stderr
    assert status_backup(ns, "leaky")["lastDrill"]["result"] == "Failed"
    assert "DrillFailed" in event_reasons(ns, "leaky")


@pytest.mark.slow
def test_an_operator_killed_during_a_drill_finishes_it_after_its_restart(
    ns: Kubectl, rooms: dict[str, dict[str, Any]], operator: OperatorProcess
) -> None:
    """The drill in progress is in status.backup.drill, not only in the operator's memory:
    SIGKILLed with a scratch room up, the restarted operator finishes the drill, records
    lastDrill and deletes the scratch room (the room itself stays, so its owner reference
    would never have)."""
    latest = status_backup(ns, "vault")["lastSuccessful"]
    ns.run("annotate", "gameroom", "vault", "drawgame.dev/drill-now=restart-1", "--overwrite")

    def scratch_up() -> str | None:
        drill = status_backup(ns, "vault").get("drill") or {}
        scratch = drill.get("scratchRoom")
        return scratch if scratch and ns.maybe("gameroom", scratch) is not None else None

    scratch = wait_for("a drill in progress with its scratch room", scratch_up, 60)
    operator.kill()
    operator.start()

    def answered() -> dict[str, Any] | None:
        backup = status_backup(ns, "vault")
        last = backup.get("lastDrill") or {}
        return backup if last.get("request") == "restart-1" else None

    backup = wait_for("the drill answered after the restart", answered, 200)
    last = backup["lastDrill"]
    assert last["result"] == "Succeeded", last
    assert last["backupName"] == latest["name"]
    assert "drill" not in backup  # no drill in progress any more
    wait_for("the scratch room gone", lambda: ns.maybe("gameroom", scratch) is None, 60)
    assert not ns.json("gameroom", "-l", "drawgame.dev/drill-of=vault")["items"]
    assert '"drill_resumed"' in operator.logs()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3-compatible server on loopback: it stands in for S3 as
    kubesandbox stands in for Kubernetes (the same wire protocol, boto3 in the Jobs). On an
    address of its own: inside a kubesandbox Pod 127.0.0.1 is the Pod itself."""
    with socket.socket() as sock:
        sock.bind((S3_HOST, 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", S3_HOST, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://{S3_HOST}:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_for("moto's S3 server", up, 60)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.kubesandbox_only  # the Jobs must reach the S3 stand-in on this machine's loopback
def test_backups_to_an_s3_compatible_store_with_credentials_from_a_secret(
    ns: Kubectl, rooms: dict[str, dict[str, Any]], s3_endpoint: str
) -> None:
    import boto3

    keys = {"AWS_ACCESS_KEY_ID": "drawgame-test", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket="drawgame-backups")
    ns.run(
        "create",
        "secret",
        "generic",
        "s3-creds",
        *(f"--from-literal={k}={v}" for k, v in keys.items()),
    )
    s3 = {
        "bucket": "drawgame-backups",
        "endpoint": s3_endpoint,
        "region": "us-east-1",
        "credentialsSecret": "s3-creds",
    }
    backup = {"enabled": True, "schedule": YEARLY, "destination": {"type": "s3", "s3": s3}}
    ns.apply(room_manifest("cloud", backup={**backup, "onDelete": "Skip"}))
    wait_ready(ns, "cloud")
    backup_now(ns, "cloud", "cloud-first")
    last = backed_up_by(ns, "cloud", "cloud-first")["status"]["backup"]["lastSuccessful"]
    assert last["verified"] is True
    listed = client.list_objects_v2(Bucket="drawgame-backups")
    keys_stored = sorted(o["Key"] for o in listed.get("Contents", []))
    stem = f"{ns.namespace}/cloud/{last['name'].removesuffix('.sql')}"
    assert keys_stored == [f"{stem}.manifest.json", f"{stem}.sql"]
    assert ns.maybe("pvc", "cloud-backup") is None  # no volume for an s3 destination
    listing = gameroom(ns, "backups", "cloud", "-o", "json")
    assert listing.returncode == 0, listing.stderr
    assert [b["name"] for b in json.loads(listing.stdout)["backups"]] == [last["name"]]
    ns.run("delete", "gameroom", "cloud", "--wait=false")


def test_a_deleted_room_takes_a_final_backup_that_outlives_it(
    ns: Kubectl, rooms: dict[str, dict[str, Any]], operator: OperatorProcess
) -> None:
    room = ns.json("gameroom", "vault")
    assert "drawgame.dev/final-backup" in room["metadata"]["finalizers"]
    before = room["status"]["backup"]["lastSuccessful"]["name"]
    ns.run("delete", "gameroom", "vault", "--wait=false")

    def final() -> list[dict[str, Any]] | None:
        found = [e for e in room_events(ns, "vault") if e["reason"].startswith("FinalBackup")]
        return [e for e in found if e["reason"] != "FinalBackupStarted"] or None

    (event,) = wait_for("the final backup's event", final, 150)
    assert event["reason"] == "FinalBackupSucceeded", event
    assert event["type"] == "Normal" and "verified" in event["message"]
    wait_for("the room gone", lambda: ns.maybe("gameroom", "vault") is None, 60)
    # Its last-success sample is gone with it (it would age into GameRoomBackupStale).
    sample = f'backup_last_success_timestamp_seconds{{namespace="{ns.namespace}",room="vault"}}'
    assert not [k for k in operator.metrics() if k.endswith(sample)]
    # Backups outlive their room: the volume and the final backup on it stay.
    assert ns.maybe("pvc", "vault-backup") is not None
    assert before not in event["message"]
    # leaky says onDelete: Skip: it goes at once, with no final backup.
    ns.run("delete", "gameroom", "leaky", "--wait=false")
    wait_for("leaky gone", lambda: ns.maybe("gameroom", "leaky") is None, 60)
    assert not [r for r in event_reasons(ns, "leaky") if r.startswith("FinalBackup")]


@pytest.mark.slow
def test_backup_stale_on_a_short_schedule_then_recent_then_verify_off(
    ns: Kubectl, rooms: dict[str, dict[str, Any]]
) -> None:
    def stale_is(status: str) -> Any:
        def check() -> dict[str, Any] | None:
            room = ns.json("gameroom", "stale")
            return room if condition(room, "BackupStale").get("status") == status else None

        return check

    # No backup within twice the one-minute interval since backups were enabled.
    room = wait_for("stale's BackupStale=True", stale_is("True"), 200)
    cond = condition(room, "BackupStale")
    assert cond["reason"] == "NoRecentBackup", cond
    assert "no verified backup yet" in cond["message"] and "suspended" in cond["message"]
    # A suspended schedule still takes a backup asked for now; it is verified and recent.
    backup_now(ns, "stale", "stale-1")
    room = backed_up_by(ns, "stale", "stale-1")
    cond = condition(room, "BackupStale")
    assert (cond["status"], cond["reason"]) == ("False", "RecentBackup"), cond

    ns.patch_room("stale", {"backup": {"verify": False}})

    def cronjob_without_verify() -> bool:
        cronjob = ns.json("cronjob", "stale-backup")
        args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        return "--no-verify" in args

    wait_for("the CronJob without verification", cronjob_without_verify, 30)
    backup_now(ns, "stale", "stale-2")
    room = backed_up_by(ns, "stale", "stale-2")
    last = room["status"]["backup"]["lastSuccessful"]
    assert last["verified"] is False and last["rows"] > 0
    assert condition(room, "BackupSucceeded")["reason"] == "Stored"

    def says_verify_off() -> dict[str, Any] | None:
        found = ns.json("gameroom", "stale")
        return found if condition(found, "BackupStale").get("reason") == "VerifyOff" else None

    cond = condition(wait_for("BackupStale VerifyOff", says_verify_off, 30), "BackupStale")
    assert cond["status"] == "True"
    assert cond["message"].startswith("verify is off: no backup is verified")
    assert last["name"] in cond["message"]
