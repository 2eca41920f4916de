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

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

from dpcondense import __version__
from dpcondense.benchmark.runner import RunResult
from dpcondense.conventions import to_jsonable


@contextlib.contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """A sibling temporary folder to fill, renamed to ``out`` (new or empty) only when complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # checked empty before any work
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_outputs(out: str | Path, result: RunResult, *, extra_files: Mapping[str, str] | None = None) -> None:
    """Write ``result`` (and ``extra_files``: name → text) into the new or empty folder ``out``."""
    with atomic_folder(out) as tmp:
        result.synthetic.to_csv(tmp / "synthetic.csv", index=False, float_format="%.10g", lineterminator="\n")
        result.ledger.to_json(tmp / "ledger.json")
        payload = {"metrics": result.metrics, "wall_seconds": result.wall_seconds, "config": result.config}
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n")
        for name, text in (extra_files or {}).items():  # e.g. the custodian's report.md
            (tmp / name).write_text(text)


def release_manifest(result: RunResult, files: Mapping[str, bytes]) -> dict:
    """What a release bundle holds and under which guarantee (public facts only)."""
    est, ledger = result.estimator, result.ledger
    return {
        "dataset": result.config["dataset"],
        "method": {"name": est.name, "version": est.version_for(result.dataset.task), "params": est.get_params()},
        "model": result.config["model"],
        "size": result.config["size"],
        "rows": int(len(result.synthetic)),
        "columns": [str(c) for c in result.synthetic.columns],
        "guarantee": ledger.label,
        "epsilon": ledger.total_epsilon,
        "delta": ledger.target_delta,
        "adjacency": "add or remove one row (one patient) of the file",
        "noise": ledger.noise,
        "dpcondense_version": __version__,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }


def write_release(out: str | Path, result: RunResult, *, local_files: Mapping[str, str]) -> None:
    """A custodian's release: ``out/release/`` (shareable) and ``out/local/`` (stays with them).

    ``release/`` holds ``synthetic.csv``, ``ledger.json`` and ``manifest.json`` (what it is, the
    guarantee, the files' SHA-256) and nothing else computed from the private rows; ``local/``
    holds ``local_files`` (the report, held-out metrics). Written atomically like
    :func:`write_outputs`.
    """
    with atomic_folder(out) as tmp:
        (tmp / "release").mkdir()
        (tmp / "local").mkdir()
        files = {
            "synthetic.csv": result.synthetic.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode(),
            "ledger.json": (result.ledger.to_json() + "\n").encode(),
        }
        for name, data in files.items():
            (tmp / "release" / name).write_bytes(data)
        manifest = to_jsonable(release_manifest(result, files))
        (tmp / "release" / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for name, text in local_files.items():
            (tmp / "local" / name).write_text(text)
