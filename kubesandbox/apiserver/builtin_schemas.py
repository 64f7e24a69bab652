"""Upstream schemas of the built-in kinds (from the `kubernetes-validate` package) and a
small navigator over JSON schemas that both built-in and CRD schemas use for patching."""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("kubesandbox.schemas")

KUBERNETES_SCHEMA_VERSION = "v1.37.0-local"


@functools.lru_cache(maxsize=1)
def definitions() -> dict[str, dict[str, Any]]:
    """All `$defs` of the upstream schema set, or {} when kubernetes-validate is missing."""
    try:
        root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
        path = root / KUBERNETES_SCHEMA_VERSION / "_definitions.json"
        data = json.loads(path.read_text())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        log.warning(
            "schemas.unavailable",
            error=str(exc),
            hint="install kubernetes-validate for strategic merge patch and explain",
        )
        return {}
    defs: dict[str, dict[str, Any]] = data.get("$defs", {})
    return defs


@dataclass(frozen=True)
class ListInfo:
    kind: str  # "map", "set" or "atomic"
    keys: tuple[str, ...] = ()
    merge_key: str | None = None
    strategy: str = ""


class SchemaNode:
    """A position in a JSON schema; `$ref`s resolve against the upstream definitions.

    Schemas are never changed once loaded, so a node remembers its declared children, its
    items node, its additionalProperties node and its list info: walking the same schema
    again (every write walks the object's schema) resolves nothing twice. Keys that are not
    declared properties share one node, so arbitrary label or data keys cost no memory."""

    __slots__ = ("schema", "ref", "_kids", "_extra", "_items", "_info", "_fields", "_kinds")

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self.ref = _ref_name(schema or {})
        self.schema = _resolve(schema or {})
        self._kids: dict[str, SchemaNode] | None = None
        self._extra: SchemaNode | None = None
        self._items: SchemaNode | None = None
        self._info: ListInfo | None = None
        self._fields: tuple[dict[str, Any], bool, bool, bool] | None = None
        self._kinds: frozenset[str] | None = None

    def kinds(self) -> frozenset[str]:
        """The JSON types a value here may have; empty: anything (int-or-string, ...)."""
        kinds = self._kinds
        if kinds is None:
            s = self.schema
            free = any(k in s for k in ("oneOf", "anyOf", "x-kubernetes-int-or-string"))
            kinds = self._kinds = frozenset() if free else frozenset(_types(s))
        return kinds

    def field_rules(self) -> tuple[dict[str, Any], bool, bool, bool]:
        """(declared properties, any key allowed, only declared keys allowed, has an items
        schema): what `unknown_fields` asks of this node for every value it walks."""
        rules = self._fields
        if rules is None:
            s = self.schema
            props = s.get("properties") or {}
            extra = bool(s.get("additionalProperties"))
            if s.get("x-kubernetes-preserve-unknown-fields"):
                props_only = False
            else:
                props_only = "properties" in s and not extra
            rules = self._fields = (props, extra, props_only, isinstance(s.get("items"), dict))
        return rules

    def child(self, key: str) -> SchemaNode:
        kids = self._kids
        if kids is not None:
            found = kids.get(key)
            if found is not None:
                return found
        props = self.schema.get("properties")
        if props and key in props:
            if kids is None:
                kids = self._kids = {}
            node = kids[key] = SchemaNode(props[key])
            return node
        extra = self._extra
        if extra is None:
            spec = self.schema.get("additionalProperties")
            extra = self._extra = SchemaNode(spec if isinstance(spec, dict) else {})
        return extra

    def items(self) -> SchemaNode:
        node = self._items
        if node is None:
            items = self.schema.get("items")
            node = self._items = SchemaNode(items if isinstance(items, dict) else {})
        return node

    def list_info(self) -> ListInfo:
        info = self._info
        if info is None:
            info = self._info = _list_info(self.schema)
        return info


def _ref_name(schema: dict[str, Any]) -> str:
    """The definition a schema names (`$ref`, or a lone `allOf` of one), or ""."""
    ref = schema.get("$ref")
    if ref is None and len(schema.get("allOf") or []) == 1:
        ref = schema["allOf"][0].get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else ""


def go_type(node: SchemaNode) -> str:
    """The Go type name Go's JSON decoder reports for a schema node (`v1.LeaseSpec`, ...)."""
    if node.ref:
        parts = node.ref.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    s = node.schema
    types = _types(s)
    if "array" in types:
        return "[]" + go_type(node.items())
    if "object" in types:
        return "map[string]" + go_type(node.child("\0"))
    if "integer" in types:
        return str(s.get("format") or "int")
    return {"number": "float64", "boolean": "bool", "string": "string"}.get(
        next(iter(types), ""), "interface {}"
    )


def _types(s: dict[str, Any]) -> set[str]:
    t = s.get("type")
    found = set(t) if isinstance(t, list) else {t} if t else set()
    found.discard("null")
    return found


_SCHEMA_TYPE = {"object": "object", "array": "array", "string": "string", "bool": "boolean"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "value"


def type_error(value: Any, node: SchemaNode, struct: str, path: str = "") -> str | None:
    """Go's JSON decoding error for the first value of the wrong type, or None: what
    kube-apiserver answers (400) for `"leaseDurationSeconds": "abc"`."""
    if value is None:
        return None
    types = node.kinds()
    kind = _json_kind(value)
    if types:
        if kind == "number":
            ok = "number" in types or ("integer" in types and float(value).is_integer())
        else:
            ok = _SCHEMA_TYPE.get(kind) in types
        if not ok:
            got = f"number {value}" if kind == "number" and "integer" in types else kind
            return (
                f"json: cannot unmarshal {got} into Go struct field {struct}.{path} "
                f"of type {go_type(node)}"
            )
    if kind == "object" and (not types or "object" in types):
        props, extra, _, _ = node.field_rules()
        inner = node.ref.rsplit(".", 1)[-1] if node.ref else struct
        for key, item in value.items():
            if key.startswith("$") or not (key in props or extra):
                continue
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue  # metadata maps have their own decoding check
            # a map's keys are not in Go's field path, a struct's fields are
            here = path if key not in props else f"{path}.{key}" if path else key
            found = type_error(item, node.child(key), inner, here)
            if found:
                return found
    elif kind == "array" and (not types or "array" in types):
        items = node.items()
        for item in value:
            found = type_error(item, items, struct, path)
            if found:
                return found
    return None


def _list_info(s: dict[str, Any]) -> ListInfo:
    strategy = str(s.get("x-kubernetes-patch-strategy", ""))
    merge_key = s.get("x-kubernetes-patch-merge-key")
    list_type = s.get("x-kubernetes-list-type")
    keys = tuple(s.get("x-kubernetes-list-map-keys") or ())
    if list_type == "map" or (merge_key and "merge" in strategy):
        return ListInfo("map", keys or ((merge_key,) if merge_key else ()), merge_key, strategy)
    if list_type == "set" or ("merge" in strategy and not merge_key):
        return ListInfo("set", (), None, strategy)
    return ListInfo("atomic", (), None, strategy)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = definitions().get(name, {})
        seen += 1
    if "allOf" in schema and len(schema["allOf"]) == 1 and "$ref" in schema["allOf"][0]:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        merged.update(_resolve(schema["allOf"][0]))
        return merged
    return schema


def builtin_root(definition_name: str) -> SchemaNode | None:
    d = definitions().get(definition_name)
    return SchemaNode(d) if d is not None else None


def unknown_fields(value: Any, node: SchemaNode, path: str = "", *, root: bool = True) -> list[str]:
    """Field paths in `value` that the schema does not declare (for fieldValidation)."""
    if not _has_unknown(value, node, root):
        return []  # the usual case, found without building a path per field
    return _unknown_paths(value, node, path, root)


def _has_unknown(value: Any, node: SchemaNode, root: bool) -> bool:
    """Whether `_unknown_paths` would report anything (the same walk, no paths)."""
    if isinstance(value, dict):
        props, extra, props_only, _ = node.field_rules()
        for key, item in value.items():
            if key.startswith("$"):
                continue
            if root and key in ("apiVersion", "kind", "metadata"):
                in_meta = key == "metadata" and isinstance(item, dict) and "metadata" in props
                if in_meta and _has_unknown(item, node.child(key), False):
                    return True
                continue
            if key in props or extra:
                if isinstance(item, dict | list) and _has_unknown(item, node.child(key), False):
                    return True
            elif props_only:
                return True
        return False
    if isinstance(value, list) and node.field_rules()[3]:
        items = node.items()
        return any(
            _has_unknown(item, items, False) for item in value if isinstance(item, dict | list)
        )
    return False


def _unknown_paths(value: Any, node: SchemaNode, path: str, root: bool) -> list[str]:
    s = node.schema
    out: list[str] = []
    if isinstance(value, dict):
        if s.get("x-kubernetes-preserve-unknown-fields"):
            props_only = False
        else:
            props_only = "properties" in s and not s.get("additionalProperties")
        props = s.get("properties") or {}
        for key, item in value.items():
            if key.startswith("$"):
                continue  # strategic merge patch directives
            here = f"{path}.{key}" if path else key
            if root and key in ("apiVersion", "kind", "metadata"):
                if key == "metadata" and isinstance(item, dict) and "metadata" in props:
                    out += _unknown_paths(item, node.child(key), here, False)
                continue
            if key in props or s.get("additionalProperties"):
                out += _unknown_paths(item, node.child(key), here, False)
            elif props_only:
                out.append(here)
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        for i, item in enumerate(value):
            out += _unknown_paths(item, node.items(), f"{path}[{i}]", False)
    return out


def remove_fields(value: Any, paths: list[str]) -> None:
    """Drop the fields `unknown_fields` reported (as decoding into Go structs would)."""
    import re

    for path in paths:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        cur = value
        for part in parts[:-1]:
            if part.startswith("["):
                idx = int(part[1:-1])
                cur = cur[idx] if isinstance(cur, list) and idx < len(cur) else None
            else:
                cur = cur.get(part) if isinstance(cur, dict) else None
            if cur is None:
                break
        if isinstance(cur, dict) and parts:
            cur.pop(parts[-1], None)
