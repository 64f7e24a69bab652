"""Container environment and command line, as the kubelet builds them.

``$(VAR)`` references in env values, command and args expand to variables defined earlier
(env values) or anywhere in the container's environment (command and args); ``$$`` is an
escaped ``$``; a reference to an undefined variable stays as written.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]


class ContainerConfigError(Exception):
    """The container cannot be created from its spec (kubelet's CreateContainerConfigError)."""


def expand(text: str, env: dict[str, str]) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    if name in env:
                        out.append(env[name])
                    else:
                        out.append(text[i : end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def parse_quantity(value: object) -> float:
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ContainerConfigError(f"invalid resource quantity {value!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def field_ref(pod: Obj, path: str) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.hostIP": status.get("hostIP", "127.0.0.1"),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(p.get("ip", "") for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p.get("ip", "") for p in status.get("hostIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_ref(container: Obj, ref: Obj) -> str:
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        # Unset limits report the node's allocatable amount, as on a cluster.
        raw = {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "100Gi"}.get(name, "0")
    divisor = parse_quantity(ref.get("divisor", "1"))
    return str(math.ceil(parse_quantity(raw) / divisor))


def _decode_secret(data: Obj) -> dict[str, str]:
    out = {}
    for key, value in (data.get("data") or {}).items():
        out[key] = base64.b64decode(value).decode("utf-8", "replace")
    for key, value in (data.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def configmap_values(cm: Obj) -> dict[str, str]:
    return {k: str(v) for k, v in (cm.get("data") or {}).items()}


def secret_values(secret: Obj) -> dict[str, str]:
    return _decode_secret(secret)


def build_env(
    pod: Obj,
    container: Obj,
    get_configmap: Lookup,
    get_secret: Lookup,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment (without the process-level extras)."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    env: dict[str, str] = dict(base or {})
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            cm = get_configmap(namespace, ref.get("name", ""))
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'configmap "{ref.get("name")}" not found')
            values = configmap_values(cm)
        elif "secretRef" in source:
            ref = source["secretRef"]
            secret = get_secret(namespace, ref.get("name", ""))
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref.get("name")}" not found')
            values = secret_values(secret)
        else:
            continue
        for key, value in values.items():
            env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_ref(pod, source["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in source:
            env[name] = resource_ref(container, source["resourceFieldRef"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = get_configmap(namespace, ref.get("name", ""))
            found = configmap_values(cm) if cm else None
            if found is None or ref.get("key") not in found:
                if ref.get("optional"):
                    continue
                if found is None:
                    raise ContainerConfigError(f'configmap "{ref.get("name")}" not found')
                raise ContainerConfigError(
                    f"couldn't find key {ref.get('key')} in ConfigMap {namespace}/{ref.get('name')}"
                )
            env[name] = found[ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = get_secret(namespace, ref.get("name", ""))
            found = secret_values(secret) if secret else None
            if found is None or ref.get("key") not in found:
                if ref.get("optional"):
                    continue
                if found is None:
                    raise ContainerConfigError(f'secret "{ref.get("name")}" not found')
                raise ContainerConfigError(
                    f"couldn't find key {ref.get('key')} in Secret {namespace}/{ref.get('name')}"
                )
            env[name] = found[ref["key"]]
    return env


def command_line(
    container: Obj, env: dict[str, str], default_command: tuple[str, ...]
) -> list[str]:
    """command + args with ``$(VAR)`` expansion; the image entrypoint stands in for command.

    As with a container runtime: a container ``command`` replaces the image entrypoint
    and its default arguments; ``args`` alone keep the entrypoint.
    """
    command = container.get("command")
    args = container.get("args") or []
    if command:
        argv = [*command, *args]
    elif default_command:
        argv = [*default_command, *args]
    elif args:
        argv = list(args)
    else:
        raise ContainerConfigError(
            f"container {container.get('name')!r} has no command and its image rule gives "
            "no default command; set `command` or add `command` to the image rule"
        )
    return [expand(str(a), env) for a in argv]
