"""Cheaper steps of a write. A merge patch the API server has just decoded is merged without
deep copies of its values: the result must be what the copying merge gives, and the stored
object it is applied to must come out unchanged. Object uids are made without a UUID
object: they must still be random version 4 UUIDs in the usual text form."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kubesandbox import fastjson
from kubesandbox.apiserver.patching import merge_patch

_keys = st.sampled_from(["a", "b", "c", "status", "conditions"])
_json: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text("xy", max_size=2)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(
    target=st.dictionaries(_keys, _json, max_size=4),
    patch=st.dictionaries(_keys, _json, max_size=4),
)
def test_an_owned_patch_merges_like_a_copied_one(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    before = fastjson.dumps(target)
    copied = merge_patch(target, copy.deepcopy(patch))
    owned = merge_patch(target, fastjson.loads(fastjson.dumps(patch)), owned=True)
    assert fastjson.dumps(owned) == fastjson.dumps(copied)
    assert fastjson.dumps(target) == before  # the stored object is not written into


def test_a_status_list_replaces_the_old_one_and_nulls_delete() -> None:
    stored = {"status": {"conditions": [{"type": "Ready", "status": "False"}], "phase": "A"}}
    patch = fastjson.loads(
        b'{"status": {"conditions": [{"type": "Ready", "status": "True"}], "phase": null}}'
    )
    result = merge_patch(stored, patch, owned=True)
    assert result == {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert stored["status"]["conditions"][0]["status"] == "False"
    assert stored["status"]["phase"] == "A"


def test_object_uids_are_random_version_4_uuids() -> None:
    import uuid

    from kubesandbox.apiserver.core import new_uid

    uids = {new_uid() for _ in range(500)}
    assert len(uids) == 500
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert str(parsed) == uid  # lower-case, dashed, as Kubernetes prints them
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
