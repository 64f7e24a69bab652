"""The GameRoom spec defaults, mirrored from crds/gameroom.yaml (a unit test keeps them equal).

The API server applies the CRD's defaults already; the renderer applies these as well so it
gives the same result for a spec that never went through an API server (unit tests, dry runs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

SPEC_DEFAULTS: dict[str, Any] = {
    "imagePullPolicy": "IfNotPresent",
    "game": {
        "maxPlayers": 12,
        "rounds": 3,
        "drawTimeSeconds": 80,
        "wordChoices": 3,
        "hints": 3,
        "language": "en",
        "customWordsOnly": False,
    },
    "rateLimits": {
        "chatPerSecond": 1.6667,
        "chatBurst": 5,
        "drawPerSecond": 60,
        "drawBurst": 120,
        "maxMessageBytes": 16384,
    },
    "maintenance": {"enabled": False, "message": ""},
    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    "storage": {"size": "1Gi"},
    "podTemplate": {},
    "expose": {"type": "ClusterIP", "port": 80},
    "health": {
        "periodSeconds": 15,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
        "restartUnhealthy": True,
        "maxRestartsPerHour": 3,
    },
    "rollout": {
        "strategy": "WaitForIdle",
        "maxWaitSeconds": 1800,
        "autoRollback": True,
        "healthWindowSeconds": 120,
        "progressDeadlineSeconds": 300,
        "revisionHistoryLimit": 10,
        "liveSettings": True,
    },
    "backup": {
        "enabled": False,
        "schedule": "0 */6 * * *",
        "suspend": False,
        "retention": {"count": 7, "maxAgeDays": 0},
        "onDelete": "Backup",
        "finalBackupTimeoutSeconds": 120,
        "destination": {"type": "pvc"},
        "verify": True,
        "storage": {"size": "1Gi"},
    },
}


# Fields whose default applies only as a whole, like the CRD's `default:` on an object that has
# no defaults of its own inside (the API server never merges into a given `resources`).
ATOMIC_DEFAULTS = frozenset({"resources"})


def _merge(defaults: Any, given: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(given, dict):
        merged = {key: copy.deepcopy(value) for key, value in defaults.items()}
        for key, value in given.items():
            if key in defaults and key not in ATOMIC_DEFAULTS:
                merged[key] = _merge(defaults[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(given)


def live_settings_on(spec: Mapping[str, Any]) -> bool:
    """spec.rollout.liveSettings (default true): game settings and rate limits reach the
    running room through its admin API and are no part of a revision."""
    rollout = spec.get("rollout") or {}
    return bool(rollout.get("liveSettings", SPEC_DEFAULTS["rollout"]["liveSettings"]))


def effective_spec(spec: dict[str, Any] | None) -> dict[str, Any]:
    """The spec with every default filled in; values given in `spec` win."""
    merged = _merge(SPEC_DEFAULTS, dict(spec or {}))
    assert isinstance(merged, dict)
    return merged
