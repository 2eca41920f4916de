"""A custodian's cohort of a million rows, end to end: wall time, CPU time and peak memory per stage.

Not part of the pytest-benchmark suite (it takes about a minute per run and writes a 50 MB file).
It writes a synthetic survival cohort with the METABRIC schema (``conf/dataset/metabric.yaml``:
nine features in their bounds; times from a Weibull proportional-hazards model with uniform
censoring, two decimals, so times tie), then runs ``dpcondense condense --csv … --schema …`` on
it in a child process (Cox, ε = 1, δ = 1e-7, every other option at its default) and records:

- ``total``: the child's wall and CPU seconds and its peak resident memory (``ru_maxrss``);
- per stage (timers around the functions the custodian path calls): reading + validating the CSV
  (``read_user_csv``, three calls: the config check, the release, the local check), the keyed
  split, each method fit, its noise calibration and the steps' own ledger epsilon, the
  evaluation and its survival metrics;
- ``concordance``: Harrell's and Uno's C-index on a test set of ``--concordance-rows`` rows with
  this package's implementation and with scikit-survival's (equal values asserted), and the ratio.

    .venv/bin/python benchmarks/scale_cohort.py                      # -> results/scale_cohort.{json,md}
    .venv/bin/python benchmarks/scale_cohort.py --rows 200000 --concordance-rows 10000
    .venv/bin/python benchmarks/scale_cohort.py --render-only

Figures depend on the machine's load: compare two runs made in the same conditions.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent
#: (module, attribute, label) of the stages timed in the child
STAGES = [
    ("dpcondense.data.csv", "read_user_csv", "read + validate CSV"),
    ("dpcondense.benchmark.runner", "keyed_split", "keyed split (local check)"),
    ("dpcondense.methods.base", "CondensationMethod.fit", "method fits (release, local check, references)"),
    ("dpcondense.methods.dpzo.optimiser", "calibrate_joint", "  of which noise calibration"),
    ("dpcondense.methods.dpzo.optimiser", "compute_epsilon", "  of which the steps' ledger epsilon"),
    ("dpcondense.benchmark.runner", "evaluate_release", "evaluation (fit + predict + metrics)"),
    ("dpcondense.evaluate", "survival_metrics", "  of which survival metrics"),
]


def write_cohort(path: Path, rows: int, seed: int = 0) -> Path:
    """The cohort CSV and its schema (``path`` + ``.yaml``); returns the schema path."""
    import numpy as np
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    genes = {k: np.clip(rng.normal(m, 1.2, rows), 0, 16).round(4) for k, m in [("mki67", 6.0), ("egfr", 8.0), ("pgr", 9.5), ("erbb2", 6.5)]}
    binary = {k: (rng.random(rows) < p).astype(int) for k, p in [("hormone_therapy", 0.6), ("radiotherapy", 0.6), ("chemotherapy", 0.2), ("er_positive", 0.75)]}
    age = np.clip(rng.normal(61, 13, rows), 18, 100).round(2)
    lp = (0.35 * (genes["mki67"] - 6) + 0.1 * (genes["egfr"] - 8) - 0.15 * (genes["pgr"] - 9.5) + 0.2 * (genes["erbb2"] - 6.5)
          - 0.2 * binary["hormone_therapy"] + 0.3 * binary["chemotherapy"] - 0.3 * binary["er_positive"] + 0.03 * (age - 61))
    t_event = rng.weibull(1.2, rows) * 150.0 * np.exp(-lp / 1.2)
    t_censor = rng.uniform(0, 360, rows)
    frame = pd.DataFrame({**genes, **binary, "age": age,
                          "duration": np.maximum(np.minimum(t_event, t_censor).round(2), 0.1),
                          "event": (t_event <= t_censor).astype(int)})
    frame.to_csv(path, index=False)
    spec = yaml.safe_load((ROOT / "conf" / "dataset" / "metabric.yaml").read_text())
    schema = {k: spec[k] for k in ("task", "features", "outcome")} | {"name": "scale_cohort"}
    schema_path = path.with_suffix(".yaml")
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    return schema_path


def child(argv: list[str], report: Path) -> int:
    """Run the CLI with timers around :data:`STAGES`; write their totals to ``report``."""
    import importlib

    t0, c0 = time.perf_counter(), time.process_time()
    totals: dict[str, list[float]] = {}

    def timed(fn: Any, label: str) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                t = totals.setdefault(label, [0.0, 0.0, 0])
                t[0] += time.perf_counter() - w
                t[1] += time.process_time() - c
                t[2] += 1
        return wrapper

    from dpcondense.cli import main

    imported = (time.perf_counter() - t0, time.process_time() - c0)
    for module_name, attribute, label in STAGES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        wrapped = timed(getattr(owner, name), label)
        setattr(owner, name, wrapped)
        for mod in list(sys.modules.values()):  # names imported with `from module import name`
            if getattr(mod, "__name__", "").startswith("dpcondense") and getattr(mod, name, None) is not None and not path:
                if getattr(getattr(mod, name), "__wrapped__", None) is None and getattr(mod, name) is wrapped.__wrapped__:
                    setattr(mod, name, wrapped)
    rc = main(argv)
    stages = {"imports": {"wall": imported[0], "cpu": imported[1], "calls": 1}}
    stages |= {label: {"wall": w, "cpu": c, "calls": n} for label, (w, c, n) in totals.items()}
    report.write_text(json.dumps(stages))
    return rc


def run_condense(csv_path: Path, schema_path: Path, out: Path, *, epsilon: float, delta: float, model: str) -> dict[str, Any]:
    """The custodian command in a child process: total wall / CPU / peak memory and its stages."""
    report = out.parent / "stages.json"
    argv = ["condense", "--csv", str(csv_path), "--schema", str(schema_path), "--model", model, "--epsilon", str(epsilon),
            "--delta", str(delta), "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(report), "--", *argv], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"dpcondense condense failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {
        "total": {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                  "peak_rss_mib": after.ru_maxrss / 1024},
        "stages": json.loads(report.read_text()),
    }


def concordance_ratio(rows: int, seed: int = 0) -> dict[str, Any]:
    """Harrell's + Uno's C on ``rows`` test rows (3× as many training rows): ours vs scikit-survival."""
    import numpy as np
    from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

    from dpcondense.concordance import CensoringKM, harrell_c, pair_counts, uno_c

    rng = np.random.default_rng(seed)

    def outcome(n: int) -> tuple[Any, Any, Any]:
        x = rng.normal(size=n)
        t, c = rng.weibull(1.2, n) * 150 * np.exp(-x), rng.uniform(0, 360, n)
        return np.maximum(np.minimum(t, c).round(2), 0.1), t <= c, x + rng.normal(0, 0.5, n)

    train_time, train_event, _ = outcome(3 * rows)
    time_, event, risk = outcome(rows)
    time_ = np.minimum(time_, train_time.max())
    tau = float(np.quantile(time_, 0.9))
    y_train = np.array(list(zip(train_event, train_time)), dtype=[("event", bool), ("time", float)])
    y_test = np.array(list(zip(event, time_)), dtype=[("event", bool), ("time", float)])
    t0 = time.perf_counter()
    ref = (concordance_index_censored(event, time_, risk)[0], concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])
    t1 = time.perf_counter()
    counts = pair_counts(event, time_, risk)
    ours = (harrell_c(event, time_, risk, counts=counts), uno_c(CensoringKM.fit(train_time, train_event), time_, event, risk, tau, counts=counts))
    t2 = time.perf_counter()
    assert ours[0] == ref[0] and abs(ours[1] - ref[1]) <= 1e-12, (ours, ref)
    return {"rows": rows, "scikit_survival_s": t1 - t0, "dpcondense_s": t2 - t1, "ratio": (t1 - t0) / (t2 - t1),
            "harrell": ours[0], "uno": ours[1], "uno_abs_diff": abs(ours[1] - ref[1])}


def render(result: dict[str, Any]) -> str:
    run = result["condense"]
    lines = [
        f"# A {result['rows']:,}-row custodian cohort, end to end",
        "",
        f"`dpcondense condense --csv` (Cox, ε = {result['epsilon']}, δ = {result['delta']:g}) on a synthetic survival "
        f"cohort with the METABRIC schema ({result['csv_mib']:.0f} MiB CSV); {result['machine']}, "
        f"load average {result['load_before']:.1f} before the run. Made by `benchmarks/scale_cohort.py`.",
        "",
        f"**Total: {run['total']['wall']:.1f} s wall, {run['total']['cpu']:.1f} s CPU, peak memory "
        f"{run['total']['peak_rss_mib']:.0f} MiB.**",
        "",
        "| stage | calls | wall s | CPU s |",
        "|---|---|---|---|",
    ]
    order = ["imports"] + [label for _, _, label in STAGES]
    for label, s in sorted(run["stages"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        lines.append(f"| {label} | {s['calls']} | {s['wall']:.2f} | {s['cpu']:.2f} |")
    c = result.get("concordance")
    if c:
        lines += [
            "",
            f"Harrell's + Uno's C-index on {c['rows']:,} test rows: scikit-survival {c['scikit_survival_s']:.2f} s, "
            f"dpcondense {c['dpcondense_s']:.3f} s (× {c['ratio']:.0f}); values equal (Uno's within "
            f"{c['uno_abs_diff']:.1e}).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--concordance-rows", type=int, default=20_000, help="0 = skip the scikit-survival comparison")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--delta", type=float, default=1e-7)
    parser.add_argument("--model", default="cox_ph")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale_cohort.json")
    parser.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the JSON")
    args = parser.parse_args(argv)
    if args.render_only:
        args.out.with_suffix(".md").write_text(render(json.loads(args.out.read_text())))
        return 0
    with tempfile.TemporaryDirectory(prefix="scale_cohort_") as tmp:
        csv_path = Path(tmp) / "cohort.csv"
        schema_path = write_cohort(csv_path, args.rows)
        result: dict[str, Any] = {
            "rows": args.rows, "epsilon": args.epsilon, "delta": args.delta, "model": args.model,
            "csv_mib": csv_path.stat().st_size / 2**20, "machine": f"{platform.node()} ({os.cpu_count()} cores)",
            "python": platform.python_version(), "load_before": os.getloadavg()[0],
        }
        result["condense"] = run_condense(csv_path, schema_path, Path(tmp) / "out", epsilon=args.epsilon, delta=args.delta, model=args.model)
    if args.concordance_rows:
        result["concordance"] = concordance_ratio(args.concordance_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[4:], Path(sys.argv[2])))
    sys.exit(main())
