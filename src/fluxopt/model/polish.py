"""Local search that improves pacing without giving back anything on the levels above it.

The annual levels are solved on blocks (segment cell × eligibility), blind to months; the month split
then inherits each convention's blocks and their vacancy months, which limits pacing. This polish works
on the unit level (cell × month): it swaps the designations of two units between two conventions
(``u: j → k`` and ``v: k → j``) and keeps a swap only when the vector
``(hard-row violations, level 1, level 2, …, pacing)`` strictly decreases lexicographically — so the
levels solved before (and their proofs) are never degraded, and legal rows stay met. Candidate swaps
are generated from the worst pacing rows: a convention behind at the end of month M takes a unit of month
≤ M from another convention and gives back one of its own units of a later month; the search prefers
pairs whose annual rows do not move at all. Deterministic: candidates are visited in a fixed order and a
work budget (number of evaluations), not the clock, bounds the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.rows import RowKind, RowSet, Sense

IntArray = npt.NDArray[np.int64]
LIMIT = 60
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PolishStats:
    evaluations: int
    swaps: int
    before: float
    after: float


class _Incidence:
    """Rows of every (unit, column) pair, built with numpy (CSR keyed by unit × n_columns + column)."""

    def __init__(self, rowset: RowSet) -> None:
        self.n_cols = len(rowset.columns)
        key, row = rowset.incidence
        order = np.lexsort((row, key))
        self.key, self.row = key[order], row[order]
        self.uniq, self.start = np.unique(self.key, return_index=True)
        self.end = np.r_[self.start[1:], len(self.key)]
        self._cache: dict[int, list[int]] = {}

    def of(self, u: int, k: int) -> list[int]:
        """The rows counting a designation of unit `u` to column `k` (cached as a list)."""
        key = u * self.n_cols + k
        rows = self._cache.get(key)
        if rows is None:
            i = int(np.searchsorted(self.uniq, key))
            found = i < len(self.uniq) and self.uniq[i] == key
            rows = self.row[self.start[i] : self.end[i]].tolist() if found else []
            self._cache[key] = rows
        return rows

    def signatures(self, annual: npt.NDArray[np.bool_], n_units: int) -> list[int]:
        """At `unit × n_columns + column`: a 64-bit fingerprint of the set of annual (non-pacing) rows the
        pair counts in; −1 for a pair in no row (a flat list: the search reads it a few hundred thousand times)."""
        rng = np.random.default_rng(12345)
        code = rng.integers(1, 2**62, size=len(annual), dtype=np.int64).astype(np.uint64)
        weights = np.where(annual[self.row], code[self.row], np.uint64(0))
        sums = np.add.reduceat(weights, self.start) if len(self.start) else np.zeros(0, np.uint64)
        out: list[int] = [-1] * (n_units * self.n_cols)
        for key, value in zip(self.uniq.tolist(), sums.tolist(), strict=True):
            out[key] = value
        return out


def _dev(count: FloatArray, target: FloatArray, sense: IntArray) -> FloatArray:
    dev = np.abs(count - target)
    dev = np.where(sense == 1, np.maximum(0.0, target - count), dev)
    return np.where(sense == 2, np.maximum(0.0, count - target), dev)


def polish_pacing(
    rowset: RowSet,
    counts: IntArray,
    fixed: IntArray,
    level_of_kind: dict[RowKind, int],
    *,
    hard: bool = True,
    budget: int = 5_000,
    caps: dict[RowKind, float] | None = None,
) -> tuple[IntArray, PolishStats]:
    """Improve pacing rows by lexicographically-improving swaps; returns new counts and statistics.

    `level_of_kind` gives each optimised row kind its level (1, 2, …); pacing must be the last level;
    kinds absent are ignored; hard rows (legal) are level 0 when `hard`. `caps` holds, per kind, a
    maximum row deviation that no swap may exceed (the value of a "max" level solved before).
    """
    cap = np.full(len(rowset.rows), np.inf)
    for kind, value in (caps or {}).items():
        cap[rowset.mask(kind)] = value + 1e-9
    units = rowset.units
    rows = rowset.rows
    n_levels = max(level_of_kind.values()) + 1
    level = np.full(len(rows), -1, dtype=np.int64)
    for r in rows:
        if r.hard:
            level[r.index] = 0 if hard else -1
        elif r.kind in level_of_kind:
            level[r.index] = level_of_kind[r.kind]
    pacing_level = level_of_kind.get(RowKind.PACING)
    if pacing_level is None:
        return counts, PolishStats(0, 0, 0.0, 0.0)
    target = rowset.targets.copy()
    sense = np.array([{Sense.EQ: 0, Sense.GE: 1, Sense.LE: 2}[r.sense] for r in rows], dtype=np.int64)
    # hard rows: deviation = distance outside their admissible band
    hard_lo = np.full(len(rows), -np.inf)
    hard_hi = np.full(len(rows), np.inf)
    for r in rows:
        if r.hard:
            hard_lo[r.index], hard_hi[r.index] = r.admissible()
    counts = counts.copy()
    count = rowset.counts(counts)
    inc = _Incidence(rowset)
    free = counts - fixed  # designations the search may move

    # the search evaluates a few thousand swaps of a few dozen rows each: plain Python lists and floats
    # (numpy's per-call overhead made this 3× slower)
    level_l: list[int] = level.tolist()
    target_l: list[float] = target.tolist()
    sense_l: list[int] = sense.tolist()
    lo_l: list[float] = hard_lo.tolist()
    hi_l: list[float] = hard_hi.tolist()
    cap_l: list[float] = cap.tolist()
    count_l: list[float] = count.tolist()

    def dev1(r: int, c: float) -> float:
        if level_l[r] == 0:  # a hard row: the distance outside its admissible band
            return max(lo_l[r] - c, 0.0) + max(c - hi_l[r], 0.0)
        t = target_l[r]
        s = sense_l[r]
        if s == 0:
            return abs(c - t)
        return max(0.0, t - c) if s == 1 else max(0.0, c - t)

    def delta(changes: list[tuple[int, int, int]]) -> tuple[list[float], list[tuple[int, float]]]:
        """Per-level change of the objective for moves [(unit, column, ±1)], and the row deltas."""
        acc: dict[int, float] = {}
        for u, k, s in changes:
            for r in inc.of(u, k):
                acc[r] = acc.get(r, 0.0) + s
        per_level = [0.0] * n_levels
        moved: list[tuple[int, float]] = []
        for r in sorted(acc):
            dc = acc[r]
            lv = level_l[r]
            if dc == 0 or lv < 0:
                continue
            c = count_l[r]
            old, new = dev1(r, c), dev1(r, c + dc)
            if new > max(cap_l[r], old):
                rejected = [0.0] * n_levels
                rejected[0] = 1.0  # a "max" level would get worse
                return rejected, []
            per_level[lv] += new - old
            moved.append((r, dc))
        return per_level, moved

    def better(per_level: list[float]) -> bool:
        for v in per_level:
            if v < -1e-9:
                return True
            if v > 1e-9:
                return False
        return False

    pacing_rows = [r for r in rows if r.kind is RowKind.PACING and level[r.index] >= 0]
    if not pacing_rows:
        return counts, PolishStats(0, 0, 0.0, 0.0)
    before = float(
        _dev(
            count[[r.index for r in pacing_rows]],
            target[[r.index for r in pacing_rows]],
            np.zeros(len(pacing_rows), np.int64),
        ).sum()
    )
    col_of = {c: j for j, c in enumerate(rowset.columns)}
    annual = np.array([r.kind is not RowKind.PACING for r in rows], dtype=bool)
    sig = inc.signatures(annual, len(units))
    n_cols = len(rowset.columns)
    eligible = rowset.eligible()
    month = units.month
    evaluations = swaps = 0
    free_total = free.sum(axis=1)
    improved = True
    while improved and evaluations < budget:
        improved = False
        prow_idx = np.array([r.index for r in pacing_rows])
        excess = _dev(count[prow_idx], target[prow_idx], np.zeros(len(prow_idx), np.int64)) - np.array(
            [r.floor for r in pacing_rows]
        )
        for pos in np.argsort(-excess, kind="stable"):
            if excess[pos] <= 1e-9 or evaluations >= budget:
                break
            r = pacing_rows[int(pos)]
            k = col_of[r.convention]
            m_end = int(r.value[-2:])
            behind = count[r.index] < target[r.index]
            # behind: take an early unit (≤ M) from j, give back a later unit (> M) of k to j; ahead: reverse
            early = month <= m_end
            if behind:
                gain_units = np.flatnonzero(early & eligible[:, k] & (free_total > free[:, k]))
                give_units = np.flatnonzero(~early & (free[:, k] > 0))
            else:
                gain_units = np.flatnonzero(~early & eligible[:, k] & (free_total > free[:, k]))
                give_units = np.flatnonzero(early & (free[:, k] > 0))
            if not len(gain_units) or not len(give_units):
                continue
            done = False
            # nearest months first: smallest pacing side effects
            gain_units = gain_units[np.argsort(np.abs(month[gain_units] - m_end), kind="stable")][:LIMIT]
            give_units = give_units[np.argsort(np.abs(month[give_units] - m_end), kind="stable")][:LIMIT]
            for u in gain_units.tolist():
                for j in np.flatnonzero(free[u]).tolist():
                    if j == k:
                        continue
                    partners = give_units[eligible[give_units, j]]
                    su_k, su_j = sig[u * n_cols + k], sig[u * n_cols + j]
                    same = [
                        v
                        for v in partners.tolist()
                        if sig[v * n_cols + k] == su_k and sig[v * n_cols + j] == su_j
                    ]
                    for v in same:
                        if v == u:
                            continue
                        evaluations += 1
                        per_level, moved = delta([(u, j, -1), (u, k, +1), (v, k, -1), (v, j, +1)])
                        if better(per_level):
                            counts[u, j] -= 1
                            counts[u, k] += 1
                            counts[v, k] -= 1
                            counts[v, j] += 1
                            free[u, j] -= 1
                            free[u, k] += 1
                            free[v, k] -= 1
                            free[v, j] += 1
                            for row, dc in moved:
                                count[row] += dc
                                count_l[row] += dc
                            swaps += 1
                            improved = done = True
                            break
                        if evaluations >= budget:
                            break
                    if done or evaluations >= budget:
                        break
                if done or evaluations >= budget:
                    break
    after = float(
        _dev(
            count[[r.index for r in pacing_rows]],
            target[[r.index for r in pacing_rows]],
            np.zeros(len(pacing_rows), np.int64),
        ).sum()
    )
    return counts, PolishStats(evaluations, swaps, before, after)
