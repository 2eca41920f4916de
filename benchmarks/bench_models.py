"""Per-fit cost of every model family at condensation sizes, and the fast Cox vs lifelines.

DP-ZO refits the model 2K times per step on m synthetic rows and scores each fit on a batch of
real rows, so the numbers that matter are fit time at m ∈ {10, …, 200} and predict+loss time
on ~1,000 rows. Run:  .venv/bin/python benchmarks/bench_models.py  (writes results/models.md)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from dpcondense.models import MODELS, make_model

SIZES = (10, 20, 50, 100, 200)
COX_SIZES = (10, 20, 50, 100)
N_FEATURES = 20
N_EVAL = 1000
GRID = np.linspace(0.05, 3.0, 50)
OUT = Path(__file__).resolve().parent / "results" / "models.md"


def synthetic(task: str, n: int, *, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, N_FEATURES))
    signal = X[:, 0] + 0.5 * X[:, 1] - 0.5 * X[:, 2]
    if task == "classification":
        y = (signal + 0.5 * rng.normal(size=n) > 0).astype(int)
        y[:2] = [0, 1]  # both classes even at tiny m
        return X, (y,)
    t = rng.exponential(np.exp(-signal))
    c = rng.exponential(2.0, n)
    e = (t <= c).astype(int)
    e[0] = 1
    return X, (np.minimum(t, c) + 1e-3, e)


def timed(fn, *, min_reps: int = 3, budget: float = 0.6) -> float:
    """Median wall time of ``fn()`` in ms over at least ``min_reps`` runs (more while cheap)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_family(name: str) -> dict[str, float]:
    task = MODELS.get(name).task
    X_eval, outcome_eval = synthetic(task, N_EVAL, seed=99)
    row: dict[str, float] = {}
    model = None
    for m in SIZES:
        X, outcome = synthetic(task, m, seed=m)
        make_model(name, random_state=0).fit(X, *outcome)  # warm-up (lazy imports, caches)
        row[f"fit m={m}"] = timed(lambda: make_model(name, random_state=0).fit(X, *outcome))
        model = make_model(name, random_state=0).fit(X, *outcome)
    if task == "classification":
        row["predict+loss n=1000"] = timed(lambda: model.loss(X_eval, *outcome_eval))
    else:
        row["predict+loss n=1000"] = timed(lambda: model.loss(X_eval, *outcome_eval, GRID))
    return row


def bench_cox_vs_lifelines() -> list[dict[str, float]]:
    from lifelines import CoxPHFitter

    rows = []
    for m in COX_SIZES:
        X, (t, e) = synthetic("survival", m, seed=m)
        df = pd.DataFrame(X, columns=[f"x{j}" for j in range(N_FEATURES)]).assign(T=t, E=e)

        def lifelines_fit():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                CoxPHFitter(penalizer=0.1).fit(df, "T", "E")

        fast = timed(lambda: make_model("cox_ph", penalizer=0.1).fit(X, t, e), min_reps=10)
        slow = timed(lifelines_fit, min_reps=3, budget=1.5)
        rows.append({"m": m, "cox_ph (ms)": fast, "lifelines (ms)": slow, "speed-up": slow / fast})
    return rows


def markdown(frame: pd.DataFrame, fmt: str = "{:.1f}") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|"]
    for _, r in frame.iterrows():
        cells = [str(r[c]) if isinstance(r[c], str) else fmt.format(r[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    per_family = []
    for name in MODELS.names():
        print(f"benchmarking {name} ...", flush=True)
        per_family.append({"family": name, "task": MODELS.get(name).task, **bench_family(name)})
    families = pd.DataFrame(per_family).sort_values(["task", "family"])
    cox = pd.DataFrame(bench_cox_vs_lifelines())
    cox["m"] = cox["m"].astype(int).astype(str)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join(
        [
            "# Model families: per-fit cost",
            "",
            f"Synthetic data, d = {N_FEATURES} features in [-1, 1]; median wall time in ms; default "
            f"hyperparameters (conf/model/*.yaml); one thread per fit. Machine: {platform.machine()}, "
            f"{os.cpu_count()} cores, 1-min load average {load:.2f} at the end of the run (other jobs share the machine); "
            f"Python {platform.python_version()}.",
            "",
            "## Fit time at m synthetic rows; predict + per-example loss on 1,000 rows "
            f"(survival: {len(GRID)}-point grid), model fitted at m = {SIZES[-1]}",
            "",
            markdown(families),
            "",
            "## Fast Cox (NumPy Newton, Efron) vs lifelines CoxPHFitter, penalizer 0.1, fit time",
            "",
            markdown(cox),
            "",
        ]
    )
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
