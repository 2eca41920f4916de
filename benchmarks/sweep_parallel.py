"""Parallel efficiency of a sweep: the same DP-ZO sweep with 1 and with 2 joblib workers.

Not part of the pytest-benchmark suite (it takes minutes). Each worker count runs the same
``dpcondense run -m`` sweep (DP-ZO, Cox, ε = 1, default size, ``--datasets`` × ``--seeds`` runs)
into its own fresh MLflow store and Hydra output folder in a temporary directory, and records
the wall seconds, the CPU seconds of the sweep's processes (parent and workers:
``RUSAGE_CHILDREN``), the seconds spent inside the MLflow runs (summed over runs: what the workers
spend outside them is start-up, dispatch and waiting), and the sweep's summary line. The two stores' run records
(``dpcondense records export``) must be byte-identical: the worker count may change the speed
of a sweep, never its results.

    .venv/bin/python benchmarks/sweep_parallel.py                # -> results/sweep_parallel.{json,md}
    .venv/bin/python benchmarks/sweep_parallel.py --seeds 12     # a smaller sweep (2 x 12 runs)
    .venv/bin/python benchmarks/sweep_parallel.py --render-only

Measure on a quiet machine: anything else running takes cores from the two-worker sweep.
"""

from __future__ import annotations

import argparse
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
CLI = str(Path(sys.executable).with_name("dpcondense"))
EXPERIMENT = "sweep_parallel"


def run_sweep(jobs: int, datasets: str, seeds: int, workdir: Path) -> dict[str, Any]:
    """One sweep into ``workdir``: wall and CPU seconds, the summary line, the exported records."""
    store = workdir / f"mlruns_{jobs}"
    env = {**os.environ, "DPCONDENSE_MLRUNS": str(store)}
    command = [
        CLI, "run", "-m", "method=dpzo", "model=cox_ph", f"dataset={datasets}", "privacy.epsilon=1",
        "seed=" + ",".join(str(s) for s in range(seeds)), f"experiment_name={EXPERIMENT}", "progress=false",
        f"hydra.launcher.n_jobs={jobs}", f"hydra.sweep.dir={workdir / f'multirun_{jobs}'}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the sweep with {jobs} worker(s) failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    summary = next((line for line in done.stdout.splitlines() if line.startswith("sweep summary")), "")
    records = workdir / f"records_{jobs}.jsonl"
    subprocess.run(
        [CLI, "records", "export", "--experiment", EXPERIMENT, "--out", str(records)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    in_runs = _seconds_in_runs(store)
    return {"jobs": jobs, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "in_runs_s": round(in_runs, 1),
            "summary": summary, "records": records.read_bytes()}


def _seconds_in_runs(store: Path) -> float:
    """Total seconds between the start and the end of the sweep's MLflow runs (summed over runs)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], max_results=10_000)
    return sum((r.info.end_time - r.info.start_time) / 1000 for r in runs if r.info.end_time)


def measure(datasets: str, seeds: int, worker_counts: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sweep_parallel_") as tmp:
        rows = [run_sweep(j, datasets, seeds, Path(tmp)) for j in worker_counts]
    baseline_records, baseline_wall, baseline_in_runs = rows[0]["records"], rows[0]["wall_s"], rows[0]["in_runs_s"]
    for row in rows:
        # runs finished per second of a worker, relative to one worker: the speed-up of the runs
        # themselves, without the sweep's serial start-up
        row["run_speedup"] = round(baseline_in_runs * row["jobs"] / row["in_runs_s"], 2)
        records = row.pop("records")
        row["records_exported"] = records.count(b"\n")
        row["records_identical"] = records == baseline_records
        row["speedup"] = round(baseline_wall / row["wall_s"], 2)
    return {
        "sweep": f"DP-ZO, Cox, eps = 1, datasets {datasets}, seeds 0..{seeds - 1}",
        "runs": len(datasets.split(",")) * seeds,
        "machine": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "rows": rows,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "# Sweep parallelism",
        "",
        f"Written by `benchmarks/sweep_parallel.py`: {result['sweep']} ({result['runs']} runs), each worker "
        f"count into a fresh store; machine `{result['machine']}` ({result['cpus']} CPUs), Python {result['python']}.",
        "",
        "| workers | wall s | CPU s | s inside the runs (sum) | speed-up over 1 worker (wall) "
        "| speed-up of the runs alone | records exported | identical to 1 worker's | sweep summary |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        identical = "yes" if r["records_identical"] else "**no**"
        speedup = f"{r['speedup']}×"
        run_speedup = f"{r['run_speedup']}×"
        cells = [r["jobs"], r["wall_s"], r["cpu_s"], r["in_runs_s"], speedup, run_speedup, r["records_exported"],
                 identical, r["summary"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="gbsg,metabric")
    parser.add_argument("--seeds", type=int, default=48)
    parser.add_argument("--jobs", default="1,2", help="worker counts, the first is the baseline")
    parser.add_argument("--out", type=Path, default=RESULTS / "sweep_parallel")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    json_path, md_path = args.out.with_suffix(".json"), args.out.with_suffix(".md")
    if args.render_only:
        result = json.loads(json_path.read_text())
    else:
        result = measure(args.datasets, args.seeds, [int(j) for j in args.jobs.split(",")])
        json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(render(result))
    print(md_path.read_text())


if __name__ == "__main__":
    main()
