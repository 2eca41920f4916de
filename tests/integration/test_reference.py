"""`dpcondense reference`: values against an independent computation, literature anchors, bad names."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score, brier_score_loss, roc_auc_score
from sksurv.metrics import concordance_index_censored

from dpcondense.cli import main
from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.reference import reference_table

SEEDS = 2


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One CLI run shared by the tests: WDBC × logistic regression and METABRIC × Cox, 2 seeds."""
    out = tmp_path_factory.mktemp("reference") / "reference.md"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            [
                "reference",
                "--dataset", "breast_cancer_wisconsin", "--dataset", "metabric",
                "--model", "logistic_regression", "--model", "cox_ph",
                "--seeds", str(SEEDS), "--json", "--no-progress", "--out", str(out),
            ]
        )  # fmt: skip
    assert rc == 0
    records = {(r["dataset"], r["model"]): r for r in json.loads(buf.getvalue())}
    return records, out


def independent_logistic(seed: int) -> dict[str, float]:
    """scikit-learn directly on the encoded split, with the family's default C, solved to convergence

    (the family computes the exact minimiser by Newton; lbfgs at its default tol=1e-4 stops ~1e-4 short).
    """
    train, test = train_test_split(load_dataset("breast_cancer_wisconsin"), seed=seed)
    clf = LogisticRegression(C=1.0, max_iter=100_000, tol=1e-12, l1_ratio=0.0, solver="lbfgs").fit(train.encoded(), train.y)
    p = clf.predict_proba(test.encoded())[:, list(clf.classes_).index(1)]
    return {
        "auroc": roc_auc_score(test.y, p),
        "auprc": average_precision_score(test.y, p),
        "balanced_accuracy": balanced_accuracy_score(test.y, (p >= 0.5).astype(int)),
        "brier": brier_score_loss(test.y, p),
    }


def test_records_have_the_documented_shape(cli_run):
    records, _ = cli_run
    assert set(records) == {("breast_cancer_wisconsin", "logistic_regression"), ("metabric", "cox_ph")}
    lr = records[("breast_cancer_wisconsin", "logistic_regression")]
    cox = records[("metabric", "cox_ph")]
    assert (lr["task"], lr["seeds"], cox["task"], cox["seeds"]) == ("classification", SEEDS, "survival", SEEDS)
    assert set(lr["mean"]) == set(lr["std"]) == {"auroc", "auprc", "balanced_accuracy", "brier"}
    assert set(cox["mean"]) == set(cox["std"]) == {"c_index", "c_index_uno", "ibs"}
    assert [r["seed"] for r in lr["per_seed"]] == list(range(SEEDS))


def test_logistic_regression_equals_an_independent_sklearn_fit(cli_run):
    records, _ = cli_run
    rec = records[("breast_cancer_wisconsin", "logistic_regression")]
    per_seed = [independent_logistic(s) for s in range(SEEDS)]  # seed = split seed
    for k in ("auroc", "auprc", "balanced_accuracy", "brier"):
        values = [m[k] for m in per_seed]
        assert rec["mean"][k] == pytest.approx(np.mean(values), abs=1e-8), k
        assert rec["std"][k] == pytest.approx(np.std(values), abs=1e-8), k
        for s in range(SEEDS):
            assert rec["per_seed"][s][k] == pytest.approx(values[s], abs=1e-8), (k, s)


def test_cox_c_index_equals_harrell_on_its_own_linear_predictor(cli_run):
    """Harrell's C from the model's survival-curve risk equals C from its linear predictor
    (Cox curves never cross), computed by scikit-survival directly."""
    from dpcondense.models import make_model

    records, _ = cli_run
    train, test = train_test_split(load_dataset("metabric"), seed=0)
    cox = make_model("cox_ph", random_state=0).fit(train.encoded(), train.time, train.event)
    expected = concordance_index_censored(test.event.astype(bool), test.time, cox.predict_log_risk(test.encoded()))[0]
    assert records[("metabric", "cox_ph")]["per_seed"][0]["c_index"] == pytest.approx(expected, abs=1e-9)


def test_literature_anchors(cli_run):
    records, _ = cli_run
    # Wolberg et al. / scikit-learn examples: ≈ 0.99; DeepSurv / pycox papers: Cox ≈ 0.63 on METABRIC
    assert records[("breast_cancer_wisconsin", "logistic_regression")]["mean"]["auroc"] == pytest.approx(0.99, abs=0.015)
    assert records[("metabric", "cox_ph")]["mean"]["c_index"] == pytest.approx(0.63, abs=0.03)


def test_markdown_report_is_written(cli_run):
    records, out = cli_run
    text = out.read_text()
    auroc = records[("breast_cancer_wisconsin", "logistic_regression")]["mean"]["auroc"]
    assert "| breast_cancer_wisconsin | logistic_regression | " + f"{auroc:.3f} ± " in text
    assert "| metabric | cox_ph | " in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--dataset", "nope"], ["unknown dataset 'nope'", "breast_cancer_wisconsin", "flchain", "support_mortality"]),
        (["--model", "nope"], ["unknown model 'nope'", "cox_ph", "logistic_regression", "xgboost_cox"]),
        (["--dataset", "metabric", "--model", "xgboost"], ["xgboost", "survival models: cox_ph, deepsurv"]),
        (["--seeds", "0"], ["--seeds must be >= 1"]),
    ],
)
def test_bad_names_list_the_choices(argv, expected, capsys, tmp_path):
    rc = main(["reference", *argv, "--no-progress", "--out", str(tmp_path / "r.md")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("dpcondense reference: error: ") and err.count("\n") == 1, err
    for piece in expected:
        assert piece in err
    assert not (tmp_path / "r.md").exists()


def test_reference_table_is_deterministic():
    a = reference_table(["pima_diabetes"], ["logistic_regression"], 1)
    b = reference_table(["pima_diabetes"], ["logistic_regression"], 1)
    assert a[0]["per_seed"] == b[0]["per_seed"]
    # Pima anchor: logistic regression AUROC ≈ 0.83
    assert a[0]["mean"]["auroc"] == pytest.approx(0.83, abs=0.04)


def test_a_quick_call_leaves_the_committed_table_alone(capsys):
    from dpcondense.paths import RESULTS_DIR

    committed = RESULTS_DIR / "reference_full_data.md"
    before = committed.read_bytes() if committed.exists() else None
    assert main(["reference", "--dataset", "pima_diabetes", "--model", "logistic_regression", "--seeds", "1", "--no-progress"]) == 0
    assert "| pima_diabetes | logistic_regression |" in capsys.readouterr().out
    assert (committed.read_bytes() if committed.exists() else None) == before
