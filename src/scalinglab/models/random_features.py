"""Linear random-feature student of Bahri et al. (2024): least squares on P random projections of the
latent features, solved for a whole nested (D, P) grid from one draw of the largest problem.

For the teacher-student task the fitted coefficients are linear in the labels, theta = B y with
B = (Phi^T Phi + r)^-1 Phi^T = Phi^T (Phi Phi^T + r)^-1, so the population loss averaged over teachers
w ~ N(0, I) is exact (paper summary, "measuring the variance-limited regimes"):

    E_w L = Tr(Lambda) - 2 Tr(B G) + Tr(B K_F B^T H) + noise^2 (1 + Tr(B^T H B)),

with Phi = F Proj^T (the D x P features), G = F Lambda Proj^T, K_F = F F^T and H = Proj Lambda Proj^T.
Every matrix of a grid point is a leading block of the matrix of the largest problem, so the products are
formed once per seed; each grid point then costs one Cholesky factorisation of min(D, P) size, done in the
dual (D x D) form when D <= P and in the primal (P x P) form when D > P.

The closed-form limits are recorded with every point:
``loss_data_limit`` L(D = inf, P) = Tr(Lambda) - Tr(H^-1 Proj Lambda^2 Proj^T) + noise^2, and
``loss_model_limit`` L(D, P = inf) = Tr(Lambda) - Tr(K_F^-1 F Lambda F^T) + noise^2 (1 + Tr(K_F^-2 F Lambda F^T)),
the min-norm interpolant in latent-feature space (the Gaussian-process posterior variance).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy import linalg

from scalinglab.contracts import Measurement
from scalinglab.errors import SpecError
from scalinglab.tasks.teacher_student import TeacherStudent


def _check_sizes(name: str, sizes: list[int]) -> list[int]:
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 1:
        raise SpecError(f"{name}: sizes must be positive integers, got {sizes}")
    return sizes


def _inv_spd(M: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix through its Cholesky factor."""
    c = linalg.cho_factor(M, lower=True, check_finite=False)
    return linalg.cho_solve(c, np.eye(M.shape[0]), check_finite=False)


def _tr(A: np.ndarray, B: np.ndarray) -> float:
    """Tr(A B) without forming the product."""
    return float(np.einsum("ij,ji->", A, B))


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
        ds, ps = _check_sizes("grid.data", data_sizes), _check_sizes("grid.size", model_sizes)
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
        proj_lam = proj * lam
        A = F @ proj.T  # student features Phi
        G = F @ proj_lam.T
        KF = F @ F.T
        H = proj_lam @ proj.T
        K2 = (F * lam) @ F.T
        H2 = proj_lam @ proj_lam.T
        pw = proj_lam @ w  # Proj Lambda w
        wlw = float(w @ (lam * w))
        setup = time.perf_counter() - t0

        data_limit = {p: self._data_limit(H[:p, :p], H2[:p, :p], tr_lam) + sigma2 for p in ps}
        model_limit = {d: self._model_limit(KF[:d, :d], K2[:d, :d], tr_lam, sigma2) for d in ds}

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
            V = (Ap @ H[:p, :p]) @ Ap.T
            for d in dual:
                t = time.perf_counter()
                K = Kp[:d, :d]
                r = self.ridge * float(np.trace(K)) / d
                Rinv = _inv_spd(K + r * np.eye(d))
                RKF = Rinv @ KF[:d, :d]
                RV = Rinv @ V[:d, :d]
                test_avg = tr_lam - 2 * _tr(Rinv, U[:d, :d]) + _tr(RKF, RV) + sigma2 * (1 + _tr(Rinv, RV))
                resid_op = r * Rinv  # I - hat matrix
                train_avg = (r * r * _tr(RKF, Rinv) + sigma2 * r * r * _tr(Rinv, Rinv)) / d
                theta = Ap[:d].T @ (Rinv @ y[:d])
                out.append(
                    self._measure(task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg, resid_op, t,
                                  data_limit, model_limit, setup / len(ds) / len(ps))
                )
        # Primal form, D > P: products nested in P for each D.
        for d in ds:
            primal = [p for p in ps if p < d]
            if not primal:
                continue
            m = primal[-1]
            Ad = A[:d, :m]
            Q = Ad.T @ Ad
            X = Ad.T @ G[:d, :m]
            W = Ad.T @ (KF[:d, :d] @ Ad)
            for p in primal:
                t = time.perf_counter()
                Qp, Hp = Q[:p, :p], H[:p, :p]
                r = self.ridge * float(np.trace(Qp)) / d
                Cinv = _inv_spd(Qp + r * np.eye(p))
                CW = Cinv @ W[:p, :p]
                CQ = Cinv @ Qp
                CH = Cinv @ Hp
                test_avg = tr_lam - 2 * _tr(Cinv, X[:p, :p]) + _tr(CW, CH) + sigma2 * (1 + _tr(CQ, CH))
                tr_hat_kf = float(np.trace(CW))
                train_avg = (float(np.trace(KF[:d, :d])) - 2 * tr_hat_kf + _tr(CW, CQ)
                             + sigma2 * (d - 2 * float(np.trace(CQ)) + _tr(CQ, CQ))) / d
                theta = Cinv @ (Ad[:, :p].T @ y[:d])
                out.append(
                    self._measure(task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg, None, t,
                                  data_limit, model_limit, setup / len(ds) / len(ps))
                )
        out.sort(key=lambda m: (m.data_size, m.model_size))
        return out

    def _measure(self, task, d, p, theta, pw, H, wlw, A, y, test_avg, train_avg, _resid, t, data_limit,
                 model_limit, setup_share) -> Measurement:
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

    @staticmethod
    def _data_limit(H: np.ndarray, H2: np.ndarray, tr_lam: float) -> float:
        """L(D = inf, P) without noise: Tr(Lambda) - Tr(H^-1 Proj Lambda^2 Proj^T) (best P-feature predictor)."""
        c = linalg.cho_factor(H, lower=True, check_finite=False)
        return tr_lam - float(np.trace(linalg.cho_solve(c, H2, check_finite=False)))

    @staticmethod
    def _model_limit(KF: np.ndarray, K2: np.ndarray, tr_lam: float, sigma2: float) -> float:
        """L(D, P = inf): the min-norm interpolant on the latent features (kernel K_F)."""
        c = linalg.cho_factor(KF, lower=True, check_finite=False)
        S = linalg.cho_solve(c, K2, check_finite=False)  # K_F^-1 K2
        value = tr_lam - float(np.trace(S)) + sigma2
        if sigma2:
            value += sigma2 * float(np.trace(linalg.cho_solve(c, S.T, check_finite=False)))
        return value
