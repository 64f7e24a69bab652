"""Rooms never take over another's objects, and every child is kept as rendered.

Against kubesandbox (or a real cluster with --cluster=kubeconfig), driven with the real
kubectl as a user or an attacker with edit rights in the namespace would.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Kubectl,
    OperatorProcess,
    condition,
    event_reasons,
    new_namespace,
    room_events,
    room_manifest,
    run_operator,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPAIR_TIMEOUT = 30  # seconds: "within seconds", with room for a busy 2-core machine


@pytest.fixture(scope="module")
def ns(kubeconfig: str, crd: None) -> Iterator[Kubectl]:
    yield from new_namespace(kubeconfig, "own")


@pytest.fixture(scope="module")
def operator(
    kubeconfig: str, ns: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    # No resync: every repair below must come from the watches, within seconds.
    yield from run_operator(
        kubeconfig, tmp_path_factory.mktemp("operator"), ns.namespace, "--probe-interval", "1"
    )


def operator_writes(counter: Callable[[], list[str]]) -> list[str]:
    return [w for w in counter() if "gameroom-operator" in w]


# ---- names: collisions are impossible, conflicts are refused ------------------------------


def test_a_room_named_after_anothers_admin_service_is_refused_in_either_order(
    ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = ns
    # The colliding name first: refused at admission, naming the suffix.
    refused = kubectl.run(
        "apply", "-f", "-", stdin=json.dumps(room_manifest("duo-admin")), check=False
    )
    assert refused.returncode != 0
    assert "metadata.name must not end with '-admin'" in refused.stderr
    kubectl.apply(room_manifest("duo"))
    wait_ready(kubectl, "duo")
    # Then the other order: room duo exists, duo-admin is still refused.
    again = kubectl.run(
        "apply", "-f", "-", stdin=json.dumps(room_manifest("duo-admin")), check=False
    )
    assert again.returncode != 0 and "must not end with '-admin'" in again.stderr
    admin = kubectl.json("service", "duo-admin")
    assert admin["metadata"]["ownerReferences"][0]["name"] == "duo"
    assert admin["spec"]["ports"][0]["port"] == 8081


def test_a_hand_made_service_is_never_taken_over(
    ns: Kubectl, operator: OperatorProcess, sandbox_write_counter: Any
) -> None:
    kubectl = ns
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "tower"},
            "spec": {"selector": {"app": "mine"}, "ports": [{"port": 9999}]},
        }
    )
    counter = sandbox_write_counter(kubectl.namespace)
    kubectl.apply(room_manifest("tower"))

    def conflicted() -> dict[str, Any] | None:
        room = kubectl.maybe("gameroom", "tower")
        ready = condition(room or {}, "Ready")
        return room if ready.get("reason") == "NameConflict" else None

    room = wait_for("Ready=False with reason NameConflict", conflicted, 60)
    ready = condition(room, "Ready")
    assert ready["status"] == "False"
    assert "Service tower" in ready["message"] and "nobody" in ready["message"]
    assert room["status"]["phase"] == "Failed"
    assert condition(room, "Stalled")["status"] == "True"
    warning = wait_for(
        "a NameConflict Warning",
        lambda: [e for e in room_events(kubectl, "tower") if e["reason"] == "NameConflict"],
        30,
    )
    assert warning[0]["type"] == "Warning" and "Service tower" in warning[0]["message"]
    service = kubectl.json("service", "tower")
    assert service["spec"]["selector"] == {"app": "mine"}
    assert not service["metadata"].get("ownerReferences")
    # No Deployment starts on someone else's Service, and no retry loop: the writes stop.
    assert kubectl.maybe("deployment", "tower") is None
    settled = len(operator_writes(counter))
    room_version = kubectl.json("gameroom", "tower")["metadata"]["resourceVersion"]
    # A window longer than the first retry delay (5 s) in which nothing may happen: this
    # can only pass wrongly on a slow machine, never fail wrongly.
    time.sleep(7)
    assert len(operator_writes(counter)) == settled, operator_writes(counter)[settled:]
    assert kubectl.json("gameroom", "tower")["metadata"]["resourceVersion"] == room_version
    assert event_reasons(kubectl, "tower").count("NameConflict") == 1
    # Once the owner deletes the Service, the room takes its name: no change to the room needed.
    kubectl.run("delete", "service", "tower")
    wait_ready(kubectl, "tower")
    assert kubectl.json("service", "tower")["metadata"]["ownerReferences"][0]["name"] == "tower"


def test_another_rooms_object_is_never_written(ns: Kubectl, operator: OperatorProcess) -> None:
    kubectl = ns
    kubectl.apply(room_manifest("beta"))
    beta = wait_ready(kubectl, "beta")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "gamma-config",
                "labels": {"drawgame.dev/room": "beta"},
                "ownerReferences": [
                    {
                        "apiVersion": "drawgame.dev/v1alpha1",
                        "kind": "GameRoom",
                        "name": "beta",
                        "uid": beta["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "data": {"note": "beta's"},
        }
    )
    kubectl.apply(room_manifest("gamma"))
    room = wait_for(
        "NameConflict",
        lambda: (
            r
            if condition(r := kubectl.json("gameroom", "gamma"), "Ready").get("reason")
            == "NameConflict"
            else None
        ),
        60,
    )
    assert "ConfigMap gamma-config" in condition(room, "Ready")["message"]
    assert "GameRoom beta" in condition(room, "Ready")["message"]
    assert kubectl.json("configmap", "gamma-config")["data"] == {"note": "beta's"}
    assert wait_ready(kubectl, "beta")["status"]["phase"] == "Ready"


def test_an_orphaned_child_of_a_deleted_room_is_adopted_with_an_event(
    ns: Kubectl, operator: OperatorProcess
) -> None:
    kubectl = ns
    kubectl.apply(room_manifest("phoenix"))
    wait_ready(kubectl, "phoenix")
    old_config = kubectl.json("configmap", "phoenix-config")["metadata"]["uid"]
    kubectl.run("delete", "gameroom", "phoenix", "--cascade=orphan")
    wait_for("the room gone", lambda: kubectl.maybe("gameroom", "phoenix") is None, 60)
    wait_for(
        "the orphan without owner",
        lambda: not kubectl.json("configmap", "phoenix-config")["metadata"].get("ownerReferences"),
        60,
    )
    kubectl.apply(room_manifest("phoenix"))
    room = wait_ready(kubectl, "phoenix")
    config = kubectl.json("configmap", "phoenix-config")
    assert config["metadata"]["uid"] == old_config  # adopted, not recreated
    assert config["metadata"]["ownerReferences"][0]["uid"] == room["metadata"]["uid"]
    adopted = wait_for(
        "an Adopted event",
        lambda: [e for e in room_events(kubectl, "phoenix") if e["reason"] == "Adopted"],
        30,
    )
    assert any("ConfigMap/phoenix-config" in e["message"] for e in adopted)


# ---- drift: every child is put back within seconds ----------------------------------------


@pytest.fixture(scope="module")
def drifty(ns: Kubectl, operator: OperatorProcess) -> str:
    ns.apply(
        room_manifest(
            "drifty", expose={"ingress": {"host": "drifty.example.com", "className": "nginx"}}
        )
    )
    wait_ready(ns, "drifty")
    return "drifty"


PLURALS = {
    "Service": "services",
    "ConfigMap": "configmaps",
    "NetworkPolicy": "networkpolicies",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Ingress": "ingresses",
}


def repaired_once(
    kubectl: Kubectl,
    counter: Callable[[], list[str]],
    label: str,
    check: Callable[[], bool],
    field: str,
) -> None:
    """Wait for the repair, then: one DriftRepaired event naming the object and the field,
    and one operator write to that object (a patch, no loop)."""
    wait_for(f"{label} put back", check, REPAIR_TIMEOUT)
    kind, name = label.split("/")
    plural = PLURALS[kind]

    def event() -> list[dict[str, Any]]:
        return [
            e
            for e in room_events(kubectl, "drifty")
            if e["reason"] == "DriftRepaired" and label in e["message"] and field in e["message"]
        ]

    wait_for(f"a DriftRepaired event naming {label} and {field}", event, REPAIR_TIMEOUT)
    writes = [w for w in operator_writes(counter) if f"/{plural}/{name} " in w]
    assert len(writes) == 1 and writes[0].startswith("PATCH"), writes


def test_a_services_selector_edit_is_put_back(
    ns: Kubectl, drifty: str, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    wanted = ns.json("service", "drifty")["spec"]["selector"]
    ns.run(
        "patch",
        "service",
        "drifty",
        "--type=merge",
        "-p",
        '{"spec":{"selector":{"app.kubernetes.io/instance":"beta"}}}',
    )
    repaired_once(
        ns,
        counter,
        "Service/drifty",
        lambda: ns.json("service", "drifty")["spec"]["selector"] == wanted,
        "spec.selector",
    )


def test_an_opened_network_policy_is_closed_again(
    ns: Kubectl, drifty: str, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    wanted = ns.json("networkpolicy", "drifty-admin")["spec"]["ingress"]
    ns.run(
        "patch", "networkpolicy", "drifty-admin", "--type=merge", "-p", '{"spec":{"ingress":[{}]}}'
    )
    repaired_once(
        ns,
        counter,
        "NetworkPolicy/drifty-admin",
        lambda: ns.json("networkpolicy", "drifty-admin")["spec"]["ingress"] == wanted,
        "spec.ingress",
    )


def test_an_edited_config_is_put_back(ns: Kubectl, drifty: str, sandbox_write_counter: Any) -> None:
    counter = sandbox_write_counter(ns.namespace)
    wanted = ns.json("configmap", "drifty-config")["data"]["config.yaml"]
    edited = wanted.replace("maxPlayers: 12", "maxPlayers: 24")
    assert edited != wanted
    ns.run(
        "patch",
        "configmap",
        "drifty-config",
        "--type=merge",
        "-p",
        json.dumps({"data": {"config.yaml": edited}}),
    )
    repaired_once(
        ns,
        counter,
        "ConfigMap/drifty-config",
        lambda: ns.json("configmap", "drifty-config")["data"]["config.yaml"] == wanted,
        "data.config.yaml",
    )


def test_a_volume_without_its_label_stays_watched_and_is_relabelled(
    ns: Kubectl, drifty: str, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    ns.run("label", "pvc", "drifty-data", "app.kubernetes.io/managed-by-")
    repaired_once(
        ns,
        counter,
        "PersistentVolumeClaim/drifty-data",
        lambda: (
            ns.json("pvc", "drifty-data")["metadata"]["labels"].get("app.kubernetes.io/managed-by")
            == "gameroom-operator"
        ),
        "metadata.labels.app.kubernetes.io/managed-by",
    )


def test_labels_others_add_are_kept(ns: Kubectl, drifty: str, sandbox_write_counter: Any) -> None:
    counter = sandbox_write_counter(ns.namespace)
    ns.run("label", "service", "drifty", "team=red")
    ns.run("annotate", "service", "drifty", "example.com/owner=ops")
    # A later edit that does drift is repaired; the co-owned label and annotation stay.
    ns.run(
        "patch",
        "service",
        "drifty",
        "--type=merge",
        "-p",
        '{"spec":{"ports":[{"name":"http","port":81,"targetPort":"http"}]}}',
    )
    wait_for(
        "the port put back",
        lambda: ns.json("service", "drifty")["spec"]["ports"][0]["port"] == 80,
        REPAIR_TIMEOUT,
    )
    service = ns.json("service", "drifty")
    assert service["metadata"]["labels"]["team"] == "red"
    assert service["metadata"]["annotations"]["example.com/owner"] == "ops"
    assert len([w for w in operator_writes(counter) if "/services/drifty " in w]) == 1


DEPLOYMENT_EDITS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("paused", {"spec": {"paused": True}}, lambda d: not d["spec"].get("paused")),
    (
        "hostNetwork",
        {"spec": {"template": {"spec": {"hostNetwork": True}}}},
        lambda d: not d["spec"]["template"]["spec"].get("hostNetwork"),
    ),
    (
        "hostPID",
        {"spec": {"template": {"spec": {"hostPID": True}}}},
        lambda d: not d["spec"]["template"]["spec"].get("hostPID"),
    ),
    (
        "hostIPC",
        {"spec": {"template": {"spec": {"hostIPC": True}}}},
        lambda d: not d["spec"]["template"]["spec"].get("hostIPC"),
    ),
    (
        "serviceAccountName",
        {"spec": {"template": {"spec": {"serviceAccountName": "default"}}}},
        lambda d: not d["spec"]["template"]["spec"].get("serviceAccountName"),
    ),
    (
        "automountServiceAccountToken",
        {"spec": {"template": {"spec": {"automountServiceAccountToken": True}}}},
        lambda d: d["spec"]["template"]["spec"].get("automountServiceAccountToken") is False,
    ),
]


@pytest.mark.parametrize(
    ("field", "patch", "restored"), DEPLOYMENT_EDITS, ids=[e[0] for e in DEPLOYMENT_EDITS]
)
def test_a_loosened_deployment_is_put_back(
    ns: Kubectl,
    drifty: str,
    field: str,
    patch: dict[str, Any],
    restored: Callable[[dict[str, Any]], bool],
) -> None:
    ns.run("patch", "deployment", "drifty", "--type=merge", "-p", json.dumps(patch))
    wait_for(f"{field} put back", lambda: restored(ns.json("deployment", "drifty")), REPAIR_TIMEOUT)


@pytest.mark.parametrize(
    ("field", "security", "restored"),
    [
        ("privileged", {"privileged": True}, lambda s: not s.get("privileged")),
        (
            "capabilities.add",
            {"capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]}},
            lambda s: not s["capabilities"].get("add"),
        ),
        (
            "allowPrivilegeEscalation",
            {"allowPrivilegeEscalation": True},
            lambda s: s.get("allowPrivilegeEscalation") is False,
        ),
    ],
)
def test_a_privileged_container_is_put_back(
    ns: Kubectl,
    drifty: str,
    field: str,
    security: dict[str, Any],
    restored: Callable[[dict[str, Any]], bool],
) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "gameserver", "securityContext": security}]}
            }
        }
    }
    # A strategic merge patch, as `kubectl patch` sends by default: it merges by container name.
    ns.run("patch", "deployment", "drifty", "-p", json.dumps(patch))

    def put_back() -> bool:
        container = ns.json("deployment", "drifty")["spec"]["template"]["spec"]["containers"][0]
        return restored(container["securityContext"])

    wait_for(f"{field} put back", put_back, REPAIR_TIMEOUT)


def test_a_host_path_volume_is_removed(ns: Kubectl, drifty: str) -> None:
    patch = [
        {
            "op": "add",
            "path": "/spec/template/spec/volumes/-",
            "value": {"name": "host", "hostPath": {"path": "/"}},
        }
    ]
    ns.run("patch", "deployment", "drifty", "--type=json", "-p", json.dumps(patch))

    def put_back() -> bool:
        volumes = ns.json("deployment", "drifty")["spec"]["template"]["spec"]["volumes"]
        return not any("hostPath" in v for v in volumes)

    wait_for("the hostPath volume removed", put_back, REPAIR_TIMEOUT)


def test_removing_the_ingress_class_removes_it(ns: Kubectl, drifty: str) -> None:
    assert ns.json("ingress", "drifty")["spec"]["ingressClassName"] == "nginx"
    ns.run(
        "patch",
        "gameroom",
        "drifty",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/expose/ingress/className"}]',
    )
    wait_for(
        "the class removed",
        lambda: not ns.json("ingress", "drifty")["spec"].get("ingressClassName"),
        REPAIR_TIMEOUT,
    )
    wait_ready(ns, "drifty")


def test_an_edited_admin_token_rolls_the_room(kubeconfig: str, crd: None, tmp_path: Path) -> None:
    """The Secret is not watched (that needs list/watch on every Secret of the cluster): the
    resync reads it, and the token's hash on the Pod template rolls the Pod, so the room and
    the operator never hold different tokens."""
    name = f"tok-{uuid.uuid4().hex[:8]}"
    kubectl = Kubectl(kubeconfig, name)
    kubectl.create_namespace(name)
    operator = OperatorProcess(
        kubeconfig,
        tmp_path / "operator.log",
        "--namespaces",
        name,
        "--probe-interval",
        "1",
        "--resync-interval",
        "2",
    )
    operator.start()
    try:
        kubectl.apply(room_manifest("vault"))
        wait_ready(kubectl, "vault")
        old_hash = kubectl.json("deployment", "vault")["spec"]["template"]["metadata"][
            "annotations"
        ]["drawgame.dev/admin-token-hash"]
        token = base64.b64encode(b"a-new-token-set-by-hand-0123456789").decode()
        kubectl.run(
            "patch",
            "secret",
            "vault-admin-token",
            "--type=merge",
            "-p",
            json.dumps({"data": {"token": token}}),
        )

        def rolled_and_healthy() -> bool:
            deployment = kubectl.json("deployment", "vault")
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            room = kubectl.json("gameroom", "vault")
            return (
                annotations["drawgame.dev/admin-token-hash"] != old_hash
                and room["status"].get("phase") == "Ready"
                and room["status"].get("healthSummary") == "healthy"
            )

        wait_for("the Pod rolled to the new token and the room healthy", rolled_and_healthy, 120)
    finally:
        operator.stop()
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def test_a_burst_of_spec_changes_is_coalesced(ns: Kubectl, operator: OperatorProcess) -> None:
    """20 edits in 5 s: the changes that arrive while a rollout starts wait for its Pod, so
    the room rolls a few times, not 20, and ends on the last edit."""
    ns.apply(room_manifest("burst", rollout={"liveSettings": False}))  # settings restart
    wait_ready(ns, "burst")
    revision = "deployment.kubernetes.io/revision"
    before = int(ns.json("deployment", "burst")["metadata"]["annotations"][revision])
    for rounds in range(1, 11):
        for draw in (31, 32):
            spec = {"game": {"rounds": rounds, "drawTimeSeconds": draw}}
            ns.run("patch", "gameroom", "burst", "--type=merge", "-p", json.dumps({"spec": spec}))
            time.sleep(0.25)  # pacing the edits, as a user clicking fast would (not a wait)

    def settled() -> dict[str, Any] | None:
        room = ns.json("gameroom", "burst")
        config = ns.json("configmap", "burst-config")["data"]["config.yaml"]
        ready = condition(room, "Ready").get("status") == "True"
        progressing = condition(room, "Progressing").get("status") == "False"
        done = "rounds: 10" in config and "drawTimeSeconds: 32" in config
        return room if ready and progressing and done else None

    wait_for("the last edit applied and rolled out", settled, 120)
    rollouts = int(ns.json("deployment", "burst")["metadata"]["annotations"][revision]) - before
    applied = event_reasons(ns, "burst").count("SettingsApplied")
    print(f"20 edits in 5 s: {rollouts} rollouts, {applied} SettingsApplied events")
    assert 1 <= rollouts <= 4, f"{rollouts} rollouts for 20 edits"
    assert applied <= 4, f"{applied} SettingsApplied events for 20 edits"


def test_an_edited_ingress_is_put_back(
    ns: Kubectl, drifty: str, sandbox_write_counter: Any
) -> None:
    counter = sandbox_write_counter(ns.namespace)
    patch = [{"op": "replace", "path": "/spec/rules/0/host", "value": "evil.example.com"}]
    ns.run("patch", "ingress", "drifty", "--type=json", "-p", json.dumps(patch))
    repaired_once(
        ns,
        counter,
        "Ingress/drifty",
        lambda: ns.json("ingress", "drifty")["spec"]["rules"][0]["host"] == "drifty.example.com",
        "spec.rules",
    )
