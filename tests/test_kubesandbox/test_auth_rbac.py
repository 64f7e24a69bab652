"""Authentication and RBAC as a real cluster answers them, driven by the real kubectl:
tokens (admin, TokenRequest), 401/403 with kube-apiserver's wording, Roles and bindings,
aggregation, the review APIs behind `kubectl auth can-i|whoami`, impersonation."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from kubernetes import client

from kubesandbox.testing import Sandbox

from .conftest import GAMEROOM_CRD, wait_until

pytestmark = pytest.mark.kubesandbox_only


def kubectl(sb: Sandbox, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--token", token] if token is not None else []
    return sb.kubectl(*extra, *args, check=False)


@pytest.fixture
def bot(kube_sandbox: Sandbox, namespace: str) -> Iterator[str]:
    """A ServiceAccount `bot` in the namespace; yields a token for it."""
    kube_sandbox.kubectl("create", "serviceaccount", "bot", "-n", namespace)
    yield kube_sandbox.kubectl("create", "token", "bot", "-n", namespace).stdout.strip()


def test_admin_identity_of_the_kubeconfig(kube_sandbox: Sandbox) -> None:
    who = kube_sandbox.kubectl("auth", "whoami", "-o", "json")
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "kubernetes-admin"
    assert info["groups"] == ["system:masters", "system:authenticated"]
    assert kube_sandbox.kubectl("auth", "can-i", "*", "*", "--all-namespaces").stdout == "yes\n"


def test_bad_token_is_401_and_no_token_is_anonymous(kube_sandbox: Sandbox) -> None:
    bad = kubectl(kube_sandbox, "get", "pods", token="not-a-token")
    assert bad.returncode == 1
    assert "error: You must be logged in to the server" in bad.stderr
    # No credentials at all: system:anonymous, who may read /version and /healthz only.
    req = urllib.request.Request(kube_sandbox.url + "/api/v1/namespaces/default/pods")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback
    status = json.loads(refused.value.read())
    assert refused.value.code == 403
    assert status["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group '
        '"" in the namespace "default"'
    )
    with urllib.request.urlopen(kube_sandbox.url + "/version", timeout=10) as resp:  # noqa: S310
        assert json.loads(resp.read())["major"] == "1"


def test_service_account_token_and_a_role(kube_sandbox: Sandbox, namespace: str, bot: str) -> None:
    sa = f"system:serviceaccount:{namespace}:bot"
    who = json.loads(kubectl(kube_sandbox, "auth", "whoami", "-o", "json", token=bot).stdout)
    assert who["status"]["userInfo"]["username"] == sa
    assert set(who["status"]["userInfo"]["groups"]) == {
        "system:serviceaccounts",
        f"system:serviceaccounts:{namespace}",
        "system:authenticated",
    }
    denied = kubectl(kube_sandbox, "get", "pods", "-n", namespace, token=bot)
    assert denied.returncode == 1
    assert (
        f'pods is forbidden: User "{sa}" cannot list resource "pods" in API group "" in the '
        f'namespace "{namespace}"'
    ) in denied.stderr
    kube_sandbox.kubectl(
        "create", "role", "reader", "-n", namespace, "--verb=get,list", "--resource=pods"
    )
    kube_sandbox.kubectl(
        "create", "rolebinding", "reader", "-n", namespace, "--role=reader",
        f"--serviceaccount={namespace}:bot",
    )  # fmt: skip
    assert kubectl(kube_sandbox, "get", "pods", "-n", namespace, token=bot).returncode == 0
    # A subresource is its own resource: pods does not grant pods/log.
    can = kubectl(kube_sandbox, "auth", "can-i", "get", "pods", "--subresource=log",
                  "-n", namespace, token=bot)  # fmt: skip
    assert (can.returncode, can.stdout) == (1, "no\n")
    # The Role is namespaced: nothing in another namespace, nothing cluster-wide.
    assert kubectl(kube_sandbox, "get", "pods", "-n", "default", token=bot).returncode == 1
    other = kubectl(kube_sandbox, "get", "namespaces", token=bot)
    assert (
        f'namespaces is forbidden: User "{sa}" cannot list resource "namespaces" in API group '
        '"" at the cluster scope'
    ) in other.stderr
    secret = kubectl(kube_sandbox, "get", "secret", "x", "-n", namespace, token=bot)
    assert (
        f'secrets "x" is forbidden: User "{sa}" cannot get resource "secrets" in API group "" '
        f'in the namespace "{namespace}"'
    ) in secret.stderr


def test_can_i_as_impersonated_users_and_resource_names(
    kube_sandbox: Sandbox, namespace: str, bot: str
) -> None:
    sa = f"system:serviceaccount:{namespace}:bot"
    kube_sandbox.kubectl(
        "create", "role", "one-map", "-n", namespace, "--verb=get,update",
        "--resource=configmaps", "--resource-name=settings",
    )  # fmt: skip
    kube_sandbox.kubectl(
        "create", "rolebinding", "one-map", "-n", namespace, "--role=one-map",
        f"--serviceaccount={namespace}:bot",
    )  # fmt: skip

    def can(*args: str) -> str:
        out = kube_sandbox.kubectl("auth", "can-i", *args, "-n", namespace, f"--as={sa}",
                                   check=False)  # fmt: skip
        assert out.returncode == (0 if out.stdout == "yes\n" else 1)
        return out.stdout.strip()

    assert can("get", "configmap/settings") == "yes"
    assert can("get", "configmap/other") == "no"
    assert can("list", "configmaps") == "no"  # resourceNames never grant list
    assert can("delete", "configmap/settings") == "no"
    listed = kube_sandbox.kubectl("auth", "can-i", "--list", "-n", namespace, f"--as={sa}")
    assert "configmaps" in listed.stdout and "[settings]" in listed.stdout
    # A ServiceAccount may not impersonate anyone (the admin may).
    refused = kubectl(kube_sandbox, "get", "pods", "-n", namespace, "--as=kubernetes-admin",
                      token=bot)  # fmt: skip
    assert (
        f'users "kubernetes-admin" is forbidden: User "{sa}" cannot impersonate resource '
        '"users" in API group "" at the cluster scope'
    ) in refused.stderr


def test_groups_cluster_roles_and_subject_access_review(
    kube_sandbox: Sandbox, api: client.ApiClient, namespace: str, bot: str
) -> None:
    # The default `view` ClusterRole, bound to every ServiceAccount of the namespace.
    kube_sandbox.kubectl(
        "create", "rolebinding", "all-view", "-n", namespace, "--clusterrole=view",
        f"--group=system:serviceaccounts:{namespace}",
    )  # fmt: skip
    assert kubectl(kube_sandbox, "get", "deployments", "-n", namespace, token=bot).returncode == 0
    assert kubectl(kube_sandbox, "get", "secrets", "-n", namespace, token=bot).returncode == 1
    review = client.AuthorizationV1Api(api).create_subject_access_review(
        {
            "spec": {
                "user": f"system:serviceaccount:{namespace}:bot",
                "groups": [f"system:serviceaccounts:{namespace}"],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": "watch",
                    "group": "apps",
                    "resource": "deployments",
                },
            }
        }
    )
    assert review.status.allowed
    assert review.status.reason == (
        f'RBAC: allowed by RoleBinding "all-view/{namespace}" of ClusterRole "view" to '
        f'Group "system:serviceaccounts:{namespace}"'
    )


def test_aggregated_cluster_roles_pick_up_labelled_roles(
    kube_sandbox: Sandbox, namespace: str, bot: str, test_crd: dict
) -> None:
    plural = GAMEROOM_CRD["spec"]["names"]["plural"]
    group = GAMEROOM_CRD["spec"]["group"]
    kube_sandbox.kubectl(
        "create", "rolebinding", "viewer", "-n", namespace, "--clusterrole=view",
        f"--serviceaccount={namespace}:bot",
    )  # fmt: skip
    listing = ("get", f"{plural}.{group}", "-n", namespace)
    assert kubectl(kube_sandbox, *listing, token=bot).returncode == 1
    name = f"{namespace}-rooms-view"
    kube_sandbox.kubectl(
        "apply", "-f", "-",
        input=json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": name,
                "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
            },
            "rules": [{"apiGroups": [group], "resources": [plural],
                       "verbs": ["get", "list", "watch"]}],
        }),
    )  # fmt: skip
    try:
        assert kubectl(kube_sandbox, *listing, token=bot).returncode == 0
        view = json.loads(kube_sandbox.kubectl("get", "clusterrole", "view", "-o", "json").stdout)
        assert {"apiGroups": [group], "resources": [plural], "verbs": ["get", "list", "watch"]} in (
            view["rules"]
        )
        # edit and admin aggregate view: they grant it too
        admin = json.loads(kube_sandbox.kubectl("get", "clusterrole", "admin", "-o", "json").stdout)
        assert any(plural in r.get("resources", []) for r in admin["rules"])
    finally:
        kube_sandbox.kubectl("delete", "clusterrole", name)
    assert kubectl(kube_sandbox, *listing, token=bot).returncode == 1


def test_token_request_rules(kube_sandbox: Sandbox, namespace: str, bot: str) -> None:
    short = kubectl(kube_sandbox, "create", "token", "bot", "-n", namespace, "--duration=1m")
    assert "may not specify a duration less than 10 minutes" in short.stderr
    missing = kubectl(kube_sandbox, "create", "token", "nobody", "-n", namespace)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    # A token dies with its ServiceAccount (the uid in it no longer matches).
    kube_sandbox.kubectl("delete", "serviceaccount", "bot", "-n", namespace)
    gone = kubectl(kube_sandbox, "auth", "whoami", token=bot)
    assert "Unauthorized" in gone.stderr
    kube_sandbox.kubectl("create", "serviceaccount", "bot", "-n", namespace)
    assert "Unauthorized" in kubectl(kube_sandbox, "auth", "whoami", token=bot).stderr


def test_pods_need_their_service_account(kube_sandbox: Sandbox, namespace: str) -> None:
    refused = kubectl(
        kube_sandbox, "run", "p", "-n", namespace, "--image=example.test/none:1",
        '--overrides={"spec": {"serviceAccountName": "missing"}}',
    )  # fmt: skip
    assert (
        f'pods "p" is forbidden: error looking up service account {namespace}/missing: '
        'serviceaccount "missing" not found'
    ) in refused.stderr
    kube_sandbox.kubectl("run", "p", "-n", namespace, "--image=example.test/none:1")
    pod = json.loads(kube_sandbox.kubectl("get", "pod", "p", "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert mounts[0]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mounts[0]["name"])
    sources = [next(iter(s)) for s in volume["projected"]["sources"]]
    assert sources == ["serviceAccountToken", "configMap", "downwardAPI"]
    ca = wait_until(
        lambda: (
            kubectl(
                kube_sandbox,
                "get",
                "configmap",
                "kube-root-ca.crt",
                "-n",
                namespace,
                "-o",
                "jsonpath={.data.ca\\.crt}",
            ).stdout
        ),  # fmt: skip
        message="kube-root-ca.crt in the namespace",
    )
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
