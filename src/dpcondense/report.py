"""Regenerate the paper's tables and figures from the MLflow runs of one experiment.

Three layers, each usable on its own (tests and the notebook use them without the CLI):

1. **Runs** — :func:`open_experiment` opens a store read-only, :meth:`ExperimentRuns.from_store`
   turns its ``FINISHED`` runs into flat :class:`RunRecord` s (one per run × evaluation family);
   the ``full_data.*`` / ``random_subset.*`` metrics of runs with ``references=true`` and the
   records of ``dpcondense reference --json`` become records of those methods too.
2. **Tables and figures** — ``table1_datasets`` … ``table5_cost`` return :class:`Table` objects
   (the cell data, the formatted text, the run identities used); ``figure1_privacy_utility`` …
   ``figure5_release`` return matplotlib ``Figure`` objects whose artists carry ``gid`` s
   (``"dpzo"``, ``"dpzo:band"``, ``"dpzo:inf"``, ``"full_data"``, ...) so tests can read the data.
3. **Files** — :func:`write_report` writes Markdown + LaTeX tables, PNG + PDF figures,
   ``runs_used.md`` and ``report.md``; the same runs give byte-identical files.

Conventions (every table and figure): mean ± std (ddof = 0) over seeds; a cell with no run is
"—" (never dropped), a cell that does not apply is "n/a"; a metric that is undefined on every
seed (NaN) is "undefined". Each task is evaluated with its *main family* (the task's default —
decision_tree / cox_ph — when the experiment has it) at its *default size* (10 rows per class /
50 rows). "DP" means a method that reads the data only through a DP mechanism, at finite ε.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np

from dpcondense.metrics import PRIMARY_METRIC
from dpcondense.tables import markdown_table

if TYPE_CHECKING:  # matplotlib and mlflow take seconds to import
    from matplotlib.figure import Figure

    from dpcondense.tracking import RunStore

INF = math.inf
#: the paper's method: its runs give Table 4, Figures 3–5
MAIN_METHOD = "dpzo"
#: the privacy budget of the main comparisons (Tables 2, 4, 5; Figures 2, 4, 5)
MAIN_EPSILON = 1.0
#: metrics logged by runs with ``references=true``, under ``<prefix>.<eval model>.<metric>``
REFERENCE_PREFIXES = ("full_data", "random_subset")
#: tags that place a run in a table cell (with its seed): runs agreeing on all are the same result
SAME_CELL_TAGS = ("dataset", "method", "model", "eval_models", "epsilon", "size", "seed")
#: methods whose release does not depend on ``size``
SIZE_FREE_METHODS = frozenset({"full_data"})
#: both primary metrics (AUROC, C-index) score 0.5 for an uninformative model
CHANCE_LEVEL = 0.5
MISSING = "—"
NOT_APPLICABLE = "n/a"
UNDEFINED = "undefined"
DIGITS = 3
#: written into every figure drawn from real rows (Figure 5)
REAL_DATA_NOTE = "For the paper only: drawn from real data, not a release"

METHOD_LABELS = {
    "dpzo": "DP-ZO",
    "dp_gaussian": "DP Gaussian",
    "random_subset": "random subset",
    "kmeans": "k-means",
    "full_data": "full data",
}
MODEL_LABELS = {
    "decision_tree": "decision tree",
    "random_forest": "random forest",
    "xgboost": "XGBoost",
    "logistic_regression": "logistic regression",
    "mlp": "MLP",
    "cox_ph": "Cox PH",
    "random_survival_forest": "random survival forest",
    "xgboost_cox": "XGBoost Cox",
    "deepsurv": "DeepSurv",
}
METRIC_LABELS = {
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "balanced_accuracy": "balanced accuracy",
    "brier": "Brier score",
    "c_index": "Harrell's C-index",
    "c_index_uno": "Uno's C-index",
    "ibs": "integrated Brier score",
}
#: two clinically meaningful features per classification dataset for Figure 5
FIGURE5_FEATURES = {
    "breast_cancer_wisconsin": ("worst radius", "worst concave points"),
    "pima_diabetes": ("Glucose", "BMI"),
    "support_mortality": ("age", "meanbp"),
}
#: files :func:`write_report` writes, by key (tables: .md + .tex, figures: .png + .pdf)
TABLE_FILES = {
    "table1": "table1_datasets",
    "table2": "table2_main",
    "table3": "table3_privacy_utility",
    "table4": "table4_transfer",
    "table5": "table5_cost",
}
FIGURE_FILES = {
    "figure1": "figure1_privacy_utility",
    "figure2": "figure2_sizes",
    "figure3": "figure3_convergence",
    "figure4": "figure4_transfer",
    "figure5": "figure5_release",
}
FIGURE_DPI = 150


class ReportError(ValueError):
    """The report cannot be made (no such store or experiment); the message says what to do."""


# =============================================================================================
# runs
# =============================================================================================


@dataclass(frozen=True)
class RunRecord:
    """One run's results for one evaluation family: what every table and figure aggregates.

    ``epsilon`` is the run's target (``inf`` for every non-private method, whatever it was run
    with); ``derived`` says the record comes from another run's reference metrics
    (``references=true``) or from a ``dpcondense reference`` file, not from a run of ``method``.
    """

    identity: str
    run_id: str | None
    dataset: str
    task: str
    method: str
    model: str | None
    eval_model: str
    epsilon: float
    size: int | None
    seed: int
    private: bool
    metrics: Mapping[str, float]
    cost: Mapping[str, float] = field(default_factory=dict)
    steps: int | None = None
    derived: bool = False

    @property
    def label(self) -> str:
        """How ``runs_used.md`` lists the record."""
        if not self.derived:
            return self.identity
        return f"{self.identity} ({self.method} reference metrics)"


@dataclass(frozen=True)
class Stat:
    """Mean ± std (ddof = 0) of one metric over the seeds of a cell, and the runs behind it."""

    mean: float
    std: float
    n: int
    identities: tuple[str, ...]
    #: decimals shown
    digits: int = field(default=DIGITS, compare=False)

    def text(self) -> str:
        if not math.isfinite(self.mean):
            return UNDEFINED
        return f"{self.mean:.{self.digits}f} ± {self.std:.{self.digits}f}"

    def rounded(self, digits: int) -> "Stat":
        return replace(self, digits=digits)


def stat_of(values: Sequence[float], identities: Sequence[str]) -> Stat | None:
    """:class:`Stat` of ``values`` (NaNs left out of mean and std), ``None`` when there are none."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    if len(finite) == 0:
        return Stat(math.nan, math.nan, len(arr), tuple(sorted(identities)))
    return Stat(float(np.mean(finite)), float(np.std(finite)), len(arr), tuple(sorted(identities)))


def same_epsilon(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def format_epsilon(epsilon: float) -> str:
    return "∞" if math.isinf(epsilon) else f"{epsilon:g}"


def method_label(name: str) -> str:
    return METHOD_LABELS.get(name, name)


def model_label(name: str | None) -> str:
    return MODEL_LABELS.get(name, name) if name else MISSING


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def _is_private_method(name: str, epsilon_spent: float | None) -> bool:
    from dpcondense.methods import METHODS

    if name in METHODS:
        return bool(METHODS.get(name).private)
    # an unregistered method (e.g. a plug-in no longer installed): trust what it spent
    return epsilon_spent is not None and math.isfinite(_unclamp(epsilon_spent))


def _float(text: Any, default: float | None = None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _unclamp(value: float) -> float:
    """MLflow stores ±inf as ±float max: turn it back into inf."""
    value = float(value)
    return math.copysign(INF, value) if abs(value) >= 1e300 else value


def _int(text: Any) -> int | None:
    value = _float(text)
    return None if value is None or not math.isfinite(value) else int(value)


def records_from_run(run: Any) -> list[RunRecord]:
    """The records of one MLflow run: one per evaluation family, plus its reference metrics."""
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    identity = tags.get("identity") or run.info.run_id
    method = tags.get("method", "?")
    dataset = tags.get("dataset", "?")
    task = tags.get("task") or "classification"
    model = tags.get("model")
    size, seed = _int(tags.get("size")), _int(tags.get("seed"))
    epsilon_spent = metrics.get("epsilon_spent")
    private = _is_private_method(method, epsilon_spent)
    epsilon = _float(tags.get("epsilon"), INF) if private else INF
    eval_models = [m for m in (tags.get("eval_models") or model or "").split(",") if m]
    cost = {k: _unclamp(metrics[k]) for k in ("epsilon_spent", "wall_seconds", "n_model_fits") if k in metrics}
    steps = _int(params.get("method.params.steps")) if private else None
    out = []
    for em in eval_models:
        values = _metrics_with_prefix(metrics, f"{em}.")
        out.append(
            RunRecord(identity, run.info.run_id, dataset, task, method, model, em, float(epsilon),
                      size, seed if seed is not None else -1, private, values, cost, steps)
        )
    for ref in REFERENCE_PREFIXES:
        for em in eval_models:
            values = _metrics_with_prefix(metrics, f"{ref}.{em}.")
            if values:
                out.append(
                    RunRecord(identity, run.info.run_id, dataset, task, ref, None, em, INF,
                              None if ref in SIZE_FREE_METHODS else size, seed if seed is not None else -1,
                              False, values, {}, None, derived=True)
                )
    return out


def records_from_reference(records: Iterable[Mapping[str, Any]]) -> list[RunRecord]:
    """Full-data records from ``dpcondense reference --json`` (one per dataset × model × seed)."""
    out = []
    for rec in records:
        for row in rec.get("per_seed", []):
            seed = int(row["seed"])
            values = {k: (math.nan if v is None else float(v)) for k, v in row.items() if k != "seed"}
            out.append(
                RunRecord(f"reference:{rec['dataset']}/{rec['model']}/seed={seed}", None, rec["dataset"],
                          rec["task"], "full_data", None, rec["model"], INF, None, seed, False, values,
                          {}, None, derived=True)
            )
    return out


def _metrics_with_prefix(metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix):]: float(v) for k, v in metrics.items() if k.startswith(prefix) and "." not in k[len(prefix):]}


def deduplicate(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One record per result.

    A private run is one result per evaluation family. A non-private method's result depends
    only on (dataset, evaluation family, size, seed) — not on the condensing family or ε — so
    the copies logged by several runs collapse into one; runs of the method itself come before
    reference metrics of other runs, then the smallest identity wins (deterministic).
    """
    ordered = sorted(records, key=lambda r: (r.derived, r.identity, r.eval_model, r.method))
    seen: set[tuple] = set()
    out = []
    for r in ordered:
        if r.private:
            key: tuple = ("private", r.identity, r.eval_model)
        else:
            key = (r.method, r.dataset, r.eval_model, None if r.method in SIZE_FREE_METHODS else r.size, r.seed)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return sorted(out, key=_record_order)


def _record_order(r: RunRecord) -> tuple:
    return (r.dataset, r.method, r.model or "", r.eval_model, r.epsilon, r.size or 0, r.seed, r.derived, r.identity)


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
        #: identities of FINISHED runs replaced by a later run with the same tags (not used)
        self.superseded: list[str] = []

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_store(
        cls, store: "RunStore", *, reference: Iterable[Mapping[str, Any]] | None = None
    ) -> "ExperimentRuns":
        """Read every ``FINISHED`` run of ``store``'s experiment (one row per identity)."""
        runs = store.runs("attributes.status = 'FINISHED'")
        # one run per cell and seed: an older run with the same tags (e.g. made before a default
        # changed, so with another identity) is superseded by the latest one
        latest: dict[tuple, Any] = {}
        superseded = []
        for run in sorted(runs, key=lambda r: (r.info.end_time or 0, r.info.run_id)):
            key = tuple(run.data.tags.get(k) for k in SAME_CELL_TAGS)
            if key in latest:
                superseded.append(latest[key].data.tags.get("identity") or latest[key].info.run_id)
            latest[key] = run
        by_identity = {run.data.tags.get("identity") or run.info.run_id: run for run in latest.values()}
        records = [rec for key in sorted(by_identity) for rec in records_from_run(by_identity[key])]
        if reference is not None:
            # only the experiment's datasets (the file covers every dataset), and only where the
            # runs themselves have no full-data result (never a mix of the two sources in a cell)
            datasets = {r.dataset for r in records}
            have = {(r.dataset, r.eval_model) for r in records if r.method == "full_data"}
            records += [r for r in records_from_reference(reference) if r.dataset in datasets and (r.dataset, r.eval_model) not in have]
        client = store.client

        def history(run_id: str, key: str) -> list[float]:
            points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
            return [float(m.value) for m in points]

        def artifact(run_id: str, path: str) -> Path:
            dst = Path(tempfile.mkdtemp(prefix="dpcondense-report-"))
            return Path(client.download_artifacts(run_id, path, str(dst)))

        out = cls(store.target.experiment_name, records, history=history, artifact=artifact)
        out.superseded = sorted(superseded)
        return out

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
        from dpcondense.datasets import dataset_names

        present = {r.dataset for r in self.records if task is None or r.task == task}
        known = [d for d in dataset_names() if d in present]
        return known + sorted(present - set(known))

    def task(self, dataset: str) -> str:
        for r in self.records:
            if r.dataset == dataset:
                return r.task
        from dpcondense.datasets import schema_for

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
        return any(r.private for r in self.records if r.method == method)

    def main_model(self, dataset: str) -> str | None:
        """The family the dataset is condensed and evaluated with in the main comparisons."""
        from dpcondense.commands.condense import default_model

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

    def default_size(self, dataset: str) -> int | None:
        """The task's default size when runs have it, else the most common size."""
        from dpcondense.commands.condense import default_size

        sizes = Counter(r.size for r in self.records if r.dataset == dataset and r.size is not None and not r.derived)
        if not sizes:
            sizes = Counter(r.size for r in self.records if r.dataset == dataset and r.size is not None)
        preferred = default_size(self.task(dataset))
        if not sizes or preferred in sizes:
            return preferred
        return sorted(sizes, key=lambda s: (-sizes[s], s))[0]

    def epsilons(self, dataset: str | None = None, method: str | None = None) -> list[float]:
        """Sorted ε values of private records (``inf`` last)."""
        values = {
            r.epsilon
            for r in self.records
            if r.private and (dataset is None or r.dataset == dataset) and (method is None or r.method == method)
        }
        return sorted(values)

    def sizes(self, dataset: str, method: str | None = None) -> list[int]:
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
        recs = [r for r in self.select(**where) if key in r.cost]
        return stat_of([r.cost[key] for r in recs], [r.label for r in recs])

    def full_data(self, dataset: str, eval_model: str | None, metric: str) -> Stat | None:
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
    from dpcondense import tracking as tracking_mod

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
        names = sorted(e.name for e in client.search_experiments())
        raise ReportError(
            f"experiment {experiment!r} is not in {target.describe().split(', experiment')[0]}; "
            f"experiments there: {', '.join(names) or 'none'}"
        )
    return tracking_mod.RunStore(client, found.experiment_id, target)


def load_runs(
    experiment: str,
    *,
    tracking: Literal["local", "server"] = "local",
    uri: str | None = None,
    root: str | Path | None = None,
    reference: str | Path | None = None,
) -> ExperimentRuns:
    """The finished runs of ``experiment`` (plus a ``dpcondense reference --json`` file, if given)."""
    store = open_experiment(experiment, tracking=tracking, uri=uri, root=root)
    ref = json.loads(Path(reference).read_text()) if reference else None
    return ExperimentRuns.from_store(store, reference=ref)


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


# =============================================================================================
# tables
# =============================================================================================


@dataclass
class Table:
    """One table: its cells (``str``/``int``/``float``/:class:`Stat`/``None`` = missing), the
    cells in bold, and the run identities it used."""

    key: str
    title: str
    caption: str
    header: list[str]
    rows: list[list[Any]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)

    def cells(self) -> list[list[str]]:
        """The rows as displayed (no bold markup)."""
        return [[format_cell(v) for v in row] for row in self.rows]

    def markdown(self) -> str:
        rows = [
            [f"**{text}**" if (i, j) in self.bold and text not in (MISSING, NOT_APPLICABLE) else text for j, text in enumerate(row)]
            for i, row in enumerate(self.cells())
        ]
        return f"**{self.title}.** {self.caption}\n\n" + markdown_table(self.header, rows) + "\n"

    def latex(self) -> str:
        numeric = [j > 0 and all(not isinstance(row[j], str) or row[j] in (MISSING, NOT_APPLICABLE) for row in self.rows) for j in range(len(self.header))]
        spec = "".join("r" if n else "l" for n in numeric)
        out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
        out.append(" & ".join(latex_escape(h) for h in self.header) + r" \\")
        out.append(r"\midrule")
        for i, row in enumerate(self.cells()):
            cells = [latex_escape(text) for text in row]
            cells = [rf"\textbf{{{c}}}" if (i, j) in self.bold and row[j] not in (MISSING, NOT_APPLICABLE) else c for j, c in enumerate(cells)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(self.title)}. {latex_escape(self.caption)}}}"]
        out += [rf"\label{{tab:{self.key}}}", r"\end{table}"]
        return "\n".join(out) + "\n"


def format_cell(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, Stat):
        return value.text()
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return UNDEFINED if math.isnan(value) else f"{value:.{DIGITS}f}"
    return str(value)


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "ε": r"$\varepsilon$",
    "∞": r"$\infty$",
    "×": r"$\times$",
    "≤": r"$\le$",
    "—": "---",
    "–": "--",
    "−": "$-$",
    "→": r"$\rightarrow$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def _runs_of(*cells: Any) -> list[str]:
    out: set[str] = set()
    for c in cells:
        if isinstance(c, Stat):
            out.update(c.identities)
    return sorted(out)


def _best(values: Sequence[tuple[int, Stat | None]], higher: bool = True) -> list[int]:
    """Indices holding the best finite mean (ties all win)."""
    finite = [(i, s.mean) for i, s in values if s is not None and math.isfinite(s.mean)]
    if not finite:
        return []
    target = max(m for _, m in finite) if higher else min(m for _, m in finite)
    return [i for i, m in finite if m == target]


def _size_unit(task: str) -> str:
    return "rows per class" if task == "classification" else "rows"


def table1_datasets(runs: ExperimentRuns, datasets: Sequence[str] | None = None) -> Table:
    """Table 1: the datasets (from the registry, not from the runs)."""
    from dpcondense.commands.datasets import dataset_summary
    from dpcondense.data import train_test_split
    from dpcondense.datasets import DATASETS, load_dataset

    names = list(datasets) if datasets is not None else runs.datasets()
    header = ["dataset", "task", "outcome", "rows", "features", "positives / events", "rate", "censored", "train / test rows"]
    rows = []
    for name in names:
        if name not in DATASETS:
            rows.append([name, runs.task(name) if any(r.dataset == name for r in runs.records) else None] + [None] * 7)
            continue
        summary = dataset_summary(name)
        ds = load_dataset(name)
        train, test = train_test_split(ds, seed=0)  # split sizes do not depend on the seed
        n_pos = summary.get("n_positive", summary.get("n_events"))
        rate = n_pos / summary["n_rows"]
        out = ds.schema.outcome
        if ds.task == "classification":
            outcome = f"{out.label} = {out.positive}"
            censored: Any = NOT_APPLICABLE
        else:
            outcome = f"{out.time} ({out.time_unit or 'time'}), {out.event}"
            censored = f"{100 * (1 - rate):.1f}%"
        rows.append([name, ds.task, outcome, summary["n_rows"], summary["n_features"], n_pos, f"{100 * rate:.1f}%", censored, f"{train.n_rows} / {test.n_rows}"])
    return Table(
        "table1",
        "Table 1",
        "Datasets: rows, features (before encoding), positive (classification) or event (survival) rate, "
        "censoring, and the train / test split (75% / 25%, stratified by label or event).",
        header,
        rows,
    )


def table2_main(runs: ExperimentRuns, *, epsilon: float = MAIN_EPSILON) -> Table:
    """Table 2: primary metric per dataset × method at ε and ε = ∞ (default size, main family),
    the full-data reference and the utility retention; the best DP result per dataset in bold."""
    eps_text = format_epsilon(epsilon)
    header = ["dataset", "family", "metric", "method", f"ε = {eps_text}", "ε = ∞", "full data",
              f"retention ε = {eps_text}", "retention ε = ∞"]
    rows: list[list[Any]] = []
    bold: set[tuple[int, int]] = set()
    used: set[str] = set()
    for d in runs.datasets():
        task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
        metric = PRIMARY_METRIC[task]
        full = runs.full_data(d, model, metric)
        used.update(_runs_of(full))
        block: list[tuple[int, Stat | None]] = []
        for m in runs.methods(d):
            if m == "full_data":
                continue
            private = runs.is_private(m)
            where = dict(dataset=d, method=m, model=model, eval_model=model, size=size)
            at_eps = runs.stat(metric, epsilon=epsilon, **where) if private else NOT_APPLICABLE
            at_inf = runs.stat(metric, epsilon=INF, **where)
            used.update(_runs_of(at_eps, at_inf))
            rows.append([d, model_label(model), metric_label(metric), method_label(m), at_eps, at_inf, full,
                         retention(at_eps, full), retention(at_inf, full)])
            if private and math.isfinite(epsilon):
                block.append((len(rows) - 1, at_eps))
        for i in _best(block):
            bold.add((i, 4))
        if not any(r[0] == d for r in rows):
            rows.append([d, model_label(model), metric_label(metric), None, None, None, full, None, None])
    return Table(
        "table2",
        "Table 2",
        f"Main results: primary metric (mean ± std over seeds) of the condensing family trained on the release "
        f"and tested on the real test split, at the default size (10 rows per class / 50 rows), ε = {eps_text} "
        f"and ε = ∞ (the same algorithm without noise). Full data: the family trained on the whole training "
        f"split. Retention: metric / full-data metric, in parentheses (metric − 0.5) / (full-data metric − 0.5). "
        f"Bold: best DP result per dataset. {MISSING}: no finished run; {NOT_APPLICABLE}: the method is not private.",
        header,
        rows,
        bold,
        sorted(used),
    )


def retention(value: Stat | None | str, full: Stat | None) -> str | None:
    """``metric / full`` and, in parentheses, ``(metric − 0.5) / (full − 0.5)`` (ratio of means)."""
    if value == NOT_APPLICABLE:
        return NOT_APPLICABLE
    if not isinstance(value, Stat) or full is None:
        return None
    if not (math.isfinite(value.mean) and math.isfinite(full.mean)) or full.mean == 0:
        return UNDEFINED
    ratio = value.mean / full.mean
    adjusted = (value.mean - CHANCE_LEVEL) / (full.mean - CHANCE_LEVEL) if full.mean != CHANCE_LEVEL else math.nan
    adjusted_text = f"{adjusted:.{DIGITS}f}" if math.isfinite(adjusted) else UNDEFINED
    return f"{ratio:.{DIGITS}f} ({adjusted_text})"


def table3_privacy_utility(runs: ExperimentRuns) -> Table:
    """Table 3: primary metric over the ε grid, per dataset × private method (default size, main family)."""
    grid = runs.epsilons()
    header = ["dataset", "metric", "method"] + [f"ε = {format_epsilon(e)}" for e in grid] + ["full data"]
    rows: list[list[Any]] = []
    used: set[str] = set()
    for d in runs.datasets():
        task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
        metric = PRIMARY_METRIC[task]
        full = runs.full_data(d, model, metric)
        methods = runs.methods(d, private=True)
        for m in methods:
            cells = [runs.stat(metric, dataset=d, method=m, model=model, eval_model=model, size=size, epsilon=e) for e in grid]
            used.update(_runs_of(*cells, full))
            rows.append([d, metric_label(metric), method_label(m), *cells, full])
        if not methods:
            used.update(_runs_of(full))
            rows.append([d, metric_label(metric), None, *([None] * len(grid)), full])
    return Table(
        "table3",
        "Table 3",
        "Privacy–utility: primary metric (mean ± std over seeds) of each private method over the ε grid, "
        "condensing and evaluating with the task's main family at the default size. "
        f"{MISSING}: no finished run.",
        header,
        rows,
        runs=sorted(used),
    )


def table4_transfer(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> list[Table]:
    """Table 4 (one per task with runs): condense with family A (rows), evaluate with family B
    (columns), primary metric at ε and the default size; the last row per dataset is B on the full data."""
    from dpcondense.models import MODELS

    tables = []
    for letter, task in zip("ab", ("classification", "survival")):
        datasets = runs.datasets(task)
        if not datasets:
            continue
        metric = PRIMARY_METRIC[task]
        order = {n: i for i, n in enumerate(MODELS.names())}
        # the families the experiment evaluated with (not every family a reference file covers)
        evals = sorted({r.eval_model for r in runs.records if r.task == task and not r.derived}, key=lambda n: (order.get(n, len(order)), n))
        header = ["dataset", "condensed with"] + [f"→ {model_label(b)}" for b in evals]
        rows: list[list[Any]] = []
        used: set[str] = set()
        for d in datasets:
            size = runs.default_size(d)
            families = sorted({r.model for r in runs.records if r.dataset == d and r.method == method and r.model},
                              key=lambda n: (order.get(n, len(order)), n))
            for a in families:
                cells = [runs.stat(metric, dataset=d, method=method, model=a, eval_model=b, epsilon=epsilon, size=size) for b in evals]
                used.update(_runs_of(*cells))
                rows.append([d, model_label(a), *cells])
            full = [runs.full_data(d, b, metric) for b in evals]
            used.update(_runs_of(*full))
            rows.append([d, "full data (reference)", *full])
        tables.append(
            Table(
                f"table4{letter}",
                f"Table 4{letter}",
                f"Cross-family transfer ({task}): {metric_label(metric)} (mean ± std over seeds) of family B "
                f"(columns) trained on the {method_label(method)} release condensed with family A (rows), "
                f"ε = {format_epsilon(epsilon)}, default size; last row per dataset: B trained on the full "
                f"training split. {MISSING}: no finished run.",
                header,
                rows,
                runs=sorted(used),
            )
        )
    return tables


def synthetic_rows(task: str, method: str, size: int | None, dataset: str) -> int | None:
    """Rows in a release: 2 × size (classification), size (survival), the training split (full data)."""
    if method in SIZE_FREE_METHODS:
        from dpcondense.data import train_test_split
        from dpcondense.datasets import DATASETS, load_dataset

        if dataset not in DATASETS:
            return None
        return train_test_split(load_dataset(dataset), seed=0)[0].n_rows
    if size is None:
        return None
    return 2 * size if task == "classification" else size


def table5_cost(runs: ExperimentRuns, *, epsilon: float = MAIN_EPSILON) -> Table:
    """Table 5: cost per dataset × method × ε ∈ {ε, ∞} at the default size (main family)."""
    header = ["dataset", "method", "ε", "synthetic rows", "wall time (s)", "model fits", "steps", "ε spent"]
    rows: list[list[Any]] = []
    used: set[str] = set()
    for d in runs.datasets():
        task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
        for m in runs.methods(d):
            private = runs.is_private(m)
            for e in ((epsilon, INF) if private else (INF,)):
                where = dict(dataset=d, method=m, model=model, eval_model=model, size=size, epsilon=e)
                recs = [r for r in runs.select(**where) if not r.derived]
                wall, fits, spent = (runs.cost(k, **where) for k in ("wall_seconds", "n_model_fits", "epsilon_spent"))
                steps = sorted({r.steps for r in recs if r.steps is not None})
                steps_cell: Any = (", ".join(str(s) for s in steps) if steps else (NOT_APPLICABLE if not private else None))
                if spent is not None and not math.isfinite(e):
                    spent_cell: Any = "∞"
                else:
                    spent_cell = spent
                used.update(_runs_of(wall, fits, spent))
                wall = wall.rounded(1) if wall is not None else None
                fits_cell: Any = fits.rounded(0) if fits is not None else (None if private else NOT_APPLICABLE)
                rows.append([d, method_label(m), format_epsilon(e), synthetic_rows(task, m, size, d), wall,
                             fits_cell, steps_cell, spent_cell])
    return Table(
        "table5",
        "Table 5",
        "Cost per release at the default size with the task's main family: wall time of the condensation "
        "(not the evaluation), model fits, optimisation steps, and the ε the ledger spent "
        f"(mean ± std over seeds). {MISSING}: no finished run of the method itself "
        "(reference metrics logged by other runs carry no cost).",
        header,
        rows,
        runs=sorted(used),
    )


def build_tables(runs: ExperimentRuns) -> dict[str, list[Table]]:
    """Every table, keyed like :data:`TABLE_FILES` (Table 4 has one table per task)."""
    return {
        "table1": [table1_datasets(runs)],
        "table2": [table2_main(runs)],
        "table3": [table3_privacy_utility(runs)],
        "table4": table4_transfer(runs),
        "table5": [table5_cost(runs)],
    }


# =============================================================================================
# figures
# =============================================================================================

#: colour per method (colour-blind-safe Okabe–Ito); others take the next free one
_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]
_FIXED_COLOURS = {"dpzo": "#0072B2", "dp_gaussian": "#D55E00", "random_subset": "#009E73", "kmeans": "#CC79A7"}

_RC = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": FIGURE_DPI,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "svg.hashsalt": "dpcondense",
    "pdf.fonttype": 42,
    "path.simplify": False,
}


def _new_figure(n_panels: int, *, ncols: int = 3, panel: tuple[float, float] = (3.4, 2.8), extra_height: float = 0.6) -> tuple["Figure", list[Any]]:
    from matplotlib.figure import Figure

    n = max(1, n_panels)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    with _rc():
        fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + extra_height), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    if n_panels == 0:
        axes[0].set_visible(True)
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "no finished runs for this figure", ha="center", va="center", transform=axes[0].transAxes, gid="empty")
    return fig, axes


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def _colour(method: str, methods: Sequence[str]) -> str:
    if method in _FIXED_COLOURS:
        return _FIXED_COLOURS[method]
    free = [c for c in _COLOURS if c not in _FIXED_COLOURS.values()] or _COLOURS
    return free[sorted(methods).index(method) % len(free)] if method in methods else free[0]


def _legend(fig: "Figure", axes: Sequence[Any]) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncols=min(4, len(handles)), frameon=False)


def _inf_position(finite: Sequence[float]) -> float:
    """Where ε = ∞ is drawn on the log axis: a decade and a half past the largest finite ε."""
    if not finite:
        return 1.0
    return max(finite) * 10 ** 1.5


def _panel_title(runs: ExperimentRuns, d: str, model: str | None, size: int | None) -> str:
    task = runs.task(d)
    size_text = f", {size} {_size_unit(task)}" if size is not None else ""
    return f"{d}\n({model_label(model)}{size_text})"


def figure1_privacy_utility(runs: ExperimentRuns, *, used: set[str] | None = None) -> "Figure":
    """Figure 1: primary metric vs ε (log axis, ε = ∞ drawn apart), one line per private method
    with a ±std band, non-private methods dotted, the full-data reference dashed.

    Artist gids: ``<method>`` (line over finite ε), ``<method>:band``, ``<method>:inf`` (the ∞
    point), ``full_data``, ``inf-separator``.
    """
    used = set() if used is None else used
    datasets = runs.datasets()
    finite_all = [e for e in runs.epsilons() if math.isfinite(e)]
    x_inf = _inf_position(finite_all)
    fig, axes = _new_figure(len(datasets))
    with _rc():
        for ax, d in zip(axes, datasets):
            task, model, size = runs.task(d), runs.main_model(d), runs.default_size(d)
            metric = PRIMARY_METRIC[task]
            methods = runs.methods(d)
            for m in methods:
                if m == "full_data":
                    continue
                colour = _colour(m, methods)
                where = dict(dataset=d, method=m, model=model, eval_model=model, size=size)
                if runs.is_private(m):
                    pts = [(e, runs.stat(metric, epsilon=e, **where)) for e in finite_all]
                    pts = [(e, s) for e, s in pts if s is not None and math.isfinite(s.mean)]
                    for _, s in pts:
                        used.update(s.identities)
                    if pts:
                        xs = [e for e, _ in pts]
                        mean = np.array([s.mean for _, s in pts])
                        std = np.array([s.std for _, s in pts])
                        ax.plot(xs, mean, "-o", color=colour, ms=4, lw=1.5, label=method_label(m), gid=m)
                        ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.2, lw=0, gid=f"{m}:band")
                        # error bars too: a band is invisible when the grid has a single finite ε
                        err = ax.errorbar(xs, mean, yerr=std, fmt="none", ecolor=colour, capsize=2, lw=0.8)
                        err.lines[2][0].set_gid(f"{m}:err")
                    s_inf = runs.stat(metric, epsilon=INF, **where)
                    if s_inf is not None and math.isfinite(s_inf.mean):
                        used.update(s_inf.identities)
                        cont = ax.errorbar([x_inf], [s_inf.mean], yerr=[s_inf.std], fmt="s", color=colour, ms=5, capsize=3,
                                           label=method_label(m) if not pts else None)
                        cont.lines[0].set_gid(f"{m}:inf")
                else:
                    s = runs.stat(metric, **where)
                    if s is not None and math.isfinite(s.mean):
                        used.update(s.identities)
                        ax.axhline(s.mean, color=colour, ls=":", lw=1.5, label=f"{method_label(m)} (not private)", gid=m)
                        ax.axhspan(s.mean - s.std, s.mean + s.std, color=colour, alpha=0.1, lw=0, gid=f"{m}:band")
            full = runs.full_data(d, model, metric)
            if full is not None and math.isfinite(full.mean):
                used.update(full.identities)
                ax.axhline(full.mean, color="black", ls="--", lw=1.2, label="full data", gid="full_data")
            ax.set_xscale("log")
            ticks = finite_all + [x_inf]
            ax.set_xticks(ticks, [format_epsilon(e) for e in finite_all] + ["∞"])
            ax.minorticks_off()
            if finite_all:
                ax.axvline(math.sqrt(max(finite_all) * x_inf), color="0.6", lw=0.8, ls=(0, (1, 2)), gid="inf-separator")
                ax.set_xlim(min(finite_all) / 10 ** 0.3, x_inf * 10 ** 0.3)
            ax.set_xlabel("privacy budget ε (log scale; ∞ = no noise)")
            ax.set_ylabel(metric_label(metric))
            ax.set_title(_panel_title(runs, d, model, size))
            ax.grid(True, alpha=0.3, lw=0.5)
        _legend(fig, axes)
        fig.suptitle(f"Figure 1. Privacy–utility ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig


def figure2_sizes(runs: ExperimentRuns, *, epsilons: Sequence[float] = (MAIN_EPSILON, INF), used: set[str] | None = None) -> "Figure":
    """Figure 2: primary metric vs synthetic size at each ε in ``epsilons`` (private methods) and
    for the non-private methods (random subset), full data dashed.

    Artist gids: ``<method>@ε=<ε>`` (e.g. ``dpzo@ε=1``, ``dpzo@ε=∞``), ``<method>`` for
    non-private methods, ``...:band``, ``full_data``.
    """
    used = set() if used is None else used
    datasets = runs.datasets()
    fig, axes = _new_figure(len(datasets))
    styles = ["-o", "-.s", "--^", ":v"]
    with _rc():
        for ax, d in zip(axes, datasets):
            task, model = runs.task(d), runs.main_model(d)
            metric = PRIMARY_METRIC[task]
            methods = runs.methods(d)
            sizes = runs.sizes(d)
            for m in methods:
                if m == "full_data":
                    continue
                colour = _colour(m, methods)
                private = runs.is_private(m)
                for k, e in enumerate(epsilons if private else (None,)):
                    where = dict(dataset=d, method=m, model=model, eval_model=model)
                    if private:
                        where["epsilon"] = e
                    pts = [(n, runs.stat(metric, size=n, **where)) for n in sizes]
                    pts = [(n, s) for n, s in pts if s is not None and math.isfinite(s.mean)]
                    if not pts:
                        continue
                    for _, s in pts:
                        used.update(s.identities)
                    xs = [n for n, _ in pts]
                    mean = np.array([s.mean for _, s in pts])
                    std = np.array([s.std for _, s in pts])
                    gid = f"{m}@ε={format_epsilon(e)}" if private else m
                    label = f"{method_label(m)}, ε = {format_epsilon(e)}" if private else f"{method_label(m)} (not private)"
                    style = styles[k % len(styles)] if private else ":D"
                    ax.plot(xs, mean, style, color=colour, ms=4, lw=1.5, label=label, gid=gid)
                    ax.fill_between(xs, mean - std, mean + std, color=colour, alpha=0.15, lw=0, gid=f"{gid}:band")
            full = runs.full_data(d, model, metric)
            if full is not None and math.isfinite(full.mean):
                used.update(full.identities)
                ax.axhline(full.mean, color="black", ls="--", lw=1.2, label="full data", gid="full_data")
            if sizes:
                ax.set_xscale("log")
                ax.set_xticks(sizes, [str(n) for n in sizes])
                ax.minorticks_off()
            ax.set_xlabel(f"synthetic size ({_size_unit(task)}, log scale)")
            ax.set_ylabel(metric_label(metric))
            ax.set_title(_panel_title(runs, d, model, None))
            ax.grid(True, alpha=0.3, lw=0.5)
        _legend(fig, axes)
        fig.suptitle(f"Figure 2. Utility vs condensation size ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig


def figure3_convergence(runs: ExperimentRuns, *, method: str = MAIN_METHOD, used: set[str] | None = None) -> "Figure":
    """Figure 3: the objective curve (MLflow step metric ``objective``) per step, one line per ε
    (mean over seeds, ±std band), default size and main family.

    Artist gids: ``ε=<ε>`` (e.g. ``ε=1``, ``ε=∞``) and ``ε=<ε>:band``.
    """
    import matplotlib

    used = set() if used is None else used
    datasets = [d for d in runs.datasets() if runs.select(dataset=d, method=method)]
    fig, axes = _new_figure(len(datasets))
    grid = runs.epsilons(method=method)
    cmap = matplotlib.colormaps["viridis"]
    with _rc():
        for ax, d in zip(axes, datasets):
            model, size = runs.main_model(d), runs.default_size(d)
            for k, e in enumerate(grid):
                recs = runs.select(dataset=d, method=method, model=model, eval_model=model, size=size, epsilon=e)
                curves = {}
                for r in recs:
                    if r.run_id not in curves:
                        curve = runs.history(r.run_id, "objective")
                        if curve:
                            curves[r.run_id] = (r, curve)
                if not curves:
                    continue
                length = min(len(c) for _, c in curves.values())
                stack = np.array([c[:length] for _, c in curves.values()], dtype=float)
                used.update(r.label for r, _ in curves.values())
                mean, std = stack.mean(axis=0), stack.std(axis=0)
                steps = np.arange(1, length + 1)
                colour = "black" if math.isinf(e) else cmap(k / max(1, len(grid) - 1) * 0.85)
                ax.plot(steps, mean, color=colour, lw=1.2, label=f"ε = {format_epsilon(e)}", gid=f"ε={format_epsilon(e)}")
                ax.fill_between(steps, mean - std, mean + std, color=colour, alpha=0.15, lw=0, gid=f"ε={format_epsilon(e)}:band")
            ax.set_xlabel("optimisation step")
            ax.set_ylabel("objective (private estimate of\nthe training loss; lower is better)")
            ax.set_title(_panel_title(runs, d, model, size))
            ax.grid(True, alpha=0.3, lw=0.5)
        _legend(fig, axes)
        fig.suptitle(f"Figure 3. {method_label(method)} convergence ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig


def transfer_matrix(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> tuple[list[str], list[str], list[list[Stat | None]]]:
    """(condensing families A, evaluation families B, cells[A][B]) for one dataset; the last row
    is ``full_data`` (B trained on the full training split)."""
    from dpcondense.models import MODELS

    order = {n: i for i, n in enumerate(MODELS.names())}
    key = lambda n: (order.get(n, len(order)), n)  # noqa: E731
    task, size = runs.task(dataset), runs.default_size(dataset)
    metric = PRIMARY_METRIC[task]
    families = sorted({r.model for r in runs.records if r.dataset == dataset and r.method == method and r.model}, key=key)
    evals = sorted({r.eval_model for r in runs.records if r.dataset == dataset and not r.derived}, key=key)
    cells = [[runs.stat(metric, dataset=dataset, method=method, model=a, eval_model=b, epsilon=epsilon, size=size) for b in evals] for a in families]
    cells.append([runs.full_data(dataset, b, metric) for b in evals])
    return families + ["full_data"], evals, cells


def figure4_transfer(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON, used: set[str] | None = None) -> "Figure":
    """Figure 4: cross-family transfer heatmap per dataset (rows: condensing family, last row the
    full data; columns: evaluation family); grey = no run. The image's gid is the dataset."""
    used = set() if used is None else used
    datasets = [d for d in runs.datasets() if runs.select(dataset=d, method=method)]
    fig, axes = _new_figure(len(datasets), panel=(3.6, 3.2))
    import matplotlib

    with _rc():
        for ax, d in zip(axes, datasets):
            rows, cols, cells = transfer_matrix(runs, d, method=method, epsilon=epsilon)
            data = np.array([[c.mean if c is not None else np.nan for c in row] for row in cells], dtype=float)
            for row in cells:
                used.update(_runs_of(*row))
            cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
            # one scale for every panel: chance (0.5) to perfect (1) for AUROC and the C-index
            vmin, vmax = CHANCE_LEVEL, 1.0
            image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
            image.set_gid(d)
            for i in range(data.shape[0]):
                for j in range(data.shape[1]):
                    c = cells[i][j]
                    text = MISSING if c is None else (UNDEFINED if not math.isfinite(c.mean) else f"{c.mean:.2f}\n±{c.std:.2f}")
                    dark = np.isfinite(data[i, j]) and (data[i, j] - vmin) / (vmax - vmin) < 0.55
                    ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
            ax.set_xticks(range(len(cols)), [model_label(c) for c in cols], rotation=30, ha="right")
            ax.set_yticks(range(len(rows)), [model_label(r) if r != "full_data" else "full data" for r in rows])
            if len(rows) > 1:
                ax.axhline(len(rows) - 1.5, color="white", lw=2)
            ax.set_xlabel("evaluated with (family B)")
            ax.set_ylabel("condensed with (family A)")
            ax.set_title(f"{d}, ε = {format_epsilon(epsilon)}")
            bar = fig.colorbar(image, ax=ax, shrink=0.8)
            bar.set_label(metric_label(PRIMARY_METRIC[runs.task(d)]))
        fig.suptitle(f"Figure 4. Cross-family transfer of {method_label(method)} releases ({runs.experiment}): mean ± std over seeds", fontsize=10)
    return fig


def pick_release(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> RunRecord | None:
    """The run whose release Figure 5 and the notebook show: ``method`` on ``dataset`` with the
    main family at the default size, at ``epsilon`` (else the smallest ε available), lowest seed."""
    model, size = runs.main_model(dataset), runs.default_size(dataset)
    recs = [r for r in runs.select(dataset=dataset, method=method, model=model, size=size) if not r.derived and r.run_id]
    if not recs:
        recs = [r for r in runs.select(dataset=dataset, method=method) if not r.derived and r.run_id]
    if not recs:
        return None
    at = [r for r in recs if same_epsilon(r.epsilon, epsilon)] or sorted(recs, key=lambda r: r.epsilon)[:1]
    eps = at[0].epsilon
    return sorted((r for r in recs if same_epsilon(r.epsilon, eps)), key=lambda r: (r.seed, r.identity))[0]


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier step curve: (times starting at 0, survival just after each time)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    order = np.argsort(time, kind="stable")
    time, event = time[order], event[order]
    unique = np.unique(time[event])
    surv, s = [1.0], 1.0
    for t in unique:
        at_risk = np.sum(time >= t)
        deaths = np.sum((time == t) & event)
        s *= 1.0 - deaths / at_risk
        surv.append(s)
    return np.concatenate([[0.0], unique]), np.array(surv)


def figure5_release(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON, used: set[str] | None = None) -> "Figure":
    """Figure 5 (for the paper only: drawn from real data, not a release).

    Classification: the released rows next to the real training rows on two clinically
    meaningful features (gids ``real:class0|1``, ``release:class0|1``). Survival: Kaplan–Meier
    curves of the test split split at the median risk predicted by a Cox model trained on the
    release vs on the full training split (gids ``release:low risk`` ... ``full:high risk``).
    """
    import pandas as pd

    from dpcondense.data import train_test_split
    from dpcondense.datasets import DATASETS, load_dataset
    from dpcondense.methods.base import WEIGHT_COLUMN, SyntheticSet
    from dpcondense.models import make_model
    from dpcondense.run import family_params

    used = set() if used is None else used
    panels: list[tuple[str, str, RunRecord, pd.DataFrame]] = []
    for task in ("classification", "survival"):
        for d in runs.datasets(task):
            if d not in DATASETS:
                continue
            rec = pick_release(runs, d, method=method, epsilon=epsilon)
            path = runs.artifact(rec.run_id, "synthetic.csv") if rec else None
            if rec is not None and path is not None:
                panels.append((task, d, rec, pd.read_csv(path)))
                break
    n_axes = sum(1 if task == "classification" else 2 for task, *_ in panels)
    fig, axes = _new_figure(n_axes, panel=(3.6, 3.0))
    ax_iter = iter(axes)
    with _rc():
        for task, d, rec, frame in panels:
            used.add(rec.label)
            ds = load_dataset(d)
            train, test = train_test_split(ds, seed=rec.seed)
            what = f"{method_label(rec.method)} release, ε = {format_epsilon(rec.epsilon)}, seed {rec.seed}"
            if task == "classification":
                ax = next(ax_iter)
                fx, fy = _figure5_features(ds.schema, d)
                real = train.to_frame()
                label, positive = ds.schema.outcome.label, ds.schema.outcome.positive
                soft = WEIGHT_COLUMN in frame.columns  # each point twice (class 0 and 1), weighted
                for cls, colour, name in ((0, "#0072B2", "negative"), (1, "#D55E00", "positive")):
                    mask = (real[label] == positive) == bool(cls)
                    ax.scatter(real.loc[mask, fx], real.loc[mask, fy], s=6, alpha=0.25, color=colour, lw=0,
                               label=f"real training rows ({name})", gid=f"real:class{cls}")
                    if soft:
                        continue
                    rmask = (frame[label].astype(str) == str(positive)) == bool(cls)
                    ax.scatter(frame.loc[rmask, fx], frame.loc[rmask, fy], s=40, marker="*" if cls else "X", color=colour,
                               edgecolor="black", lw=0.6, label=f"released rows ({name})", gid=f"release:class{cls}")
                if soft:  # one marker per point, coloured by its released P(positive)
                    pos = frame[frame[label].astype(str) == str(positive)]
                    ax.scatter(pos[fx], pos[fy], s=45, marker="o", c=pos[WEIGHT_COLUMN], cmap="coolwarm", vmin=0, vmax=1,
                               edgecolor="black", lw=0.6, label="released points (colour: P(positive))", gid="release:soft")
                ax.set_xlabel(_feature_label(ds.schema, fx))
                ax.set_ylabel(_feature_label(ds.schema, fy))
                ax.set_title(f"{d}\n{what} ({len(frame) // 2 if soft else len(frame)} {'soft-labelled points' if soft else 'rows'})")
                ax.legend(loc="best", fontsize=6, framealpha=0.8)
                ax.grid(True, alpha=0.3, lw=0.5)
            else:
                grid = ds.schema.outcome.time_grid()
                release = SyntheticSet.from_release(frame, ds.schema)
                params = family_params("cox_ph")
                X_test = test.encoded()
                fits = (
                    ("release", f"Cox PH trained on the {len(frame)}-row release\n({d}, {what})", release.X, release.time, release.event),
                    ("full", f"Cox PH trained on the full training split\n({d}, {train.n_rows} rows)", train.encoded(), train.time, train.event),
                )
                unit = ds.schema.outcome.time_unit or "time units"
                for key, title, X, t, ev in fits:
                    ax = next(ax_iter)
                    risk = make_model("cox_ph", random_state=rec.seed, **params).fit(X, t, ev).predict_risk(X_test, grid)
                    high = risk > np.median(risk)
                    for name, mask, colour in (("low risk", ~high, "#009E73"), ("high risk", high, "#D55E00")):
                        if mask.any():
                            kt, ks = kaplan_meier(test.time[mask], test.event[mask])
                            ax.step(kt, ks, where="post", color=colour, lw=1.4,
                                    label=f"{name} (n = {int(mask.sum())})", gid=f"{key}:{name}")
                    ax.set_ylim(0, 1.02)
                    ax.set_xlabel(f"time ({unit})")
                    ax.set_ylabel("Kaplan–Meier survival (test split)")
                    ax.set_title(title)
                    ax.legend(loc="lower left", fontsize=7)
                    ax.grid(True, alpha=0.3, lw=0.5)
        if not panels:
            axes[0].texts[0].set_text("no run with a released synthetic.csv")
        fig.suptitle(f"Figure 5. What the released data look like ({runs.experiment}). {REAL_DATA_NOTE}.", fontsize=10)
    return fig


def _figure5_features(schema: Any, dataset: str) -> tuple[str, str]:
    numeric = [f.name for f in schema.features if f.type == "numeric"]
    preferred = FIGURE5_FEATURES.get(dataset)
    if preferred and all(p in schema.feature_names for p in preferred):
        return preferred
    names = numeric if len(numeric) >= 2 else list(schema.feature_names)
    return names[0], names[1]


def _feature_label(schema: Any, name: str) -> str:
    unit = schema.feature(name).unit
    return f"{name} ({unit})" if unit else name


def build_figures(runs: ExperimentRuns, used: dict[str, set[str]] | None = None) -> dict[str, "Figure"]:
    """Every figure, keyed like :data:`FIGURE_FILES`; ``used[key]`` collects the runs drawn."""
    used = {} if used is None else used
    builders = {
        "figure1": figure1_privacy_utility,
        "figure2": figure2_sizes,
        "figure3": figure3_convergence,
        "figure4": figure4_transfer,
        "figure5": figure5_release,
    }
    out = {}
    for key, build in builders.items():
        used[key] = set()
        out[key] = build(runs, used=used[key])
    return out


# =============================================================================================
# files
# =============================================================================================


def save_figure(fig: "Figure", stem: Path) -> list[Path]:
    """PNG and PDF with no timestamps or version strings (same figure → same bytes)."""
    paths = []
    with _rc():
        for ext, metadata in (
            ("png", {"Software": None}),
            ("pdf", {"Creator": "dpcondense report", "Producer": None, "CreationDate": None, "ModDate": None}),
        ):
            path = stem.with_suffix(f".{ext}")
            fig.savefig(path, format=ext, dpi=FIGURE_DPI, metadata=metadata)
            paths.append(path)
    return paths


def figure_png(fig: "Figure") -> bytes:
    """The figure as PNG bytes (for notebooks: no pyplot, no global state)."""
    import io

    buffer = io.BytesIO()
    with _rc():
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def write_report(runs: ExperimentRuns, out: str | Path, *, figures: bool = True) -> list[Path]:
    """Write every table (``.md`` + ``.tex``), figure (``.png`` + ``.pdf``), ``runs_used.md``
    and ``report.md`` (all tables and figures on one page) into ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables = build_tables(runs)
    used: dict[str, list[str]] = {}
    for key, group in tables.items():
        stem = out / TABLE_FILES[key]
        md = "\n".join(t.markdown() for t in group) if group else f"*{key}: no runs of this kind in the experiment.*\n"
        tex = "\n".join(t.latex() for t in group) if group else f"% {key}: no runs of this kind in the experiment.\n"
        written += [_write(stem.with_suffix(".md"), md), _write(stem.with_suffix(".tex"), tex)]
        used[key] = sorted({i for t in group for i in t.runs})
    fig_used: dict[str, set[str]] = {}
    if figures:
        for key, fig in build_figures(runs, fig_used).items():
            written += save_figure(fig, out / FIGURE_FILES[key])
            used[key] = sorted(fig_used[key])
    written.append(_write(out / "runs_used.md", runs_used_markdown(runs, used)))
    written.append(_write(out / "report.md", report_markdown(runs, tables, figures=figures)))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def runs_used_markdown(runs: ExperimentRuns, used: Mapping[str, Sequence[str]]) -> str:
    n_runs = len({r.identity for r in runs.records if not r.derived})
    lines = [
        f"# Runs used: {runs.experiment}",
        "",
        f"{n_runs} FINISHED runs in the MLflow experiment `{runs.experiment}`. Each section lists the "
        "run identities (the `identity` tag; `... (full_data reference metrics)` = the reference "
        "metrics a run logged with `references=true`; `reference:...` = `dpcondense reference`) "
        "behind one table or figure. A cell without runs is shown as "
        f"\"{MISSING}\".",
        "",
    ]
    if runs.superseded:
        lines += [
            f"## Superseded: {len(runs.superseded)} runs (not used)",
            "",
            "FINISHED runs replaced by a later run with the same dataset, method, families, ε, size and "
            "seed (typically made before a default changed, so with another identity).",
            "",
            *[f"- `{i}`" for i in runs.superseded],
            "",
        ]
    names = {**TABLE_FILES, **FIGURE_FILES}
    for key in [*TABLE_FILES, *FIGURE_FILES]:
        if key not in used:
            continue
        ids = list(used[key])
        title = f"{key[:-1].capitalize()} {key[-1]}"
        lines += [f"## {title} (`{names[key]}`): {len(ids)} runs", ""]
        lines += [f"- `{i}`" for i in ids] or ["- none"]
        lines.append("")
    return "\n".join(lines)


def report_markdown(runs: ExperimentRuns, tables: Mapping[str, list[Table]], *, figures: bool = True) -> str:
    n_runs = len({r.identity for r in runs.records if not r.derived})
    lines = [
        f"# Results: {runs.experiment}",
        "",
        f"Generated by `dpcondense report --experiment {runs.experiment}` from {n_runs} FINISHED MLflow runs "
        "(run identities per table and figure: [runs_used.md](runs_used.md)). Tables as Markdown and "
        "LaTeX (`.md`, `.tex`), figures as PNG and PDF.",
        "",
    ]
    for key, group in tables.items():
        lines += [t.markdown() for t in group] or [f"*{key}: no runs of this kind in the experiment.*\n"]
    if figures:
        for key, stem in FIGURE_FILES.items():
            lines += [f"![{key}]({stem}.png)", ""]
    return "\n".join(lines)
