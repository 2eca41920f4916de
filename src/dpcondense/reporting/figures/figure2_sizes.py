"""Figure 2: utility vs condensation size, at each ε of interest and for the non-private methods."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from dpcondense.conventions import size_unit
from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.reporting.figures.base import register_figure
from dpcondense.reporting.labels import format_epsilon, method_label, metric_label
from dpcondense.reporting.records import INF
from dpcondense.reporting.runs import MAIN_EPSILON, ExperimentRuns
from dpcondense.reporting.style import method_colour, new_figure, panel_title, rc_context, shared_legend

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure


@register_figure("figure2", "figure2_sizes")
def figure2_sizes(runs: ExperimentRuns, *, epsilons: Sequence[float] = (MAIN_EPSILON, INF), used: set[str] | None = None) -> "Figure":
    """Figure 2: primary metric vs synthetic size at each ε in ``epsilons`` (private methods) and
    for the non-private methods (random subset), full data dashed.

    Artist gids: ``<method>@ε=<ε>`` (e.g. ``dpzo@ε=1``, ``dpzo@ε=∞``), ``<method>`` for
    non-private methods, ``...:band``, ``full_data``.
    """
    used = set() if used is None else used
    datasets = runs.datasets()
    fig, axes = new_figure(len(datasets))
    palette = runs.methods()  # a method's colour is the same in every panel (the legend is shared)
    styles = ["-o", "-.s", "--^", ":v"]
    with rc_context():
        for ax, d in zip(axes, datasets):
            task, model = runs.task(d), runs.main_model(d)
            metric = PRIMARY_METRIC[task]
            methods = runs.methods(d)
            sizes = runs.sizes(d)
            for m in methods:
                if m == "full_data":
                    continue
                colour = method_colour(m, palette)
                private = runs.is_private(m)
                for k, e in enumerate(epsilons if private else (None,)):
                    where = dict(dataset=d, method=m, model=model, eval_model=model)
                    if private:
                        where["epsilon"] = e
                    pts = [(n, runs.stat(metric, size=n, **where)) for n in sizes]
                    pts = [(n, s) for n, s in pts if s is not None and math.isfinite(s.mean)]
                    if not pts:
                        continue
                    for _, s in pts:
                        used.update(s.identities)
                    xs = [n for n, _ in pts]
                    mean = np.array([s.mean for _, s in pts])
                    std = np.array([s.std for _, s in pts])
                    gid = f"{m}@ε={format_epsilon(e)}" if private else m
                    label = f"{method_label(m)}, ε = {format_epsilon(e)}" if private else f"{method_label(m)} (not private)"
                    style = styles[k % len(styles)] if private else ":D"
                    ax.plot(xs, mean, style, color=colour, ms=4, lw=1.5, label=label, gid=gid)
                    ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.15, lw=0, gid=f"{gid}:band")
            full = runs.full_data(d, model, metric)
            if full is not None and math.isfinite(full.mean):
                used.update(full.identities)
                ax.axhline(full.mean, color="black", ls="--", lw=1.2, label="full data", gid="full_data")
            if sizes:
                ax.set_xscale("log")
                ax.set_xticks(sizes, [str(n) for n in sizes])
                ax.minorticks_off()
            ax.set_xlabel(f"synthetic size ({size_unit(task)}, log scale)")
            ax.set_ylabel(metric_label(metric))
            ax.set_title(panel_title(runs, d, model, None))
            ax.grid(True, alpha=0.3, lw=0.5)
        shared_legend(fig, axes)
        fig.suptitle(f"Figure 2. Utility vs condensation size ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig
