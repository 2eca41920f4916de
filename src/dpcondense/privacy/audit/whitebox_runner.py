"""The white-box audit of DP-ZO on its own: R tapped fits with many gradient canaries each, no black-box canary.

:func:`run_whitebox_audit` fits DP-ZO ``runs`` times on the audit rows inside a
:class:`~dpcondense.privacy.audit.whitebox.ZOStepTap` with ``canaries`` Dirac gradient canaries
per run, and pools the checks (noise scale, sampling, parameters) and the one-run ε lower bound.
It is the audit with power: one run already tests the noise scale to a few percent, and the
canaries of all runs feed one one-run bound (each canary is in one run only, so the pooled runs
are one mechanism that is (ε, δ)-DP with respect to each canary).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dpcondense.data import Dataset
from dpcondense.privacy.audit.runner import AUDIT_CANARIES, AUDIT_METHOD_DEFAULTS
from dpcondense.privacy.audit.whitebox import (
    GradientCanaries,
    WhiteboxAccumulator,
    WhiteboxResult,
    tapped_fit,
)
from dpcondense.privacy.audit.worlds import AUDIT_ROWS, audit_data, audit_dataset
from dpcondense.privacy.validation import parse_epsilon, validate_privacy_params

#: DP-ZO settings of the white-box audit on top of :data:`AUDIT_METHOD_DEFAULTS`: the whole budget
#: on the steps (no DP start, no class weights) and no objective coordinate, so a canary keeps the
#: full clip norm; every one is a public hyperparameter the privacy claim holds for
WHITEBOX_METHOD_DEFAULTS: dict[str, Any] = {"init": "random", "class_balance": False, "objective_weight": 0.0}


@dataclass
class WhiteboxAudit:
    """Outcome of :func:`run_whitebox_audit`."""

    dataset: str
    model: str
    epsilon_claimed: float
    delta: float
    runs: int
    canaries_per_run: int
    audit_rows: int
    sampling_rate: float
    noise: str
    wall_seconds: float
    seconds_per_run: float
    method_params: dict[str, Any]
    result: WhiteboxResult
    #: the pooled result after the first R runs, with the wall time so far, for each checkpoint R
    checkpoints: dict[int, tuple[WhiteboxResult, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def epsilon_lower_bound(self) -> float:
        return 0.0 if self.result.one_run is None else self.result.one_run.epsilon_lower_bound

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("result", "checkpoints")}
        out["whitebox"] = self.result.to_dict()
        out["checkpoints"] = {
            str(runs): {"wall_seconds": wall, "whitebox": res.to_dict()} for runs, (res, wall) in self.checkpoints.items()
        }
        out["epsilon_lower_bound"] = self.epsilon_lower_bound
        out["passed"] = self.passed
        return out


def run_whitebox_audit(
    *,
    dataset: str | Dataset,
    epsilon: float,
    runs: int = 1,
    canaries: int = 10 * AUDIT_CANARIES,
    delta: float = 1e-5,
    model: str | None = None,
    size: int = 5,
    n_rows: int | None = AUDIT_ROWS,
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    confidence: float = 0.95,
    noise: str = "seeded",
    checkpoints: Iterable[int] = (),
    progress: bool = False,
) -> WhiteboxAudit:
    """White-box audit of DP-ZO at ``epsilon``: ``runs`` tapped fits with ``canaries`` gradient canaries each.

    Parameters
    ----------
    dataset : str or Dataset
        A built-in dataset name or a custodian's dataset; ``n_rows`` rows of its training split
        (stratified, seeded) are the private rows, and their count the public n.
    epsilon, delta : float
        The privacy target of every fit.
    runs : int
        Fits; their canaries are pooled into one one-run bound.
    canaries : int
        Gradient canaries per fit (0: only the noise, sampling and parameter checks).
    method_params : dict, optional
        DP-ZO parameters over :data:`AUDIT_METHOD_DEFAULTS` and :data:`WHITEBOX_METHOD_DEFAULTS`.
    noise : {"seeded", "secure"}
        Where the fits' noise and sampling come from.
    checkpoints : iterable of int
        Run counts after which the pooled result is also kept (how the power grows with runs).

    Returns
    -------
    WhiteboxAudit
        ``result.passed`` is False when a check fails or the canaries certify more than the
        claimed ε of the steps.
    """
    if isinstance(runs, bool) or int(runs) != runs or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs}")
    if int(canaries) < 0:
        raise ValueError(f"canaries must be >= 0, got {canaries}")
    eps = parse_epsilon(epsilon)
    validate_privacy_params(epsilon=eps, delta=delta)
    if not np.isfinite(eps):
        raise ValueError("the white-box audit needs a finite epsilon (at epsilon=inf nothing is claimed)")
    ds, model = audit_dataset(dataset, model, statistic="distance", threshold="split")
    rows, _ = audit_data(ds, n_rows=n_rows, seed=seed)
    params = {**AUDIT_METHOD_DEFAULTS, **WHITEBOX_METHOD_DEFAULTS, "n_public": rows.n_rows, **(method_params or {})}
    pooled = WhiteboxAccumulator()
    marks: dict[int, tuple[WhiteboxResult, float]] = {}
    wanted = {int(c) for c in checkpoints}
    seeds = np.random.SeedSequence([seed, 0x3B0C]).generate_state(int(runs))
    q = float("nan")
    t0 = _time.perf_counter()
    iterator: Any = range(int(runs))
    if progress:
        iterator = tqdm(iterator, desc=f"white-box audit dpzo eps={eps:g}", unit="run", leave=False)
    for r in iterator:
        coins = np.random.default_rng(np.random.SeedSequence([seed, 0xCA7A, r]))
        est, tap = tapped_fit(
            "dpzo", rows, params,
            {"model": model, "size": size, "epsilon": eps, "delta": delta, "model_params": model_params,
             "noise": noise, "random_state": int(seeds[r])},
            canaries=GradientCanaries(int(canaries), coins) if canaries else None,
        )
        assert tap is not None
        pooled.add(tap, est.ledger_)
        q = float(est.sampling_rate_)
        if r + 1 in wanted:
            mark = pooled.result(confidence=confidence)
            if mark is not None:
                marks[r + 1] = (mark, _time.perf_counter() - t0)
    wall = _time.perf_counter() - t0
    result = pooled.result(confidence=confidence)
    if result is None:
        raise RuntimeError("no private DP-ZO step was seen: nothing to audit")
    return WhiteboxAudit(
        dataset=ds.name, model=model, epsilon_claimed=eps, delta=float(delta), runs=int(runs),
        canaries_per_run=int(canaries), audit_rows=rows.n_rows, sampling_rate=q, noise=noise, wall_seconds=wall,
        seconds_per_run=wall / int(runs), method_params=params, result=result, checkpoints=marks,
    )
