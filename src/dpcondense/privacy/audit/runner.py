"""Empirical privacy audit: a canary membership-inference attack that lower-bounds ε.

The audit runs a condensation method ``R`` times on a small, fixed audit dataset ``D`` (rows of
a built-in dataset's training split, or of a custodian's own data). In a seeded, balanced half
of the runs a crafted **canary** row is added to ``D``; sampling and noise are fresh in every
run. Each release is scored by a test statistic — how much the release "knows" the canary —
and a threshold turns the scores into guesses IN / OUT.

If the method is (ε, δ)-DP, every such test satisfies ``TPR ≤ e^ε FPR + δ`` and
``1 − FPR ≤ e^ε (1 − TPR) + δ``. With Clopper–Pearson 95 % intervals on the observed rates,

    ε_lb = max( log((TPR_lo − δ) / FPR_hi),  log((1 − FPR_hi − δ) / (1 − TPR_lo)) )

(clipped below at 0) is a lower bound on the mechanism's true ε at 95 % confidence per rate
(Jagielski et al. 2020; Nasr et al. 2021). Both terms take each rate at the end of its interval
that makes the ratio smallest: the second uses ``FPR_hi`` and ``TPR_lo``. (With ``FPR_lo`` and
``TPR_hi`` there, as it is sometimes written, the bound is over-stated: it would certify ε > 0.7
for an attack that never guessed a member right in 5 + 5 trials.) A correct DP method gives
``ε_lb ≤ ε`` up to the confidence level; a broken one — noise disabled while the ledger still
claims ε — gives ``ε_lb`` well above ε when the trials suffice. The most that R trials can
certify (perfect separation) is :func:`max_certifiable_epsilon`, reported as the audit's power.

Design choices:

- **Audit rows**: ``n_rows`` (default 50) rows drawn, stratified and seeded, from the training
  split, with the same public ``n`` in both worlds; per-run settings are small
  (:data:`AUDIT_METHOD_DEFAULTS`): the audit is about the mechanism. With the default batch size
  every row is in every batch (q = 1): no amplification by subsampling to hide behind.
- **Public randomness fixed** (default, for methods that take ``public_seed``, e.g. DP-ZO):
  initial rows, directions and model seeds are the same in every run; Poisson sampling and noise
  are fresh. DP-ZO's privacy argument holds for every fixed value of its public randomness, so
  this is a valid audit against a stronger attacker who knows it — and it removes the run-to-run
  variance that would otherwise hide the canary. With noise disabled, every IN release is then
  identical, every OUT release too, and any canary influence separates them perfectly.
- **Canary** (:func:`craft_canary`): a corner of the public domain where the audit rows are not —
  each numeric feature at its bound farther from the rows' mean, binary and categorical
  features at their rarest value, missing where the rows are mostly observed — with the rarer
  label (survival: an event at half the first grid time).
- **Statistic** ``distance`` (default): minus the model-space distance from the canary to the
  nearest released row of its label (continuous, so any influence shows). ``loss``: minus the
  canary's per-example loss under the condensing model trained on the release.
- **Threshold** ``split`` (default): the first ``calibration_fraction`` of the runs (balanced
  IN/OUT) choose the threshold *and direction* maximising the bound; only the remaining runs
  are counted, so the selection does not bias the intervals. ``fixed``: the a-priori threshold
  of ``loss`` (the release's model gives the canary's label probability > 1/2) on all runs.
- **DCR**: distance to closest record, in model space, of every released row to the run's
  training rows and to an equally large held-out set; medians over all released rows and runs.
  Releases much closer to training rows than to held-out rows would be copying patients.
"""

from __future__ import annotations

import inspect
import math
import time as _time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import beta as _beta

from dpcondense.data import Dataset, from_frame, train_test_split
from dpcondense.methods import METHODS, make_method
from dpcondense.models import make_model
from dpcondense.models.base import classification_loss

Statistic = Literal["loss", "distance"]
ThresholdRule = Literal["split", "fixed"]
STATISTICS: tuple[str, ...] = ("loss", "distance")
THRESHOLD_RULES: tuple[str, ...] = ("split", "fixed")

#: Per-run defaults for methods that take them: the audit is about the mechanism, so each run is
#: small (few steps and directions on a few dozen rows); ``--param`` overrides any of them.
AUDIT_METHOD_DEFAULTS: dict[str, Any] = {"steps": 20, "directions": 4, "batch_size": 64}


# ------------------------------------------------------------------------------------ statistics


def clopper_pearson(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided Clopper–Pearson interval for a binomial proportion.

    Parameters
    ----------
    successes, trials : int
        Observed count and number of trials (``0 <= successes <= trials``, ``trials >= 1``).
    confidence : float
        Two-sided coverage, e.g. 0.95 (each side at (1 − confidence) / 2).

    Returns
    -------
    (low, high) : tuple of float
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    alpha = 1.0 - confidence
    lo = 0.0 if successes == 0 else float(_beta.ppf(alpha / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(_beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lo, hi


def epsilon_lower_bound(
    true_positives: int,
    n_members: int,
    false_positives: int,
    n_non_members: int,
    *,
    delta: float,
    confidence: float = 0.95,
) -> float:
    """Lower bound on ε from an attack's counts (Clopper–Pearson on TPR and FPR), ``>= 0``.

    ``max(log((TPR_lo − δ)/FPR_hi), log((1 − FPR_hi − δ)/(1 − TPR_lo)))``, each term only where
    its numerator and denominator are positive.
    """
    tpr_lo, tpr_hi = clopper_pearson(true_positives, n_members, confidence=confidence)
    fpr_lo, fpr_hi = clopper_pearson(false_positives, n_non_members, confidence=confidence)
    bounds = [0.0]
    if tpr_lo - delta > 0 and fpr_hi > 0:
        bounds.append(math.log((tpr_lo - delta) / fpr_hi))
    # conservative on both rates: the smallest plausible numerator over the largest denominator
    if 1 - fpr_hi - delta > 0 and 1 - tpr_lo > 0:
        bounds.append(math.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
    return max(bounds)


def max_certifiable_epsilon(n_members: int, n_non_members: int, *, delta: float, confidence: float = 0.95) -> float:
    """The bound a perfect attack would certify with these trial counts (the audit's power)."""
    return epsilon_lower_bound(n_members, n_members, 0, n_non_members, delta=delta, confidence=confidence)


def distance_to_closest(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row to its nearest reference row (model space)."""
    rows = np.asarray(rows, dtype=float)
    reference = np.asarray(reference, dtype=float)
    d2 = (rows**2).sum(1)[:, None] + (reference**2).sum(1)[None, :] - 2.0 * rows @ reference.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0))


# ------------------------------------------------------------------------------------ the canary


def craft_canary(dataset: Dataset, *, corner: Literal["far", "other_class"] = "far") -> pd.DataFrame:
    """One raw row at a corner of the public domain, with the rarer label (survival: an early event).

    ``corner="far"``: each numeric feature at the bound farther from the audit rows' mean, each
    binary feature at its minority value, each categorical feature at its rarest category, and
    missing where the audit rows are mostly observed — the directions the audit rows barely use,
    so only the canary itself can teach the model what happens there. ``corner="other_class"``:
    each feature on the side of the other class (survival: of the longer survivors).
    The auditor may look at the audit rows; nothing here is released.
    """
    schema = dataset.schema
    X = dataset.encoded()
    slices = dataset.encoder().feature_slices()
    if dataset.task == "classification":
        label = int(np.mean(dataset.y) < 0.5)  # the rarer class
        toward = dataset.y != label
    else:
        label = None
        toward = dataset.time > np.median(dataset.time)  # long survivors: low hazard
    away = ~toward
    values: dict[str, Any] = {}
    for f in schema.features:
        block = X[:, slices[f.name]]
        if corner == "far":
            if f.missing.indicator and block[:, -1].mean() < 0.5:
                values[f.name] = None  # missing: its indicator is a direction the rows rarely use
                continue
            diff = -block.mean(axis=0)  # toward the side the rows are not on
            if f.type == "binary":
                diff = 0.5 - block.mean(axis=0)
        else:
            diff = block[toward].mean(axis=0) - block[away].mean(axis=0) if toward.any() and away.any() else np.zeros(block.shape[1])
        if f.type == "numeric":
            lo, hi = f.bounds  # type: ignore[misc]
            values[f.name] = hi if diff[0] >= 0 else lo
        elif f.type == "binary":
            values[f.name] = 1.0 if diff[0] >= 0 else 0.0
        else:
            cats = list(f.categories or ())
            values[f.name] = cats[int(np.argmax(diff[: len(cats)]))]
    frame = pd.DataFrame(
        {
            f.name: pd.Series([values[f.name]], dtype=object)
            if f.type == "categorical"
            else pd.Series([np.nan if values[f.name] is None else float(values[f.name])], dtype=float)
            for f in schema.features
        }
    )
    out = schema.outcome
    if dataset.task == "classification":
        frame[out.label] = out.positive if label == 1 else out.negative
    else:
        frame[out.time] = float(out.time_grid()[0]) / 2.0
        frame[out.event] = 1
    return frame


def _with_canary(dataset: Dataset, canary: pd.DataFrame) -> Dataset:
    frame = pd.concat([dataset.to_frame(), canary], ignore_index=True)
    return from_frame(frame, dataset.schema, source="audit data + canary")


def _canary_arrays(canary_ds: Dataset) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    X = canary_ds.encoded()
    if canary_ds.task == "classification":
        return X, {"y": canary_ds.y}
    return X, {"time": canary_ds.time, "event": canary_ds.event}


def canary_score(
    release: Any,
    canary_X: np.ndarray,
    canary_targets: dict[str, np.ndarray],
    *,
    task: str,
    statistic: Statistic,
    model: str,
    model_params: dict[str, Any] | None = None,
    grid: np.ndarray | None = None,
) -> float:
    """Membership score of the canary for one release (higher = "the canary was in").

    ``release`` is a :class:`~dpcondense.methods.base.SyntheticSet` (model space). A release
    that is a model rather than rows (``released_model``, e.g. ``dp_direct``) is scored by the
    canary's loss under that model, whatever ``statistic``.
    """
    released_model = getattr(release, "released_model", None)
    if released_model is not None:
        if task != "classification":
            raise ValueError("auditing a released survival model is not supported")
        p1 = released_model.predict_proba(canary_X)[:, 1]
        return -float(classification_loss(p1, canary_targets["y"])[0])
    if statistic == "loss":
        mdl = make_model(model, random_state=0, **(model_params or {}))
        if task == "classification":
            mdl.fit(release.X, release.y, sample_weight=release.weight)
            return -float(mdl.loss(canary_X, canary_targets["y"])[0])
        mdl.fit(release.X, release.time, release.event, sample_weight=release.weight)
        return -float(mdl.loss(canary_X, canary_targets["time"], canary_targets["event"], grid)[0])
    rows = release.X
    if task == "classification":
        same = np.asarray(release.y) == int(canary_targets["y"][0])
        rows = rows[same] if same.any() else rows
    return -float(distance_to_closest(canary_X, rows)[0])


def fixed_threshold(statistic: Statistic, task: str) -> float:
    """The a-priori threshold of a statistic (``fixed`` rule)."""
    if statistic == "loss" and task == "classification":
        return -math.log(2.0)  # the canary's label has probability > 1/2
    raise ValueError(
        f"threshold='fixed' is defined for statistic='loss' on classification data only; use threshold='split'"
    )


def guesses(scores: np.ndarray, threshold: float, direction: int) -> np.ndarray:
    """Guess "member" where ``direction * (score - threshold) > 0`` (direction +1 or -1)."""
    return direction * (np.asarray(scores) - threshold) > 0


def choose_threshold(
    scores: np.ndarray, members: np.ndarray, *, delta: float, confidence: float = 0.95
) -> tuple[float, int]:
    """Threshold and direction maximising the ε lower bound on the (calibration) trials.

    Both directions are tried (a statistic may turn out to rank members low); whichever wins is
    then applied unchanged to the evaluation trials.
    """
    scores = np.asarray(scores, dtype=float)
    members = np.asarray(members, dtype=bool)
    uniq = np.unique(scores)
    candidates = np.concatenate([[-np.inf], (uniq[:-1] + uniq[1:]) / 2.0, [np.inf]])
    n_in, n_out = int(members.sum()), int((~members).sum())
    best, choice = -np.inf, (float(candidates[0]), 1)
    for direction in (1, -1):
        for t in candidates:
            guess = guesses(scores, t, direction)
            tp, fp = int((guess & members).sum()), int((guess & ~members).sum())
            eps = epsilon_lower_bound(tp, n_in, fp, n_out, delta=delta, confidence=confidence)
            # tie-break on the empirical separation, so an all-zero bound still picks a sensible cut
            value = eps + 1e-6 * (tp / max(n_in, 1) - fp / max(n_out, 1))
            if value > best:
                best, choice = value, (float(t), direction)
    return choice


# ------------------------------------------------------------------------------------ the audit


@dataclass
class AuditResult:
    """Outcome of :func:`run_audit` (``to_dict`` is what ``dpcondense audit --json`` prints)."""

    method: str
    dataset: str
    model: str
    epsilon_claimed: float
    delta: float
    trials: int
    epsilon_lower_bound: float
    max_certifiable_epsilon: float
    statistic: str
    threshold_rule: str
    threshold: float
    threshold_direction: int
    evaluation_trials: int
    true_positives: int
    false_positives: int
    members_evaluated: int
    non_members_evaluated: int
    tpr: float
    fpr: float
    tpr_interval: tuple[float, float]
    fpr_interval: tuple[float, float]
    dcr_train_median: float
    dcr_test_median: float
    audit_rows: int
    public_randomness_fixed: bool
    ledger_label: str
    wall_seconds: float
    seconds_per_trial: float
    canary: dict[str, Any]
    method_params: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    members: list[bool] = field(default_factory=list)

    def to_dict(self, *, with_trials: bool = False) -> dict[str, Any]:
        out = asdict(self)
        out["tpr_interval"] = list(self.tpr_interval)
        out["fpr_interval"] = list(self.fpr_interval)
        out["canary"] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.canary.items()}
        if not with_trials:
            out.pop("scores")
            out.pop("members")
        return out


def _accepted_params(method: str) -> set[str]:
    sig = inspect.signature(METHODS.get(method).__init__)
    return {k for k, p in sig.parameters.items() if p.kind == inspect.Parameter.KEYWORD_ONLY}


def audit_data(dataset: Dataset, *, n_rows: int | None, seed: int) -> tuple[Dataset, Dataset]:
    """The fixed audit training rows (from the training split) and an equally large held-out set.

    Both are stratified, seeded subsamples; ``n_rows=None`` uses the whole training split.
    """
    from sklearn.model_selection import train_test_split as _sk_split

    train, test = train_test_split(dataset, seed=seed)
    if n_rows is not None and n_rows < 4:
        raise ValueError(f"n_rows must be >= 4 (audit training rows), got {n_rows}")
    if n_rows is None or n_rows >= train.n_rows:
        picked = train
    else:
        idx, _ = _sk_split(np.arange(train.n_rows), train_size=n_rows, random_state=seed, stratify=train.strata())
        picked = train.subset(np.sort(idx))
    if picked.n_rows >= test.n_rows:
        return picked, test
    idx, _ = _sk_split(np.arange(test.n_rows), train_size=picked.n_rows, random_state=seed, stratify=test.strata())
    return picked, test.subset(np.sort(idx))


def run_audit(
    *,
    method: str,
    dataset: str | Dataset,
    epsilon: float,
    trials: int,
    delta: float = 1e-5,
    model: str | None = None,
    size: int = 5,
    n_rows: int | None = 50,
    statistic: Statistic = "distance",
    threshold: ThresholdRule = "split",
    calibration_fraction: float = 0.5,
    fix_public_randomness: bool = True,
    corner: Literal["far", "other_class"] = "far",
    seed: int = 0,
    method_params: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    confidence: float = 0.95,
    progress: bool = False,
) -> AuditResult:
    """Canary membership-inference audit of ``method`` at ``epsilon`` over ``trials`` runs.

    Parameters
    ----------
    method : str
        A registered condensation method.
    dataset : str or Dataset
        A built-in dataset name, or a custodian's dataset.
    epsilon, delta : float
        The privacy target each run claims.
    trials : int
        Number of runs R (half of them with the canary).
    model : str, optional
        Condensing model family (default: decision_tree / cox_ph by task).
    size : int
        Synthetic rows per class (classification) / in total (survival).
    n_rows : int or None
        Audit training rows drawn (stratified, seeded) from the training split; None = all.
    statistic : {"distance", "loss"}
        Membership score of a release (see the module docstring).
    threshold : {"split", "fixed"}
        ``split``: choose threshold and direction on the first ``calibration_fraction`` of the
        trials, count only the rest. ``fixed``: the a-priori threshold of ``statistic="loss"``.
    fix_public_randomness : bool
        Hold the public randomness (initial rows, directions, model seeds) fixed across runs
        when the method accepts ``public_seed``; sampling and noise stay fresh in every run.
        DP holds for every fixed value of the public randomness, so this is a valid audit
        against a stronger attacker who knows it. False: fresh ``random_state`` only.
    corner : {"far", "other_class"}
        Where the canary sits (:func:`craft_canary`).
    seed : int
        Seeds the audit rows, the IN/OUT assignment and every run's seeds.
    method_params : dict, optional
        Extra method parameters (override :data:`AUDIT_METHOD_DEFAULTS`).

    Raises
    ------
    ValueError
        An unknown statistic or threshold rule, too few trials, or a bad method parameter.
    PrivacyParameterError
        ``epsilon`` or ``delta`` out of range.
    """
    from dpcondense.datasets import load_dataset
    from dpcondense.privacy import parse_epsilon, validate_privacy_params

    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    if threshold not in THRESHOLD_RULES:
        raise ValueError(f"threshold must be one of {list(THRESHOLD_RULES)}, got {threshold!r}")
    if not 0.0 < calibration_fraction < 1.0:
        raise ValueError(f"calibration_fraction must be in (0, 1), got {calibration_fraction}")
    if isinstance(trials, bool) or int(trials) != trials or trials < 4:
        raise ValueError(f"trials must be an integer >= 4, got {trials}")
    trials = int(trials)
    n_calibration = int(round(calibration_fraction * trials)) if threshold == "split" else 0
    if threshold == "split" and min(n_calibration, trials - n_calibration) < 2:
        raise ValueError(f"trials={trials} is too few to split into calibration and evaluation runs")
    eps = parse_epsilon(epsilon)
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if model is None:
        model = "decision_tree" if ds.task == "classification" else "cox_ph"
    if threshold == "fixed":
        fixed_threshold(statistic, ds.task)  # raises if undefined

    base, holdout = audit_data(ds, n_rows=n_rows, seed=seed)
    n_public = base.n_rows  # the same public n in both worlds: n must not reveal membership
    validate_privacy_params(epsilon=eps, delta=delta, n=n_public + 1)
    canary = craft_canary(base, corner=corner)
    with_canary = _with_canary(base, canary)
    canary_ds = from_frame(canary, ds.schema, source="canary")
    canary_X, canary_targets = _canary_arrays(canary_ds)
    grid = ds.schema.outcome.time_grid() if ds.task == "survival" else None
    X_in, X_out, X_hold = with_canary.encoded(), base.encoded(), holdout.encoded()

    accepted = _accepted_params(method)
    params: dict[str, Any] = {k: v for k, v in AUDIT_METHOD_DEFAULTS.items() if k in accepted}
    if "n_public" in accepted:
        params["n_public"] = n_public
    fixed_public = bool(fix_public_randomness and "public_seed" in accepted)
    if fixed_public:
        params["public_seed"] = int(np.random.SeedSequence([seed, 0xB11C]).generate_state(1)[0])
    params.update(method_params or {})
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"method {method!r} has no parameter(s) {unknown}; its parameters: {sorted(accepted)}")
    if model_params is not None:
        params["model_params"] = model_params

    # balanced IN/OUT inside the calibration and the evaluation trials
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA0D17]))
    parts = [n for n in (n_calibration, trials - n_calibration) if n > 0]
    members = np.concatenate([rng.permutation(np.arange(n) < (n + 1) // 2) for n in parts])
    trial_seeds = np.random.SeedSequence([seed, 0x5EED]).generate_state(trials)

    scores = np.empty(trials)
    dcr_train: list[np.ndarray] = []
    dcr_test: list[np.ndarray] = []
    ledger_label = ""
    t0 = _time.perf_counter()
    iterator: Any = range(trials)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"audit {method} eps={eps:g}", unit="run", leave=False)
    for r in iterator:
        data = with_canary if members[r] else base
        est = make_method(
            method, model=model, size=size, epsilon=eps, delta=delta, random_state=int(trial_seeds[r]), **params
        )
        est.fit(data)
        release = est.synthetic_encoded_
        ledger_label = est.ledger_.label
        scores[r] = canary_score(
            release, canary_X, canary_targets, task=ds.task, statistic=statistic, model=model,
            model_params=model_params, grid=grid,
        )
        if len(release.X):  # a released model has no rows to measure
            dcr_train.append(distance_to_closest(release.X, X_in if members[r] else X_out))
            dcr_test.append(distance_to_closest(release.X, X_hold))
    wall = _time.perf_counter() - t0

    if threshold == "split":
        calib = np.arange(trials) < n_calibration
        thr, direction = choose_threshold(scores[calib], members[calib], delta=delta, confidence=confidence)
        evaluate = ~calib
    else:
        thr, direction = fixed_threshold(statistic, ds.task), 1
        evaluate = np.ones(trials, dtype=bool)
    guess = guesses(scores[evaluate], thr, direction)
    mem = members[evaluate]
    tp, fp = int((guess & mem).sum()), int((guess & ~mem).sum())
    n_in, n_out = int(mem.sum()), int((~mem).sum())
    return AuditResult(
        method=method,
        dataset=ds.name,
        model=model,
        epsilon_claimed=eps,
        delta=float(delta),
        trials=trials,
        epsilon_lower_bound=epsilon_lower_bound(tp, n_in, fp, n_out, delta=delta, confidence=confidence),
        max_certifiable_epsilon=max_certifiable_epsilon(n_in, n_out, delta=delta, confidence=confidence),
        statistic=statistic,
        threshold_rule=threshold,
        threshold=float(thr),
        threshold_direction=int(direction),
        evaluation_trials=int(evaluate.sum()),
        true_positives=tp,
        false_positives=fp,
        members_evaluated=n_in,
        non_members_evaluated=n_out,
        tpr=tp / n_in,
        fpr=fp / n_out,
        tpr_interval=clopper_pearson(tp, n_in, confidence=confidence),
        fpr_interval=clopper_pearson(fp, n_out, confidence=confidence),
        dcr_train_median=float(np.median(np.concatenate(dcr_train))) if dcr_train else math.nan,
        dcr_test_median=float(np.median(np.concatenate(dcr_test))) if dcr_test else math.nan,
        audit_rows=base.n_rows,
        public_randomness_fixed=fixed_public,
        ledger_label=ledger_label,
        wall_seconds=wall,
        seconds_per_trial=wall / trials,
        canary={k: (v.item() if hasattr(v, "item") else v) for k, v in canary.iloc[0].items()},
        method_params=dict(params),
        scores=[float(x) for x in scores],
        members=[bool(m) for m in members],
    )


__all__ = [
    "AuditResult",
    "canary_score",
    "choose_threshold",
    "clopper_pearson",
    "craft_canary",
    "guesses",
    "distance_to_closest",
    "epsilon_lower_bound",
    "max_certifiable_epsilon",
    "run_audit",
]
