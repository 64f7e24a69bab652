"""JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch and the
field-ownership part of server-side apply. Pure functions over plain dicts."""

from __future__ import annotations

import copy
import json
from collections.abc import Set as AbstractSet
from typing import Any

from .builtin_schemas import SchemaNode
from .errors import ApiError

_DELETE = object()


# ---------------------------------------------------------------- JSON merge patch


def merge_patch(target: Any, patch: Any, *, owned: bool = False) -> Any:
    """RFC 7386 JSON merge patch; `target` is not changed (untouched subtrees are shared).
    `owned`: the patch was just decoded and nobody else holds it, so its lists and scalars
    go into the result as they are instead of being deep-copied."""
    if not isinstance(patch, dict):
        return patch if owned else copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, owned=owned)
    return result


# ---------------------------------------------------------------- JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f"JSON pointer must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _patch_error(message: str) -> ApiError:
    return ApiError(422, message, reason="Invalid")


def _parent(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise _patch_error(
                f"the server rejected our request due to an error in our request: "
                f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}"
            )
    return cur, parts[-1]


def _get(doc: Any, parts: list[str], op: str) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts, op)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _patch_error(
        f"the server rejected our request due to an error in our request: {op} operation "
        f"does not apply: doc is missing path: /{'/'.join(parts)}"
    )


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ApiError(400, "json patch must be a list of operations", reason="BadRequest")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind == "test":
            if _get(doc, parts, "test") != op.get("value"):
                raise _patch_error(
                    "the server rejected our request due to an error in our request: "
                    f"testing value /{'/'.join(parts)} failed: test failed"
                )
            continue
        if kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source, kind))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts, "replace")
            doc = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        else:
            raise ApiError(400, f"unexpected json patch operation {kind!r}", reason="BadRequest")
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts, "add")
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _patch_error(f"add operation: index out of range: /{'/'.join(parts)}")
    else:
        raise _patch_error(f"add operation does not apply: /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    _get(doc, parts, "remove")
    parent, last = _parent(doc, parts, "remove")
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return doc


# ---------------------------------------------------------------- strategic merge patch


def strategic_merge(original: Any, patch: Any, node: SchemaNode) -> Any:
    result = _smp(original, patch, node)
    return {} if result is _DELETE else result


def _smp(original: Any, patch: Any, node: SchemaNode) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = node.child(key)
        if isinstance(value, dict):
            merged = _smp(result.get(key), value, sub)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(result.get(key), value, sub)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, node.child(field))
    return result


def _smp_list(original: Any, patch: list[Any], node: SchemaNode) -> list[Any]:
    info = node.list_info()
    original = list(original) if isinstance(original, list) else []
    if "merge" not in info.strategy or info.kind == "atomic":
        return [_strip_directives(x) for x in patch]
    if info.kind == "set" or not info.merge_key:
        return original + [x for x in patch if x not in original]
    key = info.merge_key
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip_directives(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next(
            (
                i
                for i, o in enumerate(result)
                if isinstance(o, dict) and o.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            merged = _smp(result[idx], item, node.items())
            if merged is not _DELETE:
                result[idx] = merged
    return result


def _reorder(items: list[Any], order: list[Any], node: SchemaNode) -> list[Any]:
    key = node.list_info().merge_key

    def ident(x: Any) -> Any:
        return json.dumps(x.get(key) if key and isinstance(x, dict) else x, sort_keys=True)

    ordered = [ident(o) for o in order]
    positions = {k: i for i, k in enumerate(ordered)}
    return sorted(items, key=lambda x: positions.get(ident(x), len(positions)))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


# ---------------------------------------------------------------- field sets (SSA)

PathElem = str | tuple[str, str]
FieldPath = tuple[PathElem, ...]

_UNTRACKED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "generateName",
}


def field_set(
    obj: Any, node: SchemaNode, prefix: FieldPath = (), *, with_status: bool = False
) -> set[FieldPath]:
    """The leaf field paths an object sets (lists keyed by their map keys)."""
    out: set[FieldPath] = set()
    _collect_fields(obj, node, prefix, out, with_status)
    return out


def _collect_fields(
    obj: Any, node: SchemaNode, prefix: FieldPath, out: set[FieldPath], with_status: bool
) -> None:
    # One accumulator for the whole walk: no intermediate sets to merge at every level.
    if isinstance(obj, dict):
        if not obj:
            if prefix:
                out.add(prefix)
            return
        top = not prefix
        meta = prefix == ("metadata",)
        for key, value in obj.items():
            if top and (key in ("apiVersion", "kind") or (key == "status" and not with_status)):
                continue
            if meta and key in _UNTRACKED_META:
                continue
            _collect_fields(value, node.child(key), prefix + (key,), out, False)
        return
    if isinstance(obj, list):
        info = node.list_info()
        if info.kind == "map" and info.keys:
            items = node.items()
            for item in obj:
                if isinstance(item, dict):
                    here = prefix + (("k", _item_key(item, info.keys)),)
                    out.add(here)
                    _collect_fields(item, items, here, out, False)
            return
        if info.kind == "set":
            for item in obj:
                out.add(prefix + (("v", _set_member(item)),))
            return
    out.add(prefix)


def fields_tree(obj: Any, node: SchemaNode, *, with_status: bool = False) -> dict[str, Any]:
    """`encode_fields(field_set(obj, node))` in one walk over the object, without building
    a path tuple per field (what a create records for its manager). Members are produced
    in their final order (see `encode_fields`), so no second pass sorts them."""
    return _tree_of(obj, node, True, with_status) or {}


def _tree_of(
    obj: Any, node: SchemaNode, top: bool, with_status: bool, meta: bool = False
) -> dict[str, Any] | None:
    """The FieldsV1 members under a value; None when it contributes no field at all."""
    if isinstance(obj, dict):
        if not obj:
            return None if top else {}
        out: dict[str, Any] = {}
        for key in sorted(obj):
            if top and (key in ("apiVersion", "kind") or (key == "status" and not with_status)):
                continue
            if meta and key in _UNTRACKED_META:
                continue
            value = obj[key]
            if not isinstance(value, dict | list):
                out["f:" + key] = {}  # a scalar is a leaf whatever its schema says
                continue
            sub = _tree_of(value, node.child(key), False, False, top and key == "metadata")
            if sub is not None:
                out["f:" + key] = sub
        return out or None
    if isinstance(obj, list):
        info = node.list_info()
        if info.kind == "map" and info.keys:
            items = node.items()
            found: dict[str, Any] = {}
            repeated = False
            for item in obj:
                if isinstance(item, dict):
                    name = "k:" + _item_key(item, info.keys)
                    here = found.get(name)
                    if here is None:
                        here = found[name] = {".": {}}
                    else:
                        repeated = True
                    sub = _tree_of(item, items, False, False)
                    if sub:
                        _merge_tree(here, sub)
            if not found:
                return None
            if repeated:
                return {name: _ordered(found[name]) for name in sorted(found)}
            return {name: found[name] for name in sorted(found)}
        if info.kind == "set":
            if not obj:
                return None
            names = sorted({"v:" + _set_member(item) for item in obj})
            return {name: {".": {}} for name in names}
    return None if top else {}


def _merge_tree(into: dict[str, Any], more: dict[str, Any]) -> None:
    for name, sub in more.items():
        have = into.get(name)
        if have is None:
            into[name] = sub
        else:
            _merge_tree(have, sub)


def changed_fields(
    old: Any, new: Any, node: SchemaNode, prefix: FieldPath = (), *, with_status: bool = False
) -> set[FieldPath]:
    """Leaf paths whose value differs between `old` and `new` (only where `new` sets them);
    equal subtrees are skipped without being walked."""
    out: set[FieldPath] = set()
    _collect_changed(old, new, node, prefix, out, with_status)
    return out


def _collect_changed(
    old: Any,
    new: Any,
    node: SchemaNode,
    prefix: FieldPath,
    out: set[FieldPath],
    with_status: bool,
) -> None:
    if old is _DELETE:
        _collect_fields(new, node, prefix, out, with_status)
        return
    if old == new:
        return
    if isinstance(new, dict) and isinstance(old, dict):
        top = not prefix
        meta = prefix == ("metadata",)
        for key, value in new.items():
            if top and (key in ("apiVersion", "kind") or (key == "status" and not with_status)):
                continue
            if meta and key in _UNTRACKED_META:
                continue
            before = old.get(key, _DELETE)
            if before is not _DELETE and before == value:
                continue
            _collect_changed(before, value, node.child(key), prefix + (key,), out, False)
        return
    if isinstance(new, list) and isinstance(old, list):
        info = node.list_info()
        if info.kind == "map" and info.keys:
            olds = {_item_key(x, info.keys): x for x in old if isinstance(x, dict)}
            items = node.items()
            for item in new:
                if not isinstance(item, dict):
                    continue
                ident = _item_key(item, info.keys)
                here = prefix + (("k", ident),)
                before = olds.get(ident, _DELETE)
                if before is _DELETE:
                    out.add(here)
                _collect_changed(before, item, items, here, out, False)
            return
        if info.kind == "set":
            for x in new:
                if x not in old:
                    out.add(prefix + (("v", _set_member(x)),))
            return
    _collect_fields(new, node, prefix, out, with_status)


def _item_key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The JSON of a list item's key fields, as `json.dumps(..., sort_keys=True,
    separators=(",", ":"))` writes it (plain strings and numbers without calling it)."""
    if len(keys) == 1:
        key = keys[0]
        if key not in item:
            return "{}"
        return "{" + _json_text(key) + ":" + _json_text(item[key]) + "}"
    present = sorted(k for k in dict.fromkeys(keys) if k in item)
    return "{" + ",".join(_json_text(k) + ":" + _json_text(item[k]) for k in present) + "}"


def _set_member(item: Any) -> str:
    """How a set-list member is named: `json.dumps(item, sort_keys=True)`."""
    if isinstance(item, dict | list):
        return json.dumps(item, sort_keys=True)
    return _json_text(item)


def _json_text(value: Any) -> str:
    """`json.dumps(value)` for a scalar (ensure_ascii, like the standard library)."""
    if isinstance(value, str):
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return '"' + value + '"'
        return json.dumps(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def value_at(obj: Any, path: FieldPath) -> Any:
    cur = obj
    for elem in path:
        if isinstance(elem, tuple):
            kind, ident = elem
            if not isinstance(cur, list):
                return _DELETE
            if kind == "v":
                wanted = json.loads(ident)
                return wanted if wanted in cur else _DELETE
            keys = json.loads(ident)
            cur = next(
                (
                    x
                    for x in cur
                    if isinstance(x, dict) and all(x.get(k) == v for k, v in keys.items())
                ),
                _DELETE,
            )
        elif isinstance(cur, dict):
            cur = cur.get(elem, _DELETE)
        else:
            return _DELETE
        if cur is _DELETE:
            return _DELETE
    return cur


def remove_path(obj: Any, path: FieldPath) -> None:
    if not path:
        return
    parent = value_at(obj, path[:-1])
    last = path[-1]
    if isinstance(last, tuple) and isinstance(parent, list):
        kind, ident = last
        if kind == "v":
            wanted = json.loads(ident)
            parent[:] = [x for x in parent if x != wanted]
        else:
            keys = json.loads(ident)
            parent[:] = [
                x
                for x in parent
                if not (isinstance(x, dict) and all(x.get(k) == v for k, v in keys.items()))
            ]
    elif isinstance(parent, dict) and isinstance(last, str):
        parent.pop(last, None)


def apply_merge(live: Any, applied: Any, node: SchemaNode) -> Any:
    """Merge an applied configuration into the live object (keyed lists merge by key)."""
    if isinstance(applied, dict):
        result = dict(live) if isinstance(live, dict) else {}
        for key, value in applied.items():
            result[key] = apply_merge(result.get(key), value, node.child(key))
        return result
    if isinstance(applied, list):
        info = node.list_info()
        if info.kind == "map" and info.keys and isinstance(live, list):
            result_list = list(live)
            for item in applied:
                if not isinstance(item, dict):
                    continue
                ident = _item_key(item, info.keys)
                idx = next(
                    (
                        i
                        for i, x in enumerate(result_list)
                        if isinstance(x, dict) and _item_key(x, info.keys) == ident
                    ),
                    None,
                )
                if idx is None:
                    result_list.append(copy.deepcopy(item))
                else:
                    result_list[idx] = apply_merge(result_list[idx], item, node.items())
            return result_list
        if info.kind == "set" and isinstance(live, list):
            return list(live) + [x for x in applied if x not in live]
        return copy.deepcopy(applied)
    return copy.deepcopy(applied)


def _sort_key(path: FieldPath) -> tuple[str, ...]:
    return tuple(e if isinstance(e, str) else f"{e[0]}:{e[1]}" for e in path)


def encode_fields(paths: AbstractSet[FieldPath]) -> dict[str, Any]:
    """Field paths -> the FieldsV1 JSON shape kube-apiserver stores in managedFields.

    Members are ordered as if the paths were sorted by `_sort_key` and inserted in that
    order (a list item's "." first, then the rest by name, "f:" fields by their bare name):
    the paths go into a tree once and each level is sorted on its own, instead of sorting
    every full path."""
    return encode_fields_and_set(paths)[0]


def encode_fields_and_set(
    paths: AbstractSet[FieldPath],
) -> tuple[dict[str, Any], frozenset[FieldPath]]:
    """`encode_fields(paths)` and `decode_fields` of it, without decoding: the paths that
    survive the round trip (a field that another path goes through is not a leaf)."""
    root: dict[str, Any] = {}
    decoded: set[FieldPath] = set()
    ends: list[tuple[FieldPath, dict[str, Any]]] = []
    for path in paths:
        if not path:
            continue
        cur = root
        for depth, elem in enumerate(path):
            if isinstance(elem, tuple):
                name = f"{elem[0]}:{elem[1]}"
                nxt = cur.get(name)
                if nxt is None:
                    nxt = cur[name] = {".": {}}
                    decoded.add(path[: depth + 1])  # a list item's "." decodes to its path
            else:
                name = "f:" + elem
                nxt = cur.get(name)
                if nxt is None:
                    nxt = cur[name] = {}
            cur = nxt
        ends.append((path, cur))
    decoded.update(p for p, node in ends if not node)
    kept = frozenset(decoded)
    return _ordered(root), kept


def fields_with(fields: dict[str, Any], paths: AbstractSet[FieldPath]) -> dict[str, Any]:
    """`encode_fields(decode_fields(fields) | paths)` without decoding: the paths are added
    to a copy of the tree that shares every branch they do not touch, and only the levels
    that got a new member are put in order again."""
    root = dict(fields)
    copied = {id(root)}
    unsorted: list[dict[str, Any]] = []
    for path in paths:
        if not path:
            continue
        cur = root
        for elem in path:
            if isinstance(elem, tuple):
                name = f"{elem[0]}:{elem[1]}"
                fresh: dict[str, Any] = {".": {}}
            else:
                name = "f:" + elem
                fresh = {}
            nxt = cur.get(name)
            if nxt is None:
                nxt = cur[name] = fresh
                unsorted.append(cur)
            elif id(nxt) not in copied:
                nxt = cur[name] = dict(nxt)
            copied.add(id(nxt))
            cur = nxt
    for level in unsorted:
        if len(level) > 1:
            members = sorted((n for n in level if n != "."), key=_member_order)
            dot = level.pop(".", None)
            items = [(n, level[n]) for n in members]
            level.clear()
            if dot is not None:
                level["."] = dot
            level.update(items)
    return root


def fields_without(fields: dict[str, Any], paths: AbstractSet[FieldPath]) -> dict[str, Any]:
    """`encode_fields(decode_fields(fields) - paths)` without decoding: a copy of the tree
    (sharing what is not touched) with the owned leaves among `paths` taken out, and the
    fields that were only on the way to them."""
    root = dict(fields)
    copied = {id(root)}
    # Deepest first: a list item loses its fields before the item itself is looked at.
    for path in sorted(paths, key=len, reverse=True):
        if not path or not fields_have(root, path):
            continue
        trail: list[tuple[dict[str, Any], str]] = []
        cur = root
        for elem in path:
            name = f"{elem[0]}:{elem[1]}" if isinstance(elem, tuple) else "f:" + elem
            nxt = cur[name]
            if id(nxt) not in copied:
                nxt = cur[name] = dict(nxt)
                copied.add(id(nxt))
            trail.append((cur, name))
            cur = nxt
        if set(cur) - {"."}:
            continue  # a list item with fields of its own stays (its "." comes back)
        for parent, name in reversed(trail):
            del parent[name]
            if parent is root or parent:
                break
    return root


def _member_order(name: str) -> str:
    return name[2:] if name.startswith("f:") else name


def _ordered(tree: dict[str, Any]) -> dict[str, Any]:
    if not tree:
        return tree
    out: dict[str, Any] = {}
    if "." in tree:
        out["."] = tree["."]
    names = [n for n in tree if n != "."]
    if len(names) > 1:
        names.sort(key=_member_order)
    for name in names:
        out[name] = _ordered(tree[name])
    return out


def fields_have(fields: dict[str, Any], path: FieldPath) -> bool:
    """Whether `path` is in `decode_fields(fields)`, found by walking the tree."""
    node = fields
    for elem in path:
        found = node.get(f"{elem[0]}:{elem[1]}" if isinstance(elem, tuple) else "f:" + elem)
        if found is None:
            return False
        node = found
    return bool(path) and (not node or "." in node)


def decode_fields(fields: dict[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for name, sub in (fields or {}).items():
        if name == ".":
            if prefix:
                out.add(prefix)
            continue
        kind, _, rest = name.partition(":")
        elem: PathElem = rest if kind == "f" else (kind, rest)
        if not sub:
            out.add(prefix + (elem,))
        else:
            out |= decode_fields(sub, prefix + (elem,))
    return out


def render_path(path: FieldPath) -> str:
    text = ""
    for elem in path:
        if isinstance(elem, tuple) and elem[0] == "k":
            keys = json.loads(elem[1])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif isinstance(elem, tuple):
            text += f"[={elem[1]}]"
        else:
            text += f".{elem}"
    return text
