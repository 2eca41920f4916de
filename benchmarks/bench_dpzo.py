"""DP-ZO engine benchmarks (issue 4): step overhead, wall time per dataset, utility vs references.

    .venv/bin/python benchmarks/bench_dpzo.py overhead        # step time / floor
    .venv/bin/python benchmarks/bench_dpzo.py utility --seeds 5

Step overhead ratio = measured step time / floor, where the floor is the cost of the 2K model
fits on m rows plus the 2K·|B| loss evaluations of the same step, timed on their own.
Results are written to benchmarks/results/dpzo_*.md.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.models import make_model
from dpcondense.methods.dpzo import DPZOCondenser
from dpcondense.tables import markdown_table

OUT = Path(__file__).parent / "results"

CASES = [
    ("breast_cancer_wisconsin", "decision_tree", 10),
    ("pima_diabetes", "decision_tree", 10),
    ("support_mortality", "decision_tree", 10),
    ("metabric", "cox_ph", 50),
    ("gbsg", "cox_ph", 50),
    ("flchain", "cox_ph", 50),
]


def step_floor(train, model: str, m: int, K: int, batch: int, rng: np.random.Generator, repeats: int) -> float:
    """Seconds for 2K fits on m rows + 2K loss evaluations on `batch` real rows."""
    enc = train.encoder()
    d = enc.n_features_out
    X_real = train.encoded()
    idx = rng.choice(train.n_rows, batch, replace=False)
    grid = train.schema.outcome.time_grid() if train.task == "survival" else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for k in range(2 * K):
            Xs = rng.uniform(-1, 1, (m, d))
            mdl = make_model(model, random_state=k)
            if train.task == "classification":
                mdl.fit(Xs, np.repeat([0, 1], m // 2))
                mdl.loss(X_real[idx], train.y[idx])
            else:
                mdl.fit(Xs, rng.uniform(1, 100, m), np.ones(m, int))
                mdl.loss(X_real[idx], train.time[idx], train.event[idx], grid)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def overhead(args) -> None:
    rows = []
    for name, model, size in [("support_mortality", "decision_tree", 10), ("metabric", "cox_ph", 50)]:
        train, _ = train_test_split(load_dataset(name), seed=0)
        est = DPZOCondenser(model=model, size=size, epsilon=1.0, steps=args.steps, random_state=0).fit(train)
        step = float(np.median(est.step_seconds_))
        m = 2 * size if train.task == "classification" else size
        floor = step_floor(train, model, m, est.directions, int(round(est.sampling_rate_ * train.n_rows)),
                           np.random.default_rng(0), repeats=args.steps)
        rows.append([name, model, m, est.directions, f"{1000 * step:.1f}", f"{1000 * floor:.1f}", f"{step / floor:.2f}"])
        print(rows[-1], flush=True)
    table = markdown_table(["dataset", "model", "m", "K", "step ms (median)", "floor ms", "overhead ratio"], rows)
    OUT.mkdir(exist_ok=True)
    (OUT / "dpzo_overhead.md").write_text("# DP-ZO step overhead\n\n" + table + "\n")
    print(table)


def utility(args) -> None:
    from dpcondense.pipeline import condense

    rows = []
    for name, model, size in CASES:
        metric = "auroc" if model == "decision_tree" else "c_index"
        res: dict[str, list[float]] = {"inf": [], "1": [], "full": [], "random": []}
        walls = []
        for seed in range(args.seeds):
            for eps in (1.0, math.inf):
                r = condense(dataset_name=name, method="dpzo", model=model, eval_models=[model], epsilon=eps,
                             delta=1e-5, size=size, seed=seed, references=(eps == 1.0))
                res["1" if eps == 1.0 else "inf"].append(r["metrics"][model][metric])
                walls.append(r["wall_seconds"])
                if eps == 1.0:
                    res["full"].append(r["metrics"]["full_data"][model][metric])
                    res["random"].append(r["metrics"]["random_subset"][model][metric])
        fmt = lambda v: f"{np.mean(v):.3f} ± {np.std(v):.3f}"  # noqa: E731
        rows.append([name, model, metric, fmt(res["full"]), fmt(res["random"]), fmt(res["1"]), fmt(res["inf"]),
                     f"{np.mean(walls):.1f}"])
        print(rows[-1], flush=True)
    table = markdown_table(
        ["dataset", "model", "metric", "full data", "random subset", "DP-ZO ε=1", "DP-ZO ε=∞", "wall s / run"], rows
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "dpzo_utility.md").write_text(
        f"# DP-ZO utility (test split, mean ± std over {args.seeds} seeds; size 10/class or 50 rows)\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["overhead", "utility"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    overhead(a) if a.what == "overhead" else utility(a)
