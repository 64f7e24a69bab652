"""List-then-watch of the rooms' children, as controller-runtime's informers do it.

Kopf watches the GameRooms. The children (Deployments, Pods, Services, ...) are watched
here instead: filtered by label on the server, decoded with orjson, and handed straight
to the controller. Through Kopf every child event paid for its whole per-event machinery
(a worker, causes, handler kwargs), which was most of the operator's CPU when a thousand
rooms start at once; the controller needs none of it for children, whose handling is
already level-based.

Each ``ChildWatch`` lists once (every object arrives with event type None, as Kopf's
initial listing does), then watches from the list's resourceVersion. A 410 Gone starts
again from a new list; a dropped connection reconnects after a back-off.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from .kube import ApiError, Kube, api_path, logged

log = structlog.get_logger("gameroom_operator")

Handler = Callable[[str | None, dict[str, Any]], Awaitable[None]]

WATCH_SECONDS = 270  # under the API server's own limit, like Kopf's server_timeout
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Kind:
    api_version: str
    plural: str


class Gone(Exception):
    """The resourceVersion is too old to watch from (410): list again."""


class ChildWatch:
    """Keeps one kind of child in view in one namespace (or all) and reports its events."""

    def __init__(
        self,
        kube: Kube,
        kind: Kind,
        selector: str,
        handler: Handler,
        namespace: str | None = None,
        namespace_patterns: Iterable[str] = (),
    ) -> None:
        self.kube = kube
        self.kind = kind
        self.selector = selector
        self.handler = handler
        self.namespace = namespace
        # Glob patterns (from --namespaces) are matched here, as they cannot be asked of
        # the API server: such a watch covers every namespace.
        self.patterns = tuple(namespace_patterns)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def path(self) -> str:
        return api_path(self.kind.api_version, self.kind.plural, self.namespace)

    def _selector(self) -> dict[str, str]:
        return {"labelSelector": self.selector} if self.selector else {}

    def _wanted(self, obj: dict[str, Any]) -> bool:
        if not self.patterns:
            return True
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.patterns)

    def _deliver(self, event_type: str | None, obj: dict[str, Any]) -> None:
        """Hand an event over without waiting for it: the watch keeps reading. Tasks start
        in arrival order, so each object's events update the controller's state in order."""
        if not self._wanted(obj):
            return
        task = asyncio.get_running_loop().create_task(self._handle(event_type, obj))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, event_type: str | None, obj: dict[str, Any]) -> None:
        try:
            await self.handler(event_type, obj)
        except Exception:  # noqa: BLE001 - one bad event must not stop the watch
            meta = obj.get("metadata") or {}
            log.exception(
                "child_event_failed",
                kind=self.kind.plural,
                ns=meta.get("namespace"),
                name=meta.get("name"),
            )

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                version = await self._list()
                failures = 0
                while True:
                    version = await self._watch(version)
            except Gone:
                # The API server no longer has our resourceVersion: list again (the client
                # logged the ERROR event: one line per incident).
                log.debug("child_watch_expired", kind=self.kind.plural, ns=self.namespace or "*")
                continue
            except asyncio.CancelledError:
                raise
            except (ApiError, OSError, TimeoutError, ValueError, aiohttp.ClientError) as error:
                # aiohttp.ClientError: the stream was cut mid-answer (a load balancer, an API
                # server restart); without it a cut watch ended this task for good and the
                # operator went deaf to the kind.
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                # The client logged the failure itself unless it happened here (a bad event).
                (log.debug if logged(error) else log.warning)(
                    "child_watch_failed",
                    kind=self.kind.plural,
                    ns=self.namespace or "*",
                    error=str(error),
                    retry_in=delay,
                )
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        version = ""
        token = ""
        while True:
            params = {"limit": "500", **self._selector()}
            if token:
                params["continue"] = token
            page = await self.kube.request("GET", self.path, params=params)
            for item in page.get("items") or []:
                self._deliver(None, item)
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion", version))
            token = str(meta.get("continue") or "")
            if not token:
                return version

    async def _watch(self, version: str) -> str:
        params = {
            "watch": "1",
            **self._selector(),
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        async for event in self.kube.stream(self.path, params):
            event_type = event.get("type")
            obj = event.get("object") or {}
            if event_type == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ApiError(int(obj.get("code") or 500), "WATCH", self.path, str(obj))
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if event_type == "BOOKMARK":
                continue
            self._deliver(str(event_type), obj)
        return version

    async def drain(self) -> None:
        """Wait for the events handed over so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def watches_for(
    kube: Kube,
    kinds: Iterable[tuple[Kind, Handler, str]],
    namespaces: Iterable[str],
) -> list[ChildWatch]:
    """One watch per kind and namespace; all namespaces when none is given or any is a glob.

    Each kind comes with its handler and its label selector ("" for every object)."""
    wanted = tuple(namespaces)
    globbed = any(set(ns) & set("*?[") for ns in wanted)
    scopes: list[str | None] = [None] if not wanted or globbed else list(wanted)
    patterns = wanted if globbed else ()
    return [
        ChildWatch(
            kube,
            kind,
            selector,
            handler,
            namespace=scope,
            namespace_patterns=patterns,
        )
        for kind, handler, selector in kinds
        for scope in scopes
    ]
