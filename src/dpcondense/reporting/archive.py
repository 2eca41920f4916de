"""Durable run records: the FINISHED runs of an experiment as one compact, committed file.

``dpcondense records export`` writes one JSON line per run identity (sorted by identity, keys
sorted, no whitespace; gzip when the file name ends in ``.gz``), ``dpcondense records import``
turns the lines back into FINISHED MLflow runs of any store (local or server) — after which a
sweep skips those identities and the MLflow UI shows them — and ``dpcondense report --records``
makes the report from the file alone, byte-identical to the report from the store.

A record holds what the run logged as tags, params and metrics, and what the report reads:

- ``identity`` and ``spec``: the canonical JSON text whose SHA-256 is the identity (the normalised
  configuration: dataset and schema hash, families and their params, method and params, ε, δ,
  size, seed, the component versions and the dataset checksum); reading checks the hash, so a
  record cannot claim an identity it does not have;
- ``tags`` (MLflow's own — the run name follows from the others —, the sweep's output folder and
  the git commit left out), ``params`` (the normalised configuration, flattened), ``experiment``;
- ``metrics``: the scalar metrics (``<family>.<metric>`` per evaluation family, ``epsilon_spent``,
  ``delta_spent``, ``n_model_fits``; an undefined metric is ``null``) and ``curves``: the step
  metric ``objective`` in step order;
- ``ledger``: the run's privacy ledger (``ledger.json``: what was spent, by which mechanism);
- ``release``: the released ``synthetic.csv``, only for the runs Figure 5 draws (at most one per
  task): the report's only other input. Every other release stays in the MLflow artifacts.

Left out on purpose: wall time (``wall_seconds``) and every timestamp, so the same sweep run again
(benchmark mode, same code and packages) exports the same bytes; ``config.yaml`` (it holds this
machine's paths); ``metrics.json`` (the metrics again). Nothing here is computed from real rows
beyond what the run already logged: test-split metrics, the ledger's DP spends, and the DP
release that the committed Figure 5 already draws.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import tempfile
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Mapping

from dpcondense.benchmark import tracking as tracking_mod
from dpcondense.reporting.figures.figure5_release import drawn_releases
from dpcondense.reporting.runs import ExperimentRuns
from dpcondense.reporting.selection import ReportError, drop_old_family_versions, identity_of, is_stale

#: the ``format`` field of every record (bumped when the record's meaning changes)
RECORD_FORMAT = "dpcondense.run/1"
#: step metrics kept as curves (the runner logs the private objective per DP-ZO step)
CURVE_METRICS = ("objective",)
#: metrics of the machine, not of the run: never in a record
TIMING_METRICS = ("wall_seconds",)
#: tags left out of a record: where and when a run was made, not what it is (the commit and its
#: dirty flag vary with every commit of unrelated files; the identity carries the versions of the
#: code that produced the result)
LOCAL_TAGS = (tracking_mod.SWEEP_TAG, "git_commit", "git_dirty")
#: tag an imported run carries: the records file it came from
IMPORTED_TAG = "imported_from"
#: the artifacts a record carries, and the file names they are imported as
SPEC_FILE, LEDGER_FILE, RELEASE_FILE = "run_spec.json", "ledger.json", "synthetic.csv"
#: fields every record has
REQUIRED_FIELDS = ("format", "experiment", "identity", "spec", "tags", "params", "metrics", "curves", "ledger")
#: ``records export`` suggests ``.gz`` above this size (bytes)
LARGE_FILE = 5_000_000


# ------------------------------------------------------------------------------------ export
def export_records(store: tracking_mod.RunStore) -> tuple[list[dict[str, Any]], str | None]:
    """One record per identity of ``store``'s experiment (its newest FINISHED run), sorted.

    Runs of an older version of their method than the current code's are not exported (the
    report leaves them out too: :func:`~dpcondense.reporting.selection.is_stale`).

    Returns the records and, when the runs cannot make a report (two identities in one cell),
    that error's text: the records are exported all the same, without any release.

    Raises
    ------
    ReportError
        A run without its ``run_spec.json`` (not logged by ``dpcondense run``) or whose
        ``run_spec.json`` does not hash to its identity.
    """
    newest: dict[str, Any] = {}
    finished = [r for r in store.runs("attributes.status = 'FINISHED'") if not is_stale(r)]
    finished, _ = drop_old_family_versions(finished, lambda run: _stored_spec(store.client, run.info.run_id))
    for run in sorted(finished, key=lambda r: (r.info.end_time or 0, r.info.run_id)):
        newest[identity_of(run)] = run
    problem = None
    try:
        drawn = {rec.run_id for rec in drawn_releases(ExperimentRuns.from_store(store))}
    except ReportError as exc:
        drawn, problem = set(), str(exc)
    experiment = store.target.experiment_name
    return [_record_of(newest[i], store.client, experiment, release=newest[i].info.run_id in drawn) for i in sorted(newest)], problem


def _stored_spec(client: Any, run_id: str) -> dict[str, Any] | None:
    """A stored run's ``run_spec.json`` (``None`` when it has none)."""
    with tempfile.TemporaryDirectory(prefix="dpcondense-records-") as tmp:
        try:
            return json.loads(Path(client.download_artifacts(run_id, "run_spec.json", tmp)).read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - a run without a spec is reported by the export itself
            return None


def _record_of(run: Any, client: Any, experiment: str, *, release: bool) -> dict[str, Any]:
    run_id, identity = run.info.run_id, identity_of(run)
    with tempfile.TemporaryDirectory(prefix="dpcondense-records-") as tmp:
        def read(path: str) -> str | None:
            try:
                return Path(client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")
            except Exception:  # noqa: BLE001 - a missing artifact is reported by the caller
                return None

        spec_text, ledger_text = read(SPEC_FILE), read(LEDGER_FILE)
        release_text = read(RELEASE_FILE) if release else None
    if spec_text is None:
        raise ReportError(f"run {run_id} (identity {identity}) has no {SPEC_FILE}: not a run logged by `dpcondense run`")
    payload = json.loads(spec_text)
    payload.pop("identity", None)
    spec = canonical_spec(payload)
    check_identity(identity, spec, where=f"run {run_id}")
    metrics = run.data.metrics
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "experiment": experiment,
        "identity": identity,
        "spec": spec,
        "tags": {k: v for k, v in run.data.tags.items() if _kept_tag(k)},
        "params": dict(run.data.params),
        "metrics": {k: _number(v) for k, v in metrics.items() if k not in CURVE_METRICS and k not in TIMING_METRICS},
        "curves": {k: _curve(client, run_id, k) for k in CURVE_METRICS if k in metrics},
        "ledger": None if ledger_text is None else json.loads(ledger_text),
    }
    if release_text is not None:
        record["release"] = release_text
    return record


def _kept_tag(key: str) -> bool:
    return not key.startswith("mlflow.") and key not in LOCAL_TAGS and key != IMPORTED_TAG


def _curve(client: Any, run_id: str, key: str) -> list[float | None]:
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return [_number(m.value) for m in points]


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None  # MLflow keeps ±inf as ±float max: only NaN is left


def canonical_spec(payload: Mapping[str, Any]) -> str:
    """The text the identity hashes (:attr:`dpcondense.benchmark.spec.RunSpec.identity`)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)


def check_identity(identity: str, spec: str, *, where: str) -> None:
    """``identity`` is the SHA-256 of ``spec`` (a custodian's run, whose file digest is not in
    its shareable spec, cannot be checked and is accepted as it is)."""
    if '"csv":' in spec and json.loads(spec).get("csv") is not None:
        return
    digest = hashlib.sha256(spec.encode()).hexdigest()
    if digest != identity:
        raise ReportError(f"{where}: identity {identity} is not the SHA-256 of its spec ({digest}): the record was altered")


# ------------------------------------------------------------------------------------ the file
def record_line(record: Mapping[str, Any]) -> str:
    """One record as one line: sorted keys, no whitespace, strict JSON."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def write_records(records: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write the records, sorted by identity, to ``path`` (gzip without a timestamp when it ends in ``.gz``)."""
    path = Path(path)
    lines = [record_line(r) for r in sorted(records, key=lambda r: r["identity"])]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # renamed into place only when complete
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a file written by :func:`write_records`, checked line by line.

    Raises
    ------
    ReportError
        Naming the file and line: not a records file, a missing field, an identity that is not
        the hash of its spec, an identity twice, or records of several experiments.
    """
    path = Path(path)
    hint = "make it with `dpcondense records export --experiment NAME --out FILE`"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: no such records file ({hint})") from None
    except IsADirectoryError:
        raise ReportError(f"{path} is a folder, not a records file ({hint})") from None
    try:
        text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not a records file ({exc}); {hint}") from None
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = _parse_line(line, where, hint)
        if record["identity"] in seen:
            raise ReportError(f"{where}: identity {record['identity']} is already on line {seen[record['identity']]}")
        seen[record["identity"]] = number
        records.append(record)
    experiments = sorted({r["experiment"] for r in records})
    if len(experiments) > 1:
        raise ReportError(f"{path} holds records of several experiments ({', '.join(experiments)}); export one file per experiment")
    return records


def _parse_line(line: str, where: str, hint: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{where} is not JSON ({exc}); {hint}") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ReportError(f"{where}: not a run record of format {RECORD_FORMAT!r} (found {found!r}); {hint}")
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        raise ReportError(f"{where}: the record has no {', '.join(missing)}; {hint}")
    check_identity(record["identity"], record["spec"], where=where)
    return record


# ------------------------------------------------------------------------------------ import
def import_records(
    records: Iterable[Mapping[str, Any]], target: tracking_mod.TrackingTarget, *, source: str = ""
) -> tuple[list[str], list[str]]:
    """Create a FINISHED run for each record whose identity ``target`` does not hold finished.

    Each run gets the record's tags (``identity`` among them), params, metrics, objective curve
    and the artifacts ``run_spec.json``, ``ledger.json`` and (when the record has it)
    ``synthetic.csv``, plus the tag ``imported_from`` (``source``); its status is set last, as
    for a run of ``dpcondense run``. A killed or failed attempt of the same identity is deleted
    first. Importing the same file twice creates nothing the second time.

    Returns
    -------
    (imported, skipped) : lists of identities
    """
    store = tracking_mod.prepare(target)
    status = store.status_by_identity()
    imported, skipped = [], []
    for record in records:
        identity = record["identity"]
        if status.get(identity) == "FINISHED":
            skipped.append(identity)
            continue
        store.discard_unfinished(identity)
        tags = {**record["tags"], **({IMPORTED_TAG: source} if source else {})}
        run_id = store.start(identity, tags=tags, params=record["params"])
        try:
            metrics = {k: math.nan if v is None else float(v) for k, v in record["metrics"].items()}
            curves = {k: [math.nan if v is None else float(v) for v in values] for k, values in record["curves"].items()}
            store.log_metrics(run_id, metrics, curves=curves)
            with tempfile.TemporaryDirectory(prefix="dpcondense-import-") as tmp:
                _write_artifacts(Path(tmp), record)
                store.log_artifacts(run_id, Path(tmp))
            store.finish(run_id)
        except BaseException as exc:
            store.fail(run_id, exc, traceback.format_exc())
            raise
        imported.append(identity)
    return imported, skipped


def _write_artifacts(folder: Path, record: Mapping[str, Any]) -> None:
    """``run_spec.json`` and ``ledger.json`` as ``dpcondense run`` writes them, and the release if any."""
    payload = {"identity": record["identity"], **json.loads(record["spec"])}
    (folder / SPEC_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if record["ledger"] is not None:
        (folder / LEDGER_FILE).write_text(json.dumps(record["ledger"], sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if record.get("release") is not None:
        (folder / RELEASE_FILE).write_text(record["release"], encoding="utf-8", newline="")


# ------------------------------------------------------------------------------------ report
def runs_from_records(
    records: list[Mapping[str, Any]], *, reference: Iterable[Mapping[str, Any]] | None = None
) -> ExperimentRuns:
    """The report's runs from records alone (no store): the same selection, records, objective
    curves and releases as :meth:`ExperimentRuns.from_store` on a store holding those runs.

    Raises
    ------
    ReportError
        No record, or two identities in one report cell.
    """
    if not records:
        raise ReportError("the records file holds no run: nothing to report, nothing written")
    by_identity = {r["identity"]: r for r in records}
    runs = [_as_run(r) for r in records]

    def history(run_id: str, key: str) -> list[float]:
        values = by_identity[run_id]["curves"].get(key, [])
        return [math.nan if v is None else float(v) for v in values]

    def artifact(run_id: str, path: str) -> Path:
        record = by_identity[run_id]
        folder = Path(tempfile.mkdtemp(prefix="dpcondense-report-"))
        _write_artifacts(folder, record)
        if not (folder / path).is_file():
            raise FileNotFoundError(f"the record of {run_id} carries no {path}")
        return folder / path

    def spec_of(run: Any) -> dict[str, Any]:
        return json.loads(by_identity[identity_of(run)]["spec"])

    return ExperimentRuns.from_runs(records[0]["experiment"], runs, reference=reference, history=history,
                                    artifact=artifact, spec_of=spec_of, frozen=True)


def _as_run(record: Mapping[str, Any]) -> Any:
    """A record shaped like an MLflow run (its run id is its identity; a curve's latest value is a metric too)."""
    metrics = {k: math.nan if v is None else float(v) for k, v in record["metrics"].items()}
    for key, values in record["curves"].items():
        if values:
            metrics[key] = math.nan if values[-1] is None else float(values[-1])
    tags = {**record["tags"], "identity": record["identity"]}
    info = SimpleNamespace(run_id=record["identity"], end_time=0, status="FINISHED")
    return SimpleNamespace(info=info, data=SimpleNamespace(tags=tags, params=dict(record["params"]), metrics=metrics))
