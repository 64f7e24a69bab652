"""A memo of decoded managedFields entries.

Every write decodes the managedFields of the object it replaces to learn who owns what.
Stored objects are never changed in place and an entry whose fields did not change is
carried over to the next version as the same dict, so the decoded field set of a
`fieldsV1` dict can be remembered by the dict's identity: each entry is decoded (or
encoded) once in its life instead of on every write to its object.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from .patching import FieldPath, decode_fields, encode_fields_and_set

FieldSet = Set[FieldPath]


class FieldsMemo:
    """fieldsV1 dict (by identity) -> its frozen field set, bounded in size.

    The memo keeps a reference to each dict it knows, so an id is never reused while its
    entry is alive; when full it starts afresh (the next writes decode again)."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._known: dict[int, tuple[dict[str, Any], frozenset[FieldPath]]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        self._known.clear()

    def decode(self, fields: dict[str, Any]) -> frozenset[FieldPath]:
        if not fields:
            return frozenset()
        hit = self._known.get(id(fields))
        if hit is not None and hit[0] is fields:
            self.hits += 1
            return hit[1]
        self.misses += 1
        paths = frozenset(decode_fields(fields))
        self._remember(fields, paths)
        return paths

    def encode(self, paths: FieldSet) -> dict[str, Any]:
        fields, decoded = encode_fields_and_set(paths)
        self._remember(fields, decoded)
        return fields

    def _remember(self, fields: dict[str, Any], paths: frozenset[FieldPath]) -> None:
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[id(fields)] = (fields, paths)


MEMO = FieldsMemo()
