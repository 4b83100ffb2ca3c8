"""Kernel ridge: the nested-Cholesky learning curve, teacher averages and random features against direct solves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge as SkKernelRidge
from sklearn.linear_model import Ridge

from scalinglab.contracts import Model
from scalinglab.errors import SpecError
from scalinglab.models.kernel_ridge import KernelRidge, nested_cholesky_curve, teacher_average_curve
from scalinglab.models.kernels import FullyConnected
from scalinglab.tasks.manifold import ManifoldTask


def _problem(n=120, n_test=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    K = FullyConnected(depth=2).nngp(X, dtype=np.float64)
    return K[:n, :n], K[n:, :n], y[:n], y[n:], K[n:, n:]


def test_nested_cholesky_equals_sklearn_at_every_size():
    K, Kt, y, yt, _ = _problem()
    sizes = [10, 33, 64, 120]
    rows = nested_cholesky_curve(K, Kt, y, yt, sizes, ridge=1e-3)
    for d, train, test in rows:
        sk = SkKernelRidge(alpha=1e-3, kernel="precomputed").fit(K[:d, :d], y[:d])
        assert test == pytest.approx(np.mean((sk.predict(Kt[:, :d]) - yt) ** 2), rel=1e-8)
        assert train == pytest.approx(np.mean((sk.predict(K[:d, :d]) - y[:d]) ** 2), rel=1e-6)
    with pytest.raises(SpecError, match="exceeds"):
        nested_cholesky_curve(K, Kt, y, yt, [121], 1e-3)


def test_teacher_average_equals_direct_formula():
    K, Kt, _, _, Ktt = _problem(seed=1)
    r = 1e-4
    rows = teacher_average_curve(K, Kt, np.diag(Ktt), [20, 60, 120], r, np.random.default_rng(0))
    for d, _, test in rows:
        A = K[:d, :d] + r * np.eye(d)
        M = Kt[:, :d] @ np.linalg.inv(A)  # predictions M f_D
        # E_f |M f_D - f_t|^2 for f ~ GP(0, K), averaged over test points
        direct = np.mean(np.diag(Ktt) - 2 * np.sum(M * Kt[:, :d], 1) + np.sum((M @ K[:d, :d]) * M, 1))
        assert test == pytest.approx(direct, rel=1e-7)


def test_teacher_average_matches_monte_carlo_over_teachers():
    K, Kt, _, _, Ktt = _problem(n=60, n_test=30, seed=2)
    r = 1e-3
    (_, _, test), = teacher_average_curve(K, Kt, np.diag(Ktt), [60], r, np.random.default_rng(0))
    full = np.block([[K, Kt.T], [Kt, Ktt]]) + 1e-10 * np.eye(90)
    F = np.random.default_rng(1).multivariate_normal(np.zeros(90), full, size=4000)
    M = Kt @ np.linalg.inv(K + r * np.eye(60))
    losses = np.mean((F[:, :60] @ M.T - F[:, 60:]) ** 2, axis=1)
    assert abs(test - losses.mean()) < 4 * losses.std() / np.sqrt(len(losses))


def test_model_exact_random_and_contract():
    task = ManifoldTask(manifold="sphere", intrinsic_dim=2, ambient_dim=5, n_fourier=256)
    model = KernelRidge(depth=1, n_test=200, ridge=1e-6)
    assert isinstance(model, Model)
    a = model.learning_curve(task, [50, 100, 200], [1], np.random.default_rng(0))
    b = model.learning_curve(task, [200, 50, 100], [1], np.random.default_rng(0))
    assert [m.test_loss for m in a] == [m.test_loss for m in b]
    assert [m.data_size for m in a] == [50, 100, 200] and all(m.model_size == 1 for m in a)
    assert a[0].test_loss > a[1].test_loss > a[2].test_loss
    rf = KernelRidge(depth=1, n_test=200, ridge=1e-6, features="random")
    grid = rf.learning_curve(task, [50, 100, 200], [30, 100, 4000], np.random.default_rng(0))
    assert len(grid) == 9
    by = {(m.data_size, m.model_size): m.test_loss for m in grid}
    # P >> D: random features approach the exact kernel (fluctuations O(1/P) of the kernel)
    for k, d in enumerate([50, 100, 200]):
        assert by[(d, 4000)] == pytest.approx(a[k].test_loss, rel=0.05)
    # nearly ridgeless: the double-descent peak at D = P
    assert by[(100, 100)] > 2 * max(by[(100, 30)], by[(100, 4000)])


def test_random_features_match_sklearn_ridge_in_both_forms():
    task = ManifoldTask(manifold="torus", intrinsic_dim=1, ambient_dim=3, n_fourier=64)
    model = KernelRidge(depth=2, n_test=50, ridge=1e-3, features="random", bias_var=0.2)
    rng = np.random.default_rng(7)
    grid = model.learning_curve(task, [20, 80], [10, 40], rng)
    # replay the same draws
    rng = np.random.default_rng(7)
    X, y = task.sample(80 + 50, rng)
    arch = model.architecture
    weights = arch.draw_weights(3, 40, rng)
    for m in grid:
        Phi = arch.random_features(X, weights, width=m.model_size)
        Phi = np.hstack([Phi, np.full((len(X), 1), np.sqrt(0.2))])
        r = 1e-3 * np.mean(np.sum(Phi[:80] ** 2, 1))
        sk = Ridge(alpha=r, fit_intercept=False, solver="cholesky").fit(Phi[: m.data_size], y[: m.data_size])
        assert m.test_loss == pytest.approx(np.mean((sk.predict(Phi[80:]) - y[80:]) ** 2), rel=1e-6)


def test_random_features_teacher_average_equals_direct():
    task = ManifoldTask(manifold="cube", intrinsic_dim=2, ambient_dim=4, target="student_kernel", n_fourier=16)
    model = KernelRidge(depth=1, n_test=40, ridge=1e-4, features="random")
    grid = model.learning_curve(task, [15, 60], [20], np.random.default_rng(3))
    rng = np.random.default_rng(3)
    X, _ = task.sample(60 + 40, rng)
    arch = model.architecture
    K = arch.nngp(X, dtype=np.float64)
    Phi = arch.random_features(X, arch.draw_weights(4, 20, rng), width=20)
    r = 1e-4 * np.mean(np.sum(Phi[:60] ** 2, 1))
    for m in grid:
        d = m.data_size
        P = Phi[:d]
        B = np.linalg.solve(P.T @ P + r * np.eye(20), P.T)
        M = Phi[60:] @ B
        direct = np.mean(np.diag(K[60:, 60:]) - 2 * np.sum(M * K[60:, :d], 1) + np.sum((M @ K[:d, :d]) * M, 1))
        assert m.test_loss == pytest.approx(direct, rel=1e-6)


def test_bad_model_settings():
    with pytest.raises(SpecError, match="kernel"):
        KernelRidge(kernel="rbf")
    with pytest.raises(SpecError, match="random features"):
        KernelRidge(kernel="ntk", features="random")
    with pytest.raises(SpecError, match="ridge"):
        KernelRidge(ridge=-1.0)
    with pytest.raises(SpecError, match="grid.data"):
        KernelRidge().learning_curve(ManifoldTask(), [0, 5], [1], np.random.default_rng(0))
