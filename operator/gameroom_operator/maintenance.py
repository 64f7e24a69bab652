"""The maintenance concern: whether the room must be told to switch maintenance mode.

Maintenance is switched through the room's admin API, without a restart; the controller
reads the result back, and only a confirmed switch gets its event (see Controller).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .status import Probe


def maintenance_differs(wanted: Mapping[str, Any], probe: Probe | None) -> bool:
    """True when the room reports a maintenance mode (or message) other than the spec's."""
    if probe is None or not probe.reachable:
        return False
    on = bool(wanted.get("enabled"))
    return probe.maintenance_enabled != on or (
        on and probe.maintenance_message != str(wanted.get("message") or "")
    )
