"""Fit a power law with offset to curves measured over several seeds, with a bootstrap over seeds.

The loss is least squares in log space (so every decade of loss weighs the same). With a known offset
(``offset=<float>``, including 0) the fit of log(L - E) against log x is linear and exact; with ``offset=None``
the offset E >= 0 is fitted too, from a grid of exponents and a local refinement.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import optimize

from scalinglab.errors import DataError
from scalinglab.fit.laws import power_law_offset


@dataclasses.dataclass(frozen=True)
class FitResult:
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

    @property
    def exponent(self) -> float:
        return self.params["alpha"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return power_law_offset(x, self.params["E"], self.params["A"], self.params["alpha"])

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


def _fit_free_offset(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares in log space over (E >= 0, A > 0, alpha), best of starts from a grid of alpha."""
    lx, ly = np.log(x), np.log(y)

    def resid(theta: np.ndarray) -> np.ndarray:
        E, logA, alpha = theta
        return np.log(E + np.exp(logA - alpha * lx)) - ly

    best = None
    ymin = float(y.min())
    for alpha0 in (0.1, 0.3, 0.6, 1.0, 2.0):
        # For fixed alpha the law is linear in (E, A): solve it as the starting point.
        basis = np.column_stack([np.ones_like(x), x**-alpha0])
        (E0, A0), *_ = np.linalg.lstsq(basis, y, rcond=None)
        E0 = float(np.clip(E0, 0.0, 0.99 * ymin))
        A0 = max(float(A0), 1e-12)
        try:
            sol = optimize.least_squares(
                resid, [E0, np.log(A0), alpha0], bounds=([0.0, -np.inf, 0.0], [ymin, np.inf, 10.0]), method="trf"
            )
        except ValueError:
            continue
        if best is None or sol.cost < best.cost:
            best = sol
    if best is None:
        return np.nan, np.nan, np.nan
    E, logA, alpha = best.x
    return float(E), float(np.exp(logA)), float(alpha)


def fit_power_law(
    x: np.ndarray,
    y: np.ndarray,
    *,
    offset: float | None = 0.0,
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
) -> FitResult:
    """Fit L = E + A x^-alpha to curves ``y`` of shape (n_seeds, n_x) (or (n_x,) for one curve).

    The point estimate fits the mean over seeds; the 95% interval and standard error come from refitting the
    mean of seeds resampled with replacement (``n_boot`` times). ``offset`` fixes E (0 for a pure power law);
    ``None`` fits it.
    """
    x = np.asarray(x, dtype=float)
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
        for _ in range(n_boot):
            boots.append(fit(y[rng.integers(0, n, n)].mean(axis=0)))
    boots = np.array(boots, dtype=float).reshape(-1, 3)
    boots = boots[np.all(np.isfinite(boots), axis=1)]
    names = ("E", "A", "alpha")
    params = dict(zip(names, (E, A, alpha)))
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
    return FitResult(
        law="power_law_offset" if offset is None else ("power_law" if offset == 0 else "power_law_offset"),
        params=params,
        ci95=ci,
        se=se,
        x=tuple(float(v) for v in x),
        y=tuple(float(v) for v in mean),
        n_seeds=n,
        offset_fixed=None if offset is None else float(offset),
        warnings=tuple(warnings),
    )
