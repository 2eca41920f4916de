"""For data custodians: condense your own CSV with a public schema, safely.

The release workflow of ``dpcondense condense --csv`` and of :func:`condense_csv`: the run goes
through the one orchestration path (:func:`dpcondense.benchmark.resolve_run` →
:func:`dpcondense.benchmark.run_one`, which reads the file with :mod:`dpcondense.data.csv` and
buys a DP row count when n is not public), then this module adds what only the custodian sees: the
distance of released rows to real rows, an optional canary audit, and the local ``report.md``.
Reading a CSV lives in :mod:`dpcondense.data.csv`, drafting a schema in
:mod:`dpcondense.data.schema_draft`.

Everything the custodian sees here (row counts, warnings, the report's held-out utility) stays
on their machine; the release is ``synthetic.csv`` and ``ledger.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dpcondense.benchmark import RunResult, RunSpec, resolve_run, run_one
from dpcondense.benchmark.runner import local_check
from dpcondense.benchmark.runner import DEFAULT_COUNT_SHARE
from dpcondense.conventions import derived_rng, to_jsonable
from dpcondense.data import Dataset
from dpcondense.methods.base import WEIGHT_COLUMN
from dpcondense.models.defaults import family_params
from dpcondense.privacy.audit import distance_to_closest, run_audit
from dpcondense.privacy.counts import CountMechanism

#: the stream of the seeded subsample of training rows the distance check compares against
_DCR_STREAM = 0xDC7


def csv_run_config(
    csv_path: str | Path,
    schema_path: str | Path,
    *,
    method: str = "dpzo",
    model: str | None = None,
    eval_models: list[str] | None = None,
    epsilon: float = 1.0,
    delta: float = 1e-5,
    size: int | None = None,
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    n_public: int | None = None,
    count_share: float = DEFAULT_COUNT_SHARE,
    count_mechanism: CountMechanism = "laplace",
    delimiter: str | None = None,
    encoding: str | None = None,
    references: bool = True,
) -> dict[str, Any]:
    """The run configuration of a custodian's release (what ``dataset=csv`` composes in the Hydra app)."""
    dataset = {
        "name": "csv", "path": str(csv_path), "schema": str(schema_path), "delimiter": delimiter, "encoding": encoding,
        "n_public": n_public, "count_share": count_share, "count_mechanism": count_mechanism,
    }
    return {
        "dataset": dataset,
        "model": None if model is None else {"name": model, "params": family_params(model)},
        "eval_model": eval_models,
        "method": {"name": method, "params": dict(method_params or {})},
        "privacy": {"epsilon": epsilon, "delta": delta, "noise": "secure"},
        "size": size,
        "seed": seed,
        "references": references,
        "progress": False,
    }


def condense_csv(csv_path: str | Path, schema_path: str | Path, *, audit_trials: int = 0, **options: Any) -> CustodianRelease:
    """Condense a custodian's CSV into a DP release of every row, plus a local report.

    ``options`` are those of :func:`csv_run_config` (method, model, epsilon, delta, size, seed,
    method_params, n_public, count_share, ...). The release is made from every row of the file
    with noise from the operating system's CSPRNG (add/remove-one-row DP on the file). The public
    size the method needs is, in order: ``method_params["n_public"]`` or ``n_public`` (a
    configured public size), the schema's ``public.n_rows`` (used as a constant, never compared
    with the file), else a DP count of the rows bought with ``count_share`` of ε. A schema marked
    ``public.data_derived_bounds`` makes the ledger say "not DP". Held-out utility comes from a
    separate local run (:func:`~dpcondense.benchmark.runner.local_check`).

    Returns
    -------
    CustodianRelease
        ``result`` (the release: ``result.synthetic``, ``result.ledger``), ``check`` (the local
        held-out run) and ``report`` (Markdown, local).

    Raises
    ------
    RunConfigError, PrivacyParameterError, DataValidationError
        Before any work, with the message naming the key, column, row or field.
    """
    return release(resolve_run(csv_run_config(csv_path, schema_path, **options)), audit_trials=audit_trials)


@dataclass
class CustodianRelease:
    """A custodian's run: the release (leaves the machine) and what stays local."""

    #: the DP release made from every row of the file: ``synthetic`` + ``ledger``
    result: RunResult
    #: the local held-out check (a separate run on a keyed-hash part of the file; never released)
    check: RunResult
    #: the local Markdown report
    report: str

    def local_files(self) -> dict[str, str]:
        """What stays with the custodian: the report and the held-out metrics."""
        payload = {"metrics": self.check.metrics, "config": self.check.config}
        return {"report.md": self.report, "metrics.json": json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n"}


def release(spec: RunSpec, *, audit_trials: int = 0) -> CustodianRelease:
    """Release a custodian's file (``spec.csv`` set) and render the local report."""
    if spec.csv is None:
        raise ValueError("release() is the workflow of a custodian's CSV: the spec has no dataset=csv")
    result = run_one(spec)
    check = local_check(spec)
    dcr = release_dcr(check.estimator.synthetic_encoded_.X, check.train, check.test, seed=spec.seed)
    audit = None
    if audit_trials:
        audit = run_audit(
            method=spec.method, dataset=result.dataset, epsilon=spec.epsilon, delta=spec.delta,
            trials=int(audit_trials), model=spec.model, size=min(spec.size, 5), seed=spec.seed, progress=spec.progress,
        ).to_dict()
    return CustodianRelease(result, check, render_report(result, check, dcr=dcr, audit=audit))


def release_dcr(X_release: np.ndarray, train: Dataset, test: Dataset, *, seed: int) -> dict[str, float]:
    """Median distance (model space) of released rows to training rows and to held-out rows.

    The training rows are subsampled (seeded) to the held-out size, so both medians compare
    sets of the same size.
    """

    X_train, X_test = train.encoded(), test.encoded()
    if len(X_train) > len(X_test):
        rng = derived_rng(seed, _DCR_STREAM)
        X_train = X_train[np.sort(rng.choice(len(X_train), len(X_test), replace=False))]
    return {
        "dcr_train_median": float(np.median(distance_to_closest(X_release, X_train))),
        "dcr_test_median": float(np.median(distance_to_closest(X_release, X_test))),
        "reference_rows": int(len(X_test)),
    }


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return "inf" if math.isinf(x) else f"{x:.4g}"
    return str(x)


def render_report(
    result: RunResult, check: RunResult, *, dcr: Mapping[str, Any] | None = None, audit: Mapping[str, Any] | None = None
) -> str:
    """The custodian's Markdown report (local: it holds utility on their held-out rows)."""
    lines = _release_section(result) + _privacy_section(result) + _utility_section(check)
    if dcr:
        lines += [
            "## Distance to closest record (model space)",
            "",
            f"Median distance of a released row to the nearest training row: {_fmt(dcr['dcr_train_median'])}; to the "
            f"nearest held-out row: {_fmt(dcr['dcr_test_median'])} ({dcr['reference_rows']} rows each). A release "
            "much closer to training rows than to held-out rows would be copying patients.",
            "",
        ]
    if audit:
        lines += [
            "## Privacy audit (canary membership inference)",
            "",
            f"{audit['trials']} runs on {audit['audit_rows']} of your rows, a canary in half of them: "
            f"empirical lower bound ε ≥ {_fmt(audit['epsilon_lower_bound'])} against the claimed "
            f"{_fmt(audit['epsilon_claimed'])} (the most these trials could certify: "
            f"{_fmt(audit['max_certifiable_epsilon'])}). TPR {_fmt(audit['tpr'])}, FPR {_fmt(audit['fpr'])} on "
            f"{audit['evaluation_trials']} evaluation runs."
            + (f" White-box checks of the steps: {'pass' if audit['whitebox']['passed'] else 'FAIL'}." if audit.get("whitebox") else "")
            + " The audit is a local diagnostic on your rows, not part of the release (see `dpcondense audit --help`).",
            "",
        ]
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in result.warnings] + [""]
    lines += ["## Settings", "", "```json", json.dumps(to_jsonable(result.config), indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _release_section(result: RunResult) -> list[str]:
    synthetic = result.synthetic
    soft = (
        f" Soft labels: each of the {len(synthetic) // 2} synthetic points appears once per class, and the "
        f"`{WEIGHT_COLUMN}` column is its label probability — pass it as `sample_weight` when you train a model."
        if WEIGHT_COLUMN in synthetic.columns else ""
    )
    return [
        f"# dpcondense release report: {result.dataset.schema.name}",
        "",
        "> **Local file — do not share.** The release is the folder `release/` (`synthetic.csv`, `ledger.json`,",
        "> `manifest.json`). This report and `metrics.json` describe your own patients and stay with you.",
        "",
        "## Release",
        "",
        f"- `synthetic.csv`: {len(synthetic)} synthetic rows with your column names and units." + soft,
        "- `ledger.json`: every use of the private rows and its privacy cost.",
        "",
    ]


def _privacy_section(result: RunResult) -> list[str]:
    ledger, count_entry = result.ledger, result.count
    lines = [
        "## Privacy",
        "",
        f"- Guarantee: **{ledger.label}**",
        f"- ε spent {_fmt(ledger.total_epsilon)} of {_fmt(ledger.target_epsilon)}; δ spent {_fmt(ledger.total_delta)} "
        f"of {_fmt(ledger.target_delta)} ({'joint (PLD)' if ledger.composition == 'pld' else 'basic'} composition across entries).",
    ]
    if ledger.not_dp_reasons:
        lines.append(f"- **Not differentially private**: {'; '.join(ledger.not_dp_reasons)}.")
    lines += ["", "| purpose | mechanism | ε | δ | details |", "|---|---|---|---|---|"]
    for e in ledger.entries:
        details = {
            k: v
            for k, v in {
                "noise multiplier": e.noise_multiplier,
                "sampling rate": e.sampling_rate,
                "steps": e.steps,
                "accountant": e.accountant,
                "sensitivity": e.sensitivity,
                **{k: v for k, v in e.extra.items() if k in ("noise_scale", "released_count", "directions", "clip")},
            }.items()
            if v is not None
        }
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in details.items())
        lines.append(f"| {e.purpose} | {e.mechanism} | {_fmt(e.epsilon)} | {_fmt(e.delta)} | {text} |")
    if count_entry is not None:
        lines += [
            "",
            f"The number of rows was not declared public, so {_fmt(count_entry['epsilon'])} of ε bought a "
            f"{count_entry['mechanism']} count of the training rows ({count_entry['count']}); the method used it as its "
            "public n. Declare `public.n_rows` in the schema (if the cohort size is public) or pass `--n-public` to "
            "keep that budget for condensation.",
        ]
    return lines + [
        "",
        "The release is made from every row of your file; the guarantee is for adding or removing one row "
        "(one patient). Its noise and sampling come from the operating system's CSPRNG and are never recorded: "
        "`--seed` drives only public randomness (directions, the starting rows, model seeds).",
        "",
    ]


def _utility_section(result: RunResult) -> list[str]:
    cfg, metrics = result.config, result.metrics
    lines = [
        "## Utility on held-out rows (local only)",
        "",
        f"A separate local check, not the release: the same method condensed {result.train.n_rows} rows of your file "
        f"(chosen by a keyed hash of each row, about 75 %) with fresh noise, and each model trained on that release is "
        f"scored on the other {result.test.n_rows} rows; `full_data` and `random_subset` (real rows, not private) are "
        "the references.",
        "",
    ]
    references = [r for r in ("full_data", "random_subset") if r in metrics]
    for em in cfg["eval_models"]:
        header = ["metric", "synthetic"] + references
        lines += [f"**{em}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for k in sorted(metrics[em]):
            row = [k, _fmt(metrics[em][k])] + [_fmt(metrics[r][em].get(k)) for r in references]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines
