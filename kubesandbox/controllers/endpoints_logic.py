"""Pure Endpoints / EndpointSlice computation from a Service and its Pods."""

from __future__ import annotations

from kubesandbox.controllers.common import Obj, is_terminating, pod_is_ready, selector_matches

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def service_selects(service: Obj, pod: Obj) -> bool:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return selector_matches({"matchLabels": selector}, labels)


def resolve_target_port(service_port: Obj, pod: Obj) -> int | None:
    """A Service port's targetPort on one Pod: a number, or a named container port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def _address(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    return {
        "ip": (pod.get("status") or {}).get("podIP"),
        "nodeName": (pod.get("spec") or {}).get("nodeName") or "sandbox-node",
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
        },
    }


def candidate_pods(service: Obj, pods: list[Obj]) -> list[Obj]:
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    out = []
    for pod in pods:
        if not service_selects(service, pod):
            continue
        if not (pod.get("status") or {}).get("podIP"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if is_terminating(pod) and not publish_not_ready:
            continue
        out.append(pod)
    return sorted(out, key=lambda p: str((p.get("status") or {}).get("podIP")))


def endpoints_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """core/v1 Endpoints subsets, grouped by identical resolved port sets."""
    ports = (service.get("spec") or {}).get("ports") or []
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], Obj] = {}
    for pod in candidate_pods(service, pods):
        resolved = []
        for sp in ports:
            target = resolve_target_port(sp, pod)
            if target is not None:
                resolved.append((sp.get("name", ""), target, sp.get("protocol", "TCP")))
        key = tuple(resolved)
        subset = groups.setdefault(key, {"addresses": [], "notReadyAddresses": []})
        ready = pod_is_ready(pod) or publish_not_ready
        subset["addresses" if ready else "notReadyAddresses"].append(_address(pod))
    subsets = []
    for key, subset in groups.items():
        out: Obj = {}
        if subset["addresses"]:
            out["addresses"] = subset["addresses"]
        if subset["notReadyAddresses"]:
            out["notReadyAddresses"] = subset["notReadyAddresses"]
        out["ports"] = [
            {**({"name": n} if n else {}), "port": p, "protocol": proto} for n, p, proto in key
        ]
        subsets.append(out)
    return subsets


def endpoint_slice_body(service: Obj, pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(endpoints, ports) of the Service's single EndpointSlice."""
    ports = (service.get("spec") or {}).get("ports") or []
    candidates = candidate_pods(service, pods)
    endpoints = []
    for pod in candidates:
        terminating = is_terminating(pod)
        ready = pod_is_ready(pod) and not terminating
        addr = _address(pod)
        endpoints.append(
            {
                "addresses": [addr["ip"]],
                "conditions": {
                    "ready": ready,
                    "serving": pod_is_ready(pod),
                    "terminating": terminating,
                },
                "nodeName": addr["nodeName"],
                "targetRef": addr["targetRef"],
            }
        )
    slice_ports = []
    sample = candidates[0] if candidates else None
    for sp in ports:
        target = resolve_target_port(sp, sample) if sample is not None else None
        if target is None:
            raw = sp.get("targetPort", sp.get("port"))
            target = raw if isinstance(raw, int) else None
        entry: Obj = {"name": sp.get("name", ""), "protocol": sp.get("protocol", "TCP")}
        if target is not None:
            entry["port"] = target
        slice_ports.append(entry)
    return endpoints, slice_ports


def ready_backends(slices: list[Obj], service_port: Obj) -> list[tuple[str, int]]:
    """(ip, port) of ready endpoints for one Service port, for the userspace proxy."""
    name = service_port.get("name", "")
    out: list[tuple[str, int]] = []
    for sl in slices:
        port = next((p for p in sl.get("ports") or [] if p.get("name", "") == name), None)
        if port is None or port.get("port") is None:
            continue
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready", True):
                out.extend((ip, int(port["port"])) for ip in ep.get("addresses") or [])
    return out
