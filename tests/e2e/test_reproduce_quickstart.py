"""``make reproduce`` on a fresh clone: the quickstart sweep, run from nothing into a fresh store,
gives back every committed file of ``results/quickstart/`` byte for byte — tables, figures, the
HTML page, the list of runs used and the run records themselves.

The records are compared too: a run kept across a code change (its identity unchanged) must log
what a fresh run of the current code logs, or a fresh clone's ``make reproduce`` rewrites them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpcondense import cli
from sweep_helpers import run_cli, summary_line

pytestmark = pytest.mark.slow
RESULTS = Path(__file__).resolve().parents[2] / "results"
QUICKSTART = RESULTS / "quickstart"


def test_a_fresh_quickstart_sweep_gives_back_every_committed_file(tmp_path):
    done = run_cli(["-m", "experiment=quickstart", "progress=false", "hydra.launcher.n_jobs=2"], tmp_path, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary_line(done.stdout) == "sweep summary: 16 runs: 16 done, 0 skipped (already done), 0 failed"
    root, out = str(tmp_path / "mlruns"), tmp_path / "out"
    assert cli.main(["report", "--experiment", "quickstart", "--root", root, "--out", str(out),
                     "--reference", str(RESULTS / "reference_full_data.json"), "--html"]) == 0
    assert cli.main(["records", "export", "--experiment", "quickstart", "--root", root,
                     "--out", str(out / "runs.jsonl")]) == 0
    committed = sorted(p.name for p in QUICKSTART.iterdir() if p.is_file())
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == committed
    differ = [name for name in committed if (out / name).read_bytes() != (QUICKSTART / name).read_bytes()]
    assert not differ, f"a fresh quickstart sweep differs from the committed results/quickstart/ in {differ}"
