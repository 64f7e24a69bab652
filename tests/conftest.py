"""Suite-wide: the long opt-in runs stay out of the normal run."""

from __future__ import annotations

import pytest

# Markers of runs that take minutes (deep fuzzing, the crash-safety sweep): collected only
# when `-m` names them (`pytest -m fuzz`, `pytest -m crash`), so the normal run keeps its
# size whatever else `-m` selects.
OPT_IN = ("fuzz", "crash")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = config.option.markexpr or ""
    left_out = [
        item
        for item in items
        if any(item.get_closest_marker(m) is not None and m not in asked for m in OPT_IN)
    ]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
