"""``dpcondense audit``: canary membership-inference audit, an empirical lower bound on ε, and DP-ZO's white-box checks.

Example: ``dpcondense audit --method dpzo --dataset pima_diabetes --epsilon 1 --trials 200``.
The method runs ``--trials`` times on a small audit set (``--rows``) with a crafted canary in half
of the runs; see :mod:`dpcondense.privacy.audit` for the canary, the statistic, the threshold rule and the
Clopper–Pearson bound. DP-ZO's runs are also tapped white-box: the noise scale, the sampling and
the parameters against the ledger, and ``--canaries`` gradient canaries per run for the one-run
bound. ``--whitebox-only`` runs just the white-box audit (``--trials`` fits, many canaries each).
``--json`` prints one JSON object. The exit status is 1 when the audit contradicts the claim.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from dpcondense.commands.condense import param_argument
from dpcondense.conventions import to_jsonable
from dpcondense.datasets import DATASETS, schema_for
from dpcondense.methods import METHODS, check_method_params
from dpcondense.models import MODELS
from dpcondense.privacy.audit import (
    AUDIT_CANARIES,
    AUDIT_METHOD_DEFAULTS,
    AUDIT_ROWS,
    STATISTICS,
    THRESHOLD_RULES,
    run_audit,
    run_whitebox_audit,
)
from dpcondense.privacy.audit.runner import check_audit_rows
from dpcondense.privacy.randomness import NOISE_MODES
from dpcondense.privacy.validation import parse_epsilon

#: gradient canaries per fit of ``--whitebox-only`` by default
WHITEBOX_ONLY_CANARIES = 10 * AUDIT_CANARIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="canary membership-inference audit: an empirical lower bound on epsilon")
    p.add_argument("--method", required=True, help="condensation method to audit")
    p.add_argument("--dataset", required=True, help="built-in dataset the audit rows are drawn from")
    p.add_argument("--epsilon", required=True, help="the ε every run claims")
    p.add_argument("--trials", type=int, required=True, help="number of runs R (half with the canary)")
    p.add_argument("--delta", type=float, default=1e-5, help="δ of every run (default 1e-5)")
    p.add_argument("--model", default=None, help="condensing model family (default decision_tree / cox_ph)")
    p.add_argument("--size", type=int, default=5, help="synthetic rows per class / in total (default 5)")
    p.add_argument(
        "--rows", type=int, default=None,
        help=f"audit training rows drawn from the training split (default {AUDIT_ROWS}: DP-ZO's batch of 64 is then q = 0.32; "
        "at most the training split's rows)",
    )
    p.add_argument("--statistic", choices=STATISTICS, default="distance", help="membership score (default distance)")
    p.add_argument("--threshold", choices=THRESHOLD_RULES, default="split", help="threshold rule (default split)")
    p.add_argument("--calibration-fraction", type=float, default=0.5, help="share of runs that choose the threshold (split)")
    p.add_argument(
        "--vary-public-randomness", action="store_true",
        help="fresh public randomness in every run (black-box attacker; default: fixed, as DP allows)",
    )
    p.add_argument(
        "--canaries", type=int, default=None,
        help=f"white-box gradient canaries per DP-ZO run (default {AUDIT_CANARIES}; {WHITEBOX_ONLY_CANARIES} with --whitebox-only; 0: none)",
    )
    white = p.add_mutually_exclusive_group()
    white.add_argument("--no-whitebox", action="store_true", help="skip DP-ZO's white-box checks")
    white.add_argument(
        "--whitebox-only", action="store_true",
        help="DP-ZO only: --trials tapped fits with gradient canaries, no black-box canary",
    )
    p.add_argument("--noise", choices=NOISE_MODES, default="seeded", help="noise and sampling of the runs (default seeded: reproducible)")
    p.add_argument("--seed", type=int, default=0, help="seed of the audit rows, the IN/OUT assignment and the runs")
    p.add_argument(
        "--param", type=param_argument, action="append", default=[], metavar="KEY=VALUE",
        help=f"method parameter (per-run defaults: {AUDIT_METHOD_DEFAULTS})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (the progress bar goes to stderr)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    private = sorted(key for key, _ in args.param if str(key).startswith("_"))
    if private:  # test hooks of the code (e.g. switching the noise off) are never set from a command
        raise ValueError(f"--param {private[0]} is a private parameter of the code: it cannot be set from a command")
    # the bar is on stderr: with --json, stdout stays one JSON object
    progress = not args.no_progress
    try:
        _check_arguments(args)
        if args.whitebox_only:
            return _run_whitebox_only(args, progress)
        return _run_blackbox(args, progress)
    except ValueError as exc:
        raise ValueError(_in_flags(str(exc))) from None


def _check_arguments(args: argparse.Namespace) -> None:
    """The flags the audit's code checks late or names by its own keywords, checked first and by flag."""
    if args.whitebox_only and args.method != "dpzo":
        raise ValueError(f"--whitebox-only audits DP-ZO's steps; got --method {args.method}")
    low = 1 if args.whitebox_only else 4
    if args.trials < low:
        raise ValueError(f"--trials {args.trials} must be an integer >= {low}" + ("" if args.whitebox_only else
                         " (half of the runs calibrate the threshold, half are counted)"))
    if args.canaries is not None and args.canaries < 0:
        raise ValueError(f"--canaries {args.canaries} must be >= 0 (0: no gradient canaries)")
    if args.size < 1:
        raise ValueError(f"--size {args.size} must be an integer >= 1")
    if not 0.0 < args.calibration_fraction < 1.0:
        raise ValueError(f"--calibration-fraction {args.calibration_fraction:g} must be in (0, 1)")
    for flag, registry, name in (("--method", METHODS, args.method), ("--dataset", DATASETS, args.dataset),
                                 ("--model", MODELS, args.model)):
        if name is not None and name not in registry:
            raise ValueError(f"{flag} {name}: unknown; available: {', '.join(registry.names())}")
    _check_tasks(args)
    parse_epsilon(args.epsilon)
    try:
        check_method_params(METHODS.get(args.method), dict(args.param))
    except ValueError as exc:
        raise ValueError(f"--param {exc}") from None
    if args.rows is not None:
        if args.rows < 4:
            raise ValueError(f"--rows {args.rows} must be >= 4 (audit training rows)")
        check_audit_rows(args.dataset, args.rows, seed=args.seed, name="--rows")


def _check_tasks(args: argparse.Namespace) -> None:
    """The method and the family apply to the dataset's task (else the first fit would fail)."""
    task = schema_for(args.dataset).task
    reason = METHODS.get(args.method).skip(task)
    if reason is not None:
        raise ValueError(f"--method {args.method}: {reason} (--dataset {args.dataset} is a {task} dataset)")
    family = None if args.model is None else MODELS.get(args.model).task
    if family is not None and family != task:
        choices = ", ".join(n for n in MODELS.names() if MODELS.get(n).task == task)
        raise ValueError(
            f"--model {args.model} is a {family} family but --dataset {args.dataset} is a {task} dataset; choose one of: {choices}"
        )


def _rows(args: argparse.Namespace) -> int:
    return AUDIT_ROWS if args.rows is None else args.rows


def _run_blackbox(args: argparse.Namespace, progress: bool) -> int:
    result = run_audit(
        method=args.method,
        dataset=args.dataset,
        epsilon=args.epsilon,
        trials=args.trials,
        delta=args.delta,
        model=args.model,
        size=args.size,
        n_rows=_rows(args),
        statistic=args.statistic,
        threshold=args.threshold,
        calibration_fraction=args.calibration_fraction,
        fix_public_randomness=not args.vary_public_randomness,
        seed=args.seed,
        method_params=dict(args.param),
        whitebox=not args.no_whitebox,
        canaries=AUDIT_CANARIES if args.canaries is None else args.canaries,
        noise=args.noise,
        progress=progress,
    )
    out = result.to_dict()
    white = out.get("whitebox")
    failed = out["epsilon_lower_bound"] > out["epsilon_claimed"] or (white is not None and not white["passed"])
    if args.json:
        print(json.dumps(_json_safe(out), sort_keys=True))
        return 1 if failed else 0
    q = out["sampling_rate"]
    print(
        f"{out['method']} on {out['dataset']} ({out['audit_rows']} rows, {out['model']}"
        f"{'' if q is None else f', q = {q:.3g}'}), claimed ε = {out['epsilon_claimed']:g}, δ = {out['delta']:g}: "
        f"empirical lower bound ε ≥ {out['epsilon_lower_bound']:.3f} "
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
    if white is not None:
        for line in whitebox_lines(white):
            print("  " + line)
    if failed:
        print("  FAIL: the audit contradicts the claim — the mechanism leaks more than it claims or does not do what its ledger says")
        return 1
    return 0


def _run_whitebox_only(args: argparse.Namespace, progress: bool) -> int:
    audit = run_whitebox_audit(
        dataset=args.dataset, epsilon=args.epsilon, runs=args.trials,
        canaries=WHITEBOX_ONLY_CANARIES if args.canaries is None else args.canaries, delta=args.delta,
        model=args.model, size=args.size, n_rows=_rows(args), seed=args.seed, method_params=dict(args.param),
        noise=args.noise, progress=progress,
    )
    out = audit.to_dict()
    if args.json:
        print(json.dumps(_json_safe(out), sort_keys=True))
        return 0 if audit.passed else 1
    print(
        f"dpzo white-box audit on {out['dataset']} ({out['audit_rows']} rows, {out['model']}, q = {out['sampling_rate']:.3g}), "
        f"claimed ε = {out['epsilon_claimed']:g}, δ = {out['delta']:g}: {out['runs']} runs × {out['canaries_per_run']} canaries, "
        f"{out['wall_seconds']:.1f} s"
    )
    for line in whitebox_lines(out["whitebox"]):
        print("  " + line)
    if not audit.passed:
        print("  FAIL: the white-box audit contradicts the ledger's claim")
        return 1
    return 0


def whitebox_lines(white: Mapping[str, Any]) -> list[str]:
    """Human-readable lines of a white-box result (``WhiteboxResult.to_dict()``)."""
    claim, noise, samp, par = white["claim"], white["noise"], white["sampling"], white["parameters"]
    ok = {True: "ok", False: "FAIL"}
    lines = [
        (f"white-box, {white['fits']} fits, {white['steps']} steps; claimed steps (ε = {claim['epsilon']:.3g}, "
         f"δ = {claim['delta']:.3g}), σ = {claim['noise_multiplier']:.4g}, C = {claim['clip']:g}, "
         f"q = {claim['sampling_rate']:.3g}"),
        (f"  noise: measured std / claimed σC = {noise['ratio']:.3f} over {noise['coordinates']} coordinates "
         f"(χ² p = {noise['p_value']:.2g}) {ok[noise['passed']]}"),
        (f"  sampling: {samp['batches']} batches, drawn fraction {samp['mean_batch_fraction']:.4f} vs q "
         f"(z = {samp['z_batch_mean']:.2f}), inclusion spread of {samp['canaries_tracked']} canaries "
         f"z = {samp['z_inclusion_dispersion']:.2f} {ok[samp['passed']]}"),
        f"  parameters passed by the steps match the ledger: {ok[par['passed']]}",
    ]
    one = white.get("one_run")
    if one is not None:
        lines.append(
            f"  one-run bound: ε ≥ {one['epsilon_lower_bound']:.3f} from {one['correct']}/{one['guesses']} correct guesses "
            f"on {one['canaries']} gradient canaries (at most {one['max_certifiable_epsilon']:.3f} certifiable)"
        )
    return lines


#: keyword names of the audit's code → this command's flags (messages speak the user's language)
_FLAGS = {
    "epsilon": "--epsilon", "delta": "--delta", "trials": "--trials", "runs": "--trials", "n_rows": "--rows",
    "canaries": "--canaries", "calibration_fraction": "--calibration-fraction", "size": "--size",
}


def _in_flags(message: str) -> str:
    """Name the audit's keywords by this command's flags (``delta=0.5 must ...`` → ``--delta 0.5 must ...``)."""
    for key, flag in _FLAGS.items():
        message = re.sub(rf"(?<![\w.-]){key}=", f"{flag} ", message)
    return message


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
