"""MLflow helpers for ``dpcondense run``: where runs are stored, and how one run is recorded.

Two stores (the ``tracking`` config group):

- ``local``: a SQLite database ``<root>/mlflow.db`` plus an artifact folder ``<root>/artifacts``,
  both at absolute paths (``<root>`` = ``tracking.root``, else ``$DPCONDENSE_MLRUNS``, else
  ``<project>/mlruns``). The database schema and the experiment are created by
  :func:`prepare` — once, in the parent process of a sweep, under a file lock — because MLflow
  creates a missing schema on first use and parallel workers racing to do so lose runs.
- ``server``: a running ``mlflow server`` at ``tracking.uri`` or ``$MLFLOW_TRACKING_URI``,
  checked with a ``/health`` request before any work.

A run is identified by the tag ``identity`` (see :mod:`dpcondense.run`). Its status is the commit
marker: a run is done only once it is ``FINISHED``, which is set after every metric and artifact
is logged. A run left ``RUNNING`` (killed sweep) or ``FAILED`` is retried by the next launch, and
the stale attempt is deleted when the retry starts, so each identity ends up present once.

For the MLflow UI (none of it enters a run's identity, params or metrics): an experiment the suite
creates is tagged as a machine-learning experiment (:data:`EXPERIMENT_KIND_TAG`) and
:func:`ui_url` links to its runs table; a run is named by its dataset, condensing family, method,
ε, size and seed in full (:func:`run_name_of`); a run on a built-in dataset records that dataset as
an MLflow dataset input — name, recorded content checksum and public schema, never a row
(:func:`dataset_input`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping

from dpcondense.paths import PROJECT_ROOT

if TYPE_CHECKING:  # mlflow takes seconds to import: only when a store is opened
    from mlflow import MlflowClient

#: MLflow's batch limits (params and tags per call, metrics per call)
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
#: MLflow rejects longer tag values
_MAX_TAG_CHARS = 5000

TrackingKind = Literal["local", "server"]
#: tag naming the sweep (its output folder) that started a run: a sweep's summary counts its own runs
SWEEP_TAG = "sweep"
#: the experiment tag MLflow 3's UI writes when an experiment is declared "Machine learning" (vs
#: "GenAI apps & agents"), and its value; MLflow 3.17's UI reads its own workflow switch first
#: (:func:`ui_url` sets it), older 3.x UIs open such an experiment on its runs table
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: the UI's workflow switch (URL parameter): MLflow 3.17's UI chooses an experiment's view from it
#: (default "genai", then the browser's last choice) before the experiment's kind tag
UI_WORKFLOW = "machine_learning"


#: libraries whose INFO lines are noise in a command's output (their warnings and errors still show)
NOISY_LOGGERS = ("mlflow", "alembic", "huey", "numexpr", "urllib3", "git", "matplotlib", "PIL", "fontTools", "absl")


def disable_telemetry() -> None:
    """Turn MLflow's usage telemetry off for this process and every worker it starts."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # schema creation logs every alembic migration step at INFO
    logging.getLogger("alembic").setLevel(logging.WARNING)


def quiet_dependency_logs() -> None:
    """Keep the dependencies' INFO lines out of a command's output; warnings and errors still show.

    Called where the command line and the Hydra app start. MLflow configures its own logger when
    it is imported, from ``MLFLOW_LOGGING_LEVEL`` (set here unless the user set it, and inherited
    by every worker); the other loggers are set directly.
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in NOISY_LOGGERS:
        level = os.environ["MLFLOW_LOGGING_LEVEL"].upper() if name == "mlflow" else logging.WARNING
        logging.getLogger(name).setLevel(level)


disable_telemetry()


class TrackingError(RuntimeError):
    """The tracking store cannot be used (the message names the URI or path)."""


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs go: a tracking URI, the artifact root of a local store, an experiment name."""

    kind: TrackingKind
    uri: str
    experiment_name: str
    root: Path | None = None
    timeout: float = 10.0

    @property
    def artifact_root(self) -> Path | None:
        return None if self.root is None else self.root / "artifacts"

    def describe(self) -> str:
        where = self.root / "mlflow.db" if self.root is not None else self.uri
        return f"MLflow {self.kind} store {where}, experiment {self.experiment_name!r}"


def target_from_config(tracking: Mapping[str, Any], experiment_name: str) -> TrackingTarget:
    """Read the ``tracking`` config group (``kind: local`` or ``kind: server``).

    Raises
    ------
    TrackingError
        If ``kind`` is unknown, or a server store has no URI.
    """
    kind = tracking.get("kind")
    if not experiment_name or not str(experiment_name).strip():
        raise TrackingError("experiment_name must be a non-empty string")
    if kind == "local":
        root = tracking.get("root") or os.environ.get("DPCONDENSE_MLRUNS") or (PROJECT_ROOT / "mlruns")
        root = Path(root).expanduser().resolve()
        return TrackingTarget("local", f"sqlite:///{root / 'mlflow.db'}", str(experiment_name), root=root)
    if kind == "server":
        uri = tracking.get("uri") or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise TrackingError(
                "tracking=server needs a server URL: set tracking.uri=http://HOST:PORT or the "
                "MLFLOW_TRACKING_URI environment variable"
            )
        return TrackingTarget("server", str(uri).rstrip("/"), str(experiment_name), timeout=float(tracking.get("timeout", 10.0)))
    raise TrackingError(f"tracking.kind must be 'local' or 'server', got {kind!r}")


def check_server(target: TrackingTarget) -> None:
    """Ask the server's ``/health`` endpoint; raise :class:`TrackingError` naming the URI if it does not answer."""
    if not target.uri.startswith(("http://", "https://")):
        raise TrackingError(f"tracking=server needs an http(s) URL, got {target.uri!r}")
    url = f"{target.uri}/health"
    try:
        with urllib.request.urlopen(url, timeout=target.timeout) as response:  # noqa: S310 - URL is the user's server
            if response.status != 200:
                raise TrackingError(f"MLflow tracking server {target.uri} answered {url} with HTTP {response.status}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"MLflow tracking server {target.uri} is unreachable ({reason}); start it (`mlflow server "
            f"--host HOST --port PORT ...`) or point tracking.uri / MLFLOW_TRACKING_URI at a running one"
        ) from None


@contextlib.contextmanager
def _store_lock(target: TrackingTarget) -> Iterator[None]:
    """Exclusive lock around schema/experiment creation of a local store (no-op for a server)."""
    if target.root is None:
        yield
        return
    target.root.mkdir(parents=True, exist_ok=True)
    with open(target.root / ".create.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _client(target: TrackingTarget) -> "MlflowClient":
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=target.uri)


def prepare(target: TrackingTarget) -> "RunStore":
    """Open the store, creating the database schema and the experiment if they are missing.

    Call it in the parent process before parallel workers start; it is also safe (locked) when
    several processes call it at once.

    Raises
    ------
    TrackingError
        If the server does not answer or the local folder cannot be written.
    """
    if target.kind == "server":
        check_server(target)
    try:
        with _store_lock(target):
            client = _client(target)
            experiment = client.get_experiment_by_name(target.experiment_name)
            if experiment is None:
                experiment_id = _create_experiment(client, target)
            elif experiment.lifecycle_stage == "deleted":
                raise TrackingError(
                    f"experiment {target.experiment_name!r} is deleted in {target.uri}; restore it "
                    "(`mlflow experiments restore`) or choose another experiment_name"
                )
            else:
                experiment_id = experiment.experiment_id
                if EXPERIMENT_KIND_TAG not in experiment.tags:  # made before the tag; a user's choice is kept
                    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    except OSError as exc:
        raise TrackingError(f"cannot use the MLflow store at {target.root}: {exc}") from None
    return RunStore(client, experiment_id, target)


def _create_experiment(client: "MlflowClient", target: TrackingTarget) -> str:
    from mlflow.exceptions import MlflowException

    location = None
    if target.artifact_root is not None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", target.experiment_name)
        location = (target.artifact_root / safe).as_uri()
    try:
        return client.create_experiment(target.experiment_name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except MlflowException:
        # created meanwhile by another process (server stores are not locked)
        experiment = client.get_experiment_by_name(target.experiment_name)
        if experiment is None:
            raise
        return experiment.experiment_id


class RunStore:
    """The runs of one experiment: look up by identity, start, record, finish."""

    def __init__(self, client: "MlflowClient", experiment_id: str, target: TrackingTarget) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.target = target

    # ------------------------------------------------------------------ queries
    def runs(self, filter_string: str = "", *, deleted: bool = False) -> list[Any]:
        """Every active run of the experiment matching ``filter_string`` (and the deleted ones with ``deleted``)."""
        from mlflow.entities import ViewType

        view = ViewType.ALL if deleted else ViewType.ACTIVE_ONLY
        out: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string=filter_string, run_view_type=view, max_results=5000, page_token=token
            )
            out.extend(page)
            token = page.token
            if not token:
                return out

    def runs_of(self, identity: str) -> list[Any]:
        return self.runs(f"tags.identity = '{identity}'")

    def is_finished(self, identity: str) -> bool:
        return any(r.info.status == "FINISHED" for r in self.runs_of(identity))

    def status_by_identity(self) -> dict[str, str]:
        """``identity -> status`` over active runs; FINISHED wins when an identity has several."""
        status: dict[str, str] = {}
        for run in self.runs():
            identity = run.data.tags.get("identity")
            if identity and status.get(identity) != "FINISHED":
                status[identity] = run.info.status
        return status

    def attempts_of_sweep(self, sweep: str) -> dict[str, list[Any]]:
        """``identity -> runs`` started by the sweep ``sweep`` (tag ``sweep``), deleted ones included.

        Another process (an overlapping sweep) may have deleted or superseded them: this is what
        the sweep itself did, whatever the store holds now.
        """
        out: dict[str, list[Any]] = {}
        for run in self.runs(deleted=True):
            tags = run.data.tags
            if tags.get(SWEEP_TAG) == sweep and tags.get("identity"):
                out.setdefault(tags["identity"], []).append(run)
        return out

    def error_of(self, identity: str) -> str:
        for run in self.runs_of(identity):
            if run.info.status == "FAILED":
                return run.data.tags.get("error", "")
        return ""

    # ------------------------------------------------------------------ writing
    def discard_unfinished(self, identity: str) -> int:
        """Delete earlier attempts of ``identity`` that never finished (killed or failed)."""
        stale = [r for r in self.runs_of(identity) if r.info.status != "FINISHED"]
        for run in stale:
            self.client.delete_run(run.info.run_id)
        return len(stale)

    def start(self, identity: str, *, tags: Mapping[str, str], params: Mapping[str, str], run_name: str | None = None) -> str:
        """Create the run: its tags and params, its full name (:func:`run_name_of`; ``run_name`` when
        the tags do not describe a run) and its dataset input (:func:`dataset_input`)."""
        from mlflow.entities import Param

        name = run_name_of(tags) or run_name
        run = self.client.create_run(self.experiment_id, tags={**tags, "identity": identity}, run_name=name)
        run_id = run.info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[i : i + _MAX_PARAMS_PER_BATCH])
        data = dataset_input(tags, params)
        if data is not None:
            self._log_input(run_id, data)
        return run_id

    def _log_input(self, run_id: str, data: Any, attempts: int = 5) -> None:
        """Log a dataset input; parallel workers may race to create the same dataset row: retry."""
        from mlflow.exceptions import MlflowException

        for attempt in range(attempts):
            try:
                self.client.log_inputs(run_id, datasets=[data])
                return
            except MlflowException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def log_metrics(self, run_id: str, values: Mapping[str, float], *, curves: Mapping[str, list[float]] | None = None) -> None:
        """Scalar metrics (step 0) and per-step curves (step = index)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, _finite_or_max(v), now, 0) for k, v in values.items()]
        for key, curve in (curves or {}).items():
            items.extend(Metric(key, _finite_or_max(v), now, step) for step, v in enumerate(curve))
        for i in range(0, len(items), _MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=items[i : i + _MAX_METRICS_PER_BATCH])

    def log_artifacts(self, run_id: str, folder: Path) -> None:
        self.client.log_artifacts(run_id, str(folder))

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id, "FINISHED")

    def fail(self, run_id: str, error: BaseException, traceback_text: str, *, status: str = "FAILED") -> None:
        """Record the error (tag ``error`` + artifact ``error.txt``) and mark the run ``status``."""
        message = f"{type(error).__name__}: {error}"
        with contextlib.suppress(Exception):  # the store itself may be what failed
            self.client.set_tag(run_id, "error", message[:_MAX_TAG_CHARS])
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "error.txt").write_text(traceback_text)
                self.client.log_artifact(run_id, str(Path(tmp) / "error.txt"))
        with contextlib.suppress(Exception):
            self.client.set_terminated(run_id, status)


def _finite_or_max(value: float) -> float:
    # MLflow stores ±inf as ±float max anyway; NaN is kept (it means "undefined" in our metrics)
    value = float(value)
    if math.isinf(value):
        return math.copysign(1.7976931348623157e308, value)
    return value


def ui_url(uri: str, experiment_id: str) -> str:
    """The MLflow UI page of an experiment's runs table at tracking server ``uri``.

    MLflow 3.17's UI picks an experiment's view from its workflow switch (the URL parameter
    ``workflowType``, else the browser's last choice, else GenAI): the parameter opens the runs.
    """
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}?workflowType={UI_WORKFLOW}"


#: the tags a run name is made of, in order
_NAME_TAGS = ("dataset", "model", "method", "epsilon", "size", "seed")


def run_name_of(tags: Mapping[str, str]) -> str | None:
    """``dataset=… family=… method=… ε=… size=… seed=…`` (then ``eval=…`` when the evaluation
    families differ from the condensing one, ``variant=…`` for a declared variant); ``None`` when
    a tag is missing."""
    if any(k not in tags for k in _NAME_TAGS):
        return None
    eps = str(tags["epsilon"])
    with contextlib.suppress(ValueError):
        eps = "∞" if math.isinf(float(eps)) else f"{float(eps):g}"
    name = f"dataset={tags['dataset']} family={tags['model']} method={tags['method']} ε={eps} size={tags['size']} seed={tags['seed']}"
    evals, variant = tags.get("eval_models"), tags.get("variant")
    return name + (f" eval={evals}" if evals and evals != tags["model"] else "") + (f" variant={variant}" if variant else "")


def dataset_input(tags: Mapping[str, str], params: Mapping[str, str]) -> Any | None:
    """The run's built-in dataset as an MLflow dataset input — metadata only, never a row.

    Name: the dataset's; digest: the first 32 hex digits of the content checksum its module records
    (MLflow caps digests at 36 characters; the whole checksum is the profile's ``content_sha256``);
    schema: its public schema's raw columns as MLflow column specs; source: the package. ``None``
    for a custodian's CSV (its content enters only the run's keyed identity: no digest of it may
    be logged; its params carry no ``dataset.schema_sha256``) and for an unregistered dataset.
    """
    from dpcondense.datasets import DATASETS, schema_for
    from dpcondense.datasets._common import recorded_checksum

    name = tags.get("dataset")
    if "dataset.schema_sha256" not in params or name not in DATASETS:
        return None
    checksum = recorded_checksum(name)
    if not checksum:
        return None
    from mlflow.entities import Dataset, DatasetInput
    from mlflow.types import ColSpec, Schema

    schema = schema_for(name)
    kinds = {"numeric": "double", "binary": "long", "categorical": "string"}
    cols = [ColSpec("long" if f.integer else kinds[f.type], f.name, required=f.missing.fill is None and not f.missing.indicator)
            for f in schema.features]
    if schema.task == "classification":
        cols.append(ColSpec("string" if isinstance(schema.outcome.positive, str) else "long", schema.outcome.label))
    else:
        cols += [ColSpec("double", schema.outcome.time), ColSpec("long", schema.outcome.event)]
    source = {"tags": {"dpcondense.dataset": name, "card": f"conf/dataset/{name}.yaml"}}
    return DatasetInput(Dataset(
        name=name, digest=checksum[:32], source_type="code", source=json.dumps(source, sort_keys=True),
        schema=json.dumps({"mlflow_colspec": Schema(cols).to_dict()}), profile=json.dumps({"content_sha256": checksum}),
    ))
