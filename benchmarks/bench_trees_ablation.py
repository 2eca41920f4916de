"""Issue 9 ablation: which DP-ZO options make condensation work for tree models (test split).

    .venv/bin/python benchmarks/bench_trees_ablation.py --seeds 5 --jobs 2

For each classification dataset, seed (the seeded 75/25 split) and ε ∈ {1, ∞}: DP-ZO with its
defaults, with each option switched off in turn (and everything off: ``plain``), condensing with
``--model`` (decision tree by default), 10 rows per class. Every release is scored on the test
split by a decision tree, a random forest and a logistic regression trained on it (AUROC); the
references — full data, a random real subset, ``dp_gaussian`` and ``dp_marginals`` at ε = 1 — are
scored the same way. A second block condenses with logistic regression (options on vs off) to
show the options do not hurt a smooth learner. Records are cached per run in ``--cache`` (JSON
lines) so an interrupted run resumes. Writes ``benchmarks/results/trees_ablation.md`` and the
figure ``results/issue9_trees/ablation.png`` (+ a copy of the table next to it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OUT = HERE / "results" / "trees_ablation.md"
FIG_DIR = HERE.parent / "results" / "issue9_trees"
DATASETS = ["breast_cancer_wisconsin", "pima_diabetes", "support_mortality"]
EVAL = ["decision_tree", "random_forest", "logistic_regression"]
SIZE = 10

#: label -> DP-ZO parameters relative to the defaults (what is switched off or on)
CONFIGS = {
    "dpzo (defaults)": {},
    "− soft labels (labels=hard)": {"labels": "hard"},
    "− class_balance": {"class_balance": False},
    "− dp_mean init (random init)": {"init": "random", "class_balance": False},
    "labels=teacher": {"labels": "teacher"},
    "labels=teacher, Λ = 5000": {"labels": "teacher", "teacher_regularization": 5000.0},
    "plain (all off)": {"init": "random", "class_balance": False, "labels": "hard"},
}
REFERENCES = {  # label -> (method, epsilon)
    "full data": ("full_data", math.inf),
    "random real subset": ("random_subset", math.inf),
    "dp_gaussian": ("dp_gaussian", 1.0),
    "dp_marginals": ("dp_marginals", 1.0),
}
#: the smooth-learner check: condense with logistic regression, options on vs off
#: (labels="auto", the default, resolves to hard labels for logistic regression)
LR_CONFIGS = {
    "labels=soft": {"labels": "soft"},
    "dpzo (defaults; labels=auto → hard)": {"labels": "hard"},
    "plain (all off)": {"init": "random", "class_balance": False, "labels": "hard"},
}


def one_run(dataset_name: str, model: str, label: str, epsilon: float, seed: int, extra: dict | None = None) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.evaluate import evaluate_release
    from dpcondense.methods import make_method

    train, test = train_test_split(load_dataset(dataset_name), seed=seed)
    if label in REFERENCES:
        method, eps = REFERENCES[label]
        est = make_method(method, model=model, size=SIZE, epsilon=eps, random_state=seed)
    else:
        params = LR_CONFIGS[label] if model == "logistic_regression" else CONFIGS[label]
        est = make_method("dpzo", model=model, size=SIZE, epsilon=epsilon, random_state=seed, **{**(extra or {}), **params})
    t0 = time.perf_counter()
    est.fit(train)
    seconds = time.perf_counter() - t0
    scores = {em: float(evaluate_release(est.synthetic_encoded_, train, test, em, random_state=seed)["auroc"]) for em in EVAL}
    return {
        "dataset": dataset_name, "model": model, "config": label, "epsilon": epsilon, "seed": seed,
        "auroc": scores, "seconds": seconds, "epsilon_spent": float(est.ledger_.total_epsilon),
        "ledger": [(e.purpose, e.epsilon) for e in est.ledger_.entries],
    }


def key(r: dict) -> tuple:
    return (r["dataset"], r["model"], r["config"], r["epsilon"], r["seed"])


def jobs(seeds: int, model: str, with_lr: bool, configs=None, epsilons=(1.0, math.inf), refs: bool = True) -> list[tuple]:
    out = []
    for seed in range(seeds):
        for ds in DATASETS:
            for eps in epsilons:
                out += [(ds, model, c, eps, seed) for c in (configs or CONFIGS)]
            for ref, (_, eps) in (REFERENCES.items() if refs else []):
                out.append((ds, model, ref, eps, seed))
            if with_lr:
                out += [(ds, "logistic_regression", c, 1.0, seed) for c in LR_CONFIGS]
    return out


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "—"


def write_report(records: list[dict], seeds: int, model: str, path: Path, note: str = "") -> dict:
    from dpcondense.tables import markdown_table

    by: dict[tuple, list[dict]] = {}
    for r in records:
        by.setdefault((r["dataset"], r["model"], r["config"], r["epsilon"]), []).append(r)

    def vals(ds, mdl, cfg, eps, em):
        return [r["auroc"][em] for r in by.get((ds, mdl, cfg, eps), [])]

    lines = [
        "# DP-ZO for tree models: ablation (issue 9)",
        "",
        f"`benchmarks/bench_trees_ablation.py --seeds {seeds}`: test-split AUROC, mean ± std over {seeds} seeds",
        f"(ddof = 0), {SIZE} rows per class, δ = 1e-5. DP-ZO condenses with `{model}`; each release is",
        "scored by a decision tree (DT), a random forest (RF) and a logistic regression (LR) trained on it.",
        "Options are switched off one at a time from the defaults (`labels=auto` = soft labels for trees;",
        "`plain` = all off: random init, no class balance, hard labels). References: full data and a random real subset (ε = ∞),",
        "`dp_gaussian` and `dp_marginals` at ε = 1, fitted with their defaults.",
        *([note] if note else []),
        "",
    ]
    summary = {}
    for em in EVAL:
        lines += [f"## Scored by {em}", ""]
        header = ["config", "ε"] + DATASETS
        rows = []
        for cfg in CONFIGS:
            for eps in (1.0, math.inf):
                rows.append([cfg, "∞" if math.isinf(eps) else f"{eps:g}"] + [fmt(vals(ds, model, cfg, eps, em)) for ds in DATASETS])
        for ref, (_, eps) in REFERENCES.items():
            rows.append([ref, "∞" if math.isinf(eps) else f"{eps:g}"] + [fmt(vals(ds, model, ref, eps, em)) for ds in DATASETS])
        rows = [r for r in rows if any(cell != "—" for cell in r[2:])]  # configurations not run
        lines += [markdown_table(header, rows), ""]
    lr_rows = []
    for cfg in LR_CONFIGS:
        lr_rows.append([cfg] + [fmt(vals(ds, "logistic_regression", cfg, 1.0, "logistic_regression")) for ds in DATASETS])
    if any(r[1] != "—" for r in lr_rows):
        lines += ["## Smooth learner: condensing with logistic regression at ε = 1 (scored by LR)", "",
                  markdown_table(["config"] + DATASETS, lr_rows), ""]
    secs = [r["seconds"] for r in records if r["config"] == "dpzo (defaults)" and r["model"] == model]
    lines += [f"Wall time of one default DP-ZO fit: {np.mean(secs):.1f} ± {np.std(secs):.1f} s (2-core machine, 2 workers)." if secs else "",
              f"{len(records)} runs.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    for ds in DATASETS:
        summary[ds] = {cfg: np.mean(vals(ds, model, cfg, 1.0, "decision_tree") or [np.nan]) for cfg in CONFIGS}
    return summary


def figure(records: list[dict], model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(CONFIGS) + list(REFERENCES)
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(4.2 * len(DATASETS), 4.4), sharey=False)
    for ax, ds in zip(axes, DATASETS):
        for j, lab in enumerate(labels):
            for eps, marker, colour in ((1.0, "o", "tab:blue"), (math.inf, "s", "tab:grey")):
                if lab in REFERENCES and REFERENCES[lab][1] != eps:
                    continue
                v = [r["auroc"]["decision_tree"] for r in records
                     if r["dataset"] == ds and r["model"] == model and r["config"] == lab and r["epsilon"] == eps]
                if not v:
                    continue
                c = "tab:red" if lab in REFERENCES else colour
                ax.errorbar(np.mean(v), j + (0.15 if math.isinf(eps) else -0.15), xerr=np.std(v), fmt=marker, color=c, ms=5, capsize=2)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels if ds == DATASETS[0] else [], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0.5, color="k", lw=0.5, ls=":")
        ax.set_title(ds, fontsize=10)
        ax.set_xlabel("test AUROC (decision tree)")
    axes[0].plot([], [], "o", color="tab:blue", label="DP-ZO ε = 1")
    axes[0].plot([], [], "s", color="tab:grey", label="DP-ZO ε = ∞")
    axes[0].plot([], [], "o", color="tab:red", label="reference")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"DP-ZO options for trees: {SIZE} rows/class, condensing model {model} (mean ± std over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", default="decision_tree", help="condensing family of the tree block")
    parser.add_argument("--no-lr", action="store_true", help="skip the logistic-regression block")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/dpcondense_trees_ablation.jsonl"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report-only", action="store_true", help="rewrite the table and figure from the cache")
    parser.add_argument("--configs", nargs="*", default=None, help="a subset of the DP-ZO configurations")
    parser.add_argument("--epsilons", nargs="*", type=float, default=[1.0, math.inf])
    parser.add_argument("--no-refs", action="store_true", help="skip the reference methods")
    parser.add_argument("--dpzo-params", type=json.loads, default=None,
                        help='JSON of extra DP-ZO parameters for every configuration, e.g. \'{"steps": 100}\'')
    args = parser.parse_args(argv)
    out = args.out or (OUT if args.model == "decision_tree" else OUT.with_name(f"trees_ablation_{args.model}.md"))

    from joblib import Parallel, delayed

    done: dict[tuple, dict] = {}
    if args.cache.exists():
        for line in args.cache.read_text().splitlines():
            r = json.loads(line)
            r["epsilon"] = float(r["epsilon"])
            done[key(r)] = r
    wanted = jobs(args.seeds, args.model, not args.no_lr, args.configs, tuple(args.epsilons), not args.no_refs)
    todo = [] if args.report_only else [j for j in wanted if j not in done]
    todo.sort(key=lambda j: j[2] in REFERENCES)  # DP-ZO first: keeps the pool busy to the end
    print(f"{len(done)} cached, {len(todo)} to run", flush=True)
    with args.cache.open("a") as cache:
        for rec in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(delayed(one_run)(*j, args.dpzo_params) for j in todo):
            cache.write(json.dumps(rec, allow_nan=True) + "\n")
            cache.flush()
            done[key(rec)] = rec
            print(f"{rec['dataset']:24s} {rec['model']:14s} {rec['config']:28s} eps={rec['epsilon']:g} seed={rec['seed']} "
                  f"DT={rec['auroc']['decision_tree']:.3f} s={rec['seconds']:.1f}", flush=True)
    records = [done[j] for j in wanted if j in done]
    note = f"Extra DP-ZO parameters of every configuration: `{json.dumps(args.dpzo_params)}`." if args.dpzo_params else ""
    write_report(records, args.seeds, args.model, out, note)
    figure(records, args.model, FIG_DIR / ("ablation.png" if args.model == "decision_tree" else f"ablation_{args.model}.png"))
    FIG_DIR.mkdir(parents=True, exist_ok=True)
    (FIG_DIR / out.name).write_text(out.read_text())
    print(f"wrote {out} and {FIG_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
