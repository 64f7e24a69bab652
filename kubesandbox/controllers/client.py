"""A small asynchronous Kubernetes API client over aiohttp, plus informers.

Controllers and the kubelet talk to the API server only through this module, the way
kube-controller-manager and the kubelet do: list+watch into an in-memory cache, and
writes with create, merge/strategic patches, ``/status`` and ``/scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import structlog

from kubesandbox import fastjson

log = structlog.get_logger("kubesandbox.client")

Obj = dict[str, Any]
USER_AGENT = "kubesandbox-controller-manager/v1.0"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection(self, namespace: str | None = None) -> str:
        if self.namespaced and namespace:
            return f"{self.base()}/namespaces/{namespace}/{self.plural}"
        return f"{self.base()}/{self.plural}"

    def item(self, namespace: str | None, name: str, subresource: str | None = None) -> str:
        path = f"{self.collection(namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path


PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
EVENTS = Resource("", "v1", "events", "Event")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
JOBS = Resource("batch", "v1", "jobs", "Job")
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob")


class ApiError(Exception):
    def __init__(self, status: int, body: Any, method: str, path: str) -> None:
        self.status = status
        self.body = body
        reason = body.get("message") if isinstance(body, dict) else str(body)[:200]
        super().__init__(f"{method} {path} -> {status}: {reason}")

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


def key_of(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta["name"])


class ApiTransport(Protocol):
    """What controllers, the kubelet and informers need from an API client.

    ``ApiClient`` (HTTP) and ``kubesandbox.controllers.local.LocalClient`` (in process)
    implement it with the same paths, results and ``ApiError`` status codes.
    """

    @property
    def api_url(self) -> str: ...

    async def close(self) -> None: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any: ...

    async def get(self, path: str) -> Obj | None: ...

    async def list(self, path: str, params: dict[str, str] | None = None) -> Obj: ...

    async def create(self, path: str, body: Obj) -> Obj: ...

    async def replace(self, path: str, body: Obj) -> Obj: ...

    async def patch(self, path: str, body: Any, kind: str = "merge") -> Obj: ...

    async def delete(
        self, path: str, *, propagation: str | None = None, grace: int | None = None
    ) -> Obj | None: ...

    def watch(
        self,
        path: str,
        resource_version: str,
        timeout_seconds: int = 300,
        extra: dict[str, str] | None = None,
    ) -> AsyncGenerator[Obj, None]: ...


PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


class ClientVerbs:
    """get/list/create/replace/patch/delete on top of a client's ``request``: one
    definition for ``ApiClient`` (HTTP) and ``LocalClient`` (in process)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        raise NotImplementedError

    async def get(self, path: str) -> Obj | None:
        try:
            result: Obj = await self.request("GET", path)
            return result
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, path: str, params: dict[str, str] | None = None) -> Obj:
        result: Obj = await self.request("GET", path, params=params)
        return result

    async def create(self, path: str, body: Obj) -> Obj:
        result: Obj = await self.request("POST", path, body=body)
        return result

    async def replace(self, path: str, body: Obj) -> Obj:
        result: Obj = await self.request("PUT", path, body=body)
        return result

    async def patch(self, path: str, body: Any, kind: str = "merge") -> Obj:
        result: Obj = await self.request("PATCH", path, body=body, content_type=PATCH_TYPES[kind])
        return result

    async def delete(
        self, path: str, *, propagation: str | None = None, grace: int | None = None
    ) -> Obj | None:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        try:
            result: Obj = await self.request("DELETE", path, body=body)
            return result
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


class ApiClient(ClientVerbs):
    """Thin JSON client for one API server URL."""

    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
                },
                connector=aiohttp.TCPConnector(limit=32),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = None if body is None else fastjson.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method, self.api_url + path, data=data, params=params, headers=headers
        ) as resp:
            text = await resp.text()
            try:
                payload: Any = fastjson.loads(text) if text else None
            except ValueError:
                payload = text
            if resp.status >= 400:
                raise ApiError(resp.status, payload, method, path)
            return payload

    async def watch(
        self,
        path: str,
        resource_version: str,
        timeout_seconds: int = 300,
        extra: dict[str, str] | None = None,
    ) -> AsyncGenerator[Obj, None]:
        params = {
            **(extra or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        async with self.session.get(
            self.api_url + path,
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as resp:
            if resp.status >= 400:
                text = await resp.text()
                raise ApiError(resp.status, _maybe_json(text), "WATCH", path)
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield fastjson.loads(line)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


EventHandler = Callable[[str, Obj, Obj | None], None]


class Informer:
    """List+watch one resource across all namespaces into an in-memory cache.

    Handlers are called synchronously with (event type, object, old object) and should
    only enqueue work. ``synced`` is set once the first list has been delivered.
    """

    def __init__(
        self, client: ApiTransport, resource: Resource, *, label_selector: str | None = None
    ) -> None:
        self.client = client
        self.resource = resource
        self.label_selector = label_selector
        self.cache: dict[tuple[str, str], Obj] = {}
        self._by_namespace: dict[str, dict[str, Obj]] = {}
        self.handlers: list[EventHandler] = []
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_handler(self, handler: EventHandler) -> None:
        self.handlers.append(handler)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return list(self._by_namespace.get(namespace, {}).values())

    def _store(self, key: tuple[str, str], obj: Obj) -> Obj | None:
        old = self.cache.get(key)
        self.cache[key] = obj
        self._by_namespace.setdefault(key[0], {})[key[1]] = obj
        return old

    def _drop(self, key: tuple[str, str]) -> Obj | None:
        old = self.cache.pop(key, None)
        bucket = self._by_namespace.get(key[0])
        if bucket is not None:
            bucket.pop(key[1], None)
            if not bucket:
                del self._by_namespace[key[0]]
        return old

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.resource.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _emit(self, kind: str, obj: Obj, old: Obj | None) -> None:
        for handler in self.handlers:
            try:
                handler(kind, obj, old)
            except Exception:  # a handler bug must not stop the informer
                log.exception("informer handler failed", resource=self.resource.plural)

    async def _relist(self) -> str:
        params = {"labelSelector": self.label_selector} if self.label_selector else None
        listing = await self.client.list(self.resource.collection(), params)
        fresh = {key_of(o): o for o in listing.get("items") or []}
        for key, old in list(self.cache.items()):
            if key not in fresh:
                self._drop(key)
                self._emit("DELETED", old, old)
        for key, obj in fresh.items():
            old_obj = self._store(key, obj)
            self._emit("ADDED" if old_obj is None else "MODIFIED", obj, old_obj)
        self.synced.set()
        return str((listing.get("metadata") or {}).get("resourceVersion", "0"))

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                rv = await self._relist()
                delay = 0.2
                while True:
                    rv, gone = await self._watch_once(rv)
                    if gone:
                        break
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, ApiError, OSError, ValueError) as exc:
                log.warning("informer retrying", resource=self.resource.plural, error=str(exc))
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)

    async def _watch_once(self, rv: str) -> tuple[str, bool]:
        path = self.resource.collection()
        extra = {"labelSelector": self.label_selector} if self.label_selector else None
        # aclosing: a cancelled informer closes its watch at once (unsubscribing it), not
        # whenever the garbage collector finalizes the generator.
        async with contextlib.aclosing(self.client.watch(path, rv, extra=extra)) as events:
            async for event in events:
                etype = event.get("type")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    return rv, True  # 410 Gone and friends: relist
                meta = obj.get("metadata") or {}
                rv = str(meta.get("resourceVersion", rv))
                if etype == "BOOKMARK":
                    continue
                key = key_of(obj)
                if etype == "DELETED":
                    old = self._drop(key)
                    self._emit("DELETED", obj, old)
                else:
                    old = self._store(key, obj)
                    self._emit("ADDED" if old is None else "MODIFIED", obj, old)
        return rv, False


Reconcile = Callable[[tuple[str, str]], Awaitable[float | None]]


class WorkQueue:
    """A deduplicating key queue with delayed re-adds, served by N workers.

    ``reconcile`` returns None when done or a delay in seconds to run again.
    """

    def __init__(self, name: str, reconcile: Reconcile, workers: int = 2) -> None:
        self.name = name
        self.reconcile = reconcile
        self.workers = workers
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._running: set[tuple[str, str]] = set()
        self._dirty: set[tuple[str, str]] = set()
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._failures: dict[tuple[str, str], int] = {}

    def add(self, key: tuple[str, str]) -> None:
        if key in self._running:
            self._dirty.add(key)
            return
        if key in self._pending:
            return
        self._pending.add(key)
        self._queue.put_nowait(key)

    def add_after(self, key: tuple[str, str], delay: float) -> None:
        existing = self._timers.get(key)
        loop = asyncio.get_running_loop()
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: tuple[str, str]) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def start(self) -> None:
        for i in range(self.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"{self.name}-{i}"))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            self._running.add(key)
            try:
                again = await self.reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                again = min(0.05 * 2**n, 10.0)
                # Conflicts and vanished objects are normal races: the next run sees fresh data.
                if exc.status not in (404, 409):
                    log.warning("reconcile failed", controller=self.name, key=key, error=str(exc))
            except Exception as exc:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                again = min(0.1 * 2**n, 30.0)
                log.exception("reconcile crashed", controller=self.name, key=key, error=str(exc))
            finally:
                self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif again is not None:
                self.add_after(key, again)
