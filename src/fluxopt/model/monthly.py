"""Month-by-month planning (modelling.md, "Month by month"): decide month m with months < m fixed.

For m = first..last month of the free units, the sub-problem keeps only the units vacated by the end of
month m (`rows_to_date`): every row is re-targeted on that base to date — totals to date are exactly the
pacing rows of month m, representativeness and wishes to date follow, legal rows stay hard on the base to
date — and only month m's free dwellings are decided, everything earlier being fixed. Each sub-problem is
the annual model of `fluxopt.model.annual` on a twelfth of the variables: solved level by level with the
rounding cut (exact with HiGHS when small, LP rounding by components when large). The last month's base to
date is the whole year, so the last sub-problem optimises the annual levels given the first months.

Nothing looks ahead: the plan of months ≤ m depends only on the units of months ≤ m (the plan of a year
truncated after month m is the first m months of the full plan). The annual levels are therefore not
proven optimal: the caller reports them against the annual LP bound with the rounding cut.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fluxopt.domain.model_spec import ModelSpec
from fluxopt.model.annual import Progress, solve_annual
from fluxopt.model.builder import AnnualProblem, build_annual
from fluxopt.model.solver import SolveSettings
from fluxopt.rows import Family, Row, RowKind, RowSet

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: rows whose target is a rate of the base (not Σ share × base)
RATE_RULES = ("prefet_hors_qpv", "fonctionnaires")


@dataclass(frozen=True)
class MonthlyOutcome:
    counts: IntArray | None  # [units, columns], None when some month had no feasible plan
    failed_month: int | None
    seconds_by_month: dict[int, float]


def rows_to_date(rowset: RowSet, month: int) -> RowSet:
    """The rows of `rowset` evaluated on the units of months ≤ `month` (same row indices and families).

    Share-based rows (totals, representativeness, pacing, the préfet's uniform share) get Σ share × base
    over the units to date; rate rows (préfet outside QPV, State employees) rate × base to date; wishes
    their share of the convention's total target to date.
    """
    units = rowset.units
    sel = np.flatnonzero(units.month <= month)
    sub_units = units.select(sel)
    shares = rowset.shares[sel]
    base = sub_units.base.astype(np.float64)
    families = tuple(
        Family(
            columns=f.columns, group=f.group[sel], n_groups=f.n_groups, rows=f.rows, cumulative=f.cumulative
        )
        for f in rowset.families
    )
    target = np.zeros(len(rowset.rows))
    base_of = np.zeros(len(rowset.rows))
    for fam in families:
        inside = fam.group >= 0
        w = shares[np.ix_(inside, fam.columns)].sum(axis=1) * base[inside]
        t = np.bincount(fam.group[inside], weights=w, minlength=fam.n_groups)
        b = np.bincount(fam.group[inside], weights=base[inside], minlength=fam.n_groups)
        if fam.cumulative:
            t, b = np.cumsum(t), np.cumsum(b)
        has = fam.rows >= 0
        target[fam.rows[has]] = t[has]
        base_of[fam.rows[has]] = b[has]
    total_ratio: dict[str, float] = {}
    for r in rowset.rows:
        if r.kind is RowKind.TOTAL:
            total_ratio[r.convention] = target[r.index] / r.target if r.target > 0 else 0.0
    rows: list[Row] = []
    for r in rowset.rows:
        if r.kind is RowKind.LEGAL and r.rule in RATE_RULES:
            tr = r.target * float(base_of[r.index]) / r.base if r.base > 0 else 0.0
        elif r.kind is RowKind.WISH:
            tr = r.target * total_ratio.get(r.convention, 0.0)
        else:
            tr = float(target[r.index])
        rows.append(replace(r, target=float(tr), base=round(float(base_of[r.index]))))
    return RowSet(
        columns=rowset.columns,
        units=sub_units,
        shares=shares,
        rows=tuple(rows),
        families=families,
        row_family=rowset.row_family,
        row_group=rowset.row_group,
        year=rowset.year,
    )


def _to_units(problem: AnnualProblem, x: IntArray, counts: IntArray) -> IntArray:
    """Hand each block's allocation to its units with free dwellings, in unit order (adds to `counts`)."""
    out = counts.copy()
    free = problem.rowset.units.base - problem.fixed.sum(axis=1)
    units_of: dict[int, list[int]] = {}
    for u in np.flatnonzero(free > 0).tolist():
        units_of.setdefault(int(problem.blocks.of_unit[u]), []).append(u)
    room = free.copy()
    for v in np.flatnonzero(x > 0).tolist():
        left = int(x[v])
        col = int(problem.var_col[v])
        for u in units_of[int(problem.var_block[v])]:
            if left == 0:
                break
            take = min(left, int(room[u]))
            if take:
                out[u, col] += take
                room[u] -= take
                left -= take
        if left:
            raise AssertionError("monthly plan lost dwellings")
    return out


def plan_by_month(
    rowset: RowSet,
    spec: ModelSpec,
    fixed: IntArray,
    settings: SolveSettings,
    *,
    progress: Progress | None = None,
) -> MonthlyOutcome:
    """Counts [units, columns]: `fixed` plus every free dwelling designated month by month."""
    units = rowset.units
    counts = fixed.astype(np.int64).copy()
    free = units.base - counts.sum(axis=1)
    months = sorted({int(m) for m in units.month[free > 0]})
    deadline = time.perf_counter() + settings.time_limit
    seconds: dict[int, float] = {}
    for i, m in enumerate(months):
        start = time.perf_counter()
        sub = rows_to_date(rowset, m)
        sel = np.flatnonzero(units.month <= m)
        problem = build_annual(sub, counts[sel])
        remaining = deadline - start
        sub_settings = replace(settings, time_limit=max(0.2, remaining / (len(months) - i)))
        solution = solve_annual(problem, spec, sub_settings, progress=progress or Progress())
        if len(solution.x) == 0 and problem.n_vars > 0:
            return MonthlyOutcome(None, m, seconds)
        x = solution.x
        counts[sel] = _to_units(problem, x, counts[sel])
        seconds[m] = time.perf_counter() - start
    return MonthlyOutcome(counts, None, seconds)
