"""Word lists: the built-in English list plus the room's custom words."""

from __future__ import annotations

import random
from functools import lru_cache
from importlib.resources import files

BUILTIN_LANGUAGES = ("en",)


@lru_cache(maxsize=4)
def builtin_words(language: str = "en") -> tuple[str, ...]:
    """The built-in list for `language` (only English ships; others fall back to it)."""
    name = f"words_{language}.txt" if language in BUILTIN_LANGUAGES else "words_en.txt"
    text = files("gameserver").joinpath(name).read_text(encoding="utf-8")
    words = []
    for line in text.splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.append(word)
    return tuple(words)


def word_pool(language: str, custom_words: tuple[str, ...], custom_only: bool) -> list[str]:
    """The words a turn may offer. Custom-only with no custom words falls back to built-ins."""
    if custom_only and custom_words:
        return list(custom_words)
    seen = {w.casefold() for w in custom_words}
    return list(custom_words) + [w for w in builtin_words(language) if w.casefold() not in seen]


def pick_choices(
    pool: list[str], count: int, rng: random.Random, avoid: set[str] | None = None
) -> list[str]:
    """`count` distinct words, preferring ones not used yet in this game."""
    avoid = avoid or set()
    fresh = [w for w in pool if w.casefold() not in avoid]
    source = fresh if len(fresh) >= count else pool
    return rng.sample(source, min(count, len(source)))
