"""Many refits at once: the bootstrap's resampled problems solved side by side by a bounded Levenberg-Marquardt
(Gauss-Newton on the loss of log residuals) from the full-data optimum.

Every resample of a fixed design shares the sizes X: a row bootstrap weights the rows by how often they were
drawn, a residual bootstrap changes the observed losses, a group bootstrap does both. So one call of the law's
closed-form gradient (``Law.grad``) on (n, B) arrays serves all B problems, where a loop of scalar L-BFGS-B
refits pays the optimiser's per-iteration overhead B times.

Step: with J the Jacobian of log L in the optimisation variables, w the resampling weights and rho the loss of
log residuals r, the gradient is J^T (w rho'(r)) and the Gauss-Newton Hessian J^T diag(w rho''(r)) J (exact for
least squares up to the residual curvature term; for the Huber loss the curvature of the clipped points is
left out). Variables at a bound whose gradient points outwards are held there (projected Newton, Bertsekas
1982); the damping grows after a step that does not lower the objective and shrinks after one that does. A
problem stops when a near-Newton step (damping at most 1e-3) lowers the objective by at most ``ftol``
times max(1, |f|) (L-BFGS-B's criterion) or its projected gradient is at most ``gtol``; problems that do not
stop within ``max_iter`` steps are reported so that the caller can refit them one by one.
"""

from __future__ import annotations

import numpy as np

from scalinglab.fit.laws import Law


def loss_terms(r: np.ndarray, loss: str, delta: float, asymmetry: float):
    """rho(r), rho'(r), rho''(r) elementwise for the losses of ``fit.estimate.objective``."""
    if loss == "ls":
        return r * r, 2.0 * r, np.full_like(r, 2.0)
    if loss == "huber-log":
        inside = np.abs(r) <= delta
        rho = np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
        return rho, np.where(inside, r, delta * np.sign(r)), inside.astype(float)
    wt = np.where(r > 0, asymmetry, 1.0)
    return wt * r * r, 2.0 * wt * r, 2.0 * wt


def evaluate(law: Law, X: np.ndarray, logy: np.ndarray, W: np.ndarray | None, U: np.ndarray,
             logscale: np.ndarray, loss: str, delta: float, asymmetry: float):
    """Objective (B,), gradient (B, p), Gauss-Newton Hessian (B, p, p) and the squared weighted column norms of
    the Jacobian (B, p), the damping's scale, at the rows of U (B, p).

    logy and W have shape (n, B) or (n, 1); W None means unit weights. Parameters on a log scale enter as
    exp(u) (clipped at |u| = 700, as ``_Problem.to_params``); predictions below 1e-300 are clipped there and
    contribute no gradient."""
    with np.errstate(all="ignore"):
        V = np.where(logscale, np.exp(np.clip(U, -700, 700)), U)
        L, G = law.value_and_grad(X, {n: V[:, j] for j, n in enumerate(law.names)})  # (n, B), (p, n, B)
        Lc = np.maximum(L, 1e-300)
        r = np.log(Lc) - logy
        rho, d1, d2 = loss_terms(r, loss, delta, asymmetry)
        if W is not None:
            rho, d1, d2 = rho * W, d1 * W, d2 * W
        f = rho.sum(axis=0)
        chain = np.where(logscale, V, 1.0).T[:, None, :]  # d v / d u, (p, 1, B)
        J = np.where(L > 1e-300, G * chain / Lc, 0.0)  # d log L / d u, (p, n, B)
        Jt = J.transpose(2, 0, 1)  # (B, p, n)
        g = np.einsum("bpn,nb->bp", Jt, d1)
        H = Jt @ (Jt * d2.T[:, None, :]).transpose(0, 2, 1)
        D = np.einsum("bpn,nb->bp", Jt * Jt, np.ones_like(r) if W is None else W + 0.0 * r)
    bad = ~np.isfinite(f) | ~np.all(np.isfinite(g), axis=1) | ~np.all(np.isfinite(H), axis=(1, 2))
    f = np.where(bad, np.inf, f)
    return f, g, H, D


def refine_many(law: Law, X: np.ndarray, logy: np.ndarray, W: np.ndarray | None, U0: np.ndarray,
                lower: np.ndarray, upper: np.ndarray, logscale: np.ndarray, loss: str, delta: float,
                asymmetry: float, *, max_iter: int = 200, ftol: float = 1e-15, gtol: float = 1e-12):
    """Minimise B problems from the starts U0 (B, p) within the bounds lower, upper ((p,) or (B, p), in the
    optimisation variables). Returns (U, objective, converged), each with B rows."""
    B, p = U0.shape
    lower = np.broadcast_to(lower, (B, p))
    upper = np.broadcast_to(upper, (B, p))
    ny = logy.shape[1]
    U = np.clip(U0, lower, upper)
    f, g, H, D = evaluate(law, X, logy, W, U, logscale, loss, delta, asymmetry)
    mu = np.full(B, 1e-3)
    done = np.zeros(B, dtype=bool)
    converged = np.zeros(B, dtype=bool)
    eye = np.eye(p)
    for _ in range(max_iter):
        act = np.flatnonzero(~done & np.isfinite(f))
        if act.size == 0:
            break
        Ua, lo, hi, ga, Ha, Da = U[act], lower[act], upper[act], g[act], H[act], D[act]
        free = ~(((Ua <= lo) & (ga > 0)) | ((Ua >= hi) & (ga < 0)))
        pg = np.where(free, ga, 0.0)
        small = np.max(np.abs(pg), axis=1) <= gtol
        done[act[small]] = converged[act[small]] = True
        mask = free[:, :, None] & free[:, None, :]
        Hf = np.where(mask, Ha, 0.0) + eye * ~free[:, None, :]
        # Marquardt scaling by the Jacobian's column norms: where few Huber residuals lie inside delta, the
        # Gauss-Newton Hessian is near singular and the damped step turns into scaled gradient descent.
        scale = np.where(free, np.maximum(Da, 1e-12 * np.max(Da, axis=1, keepdims=True) + 1e-300), 1.0)
        A = Hf + mu[act, None, None] * eye * scale[:, None, :]
        try:
            step = -np.linalg.solve(A, pg[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -pg / np.maximum(scale, 1e-300)
        Ut = np.clip(Ua + step, lo, hi)
        sub_y = logy[:, act] if ny > 1 else logy
        sub_w = None if W is None else (W[:, act] if W.shape[1] > 1 else W)
        ft, gt, Ht, Dt = evaluate(law, X, sub_y, sub_w, Ut, logscale, loss, delta, asymmetry)
        fa = f[act]
        accept = ft < fa
        gain = fa - ft
        stop = ((accept & (gain <= ftol * np.maximum(1.0, np.maximum(np.abs(fa), np.abs(ft))))
                 & (mu[act] <= 1e-3)) | np.all(Ut == Ua, axis=1)) & ~small
        idx = act[accept]
        U[idx], f[idx], g[idx], H[idx], D[idx] = Ut[accept], ft[accept], gt[accept], Ht[accept], Dt[accept]
        mu[act] = np.where(accept, np.maximum(mu[act] / 5.0, 1e-12), mu[act] * 8.0)
        converged[act[stop]] = True
        done[act[stop | small | (mu[act] > 1e12)]] = True
    return U, f, converged
