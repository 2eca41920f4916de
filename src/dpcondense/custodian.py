"""For data custodians: condense your own CSV with a public schema, safely.

Three pieces, shared by ``dpcondense condense --csv``, ``dpcondense schema init`` and the Hydra
app's ``dataset=csv``:

- :func:`read_user_csv` reads a user's file with checks that name the row, line or column of
  every problem (encoding, delimiter, empty file, header only, duplicate or empty column names,
  ragged lines, columns entirely missing, a label with one class, survival times <= 0) and
  returns the dataset plus warnings (e.g. the share of a column the schema's bounds clip).
- :func:`condense_csv` runs the same split / condense / evaluate as the built-in path
  (:func:`dpcondense.pipeline.condense`) and, when the row count is not public, first buys a
  DP count of the training rows from the budget (:func:`dp_count`, recorded in the ledger) to
  serve as the method's public ``n``.
- :func:`draft_schema` writes a first schema from a CSV: types and categories inferred, numeric
  bounds left ``null`` for the user to fill from clinical knowledge (bounds taken from the data
  would leak; ``unsafe_data_bounds=True`` writes them and marks the schema so every run's ledger
  says "not DP").

Everything the custodian sees here (row counts, warnings, the report's held-out utility) stays
on their machine; the release is ``synthetic.csv`` and ``ledger.json``.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd
import yaml

from dpcondense.data import DataValidationError, Dataset, from_frame, train_test_split
from dpcondense.methods.base import WEIGHT_COLUMN
from dpcondense.privacy import (
    PrivacyLedger,
    PrivacyParameterError,
    gaussian_mechanism_sigma,
    parse_epsilon,
    split_budget,
)
from dpcondense.schema import Schema, SchemaError

#: Delimiters tried when a header does not split into several columns.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: Warn when at least this share of a numeric column lies outside the schema bounds.
CLIP_WARN_FRACTION = 0.01
#: Default share of ε spent on the DP count of the training rows when n is not public.
DEFAULT_COUNT_SHARE = 0.02
#: The ``public`` key that ``schema init --unsafe-data-bounds`` sets.
DATA_DERIVED_BOUNDS_KEY = "data_derived_bounds"
NOT_DP_REASON = "bounds derived from the data"

CountMechanism = Literal["laplace", "gaussian"]


def _delimiter_name(d: str) -> str:
    return "tab" if d == "\t" else repr(d)


def _delimiter_flag(d: str) -> str:
    return "$'\\t'" if d == "\t" else f"'{d}'"


# ---------------------------------------------------------------------------------------- reading


@dataclass
class RawTable:
    """A CSV read as text columns, with the file line of every data row (for messages)."""

    path: Path
    frame: pd.DataFrame
    delimiter: str
    encoding: str
    line_of_row: list[int] | None = None

    def where(self, row: int) -> str:
        """``row 3 (line 5)``: data rows count from 0 after the header; lines from 1."""
        if self.line_of_row is not None and 0 <= row < len(self.line_of_row):
            return f"row {row} (line {self.line_of_row[row]})"
        return f"row {row}"


def read_raw_csv(path: str | Path, *, delimiter: str | None = None, encoding: str | None = None) -> RawTable:
    """Read a CSV file with checks that name what is wrong and how to fix it.

    Raises
    ------
    DataValidationError
        File missing or empty; not decodable with ``encoding`` (default UTF-8, BOM allowed);
        a header that only splits with another delimiter; empty or duplicate column names; no
        data rows; a line with more fields than the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"CSV file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataValidationError(f"{path}: the file is empty (no header, no rows)")
    enc = encoding or "utf-8-sig"
    try:
        text = raw.decode(enc)
    except LookupError:
        raise DataValidationError(f"--encoding {encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            f"{path}: not readable as {encoding or 'UTF-8'}: byte 0x{raw[exc.start]:02x} on line {line} is invalid "
            f"in that encoding; pass --encoding with the file's encoding (e.g. --encoding latin-1 or cp1252)"
        ) from None
    lines = text.splitlines()
    header_index = next(i for i, ln in enumerate(lines) if ln.strip())
    header_line = lines[header_index]
    sep = delimiter or ","
    if len(sep) != 1:
        raise DataValidationError(f"--delimiter must be one character, got {sep!r}")
    header = [h.strip() for h in next(csv.reader([header_line], delimiter=sep))]
    if len(header) == 1:
        widths = {d: len(next(csv.reader([header_line], delimiter=d))) for d in DELIMITERS if d != sep}
        best = max(widths, key=widths.get) if widths else None
        if best is not None and widths[best] > 1:
            raise DataValidationError(
                f"{path}: the header is a single column when split on {_delimiter_name(sep)}; it looks like "
                f"{_delimiter_name(best)}-delimited; pass --delimiter {_delimiter_flag(best)} (then {widths[best]} columns)"
            )
    empty = [i + 1 for i, h in enumerate(header) if h == ""]
    if empty:
        raise DataValidationError(
            f"{path}: column(s) {empty} of the header have no name (a trailing {_delimiter_name(sep)}?); name or remove them"
        )
    seen: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        seen.setdefault(h, []).append(i + 1)
    dups = {h: cols for h, cols in seen.items() if len(cols) > 1}
    if dups:
        listed = "; ".join(f"{h!r} (columns {', '.join(map(str, c[:-1]))} and {c[-1]})" for h, c in dups.items())
        raise DataValidationError(f"{path}: duplicate column names: {listed}; every column needs a unique name")
    data_lines = [i + 1 for i in range(header_index + 1, len(lines)) if lines[i].strip()]
    if not data_lines:
        raise DataValidationError(f"{path}: the file has a header but no data rows")
    try:
        # all text: numbers are parsed later with Python's correctly rounded float()
        frame = pd.read_csv(io.StringIO(text), sep=sep, skip_blank_lines=True, dtype=object, keep_default_na=True)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise DataValidationError(
                f"{path}: line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)} "
                f"(check the delimiter {_delimiter_name(sep)} and the quoting of values that contain it)"
            ) from None
        raise DataValidationError(f"{path}: cannot parse the CSV: {exc}") from None
    frame.columns = header
    return RawTable(
        path=path,
        frame=frame,
        delimiter=sep,
        encoding=enc,
        line_of_row=data_lines if len(data_lines) == len(frame) else None,
    )


def load_user_schema(schema: str | Path | Schema | Mapping[str, Any]) -> Schema:
    """Read a schema, naming *every* numeric feature without bounds (and a missing horizon).

    Raises
    ------
    SchemaError
    """
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        spec, source = dict(schema), "schema"
    else:
        path = Path(schema)
        if not path.is_file():
            raise SchemaError(f"schema file not found: {path}")
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SchemaError(f"{path}: not valid YAML: {exc}") from None
        source = str(path)
        if not isinstance(spec, Mapping):
            raise SchemaError(f"{path}: a schema must be a YAML mapping")
    unbounded = [
        str(f.get("name"))
        for f in spec.get("features") or []
        if isinstance(f, Mapping) and f.get("type") == "numeric" and f.get("bounds") is None
    ]
    if unbounded:
        raise SchemaError(
            f"{source}: numeric feature(s) {unbounded} have no 'bounds': fill each with the plausible clinical "
            "range [low, high] in the column's unit (bounds taken from the data itself would leak private "
            "information; `dpcondense schema init --unsafe-data-bounds` writes them but every run is then not DP)"
        )
    outcome = spec.get("outcome")
    if spec.get("task") == "survival" and isinstance(outcome, Mapping) and outcome.get("horizon") is None:
        raise SchemaError(
            f"{source}: survival outcome needs 'horizon': the public follow-up horizon of the study, in the time "
            "column's unit (not the largest time in the data)"
        )
    return Schema.from_dict(spec, source=source)


def data_derived_bounds(schema: Schema) -> bool:
    """Whether the schema says its bounds were taken from the data (the run is then not DP)."""
    return bool(schema.public.get(DATA_DERIVED_BOUNDS_KEY, False))


def read_user_csv(
    path: str | Path,
    schema: str | Path | Schema,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> tuple[Dataset, list[str]]:
    """Read and validate a user's CSV against its schema.

    Parameters
    ----------
    path : CSV file (header row, one patient per line).
    schema : schema YAML path or :class:`Schema`.
    delimiter : one character, default ``,``.
    encoding : default UTF-8 (a byte-order mark is accepted).

    Returns
    -------
    dataset : Dataset
        ``n_public`` is set only if the schema declares ``public.n_rows`` equal to the row count.
    warnings : list of str
        One line per column whose values the schema's bounds clip (share >= 1 %), and when a
        declared ``public.n_rows`` does not match the file.

    Raises
    ------
    DataValidationError, SchemaError
        Each message names the file and the row (with its line), the column or the field.
    """
    schema = load_user_schema(schema)
    table = read_raw_csv(path, delimiter=delimiter, encoding=encoding)
    frame = table.frame
    src = str(table.path)
    expected = schema.feature_names + schema.target_columns
    absent = [c for c in expected if c not in frame.columns]
    if absent:
        raise DataValidationError(
            f"{src}: schema column(s) {absent} absent from the file, whose columns are {list(frame.columns)}"
        )
    n = len(frame)
    frame = frame.copy()
    numeric_cols = [f.name for f in schema.features if f.type != "categorical"]
    numeric_cols += [c for c in (schema.outcome.time, schema.outcome.event) if c is not None]
    for col in numeric_cols:
        frame[col] = _parse_numbers(frame[col], col, table)
    for col in frame.columns:
        if frame[col].isna().all():
            raise DataValidationError(
                f"{src}: column {col!r} is entirely missing (empty in all {n} rows); fill it or drop it from the file "
                "and the schema"
            )
    out = schema.outcome
    if schema.task == "survival":
        t = pd.to_numeric(frame[out.time], errors="coerce")
        bad = (t <= 0).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"{src}: survival time column {out.time!r} must be > 0; {table.where(row)} has {table.frame[out.time].iloc[row]!r} "
                f"({int(bad.sum())} row(s) <= 0 in all)"
            )
    try:
        dataset = from_frame(frame, schema, source=src)
    except DataValidationError as exc:
        # from_frame counts rows from 0; add the file line
        raise DataValidationError(re.sub(r"\brow (\d+)\b", lambda m: table.where(int(m.group(1))), str(exc))) from None
    _check_outcome(dataset, frame, src)
    warnings = bound_warnings(dataset, frame)
    declared = schema.public.get("n_rows")
    if declared is not None and int(declared) != n:
        warnings.append(
            f"the schema declares public.n_rows={declared} but the file has {n} data rows: the row count is "
            "treated as private"
        )
    return dataset, warnings


def _parse_numbers(col: pd.Series, name: str, table: RawTable) -> pd.Series:
    """Text to float with Python's correctly rounded parser (pandas' ``to_numeric`` is not).

    Unparsable text is kept, so validation reports it with its row; non-finite values raise.
    """
    values: list[Any] = []
    numeric = True
    for i, v in enumerate(col.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            values.append(np.nan)
            continue
        try:
            x = float(str(v).strip())
        except ValueError:
            values.append(v)
            numeric = False
            continue
        if not math.isfinite(x):
            raise DataValidationError(f"{table.path}: column {name!r} has the non-finite value {v!r} at {table.where(i)}")
        values.append(x)
    return pd.Series(values, index=col.index, dtype=float if numeric else object)


def _check_outcome(dataset: Dataset, frame: pd.DataFrame, src: str) -> None:
    out = dataset.schema.outcome
    n = dataset.n_rows
    if dataset.task == "classification":
        positives = int(dataset.y.sum())
        if positives in (0, n):
            seen = sorted({str(v) for v in frame[out.label].dropna()})
            which = f"positive value {out.positive!r}" if positives == n else f"no row has the positive value {out.positive!r}"
            raise DataValidationError(
                f"{src}: label column {out.label!r} has a single class ({which}; values seen: {seen}); "
                "a classifier needs both classes — check the column and the schema's outcome.positive"
            )
        if min(positives, n - positives) < 2:
            raise DataValidationError(
                f"{src}: label column {out.label!r} has only {min(positives, n - positives)} row of one class; the "
                "stratified train/test split needs at least 2 rows of each class"
            )
    else:
        events = int(dataset.event.sum())
        if events == 0:
            raise DataValidationError(f"{src}: event column {out.event!r} has no events (all rows are 0 = censored)")
        if min(events, n - events) < 2 and events != n:
            raise DataValidationError(
                f"{src}: event column {out.event!r} needs at least 2 events and 2 censored rows for the stratified split"
            )


def bound_warnings(dataset: Dataset, frame: pd.DataFrame | None = None) -> list[str]:
    """Per numeric column: the share of observed values outside the schema bounds (clipped)."""
    out = []
    for f in dataset.schema.features:
        if f.type != "numeric":
            continue
        x = dataset.features[f.name].to_numpy(dtype=float, na_value=np.nan)
        observed = ~np.isnan(x)
        if not observed.any():
            continue
        lo, hi = f.bounds  # type: ignore[misc]
        outside = observed & ((x < lo) | (x > hi))
        share = outside.sum() / observed.sum()
        if share >= CLIP_WARN_FRACTION:
            most = "most of its values" if share > 0.5 else "its values"
            unit = f" ({f.unit})" if f.unit else ""
            out.append(
                f"column {f.name!r}: {share:.1%} of {most} ({int(outside.sum())} of {int(observed.sum())}) lie outside "
                f"the schema bounds [{lo:g}, {hi:g}] and are clipped to them; check the bounds and the column's unit{unit}"
            )
    return out


def csv_identity(csv_path: str | Path, schema_path: str | Path) -> str:
    """SHA-256 of the CSV's and the schema's bytes: a CSV run's identity (for run hashes)."""
    h = hashlib.sha256()
    for p in (csv_path, schema_path):
        h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------- DP count


def dp_count(
    true_count: int,
    *,
    epsilon: float,
    delta: float = 0.0,
    mechanism: CountMechanism = "laplace",
    rng: np.random.Generator,
) -> tuple[int, dict[str, Any]]:
    """A differentially private count (sensitivity 1 under add/remove-one adjacency).

    Laplace noise of scale ``1/ε`` (pure ε-DP, ``delta`` unused) or Gaussian noise calibrated
    by the analytic Gaussian mechanism for (ε, δ). The noisy value is rounded and floored at 1
    (post-processing).

    Returns
    -------
    count : int
    details : dict
        ``mechanism``, ``noise_scale`` (Laplace b or Gaussian σ), ``sensitivity``,
        ``epsilon``, ``delta`` — what the ledger records.

    Raises
    ------
    PrivacyParameterError
    """
    eps = parse_epsilon(epsilon)
    if math.isinf(eps):
        raise PrivacyParameterError("dp_count needs a finite epsilon > 0")
    if mechanism == "laplace":
        scale = 1.0 / eps
        noisy = true_count + rng.laplace(0.0, scale)
        spent_delta = 0.0
    elif mechanism == "gaussian":
        scale = gaussian_mechanism_sigma(eps, delta, 1.0)
        noisy = true_count + rng.normal(0.0, scale)
        spent_delta = float(delta)
    else:
        raise PrivacyParameterError(f"mechanism must be 'laplace' or 'gaussian', got {mechanism!r}")
    details = {"mechanism": mechanism, "noise_scale": scale, "sensitivity": 1.0, "epsilon": eps, "delta": spent_delta}
    return max(1, int(round(noisy))), details


# ---------------------------------------------------------------------------------------- the run


def _accepts(method: str, name: str) -> bool:
    from dpcondense.methods import METHODS

    return name in inspect.signature(METHODS.get(method).__init__).parameters


def check_budget(epsilon: Any, delta: Any) -> tuple[float, float]:
    """ε > 0 (or inf) and 0 < δ < 1, with the flag names in the message."""
    try:
        eps = parse_epsilon(epsilon)
    except PrivacyParameterError as exc:
        raise PrivacyParameterError(f"--epsilon: {exc}") from None
    try:
        d = float(delta)
    except (TypeError, ValueError):
        raise PrivacyParameterError(f"--delta: delta={delta!r} must be a number in (0, 1)") from None
    if not 0.0 < d < 1.0:
        raise PrivacyParameterError(f"--delta: delta={delta!r} must satisfy 0 < delta < 1 (and delta < 1/n)")
    return eps, d


def condense_csv(
    csv_path: str | Path,
    schema: str | Path | Schema,
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
    eval_model_params: dict[str, dict[str, Any]] | None = None,
    audit_trials: int = 0,
) -> dict[str, Any]:
    """Condense a user's CSV: the built-in pipeline, plus a DP count when n is not public.

    The public training size the method needs is, in order: ``method_params["n_public"]`` or
    ``n_public`` (a configured public size), the schema's ``public.n_rows`` when it matches the
    file (then split sizes are public), else a DP count of the training rows bought with
    ``count_share`` of ε (:func:`dp_count`), the method running on the rest. A schema marked
    ``public.data_derived_bounds`` makes the ledger say "not DP".

    Returns
    -------
    dict
        :func:`dpcondense.pipeline.condense`'s result with the combined ``ledger``, plus
        ``warnings``, ``dcr`` (median distances of released rows to training / held-out rows),
        ``audit`` (or None), ``report`` (Markdown, local) and ``extra_files``
        (``{"report.md": ...}``, written by the atomic writer).

    Raises
    ------
    DataValidationError, SchemaError, PrivacyParameterError, ValueError
        Before any work, with the message naming the column, row, flag or field.
    """
    from dpcondense.commands.condense import default_model, default_size
    from dpcondense.evaluate import check_eval_model
    from dpcondense.methods import METHODS
    from dpcondense.models import MODELS
    from dpcondense.pipeline import condense

    eps, delta = check_budget(epsilon, delta)
    if not 0.0 < float(count_share) < 1.0:
        raise PrivacyParameterError(f"count_share={count_share!r} must be in (0, 1)")
    METHODS.get(method)
    schema = load_user_schema(schema)
    dataset, warnings = read_user_csv(csv_path, schema, delimiter=delimiter, encoding=encoding)
    model = model or default_model(dataset.task)
    MODELS.get(model)
    eval_models = list(eval_models or [model])
    for em in [model, *eval_models]:
        check_eval_model(em, dataset.task)
    size = default_size(dataset.task) if size is None else int(size)
    train, test = train_test_split(dataset, seed=seed)  # the split condense() repeats, for the checks
    n_train = train.n_rows
    n_synthetic = 2 * size if dataset.task == "classification" else size
    if size < 1 or n_synthetic > n_train:
        unit = f"2 classes × --size {size}" if dataset.task == "classification" else f"--size {size}"
        raise ValueError(
            f"requested {n_synthetic} synthetic rows ({unit}) but the training split has only {n_train} real rows; "
            "choose a smaller --size"
        )
    if not delta < 1.0 / n_train:
        raise PrivacyParameterError(f"--delta: delta={delta:g} must be < 1/n = {1.0 / n_train:.3g} (n = {n_train} training rows)")

    params = dict(method_params or {})
    if n_public is not None and params.get("n_public") is None:  # a method config may carry n_public: null
        params["n_public"] = int(n_public)
    public_n = params.get("n_public", train.n_public)
    count_entry: dict[str, Any] | None = None
    eps_method, delta_method = eps, delta
    if public_n is None and _accepts(method, "n_public"):
        if math.isinf(eps):
            params["n_public"] = n_train  # non-private run: nothing to protect
        else:
            parts = split_budget(eps, delta, {"dp_count": count_share, "condensation": 1.0 - count_share})
            eps_count, delta_count = parts["dp_count"]
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xC0047]))
            noisy, details = dp_count(n_train, epsilon=eps_count, delta=delta_count, mechanism=count_mechanism, rng=rng)
            params["n_public"] = noisy
            eps_method = parts["condensation"][0]
            delta_method = delta - details["delta"]
            count_entry = {"count": noisy, **details}

    result = condense(
        dataset=dataset,
        method=method,
        model=model,
        eval_models=eval_models,
        epsilon=eps_method,
        delta=delta_method,
        size=size,
        seed=seed,
        method_params=params,
        references=references,
        eval_model_params=eval_model_params,
    )
    ledger = result["ledger"]
    if count_entry is not None:
        ledger = _prepend_count(ledger, eps, delta, count_entry)
    if data_derived_bounds(schema):
        ledger.mark_not_dp(NOT_DP_REASON)
    result["ledger"] = ledger
    result["config"].update(
        {"dataset": schema.name, "csv": str(csv_path), "epsilon": eps, "delta": delta, "n_public": params.get("n_public", train.n_public)}
    )
    result["warnings"] = warnings
    result["dcr"] = release_dcr(result["estimator"].synthetic_encoded_.X, train, test, seed=seed)
    result["audit"] = None
    if audit_trials:
        from dpcondense.audit import run_audit

        result["audit"] = run_audit(
            method=method, dataset=dataset, epsilon=eps, delta=delta, trials=int(audit_trials), model=model,
            size=min(size, 5), seed=seed,
        ).to_dict()
    result["report"] = render_report(result, schema=schema, n_train=n_train, n_test=test.n_rows, count_entry=count_entry)
    result["extra_files"] = {"report.md": result["report"]}
    return result


def _prepend_count(method_ledger: PrivacyLedger, epsilon: float, delta: float, count: Mapping[str, Any]) -> PrivacyLedger:
    """One ledger for the run: the DP count first, then every entry of the method's ledger."""
    ledger = PrivacyLedger(epsilon, delta, n_public=int(count["count"]))
    ledger.spend(
        "dp_count",
        mechanism=count["mechanism"],
        epsilon=count["epsilon"],
        delta=count["delta"],
        sensitivity=count["sensitivity"],
        noise_scale=count["noise_scale"],
        released_count=int(count["count"]),
        counted="training rows (the method's public n)",
    )
    for e in method_ledger.entries:
        ledger.spend(
            e.purpose,
            mechanism=e.mechanism,
            epsilon=e.epsilon,
            delta=e.delta,
            noise_multiplier=e.noise_multiplier,
            sampling_rate=e.sampling_rate,
            steps=e.steps,
            accountant=e.accountant,
            sensitivity=e.sensitivity,
            **e.extra,
        )
    for reason in method_ledger.not_dp_reasons:
        ledger.mark_not_dp(reason)
    return ledger


def release_dcr(X_release: np.ndarray, train: Dataset, test: Dataset, *, seed: int) -> dict[str, float]:
    """Median distance (model space) of released rows to training rows and to held-out rows.

    The training rows are subsampled (seeded) to the held-out size, so both medians compare
    sets of the same size.
    """
    from dpcondense.audit import distance_to_closest

    X_train, X_test = train.encoded(), test.encoded()
    if len(X_train) > len(X_test):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xDC7]))
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
    result: Mapping[str, Any], *, schema: Schema, n_train: int, n_test: int, count_entry: Mapping[str, Any] | None
) -> str:
    """The custodian's Markdown report (local: it holds utility on their held-out rows)."""
    ledger: PrivacyLedger = result["ledger"]
    cfg = result["config"]
    lines = [
        f"# dpcondense release report: {schema.name}",
        "",
        "> **Local file — do not share.** The release is `synthetic.csv` and `ledger.json`. This report and",
        "> `metrics.json` describe your own held-out patients and stay with you.",
        "",
        "## Release",
        "",
        f"- `synthetic.csv`: {len(result['synthetic'])} synthetic rows with your column names and units."
        + (f" Soft labels: each of the {len(result['synthetic']) // 2} synthetic points appears once per class, and the "
           f"`{WEIGHT_COLUMN}` column is its label probability — pass it as `sample_weight` when you train a model."
           if WEIGHT_COLUMN in result["synthetic"].columns else ""),
        "- `ledger.json`: every use of the private rows and its privacy cost.",
        "",
        "## Privacy",
        "",
        f"- Guarantee: **{ledger.label}**",
        f"- ε spent {_fmt(ledger.total_epsilon)} of {_fmt(ledger.target_epsilon)}; δ spent {_fmt(ledger.total_delta)} "
        f"of {_fmt(ledger.target_delta)} (basic composition across entries).",
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
    lines += [
        "",
        "Noise and sampling are seeded by `--seed` (reproducible benchmark runs); for a real release use a seed "
        "nobody else knows.",
        "",
        "## Utility on your held-out split (local only)",
        "",
        f"{n_train} training rows, {n_test} held-out rows (25 %, stratified, seed {cfg['seed']}). Each model is "
        "trained on the release and scored on the held-out rows; `full_data` and `random_subset` (real rows, "
        "not private) are the references.",
        "",
    ]
    metrics = result["metrics"]
    for em in cfg["eval_models"]:
        names = sorted(metrics[em])
        header = ["metric", "synthetic"] + [r for r in ("full_data", "random_subset") if r in metrics]
        lines += [f"**{em}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for k in names:
            row = [k, _fmt(metrics[em][k])] + [_fmt(metrics[r][em].get(k)) for r in ("full_data", "random_subset") if r in metrics]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    dcr = result.get("dcr")
    if dcr:
        lines += [
            "## Distance to closest record (model space)",
            "",
            f"Median distance of a released row to the nearest training row: {_fmt(dcr['dcr_train_median'])}; to the "
            f"nearest held-out row: {_fmt(dcr['dcr_test_median'])} ({dcr['reference_rows']} rows each). A release "
            "much closer to training rows than to held-out rows would be copying patients.",
            "",
        ]
    audit = result.get("audit")
    if audit:
        lines += [
            "## Privacy audit (canary membership inference)",
            "",
            f"{audit['trials']} runs on {audit['audit_rows']} of your training rows, a canary in half of them: "
            f"empirical lower bound ε ≥ {_fmt(audit['epsilon_lower_bound'])} against the claimed "
            f"{_fmt(audit['epsilon_claimed'])} (the most these trials could certify: "
            f"{_fmt(audit['max_certifiable_epsilon'])}). TPR {_fmt(audit['tpr'])}, FPR {_fmt(audit['fpr'])} on "
            f"{audit['evaluation_trials']} evaluation runs. The audit is a local diagnostic on your rows, not part "
            "of the release (see `dpcondense audit --help`).",
            "",
        ]
    if result.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in result["warnings"]] + [""]
    lines += [
        "## Settings",
        "",
        "```json",
        json.dumps(_plain(cfg), indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    return obj


# ---------------------------------------------------------------------------------------- CLI glue


def add_csv_arguments(parser: Any) -> None:
    """The ``condense --csv`` options (``--csv`` itself is in the source group)."""
    parser.add_argument("--schema", type=Path, default=None, help="schema YAML of --csv (see `dpcondense schema init`)")
    parser.add_argument("--delimiter", default=None, help="--csv field delimiter (default ',')")
    parser.add_argument("--encoding", default=None, help="--csv text encoding (default UTF-8)")
    parser.add_argument(
        "--n-public", type=int, default=None,
        help="--csv: public size of the training split used as the method's n (default: the schema's public.n_rows, "
        "else a DP count bought from the budget)",
    )
    parser.add_argument(
        "--count-share", type=float, default=DEFAULT_COUNT_SHARE,
        help=f"--csv: share of ε spent on the DP row count when n is not public (default {DEFAULT_COUNT_SHARE})",
    )
    parser.add_argument("--audit-trials", type=int, default=0, help="--csv: also run a canary audit with this many runs (0 = none)")


def run_condense_csv(args: Any) -> int:
    """``dpcondense condense --csv``: checks, condense, then one atomic write of the outputs."""
    import sys

    from dpcondense.commands.condense import write_outputs

    if args.csv is None:
        raise ValueError("--schema goes with --csv (a built-in --dataset carries its own schema)")
    if args.schema is None:
        raise ValueError("--csv needs --schema SCHEMA.yaml (draft one with `dpcondense schema init DATA.csv`)")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ValueError(f"--out {args.out} exists and is not an empty folder; choose a new folder")
    params: dict[str, Any] = dict(args.param)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.method == "dpzo":
        params.setdefault("progress", not args.no_progress)
    result = condense_csv(
        args.csv,
        args.schema,
        method=args.method,
        model=args.model,
        eval_models=args.eval_model,
        epsilon=args.epsilon,
        delta=args.delta,
        size=args.size,
        seed=args.seed,
        method_params=params,
        n_public=args.n_public,
        count_share=args.count_share,
        delimiter=args.delimiter,
        encoding=args.encoding,
        audit_trials=args.audit_trials,
    )
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    write_outputs(args.out, result)
    ledger = result["ledger"]
    for em in result["config"]["eval_models"]:
        print(f"{em}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(result["metrics"][em].items())))
    print(f"wrote {args.out}/synthetic.csv, ledger.json (release); report.md, metrics.json (local) — {ledger.label}")
    return 0


# ---------------------------------------------------------------------------------------- schema init


@dataclass
class SchemaDraft:
    """A drafted schema: YAML text with review comments, and notes for the terminal."""

    text: str
    notes: list[str] = field(default_factory=list)


_POSITIVE_WORDS = ("1", "yes", "y", "true", "positive", "pos", "dead", "died", "death", "event", "case", "malignant")
MANY_CATEGORIES = 30


def _scalar(v: Any) -> str:
    """A YAML scalar (JSON strings and numbers are valid YAML)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        fv = float(v)
        return str(int(fv)) if fv.is_integer() and abs(fv) < 1e15 else repr(fv)
    return json.dumps(str(v), ensure_ascii=False)


def _as_numbers(col: pd.Series) -> pd.Series | None:
    """The column as floats (Python's parser), or None if any observed value is not a finite number."""
    out = []
    for v in col.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
            continue
        try:
            x = float(str(v).strip())
        except ValueError:
            return None
        if not math.isfinite(x):
            return None
        out.append(x)
    return pd.Series(out, index=col.index, dtype=float)


def draft_schema(
    table: RawTable,
    *,
    name: str | None = None,
    label: str | None = None,
    time: str | None = None,
    event: str | None = None,
    unsafe_data_bounds: bool = False,
) -> SchemaDraft:
    """Draft a schema from a CSV: types and categories inferred, numeric bounds left for the user.

    Parameters
    ----------
    table : RawTable
        From :func:`read_raw_csv`.
    label : str, optional
        Classification target column. Else ``time`` and ``event`` (survival); with none of them
        the last column is taken as the label (a note says so).
    unsafe_data_bounds : bool
        Write each numeric column's min/max as its bounds (and a survival horizon from the data)
        and set ``public: {data_derived_bounds: true}``: every run with it is then labelled not DP.

    Raises
    ------
    DataValidationError
        Unknown outcome columns, an entirely missing column, a label that is not binary.
    """
    frame = table.frame
    src = str(table.path)
    cols = list(frame.columns)
    notes: list[str] = []
    for col in cols:
        if frame[col].isna().all():
            raise DataValidationError(f"{src}: column {col!r} is entirely missing; drop it before drafting a schema")
    if (time is None) != (event is None):
        raise DataValidationError("survival needs both --time and --event")
    if label is not None and time is not None:
        raise DataValidationError("choose --label (classification) or --time/--event (survival), not both")
    if label is None and time is None:
        label = cols[-1]
        notes.append(f"outcome: took the last column {label!r} as the classification label (choose with --label, or --time/--event)")
    for c in [label, time, event]:
        if c is not None and c not in cols:
            raise DataValidationError(f"{src}: outcome column {c!r} is not in the file; columns: {cols}")
    task = "classification" if label is not None else "survival"
    outcome_cols = [label] if label is not None else [time, event]

    header = [
        f"# Draft schema for {table.path.name}, written by `dpcondense schema init`.",
        "# REVIEW EVERY LINE. A schema is public metadata: write only what is known without looking at",
        "# the rows (clinical knowledge, the study protocol, the data dictionary).",
    ]
    if unsafe_data_bounds:
        header += [
            "# WARNING: the numeric bounds (and any horizon) below were TAKEN FROM THE DATA (--unsafe-data-bounds).",
            "# They leak private values (e.g. the most extreme patient's), so every run with this schema is",
            "# labelled NOT differentially private in its ledger. Replace them with clinical bounds and delete",
            f"# the `{DATA_DERIVED_BOUNDS_KEY}` line to get a DP release.",
        ]
    else:
        header += [
            "# Numeric bounds are null on purpose: fill each with the plausible clinical range [low, high]",
            "# in the column's unit. Do NOT copy the data's min/max: bounds taken from the data leak",
            "# private information and void the DP guarantee. A run refuses null bounds.",
        ]
    body = [f"name: {_scalar(name or table.path.stem)}", f"task: {task}"]
    if unsafe_data_bounds:
        body += ["public:", f"  {DATA_DERIVED_BOUNDS_KEY}: true   # bounds below come from the data: runs are NOT DP"]
    else:
        body += ["# public: {n_rows: N}   # only if the number of rows is itself public; else a DP count is bought"]
    body.append("features:")
    for col in cols:
        if col in outcome_cols:
            continue
        body += _draft_feature(col, frame[col], unsafe_data_bounds, notes)
    body.append("outcome:")
    if task == "classification":
        values = frame[label].dropna()
        uniq = list(dict.fromkeys(values))
        nums = _as_numbers(frame[label])
        if nums is not None:
            uniq = sorted(set(nums.dropna()))
        if len(uniq) < 2:
            raise DataValidationError(f"{src}: label column {label!r} has a single class ({uniq}); a classifier needs two")
        if len(uniq) > 2:
            raise DataValidationError(
                f"{src}: label column {label!r} has {len(uniq)} distinct values; dpcondense handles binary outcomes — "
                "recode it to two values first"
            )
        text = {v: str(v).strip().lower() for v in uniq}
        positive = next((v for v in uniq if text[v] in _POSITIVE_WORDS or (nums is not None and float(v) == 1.0)), None)
        if positive is None:
            counts = (nums if nums is not None else values).value_counts()
            positive = counts.idxmin()
            notes.append(f"outcome: took the rarer value {positive!r} of {label!r} as the positive class (check it)")
        negative = next(v for v in uniq if v != positive)
        body += [f"  label: {_scalar(label)}", f"  positive: {_scalar(positive)}", f"  negative: {_scalar(negative)}"]
    else:
        t = _as_numbers(frame[time])
        if t is None:
            raise DataValidationError(f"{src}: survival time column {time!r} has non-numeric values")
        e = _as_numbers(frame[event])
        if e is None or not set(e.dropna()) <= {0.0, 1.0}:
            notes.append(f"outcome: event column {event!r} must hold 0/1 (1 = event); recode it before a run")
        body += [f"  time: {_scalar(time)}", f"  event: {_scalar(event)}"]
        if unsafe_data_bounds:
            body.append(f"  horizon: {_scalar(float(t.max()))}   # FROM THE DATA (unsafe)")
        else:
            body.append("  horizon: null   # TODO: the study's public follow-up horizon, in the time unit (not the data's max)")
        body.append("  grid_size: 50   # public time grid: evenly spaced on (0, horizon]")
    return SchemaDraft(text="\n".join(header + body) + "\n", notes=notes)


def _draft_feature(col: str, values: pd.Series, unsafe: bool, notes: list[str]) -> list[str]:
    lines = [f"  - name: {_scalar(col)}"]
    has_missing = bool(values.isna().any())
    nums = _as_numbers(values)
    if nums is not None:
        observed = nums.dropna()
        if set(observed) <= {0.0, 1.0}:
            lines.append("    type: binary")
        else:
            lines.append("    type: numeric")
            if unsafe:
                lo, hi = float(observed.min()), float(observed.max())
                if lo == hi:
                    lo, hi = lo - 0.5, hi + 0.5
                lines.append(f"    bounds: [{_scalar(lo)}, {_scalar(hi)}]   # FROM THE DATA (unsafe): replace with clinical bounds")
            else:
                lines.append("    bounds: null   # TODO: [low, high] from clinical knowledge, not the data's min/max")
            if (observed == observed.round()).all():
                lines.append("    integer: true")
            lines.append("    # unit: ...")
            if has_missing:
                lines.append("    missing: {indicator: true}   # has missing values; or {fill: <public normal value>}")
            return lines
    else:
        cats = sorted({str(v).strip() for v in values.dropna()})
        lines.append("    type: categorical")
        lines.append(
            "    categories: [" + ", ".join(_scalar(c) for c in cats) + "]   # review: list every possible category, "
            "not only those seen"
        )
        if len(cats) > MANY_CATEGORIES:
            notes.append(f"column {col!r} has {len(cats)} categories: an identifier or free text? drop it")
    if has_missing:
        lines.append("    missing: {indicator: true}   # has missing values")
    return lines


__all__ = [
    "CLIP_WARN_FRACTION",
    "DEFAULT_COUNT_SHARE",
    "RawTable",
    "SchemaDraft",
    "bound_warnings",
    "check_budget",
    "condense_csv",
    "csv_identity",
    "data_derived_bounds",
    "dp_count",
    "draft_schema",
    "load_user_schema",
    "read_raw_csv",
    "read_user_csv",
    "release_dcr",
    "render_report",
]
