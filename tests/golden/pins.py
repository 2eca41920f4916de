"""Pinned releases: one small case per (method, task) and per DP-ZO label/start option.

``python tests/golden/pins.py`` rewrites ``releases.json`` from the current code, and refuses to
re-pin a case whose output changed while the versions of its method and family did not: a
behaviour change must bump the version (a run's identity will carry it). The test in
``tests/unit/test_golden_releases.py`` fails on any change of a release, a ledger or a metric.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

PINS = Path(__file__).with_name("releases.json")
DATASETS = {"classification": "pima_diabetes", "survival": "gbsg"}
SIZE = {"classification": 4, "survival": 10}
FAMILY = {"classification": "decision_tree", "survival": "cox_ph"}
#: shrink iterative methods so the whole file runs in seconds
FAST = {"dpzo": {"steps": 3, "directions": 2}, "dp_dm": {"steps": 20}, "dp_merf": {"steps": 50}}
#: extra DP-ZO cases: each label mode and start, plus one smooth family per task
VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "dpzo[hard]": ("classification", "decision_tree", {"labels": "hard"}),
    "dpzo[teacher]": ("classification", "decision_tree", {"labels": "teacher"}),
    "dpzo[random-init]": ("classification", "decision_tree", {"init": "random", "class_balance": False}),
    "dpzo[logistic]": ("classification", "logistic_regression", {}),
    "dpzo[inf]": ("classification", "decision_tree", {"epsilon": float("inf")}),
    "dpzo[rsf]": ("survival", "random_survival_forest", {}),
    "dpzo[real-rows-inf]": ("survival", "cox_ph", {"epsilon": float("inf"), "init": "real_rows"}),
    "dpzo[curve-nll]": ("survival", "cox_ph", {"survival_loss": "curve_nll", "time_bins": 0}),
    "dpzo[mixed-cosine-average]": ("survival", "cox_ph", {"survival_loss": "mixed", "lr_schedule": "cosine", "average": 0.5}),
}


def cases() -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(case id, method, task, family, params) for every registered method and variant."""
    from dpcondense.methods import METHODS

    out = []
    for method in METHODS.names():
        for task in ("classification", "survival"):
            out.append((f"{method}/{task}", method, task, FAMILY[task], dict(FAST.get(method, {}))))
    for case, (task, family, params) in VARIANTS.items():
        out.append((f"{case}/{task}", "dpzo", task, family, {**FAST["dpzo"], **params}))
    return out


def run_case(method: str, task: str, family: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Release hash, ledger and metrics of one case (None when the method refuses the task)."""
    from dpcondense.data import train_test_split
    from dpcondense.datasets import load_dataset
    from dpcondense.evaluate import evaluate_release
    from dpcondense.methods import make_method

    params = dict(params)
    epsilon = params.pop("epsilon", 1.0)
    train, test = train_test_split(load_dataset(DATASETS[task]), seed=0)
    est = make_method(method, **params)
    try:
        est.fit(train, model=family, size=SIZE[task], epsilon=epsilon, delta=1e-5, random_state=0, noise="seeded")
    except ValueError as exc:
        if "only" in str(exc) or "not support" in str(exc):
            return None
        raise
    csv = est.synthetic_.to_csv(index=False, float_format="%.17g", lineterminator="\n")
    metrics = evaluate_release(est.synthetic_encoded_, train, test, family, random_state=0)
    from dpcondense.methods import METHODS
    from dpcondense.models import MODELS

    return {
        "versions": {"method": METHODS.get(method).version_for(task), "family": MODELS.get(family).version},
        "release_sha256": hashlib.sha256(csv.encode()).hexdigest(),
        "rows": int(len(est.synthetic_)),
        "ledger": json.loads(est.ledger_.to_json()),
        "metrics": {k: metric_text(v) for k, v in sorted(metrics.items())},
    }


def metric_text(value: Any) -> str:
    """A metric to 12 significant digits: a change of the method shows, a reordered float sum
    inside an evaluation library (last-bit noise) does not."""
    return f"{float(value):.12g}"


#: whole-command cases: the CLI's files for a built-in dataset in the seeded benchmark mode (a
#: custodian's release has secret noise: it is checked by properties, not pinned)
CLI_CASES: dict[str, list[str]] = {
    "cli/builtin": ["--dataset", "pima_diabetes", "--size", "3", "--steps", "3", "--param", "directions=2"],
}


def run_cli_case(case: str) -> dict[str, Any]:
    """Hashes of the files ``dpcondense condense`` writes (wall time left out, temp paths masked)."""
    import tempfile

    from dpcondense.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args = list(CLI_CASES[case])
        assert main(["condense", *args, "--no-progress", "--out", str(folder / "out")]) == 0
        out = {}
        for path in sorted((folder / "out").iterdir()):
            if path.name == "metrics.json":
                payload = json.loads(path.read_text())
                payload.pop("wall_seconds")
                text = json.dumps(payload, sort_keys=True)
            else:
                text = path.read_text()
            text = text.replace(str(folder), "<tmp>")
            out[path.name] = hashlib.sha256(text.encode()).hexdigest()
        return out


def compute() -> dict[str, Any]:
    pins: dict[str, Any] = {case: run_case(method, task, family, params) for case, method, task, family, params in cases()}
    pins.update({case: run_cli_case(case) for case in CLI_CASES})
    return pins


def unbumped(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Cases whose output changed while their component versions stayed the same."""
    out = []
    for case, value in new.items():
        before = old.get(case)
        if before is not None and "metrics" in before:  # pins written before metric_text
            before = {**before, "metrics": {k: metric_text(v) for k, v in before["metrics"].items()}}
        if before is None or value is None or before == value or "versions" not in value:
            continue
        if before.get("versions") == value["versions"]:
            out.append(case)
    return out


if __name__ == "__main__":
    pins = compute()
    stale = unbumped(json.loads(PINS.read_text()) if PINS.exists() else {}, pins)
    if stale:
        sys.exit(f"refusing to re-pin {stale}: their output changed but their method/family version did not; bump it")
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True, allow_nan=True) + "\n")
    print(f"wrote {PINS} ({len(pins)} cases)", file=sys.stderr)
