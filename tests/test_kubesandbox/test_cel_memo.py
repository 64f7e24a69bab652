"""CEL rule outcomes are remembered by the values a rule reads: the answers stay the ones
cel-python gives, for every value, on creates and on updates (transition rules)."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

from kubesandbox.apiserver.schema import _cel_eval, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "size(self.metadata.name) <= 5", "message": "name too long"},
    ],
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "!has(self.low) || !has(self.high) || self.low <= self.high"},
                {
                    "rule": "has(self.storageClass) == has(oldSelf.storageClass)",
                    "message": "storageClass is fixed at creation",
                },
                {"rule": "self.size >= oldSelf.size", "message": "size cannot shrink"},
            ],
            "properties": {
                "low": {"type": "integer"},
                "high": {"type": "integer"},
                "size": {"type": "integer"},
                "storageClass": {"type": "string"},
            },
        }
    },
}


def room(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": name + "-uid"}, "spec": spec}


def messages(new: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    causes = validate(new, SCHEMA, "", old if old is not None else _missing(), root=True)
    return [c["message"] for c in causes]


def _missing() -> Any:
    from kubesandbox.apiserver import schema

    return schema._MISSING


def test_same_value_same_answer_and_different_values_are_told_apart() -> None:
    for _ in range(3):  # the second and third answers come from the memo
        assert messages(room("a", low=1, high=2, size=1)) == []
        assert any("self.low <= self.high" in m for m in messages(room("b", low=3, high=2)))
    # Equal bounds pass; a long name fails whatever the spec.
    assert messages(room("c", low=2, high=2)) == []
    assert any("name too long" in m for m in messages(room("toolong", low=1, high=2)))


def test_root_rules_see_only_name_and_generate_name_of_metadata() -> None:
    # Other metadata (uid, labels) changes do not matter to the root rule's answer.
    first = room("abc", size=1)
    second = room("abc", size=1)
    second["metadata"]["labels"] = {"x": "y" * 50}
    assert messages(first) == [] and messages(second) == []


def test_transition_rules_use_the_old_object_on_updates() -> None:
    old = room("r", size=2)
    assert messages(room("r", size=3), old) == []
    assert any("size cannot shrink" in m for m in messages(room("r", size=1), old))
    # The same new value is judged against each old value, not a remembered one.
    assert messages(room("r", size=1), room("r", size=1)) == []
    assert any(
        "storageClass is fixed" in m
        for m in messages(room("r", size=1, storageClass="fast"), room("r", size=1))
    )
    # On create, transition rules do not run.
    assert messages(room("r", size=0, storageClass="fast")) == []


def test_a_rule_evaluated_again_carries_nothing_over() -> None:
    """Each rule's program keeps its base activation between evaluations: the values of
    one evaluation (self, oldSelf, a macro's variable) never leak into the next."""
    rule = "self.items.all(x, x > 0) && !has(self.z)"
    answers = [
        bool(_cel_eval(rule, {"self": celpy.json_to_cel(value)}))
        for value in ({"items": [1, 2]}, {"items": [1, -2]}, {"items": [3]}, {"items": [], "z": 1})
    ]
    assert answers == [True, False, True, False]
    transition = "oldSelf.n < self.n"
    both = {"self": celpy.json_to_cel({"n": 2}), "oldSelf": celpy.json_to_cel({"n": 1})}
    assert bool(_cel_eval(transition, both))
    with pytest.raises(celpy.CELEvalError, match="oldSelf"):  # not the last one's oldSelf
        _cel_eval(transition, {"self": celpy.json_to_cel({"n": 2})})
