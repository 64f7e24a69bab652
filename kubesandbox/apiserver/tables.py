"""`Table` responses (meta.k8s.io/v1) for `kubectl get`: CRD printer columns and
kubectl-like default columns for the built-in kinds."""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Callable
from typing import Any

from .resources import ResourceType
from .selectors import label_selector_to_string

Row = list[Any]
Column = tuple[str, str, str, int, Callable[[dict[str, Any]], Any]]  # name,type,format,prio,fn


def human_duration(seconds: float) -> str:
    """kube's duration.HumanDuration (what the AGE column shows)."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rem = s % 60
        return f"{minutes}m{rem}s" if rem else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rem_m = minutes % 60
        return f"{hours}h{rem_m}m" if rem_m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 192:
        rem_h = hours % 24
        return f"{days}d{rem_h}h" if rem_h else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    if years < 8:
        rem_d = days % 365
        return f"{years}y{rem_d}d" if rem_d else f"{years}y"
    return f"{years}y"


def _age_of(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    try:
        t = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - t).total_seconds())


def _age(obj: dict[str, Any]) -> str:
    return _age_of(obj["metadata"].get("creationTimestamp"))


# ------------------------------------------------------------------ JSONPath subset

_TOKEN = re.compile(
    r"\.([A-Za-z0-9_$-]+)|\[\?\(@\.([A-Za-z0-9_.]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
    r"|\[(\d+|\*)\]|\['([^']+)'\]"
)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Evaluate the JSONPath subset printer columns use (`.a.b`, `[0]`, `[*]`, filters)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        nxt: list[Any] = []
        for value in current:
            if m.group(1) is not None or m.group(5) is not None:
                key = m.group(1) if m.group(1) is not None else m.group(5)
                if isinstance(value, dict) and key in value:
                    nxt.append(value[key])
            elif m.group(2) is not None:
                if isinstance(value, list):
                    for item in value:
                        got = jsonpath(item, "." + m.group(2))
                        if got and str(got[0]) == m.group(3):
                            nxt.append(item)
            elif m.group(4) is not None and isinstance(value, list):
                if m.group(4) == "*":
                    nxt.extend(value)
                elif int(m.group(4)) < len(value):
                    nxt.append(value[int(m.group(4))])
        current = nxt
    return current


def _cell_for(values: list[Any], col_type: str) -> Any:
    if not values:
        return None
    value = values[0]
    if col_type == "date" and isinstance(value, str):
        return _age_of(value)
    if col_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if col_type == "number" and isinstance(value, int | float):
        return value
    if col_type == "boolean" and isinstance(value, bool):
        return value
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return (
        value
        if col_type != "string"
        else str(value)
        if not isinstance(value, bool)
        else ("true" if value else "false")
    )


# ------------------------------------------------------------------ built-in columns


def _pod_ready(p: dict[str, Any]) -> str:
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    total = len((p.get("spec") or {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{total}"


def _pod_status(p: dict[str, Any]) -> str:
    status = p.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            total = len((p.get("spec") or {}).get("initContainers") or [])
            reason = f"Init:{i}/{total}"
        break
    else:
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated", {}).get("reason"):
                reason = state["terminated"]["reason"]
    if p["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_restarts(p: dict[str, Any]) -> Any:
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _svc_ports(s: dict[str, Any]) -> str:
    out = []
    for p in (s.get("spec") or {}).get("ports") or []:
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _endpoints(e: dict[str, Any]) -> str:
    out = []
    for subset in e.get("subsets") or []:
        for a in subset.get("addresses") or []:
            for p in subset.get("ports") or [{}]:
                out.append(f"{a.get('ip')}:{p.get('port')}" if p else a.get("ip"))
    return ",".join(out[:3]) + (" + more..." if len(out) > 3 else "") if out else "<none>"


def _job_status(j: dict[str, Any]) -> str:
    for c in (j.get("status") or {}).get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            return str(c["type"])
    return "Running"


def _job_duration(j: dict[str, Any]) -> str:
    status = j.get("status") or {}
    start = status.get("startTime")
    if not start:
        return ""
    end = status.get("completionTime")
    t0 = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    t1 = (
        datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
        if end
        else datetime.datetime.now(datetime.UTC)
    )
    return human_duration((t1 - t0).total_seconds())


def _deploy_ready(d: dict[str, Any]) -> str:
    status = d.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(d.get('spec') or {}).get('replicas', 0)}"


def _containers(o: dict[str, Any], template: bool = True) -> list[dict[str, Any]]:
    spec = o.get("spec") or {}
    if template:
        spec = (spec.get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or [])


def _event_object(e: dict[str, Any]) -> str:
    io = e.get("involvedObject") or e.get("regarding") or {}
    return f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}"


def _pdb_value(p: dict[str, Any], key: str) -> str:
    value = (p.get("spec") or {}).get(key)
    return "N/A" if value is None else str(value)


def _name(o: dict[str, Any]) -> str:
    return str(o["metadata"]["name"])


def _spec(obj: dict[str, Any], key: str) -> Any:
    return (obj.get("spec") or {}).get(key) or ({} if key == "capacity" else "")


def _modes(modes: Any) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}
    return ",".join(short.get(m, "RWOP" if m == "ReadWriteOncePod" else m) for m in modes or [])


def _class_name(sc: dict[str, Any]) -> str:
    default = (sc["metadata"].get("annotations") or {}).get(
        "storageclass.kubernetes.io/is-default-class"
    ) == "true"
    return str(sc["metadata"]["name"]) + (" (default)" if default else "")


def _claim(volume: dict[str, Any]) -> str:
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    return f"{ref['namespace']}/{ref['name']}" if ref.get("name") else ""


NAME: Column = ("Name", "string", "name", 0, _name)
AGE: Column = ("Age", "string", "", 0, _age)

BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "pods": [
        NAME,
        ("Ready", "string", "", 0, _pod_ready),
        ("Status", "string", "", 0, _pod_status),
        ("Restarts", "string", "", 0, _pod_restarts),
        AGE,
        ("IP", "string", "", 1, lambda p: (p.get("status") or {}).get("podIP") or "<none>"),
        ("Node", "string", "", 1, lambda p: (p.get("spec") or {}).get("nodeName") or "<none>"),
    ],
    "deployments": [
        NAME,
        ("Ready", "string", "", 0, _deploy_ready),
        (
            "Up-to-date",
            "integer",
            "",
            0,
            lambda d: (d.get("status") or {}).get("updatedReplicas", 0),
        ),
        (
            "Available",
            "integer",
            "",
            0,
            lambda d: (d.get("status") or {}).get("availableReplicas", 0),
        ),
        AGE,
        (
            "Containers",
            "string",
            "",
            1,
            lambda d: ",".join(c.get("name", "") for c in _containers(d)),
        ),
        ("Images", "string", "", 1, lambda d: ",".join(c.get("image", "") for c in _containers(d))),
        (
            "Selector",
            "string",
            "",
            1,
            lambda d: label_selector_to_string((d.get("spec") or {}).get("selector")),
        ),
    ],
    "replicasets": [
        NAME,
        ("Desired", "integer", "", 0, lambda r: (r.get("spec") or {}).get("replicas", 0)),
        ("Current", "integer", "", 0, lambda r: (r.get("status") or {}).get("replicas", 0)),
        ("Ready", "integer", "", 0, lambda r: (r.get("status") or {}).get("readyReplicas", 0)),
        AGE,
    ],
    "statefulsets": [NAME, ("Ready", "string", "", 0, _deploy_ready), AGE],
    "services": [
        NAME,
        ("Type", "string", "", 0, lambda s: (s.get("spec") or {}).get("type", "ClusterIP")),
        (
            "Cluster-IP",
            "string",
            "",
            0,
            lambda s: (s.get("spec") or {}).get("clusterIP") or "<none>",
        ),
        ("External-IP", "string", "", 0, lambda s: "<none>"),
        ("Port(s)", "string", "", 0, _svc_ports),
        AGE,
        (
            "Selector",
            "string",
            "",
            1,
            lambda s: (
                ",".join(
                    f"{k}={v}"
                    for k, v in sorted(((s.get("spec") or {}).get("selector") or {}).items())
                )
                or "<none>"
            ),
        ),
    ],
    "endpoints": [NAME, ("Endpoints", "string", "", 0, _endpoints), AGE],
    "configmaps": [
        NAME,
        (
            "Data",
            "integer",
            "",
            0,
            lambda c: len(c.get("data") or {}) + len(c.get("binaryData") or {}),
        ),
        AGE,
    ],
    "secrets": [
        NAME,
        ("Type", "string", "", 0, lambda s: s.get("type", "Opaque")),
        ("Data", "integer", "", 0, lambda s: len(s.get("data") or {})),
        AGE,
    ],
    "namespaces": [
        NAME,
        ("Status", "string", "", 0, lambda n: (n.get("status") or {}).get("phase", "Active")),
        AGE,
    ],
    "jobs": [
        NAME,
        ("Status", "string", "", 0, _job_status),
        (
            "Completions",
            "string",
            "",
            0,
            lambda j: (
                f"{(j.get('status') or {}).get('succeeded', 0)}"
                f"/{(j.get('spec') or {}).get('completions', 1)}"
            ),
        ),
        ("Duration", "string", "", 0, _job_duration),
        AGE,
    ],
    "cronjobs": [
        NAME,
        ("Schedule", "string", "", 0, lambda c: (c.get("spec") or {}).get("schedule", "")),
        ("Timezone", "string", "", 0, lambda c: (c.get("spec") or {}).get("timeZone") or "<none>"),
        ("Suspend", "boolean", "", 0, lambda c: bool((c.get("spec") or {}).get("suspend"))),
        ("Active", "integer", "", 0, lambda c: len((c.get("status") or {}).get("active") or [])),
        (
            "Last Schedule",
            "string",
            "",
            0,
            lambda c: (
                _age_of((c.get("status") or {}).get("lastScheduleTime"))
                if (c.get("status") or {}).get("lastScheduleTime")
                else "<none>"
            ),
        ),
        AGE,
    ],
    "events": [
        (
            "Last Seen",
            "string",
            "",
            0,
            lambda e: _age_of(
                e.get("lastTimestamp")
                or e.get("eventTime")
                or e["metadata"].get("creationTimestamp")
            ),
        ),
        ("Type", "string", "", 0, lambda e: e.get("type", "")),
        ("Reason", "string", "", 0, lambda e: e.get("reason", "")),
        ("Object", "string", "", 0, _event_object),
        ("Message", "string", "", 0, lambda e: e.get("message") or e.get("note") or ""),
    ],
    "persistentvolumeclaims": [
        NAME,
        ("Status", "string", "", 0, lambda p: (p.get("status") or {}).get("phase", "")),
        ("Volume", "string", "", 0, lambda p: (p.get("spec") or {}).get("volumeName", "")),
        (
            "Capacity",
            "string",
            "",
            0,
            lambda p: ((p.get("status") or {}).get("capacity") or {}).get("storage", ""),
        ),
        (
            "Access Modes",
            "string",
            "",
            0,
            lambda p: ",".join(
                {
                    "ReadWriteOnce": "RWO",
                    "ReadOnlyMany": "ROX",
                    "ReadWriteMany": "RWX",
                    "ReadWriteOncePod": "RWOP",
                }.get(m, m)
                for m in (p.get("status") or {}).get("accessModes") or []
            ),
        ),
        (
            "StorageClass",
            "string",
            "",
            0,
            lambda p: (p.get("spec") or {}).get("storageClassName") or "<unset>",
        ),
        AGE,
    ],
    "persistentvolumes": [
        NAME,
        ("Capacity", "string", "", 0, lambda v: _spec(v, "capacity").get("storage", "")),
        ("Access Modes", "string", "", 0, lambda v: _modes(_spec(v, "accessModes"))),
        ("Reclaim Policy", "string", "", 0, lambda v: _spec(v, "persistentVolumeReclaimPolicy")),
        ("Status", "string", "", 0, lambda v: (v.get("status") or {}).get("phase", "")),
        ("Claim", "string", "", 0, _claim),
        ("StorageClass", "string", "", 0, lambda v: _spec(v, "storageClassName")),
        AGE,
    ],
    "storageclasses": [
        ("Name", "string", "name", 0, _class_name),
        ("Provisioner", "string", "", 0, lambda c: c.get("provisioner", "")),
        ("ReclaimPolicy", "string", "", 0, lambda c: c.get("reclaimPolicy", "Delete")),
        ("VolumeBindingMode", "string", "", 0, lambda c: c.get("volumeBindingMode", "Immediate")),
        (
            "AllowVolumeExpansion",
            "string",
            "",
            0,
            lambda c: str(bool(c.get("allowVolumeExpansion"))).lower(),
        ),
        AGE,
    ],
    "serviceaccounts": [
        NAME,
        ("Secrets", "integer", "", 0, lambda s: len(s.get("secrets") or [])),
        AGE,
    ],
    "leases": [
        NAME,
        ("Holder", "string", "", 0, lambda x: (x.get("spec") or {}).get("holderIdentity", "")),
        AGE,
    ],
    "poddisruptionbudgets": [
        NAME,
        ("Min Available", "string", "", 0, lambda p: _pdb_value(p, "minAvailable")),
        ("Max Unavailable", "string", "", 0, lambda p: _pdb_value(p, "maxUnavailable")),
        (
            "Allowed Disruptions",
            "integer",
            "",
            0,
            lambda p: (p.get("status") or {}).get("disruptionsAllowed", 0),
        ),
        AGE,
    ],
    "ingresses": [
        NAME,
        (
            "Class",
            "string",
            "",
            0,
            lambda i: (i.get("spec") or {}).get("ingressClassName") or "<none>",
        ),
        (
            "Hosts",
            "string",
            "",
            0,
            lambda i: (
                ",".join(r.get("host", "*") for r in (i.get("spec") or {}).get("rules") or [])
                or "*"
            ),
        ),
        ("Address", "string", "", 0, lambda i: ""),
        ("Ports", "string", "", 0, lambda i: "80"),
        AGE,
    ],
    "networkpolicies": [
        NAME,
        (
            "Pod-Selector",
            "string",
            "",
            0,
            lambda n: (
                label_selector_to_string((n.get("spec") or {}).get("podSelector")) or "<none>"
            ),
        ),
        AGE,
    ],
    "customresourcedefinitions": [
        NAME,
        ("Created At", "date", "", 0, lambda c: c["metadata"].get("creationTimestamp")),
    ],
    "nodes": [NAME, ("Status", "string", "", 0, lambda n: "Ready"), AGE],
}


def columns_for(rt: ResourceType, version: str | None) -> list[Column]:
    if rt.is_crd:
        defs = rt.printer_columns.get(version or rt.storage_version) or []
        cols: list[Column] = [NAME]
        for d in defs:
            path = d.get("jsonPath", "")
            col_type = d.get("type", "string")

            def fn(o: dict[str, Any], _p: str = path, _t: str = col_type) -> Any:
                return _cell_for(jsonpath(o, _p), _t)

            cols.append(
                (d.get("name", ""), col_type, d.get("format", ""), int(d.get("priority", 0)), fn)
            )
        if not any(d.get("jsonPath") == ".metadata.creationTimestamp" for d in defs):
            cols.append(AGE)
        return cols
    if rt.plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"):
        return [
            NAME,
            ("Created At", "date", "", 0, lambda o: o["metadata"].get("creationTimestamp")),
        ]
    return BUILTIN_COLUMNS.get(rt.plural, [NAME, AGE])


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def to_table(
    rt: ResourceType,
    version: str | None,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cols = columns_for(rt, version)
    rows = []
    for obj in objects:
        cells: Row = []
        for _, _, _, _, fn in cols:
            try:
                cells.append(fn(obj))
            except (KeyError, TypeError, ValueError, AttributeError):
                cells.append(None)
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if typ == "date" and not rt.is_crd else typ,
                "format": fmt,
                "description": "",
                "priority": prio,
            }
            for name, typ, fmt, prio, _ in cols
        ],
        "rows": rows,
    }


def decode_secret(value: str) -> str:
    return base64.b64decode(value).decode(errors="replace")
