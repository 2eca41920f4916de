"""The documented extension points work as written: one module + one config file each.

A copy of the package and its configs gets, verbatim from the docs, a method
(``docs/adding_a_baseline.md``: ``tests/plugins/my_baseline.py`` + its yaml), a dataset and a model
family (``docs/extending.md``). In fresh processes on that copy: ``dpcondense condense`` and
``dpcondense run`` run them, and the contract tests collect and pass them with no other edit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NEW = ("my_baseline", "whas500", "naive_bayes")


def documented_files(doc: Path) -> dict[str, str]:
    """``path → text`` of every code block introduced by a line holding only `` `path`: ``."""
    text = doc.read_text()
    blocks = re.findall(r"^`([\w./-]+)`:\n\n```\w*\n(.*?)^```", text, flags=re.M | re.S)
    return {path: body for path, body in blocks}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of src/, conf/ and the tests, with the documented components added."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__", "e2e"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    files = documented_files(REPO / "docs" / "adding_a_baseline.md") | documented_files(REPO / "docs" / "extending.md")
    files["src/dpcondense/methods/my_baseline.py"] = (REPO / "tests" / "plugins" / "my_baseline.py").read_text()
    assert {"conf/method/my_baseline.yaml", "src/dpcondense/datasets/whas500.py", "conf/dataset/whas500.yaml",
            "src/dpcondense/models/naive_bayes.py", "conf/model/naive_bayes.yaml"} <= set(files)
    for rel, text in files.items():
        (root / rel).write_text(text)
    return root


def run(project: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "DPCONDENSE_MLRUNS": str(project / "mlruns"),
        "MLFLOW_ENABLE_TELEMETRY": "false",
    }
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_copy_is_the_one_imported(project):
    proc = run(project, "-c", "import dpcondense; print(dpcondense.__file__)")
    assert proc.stdout.strip().startswith(str(project / "src")), proc.stderr


def test_new_method_dataset_and_family_run_through_condense(project):
    out = project / "out"
    proc = run(project, "-m", "dpcondense.cli", "condense", "--method", "my_baseline", "--dataset", "pima_diabetes",
               "--model", "naive_bayes", "--size", "4", "--out", str(out / "mb"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pd.read_csv(out / "mb" / "synthetic.csv")) == 8 and "naive_bayes: auprc=" in proc.stdout
    proc = run(project, "-m", "dpcondense.cli", "condense", "--dataset", "whas500", "--steps", "2", "--size", "20",
               "--param", "directions=2", "--no-progress", "--out", str(out / "whas"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pd.read_csv(out / "whas" / "synthetic.csv")) == 20
    proc = run(project, "-m", "dpcondense.cli", "datasets", "--json")
    assert '"whas500"' in proc.stdout and '"n_events": 215' in proc.stdout


def test_new_method_runs_through_the_hydra_app(project):
    proc = run(project, "-m", "dpcondense.cli", "run", "method=my_baseline", "dataset=pima_diabetes",
               "model=naive_bayes", "size=3", "progress=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done:" in proc.stdout and "pima_diabetes/naive_bayes/my_baseline" in proc.stdout


def test_contract_tests_collect_and_pass_the_new_components(project):
    selection = " or ".join(NEW)
    collected = run(project, "-m", "pytest", "tests/contract", "--collect-only", "-q", "-k", selection, "-p", "no:cacheprovider")
    for name in NEW:
        assert name in collected.stdout, f"no contract test collected for {name}:\n{collected.stdout[-2000:]}"
    proc = run(project, "-m", "pytest", "tests/contract", "-q", "-x", "-k", selection, "-p", "no:cacheprovider")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert re.search(r"\d+ passed", proc.stdout) and "failed" not in proc.stdout.splitlines()[-1]
