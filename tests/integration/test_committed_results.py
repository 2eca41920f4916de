"""The committed results regenerate byte for byte from their committed run records.

``results/quickstart/``: its records imported into a fresh MLflow store, then reported from the
store (the path of a fresh clone's ``make reproduce`` without the runs). The other record files
(competitors, tuning, the families table): reported from the records alone (``--records``), as
``make reproduce-paper`` does. Every committed table, report and manifest must come out identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpcondense.cli import main

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
REFERENCE = RESULTS / "reference_full_data.json"
#: committed folders whose tables are made from their own records file
FROM_RECORDS = sorted(p.parent for p in RESULTS.rglob("runs.jsonl.gz"))
#: folders reported with the full-data reference file (the tuning runs carry their own references;
#: their validation splits are not the reference's test splits)
WITH_REFERENCE = {"competitors", "ablations/families", "ablations/trees", "paper_main", "paper_sizes", "paper_transfer",
                  "paper_convergence"}
#: what a report writes that is compared (figures are checked for the quickstart)
COMPARED = ("table*.md", "table*.tex", "report.md", "runs_used.md")


def _assert_same_files(committed: Path, regenerated: Path, patterns: tuple[str, ...]) -> None:
    names = sorted({p.name for pattern in patterns for p in committed.glob(pattern)})
    assert names, f"nothing committed in {committed} matches {patterns}: the test would pass vacuously"
    differ = [n for n in names if (regenerated / n).read_bytes() != (committed / n).read_bytes()]
    assert not differ, f"{committed.relative_to(ROOT)}: regenerated files differ from the committed ones: {differ}"


@pytest.mark.slow
def test_quickstart_records_imported_into_a_fresh_store_report_the_committed_files(tmp_path):
    store, out = tmp_path / "store", tmp_path / "out"
    assert main(["records", "import", str(RESULTS / "quickstart" / "runs.jsonl"), "--root", str(store)]) == 0
    assert main(["report", "--experiment", "quickstart", "--root", str(store), "--out", str(out),
                 "--reference", str(REFERENCE), "--html"]) == 0
    _assert_same_files(RESULTS / "quickstart", out, (*COMPARED, "figure*.png", "figure*.pdf", "report.html"))


@pytest.mark.slow
@pytest.mark.parametrize("folder", FROM_RECORDS, ids=[str(p.relative_to(RESULTS)) for p in FROM_RECORDS])
def test_committed_records_report_the_committed_tables(folder, tmp_path):
    out = tmp_path / "out"
    args = ["report", "--records", str(folder / "runs.jsonl.gz"), "--out", str(out)]
    if (folder / "report.html").exists():  # made with the HTML page
        args += ["--html"]
    if not any(folder.glob("figure*.png")):  # tables only
        args += ["--no-figures"]
    if folder.relative_to(RESULTS).as_posix() in WITH_REFERENCE:
        args += ["--reference", str(REFERENCE)]
    assert main(args) == 0
    _assert_same_files(folder, out, COMPARED + (("report.html",) if (folder / "report.html").exists() else ()))


def test_every_records_folder_is_checked():
    assert {p.relative_to(RESULTS).as_posix() for p in FROM_RECORDS} >= {"competitors", "tuning/dpzo_classification"}
