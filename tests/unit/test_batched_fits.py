"""Stacked fits of the smooth families: ``fit_many`` equals one-by-one ``fit`` bit for bit, and each
stacked learner against its reference implementation (pycox, scikit-learn, lifelines, autograd)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dpcondense.models import _stacked_mlp as sm
from dpcondense.models import make_model
from dpcondense.models._stacked_solvers import minimize, solve
from dpcondense.models.base import MODELS, classification_loss

GRID = np.linspace(0.2, 3.0, 12)


def survival_set(n, d, seed, *, ties=False, weights=False, beta=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    beta = rng.normal(0, 1, d) if beta is None else beta
    time = rng.exponential(np.exp(-X @ beta))
    if ties:
        time = np.minimum(np.ceil(time * 4) / 4, 1.5)
    event = (rng.uniform(size=n) < 0.7).astype(int)
    event[0] = 1
    return X, time, event, (rng.uniform(0.5, 2.0, n) if weights else None)


def classification_set(n, d, seed, *, weights=False, scale=2.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ rng.normal(0, scale, d)))).astype(int)
    y[:2] = [0, 1]
    return X, y, (rng.uniform(0.5, 2.0, n) if weights else None)


def assert_same_models(name, params, data, seeds, predict):
    """``fit_many`` over all sets equals each set fitted alone, bit for bit (predictions included)."""
    many = [make_model(name, random_state=s, **params) for s in seeds]
    MODELS.get(name).fit_many(many, data)
    for model, d, s in zip(many, data, seeds):
        alone = make_model(name, random_state=s, **params).fit(*d)
        np.testing.assert_array_equal(predict(model, d[0]), predict(alone, d[0]))
    return many


def survival_curves(model, X):
    return model.predict_survival(X, GRID)


def probabilities(model, X):
    return model.predict_proba(X)


# ---------------------------------------------------------------------------- fit_many == fit


@pytest.mark.parametrize(
    "params",
    [{}, {"batch_size": 16, "epochs": 5}, {"dropout": 0.2, "epochs": 5}, {"hidden_layer_sizes": (8,), "epochs": 5}],
    ids=["default", "minibatches", "dropout", "one_layer"],
)
def test_deepsurv_fit_many_equals_fits_one_by_one(params):
    # two shapes in one call (two stacks) and tied times in some sets
    data = [survival_set(30, 4, s, ties=s % 2 == 0, weights=s == 3) for s in range(5)] + [survival_set(18, 4, 9)]
    assert_same_models("deepsurv", params, data, [11, 12, 13, 14, 15, 16], survival_curves)


@pytest.mark.parametrize("params", [{}, {"hidden_layer_sizes": (6, 5), "alpha": 0.1, "max_iter": 30}])
def test_mlp_fit_many_equals_fits_one_by_one(params):
    data = [classification_set(20, 6, s, weights=s % 2 == 1) for s in range(6)] + [classification_set(12, 6, 7)]
    assert_same_models("mlp", params, data, [3, 4, 5, 6, 7, 8, 9], probabilities)


def test_logistic_regression_fit_many_equals_fits_one_by_one():
    data = [classification_set(20, 6, s, weights=s % 2 == 1) for s in range(5)] + [classification_set(9, 6, 8)]
    X, y, _ = classification_set(20, 6, 9)
    X[:, 3] = X[:, 2]  # collinear columns, a huge C: a (numerically) singular Hessian in the stack
    data.append((X, y, None))
    assert_same_models("logistic_regression", {"C": 1e8}, data, [0] * 7, probabilities)
    assert_same_models("logistic_regression", {}, data, [0] * 7, probabilities)


@pytest.mark.parametrize("penalizer", [0.1, 0.0])
def test_cox_fit_many_equals_fits_one_by_one(penalizer):
    data = [survival_set(25, 4, s, ties=True, weights=s % 2 == 0) for s in range(5)]
    X, time, event, _ = data[1]
    data.append((np.column_stack([X[:, :3], np.full(25, 0.4)]), time, event, None))  # a constant column
    data.append((X, time, (np.arange(25) % 3 == 0).astype(int), None))  # another event count
    data.append(survival_set(40, 4, 7))
    models = assert_same_models("cox_ph", {"penalizer": penalizer}, data, [0] * 8, survival_curves)
    assert models[5].coef_[3] == 0.0


# -------------------------------------------------------------------------------- DeepSurv


def pycox_log_risk(X, time, event, seed, *, epochs=50, batch_size=256, dropout=0.0, X_eval=None):
    """The reference: pycox ``CoxPH`` on torchtuples' ``MLPVanilla`` (the family's previous fit)."""
    from dpcondense.models._pycox_compat import import_pycox, torch_isolated

    torch, tt, pycox_models = import_pycox()
    with torch_isolated(seed):
        net = tt.practical.MLPVanilla(X.shape[1], [16, 16], 1, batch_norm=False, dropout=dropout or None)
        model = pycox_models.CoxPH(net, tt.optim.Adam(lr=0.01, weight_decay=1e-4))
        target = (time.astype(np.float32), event.astype(np.float32))
        model.fit(X.astype(np.float32), target, batch_size=min(batch_size, len(X)), epochs=epochs, verbose=False)
    with torch.no_grad():
        X_eval = X if X_eval is None else X_eval
        return net.eval()(torch.from_numpy(X_eval.astype(np.float32))).numpy().astype(float).ravel()


@pytest.mark.parametrize(("n", "batch_size", "epochs"), [(50, 256, 50), (120, 32, 8)], ids=["full_batch", "minibatches"])
def test_deepsurv_trains_as_pycox(n, batch_size, epochs):
    """Without ties the stacked trainer is pycox's fit (same start, batches, loss and Adam): the
    log-risks agree to float32 rounding (pycox trains in float32, the stack in float64)."""
    for seed in (3, 4):
        X, time, event, _ = survival_set(n, 5, 100 + seed)
        ref = pycox_log_risk(X, time, event, seed, epochs=epochs, batch_size=batch_size)
        ours = make_model("deepsurv", random_state=seed, epochs=epochs, batch_size=batch_size).fit(X, time, event)
        np.testing.assert_allclose(ours.predict_log_risk(X), ref, rtol=0, atol=2e-3 * max(1.0, np.abs(ref).max()))


def test_deepsurv_with_dropout_ranks_as_pycox():
    """Dropout masks come from each model's own generator (not pycox's stream): the same quality."""
    from dpcondense.concordance import harrell_c

    ours, ref = [], []
    for seed in range(3):
        beta = np.random.default_rng(seed).normal(0, 1.5, 5)
        X, time, event, _ = survival_set(150, 5, 200 + seed, beta=beta)
        Xt, t_test, e_test, _ = survival_set(400, 5, 300 + seed, beta=beta)
        r = pycox_log_risk(X, time, event, seed, dropout=0.2, X_eval=Xt)
        m = make_model("deepsurv", random_state=seed, dropout=0.2).fit(X, time, event)
        ref.append(harrell_c(e_test.astype(bool), t_test, r))
        ours.append(harrell_c(e_test.astype(bool), t_test, m.predict_log_risk(Xt)))
    assert np.mean(ref) > 0.6
    assert abs(np.mean(ours) - np.mean(ref)) < 0.03


def test_deepsurv_starts_where_torchtuples_does():
    from dpcondense.models._pycox_compat import import_pycox, torch_isolated

    _, tt, _ = import_pycox()
    shape = sm.NetShape((7, 16, 5, 1))
    theta, _ = sm.initial_parameters(shape, [5, 6])
    for row, seed in zip(theta, [5, 6]):
        with torch_isolated(seed):
            net = tt.practical.MLPVanilla(7, [16, 5], 1, batch_norm=False)
        expected = np.concatenate([p.detach().numpy().ravel().astype(float) for p in net.parameters()])
        np.testing.assert_array_equal(row, expected)


def test_cox_loss_and_gradient_match_pycox_under_autograd():
    torch = pytest.importorskip("torch")
    from pycox.models.loss import cox_ph_loss

    rng = np.random.default_rng(0)
    B, n = 3, 12
    h = rng.normal(0, 3, (B, n))
    h[1, 4] = h[1].max() + 25.0  # a dominant row: pycox's eps matters, and the shift's gradient
    event = (rng.uniform(size=(B, n)) < 0.6).astype(float)
    time = rng.uniform(1, 2, (B, n))
    order = np.argsort(-time, axis=1)
    hs, es = np.take_along_axis(h, order, 1), np.take_along_axis(event, order, 1)
    ties = np.tile(np.arange(n), (B, 1))
    loss, grad = sm.cox_loss_grad(hs, es, ties, ties)
    for b in range(B):
        ht = torch.tensor(h[b], requires_grad=True)
        ref = cox_ph_loss(ht, torch.tensor(time[b]), torch.tensor(event[b]))
        ref.backward()
        assert loss[b] == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(grad[b], ht.grad.numpy()[order[b]], rtol=1e-10, atol=1e-14)
    # without ties the risk-set gathers are skipped: the same numbers
    for a, b in zip(sm.cox_loss_grad(hs, es, None, None), (loss, grad)):
        np.testing.assert_array_equal(a, b)
    # no event in a batch: loss and gradient 0 (pycox's NaN is guarded in the family)
    loss0, grad0 = sm.cox_loss_grad(hs, np.zeros_like(es), ties, ties)
    assert np.all(loss0 == 0.0) and np.all(grad0 == 0.0)


def test_cox_loss_gradient_with_ties_matches_finite_differences():
    X, time, event, _ = survival_set(20, 3, 1, ties=True)
    _, ev, start, end = sm._sorted_batch(X[None], time[None], event[None].astype(float), np.arange(20)[None])
    assert np.any(start != end), "the data must hold tied times"
    h = np.random.default_rng(2).normal(0, 1, (1, 20))
    _, grad = sm.cox_loss_grad(h, ev, start, end)
    eps = 1e-6
    num = [(sm.cox_loss_grad(h + eps * e, ev, start, end)[0] - sm.cox_loss_grad(h - eps * e, ev, start, end)[0])[0] / (2 * eps)
           for e in np.eye(20)[:, None, :]]
    np.testing.assert_allclose(grad[0], num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------- MLP


def sklearn_lbfgs_problem(X, y, w, seed, hidden=(16,), alpha=1e-3):
    """scikit-learn's own objective and starting point for ``MLPClassifier`` (captured, not run)."""
    import sklearn.neural_network._multilayer_perceptron as mlp_module
    from sklearn.neural_network import MLPClassifier

    captured = {}

    def capture(fun, x0, **kwargs):
        captured.update(fun=fun, x0=np.array(x0), args=kwargs["args"])
        raise StopIteration

    real = mlp_module.scipy.optimize.minimize
    mlp_module.scipy.optimize.minimize = capture
    try:
        MLPClassifier(hidden_layer_sizes=hidden, alpha=alpha, random_state=seed, solver="lbfgs").fit(X, y, sample_weight=w)
    except StopIteration:
        pass
    finally:
        mlp_module.scipy.optimize.minimize = real
    return captured


def to_sklearn_layout(theta, shape):
    """Our flat parameters in scikit-learn's packing: every (in, out) weight matrix, then the biases."""
    views = shape.views(theta[None])
    return np.concatenate([w[0].T.ravel() for w, _ in views] + [b[0, 0] for _, b in views])


def test_mlp_start_and_objective_are_scikit_learns():
    X, y, w = classification_set(25, 6, 1, weights=True)
    shape = sm.NetShape((6, 16, 1))
    problem = sklearn_lbfgs_problem(X, y, w, seed=4)
    theta0 = sm.glorot_initial_parameters(shape, [4])
    np.testing.assert_array_equal(to_sklearn_layout(theta0[0], shape), problem["x0"])
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = theta0 + rng.normal(0, 0.5, theta0.shape)
        f, g = sm.logistic_loss_grad(theta, shape, X[None], y[None].astype(float), w[None], 1e-3)
        f_ref, g_ref = problem["fun"](to_sklearn_layout(theta[0], shape), *problem["args"])
        assert f[0] == pytest.approx(f_ref, rel=1e-12)
        np.testing.assert_allclose(to_sklearn_layout(g[0], shape), g_ref, rtol=1e-10, atol=1e-15)


def test_mlp_learns_as_well_as_scikit_learn():
    """Same start, objective and stopping rule; another line search, so other local optima of a
    non-convex fit: the same held-out quality and training objective on average."""
    from sklearn.neural_network import MLPClassifier

    ours, theirs, obj_ours, obj_theirs = [], [], [], []
    shape = sm.NetShape((8, 16, 1))
    for seed in range(8):
        X, y, _ = classification_set(60, 8, seed, scale=3.0)
        Xt, yt, _ = classification_set(2000, 8, seed, scale=3.0)
        model = make_model("mlp", random_state=seed).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-3, max_iter=200, random_state=seed, solver="lbfgs").fit(X, y)
        ours.append(classification_loss(model.predict_proba(Xt)[:, 1], yt).mean())
        theirs.append(classification_loss(ref.predict_proba(Xt)[:, 1], yt).mean())
        flat = np.concatenate([np.append(w.ravel(), b) for w, b in model.layers_])[None]
        obj_ours.append(sm.logistic_loss_grad(flat, shape, X[None], y[None].astype(float), np.ones((1, 60)), 1e-3)[0][0])
        obj_theirs.append(ref.loss_)
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.1 * np.mean(theirs)
    assert np.mean(obj_ours) < np.mean(obj_theirs) + 0.01


def test_stacked_solve_keeps_each_system_apart():
    """A singular system in the stack gets least squares; the others their own exact solution."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 5, 5))
    H = np.matmul(A, A.transpose(0, 2, 1))
    H[2, :, 4] = H[2, :, 3] = H[2, 3, :] = H[2, 4, :] = 0.0  # rank 3
    g = rng.normal(size=(4, 5))
    x = solve(H, g)
    regular = [0, 1, 3]
    np.testing.assert_array_equal(x[regular], solve(H[regular], g[regular]))  # as stacked without it
    for j in regular:
        np.testing.assert_allclose(H[j] @ x[j], g[j], rtol=1e-10)
    np.testing.assert_allclose(x[2], np.linalg.pinv(H[2]) @ g[2], rtol=1e-10, atol=1e-12)


def test_stacked_lbfgs_solves_each_row():
    """Convex quadratics of different conditioning, solved together: each row reaches its minimiser
    (to the gradient tolerance: the relative-decrease stop is switched off) and the first row
    alone follows the same iterates."""
    rng = np.random.default_rng(0)
    B, P = 4, 6
    A = np.stack([q @ np.diag(np.geomspace(1, 10.0 ** (b + 1), P)) @ q.T for b, q in
                  enumerate(np.linalg.qr(rng.normal(size=(B, P, P)))[0])])
    c = rng.normal(size=(B, P))

    def fun_grad(x, rows):
        Ax = np.matmul(A[rows], x[:, :, None])[:, :, 0]
        return 0.5 * (x * Ax).sum(axis=1) - (c[rows] * x).sum(axis=1), Ax - c[rows]

    x, iters = minimize(fun_grad, np.zeros((B, P)), max_iter=500, gtol=1e-9, ftol=0.0)
    np.testing.assert_allclose(x, np.linalg.solve(A, c[:, :, None])[:, :, 0], rtol=1e-6, atol=1e-8)
    assert iters[0] < iters[-1], "the worse-conditioned row needs more iterations"
    x_one, _ = minimize(fun_grad, np.zeros((1, P)), max_iter=500, gtol=1e-9, ftol=0.0)
    np.testing.assert_array_equal(x_one[0], x[0])


# ------------------------------------------------------------------------ logistic regression


@pytest.mark.parametrize(("C", "weighted"), [(1.0, False), (0.05, True), (100.0, True)])
def test_logistic_regression_is_scikit_learns_minimiser(C, weighted):
    from sklearn.linear_model import LogisticRegression

    for seed in range(3):
        X, y, w = classification_set(40, 7, seed, weights=weighted)
        ours = make_model("logistic_regression", C=C).fit(X, y, w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LogisticRegression(C=C, l1_ratio=0.0, solver="lbfgs", tol=1e-12, max_iter=100_000).fit(X, y, sample_weight=w)
        scale = 1.0 + np.abs(ref.coef_).max()
        np.testing.assert_allclose(ours.coef_, ref.coef_[0], rtol=0, atol=1e-6 * scale)
        assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-6 * scale)


# ------------------------------------------------------------------------------------ Cox PH


def test_cox_fit_many_member_matches_lifelines():
    import pandas as pd
    from lifelines import CoxPHFitter

    data = [survival_set(40, 3, s, ties=True) for s in range(4)]
    models = [make_model("cox_ph", penalizer=0.05) for _ in data]
    MODELS.get("cox_ph").fit_many(models, data)
    for model, (X, time, event, _) in zip(models, data):
        df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(T=time, E=event)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = CoxPHFitter(penalizer=0.05).fit(df, "T", "E", fit_options={"precision": 1e-13, "r_precision": 1e-15})
        np.testing.assert_allclose(model.coef_, ref.params_.to_numpy(), rtol=0, atol=1e-6)
