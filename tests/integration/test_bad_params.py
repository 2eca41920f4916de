"""Bad hyperparameters and oversized runs: one line naming the key and what is allowed, before any work.

One table of bad inputs across every surface that starts a run: ``dpcondense condense --param``
(and ``--size`` / ``--epsilon``), ``dpcondense run`` (``method.params.*``, ``model.params.*``,
``size``, ``privacy.epsilon``; a single run and a sweep with one bad job), the custodian's
``condense_csv(method_params=..., size=..., epsilon=...)``, and the Python API ``make_method`` / ``make_model``. Each must
exit with status 2 (or raise ``ValueError`` from the Python API) with a one-line message naming the
key and the allowed values, print no traceback, and write nothing: no output folder, no MLflow store.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from dpcondense import cli
from dpcondense.methods import METHODS, make_method
from dpcondense.models import MODELS, make_model


def method_allowed(method: str, key: str) -> str:
    return METHODS.get(method).param_specs[key].describe()


def model_allowed(model: str, key: str) -> str:
    return MODELS.get(model).param_specs[key].describe()


@dataclass(frozen=True)
class Bad:
    """One bad input: the surface, its arguments, and what the message must contain."""

    surface: str  # condense | run | sweep | csv | make_method | make_model
    args: tuple
    expect: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.surface}:{' '.join(map(str, self.args))}"


def condense_param(value: str, key: str, method: str = "dpzo", *extra: str) -> Bad:
    """``dpcondense condense --method METHOD --param KEY=VALUE``: the message names KEY and what is allowed."""
    allowed = method_allowed(method, key)
    return Bad("condense", ("--method", method, "--param", f"{key}={value}", *extra), (f"{key}=", allowed))


def run_param(value: str, key: str, method: str = "dpzo", new: bool = False) -> Bad:
    """``dpcondense run method=METHOD method.params.KEY=VALUE``."""
    override = f"{'+' if new else ''}method.params.{key}={value}"
    return Bad("run", (f"method={method}", override), (f"method.params.{key}=", method_allowed(method, key)))


def run_model(model: str, key: str, value: str, dataset: str = "breast_cancer_wisconsin") -> Bad:
    """``dpcondense run model=MODEL model.params.KEY=VALUE``."""
    return Bad("run", (f"dataset={dataset}", f"model={model}", f"model.params.{key}={value}"),
               (f"model.params.{key}=", model_allowed(model, key)))


CONDENSE = [
    Bad("condense", ("--param", "stepz=3"), ("has no parameter 'stepz'", "its parameters:", "steps", "directions")),
    Bad("condense", ("--method", "random_subset", "--param", "k=3"), ("has no parameter 'k'", "its parameters: none")),
    condense_param("0", "steps"),
    condense_param("-5", "steps"),
    condense_param("abc", "steps"),
    condense_param("2.5", "steps"),
    condense_param("abc", "lr"),
    condense_param("nan", "lr"),
    condense_param(".nan", "lr"),
    condense_param(".inf", "lr"),
    condense_param("0", "lr"),
    condense_param("0", "directions"),
    condense_param("0", "mu"),
    condense_param("-1", "clip"),
    condense_param("diagonal", "clip_mode"),
    condense_param("rmsprop", "optimizer"),
    condense_param("zeros", "init"),
    condense_param("1", "init_budget_share"),
    condense_param("2", "init_clip"),
    condense_param("0", "bagging"),
    condense_param("fuzzy", "labels"),
    condense_param("10", "label_init"),
    condense_param("maybe", "class_balance"),
    condense_param("2", "event_fraction"),
    condense_param("gdp", "accountant"),
    condense_param("both", "accounting"),
    condense_param("-1", "objective_weight"),
    condense_param("0", "n_public"),
    condense_param("0", "sampling_rate"),
    condense_param("0", "batch_size"),
    condense_param("svm", "estimator", "dp_direct"),
    condense_param("0", "regularization", "dp_direct"),
    condense_param("40", "depth", "dp_direct"),
    condense_param("0", "n_features", "dp_dm"),
    condense_param("{counts: 1}", "budget_shares", "dp_dm"),
    condense_param("banded", "covariance", "dp_gaussian"),
    condense_param("1", "n_bins", "dp_marginals"),
    condense_param("many", "n_samples", "dp_marginals"),
    condense_param("0", "n_init", "kmeans"),
    Bad("condense", ("--size", "500"), ("--size 500", "426 training rows", "choose size <= 213")),
    Bad("condense", ("--size", "100000"), ("--size 100000", "426 training rows", "choose size <= 213")),
    Bad("condense", ("--epsilon", "1e300"), ("epsilon", "above 100", "inf")),
    Bad("condense", ("--epsilon", "1000"), ("epsilon", "above 100", "inf")),
    Bad("condense", ("--param", "steps=100000"), ("steps=100000", "model fits", "1,000,000")),
    Bad("condense", ("--method", "dp_marginals", "--param", "n_samples=100000"), ("n_samples=100000", "choose n_samples <= 426")),
]

RUN = [
    Bad("run", ("+method.params.stepz=3",), ("method 'dpzo' has no parameter 'stepz'", "steps")),
    Bad("run", ("+method.params._unsafe_disable_noise=true",), ("method.params._unsafe_disable_noise is a private parameter",)),
    Bad("run", ("+method.params.epsilon=2",), ("method.params.epsilon is set by another key",)),
    run_param("abc", "lr"),
    run_param("nan", "lr"),
    run_param("inf", "lr"),
    run_param("-0.1", "lr"),
    run_param("0", "steps"),
    run_param("abc", "steps"),
    run_param("1.5", "steps"),
    run_param("0", "directions"),
    run_param("0.0", "mu"),
    run_param("0", "clip"),
    run_param("zeros", "init"),
    run_param("0", "init_budget_share"),
    run_param("1.5", "teacher_budget_share"),
    run_param("0", "teacher_regularization"),
    run_param("0", "label_scale"),
    run_param("yes_please", "class_balance"),
    run_param("sometimes", "event_policy"),
    run_param("2", "sampling_rate"),
    run_param("-1", "public_seed", new=True),
    run_param("estimator_x", "estimator", "dp_direct"),
    run_param("0", "n_trees", "dp_direct"),
    run_param("0", "smoothing", "dp_direct"),
    run_param("-1", "lengthscale", "dp_dm"),
    run_param("-1", "steps", "dp_dm"),
    Bad("run", ("method=dp_dm", "method.params.budget_shares.counts=0"),
        ("method.params.budget_shares=", method_allowed("dp_dm", "budget_shares"))),
    run_param("0", "min_variance", "dp_gaussian"),
    run_param("0", "n_time_bins", "dp_marginals"),
    run_param("0", "n_samples", "dp_marginals"),
    run_param("0", "ipf_iterations", "dp_marginals"),
    run_param("0", "max_iter", "kmeans"),
    run_model("decision_tree", "max_depth", "-1"),
    run_model("decision_tree", "max_depth", "abc"),
    run_model("decision_tree", "min_samples_leaf", "0"),
    run_model("decision_tree", "criterion", "mse"),
    run_model("random_forest", "n_estimators", "0"),
    run_model("random_forest", "max_features", "auto"),
    run_model("xgboost", "learning_rate", "0"),
    run_model("xgboost", "subsample", "2"),
    run_model("logistic_regression", "C", "0"),
    run_model("logistic_regression", "C", "nan"),
    run_model("mlp", "solver", "sgd"),
    run_model("mlp", "hidden_layer_sizes", "[0]"),
    run_model("cox_ph", "penalizer", "-1", "metabric"),
    run_model("cox_ph", "tol", "0", "metabric"),
    run_model("deepsurv", "dropout", "1", "metabric"),
    run_model("deepsurv", "epochs", "0", "metabric"),
    run_model("random_survival_forest", "min_samples_split", "1", "metabric"),
    run_model("xgboost_cox", "max_depth", "-1", "metabric"),
    Bad("run", ("model=decision_tree", "+model.params.class_weight=balanced"),
        ("model 'decision_tree' has no parameter 'class_weight'", "its parameters: criterion, max_depth, min_samples_leaf")),
    Bad("run", ("size=500",), ("size=500", "1000 synthetic rows", "426 training rows", "choose size <= 213")),
    Bad("run", ("size=100000",), ("size=100000", "426 training rows")),
    Bad("run", ("dataset=metabric", "size=1500"), ("size=1500", "1428 training rows", "choose size <= 1428")),
    Bad("run", ("evaluate_on=validation", "size=200"), ("size=200", "319 training rows", "choose size <= 159")),
    Bad("run", ("privacy.epsilon=1e300",), ("privacy.epsilon=1e+300 is above 100", "use privacy.epsilon=inf")),
    Bad("run", ("privacy.epsilon=101",), ("privacy.epsilon=101 is above 100", "use privacy.epsilon=inf")),
    Bad("run", ("method.params.steps=100000",), ("method.params.steps=100000", "model fits", "more than the 1,000,000")),
    Bad("run", ("dataset=support_mortality", "size=200", "method.params.steps=1", "method.params.directions=50000"),
        ("method.params.directions=50000", "numbers", "1 GiB")),
    Bad("run", ("method=dp_direct", "method.params.estimator=random_trees", "method.params.n_trees=1000", "method.params.depth=20"),
        ("method.params.n_trees=1000, depth=20", "1 GiB")),
    Bad("run", ("method=dp_marginals", "method.params.n_samples=100000"), ("method.params.n_samples=100000", "choose n_samples <= 426")),
    Bad("run", ("method=dp_dm", "method.params.steps=10000000"), ("method.params.steps=10000000, n_features=128", "updates")),
]

SWEEP = [
    Bad("sweep", ("method.params.lr=0.05,abc",), ("1 of 2 runs in this sweep are invalid", "method.params.lr='abc'", "a finite number > 0")),
    Bad("sweep", ("size=10,500",), ("1 of 2 runs in this sweep are invalid", "size=500", "choose size <= 213")),
    Bad("sweep", ("privacy.epsilon=1,1e300",), ("1 of 2 runs in this sweep are invalid", "above 100")),
    Bad("sweep", ("model=decision_tree", "model.params.max_depth=3,-1"),
        ("1 of 2 runs in this sweep are invalid", "model.params.max_depth=-1", "an integer >= 1 or null")),
]

CSV = [
    Bad("csv", ({"method_params": {"lr": "abc"}},), ("method.params.lr='abc'", "a finite number > 0")),
    Bad("csv", ({"method_params": {"steps": 0}},), ("method.params.steps=0", "an integer >= 1")),
    Bad("csv", ({"method_params": {"stepz": 3}},), ("method 'dpzo' has no parameter 'stepz'", "steps")),
    Bad("csv", ({"method_params": {"labels": "fuzzy"}},), ("method.params.labels='fuzzy'", "one of 'auto', 'hard', 'soft', 'teacher'")),
    Bad("csv", ({"method_params": {"n_public": -3}},), ("method.params.n_public=-3", "an integer >= 1 or null")),
    Bad("csv", ({"method_params": {"lr": float("nan")}},), ("method.params.lr=nan", "a finite number > 0")),
    Bad("csv", ({"n_public": 50, "size": 30},), ("size=30", "the public size of your file is 50 rows", "choose size <= 25")),
    Bad("csv", ({"epsilon": 1e6},), ("privacy.epsilon=1e+06 is above 100", "inf")),
]

PYTHON = [
    Bad("make_method", ("dpzo", {"stepz": 3}), ("method 'dpzo' has no parameter 'stepz'", "steps")),
    Bad("make_method", ("dpzo", {"lr": "abc"}), ("lr='abc' must be a finite number > 0",)),
    Bad("make_method", ("dpzo", {"steps": 0}), ("steps=0 must be an integer >= 1",)),
    Bad("make_method", ("dpzo", {"init_clip": float("inf")}), ("init_clip=inf must be a finite number in (0, 1]",)),
    Bad("make_method", ("dpzo", {"class_balance": 1}), ("class_balance=1 must be true or false",)),
    Bad("make_method", ("dp_gaussian", {"budget_shares": {"counts": 1}}), ("budget_shares=", "exactly the keys counts, sums, second_moments")),
    Bad("make_method", ("dp_marginals", {"n_samples": "all"}), ("n_samples='all' must be one of 'size', 'large' or an integer >= 1",)),
    Bad("make_method", ("kmeans", {"n_init": 2.0}), ("n_init=2.0 must be an integer >= 1",)),
    Bad("make_model", ("decision_tree", {"max_depth": -1}), ("max_depth=-1 must be an integer >= 1 or null",)),
    Bad("make_model", ("decision_tree", {"max_depth": "abc"}), ("max_depth='abc'", "an integer >= 1 or null")),
    Bad("make_model", ("random_forest", {"max_features": 0}), ("max_features=0", "'sqrt', 'log2', an integer >= 1")),
    Bad("make_model", ("xgboost", {"n_estimators": 10**9}), ("n_estimators=1000000000 must be an integer in [1, 10000]",)),
    Bad("make_model", ("mlp", {"hidden_layer_sizes": (16, 10**6)}), ("hidden_layer_sizes=", "integers in [1, 4096]")),
    Bad("make_model", ("cox_ph", {"penalizer": float("nan")}), ("penalizer=nan must be a finite number >= 0",)),
    Bad("make_model", ("deepsurv", {"batch_size": 0}), ("batch_size=0 must be an integer >= 1",)),
    Bad("make_model", ("logistic_regression", {"penalty": "l1"}), ("model 'logistic_regression' has no parameter 'penalty'", "C, max_iter")),
]

CASES = CONDENSE + RUN + SWEEP + CSV + PYTHON


def test_the_table_is_large_and_covers_every_surface():
    assert len(CASES) >= 80
    assert {c.surface for c in CASES} == {"condense", "run", "sweep", "csv", "make_method", "make_model"}


def assert_one_clear_line(output: str, bad: Bad) -> None:
    assert "Traceback" not in output, f"{bad}: traceback printed:\n{output}"
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "invalid" in line.lower()]
    assert errors, f"{bad}: no error line in:\n{output}"
    text = "\n".join(lines)
    for part in bad.expect:
        assert part in text, f"{bad}: {part!r} not in:\n{output}"


@pytest.mark.parametrize("bad", CONDENSE, ids=str)
def test_condense_refuses_before_any_work(bad, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    dataset = () if "--dataset" in bad.args else ("--dataset", "breast_cancer_wisconsin")
    code = cli.main(["condense", *dataset, *bad.args, "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2, f"{bad}: exit status {code}\n{captured.out}{captured.err}"
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert_one_clear_line(captured.err, bad)
    assert not out.exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("bad", RUN + SWEEP, ids=str)
def test_run_refuses_before_any_work(bad, app, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ("-m", *bad.args) if bad.surface == "sweep" else bad.args
    code, output = app(*args, "progress=false")
    assert code == 2, f"{bad}: exit status {code}\n{output}"
    assert_one_clear_line(output, bad)
    assert not (tmp_path / "mlruns").exists()  # nothing was created, let alone run


@pytest.fixture
def cohort(tmp_path):
    from test_custodian import SCHEMA, cohort_frame

    folder = tmp_path / "custodian"
    folder.mkdir()
    cohort_frame().to_csv(folder / "cohort.csv", index=False)
    (folder / "cohort.yaml").write_text(yaml.safe_dump(SCHEMA))
    return folder


@pytest.mark.parametrize("bad", CSV, ids=str)
def test_condense_csv_refuses_before_any_work(bad, cohort, tmp_path, monkeypatch):
    from dpcondense.benchmark import RunConfigError
    from dpcondense.custodian import condense_csv

    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RunConfigError) as info:
        condense_csv(cohort / "cohort.csv", cohort / "cohort.yaml", **bad.args[0])
    message = str(info.value)
    assert "\n" not in message
    for part in bad.expect:
        assert part in message, f"{bad}: {part!r} not in {message!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("bad", PYTHON, ids=str)
def test_the_python_api_refuses_with_the_same_message(bad):
    name, params = bad.args
    build = make_method if bad.surface == "make_method" else make_model
    with pytest.raises(ValueError) as info:
        build(name, **params)
    message = str(info.value)
    assert "\n" not in message
    for part in bad.expect:
        assert part in message, f"{bad}: {part!r} not in {message!r}"


def test_an_accepted_large_epsilon_calibrates_promptly():
    """ε at the limit: the run resolves, and DP-ZO's steps calibrate in seconds at the defaults."""
    import time

    from dpcondense.benchmark.guards import MAX_EPSILON
    from dpcondense.methods.dpzo.optimiser import plan_budget

    start = time.perf_counter()
    plan = plan_budget(
        epsilon=MAX_EPSILON, delta=1e-5, sampling_rate=256 / 426, n=426, steps=200, clip=1.0, accountant="pld",
        accounting="joint", shares={"init": 0.3}, sensitivities={"init": 1.0},
    )
    assert 0 < plan.sigma < 2
    assert time.perf_counter() - start < 30
