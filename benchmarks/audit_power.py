"""The privacy audit's power on DP-ZO: what it certifies for the correct mechanism, halved noise and no noise.

Usage::

    .venv/bin/python benchmarks/audit_power.py [--seeds 3] [--runs 10] [--canaries 10000]
        [--blackbox-trials 100] [--dataset pima_diabetes] [--out benchmarks/results/audit.md]
    .venv/bin/python benchmarks/audit_power.py --render-only     # rewrite the Markdown from the JSON

All audits claim ε = 1, δ = 1e-5 on 200 audit rows with a batch of 64 (Poisson rate q = 0.32),
20 steps, 4 directions (``dpcondense.privacy.audit``). Three mechanisms: DP-ZO as it is; its step
noise halved while the ledger keeps the calibrated σ (``privacy.audit.mutants.scaled_step_noise``);
no noise and no clipping (``_unsafe_disable_noise``).

1. **White-box** (:func:`~dpcondense.privacy.audit.run_whitebox_audit`): ``--runs`` tapped fits
   with ``--canaries`` gradient canaries each, for every seed; the pooled result is read after
   1, 2, 3, 5, … runs, so the table shows how many runs each verdict takes: the one-run ε lower
   bound (Steinke et al. 2023) and the noise-scale check against the ledger's σ·C.
2. **Black-box** (:func:`~dpcondense.privacy.audit.run_audit`): ``--blackbox-trials`` runs with the
   crafted canary row in half of them (Clopper–Pearson bound), each run also tapped white-box.

Wall and CPU time are this process's (2 shared cores: wall time includes the queue). Writes the
Markdown table and a JSON file next to it. About 6 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from dpcondense.privacy import compute_epsilon
from dpcondense.privacy.audit import run_audit, run_whitebox_audit
from dpcondense.privacy.audit.mutants import scaled_step_noise

ROOT = Path(__file__).resolve().parent
EPSILON, DELTA = 1.0, 1e-5
MECHANISMS = ("correct", "halved noise", "no noise")


def _mechanism(name: str) -> tuple[contextlib.AbstractContextManager, dict[str, Any]]:
    """The context to run in and the extra method parameters of each mechanism."""
    if name == "halved noise":
        return scaled_step_noise(0.5), {}
    if name == "no noise":
        return contextlib.nullcontext(), {"_unsafe_disable_noise": True}
    return contextlib.nullcontext(), {}


def _ladder(runs: int) -> list[int]:
    return sorted({r for r in (1, 2, 3, 5, 10, 20, 50, runs) if r <= runs})


def whitebox_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (mechanism, seed, checkpoint)."""
    rows = []
    for name in MECHANISMS:
        runs = 1 if name == "no noise" else args.runs  # nothing left to show after one run
        for seed in range(args.seeds):
            context, params = _mechanism(name)
            cpu = time.process_time()
            with context:
                audit = run_whitebox_audit(
                    dataset=args.dataset, epsilon=EPSILON, delta=DELTA, runs=runs, canaries=args.canaries, seed=seed,
                    method_params=params, checkpoints=_ladder(runs),
                )
            cpu = time.process_time() - cpu
            for r, (res, elapsed) in sorted(audit.checkpoints.items()):
                claim, one = res.claim, res.one_run
                sigma = claim.noise_multiplier * {"correct": 1.0, "halved noise": 0.5, "no noise": 0.0}[name]
                true_eps = compute_epsilon(sigma, claim.sampling_rate, claim.steps, claim.delta) if sigma > 0 else None
                rows.append({
                    "mechanism": name, "seed": seed, "runs": r, "canaries": one.canaries if one else 0,
                    "claimed_epsilon": claim.epsilon, "true_epsilon": true_eps, "sampling_rate": claim.sampling_rate,
                    "epsilon_lower_bound": one.epsilon_lower_bound if one else 0.0,
                    "max_certifiable_epsilon": one.max_certifiable_epsilon if one else 0.0,
                    "guesses": one.guesses if one else 0, "correct_guesses": one.correct if one else 0,
                    "noise_ratio": res.noise.ratio, "noise_p_value": res.noise.p_value, "noise_passed": res.noise.passed,
                    "sampling_passed": res.sampling.passed, "parameters_passed": res.parameters.passed,
                    "passed": res.passed, "wall_seconds": elapsed, "cpu_seconds_total": cpu,
                })
            last = rows[-1]
            print(f"white-box {name} seed {seed}: {runs} runs, eps_lb={last['epsilon_lower_bound']:.3f} "
                  f"noise ratio={last['noise_ratio']:.3f} passed={last['passed']} wall={last['wall_seconds']:.0f}s", flush=True)
    return rows


def blackbox_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in MECHANISMS:
        context, params = _mechanism(name)
        wall, cpu = time.perf_counter(), time.process_time()
        with context:
            res = run_audit(
                method="dpzo", dataset=args.dataset, epsilon=EPSILON, delta=DELTA, trials=args.blackbox_trials,
                calibration_fraction=0.25, method_params=params,
            )
        row = res.to_dict()
        row.update(mechanism=name, wall_seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)
        rows.append(row)
        white = row["whitebox"]
        print(f"black-box {name}: eps_lb={row['epsilon_lower_bound']:.3f} (max {row['max_certifiable_epsilon']:.3f}) "
              f"one-run={white['one_run']['epsilon_lower_bound']:.3f} wall={row['wall_seconds']:.0f}s", flush=True)
    return rows


def _spread(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]" if len(v) > 1 else f"{v[0]:.3f}"


def _first_flag(rows: list[dict[str, Any]], key: str) -> str:
    """Per seed, the fewest runs at which ``key`` flags the mechanism ("–" if never)."""
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        hit = [r["runs"] for r in rows if r["seed"] == seed and _flags(r, key)]
        out.append(str(min(hit)) if hit else "–")
    return ", ".join(out)


def _flags(row: dict[str, Any], key: str) -> bool:
    if key == "bound":
        return row["epsilon_lower_bound"] > row["claimed_epsilon"]
    return not row["noise_passed"]


def render(data: dict[str, Any]) -> str:
    meta, white, black = data["meta"], data["whitebox"], data["blackbox"]
    lines = [
        "# Privacy audit of DP-ZO: power against broken mechanisms",
        "",
        (f"`benchmarks/audit_power.py --seeds {meta['seeds']} --runs {meta['runs']} --canaries {meta['canaries']} "
        f"--blackbox-trials {meta['blackbox_trials']}` on {meta['machine']}, {meta['cores']} cores (shared), "
        f"{meta['date']}; {meta['total_minutes']:.1f} min in all."),
        (f"Every run claims ε = {EPSILON:g}, δ = {DELTA:g}: DP-ZO on {meta['rows']} rows of `{meta['dataset']}` "
        "(training split, seed 0), batch 64 so the Poisson rate is **q = 0.32**, 20 steps, 4 directions, "
        "decision_tree, 5 rows per class, seeded noise. Mechanisms: *correct*; *halved noise* — every step draws "
        "noise of multiplier σ/2 while the ledger and the step's arguments say σ (`privacy.audit.mutants."
        "scaled_step_noise(0.5)`); *no noise* — no noise, no clipping (`_unsafe_disable_noise`). "
        "*True ε* is the accountant's ε of the steps for the noise actually drawn."),
        "",
        "## White-box audit (`run_whitebox_audit`)",
        "",
        (f"Each run: one tapped DP-ZO fit (the whole budget on the steps, no objective coordinate) plus "
        f"{meta['canaries']} Dirac gradient canaries, each included with probability 1/2, released with the step's "
        "own σ, C, q and generators. *ε lower bound*: the one-run bound of Steinke, Nasr & Jagielski (2023) on the "
        "pooled canaries (95 %, best of 3 guess counts with Bonferroni); *noise*: measured std of "
        "(release − exact clipped sum of the same batch) / the ledger's σ·C, flagged when the two-sided χ² p < 1e-6. "
        f"Mean [min, max] over {meta['seeds']} seeds; wall time is per audit (cumulative at that many runs)."),
        "",
        ("| mechanism | true ε | runs | canaries | ε lower bound | max certifiable | noise std / σC | "
        "noise flagged (seeds) | ε bound > 1 (seeds) | wall s |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in MECHANISMS:
        mine = [r for r in white if r["mechanism"] == name]
        for runs in sorted({r["runs"] for r in mine}):
            at = [r for r in mine if r["runs"] == runs]
            true_eps = at[0]["true_epsilon"]
            lines.append(
                f"| {name} | {'∞' if true_eps is None else f'{true_eps:.2f}'} | {runs} | {at[0]['canaries']} | "
                f"**{_spread([r['epsilon_lower_bound'] for r in at])}** | {at[0]['max_certifiable_epsilon']:.2f} | "
                f"{_spread([r['noise_ratio'] for r in at])} | {sum(not r['noise_passed'] for r in at)}/{len(at)} | "
                f"{sum(r['epsilon_lower_bound'] > r['claimed_epsilon'] for r in at)}/{len(at)} | "
                f"{np.mean([r['wall_seconds'] for r in at]):.0f} |"
            )
    halved = [r for r in white if r["mechanism"] == "halved noise"]
    lines += [
        "",
        (f"Runs until the halved noise is flagged, per seed: by the noise check {_first_flag(halved, 'noise')}; "
        f"by the one-run ε bound exceeding the claimed ε = 1: {_first_flag(halved, 'bound')} "
        "(\"–\": not within the runs measured)."),
        "",
        "## Black-box canary audit (`run_audit`)",
        "",
        (f"{meta['blackbox_trials']} runs, the crafted canary row in half of them; threshold chosen on the first 25 % "
        "of the runs, Clopper–Pearson 95 % bound on the rest; public randomness fixed. The same runs are tapped "
        "white-box (1000 canaries each, pooled)."),
        "",
        ("| mechanism | trials (evaluated) | ε lower bound | max certifiable | TPR | FPR | one-run ε bound (canaries) | "
        "noise std / σC | white-box verdict | wall s | CPU s |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in black:
        w = r["whitebox"]
        lines.append(
            f"| {r['mechanism']} | {r['trials']} ({r['evaluation_trials']}) | **{r['epsilon_lower_bound']:.3f}** | "
            f"{r['max_certifiable_epsilon']:.3f} | {r['tpr']:.3f} | {r['fpr']:.3f} | "
            f"{w['one_run']['epsilon_lower_bound']:.3f} ({w['one_run']['canaries']}) | {w['noise']['ratio']:.3f} | "
            f"{'pass' if w['passed'] else 'FAIL'} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} |"
        )
    lines += [
        "",
        ("Reading: a lower bound above the claimed ε (at 95 % confidence) or a failed white-box check is a privacy "
        "bug. The black-box bound cannot exceed its *max certifiable* column whatever the attack; at q = 0.32 its "
        "attack is weak. The one-run bound is loose for Gaussian noise (it certifies about half of the true ε here) "
        "but needs no extra trials; the noise check is the sharpest test of a mis-scaled σ. None of these proves "
        "the claim; they can only contradict it."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10, help="white-box runs per seed (checkpoints at 1, 2, 3, 5, 10, ...)")
    ap.add_argument("--canaries", type=int, default=10000, help="gradient canaries per white-box run")
    ap.add_argument("--blackbox-trials", type=int, default=100)
    ap.add_argument("--dataset", default="pima_diabetes")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "audit.md")
    ap.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the JSON next to --out")
    args = ap.parse_args()
    if args.render_only:
        args.out.write_text(render(json.loads(args.out.with_suffix(".json").read_text())))
        return
    t0 = time.perf_counter()
    white = whitebox_rows(args)
    black = blackbox_rows(args)
    meta = {
        "seeds": args.seeds, "runs": args.runs, "canaries": args.canaries, "blackbox_trials": args.blackbox_trials,
        "dataset": args.dataset, "rows": 200, "machine": platform.machine(), "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"), "total_minutes": (time.perf_counter() - t0) / 60,
    }
    data = {"meta": meta, "whitebox": white, "blackbox": black}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    args.out.write_text(render(data))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
