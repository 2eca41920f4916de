"""The command line's surfaces: every bad input is one line naming the flag, before any work and
with nothing written; long jobs show progress without spoiling ``--json``; SIGTERM stops a run
like Ctrl-C; a sweep's summary counts its own failures; dependencies keep their INFO lines.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dpcondense import cli
from test_custodian import SCHEMA, cohort_frame

CSV = ["--csv", "cohort.csv", "--schema", "cohort.yaml"]
PIMA = ["--dataset", "pima_diabetes"]
AUDIT = ["audit", "--method", "dpzo", "--dataset", "pima_diabetes", "--epsilon", "1"]
STORE = "--root={store}"

#: (id, argv, texts the one-line error must contain); every case exits 2 having written nothing
CASES: list[tuple[str, list[str], list[str]]] = [
    # condense: output folder
    ("condense out is a file", ["condense", *PIMA, "--out", "afile"], ["--out afile exists and is not an empty folder"]),
    ("condense out under a file", ["condense", *PIMA, "--out", "afile/sub"], ["--out afile/sub: afile is a file"]),
    ("condense out deep under a file", ["condense", *PIMA, "--out", "afile/a/b"], ["--out afile/a/b: afile is a file"]),
    ("condense out non-empty folder", ["condense", *PIMA, "--out", "folder"], ["--out folder exists and is not an empty folder"]),
    ("condense csv out is a file", ["condense", *CSV, "--out", "afile"], ["--out afile exists"]),
    # condense: the flags of a custodian's --csv, refused with a built-in --dataset
    ("condense n-public with dataset", ["condense", *PIMA, "--n-public", "5", "--out", "o"], ["--n-public goes with --csv"]),
    ("condense count-share with dataset", ["condense", *PIMA, "--count-share", "0.1", "--out", "o"], ["--count-share goes with --csv"]),
    ("condense delimiter with dataset", ["condense", *PIMA, "--delimiter", ";", "--out", "o"], ["--delimiter goes with --csv"]),
    ("condense encoding with dataset", ["condense", *PIMA, "--encoding", "latin-1", "--out", "o"], ["--encoding goes with --csv"]),
    ("condense audit-trials with dataset", ["condense", *PIMA, "--audit-trials", "8", "--out", "o"], ["--audit-trials goes with --csv"]),
    ("condense schema with dataset", ["condense", *PIMA, "--schema", "cohort.yaml", "--out", "o"], ["--schema goes with --csv"]),
    ("condense csv without schema", ["condense", "--csv", "cohort.csv", "--out", "o"], ["--csv needs --schema"]),
    ("condense csv missing", ["condense", "--csv", "nope.csv", "--schema", "cohort.yaml", "--out", "o"], ["--csv nope.csv: no such CSV file"]),
    ("condense csv is a folder", ["condense", "--csv", "empty", "--schema", "cohort.yaml", "--out", "o"], ["--csv empty is a folder"]),
    ("condense schema missing", ["condense", "--csv", "cohort.csv", "--schema", "nope.yaml", "--out", "o"], ["--schema nope.yaml: no such schema file"]),
    # condense: values
    ("condense n-public 0", ["condense", *CSV, "--n-public", "0", "--out", "o"], ["--n-public=0 must be"]),
    ("condense n-public negative", ["condense", *CSV, "--n-public", "-5", "--out", "o"], ["--n-public=-5 must be"]),
    ("condense count-share 0", ["condense", *CSV, "--count-share", "0", "--out", "o"], ["--count-share=0.0 must be a number in (0, 1)"]),
    ("condense count-share 1.5", ["condense", *CSV, "--count-share", "1.5", "--out", "o"], ["--count-share=1.5 must be"]),
    ("condense audit-trials 2", ["condense", *CSV, "--audit-trials", "2", "--out", "o"], ["--audit-trials 2 must be 0 (no audit) or an integer >= 4"]),
    ("condense audit-trials negative", ["condense", *CSV, "--audit-trials", "-1", "--out", "o"], ["--audit-trials -1 must be"]),
    ("condense delimiter of two chars", ["condense", *CSV, "--delimiter", ";;", "--out", "o"], ["--delimiter must be one character"]),
    ("condense unknown encoding", ["condense", *CSV, "--encoding", "nope", "--out", "o"], ["--encoding 'nope' is not a known text encoding"]),
    ("condense epsilon 0", ["condense", *PIMA, "--epsilon", "0", "--out", "o"], ["--epsilon='0' must satisfy epsilon > 0"]),
    ("condense epsilon text", ["condense", *PIMA, "--epsilon", "abc", "--out", "o"], ["--epsilon='abc' must be a number"]),
    ("condense delta 0.5", ["condense", *PIMA, "--delta", "0.5", "--out", "o"], ["--delta=0.5 must satisfy 0 < delta < 1/n"]),
    ("condense size 0", ["condense", *PIMA, "--size", "0", "--out", "o"], ["--size 0 must be an integer >= 1"]),
    ("condense size text", ["condense", *PIMA, "--size", "abc", "--out", "o"], ["argument --size: invalid int value: 'abc'"]),
    ("condense seed negative", ["condense", *PIMA, "--seed", "-1", "--out", "o"], ["--seed=-1 must be an integer >= 0"]),
    ("condense steps 0", ["condense", *PIMA, "--steps", "0", "--out", "o"], ["--steps=0 must be an integer >= 1"]),
    ("condense param out of range", ["condense", *PIMA, "--param", "lr=-1", "--out", "o"], ["--param lr=-1 must be"]),
    ("condense param without =", ["condense", *PIMA, "--param", "lr", "--out", "o"], ["--param expects KEY=VALUE, got 'lr'"]),
    ("condense param without key", ["condense", *PIMA, "--param", "=1", "--out", "o"], ["--param expects KEY=VALUE, got '=1'"]),
    ("condense param not YAML", ["condense", *PIMA, "--param", "a=[1", "--out", "o"], ["--param a: '[1' is not a value"]),
    ("condense unknown param", ["condense", *PIMA, "--param", "stepz=3", "--out", "o"], ["has no parameter 'stepz'"]),
    ("condense unknown dataset", ["condense", "--dataset", "nope", "--out", "o"], ["--dataset='nope' is not a registered dataset"]),
    ("condense unknown model", ["condense", *PIMA, "--model", "nope", "--out", "o"], ["--model='nope' is not a registered model"]),
    ("condense unknown method", ["condense", *PIMA, "--method", "nope", "--out", "o"], ["--method='nope' is not a registered method"]),
    ("condense unknown eval model", ["condense", *PIMA, "--eval-model", "nope", "--out", "o"], ["--eval-model=nope: unknown model 'nope'"]),
    ("condense model of the other task", ["condense", *PIMA, "--model", "cox_ph", "--out", "o"], ["--model=cox_ph is a survival family"]),
    ("condense unknown noise", ["condense", *PIMA, "--noise", "loud", "--out", "o"], ["argument --noise: invalid choice: 'loud'"]),
    ("condense plugin not importable", ["condense", *PIMA, "--plugin", "no_such_module_xyz", "--out", "o"], ["--plugin", "'no_such_module_xyz' cannot be imported"]),
    ("condense no source", ["condense", "--out", "o"], ["one of the arguments --dataset --csv is required"]),
    # datasets
    ("datasets out under a file", ["datasets", "--out", "afile/x.md"], ["--out afile/x.md: afile is a file"]),
    ("datasets out is a folder", ["datasets", "--out", "folder"], ["--out folder is a folder; give a file name"]),
    ("datasets out is an empty folder", ["datasets", "--out", "empty"], ["--out empty is a folder"]),
    # reference
    ("reference out under a file", ["reference", "--seeds", "1", "--out", "afile/x.md"], ["--out afile/x.md: afile is a file"]),
    ("reference out is a folder", ["reference", "--seeds", "1", "--out", "folder"], ["--out folder is a folder"]),
    ("reference seeds 0", ["reference", "--seeds", "0"], ["--seeds must be >= 1, got 0"]),
    ("reference seeds text", ["reference", "--seeds", "x"], ["argument --seeds: invalid int value: 'x'"]),
    ("reference unknown dataset", ["reference", "--dataset", "nope"], ["--dataset nope: unknown dataset 'nope'"]),
    ("reference unknown model", ["reference", "--model", "nope"], ["--model nope: unknown model 'nope'"]),
    ("reference model of no dataset", ["reference", *PIMA, "--model", "cox_ph"], ["--model: model(s) cox_ph fit none of the selected datasets"]),
    # report
    ("report out is a file", ["report", "--experiment", "study", STORE, "--out", "afile"], ["--out afile is a file"]),
    ("report out under a file", ["report", "--experiment", "study", STORE, "--out", "afile/sub"], ["--out afile/sub: afile is a file"]),
    ("report without out", ["report", "--experiment", "study", STORE], ["--out FOLDER is required"]),
    ("report experiment without finished runs", ["report", "--experiment", "empty", STORE, "--out", "rep"],
     ["experiment 'empty' has no FINISHED run (1 FAILED)", "nothing written"]),
    ("report manifest without finished runs", ["report", "--experiment", "empty", STORE, "--runs-manifest", "m.tsv"],
     ["experiment 'empty' has no FINISHED run"]),
    ("report unknown experiment", ["report", "--experiment", "nope", STORE, "--out", "rep"],
     ["experiment 'nope' is not in", "experiments there: 'empty', 'study'"]),
    ("report reference not JSON", ["report", "--experiment", "study", STORE, "--out", "rep", "--reference", "bad.json"],
     ["--reference bad.json is not a JSON file"]),
    ("report reference JSON object", ["report", "--experiment", "study", STORE, "--out", "rep", "--reference", "object.json"],
     ["--reference object.json is JSON but not a list of reference records"]),
    ("report reference records without fields", ["report", "--experiment", "study", STORE, "--out", "rep", "--reference", "records.json"],
     ["--reference records.json: record 0 has no model, task, per_seed"]),
    ("report reference missing", ["report", "--experiment", "study", STORE, "--out", "rep", "--reference", "nope.json"],
     ["--reference nope.json: no such file"]),
    ("report reference is a folder", ["report", "--experiment", "study", STORE, "--out", "rep", "--reference", "empty"],
     ["--reference empty is a folder"]),
    ("report manifest is a folder", ["report", "--experiment", "study", STORE, "--runs-manifest", "folder"], ["--runs-manifest folder is a folder"]),
    ("report manifest under a file", ["report", "--experiment", "study", STORE, "--runs-manifest", "afile/m.tsv"], ["--runs-manifest afile/m.tsv: afile is a file"]),
    ("report manifest with out", ["report", "--experiment", "study", STORE, "--runs-manifest", "m.tsv", "--out", "rep"], ["--runs-manifest writes the list of runs only; drop --out"]),
    ("report uri with local store", ["report", "--experiment", "study", "--uri", "http://127.0.0.1:1", "--out", "rep"], ["--uri goes with --tracking server"]),
    ("report server without uri", ["report", "--experiment", "study", "--tracking", "server", "--out", "rep"], ["--tracking server needs --uri"]),
    ("report root is a file", ["report", "--experiment", "study", "--root", "afile", "--out", "rep"], ["--root afile is a file"]),
    ("report root without a store", ["report", "--experiment", "study", "--root", "empty", "--out", "rep"], ["no MLflow store at", "--root"]),
    ("report unknown tracking", ["report", "--experiment", "study", "--tracking", "cloud", "--out", "rep"], ["argument --tracking: invalid choice: 'cloud'"]),
    ("report without experiment or records", ["report", "--out", "rep"], ["--experiment NAME is required (or --records FILE"]),
    ("report records missing", ["report", "--records", "nope.jsonl", "--out", "rep"], ["--records nope.jsonl: no such records file"]),
    ("report records with a store flag", ["report", "--records", "bad.json", "--root", "empty", "--out", "rep"],
     ["--records makes the report from the file alone"]),
    ("report records not a records file", ["report", "--records", "bad.json", "--out", "rep"], ["bad.json:1 is not JSON"]),
    # records
    ("records without action", ["records"], ["choose export or import"]),
    ("records export without out", ["records", "export", "--experiment", "study", STORE], ["the following arguments are required: --out"]),
    ("records export out is a folder", ["records", "export", "--experiment", "study", STORE, "--out", "folder"], ["--out folder is a folder"]),
    ("records export unknown experiment", ["records", "export", "--experiment", "nope", STORE, "--out", "r.jsonl"],
     ["experiment 'nope' is not in"]),
    ("records export without finished runs", ["records", "export", "--experiment", "empty", STORE, "--out", "r.jsonl"],
     ["experiment 'empty' has no FINISHED run", "nothing written"]),
    ("records export of a run without its spec", ["records", "export", "--experiment", "study", STORE, "--out", "r.jsonl"],
     ["has no run_spec.json: not a run logged by `dpcondense run`"]),
    ("records import missing file", ["records", "import", "nope.jsonl", STORE], ["FILE nope.jsonl: no such records file"]),
    ("records import a folder", ["records", "import", "folder", STORE], ["FILE folder is a folder"]),
    ("records import not a records file", ["records", "import", "object.json", STORE],
     ["object.json:1: not a run record of format 'dpcondense.run/1'"]),
    ("records import uri with local store", ["records", "import", "bad.json", "--tracking", "local", "--uri", "http://127.0.0.1:1"],
     ["--uri goes with --tracking server"]),
    # schema init
    ("schema init csv missing", ["schema", "init", "nope.csv"], ["CSV nope.csv: no such file"]),
    ("schema init csv is a folder", ["schema", "init", "folder"], ["CSV folder is a folder"]),
    ("schema init out exists", ["schema", "init", "cohort.csv", "--out", "cohort.yaml"], ["--out cohort.yaml exists; choose another path"]),
    ("schema init out under a file", ["schema", "init", "cohort.csv", "--out", "afile/s.yaml"], ["--out afile/s.yaml: afile is a file"]),
    ("schema init out is a folder", ["schema", "init", "cohort.csv", "--out", "empty"], ["--out empty is a folder"]),
    ("schema init unknown label", ["schema", "init", "cohort.csv", "--label", "nope"], ["outcome column 'nope' is not in the file"]),
    ("schema init time without event", ["schema", "init", "cohort.csv", "--time", "age"], ["--time and --event"]),
    ("schema init delimiter of two chars", ["schema", "init", "cohort.csv", "--delimiter", ";;"], ["--delimiter must be one character"]),
    ("schema init without csv", ["schema", "init"], ["the following arguments are required: csv"]),
    # audit
    ("audit rows above the training split", [*AUDIT, "--trials", "8", "--rows", "100000"],
     ["--rows 100000 asks for more audit rows than the 576 of pima_diabetes's training split"]),
    ("audit rows 2", [*AUDIT, "--trials", "8", "--rows", "2"], ["--rows 2 must be >= 4"]),
    ("audit trials 2", [*AUDIT, "--trials", "2"], ["--trials 2 must be an integer >= 4"]),
    ("audit white-box trials 0", [*AUDIT, "--trials", "0", "--whitebox-only"], ["--trials 0 must be an integer >= 1"]),
    ("audit epsilon 0", [*AUDIT[:-2], "--epsilon", "0", "--trials", "8"], ["--epsilon '0' must satisfy epsilon > 0"]),
    ("audit delta 0.5", [*AUDIT, "--trials", "8", "--delta", "0.5"], ["--delta 0.5 must satisfy 0 < delta < 1/n"]),
    ("audit canaries negative", [*AUDIT, "--trials", "8", "--canaries", "-1"], ["--canaries -1 must be >= 0"]),
    ("audit calibration fraction 1", [*AUDIT, "--trials", "8", "--calibration-fraction", "1"], ["--calibration-fraction 1 must be in (0, 1)"]),
    ("audit size 0", [*AUDIT, "--trials", "8", "--size", "0"], ["--size 0 must be an integer >= 1"]),
    ("audit unknown method", ["audit", "--method", "nope", *PIMA, "--epsilon", "1", "--trials", "8"], ["--method nope: unknown"]),
    ("audit unknown dataset", ["audit", "--method", "dpzo", "--dataset", "nope", "--epsilon", "1", "--trials", "8"], ["--dataset nope: unknown"]),
    ("audit unknown model", [*AUDIT, "--trials", "8", "--model", "nope"], ["--model nope: unknown"]),
    ("audit model of the other task", [*AUDIT, "--trials", "8", "--model", "cox_ph"], ["--model cox_ph is a survival family"]),
    ("audit method of the other task", ["audit", "--method", "dp_direct", "--dataset", "metabric", "--epsilon", "1", "--trials", "8"],
     ["--method dp_direct: method 'dp_direct' supports classification datasets only"]),
    ("audit white-box of another method", ["audit", "--method", "kmeans", *PIMA, "--epsilon", "1", "--trials", "8", "--whitebox-only"],
     ["--whitebox-only audits DP-ZO's steps"]),
    ("audit unknown param", [*AUDIT, "--trials", "8", "--param", "stepz=1"], ["--param method 'dpzo' has no parameter 'stepz'"]),
    ("audit param out of range", [*AUDIT, "--trials", "8", "--param", "steps=-1"], ["--param steps=-1 must be an integer >= 1"]),
    ("audit private param", [*AUDIT, "--trials", "8", "--param", "_noise=0"], ["--param _noise is a private parameter"]),
    ("audit unknown statistic", [*AUDIT, "--trials", "8", "--statistic", "nope"], ["argument --statistic: invalid choice"]),
    ("audit without trials", AUDIT, ["the following arguments are required: --trials"]),
]

#: (id, overrides of ``dpcondense run``, texts of the error); the store is never created
RUN_CASES: list[tuple[str, list[str], list[str]]] = [
    ("run n_jobs 0", ["-m", "seed=0,1", "hydra.launcher.n_jobs=0"], ["hydra.launcher.n_jobs=0 must be the number of parallel runs"]),
    ("run batch_size 0", ["-m", "seed=0,1", "hydra.launcher.batch_size=0"], ["hydra.launcher.batch_size=0 must be an integer >= 1"]),
    ("run submitit timeout 0", ["-m", "seed=0,1", "hydra/launcher=local_submitit", "hydra.launcher.timeout_min=0"],
     ["hydra.launcher.timeout_min=0 must be an integer >= 1"]),
    ("run size negative", ["size=-1"], ["size=-1 must be an integer >= 1"]),
    ("run seed negative", ["seed=-1"], ["seed=-1 must be an integer >= 0"]),
    ("run epsilon text", ["privacy.epsilon=abc"], ["privacy.epsilon='abc' must be a number"]),
    ("run unknown noise", ["privacy.noise=loud"], ["privacy.noise='loud' must be one of"]),
    ("run unknown evaluation split", ["evaluate_on=nope"], ["evaluate_on='nope' must be one of"]),
    ("run unknown tracking kind", ["tracking.kind=cloud"], ["tracking.kind must be 'local' or 'server'"]),
    ("run steps 0", ["method.params.steps=0"], ["method.params.steps=0 must be an integer >= 1"]),
    ("run sweep with an invalid job", ["-m", "privacy.epsilon=1,0"], ["1 of 2 runs in this sweep are invalid; nothing was run", "privacy.epsilon=0"]),
]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size and modification time."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        out[str(path.relative_to(root))] = (path.is_dir(), 0 if path.is_dir() else stat.st_size, stat.st_mtime_ns)
    return out


def store_rows(root: Path) -> tuple[int, ...]:
    """Row counts of the store's runs, tags, params and metrics."""
    with sqlite3.connect(root / "mlflow.db") as db:
        return tuple(db.execute(f"select count(*) from {t}").fetchone()[0] for t in ("runs", "tags", "params", "metrics"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A local store: experiment ``study`` with one FINISHED run, ``empty`` with one FAILED run only."""
    from dpcondense.benchmark import tracking

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    study = tracking.prepare(tracking.TrackingTarget("local", uri, "study", root=root))
    tags = {"dataset": "pima_diabetes", "task": "classification", "method": "random_subset", "model": "decision_tree",
            "eval_models": "decision_tree", "epsilon": "1.0", "size": "10", "seed": "0"}
    run_id = study.start("a" * 64, tags=tags, params={"seed": "0"}, run_name="finished")
    study.log_metrics(run_id, {"decision_tree.auroc": 0.7})
    study.finish(run_id)
    empty = tracking.prepare(tracking.TrackingTarget("local", uri, "empty", root=root))
    failed = empty.start("b" * 64, tags=tags, params={"seed": "0"}, run_name="failed")
    empty.fail(failed, RuntimeError("boom"), "Traceback: boom")
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A working folder with a file, folders, a custodian's CSV and schema and reference files of every wrong kind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DPCONDENSE_MLRUNS", str(tmp_path / "mlruns"))
    (tmp_path / "afile").write_text("a file\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "keep.txt").write_text("keep\n")
    (tmp_path / "empty").mkdir()
    cohort_frame().to_csv(tmp_path / "cohort.csv", index=False)
    (tmp_path / "cohort.yaml").write_text(yaml.safe_dump(SCHEMA))
    (tmp_path / "bad.json").write_text("not json\n")
    (tmp_path / "object.json").write_text('{"dataset": "pima_diabetes"}\n')
    (tmp_path / "records.json").write_text('[{"dataset": "pima_diabetes"}]\n')
    return tmp_path


def call(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code if isinstance(exc.code, int) else 1


@pytest.mark.parametrize("argv, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_flag_before_any_work(argv, expected, workdir, store, capsys):
    argv = [a.format(store=store) for a in argv]
    files, rows, store_files = snapshot(workdir), store_rows(store), snapshot(store)
    code = call(argv)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert out == "" and len(err.strip().splitlines()) == 1, err  # one line, on stderr
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    assert snapshot(workdir) == files  # nothing written
    assert store_rows(store) == rows and snapshot(store) == store_files


def test_the_table_covers_every_command():
    commands = {argv[0] for _, argv, _ in CASES} | {"run"}
    assert commands == {"condense", "report", "records", "datasets", "reference", "schema", "audit", "run"}
    assert len(CASES) + len(RUN_CASES) >= 60


@pytest.mark.parametrize("overrides, expected", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_bad_input_of_the_hydra_app_is_refused_before_any_work(overrides, expected, app, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, output = app(*overrides)
    assert code == 2, output
    assert "Traceback" not in output
    for text in expected:
        assert text in output, f"{text!r} not in {output!r}"
    assert not (tmp_path / "mlruns").exists()  # the store is not even created
    # nothing but Hydra's own job folders
    assert {p.name for p in tmp_path.iterdir()} <= {"outputs", "multirun"}


# ---------------------------------------------------------------------------------------------
# long jobs and their output
# ---------------------------------------------------------------------------------------------


def test_audit_json_keeps_stdout_one_json_object_and_shows_progress_on_stderr(capsys):
    code = cli.main([*AUDIT, "--trials", "4", "--param", "steps=2", "--param", "directions=2", "--canaries", "0", "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    result = json.loads(out)  # the whole of stdout is one JSON object
    assert out.count("\n") == 1 and result["trials"] == 4
    assert "audit dpzo eps=1" in err and "0/4" in err  # the bar, on stderr


def test_dependencies_keep_their_info_lines_to_themselves():
    from dpcondense.benchmark import tracking

    tracking.quiet_dependency_logs()
    for name in tracking.NOISY_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DPCONDENSE_MLRUNS": str(tmp_path / "mlruns"), "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL"):
        env.pop(key, None)
    return env


def test_a_run_prints_no_info_lines_of_mlflow_or_numexpr(tmp_path):
    # a fresh store: MLflow creates its tables (INFO lines by default) and Hydra's logging is on
    result = subprocess.run(
        [sys.executable, "-m", "dpcondense.cli", "run", "method=random_subset", "progress=false"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("done: ")
    text = result.stdout + result.stderr
    for noise in (" INFO mlflow", "INFO numexpr", "NumExpr defaulting", "alembic", "Creating initial MLflow database tables"):
        assert noise not in text, text


# ---------------------------------------------------------------------------------------------
# signals and the sweep summary
# ---------------------------------------------------------------------------------------------


def _runs(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return sorted(conn.execute("select status, lifecycle_stage from runs").fetchall())
        except sqlite3.OperationalError:  # the tables are being created
            return []


@pytest.mark.slow
def test_sigterm_marks_the_run_killed_and_a_relaunch_finishes_it(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    args = [sys.executable, "-m", "dpcondense.cli", "run", "dataset=pima_diabetes", "method.params.steps=300", "progress=false"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while ("RUNNING", "active") not in _runs(db):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start in time"
            time.sleep(0.2)
        time.sleep(1.0)  # well inside the 300 steps
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err[-3000:]
    assert "marked KILLED; a relaunch runs it again" in err and "terminated (SIGTERM)" in err
    assert "Traceback" not in err and "done: " not in out
    assert _runs(db) == [("KILLED", "active")]

    rerun = subprocess.run(args, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.startswith("done: ")
    assert _runs(db) == [("FINISHED", "active"), ("KILLED", "deleted")]  # the stale attempt is replaced


def test_a_sweep_counts_its_own_failures_when_an_overlapping_sweep_finished_the_runs(app, monkeypatch):
    from dpcondense.benchmark import tracking

    log_metrics = tracking.RunStore.log_metrics

    def another_sweep_takes_over(self, run_id, values, **kwargs):
        # what a second sweep on the same experiment does: it deletes the "stale" running attempt
        # and finishes the run itself; this sweep's run then fails to log
        identity = self.client.get_run(run_id).data.tags["identity"]
        self.discard_unfinished(identity)
        theirs = self.client.create_run(self.experiment_id, tags={"identity": identity})
        self.client.set_terminated(theirs.info.run_id, "FINISHED")
        return log_metrics(self, run_id, values, **kwargs)

    monkeypatch.setattr(tracking.RunStore, "log_metrics", another_sweep_takes_over)
    code, output = app("-m", "hydra/launcher=basic", "method=random_subset", "seed=0,1", "progress=false")
    assert code == 1, output
    assert "sweep summary: 2 runs: 0 done, 0 skipped (already done), 2 failed" in output
    assert output.count("its run was deleted by another process while it ran") == 2
