"""``dpcondense run``: the Hydra app. One run = compose → resolve → skip or run → log to MLflow.

``dpcondense run [overrides]`` (or ``python -m dpcondense.benchmark.app``) runs one configuration;
``dpcondense run -m ...`` sweeps (joblib on all cores by default). The config groups live in
``conf/`` and are documented in ``conf/README.md``. If MLflow already holds a ``FINISHED`` run with
the spec's identity (:mod:`dpcondense.benchmark.spec`), the run is skipped. The git commit is a
tag, not part of the identity.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any, Iterator

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from dpcondense.benchmark import tracking
from dpcondense.benchmark.outputs import write_outputs, write_release
from dpcondense.benchmark.resolve import resolve_run
from dpcondense.benchmark.runner import REFERENCE_METHODS, RunResult, run_one
from dpcondense.benchmark.spec import VARIANT_TAG, RunConfigError, RunSpec
from dpcondense.paths import CONF_DIR

tracking.quiet_dependency_logs()


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the running run is marked KILLED and re-runs on relaunch."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(spec: RunSpec, cfg: DictConfig, store: tracking.RunStore) -> dict[str, Any]:
    """Skip the run if ``store`` has it FINISHED; else condense, evaluate and log it.

    Returns ``{"status": "done" | "skipped" | "failed", "identity": ..., "error": ...}``. A failure
    is recorded as a FAILED run (tag ``error``, artifact ``error.txt``) and returned, not raised.
    """
    identity = spec.identity
    if store.is_finished(identity):
        print(f"skipped (already done): {identity}", flush=True)
        return {"status": "skipped", "identity": identity}
    store.discard_unfinished(identity)  # a killed or failed earlier attempt
    tags = spec.tags()
    overrides = _job_overrides()
    if overrides:
        tags["overrides"] = overrides
    if cfg.get("variant") is not None:  # the declared variant: a report cell of its own (not the identity)
        tags[VARIANT_TAG] = str(cfg.variant)
    if _in_multirun():
        tags[tracking.SWEEP_TAG] = sweep_id()
    run_id = store.start(identity, tags=tags, params=spec.params(), run_name=spec.run_name())

    try:
        result = run_one(spec)
        metrics = run_metrics(result, spec)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            if spec.csv is None:
                store.log_metrics(run_id, metrics, curves={"objective": list(getattr(result.estimator, "history_", None) or [])})
                write_outputs(out, result)  # synthetic.csv, ledger.json, metrics.json
            else:
                # a custodian's run: the release only (no timings, no objective trace, no file digest)
                store.log_metrics(run_id, metrics)
                write_release(out, result, local_files={})
                for name in ("synthetic.csv", "ledger.json", "manifest.json"):
                    (out / "release" / name).rename(out / name)
                (out / "release").rmdir()
                (out / "local").rmdir()
            (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
            (out / "run_spec.json").write_text(json.dumps({"identity": identity, **_shareable(spec.payload())}, indent=2, sort_keys=True) + "\n")
            store.log_artifacts(run_id, out)
        store.finish(run_id)  # the commit marker: only now is the run "done"
    except KeyboardInterrupt as exc:
        store.fail(run_id, exc, traceback.format_exc(), status="KILLED")
        print(f"killed: {identity} ({spec.run_name()}): marked KILLED; a relaunch runs it again", file=sys.stderr, flush=True)
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run must not stop the sweep
        store.fail(run_id, exc, traceback.format_exc())
        print(f"failed: {identity} ({spec.run_name()}): {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        traceback.print_exc(file=sys.stderr)
        return {"status": "failed", "identity": identity, "error": f"{type(exc).__name__}: {exc}"}
    shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if k.startswith(f"{spec.eval_models[0]}."))
    shown = shown or result.ledger.label
    print(f"done: {identity} ({spec.run_name()}) {shown}", flush=True)
    return {"status": "done", "identity": identity}


def _shareable(payload: dict[str, Any]) -> dict[str, Any]:
    """The identity payload without the keyed digest of a custodian's file."""
    if "csv" in payload:
        payload = {**payload, "dataset": {k: v for k, v in payload["dataset"].items() if k != "schema_sha256"}}
    return payload


def run_metrics(result: RunResult, spec: RunSpec) -> dict[str, float]:
    """The MLflow metrics of a run: ``<family>.<metric>``, references, spend and cost.

    A custodian's run logs its privacy spend only: metrics on its rows, wall time and model-fit
    counts are computed from private data outside the ledger.
    """
    if spec.csv is not None:
        return {"epsilon_spent": float(result.ledger.total_epsilon), "delta_spent": float(result.ledger.total_delta)}
    out: dict[str, float] = {}
    for name in spec.eval_models:
        out.update({f"{name}.{k}": float(v) for k, v in result.metrics[name].items()})
    for ref in REFERENCE_METHODS:
        for name, values in result.metrics.get(ref, {}).items():
            out.update({f"{ref}.{name}.{k}": float(v) for k, v in values.items()})
    out["epsilon_spent"] = float(result.ledger.total_epsilon)
    out["delta_spent"] = float(result.ledger.total_delta)
    out["wall_seconds"] = float(result.wall_seconds)
    n_fits = getattr(result.estimator, "n_model_fits_", None)
    if n_fits is not None:
        out["n_model_fits"] = float(n_fits)
    return out


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Run one composed configuration (one job of a sweep); SIGTERM stops it like Ctrl-C."""
    with terminate_as_interrupt():
        return _run_job(cfg)


def _run_job(cfg: DictConfig) -> dict[str, Any]:
    in_sweep = _in_multirun()
    try:
        spec = resolve_run(cfg)
        target = tracking.target_from_config(cfg.tracking, cfg.experiment_name)
        store = tracking.prepare(target)
    except (RunConfigError, tracking.TrackingError) as exc:
        if in_sweep:  # the sweep checked every job up front; this is a safety net
            print(f"invalid run: {exc}", file=sys.stderr, flush=True)
            return {"status": "failed", "identity": None, "error": str(exc)}
        print(f"dpcondense run: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if cfg.get("dry_run") and not in_sweep:
        state = "already done, would be skipped" if store.is_finished(spec.identity) else "would run"
        print(f"dry run: {spec.identity} ({spec.run_name()}): {state}", flush=True)
        return {"status": "dry_run", "identity": spec.identity}
    result = execute(spec, cfg, store)
    if result["status"] == "failed" and not in_sweep:
        raise SystemExit(1)
    return result


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_id() -> str:
    """The sweep a job belongs to: its output folder, the same string in the parent and every worker."""
    return str(HydraConfig.get().sweep.dir)


def _job_overrides() -> str:
    if not HydraConfig.initialized():
        return ""
    return " ".join(HydraConfig.get().overrides.task)


if __name__ == "__main__":
    # run the function of the importable module, not of __main__: launchers that pickle the task
    # (submitit, ray) must find it by reference in their worker processes
    from dpcondense.benchmark.app import main as _importable_main

    _importable_main()
