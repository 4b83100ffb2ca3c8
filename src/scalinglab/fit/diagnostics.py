"""Diagnostics of a fit's design and optimum, attached to every ``FitResult`` (``FitResult.diagnostics``).

- The condition number of the Jacobian of log predictions in the optimisation variables (log scale for scale
  parameters): a large one means some combination of parameters is barely determined by these sizes.
  Besiroglu et al. 2024 and later analyses of the five-parameter Chinchilla fit report values near 1e11.
- Collinear size columns (a fixed tokens-per-parameter design): when one column is a power of another to
  within ``COLLINEAR_FACTOR`` at every point, a law of both cannot tell their exponents apart and its
  intervals, or its forecasts off that line, are not to be trusted.
- Too few distinct sizes per column and parameters at a bound are found in ``fit.estimate`` (its warnings).

Every interval of a fit is conditional on its law: it says how well these data fix that law's parameters, not
how far another law that fits about as well would forecast (see ``law_envelope``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NEAR_TOLERANCE = 1.1  # laws whose selection score is within this factor of the best "fit about as well"
FORECAST_FACTOR = 10.0  # the envelope of `fit --form auto` is stated one decade past the largest sizes
COLLINEAR_FACTOR = 2.0  # one column within this factor of a power law of another at every point: collinear
ILL_CONDITIONED = 1e8


def jacobian_condition(law, X: np.ndarray, params: dict[str, float]) -> float:
    """Condition number of d log L / d u at the optimum (``Law.log_jacobian``, u the fitter's variables); inf
    where the Jacobian is singular."""
    s = np.linalg.svd(law.log_jacobian(X, params), compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


def collinear_columns(X: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Pairs (i, j, slope, factor) of size columns with log x_j = c + slope log x_i to within a factor
    ``factor`` < COLLINEAR_FACTOR at every point (e.g. D = 20 N: slope 1, factor 1)."""
    L = np.log(np.asarray(X, dtype=float))
    out = []
    for i in range(L.shape[1]):
        for j in range(i + 1, L.shape[1]):
            if np.ptp(L[:, i]) == 0 or np.ptp(L[:, j]) == 0:
                continue
            slope, c = np.polyfit(L[:, i], L[:, j], 1)
            factor = float(np.exp(np.max(np.abs(L[:, j] - c - slope * L[:, i]))))
            if factor < COLLINEAR_FACTOR:
                out.append((i, j, float(slope), factor))
    return out


def design_diagnostics(law, X: np.ndarray, params: dict[str, float]) -> tuple[dict[str, Any], list[str]]:
    """The diagnostics of a fit at its optimum ``params``, and the warnings they call for."""
    cond = jacobian_condition(law, X, params)
    warnings = []
    if np.isfinite(cond) and cond > ILL_CONDITIONED:
        warnings.append(f"ill-conditioned fit (condition number {cond:.2g}): some parameters are poorly determined")
    pairs = collinear_columns(X)
    for i, j, slope, factor in pairs:
        what = "fixed tokens per parameter" if abs(slope - 1) < 0.05 else "collinear sizes"
        warnings.append(f"degenerate design ({what}): size column {j + 1} is column {i + 1} to the power "
                        f"{slope:.3g} within a factor {factor:.3g} at every point, so their exponents cannot be "
                        "told apart; vary the ratio (e.g. several tokens per parameter at each size)")
    return {"condition_number": cond, "collinear_columns": [[i + 1, j + 1] for i, j, _, _ in pairs],
            "intervals": f"conditional on the law {law.name}"}, warnings


def near_laws(scores: dict[str, float], tolerance: float = NEAR_TOLERANCE) -> list[str]:
    """The laws whose score (lower is better) is within ``tolerance`` times the best, best first."""
    finite = {n: s for n, s in scores.items() if np.isfinite(s)}
    if not finite:
        return []
    best = min(finite.values())
    return sorted((n for n, s in finite.items() if s <= tolerance * best), key=lambda n: finite[n])


def law_envelope(fits: dict, scores: dict[str, float], X: np.ndarray,
                 tolerance: float = NEAR_TOLERANCE) -> dict[str, Any]:
    """Across-law envelope at sizes X: the laws whose score (an RMSE of log loss, lower is better) is within
    ``tolerance`` times the best, and the lowest and highest of their 95% prediction bands (``FitResult.band``).
    Where several laws fit about equally well, this, not one law's band, is the forecast's uncertainty."""
    near = [n for n in near_laws(scores, tolerance) if n in fits]
    lo, hi = [], []
    for name in near:
        a, b = fits[name].band(X, prediction=True)
        lo.append(a)
        hi.append(b)
    return {"laws": near, "lower": np.min(lo, axis=0), "upper": np.max(hi, axis=0)}
