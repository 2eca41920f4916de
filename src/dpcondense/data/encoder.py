"""Schema-only encoder between raw clinical units and the model space.

Numeric features are clipped to their public bounds and scaled to [-1, 1]; binary features stay
0/1; categorical features are one-hot; a declared missing indicator adds a 0/1 column. The
encoder is a pure function of the :class:`~dpcondense.data.schema.Schema`: it has no ``fit`` on data,
so no statistic of the private rows can enter it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpcondense.data.schema import Feature, Schema


class Encoder:
    """Map raw feature frames to model-space arrays and back, using the public schema only.

    Parameters
    ----------
    schema : Schema
        The dataset's public schema.

    Attributes
    ----------
    feature_names_out_ : list of str
        Model-space column names.
    lower_, upper_ : ndarray
        The public domain of each model-space column (projection target for synthetic rows).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        names: list[str] = []
        lower: list[float] = []
        upper: list[float] = []
        self._slices: list[slice] = []
        for f in schema.features:
            start = len(names)
            if f.type == "numeric":
                names.append(f.name)
                lower.append(-1.0)
                upper.append(1.0)
            elif f.type == "binary":
                names.append(f.name)
                lower.append(0.0)
                upper.append(1.0)
            else:
                for c in f.categories or ():
                    names.append(f"{f.name}={c}")
                    lower.append(0.0)
                    upper.append(1.0)
            if f.missing.indicator:
                names.append(f"{f.name}__missing")
                lower.append(0.0)
                upper.append(1.0)
            self._slices.append(slice(start, len(names)))
        self.feature_names_out_ = names
        self.lower_ = np.asarray(lower, dtype=float)
        self.upper_ = np.asarray(upper, dtype=float)

    @property
    def n_features_out(self) -> int:
        return len(self.feature_names_out_)

    def feature_slices(self) -> dict[str, slice]:
        """Model-space column range of each raw feature."""
        return {f.name: s for f, s in zip(self.schema.features, self._slices)}

    # ------------------------------------------------------------------ encode
    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode a raw frame (already validated against the schema) into model space."""
        n = len(frame)
        out = np.zeros((n, self.n_features_out), dtype=float)
        for f, sl in zip(self.schema.features, self._slices):
            col = frame[f.name]
            missing = col.isna().to_numpy()
            block = out[:, sl]
            if f.type == "numeric":
                x = col.to_numpy(dtype=float, na_value=np.nan)
                x = np.where(missing, _numeric_fill(f), x)
                lo, hi = f.bounds  # type: ignore[misc]
                block[:, 0] = 2.0 * (np.clip(x, lo, hi) - lo) / (hi - lo) - 1.0
            elif f.type == "binary":
                x = col.to_numpy(dtype=float, na_value=np.nan)
                fill = 0.0 if f.missing.fill is None else float(f.missing.fill)
                block[:, 0] = np.where(missing, fill, x)
            else:
                values = col.to_numpy(dtype=object)
                for j, c in enumerate(f.categories or ()):
                    hit = np.array([(not m) and _same(v, c) for v, m in zip(values, missing)])
                    if f.missing.fill is not None and _same(f.missing.fill, c):
                        hit |= missing
                    block[:, j] = hit
            if f.missing.indicator:
                block[:, -1] = missing
            out[:, sl] = block
        return out

    # ------------------------------------------------------------------ decode
    def inverse_transform(self, X: np.ndarray) -> pd.DataFrame:
        """Decode model-space rows to raw units.

        Numeric columns are clipped to [-1, 1] and unscaled (rounded when ``integer``);
        binary by threshold 0.5; categorical by argmax; a missing indicator above 0.5 decodes
        to a missing value.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_out:
            raise ValueError(
                f"X must have shape (n, {self.n_features_out}) for schema {self.schema.name!r}, got {X.shape}"
            )
        cols: dict[str, object] = {}
        for f, sl in zip(self.schema.features, self._slices):
            block = X[:, sl]
            is_missing = block[:, -1] > 0.5 if f.missing.indicator else np.zeros(len(X), bool)
            if f.type == "numeric":
                lo, hi = f.bounds  # type: ignore[misc]
                v = (np.clip(block[:, 0], -1.0, 1.0) + 1.0) / 2.0 * (hi - lo) + lo
                if f.integer:
                    v = np.round(v)
                v = np.clip(v, lo, hi)
                cols[f.name] = pd.Series(np.where(is_missing, np.nan, v), dtype=float)
            elif f.type == "binary":
                v = (block[:, 0] > 0.5).astype(float)
                cols[f.name] = pd.Series(np.where(is_missing, np.nan, v), dtype=float)
            else:
                cats = list(f.categories or ())
                idx = np.argmax(block[:, : len(cats)], axis=1)
                vals = np.array(cats, dtype=object)[idx]
                vals = np.where(is_missing, None, vals)
                cols[f.name] = pd.Series(vals, dtype=object)
        return pd.DataFrame(cols)

    def project(self, X: np.ndarray) -> np.ndarray:
        """Clip model-space rows onto the public domain box."""
        return np.clip(X, self.lower_, self.upper_)


def _numeric_fill(f: Feature) -> float:
    if f.missing.fill is not None:
        return float(f.missing.fill)
    lo, hi = f.bounds  # type: ignore[misc]
    # with only an indicator declared, the public mid-range stands in for the missing value
    return (lo + hi) / 2.0


def _same(value: object, category: object) -> bool:
    if value == category:
        return True
    try:
        return float(value) == float(category)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value) == str(category)
