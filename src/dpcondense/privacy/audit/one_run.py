"""One-run auditing (Steinke, Nasr & Jagielski 2023): an ε lower bound from many canaries at once.

``m`` canaries are each included independently with probability 1/2. The auditor scores every
canary from the output and guesses IN for the ``k₊`` highest scores and OUT for the ``k₋``
lowest, abstaining on the rest (``r = k₊ + k₋`` guesses). If the output is (ε, δ)-DP with
respect to each canary, the number ``W`` of correct guesses satisfies (their Theorem 5.2)

    P[W ≥ v] ≤ f(v) + 2mδ · max_{i = 1..v} (f(v − i) − f(v)) / i,
    f(v) = P[Binomial(r, e^ε / (1 + e^ε)) ≥ v],

whatever the dependence between the canaries (no group-privacy cost). The lower bound at
confidence ``1 − p`` is the largest ε whose p-value for the observed ``v`` is below ``p``, found
by the bisection of their reference code. Several guess counts may be tried on the same scores
if ``p`` is split between them (Bonferroni), which :func:`one_run_bound` does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binom

#: guess counts r tried by :func:`one_run_bound`, as fractions of the canaries (the top r/2 guessed
#: IN, the bottom r/2 OUT); the confidence is split between them. Few, because each costs
#: confidence and the δ term ``2mδ`` rewards a large excess of correct guesses over few guesses;
#: in simulations of DP-ZO's steps at ε = 1 with the noise halved these three did best
GUESS_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.02)
#: bisection steps of :func:`one_run_epsilon_lower_bound` (the reference code's 30)
_BISECTION_STEPS = 30


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P-value of ``v`` or more correct guesses out of ``r`` among ``m`` canaries under (ε, δ)-DP.

    Parameters
    ----------
    m : int
        Canaries, each included independently with probability 1/2.
    r : int
        Guesses made (abstentions excluded).
    v : int
        Correct guesses.
    epsilon, delta : float
        The null hypothesis: the output is (ε, δ)-DP with respect to each canary.

    Returns
    -------
    float
        The bound of Theorem 5.2 on ``P[W ≥ v]``, capped at 1.
    """
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need epsilon >= 0 and delta in [0, 1], got {epsilon}, {delta}")
    accuracy = 1.0 / (1.0 + math.exp(-epsilon))  # randomized response at ε: the most accurate guesser
    tail = float(binom.sf(v - 1, r, accuracy))  # f(v) = P[Binomial(r, accuracy) >= v]
    alpha = 0.0
    if v > 0 and delta > 0:
        # f(v − i) − f(v) = P[v − i <= Binomial < v], accumulated over i = 1..v
        below = np.cumsum(binom.pmf(np.arange(v - 1, -1, -1), r, accuracy))
        alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(tail + alpha * delta * 2 * m, 1.0)


def one_run_epsilon_lower_bound(m: int, r: int, v: int, *, delta: float, p: float = 0.05) -> float:
    """The largest ε that ``v`` correct guesses out of ``r`` (``m`` canaries) reject at level ``p``.

    The bisection of the reference code: ``ε_min`` is kept with a p-value below ``p``, ``ε_max``
    with one at or above it; returns ``ε_min`` (0 when even ε = 0 is not rejected).
    """
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p}")
    lo, hi = 0.0, 1.0
    while one_run_p_value(m, r, v, hi, delta) < p:
        hi += 1.0
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        if one_run_p_value(m, r, v, mid, delta) < p:
            lo = mid
        else:
            hi = mid
    return lo


def one_run_guesses(scores: np.ndarray, k_pos: int, k_neg: int) -> np.ndarray:
    """Guesses in {+1 (IN), −1 (OUT), 0 (abstain)}: IN for the ``k_pos`` highest scores, OUT for the ``k_neg`` lowest.

    Ties are broken by canary index (fixed before the memberships are drawn, so independent of them).
    """
    scores = np.asarray(scores, dtype=float)
    if k_pos < 0 or k_neg < 0 or k_pos + k_neg > len(scores):
        raise ValueError(f"need k_pos, k_neg >= 0 and k_pos + k_neg <= {len(scores)}, got {k_pos}, {k_neg}")
    order = np.argsort(-scores, kind="stable")
    out = np.zeros(len(scores), dtype=np.int8)
    out[order[:k_pos]] = 1
    if k_neg:
        out[order[len(scores) - k_neg:]] = -1
    return out


@dataclass(frozen=True)
class OneRunBound:
    """The best one-run bound over the guess counts tried, and what a perfect guesser would certify."""

    canaries: int
    members: int
    k_pos: int
    k_neg: int
    guesses: int
    correct: int
    epsilon_lower_bound: float
    max_certifiable_epsilon: float
    confidence: float
    candidates: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _candidates(m: int, fractions: tuple[float, ...]) -> list[tuple[int, int]]:
    """(k₊, k₋) pairs: the top ⌈r/2⌉ guessed IN and the bottom ⌊r/2⌋ OUT, ``r = max(2, f·m)``."""
    out: list[tuple[int, int]] = []
    for f in fractions:
        r = min(m, max(2, round(f * m)))
        pair = (r - r // 2, r // 2)
        if pair not in out:
            out.append(pair)
    return out


def one_run_bound(
    scores: np.ndarray,
    members: np.ndarray,
    *,
    delta: float,
    confidence: float = 0.95,
    fractions: tuple[float, ...] = GUESS_FRACTIONS,
) -> OneRunBound:
    """ε lower bound from canary scores (higher = IN) and their true memberships.

    Each guess count of :func:`_candidates` is tested at level ``(1 − confidence) / #candidates``
    (Bonferroni), so the best of them is a valid bound at ``confidence``.
    """
    scores = np.asarray(scores, dtype=float)
    members = np.asarray(members, dtype=bool)
    m = len(scores)
    if m < 1 or len(members) != m:
        raise ValueError(f"need one membership per score and at least one canary, got {m} and {len(members)}")
    pairs = _candidates(m, fractions)
    level = (1.0 - confidence) / len(pairs)
    truth = np.where(members, 1, -1)
    best: tuple[float, int, int, int] = (-1.0, 0, 0, 0)
    ceiling = 0.0
    for k_pos, k_neg in pairs:
        guess = one_run_guesses(scores, k_pos, k_neg)
        correct = int((guess == truth).sum())
        r = k_pos + k_neg
        eps = one_run_epsilon_lower_bound(m, r, correct, delta=delta, p=level)
        if eps > best[0]:
            best = (eps, k_pos, k_neg, correct)
        ceiling = max(ceiling, one_run_epsilon_lower_bound(m, r, r, delta=delta, p=level))
    eps, k_pos, k_neg, correct = best
    return OneRunBound(
        canaries=m, members=int(members.sum()), k_pos=k_pos, k_neg=k_neg, guesses=k_pos + k_neg, correct=correct,
        epsilon_lower_bound=eps, max_certifiable_epsilon=ceiling, confidence=confidence, candidates=len(pairs),
    )
