"""Manifold task: geometry of the samples, the random rotation, the target and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.contracts import Task
from scalinglab.errors import SpecError
from scalinglab.tasks.manifold import ManifoldTask


@pytest.mark.parametrize("manifold", ["torus", "sphere", "cube"])
def test_samples_lie_on_the_manifold(manifold):
    task = ManifoldTask(manifold=manifold, intrinsic_dim=3, ambient_dim=10, n_fourier=128)
    assert isinstance(task, Task)
    X, y = task.sample(2000, np.random.default_rng(0))
    assert X.shape == (2000, 10) and y.shape == (2000,)
    Q = task._target[0]
    np.testing.assert_allclose(Q.T @ Q, np.eye(task.embedding_dim), atol=1e-12)
    u = X @ Q / np.sqrt(10 / 3)  # back to intrinsic coordinates
    np.testing.assert_allclose(u @ Q.T * np.sqrt(10 / 3), X, atol=1e-10)
    if manifold == "torus":
        np.testing.assert_allclose(u[:, 0::2] ** 2 + u[:, 1::2] ** 2, 1.0, atol=1e-10)
    elif manifold == "sphere":
        np.testing.assert_allclose(np.sum(u**2, 1), 3.0, atol=1e-10)
    else:
        assert np.all(np.abs(u) <= np.sqrt(3) + 1e-12)
    # E|x|^2 = ambient dimension (mean of 2000 draws; exact for torus and sphere)
    assert np.mean(np.sum(X**2, 1)) == pytest.approx(10, rel=0.05)
    # the data span exactly the embedding dimension
    assert np.linalg.matrix_rank(X - X.mean(0), tol=1e-8) == task.embedding_dim


def test_target_is_deterministic_smooth_and_unit_variance():
    task = ManifoldTask(manifold="torus", intrinsic_dim=2, ambient_dim=6, smoothness=float("inf"), n_fourier=2048)
    X1, y1 = task.sample(500, np.random.default_rng(3))
    X2, y2 = task.sample(500, np.random.default_rng(3))
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    _, y = task.sample(20000, np.random.default_rng(4))
    # a GP draw with unit prior variance: sample variance of one draw is O(1), not tiny nor huge
    assert 0.2 < y.var() < 5
    # smooth: nearby points have close targets
    u = task.sample_intrinsic(200, np.random.default_rng(5))
    eps = 1e-4 * np.random.default_rng(6).standard_normal(u.shape)
    assert np.max(np.abs(task.target_values(u + eps) - task.target_values(u))) < 0.05
    other = ManifoldTask(manifold="torus", intrinsic_dim=2, ambient_dim=6, target_seed=1)
    assert not np.allclose(other.sample(50, np.random.default_rng(3))[1], y1[:50])


def test_population_loss_and_properties():
    task = ManifoldTask(manifold="cube", intrinsic_dim=2, ambient_dim=3, noise=0.1, n_eval=2000, n_fourier=64)
    Q = task._target[0]
    perfect = lambda X: task.target_values(X @ Q / np.sqrt(3 / 2))  # noqa: E731
    assert task.population_loss(perfect) == pytest.approx(0.01, abs=1e-12)
    zero = task.population_loss(lambda X: np.zeros(len(X)))
    assert zero > 0.05
    props = task.properties()
    assert props["intrinsic_dimension"] == 2 and props["four_over_d"] == 2.0


def test_errors_name_the_key():
    with pytest.raises(SpecError, match="task.ambient_dim"):
        ManifoldTask(manifold="torus", intrinsic_dim=4, ambient_dim=7)
    with pytest.raises(SpecError, match="task.manifold"):
        ManifoldTask(manifold="klein")
    with pytest.raises(SpecError, match="task.smoothness"):
        ManifoldTask(smoothness=0)
    with pytest.raises(SpecError, match="task.target"):
        ManifoldTask(target="gp")
