"""Values in messages and comparisons: plain numbers, canonical category keys, close names.

Every error and warning of the data layer prints values through :func:`show`, so a number reads
``2`` or ``0.5`` (never ``np.float64(2.0)``) and a text value is quoted.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

#: at most this many values are listed in one message (the rest are counted)
MAX_LISTED = 10


def category_key(v: Any) -> str:
    """Canonical text of a category value, so 1, 1.0 and "1" match."""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    try:
        fv = float(v)
        if np.isfinite(fv) and fv == int(fv):
            return str(int(fv))
        return repr(fv)
    except (TypeError, ValueError):
        return str(v).strip()


def show(v: Any) -> str:
    """A value as a message shows it: ``2``, ``0.5``, ``'F'``, ``True``, ``missing``."""
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(float(v))):
        return "missing"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        fv = float(v)
        return str(int(fv)) if fv.is_integer() and abs(fv) < 1e15 else repr(fv)
    return repr(str(v)) if isinstance(v, (str, np.str_)) else repr(v)


def plain(v: Any) -> Any:
    """Numeric text as its number (``"2"`` → 2.0), so a message shows a CSV cell as the number it is."""
    if isinstance(v, (str, np.str_)):
        try:
            x = float(v.strip())
        except ValueError:
            return v
        return x if math.isfinite(x) else v
    return v


def value_order(v: Any) -> tuple[int, float, str]:
    """Sort key: numbers (and numeric text) first in numeric order, then text."""
    x = plain(v)
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_)):
        return (0, float(x), "")
    return (1, 0.0, str(x))


def show_list(values: Iterable[Any], limit: int = MAX_LISTED) -> str:
    """``[0, 1, 2]``; longer lists end with ``… (+N more)``."""
    items = list(values)
    shown = ", ".join(show(v) for v in items[:limit])
    more = f", … (+{len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'Age'?)`` when a candidate is close to ``name`` (case and spacing ignored)."""
    pool = [str(c) for c in candidates]
    folded = {c.strip().lower(): c for c in pool}
    hit = folded.get(name.strip().lower())
    if hit is None:
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        hit = close[0] if close else None
    return f" (did you mean {hit!r}?)" if hit is not None and hit != name else ""


__all__ = ["MAX_LISTED", "category_key", "did_you_mean", "plain", "show", "show_list", "value_order"]
