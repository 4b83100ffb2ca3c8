"""Intrinsic dimension of data, and the resolution-limited exponent 4/d it implies (Bahri et al. 2024, Theorems 2
and 3: a model that resolves a smooth target on a d-dimensional manifold to linear order has L ~ D^-4/d).

Estimators come from scikit-dimension: TwoNN (Facco et al. 2017, from the ratio of second- to first-neighbour
distances) and MLE (Levina and Bickel 2005, from the k nearest neighbours). Around them this module adds:
- a 95% bootstrap interval: MLE resamples its pointwise estimates (the global estimate is their harmonic mean,
  scikit-dimension's ``comb="mle"``); TwoNN refits on rows resampled with replacement, duplicates dropped
  (a nearest-neighbour distance of zero is undefined), so its interval is somewhat wide;
- a scale check: estimates on nested subsamples of growing size. A manifold estimate settles as n grows;
  one that keeps rising means the sample does not yet resolve the manifold (curvature, boundary) or that the data
  are not on a low-dimensional manifold at that scale.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import numpy as np

from scalinglab.errors import DataError, SpecError

METHODS = ("twonn", "mle")


@dataclasses.dataclass(frozen=True)
class IntrinsicDimension:
    """An intrinsic-dimension estimate with its bootstrap interval and the scale check [(n, estimate)]."""

    value: float
    ci95: tuple[float, float]
    method: str
    n: int
    scale: tuple[tuple[int, float], ...]

    @property
    def four_over_d(self) -> dict[str, Any]:
        """The predicted resolution-limited exponent 4/d with the interval mapped through 4/d."""
        lo, hi = self.ci95
        return {"value": 4.0 / self.value, "ci95": [4.0 / hi, 4.0 / lo]}

    @property
    def scale_drift(self) -> float:
        """Relative change of the estimate between the two largest subsamples (small when settled)."""
        if len(self.scale) < 2:
            return float("nan")
        return abs(self.scale[-1][1] - self.scale[-2][1]) / self.scale[-1][1]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": list(self.ci95), "method": self.method, "n": self.n,
                "scale": [list(s) for s in self.scale], "four_over_d": self.four_over_d}


def _estimator(method: str, k: int):
    import skdim

    if method == "twonn":
        return skdim.id.TwoNN()
    return skdim.id.MLE(K=k)


def _fit(X: np.ndarray, method: str, k: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "mle":
            return _estimator(method, k).fit(X, n_neighbors=k)
        return _estimator(method, k).fit(X)


def _estimate(X: np.ndarray, method: str, k: int) -> float:
    return float(_fit(X, method, k).dimension_)


def _check(X: np.ndarray, method: str, k: int) -> np.ndarray:
    if method not in METHODS:
        raise SpecError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < max(20, 2 * k):
        raise DataError(f"intrinsic dimension: need an (n, features) array with n >= {max(20, 2 * k)}, "
                        f"got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise DataError("intrinsic dimension: inputs contain NaN or infinity")
    return X


def intrinsic_dimension(X: np.ndarray, method: Literal["twonn", "mle"] = "twonn", *, k: int = 10,
                        n_boot: int = 100, n_scales: int = 5, rng: np.random.Generator | None = None
                        ) -> IntrinsicDimension:
    """Intrinsic dimension of the rows of X by ``method`` (``k`` neighbours for MLE), with a bootstrap interval
    (``n_boot`` replicates) and estimates on ``n_scales`` nested subsamples from n/16 to n."""
    X = _check(X, method, k)
    rng = rng or np.random.default_rng(0)
    n = X.shape[0]
    est = _fit(X, method, k)
    value = float(est.dimension_)
    boots = []
    if method == "mle":
        pw = np.asarray(est.dimension_pw_, dtype=float)
        pw = pw[np.isfinite(pw) & (pw > 0)]
        for _ in range(n_boot):
            boots.append(1.0 / np.mean(1.0 / pw[rng.integers(0, pw.size, pw.size)]))
    else:
        for _ in range(n_boot):
            idx = np.unique(rng.integers(0, n, n))
            boots.append(_estimate(X[idx], method, k))
    boots = np.asarray(boots)
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size >= 20 \
        else (float("nan"), float("nan"))
    order = rng.permutation(n)
    sizes = sorted({int(s) for s in np.geomspace(max(n // 16, max(20, 2 * k)), n, n_scales)})
    scale = tuple((s, _estimate(X[order[:s]], method, k)) for s in sizes)
    return IntrinsicDimension(value=value, ci95=ci, method=method, n=n, scale=scale)


def four_over_d(d: float) -> float:
    """Bahri et al.'s resolution-limited exponent for a smooth target on a d-dimensional manifold."""
    if not d > 0:
        raise DataError(f"intrinsic dimension: must be positive, got {d!r}")
    return 4.0 / float(d)
