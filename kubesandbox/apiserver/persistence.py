"""The API server's state on disk (--state-dir): a full snapshot plus a journal of changes.

`objects.json` holds every object and the resourceVersion at the time it was written.
`objects.journal` holds, one JSON line per object, the objects written (or deleted) since:
a flush appends only what changed since the previous flush (the last version of each
object, however many times it changed), so saving costs time in proportion to the writes,
not to the size of the store. When the journal grows past four times the snapshot, both
are folded into a new snapshot and the journal starts again (amortized, a write is
serialized about 1.25 times; a restart reads up to five times the snapshot's size). Every
journal line carries the resourceVersion of its flush, so lines a newer snapshot already
contains (a crash between writing the snapshot and emptying the journal) are skipped on
load; a torn last line (a crash while appending) is ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from .. import fastjson
from .store import RKey, Store, WatchEvent

log = structlog.get_logger("kubesandbox.apiserver")

ObjectKey = tuple[RKey, str, str]  # (resource, namespace, name)
# The journal is folded into a new snapshot when it grows past this many snapshots.
JOURNAL_FACTOR = 4


class StateFiles:
    def __init__(self, store: Store, directory: Path, *, min_compact_bytes: int = 4 << 20) -> None:
        self.store = store
        self.directory = directory
        self.min_compact_bytes = min_compact_bytes
        self.snapshot_bytes = 0
        self.journal_bytes = 0
        self.compactions = 0
        self._changed: dict[ObjectKey, None] = {}
        store.listeners.append(self._note)

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "objects.json"

    @property
    def journal_path(self) -> Path:
        return self.directory / "objects.journal"

    # ------------------------------------------------------------ load
    def load(self) -> int:
        """Restore the store from the files; returns the number of objects restored."""
        base_rv = 0
        if self.snapshot_path.exists():
            raw = self.snapshot_path.read_bytes()
            self.snapshot_bytes = len(raw)
            snap = fastjson.loads(raw)
            self.store.restore(snap)
            base_rv = self.store.rv
        if self.journal_path.exists():
            self._replay(base_rv)
        self._changed.clear()  # what was just read is already on disk
        return sum(self.store.count(k) for k in self.store.data)

    def _replay(self, base_rv: int) -> None:
        data = self.journal_path.read_bytes()
        self.journal_bytes = len(data)
        lines = data.split(b"\n")
        top_rv = self.store.rv
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = fastjson.loads(line)
            except ValueError:
                if number >= len(lines) - 1:
                    log.warning("apiserver.journal_torn_line", line=number)
                    break
                log.error(
                    "apiserver.journal_bad_line",
                    line=number,
                    hint=f"{self.journal_path} is damaged; the objects it held are lost",
                )
                continue
            rv = int(record.get("rv", 0))
            if rv <= base_rv:
                continue  # already in the snapshot
            top_rv = max(top_rv, rv)
            if "put" in record:
                item = record["put"]
                self.store.load_object((item["group"], item["plural"]), item["object"])
            elif "delete" in record:
                item = record["delete"]
                self.store.unload_object(
                    (item["group"], item["plural"]), item["namespace"], item["name"]
                )
        self.store.rv = top_rv
        self.store.compacted_rv = top_rv

    # ------------------------------------------------------------ save
    def _note(self, event: WatchEvent) -> None:
        self._changed[(event.rkey, event.namespace, event.obj["metadata"]["name"])] = None

    @property
    def pending(self) -> int:
        return len(self._changed)

    def flush(self) -> int:
        """Append what changed since the last flush; compact when the journal grew past the
        snapshot. Returns the number of objects written."""
        if not self._changed:
            return 0
        changed, self._changed = self._changed, {}
        rv = self.store.rv
        out = bytearray()
        for rkey, ns, name in changed:
            obj = self.store.get(rkey, ns, name)
            if obj is None:
                record: dict[str, Any] = {
                    "rv": rv,
                    "delete": {"group": rkey[0], "plural": rkey[1], "namespace": ns, "name": name},
                }
            else:
                record = {"rv": rv, "put": {"group": rkey[0], "plural": rkey[1], "object": obj}}
            out += fastjson.dumps(record, default=str)
            out += b"\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with self.journal_path.open("ab") as fh:
                fh.write(out)
        except OSError:
            for key in changed:  # not on disk: try again with the next flush
                self._changed.setdefault(key, None)
            raise
        self.journal_bytes += len(out)
        if self.journal_bytes > max(self.min_compact_bytes, JOURNAL_FACTOR * self.snapshot_bytes):
            self.compact()
        return len(changed)

    def compact(self) -> None:
        """Write a full snapshot and empty the journal."""
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = fastjson.dumps(self.store.snapshot(), default=str)
        tmp = self.snapshot_path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.replace(self.snapshot_path)
        # Lines left behind by a crash right here are older than the snapshot: skipped.
        self.journal_path.write_bytes(b"")
        self.snapshot_bytes = len(raw)
        self.journal_bytes = 0
        self.compactions += 1

    def close(self) -> None:
        """Flush and fold everything into the snapshot (a clean stop loads fastest)."""
        self.flush()
        if self.journal_bytes or not self.snapshot_path.exists():
            self.compact()
