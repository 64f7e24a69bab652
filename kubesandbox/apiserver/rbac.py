"""The RBAC authorizer: Roles, ClusterRoles (with aggregation), their bindings, and the
default ClusterRoles and bindings kube-apiserver bootstraps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .auth import AUTHENTICATED, MASTERS, SA_PREFIX, UNAUTHENTICATED, UserInfo
from .errors import ApiError
from .selectors import selector_matches
from .store import Store

RBAC = "rbac.authorization.k8s.io"
ROLES = (RBAC, "roles")
CLUSTER_ROLES = (RBAC, "clusterroles")
ROLE_BINDINGS = (RBAC, "rolebindings")
CLUSTER_ROLE_BINDINGS = (RBAC, "clusterrolebindings")
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


@dataclass
class Attributes:
    """What a request does, as kube-apiserver's RequestInfo tells the authorizer."""

    verb: str
    resource_request: bool = True
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @classmethod
    def from_review(cls, spec: dict[str, Any], namespace: str | None = None) -> Attributes:
        res = spec.get("resourceAttributes")
        if isinstance(res, dict):
            return cls(
                verb=str(res.get("verb", "")),
                namespace=namespace if namespace is not None else str(res.get("namespace", "")),
                group=str(res.get("group", "")),
                resource=str(res.get("resource", "")),
                subresource=str(res.get("subresource", "")),
                name=str(res.get("name", "")),
            )
        non = spec.get("nonResourceAttributes") or {}
        return cls(verb=str(non.get("verb", "")), resource_request=False, path=non.get("path", ""))


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == attrs.path:
                return True
            if url.endswith("*") and attrs.path.startswith(url[:-1]):
                return True
        return False
    if not _has(rule.get("apiGroups"), attrs.group):
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    if not any(
        r == "*" or r == combined or (attrs.subresource and r == "*/" + attrs.subresource)
        for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: dict[str, Any], user: UserInfo, binding_ns: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(user.name == f"{SA_PREFIX}{ns}:{name}")
    return False


def _describe_subject(subject: dict[str, Any], binding_ns: str) -> str:
    kind = subject.get("kind", "")
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return f'ServiceAccount "{subject.get("name", "")}/{ns}"'
    return f'{kind} "{subject.get("name", "")}"'


class Authorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _rules(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(why, rule) for every rule that applies to `user` in `namespace`."""
        sources: list[tuple[tuple[str, str], str | None]] = [(CLUSTER_ROLE_BINDINGS, None)]
        if namespace:
            sources.append((ROLE_BINDINGS, namespace))
        for key, ns in sources:
            for binding in self.store.iter(key, ns):
                subjects = [
                    s
                    for s in binding.get("subjects") or []
                    if _subject_matches(s, user, binding["metadata"].get("namespace", ""))
                ]
                if not subjects:
                    continue
                ref = binding.get("roleRef") or {}
                if ref.get("kind") == "ClusterRole":
                    role = self.store.get(CLUSTER_ROLES, "", ref.get("name", ""))
                else:
                    role = self.store.get(ROLES, ns or "", ref.get("name", ""))
                if role is None:
                    continue
                label = binding["metadata"]["name"] + (f"/{ns}" if ns else "")
                why = (
                    f"RBAC: allowed by {'RoleBinding' if ns else 'ClusterRoleBinding'} "
                    f'"{label}" of {ref.get("kind")} "{ref.get("name")}" to '
                    f"{_describe_subject(subjects[0], ns or '')}"
                )
                for rule in role.get("rules") or []:
                    yield why, rule

    def authorize(self, user: UserInfo, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) as kube-apiserver's authorizer chain answers."""
        if user.privileged:
            return True, ""
        for why, rule in self._rules(user, attrs.namespace if attrs.resource_request else ""):
            if rule_allows(rule, attrs):
                return True, why
        return False, ""

    def rules_review(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        resource_rules: list[dict[str, Any]] = []
        non_resource: list[dict[str, Any]] = []
        for _, rule in self._rules(user, namespace):
            if rule.get("nonResourceURLs"):
                non_resource.append(
                    {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
                )
                continue
            entry: dict[str, Any] = {
                k: rule[k]
                for k in ("verbs", "apiGroups", "resources", "resourceNames")
                if k in rule
            }
            if entry not in resource_rules:
                resource_rules.append(entry)
        return {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource,
            "incomplete": False,
        }


def forbidden(user: UserInfo, attrs: Attributes, reason: str = "") -> ApiError:
    """403 worded as kube-apiserver's `responsewriters.Forbidden`."""
    if not attrs.resource_request:
        msg = f'User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
        return ApiError(403, f"forbidden: {msg}", reason="Forbidden", details={})
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    msg = (
        f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group '
        f'"{attrs.group}" '
        + (f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope")
    )
    if reason:
        msg += f": {reason}"
    qualified = attrs.resource + (f".{attrs.group}" if attrs.group else "")
    prefix = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource}
    if attrs.group:
        details["group"] = attrs.group
    if not attrs.name:
        details.pop("name")
    return ApiError(403, f"{prefix} is forbidden: {msg}", reason="Forbidden", details=details)


# ------------------------------------------------------------ aggregation
def aggregated_rules(store: Store, role: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The rules of an aggregated ClusterRole (None if it has no aggregationRule)."""
    agg = role.get("aggregationRule")
    if not isinstance(agg, dict):
        return None
    selectors = agg.get("clusterRoleSelectors") or []
    rules: list[dict[str, Any]] = []
    for other in sorted(store.iter(CLUSTER_ROLES, None), key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == role["metadata"]["name"]:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(selector_matches(sel, labels) for sel in selectors):
            for rule in other.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules


# ------------------------------------------------------------ bootstrap policy
def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def _with_subs(names: str, subs: str = "status") -> list[str]:
    out = []
    for name in names.split():
        out.append(name)
        out.extend(f"{name}/{s}" for s in subs.split())
    return out


def _view_rules() -> list[dict[str, Any]]:
    return [
        _rule(
            [""],
            [
                *_with_subs("persistentvolumeclaims services"),
                "configmaps", "endpoints", "pods", "replicationcontrollers",
                "replicationcontrollers/scale", "serviceaccounts",
            ],
            READ,
        ),
        _rule(
            [""],
            [
                "bindings", "events", "limitranges", "namespaces/status", "pods/log",
                "pods/status", "replicationcontrollers/status", "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        _rule([""], ["namespaces"], READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        _rule(
            ["apps"],
            ["controllerrevisions", *_with_subs("daemonsets"),
             *_with_subs("deployments replicasets statefulsets", "scale status")],
            READ,
        ),
        _rule(["autoscaling"], _with_subs("horizontalpodautoscalers"), READ),
        _rule(["batch"], _with_subs("cronjobs jobs"), READ),
        _rule(["policy"], _with_subs("poddisruptionbudgets"), READ),
        _rule(["networking.k8s.io"], [*_with_subs("ingresses"), "networkpolicies"], READ),
    ]  # fmt: skip


def _edit_rules() -> list[dict[str, Any]]:
    return [
        _rule(
            [""],
            ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
             "services/proxy"],
            READ,
        ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule(
            [""],
            ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
             "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
             "services/proxy"],
            WRITE,
        ),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(
            ["apps"],
            ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
             "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"],
            WRITE,
        ),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], WRITE),
        _rule(["coordination.k8s.io"], ["leases"], [*READ, *WRITE]),
    ]  # fmt: skip


def _admin_rules() -> list[dict[str, Any]]:
    return [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule([RBAC], ["rolebindings", "roles"], [*READ, *WRITE]),
    ]


DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]


def _meta(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }


def _aggregating(name: str, into: str | None) -> dict[str, Any]:
    labels = {f"{AGGREGATE}{into}": "true"} if into else None
    return {
        "metadata": _meta(name, labels),
        "aggregationRule": {
            "clusterRoleSelectors": [{"matchLabels": {f"{AGGREGATE}{name}": "true"}}]
        },
        "rules": [],
    }


def default_cluster_roles() -> list[dict[str, Any]]:
    return [
        {
            "metadata": _meta("cluster-admin"),
            "rules": [
                _rule(["*"], ["*"], ["*"]),
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        },
        _aggregating("admin", None),
        _aggregating("edit", "admin"),
        _aggregating("view", "edit"),
        {
            "metadata": _meta("system:aggregate-to-admin", {f"{AGGREGATE}admin": "true"}),
            "rules": _admin_rules(),
        },
        {
            "metadata": _meta("system:aggregate-to-edit", {f"{AGGREGATE}edit": "true"}),
            "rules": _edit_rules(),
        },
        {
            "metadata": _meta("system:aggregate-to-view", {f"{AGGREGATE}view": "true"}),
            "rules": _view_rules(),
        },
        {
            "metadata": _meta("system:discovery"),
            "rules": [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}],
        },
        {
            "metadata": _meta("system:public-info-viewer"),
            "rules": [{"nonResourceURLs": PUBLIC_URLS, "verbs": ["get"]}],
        },
        {
            "metadata": _meta("system:basic-user"),
            "rules": [
                _rule(
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ["create"],
                ),
                _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
            ],
        },
    ]


def default_cluster_role_bindings() -> list[dict[str, Any]]:
    def binding(role: str, *groups: str) -> dict[str, Any]:
        return {
            "metadata": _meta(role),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": g} for g in groups],
        }

    return [
        binding("cluster-admin", MASTERS),
        binding("system:discovery", AUTHENTICATED),
        binding("system:basic-user", AUTHENTICATED),
        binding("system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
    ]
