"""``dpcondense audit``: canary membership-inference audit, an empirical lower bound on ε.

Example: ``dpcondense audit --method dpzo --dataset pima_diabetes --epsilon 1 --trials 200``.
The method runs ``--trials`` times on a small audit set (``--rows``) with a crafted canary in half
of the runs; see :mod:`dpcondense.privacy.audit` for the canary, the statistic, the threshold rule and the
Clopper–Pearson bound. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, Mapping

from dpcondense.commands.condense import param_argument
from dpcondense.conventions import to_jsonable
from dpcondense.privacy.audit import AUDIT_METHOD_DEFAULTS, STATISTICS, THRESHOLD_RULES, run_audit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="canary membership-inference audit: an empirical lower bound on epsilon")
    p.add_argument("--method", required=True, help="condensation method to audit")
    p.add_argument("--dataset", required=True, help="built-in dataset the audit rows are drawn from")
    p.add_argument("--epsilon", required=True, help="the ε every run claims")
    p.add_argument("--trials", type=int, required=True, help="number of runs R (half with the canary)")
    p.add_argument("--delta", type=float, default=1e-5, help="δ of every run (default 1e-5)")
    p.add_argument("--model", default=None, help="condensing model family (default decision_tree / cox_ph)")
    p.add_argument("--size", type=int, default=5, help="synthetic rows per class / in total (default 5)")
    p.add_argument("--rows", type=int, default=50, help="audit training rows drawn from the training split (default 50)")
    p.add_argument("--statistic", choices=STATISTICS, default="distance", help="membership score (default distance)")
    p.add_argument("--threshold", choices=THRESHOLD_RULES, default="split", help="threshold rule (default split)")
    p.add_argument("--calibration-fraction", type=float, default=0.5, help="share of runs that choose the threshold (split)")
    p.add_argument(
        "--vary-public-randomness", action="store_true",
        help="fresh public randomness in every run (black-box attacker; default: fixed, as DP allows)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the audit rows, the IN/OUT assignment and the runs")
    p.add_argument(
        "--param", type=param_argument, action="append", default=[], metavar="KEY=VALUE",
        help=f"method parameter (per-run defaults: {AUDIT_METHOD_DEFAULTS})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = run_audit(
        method=args.method,
        dataset=args.dataset,
        epsilon=args.epsilon,
        trials=args.trials,
        delta=args.delta,
        model=args.model,
        size=args.size,
        n_rows=args.rows,
        statistic=args.statistic,
        threshold=args.threshold,
        calibration_fraction=args.calibration_fraction,
        fix_public_randomness=not args.vary_public_randomness,
        seed=args.seed,
        method_params=dict(args.param),
        progress=not (args.no_progress or args.json),
    )
    out = result.to_dict()
    failed = out["epsilon_lower_bound"] > out["epsilon_claimed"]
    if args.json:
        print(json.dumps(_json_safe(out), sort_keys=True))
        return 1 if failed else 0
    print(
        f"{out['method']} on {out['dataset']} ({out['audit_rows']} rows, {out['model']}), claimed "
        f"ε = {out['epsilon_claimed']:g}, δ = {out['delta']:g}: empirical lower bound ε ≥ {out['epsilon_lower_bound']:.3f} "
        f"(at most {out['max_certifiable_epsilon']:.3f} certifiable with these trials)"
    )
    print(
        f"  {out['trials']} runs, {out['evaluation_trials']} evaluated: TPR {out['tpr']:.3f} "
        f"[{out['tpr_interval'][0]:.3f}, {out['tpr_interval'][1]:.3f}], FPR {out['fpr']:.3f} "
        f"[{out['fpr_interval'][0]:.3f}, {out['fpr_interval'][1]:.3f}] (Clopper–Pearson 95 %)"
    )
    print(
        f"  DCR median to training rows {out['dcr_train_median']:.4f}, to held-out rows {out['dcr_test_median']:.4f}; "
        f"{out['wall_seconds']:.1f} s ({out['seconds_per_trial']:.2f} s per run)"
    )
    if failed:
        print("  FAIL: the empirical lower bound exceeds the claimed ε — the mechanism leaks more than it claims")
        return 1
    return 0


def _json_safe(obj: Any) -> Any:
    # the audit's JSON writes NaN (e.g. no DCR for a released model) as null but infinities as
    # strings, which neither mode of to_jsonable does alone
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return to_jsonable(obj)
