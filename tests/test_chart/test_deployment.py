"""The operator's Deployment as rendered: the flags the real operator parses, security,
probes on its /healthz, spreading, peering and the PodDisruptionBudget for HA."""

from __future__ import annotations

from typing import Any

import pytest
from gameroom_operator import DEFAULT_IMAGE
from gameroom_operator.render import OPERATOR_POD_LABELS
from gameroom_operator.settings import from_args

from .chart import NAMESPACE, VALUE_SETS, find, one, render


def operator_container(values: dict[str, Any]) -> dict[str, Any]:
    deployment = one(render(values), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def settings_of(values: dict[str, Any]) -> Any:
    """The settings the real operator would start with (its own argument parser)."""
    container = operator_container(values)
    assert container["command"] == ["python", "-m", "gameroom_operator"]
    return from_args(container["args"])


def test_defaults_watch_everything_standalone_with_the_chart_image() -> None:
    settings = settings_of({})
    assert settings.namespaces == ()
    assert settings.standalone
    assert settings.default_image == DEFAULT_IMAGE == operator_container({})["image"]
    assert settings.operator_namespace == NAMESPACE
    assert settings.metrics_port == 8090
    assert settings.log_format == "json"


def test_namespaced_install_passes_the_namespaces() -> None:
    assert settings_of(VALUE_SETS["namespaced"]).namespaces == ("games", "staging")


def test_ha_runs_kopf_peering_with_the_peering_object_the_chart_creates() -> None:
    settings = settings_of(VALUE_SETS["ha"])
    assert settings.peering == "gro-gameroom-operator"
    assert not settings.standalone
    peering = one(render(VALUE_SETS["ha"]), "ClusterKopfPeering")
    assert peering["metadata"]["name"] == settings.peering
    namespaced = render(VALUE_SETS["ha-namespaced"])
    assert [p["metadata"]["namespace"] for p in find(namespaced, "KopfPeering")] == ["games"]
    assert not find(namespaced, "ClusterKopfPeering")


def test_custom_images_and_pull_secrets() -> None:
    values = VALUE_SETS["custom-images"]
    container = operator_container(values)
    assert container["image"] == "registry.example.com/games/gameroom@sha256:" + "ab" * 32
    assert container["imagePullPolicy"] == "Always"
    pod = one(render(values), "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    settings = settings_of(values)
    assert settings.default_image == "registry.example.com/games/gameroom-server:0.2.0"
    assert settings.operator_namespace == "ops"
    tag = operator_container({"image": {"tag": "0.2.0-rc1"}})["image"]
    assert tag == "ghcr.io/drawgame/gameroom:0.2.0-rc1"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_pods_carry_the_label_the_rooms_network_policies_admit(value_set: str) -> None:
    labels = one(render(VALUE_SETS[value_set]), "Deployment")["spec"]["template"]["metadata"]
    for key, value in OPERATOR_POD_LABELS.items():
        assert labels["labels"][key] == value


def test_locked_down_pod() -> None:
    pod = one(render({}), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_probes_ask_the_operators_healthz_on_its_metrics_port() -> None:
    container = operator_container({})
    assert container["ports"] == [{"name": "metrics", "containerPort": 8090, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    moved = operator_container({"metrics": {"port": 9100}})
    assert settings_of({"metrics": {"port": 9100}}).metrics_port == 9100
    assert moved["ports"][0]["containerPort"] == 9100


def test_replicas_spread_over_nodes_and_ha_gets_a_disruption_budget() -> None:
    objects = render(VALUE_SETS["ha"])
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert spread["labelSelector"]["matchLabels"] == selector
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    # One replica: no budget (it would block every drain), and never two at once.
    single = render({})
    assert not find(single, "PodDisruptionBudget")
    assert one(single, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_own_pod_labels_never_replace_the_charts() -> None:
    labels = one(render(VALUE_SETS["custom-images"]), "Deployment")["spec"]["template"]
    assert labels["metadata"]["labels"]["team"] == "games"
    assert labels["metadata"]["labels"]["app.kubernetes.io/name"] == "gameroom-operator"


def test_metrics_service_selects_the_operator_pods() -> None:
    objects = render({})
    service = one(objects, "Service")
    selector = one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
