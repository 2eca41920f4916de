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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from dpcondense.data import _fast
from dpcondense.data.dataset import DataValidationError, Dataset, from_frame
from dpcondense.data.schema import Schema, SchemaError, read_yaml
from dpcondense.data.values import did_you_mean, plain, show, show_list, value_order

#: Delimiters tried when a header does not split into several columns.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: Cells pandas reads as missing by default (its documented ``na_values``); a schema category
#: spelled like one of them (e.g. smoking ``None``) is read as text in that column.
NA_MARKERS = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
     "NULL", "NaN", "None", "n/a", "nan", "null"]
)
#: Column names a release adds itself (the per-row training weights): a custodian's column may not use them.
RESERVED_COLUMNS = ("sample_weight",)
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
    #: the decoded file, to re-read a column whose values look like missing-value markers
    text: str | None = None

    def where(self, row: int) -> str:
        """``row 3 (line 5)``: data rows count from 0 after the header; lines from 1."""
        if self.line_of_row is not None and 0 <= row < len(self.line_of_row):
            return f"row {row} (line {self.line_of_row[row]})"
        return f"row {row}"

    def literal_column(self, name: str) -> pd.Series:
        """Column ``name`` with only empty cells missing (``NA``, ``None``, … kept as text)."""
        if self.text is None:
            return self.frame[name]
        position = list(self.frame.columns).index(name)
        col = pd.read_csv(
            io.StringIO(self.text), sep=self.delimiter, skip_blank_lines=True, dtype=object, keep_default_na=False,
            na_values=[""], usecols=[position],
        ).iloc[:, 0]
        col.index = self.frame.index
        col.name = name
        return col


def read_raw_csv(path: str | Path, *, delimiter: str | None = None, encoding: str | None = None) -> RawTable:
    """Read a CSV file with checks that name what is wrong and how to fix it.

    Raises
    ------
    DataValidationError
        File missing or empty; not a text file; not decodable with ``encoding`` (default UTF-8,
        BOM allowed); a header that only splits with another delimiter; empty or duplicate column
        names; no data rows; a line with more or fewer fields than the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"CSV file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataValidationError(f"{path}: the file is empty (no header, no rows)")
    text, enc = _decode(path, raw, encoding)
    lines = text.splitlines()
    header_index = next(i for i, ln in enumerate(lines) if ln.strip())
    sep = delimiter or ","
    if len(sep) != 1:
        raise DataValidationError(f"--delimiter must be one character, got {sep!r}")
    header = _header(path, lines[header_index], sep)
    data_lines = [i + 1 for i in range(header_index + 1, len(lines)) if lines[i].strip()]
    if not data_lines:
        raise DataValidationError(f"{path}: the file has a header but no data rows")
    _check_records(path, text, sep, len(header))
    try:
        # all text: numbers are parsed later with Python's correctly rounded float()
        frame = pd.read_csv(io.StringIO(text), sep=sep, skip_blank_lines=True, dtype=object, keep_default_na=True)
    except pd.errors.ParserError as exc:
        raise DataValidationError(f"{path}: cannot parse the CSV: {str(exc).strip()}") from None
    frame.columns = header
    return RawTable(
        path=path,
        frame=frame,
        delimiter=sep,
        encoding=enc,
        line_of_row=data_lines if len(data_lines) == len(frame) else None,
        text=text,
    )


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """The file's text (a UTF-8 byte-order mark dropped) and the encoding used."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and not (encoding or "").lower().startswith("utf-16"):
        raise DataValidationError(f"{path}: the file is UTF-16 text (byte-order mark); pass --encoding utf-16 or save it as UTF-8")
    if b"\x00" in raw and not (encoding or "").lower().startswith(("utf-16", "utf-32")):
        raise DataValidationError(
            f"{path}: the file holds NUL bytes: not a text CSV (a spreadsheet such as .xlsx?); export it as CSV (UTF-8)"
        )
    enc = encoding or "utf-8-sig"
    # a byte-order mark is never part of the first column's name
    codec = "utf-8-sig" if enc.lower().replace("_", "-") in ("utf-8", "utf8") else enc
    try:
        text = raw.decode(codec)
    except LookupError:
        raise DataValidationError(f"--encoding {encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            f"{path}: not readable as {encoding or 'UTF-8'}: byte 0x{raw[exc.start]:02x} on line {line} is invalid "
            f"in that encoding; pass --encoding with the file's encoding (e.g. --encoding latin-1 or cp1252)"
        ) from None
    return text.lstrip("\ufeff"), enc


def _header(path: Path, header_line: str, sep: str) -> list[str]:
    """The column names: one per field, non-empty and unique (the delimiter checked on the way)."""
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
    return header


def _check_records(path: Path, text: str, sep: str, width: int) -> None:
    """Every data line has as many fields as the header (pandas pads short lines with missing values
    and, when every line has one field more, silently takes the first column as the row index)."""
    if _fast.records_have_width(text, sep, width):
        return
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=sep, strict=True)
    records: list[tuple[list[str], int]] = []
    try:
        for fields in reader:
            records.append((fields, reader.line_num))
    except csv.Error as exc:
        start = records[-1][1] + 1 if records else 1
        raise DataValidationError(
            f"{path}: line {start}: bad quoting ({exc}); a quote \" must open and close a whole value, e.g. \"a, b\""
        ) from None
    body = [(f, n) for f, n in records if not (len(f) == 0 or (len(f) == 1 and not f[0].strip()))][1:]
    for fields, line in body:
        if len(fields) == width:
            continue
        if len(fields) > width:
            if len(fields) == width + 1 and not fields[-1].strip():
                why = f"a trailing {_delimiter_name(sep)}? remove it"
            else:
                why = f"check the delimiter {_delimiter_name(sep)} and the quoting of values that contain it"
            raise DataValidationError(f"{path}: line {line} has {len(fields)} fields but the header has {width} ({why})")
        other = next((d for d in DELIMITERS if d != sep and len(next(csv.reader([sep.join(fields)], delimiter=d))) == width), None)
        hint = (
            f": it splits into {width} fields on {_delimiter_name(other)}; use one delimiter in the whole file"
            if other is not None
            else f"; write an empty field for a missing value (e.g. 1{sep}{sep}3)"
        )
        raise DataValidationError(f"{path}: line {line} has {len(fields)} field(s) but the header has {width}{hint}")


def load_user_schema(schema: str | Path | Schema | Mapping[str, Any]) -> Schema:
    """Read a schema, naming *every* numeric feature without bounds (and a missing horizon).

    Raises
    ------
    SchemaError
        One line naming the file, the field and what it allows.
    """
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, Mapping):
        spec, source = dict(schema), "schema"
    else:
        path = Path(schema)
        spec, source = read_yaml(path), str(path)
    features = spec.get("features")
    unbounded = [
        str(f.get("name"))
        for f in (features if isinstance(features, list) else [])
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
    parsed = Schema.from_dict(spec, source=source)
    reserved = [c for c in parsed.feature_names + parsed.target_columns if c in RESERVED_COLUMNS]
    if reserved:
        raise SchemaError(
            f"{source}: column name {reserved[0]!r} is reserved for the release's per-row weights; rename the column "
            "(in the file and the schema)"
        )
    return parsed


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
        Each message names the file and the row (with its line), the column or the field: besides
        the file's structure and each cell's type, a label value that is neither declared class,
        a single class, and survival times outside ``[min_time, horizon]`` (counted, not located).
    """
    schema = load_user_schema(schema)
    if not Path(path).is_file():
        return _read_user_csv(path, schema, delimiter, encoding)
    key = _READS.key(path, Path(path).read_bytes(), schema, delimiter=delimiter, encoding=encoding)
    dataset, warnings = _READS.get_or_read(key, lambda: _read_user_csv(path, schema, delimiter, encoding))
    return replace(dataset, schema=schema), warnings


#: the last file read (a run reads it up to three times): see :class:`dpcondense.data._fast.ReadCache`
_READS = _fast.ReadCache()


def _read_user_csv(path: str | Path, schema: Schema, delimiter: str | None, encoding: str | None) -> tuple[Dataset, list[str]]:
    """:func:`read_user_csv` without the cache."""
    table = read_raw_csv(path, delimiter=delimiter, encoding=encoding)
    frame = table.frame
    src = str(table.path)
    expected = schema.feature_names + schema.target_columns
    absent = [c for c in expected if c not in frame.columns]
    if absent:
        hint = did_you_mean(absent[0], [c for c in frame.columns if c not in expected])
        raise DataValidationError(
            f"{src}: schema column(s) {absent} absent from the file{hint}, whose columns are {list(frame.columns)}"
        )
    n = len(frame)
    frame = frame.copy()
    for f in schema.features:
        if f.type == "categorical" and any(isinstance(c, str) and c in NA_MARKERS for c in f.categories or ()):
            frame[f.name] = table.literal_column(f.name)
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
    fast = _fast.parse_floats(col.to_numpy(dtype=object))
    if fast is not None:
        parsed, missing = fast
        bad = np.flatnonzero(~missing & ~np.isfinite(parsed))
        if len(bad):
            i = int(bad[0])
            raise DataValidationError(
                f"{table.path}: column {name!r} has the non-finite value {col.iloc[i]!r} at {table.where(i)}; allowed: finite numbers"
            )
        return pd.Series(parsed, index=col.index, dtype=float)
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
            raise DataValidationError(
                f"{table.path}: column {name!r} has the non-finite value {v!r} at {table.where(i)}; allowed: finite numbers"
            )
        values.append(x)
    return pd.Series(values, index=col.index, dtype=float if numeric else object)


def _check_outcome(dataset: Dataset, frame: pd.DataFrame, src: str) -> None:
    """Both classes (or events and censored rows) present, and every time on the schema's public scale."""
    out = dataset.schema.outcome
    n = dataset.n_rows
    if dataset.task == "classification":
        positives = int(dataset.y.sum())
        if positives in (0, n):
            seen = show_list(sorted({plain(v) for v in frame[out.label].dropna()}, key=value_order))
            which = "every row has" if positives == n else "no row has"
            raise DataValidationError(
                f"{src}: label column {out.label!r} has a single class ({which} the positive value {show(out.positive)}; "
                f"values seen: {seen}); a classifier needs both classes — check the column and the schema's outcome.positive"
            )
        if min(positives, n - positives) < 2:
            raise DataValidationError(
                f"{src}: label column {out.label!r} has only {min(positives, n - positives)} row of one class; the "
                "stratified train/test split needs at least 2 rows of each class"
            )
        return
    events = int(dataset.event.sum())
    if events == 0:
        raise DataValidationError(f"{src}: event column {out.event!r} has no events (all rows are 0 = censored)")
    if min(events, n - events) < 2 and events != n:
        raise DataValidationError(
            f"{src}: event column {out.event!r} needs at least 2 events and 2 censored rows for the stratified split"
        )
    _check_time_range(dataset, src)


def _check_time_range(dataset: Dataset, src: str) -> None:
    """Times outside [min_time, horizon] would be clipped to the public scale: say how many, not which."""
    out = dataset.schema.outcome
    unit = f" {out.time_unit}" if out.time_unit else ""
    time = np.asarray(dataset.time, dtype=float)
    beyond = int((time > out.horizon).sum())
    if beyond:
        every = beyond == len(time)
        count = "every time lies" if every else ("1 time lies" if beyond == 1 else f"{beyond} times lie")
        why = f" (a unit mismatch? the horizon is in{unit or ' the unit of the time column'})" if every else ""
        raise DataValidationError(
            f"{src}: survival time column {out.time!r}: {count} beyond the schema's outcome.horizon {show(out.horizon)}{unit}"
            f"{why}; times must lie in (0, horizon]: raise the horizon to the study's public follow-up, or censor "
            f"those rows at the horizon (time = {show(out.horizon)}, event = 0)"
        )
    if out.min_time is not None:
        below = int((time < out.min_time).sum())
        if below:
            count = "1 time lies" if below == 1 else f"{below} times lie"
            raise DataValidationError(
                f"{src}: survival time column {out.time!r}: {count} below the schema's outcome.min_time "
                f"{show(out.min_time)}{unit}; set them to the min_time or lower it"
            )


def _percent(k: int, m: int) -> str:
    """``12.5%``; never ``100.0%`` unless all (nor ``0.0%`` unless none)."""
    p = 100.0 * k / m
    if k < m and p >= 99.95:
        return ">99.9%"
    if 0 < k and p < 0.05:
        return "<0.1%"
    return f"{p:.1f}%"


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
        k, m = int(outside.sum()), int(observed.sum())
        if k / m >= CLIP_WARN_FRACTION:
            which = f"all {m} of its values" if k == m else f"{_percent(k, m)} of its values ({k} of {m})"
            unit = f" ({f.unit})" if f.unit else ""
            out.append(
                f"column {f.name!r}: {which} lie outside the schema bounds [{show(lo)}, {show(hi)}] and are clipped to "
                f"them; check the bounds and the column's unit{unit}"
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
    "NA_MARKERS",
    "NOT_DP_REASON",
    "RESERVED_COLUMNS",
    "RawTable",
    "bound_warnings",
    "csv_identity",
    "data_derived_bounds",
    "load_user_schema",
    "read_raw_csv",
    "read_user_csv",
]
