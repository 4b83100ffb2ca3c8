"""Model selection by extrapolation: fit on the smaller sizes, score on the largest (Alabdulmohsin et al. 2022)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scalinglab.errors import DataError
from scalinglab.fit.estimate import FitResult, fit_law
from scalinglab.fit.laws import LAWS, Law

DEFAULT_FORMS = {
    1: ("power_law", "power_law_offset", "variance_limited", "broken_power_law", "m4"),
    2: ("chinchilla", "kaplan"),
}


def holdout_mask(X: np.ndarray, k: int) -> np.ndarray:
    """Rows whose first size is among the ``k`` largest distinct values (with two size columns, the largest
    values of their product, the compute C ~ N D)."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    key = X[:, 0] if X.shape[1] == 1 else X[:, 0] * X[:, 1]
    distinct = np.unique(key)
    if k < 0:
        raise DataError(f"must be non-negative, got {k}", param="holdout_largest")
    if k >= distinct.size - 1:
        raise DataError(f"{k} of {distinct.size} distinct sizes leaves too few to fit", param="holdout_largest")
    if k == 0:
        return np.zeros(len(X), dtype=bool)
    return key >= distinct[-k]


def rmse_log(fit: FitResult, X: np.ndarray, y: np.ndarray) -> float:
    """Root mean square of log(prediction) - log(observed)."""
    with np.errstate(all="ignore"):
        r = np.log(fit.predict(X)) - np.log(y)
    return float(np.sqrt(np.mean(r**2))) if np.all(np.isfinite(r)) else float("inf")


def fit_with_holdout(law: Law, X: np.ndarray, y: np.ndarray, k: int, **kwargs: Any) -> FitResult:
    """Fit on all but the ``k`` largest sizes and report the held-out RMSE of log predictions."""
    mask = holdout_mask(X, k)
    X2 = np.asarray(X, dtype=float).reshape(len(X), -1)
    fit = fit_law(law, X2[~mask], np.asarray(y)[~mask], **kwargs)
    score = rmse_log(fit, X2[mask], np.asarray(y)[mask]) if mask.any() else None
    return dataclasses.replace(fit, holdout_rmse_log=score)


@dataclasses.dataclass(frozen=True)
class Selection:
    """Held-out scores of the candidate forms, every candidate's fit and the chosen one."""

    best: FitResult
    scores: dict[str, float]
    errors: dict[str, str]
    fits: dict[str, FitResult] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.best.form, "holdout_rmse_log": self.scores, "failed": self.errors}


def select_form(X: np.ndarray, y: np.ndarray, k: int, forms: tuple[str, ...] | None = None,
                **kwargs: Any) -> Selection:
    """Fit each candidate form on the smaller sizes; choose the one with the least held-out error.

    With ``k = 0`` there is nothing held out and the in-sample RMSE decides (a weaker test, said in the scores).
    """
    X2 = np.asarray(X, dtype=float).reshape(len(X), -1)
    forms = forms or DEFAULT_FORMS.get(X2.shape[1], ())
    fits, scores, errors = {}, {}, {}
    for name in forms:
        law = LAWS[name]
        if law.inputs != X2.shape[1]:
            continue
        try:
            fit = fit_with_holdout(law, X2, y, k, **kwargs)
        except DataError as err:
            errors[name] = str(err)
            continue
        fits[name] = fit
        scores[name] = fit.holdout_rmse_log if k > 0 else rmse_log(fit, X2, np.asarray(y))
    if not fits:
        raise DataError("fit: no candidate form could be fitted: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    best = min(scores, key=lambda n: scores[n])
    return Selection(best=fits[best], scores=scores, errors=errors, fits=fits)
