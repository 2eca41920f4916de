"""Public schema, schema-only encoder, bring-your-own CSV, and bad-input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from dpcondense.data import DataValidationError, from_frame, load_csv
from dpcondense.data.encoder import Encoder
from dpcondense.data.schema import Schema, SchemaError

SURV = {
    "name": "toy_surv",
    "task": "survival",
    "features": [
        {"name": "age", "type": "numeric", "bounds": [20, 100], "integer": True},
        {"name": "marker", "type": "numeric", "bounds": [0.0, 10.0], "missing": {"fill": 5.0, "indicator": True}},
        {"name": "treated", "type": "binary"},
        {"name": "stage", "type": "categorical", "categories": ["I", "II", "III"]},
    ],
    "outcome": {"time": "t", "event": "e", "horizon": 60},
}


def toy_frame(rng: np.random.Generator, n: int = 50) -> pd.DataFrame:
    marker = rng.uniform(0, 10, n)
    marker[::7] = np.nan
    return pd.DataFrame(
        {
            "age": rng.integers(20, 101, n).astype(float),
            "marker": marker,
            "treated": rng.integers(0, 2, n),
            "stage": rng.choice(["I", "II", "III"], n),
            "t": rng.uniform(0.5, 70, n),
            "e": rng.integers(0, 2, n),
        }
    )


def write_schema(tmp_path, spec) -> str:
    p = tmp_path / "schema.yaml"
    p.write_text(yaml.safe_dump(spec))
    return str(p)


def test_round_trip_within_bounds():
    schema = Schema.from_dict(SURV)
    frame = toy_frame(np.random.default_rng(0))
    ds = from_frame(frame, schema)
    enc = Encoder(schema)
    X = enc.transform(ds.features)
    assert X.shape == (50, 1 + 2 + 1 + 3)
    assert (X >= enc.lower_).all() and (X <= enc.upper_).all()
    back = enc.inverse_transform(X)
    np.testing.assert_allclose(back["age"], frame["age"])
    np.testing.assert_allclose(back["marker"], frame["marker"], equal_nan=True)  # NaN via indicator
    assert (back["treated"].to_numpy() == frame["treated"].to_numpy()).all()
    assert (back["stage"].to_numpy() == frame["stage"].to_numpy()).all()


def test_scaling_is_the_public_affine_map():
    schema = Schema.from_dict(SURV)
    frame = pd.DataFrame({"age": [20.0, 60.0, 100.0, 140.0], "marker": [0, 5, 10, 2.5], "treated": [0, 1, 0, 1],
                          "stage": ["I", "II", "III", "I"]})
    X = Encoder(schema).transform(frame)
    np.testing.assert_allclose(X[:, 0], [-1.0, 0.0, 1.0, 1.0])  # 140 clipped to the bound 100
    np.testing.assert_allclose(X[:, 1], [-1.0, 0.0, 1.0, -0.5])


def test_encoder_uses_no_data_statistics():
    # the same rows encode identically whatever other rows share the dataset: a fitted scaler
    # (min/max, mean/std, category frequencies) would make the two encodings differ
    schema = Schema.from_dict(SURV)
    a = from_frame(toy_frame(np.random.default_rng(1), 40), schema)
    b_frame = toy_frame(np.random.default_rng(2), 40)
    b_frame.loc[:, "age"] = 99.0  # a very different population
    b_frame.iloc[:10] = toy_frame(np.random.default_rng(1), 40).iloc[:10].to_numpy()
    b = from_frame(b_frame, schema)
    Xa = a.encoded()[:10]
    Xb = b.encoded()[:10]
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(Encoder(schema).transform(a.features)[:10], Xa)


@pytest.mark.parametrize("name", ["metabric", "support_mortality", "pima_diabetes", "flchain", "gbsg", "breast_cancer_wisconsin"])
def test_builtin_round_trip(datasets, name):
    ds = datasets[name]
    enc = ds.encoder()
    X = ds.encoded()
    assert np.isfinite(X).all()
    assert (X >= enc.lower_ - 1e-12).all() and (X <= enc.upper_ + 1e-12).all()
    X2 = enc.transform(enc.inverse_transform(X))
    # decode then encode is the identity up to integer rounding of numeric columns
    numeric_integer = [i for i, f in enumerate(ds.schema.features) if f.integer]
    slices = enc.feature_slices()
    tol = np.zeros(X.shape[1])
    for f in ds.schema.features:
        if f.integer:
            lo, hi = f.bounds
            tol[slices[f.name]] = 1.0 / (hi - lo) + 1e-9
    assert (np.abs(X2 - X) <= tol + 1e-9).all(), numeric_integer


def test_load_csv_matches_from_frame(tmp_path):
    frame = toy_frame(np.random.default_rng(3))
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    ds = load_csv(csv, write_schema(tmp_path, SURV))
    assert ds.n_rows == 50 and ds.task == "survival"
    np.testing.assert_allclose(ds.time, frame["t"])


# ----------------------------------------------------------------------------- bad input


def test_missing_bounds_names_the_feature():
    spec = yaml.safe_load(yaml.safe_dump(SURV))
    del spec["features"][1]["bounds"]
    with pytest.raises(SchemaError, match="'marker' has no 'bounds'"):
        Schema.from_dict(spec)


def test_bad_feature_type_lists_allowed():
    spec = yaml.safe_load(yaml.safe_dump(SURV))
    spec["features"][0]["type"] = "float"
    with pytest.raises(SchemaError, match=r"'age'.*numeric.*binary.*categorical"):
        Schema.from_dict(spec)


def test_csv_column_absent_from_schema(tmp_path):
    frame = toy_frame(np.random.default_rng(4)).assign(bmi=25.0)
    with pytest.raises(DataValidationError, match=r"absent from the schema: \['bmi'\]"):
        from_frame(frame, Schema.from_dict(SURV))


def test_schema_column_absent_from_csv(tmp_path):
    frame = toy_frame(np.random.default_rng(4)).drop(columns=["stage"])
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    with pytest.raises(DataValidationError, match=r"absent from the data: \['stage'\]"):
        load_csv(csv, write_schema(tmp_path, SURV))


def test_unknown_category():
    frame = toy_frame(np.random.default_rng(5))
    frame.loc[3, "stage"] = "IV"
    with pytest.raises(DataValidationError, match=r"'stage'.*'IV'.*row 3.*allowed: \['I', 'II', 'III'\]"):
        from_frame(frame, Schema.from_dict(SURV))


def test_non_numeric_value():
    frame = toy_frame(np.random.default_rng(6))
    frame["age"] = frame["age"].astype(object)
    frame.loc[2, "age"] = "sixty"
    with pytest.raises(DataValidationError, match=r"non-numeric value 'sixty' in numeric column 'age' \(row 2\)"):
        from_frame(frame, Schema.from_dict(SURV))


@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_survival_time_not_positive(bad):
    frame = toy_frame(np.random.default_rng(7))
    frame.loc[4, "t"] = bad
    with pytest.raises(DataValidationError, match=r"'t' must be > 0; row 4"):
        from_frame(frame, Schema.from_dict(SURV))


def test_event_not_binary():
    frame = toy_frame(np.random.default_rng(8))
    frame.loc[5, "e"] = 2
    with pytest.raises(DataValidationError, match=r"event column 'e' must be 0 or 1; row 5"):
        from_frame(frame, Schema.from_dict(SURV))


def test_missing_without_policy_names_column():
    spec = yaml.safe_load(yaml.safe_dump(SURV))
    frame = toy_frame(np.random.default_rng(9))
    frame.loc[1, "age"] = np.nan
    with pytest.raises(DataValidationError, match=r"'age' has missing values \(first at row 1\)"):
        from_frame(frame, Schema.from_dict(spec))


def test_fill_outside_bounds_rejected():
    spec = yaml.safe_load(yaml.safe_dump(SURV))
    spec["features"][1]["missing"] = {"fill": 50}
    with pytest.raises(SchemaError, match="'marker'.*outside bounds"):
        Schema.from_dict(spec)
