"""Deciding whether a child needs a write: the live object covers the rendered one."""

from __future__ import annotations

from gameroom_operator.diff import covers, merge_patch
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
