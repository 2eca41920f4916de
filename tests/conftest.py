"""Shared fixtures. Tests never download anything: datasets come from installed packages."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def datasets():
    from dpcondense.datasets import dataset_names, load_dataset

    return {n: load_dataset(n) for n in dataset_names()}


@pytest.fixture
def app(tmp_path, monkeypatch, capsys):
    """Call ``dpcondense run ...`` in-process; returns (exit status, stdout + stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DPCONDENSE_MLRUNS", str(tmp_path / "mlruns"))
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    from hydra.core.global_hydra import GlobalHydra

    from dpcondense import cli

    def call(*args: str) -> tuple[int, str]:
        GlobalHydra.instance().clear()
        code = 0
        try:
            # Hydra's logging setup (dictConfig) would close pytest's own handlers: keep it off
            code = cli.main(["run", *args, "hydra/job_logging=none", "hydra/hydra_logging=none"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            GlobalHydra.instance().clear()
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return call


#: the test tiers, by folder: ``pytest -m unit`` or ``make test-fast`` (unit + contract) for a quick check
TIERS = ("unit", "contract", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))
                break
