"""Fast paths of the CSV reader and of the keyed split, for cohorts of a million rows.

Each function here answers the common case with whole-column operations and returns ``None``
(or ``False``) whenever its input leaves that case, so the caller runs its exact original code
instead: the result, and every error message, is the one the original code gives.

- :func:`records_have_width`: without quote characters a CSV record is its line split on the
  delimiter, so field counts are delimiter counts (``csv.reader`` is only needed to name a bad line).
- :func:`parse_floats`: ``float`` applied to each distinct stripped cell (the same correctly
  rounded parser as the per-cell loop, once per distinct text instead of once per cell).
- :func:`csv_lines`: the lines ``DataFrame.to_csv(float_format=…, header=False, index=False)``
  writes, built column-wise with the same ``%`` formatting, for float, integer and plain-text
  columns.
- :class:`ReadCache`: one run reads the same file up to three times (the config check, the
  release, the local check); the last validated result is kept, keyed by a SHA-256 of the file's
  bytes, its path, the schema and the reading options, and handed out as copies.

Privacy: nothing here leaves the custodian's process; the cache lives in memory only.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Callable

import numpy as np
import pandas as pd


def records_have_width(text: str, sep: str, width: int) -> bool:
    """True when every non-blank line of ``text`` has exactly ``width`` fields (a blank line has
    none or only whitespace) and the text has no quote character or NUL; False = check slowly."""
    if width < 2 or '"' in text or "\x00" in text:
        return False
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    counts = np.fromiter((line.count(sep) for line in lines), dtype=np.int64, count=len(lines))
    odd = np.flatnonzero(counts != width - 1)
    return all(counts[i] == 0 and not lines[i].strip() for i in odd)


def parse_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``float(cell.strip())`` of every text cell of an object array, NaN for missing cells.

    Each distinct text is parsed once (a column of a million rows holds far fewer distinct
    values). Returns (floats, missing mask), or None when a cell is neither text, None nor a float
    NaN, or a text does not parse (the caller's per-cell loop then keeps such cells as text).
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    missing = codes < 0
    if not all(v is None or isinstance(v, float) for v in values[missing].tolist()):
        return None
    if len(distinct) and pd.api.types.infer_dtype(distinct, skipna=False) != "string":
        return None
    try:
        parsed = np.fromiter(map(float, map(str.strip, distinct)), dtype=float, count=len(distinct))
    except ValueError:
        return None
    out = np.append(parsed, np.nan)[codes]  # code -1 (missing) takes the appended NaN
    return out, missing


def csv_lines(frame: pd.DataFrame, float_format: str) -> list[str] | None:
    """The data lines ``frame.to_csv(index=False, header=False, float_format=float_format,
    lineterminator="\\n")`` writes, or None for a column type this does not cover.

    Covered: float64 (``float_format % x``, NaN as empty), int64 (``str``), and object columns of
    plain text (no delimiter, quote, line break or leading/trailing space) or missing values.
    """
    columns: list[list[str]] = []
    for name in frame.columns:
        col = frame[name]
        if col.dtype == np.float64:
            values = col.to_numpy()
            # format each distinct bit pattern once (-0.0 and 0.0 stay apart: '%g' writes '-0')
            distinct, inverse = np.unique(values.view(np.int64), return_inverse=True)
            formatted = np.array([float_format % x for x in distinct.view(np.float64).tolist()], dtype=object)
            formatted[np.isnan(distinct.view(np.float64))] = ""
            text = formatted[inverse.ravel()].tolist()
        elif col.dtype == np.int64:
            distinct, inverse = np.unique(col.to_numpy(), return_inverse=True)
            text = np.array(list(map(str, distinct.tolist())), dtype=object)[inverse.ravel()].tolist()
        elif col.dtype == object:
            values = col.to_numpy()
            missing = pd.isna(values)
            present = values[~missing]
            if len(present) and pd.api.types.infer_dtype(present, skipna=False) != "string":
                return None
            if any(_needs_quoting(v) for v in set(present.tolist())):
                return None
            text = [v if not m else "" for v, m in zip(values.tolist(), missing.tolist())]
        else:
            return None
        columns.append(text)
    if len(columns) < 2:  # a lone empty field would be written quoted
        return None
    return [",".join(row) for row in zip(*columns)]


def keyed_draws(key: bytes, lines: list[str]) -> np.ndarray:
    """``int.from_bytes(HMAC-SHA256(key, line)[:8], "big") / 2**64`` for every line.

    HMAC (RFC 2104) as two SHA-256 passes whose keyed first blocks are hashed once and copied per
    line: the same digests as :func:`hmac.new`, without re-keying for each of a million lines.
    """
    block = hashlib.sha256().block_size
    k = hashlib.sha256(key).digest() if len(key) > block else key
    k = k.ljust(block, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    heads = bytearray()
    for line in lines:
        inner, outer = inner0.copy(), outer0.copy()
        inner.update(line.encode())
        outer.update(inner.digest())
        heads += outer.digest()[:8]
    return np.frombuffer(bytes(heads), dtype=">u8") / 2.0**64


def _needs_quoting(value: str) -> bool:
    """A value the CSV writer would quote, or that ``str.splitlines`` would break (e.g. U+2028)."""
    return any(c in value for c in ',"') or value != value.strip() or value == "" or value.splitlines() != [value]


class ReadCache:
    """The last validated read of a custodian's CSV: (key → result), handed out as deep copies."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None

    @staticmethod
    def key(path: Any, raw: bytes, schema: Any, **options: Any) -> tuple[Any, ...]:
        return (str(path), hashlib.sha256(raw).hexdigest(), repr(schema), tuple(sorted(options.items())))

    def get_or_read(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        if key != self._key:
            self._key, self._value = None, None  # a failed read leaves nothing behind
            value = read()
            self._key, self._value = key, value
        return copy.deepcopy(self._value)
