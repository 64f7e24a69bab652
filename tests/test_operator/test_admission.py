"""Invalid GameRooms are refused at admission by the CRD's schema and CEL rules.

Each case is sent to the API server (kubesandbox, or a real cluster with
--cluster=kubeconfig) with `kubectl apply`; the error must name the field and the rule.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .harness import ROOT, Kubectl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def room(spec: dict[str, Any], name: str = "bad-room") -> dict[str, Any]:
    return {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {"name": name},
        "spec": spec,
    }


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "too few players",
        room({"game": {"maxPlayers": 1}}),
        ["spec.game.maxPlayers", "greater than or equal to 2"],
    ),
    (
        "too many players",
        room({"game": {"maxPlayers": 25}}),
        ["spec.game.maxPlayers", "less than or equal to 24"],
    ),
    ("zero rounds", room({"game": {"rounds": 0}}), ["spec.game.rounds", "greater than or equal"]),
    (
        "draw time too short",
        room({"game": {"drawTimeSeconds": 10}}),
        ["spec.game.drawTimeSeconds", "greater than or equal to 30"],
    ),
    (
        "too many word choices",
        room({"game": {"wordChoices": 6}}),
        ["spec.game.wordChoices", "less than or equal to 5"],
    ),
    (
        "custom word too long",
        room({"game": {"customWords": ["x" * 33]}}),
        ["spec.game.customWords[0]", "may not be more than 32"],
    ),
    (
        "empty custom word",
        room({"game": {"customWords": [""]}}),
        ["spec.game.customWords[0]", "at least 1"],
    ),
    (
        "too many custom words",
        room({"game": {"customWords": [f"w{i}" for i in range(1001)]}}),
        ["spec.game.customWords", "1000"],
    ),
    (
        "custom words only without enough words",
        room({"game": {"customWordsOnly": True, "customWords": ["cat"], "wordChoices": 3}}),
        ["spec.game.customWords", "customWordsOnly needs at least game.wordChoices words"],
    ),
    (
        "unknown pull policy",
        room({"imagePullPolicy": "Sometimes"}),
        ["spec.imagePullPolicy", "Unsupported value", "Sometimes"],
    ),
    (
        "unknown service type",
        room({"expose": {"type": "ExternalName"}}),
        ["spec.expose.type", "Unsupported value"],
    ),
    (
        "node port on a ClusterIP service",
        room({"expose": {"type": "ClusterIP", "nodePort": 30080}}),
        ["spec.expose.nodePort", "needs expose.type NodePort or LoadBalancer"],
    ),
    (
        "ingress without host",
        room({"expose": {"ingress": {"className": "nginx"}}}),
        ["spec.expose.ingress.host", "Required value"],
    ),
    (
        "wildcard host with TLS",
        room({"expose": {"ingress": {"host": "*.example.com", "tlsSecretName": "tls"}}}),
        ["spec.expose.ingress.host", "concrete host name"],
    ),
    (
        "chat burst below the chat rate",
        room({"rateLimits": {"chatPerSecond": 10, "chatBurst": 2}}),
        ["spec.rateLimits.chatBurst", "at least rateLimits.chatPerSecond"],
    ),
    (
        "health timeout not below the period",
        room({"health": {"periodSeconds": 10, "timeoutSeconds": 10}}),
        ["spec.health.timeoutSeconds", "shorter than health.periodSeconds"],
    ),
    (
        "backup schedule is not cron",
        room({"backup": {"schedule": "every day"}}),
        ["spec.backup.schedule", "should match"],
    ),
    (
        "drill schedule is not cron",
        room({"backup": {"drill": {"schedule": "monthly please"}}}),
        ["spec.backup.drill.schedule", "should match"],
    ),
    (
        "backup retention count zero",
        room({"backup": {"retention": {"count": 0}}}),
        ["spec.backup.retention.count", "greater than or equal to 1"],
    ),
    (
        "backup retention age negative",
        room({"backup": {"retention": {"maxAgeDays": -1}}}),
        ["spec.backup.retention.maxAgeDays", "greater than or equal to 0"],
    ),
    (
        "backup retention as a bare count (the old shape)",
        room({"backup": {"retention": 7}}),
        ["spec.backup.retention", "must be of type object"],
    ),
    (
        "restore naming both its own backup and another room's",
        room(
            {
                "restore": {
                    "backupName": "latest",
                    "fromRoom": {"name": "vault"},
                    "requestId": "1",
                }
            }
        ),
        ["spec.restore", "exactly one of restore.backupName", "restore.fromRoom"],
    ),
    (
        "restore naming no backup",
        room({"restore": {"requestId": "1"}}),
        ["spec.restore", "exactly one of restore.backupName"],
    ),
    (
        "clone from a room name that is not a room name",
        room({"restore": {"fromRoom": {"name": "Vault!"}, "requestId": "1"}}),
        ["spec.restore.fromRoom.name", "should match"],
    ),
    (
        "clone of an unknown file name",
        room({"restore": {"fromRoom": {"name": "vault", "backupName": "x.sql"}, "requestId": "1"}}),
        ["spec.restore.fromRoom.backupName", "should match"],
    ),
    (
        "clone without the room's name",
        room({"restore": {"fromRoom": {"backupName": "latest"}, "requestId": "1"}}),
        ["spec.restore.fromRoom.name", "Required value"],
    ),
    (
        "restore of an unknown file name",
        room({"restore": {"backupName": "dump.sql", "requestId": "1"}}),
        ["spec.restore.backupName", "should match"],
    ),
    (
        "storage size is not a quantity",
        room({"storage": {"size": "lots"}}),
        ["spec.storage.size", "should match"],
    ),
    (
        "maintenance message too long",
        room({"maintenance": {"enabled": True, "message": "m" * 281}}),
        ["spec.maintenance.message", "may not be more than 280"],
    ),
    (
        "name too long for its children",
        room({}, name="a-room-whose-name-is-far-too-long-for-services"),
        ["metadata.name must be at most 40 characters"],
    ),
    (
        "name with a dot (not a Service name)",
        room({}, name="my.room"),
        ["metadata.name must be a DNS-1035 label"],
    ),
    (
        "name starting with a digit (not a Service name)",
        room({}, name="2048"),
        ["metadata.name must be a DNS-1035 label"],
    ),
    (
        "memory limit below its request",
        room({"resources": {"requests": {"memory": "512Mi"}, "limits": {"memory": "256Mi"}}}),
        ["resources.limits.memory must be at least resources.requests.memory"],
    ),
    (
        "cpu limit below its request, in other units",
        room({"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "500m"}}}),
        ["resources.limits.cpu must be at least resources.requests.cpu"],
    ),
    *[
        (
            f"name ending with {suffix}",
            room({}, name=f"duo{suffix}"),
            [f"metadata.name must not end with '{suffix}'"],
        )
        for suffix in ("-admin", "-config", "-admin-token", "-data", "-backup", "-restore")
    ],
]


@pytest.fixture(scope="module")
def kubectl(sandbox_kubeconfig: str) -> Iterator[Kubectl]:
    admin = Kubectl(sandbox_kubeconfig, "default")
    admin.run("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"))
    admin.run("wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s")
    namespace = f"adm-{uuid.uuid4().hex[:8]}"
    admin.create_namespace(namespace)
    yield Kubectl(sandbox_kubeconfig, namespace)
    admin.run("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [pytest.param(m, e, id=case) for case, m, e in INVALID],
)
def test_invalid_room_is_refused_with_a_clear_message(
    kubectl: Kubectl, manifest: dict[str, Any], expected: list[str]
) -> None:
    result = kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest), check=False)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    for fragment in expected:
        assert fragment in result.stderr, result.stderr
    assert kubectl.maybe("gameroom", manifest["metadata"]["name"]) is None


def test_the_crd_reserves_exactly_the_childrens_suffixes() -> None:
    """The CRD's rules and the operator's naming agree, and with them no two rooms' children
    can share a name (checked over every pair of suffixes)."""
    from gameroom_operator import names

    crd = (ROOT / "crds" / "gameroom.yaml").read_text()
    reserved = tuple(
        line.split("endsWith('")[1].split("'")[0]
        for line in crd.splitlines()
        if "metadata.name.endsWith(" in line
    )
    assert reserved == names.RESERVED_SUFFIXES
    kinds = {"Service": [names.game_service, names.admin_service]}
    kinds["ConfigMap"] = [names.config_map]
    kinds["Secret"] = [names.admin_secret]
    kinds["PersistentVolumeClaim"] = [names.data_pvc]
    kinds["NetworkPolicy"] = [names.network_policy]
    kinds["Deployment"] = [names.deployment]
    for makers in kinds.values():
        for make_a in makers:
            for make_b in makers:
                suffix_a, suffix_b = make_a(""), make_b("")
                # a + suffix_a == b + suffix_b with a != b needs one suffix to end the other,
                # the longer one's extra part then ends a room name: which the CRD refuses
                if suffix_a != suffix_b and suffix_a.endswith(suffix_b):
                    extra = suffix_a[: len(suffix_a) - len(suffix_b)]
                    assert any(extra.endswith(r) for r in reserved) or not extra
                if suffix_a != suffix_b and suffix_b.endswith(suffix_a):
                    extra = suffix_b[: len(suffix_b) - len(suffix_a)]
                    assert any(extra.endswith(r) for r in reserved), (suffix_a, suffix_b)
    for suffix in names.CHILD_SUFFIXES:
        assert suffix in reserved


def test_limits_equal_to_or_above_requests_are_accepted(kubectl: Kubectl) -> None:
    resources = {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": 1, "memory": "1024Mi"},
    }
    manifest = room({"resources": resources}, name="roomy")
    kubectl.run("apply", "-f", "-", stdin=json.dumps(manifest))
    assert kubectl.json("gameroom", "roomy")["spec"]["resources"]["limits"]["cpu"] == 1
    kubectl.run("delete", "gameroom", "roomy")


def test_defaults_are_filled_in(kubectl: Kubectl) -> None:
    kubectl.apply(room({}, name="defaults"))
    spec = kubectl.json("gameroom", "defaults")["spec"]
    assert spec["game"]["maxPlayers"] == 12
    assert spec["expose"] == {"type": "ClusterIP", "port": 80}
    assert spec["backup"]["schedule"] == "0 */6 * * *"


def test_storage_class_is_immutable(kubectl: Kubectl) -> None:
    kubectl.apply(room({"storage": {"storageClassName": "fast"}}, name="pinned"))
    result = kubectl.run(
        "patch",
        "gameroom",
        "pinned",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"storage": {"storageClassName": "slow"}}}),
        check=False,
    )
    assert result.returncode != 0
    assert "storageClassName is immutable" in result.stderr


def test_storage_class_cannot_be_added_or_removed_later(kubectl: Kubectl) -> None:
    kubectl.apply(room({}, name="unpinned"))
    for name, storage in (("unpinned", {"storageClassName": "fast"}), ("pinned2", None)):
        if storage is None:
            kubectl.apply(room({"storage": {"storageClassName": "fast"}}, name=name))
            storage = {"storageClassName": None}
        result = kubectl.run(
            "patch",
            "gameroom",
            name,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"storage": storage}}),
            check=False,
        )
        assert result.returncode != 0, (name, result.stdout)
        assert "spec.storage.storageClassName" in result.stderr, result.stderr
        assert "only be chosen when the room is created" in result.stderr, result.stderr
    # Growing the volume stays possible.
    kubectl.run(
        "patch",
        "gameroom",
        "unpinned",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"storage": {"size": "2Gi"}}}),
    )
    assert kubectl.json("gameroom", "unpinned")["spec"]["storage"]["size"] == "2Gi"


def test_explain_documents_the_spec(kubectl: Kubectl) -> None:
    text = kubectl.run("explain", "gameroom.spec.game").stdout
    assert "maxPlayers" in text and "Most players in the room at once" in text
