"""The contract every registered condensation method keeps, generated from the registry and tags.

Parametrised over ``METHODS.names()`` and one dataset per task; what is checked follows each
method's declared capabilities (``tasks``, ``private``, ``releases``, ``sized``, ``stochastic``),
never a list of names: a method registered in the package is checked the moment it exists.
For each: the release has the promised size and the dataset's columns, raw values inside the
public schema, the re-encoded release equals ``synthetic_encoded_``; the ledger never exceeds the
target and a private method spends its whole budget (a non-private one claims no privacy); the
same seed gives the same release and, for a stochastic method, another seed another release; a
task the method does not support is refused by ``fit`` and by the run's validation.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from dpcondense.benchmark import RunConfigError, resolve_run
from dpcondense.conventions import default_model, synthetic_rows
from dpcondense.data import train_test_split
from dpcondense.methods import METHODS, SyntheticSet, make_method
from dpcondense.methods.base import WEIGHT_COLUMN
from dpcondense.paths import CONF_DIR

CASES = ("pima_diabetes", "gbsg")  # one per task; pima has missing indicators, gbsg categoricals
SIZE = {"classification": 5, "survival": 12}
EPSILON, DELTA = 1.0, 1e-5
#: shrink the iterative methods; everything else runs with its defaults
FAST = {"dpzo": {"steps": 2, "directions": 2}, "dp_dm": {"steps": 25}, "dp_merf": {"steps": 100}}
#: a private method spends its whole budget, up to the tolerance of its noise calibration
SPEND_TOLERANCE = 1e-4

_FITS: dict[tuple, object] = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in CASES}


def fit_one(method: str, train, seed: int = 0, **params):
    """A fresh fit: the method's (shrunk) hyperparameters, then the run context at ``fit``."""
    est = make_method(method, **{**FAST.get(method, {}), **params})
    return est.fit(
        train, model=default_model(train.task), size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=seed,
        noise="seeded",
    )


def fitted(method: str, train, seed: int = 0, **params):
    """Fit once per (method, dataset, seed, params) for the whole module."""
    key = (method, train.name, seed, tuple(sorted(params.items())))
    if key not in _FITS:
        _FITS[key] = fit_one(method, train, seed, **params)
    return _FITS[key]


def applicable(method: str, train):
    """The method class, after skipping (with its own reason) a task it does not support."""
    cls = METHODS.get(method)
    reason = cls.skip(train.task)
    if reason is not None:
        pytest.skip(reason)
    return cls


def expected_rows(method: str, train) -> int:
    cls = METHODS.get(method)
    if cls.releases == "model":
        return 0
    if not cls.sized:
        return train.n_rows
    return synthetic_rows(train.task, SIZE[train.task])


# ---------------------------------------------------------------------------------------------
# the contract, for every registered method
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_release_size_columns_and_raw_units(method, dataset, trains):
    train = trains[dataset]
    cls = applicable(method, train)
    est = fitted(method, train)
    schema = train.schema
    frame = est.synthetic_
    weighted = WEIGHT_COLUMN in frame.columns  # soft labels: every point once per class, weighted
    assert list(frame.columns) == schema.feature_names + schema.target_columns + ([WEIGHT_COLUMN] if weighted else [])
    assert len(frame) == expected_rows(method, train) * (2 if weighted else 1)
    if weighted:
        w = frame[WEIGHT_COLUMN].to_numpy(dtype=float)
        half = len(frame) // 2
        assert (w >= 0).all() and np.allclose(w[:half] + w[half:], 1.0)
    for f in schema.features:
        col = frame[f.name]
        if col.isna().any():
            assert f.missing.indicator or f.missing.fill is not None, f"{method}: {f.name} has undeclared NaN"
        present = col.dropna()
        if f.type == "numeric":
            lo, hi = f.bounds
            assert ((present >= lo) & (present <= hi)).all(), f"{method}: {f.name} outside [{lo}, {hi}]"
            if f.integer:
                assert (present == np.round(present)).all()
        elif f.type == "binary":
            assert set(present.astype(float)) <= {0.0, 1.0}
        else:
            assert set(present) <= set(f.categories)
    out = schema.outcome
    if train.task == "classification":
        assert set(frame[out.label]) <= {out.positive, out.negative}
        if cls.sized and cls.releases == "rows":  # balanced public labels
            assert (frame[out.label] == out.positive).sum() == SIZE["classification"] * (2 if weighted else 1)
    else:
        t = frame[out.time].to_numpy(dtype=float)
        assert ((t > 0) & (t <= out.horizon)).all()
        assert set(frame[out.event].astype(int)) <= {0, 1}
    if len(frame):  # what evaluation trains on is exactly the re-encoded release
        again = SyntheticSet.from_release(frame, schema)
        np.testing.assert_allclose(again.X, est.synthetic_encoded_.X)


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_ledger_never_exceeds_budget(method, dataset, trains):
    train = trains[dataset]
    cls = applicable(method, train)
    ledger = fitted(method, train).ledger_
    assert ledger.entries, "every method records what it did with the data"
    assert ledger.total_epsilon <= ledger.target_epsilon * (1 + 1e-9)
    assert ledger.total_delta <= ledger.target_delta * (1 + 1e-9)
    if cls.private:
        assert ledger.private
        assert ledger.total_epsilon >= EPSILON * (1 - SPEND_TOLERANCE), "a private method spends its whole budget"
    else:
        assert math.isinf(ledger.target_epsilon) and math.isinf(ledger.total_epsilon)
        assert not ledger.private and "non-private" in ledger.label


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_same_seed_same_release(method, dataset, trains):
    train = trains[dataset]
    cls = applicable(method, train)
    first = fitted(method, train, seed=0)
    again = fit_one(method, train, seed=0)
    pd.testing.assert_frame_equal(first.synthetic_, again.synthetic_)
    if cls.releases == "model":
        X = train.encoded()
        np.testing.assert_array_equal(again.released_model_.predict_proba(X), first.released_model_.predict_proba(X))
    if cls.stochastic and cls.releases == "rows":
        other = fitted(method, train, seed=1).synthetic_
        assert not first.synthetic_.equals(other), f"{method}: declared stochastic, but the seed changes nothing"


@pytest.mark.parametrize("method", [n for n in METHODS.names() if not METHODS.get(n).private])
def test_non_private_methods_never_claim_privacy_even_when_asked(method, trains):
    ledger = make_method(method).fit(trains["pima_diabetes"], size=3, epsilon=0.5, random_state=0).ledger_
    assert math.isinf(ledger.total_epsilon) and not ledger.private
    assert all(math.isinf(e.epsilon) for e in ledger.entries)


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_unsupported_task_is_refused_by_fit_and_before_any_run(method, dataset, trains):
    train = trains[dataset]
    reason = METHODS.get(method).skip(train.task)
    if reason is None:
        assert train.task in METHODS.get(method).tasks
        return
    with pytest.raises(ValueError):
        fit_one(method, train)
    conf = {"dataset": {"name": dataset, "task": train.task, "public": {"n_rows": None}}, "method": {"name": method},
            "privacy": {"epsilon": 1.0, "delta": 1e-5}, "seed": 0}
    with pytest.raises(RunConfigError, match=f"method={method}.*supports"):
        resolve_run(conf)


@pytest.mark.parametrize("method", METHODS.names())
def test_capabilities_are_declared(method):
    cls = METHODS.get(method)
    assert cls.name == method and isinstance(cls.version, int) and cls.version >= 1
    # a task's own version is an older one of the method's, for a task it supports
    assert set(cls.task_versions) <= set(cls.tasks)
    assert all(isinstance(v, int) and 1 <= v <= cls.version for v in cls.task_versions.values())
    assert {cls.version_for(t) for t in cls.tasks} <= set(range(1, cls.version + 1))
    # late parameters are constructor keywords with a default (what the identity leaves out)
    signature = inspect.signature(cls.__init__).parameters
    assert all(p in signature and signature[p].default is not inspect.Parameter.empty for p in cls.late_params)
    assert cls.tasks and set(cls.tasks) <= {"classification", "survival"}
    assert cls.releases in ("rows", "model") and isinstance(cls.private, bool)
    assert isinstance(cls.display_name(), str) and cls.display_name()


@pytest.mark.parametrize("method", [n for n in METHODS.names() if METHODS.get(n).__module__.startswith("dpcondense.")])
def test_method_config_matches_constructor(method):
    """The method's ``conf/method/<name>.yaml`` names it, holds its constructor defaults and resolves."""
    path = CONF_DIR / "method" / f"{method}.yaml"
    assert path.is_file(), f"a method in the package needs its config file {path}"
    cfg = yaml.safe_load(path.read_text())
    assert cfg["name"] == method
    signature = inspect.signature(METHODS.get(method).__init__).parameters
    for key, value in (cfg.get("params") or {}).items():
        assert key in signature and signature[key].kind == inspect.Parameter.KEYWORD_ONLY, f"{method}.{key}"
        if signature[key].default is not None:  # None: the method resolves its documented default
            assert value == signature[key].default, f"{method}.{key}: yaml {value!r} != code {signature[key].default!r}"
    task = METHODS.get(method).tasks[0]
    dataset = "pima_diabetes" if task == "classification" else "gbsg"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            spec = resolve_run(compose("config", overrides=[f"method={method}", f"dataset={dataset}"]))
    finally:
        GlobalHydra.instance().clear()
    assert spec.method == method and spec.method_params == (cfg.get("params") or {})


@pytest.mark.parametrize("method", [n for n in METHODS.names() if METHODS.get(n).private])
def test_secure_noise_is_not_regenerated_by_the_seed(method, trains):
    """Release-grade noise comes from the OS: the same seed twice gives two releases; seeded says so."""
    train = trains["pima_diabetes"]
    cls = applicable(method, train)
    context = dict(model=default_model(train.task), size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=0)
    a, b = (make_method(method, **FAST.get(method, {})).fit(train, **context) for _ in range(2))
    if cls.releases == "rows":
        assert not a.synthetic_.equals(b.synthetic_), f"{method}: secure noise repeated itself"
    else:
        X = train.encoded()
        assert not np.array_equal(a.released_model_.predict_proba(X), b.released_model_.predict_proba(X))
    assert a.ledger_.noise == "secure" and a.ledger_.release_grade and "not for release" not in a.ledger_.label
    seeded = fitted(method, train).ledger_
    assert seeded.noise == "seeded" and not seeded.release_grade and "not for release" in seeded.label
