"""The interactive figures of ``report.html`` (plotly): privacy–utility, sizes, transfer, convergence.

Every number comes from the same selection and aggregation as the static figures and tables:
:meth:`ExperimentRuns.stat` (mean ± std, ddof = 0, over the seeds of a cell),
:meth:`ExperimentRuns.full_data`, :func:`transfer_matrix` (Figure 4) and :func:`convergence_curves`
(Figure 3). What a hover shows — each seed's value and the run behind it — is looked up from the
run identities a :class:`Stat` carries, never recomputed. Nothing here reads a dataset: the
figures show metrics the runs logged (Figure 5, which is drawn from real rows, is not part of the
page).

Conventions a reader (and the tests) can rely on:

- one figure (:class:`Panel`) per dataset and section; its ``div_id`` is ``<section>-<dataset>``;
- every trace carries ``meta = {"family": ..., "method": ..., "role": ...}``: ``role`` is
  ``"line"`` for the one legend entry of a method (of a method × ε in the size curves, of an ε in
  the convergence traces) and ``"band"`` for its mean ± std band (same ``legendgroup``, no legend
  entry, so hiding a method hides its band);
- a dropdown per figure selects the evaluation family: it shows that family's traces only.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from dpcondense.conventions import size_unit
from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.models import MODELS
from dpcondense.reporting.figures.figure3_convergence import convergence_curves, convergence_datasets
from dpcondense.reporting.figures.figure4_transfer import transfer_matrix
from dpcondense.reporting.labels import MISSING, UNDEFINED, format_epsilon, method_label, metric_label, model_label
from dpcondense.reporting.records import INF, RunRecord, Stat
from dpcondense.reporting.runs import CHANCE_LEVEL, MAIN_EPSILON, MAIN_METHOD, ExperimentRuns
from dpcondense.reporting.style import inf_position, method_colour

if TYPE_CHECKING:  # plotly takes a second to import: only when the page is made
    from plotly.graph_objects import Figure

#: the sections of the page, in order: (key, title)
SECTIONS = (
    ("privacy-utility", "Privacy–utility"),
    ("sizes", "Utility vs condensation size"),
    ("transfer", "Cross-family transfer"),
    ("convergence", "Convergence"),
)
#: height of one figure, in pixels
FIGURE_HEIGHT = 460
FULL_DATA_COLOUR = "#000000"


@dataclass(frozen=True)
class Panel:
    """One interactive figure: its section, its dataset and the plotly figure."""

    section: str
    dataset: str
    figure: "Figure"

    @property
    def div_id(self) -> str:
        """The HTML id of the figure's element (stable: the same runs give the same id)."""
        return f"{self.section}-{re.sub(r'[^A-Za-z0-9_-]+', '_', self.dataset)}"


def build_panels(runs: ExperimentRuns) -> list[Panel]:
    """Every interactive figure of the page, section by section, datasets in the registry's order."""
    index = RecordIndex(runs.records)
    panels = [Panel("privacy-utility", d, privacy_utility_figure(runs, d, index)) for d in runs.datasets()]
    panels += [Panel("sizes", d, sizes_figure(runs, d, index)) for d in runs.datasets()]
    panels += [Panel("transfer", d, transfer_figure(runs, d, index)) for d in convergence_datasets(runs, MAIN_METHOD)]
    panels += [Panel("convergence", d, convergence_figure(runs, d)) for d in convergence_datasets(runs, MAIN_METHOD)]
    return panels


# ---------------------------------------------------------------------------------------------- hover
class RecordIndex:
    """The records behind a :class:`Stat`: its identities are record labels, one record per
    (label, evaluation family)."""

    def __init__(self, records: Iterable[RunRecord]) -> None:
        self._by_label = {(r.label, r.eval_model): r for r in records}

    def records(self, stat: Stat, eval_model: str) -> list[RunRecord]:
        """The stat's records for ``eval_model``, by seed."""
        found = [self._by_label[(label, eval_model)] for label in stat.identities if (label, eval_model) in self._by_label]
        return sorted(found, key=lambda r: (r.seed, r.label))


def stat_hover(title: str, metric: str, stat: Stat, records: Sequence[RunRecord]) -> str:
    """Hover text of one point: what it is, mean ± std over the seeds, then each seed's value and run."""
    lines = [f"<b>{html.escape(title)}</b>", f"{metric_label(metric)}: {stat.text()} over {stat.n} seed{'s' if stat.n != 1 else ''}"]
    for r in records:
        value = r.metrics.get(metric, math.nan)
        shown = f"{value:.4f}" if math.isfinite(value) else UNDEFINED
        lines.append(f"seed {r.seed}: {shown} · run {html.escape(r.label)}")
    return "<br>".join(lines)


# ---------------------------------------------------------------------------------------------- helpers
def _go() -> Any:
    import plotly.graph_objects as go  # a second to import: only when the page is made

    return go


def eval_families(runs: ExperimentRuns, dataset: str) -> list[str]:
    """The evaluation families the experiment's own runs used on ``dataset``, in the registry's order."""
    order = {n: i for i, n in enumerate(MODELS.names())}
    found = {r.eval_model for r in runs.records if r.dataset == dataset and not r.derived}
    return sorted(found, key=lambda n: (order.get(n, len(order)), n))


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band(go: Any, xs: Sequence[float], mean: Sequence[float], std: Sequence[float], colour: str, group: str,
          meta: Mapping[str, Any], *, alpha: float = 0.18) -> Any:
    """The mean ± std band as a filled polygon (no hover, no legend entry; hidden with its group)."""
    upper = [m + s for m, s in zip(mean, std)]
    lower = [m - s for m, s in zip(mean, std)]
    return go.Scatter(
        x=list(xs) + list(xs)[::-1], y=upper + lower[::-1], fill="toself", fillcolor=_rgba(colour, alpha),
        line={"width": 0}, mode="lines", hoverinfo="skip", showlegend=False, legendgroup=group,
        meta={**meta, "role": "band"}, name=f"{meta['method']} band",
    )


def _family_menu(fig: Any, groups: Sequence[tuple[str, range]], active: int, titles: Sequence[str]) -> None:
    """A dropdown selecting the evaluation family: each option shows that family's traces only."""
    n = len(fig.data)
    buttons = []
    for (family, indices), title in zip(groups, titles):
        visible = [i in indices for i in range(n)]
        buttons.append({"label": f"evaluated with {model_label(family)}", "method": "update",
                        "args": [{"visible": visible}, {"title.text": title}]})
    for k, (_, indices) in enumerate(groups):
        for i in indices:
            fig.data[i].visible = k == active
    fig.update_layout(
        updatemenus=[{"type": "dropdown", "buttons": buttons, "active": active, "x": 0.0, "xanchor": "left",
                      "y": 1.03, "yanchor": "bottom", "showactive": True}],
    )


def _layout(fig: Any, title: str, x_title: str, y_title: str) -> None:
    fig.update_layout(
        template="plotly_white", height=FIGURE_HEIGHT,
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.97, "yanchor": "top", "font": {"size": 14}},
        margin={"t": 100, "b": 60, "l": 70, "r": 20}, hovermode="closest", hoverlabel={"align": "left", "font": {"size": 11}},
        legend={"title": {"text": "click to hide / show"}, "groupclick": "togglegroup"},
        xaxis={"title": {"text": x_title}}, yaxis={"title": {"text": y_title}},
    )


def _active(families: Sequence[str], main: str | None) -> int:
    return families.index(main) if main in families else 0


# ---------------------------------------------------------------------------------------------- figures
def privacy_utility_figure(runs: ExperimentRuns, dataset: str, index: RecordIndex) -> "Figure":
    """Primary metric vs ε (log axis, ε = ∞ apart) at the main family and default size, per
    evaluation family: one trace per method — private methods as a curve with its mean ± std band,
    the random subset and the full data as horizontal reference lines (Figure 1's selection)."""
    go = _go()
    task, model, size = runs.task(dataset), runs.main_model(dataset), runs.default_size(dataset)
    metric = PRIMARY_METRIC[task]
    finite = [e for e in runs.epsilons() if math.isfinite(e)]
    x_inf = inf_position(finite)
    ticks = finite + [x_inf]
    methods, palette = runs.methods(dataset), runs.methods()  # colours: one per method, page-wide
    fig = go.Figure()
    families = eval_families(runs, dataset)
    groups, titles = [], []
    for b in families:
        start = len(fig.data)
        for m in [*[m for m in methods if m != "full_data"], "full_data"]:
            colour = FULL_DATA_COLOUR if m == "full_data" else method_colour(m, palette)
            meta = {"family": b, "method": m}
            group = f"{b}:{m}"
            if m == "full_data":
                s = runs.full_data(dataset, b, metric)
                points = [(x, s) for x in ticks] if s is not None and math.isfinite(s.mean) else []
            elif runs.is_private(m):
                where = dict(dataset=dataset, method=m, model=model, eval_model=b, size=size)
                points = [(e, runs.stat(metric, epsilon=e, **where)) for e in finite]
                points = [(e, s) for e, s in points if s is not None and math.isfinite(s.mean)]
                s_inf = runs.stat(metric, epsilon=INF, **where)
                if s_inf is not None and math.isfinite(s_inf.mean):
                    points.append((x_inf, s_inf))
            else:
                s = runs.stat(metric, dataset=dataset, method=m, model=model, eval_model=b, size=size)
                points = [(x, s) for x in ticks] if s is not None and math.isfinite(s.mean) else []
            if not points:
                continue
            line = m == "full_data" or not runs.is_private(m)
            name = "full data" if m == "full_data" else (method_label(m) + (" (not private)" if line else ""))
            hover = []
            for x, s in points:
                where_text = "ε = ∞" if x == x_inf else f"ε = {format_epsilon(x)}"
                title = f"{name}, {'any ε' if line else where_text}; evaluated with {model_label(b)}"
                hover.append(stat_hover(title, metric, s, index.records(s, b)))
            xs = [x for x, _ in points]
            mean = [s.mean for _, s in points]
            std = [s.std for _, s in points]
            # as in Figure 1: a band over the finite ε of a private method, a light one along a
            # non-private method's line, none for the full data (its std is in the hover)
            band_x = [] if m == "full_data" else (xs if line else [x for x in xs if x != x_inf])
            if len(band_x) > 1:
                fig.add_trace(_band(go, band_x, mean[: len(band_x)], std[: len(band_x)], colour, group, meta,
                                    alpha=0.1 if line else 0.18))
            if not line and x_inf in xs and len(xs) > 1:  # a gap before ε = ∞ (drawn apart, not joined)
                k = xs.index(x_inf)
                xs, mean, std, hover = xs[:k] + [None] + xs[k:], mean[:k] + [None] + mean[k:], std[:k] + [0.0] + std[k:], hover[:k] + [""] + hover[k:]
            fig.add_trace(go.Scatter(
                x=xs, y=mean, name=name, legendgroup=group, meta={**meta, "role": "line"}, mode="lines" if line else "lines+markers",
                line={"color": colour, "width": 1.6 if line else 2, "dash": "dash" if m == "full_data" else ("dot" if line else "solid")},
                marker={"size": 8, "color": colour}, connectgaps=False, hovertext=hover, hoverinfo="text",
                error_y=None if line else {"type": "data", "array": std, "visible": True, "color": colour, "thickness": 1, "width": 3},
            ))
        groups.append((b, range(start, len(fig.data))))
        titles.append(f"{dataset}: condensed with {model_label(model)}, size {size} {size_unit(task)}; evaluated with {model_label(b)}")
    active = _active(families, model)
    _layout(fig, titles[active] if titles else dataset, "privacy budget ε (log scale; ∞ = no noise)", metric_label(metric))
    _family_menu(fig, groups, active, titles)
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[format_epsilon(e) for e in finite] + ["∞"],
                     range=[math.log10(min(ticks) / 10 ** 0.3), math.log10(x_inf * 10 ** 0.3)])
    if finite:
        fig.add_vline(x=math.sqrt(max(finite) * x_inf), line={"color": "#999999", "width": 1, "dash": "dot"})
    return fig


def sizes_figure(runs: ExperimentRuns, dataset: str, index: RecordIndex, *, epsilons: Sequence[float] = (MAIN_EPSILON, INF)) -> "Figure":
    """Primary metric vs synthetic size per evaluation family: each private method at each ε in
    ``epsilons``, the non-private methods, the full data as a line (Figure 2's selection)."""
    go = _go()
    task, model = runs.task(dataset), runs.main_model(dataset)
    metric = PRIMARY_METRIC[task]
    methods, sizes, palette = runs.methods(dataset), runs.sizes(dataset), runs.methods()
    dashes = ["solid", "dashdot", "dash", "dot"]
    fig = go.Figure()
    families = eval_families(runs, dataset)
    groups, titles = [], []
    for b in families:
        start = len(fig.data)
        for m in methods:
            if m == "full_data":
                continue
            colour = method_colour(m, palette)
            private = runs.is_private(m)
            for k, e in enumerate(epsilons if private else (None,)):
                where = dict(dataset=dataset, method=m, model=model, eval_model=b, **({"epsilon": e} if private else {}))
                points = [(n, runs.stat(metric, size=n, **where)) for n in sizes]
                points = [(n, s) for n, s in points if s is not None and math.isfinite(s.mean)]
                if not points:
                    continue
                name = f"{method_label(m)}, ε = {format_epsilon(e)}" if private else f"{method_label(m)} (not private)"
                meta = {"family": b, "method": m, **({"epsilon": format_epsilon(e)} if private else {})}
                group = f"{b}:{m}:{format_epsilon(e) if private else ''}"
                xs, mean, std = [n for n, _ in points], [s.mean for _, s in points], [s.std for _, s in points]
                hover = [stat_hover(f"{name}, size {n}; evaluated with {model_label(b)}", metric, s, index.records(s, b)) for n, s in points]
                if len(xs) > 1:
                    fig.add_trace(_band(go, xs, mean, std, colour, group, meta))
                fig.add_trace(go.Scatter(
                    x=xs, y=mean, name=name, legendgroup=group, meta={**meta, "role": "line"}, mode="lines+markers",
                    line={"color": colour, "width": 2, "dash": dashes[k % len(dashes)] if private else "dot"},
                    marker={"size": 8, "color": colour, "symbol": "circle" if private else "diamond"},
                    hovertext=hover, hoverinfo="text",
                    error_y={"type": "data", "array": std, "visible": True, "color": colour, "thickness": 1, "width": 3},
                ))
        full = runs.full_data(dataset, b, metric)
        if full is not None and math.isfinite(full.mean) and sizes:
            xs = sizes if len(sizes) > 1 else [sizes[0] / 2, sizes[0] * 2]
            hover = stat_hover(f"full data; evaluated with {model_label(b)}", metric, full, index.records(full, b))
            fig.add_trace(go.Scatter(
                x=xs, y=[full.mean] * len(xs), name="full data", legendgroup=f"{b}:full_data", mode="lines",
                meta={"family": b, "method": "full_data", "role": "line"}, line={"color": FULL_DATA_COLOUR, "width": 1.6, "dash": "dash"},
                hovertext=[hover] * len(xs), hoverinfo="text",
            ))
        groups.append((b, range(start, len(fig.data))))
        titles.append(f"{dataset}: condensed with {model_label(model)}; evaluated with {model_label(b)}")
    active = _active(families, model)
    _layout(fig, titles[active] if titles else dataset, f"synthetic size ({size_unit(task)}, log scale)", metric_label(metric))
    _family_menu(fig, groups, active, titles)
    fig.update_xaxes(type="log", tickvals=sizes, ticktext=[str(n) for n in sizes])
    return fig


def transfer_figure(runs: ExperimentRuns, dataset: str, index: RecordIndex, *, method: str = MAIN_METHOD,
                    epsilon: float = MAIN_EPSILON) -> "Figure":
    """Figure 4's matrix as a heatmap: condensing family (rows, the full data last) × evaluation
    family (columns), mean ± std in each cell, the seeds and runs on hover; grey = no run."""
    go = _go()
    rows, cols, cells = transfer_matrix(runs, dataset, method=method, epsilon=epsilon)
    metric = PRIMARY_METRIC[runs.task(dataset)]
    row_names = ["full data" if r == "full_data" else model_label(r) for r in rows]
    z, text, hover = [], [], []
    for a, name, row in zip(rows, row_names, cells):
        z.append([c.mean if c is not None and math.isfinite(c.mean) else None for c in row])
        text.append([MISSING if c is None else (UNDEFINED if not math.isfinite(c.mean) else f"{c.mean:.2f}<br>± {c.std:.2f}") for c in row])
        what = "trained on the full training split" if a == "full_data" else f"{method_label(method)} release condensed with {name}"
        hover.append([
            f"<b>{html.escape(what)}</b><br>evaluated with {model_label(b)}: no finished run" if c is None
            else stat_hover(f"{what}; evaluated with {model_label(b)}", metric, c, index.records(c, b))
            for b, c in zip(cols, row)
        ])
    fig = go.Figure(go.Heatmap(
        z=z, x=[model_label(c) for c in cols], y=row_names, text=text, texttemplate="%{text}", hovertext=hover,
        hoverinfo="text", colorscale="Viridis", zmin=CHANCE_LEVEL, zmax=1.0, xgap=2, ygap=2,
        colorbar={"title": {"text": metric_label(metric)}}, meta={"dataset": dataset, "role": "heatmap"},
    ))
    _layout(fig, f"{dataset}: {method_label(method)} at ε = {format_epsilon(epsilon)}, default size",
            "evaluated with (family B)", "condensed with (family A)")
    fig.update_layout(plot_bgcolor="#d9d9d9")
    fig.update_yaxes(autorange="reversed")
    return fig


def convergence_figure(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD) -> "Figure":
    """Figure 3's curves: the private objective per optimisation step, one trace per ε (mean ±
    std band over the seeds' runs, main family, default size); hover names the runs."""
    go = _go()
    from plotly.colors import sample_colorscale  # part of plotly, imported with it

    grid = runs.epsilons(method=method)
    fig = go.Figure()
    for curve in convergence_curves(runs, dataset, method=method):
        e, k = curve.epsilon, grid.index(curve.epsilon)
        colour = "#000000" if math.isinf(e) else _hex(sample_colorscale("Viridis", [k / max(1, len(grid) - 1) * 0.85])[0])
        label = f"ε = {format_epsilon(e)}"
        meta = {"family": runs.main_model(dataset), "method": method, "epsilon": format_epsilon(e)}
        steps = [int(s) for s in curve.steps]
        mean, std = [float(v) for v in curve.mean], [float(v) for v in curve.std]
        fig.add_trace(_band(go, steps, mean, std, colour, label, meta))
        seeds = ", ".join(str(r.seed) for r in sorted(curve.records, key=lambda r: (r.seed, r.label)))
        ids = "<br>".join(f"run {html.escape(r.label)} (seed {r.seed})" for r in sorted(curve.records, key=lambda r: (r.seed, r.label)))
        fig.add_trace(go.Scatter(
            x=steps, y=mean, customdata=std, name=label, legendgroup=label, meta={**meta, "role": "line"}, mode="lines",
            line={"color": colour, "width": 1.6},
            hovertemplate=f"<b>{html.escape(method_label(method))}, {label}</b><br>step %{{x}}: objective %{{y:.4f}} ± %{{customdata:.4f}}"
                          f"<br>over seeds {seeds}<br>{ids}<extra></extra>",
        ))
    model, size = runs.main_model(dataset), runs.default_size(dataset)
    _layout(fig, f"{dataset}: {method_label(method)} condensed with {model_label(model)}, size {size} {size_unit(runs.task(dataset))}",
            "optimisation step", "objective (private estimate of the training loss; lower is better)")
    return fig


def _hex(colour: str) -> str:
    """``rgb(r, g, b)`` (plotly's colour scales) as ``#rrggbb``."""
    values = [round(float(v)) for v in re.findall(r"[\d.]+", colour)[:3]]
    return "#" + "".join(f"{v:02x}" for v in values)
