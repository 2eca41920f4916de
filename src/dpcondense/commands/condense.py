"""``dpcondense condense``: condense one dataset, write the release, its ledger and metrics.

Outputs (written to a temporary folder and moved into place only when complete, so a failed run
leaves nothing behind):

- ``synthetic.csv``: the release, raw units, the dataset's column names;
- ``ledger.json``: the privacy ledger;
- ``metrics.json``: test-split metrics of the evaluation model trained on the release, plus the
  ``full_data`` and ``random_subset`` references for the same seed and size (evaluation only —
  computed from the held-out split, never part of the release).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dpcondense.custodian import add_csv_arguments, run_condense_csv
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import check_eval_model
from dpcondense.methods import METHODS, load_plugins
from dpcondense.models import MODELS
from dpcondense.pipeline import condense


def _epsilon(text: str) -> float:
    if text.strip().lower() in ("inf", "infinity"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--epsilon must be a number > 0 or 'inf', got {text!r}") from None


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("condense", help="condense one dataset into a small (DP) synthetic release")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="built-in dataset name (see `dpcondense datasets`)")
    source.add_argument("--csv", type=Path, help="your own CSV file, described by --schema (see `dpcondense schema init`)")
    add_csv_arguments(p)
    p.add_argument("--method", default="dpzo", help="condensation method (default dpzo)")
    p.add_argument("--model", default=None, help="condensing model family (default: decision_tree / cox_ph by task)")
    p.add_argument("--eval-model", action="append", default=None, help="evaluation family (repeatable; default = --model)")
    p.add_argument("--epsilon", type=_epsilon, default=1.0, help="privacy budget ε (> 0, or 'inf')")
    p.add_argument("--delta", type=float, default=1e-5, help="δ (0 < δ < 1/n)")
    p.add_argument("--size", type=int, default=None, help="rows per class (classification) / total rows (survival); default 10 / 50")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the method and the evaluation")
    p.add_argument("--steps", type=int, default=None, help="DP-ZO steps T")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="KEY=VALUE", help="any other method parameter")
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import MODULE first: a user module that registers a method (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def default_model(task: str) -> str:
    return "decision_tree" if task == "classification" else "cox_ph"


def default_size(task: str) -> int:
    return 10 if task == "classification" else 50


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    if args.csv is not None or args.schema is not None:
        return run_condense_csv(args)
    dataset = load_dataset(args.dataset)
    METHODS.get(args.method)
    model = args.model or default_model(dataset.task)
    MODELS.get(model)
    eval_models = args.eval_model or [model]
    for em in [model, *eval_models]:
        check_eval_model(em, dataset.task)
    size = args.size if args.size is not None else default_size(dataset.task)
    if args.out.exists() and any(args.out.iterdir()):
        raise ValueError(f"--out {args.out} exists and is not empty; choose a new folder")
    params: dict[str, Any] = dict(args.param)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.method == "dpzo":
        params.setdefault("progress", not args.no_progress)
    result = condense(
        dataset_name=args.dataset,
        method=args.method,
        model=model,
        eval_models=eval_models,
        epsilon=args.epsilon,
        delta=args.delta,
        size=size,
        seed=args.seed,
        method_params=params,
    )
    write_outputs(args.out, result)
    m = result["metrics"]
    for em in eval_models:
        print(f"{em}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(m[em].items())))
    print(f"wrote {args.out}/synthetic.csv, ledger.json, metrics.json (ε spent {result['ledger'].total_epsilon:g})")
    return 0


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    """Write atomically: everything goes to a sibling temp folder, renamed when complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result["synthetic"].to_csv(tmp / "synthetic.csv", index=False, float_format="%.10g", lineterminator="\n")
        result["ledger"].to_json(tmp / "ledger.json")
        payload = {"metrics": result["metrics"], "wall_seconds": result["wall_seconds"], "config": result["config"]}
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n")
        for name, text in result.get("extra_files", {}).items():  # e.g. the custodian's report.md
            (tmp / name).write_text(text)
        if out.exists():
            out.rmdir()  # checked empty before any work
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else ("-inf" if obj < 0 else "nan")
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    return obj
