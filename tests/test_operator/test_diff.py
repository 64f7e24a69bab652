"""Deciding whether a child needs a write: the live object covers the rendered one."""

from __future__ import annotations

from typing import Any

from gameroom_operator.diff import covers, edited_by_others, for_live, merge_patch
from gameroom_operator.render import Room, render_children, strip_absent


def test_server_defaults_and_status_do_not_count_as_differences() -> None:
    desired = {"spec": {"ports": [{"port": 80, "name": "http"}], "type": "ClusterIP"}}
    live = {
        "spec": {
            "ports": [{"port": 80, "name": "http", "protocol": "TCP", "targetPort": 80}],
            "type": "ClusterIP",
            "clusterIP": "10.0.0.4",
        },
        "status": {"loadBalancer": {}},
    }
    assert covers(live, desired) is None


def test_changed_values_and_list_lengths_are_found() -> None:
    assert covers({"a": {"b": 1}}, {"a": {"b": 2}}) == ".a.b"
    assert covers({"a": [1, 2]}, {"a": [1]}) == ".a"
    assert covers({"a": True}, {"a": 1}) == ".a"


def test_absent_marker_needs_the_field_gone() -> None:
    assert covers({"nodeSelector": {"a": "b"}}, {"nodeSelector": None}) == ".nodeSelector"
    assert covers({}, {"nodeSelector": None}) is None


def test_quantities_given_back_as_numbers_still_match() -> None:
    assert covers({"cpu": 1}, {"cpu": "1"}) is None


def test_a_rendered_room_covers_itself() -> None:
    for child in render_children(Room("r", "ns", "u", {}), "token"):
        live = strip_absent(child)
        live["metadata"]["resourceVersion"] = "7"
        assert covers(live, child) is None, child["kind"]


def test_merge_patch_keeps_absent_markers_and_drops_identity() -> None:
    deployment = next(
        c for c in render_children(Room("r", "ns", "u", {}), "t") if c["kind"] == "Deployment"
    )
    patch = merge_patch(deployment)
    assert "apiVersion" not in patch and "name" not in patch["metadata"]
    assert patch["spec"]["template"]["spec"]["nodeSelector"] is None


def _deployment(spec: dict[str, Any]) -> dict[str, Any]:
    children = render_children(Room("r", "ns", "u", spec), "t")
    return next(c for c in children if c["kind"] == "Deployment")


def _pvc(spec: dict[str, Any]) -> dict[str, Any]:
    children = render_children(Room("r", "ns", "u", spec), "t")
    return next(c for c in children if c["kind"] == "PersistentVolumeClaim")


def test_keys_removed_from_the_spec_are_sent_as_null() -> None:
    before = {
        "podTemplate": {
            "nodeSelector": {"disk": "ssd", "zone": "a"},
            "labels": {"team": "blue", "tier": "x"},
            "annotations": {"note": "hi"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
        },
        "resources": {"limits": {"cpu": "1", "memory": "256Mi"}},
    }
    after = {
        "podTemplate": {
            "nodeSelector": {"zone": "a"},
            "labels": {"tier": "x"},
            "affinity": {"podAntiAffinity": {}},
        },
        "resources": {"limits": {"memory": "256Mi"}},
    }
    live = strip_absent(_deployment(before))
    desired = for_live(_deployment(after), live)
    assert covers(live, desired) is not None  # a write is needed
    patch = merge_patch(desired)
    template = patch["spec"]["template"]
    assert template["spec"]["nodeSelector"] == {"disk": None, "zone": "a"}
    assert template["metadata"]["labels"]["team"] is None
    assert template["metadata"]["labels"]["tier"] == "x"
    assert template["metadata"]["annotations"]["note"] is None
    assert template["spec"]["affinity"]["nodeAffinity"] is None
    # Containers are a list: a merge patch replaces it whole, without the cpu limit.
    assert template["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}


def test_removing_every_node_selector_key_sends_one_null() -> None:
    live = strip_absent(_deployment({"podTemplate": {"nodeSelector": {"disk": "ssd"}}}))
    desired = for_live(_deployment({}), live)
    assert covers(live, desired) == ".metadata.annotations.drawgame.dev/user-keys"
    assert merge_patch(desired)["spec"]["template"]["spec"]["nodeSelector"] is None


def test_the_rendering_compared_with_is_never_changed() -> None:
    """The observers compare every child event with one rendering per spec: the null
    markers go into a copy, and an unchanged child needs no copy at all."""
    live = strip_absent(_deployment({"podTemplate": {"labels": {"team": "blue"}}}))
    rendered = _deployment({})
    before = strip_absent(rendered)
    desired = for_live(rendered, live)
    assert desired["spec"]["template"]["metadata"]["labels"]["team"] is None
    assert "team" not in rendered["spec"]["template"]["metadata"]["labels"]
    assert strip_absent(rendered) == before
    same = _deployment({"podTemplate": {"labels": {"team": "blue"}}})
    assert for_live(same, live) is same


def test_keys_others_added_are_left_alone() -> None:
    live = strip_absent(_deployment({}))
    live["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "t"
    desired = for_live(_deployment({}), live)
    assert covers(live, desired) is None


# As a real kube-apiserver gives them back: canonical forms of what the room asked for.
CANONICAL = {"0.5": "500m", "1.5Gi": "1536Mi", "1000m": "1", "0.25Gi": "256Mi", "2e3": "2k"}


def test_quantities_in_canonical_form_match_what_was_asked() -> None:
    for asked, stored in CANONICAL.items():
        spec = {"resources": {"requests": {"cpu": asked}, "limits": {"memory": asked}}}
        desired = _deployment(spec)
        live = strip_absent(desired)
        resources = live["spec"]["template"]["spec"]["containers"][0]["resources"]
        resources["requests"]["cpu"] = stored
        resources["limits"]["memory"] = stored
        assert covers(live, for_live(desired, live)) is None, (asked, stored)
    pvc = _pvc({"storage": {"size": "1.5Gi"}})
    live = strip_absent(pvc)
    live["spec"]["resources"]["requests"]["storage"] = "1536Mi"
    assert covers(live, for_live(pvc, live)) is None


def test_a_different_quantity_still_differs() -> None:
    desired = _deployment({"resources": {"requests": {"cpu": "0.5"}}})
    live = strip_absent(desired)
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "400m"
    assert covers(live, for_live(desired, live)) is not None


def test_a_pvc_is_only_ever_grown() -> None:
    live = strip_absent(_pvc({"storage": {"size": "2Gi"}}))
    live["spec"]["storageClassName"] = "standard"  # filled in by the cluster
    live["spec"]["volumeMode"] = "Filesystem"
    # A smaller size and a new class are not sent: both would be refused (immutable spec).
    shrunk = for_live(_pvc({"storage": {"size": "1Gi", "storageClassName": "fast"}}), live)
    assert covers(live, shrunk) is None
    grown = for_live(_pvc({"storage": {"size": "3Gi"}}), live)
    assert merge_patch(grown)["spec"] == {"resources": {"requests": {"storage": "3Gi"}}}


def test_only_spec_edits_by_others_count_as_edits() -> None:
    known = {"metadata": {"generation": 3}}
    assert edited_by_others(known, {"metadata": {"generation": 4}}, "MODIFIED")
    # Status updates keep the generation; a listing or a deletion is not an edit.
    assert not edited_by_others(known, {"metadata": {"generation": 3}}, "MODIFIED")
    assert not edited_by_others(known, {"metadata": {"generation": 4}}, None)
    assert not edited_by_others(None, {"metadata": {"generation": 4}}, "MODIFIED")
