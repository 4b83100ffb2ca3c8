"""Linear random-feature student of Bahri et al. (2024): least squares on P random projections of the
latent features, solved for a whole nested (D, P) grid from one draw of the largest problem.

For the teacher-student task the fitted coefficients are linear in the labels, theta = B y with
B = (Phi^T Phi + r)^-1 Phi^T = Phi^T (Phi Phi^T + r)^-1, so the population loss averaged over teachers
w ~ N(0, I) is exact (paper summary, "measuring the variance-limited regimes"):

    E_w L = Tr(Lambda) - 2 Tr(B G) + Tr(B K_F B^T H) + noise^2 (1 + Tr(B^T H B)),

with Phi = F Proj^T (the D x P features), G = F Lambda Proj^T, K_F = F F^T and H = Proj Lambda Proj^T.
Every matrix of a grid point is a leading block of the matrix of the largest problem, so the S-dimensional
products are formed once per seed (four of them as symmetric rank-k updates). K_F and H are factorised once:
the leading n x n block of a Cholesky factor is the factor of the leading block, so L_K and L_H serve every
D and P. The grid is solved in the dual (D x D) form when D <= P, with one block of products per P nested in D,
and in the primal (P x P) form when D > P, one block per D nested in P. The relative ridge differs from point
to point, so each point factorises its own K + r I (potrf, potri: S = (K + r I)^-1) and takes its traces from
S and the shared blocks, with no inverse of anything else: in the dual form Tr(S U), U = G A^T, and
Tr(S K_F S V) = <P1^T P1, V>, P1 = L_K^T S, V = A H A^T; in the primal form S Q = I - r S removes every
product with Q.

The closed-form limits are recorded with every point:
``loss_data_limit`` L(D = inf, P) = Tr(Lambda) - Tr(H^-1 Proj Lambda^2 Proj^T) + noise^2, and
``loss_model_limit`` L(D, P = inf) = Tr(Lambda) - Tr(K_F^-1 F Lambda F^T) + noise^2 (1 + Tr(K_F^-2 F Lambda F^T)),
the min-norm interpolant in latent-feature space (the Gaussian-process posterior variance). They nest too:
Tr(K_n^-1 M_n) is the cumulative sum of the diagonal of L^-1 M L^-T for the largest factor L.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy.linalg import blas, lapack

from scalinglab.contracts import Measurement, grid_sizes
from scalinglab.errors import SpecError
from scalinglab.tasks.teacher_student import TeacherStudent


def _cholesky(M: np.ndarray, what: str) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive-definite matrix, column-major."""
    L, info = lapack.dpotrf(np.asfortranarray(M), lower=1, clean=1)
    if info:
        raise SpecError(f"model.ridge: {what} is not positive definite to working precision; raise the ridge")
    return L


def _inv_shifted(K: np.ndarray, r: float) -> np.ndarray:
    """(K + r I)^-1 of a symmetric positive-definite K, through its Cholesky factor (LAPACK potrf, potri)."""
    C = np.array(K, dtype=np.float64, order="F")
    C[np.diag_indices_from(C)] += r
    L, info = lapack.dpotrf(C, lower=1, overwrite_a=1)
    if info:
        raise SpecError(f"model.ridge: the Gram matrix plus ridge {r:.3g} is not positive definite; raise the ridge")
    S, info = lapack.dpotri(L, lower=1, overwrite_c=1)
    S = np.tril(S)
    return S + np.tril(S, -1).T


def _trmm(B: np.ndarray, L: np.ndarray, trans: bool = False) -> np.ndarray:
    """B L (or B L^T) for lower-triangular L (BLAS trmm, half the work of a full product)."""
    return blas.dtrmm(1.0, np.asfortranarray(L), np.asfortranarray(B), side=1, lower=1, trans_a=int(trans))


def _trmm_t(L: np.ndarray, B: np.ndarray, trans: bool = True) -> np.ndarray:
    """L^T B (or L B with ``trans=False``) for lower-triangular L."""
    return blas.dtrmm(1.0, np.asfortranarray(L), np.asfortranarray(B), lower=1, trans_a=int(trans))


def _tri_inv(L: np.ndarray) -> np.ndarray:
    Li, info = lapack.dtrtri(L, lower=1)
    if info:
        raise SpecError("model.ridge: a Gram matrix is singular to working precision; raise the ridge")
    return Li


def _tr(A: np.ndarray, B: np.ndarray) -> float:
    """Tr(A B) without forming the product."""
    return float(np.einsum("ij,ji->", A, B))


def _nested_trace_inv(L: np.ndarray, M: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Tr(K_n^-1 M_n) for every n of ``sizes``, where K_n, M_n are leading n x n blocks and L is the Cholesky
    factor of the largest K: (L^-1 M L^-T)_nn = L_n^-1 M_n L_n^-T (L is lower triangular), so one product
    serves every n and the traces are cumulative sums of its diagonal."""
    Li = _tri_inv(L)
    diag = np.einsum("ij,ij->i", _trmm_t(Li, M, trans=False), Li)
    return np.cumsum(diag)[np.asarray(sizes) - 1]


def _nested_trace_inv2(L: np.ndarray, M: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Tr(K_n^-2 M_n) for every n: Tr((L_n^-1 L_n^-T)(L_n^-1 M_n L_n^-T)), both factors leading blocks of
    the largest ones, so the traces are the leading-block sums of one elementwise product."""
    Li = _tri_inv(L)
    C = Li @ Li.T
    Z = _trmm(_trmm_t(Li, M, trans=False), Li, trans=True)  # Li M Li^T
    sums = np.cumsum(np.cumsum(C * Z, axis=0), axis=1)
    idx = np.asarray(sizes) - 1
    return sums[idx, idx]


@dataclasses.dataclass
class RandomFeatures:
    """Ridge (default nearly ridgeless) least squares on P fixed Gaussian projections of the latent features.

    ``ridge`` is relative: the penalty added to the Gram matrix is ridge times its mean diagonal, the mean
    squared norm of a feature vector, so that it means the same at every size. With ridge -> 0 the solution is
    least squares when P < D and the minimum-norm interpolant when P >= D.
    """

    ridge: float = 1e-8
    name: str = "random_features"

    def __post_init__(self) -> None:
        if not np.isfinite(self.ridge) or self.ridge < 0:
            raise SpecError(f"model.ridge: must be non-negative, got {self.ridge!r}")

    def properties(self) -> dict[str, float]:
        """What theory needs of the model: its size knob counts random features."""
        return {"random_features": 1.0}

    def learning_curve(
        self,
        task: TeacherStudent,
        data_sizes: list[int],
        model_sizes: list[int],
        rng: np.random.Generator,
    ) -> list[Measurement]:
        """Train and population losses at every (D, P) of the grid, for one seed, from one draw."""
        if not isinstance(task, TeacherStudent):
            raise SpecError(f"model.kind random_features needs task.kind teacher_student, got {task.name!r}")
        ds, ps = grid_sizes("grid.data", data_sizes), grid_sizes("grid.size", model_sizes)
        t0 = time.perf_counter()
        lam, sigma2 = task.eigenvalues, task.noise**2
        tr_lam = float(lam.sum())
        D, P = ds[-1], ps[-1]

        # One draw of the largest problem; every grid point uses leading rows and columns.
        F = task.sample_features(D, rng)
        proj = rng.standard_normal((P, task.features))
        noise = task.noise * rng.standard_normal(D)
        w = task.teacher
        y = F @ w + noise
        root = np.sqrt(lam)
        scaled = F * root
        K2 = scaled @ scaled.T  # F Lambda F^T
        del scaled
        Ps = proj * root  # Proj Lambda^1/2
        H = Ps @ Ps.T
        Ps *= root  # now Proj Lambda
        H2 = Ps @ Ps.T
        G = F @ Ps.T
        pw = Ps @ w  # Proj Lambda w
        del Ps
        A = F @ proj.T  # student features Phi
        KF = F @ F.T
        del F, proj
        wlw = float(w @ (lam * w))
        LK, LH = _cholesky(KF, "K_F = F F^T"), _cholesky(H, "H = Proj Lambda Proj^T")
        data_limit = dict(zip(ps, (tr_lam - _nested_trace_inv(LH, H2, ps) + sigma2).tolist(), strict=True))
        model_limit = dict(zip(ds, (tr_lam - _nested_trace_inv(LK, K2, ds) + sigma2).tolist(), strict=True))
        if sigma2:
            for d, v in zip(ds, _nested_trace_inv2(LK, K2, ds).tolist(), strict=True):
                model_limit[d] += sigma2 * v
        setup = time.perf_counter() - t0

        out: list[Measurement] = []
        # Dual form, D <= P: products nested in D for each P.
        for p in ps:
            dual = [d for d in ds if d <= p]
            if not dual:
                continue
            m = dual[-1]
            Ap = A[:m, :p]
            Kp = Ap @ Ap.T
            U = G[:m, :p] @ Ap.T
            E = _trmm(Ap, LH[:p, :p])  # Ap L_H, so that V = Ap H Ap^T = E E^T
            V = E @ E.T
            del E
            for d in dual:
                t = time.perf_counter()
                Kd = Kp[:d, :d]
                r = self.ridge * float(np.trace(Kd)) / d
                S = _inv_shifted(Kd, r)  # (K + r I)^-1
                P1 = _trmm_t(LK[:d, :d], S)  # L_K^T S, so that S K_F S = P1^T P1
                SKS = P1.T @ P1
                Vd = V[:d, :d]
                test_avg = tr_lam - 2 * _tr(S, U[:d, :d]) + float(np.vdot(SKS, Vd)) + sigma2
                train_avg = r * r * float(np.trace(SKS))
                if sigma2:
                    test_avg += sigma2 * float(np.vdot(S @ S, Vd))
                    train_avg += sigma2 * r * r * float(np.vdot(S, S))
                theta = Ap[:d].T @ (S @ y[:d])
                out.append(self._measure(task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg / d, t,
                                         data_limit, model_limit, setup / len(ds) / len(ps)))
        # Primal form, D > P: products nested in P for each D.
        for d in ds:
            primal = [p for p in ps if p < d]
            if not primal:
                continue
            m = primal[-1]
            Ad = A[:d, :m]
            Q = Ad.T @ Ad
            X = Ad.T @ G[:d, :m]
            E = _trmm_t(LK[:d, :d], Ad)  # L_K^T Ad, so that W = Ad^T K_F Ad = E^T E
            W = E.T @ E
            del E
            tr_kf = float(np.trace(KF[:d, :d]))
            for p in primal:
                t = time.perf_counter()
                Qp = Q[:p, :p]
                r = self.ridge * float(np.trace(Qp)) / d
                S = _inv_shifted(Qp, r)  # C^-1, C = Q + r I, so S Q = I - r S
                P1 = _trmm_t(LH[:p, :p], S)  # L_H^T S, so that S H S = P1^T P1
                SHS = P1.T @ P1
                S2 = S @ S
                Wp, Hp = W[:p, :p], H[:p, :p]
                tr_sw = float(np.vdot(S, Wp))
                test_avg = tr_lam - 2 * _tr(S, X[:p, :p]) + float(np.vdot(SHS, Wp)) + sigma2
                # Tr(S W S Q) = Tr(S W) - r Tr(S W S); Tr(S Q) = p - r Tr(S); Tr((S Q)^2) = Tr((I - r S)^2).
                train_avg = tr_kf - tr_sw - r * float(np.vdot(S2, Wp))
                if sigma2:
                    test_avg += sigma2 * (float(np.vdot(S, Hp)) - r * float(np.vdot(S2, Hp)))
                    train_avg += sigma2 * (d - p + r * r * float(np.vdot(S, S)))
                theta = S @ (Ad[:, :p].T @ y[:d])
                out.append(self._measure(task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg / d, t,
                                         data_limit, model_limit, setup / len(ds) / len(ps)))
        out.sort(key=lambda m: (m.data_size, m.model_size))
        return out

    def _measure(self, task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg, t, data_limit, model_limit,
                 setup_share) -> Measurement:
        sigma2 = task.noise**2
        test_one = wlw - 2 * float(theta @ pw[:p]) + float(theta @ (H[:p, :p] @ theta)) + sigma2
        train_one = float(np.mean((A[:d, :p] @ theta - y[:d]) ** 2))
        extra = {
            "loss_single_teacher": test_one,
            "train_loss_single_teacher": train_one,
            "loss_teacher_average": float(test_avg),
            "loss_data_limit": data_limit[p],
            "loss_model_limit": model_limit[d],
        }
        use_avg = task.average_teacher
        return Measurement(
            data_size=d,
            model_size=p,
            seed=-1,
            train_loss=float(train_avg) if use_avg else train_one,
            test_loss=float(test_avg) if use_avg else test_one,
            wall_seconds=time.perf_counter() - t + setup_share,
            extra=extra,
        )
