"""Pod volumes as real directories, and the mapping of mount paths into them.

A process cannot see ``/data`` or ``/etc/gameroom`` here, so each volumeMount's mountPath
maps to a directory under the sandbox's state, and argument and environment values that
start with a mountPath are rewritten to the real directory.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

from kubesandbox.kubelet.env import ContainerConfigError, field_ref

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]

HOST_PATH_ANNOTATION = "kubesandbox.dev/host-path"


def pvc_path(pvc_root: pathlib.Path, pvc: Obj) -> pathlib.Path:
    """The directory that backs a bound PersistentVolumeClaim."""
    meta = pvc.get("metadata") or {}
    annotated = (meta.get("annotations") or {}).get(HOST_PATH_ANNOTATION)
    if annotated:
        return pathlib.Path(annotated)
    return pvc_root / meta.get("namespace", "default") / f"{meta['name']}-{meta.get('uid', '')[:8]}"


def _write_files(target: pathlib.Path, files: dict[str, bytes], mode: int) -> None:
    """Replace a directory's content atomically enough for readers (write then rename)."""
    target.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for rel, data in files.items():
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _select(values: dict[str, bytes], items: list[Obj] | None, what: str) -> dict[str, bytes]:
    if not items:
        return dict(values)
    out = {}
    for item in items:
        if item["key"] not in values:
            raise ContainerConfigError(f"{what}: key {item['key']!r} not found")
        out[item["path"]] = values[item["key"]]
    return out


def _configmap_files(cm: Obj) -> dict[str, bytes]:
    files = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    files.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return files


def _secret_files(secret: Obj) -> dict[str, bytes]:
    files = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    files.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return files


def token_sources(pod: Obj) -> list[Obj]:
    """The Pod's projected serviceAccountToken sources."""
    return [
        src["serviceAccountToken"]
        for volume in (pod.get("spec") or {}).get("volumes") or []
        for src in (volume.get("projected") or {}).get("sources") or []
        if isinstance(src.get("serviceAccountToken"), dict)
    ]


def token_key(source: Obj) -> str:
    return json.dumps(source, sort_keys=True)


def _source_files(
    pod: Obj,
    kind: str,
    source: Obj,
    get_configmap: Lookup,
    get_secret: Lookup,
    tokens: dict[str, bytes] | None = None,
) -> dict[str, bytes] | None:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    if kind == "configMap":
        name = source.get("name", "")
        cm = get_configmap(namespace, name)
        if cm is None:
            if source.get("optional"):
                return {}
            raise ContainerConfigError(f'configmap "{name}" not found')
        return _select(_configmap_files(cm), source.get("items"), f"configmap {name}")
    if kind == "secret":
        name = source.get("secretName") or source.get("name", "")
        secret = get_secret(namespace, name)
        if secret is None:
            if source.get("optional"):
                return {}
            raise ContainerConfigError(f'secret "{name}" not found')
        return _select(_secret_files(secret), source.get("items"), f"secret {name}")
    if kind == "downwardAPI":
        out = {}
        for item in source.get("items") or []:
            if "fieldRef" in item:
                out[item["path"]] = field_ref(pod, item["fieldRef"]["fieldPath"]).encode()
        return out
    if kind == "serviceAccountToken":
        token = (tokens or {}).get(token_key(source))
        if token is None:
            raise ContainerConfigError("no token was issued for the serviceAccountToken volume")
        return {source.get("path", "token"): token}
    return None


def materialize_volumes(
    pod: Obj,
    pod_dir: pathlib.Path,
    *,
    state_dir: pathlib.Path,
    pvc_root: pathlib.Path,
    get_configmap: Lookup,
    get_secret: Lookup,
    get_pvc: Lookup,
    tokens: dict[str, bytes] | None = None,
) -> dict[str, pathlib.Path]:
    """Create or refresh every volume of the Pod; returns volume name -> directory."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    result: dict[str, pathlib.Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        target = pod_dir / "volumes" / name
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName", "")
            pvc = get_pvc(namespace, claim)
            if pvc is None:
                raise ContainerConfigError(f'persistentvolumeclaim "{claim}" not found')
            if (pvc.get("status") or {}).get("phase") != "Bound":
                raise ContainerConfigError(f'persistentvolumeclaim "{claim}" is not bound')
            path = pvc_path(pvc_root, pvc)
            path.mkdir(parents=True, exist_ok=True)
            result[name] = path
            continue
        if "hostPath" in volume:
            # The "node" filesystem is a directory of the sandbox, never the real host.
            rel = str(volume["hostPath"].get("path", "/")).lstrip("/")
            path = state_dir / "node-root" / rel
            path.mkdir(parents=True, exist_ok=True)
            result[name] = path
            continue
        if "emptyDir" in volume or not any(
            k in volume for k in ("configMap", "secret", "downwardAPI", "projected")
        ):
            target.mkdir(parents=True, exist_ok=True)
            result[name] = target
            continue
        files: dict[str, bytes] = {}
        mode = 0o644
        if "projected" in volume:
            mode = int(volume["projected"].get("defaultMode", 0o644))
            for src in volume["projected"].get("sources") or []:
                for kind, source in src.items():
                    got = _source_files(pod, kind, source, get_configmap, get_secret, tokens)
                    files.update(got or {})
        else:
            for kind in ("configMap", "secret", "downwardAPI"):
                if kind in volume:
                    mode = int(volume[kind].get("defaultMode", 0o644))
                    files = _source_files(pod, kind, volume[kind], get_configmap, get_secret) or {}
        _write_files(target, files, mode)
        result[name] = target
    return result


def mount_map(container: Obj, volumes: dict[str, pathlib.Path]) -> dict[str, pathlib.Path]:
    """mountPath -> real directory (or file, with subPath) for one container."""
    mounts: dict[str, pathlib.Path] = {}
    for mount in container.get("volumeMounts") or []:
        base = volumes.get(mount.get("name", ""))
        if base is None:
            raise ContainerConfigError(
                f"volumeMount {mount.get('name')!r} refers to a volume the Pod does not define"
            )
        sub = mount.get("subPath")
        path = base / sub if sub else base
        if sub and not path.exists() and "." not in pathlib.PurePath(sub).name:
            path.mkdir(parents=True, exist_ok=True)
        mounts[str(mount["mountPath"]).rstrip("/") or "/"] = path
    return mounts


def rewrite_path(value: str, mounts: dict[str, pathlib.Path]) -> str:
    """Replace a leading mountPath in a value (or after ``--flag=``) with its directory."""
    if "=" in value and not value.startswith("/"):
        head, _, tail = value.partition("=")
        rewritten = rewrite_path(tail, mounts)
        return f"{head}={rewritten}" if rewritten != tail else value
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path:
            return str(mounts[mount_path])
        if value.startswith(mount_path.rstrip("/") + "/"):
            return str(mounts[mount_path]) + value[len(mount_path.rstrip("/")) :]
    return value


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """("configmap"|"secret"|"pvc", name) of everything a Pod's containers and volumes use."""
    refs: set[tuple[str, str]] = set()
    spec = pod.get("spec") or {}
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(("configmap", volume["configMap"].get("name", "")))
        if "secret" in volume:
            refs.add(("secret", volume["secret"].get("secretName", "")))
        if "persistentVolumeClaim" in volume:
            refs.add(("pvc", volume["persistentVolumeClaim"].get("claimName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                refs.add(("configmap", source["configMap"].get("name", "")))
            if "secret" in source:
                refs.add(("secret", source["secret"].get("name", "")))
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                refs.add(("configmap", source["configMapRef"].get("name", "")))
            if "secretRef" in source:
                refs.add(("secret", source["secretRef"].get("name", "")))
        for var in container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                refs.add(("configmap", value_from["configMapKeyRef"].get("name", "")))
            if "secretKeyRef" in value_from:
                refs.add(("secret", value_from["secretKeyRef"].get("name", "")))
    return refs
