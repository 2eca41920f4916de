"""The DP-ZO engine — privacy properties on the real code path, determinism, optimisation."""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dpcondense.data import Dataset, from_frame, train_test_split
from dpcondense.methods.dpzo import DPZOCondenser, PrivateRows, privatized_zo_sum
from dpcondense.models import make_model
from dpcondense.privacy import PrivacyParameterError, calibrate_noise_multiplier, compute_epsilon
from dpcondense.data.schema import Schema

STUMP_SCHEMA = Schema.from_dict(
    {
        "name": "stump",
        "task": "classification",
        "public": {"n_rows": 400},
        "features": [{"name": "x", "type": "numeric", "bounds": [-1, 1]}],
        "outcome": {"label": "y"},
    }
)


def stump_dataset(n: int = 400, seed: int = 0) -> Dataset:
    """1-D threshold problem: y = 1 iff x > 0.3 (a decision stump separates it exactly)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    return from_frame(pd.DataFrame({"x": x, "y": (x > 0.3).astype(int)}), STUMP_SCHEMA)


def small(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    sub = ds.subset(np.sort(rng.choice(ds.n_rows, n, replace=False)))
    sub.n_public = n
    return sub


# ------------------------------------------------------------------ sensitivity on the real path


def _fitted_pairs(task: str, d: int, K: int = 4, m: int = 10, seed: int = 0, survival_grid=None):
    rng = np.random.default_rng(seed)
    plus, minus = [], []
    for k in range(K):
        Xp, Xm = rng.uniform(-1, 1, (m, d)), rng.uniform(-1, 1, (m, d))
        if task == "classification":
            y = np.repeat([0, 1], m // 2)
            plus.append(make_model("logistic_regression", random_state=k).fit(Xp, y))
            minus.append(make_model("logistic_regression", random_state=k).fit(Xm, y))
        else:
            t = rng.uniform(1, 100, m)
            e = np.ones(m, int)
            plus.append(make_model("cox_ph", random_state=k).fit(Xp, t, e))
            minus.append(make_model("cox_ph", random_state=k).fit(Xm, t, e))
    return plus, minus


def _pre_noise_sum(dataset: Dataset, plus, minus, clip: float, loss_fn, mode="vector") -> np.ndarray:
    return privatized_zo_sum(
        PrivateRows(dataset),
        loss_fn,
        plus,
        minus,
        mu=0.01,  # small μ: raw differences far above the clip
        clip=clip,
        noise_multiplier=0.0,
        sampling_rate=1.0,
        sample_rng=np.random.default_rng(0),
        noise_rng=np.random.default_rng(0),
        clip_mode=mode,
        objective_weight=0.1,
    )


@pytest.mark.parametrize("mode", ["vector", "coordinate"])
@pytest.mark.parametrize("clip", [0.5, 2.0])
def test_sensitivity_add_remove_and_replace(datasets, clip, mode):
    ds = small(datasets["breast_cancer_wisconsin"], 60)
    plus, minus = _fitted_pairs("classification", ds.encoder().n_features_out)

    def loss_fn(model, X, t):
        return model.loss(X, t["y"])

    base = _pre_noise_sum(ds, plus, minus, clip, loss_fn, mode)
    # replace row 0 by an extreme outlier in a corner of the domain with the rarer label
    frame = ds.to_frame()
    for f in ds.schema.features:
        frame.loc[0, f.name] = f.bounds[1]
    frame.loc[0, "diagnosis"] = "benign" if ds.y[0] == 1 else "malignant"
    outlier = from_frame(frame, ds.schema)
    replaced = _pre_noise_sum(outlier, plus, minus, clip, loss_fn, mode)
    removed = _pre_noise_sum(ds.subset(np.arange(1, ds.n_rows)), plus, minus, clip, loss_fn, mode)
    added = _pre_noise_sum(
        from_frame(pd.concat([ds.to_frame(), frame.iloc[[0]]], ignore_index=True), ds.schema), plus, minus, clip, loss_fn, mode
    )
    # add/remove-one adjacency (what the accountant assumes): sensitivity C
    assert np.linalg.norm(base - removed) <= clip + 1e-9
    assert np.linalg.norm(added - base) <= clip + 1e-9
    # replacement = remove + add: at most 2C, and it does change the sum (the test can fail)
    assert 0 < np.linalg.norm(base - replaced) <= 2 * clip + 1e-9
    # clipping is active: without it the same outlier moves the sum by far more than C
    raw = _pre_noise_sum(ds, plus, minus, math.inf, loss_fn, mode) - _pre_noise_sum(outlier, plus, minus, math.inf, loss_fn, mode)
    assert np.linalg.norm(raw) > 2 * clip


def test_sensitivity_survival(datasets):
    ds = small(datasets["metabric"], 80)
    grid = ds.schema.outcome.time_grid()
    plus, minus = _fitted_pairs("survival", ds.encoder().n_features_out)

    def loss_fn(model, X, t):
        return model.loss(X, t["time"], t["event"], grid)

    base = _pre_noise_sum(ds, plus, minus, 1.0, loss_fn)
    removed = _pre_noise_sum(ds.subset(np.arange(1, ds.n_rows)), plus, minus, 1.0, loss_fn)
    assert 0 < np.linalg.norm(base - removed) <= 1.0 + 1e-9


def test_noise_scale_matches_ledger(datasets):
    ds = small(datasets["breast_cancer_wisconsin"], 60)
    plus, minus = _fitted_pairs("classification", ds.encoder().n_features_out, K=2)

    def loss_fn(model, X, t):
        return model.loss(X, t["y"])

    draws = np.array(
        [
            privatized_zo_sum(PrivateRows(ds), loss_fn, plus, minus, mu=0.1, clip=0.7, noise_multiplier=3.0,
                              sampling_rate=1.0, sample_rng=np.random.default_rng(0), noise_rng=np.random.default_rng(s))
            for s in range(400)
        ]
    )
    # same batch every draw, so the spread is the Gaussian noise alone: std = σ·C = 2.1
    assert np.allclose(draws.std(axis=0), 3.0 * 0.7, rtol=0.12)


# ------------------------------------------------------------------ isolation of real rows


class RecordingDataset(Dataset):
    """Records every read of real rows with the functions on the call stack."""

    accesses: list = []

    def __getattribute__(self, name):
        if name in ("features", "y", "time", "event"):
            stack = [f.function for f in inspect.stack()[1:12]]
            RecordingDataset.accesses.append((name, stack))
        return object.__getattribute__(self, name)


PRIVATIZED = {"privatized_zo_sum", "privatized_class_means", "privatized_teacher"}


@pytest.mark.parametrize("options", [{}, {"init": "dp_mean", "bagging": 2}, {"labels": "soft", "bagging": 2}, {"labels": "teacher"},
                                     {"labels": "centroid"}, {"labels": "soft", "label_start": "centroid"}])
def test_real_rows_read_only_inside_privatized_functions(datasets, options):
    src = small(datasets["pima_diabetes"], 200)
    rec = RecordingDataset(schema=src.schema, features=src.features, y=src.y, n_public=src.n_public)
    RecordingDataset.accesses = []
    est = DPZOCondenser(steps=4, directions=2, batch_size=50, **options)
    est.fit(rec, model="decision_tree", size=3, epsilon=1.0, delta=1e-3)
    assert RecordingDataset.accesses, "the recorder saw nothing: the test would pass vacuously"
    outside = [(n, s) for n, s in RecordingDataset.accesses if not PRIVATIZED & set(s)]
    assert not outside, outside[:3]


@pytest.mark.parametrize("row_clip", [1.0, 0.4])
def test_dp_mean_release_sensitivity(datasets, row_clip):
    from dpcondense.methods.dpzo import privatized_class_means

    ds = small(datasets["support_mortality"], 120)
    enc = ds.encoder()
    kw = dict(epsilon=0.5, delta=1e-5, row_clip=row_clip)
    box = float(np.linalg.norm(np.maximum(np.abs(enc.lower_), np.abs(enc.upper_))))
    # identical noise draws (same seed) -> the output difference is the pre-noise difference
    a = privatized_class_means(PrivateRows(ds), enc.lower_, enc.upper_, noise_rng=np.random.default_rng(1), **kw)
    b = privatized_class_means(PrivateRows(ds.subset(np.arange(1, ds.n_rows))), enc.lower_, enc.upper_,
                               noise_rng=np.random.default_rng(1), **kw)
    sums_a, counts_a, sigma, sens = a
    radius = sens / math.sqrt(2)
    assert radius == pytest.approx(row_clip * box)
    diff = np.concatenate([(a[0] - b[0]).ravel(), radius * (a[1] - b[1])])
    assert 0 < np.linalg.norm(diff) <= sens + 1e-9
    from dpcondense.privacy import gaussian_mechanism_sigma

    assert sigma == pytest.approx(gaussian_mechanism_sigma(0.5, 1e-5, sens))


def independent_pld_epsilon(entries: list[dict], delta: float) -> float:
    """The run's ε from the entries' recorded mechanism fields, composed by dp_accounting's PLD directly.

    A pure ε-DP entry (the discrete Laplace count) is added to the composition of the others.
    """
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    acc = pld_privacy_accountant.PLDAccountant(
        dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE, value_discretization_interval=1e-4
    )
    pure = 0.0
    for e in entries:
        if e["mechanism"] == "discrete laplace":  # a DP count: pure ε-DP
            assert e["event"] == {"kind": "pure", "epsilon": e["epsilon"]}
            pure += e["epsilon"]
        elif e["steps"] is None:  # a one-shot Gaussian release
            assert e["event"] == {"kind": "gaussian", "noise_multiplier": e["noise_multiplier"]}
            acc.compose(dp_accounting.GaussianDpEvent(e["noise_multiplier"]))
        else:
            assert e["event"] == {"kind": "subsampled_gaussian", "noise_multiplier": e["noise_multiplier"],
                                  "sampling_rate": e["sampling_rate"], "steps": e["steps"]}
            step = dp_accounting.PoissonSampledDpEvent(e["sampling_rate"], dp_accounting.GaussianDpEvent(e["noise_multiplier"]))
            acc.compose(step, e["steps"])
    return float(acc.get_epsilon(delta)) + pure


def assert_joint_ledger(led: dict, epsilon: float, delta: float) -> None:
    """The joint-accounting invariant: the ledger's ε is the PLD composition of its entries at the run's δ."""
    assert led["composition"] == "pld" and led["total_delta"] == pytest.approx(delta, rel=1e-12)
    assert led["total_delta"] <= delta * (1 + 1e-12)
    assert led["epsilon"] == pytest.approx(independent_pld_epsilon(led["entries"], led["total_delta"]), rel=2e-3)
    assert epsilon * (1 - 1e-3) <= led["epsilon"] <= epsilon * (1 + 1e-9)
    assert led["basic_epsilon"] == pytest.approx(sum(e["epsilon"] for e in led["entries"]))
    assert led["basic_epsilon"] > led["epsilon"]  # what basic composition would have claimed


def test_joint_budget_meets_target(datasets):
    """Joint accounting: the start keeps its share's noise, the steps' σ makes the PLD composition ε."""
    from dpcondense.privacy import compute_epsilon as steps_epsilon, gaussian_mechanism_sigma

    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    opts = {"steps": 3, "directions": 2, "init": "dp_mean", "init_budget_share": 0.25}
    est = DPZOCondenser(**opts).fit(train, size=3, epsilon=2.0)
    led = est.ledger_.to_dict()
    by = {e["purpose"]: e for e in led["entries"]}
    assert [e["purpose"] for e in led["entries"]] == ["init_dp_means", "dpzo_steps"]
    init, steps = by["init_dp_means"], by["dpzo_steps"]
    # the start: its share, and its σ calibrated from that share alone, as under basic composition
    assert init["epsilon"] == pytest.approx(0.5) and init["delta"] == pytest.approx(0.25e-5)
    assert init["noise_multiplier"] * init["sensitivity"] == pytest.approx(
        gaussian_mechanism_sigma(0.5, init["delta"], init["sensitivity"]))
    # the steps: entry ε is their own at their δ share (informational)
    assert steps["delta"] == pytest.approx(0.75e-5)
    assert steps["epsilon"] == pytest.approx(steps_epsilon(steps["noise_multiplier"], steps["sampling_rate"], 3, steps["delta"]))
    assert_joint_ledger(led, 2.0, 1e-5)
    split = DPZOCondenser(**opts, accounting="split").fit(train, size=3, epsilon=2.0).ledger_.to_dict()
    split_steps = {e["purpose"]: e for e in split["entries"]}["dpzo_steps"]
    assert steps["noise_multiplier"] < split_steps["noise_multiplier"]  # the steps get more budget


def test_split_accounting_reproduces_basic_composition(datasets):
    """accounting='split': a basic ledger whose entries' ε add up to the target (the ablation)."""
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    est = DPZOCondenser(steps=3, directions=2, init="dp_mean", init_budget_share=0.25, accounting="split")
    led = est.fit(train, size=3, epsilon=2.0).ledger_.to_dict()
    by = {e["purpose"]: e for e in led["entries"]}
    assert led["composition"] == "basic" and "basic_epsilon" not in led
    assert by["init_dp_means"]["epsilon"] == pytest.approx(0.5)
    assert by["dpzo_steps"]["epsilon"] == pytest.approx(1.5, rel=1e-4)
    assert by["init_dp_means"]["delta"] + by["dpzo_steps"]["delta"] <= 1e-5 * (1 + 1e-12)
    total = sum(e["epsilon"] for e in led["entries"])
    assert total <= 2.0 + 1e-9 and total == pytest.approx(led["epsilon"]) and total > 1.99
    q = by["dpzo_steps"]["sampling_rate"]
    assert by["dpzo_steps"]["noise_multiplier"] == calibrate_noise_multiplier(1.5, by["dpzo_steps"]["delta"], q, 3)


def test_joint_accounting_without_other_mechanisms_is_the_steps_calibration(datasets):
    """Nothing else spends (random start, hard labels): joint and split runs are the same run."""
    train, _ = train_test_split(datasets["pima_diabetes"], seed=0)
    opts = {"steps": 3, "directions": 2, "init": "random", "class_balance": False, "labels": "hard"}
    joint = DPZOCondenser(**opts).fit(train, size=3, epsilon=1.0, noise="seeded")
    split = DPZOCondenser(**opts, accounting="split").fit(train, size=3, epsilon=1.0, noise="seeded")
    assert joint.noise_multiplier_ == split.noise_multiplier_ > 0
    assert joint.synthetic_.to_csv(index=False) == split.synthetic_.to_csv(index=False)


def _count_entry(epsilon: float, count: int):
    """A DP row count spent before the method, as the runner records it (discrete Laplace: pure ε-DP)."""
    from dpcondense.privacy import LedgerEntry, pure_event

    return LedgerEntry("dp_count", "discrete laplace", epsilon, 0.0, sensitivity=1.0,
                       extra={"noise_scale": 1.0 / epsilon, "released_count": count}, event=pure_event(epsilon))


def test_prior_spends_open_the_ledger_and_are_composed_with_the_steps(datasets):
    """A DP count spent before the method: the ledger starts with it, the steps are calibrated around it."""
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    prior = (_count_entry(0.05, train.n_rows + 3),)
    opts = {"steps": 3, "directions": 2, "n_public": train.n_rows + 3}
    est = DPZOCondenser(**opts).fit(train, size=3, epsilon=1.0, prior=prior)
    assert est.context_.prior == prior
    led = est.ledger_.to_dict()
    assert [e["purpose"] for e in led["entries"]] == ["dp_count", "init_dp_means", "dpzo_steps"]
    assert led["entries"][0] == prior[0].to_dict()
    assert led["n_public"] == train.n_rows + 3
    # the start's share is of what the count leaves, as when the count was bought from the budget first
    assert led["entries"][1]["epsilon"] == pytest.approx(est.init_budget_share * 0.95)
    assert_joint_ledger(led, 1.0, 1e-5)
    alone = DPZOCondenser(**opts).fit(train, size=3, epsilon=1.0).ledger_.to_dict()
    sigma = {e["purpose"]: e["noise_multiplier"] for e in led["entries"][1:]}
    sigma_alone = {e["purpose"]: e["noise_multiplier"] for e in alone["entries"]}
    assert sigma["dpzo_steps"] > sigma_alone["dpzo_steps"]  # the count's cost comes out of the steps
    split = DPZOCondenser(**opts, accounting="split").fit(train, size=3, epsilon=1.0, prior=prior).ledger_
    assert split.entries[0] == prior[0] and sum(e.epsilon for e in split.entries) == pytest.approx(1.0, rel=1e-4)


def test_prior_count_is_composed_when_every_step_sees_every_row(datasets):
    """q = 1: the start and the steps merge into one Gaussian; the pure count must still be added."""
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    est = DPZOCondenser(steps=3, directions=2, sampling_rate=1.0).fit(
        train, size=3, epsilon=1.0, prior=(_count_entry(0.05, train.n_rows),))
    assert_joint_ledger(est.ledger_.to_dict(), 1.0, 1e-5)


def test_prior_spends_are_checked(datasets):
    from dpcondense.methods import make_method
    from dpcondense.privacy import LedgerEntry

    train, _ = train_test_split(datasets["pima_diabetes"], seed=0)
    blind = (LedgerEntry("dp_count", "discrete laplace", 0.05, 0.0),)
    with pytest.raises(PrivacyParameterError, match="carry no event"):
        DPZOCondenser(steps=2).fit(train, size=3, prior=blind)
    with pytest.raises(PrivacyParameterError, match="leave nothing"):
        DPZOCondenser(steps=2).fit(train, size=3, epsilon=1.0, prior=(_count_entry(1.0, 500),))
    with pytest.raises(ValueError, match="does not take prior spends"):
        make_method("dp_gaussian").fit(train, size=3, prior=(_count_entry(0.05, 500),))
    assert DPZOCondenser.joint_accounting and not type(make_method("dp_gaussian")).joint_accounting


# ------------------------------------------------------------------ releases


def test_release_inside_bounds_and_not_a_real_row(datasets):
    train, _ = train_test_split(datasets["support_mortality"], seed=0)
    est = DPZOCondenser(steps=5, directions=2).fit(train, model="decision_tree", size=5, epsilon=1.0)
    syn = est.synthetic_
    # default soft labels: 10 points, each released once per class with its label weight
    assert len(syn) == 20 and list(syn.columns) == train.schema.feature_names + ["hospdead", "sample_weight"]
    for f in train.schema.features:
        if f.type == "numeric":
            col = syn[f.name].dropna()
            assert ((col >= f.bounds[0]) & (col <= f.bounds[1])).all(), f.name
        elif f.type == "categorical":
            assert set(syn[f.name].dropna()) <= set(f.categories)
    real = set(map(tuple, train.encoded().round(8)))
    assert not set(map(tuple, est.synthetic_encoded_.X.round(8))) & real
    led = est.ledger_.to_dict()
    assert led["epsilon"] <= 1.0 + 1e-9 and led["private"] is True
    assert led["noise_multiplier"] > 0 and led["steps"] == 5


def test_ledger_epsilon_is_what_the_accountant_says(datasets):
    train, _ = train_test_split(datasets["gbsg"], seed=1)
    est = DPZOCondenser(steps=6, directions=2).fit(train, model="cox_ph", size=20, epsilon=0.5)
    led = est.ledger_.to_dict()
    q = 256 / train.n_public
    assert led["sampling_rate"] == pytest.approx(q)
    steps = {e["purpose"]: e for e in led["entries"]}["dpzo_steps"]
    again = compute_epsilon(steps["noise_multiplier"], q, 6, steps["delta"], accountant="pld")
    assert again == pytest.approx(steps["epsilon"]) and steps["delta"] == pytest.approx((1 - est.init_budget_share) * 1e-5)
    assert_joint_ledger(led, 0.5, 1e-5)
    syn = est.synthetic_
    assert (syn["time"] > 0).all() and (syn["time"] <= train.schema.outcome.horizon + 1e-9).all()
    assert (syn["event"] == 1).all()  # default event policy


def test_determinism_byte_identical(datasets, tmp_path):
    train, _ = train_test_split(datasets["pima_diabetes"], seed=2)
    a = DPZOCondenser(steps=5, directions=3).fit(train, model="decision_tree", size=4, random_state=7, noise="seeded")
    b = DPZOCondenser(steps=5, directions=3).fit(train, model="decision_tree", size=4, random_state=7, noise="seeded")
    c = DPZOCondenser(steps=5, directions=3).fit(train, model="decision_tree", size=4, random_state=8, noise="seeded")
    ta = a.synthetic_.to_csv(index=False)
    assert ta == b.synthetic_.to_csv(index=False)
    assert ta != c.synthetic_.to_csv(index=False)
    assert a.history_ == b.history_


# ------------------------------------------------------------------ optimisation works


def test_finds_a_stump_threshold_without_noise():
    from dpcondense.evaluate import evaluate_release

    ds = stump_dataset()
    train, test = train_test_split(ds, seed=0)
    aurocs = []
    for seed in range(3):
        est = DPZOCondenser(steps=200, directions=8, mu=0.2, lr=0.05, batch_size=train.n_rows, labels="hard").fit(train, model="decision_tree", size=3, epsilon=math.inf, model_params={"max_depth": 1}, random_state=seed)
        aurocs.append(evaluate_release(est.synthetic_encoded_, train, test, "decision_tree", model_params={"max_depth": 1})["auroc"])
        # the learned stump separates the classes near the true threshold 0.3
        X, y = est.synthetic_encoded_.X[:, 0], est.synthetic_encoded_.y
        assert np.median(X[y == 1]) > 0.3 > np.median(X[y == 0])
    assert min(aurocs) >= 0.9 and np.mean(aurocs) >= 0.93, aurocs


def test_objective_decreases_on_a_real_dataset(datasets):
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    est = DPZOCondenser(steps=60, directions=4, init="random").fit(train, model="logistic_regression", size=5, epsilon=math.inf, random_state=0)
    h = np.asarray(est.history_)
    assert len(h) == 60
    assert h[-10:].mean() < 0.8 * h[:5].mean()


# ------------------------------------------------------------------ soft labels


def test_soft_label_release_is_weighted_pairs_and_costs_no_budget(datasets):
    from dpcondense.evaluate import evaluate_release
    from dpcondense.methods.base import WEIGHT_COLUMN

    train, test = train_test_split(datasets["pima_diabetes"], seed=0)
    common, context = dict(steps=6, directions=2), dict(model="decision_tree", size=4, epsilon=1.0, random_state=3, noise="seeded")
    hard = DPZOCondenser(**common).fit(train, **context)
    soft = DPZOCondenser(**common, labels="soft", label_init=1.5).fit(train, **context)
    # the same spends: the logits are post-processing of the same privatised sums
    assert soft.ledger_.to_dict()["entries"] == hard.ledger_.to_dict()["entries"]

    rel = soft.synthetic_encoded_
    m = 2 * 4
    assert len(soft.synthetic_) == 2 * m and WEIGHT_COLUMN in soft.synthetic_.columns
    np.testing.assert_array_equal(rel.y, np.repeat([0, 1], m))
    np.testing.assert_allclose(rel.X[:m], rel.X[m:])  # every point once per class
    w0, w1 = rel.weight[:m], rel.weight[m:]
    np.testing.assert_allclose(w0 + w1, 1.0)  # a probability split per point
    lo, hi = 1 / (1 + math.exp(4.0)), 1 / (1 + math.exp(-4.0))
    assert ((w1 >= lo - 1e-12) & (w1 <= hi + 1e-12)).all()
    assert not np.allclose(w1, np.repeat([1 / (1 + math.exp(1.5)), 1 / (1 + math.exp(-1.5))], 4))  # learned, not the start

    # evaluation trains on the weights: equal to an independent weighted fit, different from unweighted
    from sklearn.metrics import roc_auc_score

    got = evaluate_release(rel, train, test, "logistic_regression", random_state=0)["auroc"]
    weighted = make_model("logistic_regression", random_state=0).fit(rel.X, rel.y, sample_weight=rel.weight)
    unweighted = make_model("logistic_regression", random_state=0).fit(rel.X, rel.y)
    X_test = test.encoded()
    assert got == pytest.approx(roc_auc_score(test.y, weighted.predict_proba(X_test)[:, 1]))
    assert not np.allclose(weighted.predict_proba(X_test), unweighted.predict_proba(X_test))


def test_soft_label_weights_round_trip_through_the_release_file(datasets, tmp_path):
    from dpcondense.methods.base import WEIGHT_COLUMN, SyntheticSet

    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=1)
    est = DPZOCondenser(steps=3, directions=2, labels="soft").fit(train, size=3, epsilon=1.0)
    path = tmp_path / "synthetic.csv"
    est.synthetic_.to_csv(path, index=False, float_format="%.10g")
    again = SyntheticSet.from_release(pd.read_csv(path), train.schema)
    np.testing.assert_allclose(again.weight, est.synthetic_encoded_.weight, rtol=1e-9)
    # a dataset with a feature named like the weight column cannot carry weights silently
    schema = Schema.from_dict({"name": "clash", "task": "classification", "outcome": {"label": "y"},
                               "features": [{"name": WEIGHT_COLUMN, "type": "numeric", "bounds": [-1, 1]}]})
    with pytest.raises(ValueError, match="clashes with the release's weight column"):
        SyntheticSet(X=np.zeros((2, 1)), y=np.array([0, 1]), weight=np.array([0.5, 0.5])).to_frame(schema)


def test_soft_labels_learn_graded_probabilities_without_noise():
    """y ~ Bernoulli(0.2) left of 0, Bernoulli(0.8) right of it: a stump with hard labels can only
    say 0 or 1; learned soft labels move from the confident start (0.98) towards the true rates."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 600)
    y = (rng.random(600) < np.where(x > 0, 0.8, 0.2)).astype(int)
    schema = Schema.from_dict({"name": "noisy_stump", "task": "classification", "public": {"n_rows": 600},
                               "features": [{"name": "x", "type": "numeric", "bounds": [-1, 1]}], "outcome": {"label": "y"}})
    ds = from_frame(pd.DataFrame({"x": x, "y": y}), schema)
    est = DPZOCondenser(steps=150, directions=8, mu=0.2, lr=0.05, batch_size=600, init="random", class_balance=False, labels="soft", label_init=4.0).fit(ds, model="decision_tree", size=3, epsilon=math.inf, model_params={"max_depth": 1}, random_state=0)
    rel = est.synthetic_encoded_
    m = len(rel.X) // 2
    p = rel.weight[m:]  # P(y=1) of each point
    right = rel.X[:m, 0] > 0
    assert right.any() and (~right).any()
    # both sides moved away from the start 0.982 / 0.018 towards 0.8 / 0.2
    assert p[right].mean() < 0.95 and p[~right].mean() > 0.05 and p[right].mean() > p[~right].mean() + 0.3


def test_auto_labels_are_soft_for_trees_and_hard_for_smooth_learners(datasets):
    from dpcondense.methods.base import WEIGHT_COLUMN
    from dpcondense.models import MODELS

    classification = {n for n in MODELS.names() if MODELS.get(n).task == "classification"}
    assert {n for n in classification if MODELS.get(n).piecewise_constant} == {"decision_tree", "random_forest", "xgboost"}
    train, _ = train_test_split(datasets["pima_diabetes"], seed=1)
    common, context = dict(steps=2, directions=2), dict(size=3, epsilon=1.0, random_state=0, noise="seeded")
    tree = DPZOCondenser(**common).fit(train, model="decision_tree", **context)
    assert tree.labels_ == "soft" and WEIGHT_COLUMN in tree.synthetic_.columns
    auto_lr = DPZOCondenser(**common).fit(train, model="logistic_regression", **context)
    hard_lr = DPZOCondenser(labels="hard", **common).fit(train, model="logistic_regression", **context)
    assert auto_lr.labels_ == "hard" and WEIGHT_COLUMN not in auto_lr.synthetic_.columns
    assert auto_lr.synthetic_.to_csv(index=False) == hard_lr.synthetic_.to_csv(index=False)


@pytest.mark.parametrize("labels", ["soft", "teacher"])
def test_label_options_leave_survival_runs_unchanged(datasets, labels):
    """Labels are a classification option: a Cox run is byte-identical whatever they say."""
    train, _ = train_test_split(datasets["metabric"], seed=0)
    common, context = dict(steps=3, directions=2), dict(model="cox_ph", size=12, epsilon=1.0, random_state=4, noise="seeded")
    hard = DPZOCondenser(**common, labels="hard").fit(train, **context)
    other = DPZOCondenser(**common, labels=labels).fit(train, **context)
    assert other.synthetic_.to_csv(index=False) == hard.synthetic_.to_csv(index=False)
    assert other.ledger_.to_dict() == hard.ledger_.to_dict()


@pytest.mark.parametrize("accounting", ["joint", "split"])
def test_teacher_labels_budget_split_and_ledger(datasets, accounting):
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    est = DPZOCondenser(steps=3, directions=2, labels="teacher", init_budget_share=0.25, teacher_budget_share=0.35,
                        accounting=accounting).fit(train, size=3, epsilon=2.0)
    led = est.ledger_.to_dict()
    by = {e["purpose"]: e for e in led["entries"]}
    assert list(by) == ["init_dp_means", "label_teacher", "dpzo_steps"]
    assert by["init_dp_means"]["epsilon"] == pytest.approx(0.5) and by["label_teacher"]["epsilon"] == pytest.approx(0.7)
    from dpcondense.methods.dp_direct import feature_norm_bound
    from dpcondense.privacy import gaussian_mechanism_sigma

    sens = feature_norm_bound(train.schema) / 100.0
    assert by["label_teacher"]["sensitivity"] == pytest.approx(sens)
    assert by["label_teacher"]["noise_multiplier"] * sens == pytest.approx(
        gaussian_mechanism_sigma(0.7, by["label_teacher"]["delta"], sens))
    assert sum(e["delta"] for e in led["entries"]) <= 1e-5 * (1 + 1e-12)
    if accounting == "joint":
        assert_joint_ledger(led, 2.0, 1e-5)
    else:
        total = sum(e["epsilon"] for e in led["entries"])
        assert 1.99 < total <= 2.0 + 1e-9 and total == pytest.approx(led["epsilon"])
    with pytest.raises(ValueError, match=r"init_budget_share \+ teacher_budget_share must be < 1"):
        DPZOCondenser(steps=2, labels="teacher", init_budget_share=0.5, teacher_budget_share=0.5).fit(train)


def test_teacher_sensitivity_bound_holds_on_neighbouring_datasets(datasets):
    """Noise off: removing one patient moves the teacher's weights by at most L / Λ."""
    from dpcondense.methods.dp_direct import feature_norm_bound
    from dpcondense.methods.dpzo import privatized_teacher

    ds = small(datasets["pima_diabetes"], 150)
    bound = feature_norm_bound(ds.schema) / 5.0
    worst = 0.0
    full, _, sens = privatized_teacher(PrivateRows(ds), ds.schema, 5.0, epsilon=1.0, delta=1e-5,
                                       noise_rng=np.random.default_rng(0), disable_noise=True)
    assert sens == pytest.approx(bound)
    for i in range(0, 150, 15):
        keep = np.setdiff1d(np.arange(150), [i])
        nb, _, _ = privatized_teacher(PrivateRows(ds.subset(keep)), ds.schema, 5.0, epsilon=1.0, delta=1e-5,
                                      noise_rng=np.random.default_rng(0), disable_noise=True)
        diff = np.append(full.coef_ - nb.coef_, full.intercept_ - nb.intercept_)
        worst = max(worst, float(np.linalg.norm(diff)))
    assert 0 < worst <= bound


def test_teacher_labels_are_the_teachers_probabilities_at_the_released_points(datasets):
    """ε = ∞: the release's weights equal an independent (scikit-learn) fit of the same objective."""
    from sklearn.linear_model import LogisticRegression

    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=2)
    est = DPZOCondenser(steps=4, directions=2, labels="teacher", teacher_regularization=10.0).fit(train, size=4, epsilon=math.inf)
    rel = est.synthetic_encoded_
    m = len(rel.X) // 2
    X1 = np.column_stack([train.encoded(), np.ones(train.n_rows)])  # intercept regularised like the teacher
    ref = LogisticRegression(C=1 / 10.0, fit_intercept=False, tol=1e-10, max_iter=10_000).fit(X1, train.y)
    expected = ref.predict_proba(np.column_stack([rel.X[m:], np.ones(m)]))[:, 1]
    np.testing.assert_allclose(rel.weight[m:], expected, atol=2e-3)
    np.testing.assert_allclose(rel.weight[:m] + rel.weight[m:], 1.0)
    assert est.ledger_.to_dict()["entries"][0]["epsilon"] == math.inf


# ------------------------------------------------------------------ bad parameters


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"delta": 0.5}, "delta"),
        ({"delta": 0.0}, "delta"),
        ({"sampling_rate": 1.5}, "sampling_rate"),
        ({"sampling_rate": 0.0}, "sampling_rate"),
        ({"clip": 0.0}, "clip"),
        ({"steps": 0}, "steps"),
        ({"init": "real_rows"}, "real_rows"),
        ({"init": "random"}, "class_balance"),
        ({"label_init": 5.0}, r"label_init must be in \[0, 4\]"),
        ({"labels": "fuzzy"}, r"labels must be one of \[.auto., .hard., .soft., .teacher., .centroid.\]"),
        ({"optimizer": "lbfgs"}, r"optimizer must be one of \['adam', 'sgd'\]"),
        ({"model": "cox_ph"}, "survival family"),
        ({"model": "no_such_model"}, "available models"),
    ],
)
def test_bad_parameters(params, match):
    ds = stump_dataset()
    context_keys = {"model", "size", "epsilon", "delta", "random_state", "model_params"}
    hyper = {k: v for k, v in params.items() if k not in context_keys}
    context = {"model": "decision_tree", **{k: v for k, v in params.items() if k in context_keys}}
    with pytest.raises((ValueError, KeyError), match=match):
        DPZOCondenser(**{"steps": 2, **hyper}).fit(ds, **context)


def test_private_size_requires_public_n():
    ds = stump_dataset()
    ds.n_public = None
    with pytest.raises(PrivacyParameterError, match="n_public"):
        DPZOCondenser(steps=2).fit(ds)


# ------------------------------------------------------------------ CLI


@pytest.mark.slow
def test_condense_cli_writes_release(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dpcondense.cli", "condense", "--dataset", "breast_cancer_wisconsin", "--model",
           "decision_tree", "--epsilon", "1", "--size", "5", "--seed", "0", "--steps", "5", "--out", str(out), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    syn = pd.read_csv(out / "synthetic.csv")
    assert len(syn) == 20 and "diagnosis" in syn.columns and "sample_weight" in syn.columns  # 10 soft-labelled points
    ledger = json.loads((out / "ledger.json").read_text())
    for key in ("epsilon", "delta", "noise_multiplier", "sampling_rate", "steps", "accountant"):
        assert key in ledger
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"decision_tree", "full_data", "random_subset"}
    assert 0 <= metrics["decision_tree"]["auroc"] <= 1
    # same seed -> byte-identical release
    out2 = tmp_path / "run2"
    cmd2 = [str(out2) if c == str(out) else c for c in cmd]
    subprocess.run(cmd2, check=True, capture_output=True)
    assert (out / "synthetic.csv").read_bytes() == (out2 / "synthetic.csv").read_bytes()


def test_condense_cli_bad_epsilon_leaves_nothing(tmp_path):
    out = tmp_path / "bad"
    r = subprocess.run(
        [sys.executable, "-m", "dpcondense.cli", "condense", "--dataset", "pima_diabetes", "--epsilon", "-1", "--out", str(out)],
        capture_output=True, text=True,
    )
    assert r.returncode != 0 and "epsilon" in r.stderr
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_objective_coordinate_is_not_biased_by_clipping(datasets):
    ds = small(datasets["breast_cancer_wisconsin"], 60)
    plus, minus = _fitted_pairs("classification", ds.encoder().n_features_out, K=3)

    def loss_fn(model, X, t):
        return model.loss(X, t["y"])

    out = _pre_noise_sum(ds, plus, minus, 1.0, loss_fn)  # μ = 0.01: gradient part heavily clipped
    X = ds.encoded()
    mean_loss = np.mean([(p.loss(X, ds.y) + m.loss(X, ds.y)) / 2 for p, m in zip(plus, minus)], axis=0)
    assert out[-1] == pytest.approx(0.1 * mean_loss.sum(), rel=1e-9)
    assert np.linalg.norm(out[:-1]) <= ds.n_rows * 1.0


def test_real_row_warm_start_is_labelled(datasets):
    train, _ = train_test_split(datasets["breast_cancer_wisconsin"], seed=0)
    est = DPZOCondenser(steps=2, directions=2, init="real_rows").fit(train, size=3, epsilon=math.inf)
    led = est.ledger_.to_dict()
    assert led["private"] is False
    assert "warm start from real rows" in led["label"]
