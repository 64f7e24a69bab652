"""Least privilege: the Roles grant what the operator and Kopf call, nothing more, no
wildcard, a comment on every rule, the right scope for each watch mode."""

from __future__ import annotations

import re
from typing import Any

import pytest
from gameroom_operator import handlers
from gameroom_operator.informer import Kind
from gameroom_operator.kube import PLURALS
from gameroom_operator.render import RenderOptions, Room, render_children

from .chart import NAMESPACE, ROOT, VALUE_SETS, find, one, render, render_files

Grants = dict[tuple[str, str], set[str]]


def grants(rules: list[dict[str, Any]]) -> Grants:
    """(apiGroup, resource) -> verbs; resourceNames-limited grants are marked with '@'."""
    out: Grants = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                verbs = {f"{v}@" if rule.get("resourceNames") else v for v in rule["verbs"]}
                out.setdefault((group, resource), set()).update(verbs)
    return out


ROOM_GRANTS: Grants = {
    ("drawgame.dev", "gamerooms"): {"get", "list", "watch", "patch", "create", "delete"},
    ("drawgame.dev", "gamerooms/status"): {"patch"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch"},
    ("", "services"): {"get", "list", "watch", "create", "patch"},
    ("", "persistentvolumeclaims"): {"get", "list", "watch", "create", "patch"},
    ("networking.k8s.io", "networkpolicies"): {"get", "list", "watch", "create", "patch"},
    ("networking.k8s.io", "ingresses"): {"get", "list", "watch", "create", "patch", "delete"},
    ("apps", "deployments"): {"get", "list", "watch", "create", "patch"},
    ("apps", "controllerrevisions"): {"list", "create", "patch", "delete"},
    ("", "secrets"): {"get", "create", "patch"},
    ("", "pods"): {"list", "watch"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch"},
    ("batch", "cronjobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create"},
}
CRDS = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}


def test_all_namespaces_mode_is_one_cluster_role_bound_to_the_service_account() -> None:
    objects = render({})
    role = one(objects, "ClusterRole")
    assert grants(role["rules"]) == ROOM_GRANTS | CRDS
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = one(objects, "ServiceAccount", "gro-gameroom-operator")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert not find(objects, "Role", "gro-gameroom-operator")


def test_namespaced_mode_grants_the_rooms_nothing_cluster_wide() -> None:
    strict = {**VALUE_SETS["namespaced"], "rbac": {"kopfClusterObservation": False}}
    none = render(strict)
    assert not find(none, "ClusterRole") and not find(none, "ClusterRoleBinding")
    objects = render(VALUE_SETS["namespaced"])
    roles = find(objects, "Role", "gro-gameroom-operator")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["games", "staging"]
    for role in roles:
        assert grants(role["rules"]) == ROOM_GRANTS
    bindings = find(objects, "RoleBinding", "gro-gameroom-operator")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["games", "staging"]
    for binding in bindings:
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_namespaced_mode_lets_kopf_list_namespaces_and_crds_by_default() -> None:
    objects = render(VALUE_SETS["namespaced"])
    observer = one(objects, "ClusterRole")
    assert grants(observer["rules"]) == CRDS | {("", "namespaces"): {"list", "watch"}}
    assert one(objects, "ClusterRoleBinding")["roleRef"]["name"] == observer["metadata"]["name"]


def test_peering_rights_only_with_several_replicas_and_only_on_its_own_object() -> None:
    cluster = one(render(VALUE_SETS["ha"]), "ClusterRole")["rules"]
    assert grants(cluster)[("kopf.dev", "clusterkopfpeerings")] == {"patch@", "list", "watch"}
    (named,) = [r for r in cluster if r.get("resourceNames")]
    assert named["resourceNames"] == ["gro-gameroom-operator"]
    role = one(render(VALUE_SETS["ha-namespaced"]), "Role", "gro-gameroom-operator")
    assert grants(role["rules"])[("kopf.dev", "kopfpeerings")] == {"patch@", "list", "watch"}
    assert ("kopf.dev", "clusterkopfpeerings") not in grants(
        one(render({}), "ClusterRole")["rules"]
    )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_no_wildcards_and_a_comment_on_every_rule(value_set: str) -> None:
    for obj in render(VALUE_SETS[value_set]):
        for rule in obj.get("rules", []) if obj["kind"] in ("Role", "ClusterRole") else []:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (obj["metadata"]["name"], rule)
    text = "\n".join(render_files(VALUE_SETS[value_set]).values())
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("- apiGroups:"):
            assert lines[index - 1].startswith("#"), f"rule without a comment: {line}"


def test_the_operator_may_do_what_its_code_does() -> None:
    """Every kind the operator renders may be read, created and patched; every kind it
    watches may be listed and watched: a new child kind fails here until the chart
    grants it."""
    room = Room("r", "ns", "uid", {"expose": {"ingress": {"host": "r.example.com"}}})
    granted = ROOM_GRANTS
    kinds = {
        child["kind"]: child["apiVersion"] for child in render_children(room, "t", RenderOptions())
    }
    for kind, api_version in kinds.items():
        group = api_version.rpartition("/")[0]
        assert {"get", "create", "patch"} <= granted[(group, PLURALS[kind])], kind
    watched_kinds = set()
    for value in vars(handlers).values():
        candidates = value if isinstance(value, tuple) else (value,)
        watched_kinds |= {kind for kind in candidates if isinstance(kind, Kind)}
    assert {k.plural for k in watched_kinds} >= {"deployments", "pods", "services"}
    for watched in watched_kinds:
        group = watched.api_version.rpartition("/")[0]
        assert {"list", "watch"} <= granted[(group, watched.plural)], watched


def test_every_api_path_the_operator_names_is_granted() -> None:
    """A literal api_path(version, plural, ...) in the operator's code names a resource it
    calls: a new one (Jobs for backups, ControllerRevisions...) fails here until granted."""
    calls = set()
    for source in (ROOT / "operator" / "gameroom_operator").glob("*.py"):
        found = re.findall(r'api_path\(\s*"([^"]+)",\s*"([^"]+)"', source.read_text())
        calls |= {(version.rpartition("/")[0], plural) for version, plural in found}
    assert ("", "pods") in calls and ("", "events") in calls
    for call in calls:
        assert call in ROOM_GRANTS, f"the operator calls {call} but the chart does not grant it"


def test_operator_readme_rbac_section_matches_the_chart() -> None:
    readme = (ROOT / "operator" / "README.md").read_text()
    section = readme.split("### RBAC it needs", 1)[1].split("\n## ", 1)[0]
    documented: Grants = {}
    for row in re.findall(r"^\| `([^`]*)` \| ([^|]+) \| ([^|]+) \|", section, re.M):
        group, resources, verbs = row
        for resource in re.findall(r"`([^`]+)`", resources):
            documented.setdefault((group, resource), set()).update(
                v.strip() for v in verbs.replace("`", "").split(",")
            )
    rendered: Grants = {}
    for values in (VALUE_SETS["ha"], VALUE_SETS["ha-namespaced"], VALUE_SETS["namespaced"]):
        for obj in render(values):
            if obj["kind"] in ("Role", "ClusterRole") and "test" not in obj["metadata"]["name"]:
                for key, verbs in grants(obj["rules"]).items():
                    rendered.setdefault(key, set()).update(verbs)
    assert documented == rendered


def test_helm_test_hook_has_its_own_small_role() -> None:
    objects = render(VALUE_SETS["namespaced"])
    role = one(objects, "Role", "gro-gameroom-operator-test")
    assert role["metadata"]["namespace"] == "games"  # where its room goes
    assert grants(role["rules"]) == {("drawgame.dev", "gamerooms"): {"create", "get", "delete"}}
    pod = one(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["serviceAccountName"] == "gro-gameroom-operator-test"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["ROOM_NAMESPACE"] == "games" and env["ROOM_NAME"] == "helm-test-gro"
