"""Split the annual allocation over the months (pacing, *rythme*), one min-cost flow per month.

The annual plan says how many of each block's dwellings go to each convention. Month by month, in
order, a min-cost flow sends the month's free dwellings of each block to conventions that still have
annual allocation left in that block, with a convex cost per convention around its pacing target:
every dwelling that brings the convention's cumulative count closer to ``share × cumulative base`` at the
month's end earns −1, the one that crosses the target costs ``1 − 2f`` (the rounding cut again), and each
one beyond costs +1. Past months are never revisited (like the weekly re-planning), annual counts never
change, and feasibility for later months is automatic: a block's remaining allocation always equals its
remaining dwellings. A small secondary cost consumes each block's allocation in proportion, so that a
rare segment is not exhausted early. modelling.md measured this month-by-month scheme with month-end
deviations ≤ 1; the bench reports ours.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fluxopt.forecast import MONTHS
from fluxopt.model.builder import AnnualProblem
from fluxopt.model.flow import SCALE, SoftFlow
from fluxopt.rows import BAILLEUR

IntArray = npt.NDArray[np.int64]

#: weight of the proportional-consumption tie-break, well below one dwelling of pacing (SCALE)
PROPORTIONAL = 50


def split_months(problem: AnnualProblem, x: IntArray, *, pacing: bool = True) -> IntArray:
    """Counts [units, columns]: fixed designations plus the annual plan `x` spread over the months."""
    rowset = problem.rowset
    units = rowset.units
    n_units, n_cols = len(units), len(rowset.columns)
    counts = problem.fixed.copy()
    blocks = problem.blocks
    remaining = np.zeros((blocks.n, n_cols), dtype=np.int64)
    remaining[problem.var_block, problem.var_col] = x
    free = units.base - problem.fixed.sum(axis=1)
    landlord = rowset.columns.index(BAILLEUR) if BAILLEUR in rowset.columns else -1
    # cumulative pacing target per column at each month end: Σ share × base over months ≤ m
    by_month = np.zeros((MONTHS, n_cols))
    np.add.at(by_month, units.month - 1, rowset.shares * units.base[:, None])
    target_cum = np.cumsum(by_month, axis=0)
    months = sorted({int(m) for m in units.month[free > 0]})
    for m in months:
        in_month = np.flatnonzero((units.month == m) & (free > 0))
        blk = blocks.of_unit[in_month]
        uniq_b, inv = np.unique(blk, return_inverse=True)
        supply = np.bincount(inv, weights=free[in_month], minlength=len(uniq_b)).astype(np.int64)
        done = counts[units.month <= m].sum(axis=0)  # fixed designations of this month included
        net = SoftFlow()
        sink = int(net.nodes(1)[0])
        b_nodes = net.nodes(len(uniq_b))
        c_nodes = net.nodes(n_cols)
        rem = remaining[uniq_b]
        bi, ci = np.nonzero(rem > 0)
        share_left = rem[bi, ci] / np.maximum(rem.sum(axis=1)[bi], 1)
        arc_ids = net.edges(b_nodes[bi], c_nodes[ci], rem[bi, ci], np.rint(-PROPORTIONAL * share_left))
        total = int(supply.sum())
        for k in range(n_cols):
            if k == landlord or not pacing:
                net.edges([c_nodes[k]], [sink], [total], [0])
                continue
            delta = target_cum[m - 1, k] - done[k]
            below = int(np.floor(delta + 1e-9)) if delta > 0 else 0
            frac = delta - below if delta > 0 else 0.0
            net.edges([c_nodes[k]], [sink], [below], [-SCALE])
            if frac > 1e-9:
                net.edges([c_nodes[k]], [sink], [1], [round((1 - 2 * frac) * SCALE)])
            net.edges([c_nodes[k]], [sink], [total], [SCALE])
        for j, b in enumerate(b_nodes):
            net.add_supply(int(b), int(supply[j]))
        net.add_supply(sink, -total)
        flows = net.solve()[arc_ids]
        sent = np.zeros((len(uniq_b), n_cols), dtype=np.int64)
        sent[bi, ci] = flows
        remaining[uniq_b] -= sent
        spread_to_units(in_month, inv, sent, free, counts)
    if np.any(remaining != 0) or np.any(counts.sum(axis=1) != units.base):
        raise AssertionError("month split lost dwellings")
    del n_units
    return counts


def spread_to_units(
    units: IntArray, block: IntArray, per_block: IntArray, free: IntArray, out: IntArray
) -> None:
    """Hand each block's counts [blocks, columns] to its `units` (`block[i]` is the block of `units[i]`), each
    unit taking up to its `free` dwellings, units in the given order, columns in column order; adds to `out`.
    Raises when a block's counts and its units' free dwellings differ (a dwelling would be lost)."""
    left = per_block.copy()
    for u, b in zip(units.tolist(), block.tolist(), strict=True):
        room = int(free[u])
        for col in np.flatnonzero(left[b]).tolist():
            if room == 0:
                break
            take = min(room, int(left[b, col]))
            out[u, col] += take
            left[b, col] -= take
            room -= take
    if left.any():
        raise AssertionError("dwellings lost while handing block counts to units")
