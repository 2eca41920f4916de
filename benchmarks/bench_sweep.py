"""Wall time of ``dpcondense run -m experiment=quickstart`` with 1 and 2 joblib workers.

Each configuration runs the whole preset (16 runs) into a fresh temporary MLflow store, as a
user would launch it, and is timed from the command's start to its exit. The output is split into
phases from the time each line appears:

- setup: start → the ``sweep: N runs`` line (imports, composing and validating every job,
  creating the SQLite store), serial in the parent process;
- runs: that line → the ``sweep summary`` line (worker start-up, the runs, logging);
- exit: the summary → process exit (workers shutting down).

The speed-up is reported for the whole command and for the runs phase alone, for the preset as
shipped and for the same grid with more DP-ZO steps (compute-dominated: the fixed serial cost of
validating the sweep and starting workers weighs less). Results go to ``benchmarks/results/sweep.md``.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 1 2] [--repeats 1] [--heavy-steps 600]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "sweep.md"


def timed_sweep(n_jobs: int, extra: list[str]) -> dict[str, float | str]:
    """Run the quickstart sweep once into a fresh store; phase times from the output lines."""
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        env = {**os.environ, "DPCONDENSE_MLRUNS": str(Path(tmp) / "mlruns"), "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)
        cmd = [sys.executable, "-m", "dpcondense.cli", "run", "-m", "experiment=quickstart", "progress=false",
               f"hydra.launcher.n_jobs={n_jobs}", *extra]
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        marks: dict[str, float] = {}
        summary = ""
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("sweep: ") and "setup" not in marks:
                marks["setup"] = time.perf_counter() - t0
            if line.startswith("sweep summary:"):
                marks["summary"] = time.perf_counter() - t0
                summary = line.strip()
        proc.wait()
        total = time.perf_counter() - t0
        if proc.returncode != 0 or "16 done" not in summary:
            raise RuntimeError(f"sweep with n_jobs={n_jobs} failed (exit {proc.returncode}): {summary!r}")
        return {
            "n_jobs": n_jobs,
            "total": total,
            "setup": marks["setup"],
            "runs": marks["summary"] - marks["setup"],
            "exit": total - marks["summary"],
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "summary": summary,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--heavy-steps", type=int, default=600,
        help="also time the same grid with this many DP-ZO steps (compute-dominated); 0 = skip",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args, extra = parser.parse_known_args(argv)

    scenarios = {"quickstart as shipped (150 steps)": list(extra)}
    if args.heavy_steps:
        scenarios[f"quickstart grid, {args.heavy_steps} steps"] = [*extra, f"method.params.steps={args.heavy_steps}"]
    results: dict[str, list[dict]] = {name: [] for name in scenarios}
    for _ in range(args.repeats):
        for name, overrides in scenarios.items():
            for n_jobs in args.workers:
                row = timed_sweep(n_jobs, overrides)
                print(f"{name}, n_jobs={n_jobs}: total {row['total']:.1f} s (setup {row['setup']:.1f}, "
                      f"runs {row['runs']:.1f}, exit {row['exit']:.1f}); load {row['load_before']:.2f} -> "
                      f"{row['load_after']:.2f}", flush=True)
                results[name].append(row)

    lines = [
        "# Sweep wall time: `dpcondense run -m experiment=quickstart`",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/bench_sweep.py` on "
        f"{os.cpu_count()} cores ({platform.machine()}, Python {platform.python_version()}). 16 runs "
        "(breast_cancer_wisconsin + metabric with their default families, ε ∈ {1, ∞}, size ∈ {10, 50}, "
        "2 seeds, DP-ZO with 4 directions) into a fresh SQLite store each time; joblib launcher. "
        "Phases: setup = start → `sweep:` line (serial, parent process: imports, composing and "
        "validating the 16 jobs, creating the store); runs = → `sweep summary` (worker start-up and "
        "imports, the runs, logging); exit = → process end (workers shutting down).",
    ]
    for name, rows in results.items():
        lines += [
            "",
            f"## {name}",
            "",
            "| joblib workers | total (s) | setup (s) | runs (s) | exit (s) | load avg before → after |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['n_jobs']} | {r['total']:.1f} | {r['setup']:.1f} | {r['runs']:.1f} | {r['exit']:.1f} | "
                f"{r['load_before']:.2f} → {r['load_after']:.2f} |"
            )
        if {1, 2} <= {r["n_jobs"] for r in rows}:
            def best(n: int, key: str) -> float:
                return min(float(r[key]) for r in rows if r["n_jobs"] == n)

            lines += [
                "",
                f"Speed-up of 2 workers over 1 (best of {args.repeats}): **{best(1, 'total') / best(2, 'total'):.2f}×** "
                f"for the whole command, **{best(1, 'runs') / best(2, 'runs'):.2f}×** for the runs phase.",
            ]
    lines += [
        "",
        "The setup phase runs once, in the parent, whatever the worker count (it composes and validates "
        "every job and creates the store before any worker starts), and each worker pays its imports "
        "(~8-10 s) at the start of the runs phase; only the runs themselves divide between workers. A "
        "short sweep is therefore bounded well below 2×; the more compute per run, the closer the "
        "speed-up gets to the number of workers.",
        "",
        "A load average above the core count means other processes shared the machine during the "
        "measurement; the figures are then upper bounds on the wall time and the speed-up is diluted.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
