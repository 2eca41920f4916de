"""A data custodian's own CSV: read it, check it against its public schema, name every problem.

:func:`read_raw_csv` reads the file as text columns with checks that name the row, line or column
of every problem (encoding, delimiter, empty file, header only, duplicate or empty column names,
ragged lines); :func:`load_user_schema` reads a schema and names every numeric feature without
bounds; :func:`read_user_csv` combines both into a :class:`~dpcondense.data.Dataset` plus warnings
(e.g. the share of a column the schema's bounds clip).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

from dpcondense.data.dataset import DataValidationError, Dataset, from_frame
from dpcondense.data.schema import Schema, SchemaError

#: Delimiters tried when a header does not split into several columns.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: Warn when at least this share of a numeric column lies outside the schema bounds.
CLIP_WARN_FRACTION = 0.01
#: The ``public`` key that ``schema init --unsafe-data-bounds`` sets.
DATA_DERIVED_BOUNDS_KEY = "data_derived_bounds"
NOT_DP_REASON = "bounds derived from the data"


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


def csv_identity(csv_path: str | Path, schema_path: str | Path, *, key: bytes) -> str:
    """Keyed digest of the CSV's and the schema's bytes, for a CSV run's identity.

    HMAC-SHA256 under a key that stays on the custodian's machine: the same files give the same
    digest there (a re-launched run is skipped), but nobody without the key can test a candidate
    file against a logged identity (a plain hash of the file would be an exact membership test).
    """
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in (csv_path, schema_path):
        h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()


__all__ = [
    "CLIP_WARN_FRACTION",
    "DATA_DERIVED_BOUNDS_KEY",
    "DELIMITERS",
    "NOT_DP_REASON",
    "RawTable",
    "bound_warnings",
    "csv_identity",
    "data_derived_bounds",
    "load_user_schema",
    "read_raw_csv",
    "read_user_csv",
]
