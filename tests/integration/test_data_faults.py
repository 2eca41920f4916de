"""Data faults that change meaning are errors, not warnings.

Every bad file or schema given to ``dpcondense condense --csv … --schema …`` or ``dpcondense schema
init`` exits with status 2 and one line that names the file and the field (column, row or key) and
what is allowed; no traceback, nothing written, and no privacy budget spent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpcondense.cli import main
from dpcondense.data.csv import load_user_schema, read_raw_csv, read_user_csv
from dpcondense.privacy import PrivacyLedger
from test_custodian import SCHEMA, TINY  # the custodian tests' cohort: one definition

COLUMNS = ["age", "bmi", "sex", "smoker", "died"]

SURVIVAL: dict[str, Any] = {
    "name": "surv",
    "task": "survival",
    "features": [
        {"name": "age", "type": "numeric", "bounds": [18, 100]},
        {"name": "stage", "type": "categorical", "categories": ["I", "II", "III"]},
    ],
    "outcome": {"time": "months", "event": "died", "time_unit": "months", "horizon": 120},
}
SURV_COLUMNS = ["age", "stage", "months", "died"]


# ------------------------------------------------------------------------------ building files


def rows(n: int = 40) -> list[list[str]]:
    """A valid classification cohort as text cells (bmi missing in every 9th row, a declared policy)."""
    return [
        [str(20 + (7 * i) % 70), "" if i % 9 == 0 else f"{18 + (i % 20) * 1.1:.1f}", "FM"[i % 2], str((i // 2) % 2),
         str(int(i % 3 == 0))]
        for i in range(n)
    ]


def surv_rows(n: int = 40) -> list[list[str]]:
    return [[str(30 + i), ["I", "II", "III"][i % 3], f"{1 + (i * 2.9) % 110:.1f}", str(int(i % 2 == 0))] for i in range(n)]


def table(body: list[list[str]], header: list[str] = COLUMNS, sep: str = ",") -> str:
    return "\n".join(sep.join(r) for r in [header, *body]) + "\n"


def cell(row: int, col: str, value: str, *, survival: bool = False) -> str:
    """The valid file with one cell replaced (data rows count from 0; row r is on line r + 2)."""
    body, header = (surv_rows(), SURV_COLUMNS) if survival else (rows(), COLUMNS)
    body[row][header.index(col)] = value
    return table(body, header)


def column(col: str, value: Callable[[int], str], *, survival: bool = False) -> str:
    """The valid file with every cell of ``col`` set to ``value(row)``."""
    body, header = (surv_rows(), SURV_COLUMNS) if survival else (rows(), COLUMNS)
    for i, r in enumerate(body):
        r[header.index(col)] = value(i)
    return table(body, header)


def drop(col: str) -> str:
    i = COLUMNS.index(col)
    return table([r[:i] + r[i + 1:] for r in rows()], COLUMNS[:i] + COLUMNS[i + 1:])


def line(n: int, text: str) -> str:
    """The valid file with its line ``n`` (1 = the header) replaced by ``text``."""
    lines = table(rows()).splitlines()
    lines[n - 1] = text
    return "\n".join(lines) + "\n"


def schema(base: dict[str, Any] = SCHEMA, **edit: Callable[[dict[str, Any]], Any]) -> str:
    """``base`` as YAML after applying ``edit["f"](spec)`` (one edit; its return value is ignored)."""
    spec = copy.deepcopy(base)
    for fn in edit.values():
        fn(spec)
    return yaml.safe_dump(spec, sort_keys=False)


def feature(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in spec["features"] if f["name"] == name)


GOOD = table(rows())
GOOD_SURV = table(surv_rows(), SURV_COLUMNS)
GOOD_SCHEMA = schema()
GOOD_SURV_SCHEMA = schema(SURVIVAL)


# ------------------------------------------------------------------------------ the faults

#: name -> (CSV text or bytes, schema YAML, fragments the one-line message must contain)
CSV_FAULTS: dict[str, tuple[str | bytes, str, tuple[str, ...]]] = {
    # the file itself
    "empty_file": ("", GOOD_SCHEMA, ("the file is empty",)),
    "blank_lines_only": ("\n  \n\n", GOOD_SCHEMA, ("the file is empty",)),
    "header_only": (table([]), GOOD_SCHEMA, ("has a header but no data rows",)),
    "duplicate_columns": (table(rows(), ["age", "bmi", "age", "smoker", "died"]), GOOD_SCHEMA,
                          ("duplicate column names: 'age' (columns 1 and 3)",)),
    "unnamed_column": (table([r + [""] for r in rows()], COLUMNS + [""]), GOOD_SCHEMA, ("column(s) [6] of the header have no name",)),
    "semicolon_file": (table(rows(), sep=";"), GOOD_SCHEMA, ("looks like ';'-delimited; pass --delimiter ';'",)),
    "tab_file": (table(rows(), sep="\t"), GOOD_SCHEMA, ("looks like tab-delimited",)),
    "mixed_delimiters": (line(5, "47;24.6;F;0;0"), GOOD_SCHEMA,
                         ("line 5 has 1 field(s) but the header has 5: it splits into 5 fields on ';'",)),
    "short_line": (line(4, "34,20.2,M,1"), GOOD_SCHEMA, ("line 4 has 4 field(s) but the header has 5", "empty field")),
    "long_line": (line(3, "27,19.1,M,0,0,7"), GOOD_SCHEMA, ("line 3 has 6 fields but the header has 5",)),
    "trailing_delimiter_on_rows": (table([r + [""] for r in rows()]), GOOD_SCHEMA,
                                   ("line 2 has 6 fields but the header has 5 (a trailing ','? remove it)",)),
    "unclosed_quote": (line(6, '55,"23.3,F,1,0'), GOOD_SCHEMA, ("line 6: bad quoting",)),
    "latin1_bytes": (GOOD.replace("F", "é").encode("latin-1"), GOOD_SCHEMA, ("not readable as UTF-8", "--encoding")),
    "utf16_file": (GOOD.encode("utf-16"), GOOD_SCHEMA, ("UTF-16", "--encoding utf-16")),
    "spreadsheet_bytes": (b"PK\x03\x04\x14\x00\x00\x00age,died\n", GOOD_SCHEMA, ("NUL bytes", "export it as CSV")),
    # the label
    "label_three_values": (column("died", lambda i: str(i % 3)), GOOD_SCHEMA,
                           ("label column 'died' has the values [0, 1, 2]", "outcome.positive 1 and one other value",
                            "[0, 2] would merge")),
    "label_third_value_declared_negative": (
        column("died", lambda i: str(i % 3)), schema(e=lambda s: s["outcome"].update(negative=0)),
        ("label column 'died'", "[2] is neither outcome.positive 1 nor outcome.negative 0")),
    "label_words_numeric_positive": (column("died", lambda i: "yes" if i % 3 else "no"), GOOD_SCHEMA,
                                     ("label column 'died' has the values ['no', 'yes']",)),
    "label_missing_cell": (cell(3, "died", ""), GOOD_SCHEMA,
                           ("label column 'died' is missing at row 3 (line 5)", "allowed: outcome.positive 1")),
    "label_single_class": (column("died", lambda i: "0"), GOOD_SCHEMA, ("label column 'died' has a single class",)),
    "label_one_positive": (column("died", lambda i: str(int(i == 5))), GOOD_SCHEMA, ("has only 1 row of one class",)),
    "label_entirely_missing": (column("died", lambda i: ""), GOOD_SCHEMA, ("column 'died' is entirely missing",)),
    # features
    "category_not_in_schema": (cell(7, "sex", "X"), GOOD_SCHEMA,
                               ("column 'sex' has category 'X' (row 7 (line 9)) not in the schema; allowed: ['F', 'M']",)),
    "category_wrong_case": (cell(2, "sex", "f"), GOOD_SCHEMA, ("column 'sex' has category 'f' (row 2 (line 4))",)),
    "binary_two": (cell(5, "smoker", "2"), GOOD_SCHEMA, ("binary column 'smoker' has value 2 (row 5 (line 7)); allowed: 0, 1",)),
    "binary_half": (cell(5, "smoker", "0.5"), GOOD_SCHEMA, ("binary column 'smoker' has value 0.5",)),
    "binary_word": (cell(6, "smoker", "yes"), GOOD_SCHEMA,
                    ("non-numeric value 'yes' in binary column 'smoker' (row 6 (line 8)); allowed: 0, 1",)),
    "numeric_word": (cell(4, "age", "sixty"), GOOD_SCHEMA,
                     ("non-numeric value 'sixty' in numeric column 'age' (row 4 (line 6)); allowed: numbers in [18, 100]",)),
    "numeric_inf": (cell(3, "age", "inf"), GOOD_SCHEMA, ("column 'age' has the non-finite value 'inf' at row 3 (line 5)",)),
    "numeric_minus_inf": (cell(3, "bmi", "-inf"), GOOD_SCHEMA, ("column 'bmi' has the non-finite value '-inf'",)),
    "numeric_overflow": (cell(8, "bmi", "1e999"), GOOD_SCHEMA, ("column 'bmi' has the non-finite value '1e999'",)),
    "numeric_decimal_comma": (cell(2, "bmi", '"24,5"'), GOOD_SCHEMA, ("numeric column 'bmi'", "a decimal comma or a thousands separator?")),
    "numeric_entirely_missing": (column("bmi", lambda i: ""), GOOD_SCHEMA, ("column 'bmi' is entirely missing",)),
    "missing_without_policy": (cell(2, "age", ""), GOOD_SCHEMA,
                               ("column 'age' has missing values (first at row 2 (line 4))", "missing policy")),
    "categorical_missing_without_policy": (cell(1, "sex", ""), GOOD_SCHEMA, ("column 'sex' has missing values",)),
    "schema_column_absent": (drop("smoker"), GOOD_SCHEMA, ("schema column(s) ['smoker'] absent from the file",)),
    "column_name_case": (table(rows(), ["Age", *COLUMNS[1:]]), GOOD_SCHEMA, ("['age'] absent from the file (did you mean 'Age'?)",)),
    "extra_column": (table([r + ["1"] for r in rows()], COLUMNS + ["zip"]), GOOD_SCHEMA,
                     ("data column(s) absent from the schema: ['zip']",)),
    # survival outcome
    "event_two": (cell(4, "died", "2", survival=True), GOOD_SURV_SCHEMA,
                  ("event column 'died' must be 0 or 1; row 4 (line 6) has 2",)),
    "event_word": (cell(4, "died", "yes", survival=True), GOOD_SURV_SCHEMA, ("event column 'died' must be 0 or 1", "'yes'")),
    "event_missing": (cell(4, "died", "", survival=True), GOOD_SURV_SCHEMA,
                      ("event column 'died' is missing at row 4 (line 6); allowed: 0 (censored), 1 (event)",)),
    "no_events": (column("died", lambda i: "0", survival=True), GOOD_SURV_SCHEMA, ("event column 'died' has no events",)),
    "time_zero": (cell(2, "months", "0", survival=True), GOOD_SURV_SCHEMA,
                  ("survival time column 'months' must be > 0; row 2 (line 4) has '0'",)),
    "time_negative": (cell(2, "months", "-3", survival=True), GOOD_SURV_SCHEMA, ("'months' must be > 0", "'-3'")),
    "time_as_text": (cell(3, "months", "12 months", survival=True), GOOD_SURV_SCHEMA,
                     ("survival time column 'months' has the non-numeric value '12 months' at row 3 (line 5)",)),
    "time_missing": (cell(3, "months", "", survival=True), GOOD_SURV_SCHEMA,
                     ("survival time column 'months' is missing at row 3 (line 5)",)),
    "time_infinite": (cell(3, "months", "inf", survival=True), GOOD_SURV_SCHEMA, ("column 'months' has the non-finite value 'inf'",)),
    "times_all_beyond_horizon": (column("months", lambda i: str(200 + i), survival=True), GOOD_SURV_SCHEMA,
                                 ("every time lies beyond the schema's outcome.horizon 120 months", "a unit mismatch?")),
    "times_some_beyond_horizon": (column("months", lambda i: str(130 if i in (3, 9, 27) else 10 + i), survival=True),
                                  GOOD_SURV_SCHEMA, ("3 times lie beyond the schema's outcome.horizon 120 months",)),
    "times_below_min_time": (column("months", lambda i: str(0.5 if i == 4 else 10 + i), survival=True),
                             schema(SURVIVAL, e=lambda s: s["outcome"].update(min_time=1)),
                             ("1 time lies below the schema's outcome.min_time 1",)),
    "time_entirely_missing": (column("months", lambda i: "", survival=True), GOOD_SURV_SCHEMA, ("column 'months' is entirely missing",)),
}

#: name -> (schema YAML, fragments); the CSV is the valid one of the schema's task
SCHEMA_FAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # the file
    "schema_empty_file": ("", ("the schema file is empty",)),
    "schema_not_yaml": ("name: [cohort\ntask: classification\n", ("not valid YAML (line",)),
    "schema_a_list": ("- age\n- died\n", ("a schema must be a YAML mapping",)),
    "schema_key_twice": (GOOD_SCHEMA + "task: survival\n", ("the key 'task' is written twice",)),
    "feature_key_twice": (
        (
            "name: c\ntask: classification\noutcome: {label: died}\nfeatures:\n"
            "  - {name: age, type: numeric, bounds: [18, 100], bounds: [0, 1]}\n"
        ),
        ("the key 'bounds' is written twice",),
    ),
    "unknown_top_level_key": (schema(e=lambda s: s.update(feature=[])), ("unknown key 'feature' (did you mean 'features'?)",)),
    # task and features
    "task_missing": (schema(e=lambda s: s.pop("task")), ("'task' must be one of ['classification', 'survival'], got None",)),
    "task_unknown": (schema(e=lambda s: s.update(task="regression")), ("'task' must be one of", "'regression'")),
    "features_missing": (schema(e=lambda s: s.pop("features")), ("'features' must list at least one feature",)),
    "features_a_mapping": (schema(e=lambda s: s.update(features={"age": "numeric"})), ("'features' must be a list",)),
    "feature_without_name": (schema(e=lambda s: s["features"][0].pop("name")), ("every feature needs a 'name'",)),
    "feature_type_unknown": (schema(e=lambda s: feature(s, "age").update(type="float")),
                             ("feature 'age': 'type' must be one of ['numeric', 'binary', 'categorical'], got 'float'",)),
    "feature_type_missing": (schema(e=lambda s: feature(s, "sex").pop("type")), ("feature 'sex': 'type' must be one of",)),
    "feature_unknown_key": (schema(e=lambda s: feature(s, "age").update(interger=True)),
                            ("feature 'age': unknown key 'interger' (did you mean 'integer'?)",)),
    "duplicate_feature_names": (schema(e=lambda s: s["features"].append({"name": "age", "type": "binary"})),
                                ("duplicate feature names ['age']",)),
    "outcome_listed_as_feature": (schema(e=lambda s: s["features"].append({"name": "died", "type": "binary"})),
                                  ("outcome column(s) ['died'] also listed as features",)),
    # bounds
    "bounds_swapped": (schema(e=lambda s: feature(s, "age").update(bounds=[100, 18])),
                       ("numeric feature 'age': 'bounds' need low < high, got [100, 18] (low is above high)",)),
    "bounds_equal": (schema(e=lambda s: feature(s, "age").update(bounds=[50, 50])), ("numeric feature 'age'", "(low equals high)")),
    "bounds_text": (schema(e=lambda s: feature(s, "age").update(bounds=["low", 100])),
                    ("numeric feature 'age': 'bounds' low must be a number, got 'low'",)),
    "bounds_one_value": (schema(e=lambda s: feature(s, "age").update(bounds=[18])), ("feature 'age': 'bounds' must be [low, high]",)),
    "bounds_infinite": (schema(e=lambda s: feature(s, "bmi").update(bounds=[10, float("inf")])),
                        ("feature 'bmi': 'bounds' must be finite numbers",)),
    "bounds_null": (schema(e=lambda s: feature(s, "age").update(bounds=None)), ("numeric feature(s) ['age'] have no 'bounds'",)),
    "bounds_on_binary": (schema(e=lambda s: feature(s, "smoker").update(bounds=[0, 1])),
                         ("feature 'smoker' is binary: 'bounds' applies to numeric features only",)),
    "integer_not_a_flag": (schema(e=lambda s: feature(s, "age").update(integer="sometimes")),
                           ("feature 'age': 'integer' must be true or false, got 'sometimes'",)),
    # categories and missing values
    "categories_missing": (schema(e=lambda s: feature(s, "sex").pop("categories")), ("categorical feature 'sex' needs 'categories'",)),
    "categories_one": (schema(e=lambda s: feature(s, "sex").update(categories=["F"])), ("categorical feature 'sex' needs 'categories' (at least two)",)),
    "categories_twice": (schema(e=lambda s: feature(s, "sex").update(categories=["F", "M", "F"])),
                         ("categorical feature 'sex': category 'F' is listed twice",)),
    "categories_not_a_list": (schema(e=lambda s: feature(s, "sex").update(categories="F, M")), ("'categories' must be a list",)),
    "missing_not_a_mapping": (schema(e=lambda s: feature(s, "bmi").update(missing="yes please")),
                              ("feature 'bmi': 'missing' must be a mapping with fill/indicator",)),
    "missing_unknown_key": (schema(e=lambda s: feature(s, "bmi").update(missing={"fil": 25})),
                            ("feature 'bmi': 'missing': unknown key 'fil' (did you mean 'fill'?)",)),
    "missing_fill_text": (schema(e=lambda s: feature(s, "bmi").update(missing={"fill": "normal"})),
                          ("feature 'bmi': 'missing.fill' must be a number, got 'normal'",)),
    "missing_fill_outside_bounds": (schema(e=lambda s: feature(s, "bmi").update(missing={"fill": 99})),
                                    ("feature 'bmi': missing fill 99 lies outside bounds [10, 60]",)),
    "missing_indicator_text": (schema(e=lambda s: feature(s, "bmi").update(missing={"indicator": "no"})),
                               ("'missing.indicator' must be true or false, got 'no'",)),
    "binary_fill_two": (schema(e=lambda s: feature(s, "smoker").update(missing={"fill": 2})),
                        ("binary feature 'smoker': missing fill must be 0 or 1",)),
    "categorical_fill_unknown": (schema(e=lambda s: feature(s, "sex").update(missing={"fill": "X"})),
                                 ("feature 'sex': missing fill 'X' is not one of its categories",)),
    # the classification outcome
    "outcome_missing": (schema(e=lambda s: s.pop("outcome")), ("the schema has no 'outcome'",)),
    "outcome_not_a_mapping": (schema(e=lambda s: s.update(outcome="died")), ("'outcome' must be a mapping",)),
    "label_key_missing": (schema(e=lambda s: s["outcome"].pop("label")), ("classification outcome needs 'label'",)),
    "positive_equals_negative": (schema(e=lambda s: s["outcome"].update(negative=1.0)),
                                 ("outcome.positive and outcome.negative are the same value 1",)),
    "positive_null": (schema(e=lambda s: s["outcome"].update(positive=None)), ("outcome.positive must be one value",)),
    "outcome_unknown_key": (schema(e=lambda s: s["outcome"].update(postive=1)),
                            ("outcome: unknown key 'postive' (did you mean 'positive'?)",)),
    "survival_key_in_classification": (schema(e=lambda s: s["outcome"].update(horizon=10)),
                                       ("outcome: 'horizon' belongs to a survival outcome",)),
    "positive_yaml_boolean": (GOOD_SCHEMA.replace("positive: 1", "positive: yes"),
                              ("outcome.positive is the YAML boolean True", "quote the value")),
    "category_yaml_boolean": (schema(e=lambda s: feature(s, "sex").update(categories=[True, False])),
                              ("categorical feature 'sex': category True is a YAML boolean",)),
    "reserved_column_name": (schema(e=lambda s: feature(s, "smoker").update(name="sample_weight")),
                             ("column name 'sample_weight' is reserved for the release's per-row weights",)),
    # public facts
    "public_not_a_mapping": (schema(e=lambda s: s.update(public=5000)), ("'public' must be a mapping",)),
    "public_n_rows_text": (schema(e=lambda s: s.update(public={"n_rows": "many"})), ("public.n_rows", "must be a number")),
    "public_n_rows_zero": (schema(e=lambda s: s.update(public={"n_rows": 0})), ("public.n_rows", "whole number >= 1")),
    "public_unknown_key": (schema(e=lambda s: s.update(public={"nrows": 40})), ("public: unknown key 'nrows' (did you mean 'n_rows'?)",)),
    # the survival outcome
    "horizon_missing": (schema(SURVIVAL, e=lambda s: s["outcome"].pop("horizon")), ("survival outcome needs 'horizon'",)),
    "horizon_zero": (schema(SURVIVAL, e=lambda s: s["outcome"].update(horizon=0)), ("outcome 'horizon' must be a finite number > 0", "got 0")),
    "horizon_negative": (schema(SURVIVAL, e=lambda s: s["outcome"].update(horizon=-12)), ("'horizon' must be a finite number > 0",)),
    "horizon_text": (schema(SURVIVAL, e=lambda s: s["outcome"].update(horizon="ten years")),
                     ("outcome.horizon must be a number, got 'ten years'",)),
    "horizon_infinite": (schema(SURVIVAL, e=lambda s: s["outcome"].update(horizon=float("inf"))), ("'horizon' must be a finite number",)),
    "grid_size_zero": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid_size=0)), ("outcome.grid_size", "whole number >= 1, got 0")),
    "grid_size_negative": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid_size=-5)), ("outcome.grid_size", "got -5")),
    "grid_size_fraction": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid_size=2.5)), ("outcome.grid_size", "got 2.5")),
    "grid_size_text": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid_size="many")), ("outcome.grid_size", "must be a number")),
    "grid_not_increasing": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid=[12, 6, 24])), ("'grid' must be strictly increasing",)),
    "grid_beyond_horizon": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid=[12, 60, 240])),
                            ("its last point 240 is beyond the horizon 120",)),
    "grid_and_grid_size": (schema(SURVIVAL, e=lambda s: s["outcome"].update(grid=[12, 60], grid_size=10)), ("not both",)),
    "min_time_above_horizon": (schema(SURVIVAL, e=lambda s: s["outcome"].update(min_time=200)),
                               ("outcome 'min_time' must lie in (0, horizon) = (0, 120), got 200",)),
    "min_time_zero": (schema(SURVIVAL, e=lambda s: s["outcome"].update(min_time=0)), ("'min_time' must lie in (0, horizon)",)),
    "time_equals_event": (schema(SURVIVAL, e=lambda s: s["outcome"].update(event="months")),
                          ("outcome.time and outcome.event are the same column 'months'",)),
    "event_key_missing": (schema(SURVIVAL, e=lambda s: s["outcome"].pop("event")), ("survival outcome needs 'event'",)),
    "label_key_in_survival": (schema(SURVIVAL, e=lambda s: s["outcome"].update(label="died")),
                              ("outcome: 'label' belongs to a classification outcome",)),
    "time_listed_as_feature": (schema(SURVIVAL, e=lambda s: s["features"].append({"name": "months", "type": "numeric", "bounds": [0, 1]})),
                               ("outcome column(s) ['months'] also listed as features",)),
}

#: name -> (CSV text, flags of `schema init`, fragments)
INIT_FAULTS: dict[str, tuple[str | bytes, list[str], tuple[str, ...]]] = {
    "init_empty_file": ("", [], ("the file is empty",)),
    "init_header_only": (table([]), [], ("has a header but no data rows",)),
    "init_duplicate_columns": (table(rows(), ["age", "bmi", "age", "smoker", "died"]), [], ("duplicate column names: 'age'",)),
    "init_short_line": (line(4, "34,20.2,M,1"), [], ("line 4 has 4 field(s) but the header has 5",)),
    "init_semicolon_file": (table(rows(), sep=";"), [], ("pass --delimiter ';'",)),
    "init_label_not_in_file": (GOOD, ["--label", "dead"], ("outcome column 'dead' is not in the file",)),
    "init_label_three_values": (column("died", lambda i: str(i % 3)), ["--label", "died"],
                                ("label column 'died' has 3 distinct values [0, 1, 2]",)),
    "init_label_single_class": (column("died", lambda i: "1"), ["--label", "died"], ("label column 'died' has a single class ([1])",)),
    "init_column_entirely_missing": (column("bmi", lambda i: ""), [], ("column 'bmi' is entirely missing",)),
    "init_time_not_a_number": (cell(2, "months", "soon", survival=True), ["--time", "months", "--event", "died"],
                               ("survival time column 'months' has a cell that is not a number at row 2 (line 4)",)),
    "init_time_without_event": (GOOD_SURV, ["--time", "months"], ("survival needs both --time and --event",)),
    "init_time_equals_event": (GOOD_SURV, ["--time", "months", "--event", "months"], ("--time and --event name the same column",)),
    "init_label_and_time": (GOOD_SURV, ["--label", "died", "--time", "months", "--event", "died"], ("choose --label",)),
}


# ------------------------------------------------------------------------------ the checks


@pytest.fixture
def no_spend(monkeypatch):
    """Fail if any privacy budget is spent (every fault must be refused before)."""
    spent: list = []

    def spend(self, *args, **kwargs):
        spent.append((args, kwargs))
        raise AssertionError("privacy budget spent before the input was validated")

    monkeypatch.setattr(PrivacyLedger, "spend", spend)
    return spent


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def condense(capsys, csv_path: Path, schema_path: Path, out: Path) -> tuple[int, str]:
    rc = main(["condense", "--csv", str(csv_path), "--schema", str(schema_path), "--out", str(out), *TINY])
    captured = capsys.readouterr()
    return rc, captured.err


def assert_one_clear_line(err: str, command: str, fragments: tuple[str, ...], names: str) -> None:
    assert err.startswith(f"dpcondense {command}: error: ") and err.endswith("\n"), err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err and "np.float64" not in err and "np.int64" not in err, err
    assert names in err, f"the message does not name {names}: {err}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_the_fault_table_is_large():
    assert len(CSV_FAULTS) + len(SCHEMA_FAULTS) + len(INIT_FAULTS) >= 60


@pytest.mark.parametrize("case", list(CSV_FAULTS))
def test_a_bad_file_is_refused_naming_the_file_and_the_field(case, tmp_path, capsys, no_spend):
    text, schema_text, fragments = CSV_FAULTS[case]
    csv_path = write(tmp_path / "data.csv", text)
    schema_path = write(tmp_path / "schema.yaml", schema_text)
    rc, err = condense(capsys, csv_path, schema_path, tmp_path / "out")
    assert rc == 2, err
    assert_one_clear_line(err, "condense", fragments, str(csv_path))
    assert not (tmp_path / "out").exists() and not no_spend


@pytest.mark.parametrize("case", list(SCHEMA_FAULTS))
def test_a_bad_schema_is_refused_naming_the_file_and_the_field(case, tmp_path, capsys, no_spend):
    schema_text, fragments = SCHEMA_FAULTS[case]
    survival = "survival" in schema_text and "task: survival" in schema_text
    csv_path = write(tmp_path / "data.csv", GOOD_SURV if survival else GOOD)
    schema_path = write(tmp_path / "schema.yaml", schema_text)
    rc, err = condense(capsys, csv_path, schema_path, tmp_path / "out")
    assert rc == 2, err
    assert_one_clear_line(err, "condense", fragments, str(schema_path))
    assert not (tmp_path / "out").exists() and not no_spend


@pytest.mark.parametrize("case", list(INIT_FAULTS))
def test_schema_init_refuses_a_bad_file_and_writes_nothing(case, tmp_path, capsys):
    text, flags, fragments = INIT_FAULTS[case]
    csv_path = write(tmp_path / "data.csv", text)
    out = tmp_path / "draft.yaml"
    rc = main(["schema", "init", str(csv_path), "--out", str(out), *flags])
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    names = "--" if case in ("init_time_without_event", "init_time_equals_event", "init_label_and_time") else str(csv_path)
    assert_one_clear_line(captured.err, "schema init", fragments, names)
    assert not out.exists() and captured.out == ""


def test_the_valid_files_pass(tmp_path):
    """The table's faults are faults: the files they start from are read without error."""
    ds, warnings = read_user_csv(write(tmp_path / "a.csv", GOOD), load_user_schema(yaml.safe_load(GOOD_SCHEMA)))
    assert ds.n_rows == 40 and warnings == []
    ds, warnings = read_user_csv(write(tmp_path / "b.csv", GOOD_SURV), load_user_schema(yaml.safe_load(GOOD_SURV_SCHEMA)))
    assert ds.n_rows == 40 and warnings == []


# ------------------------------------------------------------------------------ not faults


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF8"])
def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path, encoding):
    csv_path = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + GOOD.encode())
    assert list(read_raw_csv(csv_path, encoding=encoding).frame.columns) == COLUMNS
    ds, _ = read_user_csv(csv_path, load_user_schema(yaml.safe_load(GOOD_SCHEMA)), encoding=encoding)
    assert ds.n_rows == 40


def test_a_declared_negative_label_and_text_labels_are_read(tmp_path):
    spec = yaml.safe_load(schema(e=lambda s: s["outcome"].update(positive="dead", negative="alive")))
    ds, _ = read_user_csv(write(tmp_path / "t.csv", column("died", lambda i: "dead" if i % 3 == 0 else "alive")), load_user_schema(spec))
    assert int(ds.y.sum()) == 14 and ds.n_rows == 40
    # without a declared negative, one other value is the negative class
    spec["outcome"].pop("negative")
    ds, _ = read_user_csv(write(tmp_path / "u.csv", column("died", lambda i: "dead" if i % 3 == 0 else "alive")), load_user_schema(spec))
    assert int(ds.y.sum()) == 14


def test_a_category_spelled_like_a_missing_marker_is_a_category(tmp_path):
    """pandas reads ``None`` and ``NA`` as missing: in a column whose categories list them they stay text."""
    spec = yaml.safe_load(schema(e=lambda s: feature(s, "sex").update(categories=["F", "M", "None"], missing={"indicator": True})))
    text = table([r[:2] + [{0: "None", 1: ""}.get(i, r[2])] + r[3:] for i, r in enumerate(rows())])
    ds, _ = read_user_csv(write(tmp_path / "na.csv", text), load_user_schema(spec))
    assert ds.features["sex"].iloc[0] == "None" and ds.features["sex"].iloc[1] is None
    assert ds.features["sex"].iloc[2:].isin(["F", "M"]).all()


@pytest.mark.parametrize("newline, final", [("\r\n", True), ("\n", False), ("\r", True)])
def test_line_endings_and_a_missing_final_newline_are_read(tmp_path, newline, final):
    text = GOOD.rstrip("\n").replace("\n", newline) + (newline if final else "")
    ds, _ = read_user_csv(write(tmp_path / "eol.csv", text), load_user_schema(yaml.safe_load(GOOD_SCHEMA)))
    assert ds.n_rows == 40


def test_times_at_the_horizon_are_on_the_scale(tmp_path):
    text = column("months", lambda i: "120" if i % 5 == 0 else str(1 + i), survival=True)
    ds, _ = read_user_csv(write(tmp_path / "h.csv", text), load_user_schema(yaml.safe_load(GOOD_SURV_SCHEMA)))
    assert ds.time.max() == 120


# ------------------------------------------------------------------------------ wording


def test_bound_warnings_say_all_or_a_share_of_the_values(tmp_path):
    text = column("age", lambda i: str(200 + i))  # every age outside [18, 100]
    _, warnings = read_user_csv(write(tmp_path / "a.csv", text), load_user_schema(yaml.safe_load(GOOD_SCHEMA)))
    assert warnings == [
        (
            "column 'age': all 40 of its values lie outside the schema bounds [18, 100] and are clipped to them; check "
            "the bounds and the column's unit (years)"
        )
    ]
    text = column("age", lambda i: "150" if i < 4 else str(30 + i))
    _, warnings = read_user_csv(write(tmp_path / "b.csv", text), load_user_schema(yaml.safe_load(GOOD_SCHEMA)))
    assert warnings == [
        (
            "column 'age': 10.0% of its values (4 of 40) lie outside the schema bounds [18, 100] and are clipped to "
            "them; check the bounds and the column's unit (years)"
        )
    ]


def test_the_label_message_names_values_not_counts(tmp_path, capsys):
    csv_path = write(tmp_path / "data.csv", column("died", lambda i: str(i % 3)))
    rc, err = condense(capsys, csv_path, write(tmp_path / "s.yaml", GOOD_SCHEMA), tmp_path / "out")
    assert rc == 2 and "[0, 1, 2]" in err
    for count in ("40", "13", "14"):  # the rows, and the rows of each value, are private
        assert count not in err.replace(str(tmp_path), ""), err


def test_times_beyond_the_horizon_are_counted_not_located(tmp_path, capsys):
    text, schema_text, _ = CSV_FAULTS["times_some_beyond_horizon"]
    csv_path = write(tmp_path / "data.csv", text)
    rc, err = condense(capsys, csv_path, write(tmp_path / "s.yaml", schema_text), tmp_path / "out")
    message = err.replace(str(csv_path), "FILE")
    assert rc == 2 and "3 times lie" in message and "row" not in message.replace("rows at the horizon", "")


# ------------------------------------------------------------------------------ schema init drafts


def test_a_typo_in_a_numeric_column_is_drafted_numeric_and_located(tmp_path, capsys):
    body = rows(300)
    body[57][0] = "6o"
    csv_path = write(tmp_path / "typo.csv", table(body))
    out = tmp_path / "draft.yaml"
    assert main(["schema", "init", str(csv_path), "--label", "died", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    age = next(f for f in yaml.safe_load(out.read_text())["features"] if f["name"] == "age")
    assert age["type"] == "numeric" and age["bounds"] is None and "categories" not in age
    note = next(n for n in err.splitlines() if "'age'" in n)
    assert "row 57 (line 59)" in note and "6o" not in note and "is not a number" in note
    assert "6o" not in out.read_text() and "categories: [\"20\"" not in out.read_text()


def test_many_distinct_text_values_are_not_listed(tmp_path, capsys):
    csv_path = write(tmp_path / "ids.csv", table([[f"P{i:04d}", str(i % 2)] for i in range(60)], ["patient", "died"]))
    out = tmp_path / "draft.yaml"
    assert main(["schema", "init", str(csv_path), "--out", str(out)]) == 0
    assert "60 distinct text values" in capsys.readouterr().err
    patient = yaml.safe_load(out.read_text())["features"][0]
    assert patient["categories"] is None and "P0001" not in out.read_text()


def test_draft_notes_print_plain_numbers(tmp_path, capsys):
    csv_path = write(tmp_path / "c.csv", table([[str(i), str(2.0 if i % 4 else 7.0)] for i in range(20)], ["x", "grade"]))
    assert main(["schema", "init", str(csv_path)]) == 0
    err = capsys.readouterr().err
    assert "took the rarer value 7 of 'grade'" in err and "np." not in err


def test_survival_draft_notes_locate_bad_times_and_events(tmp_path, capsys):
    body = surv_rows()
    body[3][2], body[6][3] = "0", "2"
    csv_path = write(tmp_path / "s.csv", table(body, SURV_COLUMNS))
    assert main(["schema", "init", str(csv_path), "--time", "months", "--event", "died"]) == 0
    err = capsys.readouterr().err
    assert "time column 'months' must be > 0" in err and "row 3 (line 5)" in err
    assert "event column 'died' must hold 0/1" in err and "row 6 (line 8)" in err
