"""The `python -m kubesandbox up/status/down` CLI and the pytest plugin's request log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from kubesandbox.testing import SandboxProcess

from .conftest import wait_until


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubesandbox", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_up_status_down_and_state_survives_a_restart(tmp_path: Path):
    state = tmp_path / "state"
    process = SandboxProcess(["--state-dir", str(state), "--no-controllers"])
    sandbox = process.start()
    try:
        kubeconfig = (state / "kubeconfig").read_text()
        assert sandbox.server.startswith("https://") and kubeconfig.count(sandbox.server) == 1
        assert oct(state.joinpath("kubeconfig").stat().st_mode & 0o777) == "0o600"
        status = _cli("status", "--state-dir", str(state))
        assert status.returncode == 0 and "running" in status.stdout
        assert sandbox.url in status.stdout and sandbox.server in status.stdout
        core = client.CoreV1Api(sandbox.api_client())
        core.create_namespaced_config_map("default", {"metadata": {"name": "survivor"}})
        down = _cli("down", "--state-dir", str(state))
        assert down.returncode == 0 and "stopped" in down.stdout
        assert process.proc is not None
        assert process.proc.wait(30) == 0
    finally:
        process.stop()
    assert _cli("status", "--state-dir", str(state)).returncode == 3
    again = SandboxProcess(["--state-dir", str(state), "--no-controllers"])
    sandbox = again.start()
    try:
        core = client.CoreV1Api(sandbox.api_client())
        assert core.read_namespaced_config_map("survivor", "default").metadata.name == "survivor"
    finally:
        again.stop()


def test_up_without_state_dir_cleans_up_its_temporary_directory():
    process = SandboxProcess(["--no-controllers"])
    sandbox = process.start()
    assert sandbox.state_dir is not None and sandbox.state_dir.exists()
    process.stop()
    assert not sandbox.state_dir.exists()


@pytest.mark.kubesandbox_only
def test_request_log_records_calls(kube_sandbox, api, namespace):
    core = client.CoreV1Api(api)
    kube_sandbox.clear_requests()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "logged"}})
    core.patch_namespaced_config_map("logged", namespace, {"data": {"a": "b"}})
    core.list_namespaced_config_map(namespace, label_selector="x=y")
    mine = [
        r
        for r in kube_sandbox.requests()
        if r.namespace == namespace and r.resource == "configmaps"
    ]
    assert [(r.method, r.verb) for r in mine] == [
        ("POST", "create"),
        ("PATCH", "patch"),
        ("GET", "list"),
    ]
    assert mine[1].content_type == "application/strategic-merge-patch+json"
    assert mine[1].name == "logged" and mine[0].code == 201
    assert mine[2].query == "labelSelector=x%3Dy"
    assert mine[0].user_agent.startswith("OpenAPI-Generator")
    kube_sandbox.clear_requests()
    wait_until(
        lambda: not [r for r in kube_sandbox.requests() if r.namespace == namespace],
        timeout=5,
        message="an empty request log for the namespace",
    )
