"""Facts of individual built-in datasets that their cards describe in prose."""

from __future__ import annotations


def test_support_keeps_the_28_baseline_columns(datasets):
    assert datasets["support_mortality"].features.shape[1] == 28


def test_pima_zeros_are_missing(datasets):
    f = datasets["pima_diabetes"].features
    for col in ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]:
        assert not (f[col] == 0).any()
    assert f["Insulin"].isna().sum() == 374  # the well-known count of unrecorded insulin


def test_gbsg_is_rotterdam_node_positive_plus_gbsg(datasets):
    ds = datasets["gbsg"]
    assert ds.time.max() <= 90  # rotterdam censored at 84 months; gbsg follow-up < 90
    assert (ds.features["nodes"] > 0).all()
    assert set(ds.features["size"]) == {"<=20", "20-50", ">50"}
