"""Datasets: raw frames validated against a public schema, splits, and bring-your-own CSV."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split as _sk_split

from dpcondense.data._fast import csv_lines, keyed_draws
from dpcondense.data.encoder import Encoder
from dpcondense.data.schema import Feature, Schema
from dpcondense.data.values import category_key, did_you_mean, plain, show, show_list, value_order


class DataValidationError(ValueError):
    """Rows or columns that do not match the public schema (the message names them)."""


class ChecksumMismatchError(ValueError):
    """A loaded table whose canonical content differs from the recorded checksum."""


@dataclass(eq=False)
class Dataset:
    """A validated dataset: raw features plus the outcome, and its public schema.

    Attributes
    ----------
    schema : Schema
    features : DataFrame
        Raw units, one column per schema feature, in schema order.
    y : ndarray of int, shape (n,) or None
        Classification label (1 = the schema's positive class).
    time, event : ndarray or None
        Survival outcome: ``time`` float64 > 0, ``event`` int 0/1.
    """

    schema: Schema
    features: pd.DataFrame
    y: np.ndarray | None = None
    time: np.ndarray | None = None
    event: np.ndarray | None = None
    #: row count when it is public (declared by the dataset card, or derived from a public count
    #: by a deterministic split); None means n itself is private
    n_public: int | None = None

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def n_rows(self) -> int:
        return len(self.features)

    def encoder(self) -> Encoder:
        return Encoder(self.schema)

    def encoded(self) -> np.ndarray:
        """Model-space features (schema-only transform)."""
        return Encoder(self.schema).transform(self.features)

    def subset(self, index: np.ndarray) -> "Dataset":
        index = np.asarray(index)
        return Dataset(
            schema=self.schema,
            features=self.features.iloc[index].reset_index(drop=True),
            y=None if self.y is None else self.y[index],
            time=None if self.time is None else self.time[index],
            event=None if self.event is None else self.event[index],
        )

    def outcome_frame(self) -> pd.DataFrame:
        """The outcome columns in raw form (label values as the schema declares them)."""
        out = self.schema.outcome
        if self.task == "classification":
            return pd.DataFrame({out.label: np.where(self.y == 1, out.positive, out.negative)})
        return pd.DataFrame({out.time: self.time, out.event: self.event})

    def strata(self) -> np.ndarray:
        """Label (classification) or event indicator (survival): what splits stratify on."""
        return self.y if self.task == "classification" else self.event  # type: ignore[return-value]

    def to_frame(self) -> pd.DataFrame:
        """Raw features plus outcome columns named as in the schema."""
        return pd.concat([self.features, self.outcome_frame()], axis=1)

    def checksum(self) -> str:
        """SHA-256 of the canonical content (schema column order, fixed float formatting)."""
        return frame_checksum(self.to_frame())


def frame_checksum(frame: pd.DataFrame) -> str:
    text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    return hashlib.sha256(text.encode()).hexdigest()


def from_frame(frame: pd.DataFrame, schema: Schema, *, source: str = "data") -> Dataset:
    """Validate a raw frame against ``schema`` and build a :class:`Dataset`.

    Raises
    ------
    DataValidationError
        Naming the column (and a row) for: columns absent from the schema or from the data,
        category values not in the schema, non-numeric values in numeric or binary columns,
        binary values other than 0/1, label values other than the declared ones, survival
        times missing or ≤ 0, event values outside {0, 1}, missing values with no declared policy.
    """
    _check_columns(frame, schema, source)
    features = pd.DataFrame({f.name: _feature_column(frame[f.name], f, source) for f in schema.features}).reset_index(drop=True)
    n_public = _public_n(schema, len(frame))
    if schema.task == "classification":
        y = _label(frame, schema, source)
        return Dataset(schema=schema, features=features, y=y, n_public=n_public)
    time, event = _survival_outcome(frame, schema, source)
    return Dataset(schema=schema, features=features, time=time, event=event, n_public=n_public)


def _allowed_labels(schema: Schema) -> str:
    out = schema.outcome
    if out.negative_declared:
        return f"outcome.positive {show(out.positive)} and outcome.negative {show(out.negative)}"
    return f"outcome.positive {show(out.positive)} and one other value (outcome.negative is not declared)"


def _label(frame: pd.DataFrame, schema: Schema, source: str) -> np.ndarray:
    """Class 1 where the label equals ``positive``; a value that is neither class is an error."""
    out = schema.outcome
    lab = frame[out.label]
    if lab.isna().any():
        row = int(np.flatnonzero(lab.isna().to_numpy())[0])
        raise DataValidationError(
            f"{source}: label column {out.label!r} is missing at row {row}; every row needs a label "
            f"(allowed: {_allowed_labels(schema)})"
        )
    keys = [_key(v) for v in lab]
    distinct = {k: plain(v) for k, v in sorted(zip(keys, lab), key=lambda kv: value_order(kv[1]))}
    positive, negative = _key(out.positive), _key(out.negative)
    seen = show_list(distinct.values())
    if out.negative_declared:
        unexpected = [v for k, v in distinct.items() if k not in (positive, negative)]
        if unexpected:
            raise DataValidationError(
                f"{source}: label column {out.label!r} has the values {seen}: {show_list(unexpected)} "
                f"{'is' if len(unexpected) == 1 else 'are'} neither outcome.positive {show(out.positive)} nor "
                f"outcome.negative {show(out.negative)}; recode the column to these two values"
            )
    else:
        # with no declared negative, two other values would silently merge into class 0
        others = [v for k, v in distinct.items() if k != positive]
        if len(others) > 1:
            raise DataValidationError(
                f"{source}: label column {out.label!r} has the values {seen}, but the schema allows outcome.positive "
                f"{show(out.positive)} and one other value (outcome.negative is not declared): {show_list(others)} "
                "would merge into one class; recode the column to two values (and declare outcome.negative)"
            )
    return np.array([k == positive for k in keys], dtype=np.int64)


def _check_columns(frame: pd.DataFrame, schema: Schema, source: str) -> None:
    if frame.columns.duplicated().any():
        dups = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataValidationError(f"{source}: duplicate column names {dups}")
    expected = schema.feature_names + schema.target_columns
    absent = [c for c in expected if c not in frame.columns]
    if absent:
        hint = did_you_mean(absent[0], [c for c in frame.columns if c not in expected])
        raise DataValidationError(f"{source}: schema column(s) absent from the data: {absent}{hint}")
    extra = [c for c in frame.columns if c not in expected]
    if extra:
        raise DataValidationError(
            f"{source}: data column(s) absent from the schema: {extra} (declare them or drop them)"
        )


def _first(mask: pd.Series | np.ndarray) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _feature_column(col: pd.Series, f: Feature, source: str) -> pd.Series:
    """One validated feature column: floats for numeric/binary, schema categories (objects) otherwise."""
    missing = col.isna()
    if missing.any() and f.missing.fill is None and not f.missing.indicator:
        raise DataValidationError(
            f"{source}: column {f.name!r} has missing values (first at row {_first(missing)}) but the schema "
            "declares no missing policy (missing: {fill: VALUE} and/or {indicator: true})"
        )
    if f.type in ("numeric", "binary"):
        return _number_column(col, missing, f, source)
    cats = list(f.categories or ())
    lookup = {_key(c): c for c in cats}
    vals = []
    for i, v in enumerate(col.to_numpy(dtype=object)):
        if missing.iloc[i]:
            vals.append(None)
            continue
        k = _key(v)
        if k not in lookup:
            raise DataValidationError(
                f"{source}: column {f.name!r} has category {show(v)} (row {i}) not in the schema; allowed: {cats}"
            )
        vals.append(lookup[k])
    return pd.Series(vals, dtype=object, index=col.index)


def _number_column(col: pd.Series, missing: pd.Series, f: Feature, source: str) -> pd.Series:
    allowed = "allowed: 0, 1" if f.type == "binary" else f"allowed: numbers in [{show(f.bounds[0])}, {show(f.bounds[1])}]"  # type: ignore[index]
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna() & ~missing
    if bad.any():
        row = _first(bad)
        raise DataValidationError(
            f"{source}: non-numeric value {show(col.iloc[row])} in {f.type} column {f.name!r} (row {row}); {allowed}"
            + _decimal_comma_hint(col.iloc[row])
        )
    infinite = ~missing & ~np.isfinite(num.astype(float))
    if infinite.any():
        row = _first(infinite)
        raise DataValidationError(f"{source}: column {f.name!r} has the non-finite value {show(col.iloc[row])} (row {row}); {allowed}")
    if f.type == "binary":
        badb = ~num.isin([0, 1]) & ~missing
        if badb.any():
            row = _first(badb)
            raise DataValidationError(
                f"{source}: binary column {f.name!r} has value {show(plain(col.iloc[row]))} (row {row}); {allowed}"
            )
    return num.astype(float)


def _decimal_comma_hint(v: Any) -> str:
    text = str(v).strip()
    if text.count(",") == 1 and text.replace(",", "", 1).replace("-", "", 1).isdigit():
        return " (a decimal comma or a thousands separator? write plain numbers with a decimal point: 1.5, 1000)"
    return ""


def _survival_outcome(frame: pd.DataFrame, schema: Schema, source: str) -> tuple[np.ndarray, np.ndarray]:
    out = schema.outcome
    raw_t = frame[out.time]
    if raw_t.isna().any():
        raise DataValidationError(
            f"{source}: survival time column {out.time!r} is missing at row {_first(raw_t.isna())}; every row needs a time > 0"
        )
    t = pd.to_numeric(raw_t, errors="coerce")
    if t.isna().any() or not np.isfinite(t.astype(float)).all():
        row = _first(t.isna() | ~np.isfinite(t.astype(float)))
        raise DataValidationError(
            f"{source}: survival time column {out.time!r} has the non-numeric value {show(raw_t.iloc[row])} at row {row}; "
            "allowed: numbers > 0 (in the time unit)"
        )
    if (t <= 0).any():
        row = _first(t <= 0)
        raise DataValidationError(
            f"{source}: survival time column {out.time!r} must be > 0; row {row} has {show(t.iloc[row])}"
        )
    raw_e = frame[out.event]
    if raw_e.isna().any():
        raise DataValidationError(
            f"{source}: event column {out.event!r} is missing at row {_first(raw_e.isna())}; allowed: 0 (censored), 1 (event)"
        )
    e = pd.to_numeric(raw_e, errors="coerce")
    bad = ~e.isin([0, 1])
    if bad.any():
        row = _first(bad)
        raise DataValidationError(
            f"{source}: event column {out.event!r} must be 0 or 1; row {row} has {show(plain(raw_e.iloc[row]))} "
            "(allowed: 0 = censored, 1 = event)"
        )
    return t.to_numpy(dtype=np.float64), e.to_numpy().astype(np.int64)


def _public_n(schema: Schema, n: int) -> int | None:
    """n is public only when the card declares exactly this count (a modified table is not covered)."""
    declared = schema.public.get("n_rows")
    return n if declared is not None and int(declared) == n else None


#: canonical text of a category value (1, 1.0 and "1" match)
_key = category_key


def load_csv(path: str | Path, schema: str | Path | Schema, **read_csv_kwargs: Any) -> Dataset:
    """Load a user's CSV as a dataset described by a schema YAML (the documented format).

    Parameters
    ----------
    path : path to the CSV file.
    schema : path to the schema YAML, or a :class:`Schema`.

    Raises
    ------
    DataValidationError, SchemaError
    """
    path = Path(path)
    if not isinstance(schema, Schema):
        schema = Schema.from_yaml(schema)
    if not path.is_file():
        raise DataValidationError(f"CSV file not found: {path}")
    frame = pd.read_csv(path, **read_csv_kwargs)
    return from_frame(frame, schema, source=str(path))


def train_test_split(dataset: Dataset, *, seed: int, test_size: float = 0.25) -> tuple[Dataset, Dataset]:
    """Seeded split stratified by label (classification) or event (survival).

    The same ``seed`` gives the same split on any machine (scikit-learn's splitter driven by a
    fixed integer seed over the stored row order).
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    idx = np.arange(dataset.n_rows)
    tr, te = _sk_split(idx, test_size=test_size, random_state=int(seed), stratify=dataset.strata())
    train, test = dataset.subset(np.sort(tr)), dataset.subset(np.sort(te))
    if dataset.n_public is not None:
        # split sizes are a deterministic function of the public n and test_size
        train.n_public, test.n_public = train.n_rows, test.n_rows
    return train, test


def keyed_split(dataset: Dataset, *, key: bytes, test_size: float = 0.25) -> tuple[Dataset, Dataset]:
    """Split by a keyed hash of each row's content: removing one row moves no other row.

    A row goes to the test part when ``HMAC-SHA256(key, row)`` read as a number in [0, 1) is
    below ``test_size``, so every row's side depends on that row alone (a seeded shuffle would
    move others when the table changes). Identical rows fall on the same side. Neither part has a
    public size (it depends on the data).
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    frame = dataset.to_frame()
    lines = csv_lines(frame, "%.17g")  # to_csv's lines, built column-wise (None: a column type it leaves to pandas)
    if lines is None:
        lines = frame.to_csv(index=False, header=False, float_format="%.17g", lineterminator="\n").splitlines()
    draws = keyed_draws(key, lines)
    test = draws < test_size
    train_part, test_part = dataset.subset(np.flatnonzero(~test)), dataset.subset(np.flatnonzero(test))
    train_part.n_public = test_part.n_public = None
    return train_part, test_part
