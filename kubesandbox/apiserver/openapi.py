"""OpenAPI v3 documents (what `kubectl explain`, `kubectl apply`'s field validation check
and strategic merge patch read). Built-in schemas come from the upstream definitions;
CRD schemas from their openAPIV3Schema."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from .builtin_schemas import definitions
from .resources import ResourceType

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"


def _convert(node: Any) -> Any:
    """JSON-schema draft style (type arrays with null, $defs refs) -> OpenAPI v3."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    one_of = node.get("oneOf")
    one_of_types = (
        {json.dumps(x.get("type")) for x in one_of if isinstance(x, dict)}
        if isinstance(one_of, list)
        else set()
    )
    if one_of_types >= {json.dumps(["string", "null"]), json.dumps(["integer", "null"])}:
        rest = {k: v for k, v in node.items() if k != "oneOf"}
        return {**_convert(rest), "type": "string", "format": "int-or-string"}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _convert(v) for k, v in value.items()}
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0] if len(types) == 1 else types[0] if types else "object"
        elif key == "$ref" and isinstance(value, str):
            out["$ref"] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
        elif key == "enum" and isinstance(value, list) and None in value:
            continue
        else:
            out[key] = _convert(value)
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in found:
                found.add(name)
                _refs(definitions().get(name, {}), found)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


@functools.lru_cache(maxsize=64)
def _builtin_schemas(names: tuple[str, ...]) -> str:
    defs = definitions()
    closure: set[str] = set()
    for name in names:
        if name in defs:
            closure.add(name)
            _refs(defs[name], closure)
    return json.dumps({n: _convert(defs[n]) for n in sorted(closure) if n in defs})


def _params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True} for n in names
    ]


def _paths(rt: ResourceType, version: str, schema_name: str) -> dict[str, Any]:
    base = f"/api/{version}" if not rt.group else f"/apis/{rt.group}/{version}"
    gvk = {"group": rt.group, "version": version, "kind": rt.kind}
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    body = {"content": {"*/*": {"schema": ref}}, "required": True}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    write = _params("dryRun", "fieldManager", "fieldValidation", "pretty")
    item_ops: dict[str, dict[str, Any]] = {
        "get": {
            "operationId": f"read{rt.kind}",
            "responses": ok,
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk,
        },
        "put": {
            "operationId": f"replace{rt.kind}",
            "requestBody": body,
            "responses": ok,
            "parameters": write,
            "x-kubernetes-action": "put",
            "x-kubernetes-group-version-kind": gvk,
        },
        "patch": {
            "operationId": f"patch{rt.kind}",
            "responses": ok,
            "requestBody": {
                "content": {
                    ct: {"schema": {"type": "object"}}
                    for ct in (
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml",
                    )
                },
                "required": True,
            },
            "parameters": write + _params("force"),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        },
        "delete": {
            "operationId": f"delete{rt.kind}",
            "responses": ok,
            "parameters": _params("dryRun", "gracePeriodSeconds", "propagationPolicy"),
            "x-kubernetes-action": "delete",
            "x-kubernetes-group-version-kind": gvk,
        },
    }
    coll_ops = {
        "get": {
            "operationId": f"list{rt.kind}",
            "responses": ok,
            "parameters": _params(
                "labelSelector",
                "fieldSelector",
                "limit",
                "continue",
                "watch",
                "resourceVersion",
                "timeoutSeconds",
            ),
            "x-kubernetes-action": "list",
            "x-kubernetes-group-version-kind": gvk,
        },
        "post": {
            "operationId": f"create{rt.kind}",
            "requestBody": body,
            "responses": ok,
            "parameters": write,
            "x-kubernetes-action": "post",
            "x-kubernetes-group-version-kind": gvk,
        },
    }
    prefix = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
    ns_param = (
        [{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}]
        if rt.namespaced
        else []
    )
    name_param = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths: dict[str, Any] = {
        f"{prefix}/{rt.plural}": {**coll_ops, "parameters": ns_param},
        f"{prefix}/{rt.plural}/{{name}}": {**item_ops, "parameters": ns_param + name_param},
    }
    if "status" in rt.subresources:
        paths[f"{prefix}/{rt.plural}/{{name}}/status"] = {
            **{
                k: {**v, "operationId": v["operationId"] + "Status"}
                for k, v in item_ops.items()
                if k in ("get", "put", "patch")
            },
            "parameters": ns_param + name_param,
        }
    return paths


def crd_schema(rt: ResourceType, version: str) -> dict[str, Any]:
    schema = copy.deepcopy(
        rt.schemas.get(version) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    )
    props = schema.setdefault("properties", {})
    props.setdefault(
        "apiVersion",
        {
            "type": "string",
            "description": "APIVersion defines the "
            "versioned schema of this representation of an object.",
        },
    )
    props.setdefault(
        "kind",
        {
            "type": "string",
            "description": "Kind is a string value "
            "representing the REST resource this object represents.",
        },
    )
    props["metadata"] = {
        "allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
        "description": "Standard object's metadata.",
    }
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": version, "kind": rt.kind}
    ]
    return schema


def schema_name(rt: ResourceType, version: str) -> str:
    if rt.is_crd:
        return ".".join(reversed(rt.group.split("."))) + f".{version}.{rt.kind}"
    return rt.definition_names.get(version, "")


def gv_document(group: str, version: str, types: list[ResourceType]) -> dict[str, Any]:
    builtin_names = tuple(
        sorted(
            rt.definition_names[version]
            for rt in types
            if not rt.is_crd and rt.definition_names.get(version)
        )
    )
    schemas: dict[str, Any] = json.loads(_builtin_schemas(builtin_names + (OBJECT_META, LIST_META)))
    paths: dict[str, Any] = {}
    for rt in types:
        name = schema_name(rt, version)
        if rt.is_crd:
            schemas[name] = crd_schema(rt, version)
        elif name in schemas:
            schemas[name] = {
                **schemas[name],
                "x-kubernetes-group-version-kind": [
                    {"group": rt.group, "version": version, "kind": rt.kind}
                ],
            }
        paths.update(_paths(rt, version, name))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def v3_index(gvs: list[tuple[str, str]], docs_hash: dict[tuple[str, str], str]) -> dict[str, Any]:
    paths = {}
    for group, version in gvs:
        key = f"api/{version}" if not group else f"apis/{group}/{version}"
        paths[key] = {
            "serverRelativeURL": f"/openapi/v3/{key}?hash={docs_hash.get((group, version), '0')}"
        }
    return {"paths": paths}


def doc_hash(doc_bytes: bytes) -> str:
    return hashlib.sha512(doc_bytes).hexdigest()[:64].upper()
