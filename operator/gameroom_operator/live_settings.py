"""spec.rollout.liveSettings: the settings a running room takes through its admin API
(PUT /admin/settings) instead of a restart, and whether the room reports them.

Pure functions; rollouts.py does the calls. The room confirms by answering with the values
it now uses (rate limits) or will use from the next game (game settings).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any


def digest(wanted: Mapping[str, Any]) -> str:
    """A short stable name for a set of live settings (what the room confirmed)."""
    blob = json.dumps(wanted, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _same(want: Any, have: Any) -> bool:
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(have, numbers):
        if isinstance(want, bool) or isinstance(have, bool):
            return want is have
        return math.isclose(float(want), float(have), rel_tol=1e-9, abs_tol=1e-12)
    return bool(want == have)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"  # custom words are not written into events
    return json.dumps(value)


def differences(wanted: Mapping[str, Any], reported: Any) -> list[str]:
    """Each wanted setting the room does not report, as `game.rounds: 3 -> 5` (`? -> 5`
    when the room did not say); [] when the room reports all of them."""
    found: list[str] = []
    for section, values in wanted.items():
        have = reported.get(section) if isinstance(reported, Mapping) else None
        have = have if isinstance(have, Mapping) else {}
        for key, want in values.items():
            if key in have and _same(want, have[key]):
                continue
            before = _shown(have[key]) if key in have else "?"
            found.append(f"{section}.{key}: {before} -> {_shown(want)}")
    return found
