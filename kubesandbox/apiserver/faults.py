"""Injected API faults, to test clients under the failures a real control plane has.

Off by default. When a plan's `rate` is above 0, each eligible HTTP request (not the
sandbox's own controllers, which call the core in-process, and not /sandbox/*) draws a
fault with that probability from the plan's kinds:

- `error`: 500 InternalError, nothing done;
- `conflict`: 409 Conflict on a write (POST, PUT, PATCH, DELETE), nothing done; reads
  draw again among the other kinds;
- `throttle`: 429 TooManyRequests with `Retry-After`, nothing done;
- `slow`: the request waits `slowSeconds`, then is served;
- `gone`: a watch answers a single ERROR event, 410 Expired, and ends (the client must
  list again); other requests draw again;
- `reset`: a watch is served, then its connection is cut after up to `resetAfterSeconds`;
  other requests draw again.

`watchRate`, when set, is the rate for watch requests instead (a client opens few watches
and keeps them long: at 5 % most runs would see no watch fail). `namespaces` and
`userAgents` (substrings) narrow the eligible requests (empty: all).
`seed` makes the draws repeatable. Every injected fault is marked in the request log
(`fault`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = ("error", "conflict", "throttle", "slow", "gone", "reset")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WATCH_ONLY = frozenset({"gone", "reset"})


@dataclass
class FaultPlan:
    rate: float = 0.0
    watch_rate: float | None = None
    kinds: tuple[str, ...] = KINDS
    seed: int | None = None
    slow_seconds: float = 1.0
    retry_after_seconds: int = 1
    reset_after_seconds: float = 2.0
    namespaces: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - test faults, not secrets

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or bool(self.watch_rate)

    @classmethod
    def from_dict(cls, raw: Any) -> FaultPlan:
        """From the config file's `faults:` mapping or PUT /sandbox/v1/faults; a clear
        ValueError names the bad field."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("faults must be a mapping")
        known = {
            "rate",
            "watchRate",
            "kinds",
            "seed",
            "slowSeconds",
            "retryAfterSeconds",
            "resetAfterSeconds",
            "namespaces",
            "userAgents",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"faults: unknown field(s) {unknown}; known: {sorted(known)}")
        rate = _number(raw, "rate", 0.0)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"faults.rate must be between 0 and 1, not {rate}")
        watch_rate = None if raw.get("watchRate") is None else _number(raw, "watchRate", 0.0)
        if watch_rate is not None and watch_rate > 1.0:
            raise ValueError(f"faults.watchRate must be between 0 and 1, not {watch_rate}")
        kinds = tuple(raw.get("kinds") or KINDS)
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"faults.kinds: unknown kind(s) {bad}; known: {list(KINDS)}")
        seed = raw.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise ValueError("faults.seed must be an integer")
        return cls(
            rate=rate,
            watch_rate=watch_rate,
            kinds=kinds,
            seed=seed,
            slow_seconds=_number(raw, "slowSeconds", 1.0),
            retry_after_seconds=int(_number(raw, "retryAfterSeconds", 1)),
            reset_after_seconds=_number(raw, "resetAfterSeconds", 2.0),
            namespaces=_strings(raw, "namespaces"),
            user_agents=_strings(raw, "userAgents"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "watchRate": self.watch_rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "slowSeconds": self.slow_seconds,
            "retryAfterSeconds": self.retry_after_seconds,
            "resetAfterSeconds": self.reset_after_seconds,
            "namespaces": list(self.namespaces),
            "userAgents": list(self.user_agents),
        }

    def draw(self, method: str, watch: bool, namespace: str, user_agent: str) -> str | None:
        """The fault for one request, or None to serve it as usual."""
        if not self.enabled:
            return None
        if self.namespaces and namespace not in self.namespaces:
            return None
        if self.user_agents and not any(u in user_agent for u in self.user_agents):
            return None
        rate = self.watch_rate if watch and self.watch_rate is not None else self.rate
        if self._rng.random() >= rate:
            return None
        fitting = [k for k in self.kinds if _fits(k, method, watch)]
        return self._rng.choice(fitting) if fitting else None

    def reset_delay(self) -> float:
        return self._rng.uniform(0.1, max(0.1, self.reset_after_seconds))


def _fits(kind: str, method: str, watch: bool) -> bool:
    if watch:
        return kind in _WATCH_ONLY or kind in ("error", "throttle")
    if kind in _WATCH_ONLY:
        return False
    return kind != "conflict" or method in WRITES


def _number(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"faults.{key} must be a number >= 0, not {value!r}")
    return float(value)


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"faults.{key} must be a list of strings")
    return tuple(value)


@dataclass
class KillPoint:
    """SIGKILL a client process right after the API server has done the `nth` write that
    matches (before the client hears the answer): crash tests find a client's kill points
    from the request log and kill it at each (PUT /sandbox/v1/killpoint)."""

    pid: int
    method: str
    resource: str
    subresource: str = ""
    nth: int = 1
    user_agent: str = ""
    seen: int = 0
    fired: bool = False

    @classmethod
    def from_dict(cls, raw: Any) -> KillPoint:
        if not isinstance(raw, dict):
            raise ValueError("killpoint must be a mapping")
        pid, nth = raw.get("pid"), raw.get("nth", 1)
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
            raise ValueError("killpoint.pid must be a process id above 1")
        if not isinstance(nth, int) or isinstance(nth, bool) or nth < 1:
            raise ValueError("killpoint.nth must be an integer >= 1")
        method = raw.get("method")
        if method not in WRITES:
            raise ValueError(f"killpoint.method must be one of {sorted(WRITES)}")
        resource = raw.get("resource")
        if not isinstance(resource, str) or not resource:
            raise ValueError("killpoint.resource must name a resource (deployments, ...)")
        return cls(
            pid=pid,
            method=method,
            resource=resource,
            subresource=str(raw.get("subresource") or ""),
            nth=nth,
            user_agent=str(raw.get("userAgent") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "method": self.method,
            "resource": self.resource,
            "subresource": self.subresource,
            "nth": self.nth,
            "userAgent": self.user_agent,
            "seen": self.seen,
            "fired": self.fired,
        }

    def due(self, method: str, resource: str, subresource: str, user_agent: str) -> bool:
        """Count a successful write; True when it is the one to kill after."""
        if self.fired or method != self.method or resource != self.resource:
            return False
        if subresource != self.subresource or self.user_agent not in user_agent:
            return False
        self.seen += 1
        return self.seen == self.nth
