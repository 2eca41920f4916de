"""XGBoost's fast training loop against ``xgboost.train``: the same boosters, bit for bit.

``xgboost`` and ``xgboost_cox`` train through
:func:`dpcondense.models.xgboost_classifier.train_booster`, which skips ``xgboost.train``'s
per-round evaluation callbacks and feature checks and its final ``reset``. Every comparison here is
exact: the saved models, the tree dumps with statistics, held-out predictions (probabilities and
margins), the families' outputs and a whole DP-ZO release, with the library path switched back on.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xgboost as xgb
from fit_inputs import mixed_rows, soft_label_rows, survival_rows

from dpcondense.models import make_model, xgboost_classifier, xgboost_cox
from dpcondense.models.xgboost_classifier import booster_params, train_booster

GRID = np.linspace(0.0, 40.0, 25)


def library_training(params, dtrain, rounds):
    return xgb.train(params, dtrain, num_boost_round=rounds)


def assert_same_booster(mine: xgb.Booster, theirs: xgb.Booster, held_out: np.ndarray) -> None:
    """The same model (trees, statistics, intercept), Python attributes and predictions."""
    assert mine.num_boosted_rounds() == theirs.num_boosted_rounds()
    assert bytes(mine.save_raw("json")) == bytes(theirs.save_raw("json"))
    assert mine.get_dump(dump_format="json", with_stats=True) == theirs.get_dump(dump_format="json", with_stats=True)
    assert (mine.feature_names, mine.feature_types) == (theirs.feature_names, theirs.feature_types)
    for kind in ("value", "margin"):
        np.testing.assert_array_equal(
            mine.inplace_predict(held_out, predict_type=kind), theirs.inplace_predict(held_out, predict_type=kind)
        )
    restored = pickle.loads(pickle.dumps(mine))
    np.testing.assert_array_equal(restored.inplace_predict(held_out), theirs.inplace_predict(held_out))


BOOSTER_CASES = [
    # (objective, params beyond the family defaults, weighted)
    ("binary:logistic", {}, True),
    ("binary:logistic", {"max_depth": 6, "min_child_weight": 0.0, "learning_rate": 0.1}, True),
    ("binary:logistic", {"subsample": 0.6, "n_estimators": 30}, False),
    ("binary:logistic", {"subsample": 0.6, "seed_per_iteration": True}, True),  # the round index seeds
    ("binary:logistic", {"max_depth": 0, "reg_lambda": 5.0, "n_estimators": 7}, True),
    ("survival:cox", {}, False),
    ("survival:cox", {"subsample": 0.7, "min_child_weight": 0.0, "max_depth": 4}, True),
]


@pytest.mark.parametrize("objective, extra, weighted", BOOSTER_CASES)
@pytest.mark.parametrize("seed", [0, 2**31 - 2])
def test_booster_equals_xgboost_train(objective, extra, weighted, seed):
    rng = np.random.default_rng([len(extra), seed, weighted])
    family = "xgboost" if objective == "binary:logistic" else "xgboost_cox"
    if family == "xgboost":
        X, label, w = soft_label_rows(rng, 25, 12)
        w = w if weighted else None
    else:
        X, time, event = survival_rows(rng, 60, 9)
        label = np.where(event == 1, time, -time)
        w = rng.uniform(0.2, 2.0, len(time)) if weighted else None
    X[rng.uniform(size=X.shape) < 0.03] = np.nan  # XGBoost's missing values take a default branch
    params, rounds = booster_params({**make_model(family).params, **extra}, objective, seed)
    mine = train_booster(params, xgb.DMatrix(X, label=label, weight=w, nthread=1), rounds)
    theirs = xgb.train(params, xgb.DMatrix(X, label=label, weight=w, nthread=1), num_boost_round=rounds)
    held_out = mixed_rows(rng, 300, X.shape[1])
    held_out[rng.uniform(size=held_out.shape) < 0.03] = np.nan
    assert_same_booster(mine, theirs, held_out)


def test_feature_names_and_types_are_recorded_as_train_records_them():
    rng = np.random.default_rng(1)
    X, y, w = soft_label_rows(rng, 15, 4)
    names, types = ["age", "sex", "bmi", "sbp"], ["q", "i", "q", "q"]
    params, rounds = booster_params(make_model("xgboost").params, "binary:logistic", 3)

    def dmatrix():
        return xgb.DMatrix(X, label=y, weight=w, feature_names=names, feature_types=types, nthread=1)

    mine, theirs = train_booster(params, dmatrix(), rounds), xgb.train(params, dmatrix(), num_boost_round=rounds)
    assert mine.feature_names == names and mine.feature_types == types
    assert_same_booster(mine, theirs, mixed_rows(rng, 50, 4))


@pytest.mark.parametrize("rounds", [0, 1, 2])
def test_few_rounds(rounds):
    rng = np.random.default_rng(rounds)
    X, y, w = soft_label_rows(rng, 10, 5)
    params, _ = booster_params(make_model("xgboost").params, "binary:logistic", 0)
    mine = train_booster(params, xgb.DMatrix(X, label=y, weight=w, nthread=1), rounds)
    theirs = xgb.train(params, xgb.DMatrix(X, label=y, weight=w, nthread=1), num_boost_round=rounds)
    held_out = mixed_rows(rng, 40, 5)
    np.testing.assert_array_equal(mine.inplace_predict(held_out), theirs.inplace_predict(held_out))
    assert mine.num_boosted_rounds() == rounds


def test_xgboost_family_equals_the_library_path(monkeypatch):
    rng = np.random.default_rng(2)
    data = [soft_label_rows(rng, 20, 15) for _ in range(4)]
    seeds = [3, 3, 8, 1]
    held_out = mixed_rows(rng, 256, 15)

    def fits():
        models = [make_model("xgboost", random_state=s, subsample=0.8) for s in seeds]
        return [m.predict_proba(held_out) for m in type(models[0]).fit_many(models, data)]

    fast = fits()
    monkeypatch.setattr(xgboost_classifier, "train_booster", library_training)
    for a, b in zip(fast, fits()):
        np.testing.assert_array_equal(a, b)


def test_xgboost_cox_family_equals_the_library_path(monkeypatch):
    rng = np.random.default_rng(4)
    data = [(*survival_rows(rng, 50, 8), rng.uniform(0.5, 1.5, 50) if i % 2 else None) for i in range(4)]
    held_out = mixed_rows(rng, 256, 8)

    def fits():
        out = []
        for rows in data:
            model = make_model("xgboost_cox", random_state=6).fit(*rows)
            out.append((model.predict_survival(held_out, GRID), model.baseline_.log_cumhaz, model.predict_log_risk(held_out)))
        return out

    fast = fits()
    monkeypatch.setattr(xgboost_cox, "train_booster", library_training)
    for mine, theirs in zip(fast, fits()):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family, dataset, size", [("xgboost", "pima_diabetes", 6), ("xgboost_cox", "gbsg", 10)])
def test_dpzo_release_equals_the_library_paths(family, dataset, size):
    """A whole DP-ZO run releases the same rows with ``xgboost.train`` switched back on."""
    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.methods import make_method

    train, _ = train_test_split(load_dataset(dataset), seed=0)
    module = xgboost_classifier if family == "xgboost" else xgboost_cox

    def release():
        est = make_method("dpzo", steps=3, directions=2)
        est.fit(train, model=family, size=size, epsilon=1.0, delta=1e-5, random_state=0, noise="seeded")
        return est.synthetic_.to_csv(index=False, float_format="%.17g", lineterminator="\n")

    fast = release()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "train_booster", library_training)
        slow = release()
    assert fast == slow
