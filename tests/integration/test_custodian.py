"""Condense your own CSV — clear errors on bad input, nothing written on failure, the DP
count, schema drafts that never leak bounds silently, and a byte-identical round trip."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dpcondense.cli import main
from dpcondense.privacy.counts import dp_count
from dpcondense.data import DataValidationError
from dpcondense.data.csv import load_user_schema, read_raw_csv, read_user_csv
from dpcondense.data.schema import SchemaError
from dpcondense.paths import CONF_DIR
from dpcondense.privacy import PrivacyLedger

TINY = ["--steps", "2", "--param", "directions=2", "--size", "2", "--no-progress"]

SCHEMA = {
    "name": "cohort",
    "task": "classification",
    "features": [
        {"name": "age", "type": "numeric", "bounds": [18, 100], "integer": True, "unit": "years"},
        {"name": "bmi", "type": "numeric", "bounds": [10, 60], "missing": {"fill": 25, "indicator": True}},
        {"name": "sex", "type": "categorical", "categories": ["F", "M"]},
        {"name": "smoker", "type": "binary"},
    ],
    "outcome": {"label": "died", "positive": 1},
}


def cohort_frame(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 90, n)
    bmi = np.round(rng.uniform(17, 40, n), 1)
    bmi[::9] = np.nan
    died = (age + rng.normal(0, 15, n) > 65).astype(int)
    return pd.DataFrame(
        {"age": age, "bmi": bmi, "sex": rng.choice(["F", "M"], n), "smoker": rng.integers(0, 2, n), "died": died}
    )


@pytest.fixture
def cohort(tmp_path):
    """(csv path, schema path) of a valid 80-row classification cohort."""
    csv_path, schema_path = tmp_path / "cohort.csv", tmp_path / "cohort.yaml"
    cohort_frame().to_csv(csv_path, index=False)
    schema_path.write_text(yaml.safe_dump(SCHEMA))
    return csv_path, schema_path


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def condense_cli(capsys, csv_path, schema_path, out, *extra) -> tuple[int, str, str]:
    rc = main(["condense", "--csv", str(csv_path), "--schema", str(schema_path), "--out", str(out), *TINY, *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# ------------------------------------------------------------------------------ bad input


BAD_FILES = {
    "semicolon": ("age;bmi;sex;smoker;died\n50;25;F;0;1\n", "looks like ';'-delimited; pass --delimiter ';'"),
    "latin1": ("age,bmi,sex,smoker,died\n50,25,F,0,1\n".replace("F", "é").encode("latin-1"), "not readable as UTF-8"),
    "empty": ("", "the file is empty"),
    "blank": ("\n  \n", "the file is empty"),
    "header_only": ("age,bmi,sex,smoker,died\n", "has a header but no data rows"),
    "duplicate": ("age,bmi,age,smoker,died\n50,25,51,0,1\n", "duplicate column names: 'age' (columns 1 and 3)"),
    "empty_name": ("age,bmi,sex,smoker,died,\n50,25,F,0,1,\n", "column(s) [6] of the header have no name"),
    "ragged": ("age,bmi,sex,smoker,died\n50,25,F,0,1\n60,30,M,1,0,7\n", "line 3 has 6 fields but the header has 5"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_get_a_clear_message_and_no_output(case, tmp_path, capsys):
    text, message = BAD_FILES[case]
    csv_path = write(tmp_path, f"{case}.csv", text)
    schema_path = write(tmp_path, "s.yaml", yaml.safe_dump(SCHEMA))
    out = tmp_path / "out"
    rc, _, err = condense_cli(capsys, csv_path, schema_path, out)
    assert rc == 2 and message in err, err
    assert not out.exists()


def test_encoding_message_suggests_the_flag_and_the_flag_works(tmp_path):
    frame = cohort_frame()
    frame["sex"] = np.where(frame["sex"] == "F", "Frau", "Männlich")
    csv_path = tmp_path / "latin.csv"
    frame.to_csv(csv_path, index=False, encoding="latin-1")
    schema = {**SCHEMA, "features": [*SCHEMA["features"][:2], {"name": "sex", "type": "categorical", "categories": ["Frau", "Männlich"]}, SCHEMA["features"][3]]}
    with pytest.raises(DataValidationError, match=r"byte 0xe4 on line \d+ .*--encoding"):
        read_user_csv(csv_path, load_user_schema(schema))
    ds, _ = read_user_csv(csv_path, load_user_schema(schema), encoding="latin-1")
    assert set(ds.features["sex"]) == {"Frau", "Männlich"}


def test_delimiter_flag_reads_the_file(tmp_path):
    csv_path = tmp_path / "semi.csv"
    cohort_frame().to_csv(csv_path, index=False, sep=";")
    ds, warnings = read_user_csv(csv_path, load_user_schema(SCHEMA), delimiter=";")
    assert ds.n_rows == 80 and warnings == []
    with pytest.raises(DataValidationError, match="looks like ';'-delimited; pass --delimiter ';'"):
        read_raw_csv(csv_path)


def bad_frame(case: str) -> tuple[pd.DataFrame, str]:
    f = cohort_frame(20)
    if case == "all_missing":
        f["bmi"] = np.nan
        return f, "column 'bmi' is entirely missing (empty in all 20 rows)"
    if case == "one_class":
        f["died"] = 0
        return f, "label column 'died' has a single class (no row has the positive value 1"
    if case == "non_numeric":
        f["age"] = f["age"].astype(object)
        f.loc[4, "age"] = "sixty"
        return f, "non-numeric value 'sixty' in numeric column 'age' (row 4 (line 6))"
    if case == "infinite":
        f["age"] = f["age"].astype(object)
        f.loc[3, "age"] = "inf"
        return f, "column 'age' has the non-finite value 'inf' at row 3 (line 5)"
    if case == "unknown_category":
        f.loc[7, "sex"] = "X"
        return f, "column 'sex' has category 'X' (row 7 (line 9)) not in the schema"
    if case == "missing_column":
        return f.drop(columns=["smoker"]), "schema column(s) ['smoker'] absent from the file"
    raise KeyError(case)


@pytest.mark.parametrize("case", ["all_missing", "one_class", "non_numeric", "infinite", "unknown_category", "missing_column"])
def test_bad_columns_name_the_column_and_row(case, tmp_path, capsys):
    frame, message = bad_frame(case)
    csv_path = tmp_path / "bad.csv"
    frame.to_csv(csv_path, index=False)
    out = tmp_path / "out"
    rc, _, err = condense_cli(capsys, csv_path, write(tmp_path, "s.yaml", yaml.safe_dump(SCHEMA)), out)
    assert rc == 2 and message in err, err
    assert not out.exists()


SURVIVAL_SCHEMA = {
    "name": "surv",
    "task": "survival",
    "features": [{"name": "age", "type": "numeric", "bounds": [18, 100]}],
    "outcome": {"time": "months", "event": "died", "horizon": 120},
}


def test_survival_time_not_positive_names_row_and_line(tmp_path):
    text = "age,months,died\n50,12.5,1\n60,0,0\n70,-3,1\n65,40,0\n"
    with pytest.raises(DataValidationError, match=r"'months' must be > 0; row 1 \(line 3\) has '0' \(2 row\(s\) <= 0"):
        read_user_csv(write(tmp_path, "s.csv", text), load_user_schema(SURVIVAL_SCHEMA))


def test_survival_without_events_is_refused(tmp_path):
    text = "age,months,died\n50,12.5,0\n60,10,0\n70,3,0\n65,40,0\n"
    with pytest.raises(DataValidationError, match="event column 'died' has no events"):
        read_user_csv(write(tmp_path, "s.csv", text), load_user_schema(SURVIVAL_SCHEMA))


def test_bounds_that_clip_most_of_a_column_warn_with_the_fraction(tmp_path, capsys):
    frame = cohort_frame()
    frame["bmi"] = frame["bmi"] / 100.0  # a unit mistake: fractions instead of kg/m²
    csv_path = tmp_path / "units.csv"
    frame.to_csv(csv_path, index=False)
    _, warnings = read_user_csv(csv_path, load_user_schema(SCHEMA))
    observed = int(frame["bmi"].notna().sum())
    assert warnings == [
        f"column 'bmi': all {observed} of its values lie outside the schema bounds "
        "[10, 60] and are clipped to them; check the bounds and the column's unit"
    ]
    rc, _, err = condense_cli(capsys, csv_path, write(tmp_path, "s.yaml", yaml.safe_dump(SCHEMA)), tmp_path / "out")
    assert rc == 0 and f"warning: column 'bmi': all {observed} of its values" in err
    assert f"column 'bmi': all {observed} of its values" in (tmp_path / "out" / "local" / "report.md").read_text()


def test_more_synthetic_rows_than_real_rows(tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    out = tmp_path / "out"
    rc = main(["condense", "--csv", str(csv_path), "--schema", str(schema_path), "--out", str(out), "--size", "80"])
    err = capsys.readouterr().err
    assert rc == 2 and "requested 160 synthetic rows (2 classes × --size 80), more than the rows of your file" in err
    assert "80 " not in err.replace("--size 80", "")  # the file's row count (private) is never quoted
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epsilon", "0"], "--epsilon='0' must satisfy epsilon > 0 (or be inf)"),
        (["--epsilon", "-1"], "--epsilon='-1' must satisfy epsilon > 0 (or be inf)"),
        (["--delta", "1.5"], "--delta=1.5 must satisfy 0 < delta < 1/n, n = the rows of your file (not shown"),
        (["--delta", "0"], "--delta=0.0 must satisfy 0 < delta < 1/n, n = the rows of your file (not shown"),
        (["--delta", "0.1"], "--delta=0.1 must satisfy 0 < delta < 1/n, n = the rows of your file (not shown"),
    ],
)
def test_epsilon_and_delta_out_of_range(flags, message, tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    out = tmp_path / "out"
    rc = main(["condense", "--csv", str(csv_path), "--schema", str(schema_path), "--out", str(out), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert not out.exists()


def test_schema_and_source_flags(tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    assert main(["condense", "--csv", str(csv_path), "--out", str(tmp_path / "o")]) == 2
    assert "--csv needs --schema" in capsys.readouterr().err
    assert main(["condense", "--dataset", "pima_diabetes", "--schema", str(schema_path), "--out", str(tmp_path / "o")]) == 2
    assert "--schema goes with --csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --dataset and --csv are mutually exclusive
        main(["condense", "--dataset", "pima_diabetes", "--csv", str(csv_path), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_a_failure_during_writing_leaves_no_folder(tmp_path, capsys, cohort, monkeypatch):
    from dpcondense.privacy import PrivacyLedger as Ledger

    def broken(self, path=None):
        raise OSError("disk full")

    monkeypatch.setattr(Ledger, "to_json", broken)
    csv_path, schema_path = cohort
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        condense_cli(capsys, csv_path, schema_path, out)
    assert not out.exists() and list(tmp_path.glob(".out.*")) == []


# ------------------------------------------------------------------------------ a run


def test_csv_run_buys_a_dp_count_and_reports(tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    out = tmp_path / "out"
    rc, stdout, _ = condense_cli(capsys, csv_path, schema_path, out, "--epsilon", "2", "--audit-trials", "8")
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["local", "release"]
    assert sorted(p.name for p in (out / "release").iterdir()) == ["ledger.json", "manifest.json", "synthetic.csv"]
    assert sorted(p.name for p in (out / "local").iterdir()) == ["metrics.json", "report.md"]
    synthetic = pd.read_csv(out / "release" / "synthetic.csv")
    # the user's names, plus the soft labels' weight (DP-ZO's default labels=soft)
    assert list(synthetic.columns) == ["age", "bmi", "sex", "smoker", "died", "sample_weight"]
    assert synthetic["age"].between(18, 100).all() and set(synthetic["sex"]) <= {"F", "M"}  # and units
    ledger = PrivacyLedger.from_json(out / "release" / "ledger.json")
    count, *method_entries = ledger.entries  # the count first, then the method's own entries
    assert count.purpose == "dp_count" and count.mechanism == "discrete laplace" and count.delta == 0.0
    assert count.epsilon == pytest.approx(0.02 * 2) and count.extra["noise_scale"] == pytest.approx(1 / 0.04)
    assert "dpzo_steps" in [e.purpose for e in method_entries]
    assert 1.99 < ledger.total_epsilon <= 2.0 * (1 + 1e-9) and ledger.target_epsilon == 2.0
    assert ledger.private and ledger.release_grade and ledger.noise == "secure" and ledger.n_public == count.extra["released_count"]
    manifest = json.loads((out / "release" / "manifest.json").read_text())
    assert manifest["guarantee"] == ledger.label and manifest["noise"] == "secure" and manifest["rows"] == len(synthetic)
    assert manifest["files"]["synthetic.csv"] == hashlib.sha256((out / "release" / "synthetic.csv").read_bytes()).hexdigest()
    report = (out / "local" / "report.md").read_text()
    for text in ("(2, 1e-05)-DP", "| dp_count | discrete laplace | 0.04 | 0 |", "| dpzo_steps |", "keyed hash of each row",
                 "| auroc |", "Distance to closest record", "pass it as `sample_weight`", "do not share", "Privacy audit", "8 runs on "):
        assert text in report, text


def test_n_public_flag_skips_the_count(tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    rc, _, _ = condense_cli(capsys, csv_path, schema_path, tmp_path / "out", "--n-public", "60")
    ledger = json.loads((tmp_path / "out" / "release" / "ledger.json").read_text())
    purposes = [e["purpose"] for e in ledger["entries"]]
    assert rc == 0 and "dp_count" not in purposes and "dpzo_steps" in purposes and ledger["n_public"] == 60


def test_dp_count_noise_scales_and_floor():
    rng = np.random.default_rng(0)
    draws = np.array([dp_count(1000, epsilon=0.5, rng=rng)[0] for _ in range(4000)])
    assert abs(draws.mean() - 1000) < 0.3 and draws.std() == pytest.approx(math.sqrt(2) * 2, rel=0.1)
    count, details = dp_count(1000, epsilon=1.0, delta=1e-6, mechanism="gaussian", rng=rng)
    assert details["mechanism"] == "gaussian" and details["delta"] == 1e-6 and details["noise_scale"] > 3
    assert dp_count(0, epsilon=0.01, rng=np.random.default_rng(1))[0] >= 1  # floored: a size, never <= 0


# ------------------------------------------------------------------------------ schema init


def test_schema_init_leaves_bounds_null_and_a_run_names_every_feature(tmp_path, capsys, cohort):
    csv_path, _ = cohort
    draft = tmp_path / "draft.yaml"
    assert main(["schema", "init", str(csv_path), "--out", str(draft), "--label", "died"]) == 0
    err = capsys.readouterr().err
    assert "Bounds taken from the data (its min/max) would leak private information" in err
    spec = yaml.safe_load(draft.read_text())
    types = {f["name"]: f["type"] for f in spec["features"]}
    assert types == {"age": "numeric", "bmi": "numeric", "sex": "categorical", "smoker": "binary"}
    assert all(f["bounds"] is None for f in spec["features"] if f["type"] == "numeric")
    assert next(f for f in spec["features"] if f["name"] == "sex")["categories"] == ["F", "M"]
    assert next(f for f in spec["features"] if f["name"] == "bmi")["missing"] == {"indicator": True}
    assert spec["outcome"] == {"label": "died", "positive": 1, "negative": 0}
    assert "TODO" in draft.read_text() and "not the data's min/max" in draft.read_text()
    # every entry read from the rows is marked as private until reviewed
    derived = [line for line in draft.read_text().splitlines() if line.strip().startswith(("categories:", "integer:", "missing:"))]
    assert derived and all("FROM THE DATA (private until reviewed)" in line for line in derived), derived
    out = tmp_path / "out"
    rc, _, err = condense_cli(capsys, csv_path, draft, out)
    assert rc == 2 and "numeric feature(s) ['age', 'bmi'] have no 'bounds'" in err
    assert not out.exists()
    assert main(["schema", "init", str(csv_path), "--out", str(draft)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_schema_init_unsafe_bounds_mark_every_run_not_dp(tmp_path, capsys, cohort):
    csv_path, _ = cohort
    draft = tmp_path / "unsafe.yaml"
    assert main(["schema", "init", str(csv_path), "--out", str(draft), "--unsafe-data-bounds"]) == 0
    assert "Bounds taken from the data leak private information" in capsys.readouterr().err
    spec = yaml.safe_load(draft.read_text())
    assert spec["public"] == {"data_derived_bounds": True}
    frame = cohort_frame()
    age = next(f for f in spec["features"] if f["name"] == "age")
    assert age["bounds"] == [int(frame["age"].min()), int(frame["age"].max())]
    rc, stdout, _ = condense_cli(capsys, csv_path, draft, tmp_path / "out")
    assert rc == 0 and "not DP: bounds derived from the data" in stdout
    ledger = json.loads((tmp_path / "out" / "release" / "ledger.json").read_text())
    assert ledger["private"] is False and ledger["not_dp_reasons"] == ["bounds derived from the data"]
    assert "**Not differentially private**: bounds derived from the data" in (tmp_path / "out" / "local" / "report.md").read_text()


def test_schema_init_survival_and_string_labels(tmp_path, capsys):
    text = "age,stage,months,dead\n50,II,12.5,1\n61,III,30,0\n70,II,3,1\n"
    csv_path = write(tmp_path, "s.csv", text)
    assert main(["schema", "init", str(csv_path), "--time", "months", "--event", "dead"]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)
    assert spec["task"] == "survival" and spec["outcome"]["horizon"] is None
    with pytest.raises(SchemaError, match="survival outcome needs 'horizon'"):
        load_user_schema({**spec, "features": [{"name": "age", "type": "numeric", "bounds": [0, 120]}, spec["features"][1]]})
    csv_path = write(tmp_path, "c.csv", "age,outcome\n50,alive\n61,dead\n70,alive\n")
    assert main(["schema", "init", str(csv_path)]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)
    assert spec["outcome"] == {"label": "outcome", "positive": "dead", "negative": "alive"}


def test_hydra_csv_dataset_config_declares_path_and_schema():
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF_DIR / "dataset" / "csv.yaml")
    assert cfg.name == "csv" and OmegaConf.is_missing(cfg, "path") and OmegaConf.is_missing(cfg, "schema")
    assert {"delimiter", "encoding", "n_public", "count_share"} <= set(cfg.keys())


# ------------------------------------------------------------------------------ round trip


def fitted_rows(monkeypatch) -> list:
    """Record the frame of every dataset DP-ZO is fitted on (the private input of the release)."""
    from dpcondense.methods.base import CondensationMethod

    seen: list = []
    original = CondensationMethod.fit

    def recording(self, dataset, **context):
        if self.name == "dpzo":  # not the references' fits
            seen.append(dataset.to_frame())
        return original(self, dataset, **context)

    monkeypatch.setattr(CondensationMethod, "fit", recording)
    return seen


def test_the_release_is_made_from_every_row_and_one_row_less_changes_only_that_row(tmp_path, monkeypatch, cohort):
    """Add/remove-one-row adjacency on the file: no seeded split sits between the file and the mechanism."""
    from dpcondense.benchmark import resolve_run
    from dpcondense.benchmark.runner import local_check, run_one
    from dpcondense.custodian import csv_run_config

    csv_path, schema_path = cohort
    frame = pd.read_csv(csv_path)
    shorter = tmp_path / "minus_one.csv"
    frame.drop(index=17).to_csv(shorter, index=False)
    seen = fitted_rows(monkeypatch)
    tiny = {"steps": 2, "directions": 2}
    for path in (csv_path, shorter):
        spec = resolve_run(csv_run_config(path, schema_path, method_params=tiny, size=2, n_public=60))
        run_one(spec)
        local_check(spec)
    full, full_check, less, less_check = seen
    assert len(full) == len(frame) and len(less) == len(frame) - 1  # every row of each file
    rows = lambda f: sorted(map(tuple, f.astype(str).to_numpy()))  # noqa: E731
    removed = rows(full)
    for row in rows(less):
        removed.remove(row)
    assert removed == [tuple(full.iloc[[17]].astype(str).to_numpy()[0])]
    # the local check's keyed split: one row less moves no other row out of the fit part
    assert set(rows(less_check)) <= set(rows(full_check))
    assert len(rows(full_check)) - len(rows(less_check)) in (0, 1)


def test_two_releases_with_the_same_seed_differ_and_seeded_noise_is_refused(tmp_path, capsys, cohort):
    csv_path, schema_path = cohort
    for name in ("a", "b"):
        assert condense_cli(capsys, csv_path, schema_path, tmp_path / name, "--seed", "3")[0] == 0
    a, b = ((tmp_path / n / "release" / "synthetic.csv").read_text() for n in ("a", "b"))
    assert a != b  # the noise is secret: the same --seed does not regenerate it
    rc, _, err = condense_cli(capsys, csv_path, schema_path, tmp_path / "seeded", "--noise", "seeded")
    assert rc == 2 and "--noise=seeded is the benchmark mode" in err and not (tmp_path / "seeded").exists()


@pytest.mark.parametrize("param", ["_unsafe_disable_noise=true", "_anything=1"])
def test_private_parameters_are_refused_at_every_surface(tmp_path, capsys, monkeypatch, cohort, param):
    from dpcondense.custodian import condense_csv

    csv_path, schema_path = cohort
    key, value = param.split("=")
    rc, _, err = condense_cli(capsys, csv_path, schema_path, tmp_path / "cli", "--param", param)
    assert rc == 2 and f"--param.{key} is a private parameter" in err and not (tmp_path / "cli").exists()
    rc = main(["condense", "--dataset", "pima_diabetes", "--param", param, "--out", str(tmp_path / "builtin")])
    assert rc == 2 and "is a private parameter" in capsys.readouterr().err and not (tmp_path / "builtin").exists()
    with pytest.raises(ValueError, match=f"method.params.{key} is a private parameter"):
        condense_csv(csv_path, schema_path, method_params={key: True})
    rc = main(["audit", "--method", "dpzo", "--dataset", "pima_diabetes", "--epsilon", "1", "--trials", "4", "--param", param])
    assert rc == 2 and f"--param {key} is a private parameter" in capsys.readouterr().err
