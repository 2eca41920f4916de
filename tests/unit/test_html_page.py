"""``report.html``: byte-identical for the same runs, one legend trace per method present, hovers
that list exactly the seeds and runs of their cell, a working family selector, offline.

Built from hand-made records (no store, no dataset read): the expected values are computed here
from the records, independently of the report's aggregation.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import random
import re

import numpy as np
import pytest

from dpcondense.reporting import INF, ExperimentRuns, RunRecord
from dpcondense.reporting.html_figures import build_panels
from dpcondense.reporting.html_report import render_html
from dpcondense.reporting.tables.table5_cost import table5_cost

D, S = "breast_cancer_wisconsin", "metabric"
FAMILIES = ("decision_tree", "logistic_regression")
SEEDS = (0, 1, 2)


def _id(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _value(*parts: object) -> float:
    """A made-up metric value in [0.55, 0.95), fixed by its cell and seed."""
    return 0.55 + int(_id("value", *parts)[:8], 16) / 16**8 * 0.4


def make_records() -> list[RunRecord]:
    """DP-ZO at ε ∈ {1, ∞} × sizes {10, 20} × 3 seeds, two evaluation families (classification);
    random-subset runs; full-data reference records for one family only; DP-ZO on a survival set."""
    out = []
    for eps in (1.0, INF):
        for size in (10, 20):
            for seed in SEEDS:
                ident = _id("dpzo", eps, size, seed)
                for fam in FAMILIES:
                    out.append(RunRecord(ident, f"run-{ident[:8]}", D, "classification", "dpzo", "decision_tree", fam, eps, size,
                                         seed, True, {"auroc": _value("dpzo", eps, size, seed, fam)},
                                         {"wall_seconds": 1.0 + seed, "n_model_fits": 8.0, "epsilon_spent": eps}, 2))
                s_ident = _id("dpzo", S, eps, seed)
                out.append(RunRecord(s_ident, f"run-{s_ident[:8]}", S, "survival", "dpzo", "cox_ph", "cox_ph", eps, 50, seed, True,
                                     {"c_index": _value("s", eps, seed)}, {"wall_seconds": 2.0}, 2))
    for size in (10, 20):
        for seed in SEEDS:
            ident = _id("random_subset", size, seed)
            for fam in FAMILIES:
                out.append(RunRecord(ident, f"run-{ident[:8]}", D, "classification", "random_subset", "decision_tree", fam, INF,
                                     size, seed, False, {"auroc": _value("rs", size, seed, fam)}))
    for seed in SEEDS:  # a reference file's records: the full data for decision_tree only
        out.append(RunRecord(f"reference:{D}/decision_tree/seed={seed}", None, D, "classification", "full_data", None,
                             "decision_tree", INF, None, seed, False, {"auroc": _value("full", seed)}, derived=True))
    return out


def _history(run_id: str, key: str) -> list[float]:
    return [_value(run_id, key, step) for step in range(5)]


def make_runs(records: list[RunRecord] | None = None) -> ExperimentRuns:
    return ExperimentRuns("unit", records if records is not None else make_records(), history=_history)


@pytest.fixture(scope="module")
def runs() -> ExperimentRuns:
    return make_runs()


@pytest.fixture(scope="module")
def panels(runs):
    return {p.div_id: p for p in build_panels(runs)}


def _traces(panel, family: str | None = None, role: str | None = None) -> list:
    return [t for t in panel.figure.data if (family is None or t.meta.get("family") == family) and (role is None or t.meta.get("role") == role)]


def test_the_same_runs_give_the_same_bytes_whatever_their_order(runs):
    page = render_html(runs)
    shuffled = make_records()
    random.Random(0).shuffle(shuffled)
    assert render_html(make_runs(shuffled)) == page
    assert render_html(runs) == page
    # nothing that changes between renders or machines: no UUIDs, no fetched script or style
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", page)
    assert "<script src" not in page and "<link" not in page
    assert page.count("Plotly.newPlot(") == len(build_panels(runs))


def test_one_legend_trace_per_method_present_per_family(panels):
    panel = panels[f"privacy-utility-{D}"]
    for family, expected in (("decision_tree", {"dpzo", "random_subset", "full_data"}),
                             ("logistic_regression", {"dpzo", "random_subset"})):  # no full data for this family
        lines = _traces(panel, family, "line")
        assert sorted(t.meta["method"] for t in lines) == sorted(expected)
        assert all(t.showlegend is not False for t in lines)
        # every other trace is a band in the group of a legend trace (hidden with it)
        groups = {t.legendgroup for t in lines}
        assert all(t.showlegend is False and t.legendgroup in groups for t in _traces(panel, family, "band"))
    assert {t.meta["method"] for t in _traces(panels[f"privacy-utility-{S}"], role="line")} == {"dpzo"}


def test_a_point_shows_its_cell_mean_std_and_every_seed_with_its_run(panels, runs):
    line = next(t for t in _traces(panels[f"privacy-utility-{D}"], "logistic_regression", "line") if t.meta["method"] == "dpzo")
    by_label = {(r.label, r.eval_model): r for r in runs.records}
    for x, y, err, text in zip(line.x, line.y, line.error_y.array, line.hovertext):
        if x is None:  # the gap before ε = ∞
            continue
        eps = 1.0 if math.isclose(x, 1.0) else INF  # the default size is 10 rows per class
        values = [_value("dpzo", eps, 10, seed, "logistic_regression") for seed in SEEDS]
        assert y == pytest.approx(np.mean(values)) and err == pytest.approx(np.std(values))
        shown = re.findall(r"seed (\d+): ([0-9.]+) · run ([0-9a-f]{64})", text)
        assert [(int(s), float(v)) for s, v, _ in shown] == [(seed, round(v, 4)) for seed, v in zip(SEEDS, values)]
        for seed, _, ident in shown:
            record = by_label[(ident, "logistic_regression")]
            assert (record.seed, record.epsilon, record.size) == (int(seed), eps, 10)


def _hover_lines(panels) -> list[str]:
    texts = []
    for panel in panels.values():
        for t in panel.figure.data:
            for v in np.ravel(np.asarray(t.hovertext if t.hovertext is not None else [], dtype=object)):
                texts.append(str(v))
            if getattr(t, "hovertemplate", None):
                texts.append(t.hovertemplate)
    return [line.removesuffix("<extra></extra>") for text in texts for line in text.split("<br>")]


def test_every_run_a_hover_names_is_a_run_of_the_record_set(panels, runs):
    shown = {m.group(1) for line in _hover_lines(panels) if (m := re.search(r"run (.+?)(?: \(seed \d+\))?$", line))}
    assert shown <= {r.label for r in runs.records}
    assert any(s.startswith("reference:") for s in shown)  # the full-data references are named too
    # every private run and every random-subset run of the main family appears somewhere
    assert {r.identity for r in runs.records if r.method in ("dpzo", "random_subset")} <= shown
    assert set(re.findall(r"run ([0-9a-f]{64})", render_html(runs))) <= {r.identity for r in runs.records}


def test_the_family_menu_shows_one_family_at_a_time(panels):
    for key in (f"privacy-utility-{D}", f"sizes-{D}"):
        fig = panels[key].figure
        (menu,) = fig.layout.updatemenus
        labels = [b.label for b in menu.buttons]
        assert labels == [f"evaluated with {f.replace('_', ' ')}" for f in FAMILIES]
        assert menu.active == 0  # the condensing family
        for button, family in zip(menu.buttons, FAMILIES):
            visible = button.args[0]["visible"]
            assert [t.meta["family"] == family for t in fig.data] == visible
        assert [t.visible for t in fig.data] == [t.meta["family"] == "decision_tree" for t in fig.data]


def test_transfer_convergence_and_cost_sections(panels, runs):
    heat = panels[f"transfer-{D}"].figure.data[0]
    assert list(heat.y) == ["decision tree", "full data"] and list(heat.x) == ["decision tree", "logistic regression"]
    expected = np.mean([_value("dpzo", 1.0, 10, seed, "logistic_regression") for seed in SEEDS])
    assert heat.z[0][1] == pytest.approx(expected)
    assert heat.z[1][1] is None and "no finished run" in heat.hovertext[1][1]  # no full data for that family
    conv = [t for t in panels[f"convergence-{D}"].figure.data if t.meta["role"] == "line"]
    assert [t.name for t in conv] == ["ε = 1", "ε = ∞"]
    curves = np.array([_history(f"run-{_id('dpzo', 1.0, 10, seed)[:8]}", "objective") for seed in SEEDS])
    assert list(conv[0].y) == pytest.approx(curves.mean(axis=0)) and list(conv[0].customdata) == pytest.approx(curves.std(axis=0))
    page = render_html(runs)
    cost = page[page.index('<table id="table5">'):page.index("</table>")]
    table = table5_cost(runs)
    rows = re.findall(r"<tr>(.*?)</tr>", cost)
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == [html.escape(h) for h in table.header]
    assert [re.findall(r"<td>(?:<strong>)?(.*?)(?:</strong>)?</td>", r) for r in rows[1:]] == [
        [html.escape(c) for c in row] for row in table.cells()
    ]
    json.loads(json.dumps(panels[f"sizes-{D}"].figure.to_plotly_json(), default=str))  # serialisable
