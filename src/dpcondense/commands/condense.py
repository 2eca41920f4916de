"""``dpcondense condense``: condense one dataset, write the release, its ledger and metrics.

The flags become the same run configuration the Hydra app composes; it is validated once
(:func:`dpcondense.benchmark.resolve_run`) and run by :func:`dpcondense.benchmark.run_one`.
A custodian's ``--csv`` goes through :mod:`dpcondense.custodian`, which adds the local report.
Outputs (written atomically, see :mod:`dpcondense.benchmark.outputs`): ``synthetic.csv``,
``ledger.json``, ``metrics.json`` (+ ``report.md`` for ``--csv``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from dpcondense.benchmark import RunConfigError, resolve_run, run_one
from dpcondense.benchmark.outputs import write_outputs, write_release
from dpcondense.benchmark.runner import DEFAULT_COUNT_SHARE
from dpcondense.commands._paths import check_input_file, check_new_folder
from dpcondense.custodian import release
from dpcondense.datasets import card
from dpcondense.models.defaults import family_params

#: config keys as the flags of this command name them (messages speak the user's language)
_FLAGS = {
    "privacy.epsilon": "--epsilon",
    "privacy.delta": "--delta",
    "privacy.noise": "--noise",
    "dataset.count_share": "--count-share",
    "dataset.n_public": "--n-public",
    "dataset.path": "--csv",
    "dataset.schema": "--schema",
    "dataset.delimiter": "--delimiter",
    "dataset.encoding": "--encoding",
    "eval_model": "--eval-model",
    "method.params": "--param",
    "plugins": "--plugin",
}


#: the flags that describe a custodian's ``--csv`` (attribute name → flag); refused with ``--dataset``
_CSV_ONLY = {
    "n_public": "--n-public", "count_share": "--count-share", "delimiter": "--delimiter", "encoding": "--encoding",
    "audit_trials": "--audit-trials",
}
#: the fewest runs of an audit (two calibration and two evaluation runs)
MIN_AUDIT_TRIALS = 4


#: top-level config keys named by their flag when a message quotes ``key=value``
_BARE_FLAGS = {"dataset": "--dataset", "model": "--model", "method": "--method", "seed": "--seed", "size": "--size"}


def param_argument(text: str) -> tuple[str, Any]:
    """argparse type of ``--param KEY=VALUE`` (the value parsed as YAML)."""
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a YAML value"
        raise argparse.ArgumentTypeError(f"--param {key.strip()}: {value!r} is not a value ({problem})") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("condense", help="condense one dataset into a small (DP) synthetic release")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="built-in dataset name (see `dpcondense datasets`)")
    source.add_argument("--csv", type=Path, help="your own CSV file, described by --schema (see `dpcondense schema init`)")
    _add_csv_arguments(p)
    p.add_argument("--method", default="dpzo", help="condensation method (default dpzo)")
    p.add_argument("--model", default=None, help="condensing model family (default: decision_tree / cox_ph by task)")
    p.add_argument("--eval-model", action="append", default=None, help="evaluation family (repeatable; default = --model)")
    p.add_argument("--epsilon", default="1", help="privacy budget ε (> 0, or 'inf')")
    p.add_argument("--delta", type=float, default=1e-5, help="δ (0 < δ < 1/n)")
    p.add_argument(
        "--noise", choices=("secure", "seeded"), default=None,
        help="noise and sampling: secure (OS-entropy CSPRNG, the default for --csv) or seeded (benchmark mode, "
        "reproducible from --seed, labelled not for release; the default for a built-in --dataset, refused for --csv)",
    )
    p.add_argument("--size", type=int, default=None, help="rows per class (classification) / total rows (survival); default 10 / 50")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the method and the evaluation")
    p.add_argument("--steps", type=int, default=None, help="DP-ZO steps T")
    p.add_argument("--param", type=param_argument, action="append", default=[], metavar="KEY=VALUE", help="any other method parameter")
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import MODULE first: a user module that registers a method (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def _add_csv_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--csv`` options (``--csv`` itself is in the source group)."""
    parser.add_argument("--schema", type=Path, default=None, help="schema YAML of --csv (see `dpcondense schema init`)")
    parser.add_argument("--delimiter", default=None, help="--csv field delimiter (default ',')")
    parser.add_argument("--encoding", default=None, help="--csv text encoding (default UTF-8)")
    parser.add_argument(
        "--n-public", type=int, default=None,
        help="--csv: public size of the training split used as the method's n (default: the schema's public.n_rows, "
        "else a DP count bought from the budget)",
    )
    parser.add_argument(
        "--count-share", type=float, default=None,
        help=f"--csv: share of ε spent on the DP row count when n is not public (default {DEFAULT_COUNT_SHARE})",
    )
    parser.add_argument(
        "--audit-trials", type=int, default=None, help="--csv: also run a canary audit with this many runs (>= 4; 0 = none)"
    )


def run(args: argparse.Namespace) -> int:
    _check_sources(args)
    check_new_folder(args.out, "--out")
    try:
        spec = resolve_run(run_config(args))
    except RunConfigError as exc:
        raise RunConfigError(_in_flags(str(exc))) from None
    if spec.csv is None:
        result = run_one(spec)
        write_outputs(args.out, result)
        for em in spec.eval_models:
            print(f"{em}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics[em].items())))
        print(f"wrote {args.out}/synthetic.csv, ledger.json, metrics.json ({result.ledger.label})")
        return 0
    bundle = release(spec, audit_trials=args.audit_trials or 0)
    for w in bundle.result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    write_release(args.out, bundle.result, local_files=bundle.local_files())
    for em in spec.eval_models:
        print(f"{em} (local held-out check): " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(bundle.check.metrics[em].items())))
    print(f"wrote {args.out}/release/ (synthetic.csv, ledger.json, manifest.json: {bundle.result.ledger.label})")
    print(f"and {args.out}/local/ (report.md, metrics.json: these describe your patients; keep them)")
    return 0


def _check_sources(args: argparse.Namespace) -> None:
    if args.csv is None and args.schema is not None:
        raise ValueError("--schema goes with --csv (a built-in --dataset carries its own schema)")
    if args.csv is None:
        given = [flag for key, flag in _CSV_ONLY.items() if getattr(args, key) is not None]
        if given:
            raise ValueError(
                f"{given[0]} goes with --csv (a custodian's file); a built-in --dataset has its own public "
                "row count, format and no audit: drop it"
            )
        return
    if args.schema is None:
        raise ValueError("--csv needs --schema SCHEMA.yaml (draft one with `dpcondense schema init DATA.csv`)")
    check_input_file(args.csv, "--csv", what="CSV file")
    check_input_file(args.schema, "--schema", what="schema file")
    if args.audit_trials is not None and (args.audit_trials < 0 or 0 < args.audit_trials < MIN_AUDIT_TRIALS):
        raise ValueError(
            f"--audit-trials {args.audit_trials} must be 0 (no audit) or an integer >= {MIN_AUDIT_TRIALS} "
            "(half of the runs calibrate the attack, half are counted)"
        )


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run configuration these flags mean (the mapping the Hydra app composes)."""
    params: dict[str, Any] = dict(args.param)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.csv is None:
        dataset: dict[str, Any] = card(args.dataset)
    else:
        dataset = {
            "name": "csv", "path": str(args.csv), "schema": str(args.schema), "delimiter": args.delimiter,
            "encoding": args.encoding, "n_public": args.n_public,
            "count_share": DEFAULT_COUNT_SHARE if args.count_share is None else args.count_share,
        }
    return {
        "dataset": dataset,
        "model": None if args.model is None else {"name": args.model, "params": family_params(args.model)},
        "eval_model": args.eval_model,
        "method": {"name": args.method, "params": params},
        "privacy": {"epsilon": args.epsilon, "delta": args.delta, "noise": args.noise},
        "size": args.size,
        "seed": args.seed,
        "references": True,
        "plugins": list(args.plugin),
        "progress": not args.no_progress,
    }


def _in_flags(message: str) -> str:
    """Name config keys by this command's flags (``privacy.epsilon=2`` → ``--epsilon=2``)."""
    message = re.sub(r"(?<![\w.])method\.params\.steps=", "--steps=", message)
    message = re.sub(r"(?<![\w.])method\.params\.(\w+)=", r"--param \1=", message)
    message = re.sub(r" \(or dataset=csv [^)]*\)", " (or --csv FILE --schema SCHEMA for your own file)", message)
    message = re.sub(r"^dataset\.(path|schema)=(\S+): \2: ", r"dataset.\1=\2: ", message)  # the path once
    for key, flag in _FLAGS.items():
        message = re.sub(rf"(?<![\w.-]){re.escape(key)}(?=[=.:\s])", flag, message)
    for key, flag in _BARE_FLAGS.items():  # top-level keys, only as ``key=value``
        message = re.sub(rf"(?<![\w.-]){key}=", f"{flag}=", message)
    return re.sub(r"^--size=", "--size ", message)
