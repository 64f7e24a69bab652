"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

kubectl's typed clients (`kubectl create deployment|job|namespace|configmap|secret|...`,
`kubectl drain`) send built-in objects as protobuf. This module knows the wire layout of the
kinds those commands send; a body with a kind or field it does not know is refused with
415 and a message naming it, never stored half-decoded. Responses are always JSON, which
every client accepts.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

from .errors import ApiError

MAGIC = b"k8s\x00"

# Message layouts: "jsonName:number:type" entries. Types: s string, b bytes (base64 in
# JSON), i integer, ? bool, T Time, Q Quantity, IS IntOrString, F FieldsV1, m:K:V map,
# X ignored (a status the server resets on create anyway), or another message's name.
# A trailing "*" marks a repeated field, a leading ">" an embedded struct whose fields
# JSON inlines into the parent.
_LAYOUTS: dict[str, str] = {
    "ObjectMeta": "name:1:s generateName:2:s namespace:3:s selfLink:4:s uid:5:s "
    "resourceVersion:6:s generation:7:i creationTimestamp:8:T deletionTimestamp:9:T "
    "deletionGracePeriodSeconds:10:i labels:11:m:s:s annotations:12:m:s:s "
    "ownerReferences:13:OwnerReference* finalizers:14:s* managedFields:17:ManagedFieldsEntry*",
    "OwnerReference": "kind:1:s name:3:s uid:4:s apiVersion:5:s controller:6:? "
    "blockOwnerDeletion:7:?",
    "ManagedFieldsEntry": "manager:1:s operation:2:s apiVersion:3:s time:4:T fieldsType:6:s "
    "fieldsV1:7:F subresource:8:s",
    "LabelSelector": "matchLabels:1:m:s:s matchExpressions:2:LabelSelectorRequirement*",
    "LabelSelectorRequirement": "key:1:s operator:2:s values:3:s*",
    "LocalObjectReference": "name:1:s",
    "ObjectReference": "kind:1:s namespace:2:s name:3:s uid:4:s apiVersion:5:s "
    "resourceVersion:6:s fieldPath:7:s",
    "TypedLocalObjectReference": "apiGroup:1:s kind:2:s name:3:s",
    # core/v1
    "Namespace": "metadata:1:ObjectMeta spec:2:NamespaceSpec status:3:X",
    "NamespaceSpec": "finalizers:1:s*",
    "ConfigMap": "metadata:1:ObjectMeta data:2:m:s:s binaryData:3:m:s:b immutable:4:?",
    "Secret": "metadata:1:ObjectMeta data:2:m:s:b type:3:s stringData:4:m:s:s immutable:5:?",
    "ServiceAccount": "metadata:1:ObjectMeta secrets:2:ObjectReference* "
    "imagePullSecrets:3:LocalObjectReference* automountServiceAccountToken:4:?",
    "Service": "metadata:1:ObjectMeta spec:2:ServiceSpec status:3:X",
    "ServiceSpec": "ports:1:ServicePort* selector:2:m:s:s clusterIP:3:s type:4:s "
    "externalIPs:5:s* sessionAffinity:7:s loadBalancerIP:8:s loadBalancerSourceRanges:9:s* "
    "externalName:10:s externalTrafficPolicy:11:s healthCheckNodePort:12:i "
    "publishNotReadyAddresses:13:? ipFamilyPolicy:17:s clusterIPs:18:s* ipFamilies:19:s* "
    "allocateLoadBalancerNodePorts:20:? loadBalancerClass:21:s internalTrafficPolicy:22:s "
    "trafficDistribution:23:s",
    "ServicePort": "name:1:s protocol:2:s port:3:i targetPort:4:IS nodePort:5:i appProtocol:6:s",
    "PodTemplateSpec": "metadata:1:ObjectMeta spec:2:PodSpec",
    "PodSpec": "volumes:1:Volume* containers:2:Container* restartPolicy:3:s "
    "terminationGracePeriodSeconds:4:i activeDeadlineSeconds:5:i dnsPolicy:6:s "
    "nodeSelector:7:m:s:s serviceAccountName:8:s serviceAccount:9:s nodeName:10:s "
    "hostNetwork:11:? hostPID:12:? hostIPC:13:? securityContext:14:PodSecurityContext "
    "imagePullSecrets:15:LocalObjectReference* hostname:16:s subdomain:17:s "
    "schedulerName:19:s initContainers:20:Container* automountServiceAccountToken:21:? "
    "tolerations:22:Toleration* priorityClassName:24:s priority:25:i "
    "shareProcessNamespace:27:? runtimeClassName:29:s enableServiceLinks:30:? "
    "preemptionPolicy:31:s setHostnameAsFQDN:35:? hostUsers:37:?",
    "Container": "name:1:s image:2:s command:3:s* args:4:s* workingDir:5:s "
    "ports:6:ContainerPort* env:7:EnvVar* resources:8:ResourceRequirements "
    "volumeMounts:9:VolumeMount* livenessProbe:10:Probe readinessProbe:11:Probe "
    "terminationMessagePath:13:s imagePullPolicy:14:s securityContext:15:SecurityContext "
    "stdin:16:? stdinOnce:17:? tty:18:? envFrom:19:EnvFromSource* "
    "terminationMessagePolicy:20:s startupProbe:22:Probe restartPolicy:24:s",
    "ContainerPort": "name:1:s hostPort:2:i containerPort:3:i protocol:4:s hostIP:5:s",
    "EnvVar": "name:1:s value:2:s valueFrom:3:EnvVarSource",
    "EnvVarSource": "fieldRef:1:ObjectFieldSelector resourceFieldRef:2:ResourceFieldSelector "
    "configMapKeyRef:3:ConfigMapKeySelector secretKeyRef:4:SecretKeySelector",
    "ObjectFieldSelector": "apiVersion:1:s fieldPath:2:s",
    "ResourceFieldSelector": "containerName:1:s resource:2:s divisor:3:Q",
    "ConfigMapKeySelector": ">localObjectReference:1:LocalObjectReference key:2:s optional:3:?",
    "SecretKeySelector": ">localObjectReference:1:LocalObjectReference key:2:s optional:3:?",
    "EnvFromSource": "prefix:1:s configMapRef:2:ConfigMapEnvSource secretRef:3:SecretEnvSource",
    "ConfigMapEnvSource": ">localObjectReference:1:LocalObjectReference optional:2:?",
    "SecretEnvSource": ">localObjectReference:1:LocalObjectReference optional:2:?",
    "ResourceRequirements": "limits:1:m:s:Q requests:2:m:s:Q",
    "VolumeMount": "name:1:s readOnly:2:? mountPath:3:s subPath:4:s mountPropagation:5:s "
    "subPathExpr:6:s recursiveReadOnly:7:s",
    "Probe": ">handler:1:ProbeHandler initialDelaySeconds:2:i timeoutSeconds:3:i "
    "periodSeconds:4:i successThreshold:5:i failureThreshold:6:i "
    "terminationGracePeriodSeconds:7:i",
    "ProbeHandler": "exec:1:ExecAction httpGet:2:HTTPGetAction tcpSocket:3:TCPSocketAction "
    "grpc:4:GRPCAction",
    "ExecAction": "command:1:s*",
    "HTTPGetAction": "path:1:s port:2:IS host:3:s scheme:4:s httpHeaders:5:HTTPHeader*",
    "HTTPHeader": "name:1:s value:2:s",
    "TCPSocketAction": "port:1:IS host:2:s",
    "GRPCAction": "port:1:i service:2:s",
    "SecurityContext": "capabilities:1:Capabilities privileged:2:? runAsUser:4:i "
    "runAsNonRoot:5:? readOnlyRootFilesystem:6:? allowPrivilegeEscalation:7:? "
    "runAsGroup:8:i procMount:9:s seccompProfile:11:SeccompProfile",
    "Capabilities": "add:1:s* drop:2:s*",
    "SeccompProfile": "type:1:s localhostProfile:2:s",
    "PodSecurityContext": "runAsUser:2:i runAsNonRoot:3:? supplementalGroups:4:i* fsGroup:5:i "
    "runAsGroup:6:i fsGroupChangePolicy:9:s seccompProfile:10:SeccompProfile "
    "supplementalGroupsPolicy:12:s",
    "Volume": "name:1:s >volumeSource:2:VolumeSource",
    "VolumeSource": "hostPath:1:HostPathVolumeSource emptyDir:2:EmptyDirVolumeSource "
    "secret:6:SecretVolumeSource persistentVolumeClaim:10:PersistentVolumeClaimVolumeSource "
    "configMap:19:ConfigMapVolumeSource",
    "HostPathVolumeSource": "path:1:s type:2:s",
    "EmptyDirVolumeSource": "medium:1:s sizeLimit:2:Q",
    "SecretVolumeSource": "secretName:1:s items:2:KeyToPath* defaultMode:3:i optional:4:?",
    "ConfigMapVolumeSource": ">localObjectReference:1:LocalObjectReference items:2:KeyToPath* "
    "defaultMode:3:i optional:4:?",
    "KeyToPath": "key:1:s path:2:s mode:3:i",
    "PersistentVolumeClaimVolumeSource": "claimName:1:s readOnly:2:?",
    "Toleration": "key:1:s operator:2:s value:3:s effect:4:s tolerationSeconds:5:i",
    # apps/v1
    "Deployment": "metadata:1:ObjectMeta spec:2:DeploymentSpec status:3:X",
    "DeploymentSpec": "replicas:1:i selector:2:LabelSelector template:3:PodTemplateSpec "
    "strategy:4:DeploymentStrategy minReadySeconds:5:i revisionHistoryLimit:6:i paused:7:? "
    "progressDeadlineSeconds:9:i",
    "DeploymentStrategy": "type:1:s rollingUpdate:2:RollingUpdateDeployment",
    "RollingUpdateDeployment": "maxUnavailable:1:IS maxSurge:2:IS",
    # batch/v1
    "Job": "metadata:1:ObjectMeta spec:2:JobSpec status:3:X",
    "JobSpec": "parallelism:1:i completions:2:i activeDeadlineSeconds:3:i "
    "selector:4:LabelSelector manualSelector:5:? template:6:PodTemplateSpec backoffLimit:7:i "
    "ttlSecondsAfterFinished:8:i completionMode:9:s suspend:10:? backoffLimitPerIndex:12:i "
    "maxFailedIndexes:13:i podReplacementPolicy:14:s managedBy:15:s",
    "CronJob": "metadata:1:ObjectMeta spec:2:CronJobSpec status:3:X",
    "CronJobSpec": "schedule:1:s startingDeadlineSeconds:2:i concurrencyPolicy:3:s "
    "suspend:4:? jobTemplate:5:JobTemplateSpec successfulJobsHistoryLimit:6:i "
    "failedJobsHistoryLimit:7:i timeZone:8:s",
    "JobTemplateSpec": "metadata:1:ObjectMeta spec:2:JobSpec",
    # policy/v1
    "PodDisruptionBudget": "metadata:1:ObjectMeta spec:2:PodDisruptionBudgetSpec status:3:X",
    "PodDisruptionBudgetSpec": "minAvailable:1:IS selector:2:LabelSelector "
    "maxUnavailable:3:IS unhealthyPodEvictionPolicy:4:s",
    "Eviction": "metadata:1:ObjectMeta deleteOptions:2:DeleteOptions",
    "DeleteOptions": "gracePeriodSeconds:1:i preconditions:2:Preconditions "
    "orphanDependents:3:? propagationPolicy:4:s dryRun:5:s*",
    "Preconditions": "uid:1:s resourceVersion:2:s",
    # rbac/v1
    "Role": "metadata:1:ObjectMeta rules:2:PolicyRule*",
    "ClusterRole": "metadata:1:ObjectMeta rules:2:PolicyRule*",
    "PolicyRule": "verbs:1:s* apiGroups:2:s* resources:3:s* resourceNames:4:s* "
    "nonResourceURLs:5:s*",
    "RoleBinding": "metadata:1:ObjectMeta subjects:2:Subject* roleRef:3:RoleRef",
    "ClusterRoleBinding": "metadata:1:ObjectMeta subjects:2:Subject* roleRef:3:RoleRef",
    "Subject": "kind:1:s apiGroup:2:s name:3:s namespace:4:s",
    "RoleRef": "apiGroup:1:s kind:2:s name:3:s",
    # authentication/v1 and authorization/v1 (kubectl create token, auth can-i|whoami)
    "SelfSubjectReview": "metadata:1:ObjectMeta status:2:X",
    "TokenRequest": "metadata:1:ObjectMeta spec:2:TokenRequestSpec status:3:X",
    "TokenRequestSpec": "audiences:1:s* boundObjectRef:3:BoundObjectReference "
    "expirationSeconds:4:i",
    "BoundObjectReference": "kind:1:s apiVersion:2:s name:3:s uid:4:s",
    "TokenReview": "metadata:1:ObjectMeta spec:2:TokenReviewSpec status:3:X",
    "TokenReviewSpec": "token:1:s audiences:2:s*",
    "SelfSubjectAccessReview": "metadata:1:ObjectMeta spec:2:SelfSubjectAccessReviewSpec "
    "status:3:X",
    "SelfSubjectAccessReviewSpec": "resourceAttributes:1:ResourceAttributes "
    "nonResourceAttributes:2:NonResourceAttributes",
    "ResourceAttributes": "namespace:1:s verb:2:s group:3:s version:4:s resource:5:s "
    "subresource:6:s name:7:s",
    "NonResourceAttributes": "path:1:s verb:2:s",
    "SubjectAccessReview": "metadata:1:ObjectMeta spec:2:SubjectAccessReviewSpec status:3:X",
    "LocalSubjectAccessReview": "metadata:1:ObjectMeta spec:2:SubjectAccessReviewSpec status:3:X",
    "SubjectAccessReviewSpec": "resourceAttributes:1:ResourceAttributes "
    "nonResourceAttributes:2:NonResourceAttributes user:3:s groups:4:s* uid:6:s",
    "SelfSubjectRulesReview": "metadata:1:ObjectMeta spec:2:SelfSubjectRulesReviewSpec status:3:X",
    "SelfSubjectRulesReviewSpec": "namespace:1:s",
    # networking/v1
    "Ingress": "metadata:1:ObjectMeta spec:2:IngressSpec status:3:X",
    "IngressSpec": "defaultBackend:1:IngressBackend tls:2:IngressTLS* rules:3:IngressRule* "
    "ingressClassName:4:s",
    "IngressBackend": "resource:3:TypedLocalObjectReference service:4:IngressServiceBackend",
    "IngressServiceBackend": "name:1:s port:2:ServiceBackendPort",
    "ServiceBackendPort": "name:1:s number:2:i",
    "IngressTLS": "hosts:1:s* secretName:2:s",
    "IngressRule": "host:1:s >ingressRuleValue:2:IngressRuleValue",
    "IngressRuleValue": "http:1:HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "paths:1:HTTPIngressPath*",
    "HTTPIngressPath": "path:1:s backend:2:IngressBackend pathType:3:s",
}

# Top-level kinds this decoder accepts (others get 415 with a clear message).
KINDS = {
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Service",
    "Deployment",
    "Job",
    "CronJob",
    "PodDisruptionBudget",
    "Eviction",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "Ingress",
    "SelfSubjectReview",
    "TokenRequest",
    "TokenReview",
    "SelfSubjectAccessReview",
    "SubjectAccessReview",
    "LocalSubjectAccessReview",
    "SelfSubjectRulesReview",
}


# Non-pointer fields Go's JSON encoding omits when zero (protobuf always carries them).
_OMIT_ZERO: dict[str, set[str]] = {
    "ObjectMeta": {"generation"},
    "ContainerPort": {"hostPort"},
    "ServicePort": {"nodePort"},
    "ServiceSpec": {"healthCheckNodePort", "publishNotReadyAddresses"},
    "DeploymentSpec": {"minReadySeconds", "paused"},
    "PodSpec": {"hostNetwork", "hostPID", "hostIPC"},
    "Container": {"stdin", "stdinOnce", "tty"},
    "VolumeMount": {"readOnly"},
    "PersistentVolumeClaimVolumeSource": {"readOnly"},
    "ServiceBackendPort": {"number"},
}


class _Field:
    __slots__ = ("name", "number", "type", "repeated", "inline")

    def __init__(self, spec: str) -> None:
        self.inline = spec.startswith(">")
        spec = spec.lstrip(">")
        name, number, rest = spec.split(":", 2)
        self.repeated = rest.endswith("*")
        self.name = name
        self.number = int(number)
        self.type = rest.rstrip("*")


def _parse_layouts() -> dict[str, dict[int, _Field]]:
    out: dict[str, dict[int, _Field]] = {}
    for message, spec in _LAYOUTS.items():
        fields = [_Field(s) for s in spec.split()]
        out[message] = {f.number: f for f in fields}
    return out


LAYOUTS = _parse_layouts()


def _unsupported(message: str) -> ApiError:
    return ApiError(
        415,
        f"kubesandbox cannot decode this protobuf body: {message}. Send the object as JSON "
        "instead (for example `kubectl apply -f` or `kubectl create -f` with a manifest)",
        reason="UnsupportedMediaType",
    )


# ------------------------------------------------------------------ wire format


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _unsupported("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Split a message into (field number, wire type, raw value)."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = data[pos : pos + length]
            pos += length
        elif wire == 1:
            value = data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            value = data[pos : pos + 4]
            pos += 4
        else:
            raise _unsupported(f"unexpected wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes) -> str | None:
    seconds = 0
    for number, _, value in _fields(data):
        if number == 1:
            seconds = _signed(value)
    if seconds == 0:
        return None  # Go's zero Time, which JSON renders as null
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(data: bytes) -> int | str:
    kind, number_value, text = 0, 0, ""
    for number, _, value in _fields(data):
        if number == 1:
            kind = value
        elif number == 2:
            number_value = _signed(value)
        elif number == 3:
            text = value.decode()
    return text if kind == 1 else number_value


def _scalar(kind: str, wire: int, value: Any, where: str) -> Any:
    if kind == "s":
        return str(value) if wire == 0 else bytes(value).decode()
    if kind == "b":
        return base64.b64encode(bytes(value)).decode()
    if kind == "i":
        return _signed(value) if wire == 0 else value
    if kind == "?":
        return bool(value)
    if kind == "T":
        return _time(value)
    if kind == "Q":
        return next((bytes(v).decode() for n, _, v in _fields(value) if n == 1), "0")
    if kind == "IS":
        return _int_or_string(value)
    if kind == "F":
        raw = next((bytes(v) for n, _, v in _fields(value) if n == 1), b"{}")
        return json.loads(raw or b"{}")
    if kind in LAYOUTS:
        return decode_message(kind, value, where)
    raise _unsupported(f"unknown field type {kind} at {where}")


def _map_entry(key_kind: str, value_kind: str, data: bytes, where: str) -> tuple[str, Any]:
    key: Any = ""
    value: Any = "" if value_kind in ("s", "b", "Q") else None
    for number, wire, raw in _fields(data):
        if number == 1:
            key = _scalar(key_kind, wire, raw, where)
        elif number == 2:
            value = _scalar(value_kind, wire, raw, where)
    return str(key), value


def decode_message(message: str, data: bytes, where: str = "") -> dict[str, Any]:
    layout = LAYOUTS[message]
    out: dict[str, Any] = {}
    for number, wire, raw in _fields(data):
        field = layout.get(number)
        if field is None:
            raise _unsupported(
                f"field {number} of {message} (at {where or 'the top'}) is not known to kubesandbox"
            )
        path = f"{where}.{field.name}" if where else field.name
        if field.type == "X":
            continue
        if field.type.startswith("m:"):
            _, key_kind, value_kind = field.type.split(":")
            key, value = _map_entry(key_kind, value_kind, raw, path)
            out.setdefault(field.name, {})[key] = value
            continue
        if field.repeated and wire == 2 and field.type in ("i", "?"):
            values, pos = [], 0  # packed repeated scalars
            while pos < len(raw):
                v, pos = _varint(raw, pos)
                values.append(_scalar(field.type, 0, v, path))
            out.setdefault(field.name, []).extend(values)
            continue
        value = _scalar(field.type, wire, raw, path)
        if field.inline:
            if isinstance(value, dict):
                out.update(value)
            continue
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        elif (
            value is None
            or value == ""
            or (value in (0, False) and field.name in _OMIT_ZERO.get(message, ()))
        ):
            continue  # what omitempty leaves out of the JSON form
        else:
            out[field.name] = value
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """`k8s\\0` + runtime.Unknown{typeMeta, raw} -> the object as JSON-shaped dicts."""
    if not body.startswith(MAGIC):
        raise _unsupported("the body does not start with the Kubernetes protobuf magic bytes")
    api_version = kind = ""
    raw = b""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1:
                    api_version = bytes(v).decode()
                elif n == 2:
                    kind = bytes(v).decode()
        elif number == 2:
            raw = bytes(value)
    if kind not in KINDS:
        raise _unsupported(f"kind {kind or '<none>'} ({api_version}) is not supported in protobuf")
    obj = decode_message(kind, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}
