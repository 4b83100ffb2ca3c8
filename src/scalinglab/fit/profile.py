"""The closed-form solver of the one-variable power laws L = A x^-alpha and L = E + A x^-alpha (``fit.laws``'s
``power_law`` and ``power_law_offset``): ``fit_law(..., solver="profile")``.

With the offset E known (held, including 0: a pure power law) the fit is least squares of log(L - E) against
log x, linear and exact. With E free (0 <= E <= max y) it is least squares of the relative residuals
(E + A x^-alpha - y) / y, equal to log-space least squares to first order, with E and A solved exactly for each
exponent (variable projection: the law is linear in them), over a grid of exponents refined by a golden-section
search to 1e-8, vectorised over many curves at once (every bootstrap resample of every slice in one call). The
exponent is not bounded: a rising curve has a negative one, which the check that uses it reports as measured.
"""

from __future__ import annotations

import numpy as np

PROFILE_LAWS = ("power_law", "power_law_offset")
ALPHA_GRID = np.linspace(0.01, 4.0, 200)  # the exponents the free-offset search starts from


def solve_offset(saa, sbb, sab, sa1, sb1, ymax):
    """(E, A) of the weighted least squares E w + A b ~ 1 from its sums, E clipped to [0, ymax] (then A refitted).
    The bound is the largest loss, not the smallest: a noisy low point may fall below the limit, and bounding E by
    it pins E there."""
    det = saa * sbb - sab**2
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (sbb * sa1 - sab * sb1) / det
        A = (saa * sb1 - sab * sa1) / det
    clip = ~np.isfinite(E) | (E < 0) | (E > ymax)
    E = np.where(clip, np.clip(np.where(np.isnan(E), 0.0, E), 0.0, ymax), E)  # NaN to 0, +-inf to a bound
    A = np.where(clip, (sb1 - E * sab) / sbb, A)
    return E, A


def profile_rows(x: np.ndarray, Y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For curves ``Y`` (m, n_x) and exponents ``alphas`` (m, k), the (E, A) minimising the relative residuals
    (E + A x^-alpha - y) / y with 0 <= E <= max(y), and that cost: (cost, E, A), each (m, k).

    The straightforward form, kept as the reference of the fast search (``tests/test_fit_curves_fast.py``)."""
    w = 1.0 / Y  # (m, n)
    b = x[None, None, :] ** -alphas[:, :, None] * w[:, None, :]  # (m, k, n)
    saa = np.sum(w * w, axis=1)[:, None]
    sbb = np.sum(b * b, axis=2)
    sab = np.einsum("mkn,mn->mk", b, w)
    sa1 = np.sum(w * Y * w, axis=1)[:, None]
    sb1 = np.einsum("mkn,mn->mk", b, Y * w)
    E, A = solve_offset(saa, sbb, sab, sa1, sb1, Y.max(axis=1)[:, None])
    resid = E[:, :, None] * w[:, None, :] + A[:, :, None] * b - 1.0
    return np.sum(resid**2, axis=2), E, A


class ProfileRows:
    """The weighted sums of the profile that do not depend on alpha, for curves ``Y`` (m, n) over sizes ``x``."""

    def __init__(self, x: np.ndarray, Y: np.ndarray):
        self.logx = np.log(x)
        self.w = 1.0 / Y
        self.w2 = self.w * self.w
        self.saa = self.w2.sum(axis=1)
        self.sa1 = self.w.sum(axis=1)  # w * Y = 1
        self.ymax = Y.max(axis=1)

    def grid_cost(self, alphas: np.ndarray) -> np.ndarray:
        """Cost (m, k) of every row at every alpha of one shared grid: the sums are matrix products and the cost is
        expanded in them (sum (E w + A b - 1)^2 = E^2 saa + A^2 sbb + 2 E A sab - 2 E sa1 - 2 A sb1 + n). The
        expansion loses ~1e-16 * n of the cost to cancellation, far below the cost's change between grid points;
        it only picks the bracket, which :meth:`profile` then refines in the exact form."""
        X = np.exp(np.multiply.outer(-alphas, self.logx))  # (k, n)
        sbb, sab, sb1 = self.w2 @ (X * X).T, self.w2 @ X.T, self.w @ X.T
        saa, sa1 = self.saa[:, None], self.sa1[:, None]
        E, A = solve_offset(saa, sbb, sab, sa1, sb1, self.ymax[:, None])
        return E * E * saa + A * A * sbb + 2.0 * E * A * sab - 2.0 * E * sa1 - 2.0 * A * sb1 + self.logx.size

    def profile(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cost, E, A) of each row at its own alpha (m,), the cost summed from the residuals themselves."""
        b = np.multiply.outer(-alpha, self.logx)
        np.exp(b, out=b)
        b *= self.w
        sbb, sab, sb1 = rowdot(b, b), rowdot(b, self.w), b.sum(axis=1)
        E, A = solve_offset(self.saa, sbb, sab, self.sa1, sb1, self.ymax)
        b *= A[:, None]
        b += E[:, None] * self.w
        b -= 1.0
        return rowdot(b, b), E, A


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (m, n) arrays, in one pass (no temporary)."""
    return np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0]


def golden_steps(width: float, tol: float = 1e-8) -> int:
    """Golden-section steps that shrink a bracket of ``width`` to ``tol`` or less (each step keeps 0.618 of it)."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    n = 0
    while width > tol:
        width *= g
        n += 1
    return n


def fit_free_offset_rows(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(E, A, alpha) of L = E + A x^-alpha for every row of ``Y`` (m, n) at once: the alpha grid, then a
    golden-section search in the bracket around each row's best grid point, to 1e-8. Returns (m, 3). Rows are
    independent: fitting them in one call or several gives the same."""
    rows = ProfileRows(np.asarray(x, dtype=float), Y)
    grid = ALPHA_GRID
    k = np.argmin(rows.grid_cost(grid), axis=1)
    lo, hi = grid[np.maximum(k - 1, 0)], grid[np.minimum(k + 1, grid.size - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = rows.profile(c)[0], rows.profile(d)[0]
    for _ in range(golden_steps(2.0 * (grid[1] - grid[0]))):  # every bracket is at most two grid steps wide
        left = fc < fd  # the minimum lies in [lo, d]: d becomes the new upper probe
        hi, lo = np.where(left, d, hi), np.where(left, lo, c)
        probe = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        fp = rows.profile(probe)[0]
        c, d, fc, fd = (np.where(left, probe, d), np.where(left, c, probe),
                        np.where(left, fp, fd), np.where(left, fc, fp))
    alpha = 0.5 * (lo + hi)
    _, E, A = rows.profile(alpha)
    return np.column_stack([E, A, alpha])


def fit_free_offset(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(E, A, alpha) of one curve: the same profile and grid as :func:`fit_free_offset_rows`, the bracket refined
    by scipy's bounded scalar search (Brent's method, to 1e-8), which needs fewer evaluations than the fixed
    golden-section steps: the faster search for a single curve (the point estimate; the two agree to the 1e-8
    bracket, ``tests/test_fit_curves_fast.py``)."""
    from scipy import optimize

    rows = ProfileRows(np.asarray(x, dtype=float), y[None, :])
    grid = ALPHA_GRID
    k = int(np.argmin(rows.grid_cost(grid)[0]))
    res = optimize.minimize_scalar(lambda a: rows.profile(np.array([a]))[0][0], method="bounded",
                                   bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
                                   options={"xatol": 1e-8})
    _, E, A = rows.profile(np.array([float(res.x)]))
    return float(E[0]), float(A[0]), float(res.x)


def fit_known_offset(x: np.ndarray, y: np.ndarray, offset: float) -> tuple[float, float, float]:
    """(E, A, alpha) of L = E + A x^-alpha with E = ``offset``: least squares of log(y - E) on log x; NaN where
    some y - E is not positive."""
    z = y - offset
    if np.any(z <= 0):
        return np.nan, np.nan, np.nan
    slope, intercept = np.polyfit(np.log(x), np.log(z), 1)
    return offset, float(np.exp(intercept)), float(-slope)


def solve(x: np.ndarray, Y: np.ndarray, offset: float | None) -> np.ndarray:
    """(E, A, alpha) of every curve (row of ``Y``) over sizes ``x``, (m, 3): E free (``offset`` None) or held;
    NaN rows where a curve cannot be fitted (a loss not positive, or not above the held offset)."""
    Y = np.atleast_2d(Y)
    if offset is not None:
        return np.array([fit_known_offset(x, y, offset) for y in Y], dtype=float).reshape(-1, 3)
    out = np.full((len(Y), 3), np.nan)
    ok = np.all(Y > 0, axis=1)
    if ok.any():
        out[ok] = fit_free_offset_rows(x, Y[ok])
    return out


def solve_one(x: np.ndarray, y: np.ndarray, offset: float | None) -> np.ndarray:
    """:func:`solve` of one curve (the point estimate), E free by the scalar search (:func:`fit_free_offset`)."""
    if offset is not None:
        return np.array(fit_known_offset(x, y, offset), dtype=float)
    return np.array(fit_free_offset(x, y) if np.all(y > 0) else (np.nan,) * 3, dtype=float)
