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
    #: the runs' curves (one row per record, cut to ``len(steps)``)
    values: np.ndarray


def smoothing_window(length: int) -> int:
    """Steps of Figure 3's trailing mean: a fortieth of the curve (1 for curves under 80 steps)."""
    return max(1, length // 40)


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each step (of the first ones at the start), along the last axis.

    Post-processing of the recorded private estimates: it costs no privacy.
    """
    total = np.cumsum(np.asarray(values, dtype=float), axis=-1)
    out = total.copy()
    out[..., window:] = total[..., window:] - total[..., :-window]
    return out / np.minimum(np.arange(1, total.shape[-1] + 1), window)


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
                                    tuple(r for r, _ in curves.values()), stack))
    return out


@register_figure("figure3", "figure3_convergence")
def figure3_convergence(runs: ExperimentRuns, *, method: str = MAIN_METHOD, used: set[str] | None = None) -> "Figure":
    """Figure 3: the objective curve (MLflow step metric ``objective``) per step, one line per ε,
    default size and main family. The private per-step estimate is noisy at finite ε, so the thick
    line is each seed's trailing mean over :func:`smoothing_window` steps, averaged over the seeds
    (band: ± its std over seeds); the thin faint line is the raw per-step mean over seeds.

    Artist gids: ``ε=<ε>`` (e.g. ``ε=1``, ``ε=∞``: the raw mean), ``ε=<ε>:smoothed`` and ``ε=<ε>:band``.
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
                smoothed = trailing_mean(curve.values, smoothing_window(len(curve.steps)))
                mean, std = smoothed.mean(axis=0), smoothed.std(axis=0)
                eps_text = format_epsilon(e)
                ax.plot(curve.steps, curve.mean, color=colour, lw=0.5, alpha=0.3, label=f"_raw ε = {eps_text}", gid=f"ε={eps_text}")
                ax.plot(curve.steps, mean, color=colour, lw=1.6, label=f"ε = {eps_text}", gid=f"ε={eps_text}:smoothed")
                ax.fill_between(curve.steps, mean - std, mean + std, color=colour, alpha=0.2, lw=0, gid=f"ε={eps_text}:band")
            ax.set_xlabel("optimisation step")
            ax.set_ylabel("objective (private estimate of\nthe training loss; lower is better)")
            ax.set_title(panel_title(runs, d, model, size))
            ax.grid(True, alpha=0.3, lw=0.5)
        shared_legend(fig, axes)
        fig.suptitle(
            f"Figure 3. {method_label(method)} convergence ({runs.experiment}): trailing mean over 1/40 of the steps, "
            "mean ± std over seeds (faint: the raw per-step mean)", fontsize=10,
        )
    return fig
