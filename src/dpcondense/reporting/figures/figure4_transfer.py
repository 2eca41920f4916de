"""Figure 4: cross-family transfer heatmaps (condensing family × evaluation family, per dataset)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.models import MODELS
from dpcondense.reporting.figures.base import register_figure
from dpcondense.reporting.labels import MISSING, UNDEFINED, format_epsilon, method_label, metric_label, model_label
from dpcondense.reporting.records import Stat
from dpcondense.reporting.runs import CHANCE_LEVEL, MAIN_EPSILON, MAIN_METHOD, ExperimentRuns
from dpcondense.reporting.style import new_figure, rc_context
from dpcondense.reporting.table import runs_of

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure


def transfer_matrix(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> tuple[list[str], list[str], list[list[Stat | None]]]:
    """(condensing families A, evaluation families B, cells[A][B]) for one dataset; the last row
    is ``full_data`` (B trained on the full training split)."""
    order = {n: i for i, n in enumerate(MODELS.names())}
    key = lambda n: (order.get(n, len(order)), n)  # noqa: E731
    task, size = runs.task(dataset), runs.default_size(dataset)
    metric = PRIMARY_METRIC[task]
    families = sorted({r.model for r in runs.records if r.dataset == dataset and r.method == method and r.model}, key=key)
    evals = sorted({r.eval_model for r in runs.records if r.dataset == dataset and not r.derived}, key=key)
    cells = [[runs.stat(metric, dataset=dataset, method=method, model=a, eval_model=b, epsilon=epsilon, size=size) for b in evals] for a in families]
    cells.append([runs.full_data(dataset, b, metric) for b in evals])
    return families + ["full_data"], evals, cells


@register_figure("figure4", "figure4_transfer")
def figure4_transfer(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON, used: set[str] | None = None) -> "Figure":
    """Figure 4: cross-family transfer heatmap per dataset (rows: condensing family, last row the
    full data; columns: evaluation family); grey = no run. The image's gid is the dataset."""
    import matplotlib  # seconds to import: only when a figure is drawn

    used = set() if used is None else used
    datasets = [d for d in runs.datasets() if runs.select(dataset=d, method=method)]
    fig, axes = new_figure(len(datasets), panel=(3.6, 3.2))
    with rc_context():
        for ax, d in zip(axes, datasets):
            rows, cols, cells = transfer_matrix(runs, d, method=method, epsilon=epsilon)
            data = np.array([[c.mean if c is not None else np.nan for c in row] for row in cells], dtype=float)
            for row in cells:
                used.update(runs_of(*row))
            cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
            # one scale for every panel: chance (0.5) to perfect (1) for AUROC and the C-index
            vmin, vmax = CHANCE_LEVEL, 1.0
            image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
            image.set_gid(d)
            for i in range(data.shape[0]):
                for j in range(data.shape[1]):
                    c = cells[i][j]
                    text = MISSING if c is None else (UNDEFINED if not math.isfinite(c.mean) else f"{c.mean:.2f}\n±{c.std:.2f}")
                    dark = np.isfinite(data[i, j]) and (data[i, j] - vmin) / (vmax - vmin) < 0.55
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
            ax.set_xticks(range(len(cols)), [model_label(c) for c in cols], rotation=30, ha="right")
            ax.set_yticks(range(len(rows)), [model_label(r) if r != "full_data" else "full data" for r in rows])
            if len(rows) > 1:
                ax.axhline(len(rows) - 1.5, color="white", lw=2)
            ax.set_xlabel("evaluated with (family B)")
            ax.set_ylabel("condensed with (family A)")
            ax.set_title(f"{d}, ε = {format_epsilon(epsilon)}")
            bar = fig.colorbar(image, ax=ax, shrink=0.8)
            bar.set_label(metric_label(PRIMARY_METRIC[runs.task(d)]))
        fig.suptitle(f"Figure 4. Cross-family transfer of {method_label(method)} releases ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig
