"""Table 1: the datasets (from the dataset registry, not from the runs)."""

from __future__ import annotations

from typing import Any, Sequence

from dpcondense.data import train_test_split
from dpcondense.datasets import DATASETS, load_dataset
from dpcondense.datasets.summary import dataset_summary
from dpcondense.reporting.labels import NOT_APPLICABLE
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.table import Table
from dpcondense.reporting.tables.base import register_table


@register_table("table1", "table1_datasets")
def table1_datasets(runs: ExperimentRuns, datasets: Sequence[str] | None = None) -> Table:
    """Table 1: the datasets (from the registry, not from the runs)."""
    names = list(datasets) if datasets is not None else runs.datasets()
    header = ["dataset", "task", "outcome", "rows", "features", "positives / events", "rate", "censored", "train / test rows"]
    rows = []
    for name in names:
        if name not in DATASETS:
            rows.append([name, runs.task(name) if any(r.dataset == name for r in runs.records) else None] + [None] * 7)
            continue
        summary = dataset_summary(name)
        ds = load_dataset(name)
        train, test = train_test_split(ds, seed=0)  # split sizes do not depend on the seed
        n_pos = summary.get("n_positive", summary.get("n_events"))
        rate = n_pos / summary["n_rows"]
        out = ds.schema.outcome
        if ds.task == "classification":
            outcome = f"{out.label} = {out.positive}"
            censored: Any = NOT_APPLICABLE
        else:
            outcome = f"{out.time} ({out.time_unit or 'time'}), {out.event}"
            censored = f"{100 * (1 - rate):.1f}%"
        rows.append([name, ds.task, outcome, summary["n_rows"], summary["n_features"], n_pos, f"{100 * rate:.1f}%", censored, f"{train.n_rows} / {test.n_rows}"])
    return Table(
        "table1",
        "Table 1",
        "Datasets: rows, features (before encoding), positive (classification) or event (survival) rate, "
        "censoring, and the train / test split (75% / 25%, stratified by label or event).",
        header,
        rows,
    )
