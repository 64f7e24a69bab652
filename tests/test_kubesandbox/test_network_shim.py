"""The pod network shim: pod-IP binds, localhost inside a pod, and service names."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from kubesandbox.controllers.client import ENDPOINTSLICES, SERVICES, ApiClient, Informer
from kubesandbox.network import SHIM_DIR, install_resolver
from kubesandbox.network.proxy import ServiceProxy
from kubesandbox.network.slots import claim_slot

SERVER = textwrap.dedent(
    """
    import http.server, os, sys
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = os.environ["WHO"].encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), Hello)
    print(server.server_address[0], flush=True)
    server.serve_forever()
    """
)


def pod_env(pod_ip: str, hosts: pathlib.Path, namespace: str = "games", **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(SHIM_DIR),
        KUBESANDBOX_POD_IP=pod_ip,
        KUBESANDBOX_HOSTS_FILE=str(hosts),
        KUBESANDBOX_NAMESPACE=namespace,
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(host: str, port: int, deadline: float = 10.0) -> str:
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
            return data.split(b"\r\n\r\n", 1)[1].decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


@pytest.fixture
def hosts(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "hosts"
    path.write_text("127.2.0.7 web.games.svc web.games.svc.cluster.local\n")
    return path


def test_two_pods_listen_on_the_same_port_at_their_own_addresses(hosts: pathlib.Path) -> None:
    port = free_port()
    procs = []
    try:
        for ip, who in (("127.0.0.41", "first"), ("127.0.0.42", "second")):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", SERVER, str(port)],
                    env=pod_env(ip, hosts, WHO=who),
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        assert procs[0].stdout is not None and procs[1].stdout is not None
        assert procs[0].stdout.readline().strip() == "127.0.0.41"
        assert procs[1].stdout.readline().strip() == "127.0.0.42"
        assert fetch("127.0.0.41", port) == "first"
        assert fetch("127.0.0.42", port) == "second"
        # Nothing listens on the host's own loopback address.
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_inside_a_pod_localhost_is_the_pod_and_service_names_resolve(
    hosts: pathlib.Path,
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env=pod_env("127.0.0.43", hosts, WHO="me"),
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        client = textwrap.dedent(
            f"""
            import socket, urllib.request
            print(urllib.request.urlopen("http://localhost:{port}/").read().decode())
            print(urllib.request.urlopen("http://127.0.0.1:{port}/").read().decode())
            for name in ("web", "web.games", "web.games.svc", "web.games.svc.cluster.local."):
                print(name, socket.gethostbyname(name), socket.getaddrinfo(name, 80)[0][4][0])
            try:
                socket.getaddrinfo("nope.games.svc.cluster.local", 80)
            except socket.gaierror as exc:
                print("nope", exc.errno == socket.EAI_NONAME)
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", client],
            env=pod_env("127.0.0.43", hosts),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.splitlines()
        assert out[0] == "me" and out[1] == "me"
        assert out[2:6] == [
            "web 127.2.0.7 127.2.0.7",
            "web.games 127.2.0.7 127.2.0.7",
            "web.games.svc 127.2.0.7 127.2.0.7",
            "web.games.svc.cluster.local. 127.2.0.7 127.2.0.7",
        ]
        assert out[6] == "nope True"
    finally:
        server.kill()
        server.wait()


def test_bare_names_resolve_only_in_the_pods_own_namespace(hosts: pathlib.Path) -> None:
    code = (
        "import socket\ntry:\n print(socket.gethostbyname('web'))\nexcept OSError:\n print('none')"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        env=pod_env("127.0.0.44", hosts, namespace="elsewhere"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert other.stdout.strip() != "127.2.0.7"


def test_hosts_file_changes_are_picked_up_and_resolver_helper_for_tests(
    hosts: pathlib.Path,
) -> None:
    undo = install_resolver(hosts_file=hosts)
    try:
        assert socket.gethostbyname("web.games.svc.cluster.local") == "127.2.0.7"
        time.sleep(0.01)
        hosts.write_text("127.2.0.99 web.games.svc web.games.svc.cluster.local\n")
        os.utime(hosts, (time.time() + 5, time.time() + 5))
        assert socket.getaddrinfo("web.games.svc", 80)[0][4] == ("127.2.0.99", 80)
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("missing.games.svc", 80)
    finally:
        undo()
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("web.games.svc", 80)


def test_concurrent_sandboxes_get_disjoint_address_blocks() -> None:
    first = claim_slot()
    second = claim_slot()
    try:
        assert first.index != second.index
        assert first.first_pod_ip != second.first_pod_ip
        assert first.service_cidr != second.service_cidr
        assert not str(first.first_pod_ip).startswith("127.2.")
        assert not str(second.first_pod_ip).startswith("127.2.")
        index = first.index
        first.release()
        again = claim_slot(preferred=index)
        assert again.index == index
        again.release()
    finally:
        first.release()
        second.release()


def test_hosts_file_lists_cluster_ips_and_headless_endpoints(tmp_path: pathlib.Path) -> None:
    client = ApiClient("http://127.0.0.1:9")  # never contacted: the caches are filled here
    services, slices = Informer(client, SERVICES), Informer(client, ENDPOINTSLICES)
    services._store(
        ("games", "web"),
        {"metadata": {"name": "web", "namespace": "games"}, "spec": {"clusterIP": "127.2.0.5"}},
    )
    services._store(
        ("games", "db"),
        {"metadata": {"name": "db", "namespace": "games"}, "spec": {"clusterIP": "None"}},
    )
    slices._store(
        ("games", "db-x"),
        {
            "metadata": {
                "name": "db-x",
                "namespace": "games",
                "labels": {"kubernetes.io/service-name": "db"},
            },
            "endpoints": [
                {"addresses": ["127.0.0.20"], "conditions": {"ready": True}},
                {"addresses": ["127.0.0.21"], "conditions": {"ready": False}},
            ],
        },
    )
    proxy = ServiceProxy(services, slices, tmp_path / "hosts")
    assert proxy.hosts_lines() == [
        "127.0.0.20 db.games.svc db.games.svc.cluster.local",
        "127.2.0.5 web.games.svc web.games.svc.cluster.local",
    ]
    proxy._write_hosts()
    undo = install_resolver(hosts_file=tmp_path / "hosts", namespace="games")
    try:
        assert socket.gethostbyname("db") == "127.0.0.20"
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("web.games.svc", 80, socket.AF_INET6)
    finally:
        undo()
