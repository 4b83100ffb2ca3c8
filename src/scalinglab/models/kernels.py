"""Infinite-width kernels of deep fully connected networks: NNGP and NTK, with ReLU and erf activations.

One description, :class:`FullyConnected` (depth, activation, weight and bias variances, NTK parameterisation),
gives the analytic kernels, random features drawn from the finite network, and the finite torch network whose
Monte-Carlo kernels converge to the analytic ones (the empirical kernel fluctuates with variance O(1/width)).

Recursions (Lee et al. 2018, Jacot et al. 2018; neural-tangents ``stax``): with sigma_w^2, sigma_b^2 the weight
and bias variances and n_0 the input dimension,

    K^0(x, x') = sigma_w^2 x.x' / n_0 + sigma_b^2,                Theta^0 = K^0,
    K^l = sigma_w^2 E[phi(u) phi(v)] + sigma_b^2,                  (u, v) ~ N(0, [[K11, K12], [K12, K22]]) of layer l-1,
    Theta^l = K^l + sigma_w^2 E[phi'(u) phi'(v)] Theta^(l-1),

for l = 1..depth hidden layers; K^depth and Theta^depth are the NNGP and NTK of the scalar readout. The Gaussian
expectations are closed form: ReLU by the arc-cosine kernels of order 1 and 0 (Cho and Saul 2009),
erf by the arcsine formula (Williams 1997).

Gram matrices are computed in blocks (only the upper triangle for a symmetric one) and stored as float32 by
default, so that a 20,000 x 20,000 Gram matrix needs 1.6 GB plus a few blocks of workspace.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Literal

import numpy as np

from scalinglab.errors import SpecError

ACTIVATIONS = ("relu", "erf")


def input_kernel(X: np.ndarray, Y: np.ndarray, weight_var: float, bias_var: float) -> np.ndarray:
    """K^0 = sigma_w^2 X Y^T / n_0 + sigma_b^2 (first-layer pre-activation covariance)."""
    return weight_var * (X @ Y.T) / X.shape[1] + bias_var


def input_diagonal(X: np.ndarray, weight_var: float, bias_var: float) -> np.ndarray:
    return weight_var * np.einsum("ij,ij->i", X, X) / X.shape[1] + bias_var


def relu_expectations(k11: np.ndarray, k22: np.ndarray, k12: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[relu(u) relu(v)] and E[step(u) step(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]).

    Arc-cosine kernels (Cho and Saul 2009): with cos t = k12 / sqrt(k11 k22),
    E[relu relu] = sqrt(k11 k22) (sin t + (pi - t) cos t) / (2 pi), E[step step] = (pi - t) / (2 pi).
    ``k11`` and ``k22`` broadcast against ``k12`` (column and row vectors for a block).
    """
    norm = np.sqrt(k11 * k22)
    cos = np.clip(k12 / norm, -1.0, 1.0)
    theta = np.arccos(cos)
    sin = np.sqrt(np.maximum(1.0 - cos * cos, 0.0))
    value = norm * (sin + (np.pi - theta) * cos) / (2 * np.pi)
    deriv = (np.pi - theta) / (2 * np.pi)
    return value, deriv


def erf_expectations(k11: np.ndarray, k22: np.ndarray, k12: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[erf(u) erf(v)] and E[erf'(u) erf'(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]).

    Williams (1997): E[erf erf] = (2 / pi) arcsin(2 k12 / sqrt((1 + 2 k11)(1 + 2 k22))); with
    erf'(u) = 2 exp(-u^2) / sqrt(pi), E[erf' erf'] = 4 / (pi sqrt((1 + 2 k11)(1 + 2 k22) - 4 k12^2)).
    """
    a = (1 + 2 * k11) * (1 + 2 * k22)
    value = (2 / np.pi) * np.arcsin(np.clip(2 * k12 / np.sqrt(a), -1.0, 1.0))
    deriv = 4 / (np.pi * np.sqrt(a - 4 * k12 * k12))
    return value, deriv


_EXPECTATIONS = {"relu": relu_expectations, "erf": erf_expectations}


def _activation_np(name: str):
    if name == "relu":
        return lambda z: np.maximum(z, 0.0)
    from scipy.special import erf

    return erf


@dataclasses.dataclass(frozen=True)
class FullyConnected:
    """A fully connected network with ``depth`` hidden layers and a scalar readout, NTK parameterisation:
    z^l = sqrt(weight_var / n_(l-1)) W^l h^(l-1) + sqrt(bias_var) b^l with W, b ~ N(0, 1).

    ``weight_var = 2`` with ReLU keeps the pre-activation variance constant through depth (He scaling).
    """

    depth: int = 2
    activation: Literal["relu", "erf"] = "relu"
    weight_var: float = 2.0
    bias_var: float = 0.0

    def __post_init__(self) -> None:
        if int(self.depth) != self.depth or self.depth < 1:
            raise SpecError(f"model.depth: must be a positive integer, got {self.depth!r}")
        if self.activation not in ACTIVATIONS:
            raise SpecError(f"model.activation: must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not (np.isfinite(self.weight_var) and self.weight_var > 0):
            raise SpecError(f"model.weight_var: must be positive, got {self.weight_var!r}")
        if not (np.isfinite(self.bias_var) and self.bias_var >= 0):
            raise SpecError(f"model.bias_var: must be non-negative, got {self.bias_var!r}")

    # ------------------------------------------------------------------ analytic kernels
    def diagonals(self, X: np.ndarray) -> list[np.ndarray]:
        """K^l(x, x) for l = 0..depth (pre-activation variances of every layer)."""
        X = _check_inputs(X)
        k = input_diagonal(X, self.weight_var, self.bias_var)
        out = [k]
        expect = _EXPECTATIONS[self.activation]
        for _ in range(self.depth):
            value, _ = expect(k, k, k)
            k = self.weight_var * value + self.bias_var
            out.append(k)
        return out

    def _block(self, Xb: np.ndarray, Yb: np.ndarray, dx: list[np.ndarray], dy: list[np.ndarray],
               ntk: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """NNGP (and NTK) of one block of rows of X against rows of Y, from the per-layer diagonals."""
        k = input_kernel(Xb, Yb, self.weight_var, self.bias_var)
        theta = k.copy() if ntk else None
        expect = _EXPECTATIONS[self.activation]
        for layer in range(self.depth):
            value, deriv = expect(dx[layer][:, None], dy[layer][None, :], k)
            k = self.weight_var * value + self.bias_var
            if ntk:
                theta = k + self.weight_var * deriv * theta
        return k, theta

    def kernels(self, X: np.ndarray, Y: np.ndarray | None = None, *, ntk: bool = True, block: int = 2048,
                dtype: type = np.float32, workers: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """NNGP and NTK Gram matrices K(X, Y) (Y = X when None), computed in ``block`` x ``block`` tiles in
        float64 and stored as ``dtype``. A symmetric Gram computes only the upper-triangle tiles. ``workers``
        threads fill tiles in parallel (numpy releases the GIL)."""
        X = _check_inputs(X)
        symmetric = Y is None
        Y = X if symmetric else _check_inputs(Y)
        if Y.shape[1] != X.shape[1]:
            raise SpecError(f"kernels: X has {X.shape[1]} features and Y has {Y.shape[1]}")
        if int(block) != block or block < 1:
            raise SpecError(f"block: must be a positive integer, got {block!r}")
        dx = self.diagonals(X)
        dy = dx if symmetric else self.diagonals(Y)
        n, m = X.shape[0], Y.shape[0]
        K = np.empty((n, m), dtype=dtype)
        T = np.empty((n, m), dtype=dtype) if ntk else None
        tiles = [(i, j) for i in range(0, n, block) for j in range(0, m, block) if not (symmetric and j < i)]

        def fill(tile: tuple[int, int]) -> None:
            i, j = tile
            ri, rj = slice(i, min(i + block, n)), slice(j, min(j + block, m))
            k, t = self._block(X[ri], Y[rj], [d[ri] for d in dx], [d[rj] for d in dy], ntk)
            K[ri, rj] = k
            if ntk:
                T[ri, rj] = t
            if symmetric and i != j:
                K[rj, ri] = k.T
                if ntk:
                    T[rj, ri] = t.T

        if workers > 1 and len(tiles) > 1:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                list(pool.map(fill, tiles))
        else:
            for tile in tiles:
                fill(tile)
        return K, T

    def nngp(self, X: np.ndarray, Y: np.ndarray | None = None, **kw) -> np.ndarray:
        """The NNGP kernel K^depth(X, Y) (see :meth:`kernels` for the keywords)."""
        return self.kernels(X, Y, ntk=False, **kw)[0]

    def ntk(self, X: np.ndarray, Y: np.ndarray | None = None, **kw) -> np.ndarray:
        """The NTK Theta^depth(X, Y) (see :meth:`kernels` for the keywords)."""
        return self.kernels(X, Y, ntk=True, **kw)[1]

    # ------------------------------------------------------------------ finite networks
    def draw_weights(self, in_features: int, width: int,
                     rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        """Standard-normal weights and biases of the hidden layers, [(W^l, b^l)], W^l of shape (width, n_(l-1))."""
        if int(width) != width or width < 1:
            raise SpecError(f"width: must be a positive integer, got {width!r}")
        sizes = [int(in_features)] + [int(width)] * self.depth
        return [(rng.standard_normal((sizes[i + 1], sizes[i])), rng.standard_normal(sizes[i + 1]))
                for i in range(self.depth)]

    def random_features(self, X: np.ndarray, weights: list[tuple[np.ndarray, np.ndarray]],
                        width: int | None = None) -> np.ndarray:
        """Features of the finite network's last hidden layer, scaled so that Phi Phi^T + sigma_b^2 is its
        empirical NNGP: Phi = sqrt(sigma_w^2 / P) phi(z^depth) with P the last width.

        ``width`` < the drawn width keeps the first ``width`` units of every hidden layer, so the networks of
        increasing width are nested (each one a sub-network of the next; random features of nested size P).
        """
        X = _check_inputs(X)
        phi = _activation_np(self.activation)
        h = X
        for W, b in weights:
            Wl = W if width is None else W[:width, : h.shape[1]]
            bl = b if width is None else b[:width]
            h = phi(np.sqrt(self.weight_var / h.shape[1]) * (h @ Wl.T) + np.sqrt(self.bias_var) * bl)
        return np.sqrt(self.weight_var / h.shape[1]) * h

    def architecture(self):
        """The finite network this kernel is the infinite-width limit of (``models.network.Architecture``)."""
        from scalinglab.models.network import Architecture

        return Architecture(depth=self.depth, activation=self.activation, weight_variance=self.weight_var,
                            bias_variance=self.bias_var, parameterization="ntk")

    def monte_carlo_kernels(self, X: np.ndarray, width: int, n_samples: int = 1,
                            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Empirical NNGP and NTK of the finite network (``architecture()``, float64), averaged over
        ``n_samples`` initialisations drawn from ``torch.Generator().manual_seed(seed)``
        (``models.network.empirical_kernels``)."""
        import torch

        from scalinglab.models.network import empirical_kernels

        X = _check_inputs(X)
        if int(n_samples) != n_samples or n_samples < 1:
            raise SpecError(f"n_samples: must be a positive integer, got {n_samples!r}")
        arch = self.architecture()
        gen = torch.Generator().manual_seed(int(seed))
        params = arch.init(X.shape[1], int(width), 1, gen, n=int(n_samples), dtype=torch.float64)
        K, T = empirical_kernels(arch, params, torch.as_tensor(X, dtype=torch.float64))
        return K.mean(0).numpy(), T.mean(0).numpy()


def _check_inputs(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise SpecError(f"inputs: must be a non-empty (n, features) array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise SpecError("inputs: contain NaN or infinity")
    return X


def relative_frobenius(A: np.ndarray, B: np.ndarray) -> float:
    """||A - B||_F / ||B||_F."""
    return float(np.linalg.norm(np.asarray(A, float) - B) / np.linalg.norm(B))


def gram_bytes(n: int, dtype: type = np.float32) -> int:
    """Memory of an n x n Gram matrix of ``dtype``."""
    return int(n) * int(n) * np.dtype(dtype).itemsize
