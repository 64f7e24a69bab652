"""Object semantics of the API server: the registry of served resources, create/update/
patch/delete with kube-apiserver's rules, finalizers, garbage collection and the
namespace lifecycle. HTTP lives in server.py; this module only works on the store."""

from __future__ import annotations

import datetime
import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from .. import fastjson
from . import errors
from .admission import ROOT_CA, admit_service_account, root_ca_configmap
from .builtin_schemas import SchemaNode, builtin_root
from .defaults import (
    ClusterIPAllocator,
    apply_builtin_defaults,
    validate_builtin,
    validate_name,
)
from .errors import ApiError, cause
from .fieldcache import MEMO, FieldSet
from .metadata import check_decodable, validate_metadata
from .patching import (
    _DELETE as _DELETE_MARK,
)
from .patching import (
    FieldPath,
    apply_merge,
    changed_fields,
    field_set,
    fields_have,
    fields_tree,
    fields_with,
    fields_without,
    json_patch,
    merge_patch,
    remove_path,
    render_path,
    strategic_merge,
    value_at,
)
from .rbac import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    aggregated_rules,
    default_cluster_role_bindings,
    default_cluster_roles,
)
from .resources import ResourceType, builtin_resources, crd_to_resource
from .schema import check_cel_compiles, process_custom_object
from .selectors import selector_matches
from .storage import STORAGE_CLASSES, admit_claim, default_storage_class
from .store import RKey, Store

log = structlog.get_logger("kubesandbox.apiserver")

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NS_KEY: RKey = ("", "namespaces")
CRD_KEY: RKey = ("apiextensions.k8s.io", "customresourcedefinitions")
RETURN_OBJECT_ON_DELETE = {"pods", "services", "namespaces", "secrets", "configmaps"}
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"

PATCH_JSON = "application/json-patch+json"
PATCH_MERGE = "application/merge-patch+json"
PATCH_STRATEGIC = "application/strategic-merge-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
PATCH_APPLY_CBOR = "application/apply-patch+cbor"


_stamp_cache: tuple[int, str] = (0, "")


def now() -> str:
    """The current time as kube-apiserver writes it (RFC 3339, whole seconds)."""
    global _stamp_cache
    second = int(time.time())
    if _stamp_cache[0] != second:
        stamp = datetime.datetime.fromtimestamp(second, datetime.UTC)
        _stamp_cache = (second, stamp.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _stamp_cache[1]


def _clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (faster than copy.deepcopy for it)."""
    return fastjson.loads(fastjson.dumps(value, default=str))


def new_uid() -> str:
    """A random (version 4) UUID as text, the same as `str(uuid.uuid4())` without building
    a UUID object (a third of the cost; one per created object)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class DeleteOptions:
    propagation: str | None = None
    grace_period: int | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def from_body(cls, body: Any) -> DeleteOptions:
        """The options a DeleteOptions body asks for (query parameters come on top)."""
        opts = cls()
        if isinstance(body, dict):
            opts.propagation = body.get("propagationPolicy")
            if body.get("orphanDependents") is True:
                opts.propagation = "Orphan"
            opts.grace_period = body.get("gracePeriodSeconds")
            pre = body.get("preconditions") or {}
            opts.precondition_uid = pre.get("uid")
            opts.precondition_rv = pre.get("resourceVersion")
            opts.dry_run = bool(body.get("dryRun"))
        return opts

    def check(self) -> None:
        """Refuse a propagation policy kube-apiserver does not know, with its message."""
        if self.propagation not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{self.propagation}": supported '
                'values: "Foreground", "Background", "Orphan"'
            )


class ApiCore:
    def __init__(self, store: Store, service_cidr: str | None = None, ca_pem: str = "") -> None:
        self.store = store
        # The CA that Pods trust (published as kube-root-ca.crt in every namespace).
        self.ca_pem = ca_pem
        self._aggregating = False
        self.types: dict[RKey, ResourceType] = {}
        self.by_gv: dict[tuple[str, str], dict[str, ResourceType]] = {}
        self.cluster_ips = (
            ClusterIPAllocator(service_cidr) if service_cidr else ClusterIPAllocator()
        )
        self._builtin_nodes: dict[RKey, SchemaNode] = {}
        self._crd_nodes: dict[tuple[RKey, str], tuple[dict[str, Any], SchemaNode]] = {}
        for rt in builtin_resources():
            self._register(rt)
        for crd in list(self.store.iter(CRD_KEY, None)):
            self._register(crd_to_resource(crd))
        for svc in self.store.iter(("", "services"), None):
            ip = (svc.get("spec") or {}).get("clusterIP")
            if ip and ip != "None":
                self.cluster_ips.reserve(ip)
        for ns in DEFAULT_NAMESPACES:
            if self.store.get(NS_KEY, "", ns) is None:
                self.create(
                    self.types[NS_KEY],
                    None,
                    "",
                    {"metadata": {"name": ns}},
                    manager="kube-apiserver",
                )
        for nsobj in list(self.store.iter(NS_KEY, None)):
            self._namespace_created(nsobj["metadata"]["name"])
        self._bootstrap()

    def _bootstrap(self) -> None:
        """The default ClusterRoles and bindings and StorageClass, created at start."""
        for key, objects in (
            (CLUSTER_ROLES, default_cluster_roles()),
            (CLUSTER_ROLE_BINDINGS, default_cluster_role_bindings()),
            (STORAGE_CLASSES, [default_storage_class()]),
        ):
            for obj in objects:
                if self.store.get(key, "", obj["metadata"]["name"]) is None:
                    self.create(self.types[key], None, "", obj, manager="kube-apiserver")
        self._reaggregate()

    def _reaggregate(self) -> None:
        """Fill aggregated ClusterRoles' rules from the roles their selectors pick (the
        clusterrole-aggregation controller's work, done at once here)."""
        if self._aggregating:
            return
        self._aggregating = True
        try:
            for _ in range(5):  # aggregated roles may aggregate each other (admin <- edit)
                changed = False
                for role in list(self.store.iter(CLUSTER_ROLES, None)):
                    rules = aggregated_rules(self.store, role)
                    if rules is not None and rules != (role.get("rules") or []):
                        self.update(
                            self.types[CLUSTER_ROLES],
                            None,
                            "",
                            role["metadata"]["name"],
                            {**role, "rules": rules},
                            manager="clusterrole-aggregation-controller",
                        )
                        changed = True
                if not changed:
                    break
        finally:
            self._aggregating = False

    # ------------------------------------------------------------ registry
    def _register(self, rt: ResourceType) -> None:
        old = self.types.get(rt.key)
        if old is not None:
            for v in old.versions:
                self.by_gv.get((old.group, v), {}).pop(old.plural, None)
                if not self.by_gv.get((old.group, v)):
                    self.by_gv.pop((old.group, v), None)
        self.types[rt.key] = rt
        for v in rt.versions:
            self.by_gv.setdefault((rt.group, v), {})[rt.plural] = rt

    def _unregister(self, rt: ResourceType) -> None:
        self.types.pop(rt.key, None)
        for v in rt.versions:
            group = self.by_gv.get((rt.group, v), {})
            group.pop(rt.plural, None)
            if not group:
                self.by_gv.pop((rt.group, v), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.by_gv.get((group, version), {}).get(plural)
        if rt is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return rt

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first)."""
        out: dict[str, list[str]] = {}
        for group, version in self.by_gv:
            out.setdefault(group, [])
            if version not in out[group]:
                out[group].append(version)
        for group, versions in out.items():
            storage = [rt.storage_version for rt in self.types.values() if rt.group == group]
            versions.sort(key=lambda v: (v not in storage, _version_rank(v)))
        return out

    def schema_node(self, rt: ResourceType, version: str | None = None) -> SchemaNode:
        if rt.is_crd:
            schema = rt.schemas.get(version or rt.storage_version) or {}
            # Keyed by the schema dict itself (a CRD update brings a new one): the node
            # memoizes its children, so each write walks an already-resolved tree.
            slot = (rt.key, version or rt.storage_version)
            known = self._crd_nodes.get(slot)
            if known is not None and known[0] is schema:
                return known[1]
            crd_node = SchemaNode(schema)
            self._crd_nodes[slot] = (schema, crd_node)
            return crd_node
        cached = self._builtin_nodes.get(rt.key)
        if cached is None:
            node = builtin_root(rt.definition_names.get(rt.versions[0], ""))
            cached = self._builtin_nodes[rt.key] = node or SchemaNode({})
        return cached

    # ------------------------------------------------------------ helpers
    def out(self, rt: ResourceType, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
        api_version = rt.api_version(version)
        if obj.get("apiVersion") == api_version and obj.get("kind") == rt.kind:
            return obj
        return {**obj, "apiVersion": api_version, "kind": rt.kind}

    def get(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, ns if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, rt: ResourceType, ns: str, creating: bool) -> None:
        if not rt.namespaced:
            return
        nsobj = self.store.get(NS_KEY, "", ns)
        if nsobj is None:
            raise errors.not_found("namespaces", "", ns)
        if creating and nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rt.plural}{"." + rt.group if rt.group else ""} "" is forbidden: unable to '
                f"create new content in namespace {ns} because it is being terminated",
                reason="Forbidden",
                details={
                    "name": "",
                    "group": rt.group,
                    "kind": rt.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {ns} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _invalid(self, rt: ResourceType, name: str, causes: list[dict[str, str]]) -> ApiError:
        return errors.invalid(rt.kind, rt.group, name, causes)

    # ------------------------------------------------------------ create
    def create(
        self,
        rt: ResourceType,
        version: str | None,
        ns: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool = False,
        operation: str = "Update",
        consume: bool = False,
    ) -> dict[str, Any]:
        """Create an object from `body`. With `consume` the caller hands `body` over (a
        freshly decoded request): it is stored as it is changed, not copied first."""
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        applied = _clone(body) if operation == "Apply" else None
        obj = body if consume else _clone(body)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        display_name = str(meta.get("name") or meta.get("generateName") or "")
        if not meta.get("name"):
            if meta.get("generateName"):
                for _ in range(20):
                    candidate = meta["generateName"] + "".join(
                        secrets.choice(_GENERATE_CHARS) for _ in range(5)
                    )
                    if self.store.get(rt.key, meta.get("namespace", ""), candidate) is None:
                        meta["name"] = candidate
                        break
            else:
                raise self._invalid(
                    rt,
                    "",
                    [
                        cause(
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
        name = meta["name"]
        if rt.key == ("", "pods"):
            admit_service_account(self.store, obj, display_name)
        name_causes = validate_name(rt.plural, name)
        if name_causes:
            raise self._invalid(rt, name, name_causes)
        self._check_namespace(rt, ns, creating=True)
        if self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now()
        for key in (
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
            "managedFields",
        ):
            meta.pop(key, None)
        if rt.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.is_crd and "status" in rt.subresources:
            obj.pop("status", None)
        obj = self._admit(rt, version, obj, None)
        self._track_fields(rt, None, applied if applied is not None else obj, manager, operation)
        if applied is not None:
            obj["metadata"]["managedFields"] = applied["metadata"]["managedFields"]
        if dry_run:
            meta["resourceVersion"] = str(self.store.rv)
            return obj
        if rt.plural == "services" and not rt.group:
            self._allocate_cluster_ip(obj)
        if rt.key == CRD_KEY:
            self._crd_established(obj)
        meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rt.key, obj, "ADDED")
        if rt.key == CRD_KEY:
            self._register(crd_to_resource(obj))
        if rt.key == NS_KEY:
            self._namespace_created(name)
        if rt.key == CLUSTER_ROLES:
            self._reaggregate()
        return obj

    def _admit(
        self,
        rt: ResourceType,
        version: str | None,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Defaulting, pruning and validation (CRD schemas and CEL, built-in basics)."""
        name = obj["metadata"].get("name", "")
        check_decodable(
            rt.kind, rt.group, rt.plural, (version or rt.api_version()).split("/")[-1], obj
        )
        meta_causes = validate_metadata(obj["metadata"])
        if rt.is_crd:
            schema = (
                rt.schemas.get(version or rt.storage_version)
                or rt.schemas.get(rt.storage_version)
                or {}
            )
            obj, causes = process_custom_object(obj, schema, old)
            obj["apiVersion"] = rt.api_version()
            obj["kind"] = rt.kind
            if old is not None:
                causes = [c for c in causes if not _unchanged_top_field(c["field"], obj, old)]
            if meta_causes or causes:
                raise self._invalid(rt, name, meta_causes + causes)
            return obj
        if not rt.group or rt.group in ("apps", "batch", "policy"):
            apply_builtin_defaults(rt.plural, rt.group, obj, creating=old is None)
        if rt.key == ("", "persistentvolumeclaims"):
            admit_claim(self.store, obj, old)
        causes = meta_causes + validate_builtin(rt.plural, obj)
        if rt.key == CRD_KEY:
            causes += self._validate_crd(obj)
        if causes:
            raise self._invalid(rt, name, causes)
        return obj

    def _admit_status(
        self, rt: ResourceType, version: str | None, obj: dict[str, Any], old: dict[str, Any]
    ) -> dict[str, Any]:
        """A /status write of a custom object: the same pruning, defaulting, schema and CEL
        checks as the main endpoint, on the merged object. Errors under top-level fields the
        write left unchanged (spec, ...) are ratcheted away as kube-apiserver does."""
        schema = rt.schemas.get(version or rt.storage_version) or rt.schemas.get(rt.storage_version)
        if not schema:
            return obj
        obj, causes = process_custom_object(obj, schema, old)
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        causes = [c for c in causes if not _unchanged_top_field(c.get("field", ""), obj, old)]
        if causes:
            raise self._invalid(rt, obj["metadata"].get("name", ""), causes)
        return obj

    def _validate_crd(self, crd: dict[str, Any]) -> list[dict[str, str]]:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        out: list[dict[str, str]] = []
        expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
        if crd["metadata"]["name"] != expected:
            out.append(
                cause(
                    "FieldValueInvalid",
                    "metadata.name",
                    f'Invalid value: "{crd["metadata"]["name"]}": must be '
                    f'spec.names.plural+"."+spec.group',
                )
            )
        if not names.get("kind"):
            out.append(cause("FieldValueRequired", "spec.names.kind", "Required value"))
        versions = spec.get("versions") or []
        if not versions:
            out.append(
                cause(
                    "FieldValueInvalid",
                    "spec.versions",
                    'Invalid value: "null": must have exactly one version marked '
                    "as storage version",
                )
            )
        elif sum(1 for v in versions if v.get("storage")) != 1:
            out.append(
                cause(
                    "FieldValueInvalid",
                    "spec.versions",
                    "Invalid value: []apiextensions.CustomResourceDefinitionVersion"
                    "{...}: must have exactly one version marked as storage version",
                )
            )
        for i, v in enumerate(versions):
            schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
            for err in check_cel_compiles(schema):
                out.append(
                    cause(
                        "FieldValueInvalid",
                        f"spec.validation.openAPIV3Schema[{i}].x-kubernetes-validations",
                        f'Invalid value: "object": {err}',
                    )
                )
        return out

    def _crd_established(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        spec["names"] = names
        stamp = now()
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        old_status = crd.get("status") or {}
        stored = list(old_status.get("storedVersions") or [])
        for v in storage:
            if v not in stored:
                stored.append(v)
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": stored,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": stamp,
                },
            ],
        }

    def _allocate_cluster_ip(self, svc: dict[str, Any]) -> None:
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        ip = spec.get("clusterIP")
        if ip == "None":
            spec["clusterIPs"] = ["None"]
        else:
            if ip:
                if ip in self.cluster_ips.used:
                    raise self._invalid_svc(svc, ip)
                self.cluster_ips.reserve(ip)
            else:
                ip = self.cluster_ips.allocate()
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            used = {
                p.get("nodePort")
                for s in self.store.iter(("", "services"), None)
                for p in (s.get("spec") or {}).get("ports") or []
            }
            candidate = 30000
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    while candidate in used:
                        candidate += 1
                    port["nodePort"] = candidate
                    used.add(candidate)

    def _invalid_svc(self, svc: dict[str, Any], ip: str) -> ApiError:
        return errors.invalid(
            "Service",
            "",
            svc["metadata"]["name"],
            [
                cause(
                    "FieldValueInvalid",
                    "spec.clusterIPs",
                    f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: '
                    "provided IP is already allocated",
                )
            ],
        )

    def _namespace_created(self, name: str) -> None:
        if self.store.get(("", "serviceaccounts"), name, "default") is None:
            self.create(
                self.types[("", "serviceaccounts")],
                None,
                name,
                {"metadata": {"name": "default"}},
                manager="kube-controller-manager",
            )
        if self.ca_pem and self.store.get(("", "configmaps"), name, ROOT_CA) is None:
            self.create(
                self.types[("", "configmaps")],
                None,
                name,
                root_ca_configmap(self.ca_pem),
                manager="kube-controller-manager",
            )

    # ------------------------------------------------------------ update / patch
    def update(
        self,
        rt: ResourceType,
        version: str | None,
        ns: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        manager: str,
        dry_run: bool = False,
        consume: bool = False,
    ) -> dict[str, Any]:
        """Replace an object with `body` (see `create` for `consume`)."""
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        old = self.get(rt, ns, name)
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        return self._commit(
            rt,
            version,
            old,
            body if consume else _clone(body),
            subresource=subresource,
            manager=manager,
            dry_run=dry_run,
        )

    def patch(
        self,
        rt: ResourceType,
        version: str | None,
        ns: str,
        name: str,
        raw: bytes,
        content_type: str,
        *,
        subresource: str | None = None,
        manager: str | None,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a patch; returns (object, created)."""
        if content_type in (PATCH_APPLY, PATCH_APPLY_CBOR):
            return self.apply(
                rt,
                version,
                ns,
                name,
                raw,
                subresource=subresource,
                manager=manager,
                force=force,
                dry_run=dry_run,
            )
        try:
            patch = fastjson.loads(raw or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from exc
        old = self.get(rt, ns, name)
        current = self.out(rt, old, version)
        if content_type == PATCH_JSON:
            patched = json_patch(current, patch)
        elif content_type == PATCH_MERGE:
            if not isinstance(patch, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            patched = merge_patch(current, patch, owned=True)  # decoded just above
        elif content_type == PATCH_STRATEGIC:
            if rt.is_crd:
                raise ApiError(
                    415,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml",
                    reason="UnsupportedMediaType",
                )
            if not isinstance(patch, dict):
                raise errors.bad_request("strategic merge patch must be a JSON object")
            patched = strategic_merge(current, patch, self.schema_node(rt, version))
        else:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {PATCH_JSON}, {PATCH_MERGE}, {PATCH_APPLY}, {PATCH_STRATEGIC}",
                reason="UnsupportedMediaType",
            )
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        patched_meta = patched.get("metadata") or {}
        rv = patched_meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if patched_meta.get("name", name) != name:
            raise errors.bad_request("metadata.name cannot be changed by a patch")
        return self._commit(
            rt,
            version,
            old,
            patched,
            subresource=subresource,
            manager=manager or "unknown",
            dry_run=dry_run,
        ), False

    def _commit(
        self,
        rt: ResourceType,
        version: str | None,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        subresource: str | None,
        manager: str,
        dry_run: bool,
        operation: str = "Update",
        tracked: bool = False,
    ) -> dict[str, Any]:
        # Stored objects are never changed in place, so the new version shares every subtree
        # it does not change with the old one; only the top level and metadata (which this
        # write fills in) are its own. A patch shares untouched subtrees the same way.
        old_meta = old["metadata"]
        if subresource == "status":
            status = new.get("status")
            # (_crd_established rewrites a CRD's spec.names in place: CRDs get a deep copy)
            new = _clone(old) if rt.key == CRD_KEY else {**old, "metadata": dict(old_meta)}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            meta = new.get("metadata")
            if not isinstance(meta, dict):
                meta = new["metadata"] = {}
            elif meta is old_meta:
                meta = new["metadata"] = dict(old_meta)
            if "status" in rt.subresources:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generateName",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if "managedFields" not in meta and "managedFields" in old_meta:
                meta["managedFields"] = old_meta["managedFields"]
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise self._invalid(
                        rt,
                        old_meta["name"],
                        [
                            cause(
                                "FieldValueForbidden",
                                "metadata.finalizers",
                                "Forbidden: no new finalizers can be added if the object is being "
                                "deleted, found new finalizers " + json.dumps(sorted(added)),
                            )
                        ],
                    )
        new["apiVersion"] = rt.api_version()
        new["kind"] = rt.kind
        new_meta = new["metadata"]
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        if "generation" in old_meta:
            new_meta["generation"] = old_meta["generation"]
        if subresource != "status":
            new = self._admit(rt, version, new, old)
            new_meta = new["metadata"]
        elif rt.is_crd:
            new = self._admit_status(rt, version, new, old)
            new_meta = new["metadata"]
        if rt.has_generation and _spec_changed(old, new):
            new_meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if not tracked:
            self._track_fields(rt, old, new, manager, operation, subresource)
        if _same(old, new):
            return old
        if dry_run:
            return new
        if rt.key == CRD_KEY:
            self._crd_established(new)
        new_meta["resourceVersion"] = str(self.store.next_rv())
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            self.store.put(rt.key, new, "MODIFIED")
            self._remove(rt, new)
            return new
        self.store.put(rt.key, new, "MODIFIED")
        if rt.key == CRD_KEY:
            self._register(crd_to_resource(new))
        if rt.key == CLUSTER_ROLES:
            self._reaggregate()
        if new_meta.get("deletionTimestamp"):
            self._progress_deletion(rt, new)
        return new

    # ------------------------------------------------------------ server-side apply
    def apply(
        self,
        rt: ResourceType,
        version: str | None,
        ns: str,
        name: str,
        raw: bytes,
        *,
        subresource: str | None,
        manager: str | None,
        force: bool,
        dry_run: bool,
    ) -> tuple[dict[str, Any], bool]:
        if not manager:
            raise errors.bad_request(
                "PATCH requests with apply content type require a fieldManager: set the "
                "fieldManager query parameter (kubectl: --field-manager)"
            )
        try:
            applied = yaml.safe_load(raw.decode() if raw else "")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
        if not isinstance(applied, dict):
            raise errors.bad_request("the apply configuration is not an object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise errors.bad_request("apiVersion and kind must be set in an apply configuration")
        ameta = applied.setdefault("metadata", {})
        if ameta.get("name") and ameta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({ameta['name']}) does not match the name on the URL "
                f"({name})"
            )
        ameta["name"] = name
        old = self.store.get(rt.key, ns if rt.namespaced else "", name)
        node = self.schema_node(rt, version)
        if old is None:
            if subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            created = self.create(
                rt,
                version,
                ns,
                applied,
                manager=manager,
                dry_run=dry_run,
                operation="Apply",
                consume=True,
            )
            return created, True
        applied_view = applied if subresource != "status" else {"status": applied.get("status")}
        new_fields = field_set(applied_view, node, with_status=subresource == "status")
        managers = _managed(old)
        mine_key = (manager, "Apply", subresource or "")
        previous = managers.get(mine_key, set())
        live = _clone(old)
        conflicts: list[tuple[str, str, FieldPath]] = []
        versions = _manager_versions(old)
        for key, owned in managers.items():
            if key == mine_key:
                continue
            shared = owned & new_fields
            for path in shared:
                if isinstance(path[-1], tuple):
                    continue  # owning a list item is not a value that can conflict
                if value_at(live, path) != value_at(applied, path):
                    conflicts.append((key[0], versions.get(key, ""), path))
        if conflicts and not force:
            causes = [
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{m}"{f" using {v}" if v else ""}: {render_path(p)}',
                    "field": render_path(p),
                }
                for m, v, p in sorted(conflicts, key=str)
            ]
            if len(causes) == 1:
                summary = f"1 conflict: {causes[0]['message']}"
            else:
                summary = f"{len(causes)} conflicts:\n" + "\n".join(
                    "- " + c["message"] for c in causes
                )
            raise ApiError(
                409, f"Apply failed with {summary}", reason="Conflict", details={"causes": causes}
            )
        for key in list(managers):
            if key != mine_key:
                managers[key] = managers[key] - new_fields if force else managers[key]
        others: set[FieldPath] = set()
        for key, owned in managers.items():
            if key != mine_key:
                others |= owned
        for path in sorted(previous - new_fields, key=len):
            if path not in others:
                remove_path(live, path)
        merged = apply_merge(
            live, applied if subresource != "status" else {"status": applied.get("status")}, node
        )
        managers[mine_key] = new_fields
        merged.setdefault("metadata", {})["managedFields"] = _encode_managed(
            managers, rt.api_version(version), old
        )
        obj = self._commit(
            rt,
            version,
            old,
            merged,
            subresource=subresource,
            manager=manager,
            dry_run=dry_run,
            operation="Apply",
            tracked=True,
        )
        return obj, False

    def _track_fields(
        self,
        rt: ResourceType,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str,
        operation: str,
        subresource: str | None = None,
    ) -> None:
        """Record which fields `manager` set (managedFields), moving ownership to it."""
        node = self.schema_node(rt)
        if old is None and subresource != "status":
            # A new object: its creator owns every field it set, nobody else owns any.
            tree = fields_tree(new, node)
            record: dict[str, Any] = {
                "manager": manager,
                "operation": operation,
                "apiVersion": rt.api_version(),
                "time": now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": tree,
            }
            new["metadata"]["managedFields"] = [record] if tree else []
            return
        if subresource == "status":
            changed = (
                changed_fields(
                    {"status": old.get("status")} if old is not None else _DELETE_MARK,
                    {"status": new.get("status")},
                    node,
                    with_status=True,
                )
                if new.get("status") is not None
                else set()
            )
        else:
            changed = changed_fields(old if old is not None else _DELETE_MARK, new, node)
        if not changed and old is not None:
            new["metadata"]["managedFields"] = old["metadata"].get("managedFields") or []
            if not new["metadata"]["managedFields"]:
                new["metadata"].pop("managedFields", None)
            return
        key = (manager, operation, subresource or "")
        if old is None:
            managers: dict[tuple[str, str, str], FieldSet] = {key: changed}
            new["metadata"]["managedFields"] = _encode_managed(managers, rt.api_version(), None)
            return
        new["metadata"]["managedFields"] = _moved_ownership(
            old["metadata"].get("managedFields") or [], key, changed, rt.api_version()
        )

    # ------------------------------------------------------------ delete
    def delete(
        self, rt: ResourceType, ns: str, name: str, options: DeleteOptions
    ) -> dict[str, Any]:
        obj = self.get(rt, ns, name)
        meta = obj["metadata"]
        if options.precondition_uid and options.precondition_uid != meta["uid"]:
            raise ApiError(
                409,
                f"Precondition failed: UID in precondition: {options.precondition_uid}, UID in "
                f"object meta: {meta['uid']}",
                reason="Conflict",
                details={"name": name, "group": rt.group, "kind": rt.plural},
            )
        if options.precondition_rv and options.precondition_rv != meta["resourceVersion"]:
            raise ApiError(
                409,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{options.precondition_rv}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
                reason="Conflict",
                details={"name": name, "group": rt.group, "kind": rt.plural},
            )
        if options.dry_run:
            return obj
        policy = options.propagation or ("Orphan" if rt.key == ("batch", "jobs") else "Background")
        if rt.key == NS_KEY:
            return self._delete_namespace(obj)
        if rt.key == ("", "pods") and self._graceful_pod_delete(obj, options):
            return self.get(rt, ns, name)
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and self.store.dependents(meta["uid"]):
            if "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
        elif (
            policy == "Orphan" and self.store.dependents(meta["uid"]) and "orphan" not in finalizers
        ):
            finalizers.append("orphan")
        if finalizers:
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return obj
            new = _clone(obj)
            new["metadata"]["finalizers"] = finalizers
            new["metadata"].setdefault("deletionTimestamp", now())
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if "generation" in meta and not meta.get("deletionTimestamp"):
                new["metadata"]["generation"] = int(meta["generation"]) + 1
            new["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.put(rt.key, new, "MODIFIED")
            self._progress_deletion(rt, new)
            return self.store.get(rt.key, new["metadata"].get("namespace", ""), name) or new
        self._remove(rt, obj)
        return obj

    def delete_answer(
        self, rt: ResourceType, version: str, ns: str, name: str, deleted: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """What a DELETE answers, as kube-apiserver does: the object while it is still there
        (202 when its deletion waits for finalizers or a grace period; Pods, Services,
        Namespaces and custom objects always answer with the object), else a Status."""
        still_there = self.store.get(rt.key, ns if rt.namespaced else "", name)
        if still_there is not None or rt.plural in ("pods", "services", "namespaces") or rt.is_crd:
            accepted = (
                still_there is not None
                and not rt.is_crd
                and rt.plural not in ("pods", "namespaces")
            )
            return (202 if accepted else 200), self.out(rt, still_there or deleted, version)
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": rt.group,
                "kind": rt.plural,
                "uid": deleted["metadata"]["uid"],
            },
        }

    def _graceful_pod_delete(self, pod: dict[str, Any], options: DeleteOptions) -> bool:
        """Pods bound to a node get a grace period for their kubelet to stop them."""
        spec = pod.get("spec") or {}
        meta = pod["metadata"]
        phase = (pod.get("status") or {}).get("phase")
        grace = options.grace_period
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed") or grace <= 0:
            return False
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and current <= grace:
            return True
        new = _clone(pod)
        stamp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=grace)
        new["metadata"]["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        if "generation" in meta and not meta.get("deletionTimestamp"):
            new["metadata"]["generation"] = int(meta["generation"]) + 1
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put(("", "pods"), new, "MODIFIED")
        return True

    def _progress_deletion(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """The garbage collector's part for objects waiting on orphan/foreground finalizers."""
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        uid = meta["uid"]
        if "orphan" in finalizers:
            for dep_key, dep_ns, dep_name in self.store.dependents(uid):
                self._drop_owner_ref(dep_key, dep_ns, dep_name, uid)
            finalizers.remove("orphan")
            self._set_finalizers(rt, obj, finalizers)
            return
        if "foregroundDeletion" in finalizers:
            deps = self.store.dependents(uid)
            for dep_key, dep_ns, dep_name in deps:
                dep = self.store.get(dep_key, dep_ns, dep_name)
                dep_rt = self.types.get(dep_key)
                if dep is None or dep_rt is None or dep["metadata"].get("deletionTimestamp"):
                    continue
                self._gc_dependent(dep_rt, dep, uid, "Foreground")
            if not self.store.dependents(uid):
                current = self.store.get(rt.key, meta.get("namespace", ""), meta["name"])
                if current is not None:
                    fins = [
                        f
                        for f in current["metadata"].get("finalizers") or []
                        if f != "foregroundDeletion"
                    ]
                    self._set_finalizers(rt, current, fins)

    def _set_finalizers(self, rt: ResourceType, obj: dict[str, Any], fins: list[str]) -> None:
        current = self.store.get(
            rt.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        )
        if current is None:
            return
        new = _clone(current)
        if fins:
            new["metadata"]["finalizers"] = fins
        else:
            new["metadata"].pop("finalizers", None)
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rt.key, new, "MODIFIED")
        if not fins:
            self._remove(rt, new)

    def _drop_owner_ref(self, key: RKey, ns: str, name: str, owner_uid: str) -> None:
        dep = self.store.get(key, ns, name)
        if dep is None:
            return
        new = _clone(dep)
        refs = [
            r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != owner_uid
        ]
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.put(key, new, "MODIFIED")

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        self.store.remove(rt.key, ns, meta["name"])
        if rt.plural == "services" and not rt.group:
            ip = (obj.get("spec") or {}).get("clusterIP")
            if ip and ip != "None":
                self.cluster_ips.release(ip)
        if rt.key == CRD_KEY:
            served = self.types.get(
                (
                    (obj.get("spec") or {}).get("group", ""),
                    ((obj.get("spec") or {}).get("names") or {}).get("plural", ""),
                )
            )
            if served is not None and served.is_crd:
                self._unregister(served)
                self.store.drop_resource(served.key)
        self._collect_garbage(meta["uid"])
        self._owner_gone_foreground_check(obj)
        if rt.key == CLUSTER_ROLES:
            self._reaggregate()
        if ns:
            self._maybe_finish_namespace(ns)

    def _collect_garbage(self, owner_uid: str) -> None:
        for dep_key, dep_ns, dep_name in self.store.dependents(owner_uid):
            dep = self.store.get(dep_key, dep_ns, dep_name)
            dep_rt = self.types.get(dep_key)
            if dep is None or dep_rt is None:
                continue
            self._gc_dependent(dep_rt, dep, owner_uid, "Background")

    def _gc_dependent(
        self, rt: ResourceType, dep: dict[str, Any], owner_uid: str, policy: str
    ) -> None:
        """Delete a dependent whose owners are all gone (or being deleted in foreground);
        otherwise only drop the reference to the vanished owner."""
        refs = dep["metadata"].get("ownerReferences") or []
        remaining = [
            r
            for r in refs
            if r.get("uid") != owner_uid
            and self._owner_exists(r, dep["metadata"].get("namespace", ""))
        ]
        if remaining and policy == "Background":
            self._drop_owner_ref(
                rt.key, dep["metadata"].get("namespace", ""), dep["metadata"]["name"], owner_uid
            )
            return
        try:
            self.delete(
                rt,
                dep["metadata"].get("namespace", ""),
                dep["metadata"]["name"],
                DeleteOptions(propagation=policy),
            )
        except ApiError as exc:
            log.warning("gc.delete_failed", name=dep["metadata"]["name"], error=exc.message)

    def _owner_exists(self, ref: dict[str, Any], ns: str) -> bool:
        api_version = ref.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        for rt in self.types.values():
            if rt.group == group and rt.kind == ref.get("kind"):
                obj = self.store.get(rt.key, ns if rt.namespaced else "", ref.get("name", ""))
                return obj is not None and obj["metadata"]["uid"] == ref.get("uid")
        return False

    def _owner_gone_foreground_check(self, obj: dict[str, Any]) -> None:
        """A dependent vanished: an owner waiting in foreground deletion may now finish."""
        for ref in obj["metadata"].get("ownerReferences") or []:
            uid = ref.get("uid")
            if not uid or self.store.dependents(uid):
                continue
            api_version = ref.get("apiVersion", "")
            group = api_version.split("/")[0] if "/" in api_version else ""
            for rt in list(self.types.values()):
                if rt.group != group or rt.kind != ref.get("kind"):
                    continue
                owner = self.store.get(
                    rt.key,
                    obj["metadata"].get("namespace", "") if rt.namespaced else "",
                    ref.get("name", ""),
                )
                if (
                    owner is not None
                    and owner["metadata"]["uid"] == uid
                    and "foregroundDeletion" in (owner["metadata"].get("finalizers") or [])
                ):
                    self._progress_deletion(rt, owner)

    # ------------------------------------------------------------ namespaces
    def _delete_namespace(self, nsobj: dict[str, Any]) -> dict[str, Any]:
        name = nsobj["metadata"]["name"]
        if name in ("default", "kube-system", "kube-public"):
            raise ApiError(
                403,
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                reason="Forbidden",
                details={"name": name, "kind": "namespaces"},
            )
        if not nsobj["metadata"].get("deletionTimestamp"):
            new = _clone(nsobj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = {"phase": "Terminating"}
            new["metadata"]["resourceVersion"] = str(self.store.next_rv())
            self.store.put(NS_KEY, new, "MODIFIED")
        for rt in list(self.types.values()):
            if not rt.namespaced:
                continue
            for obj in list(self.store.iter(rt.key, name)):
                if obj["metadata"].get("deletionTimestamp") and rt.plural != "pods":
                    continue
                try:
                    self.delete(
                        rt, name, obj["metadata"]["name"], DeleteOptions(propagation="Background")
                    )
                except ApiError:
                    continue
        self._maybe_finish_namespace(name)
        return self.store.get(NS_KEY, "", name) or nsobj

    def _maybe_finish_namespace(self, name: str) -> None:
        nsobj = self.store.get(NS_KEY, "", name)
        if nsobj is None or not nsobj["metadata"].get("deletionTimestamp"):
            return
        if self.store.namespace_has_objects(name):
            return
        if nsobj["metadata"].get("finalizers"):
            return
        self.store.remove(NS_KEY, "", name)

    # ------------------------------------------------------------ eviction
    def evict(self, pod: dict[str, Any], body: Any) -> None:
        ns = pod["metadata"]["namespace"]
        labels = pod["metadata"].get("labels") or {}
        pods = list(self.store.iter(("", "pods"), ns))
        for pdb in self.store.iter(("policy", "poddisruptionbudgets"), ns):
            spec = pdb.get("spec") or {}
            if not selector_matches(spec.get("selector"), labels):
                continue
            allowed = disruptions_allowed(spec, pods)
            if allowed < 1:
                raise ApiError(
                    429,
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    reason="TooManyRequests",
                    details={
                        "causes": [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget "
                                f"{pdb['metadata']['name']} needs "
                                f"{pdb_desired(spec, pods)} healthy pods and has "
                                f"{pdb_healthy(spec, pods)} currently",
                            }
                        ]
                    },
                )
        options = DeleteOptions()
        if isinstance(body, dict) and isinstance(body.get("deleteOptions"), dict):
            options.grace_period = body["deleteOptions"].get("gracePeriodSeconds")
        self.delete(self.types[("", "pods")], ns, pod["metadata"]["name"], options)


# ------------------------------------------------------------------ helpers


def _pdb_matching(spec: dict[str, Any], pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        p
        for p in pods
        if selector_matches(spec.get("selector"), p["metadata"].get("labels"))
        and not p["metadata"].get("deletionTimestamp")
    ]


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1])
        n = total * pct / 100
        return int(-(-n // 1)) if round_up else int(n)
    return int(value)


def pdb_healthy(spec: dict[str, Any], pods: Iterable[dict[str, Any]]) -> int:
    return sum(1 for p in _pdb_matching(spec, pods) if _ready(p))


def pdb_desired(spec: dict[str, Any], pods: Iterable[dict[str, Any]]) -> int:
    expected = len(_pdb_matching(spec, pods))
    if "minAvailable" in spec:
        return _int_or_percent(spec["minAvailable"], expected, True)
    if "maxUnavailable" in spec:
        return max(0, expected - _int_or_percent(spec["maxUnavailable"], expected, True))
    return expected


def disruptions_allowed(spec: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    return max(0, pdb_healthy(spec, pods) - pdb_desired(spec, pods))


def _version_rank(version: str) -> tuple[int, int, int]:
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    stability = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    return (stability, -int(m.group(1)), -int(m.group(3) or 0))


def _strip_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj.get("metadata", {}).items()
        if k not in ("resourceVersion", "managedFields", "generation")
    }
    return {**obj, "metadata": meta}


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return _strip_volatile(old) == _strip_volatile(new)


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def body(o: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    return body(old) != body(new)


def _status_paths(status: Any, node: SchemaNode) -> set[FieldPath]:
    if status is None:
        return set()
    return field_set({"status": status}, node, with_status=True)


def _manager_versions(obj: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    return {
        (e.get("manager", ""), e.get("operation", "Update"), e.get("subresource", "")): e.get(
            "apiVersion", ""
        )
        for e in obj["metadata"].get("managedFields") or []
    }


def _managed(obj: dict[str, Any] | None) -> dict[tuple[str, str, str], FieldSet]:
    out: dict[tuple[str, str, str], FieldSet] = {}
    if obj is None:
        return out
    for entry in obj["metadata"].get("managedFields") or []:
        key = (
            entry.get("manager", ""),
            entry.get("operation", "Update"),
            entry.get("subresource", ""),
        )
        out[key] = MEMO.decode(entry.get("fieldsV1") or {})
    return out


def _entry_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (
        entry.get("manager", ""),
        entry.get("operation", "Update"),
        entry.get("subresource", ""),
    )


def _encode_managed(
    managers: dict[tuple[str, str, str], FieldSet],
    api_version: str,
    old: dict[str, Any] | None,
    before: dict[tuple[str, str, str], FieldSet] | None = None,
    writer: tuple[str, str, str] | None = None,
) -> list[dict[str, Any]]:
    """managedFields entries; other managers whose fields did not change keep their entry
    (fields and time) as it was, without encoding it again."""
    kept: dict[tuple[str, str, str], dict[str, Any]] = {}
    if old is not None and before is not None:
        for entry in old["metadata"].get("managedFields") or []:
            k = _entry_key(entry)
            mine, was = managers.get(k), before.get(k)
            if k != writer and (mine is was or mine == was):
                kept[k] = entry
    out = []
    for key, fields in managers.items():
        if not fields:
            continue
        if key in kept:
            out.append(kept[key])
            continue
        record: dict[str, Any] = {
            "manager": key[0],
            "operation": key[1],
            "apiVersion": api_version,
            "time": now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": MEMO.encode(fields),
        }
        if key[2]:
            record["subresource"] = key[2]
        out.append(record)
    return out


def _moved_ownership(
    entries: list[dict[str, Any]],
    key: tuple[str, str, str],
    changed: FieldSet,
    api_version: str,
) -> list[dict[str, Any]]:
    """managedFields after `key` changed the fields `changed`: it owns them now and nobody
    else does. Ownership is read off each entry's FieldsV1 tree path by path, so only the
    entries that lose a field (and the writer's, when it gains one) are decoded and encoded
    again; the others stay the same dicts."""
    touched = set()
    writer_owns_all = False
    for i, entry in enumerate(entries):
        fields = entry.get("fieldsV1") or {}
        if _entry_key(entry) == key:
            writer_owns_all = all(fields_have(fields, p) for p in changed)
        elif any(fields_have(fields, p) for p in changed):
            touched.add(i)
    writer_known = any(_entry_key(e) == key for e in entries)
    if writer_known and writer_owns_all and not touched:
        # The writer already owns every field it changed: only its timestamp moves.
        stamp = now()
        return [
            {**e, "time": stamp}
            if (e.get("manager"), e.get("operation"), e.get("subresource", "")) == key
            else e
            for e in entries
        ]
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        k = _entry_key(entry)
        if k in seen:
            continue  # a repeated manager counts once, where it first appears
        seen.add(k)
        fields = entry.get("fieldsV1") or {}
        if k == key:
            out.append(_record(k, fields_with(fields, changed), api_version))
        elif not fields:
            continue  # owns nothing: dropped
        elif i in touched:
            left = fields_without(fields, changed)
            if left:
                out.append(_record(k, left, api_version))
        else:
            out.append(entry)
    if key not in seen:
        out.append(_record(key, changed, api_version))
    return out


def _record(
    key: tuple[str, str, str], fields: FieldSet | dict[str, Any], api_version: str
) -> dict[str, Any]:
    """A managedFields entry for a field set, or for an already encoded FieldsV1 tree."""
    record: dict[str, Any] = {
        "manager": key[0],
        "operation": key[1],
        "apiVersion": api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields if isinstance(fields, dict) else MEMO.encode(fields),
    }
    if key[2]:
        record["subresource"] = key[2]
    return record


def _unchanged_top_field(field: str, new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether a cause's field lies under a top-level field that is the same in `new` and
    `old` (validation ratcheting: an update is not refused for what it did not change)."""
    top = field.split(".", 1)[0].split("[", 1)[0]
    if not top:
        return False
    return bool(new.get(top) == old.get(top))
