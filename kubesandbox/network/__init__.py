"""Sandbox networking: pod addresses, the service proxy, and service name resolution.

``install_resolver`` gives test code the resolution pods get from their shim:
``NAME.NAMESPACE.svc[.cluster.local]`` -> the Service's ClusterIP.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import ModuleType

SHIM_DIR = pathlib.Path(__file__).resolve().parent / "shim"


def _shim() -> ModuleType:
    name = "_kubesandbox_shim"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SHIM_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _ApiLookup:
    """Looks ``svc.ns.svc`` names up in the API server, caching answers for a second."""

    def __init__(self, api_url: str, ttl: float = 1.0, token: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ttl = ttl
        self._cache: dict[str, tuple[float, list[str] | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, fqdn: str) -> list[str] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(fqdn)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        parts = fqdn.split(".")
        if len(parts) != 3 or parts[2] != "svc":
            return None
        name, namespace = parts[0], parts[1]
        found = self._fetch(namespace, name)
        with self._lock:
            self._cache[fqdn] = (now, found)
        return found

    def _get(self, path: str) -> dict[str, object] | None:
        request = urllib.request.Request(  # noqa: S310 - the sandbox API URL is ours
            self.api_url + path, headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as resp:  # noqa: S310
                data: dict[str, object] = json.loads(resp.read())
                return data
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _fetch(self, namespace: str, name: str) -> list[str] | None:
        svc = self._get(f"/api/v1/namespaces/{namespace}/services/{name}")
        if not svc:
            return None
        spec = svc.get("spec") or {}
        assert isinstance(spec, dict)
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            return [str(ip)]
        endpoints = self._get(f"/api/v1/namespaces/{namespace}/endpoints/{name}") or {}
        ips: list[str] = []
        for subset in endpoints.get("subsets") or []:  # type: ignore[attr-defined]
            ips.extend(a["ip"] for a in subset.get("addresses") or [])
        return ips or None


def install_resolver(
    api_url: str | None = None,
    *,
    hosts_file: pathlib.Path | str | None = None,
    namespace: str | None = None,
    token: str | None = None,
) -> Callable[[], None]:
    """Make this process resolve Service DNS names to ClusterIPs; returns an undo function.

    Give either the sandbox API URL (lookups ask the API server) or the sandbox's hosts
    file (``{state_dir}/network/hosts``, which is what pods use); with the URL, ``token``
    is a bearer token that may read Services and Endpoints. ``namespace`` lets bare
    service names resolve as they do inside a pod of that namespace. Connections are not
    rewritten: test code keeps talking to 127.0.0.1 as before.
    """
    shim = _shim()
    if hosts_file is not None:
        lookup = shim.HostsTable(str(hosts_file)).lookup
    elif api_url is not None:
        lookup = _ApiLookup(api_url, token=token)
    else:
        raise ValueError("install_resolver needs the sandbox api_url or its hosts_file")
    undo: Callable[[], None] = shim.install(None, namespace, lookup)
    return undo


def uninstall_resolver() -> None:
    _shim().uninstall()
