"""Order of passage (ordre de passage): exactness, quota bounds, determinism."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluxopt.sequence import (
    divisor_sequence,
    largest_deficit_sequence,
    max_running_deviation,
    minimal_max_deviation,
    order_of_passage,
    sequence_from_shares,
)

keys = st.sampled_from(["ETAT", "AL", "COMMUNE", "DEPT", "BAILLEUR", "REGION", "EMP"])
counts_strategy = st.dictionaries(keys, st.integers(min_value=0, max_value=60), min_size=1, max_size=7)
shares_strategy = st.dictionaries(
    keys, st.floats(min_value=0.01, max_value=100, allow_nan=False), min_size=1, max_size=7
)


def brute_force_deviation(seq: list[str], counts: dict[str, int]) -> Fraction:
    """Independent exact recomputation with fractions, prefix by prefix."""
    total = sum(counts.values())
    seen: Counter[str] = Counter()
    worst = Fraction(0)
    for t, key in enumerate(seq, start=1):
        seen[key] += 1
        for k, c in counts.items():
            worst = max(worst, abs(seen[k] - Fraction(t * c, total)))
    return worst


@settings(max_examples=200, deadline=None)
@given(counts_strategy)
def test_order_of_passage_respects_counts(counts: dict[str, int]) -> None:
    seq = order_of_passage(counts)
    assert Counter(seq) == Counter({k: c for k, c in counts.items() if c > 0})


@settings(max_examples=200, deadline=None)
@given(counts_strategy)
def test_order_of_passage_bound_below_one_minus_one_over_d(counts: dict[str, int]) -> None:
    """Steiner–Yeomans: the optimum never exceeds 1 − 1/D, and our sequence reaches the optimum."""
    total = sum(counts.values())
    seq = order_of_passage(counts)
    if total == 0:
        assert seq == []
        return
    dev = brute_force_deviation(seq, counts)
    assert dev == minimal_max_deviation(counts)
    assert dev <= 1 - Fraction(1, total) or total == 1
    assert dev < 1
    assert max_running_deviation(seq, counts) == pytest.approx(float(dev), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(counts_strategy)
def test_order_of_passage_is_deterministic_and_independent_of_key_insertion_order(
    counts: dict[str, int],
) -> None:
    reverse = dict(reversed(list(counts.items())))
    assert order_of_passage(counts) == order_of_passage(dict(counts)) == order_of_passage(reverse)


@pytest.mark.parametrize(
    "counts",
    [
        {"A": 3, "B": 2, "C": 1},
        {"A": 1, "B": 1, "C": 1, "D": 4},
        {"A": 5, "B": 2},
        {"A": 2, "B": 2, "C": 3},
        {"A": 1, "B": 6},
    ],
)
def test_order_of_passage_is_optimal_against_exhaustive_search(counts: dict[str, int]) -> None:
    """Exactness checked by enumerating every distinct arrangement of small multisets."""
    pool = [k for k, c in counts.items() for _ in range(c)]
    best = min(brute_force_deviation(list(p), counts) for p in set(itertools.permutations(pool)))
    assert brute_force_deviation(order_of_passage(counts), counts) == best


def test_order_of_passage_worked_example() -> None:
    """Shares 1/2, 1/3, 1/6 over 6 slots: the optimum is 1/2 and the largest key leads (tie-break)."""
    counts = {"AL": 2, "ETAT": 3, "VILLE": 1}
    seq = order_of_passage(counts)
    assert minimal_max_deviation(counts) == Fraction(1, 2)
    assert seq[0] == "ETAT"
    assert brute_force_deviation(seq, counts) == Fraction(1, 2)


def test_order_of_passage_edge_cases() -> None:
    assert order_of_passage({}) == []
    assert order_of_passage({"A": 0}) == []
    assert order_of_passage({"A": 3}) == ["A", "A", "A"]
    with pytest.raises(ValueError):
        order_of_passage({"A": -1})
    with pytest.raises(ValueError):
        order_of_passage({"A": 1.5})  # type: ignore[dict-item]


def test_order_of_passage_realistic_year_is_fast_and_within_bound() -> None:
    """1,200 vacancies over 11 conventions: exact optimum, well under a second."""
    counts = dict(zip("ABCDEFGHIJK", [360, 240, 180, 120, 84, 60, 48, 36, 30, 24, 18], strict=True))
    seq = order_of_passage(counts)
    assert len(seq) == 1200
    assert max_running_deviation(seq, counts) < 1 - 1 / 1200 + 1e-12


@settings(max_examples=200, deadline=None)
@given(shares_strategy, st.integers(min_value=0, max_value=200))
def test_quota_method_stays_within_quota_at_every_prefix(shares: dict[str, float], n: int) -> None:
    """Balinski–Young quota method: every prefix deviates by less than one dwelling."""
    seq = sequence_from_shares(shares, n)
    assert len(seq) == n
    assert max_running_deviation(seq, shares) < 1
    # house monotone by construction: the n-prefix of a longer run is the n-run
    assert sequence_from_shares(shares, n + 5)[:n] == seq


def test_quota_method_is_deterministic_and_ignores_zero_shares() -> None:
    shares = {"B": 20.0, "A": 20.0, "Z": 0.0}
    assert sequence_from_shares(shares, 4) == ["A", "B", "A", "B"]
    with pytest.raises(ValueError):
        sequence_from_shares({"A": 0.0}, 3)


def test_divisor_methods_can_break_quota_where_the_quota_method_does_not() -> None:
    """The textbook case: Jefferson overshoots a large state's upper quota; the quota method never does."""
    shares = {"A": 5117.0, "B": 4400.0, "C": 162.0, "D": 161.0, "E": 160.0}
    jefferson = divisor_sequence(shares, 100, 1.0)
    assert Counter(jefferson)["A"] == 52  # quota 51.17: above the upper quota
    assert max_running_deviation(jefferson, shares) > 0.8
    assert max_running_deviation(sequence_from_shares(shares, 100), shares) < 1


def test_largest_deficit_follows_the_most_behind_key() -> None:
    seq = largest_deficit_sequence({"A": 3.0, "B": 1.0}, 4)
    assert seq == ["A", "A", "B", "A"]


def test_max_running_deviation_counts_unknown_keys_as_zero_share() -> None:
    assert max_running_deviation(["X"], {"A": 1.0}) == pytest.approx(1.0)
    assert max_running_deviation([], {"A": 1.0}) == 0.0
    assert max_running_deviation(["A", "B"], {"A": 1.0, "B": 1.0}) == pytest.approx(0.5)
