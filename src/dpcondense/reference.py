"""The full-data reference: every applicable model family trained on each dataset's whole
training split and scored on its test split (the upper reference of every table).

For seed ``s`` the split seed and the model seed are both ``s``; the release is the
``full_data`` method's (the real training split unchanged), evaluated by the shared
:func:`dpcondense.evaluate.evaluate_release`, so these numbers are exactly the ``full_data``
rows of every sweep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dpcondense.data import train_test_split
from dpcondense.datasets import DATASETS, dataset_names, load_dataset, schema_for
from dpcondense.evaluate import evaluate_release, mean_std
from dpcondense.methods.full_data import FullData
from dpcondense.metrics import CLASSIFICATION_METRICS, PRIMARY_METRIC, SURVIVAL_METRICS
from dpcondense.models import MODELS
from dpcondense.reporting.table import markdown_table

METRICS = {"classification": CLASSIFICATION_METRICS, "survival": SURVIVAL_METRICS}

#: Column titles of the Markdown table.
METRIC_TITLES = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "balanced_accuracy": "balanced accuracy",
    "brier": "Brier",
    "c_index": "Harrell C-index",
    "c_index_uno": "Uno C-index",
    "ibs": "IBS",
}


def reference_pairs(
    datasets: Sequence[str] | None = None, models: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """The (dataset, model) pairs to run: every selected family whose task matches the dataset.

    Raises
    ------
    UnknownComponentError (a KeyError and a ValueError)
        For an unknown dataset or model name; the message lists the available ones.
    ValueError
        When the selection leaves no pair, or a selected model fits none of the selected datasets.
    """
    ds_names = list(dict.fromkeys(datasets)) if datasets else dataset_names()
    md_names = list(dict.fromkeys(models)) if models else MODELS.names()
    for d in ds_names:
        DATASETS.get(d)
    for m in md_names:
        MODELS.get(m)
    task_of = {d: schema_for(d).task for d in ds_names}  # the public schema: no data loaded
    pairs = [(d, m) for d in ds_names for m in md_names if MODELS.get(m).task == task_of[d]]
    if models:
        unused = [m for m in md_names if not any(pm == m for _, pm in pairs)]
        if unused:
            tasks = sorted(set(task_of.values()))
            raise ValueError(
                f"model(s) {', '.join(unused)} fit none of the selected datasets "
                f"({', '.join(ds_names)}: {'/'.join(tasks)}); "
                + "; ".join(
                    f"{t} models: {', '.join(n for n in MODELS.names() if MODELS.get(n).task == t)}" for t in tasks
                )
            )
    return pairs


def reference_table(
    datasets: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    seeds: int = 5,
    *,
    model_params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Full-data reference metrics, one record per (dataset, model).

    Parameters
    ----------
    datasets, models : sequences of names, optional
        Restrict the run (default: every built-in dataset / every registered family). Each
        dataset is paired with the selected families of its task.
    seeds : int
        Seeds ``0 .. seeds-1``; seed ``s`` fixes both the train/test split and the model seed.
    model_params : mapping, optional
        ``{model name: hyperparameters}``; families absent from it use their defaults
        (the values in ``conf/model/<name>.yaml``).
    progress : bool
        Show a tqdm bar over the (dataset, model, seed) fits on stderr.

    Returns
    -------
    list of dict, in (dataset, model) order, each with ``dataset``, ``model``, ``task``,
    ``primary_metric``, ``seeds`` (the count), ``mean`` and ``std`` (``{metric: value}``, std with
    ddof=0, NaN when undefined), ``per_seed`` (``[{"seed": s, metric: value, ...}]``) and
    ``seconds`` (wall time of all fits and evaluations of the pair).
    """
    seeds = int(seeds)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    pairs = reference_pairs(datasets, models)
    params = dict(model_params or {})
    by_dataset: dict[str, list[str]] = {}
    for d, m in pairs:
        by_dataset.setdefault(d, []).append(m)

    per_seed: dict[tuple[str, str], list[dict[str, float]]] = {p: [] for p in pairs}
    seconds: dict[tuple[str, str], float] = {p: 0.0 for p in pairs}
    bar = _progress(total=len(pairs) * seeds, enabled=progress)
    try:
        for d, family_names in by_dataset.items():
            ds = load_dataset(d)
            for seed in range(seeds):
                train, test = train_test_split(ds, seed=seed)
                release = FullData().fit(train, random_state=seed).synthetic_encoded_
                for m in family_names:
                    bar.set_postfix_str(f"{d} {m} seed {seed}", refresh=False)
                    start = time.perf_counter()
                    metrics = evaluate_release(release, train, test, m, random_state=seed, model_params=params.get(m))
                    seconds[(d, m)] += time.perf_counter() - start
                    per_seed[(d, m)].append({"seed": seed, **metrics})
                    bar.update(1)
    finally:
        bar.close()

    records = []
    for d, m in pairs:
        task = MODELS.get(m).task
        rows = per_seed[(d, m)]
        stats = mean_std([{k: v for k, v in r.items() if k != "seed"} for r in rows])
        keys = METRICS[task]
        records.append(
            {
                "dataset": d,
                "model": m,
                "task": task,
                "primary_metric": PRIMARY_METRIC[task],
                "seeds": seeds,
                "mean": {k: stats[k]["mean"] for k in keys},
                "std": {k: stats[k]["std"] for k in keys},
                "per_seed": rows,
                "seconds": seconds[(d, m)],
            }
        )
    return records


def reference_markdown(records: Sequence[Mapping[str, Any]], *, digits: int = 3) -> str:
    """The Markdown report: one table per task, primary metric first, cells ``mean ± std``."""
    seeds = sorted({int(r["seeds"]) for r in records})
    seeds_text = ", ".join(str(s) for s in seeds)
    out = [
        "# Full-data reference",
        "",
        "Every model family trained on the full training split of each dataset and scored on its "
        f"test split (stratified 75/25 split). Mean ± std (ddof=0) over {seeds_text} seed(s); seed s "
        "fixes both the split and the model seed. Hyperparameters: the defaults in "
        "`conf/model/<name>.yaml`. Generated by `dpcondense reference`.",
    ]
    for task in ("classification", "survival"):
        rows_in = [r for r in records if r["task"] == task]
        if not rows_in:
            continue
        primary = PRIMARY_METRIC[task]
        keys = [primary] + [k for k in METRICS[task] if k != primary]
        header = ["dataset", "model"] + [
            METRIC_TITLES[k] + (" (primary)" if k == primary else "") + (" ↓" if k in ("brier", "ibs") else "")
            for k in keys
        ]
        rows = [
            [r["dataset"], r["model"]] + [_pm(r["mean"][k], r["std"][k], digits) for k in keys] for r in rows_in
        ]
        out += ["", f"## {task.capitalize()}", "", markdown_table(header, rows)]
    out += ["", "↓: lower is better; all other metrics higher is better. — : undefined on every seed."]
    return "\n".join(out) + "\n"


def jsonable_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with NaN / inf replaced by ``None`` (strict JSON)."""

    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return clean(record)


def _pm(mean: float, std: float, digits: int) -> str | None:
    if mean is None or not math.isfinite(mean):
        return None
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="reference fits", unit="fit", disable=not enabled, dynamic_ncols=True)
