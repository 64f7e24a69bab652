"""Guess matching: normalization and "close" detection (pure functions)."""

from __future__ import annotations

import unicodedata

_STRIP = str.maketrans("", "", " \t-_")

# Letters NFKD does not decompose into a base letter plus marks.
_SPECIAL = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)


# Cyrillic and Greek letters (after case folding) that render like a Latin letter in
# common fonts. Uppercase look-alikes are covered as well, since folding lowers them
# first (Greek "Η" becomes "η", shown as "H").
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "н": "h",
        "і": "i", "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "о": "o", "р": "p",
        "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "у": "y", "ү": "y", "х": "x", "ԝ": "w",
        "ѡ": "w", "ь": "b", "з": "3",
        # Greek
        "α": "a", "β": "b", "ϲ": "c", "ε": "e", "η": "h", "ι": "i", "κ": "k", "μ": "m",
        "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ζ": "z", "ω": "w",
        # Latin letters that stand in for others
        "ɡ": "g", "ı": "i", "ȷ": "j", "ℓ": "l", "ſ": "s",
    }
)  # fmt: skip


def _drop_format(text: str) -> str:
    """Without Unicode format characters (zero-width spaces and joiners, bidi marks)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalize(text: str) -> str:
    """Fold case, drop accents/diacritics, invisible characters, spaces, hyphens and
    underscores."""
    decomposed = unicodedata.normalize("NFKD", _drop_format(text).casefold())
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return base.translate(_SPECIAL).translate(_STRIP)


def skeleton(text: str) -> str:
    """What `text` looks like, reduced to Latin letters and digits: NFKC folding (full
    width and mathematical letters), look-alike Cyrillic and Greek letters, accents and
    every character that is not a letter or digit (zero-width characters, dots between
    letters) removed. Used where a look-alike must count as the real thing."""
    # Look-alikes are mapped before and after case folding: some fold to another
    # letter (lunate sigma "ϲ" folds to "σ"), some only match once lowered.
    shown = _drop_format(text).translate(_LOOKALIKES)
    composed = unicodedata.normalize("NFKC", shown).translate(_LOOKALIKES)
    decomposed = unicodedata.normalize("NFKD", composed.casefold().translate(_LOOKALIKES))
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in base.translate(_SPECIAL).translate(_LOOKALIKES) if ch.isalnum())


def reveals(text: str, word: str) -> bool:
    """Whether `text` shows the word to someone reading it: the word (or a near miss)
    spelled with look-alike or hidden characters, or the word inside a longer message."""
    if is_match(text, word) or is_close(text, word):
        return True
    seen, secret = skeleton(text), skeleton(word)
    if len(secret) < 3 or not seen:
        return False
    return secret in seen or edit_distance_at_most_one(seen, secret)


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


def name_key(name: str) -> str:
    """The key two names must not share: case, compatibility forms, invisible characters
    and look-alike letters folded ("Аnn" in Cyrillic, "A\u200dnn" and "ANN" are "ann")."""
    shown = unicodedata.normalize("NFKC", _drop_format(name).translate(_LOOKALIKES))
    return shown.casefold().translate(_LOOKALIKES)
