"""Crash safety in the manner of Sieve, behind the `crash` marker (minutes long):

    nice .venv/bin/python -m pytest tests/test_operator -m crash -q -s

The sandbox SIGKILLs the operator right after a chosen write succeeds, before the operator
hears the answer (`PUT /sandbox/v1/killpoint`); a new operator process starts and must
converge. The kill points come from kubesandbox's request log: a clean run of each action
records every distinct kind of write the operator makes (method, resource, subresource)
and how many of each.

- create and settings update (2 rooms): a kill after the first write of each kind.
- a 50-room create (stand-in rooms): a kill at the 1st, a middle and the last write of
  each kind. Kill points are chained: when one has fired and the operator is back, the
  next one (in the order the clean run reached them) is armed at once, counting the writes
  of its kind this wave has already made; one that is not reached before the rooms settle
  opens the next wave of 50 new rooms. After each wave: every room Ready, exactly one of
  each child, no orphan; then the wave is deleted.
- an automatic rollback (a crash-looping image on 2 rooms): a kill at the first and the
  last write of each kind from the image change to RolledBack; the rooms end RolledBack on
  revision 1 with one ControllerRevision per revision.
- a backup (`kubectl create job --from=cronjob/R-backup`) and a restore
  (`spec.restore.requestId`) of a real game server: a kill at the first and last write of
  each kind; no double backup (one Job per request, the backups listed count the Jobs, one
  BackupSucceeded event per Job), each restore request's Job runs exactly once and
  status.restore ends Succeeded.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gameroom_operator.closing import FINALIZER

from .harness import (
    KUBECTL,
    ROOT,
    SICKROOM_IMAGE,
    Kubectl,
    OperatorProcess,
    condition,
    install_crd,
    new_namespace,
    room_manifest,
    standin_sandbox,
    wait_for,
)

pytestmark = [
    pytest.mark.crash,
    pytest.mark.integration,
    pytest.mark.kubesandbox_only,
    pytest.mark.timeout(1800),
]

AGENT = "gameroom-operator/"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
CHILDREN = {
    "deployments": 1,
    "services": 2,
    "configmaps": 1,
    "secrets": 1,
    "persistentvolumeclaims": 1,
    "networkpolicies": 1,
}
Kind = tuple[str, str, str]  # method, resource, subresource
WIDE = 50  # rooms of the wide create
HEALTHY = f"{SICKROOM_IMAGE}:healthy"
FAST_HEALTH = {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2}


def label(kind: Kind) -> str:
    method, resource, subresource = kind
    return f"{method} {resource}{'/' + subresource if subresource else ''}"


@dataclass
class Point:
    """Kill the operator right after the `nth` write of `kind` within an action."""

    kind: Kind
    nth: int
    order: int = 0  # where the clean run reached it

    def __str__(self) -> str:
        return f"{label(self.kind)} #{self.nth}"


@pytest.fixture
def crash_ns(sandbox_kubeconfig: str) -> Iterator[Kubectl]:
    admin = Kubectl(sandbox_kubeconfig, "default")
    admin.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"), check=False)
    admin.run("wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s")
    name = f"crash-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(sandbox_kubeconfig, name)
    kubectl.create_namespace(name)
    yield kubectl
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sandbox of its own whose image rule runs the stand-in room (cheap processes: 50
    real game servers would not fit a 2-core machine's minute)."""
    yield from standin_sandbox(tmp_path_factory.mktemp("crash-standins"))


@pytest.fixture
def standin_ns(standins: Any) -> Iterator[Kubectl]:
    install_crd(str(standins.kubeconfig))
    yield from new_namespace(str(standins.kubeconfig), "crash")


class Operators:
    """The operator under test, restarted after each kill."""

    def __init__(self, kubectl: Kubectl, logs: Path) -> None:
        self.kubectl = kubectl
        self.logs = logs
        self.runs = 0
        self.current: OperatorProcess | None = None

    def start(self) -> OperatorProcess:
        self.runs += 1
        self.current = OperatorProcess(
            str(self.kubectl.kubeconfig),
            self.logs / f"operator-{self.runs}.log",
            "--namespaces",
            self.kubectl.namespace,
            "--resync-interval",
            "0",
        )
        self.current.start()
        return self.current

    @property
    def pid(self) -> int:
        assert self.current is not None and self.current.process is not None
        return self.current.process.pid

    def dead(self) -> bool:
        assert self.current is not None and self.current.process is not None
        return self.current.process.poll() is not None

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


def converged(kubectl: Kubectl, rounds: int) -> list[dict[str, Any]] | None:
    rooms = kubectl.json("gamerooms")["items"]
    for room in rooms:
        status = room.get("status") or {}
        if condition(room, "Ready").get("status") != "True":
            return None
        if status.get("observedGeneration") != room["metadata"]["generation"]:
            return None
        if room["spec"].get("game", {}).get("rounds") != rounds:
            return None
    return list(rooms) if rooms else None


def all_ready(kubectl: Kubectl, count: int) -> list[dict[str, Any]] | None:
    """`count` rooms, every one Ready at its latest generation."""
    rooms = kubectl.json("gamerooms")["items"]
    if len(rooms) != count:
        return None
    for room in rooms:
        if condition(room, "Ready").get("status") != "True":
            return None
        if (room.get("status") or {}).get("observedGeneration") != room["metadata"]["generation"]:
            return None
    return list(rooms)


def check_children(
    kubectl: Kubectl,
    rooms: list[dict[str, Any]],
    children: dict[str, int] = CHILDREN,
    ownerless: Callable[[str, str], bool] = lambda kind, name: False,
) -> None:
    """Exactly one of each child per room, no child whose owner is gone, and one
    ControllerRevision per revision number. `ownerless(kind, name)`: a child that has no
    owner by design (a room's backup volume outlives it)."""
    uids = {room["metadata"]["uid"] for room in rooms}
    for room in rooms:
        assert FINALIZER in room["metadata"].get("finalizers", []), room["metadata"]
    for kind, count in children.items():
        owners: collections.Counter[str] = collections.Counter()
        # Everything the operator made carries its label (the rooms' Pods and ReplicaSets
        # belong to the Deployments and are not listed here).
        for item in kubectl.json(kind, "-l", "app.kubernetes.io/managed-by=gameroom-operator")[
            "items"
        ]:
            meta = item["metadata"]
            if meta.get("deletionTimestamp") or ownerless(kind, meta["name"]):
                continue
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("kind") == "GameRoom"]
            assert refs, f"{kind}/{meta['name']} has no GameRoom owner: an orphan"
            owners[refs[0]["uid"]] += 1
        assert set(owners) == uids, (kind, owners, uids)
        assert all(n == count for n in owners.values()), (kind, owners)
    revisions: collections.Counter[tuple[str, int]] = collections.Counter()
    for item in kubectl.json("controllerrevisions")["items"]:
        refs = item["metadata"].get("ownerReferences") or []
        assert refs and refs[0]["uid"] in uids, f"revision {item['metadata']['name']}: an orphan"
        revisions[(refs[0]["uid"], int(item["revision"]))] += 1
    assert all(n == 1 for n in revisions.values()), revisions


def operator_writes(sandbox: Any, since: int) -> list[Kind]:
    """The operator's successful writes since request `since`, in order."""
    return [
        (r.method, r.resource, r.subresource)
        for r in sandbox.requests()[since:]
        if r.method in WRITES and AGENT in r.user_agent and 200 <= r.code < 300
    ]


def spread(writes: list[Kind], firsts_and_lasts: bool, middles: bool) -> list[Point]:
    """Kill points from a clean run's writes: per kind its first write, and its middle and
    last ones as asked, ordered as the clean run reached them."""
    seen: collections.Counter[Kind] = collections.Counter()
    order: dict[tuple[Kind, int], int] = {}
    for index, kind in enumerate(writes):
        seen[kind] += 1
        order[(kind, seen[kind])] = index
    points = []
    for kind, count in seen.items():
        wanted = {1}
        if firsts_and_lasts:
            wanted.add(count)
        if middles:
            wanted.add((count + 1) // 2)
        points += [Point(kind, nth, order[(kind, nth)]) for nth in sorted(wanted)]
    return sorted(points, key=lambda p: p.order)


class Sweep:
    """Arms kill points, restarts the killed operator, records what fired."""

    def __init__(self, sandbox: Any, operators: Operators) -> None:
        self.sandbox = sandbox
        self.operators = operators
        self.fired: list[str] = []
        self.missed: list[str] = []

    def arm(self, point: Point, nth: int) -> None:
        method, resource, subresource = point.kind
        self.sandbox.set_killpoint(
            {
                "pid": self.operators.pid,
                "method": method,
                "resource": resource,
                "subresource": subresource,
                "nth": nth,
                "userAgent": AGENT,
            }
        )

    def disarm(self) -> bool:
        """Clear the kill point; True if it had fired."""
        fired = bool(self.sandbox.killpoint().get("fired"))
        self.sandbox.set_killpoint({})
        if not fired and self.operators.dead():
            fired = True  # it fired between the look and the clearing
        return fired

    def settle(self, what: str, settled: Callable[[], Any], timeout: float) -> tuple[bool, Any]:
        """Wait until the operator is dead (True) or the action has settled (False)."""

        def either() -> tuple[bool, Any] | None:
            if self.operators.dead():
                return (True, None)
            done = settled()
            return (False, done) if done else None

        return wait_for(what, either, timeout)

    def restart(self, point: Point, action: str) -> None:
        assert self.disarm(), point
        self.operators.start()
        self.fired.append(f"{action}: {point}")

    def one_each(
        self,
        action: str,
        points: list[Point],
        start: Callable[[int], None],
        settled: Callable[[int], Any],
        check: Callable[[int, Any], None],
        timeout: float,
    ) -> None:
        """One run of the action per kill point: arm, start run `i`, wait for the kill,
        restart, wait for the action to settle, check."""
        for index, point in enumerate(points, start=1):
            self.arm(point, point.nth)
            began = time.monotonic()
            start(index)
            dead, _ = self.settle(
                f"{action} {index}: the kill at {point}",
                functools.partial(settled, index),
                timeout,
            )
            if not dead and not self.disarm():
                self.missed.append(f"{action}: {point}")
                check(index, settled(index))
                continue
            self.restart(point, action)
            done = wait_for(
                f"{action} {index} settled after the kill at {point}",
                functools.partial(settled, index),
                timeout,
            )
            check(index, done)
            print(
                f"  {action} {index}: killed at {point}, settled in "
                f"{time.monotonic() - began:.0f} s",
                flush=True,
            )


def test_killed_after_each_kind_of_write_the_operator_converges(
    crash_ns: Kubectl, kube_sandbox: Any, tmp_path: Path
) -> None:
    kubectl = crash_ns
    operators = Operators(kubectl, tmp_path)
    operators.start()
    rounds = 1
    created = 0

    def create_rooms(count: int) -> None:
        nonlocal created
        for _ in range(count):
            kubectl.apply(room_manifest(f"crash-{created:02d}", game={"rounds": rounds}))
            created += 1

    def update_rooms() -> None:
        nonlocal rounds
        rounds += 1
        for room in kubectl.json("gamerooms")["items"]:
            kubectl.patch_room(room["metadata"]["name"], {"game": {"rounds": rounds}})

    try:
        # The clean run: which kinds of write does each action make?
        since = len(kube_sandbox.requests())
        create_rooms(2)
        wait_for("the first rooms Ready", lambda: converged(kubectl, rounds), 180)
        create_kinds = sorted(set(operator_writes(kube_sandbox, since)))
        since = len(kube_sandbox.requests())
        update_rooms()
        wait_for("the first update applied", lambda: converged(kubectl, rounds), 180)
        update_kinds = sorted(set(operator_writes(kube_sandbox, since)))
        assert ("POST", "deployments", "") in create_kinds, create_kinds
        assert ("PATCH", "gamerooms", "status") in update_kinds, update_kinds
        print(f"kill points: create {create_kinds}; update {update_kinds}")

        fired: list[str] = []
        for action, kinds in (("create", create_kinds), ("update", update_kinds)):
            for kind in kinds:
                point = f"{action}: {label(kind)}"
                method, resource, subresource = kind
                kube_sandbox.set_killpoint(
                    {
                        "pid": operators.pid,
                        "method": method,
                        "resource": resource,
                        "subresource": subresource,
                        "userAgent": AGENT,
                    }
                )
                started = time.monotonic()
                if action == "create":
                    create_rooms(2)
                else:
                    update_rooms()
                wait_for(f"the operator killed after {point}", operators.dead, 120)
                assert kube_sandbox.killpoint()["fired"], point
                kube_sandbox.set_killpoint({})
                operators.start()
                rooms = wait_for(
                    f"convergence after a kill at {point}",
                    lambda: converged(kubectl, rounds),
                    180,
                )
                check_children(kubectl, rooms)
                fired.append(f"{point} ({time.monotonic() - started:.0f} s)")
        print(f"{len(fired)} kill points, each converged: {fired}; rooms: {created}")
        assert len(fired) == len(create_kinds) + len(update_kinds)
    finally:
        kube_sandbox.set_killpoint({})
        operators.stop()


def wide_wave(wave: int) -> str:
    """The wave's 50 rooms as one multi-document manifest: one kubectl apply."""
    return "\n---\n".join(
        json.dumps({**room_manifest(f"w{wave}-{index:02d}"), "spec": {"image": HEALTHY}})
        for index in range(WIDE)
    )


def emptied(kubectl: Kubectl) -> bool:
    """No room, and none of their Deployments or Pods, left in the namespace."""
    return not any(kubectl.json(kind)["items"] for kind in ("gamerooms", "deployments", "pods"))


def test_killed_during_a_50_room_create_at_the_nth_write_the_operator_converges(
    standins: Any, standin_ns: Kubectl, tmp_path: Path
) -> None:
    kubectl = standin_ns
    operators = Operators(kubectl, tmp_path)
    operators.start()
    sweep = Sweep(standins, operators)
    began = time.monotonic()

    def ready() -> list[dict[str, Any]] | None:
        return all_ready(kubectl, WIDE)

    def clear() -> None:
        kubectl.run("delete", "gamerooms", "--all", "--wait=false")
        wait_for("the wave's rooms and Pods gone", lambda: emptied(kubectl), 300)

    try:
        since = len(standins.requests())
        kubectl.apply(wide_wave(0))
        check_children(kubectl, wait_for("the clean wave Ready", ready, 600))
        writes = operator_writes(standins, since)
        points = spread(writes, firsts_and_lasts=True, middles=True)
        counts = collections.Counter(writes)
        print(
            f"\n50-room create, clean run: {len(writes)} writes in "
            f"{time.monotonic() - began:.0f} s; kinds: "
            + ", ".join(f"{label(k)} x{c}" for k, c in sorted(counts.items()))
        )
        print(f"{len(points)} kill points: {', '.join(map(str, points))}", flush=True)
        clear()

        pending = list(points)
        waves = 0
        while pending:
            waves += 1
            assert waves <= len(points), f"kill points never reached: {pending}"
            since = len(standins.requests())
            armed: Point | None = pending.pop(0)
            fresh = True  # the first point of a wave counts from the wave's start
            assert armed is not None
            sweep.arm(armed, armed.nth)
            wave_began = time.monotonic()
            kubectl.apply(wide_wave(waves))
            while armed is not None:
                dead, _ = sweep.settle(f"wave {waves}: the kill at {armed}", ready, 600)
                if not dead and not sweep.disarm():
                    if fresh:
                        sweep.missed.append(f"create: {armed}")
                    else:
                        pending.insert(0, armed)  # the next wave starts with it
                    break
                sweep.restart(armed, "create")
                fresh = False
                done = collections.Counter(operator_writes(standins, since))
                armed = next((p for p in pending if p.nth - done[p.kind] >= 1), None)
                if armed is not None:
                    pending.remove(armed)
                    sweep.arm(armed, armed.nth - done[armed.kind])
            rooms = wait_for(f"wave {waves}: every room Ready", ready, 600)
            check_children(kubectl, rooms)
            print(
                f"  wave {waves}: converged in {time.monotonic() - wave_began:.0f} s; "
                f"kills so far {len(sweep.fired)}",
                flush=True,
            )
            clear()
        print(
            f"50-room create: {len(sweep.fired)} kill points fired over {waves} waves of "
            f"{WIDE} rooms, every wave converged; not reached: {sweep.missed or 'none'}; "
            f"{time.monotonic() - began:.0f} s\n  " + "\n  ".join(sweep.fired)
        )
        assert len(sweep.fired) + len(sweep.missed) == len(points)
        # A point of a fresh wave that never fired would be a count the clean run made and
        # a wave did not: only the last writes of a kind may fall short that way.
        assert len(sweep.missed) <= len(points) // 10, sweep.missed
    finally:
        standins.set_killpoint({})
        operators.stop()


def rollout_of(room: dict[str, Any]) -> dict[str, Any]:
    return dict((room.get("status") or {}).get("rollout") or {})


def serving_image(kubectl: Kubectl, name: str) -> str | None:
    """The image of the room's one Ready Pod, if it has exactly one."""
    selector = f"app.kubernetes.io/name=gameroom,app.kubernetes.io/instance={name}"
    pods = [
        p
        for p in kubectl.json("pods", "-l", selector)["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    if len(pods) != 1:
        return None
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pods[0].get("status") or {}).get("conditions") or []
    )
    return str(pods[0]["spec"]["containers"][0]["image"]) if ready else None


def test_killed_during_an_automatic_rollback_the_operator_still_rolls_back(
    standins: Any, standin_ns: Kubectl, tmp_path: Path
) -> None:
    kubectl = standin_ns
    names = ("rb-a", "rb-b")
    operators = Operators(kubectl, tmp_path)
    operators.start()
    sweep = Sweep(standins, operators)
    rollout = {"strategy": "Immediate", "healthWindowSeconds": 10, "progressDeadlineSeconds": 40}
    began = time.monotonic()

    def revisions(name: str) -> list[dict[str, Any]]:
        listed = kubectl.json("controllerrevisions", "-l", f"drawgame.dev/revision-of={name}")
        return sorted(listed["items"], key=lambda r: int(r["revision"]))

    def rolled_back(run: int) -> list[dict[str, Any]] | None:
        """Every room back on revision 1 after refusing the newest revision, the one of the
        run's crashing image (`crash.<run>`)."""
        rooms = [kubectl.json("gameroom", name) for name in names]
        for room in rooms:
            name = room["metadata"]["name"]
            found = rollout_of(room)
            newest = revisions(name)[-1]
            if newest["data"]["image"] != f"{SICKROOM_IMAGE}:crash.{run}":
                return None
            if (found.get("phase"), found.get("currentRevision"), found.get("updateRevision")) != (
                "RolledBack",
                1,
                int(newest["revision"]),
            ):
                return None
            if room["status"].get("observedGeneration") != room["metadata"]["generation"]:
                return None
            if serving_image(kubectl, name) != HEALTHY:
                return None
        return rooms

    def crash(run: int) -> None:
        for name in names:
            kubectl.patch_room(name, {"image": f"{SICKROOM_IMAGE}:crash.{run}"})

    def check(run: int, rooms: Any) -> None:
        for room in rooms:
            deployment = kubectl.json("deployment", room["metadata"]["name"])
            assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == HEALTHY
            assert condition(room, "Degraded").get("reason") == "RolledBack", room["status"]
            # One revision per version asked for: a kill never makes a second one.
            made = [
                (r["data"]["image"], r["data"]["settingsHash"])
                for r in revisions(room["metadata"]["name"])
            ]
            assert len(made) == len(set(made)), made
        check_children(kubectl, rooms)

    try:
        for name in names:
            kubectl.apply(
                {
                    **room_manifest(name),
                    "spec": {"image": HEALTHY, "health": FAST_HEALTH, "rollout": rollout},
                }
            )

        def first() -> bool:
            rooms = [kubectl.json("gameroom", name) for name in names]
            return all(rollout_of(r).get("phase") == "Succeeded" for r in rooms)

        wait_for("revision 1 verified", first, 180)
        since = len(standins.requests())
        crash(0)
        check(0, wait_for("the clean rollback", lambda: rolled_back(0), 180))
        writes = operator_writes(standins, since)
        points = spread(writes, firsts_and_lasts=True, middles=False)
        print(
            f"\nrollback of {len(names)} rooms, clean run: {len(writes)} writes in "
            f"{time.monotonic() - began:.0f} s; {len(points)} kill points: "
            + ", ".join(map(str, points)),
            flush=True,
        )
        sweep.one_each("rollback", points, crash, rolled_back, check, 240)
        print(
            f"rollback: {len(sweep.fired)} kill points fired, each rolled back to revision 1 "
            f"with one ControllerRevision per revision; not reached: {sweep.missed or 'none'}; "
            f"{time.monotonic() - began:.0f} s"
        )
        assert len(sweep.fired) + len(sweep.missed) == len(points)
        assert len(sweep.missed) <= len(points) // 4, sweep.missed
    finally:
        standins.set_killpoint({})
        operators.stop()


def gameroom(kubectl: Kubectl, *args: str) -> Any:
    """`kubectl gameroom ARGS -o json`, found by kubectl's plugin discovery on PATH."""
    environment = {**os.environ, "PATH": f"{Path(KUBECTL).parent}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("KUBECTL", None)
    result = subprocess.run(
        [KUBECTL, "gameroom", *args, "-o", "json"]
        + [f"--kubeconfig={kubectl.kubeconfig}", "-n", kubectl.namespace],
        capture_output=True,
        text=True,
        timeout=200,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_killed_during_backups_and_restores_none_is_doubled_or_lost(
    crash_ns: Kubectl, kube_sandbox: Any, tmp_path: Path
) -> None:
    kubectl = crash_ns
    room = "vault"
    operators = Operators(kubectl, tmp_path)
    operators.start()
    sweep = Sweep(kube_sandbox, operators)
    began = time.monotonic()
    backup = {
        "enabled": True,
        "schedule": "0 0 1 1 *",
        "retention": {"count": 100},
        "onDelete": "Skip",
    }

    def status(part: str) -> dict[str, Any]:
        return dict((kubectl.json("gameroom", room).get("status") or {}).get(part) or {})

    def job_name(run: int) -> str:
        return f"{room}-b{run}"

    def take(run: int) -> None:
        kubectl.run("create", "job", f"--from=cronjob/{room}-backup", job_name(run))

    def taken(run: int) -> dict[str, Any] | None:
        last = status("backup").get("lastSuccessful") or {}
        return last if last.get("job") == job_name(run) else None

    def events(reason: str) -> list[dict[str, Any]]:
        items = kubectl.json("events", "--field-selector", f"involvedObject.name={room}")["items"]
        return [
            e
            for e in items
            if e["involvedObject"].get("kind") == "GameRoom" and e["reason"] == reason
        ]

    def check_backup(run: int, last: Any) -> None:
        jobs = kubectl.json("jobs", "-l", "drawgame.dev/job=backup")["items"]
        names = {j["metadata"]["name"] for j in jobs}
        # No Job the test did not ask for (the CronJob's history limit prunes old ones).
        assert job_name(run) in names, names
        assert names <= {job_name(i) for i in range(run + 1)}, names
        assert status("backup").get("count") == run + 1  # one backup per Job
        told = [e for e in events("BackupSucceeded") if last["name"] in e["message"]]
        assert len(told) <= 1, told  # reported once at most (a kill may cost the Event)

    def restore(run: int) -> None:
        kubectl.patch_room(room, {"restore": {"backupName": "latest", "requestId": f"r{run}"}})

    def restored(run: int) -> dict[str, Any] | None:
        found = status("restore")
        if found.get("requestId") != f"r{run}" or found.get("phase") != "Succeeded":
            return None
        return found if condition(kubectl.json("gameroom", room), "Ready").get("status") else None

    def check_restore(run: int, found: Any) -> None:
        jobs = kubectl.json("jobs", "-l", "drawgame.dev/job=restore")["items"]
        assert len(jobs) == run + 1, [j["metadata"]["name"] for j in jobs]  # one per request
        for job in jobs:
            done = job.get("status") or {}
            assert (done.get("succeeded"), done.get("failed", 0)) == (1, 0), done
            pods = kubectl.json("pods", "-l", f"job-name={job['metadata']['name']}")["items"]
            assert len(pods) == 1, job["metadata"]["name"]  # it ran exactly once

    try:
        kubectl.apply(room_manifest(room, backup=backup))
        wait_for("the room Ready", lambda: all_ready(kubectl, 1), 180)
        since = len(kube_sandbox.requests())
        take(0)
        check_backup(0, wait_for("the clean backup", lambda: taken(0), 180))
        backup_points = spread(operator_writes(kube_sandbox, since), True, False)
        since = len(kube_sandbox.requests())
        restore(0)
        check_restore(0, wait_for("the clean restore", lambda: restored(0), 180))
        restore_points = spread(operator_writes(kube_sandbox, since), True, False)
        print(
            f"\nkill points: backup {', '.join(map(str, backup_points))}; "
            f"restore {', '.join(map(str, restore_points))}",
            flush=True,
        )
        sweep.one_each("backup", backup_points, take, taken, check_backup, 240)
        sweep.one_each("restore", restore_points, restore, restored, check_restore, 240)
        rooms = wait_for("the room Ready at the end", lambda: all_ready(kubectl, 1), 180)
        check_children(
            kubectl,
            rooms,
            {**CHILDREN, "persistentvolumeclaims": 1, "cronjobs": 1},
            ownerless=lambda kind, name: (
                kind == "persistentvolumeclaims" and name == f"{room}-backup"
            ),
        )
        listed = gameroom(kubectl, "backups", room)["backups"]
        assert len(listed) == len(backup_points) + 1, listed  # one backup per Job, no more
        assert status("restore")["requestId"] == f"r{len(restore_points)}"
        print(
            f"backup and restore: {len(sweep.fired)} kill points fired, {len(listed)} backups "
            f"for {len(backup_points) + 1} Jobs, {len(restore_points) + 1} restore requests "
            f"each run once; not reached: {sweep.missed or 'none'}; "
            f"{time.monotonic() - began:.0f} s"
        )
        assert len(sweep.missed) <= 1, sweep.missed
    finally:
        kube_sandbox.set_killpoint({})
        operators.stop()
