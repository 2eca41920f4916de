"""How figures look and are saved: colours per method, matplotlib settings, panels, legend, files.

matplotlib is imported inside the functions that draw: it takes seconds to import and tables-only
reports never need it.
"""

from __future__ import annotations

import io
import math
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from dpcondense.conventions import size_unit
from dpcondense.reporting.labels import model_label
from dpcondense.reporting.runs import ExperimentRuns

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure

FIGURE_DPI = 150

#: colour per method (colour-blind-safe Okabe–Ito); others take the next free one
_COLOURS = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
    # more methods than Okabe-Ito's eight: distinct colours from matplotlib's tab10/tab20
    "#9467BD", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#1B1B6B", "#E377C2", "#2E8B57", "#A0522D",
    "#FF7F0E", "#6B8E23", "#800000", "#4682B4", "#DAA520",
]
_FIXED_COLOURS = {"dpzo": "#0072B2", "dp_gaussian": "#D55E00", "random_subset": "#009E73", "kmeans": "#CC79A7"}

_RC = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.hashsalt": "dpcondense",
    "pdf.fonttype": 42,
    "path.simplify": False,
}


def new_figure(n_panels: int, *, ncols: int = 3, panel: tuple[float, float] = (3.4, 2.8), extra_height: float = 0.6) -> tuple["Figure", list[Any]]:
    """A constrained-layout figure with ``n_panels`` axes (a "no finished runs" note when 0).

    Parameters
    ----------
    n_panels : int
        Axes wanted; spare grid cells are hidden.
    ncols : int
        Columns of the grid (fewer when there are fewer panels).
    panel : (float, float)
        Width and height of one panel, in inches.
    extra_height : float
        Inches added for the title and the shared legend.

    Returns
    -------
    (Figure, list of Axes)
        The figure and its axes, row by row.
    """
    from matplotlib.figure import Figure  # seconds to import: only when a figure is drawn

    n = max(1, n_panels)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    with rc_context():
        fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + extra_height), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    if n_panels == 0:
        axes[0].set_visible(True)
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "no finished runs for this figure", ha="center", va="center", transform=axes[0].transAxes, gid="empty")
    return fig, axes


def rc_context() -> "AbstractContextManager[Any]":
    """The report's matplotlib settings, for the duration of a ``with`` block (no global state)."""
    import matplotlib  # seconds to import: only when a figure is drawn or saved

    return matplotlib.rc_context(_RC)


def method_colour(method: str, methods: Sequence[str]) -> str:
    """The colour of ``method`` among ``methods`` (fixed for the known methods)."""
    if method in _FIXED_COLOURS:
        return _FIXED_COLOURS[method]
    free = [c for c in _COLOURS if c not in _FIXED_COLOURS.values()] or _COLOURS
    return free[sorted(methods).index(method) % len(free)] if method in methods else free[0]


def shared_legend(fig: "Figure", axes: Sequence[Any]) -> None:
    """One legend below the panels with every label of ``axes`` once."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncols=min(4, len(handles)), frameon=False)


def inf_position(finite: Sequence[float]) -> float:
    """Where ε = ∞ is drawn on the log axis: a decade and a half past the largest finite ε."""
    if not finite:
        return 1.0
    return max(finite) * 10 ** 1.5


def panel_title(runs: ExperimentRuns, d: str, model: str | None, size: int | None) -> str:
    """``<dataset>`` over ``(<family>, <size> <unit>)``: what a panel shows."""
    task = runs.task(d)
    size_text = f", {size} {size_unit(task)}" if size is not None else ""
    return f"{d}\n({model_label(model)}{size_text})"


def save_figure(fig: "Figure", stem: Path) -> list[Path]:
    """PNG and PDF with no timestamps or version strings (same figure → same bytes)."""
    paths = []
    with rc_context():
        for ext, metadata in (
            ("png", {"Software": None}),
            ("pdf", {"Creator": "dpcondense report", "Producer": None, "CreationDate": None, "ModDate": None}),
        ):
            path = stem.with_suffix(f".{ext}")
            fig.savefig(path, format=ext, dpi=FIGURE_DPI, metadata=metadata)
            paths.append(path)
    return paths


def figure_png(fig: "Figure") -> bytes:
    """The figure as PNG bytes (for notebooks: no pyplot, no global state)."""
    buffer = io.BytesIO()
    with rc_context():
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()
