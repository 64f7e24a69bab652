"""Validation of a custom object's top-level fields is remembered by content; what it
answers must not change: the same causes for the same invalid value, transition rules
still judged against the old value, and a changed schema validated afresh."""

from __future__ import annotations

import copy
from typing import Any

from kubesandbox.apiserver import schema as schema_module
from kubesandbox.apiserver.schema import process_custom_object

SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [{"rule": "size(self.metadata.name) <= 10", "message": "short"}],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 5},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "owner": {
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "self == oldSelf", "message": "owner is immutable"}
                    ],
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def _obj(name: str = "r", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": "R", "metadata": {"name": name}, "spec": spec}


def _fields(causes: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in causes]


def test_the_same_invalid_spec_gets_the_same_causes_every_time() -> None:
    first = process_custom_object(_obj(size=9, mode="c"), SCHEMA, None)[1]
    hits = schema_module.TOP_FIELDS.hits
    second = process_custom_object(_obj(size=9, mode="c"), SCHEMA, None)[1]
    assert schema_module.TOP_FIELDS.hits > hits
    assert _fields(first) == _fields(second)
    assert {f for f, _ in _fields(first)} == {"spec.size", "spec.mode"}
    second[0]["message"] = "changed by a caller"
    third = process_custom_object(_obj(size=9, mode="c"), SCHEMA, None)[1]
    assert _fields(third) == _fields(first)


def test_a_transition_rule_still_sees_the_old_value() -> None:
    old = process_custom_object(_obj(owner="ann"), SCHEMA, None)[0]
    unchanged = copy.deepcopy(old)
    unchanged["status"] = {"phase": "Ready"}
    assert process_custom_object(unchanged, SCHEMA, old)[1] == []
    moved = copy.deepcopy(old)
    moved["spec"]["owner"] = "bob"
    causes = process_custom_object(moved, SCHEMA, old)[1]
    assert _fields(causes) == [("spec.owner", 'Invalid value: "string": owner is immutable')]
    again = process_custom_object(copy.deepcopy(moved), SCHEMA, old)[1]
    assert _fields(again) == _fields(causes)


def test_root_rules_still_run_and_still_wait_for_a_clean_object() -> None:
    long_name = _obj(name="much-too-long-a-name", size=2)
    assert [c["message"] for c in process_custom_object(long_name, SCHEMA, None)[1]] == [
        'Invalid value: "object": short'
    ]
    broken = _obj(name="much-too-long-a-name", size=0)
    fields = [c["field"] for c in process_custom_object(broken, SCHEMA, None)[1]]
    assert fields == ["spec.size"]  # field errors first: root rules are not evaluated


def test_a_changed_schema_is_validated_afresh() -> None:
    assert process_custom_object(_obj(size=4), SCHEMA, None)[1] == []
    stricter = copy.deepcopy(SCHEMA)
    stricter["properties"]["spec"]["properties"]["size"]["maximum"] = 3
    causes = process_custom_object(_obj(size=4), stricter, None)[1]
    assert [c["field"] for c in causes] == ["spec.size"]


DEFAULTING: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "default": 3},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        "mode": {"type": "string", "default": "auto"},
    },
}


def _reference(obj: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Pruning and defaulting as they were before settled values were remembered."""
    return schema_module.apply_defaults(
        schema_module.prune(copy.deepcopy(obj), schema, root=True), schema
    )


def test_a_status_write_keeps_the_stored_spec_and_gives_the_same_object() -> None:
    body = _obj(size=2, junk=1) | {"stray": True, "status": {"phase": "New", "junk": 2}}
    stored, causes = process_custom_object(copy.deepcopy(body), DEFAULTING, None)
    assert causes == []
    assert stored == _reference(body, DEFAULTING)
    assert stored["spec"] == {"size": 2} and "stray" not in stored and stored["mode"] == "auto"
    # A status write: the merged object shares the stored spec, the status is new.
    merged = {**stored, "status": {"phase": "Ready", "junk": 3}}
    hits = schema_module.SETTLED.hits
    written, causes = process_custom_object(merged, DEFAULTING, stored)
    assert causes == [] and schema_module.SETTLED.hits > hits
    assert written["spec"] is stored["spec"]  # not copied and walked again
    assert written == _reference(merged, DEFAULTING)
    assert written["status"] == {"phase": "Ready"}
    assert list(written) == list(_reference(merged, DEFAULTING))  # same key order


def test_a_settled_value_under_another_schema_is_pruned_again() -> None:
    stored = process_custom_object(_obj(size=2, junk=1), DEFAULTING, None)[0]
    narrower = copy.deepcopy(DEFAULTING)
    del narrower["properties"]["spec"]["properties"]["size"]
    written = process_custom_object({**stored}, narrower, stored)[0]
    assert written["spec"] == {}
    assert written == _reference(stored, narrower)


def test_an_invalid_value_is_not_remembered_as_settled() -> None:
    bad = process_custom_object(_obj(size="x"), DEFAULTING, None)
    assert [c["field"] for c in bad[1]] == ["spec.size"]
    assert not schema_module.SETTLED.has(DEFAULTING, "spec", bad[0]["spec"])
