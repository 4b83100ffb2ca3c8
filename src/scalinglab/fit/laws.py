"""Scaling-law forms: small pure functions of the sizes and named parameters, with what the fitter needs.

Every law evaluates with numpy broadcasting: sizes of shape (n, 1) and parameters of shape (k,) give (n, k)
predictions, so one call evaluates many parameter sets (the fitter's finite differences, the bootstrap bands).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from scalinglab.errors import SpecError


def power_law(x, A, alpha):
    """L = A x^-alpha (Kaplan et al. 2020, Eqs. 1.1-1.3)."""
    return A * np.asarray(x, dtype=float) ** -alpha


def power_law_offset(x, E, A, alpha):
    """L = E + A x^-alpha: a power law approaching the irreducible loss E (Hoffmann et al. 2022, Eq. 2 in one
    variable; Bahri et al. 2024: L - L_limit ~ x^-alpha in every regime)."""
    return E + power_law(x, A, alpha)


def variance_limited(x, E, A):
    """L = E + A / x: the variance-limited regime, exponent fixed at 1 (Bahri et al. 2024, Theorem 1)."""
    return E + A / np.asarray(x, dtype=float)


def chinchilla(N, D, E, A, alpha, B, beta):
    """L = E + A N^-alpha + B D^-beta (Hoffmann et al. 2022, Eq. 2)."""
    return E + A * np.asarray(N, dtype=float) ** -alpha + B * np.asarray(D, dtype=float) ** -beta


def kaplan(N, D, N_c, alpha_N, D_c, alpha_D):
    """L = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (Kaplan et al. 2020, Eq. 1.5)."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return ((N_c / N) ** (alpha_N / alpha_D) + D_c / D) ** alpha_D


def broken_power_law(x, a, b, c0, *breaks):
    """L = a + b x^-c0 prod_i (1 + (x / d_i)^(1 / f_i))^(-c_i f_i), breaks = (d_1, c_1, f_1, d_2, ...)
    (Caballero et al. 2022, "Broken Neural Scaling Laws", Eq. 1)."""
    x = np.asarray(x, dtype=float)
    y = b * x**-c0
    for i in range(0, len(breaks), 3):
        d, c, f = breaks[i : i + 3]
        y = y * (1.0 + (x / d) ** (1.0 / f)) ** (-c * f)
    return a + y


def m4(x, E_inf, E_0, beta, c, alpha):
    """The saturating form M4 of Alabdulmohsin, Neyshabur & Zhai 2022 ("Revisiting neural scaling laws"):
    (L - E_inf) / (E_0 - L)^alpha = beta x^-c, solved for L in (E_inf, E_0).

    With w = L - E_inf and b = E_0 - E_inf, g(w) = w - f (b - w)^alpha (f = beta x^-c) is increasing on [0, b]
    for alpha >= 0: a few bisection steps bracket the root, then safeguarded Newton steps (kept inside the
    bracket) converge quadratically where the root is simple; 8 + 20 steps agree with 60 bisections to 2e-9
    in log L over random parameters, at half the cost.
    """
    x = np.asarray(x, dtype=float)
    f = beta * x**-c
    b = E_0 - E_inf
    shape = np.broadcast(x, E_inf, E_0, beta, c, alpha).shape
    lo, hi = np.zeros(shape), np.broadcast_to(b, shape).astype(float)
    with np.errstate(all="ignore"):
        for _ in range(8):
            w = 0.5 * (lo + hi)
            above = w - f * np.clip(b - w, 0.0, None) ** alpha > 0
            hi = np.where(above, w, hi)
            lo = np.where(above, lo, w)
        w = 0.5 * (lo + hi)
        for _ in range(20):
            gap = np.clip(b - w, 0.0, None)
            g = w - f * gap**alpha
            dg = 1.0 + f * alpha * gap ** (alpha - 1.0)
            hi = np.where(g > 0, w, hi)
            lo = np.where(g > 0, lo, w)
            step = w - g / dg
            w = np.where((step >= lo) & (step <= hi) & np.isfinite(step), step, 0.5 * (lo + hi))
    return E_inf + w


@dataclasses.dataclass(frozen=True)
class Param:
    """A law parameter: bounds, whether it is optimised on a log scale, and whether it enters linearly."""

    name: str
    lower: float
    upper: float
    log: bool = False
    linear: bool = False
    grid: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class Law:
    """A named law: its function of the input columns and its parameters.

    Parameters marked ``linear`` enter the law linearly; the fitter solves them exactly for each starting value
    of the others (variable projection). ``scale_grid`` maps log-scale parameters whose starting values are
    spread over the range of an input column (its index) instead of a fixed grid.
    """

    name: str
    func: Callable
    params: tuple[Param, ...]
    inputs: int
    source: str
    offset: str | None = None
    scale_grid: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __call__(self, X: np.ndarray, params: dict[str, np.ndarray | float]) -> np.ndarray:
        """Evaluate at sizes X of shape (n, inputs); parameters may be arrays of shape (k,) giving (n, k)."""
        X = np.asarray(X, dtype=float)
        cols = [X[:, j : j + 1] if np.ndim(next(iter(params.values()))) else X[:, j] for j in range(self.inputs)]
        return self.func(*cols, **params)


EXPONENT_GRID = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5)


def _broken(k: int) -> Law:
    params = [Param("a", 0.0, np.inf, linear=True), Param("b", 0.0, np.inf, linear=True),
              Param("c0", -1.0, 5.0, grid=(0.0, 0.1, 0.3, 0.8))]
    for i in range(1, k + 1):
        params += [Param(f"d{i}", 1e-300, np.inf, log=True),
                   Param(f"c{i}", -20.0, 20.0, grid=(-0.5, 0.3, 1.0, 3.0)),
                   Param(f"f{i}", 1e-3, 20.0, log=True, grid=(0.05, 0.3, 1.0))]

    def func(x, a, b, c0, **breaks):
        return broken_power_law(x, a, b, c0, *(breaks[f"{n}{i}"] for i in range(1, k + 1) for n in "dcf"))

    name = "broken_power_law" if k == 1 else f"broken_power_law_{k}"
    return Law(name, func, tuple(params), 1, "Caballero et al. 2022, Eq. 1", offset="a",
               scale_grid={f"d{i}": 0 for i in range(1, k + 1)})


LAWS: dict[str, Law] = {
    law.name: law
    for law in [
        Law("power_law", power_law,
            (Param("A", 0.0, np.inf, linear=True), Param("alpha", 0.0, 10.0, grid=EXPONENT_GRID)), 1,
            "Kaplan et al. 2020, Eq. 1.1",),
        Law("power_law_offset", power_law_offset,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 10.0, grid=EXPONENT_GRID)), 1,
            "Hoffmann et al. 2022, Eq. 2 (one variable)", offset="E"),
        Law("variance_limited", variance_limited,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True)), 1,
            "Bahri et al. 2024, Theorem 1", offset="E"),
        Law("chinchilla", chinchilla,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 3.0, grid=(0.1, 0.2, 0.3, 0.4, 0.6, 0.9)), Param("B", 0.0, np.inf, linear=True),
             Param("beta", 0.0, 3.0, grid=(0.1, 0.2, 0.3, 0.4, 0.6, 0.9))), 2,
            "Hoffmann et al. 2022, Eq. 2", offset="E"),
        Law("kaplan", kaplan,
            (Param("N_c", 1e-300, np.inf, log=True), Param("alpha_N", 1e-3, 3.0, grid=(0.05, 0.1, 0.3, 0.6)),
             Param("D_c", 1e-300, np.inf, log=True), Param("alpha_D", 1e-3, 3.0, grid=(0.05, 0.1, 0.3, 0.6))), 2,
            "Kaplan et al. 2020, Eq. 1.5", scale_grid={"N_c": 0, "D_c": 1}),
        Law("m4", m4,
            (Param("E_inf", 0.0, np.inf), Param("E_0", 0.0, np.inf), Param("beta", 1e-300, np.inf, log=True),
             Param("c", 0.0, 10.0), Param("alpha", 0.0, 10.0)), 1,
            "Alabdulmohsin, Neyshabur & Zhai 2022, estimator M4", offset="E_inf"),
        _broken(1),
        _broken(2),
    ]
}


def get_law(name: str) -> Law:
    """The law called ``name``; SpecError listing the known ones otherwise."""
    try:
        return LAWS[name]
    except KeyError:
        raise SpecError(f"--form: unknown law {name!r} (known: {', '.join(LAWS)}, auto)") from None


def derived_quantities(law: Law, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Quantities derived from a law's parameters (bootstrap intervals are given for them too).

    Chinchilla: the compute-optimal exponents a = beta / (alpha + beta) (N* ~ C^a) and b = alpha / (alpha + beta)
    (D* ~ C^b) (Hoffmann et al. 2022, Eq. 4). Kaplan: the ratio alpha_N / alpha_D.
    """
    if law.name == "chinchilla":
        s = params["alpha"] + params["beta"]
        return {"a": params["beta"] / s, "b": params["alpha"] / s}
    if law.name == "kaplan":
        return {"alpha_N_over_alpha_D": params["alpha_N"] / params["alpha_D"]}
    return {}
