"""The pure renderer: a minimal and a full spec, validated against Kubernetes' own schemas."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from gameroom_operator import names as n
from gameroom_operator.render import (
    RenderOptions,
    Room,
    config_hash,
    render_children,
    strip_absent,
    version_of,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-tests"


def example_spec(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / name).read_text())["spec"]


def by_kind(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for child in children:
        key = child["kind"] if child["kind"] != "Service" else child["metadata"]["name"]
        found[key] = child
    return found


MINIMAL = Room(name="tiny", namespace="games", uid="uid-1", spec={})
FULL = Room(
    name="office-party", namespace="games", uid="uid-2", spec=example_spec("gameroom-full.yaml")
)


@pytest.mark.parametrize("room", [MINIMAL, FULL], ids=["minimal", "full"])
@pytest.mark.parametrize("k8s_version", ["1.30.0", "1.37.0"])
def test_every_child_validates_strictly(room: Room, k8s_version: str) -> None:
    for child in render_children(room, TOKEN):
        manifest = strip_absent(child)
        try:
            kubernetes_validate.validate(manifest, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{child['kind']} {child['metadata']['name']}: {error}")


def test_minimal_room_has_fixed_names_owner_and_labels() -> None:
    children = render_children(MINIMAL, TOKEN)
    names = {(c["kind"], c["metadata"]["name"]) for c in children}
    assert names == {
        ("ConfigMap", "tiny-config"),
        ("Secret", "tiny-admin-token"),
        ("PersistentVolumeClaim", "tiny-data"),
        ("Service", "tiny"),
        ("Service", "tiny-admin"),
        ("NetworkPolicy", "tiny-admin"),
        ("Deployment", "tiny"),
    }
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "games"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "drawgame.dev/v1alpha1",
                "kind": "GameRoom",
                "name": "tiny",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"]["app.kubernetes.io/instance"] == "tiny"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "gameroom-operator"
        assert meta["labels"]["app.kubernetes.io/version"] == "0.1.0"


def test_minimal_room_gets_default_image_and_game_settings() -> None:
    kids = by_kind(render_children(MINIMAL, TOKEN, RenderOptions(default_image="reg/x:9.9")))
    container = kids["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg/x:9.9"
    config = yaml.safe_load(kids["ConfigMap"]["data"]["config.yaml"])
    assert config == {
        "roomName": "tiny",
        "game": {
            "maxPlayers": 12,
            "rounds": 3,
            "drawTimeSeconds": 80,
            "wordChoices": 3,
            "hints": 3,
            "language": "en",
            "customWordsOnly": False,
            "customWords": [],
        },
        "rateLimits": {
            "chatPerSecond": 1.6667,
            "chatBurst": 5,
            "drawPerSecond": 60,
            "drawBurst": 120,
            "maxMessageBytes": 16384,
        },
        "maintenance": {"enabled": False, "message": ""},
        "reconnectGraceSeconds": 60,
    }
    assert "Ingress" not in kids


def test_deployment_is_locked_down_and_probed() -> None:
    deployment = by_kind(render_children(MINIMAL, TOKEN))["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] >= 30
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert strip_absent(security["capabilities"]) == {"drop": ["ALL"]}
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "preStop" in container["lifecycle"]
    assert container["command"] == ["python", "-m", "gameserver"]
    args = container["args"]
    assert args[0] == "serve"
    assert args[args.index("--config") + 1] == "/etc/gameroom/config.yaml"
    assert args[args.index("--admin-token-file") + 1] == "/var/run/gameroom/admin/token"
    assert args[args.index("--db") + 1].startswith("/data/")
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations[n.CONFIG_HASH_ANNOTATION] == config_hash(MINIMAL)


def test_secret_carries_the_given_token() -> None:
    secret = by_kind(render_children(MINIMAL, TOKEN))["Secret"]
    assert base64.b64decode(secret["data"]["token"]).decode() == TOKEN


def test_full_room_renders_every_option() -> None:
    kids = by_kind(render_children(FULL, TOKEN))
    pod = kids["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "fun"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert pod["spec"]["priorityClassName"] == "game-rooms"
    node_affinity = pod["spec"]["affinity"]["nodeAffinity"]
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 50
    assert kids["PersistentVolumeClaim"]["spec"]["storageClassName"] == "standard"
    assert kids["office-party"]["spec"]["type"] == "NodePort"
    assert kids["office-party"]["spec"]["ports"][0]["nodePort"] == 30080
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "256Mi"}
    assert kids["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    config = yaml.safe_load(kids["ConfigMap"]["data"]["config.yaml"])
    assert config["game"]["maxPlayers"] == 16
    assert "coffee machine" in config["game"]["customWords"]
    assert config["rateLimits"]["chatPerSecond"] == 2
    ingress = kids["Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "party.games.example.com"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["party.games.example.com"], "secretName": "party-games-tls"}
    ]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "office-party"


def test_user_labels_cannot_override_the_operators() -> None:
    room = Room(
        name="r",
        namespace="ns",
        uid="u",
        spec={"podTemplate": {"labels": {"app.kubernetes.io/instance": "evil", "x": "y"}}},
    )
    labels = by_kind(render_children(room, TOKEN))["Deployment"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert labels["app.kubernetes.io/instance"] == "r"
    assert labels["x"] == "y"


def test_admin_port_is_only_open_to_the_operator_and_room_jobs() -> None:
    kids = by_kind(render_children(MINIMAL, TOKEN))
    game_ports = [p["port"] for p in kids["tiny"]["spec"]["ports"]]
    assert game_ports == [80]
    assert kids["tiny-admin"]["spec"]["type"] == "ClusterIP"
    rules = kids["NetworkPolicy"]["spec"]["ingress"]
    open_rule = next(r for r in rules if "from" not in r)
    assert [p["port"] for p in open_rule["ports"]] == [8080]
    admin_rule = next(r for r in rules if "from" in r)
    assert [p["port"] for p in admin_rule["ports"]] == [8081]
    peers = admin_rule["from"]
    assert peers[0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "gameroom-operator"}
    # Operator namespace not known: operator Pods in the room's own namespace only.
    assert "namespaceSelector" not in peers[0]
    assert peers[1]["podSelector"]["matchLabels"] == {
        "drawgame.dev/room": "tiny",
        "drawgame.dev/admin-client": "true",
    }


def test_config_hash_follows_game_settings_but_not_maintenance() -> None:
    restart = {"rollout": {"liveSettings": False}}
    base = config_hash(Room("tiny", "games", "uid-1", restart))
    more_rounds = Room("tiny", "games", "uid-1", {**restart, "game": {"rounds": 5}})
    maintenance = Room("tiny", "games", "uid-1", {"maintenance": {"enabled": True, "message": "x"}})
    assert config_hash(more_rounds) != base
    assert config_hash(maintenance) == config_hash(MINIMAL)
    # By default game settings are taken live: no restart for them either.
    assert config_hash(Room("tiny", "games", "uid-1", {"game": {"rounds": 5}})) == config_hash(
        MINIMAL
    )
    maintenance_config = by_kind(render_children(maintenance, TOKEN))["ConfigMap"]
    assert yaml.safe_load(maintenance_config["data"]["config.yaml"])["maintenance"] == {
        "enabled": True,
        "message": "x",
    }


def test_removed_options_are_marked_absent_for_the_patch() -> None:
    deployment = by_kind(render_children(MINIMAL, TOKEN))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] is None and pod["tolerations"] is None
    assert "nodeSelector" not in strip_absent(deployment)["spec"]["template"]["spec"]


def test_node_port_only_for_node_port_services() -> None:
    room = Room("np", "ns", "u", {"expose": {"type": "NodePort", "port": 8000, "nodePort": 30080}})
    service = by_kind(render_children(room, TOKEN))["np"]
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/drawgame/gameroom:0.1.0", "0.1.0"),
        ("localhost:5000/gameroom", "latest"),
        ("localhost:5000/gameroom:1.2", "1.2"),
        ("r/x@sha256:abc", "sha256-abc"),
    ],
)
def test_version_of_image(image: str, version: str) -> None:
    assert version_of(image) == version


def test_admin_port_admits_operator_pods_only_from_the_operators_namespace() -> None:
    options = RenderOptions(operator_namespace="gameroom-system")
    policy = by_kind(render_children(MINIMAL, TOKEN, options))["NetworkPolicy"]
    admin_rule = next(r for r in policy["spec"]["ingress"] if "from" in r)
    assert admin_rule["from"][0] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gameroom-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gameroom-operator"}},
    }
    kubernetes_validate.validate(strip_absent(policy), "1.37.0", strict=True)


def test_ingress_without_class_leaves_the_class_to_the_cluster_default() -> None:
    room = Room("ing", "ns", "u", {"expose": {"ingress": {"host": "ing.example.com"}}})
    ingress = by_kind(render_children(room, TOKEN))["Ingress"]
    # Not even a null: a merge patch would remove the class the cluster's default filled in.
    assert "ingressClassName" not in ingress["spec"]


def test_cached_effective_spec_is_not_changed_by_rendering_or_patching() -> None:
    """The Room computes its effective spec once and children share its values: rendering,
    comparing with a live child and building patches must leave it as it was."""
    import copy

    from gameroom_operator.diff import for_live, merge_patch

    room = Room("full", "games", "uid-1", example_spec("gameroom-full.yaml"))
    before = copy.deepcopy(room.effective)
    first = render_children(room, TOKEN)
    for child in first:
        live = copy.deepcopy(strip_absent(child))
        live["metadata"].setdefault("annotations", {})["drawgame.dev/user-keys"] = '[["x"]]'
        merge_patch(for_live(child, live))
    assert room.effective == before
    assert render_children(room, TOKEN) == first
