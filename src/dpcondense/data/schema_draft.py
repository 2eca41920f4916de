"""``dpcondense schema init``: draft a first public schema from a custodian's CSV.

Types and categories are inferred; numeric bounds are left ``null`` for the user to fill from
clinical knowledge (bounds taken from the data would leak; ``unsafe_data_bounds=True`` writes them
and marks the schema so every run's ledger says "not DP").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dpcondense.data.csv import DATA_DERIVED_BOUNDS_KEY, RawTable
from dpcondense.data.dataset import DataValidationError
from dpcondense.data.values import MAX_LISTED, plain, show, show_list, value_order


@dataclass
class SchemaDraft:
    """A drafted schema: YAML text with review comments, and notes for the terminal."""

    text: str
    notes: list[str] = field(default_factory=list)


_POSITIVE_WORDS = ("1", "yes", "y", "true", "positive", "pos", "dead", "died", "death", "event", "case", "malignant")
#: more distinct text values than this are not listed as categories (an identifier or free text?)
MANY_CATEGORIES = 30
#: the mark on every drafted line that was read from the private rows (to confirm before use)
FROM_DATA = "FROM THE DATA (private until reviewed)"


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


def _scan_numbers(col: pd.Series) -> tuple[pd.Series, list[int]]:
    """The column as floats (Python's parser; NaN where missing or not a number) and the rows whose
    observed cell is not a finite number."""
    out, bad = [], []
    for i, v in enumerate(col.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
            continue
        try:
            x = float(str(v).strip())
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            bad.append(i)
            x = math.nan
        out.append(x)
    return pd.Series(out, index=col.index, dtype=float), bad


def _as_numbers(col: pd.Series) -> pd.Series | None:
    """The column as floats (Python's parser), or None if any observed value is not a finite number."""
    nums, bad = _scan_numbers(col)
    return None if bad else nums


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
        From :func:`dpcondense.data.csv.read_raw_csv`.
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
    label = _resolve_outcome(cols, src, label, time, event, notes)
    task = "classification" if label is not None else "survival"
    outcome_cols = [label] if label is not None else [time, event]

    header = _draft_header(table, unsafe_data_bounds)
    body = [f"name: {_scalar(name or table.path.stem)}", f"task: {task}"]
    if unsafe_data_bounds:
        body += ["public:", f"  {DATA_DERIVED_BOUNDS_KEY}: true   # bounds below come from the data: runs are NOT DP"]
    else:
        body += ["# public: {n_rows: N}   # only if the number of rows is itself public; else a DP count is bought"]
    body.append("features:")
    for col in cols:
        if col in outcome_cols:
            continue
        body += _draft_feature(col, frame[col], unsafe_data_bounds, notes, table)
    body.append("outcome:")
    if task == "classification":
        body += _draft_label(table, label, notes)  # type: ignore[arg-type]
    else:
        body += _draft_survival(table, time, event, unsafe_data_bounds, notes)  # type: ignore[arg-type]
    return SchemaDraft(text="\n".join(header + body) + "\n", notes=notes)


def _resolve_outcome(
    cols: list[str], src: str, label: str | None, time: str | None, event: str | None, notes: list[str]
) -> str | None:
    """Check the outcome flags; the label column (the last column when no outcome is given), or None for survival."""
    if (time is None) != (event is None):
        raise DataValidationError("survival needs both --time and --event")
    if label is not None and time is not None:
        raise DataValidationError("choose --label (classification) or --time/--event (survival), not both")
    if time is not None and time == event:
        raise DataValidationError(f"--time and --event name the same column {time!r}; the event column holds 0/1")
    if label is None and time is None:
        label = cols[-1]
        notes.append(f"outcome: took the last column {label!r} as the classification label (choose with --label, or --time/--event)")
    for c in [label, time, event]:
        if c is not None and c not in cols:
            raise DataValidationError(f"{src}: outcome column {c!r} is not in the file; columns: {cols}")
    return label


def _draft_header(table: RawTable, unsafe_data_bounds: bool) -> list[str]:
    """The review comments at the top of a drafted schema."""
    header = [
        f"# Draft schema for {table.path.name}, written by `dpcondense schema init`.",
        "# REVIEW EVERY LINE. A schema is public metadata: write only what is known without looking at",
        "# the rows (clinical knowledge, the study protocol, the data dictionary).",
        f"# Lines marked {FROM_DATA} were read from your rows (categories seen, integer-valued columns,",
        "# columns with missing values): they are private until you confirm each from public knowledge",
        "# (e.g. one patient's rare category code would be published). Confirm, correct or delete them.",
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
    return header


def _draft_label(table: RawTable, label: str, notes: list[str]) -> list[str]:
    """The ``outcome`` lines of a binary classification label, choosing its positive value."""
    frame, src = table.frame, str(table.path)
    values = frame[label].dropna()
    uniq = list(dict.fromkeys(values))
    nums = _as_numbers(frame[label])
    if nums is not None:
        uniq = sorted(set(nums.dropna()))
    if len(uniq) < 2:
        raise DataValidationError(
            f"{src}: label column {label!r} has a single class ({show_list(map(plain, uniq))}); a classifier needs two"
        )
    if len(uniq) > 2:
        listed = f" {show_list(sorted(map(plain, uniq), key=value_order))}" if len(uniq) <= MAX_LISTED else ""
        raise DataValidationError(
            f"{src}: label column {label!r} has {len(uniq)} distinct values{listed}; dpcondense handles binary outcomes — "
            "recode it to two values first (or choose the label with --label)"
        )
    if values.size < len(frame):
        row = int(np.flatnonzero(frame[label].isna().to_numpy())[0])
        notes.append(f"outcome: label column {label!r} has missing cells (first at {table.where(row)}): a run refuses them")
    text = {v: str(v).strip().lower() for v in uniq}
    positive = next((v for v in uniq if text[v] in _POSITIVE_WORDS or (nums is not None and float(v) == 1.0)), None)
    if positive is None:
        counts = (nums if nums is not None else values).value_counts()
        positive = counts.idxmin()
        notes.append(f"outcome: took the rarer value {show(positive)} of {label!r} as the positive class (check it)")
    negative = next(v for v in uniq if v != positive)
    return [f"  label: {_scalar(label)}", f"  positive: {_scalar(positive)}", f"  negative: {_scalar(negative)}"]


def _draft_survival(table: RawTable, time: str, event: str, unsafe_data_bounds: bool, notes: list[str]) -> list[str]:
    """The ``outcome`` lines of a survival outcome (time, event, horizon, grid)."""
    frame, src = table.frame, str(table.path)
    t, bad = _scan_numbers(frame[time])
    if bad:
        raise DataValidationError(
            f"{src}: survival time column {time!r} has a cell that is not a number at {table.where(bad[0])}; "
            "times must be numbers > 0"
        )
    if (t <= 0).any():
        first = int(np.flatnonzero((t <= 0).to_numpy())[0])
        notes.append(f"outcome: time column {time!r} must be > 0; recode it before a run (first other value at {table.where(first)})")
    e, _ = _scan_numbers(frame[event])
    not_binary = frame[event].notna() & ~e.isin([0.0, 1.0])
    if not_binary.any():
        notes.append(
            f"outcome: event column {event!r} must hold 0/1 (1 = event); recode it before a run "
            f"(first other value at {table.where(int(np.flatnonzero(not_binary.to_numpy())[0]))})"
        )
    lines = [f"  time: {_scalar(time)}", f"  event: {_scalar(event)}"]
    if unsafe_data_bounds:
        lines.append(f"  horizon: {_scalar(float(t.max()))}   # FROM THE DATA (unsafe)")
    else:
        lines.append("  horizon: null   # TODO: the study's public follow-up horizon, in the time unit (not the data's max)")
    lines.append("  grid_size: 50   # public time grid: evenly spaced on (0, horizon]")
    return lines


def _draft_feature(col: str, values: pd.Series, unsafe: bool, notes: list[str], table: RawTable) -> list[str]:
    lines = [f"  - name: {_scalar(col)}"]
    has_missing = bool(values.isna().any())
    nums, bad = _scan_numbers(values)
    observed = nums.dropna()
    if len(observed) > len(bad):
        if bad:
            # mostly numbers: a typo never turns the column into a public list of its values
            notes.append(
                f"column {col!r} is drafted as numeric, but {len(bad)} of its cells {'is not a number' if len(bad) == 1 else 'are not numbers'} (the first at "
                f"{table.where(bad[0])}): correct them, or blank them if they mark missing values, before a run "
                "(or make the column categorical if it is one)"
            )
        return lines + _numeric_lines(observed, unsafe, has_missing)
    cats = sorted({str(v).strip() for v in values.dropna()})
    lines.append("    type: categorical")
    if len(cats) > MANY_CATEGORIES:
        lines.append(
            f"    categories: null   # TODO: {len(cats)} distinct values (not listed: they would publish private "
            "values); an identifier or free text? drop it, else list the possible categories from the data dictionary"
        )
        notes.append(
            f"column {col!r} has {len(cats)} distinct text values: an identifier or free text? drop it; its categories "
            "are left null"
        )
    else:
        lines.append(
            "    categories: [" + ", ".join(_scalar(c) for c in cats) + f"]   # {FROM_DATA}: list every possible "
            "category from the data dictionary, not the ones seen"
        )
    if has_missing:
        lines.append(f"    missing: {{indicator: true}}   # {FROM_DATA}: has missing values")
    return lines


def _numeric_lines(observed: pd.Series, unsafe: bool, has_missing: bool) -> list[str]:
    """The lines of a binary or numeric feature (bounds null unless ``unsafe``)."""
    if set(observed) <= {0.0, 1.0}:
        lines = ["    type: binary"]
        if has_missing:
            lines.append(f"    missing: {{indicator: true}}   # {FROM_DATA}: has missing values")
        return lines
    lines = ["    type: numeric"]
    if unsafe:
        lo, hi = float(observed.min()), float(observed.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        lines.append(f"    bounds: [{_scalar(lo)}, {_scalar(hi)}]   # FROM THE DATA (unsafe): replace with clinical bounds")
    else:
        lines.append("    bounds: null   # TODO: [low, high] from clinical knowledge, not the data's min/max")
    if (observed == observed.round()).all():
        lines.append(f"    integer: true   # {FROM_DATA}: confirm the column is integer by definition")
    lines.append("    # unit: ...")
    if has_missing:
        lines.append(f"    missing: {{indicator: true}}   # {FROM_DATA}: has missing values; or {{fill: <public normal value>}}")
    return lines


__all__ = ["FROM_DATA", "MANY_CATEGORIES", "SchemaDraft", "draft_schema"]
