"""Hydra callback for sweeps: check every job and create the store before any work; summarise after.

``on_multirun_start`` runs once, in the parent process, before the launcher starts any worker:

1. expands the sweep exactly as Hydra's basic sweeper does and composes every job's config (once
   per choice of config groups, :mod:`~dpcondense.benchmark.compose`);
2. validates every job (:func:`dpcondense.benchmark.resolve_run`) — one clear error, nothing run, if any
   job is invalid (e.g. a dataset × model pair of different tasks) or two jobs are the same run;
3. creates the MLflow database and experiment (:func:`dpcondense.benchmark.tracking.prepare`), so parallel
   workers only ever open an existing store, and checks a tracking server answers;
4. notes which runs are already FINISHED (they will be skipped).

Before all of it, the launcher's settings are checked (e.g. ``hydra.launcher.n_jobs=0``).

``on_multirun_end`` reads the store and prints ``sweep summary: N runs: D done, S skipped (already
done), F failed``; the exit status is 1 if any run failed or did not finish. It counts what this
sweep's own runs (tag ``sweep``) did, so a run of another, overlapping sweep cannot hide a failure.

With ``dry_run=true`` the plan (every run, done or to run) is printed and nothing is launched.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dpcondense.benchmark import tracking
from dpcondense.benchmark.compose import SweepComposer
from dpcondense.benchmark.resolve import resolve_run
from dpcondense.benchmark.spec import RunConfigError

_BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
#: how many distinct problems an error message lists
_SHOWN = 10


class SweepError(ValueError):
    """A sweep that cannot start (the message lists the offending jobs)."""


@dataclass
class _Job:
    overrides: list[str]
    identity: str
    target: tracking.TrackingTarget


@dataclass
class SweepPlan:
    """The jobs of a sweep, their identities and stores, and what was done before it started."""

    jobs: list[_Job]
    stores: dict[tracking.TrackingTarget, tracking.RunStore]
    finished_before: set[tuple[tracking.TrackingTarget, str]] = field(default_factory=set)
    #: the sweep's id (its output folder): the tag ``sweep`` of the runs it starts
    sweep: str = ""

    def describe(self) -> str:
        n_done = sum((j.target, j.identity) in self.finished_before for j in self.jobs)
        where = "; ".join(t.describe() for t in self.stores)
        return f"sweep: {len(self.jobs)} runs ({n_done} already done, will be skipped) -> {where}"

    def summary(self) -> tuple[str, int]:
        """The summary line (plus one line per failed run) and the number of runs not done."""
        status = {t: store.status_by_identity() for t, store in self.stores.items()}
        own = {t: store.attempts_of_sweep(self.sweep) for t, store in self.stores.items()}
        counts = {"done": 0, "skipped": 0, "failed": 0, "unfinished": 0}
        problems: list[str] = []
        for job in self.jobs:
            if (job.target, job.identity) in self.finished_before:
                counts["skipped"] += 1
                continue
            outcome, detail = _job_outcome(own[job.target].get(job.identity, []), status[job.target].get(job.identity))
            counts[outcome] += 1
            if outcome == "failed":
                problems.append(f"  failed: {' '.join(job.overrides)}: {detail}")
            elif outcome == "unfinished":
                problems.append(f"  did not finish ({detail}): {' '.join(job.overrides)}")
        line = (
            f"sweep summary: {len(self.jobs)} runs: {counts['done']} done, "
            f"{counts['skipped']} skipped (already done), {counts['failed']} failed"
        )
        if counts["unfinished"]:
            line += f", {counts['unfinished']} did not finish"
        return "\n".join([line, *problems]), counts["failed"] + counts["unfinished"]


def _job_outcome(attempts: list[Any], state: str | None) -> tuple[str, str]:
    """``(done | skipped | failed | unfinished, detail)`` of one job from its own runs and the store's state."""
    if any(r.info.status == "FINISHED" and r.info.lifecycle_stage == "active" for r in attempts):
        return "done", ""
    if attempts:
        last = max(attempts, key=lambda r: (r.info.start_time or 0, r.info.run_id))
        if last.info.lifecycle_stage == "deleted":
            return "failed", (
                "its run was deleted by another process while it ran (two sweeps on one experiment at once?)"
            )
        if last.info.status == "RUNNING":
            return "unfinished", "RUNNING"
        return "failed", last.data.tags.get("error") or last.info.status
    if state == "FINISHED":  # finished by another process after the plan: this sweep skipped it
        return "skipped", ""
    return "unfinished", state or "no run logged"


def expand_sweep(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides, in launch order, as Hydra's basic sweeper generates them.

    ``None`` when another sweeper is configured (its jobs are not known in advance).
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if config.hydra.sweeper.get("_target_") != _BASIC_SWEEPER:
        return None
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return [list(job) for job in batches[0]]


def plan_sweep(config: DictConfig) -> SweepPlan:
    """Compose and validate every job, prepare every store (see the module docstring).

    Raises
    ------
    SweepError
        Naming the invalid jobs and why, or the duplicated ones.
    tracking.TrackingError
        If a store cannot be created or a server does not answer.
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    loader = GlobalHydra.instance().config_loader()
    check_launcher(config)
    expanded = expand_sweep(config)
    if expanded is None:  # unknown job list: prepare the master config's store only
        target = tracking.target_from_config(config.tracking, config.experiment_name)
        return SweepPlan(jobs=[], stores={target: tracking.prepare(target)})

    jobs: list[_Job] = []
    errors: dict[str, list[str]] = defaultdict(list)
    composer = SweepComposer(loader, config, OverridesParser.create(config_loader=loader))
    for overrides in expanded:
        try:
            job_cfg = composer.compose(overrides)
            spec = resolve_run(job_cfg)
            target = tracking.target_from_config(job_cfg.tracking, job_cfg.experiment_name)
        except (RunConfigError, tracking.TrackingError, HydraException) as exc:
            errors[str(exc)].append(" ".join(overrides))
            continue
        jobs.append(_Job(overrides, spec.identity, target))
    if errors:
        n_bad = sum(len(v) for v in errors.values())
        lines = [f"{n_bad} of {len(expanded)} runs in this sweep are invalid; nothing was run:"]
        for message, where in list(errors.items())[:_SHOWN]:
            example = where[0] or "(no overrides)"
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            lines.append(f"  {message}\n    in: {example}{more}")
        if len(errors) > _SHOWN:
            lines.append(f"  ... and {len(errors) - _SHOWN} more distinct problems")
        raise SweepError("\n".join(lines))

    seen: dict[tuple[tracking.TrackingTarget, str], _Job] = {}
    for job in jobs:
        key = (job.target, job.identity)
        if key in seen:
            raise SweepError(
                f"two jobs of this sweep are the same run (identity {job.identity}):\n"
                f"  {' '.join(seen[key].overrides)}\n  {' '.join(job.overrides)}\n"
                "remove the duplicate value (e.g. size=null next to the task default size)"
            )
        seen[key] = job

    stores = {t: tracking.prepare(t) for t in dict.fromkeys(j.target for j in jobs)}
    finished_before = {
        (t, identity) for t, store in stores.items() for identity, state in store.status_by_identity().items()
        if state == "FINISHED"
    }
    return SweepPlan(jobs=jobs, stores=stores, finished_before=finished_before, sweep=str(config.hydra.sweep.dir))


#: launcher settings that must be whole numbers of at least 1 (when the launcher has them)
_POSITIVE_LAUNCHER_KEYS = ("timeout_min", "cpus_per_task", "tasks_per_node", "nodes", "array_parallelism")


def check_launcher(config: DictConfig) -> None:
    """The launcher's settings make sense: ``n_jobs`` a nonzero integer, counts and limits >= 1.

    Raises
    ------
    SweepError
        Naming the setting as an override (``hydra.launcher.n_jobs=0``) and what it may be.
    """
    launcher = config.hydra.get("launcher") or {}
    if "n_jobs" in launcher:
        n_jobs = _as_int(launcher.get("n_jobs"))
        if n_jobs is None or n_jobs == 0:
            raise SweepError(
                f"hydra.launcher.n_jobs={launcher.get('n_jobs')} must be the number of parallel runs: an integer "
                ">= 1, or -1 for one per core (-2 for all cores but one, ...)"
            )
    if "batch_size" in launcher and launcher.get("batch_size") != "auto":
        size = _as_int(launcher.get("batch_size"))
        if size is None or size < 1:
            raise SweepError(f"hydra.launcher.batch_size={launcher.get('batch_size')} must be an integer >= 1 or 'auto'")
    for key in _POSITIVE_LAUNCHER_KEYS:
        if key in launcher and launcher.get(key) is not None:
            value = _as_int(launcher.get(key))
            if value is None or value < 1:
                raise SweepError(f"hydra.launcher.{key}={launcher.get(key)} must be an integer >= 1")


def _as_int(value: Any) -> int | None:
    """``value`` as an integer (launchers type some counts as strings), ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


class SweepCallback(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks.sweep``."""

    def __init__(self) -> None:
        self._plan: SweepPlan | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Hydra ships its callbacks to every worker; the plan (and its DB handles) stays here
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._plan = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._plan = plan_sweep(config)
        except (SweepError, tracking.TrackingError) as exc:
            print(f"dpcondense run: error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        print(self._plan.describe(), flush=True)
        if config.get("dry_run"):
            for job in self._plan.jobs:
                done = (job.target, job.identity) in self._plan.finished_before
                print(f"  {'done ' if done else 'to run'} {job.identity[:16]} {' '.join(job.overrides)}", flush=True)
            raise SystemExit(0)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._plan is None or not self._plan.jobs:
            return
        text, n_not_done = self._plan.summary()
        print(text, flush=True)
        if n_not_done:
            raise SystemExit(1)
