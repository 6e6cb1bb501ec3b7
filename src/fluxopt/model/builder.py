"""Build the annual allocation model from rows (the model never reads files; data is prepared first).

**Blocks.** Units that share their segment cell and their set of eligible columns form a *block*: every
row except pacing counts a block's dwellings the same way whatever their month, so the annual model only
needs one integer variable per block × eligible column: how many of the block's free dwellings go to that
convention (or to the landlord). Units with different eligibility (a convention in force only part of the
year) fall into different blocks, so scopes and dates are respected exactly. Fixed designations
(re-planning: past designations that must never change) are constants; only free dwellings are decided.

**Rows → linear model.** For each row that a level of the models/ file optimises, a deviation variable
``d ≥ |count − target|`` (``=`` rows), the shortfall (``>=``) or the excess (``<=``), plus the rounding
cut of modelling.md for two-sided rows: with ``target = fl + f``, ``d ≥ f + (1 − 2f)(count − fl)`` — valid
for every whole count, exact at ``fl`` and ``fl + 1``, and what makes the LP bound meaningful. Hard (legal)
rows become bounds ``lo ≤ count ≤ hi`` (`Row.admissible`).
The linear model is kept as numpy arrays (`LinearProgram`) and handed to a solver adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fluxopt.rows import Row, RowKind, RowSet, Sense

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
INF = float("inf")


def rounding_cut(target: float) -> tuple[float, float] | None:
    """The rounding cut of modelling.md as ``d ≥ slope·c + intercept`` (None for a whole target).

    With ``target = fl + f``: ``d ≥ f + (1 − 2f)(c − fl)``, valid for every whole count c, exact at
    ``fl`` and ``fl + 1``.
    """
    fl = float(np.floor(target + 1e-12))
    f = target - fl
    if not 1e-9 < f < 1 - 1e-9:
        return None
    return 1 - 2 * f, f - (1 - 2 * f) * fl


@dataclass(frozen=True)
class Blocks:
    """Units grouped by (segment cell, eligible columns)."""

    of_unit: IntArray
    free: IntArray  # free dwellings per block
    eligible: BoolArray  # [blocks, columns]

    @property
    def n(self) -> int:
        return len(self.free)


def make_blocks(rowset: RowSet, free: IntArray, *, by_month: bool = False) -> Blocks:
    """Group units into blocks; `free` is each unit's number of dwellings still to designate."""
    cell, _ = rowset.units.cell_index()
    elig = rowset.eligible()
    parts = [cell[:, None], elig.astype(np.int64)]
    if by_month:
        parts.insert(1, rowset.units.month[:, None].astype(np.int64))
    key = np.column_stack(parts) if len(cell) else np.zeros((0, sum(p.shape[1] for p in parts)))
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = np.asarray(inverse, dtype=np.int64).reshape(-1)
    n = len(uniq)
    free_b = np.bincount(inverse, weights=free, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    return Blocks(of_unit=inverse, free=free_b, eligible=uniq[:, (2 if by_month else 1) :].astype(bool))


@dataclass(frozen=True)
class AnnualProblem:
    """Everything the annual model needs, prepared before any solver is touched."""

    rowset: RowSet
    blocks: Blocks
    fixed: IntArray  # [units, columns] designations that must not change
    var_block: IntArray  # one variable per (block, eligible column) with free dwellings
    var_col: IntArray
    rows: tuple[Row, ...]  # rows of the annual model (everything but pacing)
    term_row: IntArray  # position in `rows` ─┐ membership of variables in rows
    term_var: IntArray  # variable          ─┘
    fixed_count: FloatArray  # per row of `rows`: count already fixed

    @property
    def n_vars(self) -> int:
        return len(self.var_block)


def build_annual(rowset: RowSet, fixed: IntArray | None = None, *, by_month: bool = False) -> AnnualProblem:
    """Prepare the allocation problem over `rowset` with optional fixed designations.

    With `by_month`, blocks are also split by month and pacing rows are part of the model.
    """
    units = rowset.units
    n_cols = len(rowset.columns)
    fixed_m = (
        np.zeros((len(units), n_cols), dtype=np.int64) if fixed is None else np.asarray(fixed, dtype=np.int64)
    )
    free = units.base - fixed_m.sum(axis=1)
    if np.any(free < 0):
        raise ValueError("fixed designations exceed a unit's base")
    blocks = make_blocks(rowset, free, by_month=by_month)
    vb, vc = np.nonzero(blocks.eligible & (blocks.free[:, None] > 0))
    var_block, var_col = vb.astype(np.int64), vc.astype(np.int64)
    rows = tuple(r for r in rowset.rows if by_month or r.kind is not RowKind.PACING)
    position = np.full(len(rowset.rows), -1, dtype=np.int64)
    position[[r.index for r in rows]] = np.arange(len(rows))
    first_unit = np.full(blocks.n, -1, dtype=np.int64)
    first_unit[blocks.of_unit[::-1]] = np.arange(len(units))[::-1]
    t_rows: list[IntArray] = []
    t_vars: list[IntArray] = []
    for fam in rowset.families:
        if fam.cumulative and not by_month:
            continue
        group_b = fam.group[first_unit] if blocks.n else np.zeros(0, np.int64)
        # a block must sit in one group of every non-pacing family (eligibility is part of the block key)
        if len(units) and np.any(fam.group != group_b[blocks.of_unit]):
            raise AssertionError("a block straddles two rows of a family")
        in_cols = np.isin(var_col, fam.columns)
        g = group_b[var_block]
        sel = in_cols & (g >= 0)
        if fam.cumulative:
            # a variable of month-group g counts in every cumulative row g' ≥ g
            vars_sel = np.flatnonzero(sel)
            for g2 in range(fam.n_groups):
                r2 = fam.rows[g2]
                if r2 < 0 or position[r2] < 0:
                    continue
                hit = vars_sel[g[vars_sel] <= g2]
                t_rows.append(np.full(len(hit), position[r2], dtype=np.int64))
                t_vars.append(hit)
            continue
        row_ids = np.where(sel, fam.rows[np.where(g >= 0, g, 0)], -1)
        sel &= row_ids >= 0
        pos = position[row_ids[sel]]
        keep = pos >= 0
        t_rows.append(pos[keep])
        t_vars.append(np.flatnonzero(sel)[keep])
    term_row = np.concatenate(t_rows) if t_rows else np.zeros(0, np.int64)
    term_var = np.concatenate(t_vars) if t_vars else np.zeros(0, np.int64)
    all_fixed = rowset.counts(fixed_m)
    return AnnualProblem(
        rowset=rowset,
        blocks=blocks,
        fixed=fixed_m,
        var_block=var_block,
        var_col=var_col,
        rows=rows,
        term_row=term_row.astype(np.int64),
        term_var=term_var.astype(np.int64),
        fixed_count=all_fixed[[r.index for r in rows]] if rows else np.zeros(0),
    )


@dataclass
class LinearProgram:
    """A mixed-integer linear program as numpy arrays (solver-neutral)."""

    lb: list[FloatArray] = field(default_factory=list)
    ub: list[FloatArray] = field(default_factory=list)
    integer: list[BoolArray] = field(default_factory=list)
    n_vars: int = 0
    con_lb: list[FloatArray] = field(default_factory=list)
    con_ub: list[FloatArray] = field(default_factory=list)
    n_cons: int = 0
    a_row: list[IntArray] = field(default_factory=list)
    a_col: list[IntArray] = field(default_factory=list)
    a_val: list[FloatArray] = field(default_factory=list)
    objective: dict[int, float] = field(default_factory=dict)

    def add_vars(self, lb: npt.ArrayLike, ub: npt.ArrayLike, integer: bool) -> IntArray:
        lo = np.atleast_1d(np.asarray(lb, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(ub, dtype=np.float64))
        # a scalar bound broadcasts to the other's length; an empty one means no variable at all (nothing left
        # to plan: an empty forecast, or designate on the last day of the year)
        n = 0 if min(len(lo), len(hi)) == 0 else max(len(lo), len(hi))
        lo, hi = np.broadcast_to(lo, n).copy(), np.broadcast_to(hi, n).copy()
        ids = np.arange(self.n_vars, self.n_vars + n, dtype=np.int64)
        self.lb.append(lo)
        self.ub.append(hi)
        self.integer.append(np.full(n, integer))
        self.n_vars += n
        return ids

    def add_cons(
        self, rows: IntArray, cols: IntArray, vals: FloatArray, lb: npt.ArrayLike, ub: npt.ArrayLike, n: int
    ) -> IntArray:
        """Add `n` constraints lb ≤ A x ≤ ub; `rows` are 0-based within this batch."""
        ids = np.arange(self.n_cons, self.n_cons + n, dtype=np.int64)
        self.a_row.append(np.asarray(rows, dtype=np.int64) + self.n_cons)
        self.a_col.append(np.asarray(cols, dtype=np.int64))
        self.a_val.append(np.asarray(vals, dtype=np.float64))
        self.con_lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), n).copy())
        self.con_ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), n).copy())
        self.n_cons += n
        return ids

    def arrays(self) -> dict[str, np.ndarray]:
        cat = np.concatenate

        def c(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return cat(parts).astype(dtype) if parts else np.zeros(0, dtype)

        return {
            "lb": c(self.lb, np.float64),
            "ub": c(self.ub, np.float64),
            "integer": c(self.integer, np.bool_),
            "con_lb": c(self.con_lb, np.float64),
            "con_ub": c(self.con_ub, np.float64),
            "a_row": c(self.a_row, np.int64),
            "a_col": c(self.a_col, np.int64),
            "a_val": c(self.a_val, np.float64),
        }


@dataclass
class AnnualModel:
    """The annual problem as a linear program, with the ids a level loop needs."""

    problem: AnnualProblem
    lp: LinearProgram
    x: IntArray  # variable ids of the allocation, aligned with problem.var_block
    dev: dict[int, int]  # position in problem.rows → deviation variable id
    count: dict[int, int] = field(default_factory=dict)  # position in problem.rows → count variable id
    cut_rows: int = 0
    extra: dict[tuple[str, tuple[int, ...]], int] = field(default_factory=dict)  # auxiliary variables


def row_expression(problem: AnnualProblem) -> tuple[IntArray, IntArray]:
    """(row position, variable) pairs sorted by row: count_r = fixed_r + Σ x over the row's variables."""
    order = np.lexsort((problem.term_var, problem.term_row))
    return problem.term_row[order], problem.term_var[order]


def build_linear(
    problem: AnnualProblem, soft: set[int], hard: set[int], *, cut: bool = True, count_vars: bool = False
) -> AnnualModel:
    """Variables, block equalities, hard bands and deviations (with the rounding cut).

    `soft` and `hard` are positions in `problem.rows`. With `count_vars`, every modelled row gets an
    integer count variable ``c = fixed + Σ x`` and deviation constraints touch two variables only (a
    sparser LP); without (the default, measured faster with HiGHS: its primal heuristics find good plans
    sooner), each deviation constraint carries the row's whole sum.
    """
    lp = LinearProgram()
    free_of_var = problem.blocks.free[problem.var_block]
    x = lp.add_vars(0.0, free_of_var.astype(np.float64), integer=True)
    # every block's free dwellings go to exactly one eligible column each
    if problem.n_vars:
        lp.add_cons(
            problem.var_block,
            x,
            np.ones(problem.n_vars),
            problem.blocks.free.astype(np.float64),
            problem.blocks.free.astype(np.float64),
            problem.blocks.n,
        )
    model = AnnualModel(problem=problem, lp=lp, x=x, dev={})
    modelled = sorted(soft | hard)
    if not modelled:
        return model
    t_row, t_var = row_expression(problem)
    position = np.full(len(problem.rows), -1, dtype=np.int64)
    position[modelled] = np.arange(len(modelled))
    keep = position[t_row] >= 0
    fixed = problem.fixed_count[modelled]
    lo = np.zeros(len(modelled))
    hi = np.full(len(modelled), INF)
    for k, pos in enumerate(modelled):
        if pos in hard:
            a, b = problem.rows[pos].admissible()
            lo[k], hi[k] = a, (b if b < 10**11 else INF)
    n_terms = int(keep.sum())
    if count_vars:
        # count variables, bounded by the hard bands; c − Σx = fixed
        c = lp.add_vars(lo, hi, integer=True)
        model.count = {pos: int(c[k]) for k, pos in enumerate(modelled)}
        lp.add_cons(
            np.concatenate([position[t_row[keep]], np.arange(len(modelled))]),
            np.concatenate([x[t_var[keep]], c]),
            np.concatenate([-np.ones(n_terms), np.ones(len(modelled))]),
            fixed,
            fixed,
            len(modelled),
        )
    else:
        # hard bands directly on the sums: lo − fixed ≤ Σx ≤ hi − fixed
        hard_pos = np.array([k for k, pos in enumerate(modelled) if pos in hard], dtype=np.int64)
        if len(hard_pos):
            renum = np.full(len(modelled), -1, dtype=np.int64)
            renum[hard_pos] = np.arange(len(hard_pos))
            sel = keep & np.isin(position[t_row], hard_pos)
            lp.add_cons(
                renum[position[t_row[sel]]],
                x[t_var[sel]],
                np.ones(int(sel.sum())),
                lo[hard_pos] - fixed[hard_pos],
                hi[hard_pos] - fixed[hard_pos],
                len(hard_pos),
            )
    members = {}
    if not count_vars:
        rp = position[t_row[keep]]
        order = np.argsort(rp, kind="stable")
        bounds = np.searchsorted(rp[order], np.arange(len(modelled) + 1))
        xs = x[t_var[keep]][order]
        members = {k: xs[bounds[k] : bounds[k + 1]] for k in range(len(modelled))}
    soft_sorted = sorted(soft)
    if soft_sorted:
        d = lp.add_vars(np.zeros(len(soft_sorted)), np.full(len(soft_sorted), INF), integer=False)
        rows_: list[int] = []
        cols_: list[int] = []
        vals_: list[float] = []
        rhs: list[float] = []
        k = 0
        for i, pos in enumerate(soft_sorted):
            row = problem.rows[pos]
            model.dev[pos] = int(d[i])
            t = row.target
            if count_vars:
                terms = np.array([c[position[pos]]], dtype=np.int64)
                shift = 0.0
            else:
                terms = members[int(position[pos])]
                shift = float(fixed[position[pos]])  # c = shift + Σ terms
            pieces: list[tuple[float, float]] = []  # d + coef·c ≥ rhs
            if row.sense in (Sense.EQ, Sense.LE):
                pieces.append((-1.0, -t))  # d ≥ c − t
            if row.sense in (Sense.EQ, Sense.GE):
                pieces.append((1.0, t))  # d ≥ t − c
            rc = rounding_cut(t) if cut and row.sense is Sense.EQ else None
            if rc is not None:
                pieces.append((-rc[0], rc[1]))  # d − slope·c ≥ intercept
                model.cut_rows += 1
            for coef, r in pieces:
                rows_ += [k] * (1 + len(terms))
                cols_ += [int(d[i]), *terms.tolist()]
                vals_ += [1.0] + [coef] * len(terms)
                rhs.append(r - coef * shift)
                k += 1
        lp.add_cons(
            np.asarray(rows_, dtype=np.int64),
            np.asarray(cols_, dtype=np.int64),
            np.asarray(vals_),
            np.asarray(rhs),
            INF,
            k,
        )
    return model
