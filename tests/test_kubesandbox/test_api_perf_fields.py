"""managedFields bookkeeping made cheaper must give exactly what the straightforward
implementation gave: the same FieldsV1 bytes (member order included), the same field sets,
and the same managedFields after a series of writes whether or not decoded entries are
remembered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesandbox import fastjson
from kubesandbox.apiserver import admission
from kubesandbox.apiserver import core as core_module
from kubesandbox.apiserver.builtin_schemas import SchemaNode, builtin_root
from kubesandbox.apiserver.core import PATCH_APPLY, PATCH_MERGE, PATCH_STRATEGIC, ApiCore
from kubesandbox.apiserver.fieldcache import FieldsMemo
from kubesandbox.apiserver.patching import (
    _DELETE,
    _UNTRACKED_META,
    FieldPath,
    _item_key,
    _set_member,
    changed_fields,
    decode_fields,
    encode_fields,
    encode_fields_and_set,
    field_set,
    fields_have,
    fields_tree,
    fields_with,
    fields_without,
)
from kubesandbox.apiserver.store import Store

# ------------------------------------------------------------------ reference implementations
# The straightforward versions the fast ones replaced: sort every path, union sets per level.


def ref_sort_key(path: FieldPath) -> tuple[str, ...]:
    return tuple(e if isinstance(e, str) else f"{e[0]}:{e[1]}" for e in path)


def ref_encode(paths: set[FieldPath]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths, key=ref_sort_key):
        cur = root
        for elem in path:
            if isinstance(elem, tuple):
                cur = cur.setdefault(f"{elem[0]}:{elem[1]}", {})
                cur.setdefault(".", {})
            else:
                cur = cur.setdefault(f"f:{elem}", {})
    return root


def ref_field_set(
    obj: Any, node: SchemaNode, prefix: FieldPath = (), *, with_status: bool = False
) -> set[FieldPath]:
    out: set[FieldPath] = set()
    if isinstance(obj, dict):
        if not obj and prefix:
            out.add(prefix)
        for key, value in obj.items():
            if not prefix and (
                key in ("apiVersion", "kind") or (key == "status" and not with_status)
            ):
                continue
            if prefix == ("metadata",) and key in _UNTRACKED_META:
                continue
            out |= ref_field_set(value, node.child(key), prefix + (key,))
        return out
    if isinstance(obj, list):
        info = node.list_info()
        if info.kind == "map" and info.keys:
            for item in obj:
                if isinstance(item, dict):
                    ident = ("k", _item_key(item, info.keys))
                    out.add(prefix + (ident,))
                    out |= ref_field_set(item, node.items(), prefix + (ident,))
            return out
        if info.kind == "set":
            for item in obj:
                out.add(prefix + (("v", json.dumps(item, sort_keys=True)),))
            return out
    out.add(prefix)
    return out


def ref_changed(
    old: Any, new: Any, node: SchemaNode, prefix: FieldPath = (), *, with_status: bool = False
) -> set[FieldPath]:
    if old is _DELETE:
        return ref_field_set(new, node, prefix, with_status=with_status)
    if old == new:
        return set()
    if isinstance(new, dict) and isinstance(old, dict):
        out: set[FieldPath] = set()
        for key, value in new.items():
            if not prefix and (
                key in ("apiVersion", "kind") or (key == "status" and not with_status)
            ):
                continue
            if prefix == ("metadata",) and key in _UNTRACKED_META:
                continue
            before = old.get(key, _DELETE)
            if before is not _DELETE and before == value:
                continue
            out |= ref_changed(before, value, node.child(key), prefix + (key,))
        return out
    if isinstance(new, list) and isinstance(old, list):
        info = node.list_info()
        if info.kind == "map" and info.keys:
            olds = {_item_key(x, info.keys): x for x in old if isinstance(x, dict)}
            out = set()
            for item in new:
                if not isinstance(item, dict):
                    continue
                ident = ("k", _item_key(item, info.keys))
                before = olds.get(ident[1], _DELETE)
                if before is _DELETE:
                    out.add(prefix + (ident,))
                out |= ref_changed(before, item, node.items(), prefix + (ident,))
            return out
        if info.kind == "set":
            return {prefix + (("v", json.dumps(x, sort_keys=True)),) for x in new if x not in old}
    return ref_field_set(new, node, prefix, with_status=with_status)


# ------------------------------------------------------------------ path sets

_names = st.sampled_from(["a", "b", "B", "a-b", "a.b", "zz", "k:x", "-", "0", "spec"])
_items = st.sampled_from(
    [("k", '{"name":"a"}'), ("k", '{"name":"b"}'), ("k", '{"port":80}'), ("v", '"x"'), ("v", "1")]
)
_paths = st.lists(st.one_of(_names, _items), min_size=1, max_size=4).map(tuple)
_path_sets = st.sets(_paths, max_size=25)


@settings(max_examples=200, deadline=None)
@given(_path_sets)
def test_encoding_is_byte_identical_to_sorting_every_path(paths: set[FieldPath]) -> None:
    assert fastjson.dumps(encode_fields(paths)) == fastjson.dumps(ref_encode(paths))


@settings(max_examples=200, deadline=None)
@given(_path_sets)
def test_encoding_knows_what_decoding_will_give(paths: set[FieldPath]) -> None:
    fields, decoded = encode_fields_and_set(paths)
    assert decoded == decode_fields(fields)


def test_a_field_others_go_through_is_not_a_leaf_after_a_round_trip() -> None:
    fields, decoded = encode_fields_and_set({("spec", "x"), ("spec", "x", "y")})
    assert fields == {"f:spec": {"f:x": {"f:y": {}}}}
    assert decoded == {("spec", "x", "y")}
    fields, decoded = encode_fields_and_set({("l", ("k", '{"name":"a"}'), "v")})
    assert decoded == {("l", ("k", '{"name":"a"}')), ("l", ("k", '{"name":"a"}'), "v")}


# ------------------------------------------------------------------ field sets of real objects

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "p",
        "namespace": "default",
        "uid": "u",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {},
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "1"}
        ],
        "finalizers": ["a", "b"],
    },
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "args": ["x", "y"],
                "resources": {},
            },
            {"name": "side", "image": "busybox"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "k", "operator": "Exists"}],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "web", "ready": True}],
    },
}


def _pod_node() -> SchemaNode:
    node = builtin_root("io.k8s.api.core.v1.Pod")
    assert node is not None, "kubernetes-validate provides the Pod schema"
    return node


@pytest.mark.parametrize("with_status", [False, True])
def test_field_set_of_a_pod_matches_the_reference(with_status: bool) -> None:
    node = _pod_node()
    got = field_set(POD, node, with_status=with_status)
    assert got == ref_field_set(POD, node, with_status=with_status)
    assert ("spec", "containers", ("k", '{"name":"web"}'), "image") in got
    assert (("status", "phase") in got) is with_status


def _edited_pod() -> dict[str, Any]:
    pod = json.loads(json.dumps(POD))
    pod["metadata"]["labels"]["tier"] = "back"
    pod["metadata"]["finalizers"].append("c")
    pod["spec"]["containers"][0]["env"][1]["value"] = "3"
    pod["spec"]["containers"][0]["env"].append({"name": "C", "value": "4"})
    pod["spec"]["containers"][1]["image"] = "busybox:2"
    pod["spec"]["volumes"] = []
    pod["status"]["conditions"][0]["status"] = "False"
    return pod


@pytest.mark.parametrize("with_status", [False, True])
def test_changed_fields_of_a_pod_match_the_reference(with_status: bool) -> None:
    node = _pod_node()
    new = _edited_pod()
    got = changed_fields(POD, new, node, with_status=with_status)
    assert got == ref_changed(POD, new, node, with_status=with_status)
    assert ("metadata", "labels", "tier") in got
    assert ("metadata", "finalizers", ("v", '"c"')) in got
    assert ("spec", "containers", ("k", '{"name":"web"}'), "env", ("k", '{"name":"C"}')) in got
    assert changed_fields(_DELETE, new, node) == ref_field_set(new, node)
    assert changed_fields(POD, POD, node) == set()


_keys = st.sampled_from(
    [
        "metadata", "spec", "status", "apiVersion", "kind", "name", "uid", "labels",
        "finalizers", "containers", "env", "value", "ports", "containerPort", "protocol",
        "args", "image", "volumes", "emptyDir", "tolerations", "key", "a",
    ]
)  # fmt: skip
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["x", "y"]))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=25,
)
_objects = st.dictionaries(_keys, _values, max_size=6)


@settings(max_examples=250, deadline=None)
@given(_objects)
def test_a_create_records_what_encoding_its_field_set_would(obj: dict[str, Any]) -> None:
    node = _pod_node()
    expected = fastjson.dumps(encode_fields(field_set(obj, node)))
    assert fastjson.dumps(fields_tree(obj, node)) == expected


def test_a_create_records_a_real_pod_like_before() -> None:
    node = _pod_node()
    assert fastjson.dumps(fields_tree(POD, node)) == fastjson.dumps(
        ref_encode(ref_field_set(POD, node))
    )
    assert fields_tree({"metadata": {"name": "only-untracked"}}, node) == {}


CRD_DEFINITION = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"


def test_a_crd_with_its_recursive_schema_is_recorded_like_before() -> None:
    node = builtin_root(CRD_DEFINITION)
    assert node is not None, "kubernetes-validate provides the CRD schema"
    prop = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.x.io", "labels": {"a": "b"}},
        "spec": {
            "group": "x.io",
            "names": {"plural": "things", "kind": "Thing", "shortNames": ["th"]},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"s": prop}}},
                }
            ],
        },
    }
    assert fastjson.dumps(fields_tree(crd, node)) == fastjson.dumps(
        ref_encode(ref_field_set(crd, node))
    )


# ------------------------------------------------------------------ the memo


def test_memo_returns_what_decoding_returns_and_counts_hits() -> None:
    memo = FieldsMemo(limit=3)
    fields = encode_fields({("spec", "a"), ("spec", "b")})
    assert memo.decode(fields) == decode_fields(fields)
    assert memo.decode(fields) == decode_fields(fields)
    assert (memo.hits, memo.misses) == (1, 1)
    twin = json.loads(json.dumps(fields))  # equal content, another dict: decoded on its own
    assert memo.decode(twin) == decode_fields(fields)
    assert memo.misses == 2
    assert memo.decode({}) == frozenset()


def test_memo_stays_within_its_limit_and_still_answers_after_starting_afresh() -> None:
    memo = FieldsMemo(limit=3)
    all_fields = [memo.encode({("f", str(i))}) for i in range(10)]
    assert len(memo) <= 3
    for i, fields in enumerate(all_fields):
        assert memo.decode(fields) == {("f", str(i))}
    assert len(memo) <= 3


def test_memo_remembers_the_decoded_set_of_what_it_encoded() -> None:
    memo = FieldsMemo()
    fields = memo.encode({("spec", "x"), ("spec", "x", "y")})
    assert memo.decode(fields) == decode_fields(fields) == {("spec", "x", "y")}
    assert memo.misses == 0


# ------------------------------------------------------------------ whole writes, memo on and off


class _ForgetfulMemo(FieldsMemo):
    """Decodes every time, as before the memo existed."""

    def decode(self, fields: dict[str, Any]) -> frozenset[FieldPath]:
        return frozenset(decode_fields(fields))


def _script(api: ApiCore) -> list[Any]:
    """A series of writes by several managers; returns every object's managedFields (and
    the objects) after each step."""
    deploy_rt = api.lookup("apps", "v1", "deployments")
    pod_rt = api.lookup("", "v1", "pods")
    seen: list[Any] = []

    def record(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        seen.append(
            [{k: v for k, v in e.items() if k != "time"} for e in meta.get("managedFields") or []]
        )
        seen.append({k: v for k, v in obj.items() if k != "metadata"})

    deployment = {
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "env": []}]},
            },
        },
    }
    record(api.create(deploy_rt, None, "default", deployment, manager="kubectl-create"))
    for i, manager in enumerate(["op", "op", "hpa", "op", "kubectl-edit", "op"]):
        patch = {
            "metadata": {"labels": {"step": str(i)}},
            "spec": {"replicas": i % 3 + 1},
        }
        if manager == "kubectl-edit":
            patch["spec"]["template"] = {
                "spec": {"containers": [{"name": "c", "image": f"i:{i}", "env": [{"name": "X"}]}]}
            }
        record(
            api.patch(
                deploy_rt,
                None,
                "default",
                "d",
                json.dumps(patch).encode(),
                PATCH_STRATEGIC if i % 2 else PATCH_MERGE,
                manager=manager,
            )[0]
        )
        record(
            api.patch(
                deploy_rt,
                None,
                "default",
                "d",
                json.dumps({"status": {"replicas": i, "observedGeneration": i}}).encode(),
                PATCH_MERGE,
                subresource="status",
                manager="controller",
            )[0]
        )
    applied = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  labels:\n    team: x\n"
        "spec:\n  replicas: 4\n"
    )
    record(
        api.patch(
            deploy_rt,
            None,
            "default",
            "d",
            applied.encode(),
            PATCH_APPLY,
            manager="ssa",
            force=True,
        )[0]
    )
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    record(api.create(pod_rt, None, "default", pod, manager="rs"))
    for i in range(3):
        status = {
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True" if i else "False"}],
            }
        }
        record(
            api.update(
                pod_rt,
                None,
                "default",
                "p",
                {**api.get(pod_rt, "default", "p"), **status},
                subresource="status",
                manager="kubelet",
            )
        )
    return seen


def test_managed_fields_are_the_same_with_and_without_the_memo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same token volume name in both runs (it is random: kube-api-access-xxxxx)
    monkeypatch.setattr(admission, "_CHARS", "b")
    with_memo = _script(ApiCore(Store()))
    monkeypatch.setattr(core_module, "MEMO", _ForgetfulMemo())
    without = _script(ApiCore(Store()))
    assert with_memo == without
    managers = {e["manager"] for e in with_memo[-2]}
    assert managers == {"rs", "kubelet"}


# ------------------------------------------------------------------ moving ownership


@settings(max_examples=200, deadline=None)
@given(_path_sets, _paths)
def test_fields_have_answers_like_membership_in_the_decoded_set(
    paths: set[FieldPath], probe: FieldPath
) -> None:
    fields = encode_fields(paths)
    decoded = decode_fields(fields)
    for path in [*paths, probe, ()]:
        assert fields_have(fields, path) == (path in decoded)


def ref_move(
    entries: list[dict[str, Any]], key: tuple[str, str, str], changed: set[FieldPath]
) -> list[dict[str, Any]]:
    """Ownership moved as before: decode every entry, subtract, encode what changed."""
    before: dict[tuple[str, str, str], set[FieldPath]] = {}
    for e in entries:
        before[(e["manager"], e.get("operation", "Update"), e.get("subresource", ""))] = (
            decode_fields(e.get("fieldsV1") or {})
        )
    mine = before.get(key)
    if (
        mine is not None
        and changed <= mine
        and all(not (owned & changed) for k, owned in before.items() if k != key)
    ):
        return [
            {**e, "time": "NEW"}
            if (e.get("manager"), e.get("operation"), e.get("subresource", "")) == key
            else e
            for e in entries
        ]
    managers = {k: (v | changed if k == key else v - changed) for k, v in before.items()}
    managers.setdefault(key, set(changed))
    out = []
    for k, fields in managers.items():
        if not fields:
            continue
        if k != key and fields == before[k]:
            out.append(next(e for e in entries if e["manager"] == k[0]))
            continue
        record = {
            "manager": k[0],
            "operation": k[1],
            "apiVersion": "v1",
            "time": "NEW",
            "fieldsType": "FieldsV1",
            "fieldsV1": ref_encode(fields),
        }
        if k[2]:
            record["subresource"] = k[2]
        out.append(record)
    return out


_managers = st.sampled_from(["kubectl", "operator", "kubelet"])


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_managers, _path_sets, max_size=3),
    _managers,
    st.booleans(),
    _path_sets.filter(bool),
)
def test_moving_ownership_gives_what_decoding_every_entry_gave(
    owned: dict[str, set[FieldPath]], writer: str, status: bool, changed: set[FieldPath]
) -> None:
    entries = []
    for manager, paths in owned.items():
        entry = {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "OLD",
            "fieldsType": "FieldsV1",
            "fieldsV1": ref_encode(paths),
        }
        entries.append(entry)
    key = (writer, "Update", "status" if status else "")
    got = core_module._moved_ownership(entries, key, frozenset(changed), "v1")
    got = [{**e, "time": "NEW"} if e["time"] != "OLD" else e for e in got]
    assert fastjson.dumps(got) == fastjson.dumps(ref_move(entries, key, changed))


# ------------------------------------------------------------------ list item names

_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
        st.sampled_from(['a"b', "a\\b", "tab\tx", "é", "\x7f", " ", ""]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=250, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["name", "port", "protocol", "x"]), _json_values),
    st.lists(st.sampled_from(["name", "port", "protocol"]), min_size=1, max_size=3).map(tuple),
)
def test_list_item_names_are_what_json_dumps_wrote(item: dict[str, Any], keys: tuple) -> None:
    expected = json.dumps(
        {k: item.get(k) for k in keys if k in item}, sort_keys=True, separators=(",", ":")
    )
    assert _item_key(item, keys) == expected


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_set_members_are_named_as_json_dumps_wrote(value: Any) -> None:
    assert _set_member(value) == json.dumps(value, sort_keys=True)


@settings(max_examples=250, deadline=None)
@given(_path_sets, _path_sets)
def test_adding_paths_to_a_tree_gives_what_encoding_the_union_gave(
    owned: set[FieldPath], added: set[FieldPath]
) -> None:
    fields = encode_fields(owned)
    before = fastjson.dumps(fields)
    grown = fields_with(fields, added)
    expected = encode_fields(decode_fields(fields) | added)
    assert fastjson.dumps(grown) == fastjson.dumps(expected)
    assert fastjson.dumps(fields) == before  # the stored tree is left as it was


@settings(max_examples=250, deadline=None)
@given(_path_sets, _path_sets)
def test_taking_paths_out_of_a_tree_gives_what_encoding_the_difference_gave(
    owned: set[FieldPath], taken: set[FieldPath]
) -> None:
    fields = encode_fields(owned)
    before = fastjson.dumps(fields)
    decoded = decode_fields(fields)
    taken |= set(list(decoded)[: len(decoded) // 2])  # some of what is really owned
    shrunk = fields_without(fields, taken)
    expected = encode_fields(decoded - taken)
    assert fastjson.dumps(shrunk) == fastjson.dumps(expected)
    assert fastjson.dumps(fields) == before
