"""Renders the chart with Helm's own engine (helm-python-sdk, Helm 4) for the chart tests."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gameroom-operator"
RELEASE = "gro"
NAMESPACE = "gameroom-system"

# The value sets every rendering test runs over (the list).
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["games", "staging"]},
    "ha": {"replicaCount": 3},
    "ha-namespaced": {"replicaCount": 2, "watchNamespaces": ["games"]},
    "monitoring": {
        "monitoring": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
            "prometheusRule": {"enabled": True, "additionalAlertLabels": {"team": "games"}},
            "grafanaDashboard": {"enabled": True},
        }
    },
    "custom-images": {
        "image": {
            "repository": "registry.example.com/games/gameroom",
            "digest": "sha256:" + "ab" * 32,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "regcred"}],
        "gameServer": {"image": "registry.example.com/games/gameroom-server:0.2.0"},
        "operatorNamespace": "ops",
        "rbac": {"kopfClusterObservation": False},
        "watchNamespaces": ["games"],
        "podLabels": {"team": "games", "app.kubernetes.io/name": "not-this"},
    },
}


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


@functools.cache
def _render(key: str, namespace: str, release: str) -> tuple[tuple[str, str], ...]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(json.loads(key), name=release, namespace=namespace)
    return tuple(sorted(rendered.items()))


def render_files(
    values: dict[str, Any], namespace: str = NAMESPACE, release: str = RELEASE
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` prints it."""
    return dict(_render(_key(values), namespace, release))


def render(
    values: dict[str, Any], namespace: str = NAMESPACE, release: str = RELEASE
) -> list[dict[str, Any]]:
    """Every rendered object (NOTES.txt left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in render_files(values, namespace, release).items():
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def crd_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((CHART / "crds").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs
