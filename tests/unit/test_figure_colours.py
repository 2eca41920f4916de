"""A method keeps one colour across the panels of a figure (the legend is shared), even when the
datasets have different sets of methods (a classification-only method on some panels)."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex

from dpcondense.reporting import ExperimentRuns, RunRecord
from dpcondense.reporting.figures.figure1_privacy_utility import figure1_privacy_utility
from dpcondense.reporting.figures.figure2_sizes import figure2_sizes
from dpcondense.reporting.html_figures import RecordIndex, privacy_utility_figure, sizes_figure

#: (dataset, task, family, size, methods): dp_direct only on the classification panel
PANELS = [
    ("breast_cancer_wisconsin", "classification", "decision_tree", 10, ("dpzo", "aim", "dp_direct", "dp_merf", "mst")),
    ("gbsg", "survival", "cox_ph", 50, ("dpzo", "aim", "dp_merf", "mst")),
]
SHARED = ("aim", "dp_merf", "mst")


def _records() -> list[RunRecord]:
    out = []
    for dataset, task, family, size, methods in PANELS:
        metric = "auroc" if task == "classification" else "c_index"
        for method in methods:
            for eps in (1.0, 2.0):
                for n in (size, 2 * size):
                    for seed in (0, 1):
                        key = f"{dataset}-{method}-{eps}-{n}-{seed}"
                        out.append(RunRecord(key, key, dataset, task, method, family, family, eps, n, seed, True,
                                             {metric: 0.6 + 0.01 * seed}))
    return out


def _line_colour(ax, gid: str) -> str:
    (line,) = [a for a in ax.lines if a.get_gid() == gid]
    return to_hex(line.get_color())


def _panel(fig, dataset: str):
    return next(a for a in fig.axes if a.get_visible() and a.get_title().startswith(dataset))


@pytest.mark.parametrize("draw, gid", [(figure1_privacy_utility, "{m}"), (figure2_sizes, "{m}@ε=1")])
def test_a_method_has_one_colour_in_every_panel_and_in_the_legend(draw, gid):
    fig = draw(ExperimentRuns("unit", _records()))
    cls, surv = (_panel(fig, d) for d, *_ in PANELS)
    legend = {t.get_text(): to_hex(h.get_color()) for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    colours = set()
    for m in SHARED:
        label = next(t for t in legend if _line_colour(cls, gid.format(m=m)) == legend[t])  # the legend entry drawn in it
        assert _line_colour(cls, gid.format(m=m)) == _line_colour(surv, gid.format(m=m)) == legend[label]
        colours.add(_line_colour(cls, gid.format(m=m)))
    assert len(colours) == len(SHARED)  # and distinct methods stay distinct


def test_the_interactive_figures_colour_a_method_alike_on_every_dataset():
    runs = ExperimentRuns("unit", _records())
    index = RecordIndex(runs.records)
    for build in (privacy_utility_figure, sizes_figure):
        figures = [build(runs, d, index) for d, *_ in PANELS]
        for m in SHARED:
            seen = {t.line.color for f in figures for t in f.data if (t.meta or {}).get("method") == m and t.line.color}
            assert len(seen) == 1, (build.__name__, m, seen)
