"""kubectl gameroom rollback: the spec patch and the revision a bare rollback goes to."""

from __future__ import annotations

from typing import Any

from gameroom_operator.plugin.revisions import _last_good, rollback_patch


def revision(number: int, outcome: str, **settings: Any) -> dict[str, Any]:
    return {
        "revision": number,
        "image": f"img:{number}",
        "settingsHash": f"h{number}",
        "settings": settings,
        "outcome": outcome,
    }


def test_the_patch_asks_for_the_revision_and_drops_keys_added_since() -> None:
    spec = {"image": "img:3", "game": {"rounds": 5, "customWords": ["cat"]}, "health": {}}
    target = revision(1, "Succeeded", game={"rounds": 3})
    patch = rollback_patch(spec, target, "kubectl gameroom rollback --to-revision 1")
    assert patch["spec"]["image"] == "img:1"
    assert patch["spec"]["game"] == {"rounds": 3, "customWords": None}
    assert patch["spec"]["rateLimits"] is None  # the revision had none: the defaults again
    assert "health" not in patch["spec"]  # not part of a revision: left as it is
    cause = patch["metadata"]["annotations"]["kubernetes.io/change-cause"]
    assert cause == "kubectl gameroom rollback --to-revision 1"


def test_a_bare_rollback_goes_to_the_newest_good_revision_not_the_one_asked_for() -> None:
    known = [
        revision(1, "Succeeded"),
        revision(2, "Succeeded"),
        revision(3, "RolledBack"),
        revision(4, ""),
    ]
    assert _last_good(known, {"updateRevision": 3}) == 2
    assert _last_good(known, {"updateRevision": 2}) == 1
    assert _last_good([revision(1, "Succeeded")], {"updateRevision": 1}) == 0


def test_a_live_revision_leaves_the_live_settings_as_the_spec_has_them() -> None:
    live = {"liveSettings": True}
    spec = {"image": "img:3", "game": {"rounds": 5}, "rollout": live}
    target = {**revision(1, "Succeeded"), "liveSettings": True}
    patch = rollback_patch(spec, target, "cause")
    assert patch["spec"] == {"image": "img:1"}  # game and rate limits are applied live
    # Back across a switch of liveSettings: the spec asks for the revision as it was made.
    older = revision(1, "Succeeded", game={"rounds": 3})
    across = rollback_patch(spec, older, "cause")["spec"]
    assert across["rollout"] == {"liveSettings": False} and across["game"] == {"rounds": 3}
