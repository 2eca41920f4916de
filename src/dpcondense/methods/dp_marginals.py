"""``dp_marginals``: MST (McKenna, Miklau & Sheldon 2021) on a table discretised with public bins.

Discretisation uses the schema only: each numeric feature gets ``n_bins`` equal-width bins over
its public bounds (integer features with a small range get one bin per value), binary and
categorical features keep their values, a declared missing indicator adds a "missing" cell, and
the outcome is part of the table — the class label, or the event indicator plus the survival
time in ``n_time_bins`` equal-width bins of the public log-time scale.

The mechanism, with ``k`` attributes and budget ρ-zCDP, split in thirds as in MST:

1. all 1-way marginals, Gaussian noise, L2 sensitivity ``√k`` (one patient moves one cell of
   each), noise std ``√k · √(3 / (2ρ))``;
2. a spanning tree of ``k − 1`` attribute pairs chosen by ``k − 1`` exponential mechanisms (each
   ε₀-DP with ε₀ = √(8(ρ/3)/(k − 1)), ε₀²/8-zCDP), scoring a pair by the L1 distance between its
   true 2-way marginal and the one the noisy 1-way marginals predict (sensitivity 1), among the
   pairs that join two components (Kruskal);
3. the ``k − 1`` chosen 2-way marginals, Gaussian noise, sensitivity ``√(k − 1)``, noise std
   ``√(k − 1) · √(3 / (2ρ))``.

The three compose to ρ-zCDP. ρ is the largest whose tight conversion to (ε, δ)-DP (Canonne,
Kamath & Steinke 2020, Prop. 12),
``ε(ρ, δ) = inf over α > 1 of ρα + (ln(1/δ) − ln α)/(α − 1) + ln(1 − 1/α)``, is at most the
target ε (:func:`~dpcondense.privacy.accounting.epsilon_to_zcdp`). It is larger than the
inverse of the classical bound ``ε = ρ + 2√(ρ ln(1/δ))`` (Bun & Steinke 2016, Prop. 1.3), so
the same (ε, δ) buys less noise. The ledger has one entry: the zCDP event with that ρ
(``zcdp_event(rho)``) at its tight ε.

Estimation (post-processing) differs from MST's Private-PGM step, which needs jax: because the
measured graph is a tree, a tree-structured distribution is fitted in closed form. Each
attribute's 1-way marginal is the inverse-variance average of its own measurement and the row
sums of its measured pairs, clipped and normalised; each pair table is clipped and fitted to
those marginals by iterative proportional fitting. Rows are then sampled ancestrally from the
tree rooted at the outcome: ``size`` rows per class (classification, balanced as in DP-ZO) or
``size`` rows split by the estimated event share (survival); ``n_samples="large"`` draws the
public training-set size (or, when it is not public, the estimated row count) from the joint,
outcome included. Bins decode to values drawn uniformly inside the bin (public randomness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.methods._baseline import LogTimeScale, allocate, parse_budget, seed_sequence
from dpcondense.methods.base import CondensationMethod, SyntheticSet, register_method
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger
from dpcondense.privacy.accounting import epsilon_to_zcdp, zcdp_to_epsilon
from dpcondense.privacy.composition import zcdp_event
from dpcondense.data.schema import Feature, Schema

#: the outcome attribute every sample is rooted at
LABEL, EVENT, TIME = "__label__", "__event__", "__time__"


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose ρ-zCDP guarantee converts to (ε, δ)-DP by the tight conversion.

    :func:`~dpcondense.privacy.accounting.epsilon_to_zcdp` (Canonne, Kamath & Steinke 2020,
    Prop. 12); ``inf`` for ``epsilon = inf``.
    """
    return math.inf if math.isinf(epsilon) else epsilon_to_zcdp(epsilon, delta)


@dataclass
class _Attribute:
    """One column of the discretised table; its cells come from the schema alone."""

    name: str
    kind: Literal["numeric", "binary", "categorical", "label", "event", "time"]
    n_cells: int
    feature: Feature | None = None
    edges: np.ndarray | None = None  # numeric / time: bin edges (public)
    integer_values: np.ndarray | None = None  # small-range integer numeric: one cell per value
    missing_cell: int | None = None  # cell index of "missing" when an indicator is declared
    categories: list[Any] = field(default_factory=list)


def public_attributes(schema: Schema, n_bins: int, n_time_bins: int) -> list[_Attribute]:
    """The discretised table's attributes (features, then the outcome) from the schema only."""
    attrs: list[_Attribute] = []
    for f in schema.features:
        extra = 1 if f.missing.indicator else 0
        if f.type == "numeric":
            lo, hi = f.bounds  # type: ignore[misc]
            if f.integer and float(hi).is_integer() and float(lo).is_integer() and hi - lo + 1 <= n_bins:
                values = np.arange(int(lo), int(hi) + 1, dtype=float)
                attrs.append(_Attribute(f.name, "numeric", len(values) + extra, f, integer_values=values))
            else:
                attrs.append(_Attribute(f.name, "numeric", n_bins + extra, f, edges=np.linspace(lo, hi, n_bins + 1)))
            if extra:
                attrs[-1].missing_cell = attrs[-1].n_cells - 1
        elif f.type == "binary":
            attrs.append(_Attribute(f.name, "binary", 2 + extra, f, missing_cell=2 if extra else None))
        else:
            cats = list(f.categories or ())
            attrs.append(
                _Attribute(f.name, "categorical", len(cats) + extra, f, missing_cell=len(cats) if extra else None, categories=cats)
            )
    if schema.task == "classification":
        attrs.append(_Attribute(LABEL, "label", 2))
    else:
        attrs.append(_Attribute(EVENT, "event", 2))
        attrs.append(_Attribute(TIME, "time", n_time_bins, edges=np.linspace(-1.0, 1.0, n_time_bins + 1)))
    return attrs


def _bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    n = len(edges) - 1
    unit = (np.clip(values, edges[0], edges[-1]) - edges[0]) / (edges[-1] - edges[0])
    return np.minimum((unit * n).astype(np.int64), n - 1)


def discretise(dataset: Dataset, attrs: list[_Attribute]) -> np.ndarray:
    """Integer-coded table (rows × attributes) of the private dataset, with the public cells."""
    cols = []
    for a in attrs:
        if a.kind == "label":
            cols.append(np.asarray(dataset.y, dtype=np.int64))
            continue
        if a.kind == "event":
            cols.append(np.asarray(dataset.event, dtype=np.int64))
            continue
        if a.kind == "time":
            cols.append(_bin(LogTimeScale(dataset.schema).encode(dataset.time), a.edges))
            continue
        f = a.feature
        raw = dataset.features[f.name]
        missing = raw.isna().to_numpy()
        if a.kind == "categorical":
            lookup = {str(c): j for j, c in enumerate(a.categories)}
            fill = lookup.get(str(f.missing.fill), 0) if f.missing.fill is not None else 0
            code = np.array([fill if m else lookup[str(v)] for v, m in zip(raw.to_numpy(dtype=object), missing)], dtype=np.int64)
        else:
            x = raw.to_numpy(dtype=float, na_value=np.nan)
            if a.kind == "binary":
                fill = 0.0 if f.missing.fill is None else float(f.missing.fill)
                code = np.where(missing, fill, x).round().astype(np.int64)
            else:
                lo, hi = f.bounds  # type: ignore[misc]
                fill = float(f.missing.fill) if f.missing.fill is not None else (lo + hi) / 2.0
                x = np.clip(np.where(missing, fill, x), lo, hi)
                if a.integer_values is not None:
                    code = (np.round(x) - lo).astype(np.int64)
                else:
                    code = _bin(x, a.edges)
        if a.missing_cell is not None:
            code = np.where(missing, a.missing_cell, code)
        cols.append(code)
    return np.column_stack(cols)


def _marginal(table: np.ndarray, cols: tuple[int, ...], dims: np.ndarray) -> np.ndarray:
    shape = tuple(int(dims[c]) for c in cols)
    flat = np.ravel_multi_index(tuple(table[:, c] for c in cols), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(float)


@register_method("dp_marginals")
class DPMarginals(CondensationMethod):
    """MST on public bins; sample ``size`` rows per class (or a large sample) from the fitted tree.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
        ``epsilon = inf`` measures exact marginals and picks the best tree (non-private).
    n_bins : int, default=8
        Equal-width bins per numeric feature over its public bounds.
    n_time_bins : int, default=8
        Survival: bins of the public log-time scale.
    n_samples : "size", "large" or int, default="size"
        ``size``: the DP-ZO size (``size`` rows per class / ``size`` rows); ``large``: the public
        training-set size (the estimated row count when it is not public), outcome drawn from the
        model; an int: that many rows drawn from the model.
    ipf_iterations : int, default=50
        Iterative proportional fitting sweeps per measured pair.

    Attributes
    ----------
    rho_ : float
        The zCDP budget (the tight conversion's inverse at the target (ε, δ)).
    noise_std_ : dict
        ``one_way`` / ``two_way`` Gaussian noise std per cell.
    sensitivity_ : dict
        ``one_way`` = √k and ``two_way`` = √(k − 1) (L2), ``selection`` = 1 (score).
    selection_epsilon_ : float
        ε₀ of each exponential mechanism round.
    tree_ : list of (str, str)
        The selected attribute pairs.
    """

    label = "MST"

    private = True
    version = 2
    param_specs = {
        "n_bins": ParamSpec(int, low=2, doc="equal-width bins per numeric feature"),
        "n_time_bins": ParamSpec(int, low=2, doc="survival: bins of the log-time scale"),
        "n_samples": ParamSpec(int, low=1, choices=("size", "large"), doc="rows drawn from the fitted model"),
        "ipf_iterations": ParamSpec(int, low=1, doc="iterative proportional fitting sweeps per pair"),
    }

    def __init__(
        self,
        *,
        n_bins: int = 8,
        n_time_bins: int = 8,
        n_samples: Literal["size", "large"] | int = "size",
        ipf_iterations: int = 50,
    ) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.n_time_bins = n_time_bins
        self.n_samples = n_samples
        self.ipf_iterations = ipf_iterations

    def _validate(self) -> None:
        for name in ("n_bins", "n_time_bins", "ipf_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (1 if name == "ipf_iterations" else 2):
                raise ValueError(f"{name} must be an integer >= {1 if name == 'ipf_iterations' else 2}, got {value!r}")
        ns = self.n_samples
        if not (ns in ("size", "large") or (isinstance(ns, (int, np.integer)) and not isinstance(ns, bool) and ns >= 1)):
            raise ValueError(f"n_samples must be 'size', 'large' or an integer >= 1, got {ns!r}")
        if int(self.size) < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")

    def _fit(self, dataset: Dataset) -> "DPMarginals":
        self._validate()
        eps = parse_budget(self.epsilon)
        schema = dataset.schema
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public)
        noise_seed, sample_seed = seed_sequence(self.random_state).spawn(2)
        # rows are drawn from the released marginals: post-processing, public randomness
        rng_noise, rng_sample = self._noise_rng(noise_seed), np.random.default_rng(sample_seed)

        attrs = public_attributes(schema, int(self.n_bins), int(self.n_time_bins))
        dims = np.array([a.n_cells for a in attrs])
        k = len(attrs)
        rho = zcdp_rho(eps, self.delta)
        private_run = math.isfinite(rho)
        noise_multiplier = math.sqrt(3.0 / (2.0 * rho)) if private_run else 0.0
        sens_one, sens_two = math.sqrt(k), math.sqrt(k - 1)
        sigma_one, sigma_two = noise_multiplier * sens_one, noise_multiplier * sens_two
        selection_eps = math.sqrt(8.0 * (rho / 3.0) / (k - 1)) if private_run else math.inf

        # --- the only block that reads real rows: the three MST measurements ----------------
        table = discretise(dataset, attrs)
        one_way = [_marginal(table, (i,), dims) + rng_noise.normal(0.0, sigma_one, dims[i]) for i in range(k)]
        est = [_normalise(y) for y in one_way]
        total = max(float(np.mean([y.sum() for y in one_way])), 1.0)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        score = {(i, j): float(np.abs(_marginal(table, (i, j), dims) - total * np.outer(est[i], est[j])).sum()) for i, j in pairs}
        tree = _select_tree(k, pairs, score, selection_eps, rng_noise)
        two_way = {e: _marginal(table, e, dims) + rng_noise.normal(0.0, sigma_two, (dims[e[0]], dims[e[1]])) for e in tree}
        del table, score
        # --- post-processing of the measurements only ---------------------------------------

        ledger.spend(
            "mst",
            mechanism="mst: gaussian 1-way marginals + exponential-mechanism spanning tree + gaussian 2-way marginals",
            epsilon=zcdp_to_epsilon(rho, self.delta) if private_run else math.inf,
            delta=self.delta if private_run else 0.0,
            noise_multiplier=noise_multiplier,
            sensitivity=sens_one,
            accountant="zcdp",
            event=zcdp_event(rho) if private_run else None,
            rho=rho,
            sigma_one_way=sigma_one,
            sigma_two_way=sigma_two,
            sensitivity_two_way=sens_two,
            selection_epsilon=selection_eps,
            selection_rounds=k - 1,
            n_attributes=k,
        )
        marginals = _consistent_one_way(one_way, two_way, dims, sigma_one, sigma_two)
        conditionals = {e: _ipf(np.clip(y, 0.0, None), marginals[e[0]], marginals[e[1]], int(self.ipf_iterations)) for e, y in two_way.items()}

        root = k - 1 if schema.task == "classification" else k - 2  # the label / the event
        codes = self._sample_codes(dataset, attrs, marginals, conditionals, root, total, rng_sample)
        frame = _decode(codes, attrs, schema, rng_sample)
        self._set_release(_to_synthetic(frame, codes, attrs, schema), schema)

        self.rho_ = rho
        self.noise_std_ = {"one_way": sigma_one, "two_way": sigma_two}
        self.sensitivity_ = {"one_way": sens_one, "two_way": sens_two, "selection": 1.0}
        self.selection_epsilon_ = selection_eps
        self.tree_ = [(attrs[i].name, attrs[j].name) for i, j in tree]
        self.ledger_ = ledger
        return self

    def _sample_codes(self, dataset, attrs, marginals, conditionals, root, total, rng) -> np.ndarray:
        """Ancestral sampling from the tree rooted at the outcome attribute."""
        if self.n_samples == "size":
            if dataset.task == "classification":
                root_counts = np.full(2, int(self.size), dtype=np.int64)
            else:
                root_counts = allocate(int(self.size), marginals[root])
            root_values = np.repeat(np.arange(len(root_counts)), root_counts)
        else:
            n = int(self.n_samples) if self.n_samples != "large" else int(dataset.n_public or round(total))
            root_values = np.sort(_draw(np.tile(marginals[root], (n, 1)), rng))
        codes = np.full((len(root_values), len(attrs)), -1, dtype=np.int64)
        codes[:, root] = root_values
        adjacency: dict[int, list[int]] = {i: [] for i in range(len(attrs))}
        for i, j in conditionals:
            adjacency[i].append(j)
            adjacency[j].append(i)
        order, seen = [root], {root}
        while order:
            parent = order.pop(0)
            for child in sorted(adjacency[parent]):
                if child in seen:
                    continue
                joint = conditionals[(parent, child)] if (parent, child) in conditionals else conditionals[(child, parent)].T
                rows = joint[codes[:, parent]]
                sums = rows.sum(axis=1, keepdims=True)
                probs = np.where(sums > 0, rows / np.where(sums > 0, sums, 1.0), marginals[child])
                codes[:, child] = _draw(probs, rng)
                seen.add(child)
                order.append(child)
        return codes


def _normalise(counts: np.ndarray) -> np.ndarray:
    p = np.clip(counts, 0.0, None)
    return p / p.sum() if p.sum() > 0 else np.full(p.shape, 1.0 / p.size)


def _select_tree(k: int, pairs: list[tuple[int, int]], score: dict, selection_eps: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``k − 1`` exponential-mechanism rounds over the pairs joining two components (Kruskal)."""
    component = list(range(k))

    def find(i: int) -> int:
        while component[i] != i:
            component[i] = component[component[i]]
            i = component[i]
        return i

    tree = []
    for _ in range(k - 1):
        candidates = [e for e in pairs if find(e[0]) != find(e[1])]
        utility = np.array([score[e] for e in candidates])
        if math.isinf(selection_eps):
            pick = int(np.argmax(utility))
        else:  # exponential mechanism, utility sensitivity 1: P ∝ exp(ε₀ u / 2)
            weights = np.exp(selection_eps / 2.0 * (utility - utility.max()))
            pick = int(rng.choice(len(candidates), p=weights / weights.sum()))
        i, j = candidates[pick]
        component[find(i)] = find(j)
        tree.append((i, j))
    return tree


def _consistent_one_way(one_way, two_way, dims, sigma_one, sigma_two) -> list[np.ndarray]:
    """Each attribute's distribution: inverse-variance average of every measurement of it."""
    out = []
    for i, y in enumerate(one_way):
        estimates, weights = [y], [1.0 / max(sigma_one, 1e-12) ** 2]
        for (a, b), table in two_way.items():
            if i in (a, b):
                other = dims[b] if i == a else dims[a]
                estimates.append(table.sum(axis=1) if i == a else table.sum(axis=0))
                weights.append(1.0 / (other * max(sigma_two, 1e-12) ** 2))
        avg = sum(w * e for w, e in zip(weights, estimates)) / sum(weights)
        out.append(_normalise(avg))
    return out


def _ipf(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, iterations: int) -> np.ndarray:
    """A joint with (approximately) the given marginals, closest to ``table`` in the IPF sense."""
    joint = table / table.sum() if table.sum() > 0 else np.outer(rows, cols)
    joint = joint + 1e-6 * np.outer(rows, cols)  # keep every cell the marginals allow reachable
    for _ in range(iterations):
        r = joint.sum(axis=1)
        joint *= np.divide(rows, r, out=np.zeros_like(r), where=r > 0)[:, None]
        c = joint.sum(axis=0)
        joint *= np.divide(cols, c, out=np.zeros_like(c), where=c > 0)[None, :]
    return joint


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of ``probs`` (inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((u[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1)


def _decode(codes: np.ndarray, attrs: list[_Attribute], schema: Schema, rng: np.random.Generator) -> pd.DataFrame:
    """Cells → raw feature values: a uniform draw inside numeric bins, the value otherwise."""
    cols: dict[str, Any] = {}
    for j, a in enumerate(attrs):
        if a.kind in ("label", "event", "time"):
            continue
        c = codes[:, j]
        missing = c == a.missing_cell if a.missing_cell is not None else np.zeros(len(c), bool)
        safe = np.where(missing, 0, c)
        if a.kind == "categorical":
            values = np.array(a.categories, dtype=object)[safe]
            cols[a.name] = pd.Series(np.where(missing, None, values), dtype=object)
            continue
        if a.kind == "binary":
            v = safe.astype(float)
        elif a.integer_values is not None:
            v = a.integer_values[safe]
        else:
            v = rng.uniform(a.edges[safe], a.edges[safe + 1])
            if a.feature.integer:
                v = np.round(v)
            v = np.clip(v, *a.feature.bounds)
        cols[a.name] = pd.Series(np.where(missing, np.nan, v), dtype=float)
    frame = pd.DataFrame(cols)
    if schema.task == "survival":
        t = attrs[-1]
        tau = rng.uniform(t.edges[codes[:, -1]], t.edges[codes[:, -1] + 1])
        frame[schema.outcome.time] = LogTimeScale(schema).decode(tau)
    return frame


def _to_synthetic(frame: pd.DataFrame, codes: np.ndarray, attrs: list[_Attribute], schema: Schema) -> SyntheticSet:
    from dpcondense.data.encoder import Encoder

    X = Encoder(schema).transform(frame[schema.feature_names])
    if schema.task == "classification":
        return SyntheticSet(X=X, y=codes[:, -1])
    return SyntheticSet(X=X, time=frame[schema.outcome.time].to_numpy(), event=codes[:, -2])
