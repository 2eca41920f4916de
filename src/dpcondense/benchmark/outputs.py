"""Write a run's files atomically: the release, its ledger and the local metrics.

- ``synthetic.csv``: the release, raw units, the dataset's column names;
- ``ledger.json``: the privacy ledger;
- ``metrics.json``: test-split metrics of each evaluation family trained on the release (and the
  references when the run has them), the wall time and the run's config — evaluation only,
  computed from the held-out split, never part of the release.

Everything goes to a sibling temporary folder that is renamed into place only when complete, so a
failed write leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from dpcondense.benchmark.runner import RunResult
from dpcondense.conventions import to_jsonable


def write_outputs(out: str | Path, result: RunResult, *, extra_files: Mapping[str, str] | None = None) -> None:
    """Write ``result`` (and ``extra_files``: name → text) into the new or empty folder ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result.synthetic.to_csv(tmp / "synthetic.csv", index=False, float_format="%.10g", lineterminator="\n")
        result.ledger.to_json(tmp / "ledger.json")
        payload = {"metrics": result.metrics, "wall_seconds": result.wall_seconds, "config": result.config}
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n")
        for name, text in (extra_files or {}).items():  # e.g. the custodian's report.md
            (tmp / name).write_text(text)
        if out.exists():
            out.rmdir()  # checked empty before any work
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
