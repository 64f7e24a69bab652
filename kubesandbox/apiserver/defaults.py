"""Defaulting and basic validation of built-in kinds, as kube-apiserver's strategies do."""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from .errors import cause

Cause = dict[str, str]

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

LABEL_KINDS = {"namespaces", "services"}


def validate_name(plural: str, name: str) -> list[Cause]:
    if plural in LABEL_KINDS:
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            return [
                cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of '
                    "lower case alphanumeric characters or '-', and must start and end "
                    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
                    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            ]
        return []
    if plural in ("events",):
        return []
    if plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
        # RBAC names are path segments (ValidatePathSegmentName): "system:..." is fine
        bad = next((c for c in ("/", "%") if c in name), None)
        if name in (".", "..") or bad:
            why = f"may not contain '{bad}'" if bad else f"may not be '{name}'"
            return [cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {why}')]
        return []
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return [
            cause(
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'example.com', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                "([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    return []


def _container_defaults(c: dict[str, Any]) -> None:
    image = c.get("image", "")
    if "imagePullPolicy" not in c:
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        c["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")


def pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _container_defaults(c)


def _template_defaults(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        meta = template.setdefault("metadata", {})
        if isinstance(meta, dict) and "creationTimestamp" in meta:
            # Go decodes `creationTimestamp: null` (kubectl <= 1.32 sends it in templates,
            # e.g. `rollout undo`) to the zero time, which is never written back out.
            template["metadata"] = {k: v for k, v in meta.items() if k != "creationTimestamp"}
        pod_spec_defaults(template.setdefault("spec", {}))


def apply_builtin_defaults(plural: str, group: str, obj: dict[str, Any], creating: bool) -> None:
    spec = obj.get("spec")
    if plural == "pods" and isinstance(spec, dict):
        pod_spec_defaults(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        if creating:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif plural == "deployments" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _template_defaults(spec)
        if creating:
            obj["status"] = {}
    elif plural in ("replicasets", "statefulsets") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template_defaults(spec)
        if creating:
            obj["status"] = {"replicas": 0}
    elif plural == "jobs" and isinstance(spec, dict):
        _job_defaults(obj, spec)
        if creating:
            obj["status"] = {}
    elif plural == "cronjobs" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        _template_defaults(job_spec)
        if creating:
            obj["status"] = {}
    elif plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if creating:
            obj["status"] = {"phase": "Active"}
    elif plural == "persistentvolumeclaims" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
        if creating:
            obj["status"] = {"phase": "Pending"}
    elif plural == "secrets":
        if not obj.get("type"):
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if creating:
            obj["status"] = {"loadBalancer": {}}
    elif plural == "poddisruptionbudgets" and creating:
        obj["status"] = {
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        }
    elif plural == "ingresses" and creating:
        obj["status"] = {"loadBalancer": {}}


def _job_defaults(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    spec.setdefault("parallelism", 1)
    if "completions" not in spec:
        spec["completions"] = 1
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template_defaults(spec)
    meta = obj["metadata"]
    if not spec.get("manualSelector") and "uid" in meta:
        uid = meta["uid"]
        labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": uid,
            "job-name": meta["name"],
        }
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        tmeta.setdefault("labels", {}).update(labels)


def validate_builtin(plural: str, obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    if plural == "pods":
        out += _validate_pod_spec(spec, "spec")
    elif plural in ("deployments", "replicasets", "statefulsets"):
        out += _validate_selector_template(spec)
    elif plural == "jobs":
        tspec = (spec.get("template") or {}).get("spec") or {}
        if tspec.get("restartPolicy") not in ("OnFailure", "Never"):
            shown = tspec.get("restartPolicy", "")
            out.append(
                cause(
                    "FieldValueNotSupported",
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{shown}": supported values: "OnFailure", "Never"',
                )
            )
        out += _validate_pod_spec(tspec, "spec.template.spec")
    elif plural == "cronjobs":
        if not spec.get("schedule"):
            out.append(cause("FieldValueRequired", "spec.schedule", "Required value"))
    elif (
        plural == "services"
        and spec.get("clusterIP") != "None"
        and not spec.get("ports")
        and spec.get("type") != "ExternalName"
    ):
        out.append(cause("FieldValueRequired", "spec.ports", "Required value"))
    return out


def _validate_pod_spec(spec: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        out.append(cause("FieldValueRequired", f"{path}.containers", "Required value"))
    for i, c in enumerate(containers):
        if not c.get("name"):
            out.append(
                cause("FieldValueRequired", f"{path}.containers[{i}].name", "Required value")
            )
        if not c.get("image"):
            out.append(
                cause("FieldValueRequired", f"{path}.containers[{i}].image", "Required value")
            )
    return out


def _validate_selector_template(spec: dict[str, Any]) -> list[Cause]:
    from .selectors import selector_matches

    selector = spec.get("selector")
    if not selector:
        return [cause("FieldValueRequired", "spec.selector", "Required value")]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector_matches(selector, labels):
        shown = "{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"
        return [
            cause(
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: map[string]string{shown}: `selector` does not match "
                "template `labels`",
            )
        ]
    return []


class ClusterIPAllocator:
    """Hands out Service ClusterIPs from 127.2.0.0/16 (loopback, so a userspace proxy can
    listen on them without touching anything outside the sandbox)."""

    def __init__(self, cidr: str = "127.2.0.0/16") -> None:
        self.network = ipaddress.ip_network(cidr)
        self.used: set[str] = set()
        self.next_index = 1

    def allocate(self) -> str:
        size = self.network.num_addresses
        for _ in range(size):
            candidate = str(self.network.network_address + self.next_index)
            self.next_index = self.next_index % (size - 2) + 1
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise RuntimeError("the ClusterIP range 127.2.0.0/16 is exhausted")

    def reserve(self, ip: str) -> None:
        self.used.add(ip)

    def release(self, ip: str) -> None:
        self.used.discard(ip)
