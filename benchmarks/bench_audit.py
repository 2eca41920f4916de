"""Empirical privacy audit of DP-ZO: lower bounds on ε at several budgets, and the audit's cost.

Usage::

    .venv/bin/python benchmarks/bench_audit.py [--trials 400] [--epsilons 0.5 1 4]
        [--dataset pima_diabetes] [--out benchmarks/results/audit.md]

For each ε, :func:`dpcondense.privacy.audit.run_audit` runs DP-ZO ``--trials`` times (the canary in half)
with the audit's per-run defaults, and reports the Clopper–Pearson 95 % lower bound, the most
those trials could certify, the attack's rates and the DCR medians. A reference row runs the same
audit on DP-ZO with its noise disabled while the ledger still claims ε = 1 (the test-only
switch): it shows the audit's power on these settings. Times are wall-clock and CPU time of this
process (the machine is shared, so wall time includes the queue). Writes the Markdown table and
a JSON file next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from dpcondense.privacy.audit import AUDIT_METHOD_DEFAULTS, run_audit

ROOT = Path(__file__).resolve().parent


def one(label: str, *, epsilon: float, trials: int, dataset: str, calibration: float, broken: bool, vary_public: bool) -> dict:
    params = {"_unsafe_disable_noise": True} if broken else {}
    wall, cpu = time.perf_counter(), time.process_time()
    res = run_audit(
        method="dpzo", dataset=dataset, epsilon=epsilon, trials=trials, calibration_fraction=calibration,
        fix_public_randomness=not vary_public, method_params=params,
    )
    row = res.to_dict()
    row.update(label=label, wall_seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)
    print(
        f"{label}: eps_lb={row['epsilon_lower_bound']:.3f} (max {row['max_certifiable_epsilon']:.3f}) "
        f"TPR={row['tpr']:.3f} FPR={row['fpr']:.3f} wall={row['wall_seconds']:.0f}s cpu={row['cpu_seconds']:.0f}s",
        flush=True,
    )
    return row


def render(rows: list[dict], args: argparse.Namespace) -> str:
    r0 = rows[0]
    lines = [
        "# Privacy audit of DP-ZO (canary membership inference)",
        "",
        f"`benchmarks/bench_audit.py --trials {args.trials}` on {platform.machine()}, {os.cpu_count()} cores (shared).",
        f"Audit rows: {r0['audit_rows']} rows of `{args.dataset}` (training split, seed 0); DP-ZO per run: "
        f"{', '.join(f'{k}={v}' for k, v in AUDIT_METHOD_DEFAULTS.items())}, size 5 per class, "
        f"{r0['model']}, δ = {r0['delta']:g}; batch ≥ rows so q = 1. Canary: the far corner of the public "
        f"domain with the rarer label; statistic: {r0['statistic']} to the nearest released row of its label; "
        f"threshold and direction chosen on the first {args.calibration:.0%} of the runs, bound computed on the "
        "rest (Clopper–Pearson 95 %). Public randomness (initial rows, directions, model seeds) fixed across "
        "runs unless stated; sampling and noise fresh in every run.",
        "",
        "| run | claimed ε | trials (evaluated) | ε lower bound | max certifiable | TPR | FPR | DCR train | DCR held-out | wall s | CPU s | CPU s / run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['epsilon_claimed']:g} | {r['trials']} ({r['evaluation_trials']}) | "
            f"**{r['epsilon_lower_bound']:.3f}** | {r['max_certifiable_epsilon']:.3f} | {r['tpr']:.3f} | {r['fpr']:.3f} | "
            f"{r['dcr_train_median']:.3f} | {r['dcr_test_median']:.3f} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | "
            f"{r['cpu_seconds'] / r['trials']:.2f} |"
        )
    lines += [
        "",
        "Reading: a correct mechanism must give a lower bound ≤ its claimed ε (a bound above it, at 95 % "
        "confidence, is a privacy bug); the broken reference — no noise, no clipping, ledger still claiming "
        "ε = 1 — shows what these trials can detect. The audit is one attack: a bound far below the claim does "
        "not prove the claim is tight, only that this canary and statistic do not contradict it.",
        "",
    ]
    capped = [r["label"] for r in rows if r["max_certifiable_epsilon"] < r["epsilon_claimed"]]
    if capped:
        lines += [
            f"Power: for {', '.join(capped)} the trials can certify at most {rows[-1]['max_certifiable_epsilon']:.2f} "
            "< the claim, so a violation there could not be shown at this R whatever the attack.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--reference-trials", type=int, default=100, help="trials of the broken-mechanism reference")
    ap.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 4.0])
    ap.add_argument("--dataset", default="pima_diabetes")
    ap.add_argument("--calibration", type=float, default=0.25, help="share of runs that choose the threshold")
    ap.add_argument("--blackbox", action="store_true", help="also run ε = max with fresh public randomness per run")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "audit.md")
    ap.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the JSON next to --out")
    args = ap.parse_args()
    if args.render_only:
        args.out.write_text(render(json.loads(args.out.with_suffix(".json").read_text()), args))
        return

    common = dict(dataset=args.dataset, calibration=args.calibration)
    rows = [
        one("DP-ZO, noise disabled (claims ε = 1)", epsilon=1.0, trials=args.reference_trials, broken=True,
            vary_public=False, **common)
    ]
    for eps in args.epsilons:
        rows.append(one(f"DP-ZO ε = {eps:g}", epsilon=eps, trials=args.trials, broken=False, vary_public=False, **common))
    if args.blackbox:
        eps = max(args.epsilons)
        rows.append(one(f"DP-ZO ε = {eps:g}, public randomness varied", epsilon=eps, trials=args.trials, broken=False,
                        vary_public=True, **common))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, args))
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2, sort_keys=True, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
