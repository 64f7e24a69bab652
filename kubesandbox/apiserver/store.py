"""In-memory object store with a global resourceVersion, watch history and fan-out.

Stored objects are never mutated in place: every write stores a new dict, so readers,
watchers and the snapshot writer can hold references safely.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubesandbox import fastjson

RKey = tuple[str, str]  # (group, plural)


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    rkey: RKey
    namespace: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    rv: int
    _encoded: dict[str, bytes] = field(default_factory=dict)

    def encoded(
        self,
        api_version: str,
        event_type: str | None = None,
        convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> bytes:
        """The JSON line for this event, serialized once per apiVersion for all watchers
        (`convert`: the object in that apiVersion's shape, when it differs)."""
        etype = event_type or self.type
        cache_key = f"{etype}:{api_version}"
        line = self._encoded.get(cache_key)
        if line is None:
            obj = convert(self.obj) if convert is not None else self.obj
            if obj.get("apiVersion") != api_version:
                obj = {**obj, "apiVersion": api_version}
            line = fastjson.dumps({"type": etype, "object": obj})
            line += b"\n"
            self._encoded[cache_key] = line
        return line


class Watcher:
    def __init__(self, rkey: RKey) -> None:
        self.rkey = rkey
        self.queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

    def push(self, event: WatchEvent | None) -> None:
        self.queue.put_nowait(event)


class Store:
    def __init__(self, history_size: int = 50_000) -> None:
        self.rv = 1
        self.data: dict[RKey, dict[str, dict[str, dict[str, Any]]]] = {}
        self.history: deque[WatchEvent] = deque(maxlen=history_size)
        # Watches from below this resourceVersion cannot be served (410 Gone).
        self.compacted_rv = 0
        self.watchers: dict[RKey, set[Watcher]] = {}
        self.owner_index: dict[str, set[tuple[RKey, str, str]]] = {}
        self.listeners: list[Any] = []
        self.dirty = asyncio.Event() if _has_loop() else None

    # ----- reads -----
    def get(self, rkey: RKey, namespace: str, name: str) -> dict[str, Any] | None:
        return self.data.get(rkey, {}).get(namespace, {}).get(name)

    def iter(self, rkey: RKey, namespace: str | None) -> Iterator[dict[str, Any]]:
        buckets = self.data.get(rkey, {})
        if namespace is not None:
            yield from buckets.get(namespace, {}).values()
            return
        for bucket in list(buckets.values()):
            yield from list(bucket.values())

    def count(self, rkey: RKey, namespace: str | None = None) -> int:
        buckets = self.data.get(rkey, {})
        if namespace is not None:
            return len(buckets.get(namespace, {}))
        return sum(len(b) for b in buckets.values())

    def namespace_has_objects(self, namespace: str) -> bool:
        return any(buckets.get(namespace) for buckets in self.data.values())

    def oldest_rv(self) -> int:
        return self.history[0].rv if self.history else self.rv

    def dependents(self, uid: str) -> list[tuple[RKey, str, str]]:
        return sorted(self.owner_index.get(uid, ()))

    # ----- writes -----
    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, rkey: RKey, obj: dict[str, Any], event_type: str) -> WatchEvent:
        """Store `obj` (whose resourceVersion is already set) and notify watchers."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        bucket = self.data.setdefault(rkey, {}).setdefault(ns, {})
        old = bucket.get(meta["name"])
        bucket[meta["name"]] = obj
        self._reindex(rkey, ns, meta["name"], old, obj)
        return self._emit(event_type, rkey, ns, obj, old, int(meta["resourceVersion"]))

    def remove(self, rkey: RKey, namespace: str, name: str) -> WatchEvent | None:
        bucket = self.data.get(rkey, {}).get(namespace, {})
        old = bucket.pop(name, None)
        if old is None:
            return None
        if not bucket:
            self.data[rkey].pop(namespace, None)
        self._reindex(rkey, namespace, name, old, None)
        rv = self.next_rv()
        final = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        return self._emit("DELETED", rkey, namespace, final, old, rv)

    def drop_resource(self, rkey: RKey) -> None:
        """Forget every object of a resource (its CRD was deleted)."""
        for ns, bucket in list(self.data.get(rkey, {}).items()):
            for name in list(bucket):
                self.remove(rkey, ns, name)
        self.data.pop(rkey, None)
        for w in list(self.watchers.get(rkey, ())):
            w.push(None)

    def _reindex(
        self,
        rkey: RKey,
        ns: str,
        name: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        ref = (rkey, ns, name)
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            for owner in obj["metadata"].get("ownerReferences") or []:
                uid = owner.get("uid")
                if not uid:
                    continue
                if add:
                    self.owner_index.setdefault(uid, set()).add(ref)
                else:
                    refs = self.owner_index.get(uid)
                    if refs is not None:
                        refs.discard(ref)
                        if not refs:
                            del self.owner_index[uid]

    def _emit(
        self,
        event_type: str,
        rkey: RKey,
        ns: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        rv: int,
    ) -> WatchEvent:
        event = WatchEvent(event_type, rkey, ns, obj, old, rv)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(event)
        for w in self.watchers.get(rkey, ()):
            w.push(event)
        for listener in self.listeners:
            listener(event)
        if self.dirty is not None:
            self.dirty.set()
        return event

    # ----- watch -----
    def subscribe(self, rkey: RKey) -> Watcher:
        w = Watcher(rkey)
        self.watchers.setdefault(rkey, set()).add(w)
        return w

    def unsubscribe(self, w: Watcher) -> None:
        self.watchers.get(w.rkey, set()).discard(w)

    def events_since(self, rkey: RKey, rv: int) -> list[WatchEvent] | None:
        """Events of `rkey` after `rv`, or None when `rv` is older than the history kept."""
        if rv < self.compacted_rv:
            return None
        return [e for e in self.history if e.rv > rv and e.rkey == rkey]

    # ----- persistence -----
    def snapshot(self) -> dict[str, Any]:
        objects = []
        for (group, plural), buckets in self.data.items():
            for bucket in buckets.values():
                for obj in bucket.values():
                    objects.append({"group": group, "plural": plural, "object": obj})
        return {"resourceVersion": self.rv, "objects": objects}

    def restore(self, snap: dict[str, Any]) -> None:
        self.rv = int(snap.get("resourceVersion", 1))
        self.compacted_rv = self.rv
        for item in snap.get("objects", []):
            rkey = (item["group"], item["plural"])
            obj = item["object"]
            meta = obj["metadata"]
            ns = meta.get("namespace", "")
            self.data.setdefault(rkey, {}).setdefault(ns, {})[meta["name"]] = obj
            self._reindex(rkey, ns, meta["name"], None, obj)

    def load_object(self, rkey: RKey, obj: dict[str, Any]) -> None:
        """Put a restored object in place (no event, resourceVersion untouched)."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        bucket = self.data.setdefault(rkey, {}).setdefault(ns, {})
        old = bucket.get(meta["name"])
        bucket[meta["name"]] = obj
        self._reindex(rkey, ns, meta["name"], old, obj)

    def unload_object(self, rkey: RKey, namespace: str, name: str) -> None:
        """Drop a restored object again (no event)."""
        bucket = self.data.get(rkey, {}).get(namespace, {})
        old = bucket.pop(name, None)
        if old is None:
            return
        if not bucket:
            self.data[rkey].pop(namespace, None)
        self._reindex(rkey, namespace, name, old, None)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
