"""Which runs a report uses (one per identity, one identity per cell, declared variants) and the
durable run records (export, import, report from records), on small MLflow stores built here.

Each fixture run is logged as ``dpcondense run`` logs it: tags, params, scalar metrics, the step
metric ``objective`` and the artifacts ``run_spec.json`` (whose SHA-256 is the identity) and
``ledger.json``. The real-sweep round trip (every report file byte-identical, a sweep after the
import runs nothing) is in ``tests/e2e/test_sweeps.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dpcondense import reporting
from dpcondense.reporting import archive
from dpcondense.reporting.selection import ReportError
from sweep_helpers import TINY, local_runs, spec_of

CLS = "breast_cancer_wisconsin"


def _payload(dataset, method, model, evals, eps, size, seed, params, versions):
    return {
        "identity_version": 2,
        "dataset": {"name": dataset, "task": "classification", "schema_sha256": "0" * 64},
        "model": {"name": model, "params": {}},
        "eval_model": {e: {} for e in evals},
        "method": {"name": method, "params": params},
        "privacy": {"epsilon": eps, "delta": 1e-5},
        "size": size, "seed": seed, "references": False, "versions": versions,
    }


def _log_run(client, exp, tmp: Path, *, eps=1.0, seed=0, params=None, variant=None, versions=None, auroc=0.8,
             release: str | None = None, end_time: int | None = None, extra_tags=None):
    """One FINISHED run as `dpcondense run` logs it; returns (identity, run id)."""
    from mlflow.entities import Metric, Param

    params = {"labels": "soft", "steps": 3} if params is None else params
    payload = _payload(CLS, "dpzo", "decision_tree", ["decision_tree"], eps, 10, seed, params, versions or {"method": 2})
    identity = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()).hexdigest()
    tags = {"identity": identity, "dataset": CLS, "task": "classification", "model": "decision_tree",
            "eval_models": "decision_tree", "method": "dpzo", "epsilon": "inf" if math.isinf(eps) else repr(eps),
            "delta": "1e-05", "size": "10", "seed": str(seed), "git_commit": "fixture", "sweep": "multirun/2026-01-01/00-00-00",
            **({"variant": variant} if variant else {}), **(extra_tags or {})}
    run = client.create_run(exp, tags=tags, run_name="fixture")
    rid = run.info.run_id
    metrics = {"decision_tree.auroc": auroc, "decision_tree.brier": math.nan, "epsilon_spent": min(eps, 1.7976931348623157e308),
               "n_model_fits": 24.0, "wall_seconds": 1.234 + seed}
    client.log_batch(rid, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()]
                     + [Metric("objective", 1.0 / (step + 1) + seed, 0, step) for step in range(3)],
                     params=[Param(f"method.params.{k}", str(v)) for k, v in params.items()])
    folder = tmp / rid
    folder.mkdir()
    (folder / "run_spec.json").write_text(json.dumps({"identity": identity, **payload}, indent=2, sort_keys=True) + "\n")
    (folder / "ledger.json").write_text(json.dumps({"epsilon": eps if math.isfinite(eps) else "inf", "entries": []}, indent=2) + "\n")
    if release is not None:
        (folder / "synthetic.csv").write_text(release)
    client.log_artifacts(rid, str(folder))
    client.set_terminated(rid, "FINISHED", end_time=end_time)
    return identity, rid


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    """An empty MLflow database, its schema made once (creating one takes seconds): copied per store."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def _empty_store(empty_db: Path, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_db, root / "mlflow.db")
    return root


@pytest.fixture
def make_store(tmp_path, empty_db):
    from mlflow import MlflowClient

    def make(name="store", experiment="exp"):
        root = _empty_store(empty_db, tmp_path / name)
        client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
        exp = client.create_experiment(experiment, artifact_location=(root / "artifacts").as_uri())
        (root / "tmp").mkdir()
        return root, (lambda **kw: _log_run(client, exp, root / "tmp", **kw)), client

    return make


# ---------------------------------------------------------------------------------------------
# selection: one identity per cell
# ---------------------------------------------------------------------------------------------


def test_two_identities_in_one_cell_is_an_error_naming_both(make_store, tmp_path, capsys):
    from dpcondense.cli import main

    root, log, _ = make_store()
    a = log(params={"labels": "soft", "steps": 3})
    b = log(params={"labels": "hard", "steps": 3})
    log(seed=1)  # another cell: not in the message
    with pytest.raises(ReportError) as err:
        reporting.load_runs("exp", root=root)
    message = str(err.value)
    for identity, run_id in (a, b):
        assert f"identity {identity} (run {run_id})" in message
    assert "seed=0" in message and "seed=1" not in message and message.count("identity ") == 2
    assert re.search(r"differ in: method\.params\.labels \('(hard' ≠ 'soft|soft' ≠ 'hard)'\)$", message, re.M)  # from run_spec.json
    assert "separate experiments" in message and "variant" in message
    # the command line: one error, nothing written
    out = tmp_path / "report"
    assert main(["report", "--experiment", "exp", "--root", str(root), "--out", str(out)]) == 2
    assert a[0] in capsys.readouterr().err and not out.exists()


def test_runs_that_differ_only_in_a_component_version_are_named_by_it(make_store):
    root, log, _ = make_store()
    log(versions={"method": 2})
    log(versions={"method": 3})
    with pytest.raises(ReportError, match=r"differ in: versions\.method \((2 ≠ 3|3 ≠ 2)\)"):
        reporting.load_runs("exp", root=root)


def test_an_exact_rerun_is_one_run_and_the_newest_is_used(make_store):
    root, log, _ = make_store()
    identity, old = log(auroc=0.1, end_time=1)
    same, new = log(auroc=0.9)
    assert same == identity
    runs = reporting.load_runs("exp", root=root)
    (record,) = runs.records
    assert (record.run_id, record.metrics["auroc"]) == (new, 0.9)


# ---------------------------------------------------------------------------------------------
# declared variants
# ---------------------------------------------------------------------------------------------


def test_declared_variants_are_cells_of_their_own(make_store):
    root, log, _ = make_store()
    values = {("default", 0): 0.80, ("default", 1): 0.70, ("hard_labels", 0): 0.60, ("hard_labels", 1): 0.66}
    for (variant, seed), auroc in values.items():
        log(seed=seed, variant=variant, auroc=auroc, params={"labels": "soft" if variant == "default" else "hard", "steps": 3})
    runs = reporting.load_runs("exp", root=root)
    assert runs.methods() == ["dpzo", "dpzo[hard_labels]"]  # `default` is the method itself
    t2 = reporting.table2_main(runs)
    cells = {row[3]: t2.cells()[i][4] for i, row in enumerate(t2.rows)}
    for label, variant in (("DP-ZO", "default"), ("DP-ZO [hard_labels]", "hard_labels")):
        vals = [values[(variant, s)] for s in (0, 1)]
        assert cells[label] == f"{np.mean(vals):.3f} ± {np.std(vals):.3f}"


def test_variant_presets_declare_their_variant_key_and_runs_carry_it(app, tmp_path):
    from hydra import compose

    from sweep_helpers import hydra_conf

    with hydra_conf():
        for preset in ("ablation_trees", "tuning_dpzo"):
            cfg = compose("config", overrides=[f"experiment={preset}", "dpzo_variant=teacher"])
            assert cfg.variant == "teacher", preset
        assert compose("config").variant is None
    # the variant names a cell; it is not part of what is computed
    assert spec_of("variant=x").identity == spec_of().identity
    code, output = app("experiment=ablation_trees", "dpzo_variant=hard_labels", "dataset=breast_cancer_wisconsin",
                       "privacy.epsilon=1", "seed=0", "eval_model=decision_tree", *TINY)
    assert code == 0, output
    _, (run,) = local_runs(tmp_path, "ablation_trees")
    assert run.data.tags["variant"] == "hard_labels" and run.data.params["method.params.labels"] == "hard"


# ---------------------------------------------------------------------------------------------
# durable records
# ---------------------------------------------------------------------------------------------


def test_records_export_import_and_report_from_records(make_store, tmp_path, empty_db):
    from dpcondense.benchmark import tracking

    root, log, _ = make_store()
    release = "mean radius,target\n1.5,1\n"
    log(seed=0, release=release)  # the run Figure 5 draws
    for seed, eps in ((1, 1.0), (0, math.inf), (1, math.inf)):
        log(seed=seed, eps=eps)
    store = reporting.open_experiment("exp", root=root)
    records, problem = archive.export_records(store)
    assert problem is None and len(records) == 4
    assert [r["identity"] for r in records] == sorted(r["identity"] for r in records)
    drawn = [r for r in records if "release" in r]
    assert len(drawn) == 1 and drawn[0]["release"] == release and drawn[0]["tags"]["seed"] == "0"
    one = records[0]
    assert "wall_seconds" not in one["metrics"] and "sweep" not in one["tags"]  # no timing, no timestamped folder
    assert one["metrics"]["decision_tree.brier"] is None  # NaN: undefined
    assert len(one["curves"]["objective"]) == 3
    assert hashlib.sha256(one["spec"].encode()).hexdigest() == one["identity"]

    path = archive.write_records(records, tmp_path / "runs.jsonl")
    gz = archive.write_records(records, tmp_path / "runs.jsonl.gz")
    assert gzip.decompress(gz.read_bytes()) == path.read_bytes()
    assert archive.read_records(path) == archive.read_records(gz) == json.loads(json.dumps(records))
    assert archive.write_records(records, tmp_path / "again.jsonl").read_bytes() == path.read_bytes()

    # import into a fresh store, twice: the second import creates nothing
    target = tracking.target_from_config({"kind": "local", "root": _empty_store(empty_db, tmp_path / "fresh")}, "exp")
    assert archive.import_records(archive.read_records(path), target, source="runs.jsonl") == ([r["identity"] for r in records], [])
    assert archive.import_records(archive.read_records(path), target) == ([], [r["identity"] for r in records])
    fresh = reporting.open_experiment("exp", root=tmp_path / "fresh")
    assert len(fresh.runs()) == 4 and all(r.info.status == "FINISHED" for r in fresh.runs())
    assert set(fresh.status_by_identity()) == {r["identity"] for r in records}
    # the imported store exports the same bytes, and the three sources give the same tables
    again, _ = archive.export_records(fresh)
    assert archive.write_records(again, tmp_path / "re.jsonl").read_bytes() == path.read_bytes()
    sources = [reporting.load_runs("exp", root=root), reporting.load_runs("exp", root=tmp_path / "fresh"),
               archive.runs_from_records(archive.read_records(path))]
    texts = [[t.markdown() + t.latex() for group in reporting.build_tables(s).values() for t in group] for s in sources]
    assert texts[0] == texts[1] == texts[2]
    assert sources[2].history(records[0]["identity"]) == sources[0].history(next(r.run_id for r in sources[0].records if r.identity == records[0]["identity"]))


def test_records_file_errors_name_the_line(tmp_path, make_store):
    root, log, _ = make_store()
    log()
    (record,), _ = archive.export_records(reporting.open_experiment("exp", root=root))
    bad = dict(record, spec=record["spec"].replace('"steps":3', '"steps":4'))
    path = tmp_path / "bad.jsonl"
    path.write_text(archive.record_line(record) + "\n" + archive.record_line(bad) + "\n")
    with pytest.raises(ReportError, match=r"bad\.jsonl:2: identity .* is not the SHA-256 of its spec"):
        archive.read_records(path)
    path.write_text(archive.record_line(record) + "\n" + archive.record_line(record) + "\n")
    with pytest.raises(ReportError, match=r"bad\.jsonl:2: identity .* is already on line 1"):
        archive.read_records(path)
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(ReportError, match=r"bad\.jsonl:1: not a run record of format 'dpcondense.run/1'"):
        archive.read_records(path)


def test_records_commands(make_store, tmp_path, capsys, empty_db):
    from dpcondense.cli import main

    root, log, _ = make_store()
    log(seed=0)
    log(seed=1)
    out = tmp_path / "results" / "runs.jsonl"
    assert main(["records", "export", "--experiment", "exp", "--root", str(root), "--out", str(out)]) == 0
    assert "2 runs" in capsys.readouterr().out
    assert main(["records", "import", str(out), "--root", str(_empty_store(empty_db, tmp_path / "fresh"))]) == 0
    assert "imported 2 runs" in capsys.readouterr().out
    assert main(["records", "import", str(out), "--root", str(tmp_path / "fresh")]) == 0
    assert "imported 0 runs" in capsys.readouterr().out
    assert len(reporting.open_experiment("exp", root=tmp_path / "fresh").runs()) == 2
    assert main(["report", "--records", str(out), "--experiment", "other", "--out", str(tmp_path / "r")]) == 2
    assert "holds runs of experiment 'exp', not 'other'" in capsys.readouterr().err
    assert main(["records", "import", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such records file" in capsys.readouterr().err
