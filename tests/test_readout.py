"""Linear readout on frozen features: the eigen-solver against scikit-learn and the double-descent peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from scalinglab.errors import SpecError
from scalinglab.models.mlp import Architecture, TrainConfig
from scalinglab.models.readout import LinearReadout, pretrain, readout_losses

torch.set_num_threads(1)


def _problem(n=300, w=40, k=3, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, w))
    Y = F @ rng.standard_normal((w, k)) / np.sqrt(w) + 0.3 * rng.standard_normal((n, k))
    return F[:200], Y[:200], F[200:], Y[200:]


@pytest.mark.parametrize(("d", "p"), [(20, 35), (60, 25), (30, 30)])
def test_readout_matches_sklearn_ridge_and_min_norm(d, p):
    F, Y, Ft, Yt = _problem()
    losses = readout_losses(F, Y, Ft, Yt, [d], [p], [0.0, 0.1])
    A = F[:d, :p]
    r = 0.1 * float((A**2).sum()) / d
    ridge = Ridge(alpha=r, fit_intercept=False).fit(A, Y[:d])
    assert losses[0, 0, 1, 0] == pytest.approx(np.mean((ridge.predict(Ft[:, :p]) - Yt) ** 2), rel=1e-8)
    assert losses[0, 0, 1, 1] == pytest.approx(np.mean((ridge.predict(A) - Y[:d]) ** 2), rel=1e-8)
    theta = np.linalg.pinv(A) @ Y[:d]  # least squares / minimum-norm interpolant
    assert losses[0, 0, 0, 0] == pytest.approx(np.mean((Ft[:, :p] @ theta - Yt) ** 2), rel=1e-6)


def test_double_descent_peak_at_d_equals_p_only_without_ridge():
    F, Y, Ft, Yt = _problem(n=400, w=60)
    ds = [10, 20, 30, 40, 50, 60, 80, 100, 150, 200]
    losses = readout_losses(F[:200], Y[:200], Ft, Yt, ds, [40], [1e-10, 1.0])
    small, tuned = losses[:, 0, 0, 0], losses[:, 0, 1, 0]
    assert ds[int(np.argmax(small))] == 40
    assert small[ds.index(40)] > 5 * small[-1]
    assert np.max(tuned) < 0.5 * np.max(small)


def test_pretrained_readout_learning_curve():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    arch = Architecture(depth=2)
    frozen = pretrain(arch, X, np.eye(2)[y], 32, TrainConfig(learning_rate=0.3, max_steps=100, tol=0),
                      torch.Generator().manual_seed(0), dtype=torch.float64)
    F = frozen.transform(X)
    assert F.shape == (256, 32) and np.all(F >= 0)  # ReLU features

    class Task:
        name = "halfspace"

        def sample(self, n, rng):
            Z = rng.standard_normal((n, 6))
            return Z, (Z[:, 0] + Z[:, 1] > 0).astype(np.int64)

    model = LinearReadout(frozen, ridges=(1e-8, 1e-2, 1.0), n_test=400, n_val=200)
    ms = model.learning_curve(Task(), [16, 128], [8, 32], np.random.default_rng(1))
    assert [(m.data_size, m.model_size) for m in ms] == [(16, 8), (16, 32), (128, 8), (128, 32)]
    assert ms[-1].test_loss < ms[0].test_loss
    assert all(m.extra["ridge"] in model.ridges for m in ms)
    with pytest.raises(SpecError):
        readout_losses(F, np.eye(2)[y], F, np.eye(2)[y], [300], [8], [0.0])
