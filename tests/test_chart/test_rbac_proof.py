"""Least privilege, proven in kubesandbox with RBAC enforced: the chart's ServiceAccount,
Roles and bindings applied as `helm install` applies them, then

* the sandbox's authorizer (SubjectAccessReview) allows the operator's ServiceAccount
  exactly the grants of tests/test_chart/test_rbac.py and nothing else, for every verb on
  its resources and on neighbours it must not touch, in a watched namespace and (in the
  namespaced mode) an unwatched one;
* the operator itself, run with that ServiceAccount's token and nothing more, turns a
  GameRoom into a Ready room with no API call refused (namespaced here; watching every
  namespace, as the chart's own Pod, in test_install.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from .chart import render
from .helpers import install_crds, running_operator, wait_for
from .test_rbac import CRDS, ROOM_GRANTS, Grants

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Helm's install order for the kinds the chart has (ServiceAccount before the bindings,
# RBAC before the workloads).
HELM_ORDER = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
# Neighbours of what the operator may touch, which it must not.
NEIGHBOURS: Grants = {
    ("", "secrets"): set(),
    ("", "pods/exec"): set(),
    ("", "pods/eviction"): set(),
    ("", "serviceaccounts"): set(),
    ("", "nodes"): set(),
    ("", "namespaces"): set(),
    ("apps", "replicasets"): set(),
    ("batch", "jobs"): set(),
    ("rbac.authorization.k8s.io", "roles"): set(),
    ("drawgame.dev", "gamerooms/finalizers"): set(),
}
CLUSTER_SCOPED = {"nodes", "namespaces", "customresourcedefinitions", "clusterkopfpeerings"}


def install_rbac(sandbox: Any, values: dict[str, Any], release: str) -> str:
    """The chart's CRDs, namespaces, ServiceAccount and RBAC; returns the release namespace."""
    namespace = f"{release}-system"
    install_crds(sandbox)
    for name in [namespace, *values.get("watchNamespaces", [])]:
        sandbox.kubectl("create", "namespace", name, check=False)
    objects = [
        o
        for o in render(values, namespace=namespace, release=release)
        if o["kind"] in HELM_ORDER
        and "helm.sh/hook" not in (o["metadata"].get("annotations") or {})
    ]
    objects.sort(key=lambda o: HELM_ORDER.index(o["kind"]))
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    return namespace


def account(release: str) -> tuple[str, list[str]]:
    namespace = f"{release}-system"
    user = f"system:serviceaccount:{namespace}:{release}-gameroom-operator"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return user, [*groups, "system:authenticated"]


def allowed(
    api: client.ApiClient,
    release: str,
    verb: str,
    group: str,
    resource: str,
    namespace: str,
    name: str = "",
) -> bool:
    user, groups = account(release)
    plural, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": plural}
    if subresource:
        attributes["subresource"] = subresource
    if name:
        attributes["name"] = name
    if plural not in CLUSTER_SCOPED:
        attributes["namespace"] = namespace
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user, groups=groups, resource_attributes=attributes
        )
    )
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(answer.status.allowed)


def check_exactly(
    api: client.ApiClient, release: str, namespace: str, expected: Grants
) -> list[str]:
    """Every verb on every granted and neighbouring resource: the wrong answers."""
    wrong = []
    for (group, resource), verbs in {**NEIGHBOURS, **expected}.items():
        for verb in VERBS:
            want = verb in verbs
            if allowed(api, release, verb, group, resource, namespace) != want:
                wrong.append(f"{verb} {resource}.{group or 'core'} in {namespace}: {not want}")
    return wrong


@pytest.mark.parametrize(
    ("values", "release"),
    [
        ({}, "proof-all"),
        (
            {"watchNamespaces": ["proof-ns-games"], "rbac": {"kopfClusterObservation": False}},
            "proof-ns",
        ),
    ],
    ids=["all-namespaces", "namespaced"],
)
def test_the_service_account_may_do_exactly_what_the_chart_says(
    kube_sandbox: Any, values: dict[str, Any], release: str
) -> None:
    install_rbac(kube_sandbox, values, release)
    api = kube_sandbox.api_client()
    if values:
        expected = dict(ROOM_GRANTS)
        assert check_exactly(api, release, "proof-ns-games", expected) == []
        # Nothing at all in a namespace it does not watch, nothing cluster-wide.
        assert check_exactly(api, release, "proof-ns-other", {}) == []
        crds = ("apiextensions.k8s.io", "customresourcedefinitions")
        assert not allowed(api, release, "list", *crds, "")
    else:
        expected = {**ROOM_GRANTS, **CRDS}
        assert check_exactly(api, release, "proof-anywhere", expected) == []


def test_several_replicas_may_patch_only_their_own_peering(kube_sandbox: Any) -> None:
    install_rbac(kube_sandbox, {"replicaCount": 2}, "proof-ha")
    api = kube_sandbox.api_client()
    peerings = ("kopf.dev", "clusterkopfpeerings")
    own = "proof-ha-gameroom-operator"
    assert allowed(api, "proof-ha", "patch", *peerings, "", name=own)
    assert not allowed(api, "proof-ha", "patch", *peerings, "", name="another-operator")
    assert allowed(api, "proof-ha", "watch", *peerings, "")
    assert not allowed(api, "proof-ha", "delete", *peerings, "", name=own)


def token_kubeconfig(sandbox: Any, release: str, path: Path) -> Path:
    """A kubeconfig with nothing but the operator's ServiceAccount token."""
    name = f"{release}-gameroom-operator"
    token = sandbox.kubectl(
        "-n", f"{release}-system", "create", "token", name, "--duration=1h"
    ).stdout.strip()
    cluster = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": name}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run_a_room_as_the_operator(
    sandbox: Any, release: str, watch: str, room_namespace: str, tmp_path: Path
) -> None:
    kubeconfig = token_kubeconfig(sandbox, release, tmp_path / "operator.kubeconfig")
    whoami = sandbox.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    assert f"{release}-gameroom-operator" in whoami.stdout
    extra = ("--operator-namespace", f"{release}-system")
    log = tmp_path / "operator.log"
    with running_operator(sandbox, watch, log, kubeconfig, extra) as operator:
        sandbox.kubectl(
            "-n",
            room_namespace,
            "apply",
            "-f",
            "-",
            input="apiVersion: drawgame.dev/v1alpha1\nkind: GameRoom\nmetadata: {name: proof}\n",
        )
        ready = sandbox.kubectl(
            "-n",
            room_namespace,
            "wait",
            "--for=condition=Ready",
            "gameroom/proof",
            "--timeout=90s",
            check=False,
            timeout=120,
        )
        assert ready.returncode == 0, ready.stderr + log.read_text()[-4000:]
        refused = [
            line
            for line in operator.metrics().splitlines()
            if line.startswith("gameroom_operator_api_errors_total") and 'code="403"' in line
        ]
        assert refused == [], refused
        sandbox.kubectl("-n", room_namespace, "delete", "gameroom", "proof", "--wait=true")
        wait_for(
            "the room's Deployment to go with it",
            lambda: (
                sandbox.kubectl(
                    "-n", room_namespace, "get", "deployment", "proof", check=False
                ).returncode
                != 0
            ),
        )
    forbidden = [line for line in log.read_text().splitlines() if "Forbidden" in line]
    assert forbidden == [], "\n".join(line[:600] for line in forbidden)


def test_the_operator_runs_a_room_with_only_the_namespaced_grants(
    kube_sandbox: Any, tmp_path: Path
) -> None:
    install_rbac(kube_sandbox, {"watchNamespaces": ["proof-run-games"]}, "proof-run")
    run_a_room_as_the_operator(
        kube_sandbox, "proof-run", "proof-run-games", "proof-run-games", tmp_path
    )
