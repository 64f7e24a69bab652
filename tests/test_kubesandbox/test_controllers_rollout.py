"""Deployment rollout decisions: hashes, revisions, RollingUpdate/Recreate math, status."""

from __future__ import annotations

import datetime as dt

from kubesandbox.controllers.rollout import (
    RSView,
    deployment_status,
    history_to_delete,
    plan_recreate,
    plan_rolling_update,
    pod_template_hash,
    resolve_int_or_percent,
    surge_and_unavailable,
    templates_equal,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def template(image: str = "web:1") -> dict:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


def deployment(replicas: int = 4, strategy: dict | None = None, **spec: object) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "default", "generation": 2, "uid": "u"},
        "spec": {
            "replicas": replicas,
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": template(),
            **spec,
        },
        "status": {},
    }


def test_pod_template_hash_is_stable_label_safe_and_ignores_its_own_label() -> None:
    first = pod_template_hash(template())
    assert first == pod_template_hash(template())
    assert first != pod_template_hash(template("web:2"))
    assert first.isalnum() and len(first) <= 10
    labelled = template()
    labelled["metadata"]["labels"]["pod-template-hash"] = first
    assert pod_template_hash(labelled) == first
    assert templates_equal(labelled, template())
    assert pod_template_hash(template(), collision_count=1) != first


def test_percentages_round_surge_up_and_unavailable_down() -> None:
    assert resolve_int_or_percent("25%", 10, True) == 3
    assert resolve_int_or_percent("25%", 10, False) == 2
    assert resolve_int_or_percent(2, 10, False) == 2
    assert surge_and_unavailable(deployment(10)) == (3, 2)
    zero = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    assert surge_and_unavailable(deployment(10, zero)) == (0, 1)
    assert surge_and_unavailable(deployment(3, {"type": "Recreate"})) == (0, 3)


def simulate(desired: int, surge: int, unavailable: int) -> list[tuple[int, int]]:
    """Run the planner as the controller would, with pods becoming available at once."""
    new = RSView("new", 0, revision=2)
    old = RSView("old", desired, available=desired, actual=desired, revision=1)
    steps = []
    for _ in range(50):
        plan = plan_rolling_update(desired, new, [old], surge, unavailable)
        if not plan.scale:
            break
        new.replicas = plan.scale.get("new", new.replicas)
        old.replicas = plan.scale.get("old", old.replicas)
        # Never more than desired+surge pods, never fewer than desired-unavailable available.
        assert new.replicas + old.replicas <= desired + surge
        assert new.available + min(old.available, old.replicas) >= desired - unavailable
        new.available = new.actual = new.replicas
        old.available = old.actual = old.replicas
        steps.append((new.replicas, old.replicas))
    return steps


def test_rolling_update_with_surge_only_replaces_pods_one_at_a_time() -> None:
    steps = simulate(desired=3, surge=1, unavailable=0)
    assert steps[0] == (1, 3)
    assert steps[-1] == (3, 0)
    assert all(new + old <= 4 for new, old in steps)


def test_rolling_update_with_unavailability_scales_old_down_first() -> None:
    steps = simulate(desired=4, surge=0, unavailable=1)
    assert steps[0] == (0, 3)
    assert steps[-1] == (4, 0)


def test_rolling_update_waits_for_new_pods_to_become_available() -> None:
    new = RSView("new", 1, available=0, actual=1, revision=2)
    old = RSView("old", 3, available=3, actual=3, revision=1)
    plan = plan_rolling_update(3, new, [old], 1, 0)
    assert plan.scale == {}  # the new pod is not available yet: nothing else may move


def test_unhealthy_old_replicas_are_removed_first() -> None:
    new = RSView("new", 1, available=0, actual=1, revision=3)
    broken = RSView("broken", 2, available=0, actual=2, revision=2)
    good = RSView("good", 2, available=2, actual=2, revision=1)
    plan = plan_rolling_update(3, new, [broken, good], 1, 1)
    assert plan.scale.get("broken", 2) < 2
    assert "good" not in plan.scale or plan.scale["good"] >= 1


def test_recreate_scales_old_to_zero_and_waits_for_their_pods() -> None:
    new = RSView("new", 0, revision=2)
    old = RSView("old", 2, available=2, actual=2, revision=1)
    assert plan_recreate(2, new, [old], old_pods_exist=True).scale == {"old": 0}
    old.replicas = 0
    assert plan_recreate(2, new, [old], old_pods_exist=True).scale == {}
    old.actual = 0
    assert plan_recreate(2, new, [old], old_pods_exist=False).scale == {"new": 2}


def test_revision_history_limit_deletes_the_oldest_idle_replicasets() -> None:
    olds = [RSView(f"rs{i}", 0, revision=i) for i in range(1, 6)]
    olds.append(RSView("busy", 1, actual=1, revision=0))
    assert history_to_delete(olds, 2) == ["rs1", "rs2", "rs3"]
    assert history_to_delete(olds, None) == []
    assert history_to_delete(olds, 0) == ["rs1", "rs2", "rs3", "rs4", "rs5"]


def cond(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_status_counts_and_complete_rollout_conditions() -> None:
    d = deployment(2)
    new = RSView("web-abc", 2, available=2, ready=2, actual=2, revision=1)
    status = deployment_status(d, new, [], NOW)
    assert status["replicas"] == status["updatedReplicas"] == status["availableReplicas"] == 2
    assert status["unavailableReplicas"] == 0
    assert status["observedGeneration"] == 2
    assert cond(status, "Available")["status"] == "True"
    assert cond(status, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert (
        cond(status, "Progressing")["message"]
        == 'ReplicaSet "web-abc" has successfully progressed.'
    )


def test_progress_deadline_exceeded_after_no_progress() -> None:
    d = deployment(2, progressDeadlineSeconds=30)
    new = RSView("web-abc", 2, available=0, ready=0, actual=2, revision=1)
    first = deployment_status(d, new, [], NOW, new_rs_created=True)
    assert cond(first, "Progressing")["reason"] == "NewReplicaSetCreated"
    assert cond(first, "Available")["status"] == "False"
    d["status"] = first
    later = deployment_status(d, new, [], NOW + dt.timedelta(seconds=10))
    assert cond(later, "Progressing")["status"] == "True"
    d["status"] = later
    stuck = deployment_status(d, new, [], NOW + dt.timedelta(seconds=45))
    assert cond(stuck, "Progressing")["status"] == "False"
    assert cond(stuck, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    # Progress made afterwards sets Progressing back to True.
    d["status"] = stuck
    new.available = new.ready = 2
    recovered = deployment_status(d, new, [], NOW + dt.timedelta(seconds=50))
    assert cond(recovered, "Progressing")["status"] == "True"
