"""The quick "any unknown field?" walk that guards fieldValidation must agree with the walk
that lists the unknown fields' paths: same answer on built-in kinds, known and unknown
keys, nested lists, strategic-merge directives and CRD-style preserved fields."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubesandbox.apiserver.builtin_schemas import (
    SchemaNode,
    _unknown_paths,
    builtin_root,
    unknown_fields,
)

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
SERVICE = "io.k8s.api.core.v1.Service"

# Keys the Deployment and Service schemas declare at various depths, plus a few they do not.
KEYS = st.sampled_from(
    [
        "metadata", "spec", "template", "containers", "name", "image", "ports",
        "containerPort", "labels", "selector", "replicas", "env", "value", "volumes",
        "configMap", "apiVersion", "kind", "bogus", "colour", "$patch", "type", "port",
    ]
)  # fmt: skip
VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.integers(0, 9), st.text("ab", max_size=2), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _node(name: str) -> SchemaNode:
    node = builtin_root(name)
    assert node is not None, f"no upstream definition {name}"
    return node


@settings(max_examples=150, deadline=None)
@given(body=st.dictionaries(KEYS, VALUES, max_size=5), kind=st.sampled_from([DEPLOYMENT, SERVICE]))
def test_quick_walk_agrees_with_the_paths(body: dict[str, Any], kind: str) -> None:
    node = _node(kind)
    assert unknown_fields(body, node) == _unknown_paths(body, node, "", True)


def test_unknown_fields_are_found_deep_in_a_pod_template() -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "colour": "red"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "c", "image": "i", "bogus": 1}, {"name": "d"}]}
            }
        },
    }
    assert unknown_fields(body, _node(DEPLOYMENT)) == [
        "metadata.colour",
        "spec.template.spec.containers[0].bogus",
    ]


def test_a_clean_body_and_preserved_fields_report_nothing() -> None:
    clean = {"spec": {"ports": [{"port": 80}], "selector": {"any-key": "x"}}}
    assert unknown_fields(clean, _node(SERVICE)) == []
    preserved = SchemaNode({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    assert unknown_fields({"anything": {"goes": [1]}}, preserved) == []
    closed = SchemaNode({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert unknown_fields({"a": 1, "b": 2}, closed) == ["b"]
