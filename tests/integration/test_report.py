"""``dpcondense report`` on a fixture MLflow store with known metric values (no condensation).

The store is built with ``mlflow.MlflowClient`` exactly as ``dpcondense run`` logs (tags
``identity``/``dataset``/``task``/``model``/``eval_models``/``method``/``epsilon``/``size``/
``seed``, metrics ``<eval model>.<metric>``, ``epsilon_spent``, ``wall_seconds``,
``n_model_fits``, the step metric ``objective``, the ``synthetic.csv`` artifact); every
expected cell is computed here with numpy from the logged values, not with dpcondense.reporting.
"""

from __future__ import annotations

import math
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from dpcondense import reporting
from dpcondense.paths import PROJECT_ROOT

EXPERIMENT = "fixture"
CLS, SURV = "breast_cancer_wisconsin", "metabric"
INF = math.inf
SEEDS = (0, 1, 2)


def _value(*key) -> float:
    """A deterministic, distinct metric value per cell and seed."""
    rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
    return float(np.round(rng.uniform(0.55, 0.95), 6))


def _fixture_runs() -> list[dict]:
    """The runs of the fixture store (a dict each: tags, metrics, curve, artifact flag, status)."""
    runs = []

    def add(dataset, task, method, model, evals, eps, size, seed, *, status="FINISHED", references=False, steps=20):
        metric = "auroc" if task == "classification" else "c_index"
        metrics = {f"{em}.{metric}": _value(dataset, method, model, em, eps, size, seed) for em in evals}
        metrics[f"{evals[0]}.{'brier' if task == 'classification' else 'ibs'}"] = 0.2
        private = method == "dpzo"
        metrics["epsilon_spent"] = (eps * 0.99 if math.isfinite(eps) else 1.7976931348623157e308) if private else 1.7976931348623157e308
        metrics["wall_seconds"] = 1.0 + seed + (size or 0) / 10
        if private:
            metrics["n_model_fits"] = 16.0 * steps
        if references:
            for em in evals:
                metrics[f"full_data.{em}.{metric}"] = _value(dataset, "full_data", em, seed)
                metrics[f"random_subset.{em}.{metric}"] = _value(dataset, "random_subset", em, size, seed)
        curve = [1.0 / (1 + step) + 0.01 * seed + (0.0 if math.isinf(eps) else 0.1) for step in range(steps)] if private else []
        runs.append(dict(dataset=dataset, task=task, method=method, model=model, evals=evals, eps=eps, size=size,
                         seed=seed, metrics=metrics, curve=curve, status=status, steps=steps))

    for seed in SEEDS:
        for eps in (0.5, 1.0, INF):
            add(CLS, "classification", "dpzo", "decision_tree", ["decision_tree"], eps, 10, seed, references=True)
        for eps in (1.0, INF):
            add(CLS, "classification", "dpzo", "decision_tree", ["decision_tree"], eps, 20, seed)
        # transfer: condense with logistic regression, evaluate with both families
        add(CLS, "classification", "dpzo", "logistic_regression", ["decision_tree", "logistic_regression"], 1.0, 10, seed)
        # survival: no ε = 0.5 runs (missing cells), a full_data run of its own
        for eps in (1.0, INF):
            add(SURV, "survival", "dpzo", "cox_ph", ["cox_ph"], eps, 50, seed)
        add(SURV, "survival", "full_data", "cox_ph", ["cox_ph"], INF, 50, seed)
    # seed 2 of the survival ε = 1 cell never finished; a FAILED attempt must be ignored
    for r in runs:
        if r["dataset"] == SURV and r["method"] == "dpzo" and r["eps"] == 1.0 and r["seed"] == 2:
            r["status"] = "FAILED"
    add(SURV, "survival", "dpzo", "cox_ph", ["cox_ph"], 1.0, 50, 3, status="RUNNING")
    # an older FINISHED run of the same identity as a later one (an exact re-run): the newer is used
    add(CLS, "classification", "dpzo", "decision_tree", ["decision_tree"], 1.0, 10, 0, status="OLDER_RERUN")
    runs.insert(0, runs.pop())
    runs[0]["metrics"]["decision_tree.auroc"] = 0.01
    return runs


def _tag(x) -> str:
    return "inf" if x == INF else repr(float(x))


def _build_store(root: Path, runs: list[dict]) -> None:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.privacy import PrivacyLedger

    root.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
    for i, r in enumerate(runs):
        # one identity per cell and seed: the older re-run shares its identity with the run that replaced it
        identity = f"id-{r['dataset'][:4]}-{r['method']}-{r['model'][:4]}-{_tag(r['eps'])}-{r['size']}-{r['seed']}"
        r["identity"] = identity
        tags = {"identity": identity, "dataset": r["dataset"], "task": r["task"], "model": r["model"],
                "eval_models": ",".join(r["evals"]), "method": r["method"], "epsilon": _tag(r["eps"]),
                "delta": "1e-05", "size": str(r["size"]), "seed": str(r["seed"]), "git_commit": "fixture"}
        run = client.create_run(exp, tags=tags)
        rid = run.info.run_id
        r["run_id"] = rid
        from mlflow.entities import Param

        metrics = [Metric(k, v, 0, 0) for k, v in r["metrics"].items()]
        metrics += [Metric("objective", v, 0, step) for step, v in enumerate(r["curve"])]
        params = [Param("method.params.steps", str(r["steps"]))] if r["method"] == "dpzo" else []
        client.log_batch(rid, metrics=metrics, params=params)
        if r["method"] == "dpzo" and r["seed"] == 0 and r["model"] in ("decision_tree", "cox_ph") and r["eps"] == 1.0 and r["status"] == "FINISHED":
            # a "release": real training rows stand in for the synthetic ones (format is what matters)
            ds = load_dataset(r["dataset"])
            train, _ = train_test_split(ds, seed=0)
            frame = train.to_frame()
            n = 2 * r["size"] if r["task"] == "classification" else r["size"]
            if r["task"] == "classification":
                label = ds.schema.outcome.label
                frame = pd.concat([frame[train.y == c].iloc[: r["size"]] for c in (0, 1)])
            else:
                frame = frame.iloc[:n]
            tmp = root / f"tmp{i}"
            tmp.mkdir()
            frame.to_csv(tmp / "synthetic.csv", index=False)
            ledger = PrivacyLedger(r["eps"], 1e-5)
            ledger.spend("dpzo_steps", mechanism="poisson_subsampled_gaussian", epsilon=0.99 * r["eps"], delta=1e-5)
            ledger.to_json(tmp / "ledger.json")
            client.log_artifacts(rid, str(tmp))
            r["release_rows"] = frame
        if r["status"] == "OLDER_RERUN":
            client.set_terminated(rid, "FINISHED", end_time=1)  # finished long before the others
        else:
            client.set_terminated(rid, r["status"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlruns")
    runs = _fixture_runs()
    _build_store(root, runs)
    return root, runs


@pytest.fixture(scope="module")
def exp_runs(store):
    root, _ = store
    return reporting.load_runs(EXPERIMENT, root=root)


def _expected(runs, metric, **where) -> tuple[float, float, int] | None:
    """Mean ± std (ddof 0) over FINISHED fixture runs matching ``where`` (eval model = ``ev``)."""
    ev = where.pop("ev")
    vals = [
        r["metrics"][f"{ev}.{metric}"]
        for r in runs
        if r["status"] == "FINISHED" and all(r[k] == v for k, v in where.items()) and f"{ev}.{metric}" in r["metrics"]
    ]
    if not vals:
        return None
    return float(np.mean(vals)), float(np.std(vals)), len(vals)


def _text(expected) -> str:
    if expected is None:
        return "—"
    return f"{expected[0]:.3f} ± {expected[1]:.3f}"


def _row(table, *prefix):
    rows = [i for i, row in enumerate(table.rows) if tuple(row[: len(prefix)]) == prefix]
    assert len(rows) == 1, f"{prefix} matches {len(rows)} rows of {table.key}"
    return rows[0]


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


def test_only_finished_runs_are_read(exp_runs, store):
    _, runs = store
    finished = {r["identity"] for r in runs if r["status"] == "FINISHED"}
    assert {r.identity for r in exp_runs.records if not r.derived} == finished
    older = next(r for r in runs if r["status"] == "OLDER_RERUN")
    newer = next(r for r in runs if r["status"] == "FINISHED" and r["identity"] == older["identity"])
    assert {r.run_id for r in exp_runs.records if r.identity == older["identity"]} == {newer["run_id"]}
    manifest = reporting.run_manifest(exp_runs).splitlines()
    assert manifest[0].startswith("identity\t")
    assert sorted(line.split("\t")[0] for line in manifest[1:]) == sorted(finished)


def test_table2_cells_are_mean_std_over_seeds(exp_runs, store):
    _, runs = store
    t2 = reporting.table2_main(exp_runs)
    cells = t2.cells()
    # classification, DP-ZO: decision tree condensed and evaluated, default size 10
    i = _row(t2, CLS, "decision tree", "AUROC", "DP-ZO")
    for col, eps in ((4, 1.0), (5, INF)):
        exp = _expected(runs, "auroc", dataset=CLS, method="dpzo", model="decision_tree", ev="decision_tree", eps=eps, size=10)
        assert exp[2] == 3
        assert cells[i][col] == _text(exp)
        assert t2.rows[i][col].mean == pytest.approx(exp[0]) and t2.rows[i][col].std == pytest.approx(exp[1])
    # full data from the runs' reference metrics: one value per seed, not one per run
    full = [_expected_ref(runs, "full_data", s) for s in SEEDS]
    assert cells[i][6] == f"{np.mean(full):.3f} ± {np.std(full):.3f}"
    assert t2.rows[i][6].n == 3
    dp = t2.rows[i][4].mean
    assert cells[i][7] == f"{dp / np.mean(full):.3f} ({(dp - 0.5) / (np.mean(full) - 0.5):.3f})"
    # random subset (reference metrics at size 10): not private → n/a at ε = 1
    j = _row(t2, CLS, "decision tree", "AUROC", "random subset")
    rs = [_expected_ref(runs, "random_subset", s, size=10) for s in SEEDS]
    assert cells[j][4] == "n/a"
    assert cells[j][5] == f"{np.mean(rs):.3f} ± {np.std(rs):.3f}"
    # survival: seed 2 at ε = 1 FAILED → mean over two seeds; full data from its own runs
    k = _row(t2, SURV, "Cox PH", "Harrell's C-index", "DP-ZO")
    exp = _expected(runs, "c_index", dataset=SURV, method="dpzo", model="cox_ph", ev="cox_ph", eps=1.0, size=50)
    assert exp[2] == 2 and t2.rows[k][4].n == 2
    assert cells[k][4] == _text(exp)
    assert cells[k][6] == _text(_expected(runs, "c_index", dataset=SURV, method="full_data", ev="cox_ph"))


def _expected_ref(runs, method, seed, size=None):
    vals = {
        r["metrics"][f"{method}.decision_tree.auroc"]
        for r in runs
        if r["dataset"] == CLS and r["seed"] == seed and f"{method}.decision_tree.auroc" in r["metrics"]
        and (size is None or r["size"] == size)
    }
    assert len(vals) == 1  # every run of a seed logged the same reference value
    return vals.pop()


def test_table2_bold_marks_best_dp_result(exp_runs):
    t2 = reporting.table2_main(exp_runs)
    assert {(t2.rows[i][0], j) for i, j in t2.bold} == {(CLS, 4), (SURV, 4)}
    md = t2.markdown()
    i = _row(t2, CLS, "decision tree", "AUROC", "DP-ZO")
    assert f"**{t2.cells()[i][4]}**" in md
    assert r"\textbf{" in t2.latex() and r"\toprule" in t2.latex() and r"$\pm$" in t2.latex()


def test_tables_2_and_3_show_every_condensing_family(exp_runs, store):
    """A dataset condensed with two families gets a block per family: the main one first, then the
    other with only the methods that ran with it (here DP-ZO condensed and scored with logistic regression)."""
    _, runs = store
    t2, t3 = reporting.table2_main(exp_runs), reporting.table3_privacy_utility(exp_runs)
    families = [r[1] for r in t2.rows if r[0] == CLS]
    assert families == sorted(families, key=lambda f: f != "decision tree")  # main family's block first
    lr = [i for i, r in enumerate(t2.rows) if r[0] == CLS and r[1] == "logistic regression"]
    assert [t2.rows[i][3] for i in lr] == ["DP-ZO"]
    exp = _expected(runs, "auroc", dataset=CLS, method="dpzo", model="logistic_regression", ev="logistic_regression", eps=1.0, size=10)
    assert exp[2] == 3 and t2.cells()[lr[0]][4] == _text(exp)
    assert t2.cells()[lr[0]][5] == "—"  # no ε = ∞ run with that family
    k = _row(t3, CLS, "AUROC", "DP-ZO · logistic regression")
    assert t3.cells()[k][4] == _text(exp) and t3.cells()[k][3] == "—"
    assert _row(t3, CLS, "AUROC", "DP-ZO") < k


def test_table3_grid_and_missing_cells(exp_runs, store):
    _, runs = store
    t3 = reporting.table3_privacy_utility(exp_runs)
    assert t3.header[3:] == ["ε = 0.5", "ε = 1", "ε = ∞", "full data"]
    cells = t3.cells()
    i = _row(t3, CLS, "AUROC", "DP-ZO")
    for col, eps in zip((3, 4, 5), (0.5, 1.0, INF)):
        assert cells[i][col] == _text(_expected(runs, "auroc", dataset=CLS, method="dpzo", model="decision_tree", ev="decision_tree", eps=eps, size=10))
    k = _row(t3, SURV, "Harrell's C-index", "DP-ZO")
    assert cells[k][3] == "—"  # no survival run at ε = 0.5: shown, not dropped
    assert t3.rows[k][3] is None
    assert "| — |" in t3.markdown() and "---" in t3.latex()


def test_table4_transfer_rows_columns(exp_runs, store):
    _, runs = store
    tables = reporting.table4_transfer(exp_runs)
    assert [t.key for t in tables] == ["table4a", "table4b"]
    t4 = tables[0]
    assert t4.header == ["dataset", "condensed with", "→ decision tree", "→ logistic regression"]
    cells = t4.cells()
    i = _row(t4, CLS, "logistic regression")
    for col, ev in ((2, "decision_tree"), (3, "logistic_regression")):
        assert cells[i][col] == _text(_expected(runs, "auroc", dataset=CLS, method="dpzo", model="logistic_regression", ev=ev, eps=1.0, size=10))
    j = _row(t4, CLS, "decision tree")
    assert cells[j][3] == "—"  # decision-tree releases were never evaluated with logistic regression


def test_table5_cost(exp_runs, store):
    _, runs = store
    t5 = reporting.table5_cost(exp_runs)
    cells = t5.cells()
    i = _row(t5, CLS, "DP-ZO", "1")
    assert t5.header == ["dataset", "method", "ε", "synthetic rows", "model fits", "steps", "ε spent"]  # no wall time
    assert cells[i][3] == "20"  # 10 rows per class
    assert cells[i][4] == "320 ± 0" and cells[i][5] == "20"
    assert cells[i][6] == "0.990 ± 0.000"
    k = _row(t5, SURV, "full data", "∞")
    assert cells[k][3] == "1428"  # the whole training split of metabric (1904 rows, 25% test)


def test_table1_datasets():
    t1 = reporting.table1_datasets(reporting.ExperimentRuns("x", []), [CLS, SURV])
    cells = t1.cells()
    assert cells[0][:2] == [CLS, "classification"] and cells[0][3] == "569" and cells[0][7] == "n/a"
    assert cells[1][3] == "1904" and cells[1][5] == "1103" and cells[1][7] == f"{100 * (1 - 1103 / 1904):.1f}%"


def test_empty_experiment_shows_missing_not_errors(tmp_path):
    empty = reporting.ExperimentRuns("empty", [])
    assert reporting.table2_main(empty).rows == []
    fig = reporting.figure1_privacy_utility(empty)
    assert fig.axes[0].texts[0].get_text() == "no finished runs for this figure"


# ---------------------------------------------------------------------------------------------
# figures: the matplotlib objects carry the data
# ---------------------------------------------------------------------------------------------


def _artist(ax, gid):
    found = [a for a in [*ax.lines, *ax.collections, *ax.patches, *ax.images] if a.get_gid() == gid]
    assert len(found) == 1, f"{gid}: {len(found)} artists"
    return found[0]


def test_figure1_lines_bands_inf_and_reference(exp_runs, store):
    _, runs = store
    fig = reporting.figure1_privacy_utility(exp_runs)
    ax = next(a for a in fig.axes if a.get_title().startswith(CLS))
    line = _artist(ax, "dpzo")
    exp = [_expected(runs, "auroc", dataset=CLS, method="dpzo", model="decision_tree", ev="decision_tree", eps=e, size=10) for e in (0.5, 1.0)]
    np.testing.assert_allclose(line.get_xdata(), [0.5, 1.0])
    np.testing.assert_allclose(line.get_ydata(), [e[0] for e in exp])
    band = _artist(ax, "dpzo:band").get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(min(e[0] - e[1] for e in exp)) and band.max() == pytest.approx(max(e[0] + e[1] for e in exp))
    inf_point = _artist(ax, "dpzo:inf")
    exp_inf = _expected(runs, "auroc", dataset=CLS, method="dpzo", model="decision_tree", ev="decision_tree", eps=INF, size=10)
    assert inf_point.get_xdata()[0] > 1.0 * 10  # drawn apart, right of every finite ε
    assert inf_point.get_ydata()[0] == pytest.approx(exp_inf[0])
    assert ax.get_xscale() == "log" and "∞" in [t.get_text() for t in ax.get_xticklabels()]
    full = [_expected_ref(runs, "full_data", s) for s in SEEDS]
    ref = _artist(ax, "full_data")
    assert ref.get_linestyle() == "--" and ref.get_ydata()[0] == pytest.approx(np.mean(full))
    assert ax.get_ylabel() == "AUROC"


def test_figure2_sizes(exp_runs, store):
    _, runs = store
    fig = reporting.figure2_sizes(exp_runs)
    ax = next(a for a in fig.axes if a.get_title().startswith(CLS))
    for eps, gid in ((1.0, "dpzo@ε=1"), (INF, "dpzo@ε=∞")):
        line = _artist(ax, gid)
        np.testing.assert_allclose(line.get_xdata(), [10, 20])
        exp = [_expected(runs, "auroc", dataset=CLS, method="dpzo", model="decision_tree", ev="decision_tree", eps=eps, size=n)[0] for n in (10, 20)]
        np.testing.assert_allclose(line.get_ydata(), exp)
    rs = _artist(ax, "random_subset")  # random subset alongside (only size 10 logged)
    np.testing.assert_allclose(rs.get_xdata(), [10])
    assert "rows per class" in ax.get_xlabel()


def test_figure3_objective_curves(exp_runs, store):
    _, runs = store
    fig = reporting.figure3_convergence(exp_runs)
    ax = next(a for a in fig.axes if a.get_title().startswith(CLS))
    curves = np.array([r["curve"] for r in runs if r["status"] == "FINISHED" and r["dataset"] == CLS and r["method"] == "dpzo" and r["model"] == "decision_tree" and r["eps"] == 1.0 and r["size"] == 10])
    line = _artist(ax, "ε=1")
    np.testing.assert_allclose(line.get_ydata(), curves.mean(axis=0))
    np.testing.assert_allclose(line.get_xdata(), np.arange(1, curves.shape[1] + 1))
    # the thick line: each seed's mean over its last w steps (loops), averaged over the seeds
    w = max(1, curves.shape[1] // 40)
    by_hand = np.array([[np.mean(c[max(0, t - w + 1):t + 1]) for t in range(len(c))] for c in curves])
    np.testing.assert_allclose(_artist(ax, "ε=1:smoothed").get_ydata(), by_hand.mean(axis=0), atol=1e-12)
    assert {a.get_gid() for a in ax.lines} == {f"ε={e}{part}" for e in ("0.5", "1", "∞") for part in ("", ":smoothed")}


def test_figure4_heatmap(exp_runs, store):
    _, runs = store
    fig = reporting.figure4_transfer(exp_runs)
    image = next(im for ax in fig.axes for im in ax.images if im.get_gid() == CLS)
    data = image.get_array()
    exp = _expected(runs, "auroc", dataset=CLS, method="dpzo", model="logistic_regression", ev="logistic_regression", eps=1.0, size=10)
    # rows: decision tree, logistic regression, full data; columns: decision tree, logistic regression
    assert data.shape == (3, 2)
    assert data[1, 1] == pytest.approx(exp[0])
    assert np.ma.is_masked(data[0, 1])  # missing cell stays visible as a masked (grey) cell


def test_figure5_release_and_km(exp_runs, store):
    _, runs = store
    fig = reporting.figure5_release(exp_runs)
    assert "not a release" in fig.get_suptitle()
    release = next(r for r in runs if "release_rows" in r and r["dataset"] == CLS)
    ax = next(a for a in fig.axes if a.get_title().startswith(CLS))
    pts = _artist(ax, "release:class1").get_offsets()
    frame = release["release_rows"]
    pos = frame[frame["diagnosis"] == "malignant"]
    np.testing.assert_allclose(np.asarray(pts), pos[["worst radius", "worst concave points"]].to_numpy())
    assert ax.get_xlabel() == "worst radius (pixels)"
    km_axes = [a for a in fig.axes if a.get_title().startswith("Cox PH")]
    assert len(km_axes) == 2
    for a, key in zip(km_axes, ("release", "full")):
        for group in ("low risk", "high risk"):
            y = _artist(a, f"{key}:{group}").get_ydata()
            assert y[0] == 1.0 and np.all(np.diff(y) <= 1e-12)  # a survival curve
    # on the full data, the Cox model's high-risk half dies faster than its low-risk half
    a = km_axes[1]
    assert _artist(a, "full:high risk").get_ydata()[-1] < _artist(a, "full:low risk").get_ydata()[-1]


# ---------------------------------------------------------------------------------------------
# files, CLI, determinism, pipeline, notebook
# ---------------------------------------------------------------------------------------------


def test_cli_writes_everything_twice_identically(store, tmp_path):
    from dpcondense.cli import main

    root, runs = store
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["report", "--experiment", EXPERIMENT, "--root", str(root), "--out", str(a)]) == 0
    assert main(["report", "--experiment", EXPERIMENT, "--root", str(root), "--out", str(b), "--no-figures"]) == 0
    for stem in reporting.TABLE_FILES.values():
        for ext in (".md", ".tex"):
            assert (a / f"{stem}{ext}").read_bytes() == (b / f"{stem}{ext}").read_bytes(), stem
    for stem in reporting.FIGURE_FILES.values():
        assert (a / f"{stem}.png").stat().st_size > 10_000 and (a / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    used = (a / "runs_used.md").read_text()
    t2 = [r for r in runs if r["status"] == "FINISHED" and r["dataset"] == CLS and r["method"] == "dpzo" and r["model"] == "decision_tree" and r["eps"] == 1.0 and r["size"] == 10]
    section = used.split("## Table 2")[1].split("## ")[0]
    assert all(r["identity"] in section for r in t2)
    assert not any(r["identity"] in used for r in runs if r["status"] in ("FAILED", "RUNNING"))
    assert "Superseded" not in used  # a cell never has two identities: nothing is set aside
    assert "wall" not in (a / "table5_cost.md").read_text().split("|", 1)[1]  # the committed table has no timing


def test_figures_are_byte_identical(exp_runs, tmp_path):
    for d in ("a", "b"):
        fig = reporting.figure1_privacy_utility(exp_runs)
        reporting.save_figure(fig, tmp_path / d)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def test_cli_errors_name_the_problem(store, tmp_path, capsys):
    from dpcondense.cli import main

    root, _ = store
    assert main(["report", "--experiment", "nope", "--root", str(root), "--out", str(tmp_path / "r")]) == 2
    assert "experiments there: " in (err := capsys.readouterr().err) and "fixture" in err
    assert main(["report", "--experiment", "x", "--root", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
    assert "no MLflow store" in capsys.readouterr().err


@pytest.mark.slow
def test_dvc_repro_dry_lists_the_stages():
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists():
        pytest.skip("dvc is not installed (it is in the test extra: pip install -e '.[test]')")
    out = subprocess.run([str(dvc), "repro", "--dry", "--force", "report"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for stage in ("reference", "quickstart", "report"):
        assert f"Running stage '{stage}'" in out.stdout
    # the paper sweeps are stages of their own pipeline file, never run by a plain `dvc repro`
    listed = subprocess.run([str(dvc), "stage", "list", "--all"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    stages = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {f"experiments/dvc.yaml:{s}" for s in ("paper_main", "paper_main_report", "paper_sizes", "paper_transfer", "paper_convergence")} <= stages


@pytest.mark.slow
def test_notebook_executes(store, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    root, _ = store
    monkeypatch.setenv("DPCONDENSE_MLRUNS", str(root))
    monkeypatch.setenv("DPCONDENSE_EXPERIMENT", EXPERIMENT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "privacy_utility.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "epsilon spent" in text  # the ledger was shown next to the release
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_reference_file_fills_full_data_cells():
    ref = [{"dataset": CLS, "model": "decision_tree", "task": "classification",
            "per_seed": [{"seed": s, "auroc": v, "brier": None} for s, v in enumerate((0.9, 0.8, 0.85))]}]
    recs = reporting.records_from_reference(ref)
    assert [r.seed for r in recs] == [0, 1, 2] and all(r.method == "full_data" and r.derived for r in recs)
    runs = reporting.ExperimentRuns("x", recs)
    s = runs.full_data(CLS, "decision_tree", "auroc")
    assert (s.mean, s.std, s.n) == (pytest.approx(0.85), pytest.approx(np.std([0.9, 0.8, 0.85])), 3)
    assert math.isnan(recs[0].metrics["brier"])  # JSON null = undefined metric


def test_tables_say_which_size_they_use_when_the_default_is_missing(exp_runs):
    """Runs at size 2 only: the captions must not claim the default size for that dataset."""
    from dataclasses import replace

    from dpcondense.reporting.runs import ExperimentRuns

    assert exp_runs.size_caveat() == ""  # the fixture has default-size runs: nothing to say
    small = [replace(r, size=2) for r in exp_runs.records if r.dataset == "breast_cancer_wisconsin" and r.size is not None]
    others = [r for r in exp_runs.records if r.dataset != "breast_cancer_wisconsin"]
    runs = ExperimentRuns("small", small + others)
    caveat = "No run at the default size for breast_cancer_wisconsin at size 2 (rows per class)"
    assert caveat in runs.size_caveat()
    tables = reporting.build_tables(runs)
    assert caveat in tables["table2"][0].caption and caveat in tables["table3"][0].caption
