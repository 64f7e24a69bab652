"""Per-connection rate limits: token buckets plus a sustained-abuse detector."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """Allows `rate` events per second on average with bursts up to `burst`."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens = self.burst
            self.updated = now
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class AbuseDetector:
    """Flags a sender that attempts more than `factor` x `rate` per second for `seconds` s.

    Counts every attempt (allowed or not) in whole-second windows; `seconds` consecutive
    windows over the threshold mean sustained abuse.
    """

    rate: float
    factor: float = 3.0
    seconds: int = 5
    window: int = -1
    count: int = 0
    over_streak: int = 0

    def record(self, now: float) -> bool:
        """Count one attempt; True once the sender has been abusive long enough."""
        second = int(now)
        if second != self.window:
            threshold = self.rate * self.factor
            if second == self.window + 1 and self.count > threshold:
                self.over_streak += 1
            else:
                self.over_streak = 0
            self.window = second
            self.count = 0
        self.count += 1
        # The current window counts as soon as it crosses the threshold.
        current_over = 1 if self.count > self.rate * self.factor else 0
        return self.over_streak + current_over >= self.seconds


@dataclass(slots=True)
class ConnectionLimits:
    """One sender's buckets and abuse detectors: a socket's until it joins, then its
    member's, so a reconnect resumes them instead of starting with full buckets."""

    chat: TokenBucket
    draw: TokenBucket
    other: TokenBucket
    chat_abuse: AbuseDetector
    draw_abuse: AbuseDetector
    other_abuse: AbuseDetector

    @classmethod
    def create(
        cls,
        chat_rate: float,
        chat_burst: int,
        draw_rate: float,
        draw_burst: int,
        abuse_factor: float = 3.0,
        abuse_seconds: int = 5,
        other_rate: float = 10.0,
        other_burst: int = 20,
    ) -> ConnectionLimits:
        return cls(
            chat=TokenBucket(chat_rate, chat_burst),
            draw=TokenBucket(draw_rate, draw_burst),
            other=TokenBucket(other_rate, other_burst),
            chat_abuse=AbuseDetector(chat_rate, abuse_factor, abuse_seconds),
            draw_abuse=AbuseDetector(draw_rate, abuse_factor, abuse_seconds),
            # Control messages and garbage are judged by the chat abuse factor, as before.
            other_abuse=AbuseDetector(other_rate, abuse_factor, abuse_seconds),
        )
