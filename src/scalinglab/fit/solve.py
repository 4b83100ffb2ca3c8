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

import itertools

import numpy as np
from scipy import optimize

from scalinglab.fit.laws import Law

MAX_STARTS_GRID = 3000  # most starting points tried on the grid of nonlinear parameters


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
    exp(u) (clipped at |u| = 700, as ``Problem.to_params``); predictions below 1e-300 are clipped there and
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


def objective(r: np.ndarray, loss: str, delta: float, asymmetry: float) -> np.ndarray:
    """Sum over points (axis 0) of the loss of log residuals r."""
    if loss == "ls":
        return np.sum(r * r, axis=0)
    if loss == "huber-log":
        a = np.abs(r)
        return np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)), axis=0)
    return np.sum(np.where(r > 0, asymmetry, 1.0) * r * r, axis=0)


class Problem:
    """One fit: the law, the data, the loss, and the map between parameters and optimisation variables."""

    def __init__(self, law: Law, X: np.ndarray, y: np.ndarray, loss: str, delta: float, asymmetry: float):
        self.law, self.X, self.y, self.logy = law, X, y, np.log(y)
        self.loss, self.delta, self.asymmetry = loss, delta, asymmetry
        self.logscale = law.logscale
        self.lower, self.upper = self._limits(y)
        self.lo_u, self.hi_u = self._limits_u(self.lower, self.upper)
        self.bounds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b)
                       for a, b in zip(self.lo_u, self.hi_u, strict=False)]

    def _limits(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the parameters on data with losses y."""
        law = self.law
        lower = np.array([p.lower for p in law.params], dtype=float)
        upper = np.array([p.upper for p in law.params], dtype=float)
        if law.offset:
            # The irreducible loss lies below the noiseless loss at every size, but a noisy observation may fall
            # below it: bounding it by the smallest observation pins it there (a zero-width interval that misses
            # the truth). It cannot lie above every observation, though.
            j = law.names.index(law.offset)
            upper[j] = min(upper[j], float(y.max()))
        if law.name == "m4" and "E_0" in law.names:  # the loss of random guessing lies above every observed loss
            j = law.names.index("E_0")
            lower[j] = max(lower[j], float(y.max()) * (1 + 1e-9))
        return lower, upper

    def _limits_u(self, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bounds in the optimisation variables (log scale where ``logscale``)."""
        with np.errstate(divide="ignore"):
            lo_u = np.where(self.logscale, np.log(np.maximum(lower, 1e-300)), lower)
            hi_u = np.where(self.logscale, np.log(upper), upper)
        return lo_u, hi_u

    def to_params(self, U: np.ndarray) -> dict[str, np.ndarray]:
        V = np.where(self.logscale, np.exp(np.clip(U, -700, 700)), U)
        return {n: V[..., j] for j, n in enumerate(self.law.names)}

    def to_u(self, params: dict[str, float]) -> np.ndarray:
        v = np.array([params[n] for n in self.law.names], dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(self.logscale, np.log(np.maximum(v, 1e-300)), v)

    def values(self, U: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Objective at each row of U (k, p), on the rows ``idx`` of the data (all by default)."""
        X, logy = (self.X, self.logy) if idx is None else (self.X[idx], self.logy[idx])
        with np.errstate(all="ignore"):
            pred = self.law(X, self.to_params(U))
            r = np.log(np.maximum(pred, 1e-300)) - logy[:, None]
        out = objective(r, self.loss, self.delta, self.asymmetry)
        return np.where(np.isfinite(out), out, np.inf)

    def refine(self, u0: np.ndarray, idx: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """L-BFGS-B from u0 on the rows ``idx`` (all by default), with the law's closed-form gradient, then
        polished by Gauss-Newton steps (``fit.solve``); gradient by central differences (one batched call)
        for a law without one."""
        p = u0.size
        lo, hi = self.lo_u, self.hi_u
        u0 = np.clip(u0, lo, hi)
        X, logy = (self.X, self.logy) if idx is None else (self.X[idx], self.logy[idx])
        args = (self.logscale, self.loss, self.delta, self.asymmetry)

        def exact(u: np.ndarray) -> tuple[float, np.ndarray]:
            f, g, _, _ = evaluate(self.law, X, logy[:, None], None, u[None, :], *args)
            return (float(f[0]), g[0]) if np.isfinite(f[0]) else (1e300, np.zeros(p))

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            h = 1e-6 * np.maximum(1.0, np.abs(u))
            U = np.vstack([u, u + np.diag(h), u - np.diag(h)])
            U = np.clip(U, lo, hi)
            v = self.values(U, idx)
            if not np.isfinite(v[0]):
                return 1e300, np.zeros(p)
            step = U[1 : p + 1].diagonal() - U[p + 1 :].diagonal()
            with np.errstate(invalid="ignore"):
                g = np.where(step > 0, (v[1 : p + 1] - v[p + 1 :]) / np.where(step > 0, step, 1.0), 0.0)
            return float(v[0]), np.where(np.isfinite(g), g, 0.0)

        res = optimize.minimize(exact if self.law.grad else fun, u0, jac=True, method="L-BFGS-B",
                                bounds=self.bounds, options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-12})
        if self.law.grad and np.isfinite(res.fun) and res.fun < 1e300:
            U, f, _ = refine_many(self.law, X, logy[:, None], None, res.x[None, :], lo, hi, *args)
            if f[0] <= res.fun:
                return U[0], float(f[0])
        return res.x, float(res.fun)

    def refine_resamples(self, u0: np.ndarray, resamples: list, progress=None) -> list[tuple[np.ndarray, float]]:
        """Refits from u0 on each resample, in order: (y_b, None) replaces the losses (residual bootstrap),
        (None, idx) takes the rows idx. Laws with a closed-form gradient are refitted side by side
        (``fit.solve.refine_many``, the rows as weights); a refit that does not converge there, or any refit
        of a law without one, runs through ``refine``."""
        n, p = len(self.y), u0.size
        out: list[tuple[np.ndarray, float]] = []
        chunk = max(8, 2_000_000 // (n * p))
        for start in range(0, len(resamples), chunk):
            part = resamples[start : start + chunk]
            if self.law.grad is None:
                out += [self._refit(u0, y_b, idx) for y_b, idx in part]
            else:
                B, residual = len(part), part[0][0] is not None
                if residual:
                    logy = np.log(np.column_stack([y_b for y_b, _ in part]))
                    lim = [self._limits_u(*self._limits(y_b)) for y_b, _ in part]
                    lo, hi = np.array([a for a, _ in lim]), np.array([b for _, b in lim])
                    W = None
                else:
                    logy, lo, hi = self.logy[:, None], self.lo_u, self.hi_u
                    W = np.column_stack([np.bincount(idx, minlength=n) for _, idx in part]).astype(float)
                U, f, ok = refine_many(self.law, self.X, logy, W, np.tile(u0, (B, 1)), lo, hi, self.logscale,
                                       self.loss, self.delta, self.asymmetry)
                out += [(U[i], float(f[i])) if ok[i] else self._refit(u0, *part[i]) for i in range(B)]
            if progress:
                progress(len(out), len(resamples))
        return out

    def _refit(self, u0: np.ndarray, y_b: np.ndarray | None, idx: np.ndarray | None) -> tuple[np.ndarray, float]:
        if y_b is not None:
            return Problem(self.law, self.X, y_b, self.loss, self.delta, self.asymmetry).refine(u0)
        return self.refine(u0, idx)

    def starts(self, n_keep: int, rng: np.random.Generator) -> np.ndarray:
        """The best ``n_keep`` starting points (rows of u) from the grid with linear parameters solved."""
        law = self.law
        if law.name == "m4" and not law.held:
            return self._m4_starts(n_keep)
        nonlinear = [p for p in law.params if not p.linear]
        grids = []
        for p in nonlinear:
            if p.name in law.scale_grid:
                col = self.X[:, law.scale_grid[p.name]]
                grids.append(tuple(np.geomspace(col.min() / 10, col.max() * 10, 6)))
            else:
                grids.append(p.grid or (0.5 * (p.lower + min(p.upper, 10.0)),))
        combos = list(itertools.product(*grids)) if grids else [()]
        if len(combos) > MAX_STARTS_GRID:
            pick = rng.choice(len(combos), MAX_STARTS_GRID, replace=False)
            combos = [combos[i] for i in pick]
        C = np.array(combos, dtype=float).reshape(len(combos), len(nonlinear))
        linear = [p for p in law.params if p.linear]
        k = len(combos)
        full = np.zeros((k, len(law.params)))
        for j, p in enumerate(nonlinear):
            full[:, law.names.index(p.name)] = C[:, j]
        if linear:
            coef = self._solve_linear(full, linear)
            for j, p in enumerate(linear):
                full[:, law.names.index(p.name)] = coef[:, j]
        U = np.array([self.to_u(dict(zip(law.names, row, strict=False))) for row in full])
        U = np.clip(U, [b[0] if b[0] is not None else -np.inf for b in self.bounds],
                    [b[1] if b[1] is not None else np.inf for b in self.bounds])
        vals = self.values(U)
        order = np.argsort(vals)
        return U[order[:n_keep]]

    def _solve_linear(self, full: np.ndarray, linear: list) -> np.ndarray:
        """For each row of parameters, the non-negative linear parameters minimising relative residuals."""
        law = self.law

        def at(values: dict[str, float]) -> np.ndarray:
            P = full.copy()
            for q in linear:
                P[:, law.names.index(q.name)] = values.get(q.name, 0.0)
            with np.errstate(all="ignore"):
                return law(self.X, {n: P[:, j] for j, n in enumerate(law.names)})  # (n, k)

        # A law with held parameters keeps their part of the loss out of the basis (E held: y - E = A x^-alpha);
        # the laws' own starts are as they were.
        rest = at({}) if law.held else np.zeros((len(self.y), full.shape[0]))
        B = np.stack([at({p.name: 1.0}) - rest for p in linear], axis=-1) / self.y[:, None, None]  # relative
        target = 1.0 - rest / self.y[:, None]  # (n, k)
        coef = np.zeros((full.shape[0], len(linear)))
        for i in range(full.shape[0]):
            A = B[:, i, :]
            if np.all(np.isfinite(A)) and np.all(np.isfinite(target[:, i])):
                coef[i], _ = optimize.nnls(A, target[:, i])
        return np.maximum(coef, 1e-300)

    def _m4_starts(self, n_keep: int) -> np.ndarray:
        x, y = self.X[:, 0], self.y
        rows = []
        for e_inf, e_0, alpha in itertools.product((0.0, 0.5 * y.min(), 0.9 * y.min()),
                                                   (1.05 * y.max(), 1.5 * y.max(), 3 * y.max()),
                                                   (0.0, 0.5, 1.0, 2.0)):
            g = np.log(y - e_inf) - alpha * np.log(e_0 - y)
            slope, intercept = np.polyfit(np.log(x), g, 1)
            rows.append(self.to_u({"E_inf": e_inf, "E_0": e_0, "beta": float(np.exp(intercept)),
                                   "c": max(float(-slope), 0.0), "alpha": alpha}))
        U = np.array(rows)
        return U[np.argsort(self.values(U))[:n_keep]]

