"""Admission that kube-apiserver's default plugins do for Pods: the ServiceAccount plugin
(the account must exist; its token is mounted as a projected volume)."""

from __future__ import annotations

import secrets
from typing import Any

from .errors import ApiError
from .store import Store

SA_KEY = ("", "serviceaccounts")
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # noqa: S105 - a path
ROOT_CA = "kube-root-ca.crt"
_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def root_ca_configmap(pem: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": ROOT_CA,
            "annotations": {
                "kubernetes.io/description": (
                    "Contains a CA bundle that can be used to verify the kube-apiserver "
                    "when using internal endpoints such as the internal service IP or "
                    "kubernetes.default.svc. No other usage is guaranteed across "
                    "distributions of Kubernetes clusters."
                )
            },
        },
        "data": {"ca.crt": pem},
    }


def token_volume() -> dict[str, Any]:
    return {
        "name": "kube-api-access-" + "".join(secrets.choice(_CHARS) for _ in range(5)),
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def admit_service_account(store: Store, pod: dict[str, Any], display_name: str) -> None:
    """Default `serviceAccountName`, refuse a missing account, mount its token."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    ns = pod["metadata"].get("namespace", "")
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = name
    account = store.get(SA_KEY, ns, name)
    if account is None:
        raise ApiError(
            403,
            f'pods "{display_name}" is forbidden: error looking up service account '
            f'{ns}/{name}: serviceaccount "{name}" not found',
            reason="Forbidden",
            details={"name": display_name, "kind": "pods"},
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken", True)
    containers = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    if automount is False or any(
        m.get("mountPath") == TOKEN_DIR for c in containers for m in c.get("volumeMounts") or []
    ):
        return
    volume = token_volume()
    spec["volumes"] = [*(spec.get("volumes") or []), volume]
    mount = {"name": volume["name"], "mountPath": TOKEN_DIR, "readOnly": True}
    for key in ("initContainers", "containers"):
        if spec.get(key):
            spec[key] = [
                {**c, "volumeMounts": [*(c.get("volumeMounts") or []), mount]}
                if isinstance(c, dict)
                else c
                for c in spec[key]
            ]
