"""A userspace service proxy (like kube-proxy's old userspace mode) and the hosts file.

For each Service with a ClusterIP (127.2.x.y, assigned by the API server) and each TCP
port, the proxy listens on ClusterIP:port and forwards every connection to a ready
endpoint from the Service's EndpointSlices, round robin. The hosts file maps Service DNS
names to ClusterIPs (headless Services: ready pod IPs) for the socket shim.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import os
import pathlib
import time
from typing import Any

import structlog

from kubesandbox.controllers.client import Informer
from kubesandbox.controllers.endpoints_logic import SERVICE_NAME_LABEL, ready_backends

log = structlog.get_logger("kubesandbox.proxy")
Obj = dict[str, Any]
ListenKey = tuple[str, str, str, int]  # namespace, service, ip, port


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip).is_loopback
    except ValueError:
        return False


class ServiceProxy:
    def __init__(self, services: Informer, slices: Informer, hosts_file: pathlib.Path) -> None:
        self.services = services
        self.slices = slices
        self.hosts_file = hosts_file
        self.listeners: dict[ListenKey, asyncio.Server] = {}
        self._rr: dict[ListenKey, itertools.count[int]] = {}
        self._hosts_pending = False
        self._hosts_cost = 0.0
        self._lock = asyncio.Lock()
        self._syncing: set[tuple[str, str]] = set()
        self._conns: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.services.add_handler(self._on_service)
        self.slices.add_handler(self._on_slice)
        self._schedule_hosts()

    async def stop(self) -> None:
        for server in self.listeners.values():
            server.close()
        for task in list(self._conns):
            task.cancel()
        for server in self.listeners.values():
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self.listeners.clear()

    # ------------------------------------------------------------ events

    def _on_service(self, kind: str, svc: Obj, old: Obj | None) -> None:
        meta = svc["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        asyncio.get_running_loop().create_task(self._sync_service(key))
        self._schedule_hosts()

    def _on_slice(self, kind: str, sl: Obj, old: Obj | None) -> None:
        spec = (sl.get("metadata") or {}).get("labels") or {}
        if spec.get(SERVICE_NAME_LABEL):
            svc = self.services.get(sl["metadata"].get("namespace", ""), spec[SERVICE_NAME_LABEL])
            if svc is not None and (svc.get("spec") or {}).get("clusterIP") == "None":
                self._schedule_hosts()

    async def _sync_service(self, key: tuple[str, str]) -> None:
        async with self._lock:
            namespace, name = key
            svc = self.services.get(namespace, name)
            wanted: set[ListenKey] = set()
            if svc is not None:
                spec = svc.get("spec") or {}
                ip = spec.get("clusterIP")
                if ip and ip != "None" and _loopback(ip):
                    for port in spec.get("ports") or []:
                        if port.get("protocol", "TCP") == "TCP":
                            wanted.add((namespace, name, ip, int(port["port"])))
            current = {k for k in self.listeners if k[0] == namespace and k[1] == name}
            for stale in current - wanted:
                self.listeners.pop(stale).close()
            for new in wanted - current:
                try:
                    server = await asyncio.start_server(
                        functools.partial(self._accept, new), new[2], new[3]
                    )
                except OSError as exc:
                    log.warning(
                        "service port not proxied",
                        service=f"{namespace}/{name}",
                        address=f"{new[2]}:{new[3]}",
                        error=str(exc),
                    )
                    continue
                self.listeners[new] = server

    # ------------------------------------------------------------ forwarding

    def backends(self, key: ListenKey) -> list[tuple[str, int]]:
        namespace, name, _, port = key
        svc = self.services.get(namespace, name)
        if svc is None:
            return []
        service_port = next(
            (p for p in (svc.get("spec") or {}).get("ports") or [] if int(p["port"]) == port),
            None,
        )
        if service_port is None:
            return []
        slices = [
            s
            for s in self.slices.items(namespace)
            if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
        ]
        return ready_backends(slices, service_port)

    def _accept(
        self, key: ListenKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._forward(key, reader, writer))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _forward(
        self, key: ListenKey, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        backends = self.backends(key)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        if backends:
            counter = self._rr.setdefault(key, itertools.count())
            start = next(counter)
            for i in range(len(backends)):
                host, port = backends[(start + i) % len(backends)]
                try:
                    upstream = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
                    break
                except (OSError, TimeoutError):
                    continue
        if upstream is None:
            # No ready endpoint: refuse, as kube-proxy rejects traffic to such a Service.
            with contextlib.suppress(OSError):
                writer.transport.abort()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )

    # ------------------------------------------------------------ hosts file

    def _schedule_hosts(self) -> None:
        if self._hosts_pending:
            return
        self._hosts_pending = True
        # Coalesce bursts; with thousands of Services a rewrite costs milliseconds, so the
        # file is rewritten at most ~10% of the time (new names appear within 10x its cost).
        delay = max(0.05, 10 * self._hosts_cost)
        asyncio.get_running_loop().call_later(delay, self._write_hosts)

    def hosts_lines(self) -> list[str]:
        lines = []
        for svc in sorted(
            self.services.items(),
            key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"]),
        ):
            meta = svc["metadata"]
            names = f"{meta['name']}.{meta.get('namespace', 'default')}.svc"
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            if ip and ip != "None":
                lines.append(f"{ip} {names} {names}.cluster.local")
            elif ip == "None":
                for sl in self.slices.items(meta.get("namespace", "")):
                    labels = (sl.get("metadata") or {}).get("labels") or {}
                    if labels.get(SERVICE_NAME_LABEL) != meta["name"]:
                        continue
                    for ep in sl.get("endpoints") or []:
                        if (ep.get("conditions") or {}).get("ready", True):
                            for addr in ep.get("addresses") or []:
                                lines.append(f"{addr} {names} {names}.cluster.local")
        return lines

    def _write_hosts(self) -> None:
        started = time.perf_counter()
        self._hosts_pending = False
        text = "# kubesandbox service names, rewritten on every Service change\n"
        text += "\n".join(self.hosts_lines()) + "\n"
        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.hosts_file.with_name(f".{self.hosts_file.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, self.hosts_file)
        self._hosts_cost = time.perf_counter() - started


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
        if reader.at_eof():
            with contextlib.suppress(OSError):
                writer.close()
