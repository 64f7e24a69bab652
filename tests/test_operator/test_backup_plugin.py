"""The backup verbs' manifests (no cluster): the listing Job and the drill's scratch room."""

from __future__ import annotations

from typing import Any

from gameroom_operator import names as n
from gameroom_operator.plugin.backups import list_job
from gameroom_operator.plugin.drill import scratch_room
from gameroom_operator.render import RenderOptions, Room, render_backup_cronjob, strip_absent


def cronjob(backup: dict[str, Any]) -> dict[str, Any]:
    room = Room("quiz", "games", "uid-1", {"backup": {"enabled": True, **backup}})
    rendered = strip_absent(render_backup_cronjob(room, "v", RenderOptions()))
    rendered["metadata"]["uid"] = "cj-uid"
    return dict(rendered)


def test_the_listing_job_reads_the_destination_and_is_not_the_operators() -> None:
    s3 = {"bucket": "b", "endpoint": "http://s3:9000", "region": "r", "credentialsSecret": "c"}
    for backup, destination in (
        ({}, ["--destination", "/backups"]),
        (
            {"destination": {"type": "s3", "s3": s3}},
            [
                "--destination",
                "s3://b/games/quiz",
                "--s3-endpoint",
                "http://s3:9000",
                "--s3-region",
                "r",
            ],
        ),
    ):
        job = list_job(cronjob(backup), "quiz-list-1")
        container = job["spec"]["template"]["spec"]["containers"][0]
        # Only what list-backups takes: no admin URL, token or retention flags.
        assert container["args"] == ["list-backups", *destination]
        labels = job["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "kubectl-gameroom"
        assert n.JOB_KIND_LABEL not in labels and n.ROOM_LABEL not in labels
        assert "ownerReferences" not in job["metadata"]
        assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_the_drill_clones_into_a_scratch_room_owned_by_the_room() -> None:
    room = {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {"name": "quiz", "namespace": "games", "uid": "uid-1"},
        "spec": {
            "image": "ghcr.io/drawgame/gameroom:0.2.0",
            "game": {"rounds": 2},
            "maintenance": {"enabled": True},
            "backup": {"enabled": True, "schedule": "@daily"},
        },
    }
    scratch = scratch_room(room, "quiz-drill-abc123", "latest")
    assert scratch["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    spec = scratch["spec"]
    assert spec["restore"] == {
        "fromRoom": {"name": "quiz", "backupName": "latest"},
        "requestId": "drill",
    }
    assert spec["image"] == "ghcr.io/drawgame/gameroom:0.2.0" and spec["game"] == {"rounds": 2}
    # Never in maintenance (the smoke test must play) and never backing itself up.
    assert "maintenance" not in spec
    assert not (spec.get("backup") or {}).get("enabled")
