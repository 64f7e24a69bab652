"""Fixtures of the operator's integration tests, on top of the kubesandbox pytest plugin.

`pytest tests/test_operator` runs them against a kubesandbox started for the session;
`pytest tests/test_operator --cluster=kubeconfig` runs the same tests against the cluster
of $KUBECONFIG (the operator then runs on this machine and must reach the rooms' pod IPs,
e.g. from a node or through a VPN into the pod network).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .harness import install_crd


@pytest.fixture(scope="session")
def sandbox_kubeconfig(kube_sandbox: Any) -> str:
    return str(kube_sandbox.kubeconfig)


@pytest.fixture(scope="session")
def kubeconfig(sandbox_kubeconfig: str) -> str:
    """The cluster of the integration tests (kubesandbox, or --cluster=kubeconfig's)."""
    return sandbox_kubeconfig


@pytest.fixture(scope="session")
def crd(kubeconfig: str) -> None:
    """The GameRoom CRD, installed once per session."""
    install_crd(kubeconfig)


@pytest.fixture
def sandbox_write_counter(kube_sandbox: Any) -> Callable[[str], Callable[[], list[str]]]:
    """Start counting API writes in a namespace; the returned callable lists them so far.

    On a real cluster there is no request log: the tests then rely on resourceVersions and
    the operator's own counters, and this returns an empty list.
    """

    def start(namespace: str) -> Callable[[], list[str]]:
        if getattr(kube_sandbox, "real_cluster", False):
            return list
        already = len(kube_sandbox.requests())

        def writes() -> list[str]:
            return [
                f"{r.method} {r.path} ({r.user_agent})"
                for r in kube_sandbox.requests()[already:]
                if r.method in ("POST", "PUT", "PATCH", "DELETE")
                and (r.namespace == namespace or f"/namespaces/{namespace}/" in r.path)
            ]

        return writes

    return start
