"""IsoFLOP analysis (Hoffmann et al. 2022, Section 3.2, "Approach 2"): at each compute budget C the loss of the
runs of that budget, against log N, locates the compute-optimal size N_opt(C); N_opt ~ C^a and D_opt ~ C^b are
then straight lines in log-log across budgets (least squares of log N_opt on log C).

The optimum of a budget, from log loss against log N: ``parabola`` fits a parabola to the grid point of least
loss and its ``WINDOW`` neighbours on each side (Chinchilla's parabola, kept local: over a grid spanning a
factor of 100 the loss is far from quadratic, and a parabola through all of it moved a on Porian et al.'s
grids by up to 1.3); ``akima`` takes the minimum of an Akima spline through every point (Porian, Wortsman,
Jitsev, Schmidt, Carmon 2024, analysis code ``interp_flop``). A budget whose least loss sits at either end of
its grid does not bracket its optimum and is dropped, as Porian et al. drop it.

Uncertainty: a bootstrap of the losses, as Porian et al. add seed noise to each loss and redo every budget's
minimum: here each log loss is perturbed by a draw from the residuals of the local parabolas, pooled over the
budgets (one noise level per group of runs, estimated from the data rather than assumed), every budget's
optimum is found again and the lines refitted; the percentile interval of each slope is widened by Student's t
for the number of budgets (``estimate.small_sample_factor``).

Warnings: a narrow grid (sizes spanning less than ``NARROW_SPAN``, too little to show the curvature), an
optimum off the centre of its grid (within ``EDGE_FRACTION`` of its log span from an end), a budget dropped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scalinglab.errors import DataError, SpecError
from scalinglab.fit.estimate import small_sample_factor, widened_percentiles

METHODS = ("akima", "parabola")
WINDOW = 2  # grid points each side of the least loss that the local parabola uses
NARROW_SPAN = np.log(4.0)  # a grid spanning less than a factor of 4 in N barely resolves its curvature
EDGE_FRACTION = 0.15  # an optimum within this fraction of the grid's log span from an end is off-centre
AKIMA_PER_INTERVAL = 25  # evaluation points of the spline per grid interval (Porian et al.'s interp_num_multiplier)
MIN_POINTS = 3
MIN_BUDGETS = 3


@dataclasses.dataclass(frozen=True)
class Budget:
    """One compute budget: its grid and optimum (the bootstrap's spread of log N_opt as ``log_n_opt_se``)."""

    compute: float
    n_points: int
    n_opt: float
    d_opt: float
    loss_opt: float
    size_range: tuple[float, float]
    position: float  # where log N_opt lies in the grid: 0 at the smallest size, 1 at the largest
    log_n_opt_se: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class IsoFlopResult:
    """Exponents a (N_opt ~ C^a) and b (D_opt ~ C^b) with bootstrap intervals, and the budgets they came from."""

    a: dict[str, Any]
    b: dict[str, Any]
    budgets: tuple[Budget, ...]
    dropped: dict[str, str]
    warnings: tuple[str, ...]
    method: str
    noise_log: float
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "method": self.method, "noise_log": self.noise_log,
                "n_bootstrap": self.n_boot, "budgets": [b.to_dict() for b in self.budgets],
                "dropped": self.dropped, "warnings": list(self.warnings)}


def _local_parabola(t: np.ndarray, logy: np.ndarray) -> tuple[np.ndarray, slice]:
    """Coefficients (c2, c1, c0) of log loss against log N near the least loss of a sorted grid, and its rows."""
    i = int(np.argmin(logy))
    rows = slice(max(0, i - WINDOW), min(len(t), i + WINDOW + 1))
    return np.polyfit(t[rows], logy[rows], 2), rows


def _optima(t: np.ndarray, logY: np.ndarray, method: str) -> np.ndarray:
    """log N at the least loss of each column of logY (n, B) over the sorted grid t; nan where the least loss
    of the grid lies at either end (or, for the parabola, where it opens downwards)."""
    n, B = logY.shape
    out = np.full(B, np.nan)
    imin = np.argmin(logY, axis=0)
    inside = (imin > 0) & (imin < n - 1)
    if method == "akima":
        from scipy.interpolate import Akima1DInterpolator

        grid = np.linspace(t[0], t[-1], (n - 1) * AKIMA_PER_INTERVAL)
        values = Akima1DInterpolator(t, logY, axis=0)(grid)  # (g, B)
        j = np.argmin(values, axis=0)
        ok = inside & (j > 0) & (j < len(grid) - 1)
        out[ok] = grid[j[ok]]
        return out
    for i in np.unique(imin[inside]):
        cols = np.flatnonzero(inside & (imin == i))
        rows = slice(max(0, i - WINDOW), min(n, i + WINDOW + 1))
        V = np.vander(t[rows], 3)
        coef, *_ = np.linalg.lstsq(V, logY[rows][:, cols], rcond=None)
        with np.errstate(all="ignore"):
            out[cols] = np.where(coef[0] > 0, -coef[1] / (2 * coef[0]), np.nan)
    return out


def _slopes(logc: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Least-squares slope of each column of L (budgets, B) against logc, over its finite entries (nan where
    fewer than ``MIN_BUDGETS`` are finite)."""
    ok = np.isfinite(L)
    k = ok.sum(axis=0)
    x = np.where(ok, logc[:, None], 0.0)
    y = np.where(ok, L, 0.0)
    with np.errstate(all="ignore"):
        mx, my = x.sum(0) / k, y.sum(0) / k
        sxy = (ok * (x - mx) * (y - my)).sum(0)
        sxx = (ok * (x - mx) ** 2).sum(0)
        return np.where(k >= MIN_BUDGETS, sxy / sxx, np.nan)


def isoflop(compute: np.ndarray, N: np.ndarray, loss: np.ndarray, tokens: np.ndarray | None = None, *,
            method: str = "akima", n_boot: int = 1000, rng: np.random.Generator | None = None) -> IsoFlopResult:
    """Approach 2 on runs of compute ``compute``, size ``N`` and ``loss`` (tokens ``tokens``, or C / (6 N) when
    not given). Budgets are the distinct values of ``compute``; several runs of one size in a budget count by
    their least loss (Porian et al.'s choice: a run that diverged is not the size's loss)."""
    if method not in METHODS:
        raise SpecError(f"must be one of {', '.join(METHODS)}, got {method!r}", param="method")
    if n_boot < 0:
        raise SpecError(f"must be non-negative, got {n_boot}", param="n_boot")
    C, N, y = (np.asarray(v, dtype=float).ravel() for v in (compute, N, loss))
    D = C / (6 * N) if tokens is None else np.asarray(tokens, dtype=float).ravel()
    if not (len(C) == len(N) == len(y) == len(D)):
        raise DataError(f"isoflop: {len(C)} compute values, {len(N)} sizes, {len(D)} token counts, {len(y)} losses")
    for name, v in (("compute", C), ("size", N), ("loss", y), ("tokens", D)):
        bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
        if bad.size:
            raise DataError(f"isoflop: {name} must be positive and finite, got {v[bad[0]]:g} at row {bad[0] + 1}")
    rng = rng or np.random.default_rng(0)
    grids, dropped, resid, warnings = [], {}, [], []
    for c in np.unique(C):
        rows = np.flatnonzero(C == c)
        sizes = np.unique(N[rows])
        best = np.array([rows[N[rows] == s][np.argmin(y[rows][N[rows] == s])] for s in sizes])
        t, logy, logd = np.log(sizes), np.log(y[best]), np.log(D[best])
        if sizes.size < MIN_POINTS:
            dropped[f"{c:.4g}"] = f"{sizes.size} distinct sizes (at least {MIN_POINTS} needed)"
            continue
        i = int(np.argmin(logy))
        if i in (0, sizes.size - 1):
            end = "smallest" if i == 0 else "largest"
            dropped[f"{c:.4g}"] = f"the least loss is at the {end} size: the grid does not bracket the optimum"
            warnings.append(f"budget {c:.4g}: off-centre grid, the least loss is at its {end} size "
                            f"({sizes[i]:.3g}); dropped")
            continue
        coef, win = _local_parabola(t, logy)
        if win.stop - win.start > 3:
            resid.append(logy[win] - np.polyval(coef, t[win]))
        grids.append((c, t, logy, logd))
    if len(grids) < MIN_BUDGETS:
        raise DataError(f"isoflop: {len(grids)} usable compute budgets (at least {MIN_BUDGETS} needed)"
                        + (f"; dropped: {'; '.join(f'{k}: {v}' for k, v in dropped.items())}" if dropped else ""))
    # pooled noise of log loss: the local parabolas' residuals, each window's 3 coefficients taken off its dof
    dof = sum(len(r) - 3 for r in resid)
    noise = float(np.sqrt(sum(float(r @ r) for r in resid) / dof)) if dof > 0 else 0.0
    pool = np.concatenate([r * np.sqrt(len(r) / (len(r) - 3)) for r in resid]) if dof > 0 else np.zeros(1)
    budgets, logn_pt, logd_pt, logn_bt, logd_bt = [], [], [], [], []
    for c, t, logy, logd in grids:
        logY = logy[:, None] + (rng.choice(pool, size=(len(t), n_boot)) if n_boot else np.zeros((len(t), 0)))
        pt = _optima(t, logy[:, None], method)[0]
        bt = _optima(t, logY, method) if n_boot else np.zeros(0)
        # D at the optimum: log D is linear in log N along a budget's grid (log D = log(C / 6) - log N
        # when tokens are C / 6N), so it is read off the same interpolation
        dfit = np.polyfit(t, logd, 1)
        logn_pt.append(pt)
        logd_pt.append(np.polyval(dfit, pt))
        logn_bt.append(bt)
        logd_bt.append(np.polyval(dfit, bt))
        span = t[-1] - t[0]
        position = float((pt - t[0]) / span) if np.isfinite(pt) else float("nan")
        coef, _ = _local_parabola(t, logy)
        loss_opt = float(np.exp(np.polyval(coef, pt))) if np.isfinite(pt) else float("nan")
        budgets.append(Budget(compute=float(c), n_points=len(t), n_opt=float(np.exp(pt)),
                              d_opt=float(np.exp(logd_pt[-1])), loss_opt=loss_opt,
                              size_range=(float(np.exp(t[0])), float(np.exp(t[-1]))), position=position,
                              log_n_opt_se=float(np.nanstd(bt, ddof=1)) if np.isfinite(bt).sum() > 1 else float("nan")))
        if span < NARROW_SPAN:
            warnings.append(f"budget {c:.4g}: narrow grid (sizes span a factor {np.exp(span):.3g}, under "
                            f"{np.exp(NARROW_SPAN):.3g}): its curvature, so N_opt, is poorly determined")
        if np.isfinite(position) and not EDGE_FRACTION <= position <= 1 - EDGE_FRACTION:
            warnings.append(f"budget {c:.4g}: off-centre grid, N_opt = {np.exp(pt):.3g} lies near the edge of the "
                            f"sizes {np.exp(t[0]):.3g} to {np.exp(t[-1]):.3g}: centre the grid on the optimum")
    logc = np.log([g[0] for g in grids])
    widen = small_sample_factor(len(grids), 2)
    out = {}
    for key, pt, bt in (("a", logn_pt, logn_bt), ("b", logd_pt, logd_bt)):
        value = float(_slopes(logc, np.array(pt)[:, None])[0])
        entry: dict[str, Any] = {"value": value}
        if n_boot:
            slopes = _slopes(logc, np.array(bt))
            slopes = slopes[np.isfinite(slopes)]
            if slopes.size >= 20 and np.isfinite(value):
                lo, hi = widened_percentiles(slopes[:, None], np.array([value]), widen)[:, 0]
                entry.update(se=float(widen * slopes.std(ddof=1)), ci95=[float(lo), float(hi)])
            else:
                entry.update(se=float("nan"), ci95=[float("nan"), float("nan")])
                warnings.append(f"too few successful bootstrap draws for an interval of {key}")
        out[key] = entry
    return IsoFlopResult(a=out["a"], b=out["b"], budgets=tuple(budgets), dropped=dropped, warnings=tuple(warnings),
                         method=method, noise_log=noise, n_boot=n_boot)
