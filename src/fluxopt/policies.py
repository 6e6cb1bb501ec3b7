"""Online designation policies: who gets each vacancy, one week at a time.

Every policy answers the same weekly question (`WeekProblem`): the dwellings freed and not yet designated
on `as_of` (*logements libres*) go to which convention, or stay with the landlord (`BAILLEUR`)? They
all read the rows of `fluxopt.rows` — the single definition of targets — through a `RowIndex`, which
says how each unit of the flux base moves each row's target and which rows a designation counts in, so
that running targets on the base seen so far are exact prefix sums of the rows' targets.

Baselines (measured against fluxopt's re-planning in `fluxopt simulate` and `bench/replan.py`):
- ``plus-en-retard`` (*le plus en retard d'abord*, today's spreadsheet rule): each vacancy to the eligible
  convention furthest below its running total target; the landlord keeps it when nobody is owed, i.e.
  when no convention would get closer to its target by receiving it (deficit ≤ ½);
- ``tour-de-role`` (fixed rotation): the conventions eligible for a dwelling (and the landlord's rest)
  take turns in proportion to their shares, following the quota-method sequence of `fluxopt.sequence`,
  one rotation per set of shares;
- ``glouton`` (multi-row greedy): each vacancy to the choice (landlord included) that most reduces the
  squared deviation summed over every row the designation counts in, on the base seen so far, total
  and legal rows weighted `TOTAL_WEIGHT` times more.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Scenario
from fluxopt.domain.model_spec import Weekly
from fluxopt.rows import Family, Row, RowKind, RowSet, Sense
from fluxopt.sequence import sequence_from_shares

__all__ = [
    "BASELINES",
    "POLICY_LABELS",
    "TOTAL_WEIGHT",
    "Greedy",
    "MostBehindFirst",
    "Policy",
    "Rotation",
    "RowIndex",
    "WeekProblem",
    "make_policy",
    "row_weights",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: weight of total and legal rows relative to representativeness rows ("total rows weighted more")
TOTAL_WEIGHT = 10.0

#: CLI names of the policies and their French labels
POLICY_LABELS: dict[str, str] = {
    "fluxopt": "fluxopt (re-planification hebdomadaire)",
    "plus-en-retard": "le plus en retard d'abord",
    "tour-de-role": "tour de rôle",
    "glouton": "glouton multi-lignes",
}


def row_weights(rowset: RowSet) -> FloatArray:
    """Weight of each row in the policies' objectives: totals and legal rows `TOTAL_WEIGHT`, others 1."""
    heavy = {RowKind.TOTAL, RowKind.LEGAL}
    return np.array([TOTAL_WEIGHT if r.kind in heavy else 1.0 for r in rowset.rows], dtype=np.float64)


def _csr(owner: IntArray, n: int, *payload: npt.NDArray[np.generic]) -> tuple[IntArray, list[np.ndarray]]:
    """Sort `payload` arrays by `owner` and return the start offsets of each owner (CSR layout)."""
    order = np.argsort(owner, kind="stable")
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=starts[1:])
    return starts, [p[order] for p in payload]


@dataclass(frozen=True)
class RowIndex:
    """How units move targets and which rows a designation counts in, derived from a `RowSet`.

    Pacing rows (cumulative families) are left out: policies work on the base seen so far, where a
    running total is the pacing. Every other row's target is a sum over units of a per-unit
    contribution (``share × base`` for totals, representativeness and the préfet's share per commune;
    ``rate × base`` for the legal minima/maxima; ``min_share × the convention's share × base`` over the
    convention's scope for wishes): `targets(mask)` is exact on any subset of units.
    """

    rowset: RowSet
    weights: FloatArray
    # target contributions, CSR by unit
    t_start: IntArray
    t_row: IntArray
    t_val: FloatArray
    # base contributions (dwellings of the unit inside the row's units), CSR by unit
    b_start: IntArray
    b_row: IntArray
    b_val: FloatArray
    # membership: designating unit u to column j counts in rows m_row[m_start[u]:m_start[u+1]] where m_col == j
    m_start: IntArray
    m_col: IntArray
    m_row: IntArray
    total_row: IntArray  # total row of each column (-1 when none)
    senses: npt.NDArray[np.str_] = field(repr=False)

    @classmethod
    def of(cls, rowset: RowSet) -> RowIndex:
        units = rowset.units
        n = len(units)
        base = units.base.astype(np.float64)
        shares = rowset.shares
        rows = rowset.rows
        total_of_conv = {r.convention: r for r in rows if r.kind is RowKind.TOTAL}
        t_u: list[IntArray] = []
        t_r: list[IntArray] = []
        t_v: list[FloatArray] = []
        b_u: list[IntArray] = []
        b_r: list[IntArray] = []
        b_v: list[FloatArray] = []
        m_u: list[IntArray] = []
        m_c: list[IntArray] = []
        m_r: list[IntArray] = []
        for fam in rowset.families:
            if fam.cumulative:
                continue
            inside = np.flatnonzero(fam.group >= 0)
            row_of = fam.rows[fam.group[inside]]
            ok = row_of >= 0
            u, r = inside[ok], row_of[ok]
            if len(u) == 0:
                continue
            for j in fam.columns:
                m_u.append(u)
                m_c.append(np.full(len(u), j, dtype=np.int64))
                m_r.append(r)
            b_u.append(u)
            b_r.append(r)
            b_v.append(base[u])
            first: Row = rows[int(r[0])]
            if first.kind is RowKind.WISH:
                total = total_of_conv.get(first.convention)
                j = int(fam.columns[0])
                scope = np.flatnonzero(shares[:, j] > 0)
                ratio = first.target / total.target if total is not None and total.target > 0 else 0.0
                t_u.append(scope)
                t_r.append(np.full(len(scope), first.index, dtype=np.int64))
                t_v.append(ratio * shares[scope, j] * base[scope])
            elif first.sense is Sense.EQ:
                t_u.append(u)
                t_r.append(r)
                t_v.append(shares[np.ix_(u, fam.columns)].sum(axis=1) * base[u])
            else:  # legal minimum / maximum: a rate of the row's base
                rate = np.array(
                    [rows[int(k)].target / rows[int(k)].base if rows[int(k)].base else 0.0 for k in r]
                )
                t_u.append(u)
                t_r.append(r)
                t_v.append(rate * base[u])

        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        t_start, (t_row, t_val) = _csr(cat(t_u, np.int64), n, cat(t_r, np.int64), cat(t_v, np.float64))
        b_start, (b_row, b_val) = _csr(cat(b_u, np.int64), n, cat(b_r, np.int64), cat(b_v, np.float64))
        mu, mc, mr = cat(m_u, np.int64), cat(m_c, np.int64), cat(m_r, np.int64)
        order = np.lexsort((mr, mc, mu))
        m_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(mu, minlength=n), out=m_start[1:])
        total_row = np.full(len(rowset.columns), -1, dtype=np.int64)
        for row in rows:
            if row.kind is RowKind.TOTAL:
                total_row[rowset.columns.index(row.convention)] = row.index
        return cls(
            rowset=rowset,
            weights=row_weights(rowset),
            t_start=t_start,
            t_row=t_row,
            t_val=t_val,
            b_start=b_start,
            b_row=b_row,
            b_val=b_val,
            m_start=m_start,
            m_col=mc[order],
            m_row=mr[order],
            total_row=total_row,
            senses=rowset.senses,
        )

    @property
    def n_rows(self) -> int:
        return len(self.rowset.rows)

    def _sum(self, start: IntArray, row: IntArray, val: FloatArray, mask: BoolArray) -> FloatArray:
        per_entry_unit = np.repeat(np.arange(len(start) - 1), np.diff(start))
        keep = mask[per_entry_unit]
        return np.bincount(row[keep], weights=val[keep], minlength=self.n_rows).astype(np.float64)

    def targets(self, mask: BoolArray) -> FloatArray:
        """Every row's target on the units in `mask` (the base seen so far)."""
        return self._sum(self.t_start, self.t_row, self.t_val, mask)

    def bases(self, mask: BoolArray) -> FloatArray:
        """Every row's base (dwellings) on the units in `mask`."""
        return self._sum(self.b_start, self.b_row, self.b_val, mask)

    def target_step(self, u: int) -> tuple[IntArray, FloatArray]:
        """(rows, contributions) unit `u` adds to the targets when it enters the base."""
        a, b = self.t_start[u], self.t_start[u + 1]
        return self.t_row[a:b], self.t_val[a:b]

    def members(self, u: int, column: int) -> IntArray:
        """Rows that count a designation of unit `u` to `column`."""
        a, b = self.m_start[u], self.m_start[u + 1]
        cols = self.m_col[a:b]
        return self.m_row[a:b][cols == column]

    def eligible(self, u: int) -> IntArray:
        """Columns that may receive unit `u` (the landlord always may)."""
        eligible = self.rowset.shares[u] > 0
        eligible[self.rowset.columns.index(BAILLEUR)] = True
        return np.flatnonzero(eligible)

    def running(self, arrived: BoolArray) -> RowSet:
        """The `RowSet` restricted to the `arrived` units, with targets and bases on them only.

        Equal, row for row, to `build_rows` over those units (rows with an empty base keep target 0).
        Used to hand the planner's model builder the rows of the base seen so far without rebuilding.
        """
        rs = self.rowset
        targets = self.targets(arrived)
        bases = self.bases(arrived)
        idx = np.flatnonzero(arrived)
        families = tuple(
            Family(
                columns=f.columns,
                group=f.group[idx],
                n_groups=f.n_groups,
                rows=f.rows,
                cumulative=f.cumulative,
            )
            for f in rs.families
        )
        rows = tuple(
            replace(r, target=float(targets[r.index]), base=round(float(bases[r.index]))) for r in rs.rows
        )
        return RowSet(
            columns=rs.columns,
            units=rs.units.select(idx),
            shares=rs.shares[idx],
            rows=rows,
            families=families,
            row_family=rs.row_family,
            row_group=rs.row_group,
            year=rs.year,
        )


@dataclass(frozen=True)
class WeekProblem:
    """One weekly designation round, as every policy sees it.

    `index` covers every unit the caller knows (a simulated year, or the actual vacancies to date); a
    policy may only look at the `arrived` ones (the base seen on `as_of`, free units included).
    `fixed` [units, columns] holds the designations already made, as counted (a carence that its
    convention does not count is on the landlord's column); it is zero on free and future units.
    """

    scenario: Scenario
    index: RowIndex
    arrived: BoolArray
    fixed: IntArray
    free: IntArray  # units to designate now, in date order
    as_of: dt.date
    # [units, columns] late-year carences expected among pending designations (see
    # `fluxopt.replan.anticipate_carences`); None when the caller does not estimate them
    expected_loss: npt.NDArray[np.float64] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.index.rowset.columns

    @property
    def landlord(self) -> int:
        return self.columns.index(BAILLEUR)


class Policy(ABC):
    """A designation policy: one column (convention or landlord) per free unit."""

    name: str = ""

    @abstractmethod
    def designate(self, problem: WeekProblem) -> IntArray:
        """Column index (in `problem.columns`) chosen for each of `problem.free`, in that order."""


class _Online(Policy):
    """Vacancies one at a time in date order, each on the base seen so far (itself included)."""

    def designate(self, problem: WeekProblem) -> IntArray:
        index = problem.index
        before = problem.arrived.copy()
        before[problem.free] = False
        targets = index.targets(before)
        counts = index.rowset.counts(problem.fixed)
        out = np.zeros(len(problem.free), dtype=np.int64)
        for i, u in enumerate(problem.free.tolist()):
            rows, vals = index.target_step(u)
            np.add.at(targets, rows, vals)
            column = self.choose(problem, u, targets, counts)
            out[i] = column
            counts[index.members(u, column)] += 1
        return out

    @abstractmethod
    def choose(self, problem: WeekProblem, u: int, targets: FloatArray, counts: FloatArray) -> int:
        """The column for unit `u` given running targets and counts (rows)."""


class MostBehindFirst(_Online):
    """*Le plus en retard d'abord*: the eligible convention furthest below its running total target."""

    name = "plus-en-retard"

    def choose(self, problem: WeekProblem, u: int, targets: FloatArray, counts: FloatArray) -> int:
        index = problem.index
        landlord = problem.landlord
        best, best_deficit = landlord, 0.5  # owed = receiving it brings the convention closer to target
        for j in index.eligible(u).tolist():
            r = int(index.total_row[j])
            if j == landlord or r < 0:
                continue
            deficit = targets[r] - counts[r]
            if deficit > best_deficit + 1e-9:
                best, best_deficit = j, deficit
        return best


def _squared(count: FloatArray, target: FloatArray, senses: npt.NDArray[np.str_]) -> FloatArray:
    diff = count - target
    diff = np.where(senses == Sense.GE.value, np.minimum(diff, 0.0), diff)
    diff = np.where(senses == Sense.LE.value, np.maximum(diff, 0.0), diff)
    return diff * diff


class Greedy(_Online):
    """Multi-row greedy: the choice that most reduces the weighted squared deviation of its rows."""

    name = "glouton"

    def choose(self, problem: WeekProblem, u: int, targets: FloatArray, counts: FloatArray) -> int:
        index = problem.index
        best, best_score = problem.landlord, np.inf
        for j in index.eligible(u).tolist():
            rows = index.members(u, j)
            if len(rows) == 0:
                score = 0.0
            else:
                s = index.senses[rows]
                t, c = targets[rows], counts[rows]
                score = float((index.weights[rows] * (_squared(c + 1, t, s) - _squared(c, t, s))).sum())
            if score < best_score - 1e-12:
                best, best_score = j, score
        return best


class Rotation(Policy):
    """*Tour de rôle*: a fixed rotation per set of shares, in proportion to them (quota method).

    The position in a rotation is the number of earlier vacancies with the same shares, so the policy
    needs no memory between weeks and replays identically.
    """

    name = "tour-de-role"

    def __init__(self) -> None:
        self._sequences: dict[tuple[float, ...], list[str]] = {}

    def _slot(self, key: tuple[float, ...], columns: tuple[str, ...], position: int) -> str:
        seq = self._sequences.get(key)
        if seq is None or len(seq) <= position:
            shares = {columns[j]: v for j, v in enumerate(key) if v > 0}
            length = max(64, 2 * (position + 1))
            seq = sequence_from_shares(shares, length) if shares else [BAILLEUR] * length
            self._sequences[key] = seq
        return seq[position]

    def designate(self, problem: WeekProblem) -> IntArray:
        shares = problem.index.rowset.shares
        keys = [tuple(np.round(row, 9).tolist()) for row in shares]
        before = problem.arrived.copy()
        before[problem.free] = False
        seen: dict[tuple[float, ...], int] = {}
        for u in np.flatnonzero(before).tolist():
            seen[keys[u]] = seen.get(keys[u], 0) + 1
        columns = problem.columns
        out = np.zeros(len(problem.free), dtype=np.int64)
        for i, u in enumerate(problem.free.tolist()):
            key = keys[u]
            position = seen.get(key, 0)
            seen[key] = position + 1
            out[i] = columns.index(self._slot(key, columns, position))
        return out


BASELINES: tuple[str, ...] = ("plus-en-retard", "tour-de-role", "glouton")


def make_policy(name: str, weekly: Weekly | None = None) -> Policy:
    """A fresh policy by its CLI name (`POLICY_LABELS`); `weekly`: fluxopt's weekly model (the baselines
    have no parameters)."""
    if name == "plus-en-retard":
        return MostBehindFirst()
    if name == "tour-de-role":
        return Rotation()
    if name == "glouton":
        return Greedy()
    if name == "fluxopt":
        from fluxopt.replan import ReplanPolicy

        return ReplanPolicy(weekly=weekly)
    raise ValueError(f"politique inconnue : {name} (attendu : {', '.join(POLICY_LABELS)})")
