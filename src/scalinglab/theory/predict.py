"""Exponents predicted from data alone, before any training (Bahri et al. 2024): the intrinsic dimension d
(TwoNN, with a bootstrap interval) and its 4/d, and the kernel spectrum exponent alpha_K (alpha_D = alpha_P =
alpha_K by the duality), from two independent halves of the sample: the median of fits over the index windows
[lo, N/10], lo = 5, 10, 20, 40 (``theory.spectra.fit_spectrum_windows``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scalinglab.errors import DataError
from scalinglab.theory.geometry import intrinsic_dimension
from scalinglab.theory.spectra import fit_spectrum_windows, kernel_spectrum


def predict_exponents(X: np.ndarray, gram: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
                      n_boot: int = 50) -> dict[str, Any]:
    """``{"intrinsic_dimension": {"value", "ci95"}, "spectrum_exponent": {"value", "ci95", "index_range"},
    "predicted": {"alpha_data", "alpha_model", "four_over_d"}}`` from inputs X and a Gram function."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1000:
        raise DataError(f"predictions need at least 1000 points (rows), got shape {X.shape}", param="X")
    geom = intrinsic_dimension(X, "twonn", n_boot=n_boot, rng=rng)
    halves = np.array_split(rng.permutation(X.shape[0]), 2)
    m = min(len(h) for h in halves)
    spectra = np.array([kernel_spectrum(gram(X[h[:m]])) for h in halves])
    spec = fit_spectrum_windows(spectra, rng=rng)  # median over windows [lo, N/10]
    return {
        "intrinsic_dimension": {"value": geom.value, "ci95": list(geom.ci95),
                                "scale": [list(s) for s in geom.scale]},
        "spectrum_exponent": {"value": spec.alpha, "ci95": list(spec.ci95), "index_range": list(spec.index_range)},
        "predicted": {"alpha_data": spec.alpha, "alpha_model": spec.alpha, "four_over_d": 4.0 / geom.value,
                      "four_over_d_ci95": geom.four_over_d["ci95"]},
    }
