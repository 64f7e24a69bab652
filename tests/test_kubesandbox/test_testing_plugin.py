"""The pytest plugin: `kube_sandbox_fresh` is a sandbox of its own, and `--cluster=kubeconfig`
points every fixture at the cluster of $KUBECONFIG, where the request log is unavailable and
`kubesandbox_only` tests are skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kubernetes import client

from kubesandbox.testing import Sandbox

INNER = textwrap.dedent(
    """
    import os

    import pytest
    from kubernetes import client

    from kubesandbox.testing import RequestLogUnavailable


    def test_uses_the_kubeconfig_cluster(kube_sandbox, kube_sandbox_fresh):
        assert kube_sandbox.real_cluster and kube_sandbox.url == os.environ["EXPECTED_URL"]
        assert kube_sandbox_fresh.url == kube_sandbox.url
        names = client.CoreV1Api(kube_sandbox.api_client()).list_namespace()
        assert "default" in {n.metadata.name for n in names.items}
        with pytest.raises(RequestLogUnavailable, match="kubesandbox_only"):
            kube_sandbox.requests()


    @pytest.mark.kubesandbox_only
    def test_needs_the_request_log(kube_sandbox):
        kube_sandbox.requests()
    """
)


def test_cluster_kubeconfig_uses_that_cluster(kube_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {
        **os.environ,
        "KUBECONFIG": str(kube_sandbox.kubeconfig),
        "EXPECTED_URL": kube_sandbox.server,
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
        + ["--cluster=kubeconfig", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped" in run.stdout, run.stdout
    assert "needs the kubesandbox request log" in run.stdout


def test_fresh_sandbox_is_separate_from_the_session_one(
    kube_sandbox: Sandbox, kube_sandbox_fresh: Sandbox
) -> None:
    assert kube_sandbox_fresh.url != kube_sandbox.url
    fresh = client.CoreV1Api(kube_sandbox_fresh.api_client())
    fresh.create_namespaced_config_map(
        "default", {"metadata": {"name": "only-in-fresh"}, "data": {"a": "b"}}
    )
    shared = client.CoreV1Api(kube_sandbox.api_client())
    assert "only-in-fresh" not in {
        c.metadata.name for c in shared.list_namespaced_config_map("default").items
    }
    writes = [r for r in kube_sandbox_fresh.requests() if r.verb == "create"]
    assert [(r.resource, r.name or "") for r in writes][-1][0] == "configmaps"
