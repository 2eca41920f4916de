"""``dp_merf``: DP-MERF — differentially private mean embeddings with random features, and a
generator trained to match them (Harder, Adamczewski & Park, AISTATS 2021).

Rows are model-space features (survival: plus the scaled log-time column of
:class:`~dpcondense.methods._baseline.LogTimeScale`); the label ``y`` is the class, or the event
indicator for survival. A fixed random Fourier feature map with ``D`` features (``D/2``
frequencies ``ω_k ~ N(0, I / lengthscale²)`` drawn from public randomness),

    ``φ(x) = [cos(ω_k·x), sin(ω_k·x)]_k / √(D/2)``,

approximates the Gaussian kernel ``exp(−‖x − x'‖² / (2 lengthscale²))`` and has
``‖φ(x)‖₂ = 1`` for every ``x`` (``cos² + sin² = 1``): no clipping, no data-dependent bound. The
joint feature of a patient is the outer product ``φ(x) ⊗ onehot(y)`` (a ``D × 2`` matrix), whose
L2 (Frobenius) norm is ``‖φ(x)‖ · ‖onehot(y)‖ = 1`` exactly. Under add/remove-one adjacency:

===============  ==================================  ===============
release          statistic                           L2 sensitivity
===============  ==================================  ===============
``counts``       ``n_c`` for c ∈ {0, 1}              1
``embeddings``   ``Σ_i φ(x_i) ⊗ onehot(y_i)``        1
===============  ==================================  ===============

Both are Gaussian releases. As in DP-MERF's tabular code, the class counts are a separate noisy
release (DP-MERF privatises its label "weights" that way) rather than read off the embedding;
the two are calibrated jointly (:func:`~dpcondense.methods._baseline.plan_gaussian_releases`:
the budget shares fix the ratio of their noise, one common scale makes their composition
exactly (ε, δ)-DP) and the ledger composes them with privacy loss distributions
(``composition="pld"``). These two releases are the only reads of real rows.

Everything after is post-processing. The noisy class proportions ``w`` weight the labels as in
DP-MERF's tabular code (label feature ``onehot(y) / w_y``), so the target's class-``c`` column is
the noisy class mean embedding ``S̃_c / ñ_c``. A generator ``G(z, y)`` — an MLP (hidden widths
``4p, 2p`` by default, as DP-MERF's tabular generator, ReLU, no batch norm) on a public code
``z ~ N(0, I)`` and ``onehot(y)`` — maps into the public box: ``lower + (upper − lower) ·
sigmoid`` per column, a softmax over each categorical one-hot block. Adam minimises
``‖ target − (1/B) Σ_j φ(G(z_j, y_j)) ⊗ onehot(y_j) / w̄_{y_j} ‖²`` over fresh batches of ``B``
codes whose labels follow the noisy proportions (largest remainder; ``w̄`` their realised shares).
The release draws new codes: ``size`` rows per class (classification, balanced) or ``size`` rows
split by the noisy event share (survival); ``n_samples="large"`` draws the public training-set
size (the noisy total when it is not public) and an integer that many rows, labels in the noisy
proportions. Soft outputs decode as every release does (binary by threshold, categorical by
argmax).

How it differs from ``dp_dm`` (same idea, distribution matching against one noisy random-feature
embedding): ``dp_dm`` uses ``√(2/D) cos(ωx + b)`` features, whose norm varies (≤ √2) and is
clipped, and it optimises the synthetic rows themselves, one fixed set of ``size`` rows per
stratum, projected onto the box. ``dp_merf`` uses cos/sin pairs of exactly unit norm (the
sensitivity is 1 with no clipping) and trains a generator network whose output is squashed into
the box; the release is sampled from it, so any number of rows — the condensed size or the
natural size — comes from the same fit.

Departures from the reference code, each for a stated reason: the lengthscale is public (its
median heuristic reads data rows); the generator has no batch norm (a release of a few rows
would be normalised by its own batch); each batch's labels are allocated in the noisy
proportions rather than drawn (less variance, same target); the two releases share the budget
by a joint PLD calibration rather than equal noise under a generic composition (less noise);
numeric outputs are squashed into their public bounds rather than left unbounded.

Randomness: the noise from ``self._noise_rng``; the frequencies from a seeded numpy generator;
the generator's initial weights and every code ``z`` from a seeded ``torch.Generator`` (never
torch's global generator), in float32 on one CPU thread, so the same seed (and seeded noise)
gives a bit-identical release.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods._baseline import (
    allocate,
    gaussian_releases,
    model_box,
    parse_budget,
    plan_gaussian_releases,
    release_from_rows,
    seed_sequence,
    strata_and_rows,
    synthetic_sizes,
)
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger

RELEASES = ("counts", "embeddings")
#: the most (step × batch row × random feature) products one fit may make: the defaults make
#: 1.25·10^8 (about 3 s of CPU); 2·10^10 is about 8 minutes
MAX_TRAINING_WORK = 2 * 10**10
DEFAULT_SHARES = {"counts": 0.1, "embeddings": 0.9}


def fourier_features(z: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """``φ(z) = [cos(z ωᵀ), sin(z ωᵀ)] / √(D/2)`` for each row (numpy; the release path).

    ``freqs`` holds the ``D/2`` frequencies as rows; every output row has L2 norm 1.
    """
    proj = np.asarray(z, dtype=float) @ freqs.T
    return np.hstack([np.cos(proj), np.sin(proj)]) / math.sqrt(freqs.shape[0])


def embedding_sum(rows: np.ndarray, strata: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """``Σ_i φ(x_i) ⊗ onehot(y_i)``: the ``D × 2`` statistic the Gaussian mechanism releases."""
    phi = fourier_features(rows, freqs)
    onehot = np.eye(2)[np.asarray(strata, dtype=np.int64)]
    return phi.T @ onehot


def output_groups(dataset: Dataset) -> list[tuple[int, int]]:
    """Model-space column ranges ``[start, stop)`` of the categorical one-hot blocks (from the schema)."""
    groups = []
    slices = dataset.encoder().feature_slices()
    for f in dataset.schema.features:
        if f.type == "categorical":
            start = slices[f.name].start
            groups.append((start, start + len(f.categories or ())))
    return groups


@register_method("dp_merf")
class DPMERF(CondensationMethod):
    """A generator trained to match a DP random-feature mean embedding of (row, label) pairs.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
        ``epsilon = inf`` matches the exact embedding (no noise; the ledger says non-private).
    n_features : int, default=500
        Random Fourier features D (even: D/2 frequencies, each a cos/sin pair).
    lengthscale : float, optional
        Gaussian kernel lengthscale in model-space units; default ``0.5 · √p`` for ``p`` modelled
        columns (public; DP-MERF's median heuristic would read the data).
    budget_shares : dict, default={"counts": 0.1, "embeddings": 0.9}
        Relative shares of (ε, δ) of the two releases: they set the ratio of their noise, then
        scaled jointly to the whole budget (DP-MERF's code used equal noise for both).
    code_dim : int, default=10
        Dimension of the generator's Gaussian code ``z`` (DP-MERF's tabular generator: 10).
    hidden : list of int, optional
        Hidden layer widths of the generator; default ``[4p, 2p]`` as DP-MERF's tabular one.
    steps : int, default=1000
        Adam steps, each on a fresh batch of generated rows.
    batch_size : int, default=250
        Generated rows per step.
    lr : float, default=0.01
        Adam step size (DP-MERF's).
    n_samples : "size", "large" or int, default="size"
        ``size``: ``size`` rows per class (classification) / ``size`` rows (survival);
        ``large``: the public training-set size (the noisy total when not public); an int:
        that many rows. Labels of ``large`` and int follow the noisy proportions.

    Attributes
    ----------
    noise_std_, sensitivity_ : dict of str to float
        Gaussian noise std and L2 sensitivity of each release.
    noisy_counts_, noisy_embedding_ : ndarray
        The two releases (the embedding is the noisy ``D × 2`` sum).
    frequencies_ : ndarray
        The ``D/2 × p`` random frequencies (public randomness).
    lengthscale_ : float
    matching_loss_ : list of float
        The MMD-RF objective per step (computed from released values only).
    """

    private = True
    version = 1
    label = "DP-MERF"
    param_specs = {
        "n_features": ParamSpec(int, low=2, doc="random Fourier features D (even)"),
        "lengthscale": ParamSpec(float, low=0.0, low_open=True, allow_none=True, doc="kernel lengthscale (null: 0.5*sqrt(columns))"),
        "budget_shares": ParamSpec(
            dict, keys=RELEASES, item=ParamSpec(float, low=0.0, low_open=True), allow_none=True,
            doc="relative shares of the budget of the releases",
        ),
        "code_dim": ParamSpec(int, low=1, doc="dimension of the generator's code"),
        "hidden": ParamSpec(list, low=1, item=ParamSpec(int, low=1), allow_none=True, doc="generator hidden widths (null: [4p, 2p])"),
        "steps": ParamSpec(int, low=0, doc="Adam steps on the generator"),
        "batch_size": ParamSpec(int, low=1, doc="generated rows per step"),
        "lr": ParamSpec(float, low=0.0, low_open=True, doc="Adam step size"),
        "n_samples": ParamSpec(int, low=1, choices=("size", "large"), doc="rows drawn from the generator"),
    }

    def __init__(
        self,
        *,
        n_features: int = 500,
        lengthscale: float | None = None,
        budget_shares: dict[str, float] | None = None,
        code_dim: int = 10,
        hidden: list[int] | None = None,
        steps: int = 1000,
        batch_size: int = 250,
        lr: float = 0.01,
        n_samples: Literal["size", "large"] | int = "size",
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.lengthscale = lengthscale
        self.budget_shares = budget_shares
        self.code_dim = code_dim
        self.hidden = hidden
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.n_samples = n_samples

    @classmethod
    def check_run(cls, params: dict[str, Any], *, task: str, epsilon: float) -> None:
        """Refuse what ``fit`` would refuse (odd D, wrong shares) and runaway training work."""
        cls(**params)._validate()

    def _validate(self) -> dict[str, float]:
        """Check the hyperparameters; return the budget shares."""
        ints = {"n_features": 2, "code_dim": 1, "steps": 0, "batch_size": 1}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.n_features % 2:
            raise ValueError(f"n_features must be even (cos/sin pairs), got {self.n_features}")
        for name in ("lr",) + (("lengthscale",) if self.lengthscale is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.hidden is not None and not (
            isinstance(self.hidden, (list, tuple)) and self.hidden
            and all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in self.hidden)
        ):
            raise ValueError(f"hidden must be a non-empty list of integers >= 1 or null, got {self.hidden!r}")
        ns = self.n_samples
        if not (ns in ("size", "large") or (isinstance(ns, (int, np.integer)) and not isinstance(ns, bool) and ns >= 1)):
            raise ValueError(f"n_samples must be 'size', 'large' or an integer >= 1, got {ns!r}")
        work = int(self.steps) * int(self.batch_size) * int(self.n_features)
        if work > MAX_TRAINING_WORK:
            raise ValueError(
                f"steps={self.steps}, batch_size={self.batch_size}, n_features={self.n_features}: {work:,} "
                f"feature updates (steps × batch_size × n_features), more than the {MAX_TRAINING_WORK:,} a run may make; lower one of them"
            )
        shares = dict(self.budget_shares or DEFAULT_SHARES)
        if set(shares) != set(RELEASES):
            raise ValueError(f"budget_shares must have exactly the keys {list(RELEASES)}, got {sorted(shares)}")
        return shares

    def _fit(self, dataset: Dataset) -> "DPMERF":
        shares = self._validate()
        eps = parse_budget(self.epsilon)
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public, composition="pld")
        public_seed, noise_seed, torch_seed = seed_sequence(self.random_state).spawn(3)
        rng_public, rng_noise = np.random.default_rng(public_seed), self._noise_rng(noise_seed)

        lower, upper = model_box(dataset)
        p, D = lower.size, int(self.n_features)
        lengthscale = float(self.lengthscale) if self.lengthscale is not None else 0.5 * math.sqrt(p)
        freqs = rng_public.normal(0.0, 1.0 / lengthscale, size=(D // 2, p))
        sensitivity = {"counts": 1.0, "embeddings": 1.0}
        plan = plan_gaussian_releases(eps, self.delta, {k: shares[k] for k in RELEASES}, sensitivity)

        # --- the only block that reads real rows: two Gaussian releases --------------------
        strata, rows = strata_and_rows(dataset)
        exact = {
            "counts": np.bincount(strata, minlength=2).astype(float),
            "embeddings": embedding_sum(np.clip(rows, lower, upper), strata, freqs),
        }
        noisy, self.noise_std_ = gaussian_releases(
            exact, plan, sensitivity, rng_noise, ledger, "dp_merf", n_features=D, lengthscale=lengthscale
        )
        del exact, rows, strata
        # --- post-processing: train the generator on the released values -------------------

        counts = np.maximum(noisy["counts"], 1.0)
        target = noisy["embeddings"] / counts[None, :]
        hidden = [int(h) for h in self.hidden] if self.hidden is not None else [4 * p, 2 * p]
        trainer = _GeneratorFit(
            lower, upper, output_groups(dataset), freqs, int(self.code_dim), hidden,
            int(torch_seed.generate_state(1, dtype=np.uint64)[0] >> 1),
        )
        batch_labels = np.repeat(np.arange(2), allocate(int(self.batch_size), counts))
        self.matching_loss_ = trainer.train(target, batch_labels, int(self.steps), float(self.lr))
        labels = np.repeat(np.arange(2), self._release_sizes(dataset, noisy["counts"]))
        synth = trainer.sample(labels)
        self._set_release(release_from_rows(dataset, synth, labels), dataset.schema)
        self.noisy_counts_, self.noisy_embedding_ = noisy["counts"], noisy["embeddings"]
        self.sensitivity_ = sensitivity
        self.frequencies_ = freqs
        self.lengthscale_ = lengthscale
        self.ledger_ = ledger
        return self

    def _release_sizes(self, dataset: Dataset, noisy_counts: np.ndarray) -> np.ndarray:
        """Rows per label: the condensation size, or a larger sample in the noisy proportions."""
        if self.n_samples == "size":
            return synthetic_sizes(dataset, int(self.size), noisy_counts)
        if self.n_samples == "large":
            total = dataset.n_public or max(2, int(round(float(np.clip(noisy_counts, 0.0, None).sum()))))
        else:
            total = int(self.n_samples)
        return allocate(int(total), noisy_counts)


class _GeneratorFit:
    """The generator ``G(z, y)`` (float32, torch CPU, explicit parameters) and its training.

    Parameters come from a private ``torch.Generator`` (PyTorch's default ``Linear``
    initialisation, uniform ±1/√fan_in), so nothing touches torch's global random state.
    """

    def __init__(self, lower, upper, groups, freqs, code_dim, hidden, seed) -> None:
        import torch

        self.torch = torch
        self.dt = torch.float32
        self.gen = torch.Generator().manual_seed(int(seed))
        self.code_dim = code_dim
        self.lower = torch.tensor(lower, dtype=self.dt)
        self.width = torch.tensor(upper - lower, dtype=self.dt)
        self.groups = groups
        self.freqs = torch.tensor(freqs.T, dtype=self.dt)
        sizes = [code_dim + 2, *hidden, len(lower)]
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            for shape in ((fan_in, fan_out), (fan_out,)):
                value = (torch.rand(shape, generator=self.gen, dtype=self.dt) * 2.0 - 1.0) * bound
                self.params.append(value.requires_grad_(True))

    def forward(self, labels):
        """Generated model-space rows for one code per label (inside the public box)."""
        torch = self.torch
        z = torch.randn((len(labels), self.code_dim), generator=self.gen, dtype=self.dt)
        h = torch.cat([z, torch.nn.functional.one_hot(labels, 2).to(self.dt)], dim=1)
        last = len(self.params) // 2 - 1
        for i in range(last + 1):
            h = h @ self.params[2 * i] + self.params[2 * i + 1]
            if i < last:
                h = torch.relu(h)
        out = self.lower + self.width * torch.sigmoid(h)
        if self.groups:  # each categorical one-hot block on the simplex
            parts, at = [], 0
            for start, stop in self.groups:
                parts += [out[:, at:start], torch.softmax(h[:, start:stop], dim=1)]
                at = stop
            out = torch.cat(parts + [out[:, at:]], dim=1)
        return out

    def features(self, x):
        proj = x @ self.freqs
        return self.torch.cat([self.torch.cos(proj), self.torch.sin(proj)], dim=1) / math.sqrt(self.freqs.shape[1])

    def train(self, target: np.ndarray, batch_labels: np.ndarray, steps: int, lr: float) -> list[float]:
        """Adam on ``‖target − (1/B) Σ φ(G(z, y)) ⊗ onehot(y)/w̄_y‖²``; returns the loss per step."""
        torch = self.torch
        labels = torch.tensor(batch_labels, dtype=torch.int64)
        onehot = torch.nn.functional.one_hot(labels, 2).to(self.dt)
        label_features = onehot / onehot.mean(dim=0).clamp_min(1e-300)  # onehot(y) / realised share
        goal = torch.tensor(target, dtype=self.dt)
        opt = torch.optim.Adam(self.params, lr=lr)
        history: list[float] = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small tensors; one thread also keeps the sums' order fixed
        try:
            for _ in range(steps):
                opt.zero_grad()
                emb = self.features(self.forward(labels)).T @ label_features / len(labels)
                loss = ((goal - emb) ** 2).sum()
                loss.backward()
                opt.step()
                history.append(float(loss.detach()))
        finally:
            torch.set_num_threads(threads)
        return history

    def sample(self, labels: np.ndarray) -> np.ndarray:
        """Fresh codes through the trained generator: the released model-space rows."""
        torch = self.torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                out = self.forward(torch.tensor(labels, dtype=torch.int64))
        finally:
            torch.set_num_threads(threads)
        return out.numpy().astype(np.float64)
