"""Charts as inline SVG (matplotlib, Agg backend): offline, printable, byte-identical for the same inputs.

Determinism: a fixed `svg.hashsalt` (element ids), no date in the metadata, text kept as text
(`svg.fonttype = none`: smaller files, crisp print, the page's font). The functions take figures already
computed by the library and only draw them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import FuncFormatter, MaxNLocator

BLUE = "#1f4e79"
ORANGE = "#d9822b"
GREY = "#7f7f7f"
GREEN = "#2e7d32"
RED = "#c62828"

_RC: dict[str, Any] = {
    "svg.hashsalt": "fluxopt",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.formatter.use_locale": False,
    "path.simplify": True,
}


def fr_number(value: float, decimals: int = 1) -> str:
    """French notation: `−1,5` (true minus sign), `12`, `0`."""
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return text.replace("-", "\u2212").replace(".", ",")


def _svg(fig: plt.Figure, title: str, tight: bool = True) -> str:
    """Serialise a figure to an inline <svg> element (no XML prolog, accessible title).

    The SVG keeps its natural size (CSS caps it at the page width). `tight=False` skips the second layout
    pass of `bbox_inches="tight"` for charts whose margins are set by hand (half the time).
    """
    buffer = io.StringIO()
    fig.savefig(
        buffer,
        format="svg",
        metadata={"Date": None, "Creator": None, "Title": title},
        bbox_inches="tight" if tight else None,
    )
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The RDF <metadata> block (Dublin Core / Creative Commons identifiers) says nothing a reader needs.
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if 0 <= start < end:
        text = text[:start] + text[end + len("</metadata>") :]
    text = text.replace("<svg", f'<svg role="img" aria-label="{_attr(title)}" class="chart"', 1)
    return text


def _fr_axis(ax: Any) -> None:
    """French tick labels on the y axis (decimal comma, true minus sign)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fr_number(v, 2)))


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class CumulativeSeries:
    """One convention's cumulative figures, month by month (already computed by `fluxopt.compare`)."""

    title: str
    labels: Sequence[str]  # x tick labels, one per point
    target: Sequence[float]
    counted: Sequence[float]
    planned: Sequence[float] | None = None


def cumulative_chart(series: CumulativeSeries) -> str:
    """Cumulative counted designations against the cumulative target (and the plan, when given)."""
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(3.6, 2.3))
        fig.subplots_adjust(left=0.13, right=0.98, top=0.86, bottom=0.12)
        x = np.arange(len(series.labels))
        target = np.asarray(series.target, float)
        counted = np.asarray(series.counted, float)
        ax.fill_between(
            x,
            counted,
            target,
            where=counted >= target,
            color=GREEN,
            alpha=0.15,
            linewidth=0,
            interpolate=True,
        )
        ax.fill_between(
            x, counted, target, where=counted < target, color=RED, alpha=0.15, linewidth=0, interpolate=True
        )
        ax.plot(x, target, color=GREY, linestyle="--", linewidth=1.4, label="objectif")
        if series.planned is not None:
            ax.plot(x, series.planned, color=ORANGE, linestyle=":", linewidth=1.6, label="plan")
        ax.plot(x, counted, color=BLUE, linewidth=2.0, marker="o", markersize=2.5, label="imputés")
        ax.set_title(series.title, loc="left")
        ax.set_xticks(x, list(series.labels), fontsize=7)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        _fr_axis(ax)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        gap = counted[-1] - target[-1] if len(x) else 0.0
        colour = GREEN if gap >= -0.5 else RED
        ax.annotate(
            f"écart {fr_number(gap)}",
            xy=(1, 0.02),
            xycoords="axes fraction",
            ha="right",
            va="bottom",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
        return _svg(fig, f"Cumul des désignations imputées et objectif — {series.title}", tight=False)


def gap_bars(labels: Sequence[str], gaps: Sequence[float], title: str) -> str:
    """Horizontal bars of each convention's gap in dwellings (red behind, green ahead)."""
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        n = len(labels)
        left = 0.3 + 0.075 * max((len(label) for label in labels), default=4)
        width, height = 7.2, 0.28 * n + 1.0
        fig = plt.figure(figsize=(width, height))
        ax = fig.add_axes((left / width, 0.6 / height, 1 - (left + 0.2) / width, 1 - 0.95 / height))
        y = np.arange(n)[::-1]
        values = np.asarray(gaps, float)
        colours = [GREEN if g >= -0.5 else RED for g in values]
        ax.barh(y, values, color=colours, height=0.65)
        ax.set_yticks(y, list(labels), fontsize=8)
        ax.axvline(0, color="#333333", linewidth=0.8)
        for band in (-1, 1):
            ax.axvline(band, color=GREY, linewidth=0.6, linestyle=":")
        lim = max(1.5, float(np.abs(values).max()) * 1.25 if n else 1.5)
        ax.set_xlim(-lim, lim)
        for yy, v in zip(y, values, strict=True):
            ax.text(
                v + (0.04 * lim if v >= 0 else -0.04 * lim),
                yy,
                fr_number(v),
                va="center",
                ha="left" if v >= 0 else "right",
                fontsize=7,
            )
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fr_number(v, 2)))
        ax.set_xlabel("écart en logements (imputés − objectif) ; pointillés : ±1 logement")
        ax.set_title(title, loc="left")
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        ax.set_axisbelow(True)
        return _svg(fig, title, tight=False)


@dataclass(frozen=True)
class HeatMap:
    """Gap (dwellings) per row label × column label; NaN where the row has no base for that value."""

    title: str
    rows: Sequence[str]
    columns: Sequence[str]
    groups: Sequence[tuple[str, int]]  # (group label, number of columns), left to right
    values: np.ndarray  # [rows, columns]


def heat_map(data: HeatMap) -> str:
    """A diverging heat map of gaps with the value written in each cell."""
    values = np.asarray(data.values, float)
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        n_rows, n_cols = values.shape
        # Margins in inches, from the label lengths: no second layout pass (bbox_inches="tight") needed.
        left = 0.25 + 0.065 * max((len(r) for r in data.rows), default=4)
        bottom = 0.3 + 0.05 * max((len(c) for c in data.columns), default=4)
        top, right = 0.75, 1.05
        cell_w, cell_h = 0.48, 0.27
        width = left + cell_w * n_cols + right
        height = bottom + cell_h * n_rows + top
        fig = plt.figure(figsize=(width, height))
        ax = fig.add_axes((left / width, bottom / height, cell_w * n_cols / width, cell_h * n_rows / height))
        cax = fig.add_axes(
            ((left + cell_w * n_cols + 0.15) / width, bottom / height, 0.12 / width, cell_h * n_rows / height)
        )
        finite = values[np.isfinite(values)]
        lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        # Vector cells (pcolormesh), not a raster image: crisp on screen and in print, no embedded PNG.
        cmap = plt.get_cmap("RdBu")
        ax.set_facecolor("#f2f2f2")  # cells without a base stay grey
        image = ax.pcolormesh(
            np.arange(n_cols + 1) - 0.5,
            np.arange(n_rows + 1) - 0.5,
            np.ma.masked_invalid(values),
            cmap=cmap,
            norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim),
            edgecolors="white",
            linewidth=0.5,
        )
        ax.set_xlim(-0.5, n_cols - 0.5)
        ax.set_ylim(n_rows - 0.5, -0.5)
        ax.set_xticks(np.arange(n_cols), list(data.columns), rotation=45, ha="right", fontsize=7)
        ax.set_yticks(np.arange(n_rows), list(data.rows), fontsize=7)
        for i in range(n_rows):
            for j in range(n_cols):
                v = values[i, j]
                if math.isfinite(v):
                    ax.text(
                        j,
                        i,
                        fr_number(v),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if abs(v) > 0.6 * lim else "#222222",
                    )
        start = 0
        for label, width in data.groups:
            if start:
                ax.axvline(start - 0.5, color="white", linewidth=2.5)
            ax.text(
                start + width / 2 - 0.5, -0.8, label, ha="center", va="bottom", fontsize=8, fontweight="bold"
            )
            start += width
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.tick_params(length=0)
        bar = fig.colorbar(image, cax=cax)
        if bar.solids is not None:
            bar.solids.set_rasterized(False)  # matplotlib rasterises long colour bars into a PNG
            bar.solids.set_edgecolor("face")  # no hairlines between the colour steps in SVG
        bar.set_label("écart en logements (bleu : en avance, rouge : en retard)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fr_number(v, 2)))
        ax.set_title(data.title, loc="left", pad=18)
        return _svg(fig, data.title, tight=False)
