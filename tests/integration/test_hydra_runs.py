"""The Hydra app (``dpcondense run``): its config groups, the run identity, bad input, ``dataset=csv``.

These tests compose configs in-process or run single jobs; real sweeps in subprocesses (joblib
with 2 workers, submitit_local, a SIGKILLed sweep, a real ``mlflow server``) are in
``tests/e2e/test_sweeps.py``. Runs are shrunk to ``method.params.steps=2 method.params.directions=2``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from dpcondense.benchmark.callbacks import expand_sweep
from dpcondense.paths import CONF_DIR
from dpcondense.benchmark import RunConfigError, resolve_run
from dpcondense.benchmark.resolve import private_rows
from sweep_helpers import TINY, free_port, hydra_conf, spec_of



# ---------------------------------------------------------------------------------------------
# composition and the run identity
# ---------------------------------------------------------------------------------------------


def test_every_dataset_family_pair_composes_and_mismatches_are_refused():
    from dpcondense.datasets import DATASETS
    from dpcondense.models import MODELS

    identities = set()
    with hydra_conf():
        for dataset in DATASETS.names():
            task = OmegaConf.load(CONF_DIR / "dataset" / f"{dataset}.yaml").task
            for family in MODELS.names():
                if MODELS.get(family).task != task:
                    continue
                cfg = compose("config", overrides=[f"dataset={dataset}", f"model={family}"])
                spec = resolve_run(cfg)
                assert (spec.dataset, spec.task, spec.model, spec.eval_models) == (dataset, task, family, [family])
                assert spec.model_params == OmegaConf.to_container(cfg.model.params)
                identities.add(spec.identity)
            # one family of the other task: refused, naming both and the allowed families
            other = next(f for f in MODELS.names() if MODELS.get(f).task != task)
            cfg = compose("config", overrides=[f"dataset={dataset}", f"model={other}"])
            with pytest.raises(RunConfigError, match=rf"model={other} is a \w+ family but dataset={dataset} is a {task} dataset"):
                resolve_run(cfg)
    assert len(identities) == 3 * 5 + 3 * 4  # classification datasets x 5 families, survival x 4


def test_every_method_config_resolves():
    from dpcondense.methods import METHODS

    options = sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
    assert {"dpzo", "full_data", "random_subset"} <= set(options)
    with hydra_conf():
        for option in options:
            spec = resolve_run(compose("config", overrides=[f"method={option}"]))
            assert spec.method == option and option in METHODS


def test_task_defaults_and_what_the_identity_ignores():
    base = spec_of()
    assert (base.dataset, base.model, base.eval_models, base.size) == ("breast_cancer_wisconsin", "decision_tree", ["decision_tree"], 10)
    assert (base.epsilon, base.delta, base.seed, base.method) == (1.0, 1e-5, 0, "dpzo")
    surv = spec_of("dataset=metabric")
    assert (surv.model, surv.size) == ("cox_ph", 50)

    same = [
        ["size=10"], ["size=null"], ["model=decision_tree"], ["eval_model=decision_tree"], ["privacy.epsilon=1"],
        ["tracking=server", "tracking.uri=http://127.0.0.1:1"], ["experiment_name=other"], ["progress=false"],
        ["dry_run=true"],
    ]
    for overrides in same:
        assert spec_of(*overrides).identity == base.identity, overrides
    different = [["seed=1"], ["privacy.epsilon=2"], ["privacy.epsilon=inf"], ["size=11"], ["method.params.steps=3"],
                 ["model=decision_tree", "model.params.max_depth=3"], ["eval_model=[decision_tree,xgboost]"], ["references=true"], ["method=random_subset"]]
    identities = {spec_of(*overrides).identity for overrides in different}
    assert base.identity not in identities and len(identities) == len(different)

    # the condensing family's overrides reach its evaluation too; other eval families use conf/model
    deep = spec_of("model=decision_tree", "model.params.max_depth=2", "eval_model=[decision_tree,random_forest]")
    assert deep.eval_model_params["decision_tree"]["max_depth"] == 2
    assert deep.eval_model_params["random_forest"] == OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model/random_forest.yaml").params)
    assert spec_of("dataset=metabric", "eval_model=all").eval_models == ["cox_ph", "deepsurv", "random_survival_forest", "xgboost_cox"]


def test_private_rows_is_the_training_split_size():
    from dpcondense.data import train_test_split
    from dpcondense.datasets import DATASETS, load_dataset

    for name in DATASETS.names():
        schema = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "dataset" / f"{name}.yaml"))
        train, _ = train_test_split(load_dataset(name), seed=0)
        assert private_rows(schema, {}) == train.n_rows == train.n_public, name


PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def grid_size(preset: str) -> int:
    """Runs a preset's sweep should expand to: the product of its swept value counts, read from the file."""
    params = OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    return math.prod(len(str(v).split(",")) for v in params.values())


def test_presets_expand_to_their_grids_of_valid_runs():
    from dpcondense.models import MODELS

    assert "quickstart" in PRESETS and len(PRESETS) > 1
    from dpcondense.datasets import DATASETS

    tasks = {name: OmegaConf.load(CONF_DIR / "dataset" / f"{name}.yaml").task for name in DATASETS.names()}
    with hydra_conf():
        loader = GlobalHydra.instance().config_loader()
        for preset in PRESETS:
            n_runs = grid_size(preset)
            master = compose("config", overrides=[f"experiment={preset}"], return_hydra_config=True)
            jobs = expand_sweep(master)
            assert len(jobs) == n_runs, preset
            # no dataset x model pair of different tasks anywhere in the grid
            for job in jobs:
                choice = dict(o.split("=", 1) for o in job)
                if "model" in choice:
                    assert MODELS.get(choice["model"]).task == tasks[choice["dataset"]], (preset, job)
            # composing is slow (~0.2 s a job): fully validate the first job of each dataset
            firsts = {dict(o.split("=", 1) for o in job)["dataset"]: job for job in reversed(jobs)}
            specs = [resolve_run(loader.load_sweep_config(master, job)) for job in firsts.values()]
            assert {s.dataset for s in specs} == {dict(o.split("=", 1) for o in j)["dataset"] for j in jobs}
            if preset.startswith("paper_transfer"):
                assert all(len(s.eval_models) == {"classification": 5, "survival": 4}[s.task] for s in specs)
            if preset == "quickstart":
                assert {(s.dataset, s.model) for s in specs} == {("breast_cancer_wisconsin", "decision_tree"), ("metabric", "cox_ph")}
                assert all(s.method_params["steps"] == 150 for s in specs)


def test_launcher_configs_compose():
    with hydra_conf():
        launcher = compose("config", return_hydra_config=True).hydra.launcher
        assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == -1  # all cores
        slurm = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher
        assert slurm._target_.endswith("SlurmLauncher")
        assert (slurm.cpus_per_task, slurm.timeout_min, slurm.array_parallelism) == (1, 180, 256)
        local = compose("config", overrides=["hydra/launcher=local_submitit"], return_hydra_config=True).hydra.launcher
        assert local._target_.endswith("submitit_launcher.LocalLauncher")
        # dpcondense's own Ray launcher (the `ray` extra; the config composes without ray installed)
        ray = compose("config", overrides=["hydra/launcher=ray"], return_hydra_config=True).hydra.launcher
        assert ray._target_ == "hydra_plugins.dpcondense_ray_launcher.RayLauncher"
        assert (ray.remote.num_cpus, ray.remote.max_retries) == (1, 0)


# ---------------------------------------------------------------------------------------------
# bad input: one clear message, exit status != 0, and no work (the store is not even created)
# ---------------------------------------------------------------------------------------------


UNREACHABLE = f"http://127.0.0.1:{free_port()}"
BAD_INPUTS = {
    "unknown dataset": (["dataset=nope"], ["Could not find 'dataset/nope'", "Available options in 'dataset'", "metabric", "pima_diabetes"]),
    "unknown model": (["model=nope"], ["Could not find 'model/nope'", "Available options in 'model'", "cox_ph"]),
    "unknown method": (["method=nope"], ["Available options in 'method'", "dpzo", "random_subset"]),
    "unknown eval model": (["eval_model=[decision_tree,nope]"], ["eval_model=nope", "available models", "xgboost"]),
    "epsilon = 0": (["privacy.epsilon=0"], ["privacy.epsilon=0 must satisfy epsilon > 0"]),
    "epsilon < 0": (["privacy.epsilon=-1"], ["privacy.epsilon=-1 must satisfy epsilon > 0"]),
    "delta >= 1/n": (["privacy.delta=0.01"], ["privacy.delta=0.01 must satisfy 0 < delta < 1/n", "n=426"]),
    "size 0 (fewer rows than classes)": (["size=0"], ["size=0 must be an integer >= 1", "each of the 2 classes"]),
    "size 0 survival": (["dataset=metabric", "size=0"], ["size=0 must be an integer >= 1"]),
    "eval model of the other task": (["eval_model=cox_ph"], ["eval model 'cox_ph' is a survival family and cannot evaluate a classification dataset"]),
    "model of the other task": (["dataset=metabric", "model=decision_tree"], ["model=decision_tree is a classification family but dataset=metabric is a survival dataset", "cox_ph"]),
    "plugin that cannot be imported": (["plugins=[no_such_module_xyz]"], ["plugin module 'no_such_module_xyz' cannot be imported"]),
    "unknown method parameter": (["+method.params.stepz=3"], ["method 'dpzo' has no parameter 'stepz'", "steps"]),
    "unreachable tracking server": (["tracking=server", f"tracking.uri={UNREACHABLE}"], [f"MLflow tracking server {UNREACHABLE} is unreachable"]),
    "server without a URI": (["tracking=server"], ["tracking=server needs a server URL", "MLFLOW_TRACKING_URI"]),
    "a sweep with one invalid job": (["-m", "dataset=breast_cancer_wisconsin,metabric", "model=cox_ph"],
                                     ["1 of 2 runs in this sweep are invalid; nothing was run", "model=cox_ph is a survival family but dataset=breast_cancer_wisconsin"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_clear_error_before_any_work(app, tmp_path, monkeypatch, case):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    overrides, expected = BAD_INPUTS[case]
    code, output = app(*overrides)
    assert code != 0
    for text in expected:
        assert text in output, f"{case}: {text!r} not in:\n{output}"
    assert not (tmp_path / "mlruns").exists()  # nothing was created, let alone run
    assert "Traceback" not in output


# ---------------------------------------------------------------------------------------------
# dataset=csv: a custodian's own file through the Hydra app
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def user_csv(tmp_path):
    """(csv, schema) of a custodian's 80-row cohort (the custodian tests' fixture data)."""
    import yaml

    from test_custodian import SCHEMA, cohort_frame

    folder = tmp_path / "custodian"
    folder.mkdir()
    csv_path, schema_path = folder / "cohort.csv", folder / "cohort.yaml"
    cohort_frame().to_csv(csv_path, index=False)
    schema_path.write_text(yaml.safe_dump(SCHEMA))
    return csv_path, schema_path


def csv_overrides(csv_path, schema_path, *extra: str) -> list[str]:
    return ["dataset=csv", f"dataset.path={csv_path}", f"dataset.schema={schema_path}", *extra]


def test_csv_dataset_resolves_from_its_schema_and_the_identity_follows_the_content(user_csv, tmp_path):
    import shutil

    csv_path, schema_path = user_csv
    spec = spec_of(*csv_overrides(csv_path, schema_path))
    assert (spec.dataset, spec.task, spec.model, spec.size) == ("cohort", "classification", "decision_tree", 10)
    assert spec.csv["n_public"] is None and spec.csv["count_share"] == 0.02
    assert spec.params()["dataset.path"] == str(csv_path.resolve())

    # moved files, same bytes: same run; one changed byte of data, or another option: another run
    moved = tmp_path / "moved"
    shutil.copytree(csv_path.parent, moved)
    assert spec_of(*csv_overrides(moved / "cohort.csv", moved / "cohort.yaml")).identity == spec.identity
    assert spec_of(*csv_overrides(csv_path, schema_path, "dataset.count_share=0.05")).identity != spec.identity
    assert spec_of(*csv_overrides(csv_path, schema_path, "dataset.n_public=60")).identity != spec.identity
    lines = (moved / "cohort.csv").read_text().splitlines()
    lines[-1] = lines[-1][:-1] + ("1" if lines[-1].endswith("0") else "0")  # one patient's outcome flipped
    (moved / "cohort.csv").write_text("\n".join(lines) + "\n")
    assert spec_of(*csv_overrides(moved / "cohort.csv", moved / "cohort.yaml")).identity != spec.identity
    # a built-in dataset's identity does not carry the csv block
    assert "csv" not in spec_of().payload() and "csv" in spec.payload()


CSV_BAD_INPUTS = {
    "no path": (["dataset=csv"], ["dataset=csv needs dataset.path=<file>"]),
    "missing file": (["dataset=csv", "dataset.path=nowhere.csv", "dataset.schema=nowhere.yaml"], ["dataset.path=nowhere.csv: file not found"]),
    "bad count share": (["{csv}", "dataset.count_share=1.5"], ["dataset.count_share=1.5 must be a number in (0, 1)"]),
    "bad n_public": (["{csv}", "dataset.n_public=0"], ["dataset.n_public=0 must be null or an integer >= 1"]),
    "delta too large for the file": (["{csv}", "privacy.delta=0.05"], ["privacy.delta=0.05 must satisfy 0 < delta < 1/n", "not shown"]),
    "seeded noise for a custodian's file": (["{csv}", "privacy.noise=seeded"], ["privacy.noise=seeded is the benchmark mode"]),
    "a private parameter": (["{csv}", "+method.params._unsafe_disable_noise=true"], ["method.params._unsafe_disable_noise is a private parameter"]),
    "a column the schema does not know": (["{csv}", "dataset.schema={bad_schema}"], ["cohort.csv", "bmi"]),
}


@pytest.mark.parametrize("case", list(CSV_BAD_INPUTS))
def test_csv_dataset_bad_input_is_a_clear_error_before_any_work(app, tmp_path, monkeypatch, user_csv, case):
    import yaml

    from test_custodian import SCHEMA

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    csv_path, schema_path = user_csv
    bad_schema = tmp_path / "bad.yaml"  # declares bmi categorical: the file's numbers are not categories
    bad = {**SCHEMA, "features": [f if f["name"] != "bmi" else {"name": "bmi", "type": "categorical", "categories": ["low", "high"]} for f in SCHEMA["features"]]}
    bad_schema.write_text(yaml.safe_dump(bad))
    overrides, expected = CSV_BAD_INPUTS[case]
    args = []
    for o in overrides:
        args += csv_overrides(csv_path, schema_path) if o == "{csv}" else [o.format(bad_schema=bad_schema)]
    code, output = app(*args)
    assert code != 0
    for text in expected:
        assert text in output, f"{case}: {text!r} not in:\n{output}"
    assert not (tmp_path / "mlruns").exists() and "Traceback" not in output


def test_csv_dataset_runs_through_the_custodian_path_and_resumes(app, tmp_path, user_csv):
    from mlflow import MlflowClient

    from dpcondense.privacy import PrivacyLedger

    csv_path, schema_path = user_csv
    args = csv_overrides(csv_path, schema_path, "privacy.epsilon=2", "size=3", *TINY)
    code, output = app(*args)
    assert code == 0, output
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("default")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["dataset"] == "cohort"
    assert run.data.params["dataset.count_share"] == "0.02" and "dataset.n_public" in run.data.params
    # the release and the run record only: no metrics on the file, no local report, no timings
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"synthetic.csv", "ledger.json", "manifest.json",
                                                                        "config.yaml", "run_spec.json"}
    assert set(run.data.metrics) == {"epsilon_spent", "delta_spent"}
    assert client.get_metric_history(run.info.run_id, "objective") == []
    local = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "dl")))
    # nothing logged holds the file's digest or its row count (80 rows; the schema declares none)
    file_hash = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    ledger_json = json.loads((local / "ledger.json").read_text())
    dp_count_value = ledger_json.pop("n_public")  # the DP count (a release of the ledger) may happen to equal 80
    for entry in ledger_json["entries"]:
        entry.pop("released_count", None)
    logged = " ".join([*map(str, run.data.params.values()), *map(str, run.data.tags.values()), output, json.dumps(ledger_json),
                       *((local / n).read_text() for n in ("manifest.json", "config.yaml", "run_spec.json"))])
    assert file_hash not in logged and "schema_sha256" not in (local / "run_spec.json").read_text()
    if dp_count_value != 80:  # else the released DP count (allowed anywhere) is indistinguishable from it
        assert not re.search(r"(?<![\w.])80(?![\w.])", logged), "the private row count leaked"
    ledger = PrivacyLedger.from_json(local / "ledger.json")
    count, *rest = ledger.entries  # the schema has no public.n_rows: a DP count comes first
    assert count.purpose == "dp_count" and count.epsilon == pytest.approx(0.02 * 2)
    assert 1.99 < ledger.total_epsilon <= 2.0 * (1 + 1e-9) and ledger.target_epsilon == 2.0
    synthetic = (local / "synthetic.csv").read_text().splitlines()
    assert synthetic[0] == "age,bmi,sex,smoker,died,sample_weight" and len(synthetic) == 1 + 2 * 2 * 3  # soft labels
    assert float(run.data.metrics["epsilon_spent"]) == pytest.approx(ledger.total_epsilon)
    assert ledger.noise == "secure" and ledger.release_grade

    # the same command again is skipped; the same run with a public n buys no count
    code, output = app(*args)
    assert code == 0 and "skipped (already done)" in output
    code, output = app(*args, "dataset.n_public=60")
    runs = client.search_runs([exp.experiment_id])
    assert code == 0 and len(runs) == 2
    public = next(r for r in runs if r.data.params.get("dataset.n_public") == "60")
    ledger = PrivacyLedger.from_json(Path(client.download_artifacts(public.info.run_id, "ledger.json", str(tmp_path / "dl2"))))
    assert "dp_count" not in [e.purpose for e in ledger.entries] and ledger.n_public == 60
