"""Hyperparameter declarations: each component's parameters with their type and allowed values.

Every method (:class:`~dpcondense.methods.base.CondensationMethod`) and model family
(:class:`~dpcondense.models.base.ModelFamily`) declares ``param_specs``, a mapping from each
constructor keyword to a :class:`ParamSpec`. :func:`check_params` validates a parameter mapping
against it once, at the boundary (the run's validation, ``make_method``, ``make_model``), so a
bad value is a one-line ``ValueError`` naming the key and what is allowed, before any work.

Examples
--------
>>> specs = {"steps": ParamSpec(int, low=1, doc="optimisation steps")}
>>> check_params("method 'dpzo'", specs, {"steps": 0})
Traceback (most recent call last):
...
ValueError: steps=0 must be an integer >= 1 (method 'dpzo': optimisation steps)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

#: what a parameter's value may be: a number kind, a flag, a text, a list or a mapping
ParamType = type | None


@dataclass(frozen=True)
class ParamSpec:
    """The allowed values of one hyperparameter.

    Parameters
    ----------
    type : {int, float, bool, str, list, dict} or None
        ``int``: an integer (not a bool); ``float``: a finite real number (an int is accepted;
        NaN and ±inf never are); ``bool``: true or false; ``str``: a text, one of ``choices``;
        ``list``: a list or tuple whose items satisfy ``item``; ``dict``: a mapping with exactly
        the keys ``keys`` whose values satisfy ``item``; ``None``: one of ``choices`` only.
    low, high : float, optional
        Bounds of a number (of the length, for a list); inclusive unless ``low_open`` /
        ``high_open``.
    choices : tuple
        Allowed values. With ``type`` ``str`` or ``None`` they are the only ones; with a number
        type they are allowed besides the numbers (``n_samples``: ``"size"``, ``"large"`` or an
        integer >= 1).
    allow_none : bool
        Whether ``None`` (YAML ``null``) is allowed.
    doc : str
        What the parameter does, in a few words (shown in error messages).
    low_open, high_open : bool
        Exclude the bound itself (``> low`` / ``< high``).
    item : ParamSpec, optional
        Spec of each item of a list or each value of a mapping.
    keys : tuple of str
        The exact keys of a mapping.
    alternative : ParamSpec, optional
        Another form the value may take (``max_features``: an integer >= 1 or a fraction).
    """

    type: ParamType
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    allow_none: bool = False
    doc: str = ""
    low_open: bool = False
    high_open: bool = False
    item: "ParamSpec | None" = None
    keys: tuple[str, ...] = ()
    alternative: "ParamSpec | None" = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.allow_none
        if self.choices and _is_choice(value, self.choices):
            return True
        if self._accepts_own(value):
            return True
        return self.alternative is not None and self.alternative.accepts(value)

    def describe(self) -> str:
        """The allowed values in words (``an integer >= 1``, ``one of 'adam', 'sgd'``...)."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        own = self._describe_own()
        if own:
            parts.append(own)
        spec = self.alternative
        while spec is not None:
            parts.append(spec._describe_own())
            spec = spec.alternative
        if self.allow_none:
            parts.append("null")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]

    # ------------------------------------------------------------------ one form of the value
    def _accepts_own(self, value: Any) -> bool:
        kind = self.type
        if kind is int:
            return _is_int(value) and self._in_range(int(value))
        if kind is float:
            return _is_real(value) and math.isfinite(float(value)) and self._in_range(float(value))
        if kind is bool:
            return _is_bool(value)
        if kind is str:
            return isinstance(value, str) and not self.choices
        if kind is list:
            return (
                isinstance(value, (list, tuple))
                and self._in_range(len(value))
                and (self.item is None or all(self.item.accepts(v) for v in value))
            )
        if kind is dict:
            return (
                isinstance(value, Mapping)
                and (not self.keys or set(value) == set(self.keys))
                and (self.item is None or all(self.item.accepts(v) for v in value.values()))
            )
        return False

    def _in_range(self, x: float) -> bool:
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))

    def _describe_own(self) -> str:
        kind = self.type
        if kind is int:
            return "an integer" + self._describe_range()
        if kind is float:
            return "a finite number" + self._describe_range()
        if kind is bool:
            return "true or false"
        if kind is str:
            return "" if self.choices else "a text"
        if kind is list:
            length = self._describe_range()
            items = f" of {self.item._plural()}" if self.item is not None else ""
            return f"a list{items}" + (f" (length{length})" if length else "")
        if kind is dict:
            keys = f" with exactly the keys {', '.join(self.keys)}" if self.keys else ""
            values = f" (each {self.item.describe()})" if self.item is not None else ""
            return f"a mapping{keys}{values}"
        return ""

    def _plural(self) -> str:
        """``integers >= 1`` for the items of a list."""
        text = self.describe()
        for single, plural in (("an integer", "integers"), ("a finite number", "finite numbers"), ("a text", "texts")):
            if text.startswith(single):
                return plural + text[len(single):]
        return text

    def _describe_range(self) -> str:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return f" in {'(' if self.low_open else '['}{_num(lo)}, {_num(hi)}{')' if self.high_open else ']'}"
        if lo is not None:
            return f" {'>' if self.low_open else '>='} {_num(lo)}"
        if hi is not None:
            return f" {'<' if self.high_open else '<='} {_num(hi)}"
        return ""


def check_params(
    component_name: str,
    specs: Mapping[str, ParamSpec],
    params: Mapping[str, Any],
    *,
    key_prefix: str = "",
    passthrough: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate ``params`` against ``specs``; return them unchanged (as a new dict).

    Parameters
    ----------
    component_name : str
        How messages name the component, e.g. ``"method 'dpzo'"``.
    specs : mapping of str to ParamSpec
        The component's declared parameters.
    params : mapping
        The values to check.
    key_prefix : str, default=""
        Written before a key in messages (``"method.params."`` for a run configuration).
    passthrough : iterable of str
        Keys taken without a spec (e.g. ``progress``, the code's private test hooks).

    Returns
    -------
    dict
        ``params`` as given (values are never converted: a run's identity stays the same).

    Raises
    ------
    ValueError
        One line: an unknown key (listing the known ones), or a key whose value is of the wrong
        type, NaN or infinite, out of range or not one of the choices (naming what is allowed).
    """
    allowed = set(passthrough)
    for key, value in params.items():
        spec = specs.get(key)
        if spec is None:
            if key in allowed:
                continue
            known = ", ".join(sorted(specs)) or "none"
            raise ValueError(f"{component_name} has no parameter {key!r}; its parameters: {known}")
        if not spec.accepts(value):
            about = f"{component_name}: {spec.doc}" if spec.doc else component_name
            raise ValueError(f"{key_prefix}{key}={_show(value)} must be {spec.describe()} ({about})")
    return dict(params)


# ---------------------------------------------------------------------------- value kinds


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))  # numpy's bool is no bool subclass


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_choice(value: Any, choices: tuple[Any, ...]) -> bool:
    # a number never equals a text choice, and 1 == True must not make a flag a choice
    return any(type(value) is type(c) and value == c for c in choices)


def _num(x: float) -> str:
    return format(x, "g")


def _show(value: Any) -> str:
    """The value as the user wrote it, on one line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
