"""``dp_dm``: DP distribution matching with random Fourier features (the differentiable-condensation
approach, privatised once).

Rows are model-space features (survival: plus the scaled log-time column), stratified by class
(survival: by event). A fixed random-feature map ``φ(z) = √(2/D) cos(Wz + b)`` — ``W`` Gaussian
with std ``1/lengthscale``, ``b`` uniform on [0, 2π), both drawn from public randomness —
approximates a Gaussian kernel's mean embedding. Each row's embedding is clipped to L2 norm
``clip``, so under add/remove-one adjacency:

===============  ==========================  ===============
release          statistic (all strata)      L2 sensitivity
===============  ==========================  ===============
``counts``       ``n_c``                     1
``embeddings``   ``Σ clip(φ(z_i))``           ``clip``
===============  ==========================  ===============

both Gaussian releases, calibrated jointly
(:func:`~dpcondense.methods._baseline.plan_gaussian_releases`): the budget shares fix the ratio
of their noise (each σ proportional to the analytic Gaussian σ at its share of (ε, δ)), and one
common scale makes their composition exactly (ε, δ)-DP; the ledger composes them with privacy
loss distributions (``composition="pld"``). The noisy mean
embedding of each stratum (noisy sum / noisy count) is the target; the synthetic rows of that
stratum — ``size`` per class, or ``size`` rows split by the noisy event counts — start uniform
in the public box and are optimised with Adam (torch, CPU) to match it, projected onto the box
after every step. Only the two releases read real rows; the optimisation is post-processing.
"""

from __future__ import annotations

import math

import numpy as np

from dpcondense.data import Dataset
from dpcondense.methods._baseline import (
    model_box,
    parse_budget,
    plan_gaussian_releases,
    release_from_rows,
    seed_sequence,
    strata_and_rows,
    synthetic_sizes,
    gaussian_releases,
)
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.params import ParamSpec
from dpcondense.privacy import PrivacyLedger

RELEASES = ("counts", "embeddings")


def random_features(z: np.ndarray, W: np.ndarray, b: np.ndarray, clip: float) -> np.ndarray:
    """``φ(z)`` for each row, clipped to L2 norm ``clip`` (numpy; the release path)."""
    phi = math.sqrt(2.0 / W.shape[1]) * np.cos(z @ W + b)
    norms = np.linalg.norm(phi, axis=1, keepdims=True)
    return phi * np.minimum(1.0, clip / np.maximum(norms, 1e-300))


@register_method("dp_dm")
class DPDistributionMatching(CondensationMethod):
    """Synthetic rows whose random-feature mean embedding matches a DP release of the real one.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` is not used).
        ``epsilon = inf`` matches the exact embeddings (no noise; the ledger says non-private).
    n_features : int, default=128
        Random Fourier features D (more features: a finer kernel, more noise in total).
    lengthscale : float, optional
        Kernel lengthscale in model-space units; default ``0.5 · √p`` for ``p`` columns (public).
    clip : float, default=1.0
        Per-row L2 clip of the embedding (its norm is at most √2; about 1 on average).
    budget_shares : dict, default={"counts": 0.1, "embeddings": 0.9}
        Relative shares of (ε, δ): they set the ratio of the two releases' noise, which is then
        scaled jointly to the whole budget.
    steps : int, default=300
        Adam steps on the synthetic rows.
    lr : float, default=0.05

    Attributes
    ----------
    noise_std_, sensitivity_ : dict of str to float
        Gaussian noise std and L2 sensitivity of each release.
    matching_loss_ : list of float
        The matching objective per step (computed from released values only).
    """

    label = "DP-DM"

    private = True
    version = 2
    param_specs = {
        "n_features": ParamSpec(int, low=1, doc="random Fourier features D"),
        "lengthscale": ParamSpec(float, low=0.0, low_open=True, allow_none=True, doc="kernel lengthscale (null: 0.5*sqrt(columns))"),
        "clip": ParamSpec(float, low=0.0, low_open=True, doc="per-row L2 clip of the embedding"),
        "budget_shares": ParamSpec(
            dict, keys=RELEASES, item=ParamSpec(float, low=0.0, low_open=True), allow_none=True,
            doc="relative shares of the budget of the releases",
        ),
        "steps": ParamSpec(int, low=0, doc="Adam steps on the synthetic rows"),
        "lr": ParamSpec(float, low=0.0, low_open=True, doc="Adam step size"),
    }

    def __init__(
        self,
        *,
        n_features: int = 128,
        lengthscale: float | None = None,
        clip: float = 1.0,
        budget_shares: dict[str, float] | None = None,
        steps: int = 300,
        lr: float = 0.05,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.lengthscale = lengthscale
        self.clip = clip
        self.budget_shares = budget_shares
        self.steps = steps
        self.lr = lr

    def _validate(self) -> dict[str, float]:
        if isinstance(self.n_features, bool) or int(self.n_features) != self.n_features or self.n_features < 1:
            raise ValueError(f"n_features must be an integer >= 1, got {self.n_features!r}")
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {self.steps!r}")
        for name in ("clip", "lr") + (("lengthscale",) if self.lengthscale is not None else ()):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        shares = dict(self.budget_shares or {"counts": 0.1, "embeddings": 0.9})
        if set(shares) != set(RELEASES):
            raise ValueError(f"budget_shares must have exactly the keys {list(RELEASES)}, got {sorted(shares)}")
        return shares

    def _fit(self, dataset: Dataset) -> "DPDistributionMatching":
        shares = self._validate()
        eps = parse_budget(self.epsilon)
        ledger = PrivacyLedger(eps, self.delta, n_public=dataset.n_public, composition="pld")
        public_seed, noise_seed = seed_sequence(self.random_state).spawn(2)
        rng_public, rng_noise = np.random.default_rng(public_seed), self._noise_rng(noise_seed)

        lower, upper = model_box(dataset)
        p, D, clip = lower.size, int(self.n_features), float(self.clip)
        lengthscale = float(self.lengthscale) if self.lengthscale is not None else 0.5 * math.sqrt(p)
        W = rng_public.normal(0.0, 1.0 / lengthscale, size=(p, D))
        b = rng_public.uniform(0.0, 2.0 * math.pi, size=D)
        sensitivity = {"counts": 1.0, "embeddings": clip}
        plan = plan_gaussian_releases(eps, self.delta, {k: shares[k] for k in RELEASES}, sensitivity)

        # --- the only block that reads real rows: two Gaussian releases --------------------
        strata, rows = strata_and_rows(dataset)
        phi = random_features(np.clip(rows, lower, upper), W, b, clip)
        exact = {
            "counts": np.bincount(strata, minlength=2).astype(float),
            "embeddings": np.stack([phi[strata == c].sum(axis=0) for c in (0, 1)]),
        }
        exact = {name: exact[name] for name in RELEASES}
        noisy, self.noise_std_ = gaussian_releases(exact, plan, sensitivity, rng_noise, ledger, "dp_dm", n_features=D, lengthscale=lengthscale)
        del exact, phi, rows, strata
        # --- post-processing: optimise synthetic rows to match the released embeddings -------

        targets = noisy["embeddings"] / np.maximum(noisy["counts"], 1.0)[:, None]
        sizes = synthetic_sizes(dataset, self.size, noisy["counts"])
        labels = np.repeat(np.arange(2), sizes)
        start = rng_public.uniform(lower, upper, size=(int(sizes.sum()), p))
        synth, history = _match(start, labels, targets, W, b, clip, lower, upper, int(self.steps), float(self.lr))
        self._set_release(release_from_rows(dataset, synth, labels), dataset.schema)
        self.sensitivity_ = sensitivity
        self.lengthscale_ = lengthscale
        self.matching_loss_ = history
        self.ledger_ = ledger
        return self


def _match(start, labels, targets, W, b, clip, lower, upper, steps, lr) -> tuple[np.ndarray, list[float]]:
    """Adam on the rows: minimise Σ_c ‖mean clip(φ(x)) over stratum c − target_c‖², box-projected."""
    import torch

    dt = torch.float64
    x = torch.tensor(start, dtype=dt, requires_grad=True)
    Wt, bt = torch.tensor(W, dtype=dt), torch.tensor(b, dtype=dt)
    lo, hi = torch.tensor(lower, dtype=dt), torch.tensor(upper, dtype=dt)
    groups = [(torch.tensor(np.flatnonzero(labels == c)), torch.tensor(targets[c], dtype=dt)) for c in np.unique(labels)]
    opt = torch.optim.Adam([x], lr=lr)
    scale = math.sqrt(2.0 / W.shape[1])
    history: list[float] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only add synchronisation
    try:
        for _ in range(steps):
            history.append(_adam_step(x, opt, Wt, bt, scale, clip, groups, lo, hi))
    finally:
        torch.set_num_threads(threads)
    return x.detach().numpy().copy(), history


def _adam_step(x, opt, Wt, bt, scale, clip, groups, lo, hi) -> float:
    """One Adam step on the matching loss, then the projection onto the box; returns the loss."""
    import torch

    opt.zero_grad()
    phi = scale * torch.cos(x @ Wt + bt)
    phi = phi * torch.clamp(clip / phi.norm(dim=1, keepdim=True).clamp_min(1e-300), max=1.0)
    loss = sum(((phi[idx].mean(dim=0) - target) ** 2).sum() for idx, target in groups)
    loss.backward()
    opt.step()
    with torch.no_grad():
        x.copy_(torch.maximum(torch.minimum(x, hi), lo))
    return float(loss.detach())
