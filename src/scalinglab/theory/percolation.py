"""Brill (2024), "Neural Scaling Laws Rooted in the Data Distribution" (arXiv 2412.07942): closed-form theory.

Data are the sites of percolation clusters; cluster k (ranked by size) carries weight w(k) ~ k^-(alpha + 1)
with alpha = (3 - tau) / (tau - 2) (section "Percolation clusters as subtasks"). A cluster given n degrees of
freedom (DOF) has loss n^-(c/D): c = 2 for piecewise-constant approximation (nearest neighbour), 4 piecewise
linear, 6 piecewise quadratic; D is the clusters' fractal dimension (section "Manifold approximation").
Every function here is pure and has no fitted parameter. ``manifold_exponent`` is the ratio c/D.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from scalinglab.errors import SpecError

# Cluster-size exponent tau and fractal dimension D of percolation on d-dimensional hypercubic lattices
# (Stauffer & Aharony, "Introduction to Percolation Theory", Table 2; Mertens & Moore, PRE 98, 022120 (2018)).
# d >= 6 is mean field: tau = 5/2, D = 4 (the author's notebook uses tau = 2.487 at d = 6).
PERCOLATION_EXPONENTS: dict[int, tuple[float, float]] = {
    2: (187 / 91, 91 / 48),
    3: (2.1892, 2.53),
    4: (2.3142, 3.06),
    5: (2.419, 3.54),
}
MEAN_FIELD = (2.5, 4.0)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise SpecError(f"{name}: must be positive and finite, got {value!r}")
    return value


def lattice_exponents(d: int) -> tuple[float, float]:
    """(tau, D) of percolation on a d-dimensional hypercubic lattice, d >= 2 (mean field for d >= 6)."""
    if int(d) != d or d < 2:
        raise SpecError(f"d: lattice dimension must be an integer >= 2, got {d!r}")
    return PERCOLATION_EXPONENTS.get(int(d), MEAN_FIELD)


def alpha_from_tau(tau: float) -> float:
    """alpha = (3 - tau) / (tau - 2): cluster k has mass ~ k^-(alpha + 1) (paper, section 2; needs 2 < tau < 3)."""
    tau = float(tau)
    if not 2.0 < tau < 3.0:
        raise SpecError(f"tau: must lie in (2, 3) for a normalisable Zipf law, got {tau!r}")
    return (3.0 - tau) / (tau - 2.0)


def allocation_exponent(alpha: float, manifold_exponent: float) -> float:
    """b = (c/D - alpha) / (c/D + 1): the optimal DOF n_k ~ k^(b - 1) (paper, optimal allocation)."""
    alpha, e = _positive("alpha", alpha), _positive("manifold_exponent", manifold_exponent)
    return (e - alpha) / (e + 1.0)


def total_dof(k: float, b: float) -> float:
    """N(k_br) = k_br (1 - k_br^-b) / b, the total DOF at which n_{k_br} = 1 (limit k ln k at b = 0)."""
    if abs(b) < 1e-12:
        return k * np.log(k)
    return k * (1.0 - k ** (-b)) / b


def break_rank(n_dof, alpha: float, manifold_exponent: float) -> np.ndarray | float:
    """The break rank k_br(N) solving N = k_br (1 - k_br^-b) / b (paper, optimal allocation; n_{k_br} = 1).

    k_br = 1 for N <= 0. Anchors (alpha = 1, c/D = 1/2): k_br(1) = 1.7074, k_br(100) = 19.63, k_br(500) = 58.04.
    """
    b = allocation_exponent(alpha, manifold_exponent)
    ns = np.asarray(n_dof, dtype=float)
    out = np.ones(ns.shape)
    for idx, n in np.ndenumerate(ns):
        if not np.isfinite(n):
            raise SpecError(f"N: must be finite, got {n!r}")
        if n <= 0:
            continue
        hi = 2.0
        while total_dof(hi, b) < n:
            hi *= 2.0
        out[idx] = brentq(lambda k, n=n: total_dof(k, b) - n, 1.0, hi, xtol=1e-12, rtol=1e-13)
    return float(out) if out.ndim == 0 else out


def optimal_allocation(n_dof: float, ranks, alpha: float, manifold_exponent: float) -> np.ndarray:
    """n_k = a k^(b - 1) for k < k_br, else 0, with a = b N / (k_br^b - 1) (paper, optimal allocation).

    ``ranks`` are cluster ranks k >= 1; the allocation is the continuum one, so its discrete sum is close to N.
    """
    k = np.asarray(ranks, dtype=float)
    b = allocation_exponent(alpha, manifold_exponent)
    if n_dof <= 0:
        return np.zeros(k.shape)
    kb = break_rank(n_dof, alpha, manifold_exponent)
    a = n_dof / np.log(kb) if abs(b) < 1e-12 else b * n_dof / (kb**b - 1.0)
    return np.where(k < kb, a * k ** (b - 1.0), 0.0)


def power_allocation(n_dof: float, b: float, k_br: float, n_clusters: int) -> np.ndarray:
    """n_k proportional to k^(b - 1) for ranks k < k_br (at least rank 1), summing to N over the clusters.

    The family scanned in the paper's DOF-allocation experiment (Step 4), normalised by the discrete sum.
    """
    if n_clusters < 1:
        raise SpecError(f"n_clusters: must be at least 1, got {n_clusters!r}")
    k = np.arange(1, n_clusters + 1, dtype=float)
    shape = np.where((k < k_br) | (k == 1), k ** (b - 1.0), 0.0)
    return n_dof * shape / shape.sum()


def _model_curve(n: np.ndarray, alpha: float, e: float) -> np.ndarray:
    kb = np.atleast_1d(break_rank(n, alpha, e))
    return (n / kb + 1.0 / alpha) * kb ** (-alpha)


def model_scaling_loss(n_dof, alpha: float, manifold_exponent: float) -> np.ndarray | float:
    """L(N) = (N / k_br + 1 / alpha) k_br^-alpha, normalised to L(1) = 1, and L = 1 for N <= 1 (paper, Eq. L(N)).

    The learned clusters contribute N k_br^-(alpha + 1), the unlearned tail k_br^-alpha / alpha. Anchors
    (alpha = 1, c/D = 1/2): L(10) = 0.685, L(100) = 0.334.
    """
    alpha, e = _positive("alpha", alpha), _positive("manifold_exponent", manifold_exponent)
    n = np.asarray(n_dof, dtype=float)
    flat = np.atleast_1d(n).ravel()
    out = np.ones(flat.shape)
    big = flat > 1.0
    if big.any():
        out[big] = _model_curve(flat[big], alpha, e) / _model_curve(np.array([1.0]), alpha, e)[0]
    out = out.reshape(n.shape)
    return float(out) if out.ndim == 0 else out


def data_scaling_loss(data_size, alpha: float, manifold_exponent: float) -> np.ndarray | float:
    """L(D) = [c1 D^-a + c2 D^-(c/D)] / (c1 + c2), a = alpha / (1 + alpha) (paper, Eq. L(D)), L = 1 for D <= 1.

    c1 = alpha^-(a + 1) / (1 - a / (c/D)), c2 = alpha^-(c/D + 1) / (1 - (c/D) / a). At c/D = a the limit is
    L = (1 + a ln(alpha D)) / (1 + a ln alpha) D^-a, which is (1 + (c/D) ln D) D^-(c/D) at alpha = 1.
    Anchors (alpha = 1, c/D = 1/2): L(10) = 0.680, L(100) = 0.330.
    """
    alpha, e = _positive("alpha", alpha), _positive("manifold_exponent", manifold_exponent)
    d = np.asarray(data_size, dtype=float)
    dd = np.maximum(d, 1.0)
    a = alpha / (1.0 + alpha)
    if abs(e - a) < 1e-6 * a:
        out = (1.0 + a * np.log(alpha * dd)) / (1.0 + a * np.log(alpha)) * dd ** (-a)
    else:
        c1 = alpha ** (-(a + 1.0)) / (1.0 - a / e)
        c2 = alpha ** (-(e + 1.0)) / (1.0 - e / a)
        out = (c1 * dd ** (-a) + c2 * dd ** (-e)) / (c1 + c2)
    out = np.where(d <= 1.0, 1.0, out)
    return float(out) if out.ndim == 0 else out


def model_scaling_exponent(alpha: float, manifold_exponent: float) -> float:
    """Asymptotic exponent of L(N): min(alpha, c/D) (paper, model scaling)."""
    return min(_positive("alpha", alpha), _positive("manifold_exponent", manifold_exponent))


def data_scaling_exponent(alpha: float, manifold_exponent: float) -> float:
    """Asymptotic exponent of L(D): min(c/D, alpha / (1 + alpha)) = min(c/D, 3 - tau) (paper, data scaling)."""
    alpha = _positive("alpha", alpha)
    return min(_positive("manifold_exponent", manifold_exponent), alpha / (1.0 + alpha))


def local_slope(fn, x, alpha: float, manifold_exponent: float, rel_step: float = 1e-4) -> np.ndarray:
    """-d ln L / d ln x of ``model_scaling_loss`` or ``data_scaling_loss`` at x (central difference)."""
    x = np.asarray(x, dtype=float)
    h = np.log1p(rel_step)
    up, down = fn(x * np.exp(h), alpha, manifold_exponent), fn(x * np.exp(-h), alpha, manifold_exponent)
    return -(np.log(up) - np.log(down)) / (2.0 * h)


def exponent_ratios(dims=range(2, 9), cs=(2, 4, 6)) -> list[dict[str, float]]:
    """(c/D) / alpha and (c/D) / (alpha / (1 + alpha)) for each lattice dimension d and c (paper, Fig. 4).

    Below 1 the manifold term limits scaling (model or data), above 1 the quanta (Zipf) term does.
    """
    rows = []
    for d in dims:
        tau, frac = lattice_exponents(d)
        alpha = alpha_from_tau(tau)
        for c in cs:
            e = c / frac
            rows.append({"d": float(d), "c": float(c), "tau": tau, "fractal_dimension": frac, "alpha": alpha,
                         "model_ratio": e / alpha, "data_ratio": e / (alpha / (1.0 + alpha))})
    return rows


def brill_predictions(tau: float, c: float, fractal_dimension: float, sizes) -> dict[str, object]:
    """k_br, L(N) and L(D) at each size for a cluster exponent tau and an approximation order c (paper, section 3)."""
    alpha = alpha_from_tau(tau)
    e = _positive("c", c) / _positive("D", fractal_dimension)
    sizes = np.asarray(sizes, dtype=float)
    return {
        "tau": float(tau), "alpha": alpha, "manifold_exponent": e, "b": allocation_exponent(alpha, e),
        "N": sizes.tolist(),
        "k_br": np.atleast_1d(break_rank(sizes, alpha, e)).tolist(),
        "L_model": np.atleast_1d(model_scaling_loss(sizes, alpha, e)).tolist(),
        "L_data": np.atleast_1d(data_scaling_loss(sizes, alpha, e)).tolist(),
        "model_exponent": model_scaling_exponent(alpha, e),
        "data_exponent": data_scaling_exponent(alpha, e),
    }


def joint_loss(data_size, n_dof, alpha: float, manifold_exponent: float, n_clusters: int) -> np.ndarray:
    """L(D, N) of n_clusters clusters of weight w_k ~ k^-(alpha + 1), each given min(n_k(N), D w_k) DOF.

    The two limits of the paper side by side: cluster k gets n_k(N) DOF from the optimal allocation (model
    scaling, unlimited data) and D w_k samples of D i.i.d. ones, one DOF each (data scaling, unlimited capacity);
    a cluster with n DOF has loss max(n, 1)^-(c/D) (below one DOF it is unlearned and costs its whole weight).
    Discrete and finite in k (so it flattens once every cluster is learned), with no fitted parameter;
    ``data_size`` and ``n_dof`` broadcast against each other.
    """
    alpha, e = _positive("alpha", alpha), _positive("manifold_exponent", manifold_exponent)
    if int(n_clusters) != n_clusters or n_clusters < 1:
        raise SpecError(f"n_clusters: must be a positive integer, got {n_clusters!r}")
    d, n = np.broadcast_arrays(np.asarray(data_size, dtype=float), np.asarray(n_dof, dtype=float))
    k = np.arange(1, int(n_clusters) + 1, dtype=float)
    w = k ** -(alpha + 1.0)
    w /= w.sum()
    out = np.empty(d.shape)
    for idx in np.ndindex(d.shape):
        dof = np.minimum(optimal_allocation(float(n[idx]), k, alpha, e), d[idx] * w)
        out[idx] = float(w @ np.maximum(dof, 1.0) ** -e)
    return out
