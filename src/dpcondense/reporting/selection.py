"""Which runs a report is made of: one run per identity, one identity per report cell.

A report cell holds one result per seed: the runs that agree on the tags of :data:`CELL_TAGS`
(dataset, method, condensing family, evaluation families, ε, size, seed) and on the run's
declared variant (the tag ``variant``, which a preset that sweeps variants sets from its
variant key). :func:`select_runs` keeps, for each identity, its newest ``FINISHED`` run (an exact
re-run of the same identity is the same result), and refuses a cell reached by two different
identities — two variants of a method in one experiment, or a run left from before a version
change — with an error that names both runs and the keys in which they differ, instead of
silently keeping one of them. Runs of an older version of their method than the current code's
(tag ``method_version``) are left out, with a warning: they are not what the code computes now;
so are, where a cell holds several identities, runs whose recorded model-family versions (their
``run_spec.json``) are not the current code's (:func:`drop_old_family_versions`).

The variant named ``default`` is reported as the method itself, so a variant preset's defaults
sit where the main method's runs are expected (Table 4, Figures 3–5); every other variant ``v``
of method ``m`` is reported as its own method ``m[v]``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping

from dpcondense.benchmark.spec import VARIANT_TAG
from dpcondense.methods import METHODS
from dpcondense.models import MODELS

#: tags that place a run in a report cell (with its seed): runs agreeing on all are the same cell
CELL_TAGS = ("dataset", "method", "model", "eval_models", "epsilon", "size", "seed")
#: the variant reported as the method itself
DEFAULT_VARIANT = "default"
#: how many conflicting cells an error lists
_SHOWN_CELLS = 5
#: how many differing keys an error lists per cell
_SHOWN_KEYS = 8


class ReportError(ValueError):
    """The report cannot be made (no such store or experiment, conflicting runs); the message says what to do."""


def identity_of(run: Any) -> str:
    """A run's identity: its ``identity`` tag (its run id when it has none)."""
    return run.data.tags.get("identity") or run.info.run_id


def report_variant(tags: Mapping[str, str]) -> str | None:
    """The variant a run is reported under: ``None`` for no variant and for :data:`DEFAULT_VARIANT`."""
    variant = tags.get(VARIANT_TAG)
    return None if not variant or variant == DEFAULT_VARIANT else str(variant)


def report_method(method: str, variant: str | None) -> str:
    """The method a run is reported as: ``method``, or ``method[variant]``."""
    return method if variant is None else f"{method}[{variant}]"


def cell_of(run: Any) -> tuple[str | None, ...]:
    """The report cell of a run: its :data:`CELL_TAGS` and its reported variant."""
    tags = run.data.tags
    return (*(tags.get(k) for k in CELL_TAGS), report_variant(tags))


def select_runs(
    runs: Iterable[Any],
    *,
    experiment: str,
    spec_of: Callable[[Any], Mapping[str, Any] | None] | None = None,
    frozen: bool = False,
) -> list[Any]:
    """The runs a report uses: the newest run of each identity, sorted by identity.

    Parameters
    ----------
    runs : iterable of MLflow runs (or objects with the same ``info`` / ``data`` attributes)
        The experiment's ``FINISHED`` runs.
    experiment : str
        Named in the error.
    spec_of : callable, optional
        ``run -> identity payload`` (``run_spec.json``), read only for conflicting runs so the
        error can name every key in which they differ (component versions included); without
        it, the runs' params are compared.
    frozen : bool
        The runs are a records file's frozen snapshot: no run is left out for its version (the
        export left stale runs out when it was made), so the file reports the same tables whatever
        the code's versions are later.

    Raises
    ------
    ReportError
        When a cell is reached by runs of two or more identities; the message names the cell,
        each identity with its run id, the keys in which they differ, and what to do.
    """
    runs = list(runs)
    # a records file is a frozen snapshot (its export already left stale runs out): it reports what it holds
    current = runs if frozen else [r for r in runs if not is_stale(r)]
    if len(current) < len(runs):
        stale = sorted({f"{r.data.tags.get('method')} v{r.data.tags.get('method_version')}" for r in runs if is_stale(r)})
        warnings.warn(
            f"experiment '{experiment}': {len(runs) - len(current)} run(s) of an older method version left out "
            f"({', '.join(stale)}): they are not what the current code computes; re-run the sweep for their cells",
            stacklevel=2,
        )
    current, dropped = drop_old_family_versions(current, None if frozen else spec_of)
    if dropped:
        warnings.warn(
            f"experiment '{experiment}': {len(dropped)} run(s) made with an older model-family version left out "
            f"({', '.join(dropped)}): they are not what the current code computes; re-run the sweep for their cells",
            stacklevel=2,
        )
    newest: dict[str, Any] = {}
    for run in sorted(current, key=lambda r: (r.info.end_time or 0, r.info.run_id)):
        newest[identity_of(run)] = run
    cells: dict[tuple, list[Any]] = defaultdict(list)
    for identity in sorted(newest):
        cells[cell_of(newest[identity])].append(newest[identity])
    conflicts = [(cell, found) for cell, found in cells.items() if len(found) > 1]
    if conflicts:
        raise ReportError(_conflict_message(experiment, sorted(conflicts, key=lambda c: repr(c[0])), spec_of))
    return [newest[i] for i in sorted(newest)]


def is_stale(run: Any) -> bool:
    """A run made by another version of its (registered) method than the current code's."""
    tags = run.data.tags
    method, version = tags.get("method"), tags.get("method_version")
    if not version or method not in METHODS:
        return False
    return version != str(METHODS.get(method).version_for(tags.get("task")))


def old_family_versions(spec: Mapping[str, Any] | None) -> list[str]:
    """``name vN`` of each registered family whose version in a run's spec is not the current code's."""
    families = ((spec or {}).get("versions") or {}).get("families") or {}
    return sorted(
        f"{name} v{version}" for name, version in families.items()
        if name in MODELS and str(version) != str(MODELS.get(name).version)
    )


def drop_old_family_versions(
    runs: list[Any], spec_of: Callable[[Any], Mapping[str, Any] | None] | None
) -> tuple[list[Any], list[str]]:
    """Runs kept, and ``name vN`` of the old family versions left out, among cells with several identities.

    Only a cell reached by two or more identities reads the runs' specs (``spec_of``), so a
    report of consistent runs costs nothing extra; without ``spec_of`` nothing is left out.
    """
    if spec_of is None:
        return runs, []
    by_cell: dict[tuple, list[Any]] = defaultdict(list)
    for run in runs:
        by_cell[cell_of(run)].append(run)
    kept, old = [], set()
    for found in by_cell.values():
        if len({identity_of(r) for r in found}) < 2:
            kept += found
            continue
        for run in found:
            stale = old_family_versions(spec_of(run))
            old.update(stale)
            if not stale:
                kept.append(run)
    return kept, sorted(old)


def _conflict_message(
    experiment: str, conflicts: list[tuple[tuple, list[Any]]], spec_of: Callable[[Any], Mapping[str, Any] | None] | None
) -> str:
    n_cells = len(conflicts)
    lines = [
        f"experiment '{experiment}': {n_cells} report cell{'s' if n_cells > 1 else ''} "
        f"{'have' if n_cells > 1 else 'has'} FINISHED runs of more than one identity; a cell shows one result per "
        "seed and the report will not choose between them (nothing written):"
    ]
    for cell, found in conflicts[:_SHOWN_CELLS]:
        where = " ".join(f"{k}={v}" for k, v in zip((*CELL_TAGS, VARIANT_TAG), cell) if v is not None)
        lines.append(f"  cell {where}:")
        lines += [f"    identity {identity_of(r)} (run {r.info.run_id})" for r in found]
        lines.append(f"    they differ in: {differing_keys(found[0], found[1], spec_of)}")
    if n_cells > _SHOWN_CELLS:
        lines.append(f"  ... and {n_cells - _SHOWN_CELLS} more cells")
    lines.append(
        "Put variants of a method in separate experiments (experiment_name=...), or name each with the declared "
        "variant key (config key `variant`; a preset that sweeps variants sets `variant: ${dpzo_variant}`, "
        "see conf/README.md); a run left from before a version change is stale: delete it (MLflow UI, or "
        "`mlflow runs delete --run-id ID`) and report again."
    )
    return "\n".join(lines)


def differing_keys(a: Any, b: Any, spec_of: Callable[[Any], Mapping[str, Any] | None] | None = None) -> str:
    """``key (value_a ≠ value_b), ...`` over the two runs' identity payloads (else their params)."""
    left = right = None
    if spec_of is not None:
        left, right = spec_of(a), spec_of(b)
    if left is None or right is None:
        left, right = dict(a.data.params), dict(b.data.params)
    flat_a, flat_b = _flatten(left), _flatten(right)
    keys = sorted(k for k in set(flat_a) | set(flat_b) if k != "identity" and flat_a.get(k, _ABSENT) != flat_b.get(k, _ABSENT))
    if not keys:
        return "nothing their params show (compare the runs' run_spec.json: component versions or the dataset checksum)"
    shown = [f"{k} ({_show(flat_a.get(k, _ABSENT))} ≠ {_show(flat_b.get(k, _ABSENT))})" for k in keys[:_SHOWN_KEYS]]
    more = f", and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(shown) + more


_ABSENT = object()


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}
