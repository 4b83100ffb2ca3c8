"""Fit a power law with offset to curves measured over several seeds, with a bootstrap over seeds.

With a known offset (``offset=<float>``, including 0) the fit is least squares of log(L - E) against log x, linear
and exact. With ``offset=None`` the offset E >= 0 is fitted too, by least squares of relative residuals (equal to
log-space least squares to first order), with E and A solved exactly for each exponent (variable projection).
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from scipy import optimize

from scalinglab.errors import DataError
from scalinglab.fit.laws import power_law_offset


@dataclasses.dataclass(frozen=True)
class CurveFit:
    """A fitted law with a bootstrap interval: what the CLI prints, the report plots and JSON stores."""

    law: str
    params: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    se: dict[str, float]
    x: tuple[float, ...]
    y: tuple[float, ...]
    n_seeds: int
    offset_fixed: float | None
    warnings: tuple[str, ...] = ()
    samples: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)  # bootstrap (E, A, alpha)

    @property
    def exponent(self) -> float:
        return self.params["alpha"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return power_law_offset(x, self.params["E"], self.params["A"], self.params["alpha"])

    def band(self, x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise ``level`` interval of the fitted curve at ``x`` over the bootstrap refits (NaN without any)."""
        x = np.asarray(x, dtype=float)
        if self.samples is None or len(self.samples) < 20:
            return np.full(x.shape, np.nan), np.full(x.shape, np.nan)
        E, A, alpha = (self.samples[:, i, None] for i in range(3))
        curves = E + A * x[None, :] ** -alpha
        q = 50.0 * (1.0 - level)
        lo, hi = np.percentile(curves, [q, 100.0 - q], axis=0)
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "params": self.params,
            "ci95": {k: list(v) for k, v in self.ci95.items()},
            "se": self.se,
            "x": list(self.x),
            "y": list(self.y),
            "n_seeds": self.n_seeds,
            "offset_fixed": self.offset_fixed,
            "warnings": list(self.warnings),
        }


def _fit_known_offset(x: np.ndarray, y: np.ndarray, offset: float) -> tuple[float, float, float]:
    z = y - offset
    if np.any(z <= 0):
        return np.nan, np.nan, np.nan
    slope, intercept = np.polyfit(np.log(x), np.log(z), 1)
    return offset, float(np.exp(intercept)), float(-slope)


def _profile(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each alpha, the (E, A) minimising the relative residuals (E + A x^-alpha - y) / y with
    0 <= E <= max(y) (variable projection: the law is linear in E and A). The bound is the largest loss, not the
    smallest: a noisy low point may fall below the limit, and bounding E by it pins E there. Returns (cost, E, A).
    """
    w = 1.0 / y
    b = x[None, :] ** -alphas[:, None] * w  # (n_alpha, n_x): column of A, weighted
    a = w  # column of E, weighted
    saa, sbb, sab = a @ a, np.sum(b * b, axis=1), b @ a
    sa1, sb1 = a @ (y * w), b @ (y * w)
    det = saa * sbb - sab**2
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (sbb * sa1 - sab * sb1) / det
        A = (saa * sb1 - sab * sa1) / det
    clip = ~np.isfinite(E) | (E < 0) | (E > y.max())
    E = np.where(clip, np.clip(np.nan_to_num(E), 0.0, y.max()), E)
    A = np.where(clip, (sb1 - E * sab) / sbb, A)
    resid = E[:, None] * a[None, :] + A[:, None] * b - 1.0
    return np.sum(resid**2, axis=1), E, A


def _profile_rows(x: np.ndarray, Y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_profile` for many curves at once: ``Y`` (m, n_x), ``alphas`` (m, k) -> cost, E, A, each (m, k).

    The straightforward form, kept as the reference of the fast search below (``tests/test_fit_curves_fast.py``).
    """
    w = 1.0 / Y  # (m, n)
    b = x[None, None, :] ** -alphas[:, :, None] * w[:, None, :]  # (m, k, n)
    saa = np.sum(w * w, axis=1)[:, None]
    sbb = np.sum(b * b, axis=2)
    sab = np.einsum("mkn,mn->mk", b, w)
    sa1 = np.sum(w * Y * w, axis=1)[:, None]
    sb1 = np.einsum("mkn,mn->mk", b, Y * w)
    E, A = _solve_offset(saa, sbb, sab, sa1, sb1, Y.max(axis=1)[:, None])
    resid = E[:, :, None] * w[:, None, :] + A[:, :, None] * b - 1.0
    return np.sum(resid**2, axis=2), E, A


def _solve_offset(saa, sbb, sab, sa1, sb1, ymax):
    """(E, A) of the weighted least squares E w + A b ~ 1 from its sums, E clipped to [0, ymax] (then A refitted)."""
    det = saa * sbb - sab**2
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (sbb * sa1 - sab * sb1) / det
        A = (saa * sb1 - sab * sa1) / det
    clip = ~np.isfinite(E) | (E < 0) | (E > ymax)
    E = np.where(clip, np.clip(np.nan_to_num(E), 0.0, ymax), E)
    A = np.where(clip, (sb1 - E * sab) / sbb, A)
    return E, A


_ALPHA_GRID = np.linspace(0.01, 4.0, 200)  # the exponents the free-offset search starts from


class _Rows:
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
        it only picks the bracket, which :meth:`cost` then refines in the exact form."""
        X = np.exp(np.multiply.outer(-alphas, self.logx))  # (k, n)
        sbb, sab, sb1 = self.w2 @ (X * X).T, self.w2 @ X.T, self.w @ X.T
        saa, sa1 = self.saa[:, None], self.sa1[:, None]
        E, A = _solve_offset(saa, sbb, sab, sa1, sb1, self.ymax[:, None])
        return E * E * saa + A * A * sbb + 2.0 * E * A * sab - 2.0 * E * sa1 - 2.0 * A * sb1 + self.logx.size

    def profile(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cost, E, A) of each row at its own alpha (m,), the cost summed from the residuals themselves."""
        b = np.multiply.outer(-alpha, self.logx)
        np.exp(b, out=b)
        b *= self.w
        sbb, sab, sb1 = _rowdot(b, b), _rowdot(b, self.w), b.sum(axis=1)
        E, A = _solve_offset(self.saa, sbb, sab, self.sa1, sb1, self.ymax)
        b *= A[:, None]
        b += E[:, None] * self.w
        b -= 1.0
        return _rowdot(b, b), E, A


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (m, n) arrays, in one pass (no temporary)."""
    return np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0]


def _fit_free_offset_rows(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """:func:`_fit_free_offset` for every row of ``Y`` at once: the same alpha grid, then a golden-section search
    in the bracket around each row's best grid point, run to the scalar search's tolerance (1e-8). Returns
    (m, 3) rows of (E, A, alpha). Rows are independent: fitting them in one call or several gives the same."""
    rows = _Rows(np.asarray(x, dtype=float), Y)
    grid = _ALPHA_GRID
    k = np.argmin(rows.grid_cost(grid), axis=1)
    lo, hi = grid[np.maximum(k - 1, 0)], grid[np.minimum(k + 1, grid.size - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = rows.profile(c)[0], rows.profile(d)[0]
    for _ in range(_golden_steps(2.0 * (grid[1] - grid[0]))):  # every bracket is at most two grid steps wide
        left = fc < fd  # the minimum lies in [lo, d]: d becomes the new upper probe
        hi, lo = np.where(left, d, hi), np.where(left, lo, c)
        probe = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        fp = rows.profile(probe)[0]
        c, d, fc, fd = (np.where(left, probe, d), np.where(left, c, probe),
                        np.where(left, fp, fd), np.where(left, fc, fp))
    alpha = 0.5 * (lo + hi)
    _, E, A = rows.profile(alpha)
    return np.column_stack([E, A, alpha])


def _golden_steps(width: float, tol: float = 1e-8) -> int:
    """Golden-section steps that shrink a bracket of ``width`` to ``tol`` or less (each step keeps 0.618 of it)."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    n = 0
    while width > tol:
        width *= g
        n += 1
    return n


def _fit_free_offset(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares of relative residuals (log space to first order) over (E >= 0, A, alpha): a grid over alpha
    with (E, A) solved exactly, refined by a bounded scalar search around the best grid point."""
    grid = np.linspace(0.01, 4.0, 200)
    cost, _, _ = _profile(x, y, grid)
    k = int(np.argmin(cost))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda a: _profile(x, y, np.array([a]))[0][0], bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-8})
    alpha = float(res.x)
    _, E, A = _profile(x, y, np.array([alpha]))
    return float(E[0]), float(A[0]), alpha


def fit_power_law(
    x: np.ndarray,
    y: np.ndarray,
    *,
    offset: float | None = 0.0,
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
) -> CurveFit:
    """Fit L = E + A x^-alpha to curves ``y`` of shape (n_seeds, n_x) (or (n_x,) for one curve).

    The point estimate fits the mean over seeds; the 95% interval and standard error come from refitting the
    mean of seeds resampled with replacement (``n_boot`` times). ``offset`` fixes E (0 for a pure power law);
    ``None`` fits it. By default, then, this is the pure power law by least squares, not ``fit_law``'s
    power_law_offset under Huber: the two alphas differ on a curve with an offset (see ``fit_law``).
    """
    x = np.asarray(x, dtype=float)
    return _drive(_fit_steps(x, y, offset, n_boot, rng), lambda means: _fit_free_offset_rows(x, means))


def fit_power_laws(x: np.ndarray, ys: list[np.ndarray], *, offset: float | None = 0.0, n_boot: int = 1000,
                   seed: int = 0, chunk: int = 1024) -> list[CurveFit | DataError]:
    """:func:`fit_power_law` of many slices over the same sizes ``x``, each with its own generator
    ``default_rng(seed)``: the same draws and the same fits, but the free-offset refits of every slice are solved
    together (``chunk`` rows at a time, on up to 4 threads: rows are independent, so the result does not depend on
    the thread count). A slice that cannot be fitted gives its DataError in its place."""
    x = np.asarray(x, dtype=float)
    out: list[CurveFit | DataError | None] = [None] * len(ys)
    pending = []
    for i, y in enumerate(ys):
        steps = _fit_steps(x, y, offset, n_boot, np.random.default_rng(seed))
        try:
            pending.append((i, steps, next(steps)))
        except StopIteration as stop:
            out[i] = stop.value
        except DataError as err:
            out[i] = err
    if pending:
        stacked = np.vstack([means for _, _, means in pending])
        with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:  # numpy releases the GIL
            fitted = np.vstack(list(pool.map(lambda k: _fit_free_offset_rows(x, stacked[k:k + chunk]),
                                             range(0, len(stacked), chunk))))
        at = 0
        for i, steps, means in pending:
            try:
                steps.send(fitted[at:at + len(means)])
            except StopIteration as stop:
                out[i] = stop.value
            at += len(means)
    return out  # type: ignore[return-value]


def _drive(steps, refit):
    """Run the steps of one fit, answering its request for free-offset refits with ``refit``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(refit(request))
    except StopIteration as stop:
        return stop.value


def _fit_steps(x: np.ndarray, y: np.ndarray, offset: float | None, n_boot: int, rng: np.random.Generator | None):
    """The fit of :func:`fit_power_law` as a generator: it yields the bootstrap means that need a free-offset refit
    (at most once), is sent their (E, A, alpha) rows, and returns the CurveFit."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if y.shape[1] != x.size:
        raise DataError(f"fit: {x.size} sizes but curves of length {y.shape[1]}")
    if x.size < 3:
        raise DataError(f"fit: need at least 3 distinct sizes, got {x.size}")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise DataError("fit: sizes must be positive and losses finite")
    warnings = []
    if offset is None and x.size < 4:
        warnings.append("fewer than 4 sizes support a fit with a free offset")
    rng = rng or np.random.default_rng(0)

    def fit(curve: np.ndarray) -> tuple[float, float, float]:
        if offset is None:
            return _fit_free_offset(x, curve)
        return _fit_known_offset(x, curve, offset)

    mean = y.mean(axis=0)
    if np.any(mean - (offset or 0.0) <= 0):
        raise DataError("fit: the mean loss minus its offset is not positive at every size; no power law fits")
    E, A, alpha = fit(mean)
    n = y.shape[0]
    boots = []
    if n > 1 and n_boot > 0:
        means = y[rng.integers(0, n, (n_boot, n))].mean(axis=1)  # the draws of n_boot calls of integers(0, n, n)
        if offset is None:  # every refit at once (the same search, vectorised over the resamples)
            ok = np.all(means > 0, axis=1)
            boots = np.full((n_boot, 3), np.nan)
            if ok.any():
                boots[ok] = yield means[ok]
        else:
            boots = [fit(m) for m in means]
    boots = np.array(boots, dtype=float).reshape(-1, 3)
    boots = boots[np.all(np.isfinite(boots), axis=1)]
    names = ("E", "A", "alpha")
    params = dict(zip(names, (E, A, alpha), strict=False))
    if len(boots) >= 20:
        lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
        ci = {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(names)}
        se = {k: float(boots[:, i].std(ddof=1)) for i, k in enumerate(names)}
    else:
        ci = {k: (np.nan, np.nan) for k in names}
        se = {k: np.nan for k in names}
        warnings.append("no bootstrap interval: fewer than 2 seeds")
    if offset is None and E <= 1e-12 * float(mean.min()):
        warnings.append("fitted offset sits at its lower bound 0")
    return CurveFit(
        law="power_law_offset" if offset is None else ("power_law" if offset == 0 else "power_law_offset"),
        params=params,
        ci95=ci,
        se=se,
        x=tuple(float(v) for v in x),
        y=tuple(float(v) for v in mean),
        n_seeds=n,
        offset_fixed=None if offset is None else float(offset),
        warnings=tuple(warnings),
        samples=boots if len(boots) else None,
    )
