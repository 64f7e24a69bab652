"""`python -m kubesandbox up` as a process: its Pod processes die with it, however it stops,
and two sandboxes running side by side get their own addresses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from kubernetes import client

from kubesandbox.testing import Sandbox, SandboxProcess

from .conftest import wait_until

pytestmark = pytest.mark.integration

CONFIG = """\
imageRules:
  - image: "test.local/python:*"
    command: [python]
"""
# Ignores SIGTERM, so only SIGKILL (grace period over, or the kernel) ends it.
STUBBORN = (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('pid', os.getpid(), flush=True); time.sleep(3600)"
)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[SandboxProcess, Sandbox]]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    proc = SandboxProcess(
        ["--state-dir", str(tmp_path / "state"), "--config", str(config)], log_dir=tmp_path
    )
    sandbox = proc.start()
    try:
        yield proc, sandbox
    finally:
        proc.stop()


def _run_stubborn_pod(sandbox: Sandbox) -> psutil.Process:
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "life"}})
    core.create_namespaced_pod(
        "life",
        {
            "metadata": {"name": "stubborn"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {"name": "main", "image": "test.local/python:1", "args": ["-c", STUBBORN]}
                ],
            },
        },
    )

    def pid() -> int | None:
        try:
            text = core.read_namespaced_pod_log("stubborn", "life")
        except client.ApiException:
            return None
        return int(text.split()[1]) if text.startswith("pid ") else None

    process = psutil.Process(wait_until(pid, timeout=60, message="the Pod's process to start"))
    assert process.is_running() and "sleep(3600)" in " ".join(process.cmdline())
    return process


def _dead(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_killing_up_with_sigkill_kills_its_pod_processes(started) -> None:
    proc, sandbox = started
    process = _run_stubborn_pod(sandbox)
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(30)
    try:
        wait_until(lambda: _dead(process), timeout=10, message="the orphaned Pod process to die")
    finally:
        if not _dead(process):
            process.kill()  # do not leave it behind when the test fails


def test_down_stops_up_and_its_pod_processes(started, tmp_path: Path) -> None:
    proc, sandbox = started
    process = _run_stubborn_pod(sandbox)
    down = subprocess.run(
        [sys.executable, "-m", "kubesandbox", "down", "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert proc.proc is not None and proc.proc.poll() is not None
    # Stopped cleanly: the process got SIGTERM, ignored it, and SIGKILL after its grace.
    assert _dead(process)


def test_two_sandboxes_give_services_different_cluster_ips(tmp_path: Path) -> None:
    first = SandboxProcess(["--no-controllers"], log_dir=tmp_path / "a")
    second = SandboxProcess(["--no-controllers"], log_dir=tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        ips = []
        for proc in (first, second):
            core = client.CoreV1Api(proc.start().api_client())
            svc = core.create_namespaced_service(
                "default", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
            )
            ips.append(svc.spec.cluster_ip)
        assert ips[0] != ips[1], ips
    finally:
        first.stop()
        second.stop()
