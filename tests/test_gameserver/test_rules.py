"""Pure rules: guess matching, scoring, hints, vote-kick thresholds, rate limits."""

from __future__ import annotations

import random

import pytest

from gameserver import rules
from gameserver.matching import is_close, is_match, normalize
from gameserver.ratelimit import AbuseDetector, TokenBucket
from gameserver.words import builtin_words, pick_choices, word_pool


@pytest.mark.parametrize(
    ("guess", "word"),
    [
        ("Apple", "apple"),
        ("  apple ", "apple"),
        ("ICE CREAM", "ice cream"),
        ("icecream", "ice cream"),
        ("ice-cream", "ice cream"),
        ("ice_cream", "ice cream"),
        ("yoyo", "yo-yo"),
        ("creme brulee", "crème brûlée"),
        ("Ångström", "angstrom"),
        ("naïve", "NAIVE"),
    ],
)
def test_matching_ignores_case_accents_spaces_hyphens_underscores(guess: str, word: str) -> None:
    assert is_match(guess, word)


@pytest.mark.parametrize(
    ("guess", "word"),
    [
        ("aple", "apple"),
        ("applle", "apple"),
        ("appel", "apple"),
        ("applf", "apple"),
        ("paple", "apple"),
        ("ice craem", "ice cream"),
    ],
)
def test_one_edit_or_adjacent_swap_is_close(guess: str, word: str) -> None:
    assert not is_match(guess, word)
    assert is_close(guess, word)


@pytest.mark.parametrize(
    ("guess", "word"),
    [
        ("apple", "apple"),
        ("pear", "apple"),
        ("aplpe x", "apple"),
        ("ale", "apple"),
        ("elppa", "apple"),
        ("", "apple"),
    ],
)
def test_far_guesses_and_exact_matches_are_not_close(guess: str, word: str) -> None:
    assert not is_close(guess, word)


def test_normalize_strips_only_separators_and_marks() -> None:
    assert normalize(" Hot-Dog_ ") == "hotdog"
    assert normalize("Straße") == "strasse"


def test_faster_guesses_earn_more_and_drawer_gets_the_mean() -> None:
    early = rules.guess_points(1, 80)
    late = rules.guess_points(70, 80)
    assert early > late >= rules.GUESS_BASE_POINTS
    assert rules.guess_points(200, 80) == rules.GUESS_BASE_POINTS
    assert rules.drawer_points([300, 100]) == 200
    assert rules.drawer_points([]) == 0


@pytest.mark.parametrize(("players", "needed"), [(2, 2), (3, 2), (4, 2), (5, 3), (8, 4), (9, 5)])
def test_vote_kick_needs_half_and_at_least_two(players: int, needed: int) -> None:
    assert rules.kick_votes_needed(players) == needed


def test_longer_words_get_more_hints_and_mask_hides_letters() -> None:
    assert rules.hint_count("cat", 3) == 1
    assert rules.hint_count("ox", 3) == 0
    assert rules.hint_count("helicopter", 3) == 3
    assert rules.hint_count("helicopter", 1) == 1
    assert rules.mask("ice cream") == "_ _ _   _ _ _ _ _"
    assert rules.mask("yo-yo", [0]) == "y _ - _ _"
    assert rules.word_lengths("ice cream") == [3, 5]
    times = rules.hint_schedule(100.0, 80, 3)
    assert times == [120.0, 140.0, 160.0]


def test_ranking_shares_places_on_ties() -> None:
    ranked = rules.ranking([("a", "Ann", 10), ("b", "Bo", 30), ("c", "Cy", 10)])
    assert [(r["name"], r["place"]) for r in ranked] == [("Bo", 1), ("Ann", 2), ("Cy", 2)]


def test_builtin_word_list_is_big_and_custom_only_uses_custom_words() -> None:
    words = builtin_words("en")
    assert len(words) >= 300
    assert len({w.casefold() for w in words}) == len(words)
    assert all(1 <= len(w) <= 32 for w in words)
    assert word_pool("en", ("Kubernetes",), True) == ["Kubernetes"]
    pool = word_pool("en", ("Kubernetes",), False)
    assert "Kubernetes" in pool and len(pool) == len(words) + 1
    # custom-only without custom words falls back to the built-in list
    assert len(word_pool("en", (), True)) == len(words)
    choices = pick_choices(pool, 3, random.Random(1), avoid={"kubernetes"})
    assert len(set(choices)) == 3 and "Kubernetes" not in choices


def test_token_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=5 / 3, burst=5)
    assert all(bucket.take(100.0) for _ in range(5))
    assert not bucket.take(100.0)
    assert bucket.take(100.61)  # 0.6 s refills one token
    assert not bucket.take(100.7)


def test_abuse_detector_needs_sustained_excess() -> None:
    detector = AbuseDetector(rate=2, factor=3, seconds=3)
    flagged = False
    # 7 per second (> 3 x 2) for three consecutive seconds
    for second in range(3):
        for i in range(7):
            flagged = detector.record(1000 + second + i / 10)
    assert flagged
    calm = AbuseDetector(rate=2, factor=3, seconds=3)
    results = []
    for second in range(6):  # bursts every other second never add up
        count = 7 if second % 2 == 0 else 1
        results += [calm.record(2000 + second + i / 10) for i in range(count)]
    assert not any(results)
