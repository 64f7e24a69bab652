"""A userspace service proxy (like kube-proxy's old userspace mode) and the hosts file.

For each Service with a ClusterIP (127.2.x.y, assigned by the API server) and each TCP
port, the proxy listens on ClusterIP:port and forwards every connection to a ready
endpoint from the Service's EndpointSlices, round robin. The hosts file maps Service DNS
names to ClusterIPs (headless Services: ready pod IPs) for the socket shim.
"""

from __future__ import annotations

import asyncio
import bisect
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
ServiceKey = tuple[str, str]  # namespace, service
# The shortest wait before the hosts file is rewritten after a Service change (a burst of
# changes within it costs one rewrite).
HOSTS_MIN_DELAY = 0.1


def _service_key(obj: Obj) -> ServiceKey:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _proxy_view(svc: Obj) -> tuple[object, object]:
    """What the proxy and the hosts file use of a Service."""
    spec = svc.get("spec") or {}
    return spec.get("clusterIP"), spec.get("ports")


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
        # (namespace, service) -> its listeners, so a Service event touches only its own.
        self._listening: dict[ServiceKey, set[ListenKey]] = {}
        self._rr: dict[ListenKey, itertools.count[int]] = {}
        self._hosts_pending = False
        self._hosts_cost = 0.0
        self._hosts_writing: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._syncing: set[tuple[str, str]] = set()
        self._conns: set[asyncio.Task[None]] = set()
        # The hosts file is kept per Service and only changed entries are recomputed.
        self._slice_names: dict[ServiceKey, set[str]] = {}
        # Per Service: its hosts entries as one text block; _host_order keeps the keys sorted
        # (bisect), so that the file is a join, never a sort or a scan of all objects.
        self._host_text: dict[ServiceKey, str] = {}
        self._host_order: list[ServiceKey] = []
        self._stale_hosts: set[ServiceKey] = set()
        for sl in slices.items():
            self._index_slice(sl, None)
        for svc in services.items():
            self._stale_hosts.add(_service_key(svc))

    def start(self) -> None:
        self.services.add_handler(self._on_service)
        self.slices.add_handler(self._on_slice)
        self._schedule_hosts()

    async def stop(self) -> None:
        if self._hosts_writing is not None:
            with contextlib.suppress(OSError):
                await self._hosts_writing
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
        key = _service_key(svc)
        if kind == "MODIFIED" and old is not None and _proxy_view(old) == _proxy_view(svc):
            return  # status or metadata only: nothing to listen on or resolve changed
        asyncio.get_running_loop().create_task(self._sync_service(key))
        self._stale_hosts.add(key)
        self._schedule_hosts()

    def _on_slice(self, kind: str, sl: Obj, old: Obj | None) -> None:
        changed = self._index_slice(sl if kind != "DELETED" else None, old)
        for key in changed:
            svc = self.services.get(*key)
            if svc is not None and (svc.get("spec") or {}).get("clusterIP") == "None":
                self._stale_hosts.add(key)
                self._schedule_hosts()

    def _index_slice(self, new: Obj | None, old: Obj | None) -> set[ServiceKey]:
        """Track which slices belong to which Service; returns the Services affected."""
        affected: set[ServiceKey] = set()
        for obj, present in ((old, False), (new, True)):
            if obj is None:
                continue
            meta = obj.get("metadata") or {}
            service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if not service:
                continue
            key = (meta.get("namespace", ""), service)
            affected.add(key)
            names = self._slice_names.setdefault(key, set())
            if present:
                names.add(meta["name"])
            else:
                names.discard(meta["name"])
                if not names:
                    del self._slice_names[key]
        return affected

    def service_slices(self, namespace: str, name: str) -> list[Obj]:
        """The EndpointSlices labelled for one Service (from the slice index)."""
        found = []
        for slice_name in sorted(self._slice_names.get((namespace, name), ())):
            sl = self.slices.get(namespace, slice_name)
            labels = ((sl or {}).get("metadata") or {}).get("labels") or {}
            if sl is not None and labels.get(SERVICE_NAME_LABEL) == name:
                found.append(sl)
        return found

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
            current = set(self._listening.get(key, ()))
            for stale in current - wanted:
                self.listeners.pop(stale).close()
                self._rr.pop(stale, None)
                self._forget_listener(key, stale)
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
                self._listening.setdefault(key, set()).add(new)

    def _forget_listener(self, key: ServiceKey, listen: ListenKey) -> None:
        keys = self._listening.get(key)
        if keys is not None:
            keys.discard(listen)
            if not keys:
                del self._listening[key]

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
        return ready_backends(self.service_slices(namespace, name), service_port)

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
        # Coalesce bursts: the file is rewritten at most ~1% of the time, counting the
        # file I/O in its thread (which holds the GIL for most of it): a rewrite of 2,000
        # Services costs ~2.5 ms in all, so new names appear within ~250 ms.
        delay = max(HOSTS_MIN_DELAY, 100 * self._hosts_cost)
        asyncio.get_running_loop().call_later(delay, self._write_hosts)

    def hosts_lines(self) -> list[str]:
        """The hosts file's entries, ordered by namespace and Service name."""
        return self.hosts_text().splitlines()

    def hosts_text(self) -> str:
        """The hosts file's entries as text (one line each, ordered by namespace and name).

        Only Services changed since the last call are looked at again (their own slices
        through the slice index); the rest is a join of the kept per-Service blocks.
        """
        for key in self._stale_hosts:
            svc = self.services.get(*key)
            lines = self._service_hosts(svc) if svc is not None else []
            if lines:
                if key not in self._host_text:
                    bisect.insort(self._host_order, key)
                self._host_text[key] = "".join(line + "\n" for line in lines)
            elif self._host_text.pop(key, None) is not None:
                del self._host_order[bisect.bisect_left(self._host_order, key)]
        self._stale_hosts.clear()
        return "".join([self._host_text[key] for key in self._host_order])

    def _service_hosts(self, svc: Obj) -> list[str]:
        meta = svc["metadata"]
        names = f"{meta['name']}.{meta.get('namespace', 'default')}.svc"
        ip = (svc.get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            return [f"{ip} {names} {names}.cluster.local"]
        lines: list[str] = []
        if ip == "None":
            for sl in self.service_slices(meta.get("namespace", ""), meta["name"]):
                for ep in sl.get("endpoints") or []:
                    if (ep.get("conditions") or {}).get("ready", True):
                        for addr in ep.get("addresses") or []:
                            lines.append(f"{addr} {names} {names}.cluster.local")
        return lines

    def _write_hosts(self) -> None:
        """Rewrite the hosts file now (the text on the loop, the file I/O in a thread)."""
        if self._hosts_writing is not None and not self._hosts_writing.done():
            asyncio.get_running_loop().call_later(0.05, self._write_hosts)  # one at a time
            return
        started = time.perf_counter()
        self._hosts_pending = False
        text = "# kubesandbox service names, rewritten on every Service change\n"
        text += self.hosts_text()
        self._hosts_cost = time.perf_counter() - started  # the thread adds its own part
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._timed_write(text)
        else:
            self._hosts_writing = loop.run_in_executor(None, self._timed_write, text)

    def _timed_write(self, text: str) -> None:
        started = time.perf_counter()
        _replace_file(self.hosts_file, text)
        self._hosts_cost += time.perf_counter() - started


def _replace_file(path: pathlib.Path, text: str) -> None:
    """Atomically replace ``path`` (readers see the old or the new file, never a partial one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


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
