"""Several independent small ReLU networks of one shape, trained together (stacked NumPy arrays).

The learners of DeepSurv (Adam on the Cox loss) and of the MLP (L-BFGS on the log-loss). DP-ZO
fits one family on the 2K perturbed candidate sets of a step; training 16 tiny networks one by one
costs 16 times the per-operation overhead. Here their parameters are stacked along a leading model
axis and every array operation runs once for all of them. Each network keeps its own data, its own
initialisation, minibatch order and dropout, and its own optimiser state, so the networks never
interact. Forward and backward passes are written out (a ReLU MLP, the Cox loss and the log-loss
have short gradients), in float64: torch's autograd alone costs more per step than the whole
computation does here.

Training a network alone gives bit for bit the weights it gets among others: every operation
computes a model's slice from that slice only (one BLAS product per slice, elementwise operations,
reductions along a model's own row), so it does not depend on how many slices are stacked.
``tests/unit/test_batched_fits.py`` checks this, and checks each learner against its reference.

DeepSurv's networks are pycox's ``CoxPH`` on a torchtuples ``MLPVanilla`` without batch norm:

* initialisation: each layer as ``nn.Linear`` does, then Kaiming-normal hidden weights, drawn in
  the same order from a ``torch.Generator`` of the model's own seeded alike (nothing global is
  read or seeded) — a network starts exactly where pycox's would;
* loss: pycox's ``cox_ph_loss`` (log-sum-exp shift by the batch maximum, ``eps = 1e-7`` inside the
  log), except that tied times share one risk set (Breslow) where pycox orders them at random;
* torch's ``Adam`` update (L2 ``weight_decay`` added to the gradient) and its data loader's
  minibatches (a fresh permutation per epoch from a seed drawn from the model's generator).

The MLP's networks are scikit-learn's ``MLPClassifier`` (ReLU, sigmoid output): the same Glorot
start from ``RandomState(seed)``, the same objective, minimised by
:func:`~dpcondense.models._stacked_solvers.minimize`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import expit

from dpcondense.models._pycox_compat import import_pycox, torch_isolated
from dpcondense.models._stacked_solvers import minimize

#: pycox's Cox-loss stabiliser inside the log of the risk-set sums
_COX_EPS = 1e-7
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8

#: a trained network: ``[(W, b), ...]`` per layer, ``W`` of shape (out, in), float64
Layers = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class NetShape:
    """Layer widths ``(n_in, h_1, …, h_L, 1)`` and where each layer sits in the flat parameters."""

    widths: tuple[int, ...]

    @cached_property
    def layers(self) -> list[tuple[int, int, int]]:
        """``(offset, out, in)`` of each layer's weight; its bias follows at ``offset + out·in``."""
        out, offset = [], 0
        for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
            out.append((offset, n_out, n_in))
            offset += n_out * n_in + n_out
        return out

    @cached_property
    def n_params(self) -> int:
        offset, n_out, n_in = self.layers[-1]
        return offset + n_out * n_in + n_out

    @cached_property
    def weight_mask(self) -> np.ndarray:
        """1 on the weights, 0 on the biases of the flat parameters (what an L2 penalty sees)."""
        mask = np.zeros(self.n_params)
        for o, n_out, n_in in self.layers:
            mask[o : o + n_out * n_in] = 1.0
        return mask

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W (B, out, in), b (B, 1, out))`` views of flat (B, n_params) arrays."""
        B = flat.shape[0]
        return [
            (flat[:, o : o + n_out * n_in].reshape(B, n_out, n_in), flat[:, o + n_out * n_in : o + n_out * (n_in + 1)].reshape(B, 1, n_out))
            for o, n_out, n_in in self.layers
        ]


def initial_parameters(shape: NetShape, seeds: list[int]):
    """Flat float64 parameters (len(seeds), n_params) and each model's ``torch.Generator``.

    Network ``j`` is drawn from ``torch.Generator().manual_seed(seeds[j])`` exactly as
    torchtuples' ``MLPVanilla`` is from ``torch.manual_seed(seeds[j])`` (float32 values); the
    generators are returned to continue each model's stream (minibatch order, dropout).
    """
    torch, _, _ = import_pycox()
    last = len(shape.layers) - 1
    # the bounds torch.nn.init computes: nn.Linear's kaiming_uniform_(a=√5) and uniform bias,
    # torchtuples' kaiming_normal_(relu) — the same expressions, evaluated once per layer
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    bounds = [(math.sqrt(3.0) * (gain / math.sqrt(n_in)), 1 / math.sqrt(n_in), math.sqrt(2.0) / math.sqrt(n_in))
              for _, _, n_in in shape.layers]
    theta = np.zeros((len(seeds), shape.n_params))
    generators = []
    for j, seed in enumerate(seeds):
        g = torch.Generator().manual_seed(int(seed))
        for k, ((o, n_out, n_in), (w_bound, b_bound, w_std)) in enumerate(zip(shape.layers, bounds)):
            w = torch.empty(n_out, n_in).uniform_(-w_bound, w_bound, generator=g)
            b = torch.empty(n_out).uniform_(-b_bound, b_bound, generator=g)
            if k < last:  # torchtuples' DenseVanillaBlock re-draws hidden weights
                w.normal_(0, w_std, generator=g)
            theta[j, o : o + n_out * n_in] = w.numpy().ravel()
            theta[j, o + n_out * n_in : o + n_out * (n_in + 1)] = b.numpy()
        generators.append(g)
    return theta, generators


def forward(theta: np.ndarray, shape: NetShape, X: np.ndarray, keep=None):
    """Outputs (B, n) of the stacked networks on their own rows ``X`` (B, n, n_in), and a cache.

    ``keep``: per hidden layer a (B, n, width) dropout multiplier (0 or 1/(1-p)), or None.
    """
    views = shape.views(theta)
    acts, pre = [X], []
    a = X
    for k, (w, b) in enumerate(views[:-1]):
        z = np.matmul(a, w.transpose(0, 2, 1)) + b
        a = np.maximum(z, 0.0)
        if keep is not None:
            a = a * keep[k]
        pre.append(z)
        acts.append(a)
    w, b = views[-1]
    out = np.matmul(a, w.transpose(0, 2, 1))[:, :, 0] + b[:, :, 0]
    return out, (acts, pre)


def backward(theta: np.ndarray, shape: NetShape, cache, d_out: np.ndarray, keep=None) -> np.ndarray:
    """Gradient (B, n_params) of ``Σ d_out · out`` with respect to the flat parameters."""
    acts, pre = cache
    views = shape.views(theta)
    grad = np.zeros_like(theta)
    grads = shape.views(grad)
    d = d_out[:, :, None]  # (B, n, 1): gradient at the output layer's pre-activation
    for k in range(len(views) - 1, -1, -1):
        gw, gb = grads[k]
        gw[...] = np.matmul(d.transpose(0, 2, 1), acts[k])
        gb[...] = d.sum(axis=1, keepdims=True)
        if k == 0:
            break
        w = views[k][0]
        d = d * w if w.shape[1] == 1 else np.matmul(d, w)  # the 1-wide output layer: an outer product
        if keep is not None:
            d = d * keep[k - 1]
        d = d * (pre[k - 1] > 0)
    return grad


def cox_loss_grad(h: np.ndarray, event: np.ndarray, tie_start: np.ndarray, tie_end: np.ndarray):
    """pycox's Cox loss per model (B,) and its gradient (B, n), rows sorted by descending time.

    Row ``i``'s risk set is rows ``0..tie_end[i]`` (ties share one: Breslow); ``tie_start[i]`` is
    the first row of its tie group; both None: no tied times in the stack. A model whose batch
    holds no event gets loss 0, gradient 0.
    """
    B = h.shape[0]
    rows = np.arange(B)[:, None]
    top = h.argmax(axis=1)
    gamma = h[np.arange(B), top][:, None]
    risk = np.exp(h - gamma)
    denom = np.cumsum(risk, axis=1)
    denom = (denom if tie_end is None else denom[rows, tie_end]) + _COX_EPS
    n_events = np.maximum(event.sum(axis=1), 1.0)
    loss = -(event * (h - np.log(denom) - gamma)).sum(axis=1) / n_events
    share = event / denom
    later = np.cumsum(share[:, ::-1], axis=1)[:, ::-1]  # Σ over rows p ≥ q of share_p
    later = later if tie_start is None else later[rows, tie_start]
    grad = (risk * later - event) / n_events[:, None]
    # the shift γ = max(h) is not detached in pycox: its gradient goes to the maximal row
    grad[np.arange(B), top] += (share * _COX_EPS).sum(axis=1) / n_events
    return loss, grad


class StackedAdam:
    """torch's ``Adam`` (L2 ``weight_decay`` added to the gradient) on the flat parameters."""

    def __init__(self, theta: np.ndarray, lr: float, weight_decay: float) -> None:
        self.theta, self.lr, self.weight_decay = theta, float(lr), float(weight_decay)
        self.exp_avg = np.zeros_like(theta)
        self.exp_avg_sq = np.zeros_like(theta)
        self.steps = 0

    def step(self, grad: np.ndarray) -> None:
        beta1, beta2 = _ADAM_BETAS
        self.steps += 1
        tmp = np.empty_like(grad)
        if self.weight_decay != 0:
            grad = grad + np.multiply(self.theta, self.weight_decay, out=tmp)
        self.exp_avg += np.multiply(np.subtract(grad, self.exp_avg, out=tmp), 1 - beta1, out=tmp)
        self.exp_avg_sq *= beta2
        self.exp_avg_sq += np.multiply(np.multiply(grad, 1 - beta2, out=tmp), grad, out=tmp)
        denom = np.sqrt(self.exp_avg_sq, out=grad)
        denom /= math.sqrt(1 - beta2**self.steps)
        denom += _ADAM_EPS
        self.theta -= np.divide(np.multiply(self.exp_avg, self.lr / (1 - beta1**self.steps), out=tmp), denom, out=tmp)


def _sorted_batch(X: np.ndarray, time: np.ndarray, event: np.ndarray, rows: np.ndarray):
    """Each model's batch ``rows`` by descending time: covariates (B, m, d), events, tie starts and ends (B, m)."""
    t = np.take_along_axis(time, rows, axis=1)
    order = np.argsort(-t, axis=1, kind="stable")
    rows = np.take_along_axis(rows, order, axis=1)
    asc = -np.take_along_axis(t, order, axis=1)
    tie_start, tie_end = np.empty_like(rows), np.empty_like(rows)
    for j in range(len(rows)):
        tie_start[j] = np.searchsorted(asc[j], asc[j], side="left")
        tie_end[j] = np.searchsorted(asc[j], asc[j], side="right") - 1
    xb = X[np.arange(len(rows))[:, None], rows]
    if np.array_equal(tie_start, tie_end):  # no tie anywhere: the gathers would copy
        tie_start = tie_end = None
    return xb, np.take_along_axis(event, rows, axis=1), tie_start, tie_end


def _epoch_rows(generators, n: int, batch_size: int) -> list[np.ndarray]:
    """Each model's rows for one epoch's minibatches, in torch ``RandomSampler``'s order.

    As torch's data loader does, every epoch draws a base seed for its workers (unused here) and
    then the seed of the permutation from the model's generator; the last batch may be short.
    """
    torch, _, _ = import_pycox()
    perms = []
    for g in generators:
        torch.empty((), dtype=torch.int64).random_(generator=g)  # the loader's worker base seed
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=g).item())
        perms.append(torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy())
    perms = np.stack(perms)
    return [perms[:, i : i + batch_size] for i in range(0, n, batch_size)]


def _dropout_keep(generators, rows: int, shape: NetShape, p: float):
    """Per hidden layer, each model's dropout multiplier (0 or 1/(1-p)) from its own generator."""
    if p <= 0:
        return None
    torch, _, _ = import_pycox()
    return [
        np.stack([torch.empty(rows, w, dtype=torch.float64).bernoulli_(1 - p, generator=g).numpy() for g in generators]) / (1 - p)
        for w in shape.widths[1:-1]
    ]


def train_cox_networks(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    seeds: list[int],
    *,
    hidden: tuple[int, ...],
    dropout: float,
    learning_rate: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
) -> list[Layers]:
    """Train ``len(seeds)`` DeepSurv networks, network ``j`` on ``(X[j], time[j], event[j])``.

    ``X`` is (B, n, d); ``time``/``event`` (B, n). Sets of at most ``batch_size`` rows train
    full-batch. Returns each network's layers.
    """
    B, n, d = X.shape
    shape = NetShape((d, *hidden, 1))
    X = np.asarray(X, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    with torch_isolated(None):
        theta, generators = initial_parameters(shape, seeds)
        adam = StackedAdam(theta, learning_rate, weight_decay)
        full = [_sorted_batch(X, time, event, np.tile(np.arange(n), (B, 1)))] if batch_size >= n else None
        for _ in range(int(epochs)):
            batches = full or [_sorted_batch(X, time, event, r) for r in _epoch_rows(generators, n, batch_size)]
            for xb, ev, tie_start, tie_end in batches:
                keep = _dropout_keep(generators, xb.shape[1], shape, dropout)
                out, cache = forward(theta, shape, xb, keep)
                _, d_out = cox_loss_grad(out, ev, tie_start, tie_end)
                adam.step(backward(theta, shape, cache, d_out, keep))
    return [unpack(theta[j], shape) for j in range(B)]


def unpack(flat: np.ndarray, shape: NetShape) -> Layers:
    """One network's ``[(W, b), ...]`` from its row of the flat parameters."""
    return [(w[0].copy(), b[0, 0].copy()) for w, b in shape.views(flat[None, :])]


def predict(layers: Layers, X: np.ndarray) -> np.ndarray:
    """The network's output (n,) on ``X`` (n, n_in)."""
    a = np.asarray(X, dtype=float)
    for w, b in layers[:-1]:
        a = np.maximum(a @ w.T + b, 0.0)
    w, b = layers[-1]
    return (a @ w.T + b).ravel()


# ------------------------------------------------------------------ logistic networks (MLP)


def glorot_initial_parameters(shape: NetShape, seeds: list[int]) -> np.ndarray:
    """scikit-learn ``MLPClassifier``'s start (ReLU, Glorot uniform) for each seed, (B, n_params).

    Drawn from ``np.random.RandomState(seed)`` in scikit-learn's order (each layer's weights,
    then its biases), so a network starts exactly where scikit-learn's would.
    """
    theta = np.zeros((len(seeds), shape.n_params))
    for j, seed in enumerate(seeds):
        rs = np.random.RandomState(int(seed))
        for o, n_out, n_in in shape.layers:
            bound = np.sqrt(6.0 / (n_in + n_out))
            theta[j, o : o + n_out * n_in] = rs.uniform(-bound, bound, (n_in, n_out)).T.ravel()
            theta[j, o + n_out * n_in : o + n_out * (n_in + 1)] = rs.uniform(-bound, bound, n_out)
    return theta


def logistic_loss_grad(theta: np.ndarray, shape: NetShape, X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float):
    """scikit-learn ``MLPClassifier``'s objective per network (B,) and its gradient (B, n_params).

    The ``w``-weighted mean log-loss of the sigmoid output (probabilities clipped at machine
    epsilon in the value, as scikit-learn does) plus ``alpha/2·‖W‖²`` over the weights' total
    weight ``Σw``.
    """
    out, cache = forward(theta, shape, X)
    p = expit(out)
    eps = np.finfo(float).eps
    clipped = np.clip(p, eps, 1.0 - eps)
    total = w.sum(axis=1)
    log_lik = np.where(y == 1, np.log(clipped), np.log(1.0 - clipped))
    decay = theta * shape.weight_mask
    f = (0.5 * alpha * (decay * theta).sum(axis=1) - (w * log_lik).sum(axis=1)) / total
    grad = backward(theta, shape, cache, (p - y) * w / total[:, None])
    grad += (alpha / total)[:, None] * decay
    return f, grad


def train_logistic_networks(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    seeds: list[int],
    *,
    hidden: tuple[int, ...],
    alpha: float,
    max_iter: int,
    tol: float = 1e-4,
    max_fun: int = 15000,
) -> list[Layers]:
    """Train ``len(seeds)`` ReLU classifiers by L-BFGS, network ``j`` on ``(X[j], y[j], w[j])``.

    ``X`` is (B, n, d); ``y`` (0/1) and the row weights ``w`` (B, n). scikit-learn's defaults:
    ``tol`` on the largest gradient entry, ``max_fun`` objective evaluations.
    """
    shape = NetShape((X.shape[2], *hidden, 1))
    data = [np.asarray(a, dtype=float) for a in (X, y, w)]
    recent: list[tuple[np.ndarray, list[np.ndarray]]] = []  # the last two row sets and their data

    def fun_grad(theta: np.ndarray, rows: np.ndarray):
        hits = [k for k, (known, _) in enumerate(recent) if known is rows]
        entry = recent.pop(hits[0]) if hits else (rows, [a[rows] for a in data])
        recent[:] = [*recent[-1:], entry]
        return logistic_loss_grad(theta, shape, *entry[1], float(alpha))

    theta, _ = minimize(
        fun_grad, glorot_initial_parameters(shape, seeds), max_iter=int(max_iter), gtol=float(tol), max_fun=int(max_fun)
    )
    return [unpack(theta[j], shape) for j in range(len(seeds))]
