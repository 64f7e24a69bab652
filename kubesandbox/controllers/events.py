"""Recording core/v1 Events the way kube components do, aggregated so they never flood."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import structlog

from kubesandbox.controllers.client import EVENTS, ApiError, ApiTransport
from kubesandbox.controllers.common import fmt_time

log = structlog.get_logger("kubesandbox.events")
_last_stamp = 0


def now_iso() -> str:
    return fmt_time(dt.datetime.now(dt.UTC))


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    """Creates an Event per (object, reason, message) and bumps its count on repeats."""

    def __init__(self, client: ApiTransport, component: str, host: str | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}

    @staticmethod
    def _stamp() -> int:
        """Event names end in the time in nanoseconds, hex, as Kubernetes' recorder names
        them (``NAME.17a3f0c2d4e5b6a7``); unique across all recorders of this process."""
        global _last_stamp
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp

    async def record(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid", ""), type_, reason, message)
        try:
            seen = self._seen.get(key)
            if seen is not None:
                name, count = seen
                self._seen[key] = (name, count + 1)
                try:
                    await self.client.patch(
                        EVENTS.item(namespace, name),
                        {"count": count + 1, "lastTimestamp": now_iso()},
                    )
                    return
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    # The Event expired or was deleted: start a new one.
                    del self._seen[key]
            name = f"{meta.get('name', 'object')}.{self._stamp():x}"
            source: dict[str, str] = {"component": self.component}
            if self.host:
                source["host"] = self.host
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion", "v1"),
                    "kind": obj.get("kind", ""),
                    "name": meta.get("name", ""),
                    "namespace": namespace,
                    "uid": meta.get("uid", ""),
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": source,
                "count": 1,
                "firstTimestamp": now_iso(),
                "lastTimestamp": now_iso(),
                "reportingComponent": self.component,
                "reportingInstance": self.host or self.component,
            }
            self._seen[key] = (name, 1)
            if len(self._seen) > 20000:
                self._seen.clear()
            await self.client.create(EVENTS.collection(namespace), event)
        except ApiError as exc:
            # Events are best effort, as in Kubernetes (e.g. the namespace is terminating).
            log.debug("event not recorded", reason=reason, error=str(exc))
        except OSError as exc:
            log.debug("event not recorded", reason=reason, error=str(exc))
