"""Domain conventions written once: task defaults, the size → rows rule, seeds and JSON encoding.

Everything here is public knowledge about a run (never data), and every other module asks this
one instead of restating a rule. Privacy-budget parsing lives with the privacy checks
(:func:`dpcondense.privacy.parse_epsilon`).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping

import numpy as np

Task = Literal["classification", "survival"]
TASKS: tuple[str, ...] = ("classification", "survival")

#: the condensing family a run uses when none is named
DEFAULT_FAMILY: dict[str, str] = {"classification": "decision_tree", "survival": "cox_ph"}
#: the synthetic size a run uses when none is named (rows per class / rows in total)
DEFAULT_SIZE: dict[str, int] = {"classification": 10, "survival": 50}
#: classification releases are class-balanced over this many classes
N_CLASSES = 2


def check_task(task: Any) -> str:
    """Return ``task`` if it is a known task, else raise naming the allowed values."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of: {', '.join(TASKS)}")
    return task


def default_model(task: str) -> str:
    """The task's default condensing (and evaluating) family."""
    return DEFAULT_FAMILY[check_task(task)]


def default_size(task: str) -> int:
    """The task's default synthetic size (rows per class for classification, rows for survival)."""
    return DEFAULT_SIZE[check_task(task)]


def synthetic_rows(task: str, size: int) -> int:
    """Rows a size-``size`` release has: ``size`` per class for classification, ``size`` for survival."""
    return N_CLASSES * int(size) if check_task(task) == "classification" else int(size)


def size_unit(task: str) -> str:
    """What ``size`` counts for ``task`` (used in messages and table headers)."""
    return "rows per class" if check_task(task) == "classification" else "rows"


# ------------------------------------------------------------------------------------- seeds


def seed_sequence(random_state: int | np.random.Generator | None) -> np.random.SeedSequence:
    """The root of a component's independent random streams.

    An int seeds it directly (``None`` means 0); a ``Generator`` contributes one draw, so a caller
    can hand its own stream down without global state.
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    return np.random.SeedSequence(0 if random_state is None else int(random_state))


def derived_rng(seed: int, stream: int) -> np.random.Generator:
    """An independent generator for a named purpose (``stream``: a fixed constant per purpose)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))


# -------------------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any, *, nonfinite: Literal["string", "null"] = "string") -> Any:
    """Recursively convert ``obj`` to JSON-native types.

    numpy scalars and arrays become Python numbers and lists. Non-finite floats become the strings
    ``"inf"`` / ``"-inf"`` / ``"nan"`` (``nonfinite="string"``, what ledgers and run outputs use,
    readable back with ``float()``) or ``null`` (``nonfinite="null"``, strict JSON for tables).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, nonfinite=nonfinite) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nonfinite=nonfinite) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isfinite(x):
            return x
        if nonfinite == "null":
            return None
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if hasattr(obj, "item"):
        return to_jsonable(obj.item(), nonfinite=nonfinite)
    return obj


def from_json_number(value: Any) -> float:
    """Read back a number written by :func:`to_jsonable` (``"inf"`` strings included)."""
    return float(value.strip()) if isinstance(value, str) else float(value)
