"""Socket shim for processes the kubesandbox kubelet runs (and, resolver only, test code).

Loaded at interpreter start by the ``sitecustomize`` beside it. It makes the process
behave as if it had its own network namespace on the Pod's loopback address:

* binds to ``0.0.0.0``, ``""``, ``::``, ``127.0.0.1`` and ``localhost`` bind the pod IP;
* connections to ``127.0.0.1`` / ``localhost`` reach the pod's own IP;
* ``NAME.NAMESPACE.svc[.cluster.local]``, ``NAME.NAMESPACE`` and ``NAME`` (in the pod's
  namespace) resolve to the Service's ClusterIP (headless: ready pod IPs), read from the
  hosts file the sandbox keeps up to date.

It deliberately has no dependencies beyond the standard library.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

CLUSTER_SUFFIX = ".svc.cluster.local"
_WILDCARDS = {"", "0.0.0.0", "::", "127.0.0.1", "localhost", "::1"}
_LOCAL = {"127.0.0.1", "localhost", "::1"}

_original: dict[str, Any] = {}


class HostsTable:
    """The sandbox's service hosts file, re-read whenever it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._table: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def lookup(self, name: str) -> list[str] | None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime, st.st_size)
        except OSError:
            return None
        with self._lock:
            if stamp != self._stamp:
                table: dict[str, list[str]] = {}
                try:
                    with open(self.path, encoding="utf-8") as handle:
                        for line in handle:
                            parts = line.split("#", 1)[0].split()
                            for host in parts[1:]:
                                table.setdefault(host.lower(), []).append(parts[0])
                except OSError:
                    return None
                self._table = table
                self._stamp = stamp
            return self._table.get(name)


def candidates(name: str, namespace: str | None) -> list[str]:
    """Fully qualified ``svc.ns.svc`` names to try for a host name, in resolv.conf order."""
    host = name.rstrip(".").lower()
    if host.endswith(CLUSTER_SUFFIX):
        return [host[: -len(".cluster.local")]]
    if host.endswith(".svc"):
        return [host]
    dots = host.count(".")
    out = []
    if dots == 0 and namespace:
        out.append(f"{host}.{namespace}.svc")
    if dots == 1:
        out.append(f"{host}.svc")
    return out


def is_cluster_name(name: str) -> bool:
    host = name.rstrip(".").lower()
    return host.endswith(".svc") or host.endswith(CLUSTER_SUFFIX)


Lookup = Callable[[str], "list[str] | None"]


def resolve(name: str, namespace: str | None, lookup: Lookup) -> list[str] | None:
    for candidate in candidates(name, namespace):
        found = lookup(candidate)
        if found:
            return found
    return None


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            continue
    return False


def install(
    pod_ip: str | None,
    namespace: str | None,
    lookup: Lookup,
    host_ports: frozenset[int] = frozenset(),
) -> Callable[[], None]:
    """Patch the socket module; returns a function that undoes it.

    ``host_ports`` are ports of the machine's own 127.0.0.1 that stay reachable as such
    (the sandbox API server), instead of meaning the pod's own address.
    """

    def host_local(port: Any) -> bool:
        try:
            return int(port) in host_ports
        except (TypeError, ValueError):
            return False

    if _original:
        uninstall()
    _original.update(
        getaddrinfo=socket.getaddrinfo,
        gethostbyname=socket.gethostbyname,
        gethostbyname_ex=socket.gethostbyname_ex,
        bind=socket.socket.bind,
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
    )
    orig_getaddrinfo = _original["getaddrinfo"]

    def lookup_name(host: str) -> list[str] | None:
        if _is_ip(host):
            return None
        found = resolve(host, namespace, lookup)
        if found is None and is_cluster_name(host):
            raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")
        return found

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        text = host.decode() if isinstance(host, bytes) else host
        if text in _LOCAL and host_local(port):
            return orig_getaddrinfo("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        if (
            pod_ip
            and (text is None or text in _WILDCARDS)
            and family in (0, socket.AF_INET, socket.AF_UNSPEC)
        ):
            return orig_getaddrinfo(pod_ip, port, socket.AF_INET, type, proto, flags)
        if isinstance(text, str) and family in (0, socket.AF_INET, socket.AF_UNSPEC):
            found = lookup_name(text)
            if found:
                out = []
                for ip in found:
                    out.extend(orig_getaddrinfo(ip, port, socket.AF_INET, type, proto, flags))
                return out
        elif isinstance(text, str) and is_cluster_name(text):
            # Services have IPv4 ClusterIPs only; never ask the real DNS for cluster names.
            raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {text}")
        return orig_getaddrinfo(host, port, family, type, proto, flags)

    def gethostbyname(host: str) -> str:
        if pod_ip and host in _LOCAL:
            return pod_ip
        found = lookup_name(host)
        if found:
            return found[0]
        return str(_original["gethostbyname"](host))

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        found = lookup_name(host)
        if found:
            return host, [], list(found)
        result: tuple[str, list[str], list[str]] = _original["gethostbyname_ex"](host)
        return result

    def map_connect(address: Any, family: int) -> Any:
        if not isinstance(address, tuple) or len(address) < 2:
            return address
        host = address[0]
        if not isinstance(host, str):
            return address
        if host in _LOCAL and family == socket.AF_INET and host_local(address[1]):
            return ("127.0.0.1", *address[1:])
        if pod_ip and family == socket.AF_INET and host in _LOCAL:
            return (pod_ip, *address[1:])
        if pod_ip and family == socket.AF_INET6 and host in ("::1", "localhost"):
            return (f"::ffff:{pod_ip}", *address[1:])
        if not _is_ip(host):
            found = lookup_name(host)
            if found:
                ip = found[0] if family == socket.AF_INET else f"::ffff:{found[0]}"
                return (ip, *address[1:])
        return address

    def bind(self: socket.socket, address: Any) -> None:
        if pod_ip and isinstance(address, tuple) and len(address) >= 2:
            host = address[0]
            if self.family == socket.AF_INET and host in _WILDCARDS:
                address = (pod_ip, *address[1:])
            elif self.family == socket.AF_INET6 and host in _WILDCARDS:
                with contextlib.suppress(OSError):
                    self.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                address = (f"::ffff:{pod_ip}", *address[1:])
        _original["bind"](self, address)

    def connect(self: socket.socket, address: Any) -> None:
        _original["connect"](self, map_connect(address, self.family))

    def connect_ex(self: socket.socket, address: Any) -> int:
        result: int = _original["connect_ex"](self, map_connect(address, self.family))
        return result

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    if pod_ip:
        socket.socket.bind = bind  # type: ignore[method-assign,assignment]
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    return uninstall


def uninstall() -> None:
    if not _original:
        return
    socket.getaddrinfo = _original["getaddrinfo"]
    socket.gethostbyname = _original["gethostbyname"]
    socket.gethostbyname_ex = _original["gethostbyname_ex"]
    socket.socket.bind = _original["bind"]  # type: ignore[method-assign]
    socket.socket.connect = _original["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _original["connect_ex"]  # type: ignore[method-assign]
    _original.clear()


def map_path(path: Any, mounts: dict[str, str]) -> Any:
    """A volume's mountPath (as the container sees it) -> the directory the kubelet made."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path.startswith("/"):
        return path
    for mount in sorted(mounts, key=len, reverse=True):
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return mounts[mount] + path[len(mount.rstrip("/")) :]
    return path


# Only these mounts are mapped for file access: client libraries read the ServiceAccount
# token, CA and namespace from fixed paths there. Other mountPaths are rewritten by the
# kubelet in arguments and environment values; mapping them here too would map the
# rewritten (real) paths a second time when a mount sits at /tmp or the like.
FIXED_PATH_MOUNTS = "/var/run/secrets/"


def install_mounts(mounts: dict[str, str]) -> None:
    """Files opened under /var/run/secrets/ are read from the volume's directory."""
    import builtins
    import io
    import ssl

    mounts = {k: v for k, v in mounts.items() if k.startswith(FIXED_PATH_MOUNTS)}
    if not mounts:
        return
    original_open = builtins.open
    original_stat = os.stat
    original_verify = ssl.SSLContext.load_verify_locations

    def mapped_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        return original_open(map_path(file, mounts), *args, **kwargs)

    def mapped_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        return original_stat(map_path(path, mounts), *args, **kwargs)

    def mapped_verify(
        self: ssl.SSLContext, cafile: Any = None, capath: Any = None, cadata: Any = None
    ) -> None:
        original_verify(self, map_path(cafile, mounts), map_path(capath, mounts), cadata)

    builtins.open = io.open = mapped_open
    os.stat = mapped_stat  # os.path.exists/isfile/isdir call os.stat
    ssl.SSLContext.load_verify_locations = mapped_verify  # type: ignore[method-assign]


def install_from_environment() -> None:
    with contextlib.suppress(ValueError):
        install_mounts(json.loads(os.environ.get("KUBESANDBOX_MOUNTS") or "{}"))
    pod_ip = os.environ.get("KUBESANDBOX_POD_IP")
    hosts = os.environ.get("KUBESANDBOX_HOSTS_FILE")
    if not pod_ip or not hosts:
        return
    table = HostsTable(hosts)
    ports = frozenset(
        int(p) for p in os.environ.get("KUBESANDBOX_HOST_PORTS", "").split(",") if p.isdigit()
    )
    install(pod_ip, os.environ.get("KUBESANDBOX_NAMESPACE"), table.lookup, ports)
