"""The runs a report is made of: the ``FINISHED`` runs of one MLflow experiment, read-only.

:func:`open_experiment` opens a store without creating anything, :meth:`ExperimentRuns.from_store`
flattens its runs into :class:`~dpcondense.reporting.records.RunRecord` s — one run per identity,
one identity per report cell (:mod:`~dpcondense.reporting.selection`) — and answers the questions
every table and figure asks (which datasets, methods, ε, sizes; the statistic of a cell).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

from dpcondense.benchmark import tracking as tracking_mod
from dpcondense.conventions import default_model, default_size, size_unit
from dpcondense.datasets import dataset_names, schema_for
from dpcondense.reporting.labels import format_epsilon
from dpcondense.reporting.records import (
    SIZE_FREE_METHODS,
    RunRecord,
    Stat,
    deduplicate,
    records_from_reference,
    records_from_run,
    same_epsilon,
    stat_of,
)
from dpcondense.reporting.selection import ReportError, select_runs
from dpcondense.benchmark.tracking import RunStore

#: the paper's method: its runs give Table 4, Figures 3–5
MAIN_METHOD = "dpzo"
#: the privacy budget of the main comparisons (Tables 2, 4, 5; Figures 2, 4, 5)
MAIN_EPSILON = 1.0
#: both primary metrics (AUROC, C-index) score 0.5 for an uninformative model
CHANCE_LEVEL = 0.5
#: the id of the "Default" experiment MLflow creates in every store
MLFLOW_DEFAULT_EXPERIMENT_ID = "0"
#: what the report reads from each record of a ``dpcondense reference --json`` file
REFERENCE_FIELDS = ("dataset", "model", "task", "per_seed")


class ExperimentRuns:
    """The finished runs of one experiment, flattened into :class:`RunRecord` s.

    Parameters
    ----------
    experiment : str
        Name shown in the report.
    records : iterable of RunRecord
        Deduplicated on construction (:func:`deduplicate`).
    history : callable ``(run_id, key) -> list[float]``, optional
        A step metric's values in step order (Figure 3); default: none recorded.
    artifact : callable ``(run_id, path) -> Path``, optional
        A local copy of a run's artifact (Figure 5, the notebook); default: none available.
    """

    def __init__(
        self,
        experiment: str,
        records: Iterable[RunRecord],
        *,
        history: Callable[[str, str], list[float]] | None = None,
        artifact: Callable[[str, str], Path] | None = None,
    ) -> None:
        self.experiment = experiment
        self.records = deduplicate(records)
        self._history = history
        self._artifact = artifact
        self._history_cache: dict[tuple[str, str], list[float]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_store(
        cls, store: "RunStore", *, reference: Iterable[Mapping[str, Any]] | None = None
    ) -> "ExperimentRuns":
        """Read every ``FINISHED`` run of ``store``'s experiment (:meth:`from_runs`).

        Raises
        ------
        ReportError
            When two identities fall in one report cell (:func:`~dpcondense.reporting.selection.select_runs`).
        """
        runs = store.runs("attributes.status = 'FINISHED'")
        client = store.client

        def history(run_id: str, key: str) -> list[float]:
            points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
            return [float(m.value) for m in points]

        def artifact(run_id: str, path: str) -> Path:
            dst = Path(tempfile.mkdtemp(prefix="dpcondense-report-"))
            return Path(client.download_artifacts(run_id, path, str(dst)))

        def spec_of(run: Any) -> dict[str, Any] | None:
            try:
                return json.loads(artifact(run.info.run_id, "run_spec.json").read_text(encoding="utf-8"))
            except Exception:  # noqa: BLE001 - the error message falls back on the params
                return None

        return cls.from_runs(store.target.experiment_name, runs, reference=reference, history=history,
                             artifact=artifact, spec_of=spec_of)

    @classmethod
    def from_runs(
        cls,
        experiment: str,
        runs: Iterable[Any],
        *,
        reference: Iterable[Mapping[str, Any]] | None = None,
        history: Callable[[str, str], list[float]] | None = None,
        artifact: Callable[[str, str], Path] | None = None,
        spec_of: Callable[[Any], Mapping[str, Any] | None] | None = None,
        frozen: bool = False,
    ) -> "ExperimentRuns":
        """The report's runs from FINISHED runs (MLflow runs or objects shaped like them): one run
        per identity and one identity per report cell (:func:`~dpcondense.reporting.selection.select_runs`),
        plus the full-data records of a ``dpcondense reference --json`` file where the runs have none.
        """
        chosen = select_runs(runs, experiment=experiment, spec_of=spec_of, frozen=frozen)
        records = [rec for run in chosen for rec in records_from_run(run)]
        if reference is not None:
            # only the experiment's datasets (the file covers every dataset), and only where the
            # runs themselves have no full-data result (never a mix of the two sources in a cell)
            datasets = {r.dataset for r in records}
            have = {(r.dataset, r.eval_model) for r in records if r.method == "full_data"}
            records += [r for r in records_from_reference(reference) if r.dataset in datasets and (r.dataset, r.eval_model) not in have]
        return cls(experiment, records, history=history, artifact=artifact)

    def only(self, *, dataset: str | Sequence[str] | None = None, method: str | Sequence[str] | None = None) -> "ExperimentRuns":
        """The same runs restricted to some datasets and/or methods (same history and artifacts)."""
        keep_d = None if dataset is None else ({dataset} if isinstance(dataset, str) else set(dataset))
        keep_m = None if method is None else ({method} if isinstance(method, str) else set(method))
        records = [r for r in self.records if (keep_d is None or r.dataset in keep_d) and (keep_m is None or r.method in keep_m)]
        view = ExperimentRuns(self.experiment, records, history=self._history, artifact=self._artifact)
        view._history_cache = self._history_cache
        return view

    # ------------------------------------------------------------------ access
    def history(self, run_id: str, key: str = "objective") -> list[float]:
        """Step metric ``key`` of run ``run_id`` in step order (``[]`` when none is recorded)."""
        if self._history is None or run_id is None:
            return []
        if (run_id, key) not in self._history_cache:
            self._history_cache[(run_id, key)] = list(self._history(run_id, key))
        return self._history_cache[(run_id, key)]

    def artifact(self, run_id: str, path: str) -> Path | None:
        """A local copy of artifact ``path`` of run ``run_id`` (``None`` when unavailable)."""
        if self._artifact is None or run_id is None:
            return None
        try:
            return self._artifact(run_id, path)
        except Exception:  # noqa: BLE001 - a missing artifact makes a panel missing, not the report fail
            return None

    def datasets(self, task: str | None = None) -> list[str]:
        """Datasets with runs, in the registry's order (unregistered ones last, by name)."""
        present = {r.dataset for r in self.records if task is None or r.task == task}
        known = [d for d in dataset_names() if d in present]
        return known + sorted(present - set(known))

    def task(self, dataset: str) -> str:
        """The dataset's task, from its records (else from its registered schema)."""
        for r in self.records:
            if r.dataset == dataset:
                return r.task
        return schema_for(dataset).task

    def methods(self, dataset: str | None = None, *, private: bool | None = None) -> list[str]:
        """Methods with records: the main method first, then private ones, then the others (by name)."""
        names = {
            r.method
            for r in self.records
            if (dataset is None or r.dataset == dataset) and (private is None or r.private == private)
        }
        return sorted(names, key=lambda m: (m != MAIN_METHOD, not self.is_private(m), m))

    def is_private(self, method: str) -> bool:
        """Whether any record of ``method`` is private."""
        return any(r.private for r in self.records if r.method == method)

    def main_model(self, dataset: str) -> str | None:
        """The family the dataset is condensed and evaluated with in the main comparisons."""
        models = Counter(r.model for r in self.records if r.dataset == dataset and r.private and r.model)
        if not models:
            evals = Counter(r.eval_model for r in self.records if r.dataset == dataset)
            models = evals
        if not models:
            return None
        preferred = default_model(self.task(dataset))
        if preferred in models:
            return preferred
        return sorted(models, key=lambda m: (-models[m], m))[0]

    def condensing_models(self, dataset: str) -> list[str]:
        """The families ``dataset`` was condensed and scored with (a run's model scoring its own
        release): :meth:`main_model` first, then by name; ``[main_model]`` when no run has a model."""
        main = self.main_model(dataset)
        found = {r.model for r in self.records if r.dataset == dataset and r.model and r.model == r.eval_model}
        return [m for m in [main, *sorted(found - {main})] if m is not None]

    def default_size(self, dataset: str) -> int | None:
        """The task's default size when runs have it, else the most common size."""
        sizes = Counter(r.size for r in self.records if r.dataset == dataset and r.size is not None and not r.derived)
        if not sizes:
            sizes = Counter(r.size for r in self.records if r.dataset == dataset and r.size is not None)
        preferred = default_size(self.task(dataset))
        if not sizes or preferred in sizes:
            return preferred
        return sorted(sizes, key=lambda s: (-sizes[s], s))[0]

    def scored_on(self) -> str:
        """``test``, or ``validation`` when the experiment's runs were scored on a validation part."""
        parts = {r.scored_on for r in self.records if r.run_id is not None}
        return "validation" if "validation" in parts else "test"

    def scored_on_text(self) -> str:
        """Where the metrics were measured, for a caption."""
        if self.scored_on() == "validation":
            return "a validation part of the training split (evaluate_on: validation; not the test split)"
        return "the real test split"

    def split_caveat(self) -> str:
        """A caption sentence for tables whose runs were scored on a validation part (tuning); else empty."""
        if self.scored_on() != "validation":
            return ""
        return " Scored on a validation part of the training split (evaluate_on: validation), not on the test split."

    def size_caveat(self) -> str:
        """A caption sentence naming the datasets whose tables use another size than the default.

        Empty when every dataset has runs at its task's default size (then "default size" is true).
        """
        other = {d: self.default_size(d) for d in self.datasets()}
        other = {d: s for d, s in other.items() if s is not None and s != default_size(self.task(d))}
        if not other:
            return ""
        parts = ", ".join(f"{d} at size {s} ({size_unit(self.task(d))})" for d, s in sorted(other.items()))
        return f" No run at the default size for {parts}: those rows use that size instead."

    def epsilons(self, dataset: str | None = None, method: str | None = None) -> list[float]:
        """Sorted ε values of private records (``inf`` last)."""
        values = {
            r.epsilon
            for r in self.records
            if r.private and (dataset is None or r.dataset == dataset) and (method is None or r.method == method)
        }
        return sorted(values)

    def sizes(self, dataset: str, method: str | None = None) -> list[int]:
        """Sorted sizes with records for ``dataset`` (and ``method``)."""
        return sorted(
            {r.size for r in self.records if r.dataset == dataset and r.size is not None and (method is None or r.method == method)}
        )

    def select(
        self,
        *,
        dataset: str,
        method: str,
        eval_model: str | None = None,
        model: str | None = None,
        epsilon: float | None = None,
        size: int | None = None,
    ) -> list[RunRecord]:
        """Records of one cell. ``model`` and ``epsilon`` only constrain private methods (a
        non-private release depends on neither); ``size`` is ignored for size-free methods."""
        out = []
        for r in self.records:
            if r.dataset != dataset or r.method != method:
                continue
            if eval_model is not None and r.eval_model != eval_model:
                continue
            if r.private and model is not None and r.model != model:
                continue
            if r.private and epsilon is not None and not same_epsilon(r.epsilon, epsilon):
                continue
            if size is not None and r.method not in SIZE_FREE_METHODS and r.size != size:
                continue
            out.append(r)
        return out

    def stat(self, metric: str, **where: Any) -> Stat | None:
        """Mean ± std of ``metric`` over the records :meth:`select` picks (``None``: no run)."""
        recs = [r for r in self.select(**where) if metric in r.metrics]
        return stat_of([r.metrics[metric] for r in recs], [r.label for r in recs])

    def cost(self, key: str, **where: Any) -> Stat | None:
        """Mean ± std of cost ``key`` (``wall_seconds`` ...) over the records :meth:`select` picks."""
        recs = [r for r in self.select(**where) if key in r.cost]
        return stat_of([r.cost[key] for r in recs], [r.label for r in recs])

    def full_data(self, dataset: str, eval_model: str | None, metric: str) -> Stat | None:
        """The full-data reference of ``metric`` for family ``eval_model`` (``None``: no run or no family)."""
        if eval_model is None:
            return None
        return self.stat(metric, dataset=dataset, method="full_data", eval_model=eval_model)


def open_experiment(
    experiment: str,
    *,
    tracking: Literal["local", "server"] = "local",
    uri: str | None = None,
    root: str | Path | None = None,
) -> "RunStore":
    """Open an existing experiment read-only (nothing is created).

    Raises
    ------
    ReportError
        No local store at the path, an unreachable server, or no such experiment (the message
        lists the experiments the store has).
    """
    try:
        target = tracking_mod.target_from_config({"kind": tracking, "uri": uri, "root": root}, experiment)
        if target.kind == "server":
            tracking_mod.check_server(target)
    except tracking_mod.TrackingError as exc:
        raise ReportError(str(exc)) from None
    if target.root is not None and not (target.root / "mlflow.db").is_file():
        raise ReportError(
            f"no MLflow store at {target.root / 'mlflow.db'}; run a sweep first "
            f"(dpcondense run -m experiment={experiment}) or point --root / DPCONDENSE_MLRUNS at the store"
        )
    client = tracking_mod._client(target)
    found = client.get_experiment_by_name(experiment)
    if found is None or found.lifecycle_stage == "deleted":
        names = _experiment_names(client)
        raise ReportError(
            f"experiment '{experiment}' is not in {target.describe().split(', experiment')[0]}; "
            f"experiments there: {', '.join(repr(n) for n in names) or 'none'}"
        )
    return tracking_mod.RunStore(client, found.experiment_id, target)


def _experiment_names(client: Any) -> list[str]:
    """The store's experiments, without the empty "Default" one MLflow creates in every store."""
    names = []
    for exp in client.search_experiments():
        if exp.experiment_id == MLFLOW_DEFAULT_EXPERIMENT_ID and not client.search_runs([exp.experiment_id], max_results=1):
            continue
        names.append(exp.name)
    return sorted(names)


def read_reference(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``dpcondense reference --json`` file, checked for the fields the report reads.

    Raises
    ------
    ReportError
        Naming the file: missing, not JSON, or not a list of reference records.
    """
    path = Path(path)
    hint = "make it with `dpcondense reference --json > FILE`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file ({hint})") from None
    except IsADirectoryError:
        raise ReportError(f"{path} is a folder, not a reference file ({hint})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} is not a JSON file ({exc}); {hint}") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ReportError(f"{path} is JSON but not a list of reference records; {hint}")
    for i, record in enumerate(data):
        missing = [k for k in REFERENCE_FIELDS if k not in record]
        if missing:
            raise ReportError(f"{path}: record {i} has no {', '.join(missing)}: not a reference record; {hint}")
        seeds = record["per_seed"]
        if not isinstance(seeds, list) or not all(isinstance(r, dict) and "seed" in r for r in seeds):
            raise ReportError(f"{path}: record {i}'s per_seed must be a list of {{seed, metric: value}} objects; {hint}")
    return data


def _no_finished_runs(store: "RunStore", experiment: str) -> ReportError:
    """The error for an experiment without a FINISHED run (its runs counted by status)."""
    states = Counter(r.info.status for r in store.runs())
    found = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no runs at all"
    return ReportError(
        f"experiment '{experiment}' has no FINISHED run ({found}): nothing to report, nothing written; "
        "relaunch its sweep to finish its runs"
    )


def load_runs(
    experiment: str,
    *,
    tracking: Literal["local", "server"] = "local",
    uri: str | None = None,
    root: str | Path | None = None,
    reference: str | Path | None = None,
) -> ExperimentRuns:
    """The finished runs of ``experiment`` (plus a ``dpcondense reference --json`` file, if given).

    Raises
    ------
    ReportError
        No such store or experiment, a bad reference file, or no FINISHED run in the experiment.
    """
    ref = read_reference(reference) if reference else None
    store = open_experiment(experiment, tracking=tracking, uri=uri, root=root)
    runs = ExperimentRuns.from_store(store, reference=ref)
    if not any(not r.derived for r in runs.records):
        raise _no_finished_runs(store, experiment)
    return runs


def run_manifest(runs: ExperimentRuns) -> str:
    """A TSV of the finished runs (one line per run identity, sorted): what a report is made of."""
    header = ["identity", "dataset", "method", "model", "eval_models", "epsilon", "size", "seed"]
    by_identity: dict[str, list[RunRecord]] = {}
    for r in runs.records:
        if not r.derived:
            by_identity.setdefault(r.identity, []).append(r)
    lines = ["\t".join(header)]
    for identity in sorted(by_identity):
        recs = by_identity[identity]
        r = recs[0]
        evals = ",".join(sorted({x.eval_model for x in recs}))
        lines.append("\t".join([identity, r.dataset, r.method, r.model or "", evals, format_epsilon(r.epsilon), str(r.size), str(r.seed)]))
    return "\n".join(lines) + "\n"
