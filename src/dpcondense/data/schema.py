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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import yaml

from dpcondense.data.values import category_key, did_you_mean, show

FeatureType = Literal["numeric", "binary", "categorical"]
Task = Literal["classification", "survival"]

FEATURE_TYPES = ("numeric", "binary", "categorical")
TASKS = ("classification", "survival")

#: the keys each level of a schema may hold (anything else is a typo that would be ignored)
SCHEMA_KEYS = ("name", "task", "description", "card", "public", "features", "outcome")
PUBLIC_KEYS = ("n_rows", "data_derived_bounds")
FEATURE_KEYS = ("name", "type", "bounds", "categories", "integer", "unit", "missing")
MISSING_KEYS = ("fill", "indicator")
LABEL_KEYS = ("label", "positive", "negative")
SURVIVAL_KEYS = ("time", "event", "time_unit", "horizon", "grid", "grid_size", "min_time")


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
    #: whether ``negative`` was written in the schema (else any single other label value is negative)
    negative_declared: bool = field(default=False, compare=False)

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
            Naming the file, the field that is missing or invalid and the allowed values.
        """
        if not isinstance(spec, Mapping):
            raise SchemaError(f"{source}: a schema must be a YAML mapping (name, task, features, outcome), got {spec!r}")
        spec = dict(spec)
        _check_keys(spec, SCHEMA_KEYS, "", source)
        name = spec.get("name")
        if name is not None and (not _is_scalar(name) or str(name).strip() == ""):
            raise SchemaError(f"{source}: 'name' must be a short text, got {name!r}")
        task = spec.get("task")
        if task not in TASKS:
            raise SchemaError(f"{source}: 'task' must be one of {list(TASKS)}, got {task!r}")
        features = _parse_features(spec.get("features"), source)
        outcome = _parse_outcome(spec.get("outcome"), task, source)
        clash = {f.name for f in features} & {outcome.label, outcome.time, outcome.event}
        if clash:
            raise SchemaError(
                f"{source}: outcome column(s) {sorted(clash)} also listed as features; an outcome is never a "
                "feature: remove it from 'features'"
            )
        return cls(
            name=str(name or Path(source).stem),
            task=task,
            features=features,
            outcome=outcome,
            public=_parse_public(spec.get("public"), source),
            description=str(spec.get("description", "")),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Schema":
        """Read a schema YAML file (the format documented in this module and the README)."""
        path = Path(path)
        return cls.from_dict(read_yaml(path), source=str(path))


# ---------------------------------------------------------------------------- reading the YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in one mapping (YAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> Any:
    """A schema file's mapping, with YAML errors (and a key written twice) as one-line :class:`SchemaError`."""
    if not path.is_file():
        raise SchemaError(f"schema file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the schema as UTF-8") from None
    try:
        spec = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SchemaError(f"{path}: not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if spec is None:
        raise SchemaError(f"{path}: the schema file is empty; it needs name, task, features and outcome")
    if not isinstance(spec, Mapping):
        raise SchemaError(f"{path}: a schema must be a YAML mapping (name, task, features, outcome), not a {type(spec).__name__}")
    return spec


# ---------------------------------------------------------------------------- field checks

#: why a label or category value may not be a boolean (it never equals the CSV's text)
_BOOLEAN_HINT = (
    "unquoted yes/no/true/false/on/off are booleans in YAML, which match no CSV text: quote the value as written "
    "in the file (e.g. 'yes') or use 1/0"
)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, np.generic))


def _check_keys(raw: Mapping[str, Any], allowed: Sequence[str], where: str, source: str, other: Sequence[str] = (), other_task: str = "") -> None:
    """Refuse an unknown key (a typo would otherwise be ignored), naming the allowed ones."""
    for key in raw:
        if key in allowed:
            continue
        if key in other:
            raise SchemaError(f"{source}: {where}{key!r} belongs to a {other_task} outcome; this schema's task allows: {', '.join(allowed)}")
        raise SchemaError(f"{source}: {where}unknown key {key!r}{did_you_mean(str(key), allowed)}; allowed: {', '.join(allowed)}")


def _number(value: Any, field_name: str, source: str) -> float:
    """A YAML number (or numeric text such as ``1e3``, which YAML 1.1 reads as text)."""
    if isinstance(value, bool) or not _is_scalar(value):
        raise SchemaError(f"{source}: {field_name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SchemaError(f"{source}: {field_name} must be a number, got {value!r}") from None


def _positive_int(value: Any, field_name: str, source: str) -> int:
    x = _number(value, field_name, source)
    if not (math.isfinite(x) and x == int(x) and x >= 1):
        raise SchemaError(f"{source}: {field_name} must be a whole number >= 1, got {show(value)}")
    return int(x)


def _flag(value: Any, field_name: str, source: str) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise SchemaError(f"{source}: {field_name} must be true or false, got {value!r}")


def _parse_public(raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: 'public' must be a mapping (n_rows, data_derived_bounds), got {raw!r}")
    _check_keys(raw, PUBLIC_KEYS, "public: ", source)
    if raw.get("n_rows") is not None:
        _positive_int(raw["n_rows"], "public.n_rows (the public row count)", source)
    if "data_derived_bounds" in raw:
        _flag(raw["data_derived_bounds"], "public.data_derived_bounds", source)
    return dict(raw)


# ---------------------------------------------------------------------------- features


def _parse_features(raw: Any, source: str) -> tuple[Feature, ...]:
    if not raw:
        raise SchemaError(f"{source}: 'features' must list at least one feature")
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence):
        raise SchemaError(f"{source}: 'features' must be a list of features (- name: ..., type: ...), got {type(raw).__name__}")
    features = tuple(_parse_feature(f, source, i) for i, f in enumerate(raw))
    names = [f.name for f in features]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SchemaError(f"{source}: duplicate feature names {dup}; every feature needs a unique name")
    return features


def _parse_feature(raw: Any, source: str, index: int = 0) -> Feature:
    if not isinstance(raw, Mapping) or raw.get("name") is None:
        raise SchemaError(f"{source}: every feature needs a 'name' (the CSV column), got {raw!r} (features[{index}])")
    if not _is_scalar(raw["name"]) or str(raw["name"]).strip() == "":
        raise SchemaError(f"{source}: features[{index}]: 'name' must be the CSV column's name, got {raw['name']!r}")
    name = str(raw["name"])
    where = f"feature {name!r}"
    _check_keys(raw, FEATURE_KEYS, f"{where}: ", source)
    ftype = raw.get("type")
    if ftype not in FEATURE_TYPES:
        raise SchemaError(f"{source}: {where}: 'type' must be one of {list(FEATURE_TYPES)}, got {ftype!r}")
    for key, owner in (("bounds", "numeric"), ("categories", "categorical"), ("integer", "numeric")):
        if key in raw and ftype != owner:
            raise SchemaError(f"{source}: {where} is {ftype}: {key!r} applies to {owner} features only (is 'type' right?)")
    missing = _parse_missing(raw.get("missing"), where, source)
    bounds = categories = None
    if ftype == "numeric":
        bounds = _parse_bounds(raw.get("bounds"), name, source)
        if missing.fill is not None:
            fill = _number(missing.fill, f"{where}: 'missing.fill'", source)
            if not bounds[0] <= fill <= bounds[1]:
                raise SchemaError(f"{source}: {where}: missing fill {show(fill)} lies outside bounds [{show(bounds[0])}, {show(bounds[1])}]")
    elif ftype == "categorical":
        categories = _parse_categories(raw.get("categories"), name, source)
        if missing.fill is not None and missing.fill not in categories:
            raise SchemaError(
                f"{source}: {where}: missing fill {missing.fill!r} is not one of its categories {list(categories)}"
            )
    elif missing.fill is not None and missing.fill not in (0, 1):
        raise SchemaError(f"{source}: binary feature {name!r}: missing fill must be 0 or 1, got {missing.fill!r}")
    unit = raw.get("unit")
    if unit is not None and not _is_scalar(unit):
        raise SchemaError(f"{source}: {where}: 'unit' must be a short text, got {unit!r}")
    return Feature(
        name=name,
        type=ftype,
        bounds=bounds,
        categories=categories,
        integer=_flag(raw.get("integer", False), f"{where}: 'integer'", source),
        unit=unit,
        missing=missing,
    )


def _parse_missing(raw: Any, where: str, source: str) -> MissingPolicy:
    if not raw:
        return MissingPolicy()
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: {where}: 'missing' must be a mapping with fill/indicator, got {raw!r}")
    _check_keys(raw, MISSING_KEYS, f"{where}: 'missing': ", source)
    fill = raw.get("fill")
    if fill is not None and not _is_scalar(fill):
        raise SchemaError(f"{source}: {where}: 'missing.fill' must be one value, got {fill!r}")
    return MissingPolicy(fill=fill, indicator=_flag(raw.get("indicator", False), f"{where}: 'missing.indicator'", source))


def _parse_bounds(b: Any, name: str, source: str) -> tuple[float, float]:
    where = f"{source}: numeric feature {name!r}"
    if b is None:
        raise SchemaError(
            f"{where} has no 'bounds': declare plausible clinical bounds [low, high] (bounds taken from the "
            "data itself would leak private information)"
        )
    if isinstance(b, (str, Mapping)) or not isinstance(b, Sequence) or len(b) != 2:
        raise SchemaError(f"{where}: 'bounds' must be [low, high], got {b!r}")
    lo = _number(b[0], f"numeric feature {name!r}: 'bounds' low", source)
    hi = _number(b[1], f"numeric feature {name!r}: 'bounds' high", source)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SchemaError(f"{where}: 'bounds' must be finite numbers [low, high], got {b!r}")
    if not lo < hi:
        order = "is above" if lo > hi else "equals"
        raise SchemaError(f"{where}: 'bounds' need low < high, got [{show(lo)}, {show(hi)}] (low {order} high)")
    return lo, hi


def _parse_categories(cats: Any, name: str, source: str) -> tuple[Any, ...]:
    where = f"{source}: categorical feature {name!r}"
    if cats is None or (isinstance(cats, Sequence) and not isinstance(cats, str) and len(cats) < 2):
        raise SchemaError(f"{where} needs 'categories' (at least two)")
    if isinstance(cats, (str, Mapping)) or not isinstance(cats, Sequence):
        raise SchemaError(f"{where}: 'categories' must be a list of values, got {cats!r}")
    for c in cats:
        if not _is_scalar(c) or (isinstance(c, float) and math.isnan(c)):
            raise SchemaError(f"{where}: every category must be one text or number value, got {c!r}")
        if isinstance(c, (bool, np.bool_)):
            raise SchemaError(f"{where}: category {c!r} is a YAML boolean; {_BOOLEAN_HINT}")
    keys = [category_key(c) for c in cats]
    dup = next((c for c, k in zip(cats, keys) if keys.count(k) > 1), None)
    if dup is not None:
        raise SchemaError(f"{where}: category {show(dup)} is listed twice (1, 1.0 and '1' are the same value)")
    return tuple(cats)


# ---------------------------------------------------------------------------- outcome


def _parse_outcome(raw: Any, task: str, source: str) -> Outcome:
    if raw is None:
        shape = "{label: COLUMN, positive: VALUE}" if task == "classification" else "{time: COLUMN, event: COLUMN, horizon: H}"
        raise SchemaError(f"{source}: the schema has no 'outcome': add outcome: {shape}")
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{source}: 'outcome' must be a mapping, got {raw!r}")
    if task == "classification":
        return _parse_label(raw, source)
    return _parse_survival(raw, source)


def _parse_label(raw: Mapping[str, Any], source: str) -> Outcome:
    _check_keys(raw, LABEL_KEYS, "outcome: ", source, SURVIVAL_KEYS, "survival")
    label = raw.get("label")
    if label in (None, "") or not _is_scalar(label):
        raise SchemaError(f"{source}: classification outcome needs 'label' (the target column)")
    values = {"positive": raw.get("positive", 1), "negative": raw.get("negative", 0)}
    for key, v in values.items():
        if not _is_scalar(v) or (isinstance(v, float) and math.isnan(v)):
            raise SchemaError(f"{source}: outcome.{key} must be one value of the label column {str(label)!r}, got {v!r}")
        if isinstance(v, (bool, np.bool_)):
            raise SchemaError(f"{source}: outcome.{key} is the YAML boolean {v!r}; {_BOOLEAN_HINT}")
    if category_key(values["positive"]) == category_key(values["negative"]):
        raise SchemaError(
            f"{source}: outcome.positive and outcome.negative are the same value {show(values['positive'])}; "
            "the label needs two different values"
        )
    return Outcome(
        label=str(label), positive=values["positive"], negative=values["negative"], negative_declared="negative" in raw
    )


def _parse_survival(raw: Mapping[str, Any], source: str) -> Outcome:
    _check_keys(raw, SURVIVAL_KEYS, "outcome: ", source, LABEL_KEYS, "classification")
    for key in ("time", "event", "horizon"):
        if raw.get(key) in (None, ""):
            raise SchemaError(f"{source}: survival outcome needs {key!r}")
    for key in ("time", "event"):
        if not _is_scalar(raw[key]):
            raise SchemaError(f"{source}: outcome.{key} must be a column name, got {raw[key]!r}")
    if str(raw["time"]) == str(raw["event"]):
        raise SchemaError(f"{source}: outcome.time and outcome.event are the same column {str(raw['time'])!r}")
    horizon = _number(raw["horizon"], "outcome.horizon", source)
    if not (math.isfinite(horizon) and horizon > 0):
        raise SchemaError(f"{source}: outcome 'horizon' must be a finite number > 0 (in the time unit), got {show(horizon)}")
    if raw.get("grid") is not None and "grid_size" in raw:
        raise SchemaError(f"{source}: outcome: give 'grid' (the time points) or 'grid_size' (evenly spaced), not both")
    grid_size = _positive_int(raw.get("grid_size", 50), "outcome.grid_size (points of the public time grid)", source)
    grid = None if raw.get("grid") is None else _parse_grid(raw["grid"], horizon, source)
    min_time = None
    if raw.get("min_time") is not None:
        min_time = _number(raw["min_time"], "outcome.min_time", source)
        if not (math.isfinite(min_time) and 0 < min_time < horizon):
            raise SchemaError(
                f"{source}: outcome 'min_time' must lie in (0, horizon) = (0, {show(horizon)}), got {show(min_time)}"
            )
    unit = raw.get("time_unit")
    if unit is not None and not _is_scalar(unit):
        raise SchemaError(f"{source}: outcome.time_unit must be a short text, got {unit!r}")
    return Outcome(
        time=str(raw["time"]), event=str(raw["event"]), time_unit=unit, horizon=horizon, grid=grid,
        grid_size=grid_size, min_time=min_time,
    )


def _parse_grid(raw: Any, horizon: float, source: str) -> tuple[float, ...]:
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence) or not raw:
        raise SchemaError(f"{source}: outcome 'grid' must be a list of time points, got {raw!r}")
    grid = tuple(_number(g, "outcome.grid point", source) for g in raw)
    if any(not math.isfinite(g) or g <= 0 for g in grid) or any(b <= a for a, b in zip(grid, grid[1:])):
        raise SchemaError(f"{source}: outcome 'grid' must be strictly increasing and > 0")
    if grid[-1] > horizon:
        raise SchemaError(f"{source}: outcome 'grid' must lie in (0, horizon]: its last point {show(grid[-1])} is beyond the horizon {show(horizon)}")
    return grid
