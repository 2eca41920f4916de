"""The CSV reader's and the keyed split's fast paths give exactly what the original code gives.

Each fast path is compared with the computation it replaces (the ``csv`` module's field counts,
the per-cell ``float`` loop, ``DataFrame.to_csv``, ``hmac.new``), and the reader as a whole with
its fast paths switched off.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import math

import numpy as np
import pandas as pd
import pytest

from dpcondense.data import _fast, keyed_split
from dpcondense.data import csv as data_csv
from dpcondense.data.csv import read_user_csv
from dpcondense.datasets import load_dataset

BUILT_IN = ["metabric", "gbsg", "flchain", "pima_diabetes", "support_mortality", "breast_cancer_wisconsin"]


def csv_module_widths_ok(text: str, sep: str, width: int) -> bool:
    """The original check: every non-blank record after the header has ``width`` fields."""
    rows = list(csv.reader(io.StringIO(text, newline=None), delimiter=sep, strict=True))
    body = [r for r in rows if not (len(r) == 0 or (len(r) == 1 and not r[0].strip()))][1:]
    return all(len(r) == width for r in body)


def test_records_have_width_agrees_with_the_csv_module():
    rng = np.random.default_rng(0)
    pieces = ["a", "1", " ", "", ",", ",", "\n", "\n", "\r\n", "\r", "  \n", "x y"]
    decided = 0
    for _ in range(3000):
        text = "h1,h2,h3\n" + "".join(rng.choice(pieces, int(rng.integers(0, 30))))
        fast = _fast.records_have_width(text, ",", 3)
        if fast:  # True must be right; False only sends the text to the exact check
            assert csv_module_widths_ok(text, ",", 3), repr(text)
            decided += 1
        elif '"' not in text:
            assert not csv_module_widths_ok(text, ",", 3), repr(text)
    assert decided > 100
    assert not _fast.records_have_width('h1,h2\n"a,b",1\n', ",", 2)  # quotes: always the csv module


def loop_parse(values: np.ndarray) -> list:
    """The reader's per-cell loop (missing → NaN, text → float or kept)."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
            continue
        try:
            out.append(float(str(v).strip()))
        except ValueError:
            out.append(v)
    return out


def test_parse_floats_equals_the_per_cell_loop():
    rng = np.random.default_rng(1)
    cells = ["1.5", " 2 ", "1e-3", "-0", "0", "1_0", "inf", "-Infinity", "nan", "0.1", "1e400", "7", "+.5", "\t3\n"]
    for _ in range(500):
        values = np.array(list(rng.choice(cells, int(rng.integers(0, 12)))) + [np.nan] * int(rng.integers(0, 3)), dtype=object)
        rng.shuffle(values)
        parsed = _fast.parse_floats(values)
        assert parsed is not None
        want = np.array(loop_parse(values), dtype=float)
        np.testing.assert_array_equal(parsed[0], want)
        np.testing.assert_array_equal(np.signbit(parsed[0]), np.signbit(want))  # -0 stays -0
        np.testing.assert_array_equal(parsed[1], [v is not v or v is None or (isinstance(v, float) and math.isnan(v)) for v in values])
    assert _fast.parse_floats(np.array(["1", "abc"], dtype=object)) is None  # text kept: the loop decides
    assert _fast.parse_floats(np.array(["1", 2.5], dtype=object)) is None  # not text
    assert _fast.parse_floats(np.array(["1", pd.NA], dtype=object)) is None  # a missing marker the loop would not skip


def random_frame(rng: np.random.Generator, n: int = 400) -> pd.DataFrame:
    a = rng.normal(size=n) * 10.0 ** rng.integers(-30, 30, n)
    a[:4] = [np.inf, -np.inf, -0.0, 5e-324]
    return pd.DataFrame({
        "a": a,
        "b": rng.integers(-5, 5, n),
        "c": rng.choice(np.array(["x", "y z", "é", None], dtype=object), n),
        "d": np.where(rng.random(n) < 0.2, np.nan, np.round(rng.normal(size=n), 2)),
    })


@pytest.mark.parametrize("name", BUILT_IN)
def test_csv_lines_equal_to_csv_on_the_built_in_datasets(name):
    frame = load_dataset(name).to_frame()
    want = frame.to_csv(index=False, header=False, float_format="%.17g", lineterminator="\n").splitlines()
    assert _fast.csv_lines(frame, "%.17g") == want


def test_csv_lines_equal_to_csv_on_random_frames_and_leave_quoting_to_pandas():
    rng = np.random.default_rng(2)
    for _ in range(20):
        frame = random_frame(rng)
        want = frame.to_csv(index=False, header=False, float_format="%.17g", lineterminator="\n").splitlines()
        assert _fast.csv_lines(frame, "%.17g") == want
    frame = random_frame(rng)
    for odd in ("q,r", 'say "hi"', " padded", "", "a\u2028b", "a\x85b", "a\rb"):
        assert _fast.csv_lines(frame.assign(c=frame["c"].fillna(odd)), "%.17g") is None
    assert _fast.csv_lines(frame.assign(b=frame["b"].astype("category")), "%.17g") is None
    assert _fast.csv_lines(frame[["a"]], "%.17g") is None


@pytest.mark.parametrize("key", [b"", b"k", b"dpcondense-local-check-0", bytes(range(64)), bytes(range(65)), bytes(200)])
def test_keyed_draws_equal_hmac_new(key):
    rng = np.random.default_rng(3)
    lines = ["".join(rng.choice(list("abc,.0123é"), int(rng.integers(0, 150)))) for _ in range(300)]
    want = np.array([int.from_bytes(hmac.new(key, s.encode(), hashlib.sha256).digest()[:8], "big") / 2.0**64 for s in lines])
    np.testing.assert_array_equal(_fast.keyed_draws(key, lines), want)


@pytest.mark.parametrize("name", ["metabric", "flchain", "support_mortality"])
def test_keyed_split_is_the_hmac_of_each_to_csv_line(name):
    dataset = load_dataset(name)
    key = b"dpcondense-local-check-0"
    lines = dataset.to_frame().to_csv(index=False, header=False, float_format="%.17g", lineterminator="\n").splitlines()
    draws = np.array([int.from_bytes(hmac.new(key, s.encode(), hashlib.sha256).digest()[:8], "big") / 2.0**64 for s in lines])
    train, test = keyed_split(dataset, key=key)
    test_rows = dataset.to_frame().iloc[np.flatnonzero(draws < 0.25)].reset_index(drop=True)
    pd.testing.assert_frame_equal(test.to_frame(), test_rows)
    assert train.n_rows + test.n_rows == dataset.n_rows


def slow_read(monkeypatch, *args, **kwargs):
    """read_user_csv with every fast path and the cache switched off."""
    with monkeypatch.context() as m:
        m.setattr(_fast, "records_have_width", lambda *a: False)
        m.setattr(_fast, "parse_floats", lambda *a: None)
        m.setattr(data_csv, "_READS", _fast.ReadCache())
        m.setattr(data_csv._READS, "get_or_read", lambda key, read: read())
        return read_user_csv(*args, **kwargs)


def assert_same_dataset(a, b):
    pd.testing.assert_frame_equal(a.features, b.features)
    for field in ("y", "time", "event"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or np.array_equal(x, y)
    assert a.n_public == b.n_public and a.schema == b.schema


@pytest.mark.parametrize("name", ["flchain", "gbsg", "support_mortality"])
def test_reader_equals_its_slow_path_and_hands_out_copies(name, tmp_path, monkeypatch):
    from dpcondense.paths import CONF_DIR

    dataset = load_dataset(name)
    frame = dataset.to_frame()
    csv_path = tmp_path / "cohort.csv"
    frame.to_csv(csv_path, index=False)
    schema_path = CONF_DIR / "dataset" / f"{name}.yaml"
    want, want_warnings = slow_read(monkeypatch, csv_path, schema_path)
    got, got_warnings = read_user_csv(csv_path, schema_path)
    assert_same_dataset(got, want) and got_warnings == want_warnings
    got.features.iloc[0, 0] = -1  # a caller's change never reaches the next read
    again, _ = read_user_csv(csv_path, schema_path)
    assert_same_dataset(again, want)
    frame.iloc[::2].to_csv(csv_path, index=False)  # new content: read anew
    assert read_user_csv(csv_path, schema_path)[0].n_rows == len(frame.iloc[::2])


BAD_CELLS = {
    "infinite": ("inf", "non-finite value 'inf'"),
    "padded_infinite": (" -Infinity", "non-finite value ' -Infinity'"),
    "text": ("12a", "'12a'"),
    "ragged": ("1,2", "fields but the header has"),
}


@pytest.mark.parametrize("case", sorted(BAD_CELLS))
def test_reader_errors_equal_its_slow_path(case, tmp_path, monkeypatch):
    from dpcondense.data import DataValidationError
    from dpcondense.paths import CONF_DIR

    frame = load_dataset("metabric").to_frame().astype({"age": object})
    cell, fragment = BAD_CELLS[case]
    frame.loc[[5, 9], "age"] = cell
    csv_path = tmp_path / "bad.csv"
    frame.to_csv(csv_path, index=False, quoting=csv.QUOTE_NONE, escapechar="\\")
    schema_path = CONF_DIR / "dataset" / "metabric.yaml"
    with pytest.raises(DataValidationError) as slow:
        slow_read(monkeypatch, csv_path, schema_path)
    with pytest.raises(DataValidationError) as fast:
        read_user_csv(csv_path, schema_path)
    assert str(fast.value) == str(slow.value) and fragment in str(fast.value)
