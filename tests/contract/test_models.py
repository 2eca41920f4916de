"""Contract tests: every registered model family passes the same checks (benchopt-style)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
import yaml

from dpcondense.metrics import classification_metrics, survival_metrics
from dpcondense.models import MODELS, ClassificationModel, SurvivalModel, make_model
from dpcondense.models.base import P_MIN, kaplan_meier
from dpcondense.paths import CONF_DIR

CONF = CONF_DIR / "model"
GRID = np.linspace(0.1, 3.0, 15)
MAX_LOSS = -np.log(P_MIN)
#: the registered families of each task, read from their declared ``task``
FAMILIES = {task: [n for n in MODELS.names() if MODELS.get(n).task == task] for task in ("classification", "survival")}


def classification_data(n: int, d: int = 6, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def survival_data(n: int, d: int = 6, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    time = rng.exponential(np.exp(-1.5 * X[:, 0] - 0.8 * X[:, 1]))
    censor = rng.exponential(2.0, n)
    return X, np.minimum(time, censor) + 1e-3, (time <= censor).astype(int)


def fit(model, X, outcome):
    return model.fit(X, *outcome)


def predict(model, X):
    if model.task == "classification":
        return model.predict_proba(X)
    return model.predict_survival(X, GRID)


def loss(model, X, outcome):
    if model.task == "classification":
        return model.loss(X, *outcome)
    return model.loss(X, *outcome, GRID)


def data_for(task: str, n: int, *, seed: int = 0):
    if task == "classification":
        X, y = classification_data(n, seed=seed)
        return X, (y,)
    X, t, e = survival_data(n, seed=seed)
    return X, (t, e)


def check_prediction(model, pred: np.ndarray, n: int) -> None:
    assert np.all(np.isfinite(pred))
    assert pred.min() >= 0.0 and pred.max() <= 1.0
    if model.task == "classification":
        assert pred.shape == (n, 2)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0)
    else:
        assert pred.shape == (n, len(GRID))
        assert np.all(np.diff(pred, axis=1) <= 0.0), "survival curves must be non-increasing"


def check_loss(values: np.ndarray, n: int) -> None:
    assert values.shape == (n,)
    assert np.all(np.isfinite(values))
    assert values.min() >= 0.0 and values.max() <= MAX_LOSS + 1e-12


@pytest.mark.parametrize("name", MODELS.names())
def test_capabilities_are_declared(name):
    cls = MODELS.get(name)
    assert cls.name == name and isinstance(cls.version, int) and cls.version >= 1
    assert cls.task in FAMILIES and issubclass(cls, ClassificationModel if cls.task == "classification" else SurvivalModel)
    assert isinstance(cls.piecewise_constant, bool) and isinstance(cls.stochastic, bool)
    assert isinstance(cls.display_name(), str) and cls.display_name()


@pytest.mark.parametrize("name", MODELS.names())
def test_config_documents_the_constructor_defaults(name):
    path = CONF / f"{name}.yaml"
    text = path.read_text()
    conf = yaml.safe_load(text)
    cls = MODELS.get(name)
    assert conf["name"] == name and conf["task"] == cls.task
    defaults = {
        p.name: p.default
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "random_state"
    }
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in conf["params"].items()}
    assert params == defaults
    lines = text.splitlines()
    for key in conf["params"]:
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
        assert lines[i - 1].strip().startswith("#"), f"{name}.yaml: no comment documents {key}"
    # the config instantiates the family
    assert make_model(name, random_state=0, **conf["params"]).get_params()["random_state"] == 0


@pytest.mark.parametrize("name", MODELS.names())
def test_shapes_ranges_losses_and_signal(name):
    task = MODELS.get(name).task
    X, outcome = data_for(task, 120)
    Xt, outcome_t = data_for(task, 200, seed=1)
    model = fit(make_model(name, random_state=0), X, outcome)
    assert model.n_features_in_ == X.shape[1] and not model.constant_
    pred = predict(model, Xt)
    check_prediction(model, pred, len(Xt))
    check_loss(loss(model, Xt, outcome_t), len(Xt))
    # the family actually learns the planted signal (a broken fit/predict would sit near 0.5)
    if task == "classification":
        assert classification_metrics(outcome_t[0], pred[:, 1])["auroc"] > 0.75
    else:
        risk = model.predict_risk(Xt, GRID)
        assert survival_metrics(*outcome, *outcome_t, risk, pred, GRID)["c_index"] > 0.65


@pytest.mark.parametrize("name", MODELS.names())
def test_deterministic_for_a_fixed_random_state(name):
    task = MODELS.get(name).task
    X, outcome = data_for(task, 40)
    first = predict(fit(make_model(name, random_state=7), X, outcome), X)
    second = predict(fit(make_model(name, random_state=7), X, outcome), X)
    np.testing.assert_array_equal(first, second)
    other = predict(fit(make_model(name, random_state=8), X, outcome), X)
    # the declared capability: a stochastic family's seed changes the model, another's does not
    assert np.array_equal(first, other) != MODELS.get(name).stochastic


def small_cases(task: str) -> dict[str, tuple[np.ndarray, tuple]]:
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (8, 5))
    const = X.copy()
    const[:, [1, 3]] = 0.25
    collinear = X.copy()
    collinear[:, 2] = 2 * collinear[:, 0] - collinear[:, 1]
    collinear[:, 4] = collinear[:, 0]
    dup = np.repeat(X[:3], 3, axis=0)
    if task == "classification":
        y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
        return {
            "two_rows": (X[:2], (np.array([0, 1]),)),
            "two_rows_one_class": (X[:2], (np.array([1, 1]),)),
            "one_class": (X, (np.zeros(8, int),)),
            "constant_columns": (const, (y,)),
            "all_constant": (np.full((8, 5), 0.5), (y,)),
            "collinear": (collinear, (y,)),
            "duplicate_rows": (dup, (np.tile([0, 1, 1], 3),)),
            "duplicates_conflicting_labels": (np.repeat(X[:1], 6, axis=0), (np.arange(6) % 2,)),
        }
    t = np.array([0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.5])
    e = np.array([1, 0, 1, 1, 0, 1, 0, 1])
    return {
        "two_rows": (X[:2], (np.array([0.5, 1.0]), np.array([1, 0]))),
        "two_rows_tied": (X[:2], (np.array([1.0, 1.0]), np.array([1, 1]))),
        "all_censored": (X, (t, np.zeros(8, int))),
        "single_event": (X, (t, np.eye(8, dtype=int)[3])),
        "single_event_last": (X, (t, np.eye(8, dtype=int)[7])),
        "constant_columns": (const, (t, e)),
        "all_constant": (np.full((8, 5), 0.5), (t, e)),
        "collinear": (collinear, (t, e)),
        "duplicate_rows": (dup, (np.repeat(t[:3], 3), np.repeat(e[:3], 3))),
        "all_tied_times": (X, (np.ones(8), e)),
    }


SMALL = [(name, case) for name in MODELS.names() for case in small_cases(MODELS.get(name).task)]


@pytest.mark.parametrize(("name", "case"), SMALL, ids=[f"{n}-{c}" for n, c in SMALL])
def test_small_data_fits_quietly(name, case):
    task = MODELS.get(name).task
    X, outcome = small_cases(task)[case]
    Xt, outcome_t = data_for(task, 30, seed=2)
    Xt = Xt[:, : X.shape[1]]
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit(make_model(name, random_state=0), X, outcome)
        pred = predict(model, Xt)
        losses = loss(model, Xt, outcome_t)
    assert [str(w.message) for w in caught] == [], "fit/predict warnings must be silenced locally"
    assert warnings.filters == filters_before, "no global warning filter may be left behind"
    check_prediction(model, pred, len(Xt))
    check_loss(losses, len(Xt))


@pytest.mark.parametrize("name", FAMILIES["classification"])
def test_one_class_predicts_the_smoothed_prior(name):
    X, _ = classification_data(10)
    model = make_model(name).fit(X, np.ones(10, int))
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], (10 + 0.5) / 11)


@pytest.mark.parametrize("name", FAMILIES["survival"])
def test_no_events_predicts_kaplan_meier(name):
    X, t, _ = survival_data(10)
    model = make_model(name).fit(X, t, np.zeros(10, int))
    np.testing.assert_array_equal(model.predict_survival(X, GRID), 1.0)


def test_deepsurv_leaves_torch_global_state_alone():
    torch = pytest.importorskip("torch")
    X, t, e = survival_data(20)
    torch.manual_seed(123)
    state = torch.get_rng_state().clone()
    threads = torch.get_num_threads()
    make_model("deepsurv", random_state=0, epochs=2).fit(X, t, e).predict_survival(X, GRID)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_kaplan_meier_matches_lifelines_with_ties_and_weights():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(5)
    t = rng.integers(1, 8, 40).astype(float)
    e = (rng.uniform(size=40) < 0.6).astype(int)
    w = rng.uniform(0.5, 2.0, 40)
    times, surv = kaplan_meier(t, e, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines warns that non-integer weights bias variances
        km = KaplanMeierFitter().fit(t, e, weights=w)
    expected = km.survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(surv, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(times, np.unique(t[e == 1]))
