"""Real sweeps in subprocesses: one shared joblib sweep that several tests read, and the sweeps
that need stores of their own (killed mid-way, submitit, a real ``mlflow server``, a failure).

The shared sweep (8 runs, 2 workers) is launched once per module; the tests then assert what it
logged, that a relaunch skips everything, and that the report it gives is byte-identical twice.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dpcondense import cli
from sweep_helpers import (
    ARTIFACTS,
    SWEEP,
    TINY,
    finished_count,
    free_port,
    local_runs,
    run_cli,
    spec_of,
    summary_line,
    sweep_identities,
)

pytestmark = pytest.mark.slow
SWEEP_ARGS = ["-m", *SWEEP, *TINY, "hydra.launcher.n_jobs=2"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """(store root, output of the first launch) of the shared 2-worker joblib sweep."""
    root = tmp_path_factory.mktemp("sweep")
    first = run_cli(SWEEP_ARGS, root)
    assert first.returncode == 0, first.stderr[-3000:]
    return root, first


def test_the_sweep_ran_every_job_on_two_workers(sweep):
    _, first = sweep
    assert summary_line(first.stdout) == "sweep summary: 8 runs: 8 done, 0 skipped (already done), 0 failed"
    assert "Joblib.Parallel(n_jobs=2" in first.stderr + first.stdout


def test_every_run_is_logged_once_with_its_config_metrics_and_artifacts(sweep):
    root, _ = sweep
    client, runs = local_runs(root)
    assert len(runs) == 8
    assert {r.data.tags["identity"] for r in runs} == sweep_identities(SWEEP)
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert run.info.status == "FINISHED"
        model = tags["model"]
        assert model == {"breast_cancer_wisconsin": "decision_tree", "metabric": "cox_ph"}[tags["dataset"]]
        # params are exactly the normalised config (nothing computed from rows)
        overrides = [f"dataset={tags['dataset']}", f"privacy.epsilon={tags['epsilon']}", f"seed={tags['seed']}", *TINY]
        assert params == spec_of(*overrides).params()
        assert {"git_commit", "eval_models", "method", "size", "identity"} <= set(tags)
        main_metric = "auroc" if tags["task"] == "classification" else "c_index"
        assert 0.0 <= metrics[f"{model}.{main_metric}"] <= 1.0
        assert metrics["n_model_fits"] == 2 * 2 * 2
        assert metrics["epsilon_spent"] <= (1.0 + 1e-6 if tags["epsilon"] == "1.0" else float("inf"))
        assert [m.step for m in client.get_metric_history(run.info.run_id, "objective")] == [0, 1]
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == ARTIFACTS
        release = Path(urllib.parse.urlparse(run.info.artifact_uri).path) / "synthetic.csv"
        assert release.is_relative_to(root / "mlruns" / "artifacts")
        with open(release) as handle:
            n_rows = sum(1 for _ in csv.DictReader(handle))
        assert n_rows == (2 * 2 * 10 if tags["task"] == "classification" else 50)  # soft labels: each point once per class


def test_a_relaunch_skips_every_run(sweep):
    root, _ = sweep
    _, runs = local_runs(root)
    again = run_cli(SWEEP_ARGS, root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_line(again.stdout) == "sweep summary: 8 runs: 0 done, 8 skipped (already done), 0 failed"
    assert again.stdout.count("skipped (already done): ") == 8
    _, runs_after = local_runs(root, all_views=True)
    assert {r.info.run_id for r in runs_after} == {r.info.run_id for r in runs}


def test_the_report_of_the_sweep_is_byte_identical_twice(sweep, tmp_path):
    root, _ = sweep
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert cli.main(["report", "--experiment", "default", "--root", str(root / "mlruns"), "--out", str(out)]) == 0
    files = sorted(p.name for p in outs[0].iterdir())
    assert {"table2_main.md", "table3_privacy_utility.tex", "figure1_privacy_utility.png", "runs_used.md"} <= set(files)
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    used = (outs[0] / "runs_used.md").read_text()
    _, runs = local_runs(root)
    assert all(r.data.tags["identity"] in used for r in runs)


def test_records_round_trip_gives_the_same_report_and_a_sweep_after_the_import_runs_nothing(sweep, tmp_path, app):
    """Export the sweep's runs, import them twice into a fresh store: one run per identity, every
    report file (tables, figures, runs_used.md) byte-identical from the store, the imported store and
    the records file alone, and the same sweep on the imported store finds everything done."""
    root, _ = sweep
    records = tmp_path / "results" / "runs.jsonl"
    assert cli.main(["records", "export", "--experiment", "default", "--root", str(root / "mlruns"), "--out", str(records)]) == 0
    assert len(records.read_text().splitlines()) == 8
    for _ in range(2):  # the second import creates nothing
        assert cli.main(["records", "import", str(records), "--root", str(tmp_path / "mlruns")]) == 0
    _, imported = local_runs(tmp_path, all_views=True)
    assert len(imported) == 8 and all(r.info.status == "FINISHED" for r in imported)
    assert {r.data.tags["identity"] for r in imported} == {r.data.tags["identity"] for r in local_runs(root)[1]}

    outs = {name: tmp_path / name for name in ("store", "imported", "records")}
    assert cli.main(["report", "--experiment", "default", "--root", str(root / "mlruns"), "--out", str(outs["store"])]) == 0
    assert cli.main(["report", "--experiment", "default", "--root", str(tmp_path / "mlruns"), "--out", str(outs["imported"])]) == 0
    assert cli.main(["report", "--records", str(records), "--out", str(outs["records"])]) == 0
    files = sorted(p.name for p in outs["store"].iterdir())
    assert {"figure3_convergence.png", "figure5_release.pdf", "table5_cost.md", "runs_used.md"} <= set(files)
    for name in ("imported", "records"):
        assert sorted(p.name for p in outs[name].iterdir()) == files
        for file in files:
            assert (outs[name] / file).read_bytes() == (outs["store"] / file).read_bytes(), (name, file)

    code, output = app(*SWEEP_ARGS, "dry_run=true")
    assert code == 0, output
    assert "sweep: 8 runs (8 already done, will be skipped)" in output and "to run" not in output


# ---------------------------------------------------------------------------------------------
# sweeps with stores of their own
# ---------------------------------------------------------------------------------------------


def test_a_failed_run_is_recorded_and_does_not_stop_the_sweep(app, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    # a plugin method that raises inside fit: every input check passes, the failure comes at run time
    from dpcondense.methods import METHODS

    plugins = Path(__file__).resolve().parents[1] / "plugins"
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))  # the plugin's registration ends with the test
    monkeypatch.delitem(sys.modules, "flaky_method", raising=False)
    args = ["-m", "hydra/launcher=basic", f"hydra.searchpath=[file://{plugins / 'conf'}]", "plugins=[flaky_method]",
            "method=flaky", "method.params.fail=true,false", "progress=false"]
    code, output = app(*args)
    assert code == 1
    assert "sweep summary: 2 runs: 1 done, 0 skipped (already done), 1 failed" in output
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("default")
    runs = {r.data.params["method.params.fail"]: r for r in client.search_runs([exp.experiment_id])}
    assert runs["false"].info.status == "FINISHED"
    assert runs["true"].info.status == "FAILED"
    assert "failing on purpose inside fit" in runs["true"].data.tags["error"]
    assert "error.txt" in {a.path for a in client.list_artifacts(runs["true"].info.run_id)}

    # a re-launch retries only the failed run and replaces its earlier attempt
    code, output = app(*args)
    assert "sweep summary: 2 runs: 0 done, 1 skipped (already done), 1 failed" in output
    active = client.search_runs([exp.experiment_id])
    assert len(active) == 2 and len(client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)) == 3


def test_a_sigkilled_sweep_relaunched_ends_with_every_run_once(tmp_path):
    args = SWEEP_ARGS
    env = {**os.environ, "DPCONDENSE_MLRUNS": str(tmp_path / "mlruns"), "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    db = tmp_path / "mlruns" / "mlflow.db"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dpcondense.cli", "run", *args], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kill reaches the joblib workers too
        )
        try:
            deadline = time.monotonic() + 400
            while finished_count(db) < 1:
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no run finished in time"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done_before = finished_count(db)
    assert 1 <= done_before < 8  # killed mid-way

    rerun = run_cli(args, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert summary_line(rerun.stdout) == (
        f"sweep summary: 8 runs: {8 - done_before} done, {done_before} skipped (already done), 0 failed"
    )
    _, runs = local_runs(tmp_path)
    assert len(runs) == 8 and all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["identity"] for r in runs} == sweep_identities(SWEEP)


def test_submitit_local_launcher_runs_a_sweep(tmp_path):
    result = run_cli(["-m", "hydra/launcher=local_submitit", "seed=0,1", *TINY], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary_line(result.stdout) == "sweep summary: 2 runs: 2 done, 0 skipped (already done), 0 failed"
    assert "Submitit 'local' sweep output dir" in result.stdout + result.stderr
    assert list(tmp_path.glob("multirun/*/*/.submitit/*/*_result.pkl"))
    _, runs = local_runs(tmp_path)
    assert sorted(r.data.tags["seed"] for r in runs) == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_tracking_server(tmp_path, app, monkeypatch):
    from mlflow import MlflowClient

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "server-artifacts")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"},
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not answer"
            time.sleep(0.5)

        code, output = app("tracking=server", f"tracking.uri={uri}", "experiment_name=server_test", *TINY)
        assert code == 0, output
        assert "done: " in output
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("server_test")
        (run,) = client.search_runs([exp.experiment_id])
        assert run.info.status == "FINISHED"
        assert {a.path for a in client.list_artifacts(run.info.run_id)} == ARTIFACTS
        assert not (tmp_path / "mlruns").exists()  # nothing went to the local store

        # the URL can come from MLFLOW_TRACKING_URI; same run -> skipped
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        code, output = app("tracking=server", "experiment_name=server_test", *TINY)
        assert code == 0 and f"skipped (already done): {run.data.tags['identity']}" in output
        assert len(client.search_runs([exp.experiment_id])) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
