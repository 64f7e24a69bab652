"""Admission of PersistentVolumeClaims as kube-apiserver's default plugins do it: the
default StorageClass, the `kubernetes.io/pvc-protection` finalizer, and expansion only
where the class allows it."""

from __future__ import annotations

from typing import Any

from .errors import ApiError, cause, invalid
from .store import Store

STORAGE_CLASSES = ("storage.k8s.io", "storageclasses")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PROVISIONER = "kubesandbox.dev/hostpath"
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}  # fmt: skip


def default_storage_class() -> dict[str, Any]:
    """What `kubesandbox up` starts with: like kind's `standard`, and expandable."""
    return {
        "metadata": {"name": "standard", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def quantity(value: Any) -> float:
    """Bytes of a storage quantity (`1Gi`, `500M`, `1e9`); unparsable: 0."""
    text = str(value).strip()
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            number, unit = text[: -len(suffix)], _UNITS[suffix]
            break
    else:
        number, unit = text, 1
    try:
        return float(number) * unit
    except ValueError:
        return 0.0


def _requested(pvc: dict[str, Any]) -> Any:
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def admit_claim(store: Store, pvc: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = pvc.get("spec")
    if not isinstance(spec, dict):
        return
    meta = pvc["metadata"]
    if old is None:
        if "storageClassName" not in spec:
            default = next(
                (
                    sc["metadata"]["name"]
                    for sc in store.iter(STORAGE_CLASSES, None)
                    if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
                    == "true"
                ),
                None,
            )
            if default:
                spec["storageClassName"] = default
        finalizers = meta.get("finalizers") or []
        if PVC_PROTECTION not in finalizers:
            meta["finalizers"] = [*finalizers, PVC_PROTECTION]
        return
    new_size, old_size = _requested(pvc), _requested(old)
    if new_size == old_size or quantity(new_size) == quantity(old_size):
        return
    name = meta["name"]
    capacity = ((old.get("status") or {}).get("capacity") or {}).get("storage")
    if quantity(new_size) < quantity(capacity or old_size):
        raise invalid(
            "PersistentVolumeClaim",
            "",
            name,
            [
                cause(
                    "FieldValueForbidden",
                    "spec.resources.requests.storage",
                    "Forbidden: field can not be less than status.capacity",
                )
            ],
        )
    sc = store.get(STORAGE_CLASSES, "", str(spec.get("storageClassName") or ""))
    bound = (old.get("status") or {}).get("phase") == "Bound"
    if not bound or sc is None or not sc.get("allowVolumeExpansion"):
        raise ApiError(
            403,
            f'persistentvolumeclaims "{name}" is forbidden: only dynamically provisioned pvc '
            "can be resized and the storageclass that provisions the pvc must support resize",
            reason="Forbidden",
            details={"name": name, "kind": "persistentvolumeclaims"},
        )
