"""Pure game rules: scoring, hints, vote-kick thresholds, rankings."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

GUESS_BASE_POINTS = 50
GUESS_TIME_BONUS = 250


def guess_points(elapsed: float, draw_time: float) -> int:
    """Points for a correct guess: 300 at once, falling linearly to 50 at the buzzer."""
    if draw_time <= 0:
        return GUESS_BASE_POINTS
    left = max(0.0, min(1.0, 1.0 - elapsed / draw_time))
    return GUESS_BASE_POINTS + round(GUESS_TIME_BONUS * left)


def drawer_points(guesser_points: Iterable[int]) -> int:
    """The drawer earns the mean of the guessers' points (0 when nobody guessed)."""
    points = list(guesser_points)
    return round(sum(points) / len(points)) if points else 0


def kick_votes_needed(connected_players: int) -> int:
    """(n+1)/2 of the connected players, and never fewer than 2."""
    return max(2, (connected_players + 1) // 2)


def letter_positions(word: str) -> list[int]:
    return [i for i, ch in enumerate(word) if ch.isalnum()]


def hint_count(word: str, max_hints: int) -> int:
    """How many letters a turn reveals: short words get fewer, never more than half."""
    letters = len(letter_positions(word))
    return max(0, min(max_hints, (letters - 1) // 2))


def hint_schedule(start: float, draw_time: float, count: int) -> list[float]:
    """Reveal times spread evenly over the turn (none in its first or last slice)."""
    return [start + draw_time * (i + 1) / (count + 1) for i in range(count)]


def mask(word: str, revealed: Iterable[int] = ()) -> str:
    """`"_ _ _ _   _ _"`: letters as `_` unless revealed, words 3 spaces apart."""
    shown = set(revealed)
    words: list[str] = []
    current: list[str] = []
    for i, ch in enumerate(word):
        if ch == " ":
            if current:
                words.append(" ".join(current))
                current = []
            continue
        current.append(ch if (i in shown or not ch.isalnum()) else "_")
    if current:
        words.append(" ".join(current))
    return "   ".join(words)


def word_lengths(word: str) -> list[int]:
    return [len(part) for part in word.split()]


def pick_hint_position(word: str, revealed: set[int], rng: random.Random) -> int | None:
    hidden = [i for i in letter_positions(word) if i not in revealed]
    return rng.choice(hidden) if hidden else None


def ranking(scores: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """[(id, name, score)] -> ranking with shared places for equal scores."""
    ordered = sorted(scores, key=lambda s: (-s[2], s[1].casefold()))
    out: list[dict[str, Any]] = []
    place = 0
    previous: int | None = None
    for index, (pid, name, score) in enumerate(ordered):
        if score != previous:
            place = index + 1
            previous = score
        out.append({"id": pid, "name": name, "score": score, "place": place})
    return out
