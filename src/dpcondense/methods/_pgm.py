"""A small Private-PGM-style estimator: a graphical model fitted to noisy marginals, in numpy.

AIM's generation step (McKenna, Sheldon & Miklau 2019, "Graphical-model based estimation and
inference for differential privacy") finds the distribution of a Markov random field whose
potentials live on the measured attribute sets ("cliques") that best explains the noisy
measurements, and samples rows from it. Everything here is post-processing of released noisy
marginals and public randomness; nothing reads a real row.

The model
    Log-potentials ``θ_C`` on the maximal measured cliques. Exact inference on a junction tree:
    the clique graph is triangulated by greedy elimination (at each step the attribute whose
    elimination creates the smallest table, first index on ties), the maximal elimination
    cliques are joined by a maximum spanning tree of separator sizes (empty separators join
    disconnected parts), and a two-pass sum-product (tables ``exp(θ − max θ)``, messages
    rescaled to sum to one) calibrates it. The model's marginal
    of any attribute set follows from the calibrated clique tables (``P(C) · P(J \\ S | S)`` along
    the tree).

The fit
    Minimise ``L(μ) = Σ_m ‖μ_m − y_m‖² / (2σ_m²)`` over the counts ``μ = N · P_θ`` of the model,
    ``N`` the minimum-variance unbiased total of the measurements, by entropic mirror descent on
    the potentials, ``θ ← θ − α ∇_μ L``, with an Armijo test (a step is kept when
    ``L − L' ≥ ½ α ∇L·(μ − μ')``; then ``α ← 1.01 α``, else ``α ← α / 2``), starting from
    ``α = 2 / (Λ N)`` with ``Λ`` the Lipschitz constant of ``∇L`` — Private-PGM's scheme.

How it differs from Private-PGM (``mbi``): the same model, loss and algorithm family, but (1) a
fixed number of iterations per fit and no JAX compilation; (2) a warm start keeps the previous
potentials (folded into the new maximal cliques) *and* the previous step size; (3) marginals of
attribute sets outside every junction-tree clique are computed exactly along the tree path
(all pairs at once, one tree walk per attribute); (4) samples are drawn ancestrally down the
junction tree rooted at the outcome (rows conditioned on the outcome value), instead of
Private-PGM's rounding-based synthetic data; (5) the triangulation heuristic (min created table)
may differ from mbi's, so model sizes may differ slightly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Clique = tuple[int, ...]


@dataclass(frozen=True)
class Measurement:
    """A released noisy marginal: ``y`` (shaped by the clique's cells) with Gaussian noise std ``sigma``."""

    clique: Clique
    y: np.ndarray
    sigma: float


# ---------------------------------------------------------------------------- triangulation


def _eliminate(adj: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Greedy elimination of a batch of graphs ``adj`` (B × k × k): members (B × k steps × k attributes).

    Step ``t`` eliminates, in each graph, the remaining attribute whose closed neighbourhood has
    the fewest cells; ``members[b, t]`` is that neighbourhood (an elimination clique).
    """
    adj = adj.copy()
    B, k = adj.shape[0], len(dims)
    logd = np.log(dims.astype(float))
    idx = np.arange(B)
    diag = np.arange(k)
    adj[:, diag, diag] = False
    remaining = np.ones((B, k), dtype=bool)
    members = np.zeros((B, k, k), dtype=bool)
    for t in range(k):
        nb = adj & remaining[:, None, :]
        cost = nb.astype(float) @ logd + logd
        cost[~remaining] = np.inf
        v = cost.argmin(axis=1)
        clique = nb[idx, v]
        clique[idx, v] = True
        members[:, t] = clique
        adj |= clique[:, :, None] & clique[:, None, :]
        adj[:, diag, diag] = False
        remaining[idx, v] = False
    return members


def _maximal(members: np.ndarray) -> np.ndarray:
    """Which elimination cliques are maximal (B × k): not inside an earlier one."""
    m = members.astype(float)
    overlap = m @ np.swapaxes(m, 1, 2)  # [b, t, s] = |C_t ∩ C_s|
    size = m.sum(axis=2)
    earlier = np.tril(np.ones((members.shape[1],) * 2, dtype=bool), k=-1)  # s < t
    inside = (overlap == size[:, :, None]) & earlier[None]
    return ~inside.any(axis=2)


def _adjacency(k: int, cliques: list[Clique]) -> np.ndarray:
    adj = np.zeros((k, k), dtype=bool)
    for c in cliques:
        adj[np.ix_(c, c)] = True
    return adj


def junction_tree_sizes(dims: np.ndarray, cliques: list[Clique], extra: list[Clique]) -> np.ndarray:
    """Cells of the junction tree of ``cliques + [e]`` for every ``e`` in ``extra`` (one batch)."""
    base = _adjacency(len(dims), cliques)
    adj = np.repeat(base[None], len(extra), axis=0)
    for b, e in enumerate(extra):
        adj[b][np.ix_(e, e)] = True
    members = _eliminate(adj, dims)
    cells = np.where(members, dims[None, None, :].astype(float), 1.0).prod(axis=2)
    return (cells * _maximal(members)).sum(axis=1)


# ---------------------------------------------------------------------------- junction tree


def _marg(table: np.ndarray, attrs: Clique, target: tuple[int, ...]) -> np.ndarray:
    """Sum ``table`` (axes ``attrs``) onto ``target``, axes in ``target``'s order."""
    axes = tuple(i for i, a in enumerate(attrs) if a not in target)
    out = table.sum(axis=axes) if axes else table
    kept = [a for a in attrs if a in target]
    return np.transpose(out, [kept.index(a) for a in target]) if kept != list(target) else out


class JunctionTree:
    """Junction tree of a set of cliques over attributes with ``dims`` cells, rooted at ``root_attr``."""

    def __init__(self, dims: np.ndarray, cliques: list[Clique], root_attr: int) -> None:
        self.dims = np.asarray(dims)
        k = len(dims)
        members = _eliminate(_adjacency(k, cliques)[None], self.dims)[0]
        keep = _maximal(members[None])[0]
        self.cliques: list[Clique] = [tuple(int(a) for a in np.flatnonzero(row)) for row in members[keep]]
        self._tree(root_attr)
        self.home = [next(j for j, c in enumerate(self.cliques) if a in c) for a in range(k)]

    def _tree(self, root_attr: int) -> None:
        """Maximum spanning tree of separator sizes (Kruskal), then a BFS order from the root."""
        m = len(self.cliques)
        sets = [set(c) for c in self.cliques]
        edges = sorted((-len(sets[i] & sets[j]), i, j) for i in range(m) for j in range(i + 1, m))
        comp = list(range(m))

        def find(i: int) -> int:
            while comp[i] != i:
                comp[i] = comp[comp[i]]
                i = comp[i]
            return i

        self.neighbours: dict[int, list[int]] = {i: [] for i in range(m)}
        for _, i, j in edges:
            if find(i) != find(j):
                comp[find(i)] = find(j)
                self.neighbours[i].append(j)
                self.neighbours[j].append(i)
        root = next(j for j, c in enumerate(self.cliques) if root_attr in c)
        self.order, self.parent = [root], {root: -1}
        for j in self.order:
            for n in self.neighbours[j]:
                if n not in self.parent:
                    self.parent[n] = j
                    self.order.append(n)
        self.sep = {j: tuple(a for a in self.cliques[j] if a in sets[self.parent[j]]) for j in self.order[1:]}
        self.children = {j: [n for n in self.order[1:] if self.parent[n] == j] for j in range(m)}
        self._up_axes = {j: tuple(i for i, a in enumerate(self.cliques[j]) if a not in self.sep[j]) for j in self.order[1:]}
        self._down_axes = {j: tuple(i for i, a in enumerate(self.cliques[self.parent[j]]) if a not in self.sep[j]) for j in self.order[1:]}

    def shape(self, attrs: tuple[int, ...], within: Clique) -> tuple[int, ...]:
        """Shape that broadcasts a table over ``attrs`` (sorted) into clique ``within``."""
        return tuple(int(self.dims[a]) if a in attrs else 1 for a in within)

    def calibrate(self, psi: list[np.ndarray]) -> list[np.ndarray]:
        """Normalised clique distributions from clique log-potentials (two-pass sum-product).

        Each clique's table is ``exp(ψ − max ψ)`` and every message is rescaled to sum to one,
        so the products stay in floating-point range (probability space, no log per message).
        """
        phi = [np.exp(p - p.max()) for p in psi]
        up: dict[int, np.ndarray] = {}
        partial: dict[int, np.ndarray] = {}
        root = self.order[0]
        for j in reversed(self.order):
            x = phi[j]
            for c in self.children[j]:
                x = x * up[c]
            partial[j] = x
            if j != root:
                msg = x.sum(axis=self._up_axes[j]) if self._up_axes[j] else x
                up[j] = (msg / msg.sum()).reshape(self.shape(self.sep[j], self.cliques[self.parent[j]]))
        belief = {root: partial[root]}
        for j in self.order[1:]:
            p = belief[self.parent[j]]
            rest = np.divide(p, up[j], out=np.zeros_like(p), where=up[j] > 0)
            msg = rest.sum(axis=self._down_axes[j]) if self._down_axes[j] else rest
            belief[j] = partial[j] * (msg / msg.sum()).reshape(self.shape(self.sep[j], self.cliques[j]))
        return [belief[j] / belief[j].sum() for j in range(len(self.cliques))]


# ---------------------------------------------------------------------------- the fitted model


class GraphicalModel:
    """A calibrated junction tree scaled to ``total`` rows: marginals and samples."""

    def __init__(self, tree: JunctionTree, probs: list[np.ndarray], total: float) -> None:
        self.tree, self.probs, self.total = tree, probs, float(total)

    @property
    def size(self) -> int:
        """Cells of the junction tree."""
        return int(sum(p.size for p in self.probs))

    def marginal(self, attrs: tuple[int, ...]) -> np.ndarray:
        """The model's counts on ``attrs`` (axes in that order)."""
        t = self.tree
        for j, c in enumerate(t.cliques):
            if set(attrs) <= set(c):
                return self.total * _marg(self.probs[j], c, attrs)
        return self.total * self._path_marginal(attrs)

    def _path_marginal(self, attrs: tuple[int, ...]) -> np.ndarray:
        """``P(attrs)`` over the subtree joining their cliques: ``P(top) Π P(J \\ S | S)``."""
        t = self.tree
        depth = {j: i for i, j in enumerate(t.order)}
        paths = []
        for a in attrs:
            path, j = [], t.home[a]
            while j != -1:
                path.append(j)
                j = t.parent[j]
            paths.append(path)
        common = set.intersection(*(set(p) for p in paths))
        top = max(common, key=lambda j: depth[j])
        nodes = {j for p in paths for j in p[: p.index(top)]}
        operands: list = [self.probs[top], list(t.cliques[top])]
        for j in nodes:
            c, s = t.cliques[j], t.sep[j]
            ps = _marg(self.probs[j], c, s).reshape(t.shape(s, c))
            operands += [np.divide(self.probs[j], ps, out=np.zeros_like(self.probs[j]), where=ps > 0), list(c)]
        labels = sorted({a for i in range(1, len(operands), 2) for a in operands[i]})
        relabel = {a: i for i, a in enumerate(labels)}
        operands = [[relabel[a] for a in op] if i % 2 else op for i, op in enumerate(operands)]
        return np.einsum(*operands, [relabel[a] for a in attrs], optimize="greedy")

    def pair_marginals(self) -> dict[tuple[int, int], np.ndarray]:
        """The model's counts on every attribute pair ``(a, b)``, ``a < b``: one tree walk per ``a``."""
        t = self.tree
        k = len(t.dims)
        out: dict[tuple[int, int], np.ndarray] = {}
        for j, c in enumerate(t.cliques):
            for i, a in enumerate(c):
                for b in c[i + 1:]:
                    out.setdefault((a, b), _marg(self.probs[j], c, (a, b)))
        for a in range(k):
            need = {b for b in range(a + 1, k) if (a, b) not in out}
            if need:
                self._walk_from(a, need, out)
        return {key: self.total * v for key, v in out.items()}

    def _walk_from(self, a: int, need: set[int], out: dict) -> None:
        """Carry ``P(a, J)`` from ``a``'s cliques outward: ``P(a, J) = P(J) P(a, S) / P(S)``."""
        t = self.tree
        carry: dict[int, np.ndarray] = {}
        queue, seen = [t.home[a]], {t.home[a]}
        while queue and need:
            cur = queue.pop(0)
            for nb in t.neighbours[cur]:
                if nb in seen:
                    continue
                seen.add(nb)
                queue.append(nb)
                c = t.cliques[nb]
                if a in c:
                    continue
                s = tuple(x for x in c if x in t.cliques[cur])
                joint_as = _marg(self.probs[cur], t.cliques[cur], (a, *s)) if cur not in carry else _marg(carry[cur], (a, *t.cliques[cur]), (a, *s))
                ps = _marg(self.probs[nb], c, s)
                cond = np.divide(joint_as, ps[None], out=np.zeros_like(joint_as), where=ps[None] > 0)
                carry[nb] = cond.reshape((t.dims[a], *t.shape(s, c))) * self.probs[nb][None]
                for b in sorted(need & set(c)):
                    out[(a, b)] = _marg(carry[nb], (a, *c), (a, b))
                    need.discard(b)

    def sample(self, root_values: np.ndarray, root_attr: int, rng: np.random.Generator) -> np.ndarray:
        """Rows (codes per attribute) drawn down the tree, the root attribute fixed to ``root_values``."""
        t = self.tree
        n, k = len(root_values), len(t.dims)
        codes = np.full((n, k), -1, dtype=np.int64)
        codes[:, root_attr] = root_values
        for j in t.order:
            c = t.cliques[j]
            given = (root_attr,) if j == t.order[0] else t.sep[j]
            rest = tuple(a for a in c if a not in given)
            if not rest:
                continue
            table = _marg(self.probs[j], c, given + rest).reshape(int(np.prod([t.dims[a] for a in given])), -1)
            row = np.ravel_multi_index(tuple(codes[:, a] for a in given), [int(t.dims[a]) for a in given]) if given else np.zeros(n, np.int64)
            drawn = draw_rows(table, row, rng)
            for a, v in zip(rest, np.unravel_index(drawn, [int(t.dims[a]) for a in rest])):
                codes[:, a] = v
        return codes


def draw_rows(table: np.ndarray, row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per entry of ``row``, drawn from ``table[row]`` normalised (inverse CDF)."""
    sums = table.sum(axis=1, keepdims=True)
    probs = np.where(sums > 0, table / np.where(sums > 0, sums, 1.0), 1.0 / table.shape[1])
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(len(cdf))[:, None]).ravel()
    pos = np.searchsorted(flat, row + rng.random(len(row)), side="right") - row * table.shape[1]
    return np.clip(pos, 0, table.shape[1] - 1)


# ---------------------------------------------------------------------------- estimation


def mvu_total(measurements: list[Measurement]) -> float:
    """Minimum-variance unbiased estimate of the row count from the measurements' sums (≥ 1)."""
    est = np.array([m.y.sum() for m in measurements])
    var = np.array([max(m.sigma, 1e-12) ** 2 * m.y.size for m in measurements])
    return max(1.0, float(np.average(est, weights=1.0 / var)))


def maximal_cliques(cliques: list[Clique]) -> list[Clique]:
    """The cliques not strictly inside another, first occurrence kept, in order."""
    unique = list(dict.fromkeys(cliques))
    return [c for c in unique if not any(set(c) < set(d) for d in unique)]


@dataclass
class Estimate:
    """A fit: the model, the potentials and the step size (to warm-start the next fit)."""

    model: GraphicalModel
    theta: dict[Clique, np.ndarray]
    alpha: float | None
    loss: float


def _merged(measurements: list[Measurement]) -> list[tuple[Clique, np.ndarray, float]]:
    """One term per measured clique: the inverse-variance average and the summed weight 1/σ².

    ``Σ_i ‖μ − y_i‖² / (2σ_i²)`` equals ``‖μ − ȳ‖² (Σ_i 1/σ_i²) / 2`` plus a constant, so the fit
    is unchanged.
    """
    acc: dict[Clique, list] = {}
    for m in measurements:
        w = 1.0 / max(m.sigma, 1e-12) ** 2
        if m.clique in acc:
            acc[m.clique][0] = acc[m.clique][0] + w * m.y
            acc[m.clique][1] += w
        else:
            acc[m.clique] = [w * m.y, w]
    return [(c, wy / w, w) for c, (wy, w) in acc.items()]


def estimate(dims: np.ndarray, measurements: list[Measurement], root_attr: int, iterations: int, warm: Estimate | None = None) -> Estimate:
    """Mirror descent on the potentials of the maximal measured cliques (see the module docstring)."""
    dims = np.asarray(dims)
    terms = _merged(measurements)
    pots = maximal_cliques([c for c, _, _ in terms])
    tree = JunctionTree(dims, pots, root_attr)
    where = {c: next(j for j, J in enumerate(tree.cliques) if set(c) <= set(J)) for c in pots}
    owner = {c: next(p for p in pots if set(c) <= set(p)) for c, _, _ in terms}
    theta = {c: np.zeros(tuple(int(dims[a]) for a in c)) for c in pots}
    for c, v in (warm.theta.items() if warm else ()):  # fold the old potentials in: same distribution
        host = owner.get(c) or next(p for p in pots if set(c) <= set(p))
        theta[host] = theta[host] + v.reshape(tree.shape(c, host))
    total = mvu_total(measurements)
    lipschitz = max(sum(w * np.prod([dims[a] for a in p]) / y.size for c, y, w in terms if owner[c] == p) for p in pots)

    def counts(th: dict) -> tuple[list[np.ndarray], dict[Clique, np.ndarray]]:
        psi = [np.zeros(tuple(int(dims[a]) for a in J)) for J in tree.cliques]
        for c, v in th.items():
            psi[where[c]] = psi[where[c]] + v.reshape(tree.shape(c, tree.cliques[where[c]]))
        probs = tree.calibrate(psi)
        return probs, {c: total * _marg(probs[where[c]], tree.cliques[where[c]], c) for c in pots}

    def loss_grad(mu: dict) -> tuple[float, dict]:
        loss, grad = 0.0, {}
        for c, y, w in terms:
            p = owner[c]
            diff = (mu[p] if c == p else _marg(mu[p], p, c)) - y
            loss += 0.5 * w * float(np.vdot(diff, diff))
            g = w * diff if c == p else (w * diff).reshape(tree.shape(c, p))
            grad[p] = grad[p] + g if p in grad else g
        return loss, grad

    probs, mu = counts(theta)
    loss, grad = loss_grad(mu)
    alpha = warm.alpha if warm is not None and warm.alpha else 2.0 / (lipschitz * total)
    for _ in range(iterations):
        trial = {c: theta[c] - alpha * grad[c] for c in pots}
        probs2, mu2 = counts(trial)
        loss2, grad2 = loss_grad(mu2)
        if loss - loss2 >= 0.5 * alpha * sum(float(np.vdot(grad[c], mu[c] - mu2[c])) for c in pots):
            theta, probs, mu, loss, grad = trial, probs2, mu2, loss2, grad2
            alpha *= 1.01
        else:
            alpha *= 0.5
    return Estimate(GraphicalModel(tree, probs, total), theta, alpha, loss)
