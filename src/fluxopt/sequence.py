"""Apportionment sequencing: the order of passage (*ordre de passage*) of designations.

Once a plan says how many of the next vacancies go to each convention, the order matters too: each
prefix of the stream should be an apportionment close to the shares, so that a réservataire is never far
behind or ahead during the year. In the literature's words this is the product rate variation problem
(just-in-time sequencing, the "chairman assignment" problem).

- `order_of_passage` is exact for the bottleneck objective: it minimises the maximum running deviation
  ``max_{k,t} |x_k(t) − t·p_k|`` with the Steiner–Yeomans due-date test and a binary search. The optimum
  is a multiple of 1/D (D slots) and never exceeds 1 − 1/D.
- `sequence_from_shares` is the Balinski–Young quota method: house monotone and within quota at every
  prefix (running deviation < 1), for shares that need not give whole counts.
- `divisor_sequence` and `largest_deficit_sequence` are the classic rules kept as baselines (bench).

All ties are broken by the sorted key order, so the same counts always give the same sequence.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import numpy as np

__all__ = [
    "divisor_sequence",
    "largest_deficit_sequence",
    "max_running_deviation",
    "minimal_max_deviation",
    "order_of_passage",
    "sequence_from_shares",
]


def _positive_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Keys with a positive count, in sorted key order (the deterministic tie-break)."""
    items: list[tuple[str, int]] = []
    for key in sorted(counts):
        value = counts[key]
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"nombre entier attendu pour {key!r}, reçu {value!r}")
        if value < 0:
            raise ValueError(f"nombre négatif pour {key!r} : {value}")
        if value > 0:
            items.append((key, int(value)))
    return items


def _edf(items: Sequence[tuple[str, int]], total: int, m: int) -> list[int] | None:
    """Earliest-due-date schedule meeting bound B = m/D, or None when B is infeasible.

    With shares r_k = d_k/D, the j-th copy of k (1-based) must sit in slot s with
    ``j − s·r_k ≤ B`` and ``(s−1)·r_k − (j−1) ≤ B``, i.e. in the window
    ``[ceil((jD − m)/d_k), floor(((j−1)D + m)/d_k) + 1]`` (Steiner & Yeomans 1993). Unit jobs with
    release dates and deadlines: EDF finds a schedule iff one exists. Copies of one key have
    non-decreasing windows, so only the next copy of each key needs to wait in the heap.
    Integer arithmetic only: no rounding error.
    """
    d = [count for _, count in items]
    taken = [0] * len(items)  # copies of k already placed

    def release(k: int) -> int:
        j = taken[k] + 1
        return max(1, -((m - j * total) // d[k]))  # ceil((jD - m) / d_k)

    def deadline(k: int) -> int:
        j = taken[k] + 1
        return min(total, ((j - 1) * total + m) // d[k] + 1)

    waiting: list[tuple[int, int]] = [(release(k), k) for k in range(len(items))]
    heapq.heapify(waiting)
    ready: list[tuple[int, int]] = []  # (deadline, key index): ties go to the first key in sorted order
    order: list[int] = []
    for slot in range(1, total + 1):
        while waiting and waiting[0][0] <= slot:
            _, k = heapq.heappop(waiting)
            heapq.heappush(ready, (deadline(k), k))
        if not ready:
            return None  # a slot nobody may take: D copies cannot fit in the D − 1 other slots
        due, k = heapq.heappop(ready)
        if due < slot:
            return None
        order.append(k)
        taken[k] += 1
        if taken[k] < d[k]:
            heapq.heappush(waiting, (release(k), k))
    return order


def minimal_max_deviation(counts: Mapping[str, int]) -> Fraction:
    """The smallest achievable maximum running deviation for these counts, exactly (a multiple of 1/D)."""
    items = _positive_counts(counts)
    total = sum(c for _, c in items)
    if total == 0:
        return Fraction(0)
    return Fraction(_best_bound(items, total), total)


def _best_bound(items: Sequence[tuple[str, int]], total: int) -> int:
    """Smallest m with an EDF schedule at B = m/D; m = D − 1 always works (Steiner–Yeomans)."""
    lo, hi = 0, max(total - 1, 0)
    while lo < hi:
        mid = (lo + hi) // 2
        if _edf(items, total, mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    return lo


def order_of_passage(counts: Mapping[str, int]) -> list[str]:
    """Order the ``sum(counts)`` next designations so that every prefix stays closest to the shares.

    Each key appears ``counts[key]`` times; the maximum running deviation ``|x_k(t) − t·p_k|`` with
    ``p_k = counts[k] / total`` is minimal (exact), hence below 1 − 1/D. Keys with a zero count are
    left out. Ties are broken by sorted key order.
    """
    items = _positive_counts(counts)
    total = sum(c for _, c in items)
    if total == 0:
        return []
    schedule = _edf(items, total, _best_bound(items, total))
    if schedule is None:  # pragma: no cover - m = D - 1 is always feasible (Steiner–Yeomans)
        raise AssertionError("ordre de passage introuvable")
    return [items[k][0] for k in schedule]


def _normalised(shares: Mapping[str, float]) -> list[tuple[str, float]]:
    items = []
    for key in sorted(shares):
        value = float(shares[key])
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"part invalide pour {key!r} : {shares[key]!r}")
        items.append((key, value))
    total = sum(v for _, v in items)
    if total <= 0:
        raise ValueError("la somme des parts doit être positive")
    return [(k, v / total) for k, v in items]


def sequence_from_shares(shares: Mapping[str, float], n: int) -> list[str]:
    """Balinski–Young quota method: ``n`` slots, every prefix within quota (running deviation < 1).

    At house size h + 1 the seat goes, among the keys that stay within their upper quota
    (``x_k < p_k·(h+1)``), to the one with the largest Jefferson priority ``p_k / (x_k + 1)``; ties to
    the first key in sorted order. Shares are normalised; keys with a zero share never appear.
    """
    if n < 0:
        raise ValueError("n doit être positif ou nul")
    items = _normalised(shares)
    x = [0] * len(items)
    out: list[str] = []
    eps = 1e-12
    for h in range(n):
        best = -1
        best_priority = -1.0
        for k, (_, p) in enumerate(items):
            if p <= 0 or x[k] >= p * (h + 1) - eps:
                continue
            priority = p / (x[k] + 1)
            if priority > best_priority + eps:
                best, best_priority = k, priority
        if best < 0:  # rounding of p·(h+1) at an integer boundary: fall back to the largest deficit
            best = max(range(len(items)), key=lambda k: (items[k][1] * (h + 1) - x[k], -k))
        x[best] += 1
        out.append(items[best][0])
    return out


def divisor_sequence(shares: Mapping[str, float], n: int, delta: float) -> list[str]:
    """House-monotone divisor method: the next slot to max ``p_k / (x_k + delta)``.

    ``delta = 1`` is Jefferson (D'Hondt), ``delta = 0.5`` Webster (Sainte-Laguë). Baselines only:
    neither keeps every prefix within quota.
    """
    items = _normalised(shares)
    x = [0] * len(items)
    out: list[str] = []
    for _ in range(n):
        best = max(
            (k for k in range(len(items)) if items[k][1] > 0),
            key=lambda k: (items[k][1] / (x[k] + delta), -k),
        )
        x[best] += 1
        out.append(items[best][0])
    return out


def largest_deficit_sequence(shares: Mapping[str, float], n: int) -> list[str]:
    """ "Most behind first": the next slot to the key furthest below ``(t+1)·p_k`` (today's practice)."""
    items = _normalised(shares)
    x = [0] * len(items)
    out: list[str] = []
    for t in range(1, n + 1):
        best = max(range(len(items)), key=lambda k: (items[k][1] * t - x[k], -k))
        x[best] += 1
        out.append(items[best][0])
    return out


def max_running_deviation(seq: Iterable[str], shares: Mapping[str, float]) -> float:
    """``max_{k,t} |x_k(t) − t·p_k|`` over every prefix, shares normalised.

    A key of the sequence that has no share counts with share 0 (every occurrence is a deviation).
    """
    items = _normalised(shares)
    keys = [k for k, _ in items]
    position = {k: i for i, k in enumerate(keys)}
    codes = []
    for key in seq:
        if key not in position:
            position[key] = len(keys)
            keys.append(key)
        codes.append(position[key])
    if not codes:
        return 0.0
    p = np.zeros(len(keys))
    p[: len(items)] = [v for _, v in items]
    onehot = np.zeros((len(codes), len(keys)))
    onehot[np.arange(len(codes)), codes] = 1.0
    running = np.cumsum(onehot, axis=0)
    t = np.arange(1, len(codes) + 1, dtype=float)[:, None]
    return float(np.abs(running - t * p).max())
