"""Captions say where the metrics were measured: the test split, or a validation part (tuning runs)."""

from __future__ import annotations

from types import SimpleNamespace

from dpcondense.reporting import INF, ExperimentRuns, RunRecord
from dpcondense.reporting.records import records_from_run
from dpcondense.reporting.tables.table2_main import table2_main
from dpcondense.reporting.tables.table3_privacy_utility import table3_privacy_utility


def _records(scored_on: str) -> list[RunRecord]:
    out = []
    for eps in (1.0, INF):
        for seed in (0, 1):
            out.append(RunRecord(f"id-{eps}-{seed}", f"run-{eps}-{seed}", "gbsg", "survival", "dpzo", "cox_ph", "cox_ph",
                                 eps, 50, seed, True, {"c_index": 0.6 + 0.01 * seed}, scored_on=scored_on))
    return out


def _captions(records: list[RunRecord]) -> list[str]:
    runs = ExperimentRuns("unit", records)
    tables = [table2_main(runs), table3_privacy_utility(runs)]
    return [t.caption for t in tables]


def test_test_split_runs_say_test_split_and_nothing_about_validation():
    t2, t3 = _captions(_records("test"))
    assert "tested on the real test split" in t2
    assert "validation" not in t2 and "validation" not in t3


def test_validation_runs_never_claim_the_test_split():
    t2, t3 = _captions(_records("validation"))
    assert "real test split" not in t2
    assert "validation part of the training split" in t2
    assert "validation part of the training split" in t3 and "not on the test split" in t3


def _run(params: dict[str, str]) -> SimpleNamespace:
    tags = {"identity": "abc", "method": "dpzo", "dataset": "gbsg", "task": "survival", "model": "cox_ph",
            "size": "50", "seed": "3", "epsilon": "1.0", "eval_models": "cox_ph"}
    metrics = {"cox_ph.c_index": 0.61, "random_subset.cox_ph.c_index": 0.58, "epsilon_spent": 1.0}
    return SimpleNamespace(info=SimpleNamespace(run_id="r1"), data=SimpleNamespace(tags=tags, metrics=metrics, params=params))


def test_records_carry_the_part_their_run_was_scored_on():
    validation = records_from_run(_run({"evaluate_on": "validation"}))
    test = records_from_run(_run({}))
    assert {r.scored_on for r in validation} == {"validation"}  # the run's own record and its reference's
    assert {r.scored_on for r in test} == {"test"}
    assert len(validation) == len(test) == 2


def test_figure3_trailing_mean_equals_a_loop():
    import numpy as np

    from dpcondense.reporting.figures.figure3_convergence import smoothing_window, trailing_mean

    values = np.random.default_rng(1).normal(size=(3, 130))
    for w in (1, 3, smoothing_window(130), 130):
        by_hand = np.array([[row[max(0, t - w + 1):t + 1].mean() for t in range(row.size)] for row in values])
        assert np.allclose(trailing_mean(values, w), by_hand, rtol=0, atol=1e-12)
    assert smoothing_window(1000) == 25 and smoothing_window(79) == 1
