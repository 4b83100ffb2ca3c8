"""The quantization model of neural scaling: Michaud et al. (2023), "The Quantization Model of Neural Scaling".

The paper's quantization hypotheses (QH1-QH3): a task decomposes into discrete quanta (subtasks) used with
frequencies p_k = k^-(alpha + 1) / Z; a model learns quanta in order of frequency, and an unlearned quantum costs
a fixed loss b (1 per unit of frequency here; 1/2 for a parity's error rate). With n quanta learned,

    L(n) = b sum_{k > n} p_k  ~  b n^-alpha / (alpha Z)

- parameters: each quantum costs a fixed number of parameters, n = N / params_per_quantum, so
  L(N) ~ N^-alpha_N with alpha_N = alpha;
- data: quantum k is learned once the training set holds tau examples of it, D p_k >= tau, so
  n(D) = (D / (tau Z))^(1 / (alpha + 1)) and L(D) ~ D^-alpha_D with alpha_D = alpha / (alpha + 1).

With finitely many quanta (``n_tasks``), p_k is normalised over k <= n_tasks and the curves fall to zero once all
are learned; ``n_tasks=None`` is the infinite Zipf law (Z = zeta(alpha + 1)).

Tie to Brill (2024): percolation clusters are quanta whose masses follow the same Zipf law with
alpha = (3 - tau) / (tau - 2) (``theory.percolation.alpha_from_tau``), so a Zipf exponent alpha + 1 corresponds to
the cluster-size exponent tau = 2 + 1 / (alpha + 1), and Brill's subcritical data exponent 3 - tau equals the
quanta data exponent alpha / (alpha + 1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import zeta

from scalinglab.errors import SpecError
from scalinglab.theory.percolation import alpha_from_tau


def _alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise SpecError(f"alpha: must be positive and finite (Zipf exponent alpha + 1 > 1), got {alpha!r}")
    return alpha


def _n_tasks(n_tasks: int | None) -> int | None:
    if n_tasks is None:
        return None
    if isinstance(n_tasks, bool) or int(n_tasks) != n_tasks or n_tasks < 1:
        raise SpecError(f"n_tasks: must be a positive integer or None, got {n_tasks!r}")
    return int(n_tasks)


def parameter_exponent(alpha: float) -> float:
    """alpha_N = alpha: L(N) ~ N^-alpha when each quantum costs a fixed number of parameters (quantization model)."""
    return _alpha(alpha)


def data_exponent(alpha: float) -> float:
    """alpha_D = alpha / (alpha + 1): L(D) ~ D^-alpha_D with a fixed per-quantum sample threshold (quantization
    model)."""
    alpha = _alpha(alpha)
    return alpha / (alpha + 1.0)


def zipf_normaliser(alpha: float, n_tasks: int | None = None) -> float:
    """Z = sum_{k <= n_tasks} k^-(alpha + 1) (zeta(alpha + 1) for infinitely many quanta)."""
    alpha, n_tasks = _alpha(alpha), _n_tasks(n_tasks)
    if n_tasks is None:
        return float(zeta(alpha + 1.0))
    return float(np.sum(np.arange(1, n_tasks + 1, dtype=float) ** -(alpha + 1.0)))


def frequencies(alpha: float, n_tasks: int) -> np.ndarray:
    """p_k = k^-(alpha + 1) / Z, k = 1..n_tasks: the use frequencies of the quanta (quantization hypothesis QH3)."""
    n_tasks = _n_tasks(n_tasks)
    if n_tasks is None:
        raise SpecError("n_tasks: frequencies need a finite number of quanta")
    w = np.arange(1, n_tasks + 1, dtype=float) ** -(_alpha(alpha) + 1.0)
    return w / w.sum()


def _tail(n: np.ndarray, s: float, n_tasks: int | None) -> np.ndarray:
    """sum_{n < k <= n_tasks} k^-s for integer n >= 0 (Hurwitz zeta differences)."""
    out = zeta(s, n + 1.0)
    if n_tasks is not None:
        out = np.where(n >= n_tasks, 0.0, out - zeta(s, n_tasks + 1.0))
    return out


def loss_with_quanta(n_learned, alpha: float, n_tasks: int | None = None, unlearned_loss: float = 1.0):
    """L(n) = b sum_{k > n} p_k (quantization model), b = ``unlearned_loss``; a fractional n learns that fraction of
    quantum floor(n) + 1 (linear interpolation between the integer steps)."""
    alpha, n_tasks = _alpha(alpha), _n_tasks(n_tasks)
    n = np.asarray(n_learned, dtype=float)
    if np.any(~np.isfinite(n)) or np.any(n < 0):
        raise SpecError(f"n_learned: must be non-negative and finite, got {n_learned!r}")
    if n_tasks is not None:
        n = np.minimum(n, n_tasks)
    s = alpha + 1.0
    lo = np.floor(n)
    frac = n - lo
    out = (_tail(lo, s, n_tasks) - frac * (lo + 1.0) ** -s) / zipf_normaliser(alpha, n_tasks)
    out = float(unlearned_loss) * np.maximum(out, 0.0)
    return float(out) if out.ndim == 0 else out


def quanta_from_data(data_size, alpha: float, samples_per_quantum: float, n_tasks: int | None = None):
    """n(D): the number of quanta with D p_k >= tau, as a continuous count (D / (tau Z))^(1 / (alpha + 1)),
    capped at ``n_tasks`` (the theory's data scaling)."""
    alpha = _alpha(alpha)
    tau = float(samples_per_quantum)
    if not (np.isfinite(tau) and tau > 0):
        raise SpecError(f"samples_per_quantum: must be positive, got {samples_per_quantum!r}")
    D = np.asarray(data_size, dtype=float)
    n = (D / (tau * zipf_normaliser(alpha, n_tasks))) ** (1.0 / (alpha + 1.0))
    if n_tasks is not None:
        n = np.minimum(n, n_tasks)
    return float(n) if n.ndim == 0 else n


def parameter_scaling_loss(n_params, alpha: float, params_per_quantum: float, n_tasks: int | None = None,
                           unlearned_loss: float = 1.0):
    """L(N) = L(n = N / params_per_quantum) (the quantization model)."""
    c = float(params_per_quantum)
    if not (np.isfinite(c) and c > 0):
        raise SpecError(f"params_per_quantum: must be positive, got {params_per_quantum!r}")
    return loss_with_quanta(np.asarray(n_params, dtype=float) / c, alpha, n_tasks, unlearned_loss)


def data_scaling_loss(data_size, alpha: float, samples_per_quantum: float, n_tasks: int | None = None,
                      unlearned_loss: float = 1.0):
    """L(D) = L(n(D)) with the per-quantum sample threshold tau (the quantization model)."""
    return loss_with_quanta(quanta_from_data(data_size, alpha, samples_per_quantum, n_tasks), alpha, n_tasks,
                            unlearned_loss)


def untruncated_loss(loss, alpha: float, n_tasks: int, unlearned_loss: float = 1.0):
    """The loss the same model would have on the infinite Zipf law, given that it learned none of the quanta
    beyond ``n_tasks``: L_inf = (Z_n / Z_inf) L_n + b sum_{k > n_tasks} k^-(alpha + 1) / Z_inf.

    A loss measured on ``n_tasks`` quanta bends down as learning nears the cutoff; this affine map removes the
    cutoff exactly (it is ``loss_with_quanta(n, alpha, None)`` for ``loss_with_quanta(n, alpha, n_tasks)``)."""
    alpha, n_tasks = _alpha(alpha), _n_tasks(n_tasks)
    z_inf = zipf_normaliser(alpha)
    tail = float(zeta(alpha + 1.0, n_tasks + 1.0))
    return (zipf_normaliser(alpha, n_tasks) * np.asarray(loss, dtype=float) + unlearned_loss * tail) / z_inf


def effective_exponent(x, loss) -> float:
    """-slope of the least-squares line through (ln x, ln loss): the exponent a power-law fit would report."""
    x, loss = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(loss, dtype=float))
    return float(-np.polyfit(x, loss, 1)[0])


def tau_from_zipf(zipf_exponent: float) -> float:
    """The percolation cluster-size exponent tau whose cluster masses follow the Zipf law k^-zipf_exponent:
    inverting Brill's alpha = (3 - tau) / (tau - 2) with alpha = zipf_exponent - 1 gives tau = 2 + 1/zipf_exponent."""
    s = float(zipf_exponent)
    if not (np.isfinite(s) and s > 1.0):
        raise SpecError(f"zipf_exponent: must be finite and > 1, got {zipf_exponent!r}")
    return 2.0 + 1.0 / s


def alpha_of_zipf_via_percolation(zipf_exponent: float) -> float:
    """alpha of the percolation model with the same Zipf law: Brill's alpha(tau) at tau = tau_from_zipf."""
    return alpha_from_tau(tau_from_zipf(zipf_exponent))


def quanta_predictions(alpha: float, n_tasks: int | None = None) -> dict[str, float]:
    """The exponents and the matching percolation tau for one Zipf law."""
    alpha = _alpha(alpha)
    tau = tau_from_zipf(alpha + 1.0)
    return {"alpha": alpha, "zipf_exponent": alpha + 1.0, "parameter_exponent": parameter_exponent(alpha),
            "data_exponent": data_exponent(alpha), "tau": tau, "brill_data_exponent": 3.0 - tau,
            "n_tasks": float("inf") if n_tasks is None else float(_n_tasks(n_tasks))}


def window_exponent(alpha: float, n_lo: float, n_hi: float, size_per_quantum_exponent: float = 1.0) -> float:
    """The exponent the quanta model itself gives over a finite window of learned quanta n in [n_lo, n_hi] on the
    infinite Zipf law, when the size x grows as n^e (e = 1 for parameters, alpha + 1 for data).

    The asymptotic exponents hold for n >> 1; at a handful of quanta the discrete tail sum_{k > n} k^-(alpha + 1)
    ~ (n + 1/2)^-alpha / alpha makes the local slope alpha n / (n + 1/2), lower by several per cent."""
    alpha = _alpha(alpha)
    if not (np.isfinite(n_lo) and np.isfinite(n_hi) and 0 < n_lo < n_hi):
        raise SpecError(f"n_lo, n_hi: need 0 < n_lo < n_hi, got {n_lo!r}, {n_hi!r}")
    n = np.geomspace(n_lo, n_hi, 64)
    return effective_exponent(n ** float(size_per_quantum_exponent), loss_with_quanta(n, alpha))
