"""Two sandboxes at once (as `up` subprocesses, like the pytest plugin starts them) claim
their own loopback blocks: their pod IPs and ClusterIPs never overlap, and a server in one
is never what answers on the other's addresses."""

from __future__ import annotations

import ipaddress
import json
import pathlib
import textwrap
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from kubesandbox.testing import Sandbox, SandboxProcess

pytestmark = [pytest.mark.integration]

T = TypeVar("T")

SERVER = textwrap.dedent(
    """
    import http.server, os, signal, sys
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = os.environ["WHICH"].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
    """
)


def eventually(fn: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last, value = exc, None
        if value:
            return value
        time.sleep(0.2)  # polling interval of a condition wait, not a fixed delay
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def apply_room(sb: Sandbox, which: str) -> None:
    manifest: dict[str, list[dict[str, Any]]] = {
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "room", "namespace": "default"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "room"}},
                    "template": {
                        "metadata": {"labels": {"app": "room"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "server",
                                    "image": "test.local/python:3.11",
                                    "args": ["-c", SERVER],
                                    "env": [{"name": "WHICH", "value": which}],
                                    "ports": [{"containerPort": 8080, "name": "http"}],
                                }
                            ]
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "room", "namespace": "default"},
                "spec": {
                    "selector": {"app": "room"},
                    "ports": [{"port": 80, "targetPort": "http"}],
                },
            },
        ],
    }
    for item in manifest["items"]:
        sb.kubectl("apply", "-f", "-", input=json.dumps(item))


def get_json(sb: Sandbox, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(sb.kubectl("get", *args, "-o", "json").stdout)
    return result


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback
            return str(resp.read().decode())
    except OSError:
        return None


def test_two_sandboxes_have_disjoint_addresses(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text(
        "imageRules:\n- image: test.local/python:*\n  mode: process\n  command: [python]\n"
    )
    first = SandboxProcess(["--config", str(config)], log_dir=tmp_path)
    second = SandboxProcess(["--config", str(config)], log_dir=tmp_path / "second")
    (tmp_path / "second").mkdir()
    a = first.start()
    try:
        b = second.start()
        try:
            apply_room(a, "A")
            apply_room(b, "B")
            addresses: dict[str, tuple[str, str]] = {}
            for name, sb in (("A", a), ("B", b)):

                def running_pod_ip(sb: Sandbox = sb) -> str | None:
                    pods = get_json(sb, "pods", "-n", "default", "-l", "app=room")["items"]
                    ready = [
                        p
                        for p in pods
                        if any(
                            c["type"] == "Ready" and c["status"] == "True"
                            for c in p.get("status", {}).get("conditions", [])
                        )
                    ]
                    return ready[0]["status"]["podIP"] if ready else None

                pod_ip = eventually(running_pod_ip, what=f"room pod Ready in sandbox {name}")
                cluster_ip = get_json(sb, "service", "room", "-n", "default")["spec"]["clusterIP"]
                addresses[name] = (pod_ip, cluster_ip)

            (pod_a, svc_a), (pod_b, svc_b) = addresses["A"], addresses["B"]
            assert pod_a != pod_b and svc_a != svc_b
            # Whole blocks apart, not just different addresses: the second octet (pod
            # networks) and the ClusterIP /21 differ.
            assert pod_a.split(".")[1] != pod_b.split(".")[1]
            net_a = ipaddress.ip_network(f"{svc_a}/21", strict=False)
            assert ipaddress.ip_address(svc_b) not in net_a

            # Each sandbox's addresses answer with that sandbox's own room, never the other's.
            assert eventually(lambda: fetch(f"http://{pod_a}:8080/"), "A's pod") == "A"
            assert eventually(lambda: fetch(f"http://{pod_b}:8080/"), "B's pod") == "B"
            assert eventually(lambda: fetch(f"http://{svc_a}/"), "A's service") == "A"
            assert eventually(lambda: fetch(f"http://{svc_b}/"), "B's service") == "B"
            # A's room is not reachable on B's addresses with A's port layout either.
            assert fetch(f"http://{pod_b}:8080/") != "A"
            assert fetch(f"http://{svc_b}/") != "A"
        finally:
            second.stop()
        # With B gone, its addresses serve nothing; A still answers on its own.
        assert fetch(f"http://{pod_b}:8080/") is None
        assert fetch(f"http://{svc_b}/") is None
        assert fetch(f"http://{svc_a}/") == "A"
    finally:
        first.stop()
