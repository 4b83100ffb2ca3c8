"""Kernel and feature spectra, their power-law decay, and the kernel-ridge learning curve they predict.

Bahri et al. (2024), section "random feature models": a kernel whose eigenvalues decay as lambda_i ~ i^-(1 + alpha_K)
gives resolution-limited exponents alpha_D = alpha_P = alpha_K (the duality). The eigenvalues of the integral
operator are estimated by those of K / N on a sample of N points (or of the feature covariance Phi^T Phi / N),
which are reliable for i well below N. The whole learning curve follows from the spectrum and the target's power
in each eigenmode (kernel ridge theory, the kappa/gamma equations of the paper summary; Canatar, Bordelon and
Pehlevan 2021):

    kappa = ridge + kappa sum_i lambda_i / (kappa + D lambda_i),
    gamma = sum_i D lambda_i^2 / (kappa + D lambda_i)^2,
    L(D) = kappa^2 / (1 - gamma) sum_i p_i / (kappa + D lambda_i)^2 + noise^2 gamma / (1 - gamma) + noise^2,

with p_i = lambda_i wbar_i^2 the target's power in eigenmode i (estimated as (u_i . y)^2 / N).

L(D) is about the mass of the modes not yet learned, those beyond index ~D, so the exponent a learning curve shows
over a D range is that of the tail mass T(i) = sum_{j >= i} lambda_j over the same indices
(:func:`kernel_tail_mass`, :func:`fit_tail_mass`); it holds where the spectrum is no single power law.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import linalg, optimize

from scalinglab.errors import DataError
from scalinglab.fit.curves import fit_power_law


def kernel_spectrum(K: np.ndarray) -> np.ndarray:
    """Eigenvalues of K / N, descending (the integral operator's eigenvalues estimated on N sample points)."""
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise DataError(f"kernel_spectrum: need a square Gram matrix, got shape {K.shape}")
    return linalg.eigh(K / K.shape[0], eigvals_only=True, driver="evd", check_finite=False)[::-1]


def kernel_eigensystem(K: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of K / N (descending) and the target power per eigenmode, p_i = |u_i^T y|^2 / N summed over
    outputs (so that sum_i p_i = mean squared target)."""
    K = np.asarray(K, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(K.shape[0], -1)
    n = K.shape[0]
    lam, U = linalg.eigh(K / n, check_finite=False)
    p = np.sum((U.T @ y) ** 2, axis=1) / n
    return lam[::-1], p[::-1]


def tail_mass(eigenvalues: np.ndarray, trace: float) -> np.ndarray:
    """T(i) = sum_{j >= i} lambda_j for i = 1..n (1-based), as ``trace`` minus the leading i - 1 eigenvalues: with
    the trace of K / N (the mean of K(x, x), unbiased) it includes every eigenvalue beyond the sample's reach."""
    lam = np.asarray(eigenvalues, dtype=float)
    return float(trace) - np.concatenate([[0.0], np.cumsum(lam)[:-1]])


def kernel_tail_mass(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of K / N (descending) and the population tail mass T(i) = sum_{j >= i} lambda_j, i <= N / 2.

    The leading i sample eigenvalues overfit the sample (their sum exceeds the population's by a fraction of the
    tail that grows linearly in i / N, like a training error below its test error), so the sample tail mass
    trace - head is low by a relative bias c i / N (about 12% at i = N / 10 for kernels on manifolds). The bias
    cancels to first order in i / N by Richardson extrapolation from the two halves of the sample:
    T = 2 T_N - T_(N/2), the latter averaged over both halves (within 2% of the exact torus spectrum up to N / 5
    in the tests). The learning curve of a kernel at D is set by this tail, T(D), whatever its extent.
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    if K.ndim != 2 or K.shape[1] != n or n < 4:
        raise DataError(f"kernel_tail_mass: need a square Gram matrix of at least 4 points, got shape {K.shape}")
    lam = kernel_spectrum(K)
    h = n // 2
    halves = [K[:h, :h], K[h: 2 * h, h: 2 * h]]
    t_half = np.mean([tail_mass(kernel_spectrum(B), np.trace(B) / h) for B in halves], axis=0)
    return lam, 2.0 * tail_mass(lam, np.trace(K) / n)[:h] - t_half


def covariance_spectrum(features: np.ndarray) -> np.ndarray:
    """Eigenvalues of the (uncentred) feature covariance Phi^T Phi / N, descending; they equal the nonzero
    eigenvalues of the feature Gram Phi Phi^T / N."""
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2:
        raise DataError(f"covariance_spectrum: features must be (N, P), got shape {F.shape}")
    s = linalg.svdvals(F, check_finite=False)
    return s**2 / F.shape[0]


@dataclasses.dataclass(frozen=True)
class SpectrumFit:
    """lambda_i = A i^-(1 + alpha) fitted over ``index_range`` (inclusive, 1-based); ``alpha`` with a 95% interval
    from a bootstrap over independent spectra (NaN when only one spectrum was given)."""

    alpha: float
    ci95: tuple[float, float]
    amplitude: float
    index_range: tuple[int, int]
    n_spectra: int
    warnings: tuple[str, ...] = ()

    @property
    def decay(self) -> float:
        """The eigenvalue decay exponent 1 + alpha."""
        return 1.0 + self.alpha

    def predicted_exponents(self) -> dict[str, float]:
        """alpha_D = alpha_P = alpha_K (duality)."""
        return {"alpha_data": self.alpha, "alpha_model": self.alpha}

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.alpha, "ci95": list(self.ci95), "index_range": list(self.index_range),
                "amplitude": self.amplitude, "n_spectra": self.n_spectra, "warnings": list(self.warnings)}


def _loglog_rms(logi: np.ndarray, logl: np.ndarray) -> float:
    coef = np.polyfit(logi, logl, 1)
    return float(np.sqrt(np.mean((np.polyval(coef, logi) - logl) ** 2)))


def auto_index_range(eigenvalues: np.ndarray, min_decades: float = 1.0, max_fraction: float = 0.1,
                     min_index: int = 5) -> tuple[int, int]:
    """The index window, at least ``min_decades`` wide and inside [min_index, max_fraction N], whose log-log plot
    is straightest (least RMS residual about a line, per decade of width: wider windows are preferred when equally
    straight). N is the number of eigenvalues."""
    lam = np.asarray(eigenvalues, dtype=float)
    n = lam.size
    hi_max = int(max_fraction * n)
    if hi_max < min_index * 10**min_decades:
        raise DataError(f"spectrum: {n} eigenvalues cannot hold {min_decades} decade(s) of indices above "
                        f"{min_index} and below {max_fraction} N; use a larger sample")
    logl_all = np.log(np.maximum(lam, np.finfo(float).tiny))
    best, best_score = None, np.inf
    for lo in np.unique(np.geomspace(min_index, hi_max / 10**min_decades, 12).astype(int)):
        for hi in np.unique(np.geomspace(lo * 10**min_decades, hi_max, 8).astype(int)):
            idx = np.unique(np.geomspace(lo, hi, 60).astype(int))
            if np.any(lam[idx - 1] <= 0):
                continue
            score = _loglog_rms(np.log(idx), logl_all[idx - 1]) / np.log10(hi / lo) ** 0.5
            if score < best_score:
                best, best_score = (int(lo), int(hi)), score
    if best is None:
        raise DataError("spectrum: no window with positive eigenvalues")
    return best


def fit_spectrum(spectra: np.ndarray, index_range: tuple[int, int] | None = None, *, n_boot: int = 1000,
                 rng: np.random.Generator | None = None) -> SpectrumFit:
    """Fit lambda_i = A i^-(1 + alpha) to one spectrum (n,) or to independent spectra (n_spectra, n) over the
    1-based ``index_range`` (automatic when None, see :func:`auto_index_range` on the mean spectrum).

    The fit is least squares in log-log over log-spaced indices of the range (each decade weighs the same),
    through ``fit.curves.fit_power_law``; the interval is a bootstrap over the independent spectra.
    """
    S = np.atleast_2d(np.asarray(spectra, dtype=float))
    mean = S.mean(axis=0)
    if index_range is None:
        index_range = auto_index_range(mean)
    lo, hi = int(index_range[0]), int(index_range[1])
    if not 1 <= lo < hi <= S.shape[1]:
        raise DataError(f"index_range: must satisfy 1 <= lo < hi <= {S.shape[1]}, got {index_range}")
    idx = np.unique(np.geomspace(lo, hi, 40).astype(int))
    vals = S[:, idx - 1]
    if np.any(vals <= 0):
        raise DataError(f"spectrum: non-positive eigenvalues inside index range {index_range}")
    res = fit_power_law(idx.astype(float), vals, offset=0.0, n_boot=n_boot, rng=rng)
    warnings = list(res.warnings)
    ci = tuple(v - 1.0 for v in res.ci95["alpha"])
    if np.log10(hi / lo) < 1:
        warnings.append("index range spans less than one decade")
    return SpectrumFit(alpha=res.exponent - 1.0, ci95=(float(ci[0]), float(ci[1])), amplitude=res.params["A"],
                       index_range=(lo, hi), n_spectra=S.shape[0], warnings=tuple(warnings))


def solve_kappa(eigenvalues: np.ndarray, D: float, ridge: float = 0.0) -> float:
    """kappa solving kappa = ridge + kappa sum_i lambda_i / (kappa + D lambda_i); 0 when the ridgeless equation
    has no positive root (D at least the number of positive eigenvalues: the kernel interpolates exactly)."""
    lam = np.asarray(eigenvalues, dtype=float)
    lam = lam[lam > 0]

    def h(logk: float) -> float:
        k = np.exp(logk)
        return 1.0 - ridge / k - float(np.sum(lam / (k + D * lam)))

    if ridge <= 0 and D >= lam.size:
        return 0.0
    lo, hi = np.log(max(lam.min() * 1e-12, 1e-300)), np.log(lam.sum() + ridge + 1.0)
    while h(lo) > 0:
        lo -= 10.0
    return float(np.exp(optimize.brentq(h, lo, hi, xtol=1e-12, rtol=1e-12)))


def learning_curve_theory(eigenvalues: np.ndarray, target_power: np.ndarray, data_sizes: np.ndarray,
                          ridge: float = 0.0, noise: float = 0.0) -> np.ndarray:
    """Predicted kernel-ridge test loss L(D) at every D of ``data_sizes`` from the spectrum and the target's
    power per eigenmode (module docstring; ridge in the units of (K + ridge I) alpha = y with K the D x D Gram)."""
    lam = np.asarray(eigenvalues, dtype=float)
    p = np.asarray(target_power, dtype=float)
    if lam.shape != p.shape:
        raise DataError(f"learning_curve_theory: {lam.size} eigenvalues but {p.size} target powers")
    out = []
    for D in np.asarray(data_sizes, dtype=float):
        kappa = solve_kappa(lam, D, ridge)
        denom = (kappa + D * lam) ** 2
        gamma = float(np.sum(D * lam**2 / denom))
        if gamma >= 1:
            out.append(np.inf)
            continue
        loss = kappa**2 / (1 - gamma) * float(np.sum(p / denom))
        out.append(loss + noise**2 * gamma / (1 - gamma) + noise**2)
    return np.array(out)


def complete_tail(values: np.ndarray, fit: SpectrumFit, n_total: int) -> np.ndarray:
    """The spectrum with indices beyond the fitted range replaced by the fitted power law A i^-(1 + alpha), up to
    index ``n_total``. Sample eigenvalues beyond about a tenth of the sample size are biased (the sample Gram
    cannot resolve them), and the learning-curve theory at D needs the modes beyond D; the tail completes them."""
    values = np.asarray(values, dtype=float)
    hi = fit.index_range[1]
    i = np.arange(hi + 1, max(int(n_total), hi) + 1, dtype=float)
    return np.concatenate([values[:hi], fit.amplitude * i ** -(1.0 + fit.alpha)])


def fit_spectrum_windows(spectra: np.ndarray, lows: tuple[int, ...] = (5, 10, 20, 40), max_fraction: float = 0.1,
                         *, n_boot: int = 500, rng: np.random.Generator | None = None) -> SpectrumFit:
    """alpha_K as the median of fits over the windows [lo, max_fraction N] for each lo in ``lows``; the interval
    spans every window's bootstrap interval.

    Kernels on symmetric manifolds (a torus, a sphere) have groups of equal eigenvalues (Fourier modes or spherical
    harmonics of equal frequency), so the spectrum is a staircase about its power law, and a fit over one window
    depends on where the window starts and ends relative to the steps. The spread across windows measures that
    dependence and is part of the interval.
    """
    S = np.atleast_2d(np.asarray(spectra, dtype=float))
    hi = int(max_fraction * S.shape[1])
    fits = [fit_spectrum(S, (lo, hi), n_boot=n_boot, rng=rng) for lo in lows if 10 * lo <= hi]
    if not fits:
        raise DataError(f"spectrum: {S.shape[1]} eigenvalues leave no window of a decade below {max_fraction} N")
    alphas = np.array([f.alpha for f in fits])
    los = [f.ci95[0] for f in fits] + list(alphas)
    his = [f.ci95[1] for f in fits] + list(alphas)
    widest = fits[0]
    return SpectrumFit(alpha=float(np.median(alphas)), ci95=(float(np.nanmin(los)), float(np.nanmax(his))),
                       amplitude=widest.amplitude * 1.0, index_range=(widest.index_range[0], hi),
                       n_spectra=S.shape[0],
                       warnings=tuple(f"window [{f.index_range[0]}, {hi}]: alpha = {f.alpha:.3f}" for f in fits))


def fit_tail_mass(tails: np.ndarray, index_range: tuple[int, int], *, n_boot: int = 1000,
                  rng: np.random.Generator | None = None) -> SpectrumFit:
    """alpha_K from T(i) = sum_{j >= i} lambda_j ~ i^-alpha over the 1-based ``index_range``, for one tail mass
    (n,) or independent ones (n_spectra, n) (interval: bootstrap over them). ``amplitude`` is that of the implied
    eigenvalues, lambda_i = alpha A i^-(1 + alpha) (so :func:`complete_tail` continues them).

    The tail mass integrates over the steps of a staircase spectrum (groups of equal eigenvalues on a torus or a
    sphere) and over every index beyond the sample's reach; the learning curve over D in [lo, hi] follows T over
    the same range (kernel ridge theory: L(D) is the mass of the modes not yet learned, those beyond about D).
    """
    S = np.atleast_2d(np.asarray(tails, dtype=float))
    lo, hi = int(index_range[0]), int(index_range[1])
    if not 1 <= lo < hi <= S.shape[1]:
        raise DataError(f"index_range: must satisfy 1 <= lo < hi <= {S.shape[1]} (the tail mass is estimated up to "
                        f"N / 2), got {index_range}")
    idx = np.unique(np.geomspace(lo, hi, 40).astype(int))
    vals = S[:, idx - 1]
    if np.any(vals <= 0):
        raise DataError(f"tail mass: non-positive values inside index range {index_range}; use a larger sample")
    res = fit_power_law(idx.astype(float), vals, offset=0.0, n_boot=n_boot, rng=rng)
    warnings = list(res.warnings) + (["index range spans less than one decade"] if hi < 10 * lo else [])
    ci = res.ci95["alpha"]
    return SpectrumFit(alpha=res.exponent, ci95=(float(ci[0]), float(ci[1])),
                       amplitude=res.exponent * res.params["A"], index_range=(lo, hi), n_spectra=S.shape[0],
                       warnings=tuple(warnings))
