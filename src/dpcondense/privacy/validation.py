"""Privacy parameter checks: the project's one epsilon parser and the range checks.

Every privacy parameter crosses the boundary here: :func:`parse_epsilon` reads a budget (``inf``
means a non-private run) and :func:`validate_privacy_params` checks a run's parameters together;
the private ``_check_*`` helpers are shared by the accountant, the mechanisms and the ledger.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

Accountant = Literal["pld", "rdp"]
ACCOUNTANTS: tuple[str, ...] = ("pld", "rdp")


class PrivacyParameterError(ValueError):
    """A privacy parameter outside its allowed range (the message names parameter and range)."""


def _fmt(x: float) -> str:
    # three significant digits: the precision of every privacy message
    return format(x, ".3g")


def parse_epsilon(value: Any, *, name: str = "epsilon") -> float:
    """Parse a privacy budget: a positive number, or infinity for a non-private run.

    Parameters
    ----------
    value : float, int or str
        ``float('inf')`` and the strings ``"inf"`` / ``"infinity"`` (any case) mean non-private.
    name : str, default="epsilon"
        Parameter name used in the error message.

    Returns
    -------
    float
        The budget, ``> 0`` or ``math.inf``.

    Raises
    ------
    PrivacyParameterError
        If the value is not a number, is NaN, or is ``<= 0``.
    """
    parsed: float
    if isinstance(value, bool):
        raise PrivacyParameterError(f"{name}={value!r} must be a number > 0 or inf")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        try:
            parsed = float(text)
        except ValueError:
            raise PrivacyParameterError(
                f"{name}={value!r} must be a number > 0 or 'inf'"
            ) from None
    else:
        try:
            parsed = float(value)
        except (TypeError, ValueError):
            raise PrivacyParameterError(
                f"{name}={value!r} must be a number > 0 or inf"
            ) from None
    if math.isnan(parsed) or parsed <= 0:
        raise PrivacyParameterError(f"{name}={value!r} must satisfy {name} > 0 (or be inf)")
    return parsed


def _as_real(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number") from None
    if math.isnan(out):
        raise PrivacyParameterError(f"{name}={value!r} must be a real number, not NaN")
    return out


def _check_delta(delta: Any, n: int | None = None, *, name: str = "delta") -> float:
    d = _as_real(delta, name)
    if n is not None:
        if not 0 < d < 1.0 / n:
            raise PrivacyParameterError(
                f"{name}={delta!r} must satisfy 0 < {name} < 1/n = {_fmt(1.0 / n)} (n={n})"
            )
    elif not 0 < d < 1:
        raise PrivacyParameterError(f"{name}={delta!r} must satisfy 0 < {name} < 1")
    return d


def _check_sampling_rate(sampling_rate: Any) -> float:
    q = _as_real(sampling_rate, "sampling_rate")
    if not 0 < q <= 1:
        raise PrivacyParameterError(
            f"sampling_rate={sampling_rate!r} must satisfy 0 < sampling_rate <= 1"
        )
    return q


def _check_steps(steps: Any) -> int:
    is_integral = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
    if not is_integral and isinstance(steps, (float, np.floating)) and float(steps).is_integer():
        is_integral = True
    if not is_integral or int(steps) < 1:
        raise PrivacyParameterError(f"steps={steps!r} must be an integer >= 1")
    return int(steps)


def _check_positive(value: Any, name: str) -> float:
    v = _as_real(value, name)
    if not 0 < v < math.inf:
        raise PrivacyParameterError(f"{name}={value!r} must satisfy 0 < {name} < inf")
    return v


def _check_noise_multiplier(noise_multiplier: Any) -> float:
    s = _as_real(noise_multiplier, "noise_multiplier")
    if s < 0:
        raise PrivacyParameterError(
            f"noise_multiplier={noise_multiplier!r} must satisfy noise_multiplier >= 0"
        )
    return s


def _check_accountant(accountant: Any) -> str:
    if accountant not in ACCOUNTANTS:
        raise PrivacyParameterError(
            f"accountant={accountant!r} must be one of {', '.join(map(repr, ACCOUNTANTS))}"
        )
    return accountant


def validate_privacy_params(
    *,
    epsilon: Any,
    delta: Any,
    sampling_rate: Any = None,
    clip: Any = None,
    steps: Any = None,
    n: int | None = None,
) -> dict[str, Any]:
    """Check a run's privacy parameters at the boundary and return them parsed.

    Parameters
    ----------
    epsilon : float or str
        Target epsilon, ``> 0``; ``inf`` / ``"inf"`` / ``"infinity"`` for a non-private run.
    delta : float
        Target delta: ``0 < delta < 1/n`` when ``n`` is given, else ``0 < delta < 1``.
    sampling_rate : float, optional
        Poisson sampling rate ``q`` in ``(0, 1]``.
    clip : float, optional
        Per-example clipping norm ``C``, finite and ``> 0``.
    steps : int, optional
        Number of steps ``T``, an integer ``>= 1``.
    n : int, optional
        Number of private rows (bounds delta).

    Returns
    -------
    dict
        ``epsilon``, ``delta`` and every other given parameter, parsed (epsilon as a float that
        may be ``inf``, steps as an int).

    Raises
    ------
    PrivacyParameterError
        Naming the first offending parameter, its value and the allowed range.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise PrivacyParameterError(f"n={n!r} must be an integer >= 1")
        n = int(n)
    out: dict[str, Any] = {
        "epsilon": parse_epsilon(epsilon),
        "delta": _check_delta(delta, n),
    }
    if sampling_rate is not None:
        out["sampling_rate"] = _check_sampling_rate(sampling_rate)
    if clip is not None:
        out["clip"] = _check_positive(clip, "clip")
    if steps is not None:
        out["steps"] = _check_steps(steps)
    if n is not None:
        out["n"] = n
    return out

