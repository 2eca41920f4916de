"""Counts that describe a built-in dataset (the raw material of ``dpcondense datasets`` and Table 1)."""

from __future__ import annotations

from dpcondense.datasets import load_dataset


def dataset_summary(name: str) -> dict:
    """Counts that describe a built-in dataset (all computed from the full table).

    Parameters
    ----------
    name : str
        A registered dataset.

    Returns
    -------
    dict
        ``name``, ``task``, ``n_rows``, ``n_features`` (before encoding), ``n_encoded`` (after),
        and ``n_positive`` (classification) or ``n_events`` (survival).
    """
    ds = load_dataset(name)
    rec: dict = {
        "name": name,
        "task": ds.task,
        "n_rows": ds.n_rows,
        "n_features": ds.features.shape[1],
        "n_encoded": ds.encoder().n_features_out,
    }
    if ds.task == "classification":
        rec["n_positive"] = int(ds.y.sum())
    else:
        rec["n_events"] = int(ds.event.sum())
    return rec
