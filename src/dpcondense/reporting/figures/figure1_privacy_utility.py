"""Figure 1: privacy–utility (primary metric vs ε, ε = ∞ drawn apart, full data dashed)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.reporting.figures.base import register_figure
from dpcondense.reporting.labels import format_epsilon, method_label, metric_label
from dpcondense.reporting.records import INF
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.style import inf_position, method_colour, new_figure, panel_title, rc_context, shared_legend

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure


@register_figure("figure1", "figure1_privacy_utility")
def figure1_privacy_utility(runs: ExperimentRuns, *, used: set[str] | None = None) -> "Figure":
    """Figure 1: primary metric vs ε (log axis, ε = ∞ drawn apart), one line per private method
    with a ±std band, non-private methods dotted, the full-data reference dashed.

    Artist gids: ``<method>`` (line over finite ε), ``<method>:band``, ``<method>:inf`` (the ∞
    point), ``full_data``, ``inf-separator``.
    """
    used = set() if used is None else used
    datasets = runs.datasets()
    finite_all = [e for e in runs.epsilons() if math.isfinite(e)]
    x_inf = inf_position(finite_all)
    fig, axes = new_figure(len(datasets))
    palette = runs.methods()  # a method's colour is the same in every panel (the legend is shared)
    with rc_context():
        for ax, d in zip(axes, datasets):
            task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
            metric = PRIMARY_METRIC[task]
            methods = runs.methods(d)
            for m in methods:
                if m == "full_data":
                    continue
                colour = method_colour(m, palette)
                where = dict(dataset=d, method=m, model=model, eval_model=model, size=size)
                if runs.is_private(m):
                    pts = [(e, runs.stat(metric, epsilon=e, **where)) for e in finite_all]
                    pts = [(e, s) for e, s in pts if s is not None and math.isfinite(s.mean)]
                    for _, s in pts:
                        used.update(s.identities)
                    if pts:
                        xs = [e for e, _ in pts]
                        mean = np.array([s.mean for _, s in pts])
                        std = np.array([s.std for _, s in pts])
                        ax.plot(xs, mean, "-o", color=colour, ms=4, lw=1.5, label=method_label(m), gid=m)
                        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.2, lw=0, gid=f"{m}:band")
                        # error bars too: a band is invisible when the grid has a single finite ε
                        err = ax.errorbar(xs, mean, yerr=std, fmt="none", ecolor=colour, capsize=2, lw=0.8)
                        err.lines[2][0].set_gid(f"{m}:err")
                    s_inf = runs.stat(metric, epsilon=INF, **where)
                    if s_inf is not None and math.isfinite(s_inf.mean):
                        used.update(s_inf.identities)
                        cont = ax.errorbar([x_inf], [s_inf.mean], yerr=[s_inf.std], fmt="s", color=colour, ms=5, capsize=3,
                                           label=method_label(m) if not pts else None)
                        cont.lines[0].set_gid(f"{m}:inf")
                else:
                    s = runs.stat(metric, **where)
                    if s is not None and math.isfinite(s.mean):
                        used.update(s.identities)
                        ax.axhline(s.mean, color=colour, ls=":", lw=1.5, label=f"{method_label(m)} (not private)", gid=m)
                        ax.axhspan(s.mean - s.std, s.mean + s.std, color=colour, alpha=0.1, lw=0, gid=f"{m}:band")
            full = runs.full_data(d, model, metric)
            if full is not None and math.isfinite(full.mean):
                used.update(full.identities)
                ax.axhline(full.mean, color="black", ls="--", lw=1.2, label="full data", gid="full_data")
            ax.set_xscale("log")
            ticks = finite_all + [x_inf]
            ax.set_xticks(ticks, [format_epsilon(e) for e in finite_all] + ["∞"])
            ax.minorticks_off()
            if finite_all:
                ax.axvline(math.sqrt(max(finite_all) * x_inf), color="0.6", lw=0.8, ls=(0, (1, 2)), gid="inf-separator")
                ax.set_xlim(min(finite_all) / 10 ** 0.3, x_inf * 10 ** 0.3)
            ax.set_xlabel("privacy budget ε (log scale; ∞ = no noise)")
            ax.set_ylabel(metric_label(metric))
            ax.set_title(panel_title(runs, d, model, size))
            ax.grid(True, alpha=0.3, lw=0.5)
        shared_legend(fig, axes)
        fig.suptitle(f"Figure 1. Privacy–utility ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig
