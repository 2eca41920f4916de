"""Figure 3: convergence (the ``objective`` step metric per optimisation step, one line per ε)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dpcondense.reporting.figures.base import register_figure
from dpcondense.reporting.labels import format_epsilon, method_label
from dpcondense.reporting.records import RunRecord
from dpcondense.reporting.runs import MAIN_METHOD, ExperimentRuns
from dpcondense.reporting.style import new_figure, panel_title, rc_context, shared_legend

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class ConvergenceCurve:
    """The objective per step at one ε: mean and std (ddof = 0) over the seeds' runs, step by step.

    Curves of different lengths are cut to the shortest; ``steps`` counts from 1.
    """

    epsilon: float
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    #: one record per run drawn (its seed, identity and run id)
    records: tuple[RunRecord, ...]


def convergence_datasets(runs: ExperimentRuns, method: str = MAIN_METHOD) -> list[str]:
    """The datasets with records of ``method`` (one Figure 3 panel each)."""
    return [d for d in runs.datasets() if runs.select(dataset=d, method=method)]


def convergence_curves(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD) -> list[ConvergenceCurve]:
    """The objective curves of ``method`` on ``dataset`` (main family, default size), one per ε
    with a recorded ``objective`` history, in ε order."""
    model, size = runs.main_model(dataset), runs.default_size(dataset)
    out = []
    for e in runs.epsilons(method=method):
        curves: dict[str, tuple[RunRecord, list[float]]] = {}
        for r in runs.select(dataset=dataset, method=method, model=model, eval_model=model, size=size, epsilon=e):
            if r.run_id not in curves:
                curve = runs.history(r.run_id, "objective")
                if curve:
                    curves[r.run_id] = (r, curve)
        if not curves:
            continue
        length = min(len(c) for _, c in curves.values())
        stack = np.array([c[:length] for _, c in curves.values()], dtype=float)
        out.append(ConvergenceCurve(e, np.arange(1, length + 1), stack.mean(axis=0), stack.std(axis=0),
                                    tuple(r for r, _ in curves.values())))
    return out


@register_figure("figure3", "figure3_convergence")
def figure3_convergence(runs: ExperimentRuns, *, method: str = MAIN_METHOD, used: set[str] | None = None) -> "Figure":
    """Figure 3: the objective curve (MLflow step metric ``objective``) per step, one line per ε
    (mean over seeds, ±std band), default size and main family.

    Artist gids: ``ε=<ε>`` (e.g. ``ε=1``, ``ε=∞``) and ``ε=<ε>:band``.
    """
    import matplotlib  # seconds to import: only when a figure is drawn

    used = set() if used is None else used
    datasets = convergence_datasets(runs, method)
    fig, axes = new_figure(len(datasets))
    grid = runs.epsilons(method=method)
    cmap = matplotlib.colormaps["viridis"]
    with rc_context():
        for ax, d in zip(axes, datasets):
            model, size = runs.main_model(d), runs.default_size(d)
            for curve in convergence_curves(runs, d, method=method):
                e, k = curve.epsilon, grid.index(curve.epsilon)
                used.update(r.label for r in curve.records)
                colour = "black" if math.isinf(e) else cmap(k / max(1, len(grid) - 1) * 0.85)
                ax.plot(curve.steps, curve.mean, color=colour, lw=1.2, label=f"ε = {format_epsilon(e)}", gid=f"ε={format_epsilon(e)}")
                ax.fill_between(curve.steps, curve.mean - curve.std, curve.mean + curve.std, color=colour, alpha=0.15, lw=0,
                                gid=f"ε={format_epsilon(e)}:band")
            ax.set_xlabel("optimisation step")
            ax.set_ylabel("objective (private estimate of\nthe training loss; lower is better)")
            ax.set_title(panel_title(runs, d, model, size))
            ax.grid(True, alpha=0.3, lw=0.5)
        shared_legend(fig, axes)
        fig.suptitle(f"Figure 3. {method_label(method)} convergence ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig
