"""Kernel ridge regression with an NNGP/NTK kernel, and its random-feature counterpart, as a nested-size model.

Learning curve over nested data sizes from ONE Cholesky factorisation (Bahri et al. 2024, "kernel" experiments):
the leading D x D block of the Cholesky factor L of K + rI is the Cholesky factor of the leading block of K + rI,
and the forward substitution z = L^-1 y restricted to its first D entries is L_D^-1 y_D (L is lower triangular).
So every D costs one backward substitution, alpha_D = L_D^-T z_D, and one product with the test kernel.

Size knob (``features``):
- ``"exact"``: the analytic kernel, P = infinity; the size grid is no knob then, and every requested size gets
  the same measurement (give the grid one size; an empty list records model_size 0);
- ``"random"``: P random features of the finite network (its last hidden layer, width P, see
  ``FullyConnected.random_features``): the network of width P is the first P units of every hidden layer of the
  widest one, so the features are nested as P grows. D <= P is solved in the dual (D x D, nested in D from one
  factorisation per P), D > P in the primal (P x P).

Teacher average (task ``target = "student_kernel"``, the teacher-student setting of the paper): the teacher is a
Gaussian-process draw f ~ GP(0, K) with the student's own kernel, and the test loss is averaged over teachers
exactly. For the kernel, with A = K_D + rI = L_D L_D^T and k the test-train kernel,

    E_f L = mean_t [K(t, t) - |L_D^-1 k_t|^2 - r |L_D^-T L_D^-1 k_t|^2],

where W = L^-1 K(train, test) is computed once and L_D^-1 k_t is its first D rows. For random features
(predictions M y_D on the test points, M = Phi_t B), E_f L = mean_t [K_tt - 2 (M K_Dt)_tt + (M K_D M^T)_tt].
The training loss is that of one teacher draw y = L xi (a draw with kernel K + rI), for which L^-1 y = xi.

The ridge is relative: r = ridge x the mean diagonal of the largest training Gram, the same r at every size.
Losses are the mean over examples of the squared error summed over outputs.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from typing import Literal

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_limits

from scalinglab.contracts import Measurement, grid_sizes
from scalinglab.errors import SpecError
from scalinglab.models.kernels import FullyConnected

SAFE_THREADED_CHOLESKY = 12_000


def _mse(pred: np.ndarray, target: np.ndarray) -> float:
    diff = pred - target
    return float(np.sum(diff * diff) / diff.shape[0])


def nested_cholesky_curve(K: np.ndarray, K_test: np.ndarray, Y: np.ndarray, Y_test: np.ndarray,
                          data_sizes: list[int], ridge: float) -> list[tuple[int, float, float]]:
    """Kernel ridge at every D of ``data_sizes`` (ascending, <= len(K)) from one Cholesky factorisation.

    ``K`` is the (D_max, D_max) training Gram, ``K_test`` the (n_test, D_max) test-train Gram, ``ridge`` the
    absolute ridge r. Returns [(D, train MSE, test MSE)]; the training residual is r alpha_D.
    """
    n = K.shape[0]
    if K.shape != (n, n) or K_test.shape[1] != n or Y.shape[0] != n or Y_test.shape[0] != K_test.shape[0]:
        raise SpecError(f"nested_cholesky_curve: shapes K {K.shape}, K_test {K_test.shape}, Y {Y.shape}, "
                        f"Y_test {Y_test.shape} do not agree")
    sizes = grid_sizes("data sizes", data_sizes)
    if sizes[-1] > n:
        raise SpecError(f"data sizes: {sizes[-1]} exceeds the {n} training points of the Gram matrix")
    L = _cholesky(K, ridge)
    Y2 = Y.reshape(n, -1)
    Yt = Y_test.reshape(Y_test.shape[0], -1)
    z = linalg.solve_triangular(L, Y2, lower=True, check_finite=False)
    out = []
    for d in sizes:
        a = back_substitute(L, z[:d])
        test = _mse(np.asarray(K_test[:, :d], dtype=np.float64) @ a, Yt)
        train = float(ridge * ridge * np.sum(a * a) / d)
        out.append((d, train, test))
    return out


def _cholesky(K: np.ndarray, ridge: float) -> np.ndarray:
    """Lower Cholesky factor of K + ridge I, column-major (one copy of K: LAPACK factors it in place)."""
    A = np.asfortranarray(K, dtype=np.float64)
    if A is K or np.shares_memory(A, K):
        A = A.copy(order="F")
    A[np.diag_indices(A.shape[0])] += ridge
    # OpenBLAS 0.3.30/0.3.31 (scipy's and numpy's wheels) crash in the multithreaded dpotrf at n = 16,384 on a
    # 2-core machine (n = 12,000 ran); above that size the factorisation runs on one BLAS thread.
    limit = threadpool_limits(limits=1, user_api="blas") if A.shape[0] > SAFE_THREADED_CHOLESKY else nullcontext()
    try:
        with limit:
            return linalg.cholesky(A, lower=True, overwrite_a=True, check_finite=False)
    except linalg.LinAlgError:
        raise SpecError(f"model.ridge: the Gram matrix plus ridge {ridge:.3g} is not positive definite; "
                        "raise the ridge") from None


def back_substitute(L: np.ndarray, z: np.ndarray, block: int = 1024) -> np.ndarray:
    """Solve L_D^T a = z with L_D the leading D x D block of the lower factor L (D = len(z)), in column blocks
    of ``block``: only diagonal blocks are copied (LAPACK wants contiguous arrays; a leading block of a larger
    matrix is not), the off-diagonal updates are matrix products on views."""
    d = z.shape[0]
    a = np.array(z, dtype=np.float64, copy=True)
    for end in range(d, 0, -block):
        start = max(0, end - block)
        if end < d:
            a[start:end] -= L[end:d, start:end].T @ a[end:d]
        a[start:end] = linalg.solve_triangular(L[start:end, start:end], a[start:end], lower=True, trans="T",
                                               check_finite=False)
    return a


def _primal(Phi: np.ndarray, Phi_test: np.ndarray, Y: np.ndarray, Y_test: np.ndarray, ridge: float
            ) -> tuple[float, float]:
    """Ridge regression on features in the primal form, (Phi^T Phi + r I) theta = Phi^T Y."""
    Q = Phi.T @ Phi
    Q[np.diag_indices_from(Q)] += ridge
    c = linalg.cho_factor(Q, lower=True, check_finite=False)
    theta = linalg.cho_solve(c, Phi.T @ Y, check_finite=False)
    return _mse(Phi @ theta, Y), _mse(Phi_test @ theta, Y_test)


@dataclasses.dataclass
class KernelRidge:
    """Kernel ridge regression with the NNGP or NTK of a fully connected network (or its random features)."""

    depth: int = 2
    activation: Literal["relu", "erf"] = "relu"
    weight_var: float = 2.0
    bias_var: float = 0.0
    kernel: Literal["nngp", "ntk"] = "nngp"
    features: Literal["exact", "random"] = "exact"
    ridge: float = 1e-8
    n_test: int = 2000
    block: int = 2048
    dtype: Literal["float64", "float32"] = "float64"
    name: str = "kernel_ridge"

    def __post_init__(self) -> None:
        if self.kernel not in ("nngp", "ntk"):
            raise SpecError(f"model.kernel: must be 'nngp' or 'ntk', got {self.kernel!r}")
        if self.features not in ("exact", "random"):
            raise SpecError(f"model.features: must be 'exact' or 'random', got {self.features!r}")
        if self.features == "random" and self.kernel != "nngp":
            raise SpecError("model.features: random features approximate the NNGP; set model.kernel = 'nngp'")
        if not (np.isfinite(self.ridge) and self.ridge >= 0):
            raise SpecError(f"model.ridge: must be non-negative, got {self.ridge!r}")
        if int(self.n_test) != self.n_test or self.n_test < 1:
            raise SpecError(f"model.n_test: must be a positive integer, got {self.n_test!r}")
        if self.dtype not in ("float64", "float32"):
            raise SpecError(f"model.dtype: must be 'float64' or 'float32', got {self.dtype!r}")
        _ = self.architecture  # validates depth, activation and variances

    @property
    def architecture(self) -> FullyConnected:
        return FullyConnected(self.depth, self.activation, self.weight_var, self.bias_var)

    def gram(self, X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
        """The analytic kernel of this model between rows of X and Y (blocked, stored as ``dtype``: float32
        halves the memory but its rounding, about 1e-7 of the diagonal, needs a relative ridge above that)."""
        arch = self.architecture
        kw = {"block": self.block, "dtype": np.dtype(self.dtype).type}
        return arch.ntk(X, Y, **kw) if self.kernel == "ntk" else arch.nngp(X, Y, **kw)

    def properties(self) -> dict[str, float]:
        """What theory needs of the model: whether the size knob counts random features (exact kernels have
        no size knob)."""
        random = self.features == "random"
        return {"random_features": float(random), "size_knob": float(random)}

    def learning_curve(self, task, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        """Train and test losses at every (D, P) of the grid for one seed: one draw of D_max training and
        ``n_test`` test points from ``task.sample``, reused (by prefix) at every size."""
        ds = grid_sizes("grid.data", data_sizes)
        t0 = time.perf_counter()
        X, Y = task.sample(ds[-1] + int(self.n_test), rng)
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64).reshape(X.shape[0], -1)
        n = ds[-1]
        Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
        average = getattr(task, "target", None) == "student_kernel"
        if self.features == "exact" or average:
            K = self.gram(Xtr)
            Kt = self.gram(Xte, Xtr)
            r = self.ridge * float(np.mean(np.diag(K)))
        if self.features == "exact":
            if average:
                rows = teacher_average_curve(K, Kt, self._test_diagonal(Xte), ds, r, rng)
            else:
                rows = nested_cholesky_curve(K, Kt, Ytr, Yte, ds, r)
            sizes = sorted({int(p) for p in model_sizes}) or [0]  # an exact kernel has no size knob: 0 stands for it
            if sizes[0] < 0:
                raise SpecError(f"grid.size: sizes must be non-negative integers, got {sizes}")
            share = (time.perf_counter() - t0) / len(rows) / len(sizes)
            return [Measurement(d, p, -1, tr, te, share, {"ridge_absolute": r, "exact_kernel": 1.0})
                    for d, tr, te in rows for p in sizes]
        if average:
            return self._random_features_average(X, n, ds, model_sizes, K, Kt, self._test_diagonal(Xte), rng)
        ps = grid_sizes("grid.size", model_sizes)
        arch = self.architecture
        weights = arch.draw_weights(X.shape[1], ps[-1], rng)
        out: list[Measurement] = []
        for p in ps:
            t = time.perf_counter()
            Phi = arch.random_features(X, weights, width=p)
            if self.bias_var > 0:
                Phi = np.hstack([Phi, np.full((Phi.shape[0], 1), np.sqrt(self.bias_var))])
            Ptr, Pte = Phi[:n], Phi[n:]
            r = self.ridge * float(np.mean(np.einsum("ij,ij->i", Ptr, Ptr)))
            dual = [d for d in ds if d <= p]
            if dual:
                m = dual[-1]
                rows = nested_cholesky_curve(Ptr[:m] @ Ptr[:m].T, Pte @ Ptr[:m].T, Ytr[:m], Yte, dual, r)
                share = (time.perf_counter() - t) / len(rows)
                out += [Measurement(d, p, -1, tr, te, share, {"ridge_absolute": r}) for d, tr, te in rows]
            for d in ds:
                if d > p:
                    t1 = time.perf_counter()
                    tr, te = _primal(Ptr[:d], Pte, Ytr[:d], Yte, r)
                    out.append(Measurement(d, p, -1, tr, te, time.perf_counter() - t1, {"ridge_absolute": r}))
        out.sort(key=lambda m: (m.data_size, m.model_size))
        return out

    def _test_diagonal(self, X: np.ndarray) -> np.ndarray:
        arch = self.architecture
        if self.kernel == "nngp":
            return arch.diagonals(X)[-1]
        return np.diag(arch.ntk(X, block=self.block, dtype=np.float64)).copy()

    def _random_features_average(self, X, n, ds, model_sizes, K, Kt, ktt, rng) -> list[Measurement]:
        """Random-feature ridge regression averaged over teachers f ~ GP(0, K) (module docstring)."""
        ps = grid_sizes("grid.size", model_sizes)
        arch = self.architecture
        weights = arch.draw_weights(X.shape[1], ps[-1], rng)
        xi = rng.standard_normal(n)
        Kd = np.asarray(K, dtype=np.float64)
        A = Kd.copy()
        A[np.diag_indices(n)] += self.ridge * float(np.mean(np.diag(Kd)))
        y = linalg.cholesky(A, lower=True, check_finite=False) @ xi  # one teacher draw (for the training loss)
        out: list[Measurement] = []
        for p in ps:
            Phi = arch.random_features(X, weights, width=p)
            if self.bias_var > 0:
                Phi = np.hstack([Phi, np.full((Phi.shape[0], 1), np.sqrt(self.bias_var))])
            Ptr, Pte = Phi[:n], Phi[n:]
            r = self.ridge * float(np.mean(np.einsum("ij,ij->i", Ptr, Ptr)))
            for d in ds:
                t = time.perf_counter()
                Pd = Ptr[:d]
                if d <= p:
                    G = Pd @ Pd.T
                    G[np.diag_indices(d)] += r
                    c = linalg.cho_factor(G, lower=True, check_finite=False)
                    M = linalg.cho_solve(c, Pd @ Pte.T, check_finite=False).T  # Phi_t Phi^T (Phi Phi^T + r)^-1
                else:
                    Q = Pd.T @ Pd
                    Q[np.diag_indices_from(Q)] += r
                    c = linalg.cho_factor(Q, lower=True, check_finite=False)
                    M = Pte @ linalg.cho_solve(c, Pd.T, check_finite=False)  # Phi_t (Phi^T Phi + r)^-1 Phi^T
                Ktd = np.asarray(Kt[:, :d], dtype=np.float64)
                quad = np.einsum("ij,ij->i", M @ Kd[:d, :d], M)
                test = float(np.mean(ktt - 2 * np.einsum("ij,ij->i", M, Ktd) + quad))
                if d <= p:  # training residual r (Phi Phi^T + r)^-1 y
                    train = float(r * r * np.sum(linalg.cho_solve(c, y[:d], check_finite=False) ** 2) / d)
                else:
                    theta = linalg.cho_solve(c, Pd.T @ y[:d], check_finite=False)
                    train = _mse(Pd @ theta, y[:d])
                out.append(Measurement(d, p, -1, train, test, time.perf_counter() - t, {"ridge_absolute": r}))
        out.sort(key=lambda m: (m.data_size, m.model_size))
        return out


def teacher_average_curve(K: np.ndarray, K_test: np.ndarray, k_test_diag: np.ndarray, data_sizes: list[int],
                          ridge: float, rng: np.random.Generator) -> list[tuple[int, float, float]]:
    """Kernel ridge test loss averaged over teachers f ~ GP(0, K), at every D from one Cholesky factorisation
    (module docstring); the training loss is that of one teacher draw. Returns [(D, train, test)]."""
    n = K.shape[0]
    sizes = grid_sizes("data sizes", data_sizes)
    L = _cholesky(K, ridge)
    W = linalg.solve_triangular(L, np.asarray(K_test, dtype=np.float64).T, lower=True, check_finite=False)
    xi = rng.standard_normal(n)  # y = L xi, so L^-1 y = xi
    mean_ktt = float(np.mean(k_test_diag))
    out = []
    for d in sizes:
        Wd = W[:d]
        V = back_substitute(L, Wd)
        test = mean_ktt - float(np.sum(Wd * Wd) + ridge * np.sum(V * V)) / W.shape[1]
        a = back_substitute(L, xi[:d])
        out.append((d, float(ridge * ridge * np.sum(a * a) / d), test))
    return out
