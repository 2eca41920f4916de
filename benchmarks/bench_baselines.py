"""Baselines benchmark (issue 6): every method under the same protocol, ε = 1, default size.

    .venv/bin/python benchmarks/bench_baselines.py --seeds 5 --jobs 2

For each of the six datasets and each seed: the seeded train/test split, every method fitted on
the training split with its constructor defaults (size 10 per class / 50 rows; DP-ZO with its
default steps), the condensing family (decision_tree / cox_ph) trained on the release and scored
on the test split — AUROC / Harrell's C-index, mean ± std over seeds — and the fit's wall time.
``dp_direct`` releases a model (scored as is; classification only); ``dp_marginals (n rows)``
samples the public training-set size instead of m rows. Records are cached per
(dataset, method, seed) in ``--cache`` (JSON lines), so an interrupted run resumes.
Writes ``benchmarks/results/baselines.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
DATASETS = ["breast_cancer_wisconsin", "pima_diabetes", "support_mortality", "metabric", "gbsg", "flchain"]
#: (label, registered method, epsilon, extra constructor params)
METHOD_RUNS = [
    ("full_data", "full_data", math.inf, {}),
    ("random_subset", "random_subset", math.inf, {}),
    ("kmeans", "kmeans", math.inf, {}),
    ("dpzo (ε=∞)", "dpzo", math.inf, {}),
    ("dpzo", "dpzo", 1.0, {}),
    ("dp_gaussian", "dp_gaussian", 1.0, {}),
    ("dp_marginals", "dp_marginals", 1.0, {}),
    ("dp_marginals (n rows)", "dp_marginals", 1.0, {"n_samples": "large"}),
    ("dp_dm", "dp_dm", 1.0, {}),
    ("dp_direct", "dp_direct", 1.0, {}),
]
PRIMARY = {"classification": ("decision_tree", "auroc", 10), "survival": ("cox_ph", "c_index", 50)}


def one_run(dataset_name: str, label: str, seed: int) -> dict:
    """Fit one method on one seed's split and score the condensing family on the test split."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch  # noqa: F401  (imported up front: library import time is not fit time)

    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.evaluate import evaluate_release
    from dpcondense.methods import make_method

    _, method, epsilon, params = next(r for r in METHOD_RUNS if r[0] == label)
    dataset = load_dataset(dataset_name)
    family, metric, size = PRIMARY[dataset.task]
    record = {"dataset": dataset_name, "method": label, "seed": seed}
    if method == "dp_direct" and dataset.task == "survival":
        return {**record, "value": None, "seconds": None, "note": "classification only"}
    train, test = train_test_split(dataset, seed=seed)
    est = make_method(method, model=family, size=size, epsilon=epsilon, delta=1e-5, random_state=seed, **params)
    t0 = time.perf_counter()
    est.fit(train)
    seconds = time.perf_counter() - t0
    scores = evaluate_release(est.synthetic_encoded_, train, test, family, random_state=seed)
    return {
        **record,
        "value": float(scores[metric]),
        "seconds": seconds,
        "epsilon_spent": float(est.ledger_.total_epsilon),
        "rows": int(len(est.synthetic_)),
    }


def fmt(values: list[float], digits: int = 3) -> str:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return "—"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals):.{digits}f}"


def write_report(records: list[dict], seeds: int, path: Path) -> None:
    from dpcondense.tables import markdown_table

    labels = [r[0] for r in METHOD_RUNS]
    by = {}
    for r in records:
        by.setdefault((r["dataset"], r["method"]), []).append(r)
    header = ["method"] + [f"{d} ({PRIMARY['classification' if d in DATASETS[:3] else 'survival'][1]})" for d in DATASETS]
    rows, time_rows = [], []
    for label in labels:
        rows.append([label] + [fmt([r["value"] for r in by.get((d, label), [])]) for d in DATASETS])
        time_rows.append([label] + [fmt([r["seconds"] for r in by.get((d, label), [])], 2) for d in DATASETS])
    eps = {label: sorted({round(r.get("epsilon_spent", float("nan")), 9) for r in records if r["method"] == label and r.get("epsilon_spent") is not None}) for label in labels}
    lines = [
        "# Baselines at ε = 1 (issue 6)",
        "",
        f"`benchmarks/bench_baselines.py --seeds {seeds}`: per dataset and seed, the seeded 75/25 split, each",
        "method fitted on the training split with its constructor defaults (10 rows per class / 50",
        "rows; DP-ZO with its default steps), the condensing family — decision_tree (AUROC) for",
        "classification, cox_ph (Harrell's C-index) for survival — trained on the release and scored on",
        f"the test split. Mean ± std over {seeds} seeds (ddof = 0). δ = 1e-5.",
        "`dp_direct` releases a DP logistic regression (scored as is; no survival variant).",
        "`dp_marginals (n rows)` samples the training-set size instead of m rows.",
        "Non-private references (ε = ∞): full_data, random_subset, kmeans, dpzo (ε=∞).",
        "",
        "## Primary metric",
        "",
        markdown_table(header, rows),
        "",
        "## Wall time of `fit` (seconds)",
        "",
        markdown_table(["method"] + DATASETS, time_rows),
        "",
        "## ε spent (ledger total)",
        "",
        markdown_table(["method", "ε spent"], [[label, ", ".join(f"{e:g}" for e in eps[label]) or "—"] for label in labels]),
        "",
        f"Machine: 2 cores, shared with other jobs; {len(records)} runs.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    parser.add_argument("--datasets", nargs="*", default=DATASETS)
    parser.add_argument("--methods", nargs="*", default=[r[0] for r in METHOD_RUNS])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dpcondense_bench_baselines.jsonl"))
    parser.add_argument("--out", type=Path, default=OUT / "baselines.md")
    args = parser.parse_args(argv)

    from joblib import Parallel, delayed

    done: dict[tuple, dict] = {}
    if args.cache.exists():
        for line in args.cache.read_text().splitlines():
            r = json.loads(line)
            done[(r["dataset"], r["method"], r["seed"])] = r
    todo = [
        (d, m, s)
        for s in range(args.seeds)
        for d in args.datasets
        for m in args.methods
        if (d, m, s) not in done
    ]
    # the slow DP-ZO jobs first, so the pool stays busy to the end
    todo.sort(key=lambda t: not t[1].startswith("dpzo"))
    print(f"{len(done)} cached, {len(todo)} to run", flush=True)
    with args.cache.open("a") as cache:
        for rec in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(delayed(one_run)(*t) for t in todo):
            cache.write(json.dumps(rec) + "\n")
            cache.flush()
            done[(rec["dataset"], rec["method"], rec["seed"])] = rec
            print(f"{rec['dataset']:24s} {rec['method']:22s} seed={rec['seed']} value={rec['value']} s={rec['seconds']}", flush=True)
    records = [r for (d, m, s), r in done.items() if d in args.datasets and m in args.methods and s < args.seeds]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(records, args.seeds, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
