"""Public dataset schemas: what may be known about a dataset without looking at its rows.

A schema is a YAML file (``conf/dataset/<name>.yaml`` for the built-in datasets, any path for a
user's CSV). It declares every feature's type, plausible clinical bounds for numeric features,
the missing-value policy, and the outcome. Everything downstream — scaling, decoding, the
synthetic domain, the survival time grid — is derived from the schema alone, never from rows.

Format (see README "Schema format")::

    name: my_cohort
    task: classification            # or survival
    features:
      - name: age
        type: numeric               # numeric | binary | categorical
        bounds: [18, 100]           # required for numeric: clinical plausibility, not data min/max
        integer: true               # optional: decode rounds to whole numbers
        unit: years                 # optional, documentation only
        missing: {fill: 60}         # optional: public fill constant and/or indicator: true
      - name: sex
        type: categorical
        categories: [female, male]
    outcome:
      label: died                   # classification: the target column; positive: VALUE
                                    # (default 1), negative: VALUE written in releases (default 0)
      # survival instead:  time: months, event: died, horizon: 120, grid_size: 50
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import yaml

FeatureType = Literal["numeric", "binary", "categorical"]
Task = Literal["classification", "survival"]

FEATURE_TYPES = ("numeric", "binary", "categorical")
TASKS = ("classification", "survival")


class SchemaError(ValueError):
    """A schema that is incomplete or inconsistent (the message names the field)."""


@dataclass(frozen=True)
class MissingPolicy:
    """How a missing value is replaced: a public constant and/or a 0/1 missing indicator."""

    fill: Any = None
    indicator: bool = False


@dataclass(frozen=True)
class Feature:
    """One raw column of the public schema."""

    name: str
    type: FeatureType
    bounds: tuple[float, float] | None = None
    categories: tuple[Any, ...] | None = None
    integer: bool = False
    unit: str | None = None
    missing: MissingPolicy = field(default_factory=MissingPolicy)

    @property
    def n_encoded(self) -> int:
        """Number of model-space columns this feature occupies."""
        base = len(self.categories) if self.type == "categorical" else 1
        return base + int(self.missing.indicator)


@dataclass(frozen=True)
class Outcome:
    """The prediction target, declared publicly.

    Classification: ``label`` names a column whose value equal to ``positive`` is class 1.
    Survival: ``time``/``event`` name the columns; ``horizon`` is the public follow-up horizon
    (same unit as the times) and the public time grid is ``grid_size`` points evenly spaced on
    ``(0, horizon]`` unless ``grid`` lists them explicitly.
    """

    label: str | None = None
    positive: Any = 1
    negative: Any = 0
    time: str | None = None
    event: str | None = None
    time_unit: str | None = None
    horizon: float | None = None
    grid: tuple[float, ...] | None = None
    grid_size: int = 50
    min_time: float | None = None

    def time_grid(self) -> np.ndarray:
        """The public evaluation grid for survival curves (strictly increasing, > 0)."""
        if self.grid is not None:
            return np.asarray(self.grid, dtype=float)
        assert self.horizon is not None
        return np.linspace(self.horizon / self.grid_size, self.horizon, self.grid_size)


@dataclass(frozen=True)
class Schema:
    """A dataset's public schema: feature list, outcome, and public facts from its card."""

    name: str
    task: Task
    features: tuple[Feature, ...]
    outcome: Outcome
    public: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def target_columns(self) -> list[str]:
        if self.task == "classification":
            return [self.outcome.label]  # type: ignore[list-item]
        return [self.outcome.time, self.outcome.event]  # type: ignore[list-item]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, source: str = "schema") -> "Schema":
        """Build and validate a schema from a mapping (e.g. a parsed YAML file).

        Raises
        ------
        SchemaError
            Naming the field that is missing or invalid and the allowed values.
        """
        spec = dict(spec)
        name = spec.get("name") or Path(source).stem
        task = spec.get("task")
        if task not in TASKS:
            raise SchemaError(f"{source}: 'task' must be one of {list(TASKS)}, got {task!r}")
        raw_features = spec.get("features")
        if not raw_features:
            raise SchemaError(f"{source}: 'features' must list at least one feature")
        features = tuple(_parse_feature(f, source) for f in raw_features)
        names = [f.name for f in features]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SchemaError(f"{source}: duplicate feature names {dup}")
        outcome = _parse_outcome(spec.get("outcome"), task, source)
        clash = set(names) & {outcome.label, outcome.time, outcome.event}
        if clash:
            raise SchemaError(f"{source}: outcome column(s) {sorted(clash)} also listed as features")
        return cls(
            name=str(name),
            task=task,
            features=features,
            outcome=outcome,
            public=dict(spec.get("public") or {}),
            description=str(spec.get("description", "")),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Schema":
        """Read a schema YAML file (the format documented in this module and the README)."""
        path = Path(path)
        if not path.is_file():
            raise SchemaError(f"schema file not found: {path}")
        with path.open() as fh:
            spec = yaml.safe_load(fh)
        if not isinstance(spec, Mapping):
            raise SchemaError(f"{path}: a schema must be a YAML mapping")
        return cls.from_dict(spec, source=str(path))


def _parse_feature(raw: Mapping[str, Any], source: str) -> Feature:
    if not isinstance(raw, Mapping) or "name" not in raw:
        raise SchemaError(f"{source}: every feature needs a 'name', got {raw!r}")
    name = str(raw["name"])
    ftype = raw.get("type")
    if ftype not in FEATURE_TYPES:
        raise SchemaError(
            f"{source}: feature {name!r}: 'type' must be one of {list(FEATURE_TYPES)}, got {ftype!r}"
        )
    missing_raw = raw.get("missing") or {}
    if not isinstance(missing_raw, Mapping):
        raise SchemaError(f"{source}: feature {name!r}: 'missing' must be a mapping with fill/indicator")
    missing = MissingPolicy(fill=missing_raw.get("fill"), indicator=bool(missing_raw.get("indicator", False)))
    bounds = None
    categories = None
    if ftype == "numeric":
        b = raw.get("bounds")
        if b is None:
            raise SchemaError(
                f"{source}: numeric feature {name!r} has no 'bounds': declare plausible clinical "
                "bounds [low, high] (bounds taken from the data itself would leak private information)"
            )
        if not isinstance(b, Sequence) or len(b) != 2:
            raise SchemaError(f"{source}: feature {name!r}: 'bounds' must be [low, high], got {b!r}")
        lo, hi = float(b[0]), float(b[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SchemaError(f"{source}: feature {name!r}: 'bounds' need finite low < high, got {b!r}")
        bounds = (lo, hi)
        if missing.fill is not None and not (lo <= float(missing.fill) <= hi):
            raise SchemaError(f"{source}: feature {name!r}: missing fill {missing.fill} lies outside bounds {b}")
    elif ftype == "categorical":
        cats = raw.get("categories")
        if not cats or len(cats) < 2:
            raise SchemaError(f"{source}: categorical feature {name!r} needs 'categories' (at least two)")
        categories = tuple(cats)
        if missing.fill is not None and missing.fill not in categories:
            raise SchemaError(
                f"{source}: feature {name!r}: missing fill {missing.fill!r} is not one of its categories {list(categories)}"
            )
    elif ftype == "binary" and missing.fill is not None and missing.fill not in (0, 1):
        raise SchemaError(f"{source}: binary feature {name!r}: missing fill must be 0 or 1")
    return Feature(
        name=name,
        type=ftype,
        bounds=bounds,
        categories=categories,
        integer=bool(raw.get("integer", False)),
        unit=raw.get("unit"),
        missing=missing,
    )


def _parse_outcome(raw: Any, task: str, source: str) -> Outcome:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: 'outcome' must be a mapping")
    if task == "classification":
        if not raw.get("label"):
            raise SchemaError(f"{source}: classification outcome needs 'label' (the target column)")
        return Outcome(label=str(raw["label"]), positive=raw.get("positive", 1), negative=raw.get("negative", 0))
    for key in ("time", "event", "horizon"):
        if raw.get(key) in (None, ""):
            raise SchemaError(f"{source}: survival outcome needs {key!r}")
    horizon = float(raw["horizon"])
    if not horizon > 0:
        raise SchemaError(f"{source}: outcome 'horizon' must be > 0, got {horizon}")
    grid = raw.get("grid")
    if grid is not None:
        grid = tuple(float(g) for g in grid)
        if any(g <= 0 for g in grid) or any(b <= a for a, b in zip(grid, grid[1:])):
            raise SchemaError(f"{source}: outcome 'grid' must be strictly increasing and > 0")
    return Outcome(
        time=str(raw["time"]),
        event=str(raw["event"]),
        time_unit=raw.get("time_unit"),
        horizon=horizon,
        grid=grid,
        grid_size=int(raw.get("grid_size", 50)),
        min_time=float(raw["min_time"]) if raw.get("min_time") is not None else None,
    )
