"""Min-cost flow with soft bounds: the network workhorse behind controlled rounding and the month split.

An arc that should carry a (fractional) value ``v`` is added as up to three parallel arcs with convex
piecewise costs: the first ``⌊v⌋`` units at ``-BIG`` (so the floor is met whenever any integral flow can meet
it), one unit at ``(1 − 2f)·SCALE`` (rounding up costs the change in ``|count − v|``), and any further unit
at ``+BIG``. The result is therefore a controlled rounding — every arc at ``⌊v⌋`` or ``⌈v⌉`` — whenever one
exists, and otherwise the nearest integral flow rather than a failure. OR-Tools' min-cost flow is exact,
integral and deterministic for a given arc order; it solves these networks in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: cost unit of one dwelling of deviation
SCALE = 1000
#: cost of crossing a soft bound (must dominate every sum of SCALE-sized terms)
BIG = 10**9
#: capacity of the "beyond the bound" arcs
UNBOUNDED = 10**9


@dataclass
class SoftFlow:
    """Collects arcs (vectorised) and node supplies, then solves one min-cost flow."""

    n_nodes: int = 0
    _tails: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _heads: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _caps: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _costs: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _owner: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _n_edges: int = 0
    supplies: dict[int, int] = field(default_factory=dict)

    def nodes(self, n: int) -> npt.NDArray[np.int64]:
        """Reserve `n` new node ids."""
        ids = np.arange(self.n_nodes, self.n_nodes + n, dtype=np.int64)
        self.n_nodes += n
        return ids

    def add_supply(self, node: int, amount: int) -> None:
        self.supplies[int(node)] = self.supplies.get(int(node), 0) + int(amount)

    def _push(
        self, tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray, owner: np.ndarray
    ) -> None:
        keep = caps > 0
        if keep.any():
            self._tails.append(tails[keep].astype(np.int64))
            self._heads.append(heads[keep].astype(np.int64))
            self._caps.append(caps[keep].astype(np.int64))
            self._costs.append(costs[keep].astype(np.int64))
            self._owner.append(owner[keep].astype(np.int64))

    def soft_edges(
        self,
        tails: npt.ArrayLike,
        heads: npt.ArrayLike,
        values: npt.ArrayLike,
        *,
        hard_max: npt.ArrayLike | None = None,
    ) -> npt.NDArray[np.int64]:
        """Add edges that should carry `values` (rounded floor/ceil); return their edge ids.

        `hard_max`, when given, caps an edge's flow (no "beyond" arc above it).
        """
        t = np.asarray(tails, dtype=np.int64)
        h = np.asarray(heads, dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        n = len(v)
        ids = np.arange(self._n_edges, self._n_edges + n, dtype=np.int64)
        self._n_edges += n
        fl = np.floor(v + 1e-9)
        frac = np.clip(v - fl, 0.0, 1.0)
        fl_i = fl.astype(np.int64)
        has_frac = frac > 1e-9
        cap_hi = np.full(n, UNBOUNDED, np.int64)
        if hard_max is not None:
            hm = np.asarray(hard_max, dtype=np.int64)
            fl_i = np.minimum(fl_i, hm)
            has_frac &= fl_i < hm
            cap_hi = np.maximum(hm - fl_i - has_frac.astype(np.int64), 0)
        self._push(t, h, fl_i, np.full(n, -BIG, np.int64), ids)
        mid_cost = np.rint((1.0 - 2.0 * frac) * SCALE).astype(np.int64)
        self._push(t, h, has_frac.astype(np.int64), mid_cost, ids)
        self._push(t, h, cap_hi, np.full(n, BIG, np.int64), ids)
        return ids

    def edges(
        self, tails: npt.ArrayLike, heads: npt.ArrayLike, caps: npt.ArrayLike, costs: npt.ArrayLike
    ) -> npt.NDArray[np.int64]:
        """Add plain edges with a capacity and a unit cost; return their edge ids."""
        t = np.asarray(tails, dtype=np.int64)
        n = len(t)
        ids = np.arange(self._n_edges, self._n_edges + n, dtype=np.int64)
        self._n_edges += n
        self._push(
            t,
            np.asarray(heads, dtype=np.int64),
            np.asarray(caps, dtype=np.int64),
            np.asarray(costs, dtype=np.int64),
            ids,
        )
        return ids

    def solve(self) -> npt.NDArray[np.int64]:
        """Solve; return the flow of every edge (summed over its parallel arcs)."""
        from ortools.graph.python import min_cost_flow

        flow = min_cost_flow.SimpleMinCostFlow()
        if self._tails:
            tails = np.concatenate(self._tails)
            heads = np.concatenate(self._heads)
            caps = np.concatenate(self._caps)
            costs = np.concatenate(self._costs)
            owner = np.concatenate(self._owner)
            arcs = flow.add_arcs_with_capacity_and_unit_cost(
                tails.astype(np.int32), heads.astype(np.int32), caps, costs
            )
        else:
            owner = np.zeros(0, np.int64)
            arcs = np.zeros(0, np.int32)
        if self.supplies:
            nodes = np.array(sorted(self.supplies), dtype=np.int32)
            flow.set_nodes_supplies(nodes, np.array([self.supplies[int(i)] for i in nodes], dtype=np.int64))
        # make sure every node exists even when it has no arc
        status = flow.solve()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed with status {status}")
        result = np.zeros(self._n_edges, dtype=np.int64)
        if len(owner):
            np.add.at(result, owner, np.asarray(flow.flows(np.asarray(arcs)), dtype=np.int64))
        return result


def convex_edges(
    net: SoftFlow, tails: npt.ArrayLike, heads: npt.ArrayLike, targets: npt.ArrayLike, capacity: int
) -> None:
    """Edges whose cost is SCALE × |flow − target| up to the rounding cut: −SCALE per unit below ⌊t⌋,
    ``(1 − 2f)·SCALE`` for the unit that crosses a fractional target, +SCALE per unit beyond."""
    t = np.atleast_1d(np.asarray(tails, dtype=np.int64))
    h = np.atleast_1d(np.asarray(heads, dtype=np.int64))
    v = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    pos = np.maximum(v, 0.0)
    below = np.floor(pos + 1e-9).astype(np.int64)
    frac = np.where(pos - below > 1e-9, pos - below, 0.0)
    net.edges(t, h, below, np.full(len(t), -SCALE))
    has = frac > 0
    if has.any():
        net.edges(t[has], h[has], np.ones(int(has.sum()), np.int64), np.rint((1 - 2 * frac[has]) * SCALE))
    net.edges(t, h, np.full(len(t), capacity), np.full(len(t), SCALE))
