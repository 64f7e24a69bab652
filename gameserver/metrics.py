"""Prometheus metrics and in-process performance figures for /api/health."""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RateCounter:
    """Events per second over a sliding window of whole seconds."""

    def __init__(self, window: int = 10) -> None:
        self.window = window
        self.buckets: deque[tuple[int, int]] = deque()
        self.total = 0

    def add(self, n: int = 1, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        self.total += n
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1] = (second, self.buckets[-1][1] + n)
        else:
            self.buckets.append((second, n))
            while self.buckets and self.buckets[0][0] <= second - self.window:
                self.buckets.popleft()

    def per_second(self, now: float | None = None) -> float:
        second = int(time.monotonic() if now is None else now)
        # Count only complete seconds so a fresh burst is not overstated.
        total = sum(n for s, n in self.buckets if second - self.window <= s < second)
        return total / self.window


class LatencyWindow:
    """The last N samples (seconds) for percentiles."""

    def __init__(self, size: int = 2048) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]


class Metrics:
    """One registry per server (several servers can live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("gameroom_connections", "Open WebSocket connections", registry=r)
        self.players = Gauge("gameroom_players", "Seated players", registry=r)
        self.spectators = Gauge("gameroom_spectators", "Spectators", registry=r)
        self.messages_in = Counter(
            "gameroom_messages_received", "Client messages received", ["type"], registry=r
        )
        self.messages_out = Counter(
            "gameroom_messages_sent", "Messages delivered to sockets", registry=r
        )
        self.errors = Counter("gameroom_protocol_errors", "Error frames sent", ["code"], registry=r)
        self.closes = Counter(
            "gameroom_connections_closed",
            "Connections closed by the server",
            ["code"],
            registry=r,
        )
        self.slow_clients = Counter(
            "gameroom_slow_clients_dropped", "Clients dropped for a full send buffer", registry=r
        )
        self.broadcast_seconds = Histogram(
            "gameroom_broadcast_seconds",
            "Time to hand one broadcast to every socket",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        self.loop_lag = Gauge("gameroom_event_loop_lag_seconds", "Event-loop lag", registry=r)
        self.db_latency = Gauge(
            "gameroom_database_probe_seconds", "Latency of the last database probe", registry=r
        )
        self.games = Counter("gameroom_games_started", "Games started", registry=r)
        self.guesses = Counter("gameroom_correct_guesses", "Correct guesses", registry=r)
        self.maintenance = Gauge("gameroom_maintenance", "1 in maintenance mode", registry=r)
        self.rate_in = RateCounter()
        self.rate_out = RateCounter()
        self.broadcast_latency = LatencyWindow()
        self.slow_dropped = 0
