"""``aim``: AIM (McKenna, Mullins, Sheldon & Miklau, VLDB 2022) on MST's public discretisation.

The table is the one ``dp_marginals`` builds from the schema alone
(:func:`~dpcondense.methods.dp_marginals.public_attributes`): equal-width public bins, categories,
a "missing" cell where an indicator is declared, and the outcome as attributes (the class label;
or the event indicator and the survival time in public log-time bins). No budget is spent on it.

The workload ``W`` is every 2-way marginal (``workload="pairs"``), optionally with every 3-way
marginal holding the outcome (``"outcome_triples"``: label × two features, or event × time × one
feature). The candidates are its downward closure, each weighted ``w_r = Σ_{s ∈ W} |r ∩ s|``.

The mechanism, with ``k`` attributes, budget ρ-zCDP, ``T`` = ``rounds`` (16k by default) and
α = 0.9 as in AIM:

1. σ = √(T / (2αρ)), ε = √(8(1 − α)ρ / T); every 1-way marginal is measured with Gaussian noise
   σ (L2 sensitivity 1 each under add/remove-one: ``k / (2σ²)``-zCDP) and a graphical model is
   fitted (:mod:`~dpcondense.methods._pgm`, Private-PGM style).
2. Each round: if what is left, ρ − ρ_used, is below twice a round's cost ``1/(2σ²) + ε²/8``, σ
   and ε are set to spend exactly what is left and this round is the last. The candidates are those already inside a measured clique or whose
   junction tree, with the model's cliques, stays within ``max_model_size · ρ_used / ρ`` MB. One
   is chosen by the exponential mechanism (ε-DP, hence ε²/8-zCDP) with quality
   ``w_r (‖M_r(D) − M_r(p̂)‖₁ − √(2/π) σ n_r)`` (sensitivity ``max w_r``: a patient moves
   ``‖M_r(D)‖₁``-terms by at most 1), measured with Gaussian noise σ (``1/(2σ²)``-zCDP), and
   the model is refitted. If the fit moved ``M_r`` by at most ``√(2/π) σ n_r`` in L1, σ is
   halved and ε doubled (budget annealing).

The one departure, for run time: at most ``max_rounds`` rounds. In the second half of them, a
round whose cost is below what is left divided by the rounds left gets σ and ε raised (same α
split) to spend that share (pacing), and the round at the cap spends what is left. A run that
AIM finishes within ``max_rounds / 2`` rounds is exactly AIM's.

Adaptive zCDP composition: the rounds add up to exactly ρ. ρ is the largest whose tight
conversion (Canonne, Kamath & Steinke 2020, Prop. 12) meets the target (ε, δ)
(:func:`~dpcondense.methods.dp_marginals.zcdp_rho`); the ledger holds one zCDP entry with that ρ
and every round's σ and ε, so the composition can be recomputed. ``epsilon = inf`` measures
exact marginals, picks the worst-approximated candidate and runs ``min(T, max_rounds)`` rounds.

Generation is post-processing: the final model is refitted (``final_iterations``) and rows are
drawn down its junction tree rooted at the outcome — ``size`` rows per class (balanced), or
``size`` rows split by the model's event share (survival), or ``n_samples="large"`` / an integer
drawn from the joint; cells decode to raw values as in ``dp_marginals``.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods._baseline import allocate, parse_budget, seed_sequence
from dpcondense.methods._pgm import (
    Estimate,
    Measurement,
    draw_rows,
    estimate,
    junction_tree_sizes,
)
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.methods.dp_marginals import (
    _decode,
    _marginal,
    _to_synthetic,
    discretise,
    public_attributes,
    zcdp_rho,
)
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger
from dpcondense.privacy.accounting import zcdp_to_epsilon
from dpcondense.privacy.composition import zcdp_event

#: AIM's share of each round's budget spent on the measurement (the rest selects)
ALPHA = 0.9
#: bytes per model cell, for the size limit in MB (float64, as in AIM)
CELL_BYTES = 8
WORKLOADS = ("pairs", "outcome_triples")


def workload(k: int, outcome: tuple[int, ...], kind: str) -> list[tuple[int, ...]]:
    """The workload's attribute sets: all pairs (+ the 3-way marginals holding the outcome)."""
    out = list(itertools.combinations(range(k), 2))
    if kind == "outcome_triples":
        features = [i for i in range(k) if i not in outcome]
        if len(outcome) == 1:
            out += [tuple(sorted((*outcome, a, b))) for a, b in itertools.combinations(features, 2)]
        else:
            out += [tuple(sorted((*outcome, a))) for a in features]
    return out


def candidates(work: list[tuple[int, ...]]) -> dict[tuple[int, ...], float]:
    """The downward closure of the workload, each set weighted ``Σ_{s ∈ W} |r ∩ s|``."""
    closure = {sub for s in work for n in range(1, len(s) + 1) for sub in itertools.combinations(s, n)}
    return {r: float(sum(len(set(r) & set(s)) for s in work)) for r in sorted(closure, key=lambda r: (len(r), r))}


def exponential_mechanism(quality: np.ndarray, epsilon: float, sensitivity: float, rng: np.random.Generator) -> int:
    """Index drawn with probability ∝ exp(ε q / (2Δ)) (argmax when ε = inf)."""
    if math.isinf(epsilon):
        return int(np.argmax(quality))
    logits = epsilon / (2.0 * sensitivity) * (quality - quality.max())
    p = np.exp(logits)
    return int(rng.choice(len(p), p=p / p.sum()))


@register_method("aim")
class AIM(CondensationMethod):
    """AIM on public bins; sample ``size`` rows per class (or a large sample) from the fitted model.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
    n_bins, n_time_bins, n_samples
        As in :class:`~dpcondense.methods.dp_marginals.DPMarginals`.
    workload : {"pairs", "outcome_triples"}, default="pairs"
        All 2-way marginals, or those plus every 3-way marginal holding the outcome.
    rounds : int or None, default=None
        AIM's ``T``: the initial σ and ε are set as if ``T`` rounds were run (``None``: 16 × the
        number of attributes, as in AIM); at least the number of attributes.
    max_rounds : int, default=60
        Cap on the select–measure rounds (run time); in their second half the budget left is
        paced over the rounds left (see the module docstring).
    max_model_size : float, default=1.0
        Junction-tree size limit in MB (8-byte cells), reached at the end of the budget.
    iterations : int, default=50
        Mirror-descent iterations of each round's (warm-started) refit.
    final_iterations : int, default=500
        Mirror-descent iterations of the final refit.

    Attributes
    ----------
    rho_ : float
        The zCDP budget; ``rounds_`` the selection rounds (clique, σ, ε, annealed) after the
        1-way round (σ ``sigma_one_way_``); ``measurements_`` the released noisy marginals;
        ``model_`` the fitted graphical model (post-processing).
    """

    label = "AIM"

    private = True
    version = 1
    param_specs = {
        "n_bins": ParamSpec(int, low=2, doc="equal-width bins per numeric feature"),
        "n_time_bins": ParamSpec(int, low=2, doc="survival: bins of the log-time scale"),
        "n_samples": ParamSpec(int, low=1, choices=("size", "large"), doc="rows drawn from the fitted model"),
        "workload": ParamSpec(str, choices=WORKLOADS, doc="the marginals AIM targets"),
        "rounds": ParamSpec(int, low=1, allow_none=True, doc="AIM's T (None: 16 x attributes)"),
        "max_rounds": ParamSpec(int, low=1, doc="cap on select-measure rounds"),
        "max_model_size": ParamSpec(float, low=0.0, low_open=True, doc="junction-tree size limit in MB"),
        "iterations": ParamSpec(int, low=1, doc="mirror-descent iterations per round"),
        "final_iterations": ParamSpec(int, low=1, doc="mirror-descent iterations of the final fit"),
    }

    def __init__(
        self,
        *,
        n_bins: int = 8,
        n_time_bins: int = 8,
        n_samples: Literal["size", "large"] | int = "size",
        workload: str = "pairs",
        rounds: int | None = None,
        max_rounds: int = 60,
        max_model_size: float = 1.0,
        iterations: int = 50,
        final_iterations: int = 500,
    ) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.n_time_bins = n_time_bins
        self.n_samples = n_samples
        self.workload = workload
        self.rounds = rounds
        self.max_rounds = max_rounds
        self.max_model_size = max_model_size
        self.iterations = iterations
        self.final_iterations = final_iterations

    def _validate(self, k: int) -> None:
        for name, low in (("n_bins", 2), ("n_time_bins", 2), ("max_rounds", 1), ("iterations", 1), ("final_iterations", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        ns = self.n_samples
        if not (ns in ("size", "large") or (isinstance(ns, (int, np.integer)) and not isinstance(ns, bool) and ns >= 1)):
            raise ValueError(f"n_samples must be 'size', 'large' or an integer >= 1, got {ns!r}")
        if self.workload not in WORKLOADS:
            raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, got {self.workload!r}")
        if self.rounds is not None and (isinstance(self.rounds, bool) or not isinstance(self.rounds, (int, np.integer)) or self.rounds < k):
            raise ValueError(f"rounds must be None or an integer >= the number of attributes ({k}), got {self.rounds!r}")
        if not (isinstance(self.max_model_size, (int, float)) and math.isfinite(self.max_model_size) and self.max_model_size > 0):
            raise ValueError(f"max_model_size must be a number > 0 (MB), got {self.max_model_size!r}")
        if int(self.size) < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")

    def _fit(self, dataset: Dataset) -> AIM:
        eps = parse_budget(self.epsilon)
        schema = dataset.schema
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public)
        noise_seed, sample_seed = seed_sequence(self.random_state).spawn(2)
        rng_noise, rng_sample = self._noise_rng(noise_seed), np.random.default_rng(sample_seed)
        attrs = public_attributes(schema, int(self.n_bins), int(self.n_time_bins))
        dims = np.array([a.n_cells for a in attrs])
        k = len(attrs)
        self._validate(k)
        outcome = (k - 1,) if schema.task == "classification" else (k - 2, k - 1)
        weights = candidates(workload(k, outcome, self.workload))
        rho = zcdp_rho(eps, self.delta)

        # --- the only block that reads real rows: the exact answers, used by the mechanisms only
        table = discretise(dataset, attrs)
        answers = {r: _marginal(table, r, dims) for r in weights}
        del table
        fit = self._select_measure(answers, weights, dims, rho, outcome[0], rng_noise)
        del answers
        # --- post-processing of the released measurements and selections only -------------

        private_run = math.isfinite(rho)
        self._record(ledger, rho, private_run, k, attrs)
        fit = estimate(dims, self.measurements_, outcome[0], int(self.final_iterations), warm=fit)
        codes = self._sample_codes(dataset, fit, outcome[0], rng_sample)
        frame = _decode(codes, attrs, schema, rng_sample)
        self._set_release(_to_synthetic(frame, codes, attrs, schema), schema)
        self.model_ = fit.model
        self.rho_ = rho
        self.ledger_ = ledger
        return self

    def _select_measure(self, answers, weights, dims, rho, root, rng) -> Estimate:
        """AIM's rounds (see the module docstring). ``answers`` (private) reach only the mechanisms."""
        k = len(dims)
        T = int(self.rounds) if self.rounds is not None else 16 * k
        private_run = math.isfinite(rho)
        sigma = math.sqrt(T / (2.0 * ALPHA * rho)) if private_run else 0.0
        eps_sel = math.sqrt(8.0 * (1.0 - ALPHA) * rho / T) if private_run else math.inf
        one_way = [r for r in weights if len(r) == 1]
        self.sigma_one_way_ = sigma
        self.measurements_ = [self._measure(r, answers[r], sigma, rng) for r in one_way]
        rho_used = len(one_way) / (2.0 * sigma**2) if private_run else 0.0
        fit = estimate(dims, self.measurements_, root, int(self.iterations))
        self.rounds_: list[dict] = []
        last = False
        while not last:
            paced = False
            if private_run:
                remaining, left = rho - rho_used, int(self.max_rounds) - len(self.rounds_)
                cost = 1.0 / (2.0 * sigma**2) + eps_sel**2 / 8.0
                last = remaining < 2.0 * cost or left <= 1
                paced = not last and 2 * len(self.rounds_) >= int(self.max_rounds) and cost < remaining / left
                if last or paced:  # spend what is left (last round) or pace it over the rounds left
                    spend = remaining if last else remaining / left
                    sigma, eps_sel = math.sqrt(1.0 / (2.0 * ALPHA * spend)), math.sqrt(8.0 * (1.0 - ALPHA) * spend)
                rho_used += eps_sel**2 / 8.0 + 1.0 / (2.0 * sigma**2)
                limit = float(self.max_model_size) * min(rho_used / rho, 1.0)
            else:
                last = len(self.rounds_) + 1 >= min(T, self.max_rounds)
                limit = float(self.max_model_size)
            pool = self._candidate_pool(weights, dims, limit)
            current = self._model_marginals(fit, pool)
            bias = math.sqrt(2.0 / math.pi) * sigma
            quality = np.array([weights[r] * (np.abs(answers[r] - current[r]).sum() - bias * answers[r].size) for r in pool])
            pick = pool[exponential_mechanism(quality, eps_sel, max(weights[r] for r in pool), rng)]
            self.measurements_.append(self._measure(pick, answers[pick], sigma, rng))
            fit = estimate(dims, self.measurements_, root, int(self.iterations), warm=fit)
            moved = float(np.abs(fit.model.marginal(pick) - current[pick]).sum())
            anneal = private_run and not last and moved <= bias * answers[pick].size
            self.rounds_.append({"clique": list(pick), "sigma": sigma, "selection_epsilon": eps_sel, "paced": paced, "annealed": bool(anneal)})
            if anneal:
                sigma, eps_sel = sigma / 2.0, eps_sel * 2.0
        return fit

    def _measure(self, clique, exact, sigma, rng) -> Measurement:
        """The Gaussian mechanism on one marginal (L2 sensitivity 1); exact when σ = 0 (ε = inf)."""
        if sigma == 0.0:
            return Measurement(clique, exact.copy(), 1.0)  # non-private: unit weight in the fit
        return Measurement(clique, exact + rng.normal(0.0, sigma, exact.shape), sigma)

    def _candidate_pool(self, weights, dims, limit_mb: float) -> list[tuple[int, ...]]:
        """Candidates inside a measured clique, or whose junction tree stays within the limit."""
        measured = [m.clique for m in self.measurements_]
        free = {r for r in weights if any(set(r) <= set(c) for c in measured)}
        rest = [r for r in weights if r not in free]
        if rest:
            sizes = junction_tree_sizes(dims, measured, rest) * CELL_BYTES / 2**20
            free |= {r for r, s in zip(rest, sizes) if s <= limit_mb}
        return [r for r in weights if r in free]

    @staticmethod
    def _model_marginals(fit: Estimate, pool) -> dict:
        pairs = fit.model.pair_marginals() if any(len(r) == 2 for r in pool) else {}
        return {r: pairs[r] if len(r) == 2 else fit.model.marginal(r) for r in pool}

    def _record(self, ledger: PrivacyLedger, rho: float, private_run: bool, k: int, attrs) -> None:
        names = [a.name for a in attrs]
        ledger.spend(
            "aim",
            mechanism="aim: gaussian 1-way marginals, then rounds of exponential-mechanism selection + gaussian marginal",
            epsilon=zcdp_to_epsilon(rho, self.delta) if private_run else math.inf,
            delta=self.delta if private_run else 0.0,
            noise_multiplier=self.sigma_one_way_,
            sensitivity=1.0,
            accountant="zcdp",
            event=zcdp_event(rho) if private_run else None,
            rho=rho,
            n_attributes=k,
            one_way_marginals=k,
            sigma_one_way=self.sigma_one_way_,
            rounds=[{**r, "clique": [names[i] for i in r["clique"]]} for r in self.rounds_],
        )

    def _sample_codes(self, dataset: Dataset, fit: Estimate, root: int, rng: np.random.Generator) -> np.ndarray:
        """Rows drawn from the model with the outcome attribute (label / event) fixed first."""
        share = fit.model.marginal((root,))
        if self.n_samples == "size":
            if dataset.task == "classification":
                counts = np.full(2, int(self.size), dtype=np.int64)
            else:
                counts = allocate(int(self.size), share)
            values = np.repeat(np.arange(len(counts)), counts)
        else:
            n = int(self.n_samples) if self.n_samples != "large" else int(dataset.n_public or round(fit.model.total))
            values = np.sort(draw_rows(share[None, :], np.zeros(n, dtype=np.int64), rng))
        return fit.model.sample(values, root, rng)
