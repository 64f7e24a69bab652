"""The backup CronJob, restore Job and backup volume a room's spec.backup renders."""

from __future__ import annotations

from typing import Any

from gameroom_operator import names as n
from gameroom_operator.render import (
    RenderOptions,
    Room,
    render_backup_pvc,
    render_children,
    render_network_policy,
    render_restore_job,
    strip_absent,
)


def room(backup: dict[str, Any] | None = None, **spec: Any) -> Room:
    return Room("quiz", "games", "uid-1", {"backup": backup or {}, **spec})


def cronjob(r: Room) -> dict[str, Any] | None:
    found = [c for c in render_children(r, "tok", RenderOptions()) if c["kind"] == "CronJob"]
    return strip_absent(found[0]) if found else None


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_no_cronjob_until_backups_are_enabled() -> None:
    assert cronjob(room()) is None
    assert cronjob(room({"enabled": False})) is None


def test_the_cronjob_runs_the_rooms_image_against_its_admin_service() -> None:
    cj = cronjob(room({"enabled": True, "retention": {"count": 3}}, image="ghcr.io/x/game:1.2"))
    assert cj is not None
    assert cj["metadata"]["name"] == "quiz-backup"
    assert cj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    spec = cj["spec"]
    assert spec["schedule"] == "0 */6 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["suspend"] is False
    assert "timeZone" not in spec
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/x/game:1.2"
    args = container["args"]
    assert args[:5] == ["backup-job", "--retention-count", "3", "--retention-max-age-days", "0"]
    assert args[args.index("--admin-url") + 1] == "http://quiz-admin.games.svc:8081"
    assert args[args.index("--destination") + 1] == "/backups"
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["quiz-backup"]  # never the room's own (ReadWriteOnce) data volume
    secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secrets == ["quiz-admin-token"]


def test_the_job_pods_may_reach_the_admin_port_but_are_not_the_room() -> None:
    r = room({"enabled": True})
    cj = cronjob(r)
    assert cj is not None
    labels = cj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert cj["spec"]["jobTemplate"]["metadata"]["labels"][n.ROOM_LABEL] == "quiz"
    policy = render_network_policy(r, "v", RenderOptions())
    admin_rule = policy["spec"]["ingress"][1]
    assert any(matches(peer["podSelector"]["matchLabels"], labels) for peer in admin_rule["from"])
    # The room's Service and ReplicaSet select by these: a backup Pod must never match.
    assert not matches(n.selector_labels("quiz"), labels)


def test_schedule_time_zone_suspend_and_age_are_passed_on() -> None:
    cj = cronjob(
        room(
            {
                "enabled": True,
                "schedule": "@daily",
                "timeZone": "Europe/Berlin",
                "suspend": True,
                "retention": {"maxAgeDays": 30},
            }
        )
    )
    assert cj is not None
    assert cj["spec"]["schedule"] == "@daily"
    assert cj["spec"]["timeZone"] == "Europe/Berlin"
    assert cj["spec"]["suspend"] is True
    args = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--retention-max-age-days") + 1] == "30"


def test_verify_off_skips_the_scratch_restore_and_on_is_the_default() -> None:
    def args(backup: dict[str, Any]) -> list[str]:
        cj = cronjob(room({"enabled": True, **backup}))
        assert cj is not None
        return list(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"])

    assert "--no-verify" not in args({})
    assert "--no-verify" not in args({"verify": True})
    assert "--no-verify" in args({"verify": False})


def test_an_s3_destination_takes_its_credentials_from_a_secret() -> None:
    s3 = {"bucket": "drawgame", "endpoint": "http://minio:9000", "credentialsSecret": "s3-creds"}
    cj = cronjob(room({"enabled": True, "destination": {"type": "s3", "s3": s3}}))
    assert cj is not None
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[args.index("--destination") + 1] == "s3://drawgame/games/quiz"
    assert args[args.index("--s3-endpoint") + 1] == "http://minio:9000"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert refs == {
        "AWS_ACCESS_KEY_ID": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"},
        "AWS_SECRET_ACCESS_KEY": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"},
    }
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]


def test_the_backup_volume_outlives_the_room() -> None:
    pvc = render_backup_pvc(room({"enabled": True, "storage": {"size": "5Gi"}}), "v")
    assert pvc["metadata"]["name"] == "quiz-backup"
    assert "ownerReferences" not in pvc["metadata"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_a_restore_job_is_named_after_its_request() -> None:
    r = room({"enabled": True})
    first = render_restore_job(r, RenderOptions(), "incident-42", "latest")
    again = render_restore_job(r, RenderOptions(), "incident-42", "latest")
    other = render_restore_job(r, RenderOptions(), "incident-43", "latest")
    assert first["metadata"]["name"] == again["metadata"]["name"] != other["metadata"]["name"]
    assert first["metadata"]["name"].startswith("quiz-restore-")
    args = first["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["restore-job", "--backup", "latest"]
    assert first["metadata"]["labels"][n.JOB_KIND_LABEL] == "restore"


def test_the_jobs_and_the_volume_validate_strictly() -> None:
    import kubernetes_validate

    s3 = {"bucket": "drawgame", "credentialsSecret": "creds", "region": "eu-west-1"}
    for backup in ({"enabled": True}, {"enabled": True, "destination": {"type": "s3", "s3": s3}}):
        r = room({**backup, "timeZone": "Europe/Berlin"})
        manifests = [
            cronjob(r),
            strip_absent(render_restore_job(r, RenderOptions(), "req", "latest")),
            strip_absent(render_backup_pvc(r, "v")),
        ]
        for manifest in manifests:
            for version in ("1.30.0", "1.37.0"):
                kubernetes_validate.validate(manifest, version, strict=True)
