"""Compute-optimal allocation from a joint fit L(N, D) under the budget C = 6 N D."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize

from scalinglab.errors import DataError
from scalinglab.fit.estimate import FitResult, widened_percentiles


def chinchilla_optimum(C: np.ndarray, A, alpha, B, beta) -> tuple[np.ndarray, np.ndarray]:
    """N*(C) = G (C/6)^a, D*(C) = G^-1 (C/6)^b with G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta/(alpha+beta), b = alpha/(alpha+beta) (Hoffmann et al. 2022, Eq. 4). Broadcasts over parameters."""
    C = np.asarray(C, dtype=float)[:, None]
    s = alpha + beta
    G = (alpha * A / (beta * B)) ** (1.0 / s)
    return G * (C / 6) ** (beta / s), (C / 6) ** (alpha / s) / G


def _numeric_optimum(fit: FitResult, C: float, params: dict[str, float]) -> tuple[float, float]:
    """Minimise L(N, C / 6N) over log N (any joint law)."""

    def loss(logn: float) -> float:
        N = np.exp(logn)
        return float(fit.law(np.array([[N, C / (6 * N)]]), params)[0])

    res = optimize.minimize_scalar(loss, bounds=(np.log(1.0), np.log(C / 6)), method="bounded",
                                   options={"xatol": 1e-6})
    N = float(np.exp(res.x))
    return N, C / (6 * N)


def compute_optimal(fit: FitResult, budgets: np.ndarray) -> list[dict[str, Any]]:
    """N*, D* and tokens per parameter D*/N* at each compute budget, with 95% intervals from the bootstrap."""
    if fit.law.inputs != 2:
        raise DataError(f"allocation needs a joint law of N and D, not {fit.form}")
    budgets = np.asarray(budgets, dtype=float)
    names = fit.law.names
    draws = {n: fit.draws[:, j] for j, n in enumerate(names)} if len(fit.draws) else {}
    if fit.form == "chinchilla":
        p = fit.params
        N, D = chinchilla_optimum(budgets, p["A"], p["alpha"], p["B"], p["beta"])
        N, D = N[:, 0], D[:, 0]
        if draws:
            Nb, Db = chinchilla_optimum(budgets, draws["A"], draws["alpha"], draws["B"], draws["beta"])
    else:
        pairs = [_numeric_optimum(fit, c, fit.params) for c in budgets]
        N, D = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
        if draws:
            sample = range(min(len(fit.draws), 200))
            boot = [[_numeric_optimum(fit, c, {n: draws[n][i] for n in names}) for i in sample] for c in budgets]
            Nb = np.array([[a for a, _ in row] for row in boot])
            Db = np.array([[b for _, b in row] for row in boot])
    out = []
    for i, c in enumerate(budgets):
        row: dict[str, Any] = {"C": float(c), "N": float(N[i]), "D": float(D[i]),
                               "tokens_per_parameter": float(D[i] / N[i])}
        if draws:
            for key, arr in (("N", Nb[i]), ("D", Db[i]), ("tokens_per_parameter", Db[i] / Nb[i])):
                finite = arr[np.isfinite(arr)]
                band = widened_percentiles(finite[:, None], np.array([row[key]]), fit.widen)[:, 0] \
                    if finite.size else None
                row[f"{key}_ci95"] = None if band is None else [float(v) for v in band]
        out.append(row)
    return out
