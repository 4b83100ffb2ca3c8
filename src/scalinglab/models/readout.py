"""Linear readout on frozen pretrained features (Bahri et al. 2024, Figs. S6 and S7).

A network is trained on a source task and frozen; its last hidden layer gives W features. A linear model on the
first P of them (units are exchangeable, so a prefix of a random order is a random subset) is fitted by ridge
least squares to the first D examples of a target task, for every (D, P) of a grid and every ridge of a list.
The ridge follows :class:`scalinglab.models.random_features.RandomFeatures`: it is relative, the penalty is
``ridge`` times the mean squared norm of a feature vector, and the solution is the least-squares fit when P < D
and the minimum-norm interpolant when P >= D as ridge -> 0 (so the test loss peaks at D = P: double descent).

Each (D, P) costs one eigendecomposition of the smaller Gram matrix (dual D x D when D <= P, primal P x P
otherwise, as in the random-feature solver); every ridge then costs only matrix-vector work.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from scalinglab.contracts import Measurement, grid_sizes
from scalinglab.errors import SpecError
from scalinglab.models.network import Architecture, Params, hidden_features
from scalinglab.models.training import TrainConfig, TrainLog, train


@dataclasses.dataclass(frozen=True)
class FrozenFeatures:
    """The last hidden layer of one trained network: ``transform(X)`` is (n, width), float64."""

    arch: Architecture
    params: Params
    log: TrainLog | None = None

    @property
    def width(self) -> int:
        return int(self.params.widths[0])

    def transform(self, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
        dtype = self.params.weights[0].dtype
        device = self.params.weights[0].device
        out = []
        for start in range(0, len(X), chunk):
            x = torch.as_tensor(np.asarray(X[start:start + chunk], dtype=float), dtype=dtype, device=device)
            out.append(hidden_features(self.arch, self.params, x)[0, :, :self.width].cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def pretrain(arch: Architecture, X: np.ndarray, Y: np.ndarray, width: int, config: TrainConfig,
             generator: torch.Generator, dtype: torch.dtype = torch.float32) -> FrozenFeatures:
    """Train one network of ``width`` on the source task (X, Y (n, out)) and freeze it."""
    x = torch.as_tensor(np.asarray(X, dtype=float), dtype=dtype)
    y = torch.as_tensor(np.asarray(Y, dtype=float), dtype=dtype)
    p0 = arch.init(x.shape[1], [int(width)], y.shape[1], generator, dtype=dtype)
    trained, log = train(arch, p0, x, y, config, generator=generator)
    return FrozenFeatures(arch, trained, log)


def _spectral_fit(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, U = np.linalg.eigh(gram)
    return np.clip(s, 0.0, None), U


def readout_losses(F_train: np.ndarray, Y_train: np.ndarray, F_test: np.ndarray, Y_test: np.ndarray,
                   data_sizes: list[int], feature_counts: list[int], ridges: list[float]) -> np.ndarray:
    """Test and train mean squared errors of ridge readouts on the first D rows and first P columns.

    Returns an array (len(data_sizes), len(feature_counts), len(ridges), 2) of (test MSE, train MSE), the mean
    over examples and outputs, for sizes in increasing order.
    """
    ds, ps = grid_sizes("data_sizes", data_sizes), grid_sizes("feature_counts", feature_counts)
    if ds[-1] > len(F_train) or ps[-1] > F_train.shape[1]:
        raise SpecError(f"readout: grid up to D={ds[-1]}, P={ps[-1]} exceeds the {F_train.shape} features")
    ridges = np.asarray(ridges, dtype=float)
    if ridges.size == 0 or np.any(ridges < 0) or not np.all(np.isfinite(ridges)):
        raise SpecError(f"ridges: must be non-negative numbers, got {ridges.tolist()}")
    Y_train = Y_train.reshape(len(Y_train), -1)
    Y_test = Y_test.reshape(len(Y_test), -1)
    out = np.empty((len(ds), len(ps), ridges.size, 2))
    for i, d in enumerate(ds):
        for j, p in enumerate(ps):
            A, Y, T = F_train[:d, :p], Y_train[:d], F_test[:, :p]
            scale = float(np.einsum("ij,ij->", A, A)) / d  # mean squared norm of a feature vector
            if d <= p:  # dual: theta = A^T (A A^T + r)^-1 Y
                s, U = _spectral_fit(A @ A.T)
                UY = U.T @ Y
                test_basis, train_basis = (T @ A.T) @ U, U * s
            else:  # primal: theta = (A^T A + r)^-1 A^T Y
                s, U = _spectral_fit(A.T @ A)
                UY = U.T @ (A.T @ Y)
                test_basis, train_basis = T @ U, A @ U
            for k, r in enumerate(ridges * scale):
                inv = np.divide(1.0, s + r, out=np.zeros_like(s), where=(s + r) > 1e-12 * max(s.max(), 1e-300))
                coef = inv[:, None] * UY
                out[i, j, k, 0] = np.mean((test_basis @ coef - Y_test) ** 2)
                out[i, j, k, 1] = np.mean((train_basis @ coef - Y) ** 2)
    return out


@dataclasses.dataclass
class LinearReadout:
    """The sweep's ``Model`` for readouts on frozen features (size knob: feature count P).

    ``features`` maps task inputs to frozen features; ``ridges`` are tried at every point and the one with the
    lowest loss on ``n_val`` validation examples is used (a single ridge disables tuning). The features' order is
    permuted per seed, so P features are a random subset of the frozen units.
    """

    features: FrozenFeatures
    ridges: tuple[float, ...] = (1e-8,)
    n_test: int = 1000
    n_val: int = 500
    name: str = "linear_readout"

    def learning_curve(self, task, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        ds, ps = grid_sizes("grid.data", data_sizes), grid_sizes("grid.size", model_sizes)
        t0 = time.perf_counter()
        tune = len(self.ridges) > 1
        X, y = task.sample(ds[-1] + self.n_test + (self.n_val if tune else 0), rng)
        Y = np.eye(int(y.max()) + 1)[y] if np.issubdtype(np.asarray(y).dtype, np.integer) else np.asarray(y, float)
        F = self.features.transform(X)[:, rng.permutation(self.features.width)]
        Fd, Yd = F[:ds[-1]], Y[:ds[-1]]
        Ft, Yt = F[ds[-1]:ds[-1] + self.n_test], Y[ds[-1]:ds[-1] + self.n_test]
        test = readout_losses(Fd, Yd, Ft, Yt, ds, ps, list(self.ridges))
        best = np.zeros(test.shape[:2], dtype=int)
        if tune:
            Fv, Yv = F[ds[-1] + self.n_test:], Y[ds[-1] + self.n_test:]
            best = readout_losses(Fd, Yd, Fv, Yv, ds, ps, list(self.ridges))[..., 0].argmin(axis=2)
        share = (time.perf_counter() - t0) / (len(ds) * len(ps))
        out = []
        for i, d in enumerate(ds):
            for j, p in enumerate(ps):
                k = best[i, j]
                out.append(Measurement(d, p, -1, float(test[i, j, k, 1]), float(test[i, j, k, 0]), share,
                                       {"ridge": float(self.ridges[k])}))
        return out
