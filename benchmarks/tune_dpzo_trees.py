"""Validation-split study of DP-ZO options for decision trees (issue 9). Never touches test splits.

Each seed's training split is split again (75/25, stratified) into a fit part and a validation
part; methods are fitted on the fit part and scored on the validation part.

    .venv/bin/python benchmarks/tune_dpzo_trees.py --seeds 2 --model decision_tree
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import make_method
from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.tables import markdown_table

CONFIGS = {
    "plain": {},
    "dp_mean": {"init": "dp_mean", "init_budget_share": 0.3},
    "bagging3": {"bagging": 3},
    "dp_mean+bagging3": {"init": "dp_mean", "init_budget_share": 0.3, "bagging": 3},
    "dp_mean+balance": {"init": "dp_mean", "init_budget_share": 0.3, "class_balance": True},
    "dp_mean+balance+leaf3": {"init": "dp_mean", "init_budget_share": 0.3, "class_balance": True,
                              "model_params": {"min_samples_leaf": 3}},
    "dp_mean+balance+leaf3+bag3": {"init": "dp_mean", "init_budget_share": 0.3, "class_balance": True,
                                   "model_params": {"min_samples_leaf": 3}, "bagging": 3},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--model", default="decision_tree")
    p.add_argument("--datasets", nargs="+", default=["breast_cancer_wisconsin", "pima_diabetes", "support_mortality"])
    p.add_argument("--epsilons", nargs="+", type=float, default=[1.0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS))
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tune_dpzo_trees.json")
    a = p.parse_args()
    records = []
    for name in a.datasets:
        for seed in range(a.seeds):
            train, _ = train_test_split(load_dataset(name), seed=seed)
            fit, val = train_test_split(train, seed=1000 + seed)
            key = PRIMARY_METRIC[train.task]
            size = 10 if train.task == "classification" else 50
            for ref in ("random_subset", "full_data"):
                est = make_method(ref, model=a.model, size=size, random_state=seed).fit(fit)
                auc = evaluate_release(est.synthetic_encoded_, fit, val, a.model, random_state=seed)[key]
                records.append({"dataset": name, "seed": seed, "config": ref, "epsilon": None, "auroc": auc, "seconds": 0})
            for eps in a.epsilons:
                for cname in a.configs:
                    t0 = time.perf_counter()
                    est = make_method("dpzo", model=a.model, size=size, epsilon=eps, random_state=seed, **CONFIGS[cname]).fit(fit)
                    auc = evaluate_release(est.synthetic_encoded_, fit, val, a.model, random_state=seed)[key]
                    records.append({"dataset": name, "seed": seed, "config": cname, "epsilon": eps, "auroc": auc,
                                    "seconds": time.perf_counter() - t0})
                    print(records[-1], flush=True)
    a.out.parent.mkdir(exist_ok=True)
    a.out.write_text(json.dumps(records, indent=1))
    rows = []
    keys = sorted({(r["dataset"], r["config"], r["epsilon"] if r["epsilon"] is not None else -1) for r in records})
    for ds, cfg, eps in keys:
        v = [r["auroc"] for r in records if r["dataset"] == ds and r["config"] == cfg and (r["epsilon"] if r["epsilon"] is not None else -1) == eps]
        rows.append([ds, cfg, "—" if eps == -1 else eps, f"{np.mean(v):.3f} ± {np.std(v):.3f}", len(v)])
    print(markdown_table(["dataset", "config", "ε", "validation metric (AUROC / C-index)", "n"], rows))


if __name__ == "__main__":
    main()
