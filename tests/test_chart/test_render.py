"""The chart rendered by Helm's engine over the value sets, linted, and every object
validated strictly against the Kubernetes 1.30 and 1.37 schemas."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .chart import CHART, NAMESPACE, VALUE_SETS, crd_documents, find, one, render, render_files

K8S_VERSIONS = ("1.30.0", "1.37.0")
# Kinds of CRDs the chart uses that kubernetes-validate has no schema for; checked by the
# tests of their own (promtool for the rules, the CRD tests for Kopf's peerings).
FOREIGN_KINDS = {"ServiceMonitor", "PrometheusRule", "ClusterKopfPeering", "KopfPeering"}


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_lint_strict_passes(value_set: str, k8s_version: str) -> None:
    report = helm.lint(
        str(CHART),
        VALUE_SETS[value_set],
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{k8s_version}",
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_object_is_valid_kubernetes(value_set: str, k8s_version: str) -> None:
    objects = render(VALUE_SETS[value_set]) + crd_documents()
    checked = 0
    for obj in objects:
        if obj["kind"] in FOREIGN_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{value_set}: {obj['kind']} {obj['metadata']['name']}: {error}")
        checked += 1
    assert checked >= 6


def test_value_sets_render_the_objects_they_ask_for() -> None:
    kinds = {name: sorted({o["kind"] for o in render(v)}) for name, v in VALUE_SETS.items()}
    base = ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Pod", "Role"]
    base += ["RoleBinding", "Service", "ServiceAccount"]
    assert kinds["defaults"] == base  # ConfigMap, Pod, Role(Binding): the helm test hook's
    assert "PodDisruptionBudget" in kinds["ha"] and "ClusterKopfPeering" in kinds["ha"]
    assert "KopfPeering" in kinds["ha-namespaced"]
    assert "PodDisruptionBudget" not in kinds["defaults"]
    assert {"ServiceMonitor", "PrometheusRule"} <= set(kinds["monitoring"])
    assert "ClusterRole" not in kinds["custom-images"]  # kopfClusterObservation off


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 0}, "/replicaCount"),
        ({"watchNamespaces": ["games-*"]}, "/watchNamespaces/0"),
        ({"watchNamespaces": ["games", "games"]}, "/watchNamespaces"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"imagePullSecret": [{"name": "x"}]}, "'imagePullSecret' not allowed"),
        ({"metrics": {"port": 0}}, "/metrics/port"),
        ({"metrics": {"port": "8090"}}, "/metrics/port"),
        ({"operator": {"logLevel": "LOUD"}}, "/operator/logLevel"),
        ({"operator": {"probeIntervalSeconds": -1}}, "/operator/probeIntervalSeconds"),
        ({"monitoring": {"serviceMonitor": {"enabled": "yes"}}}, "/monitoring/serviceMonitor"),
        ({"monitoring": {"serviceMonitor": {"interval": "30 seconds"}}}, "interval"),
        ({"resources": {"limits": {"memory": "lots"}}}, "/resources/limits/memory"),
        ({"podDisruptionBudget": {"maxUnavailable": 0}}, "/podDisruptionBudget/maxUnavailable"),
    ],
)
def test_wrong_values_fail_the_install_naming_the_value(
    values: dict[str, Any], message: str
) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name="gro", namespace=NAMESPACE)
    assert message in str(raised.value)


def test_every_value_is_documented_and_in_the_schema() -> None:
    """Each leaf of values.yaml has a comment line above it, and the schema knows it."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    values = yaml.safe_load("\n".join(lines))

    def leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
        found = []
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else key
            is_map = isinstance(value, dict) and value and key not in ("resources",)
            if is_map and not key.endswith("SecurityContext") and key != "securityContext":
                found += leaves(value, path)
            else:
                found.append(path)
        return found

    for path in leaves(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"{path} is not in values.schema.json"
            node = node["properties"][part]
        assert node.get("description"), f"{path} has no description in the schema"
        index = -1
        for depth, part in enumerate(path.split(".")):
            index = next(
                i
                for i, line in enumerate(lines)
                if i > index and line.startswith(" " * 2 * depth + f"{part}:")
            )
        assert lines[index - 1].strip().startswith("#"), f"{path} has no comment in values.yaml"


def test_notes_say_how_to_apply_and_reach_a_first_room() -> None:
    notes = render_files({"watchNamespaces": ["games"]})["gameroom-operator/templates/NOTES.txt"]
    assert "kubectl apply -n games" in notes
    assert "wait --for=condition=Ready gameroom/friday-sketch" in notes
    assert "port-forward service/friday-sketch" in notes
    assert "helm test gro" in notes
    assert "kubectl apply --server-side -f crds/" in notes


def test_grafana_dashboard_configmap_has_the_sidecar_label_and_valid_json() -> None:
    import json

    objects = render(VALUE_SETS["monitoring"])
    dashboard = one(objects, "ConfigMap", "gro-gameroom-operator-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    parsed = json.loads(dashboard["data"]["gameroom-operator.json"])
    titles = {p["title"] for p in parsed["panels"]}
    assert {
        "Rooms by phase",
        "Players",
        "Room probes by result",
        "Firing alerts by severity",
    } <= titles
    assert {"Rollbacks (30 min)", "Age of the last good backup"} <= titles
    assert not find(render({}), "ConfigMap", "gro-gameroom-operator-dashboard")


def test_readme_values_table_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    listed = set(re.findall(r"^\| `([\w.]+)` \|", readme, re.M))
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def leaves(tree: dict[str, Any], prefix: str = "") -> set[str]:
        found: set[str] = set()
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else key
            nested = isinstance(value, dict) and value and "resources" not in key
            if nested and "ecurityContext" not in key:
                found |= leaves(value, path)
            else:
                found.add(path)
        return found

    assert leaves(values) - listed == set()
