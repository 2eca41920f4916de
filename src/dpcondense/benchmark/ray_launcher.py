"""Hydra launcher that runs each job of a sweep as a Ray task (``hydra/launcher=ray``).

Why a launcher of our own: Hydra's Ray plugin (``hydra-ray-launcher`` 1.2.x) requires
``cloudpickle<3`` while joblib 1.6, which runs the default launcher, requires ``cloudpickle>=3``,
so pip cannot install both. This one needs only ``ray`` (the ``ray`` extra) and is imported
lazily: without ``ray``, a sweep with ``hydra/launcher=ray`` stops before any run, naming the extra.

How a sweep runs: the parent process has already validated every job and prepared the store
(:mod:`dpcondense.benchmark.callbacks`). It joins the Ray cluster at ``address`` (null: as
``ray.init()``, ``$RAY_ADDRESS`` or a Ray running on this machine, else a new one), composes each job's config as Hydra's other launchers do, and
submits one task per job with the resources in ``remote`` (one core by default). A task restores
Hydra's global state, moves to the parent's working directory (a shared file system gives
relative paths such as the sweep folder the same meaning on every node) and calls Hydra's
``run_job``, i.e. the app: skip the run if the store holds it FINISHED, else run and log it.
Environment variables listed in ``env`` are copied into every worker (Ray's ``runtime_env``), so
``MLFLOW_TRACKING_URI`` or ``DPCONDENSE_MLRUNS`` set for the sweep reach workers on other nodes.

Interruption: Ctrl-C or SIGTERM in the parent (:mod:`dpcondense.benchmark.app`; its SIGTERM handler
is put back after ``ray.init`` replaced it) cancels the tasks: a running one gets
``KeyboardInterrupt`` and marks its run KILLED. A parent killed outright ends its Ray job, and Ray
stops the job's workers; their runs stay RUNNING. Either way the next launch skips the FINISHED
runs and runs the rest again. A task whose worker died (e.g. out of memory) is reported failed
without stopping the others; the sweep summary lists its run as not finished.

Privacy: the launcher ships configs to workers and gets back the app's status dicts (status,
identity, error); no value computed from data passes through it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

#: seconds a cancelled sweep waits for its running tasks to mark their runs KILLED
_CANCEL_GRACE_SECONDS = 90.0


def _run_job_task(
    hydra_context: HydraContext, sweep_config: DictConfig, task_function: TaskFunction, singleton_state: dict[Any, Any]
) -> JobReturn:
    """One job on a Ray worker: Hydra's state, the parent's working directory, then the app."""
    from hydra.core.hydra_config import HydraConfig

    _interruptible()
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    cwd = sweep_config.hydra.runtime.get("cwd")
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    return run_job(
        hydra_context=hydra_context, task_function=task_function, config=sweep_config,
        job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir",
    )


def _interruptible() -> None:
    """Let ``ray.cancel`` interrupt this task: it raises ``KeyboardInterrupt`` through SIGINT, which
    a worker inherits as ignored when its node was started from a shell or process that ignores it
    (a background job of a script, a test runner): restore Python's handler."""
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.default_int_handler)


class RayLauncher(Launcher):
    """Runs a sweep's jobs as Ray tasks; ``conf/hydra/launcher/ray.yaml`` documents the settings."""

    def __init__(self, address: str | None = None, init: Mapping[str, Any] | None = None,
                 remote: Mapping[str, Any] | None = None, env: Sequence[str] | None = None) -> None:
        self.address = address
        self.init = _plain(init)
        self.remote = _plain(remote)
        self.env = list(_plain(env) or [])
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Hydra's setup; without ``ray`` the sweep stops here, before any job is composed or run."""
        if importlib.util.find_spec("ray") is None:
            print("dpcondense run: error: hydra/launcher=ray needs the `ray` package: install the extra with "
                  "`pip install -e '.[ray]'`", file=sys.stderr, flush=True)
            raise SystemExit(2)
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import ray

        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        started = self._connect(ray)
        refs: list[Any] = []
        try:
            task = ray.remote(_run_job_task).options(**self.remote)
            state = Singleton.get_state()
            configs = []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(sweep_config):
                    sweep_config.hydra.job.id = f"ray_{idx}"
                    sweep_config.hydra.job.num = idx
                configs.append(sweep_config)
                refs.append(task.remote(self.hydra_context, sweep_config, self.task_function, state))
            return [_result(ray, ref, cfg) for ref, cfg in zip(refs, configs)]
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # KeyboardInterrupt in a running task: its run is marked KILLED
            if refs:
                ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_GRACE_SECONDS)
            raise
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join (or start) Ray unless this process already has; True when this call did (then
        ``ray.shutdown()`` ends it: it disconnects, and stops a Ray instance this process started)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports to Ray's servers
        init = dict(self.init)
        runtime_env = dict(init.pop("runtime_env", None) or {})
        env_vars = {name: os.environ[name] for name in self.env if name in os.environ}
        if env_vars:
            runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **env_vars}
        where = self.address or "the Ray instance of this machine (started if none runs)"
        log.info(f"Ray launcher: joining {where}, sweep output dir: {self.config.hydra.sweep.dir}")
        on_sigterm = signal.getsignal(signal.SIGTERM)
        ray.init(address=self.address, runtime_env=runtime_env or None, **init)
        if callable(on_sigterm) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)  # Ray's own handler would just exit: keep the app's
        return True


def _result(ray: Any, ref: Any, sweep_config: DictConfig) -> JobReturn:
    """The job's return, or a failed status when its worker died (the other jobs go on)."""
    from ray.exceptions import RayError

    try:
        return ray.get(ref)
    except RayError as exc:
        overrides = list(sweep_config.hydra.overrides.task)
        message = f"its Ray task failed ({type(exc).__name__}); the run is retried on the next launch"
        print(f"failed on Ray: {' '.join(overrides)}: {message}", flush=True)
        return JobReturn(overrides=overrides, cfg=sweep_config, status=JobStatus.COMPLETED,
                         _return_value={"status": "failed", "identity": None, "error": message})


def _plain(value: Any) -> Any:
    """A config node as plain Python containers (Ray's options must not be OmegaConf objects)."""
    if value is None:
        return {}
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value) if isinstance(value, Mapping) else value
