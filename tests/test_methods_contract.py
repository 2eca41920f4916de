"""The contract every registered condensation method keeps (parametrised over the registry).

For each method and one dataset per task: the release has the promised size and the dataset's
columns, raw values inside the public schema, a ledger whose total never exceeds the target
(DP baselines spend exactly ε; references claim no privacy), and the same seed gives the same
release. For each DP baseline the noise in the code is recomputed here, independently, from the
ledger's (ε, δ) and a sensitivity derived from the schema in the test. Plugins: a method defined
in ``tests/plugins/`` runs through ``dpcondense condense`` (``--plugin``) and through the
``dpcondense.methods`` entry-point group (also ``dpcondense run``, in a subprocess: ``slow``),
without editing the package.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from dpcondense import cli
from dpcondense.data import train_test_split
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import METHODS, SyntheticSet, load_plugins, make_method
from dpcondense.methods.base import WEIGHT_COLUMN

PLUGINS = Path(__file__).parent / "plugins"
CASES = ("pima_diabetes", "gbsg")  # one per task; pima has missing indicators, gbsg categoricals
SIZE = {"classification": 5, "survival": 12}
EPSILON, DELTA = 1.0, 1e-5
#: shrink the iterative methods; everything else runs with its defaults
FAST = {"dpzo": {"steps": 2, "directions": 2}, "dp_dm": {"steps": 25}}
NON_PRIVATE = ("full_data", "random_subset", "kmeans")
DP_BASELINES = ("dp_gaussian", "dp_marginals", "dp_dm", "dp_direct")

_FITS: dict[tuple, object] = {}


@pytest.fixture(scope="module")
def trains(datasets):
    return {name: train_test_split(datasets[name], seed=0)[0] for name in CASES}


def fitted(method: str, train, seed: int = 0, **params):
    """Fit once per (method, dataset, seed, params) for the whole module."""
    key = (method, train.name, seed, tuple(sorted(params.items())))
    if key not in _FITS:
        est = make_method(
            method, size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=seed,
            model="decision_tree" if train.task == "classification" else "cox_ph",
            **{**FAST.get(method, {}), **params},
        )
        _FITS[key] = est.fit(train)
    return _FITS[key]


def unsupported(method: str, train) -> bool:
    if method == "dp_direct" and train.task == "survival":
        with pytest.raises(ValueError, match="classification datasets only"):
            fitted(method, train)
        return True
    return False


def expected_rows(method: str, train) -> int:
    if method == "full_data":
        return train.n_rows
    if method == "dp_direct":
        return 0  # a model release
    return 2 * SIZE["classification"] if train.task == "classification" else SIZE["survival"]


# ---------------------------------------------------------------------------------------------
# the contract, for every registered method
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_release_size_columns_and_raw_units(method, dataset, trains):
    train = trains[dataset]
    if unsupported(method, train):
        return
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
        if method not in ("full_data", "dp_direct"):  # balanced public labels, as DP-ZO
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
    if unsupported(method, train):
        return
    ledger = fitted(method, train).ledger_
    assert ledger.entries, "every method records what it did with the data"
    assert ledger.total_epsilon <= ledger.target_epsilon * (1 + 1e-9)
    assert ledger.total_delta <= ledger.target_delta * (1 + 1e-9)
    if method in NON_PRIVATE:
        assert math.isinf(ledger.target_epsilon) and math.isinf(ledger.total_epsilon)
        assert not ledger.private and "non-private" in ledger.label
    if method in DP_BASELINES:
        assert ledger.private
        assert abs(ledger.total_epsilon - EPSILON) <= 1e-9  # fully spent, never more
        assert ledger.total_delta <= DELTA * (1 + 1e-9)


@pytest.mark.parametrize("dataset", CASES)
@pytest.mark.parametrize("method", METHODS.names())
def test_same_seed_same_release(method, dataset, trains):
    train = trains[dataset]
    if unsupported(method, train):
        return
    first = fitted(method, train, seed=0).synthetic_
    again = make_method(
        method, size=SIZE[train.task], epsilon=EPSILON, delta=DELTA, random_state=0,
        model="decision_tree" if train.task == "classification" else "cox_ph", **FAST.get(method, {}),
    ).fit(train)
    pd.testing.assert_frame_equal(first, again.synthetic_)
    if method == "dp_direct":
        X = train.encoded()
        np.testing.assert_array_equal(again.released_model_.predict_proba(X), fitted(method, train).released_model_.predict_proba(X))
    if method not in ("full_data", "kmeans", "dp_direct"):
        other = fitted(method, train, seed=1).synthetic_
        assert not first.equals(other), f"{method}: the seed changes nothing"


@pytest.mark.parametrize("method", NON_PRIVATE)
def test_references_never_claim_privacy_even_when_asked(method, trains):
    ledger = make_method(method, size=3, epsilon=0.5, random_state=0).fit(trains["pima_diabetes"]).ledger_
    assert math.isinf(ledger.total_epsilon) and not ledger.private
    assert all(math.isinf(e.epsilon) for e in ledger.entries)


def test_method_configs_match_constructors():
    """Each package method's ``conf/method/<name>.yaml`` names it and holds its constructor defaults."""
    import inspect

    import yaml
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dpcondense.paths import CONF_DIR
    from dpcondense.run import resolve_run

    names = [n for n in METHODS.names() if METHODS.get(n).__module__.startswith("dpcondense.")]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            for method in names:
                cfg = yaml.safe_load((CONF_DIR / "method" / f"{method}.yaml").read_text())
                assert cfg["name"] == method
                signature = inspect.signature(METHODS.get(method).__init__).parameters
                for key, value in (cfg.get("params") or {}).items():
                    assert key in signature and signature[key].kind == inspect.Parameter.KEYWORD_ONLY, f"{method}.{key}"
                    if signature[key].default is not None:  # None: the method resolves its documented default
                        assert value == signature[key].default, f"{method}.{key}: yaml {value!r} != code {signature[key].default!r}"
                spec = resolve_run(compose("config", overrides=[f"method={method}", "dataset=pima_diabetes"]))
                assert spec.method == method and spec.method_params == (cfg.get("params") or {})
    finally:
        GlobalHydra.instance().clear()


# ---------------------------------------------------------------------------------------------
# DP baselines: the noise in the code is the noise the ledger's (epsilon, delta) demands
# ---------------------------------------------------------------------------------------------


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """Balle & Wang (2018) Thm 8, solved with scipy (independent of dpcondense.privacy)."""

    def excess(sigma: float) -> float:
        a, b = sensitivity / (2 * sigma), epsilon * sigma / sensitivity
        return norm.cdf(a - b) - math.exp(epsilon) * norm.cdf(-a - b) - delta

    return brentq(excess, 1e-3 * sensitivity, 1e3 * sensitivity, xtol=1e-12 * sensitivity)


def box_half_widths(train) -> np.ndarray:
    """Half-width of every modelled column, from the schema (numeric 1, 0/1 columns 1/2, log-time 1)."""
    widths = []
    for f in train.schema.features:
        widths += [1.0] if f.type == "numeric" else [0.5] * (1 if f.type == "binary" else len(f.categories))
        widths += [0.5] if f.missing.indicator else []
    return np.array(widths + ([1.0] if train.task == "survival" else []))


@pytest.mark.parametrize("dataset", CASES)
def test_dp_gaussian_noise_matches_ledger(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_gaussian", train)
    radius = float(np.linalg.norm(box_half_widths(train)))
    expected_sens = {"counts": 1.0, "sums": radius, "second_moments": radius**2}
    by_purpose = {e.purpose.removeprefix("dp_gaussian_"): e for e in est.ledger_.entries}
    assert set(by_purpose) == set(expected_sens)
    for name, sens in expected_sens.items():
        entry = by_purpose[name]
        assert entry.sensitivity == pytest.approx(sens, rel=1e-12)
        sigma = analytic_gaussian_sigma(entry.epsilon, entry.delta, sens)
        assert est.noise_std_[name] == pytest.approx(sigma, rel=1e-6)
        assert entry.noise_multiplier * sens == pytest.approx(sigma, rel=1e-6)


def test_dp_gaussian_noise_is_really_applied(trains):
    """The released counts scatter around the true counts with the claimed std (40 seeds)."""
    train = trains["pima_diabetes"]
    exact = np.bincount(train.y, minlength=2)
    residuals, sigma = [], None
    for seed in range(40):
        est = make_method("dp_gaussian", size=2, epsilon=EPSILON, delta=DELTA, random_state=seed).fit(train)
        residuals.append(est.noisy_counts_ - exact)
        sigma = est.noise_std_["counts"]
    spread = np.std(np.concatenate(residuals))
    assert 0.75 * sigma < spread < 1.25 * sigma


@pytest.mark.parametrize("dataset", CASES)
def test_dp_dm_noise_matches_ledger(dataset, trains):
    est = fitted("dp_dm", trains[dataset])
    expected_sens = {"counts": 1.0, "embeddings": est.clip}
    for entry in est.ledger_.entries:
        name = entry.purpose.removeprefix("dp_dm_")
        assert entry.sensitivity == pytest.approx(expected_sens[name])
        assert est.noise_std_[name] == pytest.approx(analytic_gaussian_sigma(entry.epsilon, entry.delta, expected_sens[name]), rel=1e-6)
    assert est.matching_loss_[-1] < est.matching_loss_[0]  # the optimiser matches the release


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_trees"])
def test_dp_direct_noise_matches_ledger(estimator, trains):
    train = trains["pima_diabetes"]
    est = fitted("dp_direct", train, estimator=estimator)
    if estimator == "logistic_regression":
        blocks = sum(1 + int(f.missing.indicator) for f in train.schema.features)
        sens = math.sqrt(blocks + 1) / est.regularization
    else:
        sens = math.sqrt(est.n_trees)
    (entry,) = est.ledger_.entries
    assert entry.sensitivity == pytest.approx(sens, rel=1e-12)
    assert est.noise_std_ == pytest.approx(analytic_gaussian_sigma(EPSILON, DELTA, sens), rel=1e-6)


@pytest.mark.parametrize("dataset", CASES)
def test_dp_marginals_noise_matches_zcdp_conversion(dataset, trains):
    train = trains[dataset]
    est = fitted("dp_marginals", train)
    log_inv_delta = math.log(1 / DELTA)
    # rho-zCDP gives (rho + 2 sqrt(rho log(1/delta)), delta)-DP: solve that for rho with scipy
    rho = brentq(lambda r: r + 2 * math.sqrt(r * log_inv_delta) - EPSILON, 1e-12, EPSILON)
    k = len(train.schema.features) + (1 if train.task == "classification" else 2)
    assert est.rho_ == pytest.approx(rho, rel=1e-9)
    # thirds of rho: Gaussian with L2 sensitivity sqrt(k) (1-way) and sqrt(k-1) (tree pairs)
    assert est.noise_std_["one_way"] == pytest.approx(math.sqrt(k) / math.sqrt(2 * rho / 3), rel=1e-9)
    assert est.noise_std_["two_way"] == pytest.approx(math.sqrt(k - 1) / math.sqrt(2 * rho / 3), rel=1e-9)
    # k - 1 exponential mechanisms, each eps0^2/8-zCDP, add up to rho/3
    assert (k - 1) * est.selection_epsilon_**2 / 8 == pytest.approx(rho / 3, rel=1e-9)
    assert len(est.tree_) == k - 1
    (entry,) = est.ledger_.entries
    assert entry.epsilon == EPSILON and entry.delta == DELTA


def test_dp_marginals_large_sample_and_outcome_in_table(trains):
    train = trains["gbsg"]
    large = fitted("dp_marginals", train, n_samples="large")
    assert len(large.synthetic_) == train.n_public
    assert {"__event__", "__time__"} <= {name for pair in large.tree_ for name in pair}  # outcome modelled
    assert len(fitted("dp_marginals", train, n_samples=37).synthetic_) == 37


def test_model_release_is_scored_as_released(trains, datasets):
    train, test = train_test_split(datasets["pima_diabetes"], seed=0)
    est = make_method("dp_direct", epsilon=math.inf, random_state=0).fit(train)
    metrics = evaluate_release(est.synthetic_encoded_, train, test, "decision_tree")
    direct = roc_auc_score(test.y, est.released_model_.predict_proba(test.encoded())[:, 1])
    assert metrics["auroc"] == pytest.approx(direct)
    assert metrics["auroc"] > 0.75  # non-private logistic regression on Pima


# ---------------------------------------------------------------------------------------------
# plugins: a method from outside the package, through the CLI, without editing dpcondense
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def plugin_path(monkeypatch):
    """``tests/plugins`` importable; afterwards the plugin is unregistered and forgotten."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    loaded = METHODS._entry_points_loaded
    yield
    METHODS._items.pop("my_baseline", None)
    METHODS._entry_points_loaded = loaded
    sys.modules.pop("my_baseline", None)


def test_plugin_module_runs_through_condense(tmp_path, plugin_path):
    out = tmp_path / "release"
    args = ["condense", "--method", "my_baseline", "--dataset", "pima_diabetes", "--size", "4", "--no-progress"]
    assert cli.main([*args, "--plugin", "my_baseline", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "synthetic.csv")) == 8
    ledger = json.loads((out / "ledger.json").read_text())
    assert [e["purpose"] for e in ledger["entries"]] == ["counts", "sums"] and ledger["epsilon"] == pytest.approx(1.0)
    with pytest.raises(ImportError, match="plugin module 'no_such_plugin' cannot be imported"):
        load_plugins(["no_such_plugin"])


def _entry_point_site(root: Path) -> Path:
    """A site folder holding an installed distribution that declares ``[dpcondense.methods]``."""
    dist = root / "site" / "my_baseline_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-baseline-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dpcondense.methods]\nmy_baseline = my_baseline:NoisyClassMeans\n")
    return dist.parent


def test_plugin_entry_point_runs_through_condense(tmp_path, plugin_path, monkeypatch):
    """An installed distribution's entry point is found with no flag at all."""
    monkeypatch.syspath_prepend(str(_entry_point_site(tmp_path)))
    METHODS._entry_points_loaded = False  # as in a fresh process: scan the entry points again
    out = tmp_path / "release"
    assert cli.main(["condense", "--method", "my_baseline", "--dataset", "pima_diabetes", "--size", "3", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "synthetic.csv")) == 6


@pytest.mark.slow
def test_plugin_runs_through_hydra_run(tmp_path):
    """``dpcondense run`` in a fresh process: entry point + the plugin's own ``conf/method`` yaml."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_entry_point_site(tmp_path)), str(PLUGINS)]),
        "DPCONDENSE_MLRUNS": str(tmp_path / "mlruns"),
        "MLFLOW_ENABLE_TELEMETRY": "false",
    }
    args = ["run", "dataset=pima_diabetes", f"hydra.searchpath=[file://{PLUGINS / 'conf'}]", "method=my_baseline", "size=3", "progress=false"]
    proc = subprocess.run([sys.executable, "-m", "dpcondense.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done:" in proc.stdout and "pima_diabetes/decision_tree/my_baseline" in proc.stdout
