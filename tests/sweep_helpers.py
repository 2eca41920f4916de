"""Helpers shared by the tests of the Hydra app and of real sweeps (``dpcondense run``)."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from dpcondense.benchmark import resolve_run
from dpcondense.paths import CONF_DIR

TINY = ["method.params.steps=2", "method.params.directions=2", "progress=false"]
#: 8 runs: 2 datasets (one per task, each with its default family) x 2 epsilons x 2 seeds
SWEEP = ["dataset=breast_cancer_wisconsin,metabric", "privacy.epsilon=1,inf", "seed=0,1"]
ARTIFACTS = {"synthetic.csv", "ledger.json", "metrics.json", "config.yaml", "run_spec.json"}


@contextlib.contextmanager
def hydra_conf():
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()


def spec_of(*overrides: str):
    with hydra_conf():
        return resolve_run(compose("config", overrides=list(overrides)))


def sweep_identities(sweep: list[str]) -> set[str]:
    """Identities of every job of a basic sweep, computed in-process (what the store must hold)."""
    axes = [[f"{o.split('=')[0]}={v}" for v in o.split("=", 1)[1].split(",")] for o in sweep]
    jobs: list[list[str]] = [[]]
    for axis in axes:
        jobs = [job + [value] for job in jobs for value in axis]
    with hydra_conf():
        return {resolve_run(compose("config", overrides=job + TINY)).identity for job in jobs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(args: list[str], root: Path, *, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "DPCONDENSE_MLRUNS": str(root / "mlruns"), "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "dpcondense.cli", "run", *args], cwd=root, env=env, capture_output=True, text=True,
        timeout=timeout, **popen,
    )


def local_runs(root: Path, experiment: str = "default", *, all_views: bool = False):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    view = ViewType.ALL if all_views else ViewType.ACTIVE_ONLY
    return client, client.search_runs([exp.experiment_id], run_view_type=view, max_results=1000)


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("sweep summary:")]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


def finished_count(db: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("select count(*) from runs where status = 'FINISHED' and lifecycle_stage = 'active'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or mid-migration
        return 0
