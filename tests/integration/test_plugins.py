"""A method from outside the package, through the CLI and the Hydra app, without editing dpcondense.

``tests/plugins/my_baseline.py`` (the full source of ``docs/adding_a_baseline.md``) is imported with
``--plugin``, found through the ``dpcondense.methods`` entry-point group, and run by ``dpcondense
run`` in a fresh process (``slow``). The registry is restored after each test, whatever it held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dpcondense import cli
from dpcondense.methods import METHODS, load_plugins

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture
def plugin_path(monkeypatch):
    """``tests/plugins`` importable; afterwards the registry is exactly what it was before."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    items, loaded = dict(METHODS._items), METHODS._entry_points_loaded
    yield
    METHODS._items.clear()
    METHODS._items.update(items)
    METHODS._entry_points_loaded = loaded
    sys.modules.pop("my_baseline", None)


def test_plugin_module_runs_through_condense(tmp_path, plugin_path):
    out = tmp_path / "release"
    args = ["condense", "--method", "my_baseline", "--dataset", "pima_diabetes", "--size", "4", "--no-progress"]
    assert cli.main([*args, "--plugin", "my_baseline", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "synthetic.csv")) == 8
    ledger = json.loads((out / "ledger.json").read_text())
    assert [e["purpose"] for e in ledger["entries"]] == ["counts", "sums"] and ledger["epsilon"] == pytest.approx(1.0)
    with pytest.raises(ImportError, match="plugin module 'no_such_plugin' cannot be imported"):
        load_plugins(["no_such_plugin"])


def _entry_point_site(root: Path) -> Path:
    """A site folder holding an installed distribution that declares ``[dpcondense.methods]``."""
    dist = root / "site" / "my_baseline_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-baseline-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dpcondense.methods]\nmy_baseline = my_baseline:NoisyClassMeans\n")
    return dist.parent


def test_plugin_entry_point_runs_through_condense(tmp_path, plugin_path, monkeypatch):
    """An installed distribution's entry point is found with no flag at all."""
    monkeypatch.syspath_prepend(str(_entry_point_site(tmp_path)))
    METHODS._entry_points_loaded = False  # as in a fresh process: scan the entry points again
    out = tmp_path / "release"
    assert cli.main(["condense", "--method", "my_baseline", "--dataset", "pima_diabetes", "--size", "3", "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "synthetic.csv")) == 6


@pytest.mark.slow
def test_plugin_runs_through_hydra_run(tmp_path):
    """``dpcondense run`` in a fresh process: entry point + the plugin's own ``conf/method`` yaml."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_entry_point_site(tmp_path)), str(PLUGINS)]),
        "DPCONDENSE_MLRUNS": str(tmp_path / "mlruns"),
        "MLFLOW_ENABLE_TELEMETRY": "false",
    }
    args = ["run", "dataset=pima_diabetes", f"hydra.searchpath=[file://{PLUGINS / 'conf'}]", "method=my_baseline", "size=3", "progress=false"]
    proc = subprocess.run([sys.executable, "-m", "dpcondense.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done:" in proc.stdout and "pima_diabetes/decision_tree/my_baseline" in proc.stdout
