"""A real sweep through the Ray launcher (``hydra/launcher=ray``) into a real ``mlflow server``.

An MLflow server on 127.0.0.1 and a Ray head on this machine (2 CPUs, random ports, no dashboard,
no usage reports, token authentication: Ray listens on the machine's address, not on loopback
alone, as it turns 127.0.0.1 into that address on purpose) are started once for the module. The
sweeps are ``dpcondense run -m`` subprocesses that join the head through ``RAY_ADDRESS``. The
tests check that the runs executed on the head's workers (their own log files name every
identity), that the store holds each identity once and FINISHED, that a relaunch skips everything
and creates no run, that after one run is deleted a relaunch does exactly that run again, and that
SIGTERM to the launching process cancels the running tasks, whose runs end KILLED.

``ray`` is the optional ``ray`` extra: without it these tests skip, except under ``CI`` when
the ``test`` extra requires ``ray`` (then ``make setup`` installed it, and its absence fails).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from sweep_helpers import TINY, free_port, summary_line, sweep_identities

pytestmark = pytest.mark.slow
#: 4 runs, one dataset per task (each with its default family) x 2 seeds
SWEEP = ["dataset=breast_cancer_wisconsin,metabric", "seed=0,1"]
EXPERIMENT = "ray_sweep"
STARTUP_SECONDS = 240


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _test_extra_requires_ray() -> bool:
    """Whether ``make setup`` (``pip install -e .[test]``) installs ``ray``."""
    for line in importlib.metadata.requires("dpcondense") or []:
        req = Requirement(line)
        if req.name == "ray" and req.marker is not None and req.marker.evaluate({"extra": "test"}):
            return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _ray_installed():
    ray_cli = Path(sys.executable).with_name("ray")
    if importlib.util.find_spec("ray") is not None and ray_cli.exists():
        return
    reason = "ray is not installed (the optional extra: pip install -e '.[ray]')"
    if _in_ci() and _test_extra_requires_ray():
        pytest.fail(f"CI is set and the test extra requires ray, but {reason}")
    pytest.skip(reason)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after a grace period (both stores are thrown away)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for(check, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not check():
        assert proc.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not start in {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(environment joining the Ray head, MLflow server URL, the head's log folder)."""
    root = tmp_path_factory.mktemp("ray_cluster")
    # Ray's socket paths must stay short (< 108 bytes): its temp folder lives directly under /tmp
    ray_tmp = Path(tempfile.mkdtemp(prefix="dpc-ray-", dir="/tmp"))
    quiet = {"MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    # token authentication, with the token in the environment (nothing written to ~/.ray)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(quiet, **auth, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")  # stop at once on SIGTERM
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        with open(root / "mlflow.log", "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "artifacts")],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
        with open(root / "ray.log", "w") as log:
            procs.append(subprocess.Popen(
                [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port=0", "--num-cpus=2",
                 "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={ray_tmp}"],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
        address_file = ray_tmp / "ray_current_cluster"
        _wait_for(lambda: "Ray runtime started" in (root / "ray.log").read_text() and address_file.exists(),
                  procs[1], "ray head", root / "ray.log")
        _wait_for(lambda: _answers(f"{uri}/health"), procs[0], "mlflow server", root / "mlflow.log")
        env["RAY_ADDRESS"] = address_file.read_text().strip()
        yield env, uri, ray_tmp / "session_latest" / "logs"
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _command(cluster, root: Path, jobs: tuple[str, ...] = (*SWEEP, *TINY), *, experiment: str = EXPERIMENT,
             tracking_uri_in_env: bool = False) -> tuple[list[str], dict[str, str]]:
    """``dpcondense run -m`` of ``jobs`` on the Ray head, logging to the server: (argv, env).

    The server's URL goes in ``tracking.uri``, or only in ``MLFLOW_TRACKING_URI`` of the launching
    shell (the launcher then copies it into the workers, which the head started without it).
    """
    env, uri, _ = cluster
    env = {**env, "DPCONDENSE_MLRUNS": str(root / "mlruns")}
    where = ["tracking=server"]
    if tracking_uri_in_env:
        env["MLFLOW_TRACKING_URI"] = uri
    else:
        where.append(f"tracking.uri={uri}")
    args = ["-m", *jobs, "hydra/launcher=ray", *where, f"experiment_name={experiment}"]
    return [sys.executable, "-m", "dpcondense.cli", "run", *args], env


def _sweep(cluster, root: Path, *, tracking_uri_in_env: bool = False) -> subprocess.CompletedProcess:
    argv, env = _command(cluster, root, tracking_uri_in_env=tracking_uri_in_env)
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _runs(uri: str, *, all_views: bool = False, experiment: str = EXPERIMENT):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    view = ViewType.ALL if all_views else ViewType.ACTIVE_ONLY
    return client, client.search_runs([exp.experiment_id], run_view_type=view, max_results=100)


def _worker_logs(logs: Path, stream: str = "out") -> str:
    """What the head's worker processes wrote to stdout (``out``) or stderr (``err``), all of it:
    Ray forwards these lines to the launching process too, but may drop the last ones at its exit."""
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob(f"worker-*.{stream}")))


@pytest.fixture(scope="module")
def first_sweep(cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_sweep")
    result = _sweep(cluster, root)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return root, result


def test_the_sweep_runs_every_job_on_the_ray_head_and_logs_it_to_the_server(cluster, first_sweep):
    env, uri, logs = cluster
    root, result = first_sweep
    output = result.stdout + result.stderr
    assert summary_line(result.stdout) == "sweep summary: 4 runs: 4 done, 0 skipped (already done), 0 failed"
    assert f"Ray launcher: joining {env['RAY_ADDRESS']}" in output
    _, runs = _runs(uri)
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs)
    identities = {r.data.tags["identity"] for r in runs}
    assert identities == sweep_identities(SWEEP)
    assert {(r.data.tags["dataset"], r.data.tags["model"]) for r in runs} == {
        ("breast_cancer_wisconsin", "decision_tree"), ("metabric", "cox_ph")}
    # the runs executed in the head's worker processes, not in the launching one
    worker_output = _worker_logs(logs)
    assert all(f"done: {identity}" in worker_output for identity in identities), worker_output[-3000:]
    assert not (root / "mlruns").exists()  # nothing went to a local store
    # each job's Hydra folder is in the launching directory's sweep folder (the head runs elsewhere)
    assert len(list(root.glob("multirun/*/*/[0-3]/.hydra/overrides.yaml"))) == 4


def test_a_relaunch_skips_every_run_and_creates_none(cluster, first_sweep):
    _, uri, _ = cluster
    root, _ = first_sweep
    _, before = _runs(uri, all_views=True)
    again = _sweep(cluster, root)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert summary_line(again.stdout) == "sweep summary: 4 runs: 0 done, 4 skipped (already done), 0 failed"
    _, after = _runs(uri, all_views=True)
    assert {r.info.run_id for r in after} == {r.info.run_id for r in before}


def test_after_a_run_is_deleted_a_relaunch_redoes_exactly_that_run(cluster, first_sweep):
    """Resume, with the server's URL reaching the workers through the launcher's ``env`` only."""
    _, uri, logs = cluster
    root, _ = first_sweep
    client, runs = _runs(uri)
    assert len(runs) == 4
    gone = sorted(runs, key=lambda r: r.data.tags["identity"])[0]
    client.delete_run(gone.info.run_id)
    kept = {r.info.run_id for r in runs} - {gone.info.run_id}

    resumed = _sweep(cluster, root, tracking_uri_in_env=True)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert summary_line(resumed.stdout) == "sweep summary: 4 runs: 1 done, 3 skipped (already done), 0 failed"
    _, after = _runs(uri)
    assert len(after) == 4 and all(r.info.status == "FINISHED" for r in after)
    assert {r.data.tags["identity"] for r in after} == sweep_identities(SWEEP)
    (new,) = [r for r in after if r.info.run_id not in kept]
    assert new.data.tags["identity"] == gone.data.tags["identity"] and new.info.run_id != gone.info.run_id
    assert _worker_logs(logs).count(f"done: {gone.data.tags['identity']}") == 2


def test_sigterm_to_the_launching_process_cancels_the_ray_tasks_and_marks_their_runs_killed(cluster, tmp_path):
    """Runs far too long to finish; once both run on the head, SIGTERM the parent: the launcher
    cancels the tasks, each marks its run KILLED (the next launch re-runs it), the parent exits 130."""
    _, uri, logs = cluster
    jobs = ("seed=0,1", "method.params.steps=200000", "method.params.directions=2", "progress=false")
    argv, env = _command(cluster, tmp_path, jobs, experiment="ray_interrupted")
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert proc.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the runs did not start in time"
                with contextlib.suppress(Exception):  # the experiment may not exist yet
                    if sum(r.info.status == "RUNNING" for r in _runs(uri, experiment="ray_interrupted")[1]) == 2:
                        break
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    output = (tmp_path / "sweep.log").read_text()
    assert code == 130, output[-3000:]
    # each cancelled task marks its own run on the worker; under load the parent may exit first
    deadline = time.monotonic() + 60
    while True:
        _, runs = _runs(uri, all_views=True, experiment="ray_interrupted")
        if all(r.info.status != "RUNNING" for r in runs) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(r.data.tags["seed"] for r in runs) == ["0", "1"]
    assert all(r.info.status == "KILLED" and r.data.tags["error"].startswith("KeyboardInterrupt") for r in runs), [
        (r.info.status, r.data.tags.get("error")) for r in runs]
    killed = [f"killed: {r.data.tags['identity']}" for r in runs]
    assert all(line in _worker_logs(logs, "err") for line in killed), _worker_logs(logs, "err")[-3000:]
