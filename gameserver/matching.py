"""Guess matching: normalization and "close" detection (pure functions)."""

from __future__ import annotations

import unicodedata

_STRIP = str.maketrans("", "", " \t-_")

# Letters NFKD does not decompose into a base letter plus marks.
_SPECIAL = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)


def normalize(text: str) -> str:
    """Fold case, drop accents/diacritics, spaces, hyphens and underscores."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return base.translate(_SPECIAL).translate(_STRIP)


def is_match(guess: str, word: str) -> bool:
    return bool(guess.strip()) and normalize(guess) == normalize(word)


def edit_distance_at_most_one(a: str, b: str) -> bool:
    """True if `a` and `b` differ by one insertion, deletion, substitution or adjacent swap."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    # b is one longer: find the first difference and skip one character of b there.
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def is_close(guess: str, word: str) -> bool:
    """A wrong guess one edit (or one adjacent swap) away from the word."""
    g, w = normalize(guess), normalize(word)
    if not g or g == w or len(w) < 3:
        return False
    return edit_distance_at_most_one(g, w)
