"""The one orchestration path: a spec → ``run_one`` → a typed result, shared by every surface."""

from __future__ import annotations

import numpy as np
import pytest

from dpcondense.benchmark import RunConfigError, resolve_run, run_one
from dpcondense.data import train_test_split
from dpcondense.datasets import card, load_dataset
from dpcondense.models.defaults import family_params

TINY = {"steps": 2, "directions": 2}


def config(**over):
    base = {
        "dataset": card("pima_diabetes"),
        "model": {"name": "decision_tree", "params": family_params("decision_tree")},
        "method": {"name": "dpzo", "params": dict(TINY)},
        "privacy": {"epsilon": 1.0, "delta": 1e-5},
        "size": 3,
        "seed": 2,
        "progress": False,
    }
    return {**base, **over}


def rows(frame) -> set[tuple]:
    return set(map(tuple, frame.astype(str).to_numpy()))


def test_validation_runs_fit_and_score_inside_the_training_split():
    test_run = run_one(resolve_run(config()))
    val_spec = resolve_run(config(evaluate_on="validation"))
    val_run = run_one(val_spec)
    train, test = train_test_split(load_dataset("pima_diabetes"), seed=2)
    # fit part + validation part = the training split; nothing of the test split is used
    assert val_run.train.n_rows + val_run.test.n_rows == train.n_rows
    assert rows(val_run.test.features) <= rows(train.features)
    assert rows(val_run.train.features) | rows(val_run.test.features) == rows(train.features)
    assert test_run.test.checksum() == test.checksum() and val_run.test.checksum() != test.checksum()
    # a tuning run is never the same run as a reported one; a test-split run keeps its identity
    assert val_spec.identity != resolve_run(config()).identity
    assert "evaluate_on" not in resolve_run(config()).payload()
    assert val_spec.params()["evaluate_on"] == "validation"


def test_evaluate_on_names_the_allowed_values():
    with pytest.raises(RunConfigError, match="evaluate_on='holdout' must be one of: test, validation"):
        resolve_run(config(evaluate_on="holdout"))


def test_run_result_is_the_release_and_its_local_context():
    result = run_one(resolve_run(config(references=True)))
    assert result.synthetic is result.estimator.synthetic_
    assert result.ledger is result.estimator.ledger_ and result.count is None
    assert set(result.metrics) == {"decision_tree", "full_data", "random_subset"}
    assert result.config["method_params"] == {**TINY, "progress": False}
    assert result.dataset.n_rows == result.train.n_rows + result.test.n_rows
    again = run_one(resolve_run(config(references=True)))
    np.testing.assert_array_equal(again.synthetic.to_numpy(), result.synthetic.to_numpy())
    assert again.metrics == result.metrics


@pytest.mark.parametrize(
    "params, message",
    [
        ({"init": "random", "class_balance": True}, "class_balance=True uses the DP class counts"),
        ({"init": "real_rows", "class_balance": False}, "init='real_rows' copies real patients"),
        ({"labels": "teacher", "init_budget_share": 0.6, "teacher_budget_share": 0.5}, "teacher_budget_share"),
    ],
)
def test_option_combinations_are_refused_before_any_run(params, message):
    with pytest.raises(RunConfigError, match=message):
        resolve_run(config(method={"name": "dpzo", "params": {**TINY, **params}}))


def test_the_identity_covers_the_code_versions_and_the_data(monkeypatch):
    """A new version of the method or a family, or new data content, is a new run (never reused)."""
    import sys

    from dpcondense.methods import METHODS
    from dpcondense.models import MODELS

    spec = resolve_run(config())
    assert spec.payload()["versions"] == {
        "method": METHODS.get("dpzo").version_for("classification"), "families": {"decision_tree": MODELS.get("decision_tree").version},
        "dataset_checksum": load_dataset("pima_diabetes").checksum(),  # the recorded one is the loaded content's
    }
    monkeypatch.setattr(METHODS.get("dpzo"), "version", METHODS.get("dpzo").version + 1)
    monkeypatch.setattr(METHODS.get("dpzo"), "task_versions", {})
    bumped_method = resolve_run(config()).identity
    monkeypatch.undo()
    monkeypatch.setattr(MODELS.get("decision_tree"), "version", 99)
    bumped_family = resolve_run(config()).identity
    monkeypatch.undo()
    from dpcondense.datasets import DATASETS

    monkeypatch.setattr(sys.modules[DATASETS.get("pima_diabetes").__module__], "CHECKSUM", "0" * 64)
    new_data = resolve_run(config()).identity
    assert len({spec.identity, bumped_method, bumped_family, new_data}) == 4


def test_a_task_keeps_its_version_and_identity_when_only_the_other_task_changed(monkeypatch):
    """A version bump for survival alone leaves the identities of classification runs as they were."""
    from dpcondense.methods import METHODS

    cls = METHODS.get("dpzo")
    before = resolve_run(config()).identity
    survival = config(dataset=card("gbsg"), model={"name": "cox_ph", "params": family_params("cox_ph")}, size=4)
    survival_before = resolve_run(survival)
    monkeypatch.setattr(cls, "version", cls.version + 1)
    monkeypatch.setattr(cls, "task_versions", {**cls.task_versions, "classification": cls.version_for("classification")})
    assert resolve_run(config()).identity == before
    after = resolve_run(survival)
    assert after.identity != survival_before.identity
    assert after.payload()["versions"]["method"] == cls.version == survival_before.payload()["versions"]["method"] + 1


def test_a_late_parameter_enters_the_identity_only_when_set():
    """``late_params`` at their default stay out of the hash (old runs keep their identity); other values enter it."""
    from dpcondense.methods import METHODS

    late = METHODS.get("dpzo").late_params
    assert "time_shrinkage" in late
    default = resolve_run(config())
    spelled = resolve_run(config(method={"name": "dpzo", "params": {**TINY, "time_shrinkage": "empirical_bayes"}}))
    other = resolve_run(config(method={"name": "dpzo", "params": {**TINY, "time_shrinkage": "none"}}))
    assert "time_shrinkage" not in default.payload()["method"]["params"]
    assert spelled.identity == default.identity != other.identity
    assert other.payload()["method"]["params"]["time_shrinkage"] == "none"
    assert spelled.params()["method.params.time_shrinkage"] == "empirical_bayes"  # MLflow still shows it
