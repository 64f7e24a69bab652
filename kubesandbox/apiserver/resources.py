"""The resource types the API server serves: built-in kinds and CRD-defined ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass
class ScaleSpec:
    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None
    selector_is_label_selector: bool = False


@dataclass
class ResourceType:
    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_generation: bool = False
    verbs: tuple[str, ...] = ALL_VERBS
    scale: ScaleSpec | None = None
    # CRD-only parts, keyed by version.
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    printer_columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crd_name: str | None = None
    storage_version: str = ""
    definition_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.storage_version:
            self.storage_version = self.versions[0]

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def is_crd(self) -> bool:
        return self.crd_name is not None

    def api_version(self, version: str | None = None) -> str:
        v = version or self.storage_version
        return f"{self.group}/{v}" if self.group else v

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


def _scale_deploy() -> ScaleSpec:
    return ScaleSpec(
        ".spec.replicas", ".status.replicas", ".spec.selector", selector_is_label_selector=True
    )


def _b(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    subs: tuple[str, ...] = (),
    gen: bool = False,
    singular: str | None = None,
    verbs: tuple[str, ...] = ALL_VERBS,
    scale: ScaleSpec | None = None,
    definition: str = "",
) -> ResourceType:
    return ResourceType(
        group=group,
        versions=(version,),
        plural=plural,
        singular=singular or kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=cats,
        subresources=subs,
        has_generation=gen,
        verbs=verbs,
        scale=scale,
        definition_names={version: definition},
    )


def _defn(prefix: str, kind: str) -> str:
    return f"io.k8s.api.{prefix}.{kind}"


def builtin_resources() -> list[ResourceType]:
    core = "core.v1"
    return [
        _b(
            "",
            "v1",
            "namespaces",
            "Namespace",
            False,
            ("ns",),
            subs=("status", "finalize"),
            definition=_defn(core, "Namespace"),
        ),
        _b(
            "",
            "v1",
            "nodes",
            "Node",
            False,
            ("no",),
            subs=("status",),
            definition=_defn(core, "Node"),
        ),
        _b(
            "",
            "v1",
            "pods",
            "Pod",
            short=("po",),
            cats=("all",),
            subs=("status", "log", "eviction", "binding"),
            gen=True,
            definition=_defn(core, "Pod"),
        ),
        _b(
            "",
            "v1",
            "services",
            "Service",
            short=("svc",),
            cats=("all",),
            subs=("status",),
            definition=_defn(core, "Service"),
        ),
        _b(
            "",
            "v1",
            "endpoints",
            "Endpoints",
            short=("ep",),
            singular="endpoints",
            definition=_defn(core, "Endpoints"),
        ),
        _b("", "v1", "configmaps", "ConfigMap", short=("cm",), definition=_defn(core, "ConfigMap")),
        _b("", "v1", "secrets", "Secret", definition=_defn(core, "Secret")),
        _b(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            short=("sa",),
            subs=("token",),
            definition=_defn(core, "ServiceAccount"),
        ),
        _b(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            short=("pvc",),
            subs=("status",),
            definition=_defn(core, "PersistentVolumeClaim"),
        ),
        _b(
            "",
            "v1",
            "persistentvolumes",
            "PersistentVolume",
            False,
            ("pv",),
            subs=("status",),
            definition=_defn(core, "PersistentVolume"),
        ),
        _b(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            False,
            ("sc",),
            definition=_defn("storage.v1", "StorageClass"),
        ),
        _b("", "v1", "events", "Event", short=("ev",), definition=_defn(core, "Event")),
        _b(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            short=("ev",),
            definition="io.k8s.api.events.v1.Event",
        ),
        _b(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            definition="io.k8s.api.discovery.v1.EndpointSlice",
        ),
        _b(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            short=("deploy",),
            cats=("all",),
            subs=("status", "scale"),
            gen=True,
            scale=_scale_deploy(),
            definition=_defn("apps.v1", "Deployment"),
        ),
        _b(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            short=("rs",),
            cats=("all",),
            subs=("status", "scale"),
            gen=True,
            scale=_scale_deploy(),
            definition=_defn("apps.v1", "ReplicaSet"),
        ),
        _b(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            short=("sts",),
            cats=("all",),
            subs=("status", "scale"),
            gen=True,
            scale=_scale_deploy(),
            definition=_defn("apps.v1", "StatefulSet"),
        ),
        _b(
            "apps",
            "v1",
            "controllerrevisions",
            "ControllerRevision",
            definition=_defn("apps.v1", "ControllerRevision"),
        ),
        _b(
            "batch",
            "v1",
            "jobs",
            "Job",
            cats=("all",),
            subs=("status",),
            gen=True,
            definition=_defn("batch.v1", "Job"),
        ),
        _b(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            short=("cj",),
            cats=("all",),
            subs=("status",),
            gen=True,
            definition=_defn("batch.v1", "CronJob"),
        ),
        _b(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            short=("pdb",),
            subs=("status",),
            gen=True,
            definition=_defn("policy.v1", "PodDisruptionBudget"),
        ),
        _b(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            short=("netpol",),
            gen=True,
            definition=_defn("networking.v1", "NetworkPolicy"),
        ),
        _b(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            short=("ing",),
            subs=("status",),
            gen=True,
            definition=_defn("networking.v1", "Ingress"),
        ),
        _b("rbac.authorization.k8s.io", "v1", "roles", "Role", definition=_defn("rbac.v1", "Role")),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            definition=_defn("rbac.v1", "RoleBinding"),
        ),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            False,
            definition=_defn("rbac.v1", "ClusterRole"),
        ),
        _b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            False,
            definition=_defn("rbac.v1", "ClusterRoleBinding"),
        ),
        _b(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            definition=_defn("coordination.v1", "Lease"),
        ),
        _b(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            ("crd", "crds"),
            cats=("api-extensions",),
            subs=("status",),
            gen=True,
            definition="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
            "CustomResourceDefinition",
        ),
        *review_resources(),
    ]


REVIEW_KINDS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"): ("SelfSubjectAccessReview", False),
    ("authorization.k8s.io", "selfsubjectrulesreviews"): ("SelfSubjectRulesReview", False),
    ("authorization.k8s.io", "subjectaccessreviews"): ("SubjectAccessReview", False),
    ("authorization.k8s.io", "localsubjectaccessreviews"): ("LocalSubjectAccessReview", True),
    ("authentication.k8s.io", "selfsubjectreviews"): ("SelfSubjectReview", False),
    ("authentication.k8s.io", "tokenreviews"): ("TokenReview", False),
}


def review_resources() -> list[ResourceType]:
    """Create-only kinds that are answered, never stored."""
    return [
        _b(
            group,
            "v1",
            plural,
            kind,
            namespaced,
            verbs=("create",),
            definition=f"io.k8s.api.{group.split('.')[0]}.v1.{kind}",
        )
        for (group, plural), (kind, namespaced) in REVIEW_KINDS.items()
    ]


SUBRESOURCE_KINDS: dict[str, tuple[str, str, str]] = {
    "status": ("", "", ""),  # same kind as the parent
    "scale": ("autoscaling", "v1", "Scale"),
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "log": ("", "", "Pod"),
    "finalize": ("", "", ""),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
}

SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "eviction": ("create",),
    "binding": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "token": ("create",),
}


def crd_to_resource(crd: dict[str, Any]) -> ResourceType:
    """Build the served resource type from a CustomResourceDefinition object."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
    versions = tuple(v["name"] for v in served)
    subs: list[str] = []
    scale: ScaleSpec | None = None
    schemas: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[dict[str, Any]]] = {}
    for v in served:
        sr = v.get("subresources") or {}
        if "status" in sr and "status" not in subs:
            subs.append("status")
        if "scale" in sr and sr["scale"] is not None:
            if "scale" not in subs:
                subs.append("scale")
            s = sr["scale"]
            scale = ScaleSpec(
                s.get("specReplicasPath", ".spec.replicas"),
                s.get("statusReplicasPath", ".status.replicas"),
                s.get("labelSelectorPath"),
            )
        schemas[v["name"]] = (v.get("schema") or {}).get("openAPIV3Schema") or {}
        columns[v["name"]] = list(v.get("additionalPrinterColumns") or [])
    return ResourceType(
        group=spec.get("group", ""),
        versions=versions or ("v1",),
        plural=names.get("plural", ""),
        singular=names.get("singular") or names.get("kind", "").lower(),
        kind=names.get("kind", ""),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(subs),
        has_generation=True,
        scale=scale,
        schemas=schemas,
        printer_columns=columns,
        crd_name=crd["metadata"]["name"],
        storage_version=storage or (versions[0] if versions else "v1"),
    )
