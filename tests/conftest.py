"""Shared fixtures. Tests never download anything: datasets come from installed packages."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def datasets():
    from dpcondense.datasets import dataset_names, load_dataset

    return {n: load_dataset(n) for n in dataset_names()}
