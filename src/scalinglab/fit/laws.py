"""Scaling-law forms: small pure functions of the sizes and named parameters, with what the fitter needs.

Every law evaluates with numpy broadcasting: sizes of shape (n, 1) and parameters of shape (k,) give (n, k)
predictions, so one call evaluates many parameter sets (the fitter's finite differences, the bootstrap bands).
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.fit.lawbase import Law, Param  # noqa: F401  (re-exported: the types of the forms below)


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
    with np.errstate(over="ignore", invalid="ignore"):  # a start far off overflows; the fitter drops non-finite
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


# Laws of the ScaleBench tasks (Li et al. 2026): published forms for settings beyond L(N, D). Every one is
# written so that its scale coefficients are non-negative and enter linearly (solved exactly at each start).


def farseer(N, D, E, s, q, S, B, b, Q, A, a):
    """L = S exp(s N^q) + Q exp(B N^b) D^-exp(A N^a + E) (Li et al. 2025, "Farseer", Eq. 4, with their
    exp(S) and exp(Q) written as the linear coefficients S and Q)."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    with np.errstate(over="ignore"):
        return (S * np.exp(np.clip(s * N**q, -50, 50))
                + Q * np.exp(np.clip(B * N**b - np.exp(np.clip(A * N**a + E, -50, 50)) * np.log(D), -700, 50)))


def muennighoff(U, N, D, E, A, alpha, B, beta, R_N, R_D, rho):
    """L = E + A / N'^alpha + B / D'^beta with repeated data and excess parameters decaying in value
    (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", Eqs. 5-7):
    D' = U + U R_D (1 - exp(-(D/U - 1) / R_D)), U_N = min(rho U, N), N' = U_N + U_N R_N (1 - exp(-(N/U_N - 1)
    / R_N)); rho U stands for the compute-optimal size of U unique tokens."""
    U, N, D = (np.asarray(v, dtype=float) for v in (U, N, D))
    UN = np.minimum(rho * U, N)
    Nx = UN * (1 + R_N * (1 - np.exp(-np.maximum(N / UN - 1, 0) / R_N)))
    Dx = U * (1 + R_D * (1 - np.exp(-np.maximum(D / U - 1, 0) / R_D)))
    return E + A * Nx**-alpha + B * Dx**-beta


def vocabulary(P, V, D, E, A, alpha, C, gamma, B, beta):
    """L = E + A P^-alpha + C V^-gamma + B D^-beta: non-vocabulary parameters P, vocabulary size V (standing for
    the vocabulary parameters V d) and training characters D (Tao et al. 2024, "Scaling Laws with Vocabulary",
    Eq. 7; gamma may be negative: past its optimum a larger vocabulary costs loss)."""
    P, V, D = (np.asarray(v, dtype=float) for v in (P, V, D))
    return E + A * P**-alpha + C * V**-gamma + B * D**-beta


def vocabulary_coupled(P, V, D, E, A, k_P, alpha, B, k_D, beta):
    """L = E + A (P V^k_P)^-alpha + B (D V^k_D)^-beta: the vocabulary rescales the effective parameters and
    data (Tao et al. 2024, Section 3: the vocabulary parameters V d join the parameters, and a larger vocabulary
    packs more characters into each token; ScaleBench's vocabulary law 6)."""
    P, V, D = (np.asarray(v, dtype=float) for v in (P, V, D))
    return E + A * (P * V**k_P) ** -alpha + B * (D * V**k_D) ** -beta


def lr_bsz(lr, bsz, D, N, E, A, alpha, B, beta, C, mu, mu_N, mu_D, G, nu, nu_D):
    """L = E + A N^-alpha + B D^-beta + C (ln lr - ln lr*)^2 + G (ln bsz - ln bsz*)^2, with the optima power laws
    ln lr* = mu + mu_N ln(N / 1e9) + mu_D ln(D / 1e11) and ln bsz* = nu + nu_D ln(D / 1e11) (Li et al. 2025,
    "Predictable Scale: Part I", Eqs. 1-2 for the optima; the quadratic valleys in log lr and log bsz of their
    Figure 2 around Hoffmann et al. 2022, Eq. 2)."""
    lr, bsz, D, N = (np.asarray(v, dtype=float) for v in (lr, bsz, D, N))
    dlr = np.log(lr) - (mu + mu_N * np.log(N / 1e9) + mu_D * np.log(D / 1e11))
    dbs = np.log(bsz) - (nu + nu_D * np.log(D / 1e11))
    return E + A * N**-alpha + B * D**-beta + C * dlr**2 + G * dbs**2


def routed(E, N, L_inf, A, alpha, beta, gamma):
    """L = L_inf + A N^-alpha E^-(beta + gamma ln(N / 1e9)): experts E and dense parameters N (Clark et al. 2022,
    "Unified Scaling Laws for Routed Language Models", Eq. 7: log L bilinear in log N and log E, plus an
    irreducible loss)."""
    E, N = np.asarray(E, dtype=float), np.asarray(N, dtype=float)
    return L_inf + A * N**-alpha * E ** -(beta + gamma * np.log(N / 1e9))


def product(x, y, E, A, a, b):
    """L = E + A x^-a y^-b: a product of two power laws over an irreducible loss (ScaleBench's sparsity law sl_2,
    Li et al. 2026; the routed law of Clark et al. 2022 with gamma = 0)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return E + A * x**-a * y**-b


def parallel(N, P, E, A, k, alpha):
    """L = (A / (N (k ln P + 1)))^alpha + E: N parameters run as P parallel streams (Chen et al. 2025,
    "Parallel Scaling Law for Language Models", Eq. 5)."""
    N, P = np.asarray(N, dtype=float), np.asarray(P, dtype=float)
    return (A / (N * (k * np.log(P) + 1))) ** alpha + E


def data_mixing(r1, r2, r3, r4, r5, c, k, t1, t2, t3, t4, t5):
    """L_i = c + k exp(sum_j t_j r_j): one domain's loss against the mixture proportions r_j (Ye et al. 2024,
    "Data Mixing Laws", Eq. 1); the columns are 1 + r_j (proportions may be zero), which changes only k."""
    r = [np.asarray(v, dtype=float) for v in (r1, r2, r3, r4, r5)]
    z = t1 * r[0] + t2 * r[1] + t3 * r[2] + t4 * r[3] + t5 * r[4]
    return c + k * np.exp(np.clip(z, -700, 700))


# Closed-form gradients: each returns (L, [dL/dp for p in the law's parameters, in order]) with the law's own
# broadcasting. The fitter uses them for its L-BFGS-B and Gauss-Newton steps (fit.estimate, fit.solve).


def power_law_grad(x, A, alpha):
    x = np.asarray(x, dtype=float)
    t = x**-alpha
    L = A * t
    return L, [t, -L * np.log(x)]


def power_law_offset_grad(x, E, A, alpha):
    L, (dA, dalpha) = power_law_grad(x, A, alpha)
    return E + L, [np.ones_like(L), dA, dalpha]


def variance_limited_grad(x, E, A):
    inv = 1.0 / np.asarray(x, dtype=float)
    L = E + A * inv
    return L, [np.ones_like(L), inv + 0.0 * L]


def chinchilla_grad(N, D, E, A, alpha, B, beta):
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    tn, td = N**-alpha, D**-beta
    an, bd = A * tn, B * td
    L = E + an + bd
    return L, [np.ones_like(L), tn + 0.0 * L, -an * np.log(N), td + 0.0 * L, -bd * np.log(D)]


def kaplan_grad(N, D, N_c, alpha_N, D_c, alpha_D):
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    r, lognc = alpha_N / alpha_D, np.log(N_c / N)
    t = (N_c / N) ** r
    S = t + D_c / D
    L = S**alpha_D
    dS = alpha_D * L / S  # dL/dS
    return L, [dS * r * t / N_c, dS * t * lognc / alpha_D, dS / D,
               L * np.log(S) - dS * t * lognc * alpha_N / alpha_D**2]


def broken_power_law_grad(x, a, b, c0, *breaks):
    """With z_i = log(x / d_i) / f_i: log g_i = log(1 + e^z_i) and q_i / g_i = sigmoid(z_i), both overflow-free."""
    from scipy.special import expit

    x = np.asarray(x, dtype=float)
    logx = np.log(x)
    logy = -c0 * logx
    parts = []
    for i in range(0, len(breaks), 3):
        d, c, f = breaks[i : i + 3]
        lxd = logx - np.log(d)
        z = lxd / f
        logg = np.logaddexp(0.0, z)
        logy = logy - c * f * logg
        parts.append((d, c, f, lxd, logg, expit(z)))
    t = np.exp(logy)  # y / b
    y = b * t
    L = a + y
    out = [np.ones_like(L), t + 0.0 * L, -y * logx]
    for d, c, f, lxd, logg, s in parts:
        out += [y * c * s / d, -y * f * logg, y * c * (s * lxd / f - logg)]
    return L, out


def product_grad(x, y, E, A, a, b):
    t = x**-a * y**-b
    return E + A * t, [np.ones_like(t), t, -A * t * np.log(x), -A * t * np.log(y)]


def m4_grad(x, E_inf, E_0, beta, c, alpha):
    """Implicit differentiation of w = f (b - w)^alpha (see ``m4``): with gap = b - w and h = alpha w / gap,
    dw/dtheta = -(dG/dtheta) / (1 + h) for G(w) = w - f gap^alpha."""
    x = np.asarray(x, dtype=float)
    L = m4(x, E_inf, E_0, beta, c, alpha)
    w = L - E_inf
    gap = np.clip(E_0 - L, 0.0, None)
    with np.errstate(all="ignore"):
        h = np.where(w > 0, alpha * w / gap, 0.0)
        inv = np.where(np.isfinite(h), 1.0 / (1.0 + h), 0.0)
        hinv = np.where(np.isfinite(h), h * inv, 1.0)
        logx = np.log(x)
        return L, [inv, hinv, w / beta * inv, -w * logx * inv,
                   np.where(w > 0, w * np.log(gap) * inv, 0.0)]


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

    def grad(x, a, b, c0, **breaks):
        return broken_power_law_grad(x, a, b, c0, *(breaks[f"{n}{i}"] for i in range(1, k + 1) for n in "dcf"))

    name = "broken_power_law" if k == 1 else f"broken_power_law_{k}"
    return Law(name, func, tuple(params), 1, "Caballero et al. 2022, Eq. 1", offset="a",
               scale_grid={f"d{i}": 0 for i in range(1, k + 1)}, grad=grad)


def _log_quadratic(k: int) -> Law:
    """log L = c0 + sum_i c_i log x_i + sum_(i <= j) c_ij log x_i log x_j: a quadratic response surface in log
    sizes (ScaleBench's lr_bsz law sl_1 at k = 4, Li et al. 2026; a curved power law at k = 1). Linear in log L, so
    least squares on log loss is convex and one start reaches its optimum."""
    pairs = [(i, i) for i in range(k)] + list(itertools.combinations(range(k), 2))
    names = ["c0", *(f"c{i + 1}" for i in range(k)), *(f"c{i + 1}{j + 1}" for i, j in pairs)]

    def features(cols):
        z = [np.log(np.asarray(c, dtype=float)) for c in cols]
        return [np.ones_like(z[0]), *z, *(z[i] * z[j] for i, j in pairs)]

    def func(*cols, **p):
        return np.exp(sum(p[n] * f for n, f in zip(names, features(cols), strict=True)))

    def grad(*cols, **p):
        F = features(cols)
        L = np.exp(sum(p[n] * f for n, f in zip(names, F, strict=True)))
        return L, [L * f for f in F]

    args = [inspect.Parameter(f"x{i + 1}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(k)]
    func.__signature__ = inspect.Signature(args + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY)
                                                   for n in names])
    return Law(f"log_quadratic_{k}", func, tuple(Param(n, -1e3, 1e3, grid=(0.0,)) for n in names), k,
               "Li et al. 2026, ScaleBench lr_bsz law sl_1 (a quadratic in log sizes, on log loss)", grad=grad)


LAWS: dict[str, Law] = {
    law.name: law
    for law in [
        Law("power_law", power_law,
            (Param("A", 0.0, np.inf, linear=True), Param("alpha", 0.0, 10.0, grid=EXPONENT_GRID)), 1,
            "Kaplan et al. 2020, Eq. 1.1", grad=power_law_grad),
        Law("power_law_offset", power_law_offset,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 10.0, grid=EXPONENT_GRID)), 1,
            "Hoffmann et al. 2022, Eq. 2 (one variable)", offset="E", grad=power_law_offset_grad),
        Law("variance_limited", variance_limited,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True)), 1,
            "Bahri et al. 2024, Theorem 1", offset="E", grad=variance_limited_grad),
        Law("chinchilla", chinchilla,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 3.0, grid=(0.1, 0.2, 0.3, 0.4, 0.6, 0.9)), Param("B", 0.0, np.inf, linear=True),
             Param("beta", 0.0, 3.0, grid=(0.1, 0.2, 0.3, 0.4, 0.6, 0.9))), 2,
            "Hoffmann et al. 2022, Eq. 2", offset="E", grad=chinchilla_grad),
        Law("kaplan", kaplan,
            (Param("N_c", 1e-300, np.inf, log=True), Param("alpha_N", 1e-3, 3.0, grid=(0.05, 0.1, 0.3, 0.6)),
             Param("D_c", 1e-300, np.inf, log=True), Param("alpha_D", 1e-3, 3.0, grid=(0.05, 0.1, 0.3, 0.6))), 2,
            "Kaplan et al. 2020, Eq. 1.5", scale_grid={"N_c": 0, "D_c": 1}, grad=kaplan_grad),
        Law("m4", m4,
            (Param("E_inf", 0.0, np.inf), Param("E_0", 0.0, np.inf), Param("beta", 1e-300, np.inf, log=True),
             Param("c", 0.0, 10.0), Param("alpha", 0.0, 10.0)), 1,
            "Alabdulmohsin, Neyshabur & Zhai 2022, estimator M4", offset="E_inf", grad=m4_grad),
        _broken(1),
        _broken(2),
        *(_log_quadratic(k) for k in range(1, 5)),
        Law("farseer", farseer,
            (Param("E", -5.0, 8.0, grid=(1.0, 3.0)), Param("s", -2.0, 1.0, grid=(-0.3, -0.06, 0.0)),
             Param("q", 0.0, 0.5, grid=(0.05, 0.15)), Param("S", 0.0, np.inf, linear=True),
             Param("B", 0.0, 1e4, grid=(3.0, 30.0, 300.0)), Param("b", -1.0, 0.0, grid=(-0.3, -0.15, -0.05)),
             Param("Q", 0.0, np.inf, linear=True), Param("A", -8.0, 2.0, grid=(-2.0, -0.5)),
             Param("a", 0.0, 0.5, grid=(0.01, 0.05, 0.15))), 2,
            "Li et al. 2025, Farseer, Eq. 4"),
        Law("muennighoff", muennighoff,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 3.0, grid=(0.2, 0.35, 0.6)), Param("B", 0.0, np.inf, linear=True),
             Param("beta", 0.0, 3.0, grid=(0.2, 0.35, 0.6)), Param("R_N", 1e-2, 1e4, log=True, grid=(1.0, 5.0, 30.0)),
             Param("R_D", 1e-2, 1e4, log=True, grid=(3.0, 15.0, 60.0)),
             Param("rho", 1e-4, 1e2, log=True, grid=(0.01, 0.05, 0.3))), 3,
            "Muennighoff et al. 2023, Eqs. 5-7", offset="E"),
        Law("vocabulary", vocabulary,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 3.0, grid=(0.1, 0.3, 0.6)), Param("C", 0.0, np.inf, linear=True),
             Param("gamma", -2.0, 3.0, grid=(-0.2, 0.0, 0.2, 0.5)), Param("B", 0.0, np.inf, linear=True),
             Param("beta", 0.0, 3.0, grid=(0.1, 0.3, 0.6))), 3,
            "Tao et al. 2024, Eq. 7", offset="E"),
        Law("vocabulary_coupled", vocabulary_coupled,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("k_P", -3.0, 3.0, grid=(-0.3, 0.0, 0.3)), Param("alpha", 0.0, 3.0, grid=(0.1, 0.3, 0.6)),
             Param("B", 0.0, np.inf, linear=True), Param("k_D", -3.0, 3.0, grid=(-0.3, 0.0, 0.3)),
             Param("beta", 0.0, 3.0, grid=(0.1, 0.3, 0.6))), 3,
            "Tao et al. 2024, Section 3; ScaleBench vocabulary law 6", offset="E"),
        Law("lr_bsz", lr_bsz,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", 0.0, 3.0, grid=(0.2, 0.5)), Param("B", 0.0, np.inf, linear=True),
             Param("beta", 0.0, 3.0, grid=(0.2, 0.5)), Param("C", 0.0, np.inf, linear=True),
             Param("mu", -15.0, 0.0, grid=(-8.0, -6.5, -5.0)), Param("mu_N", -2.0, 1.0, grid=(-0.7, -0.3, 0.0)),
             Param("mu_D", -1.0, 2.0, grid=(0.0, 0.3)), Param("G", 0.0, np.inf, linear=True),
             Param("nu", -5.0, 15.0, grid=(4.0, 6.0, 8.0)), Param("nu_D", -1.0, 2.0, grid=(0.0, 0.3, 0.6))), 4,
            "Li et al. 2025, Predictable Scale I, Eqs. 1-2, with Hoffmann et al. 2022, Eq. 2", offset="E"),
        Law("routed", routed,
            (Param("L_inf", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("alpha", -1.0, 3.0, grid=(0.05, 0.2, 0.5)), Param("beta", -1.0, 3.0, grid=(0.0, 0.1, 0.3)),
             Param("gamma", -1.0, 1.0, grid=(-0.05, 0.0, 0.05))), 2,
            "Clark et al. 2022, Eq. 7 (with an irreducible loss)", offset="L_inf"),
        Law("product", product,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 0.0, np.inf, linear=True),
             Param("a", -1.0, 3.0, grid=(0.0, 0.1, 0.3, 0.6)), Param("b", -1.0, 3.0, grid=(0.05, 0.2, 0.5))), 2,
            "Li et al. 2026, ScaleBench sparsity law sl_2 (Clark et al. 2022, Eq. 7, at gamma = 0)", offset="E",
            grad=product_grad),
        Law("parallel", parallel,
            (Param("E", 0.0, np.inf, linear=True), Param("A", 1e-300, np.inf, log=True),
             Param("k", 0.0, 1e3, grid=(0.0, 0.3, 1.0, 3.0)), Param("alpha", 1e-3, 3.0, grid=(0.1, 0.3, 0.6))), 2,
            "Chen et al. 2025, Parallel Scaling Law, Eq. 5", offset="E", scale_grid={"A": 0}),
        Law("data_mixing", data_mixing,
            (Param("c", 0.0, np.inf, linear=True), Param("k", 0.0, np.inf, linear=True),
             *(Param(f"t{j}", -10.0, 10.0, grid=(-2.0, 0.0, 2.0)) for j in range(1, 6))), 5,
            "Ye et al. 2024, Data Mixing Laws, Eq. 1", offset="c"),
    ]
}


def get_law(name: str) -> Law:
    """The law called ``name``; SpecError listing the known ones otherwise."""
    try:
        return LAWS[name]
    except KeyError:
        raise SpecError(f"unknown law {name!r} (known: {', '.join(LAWS)}, auto)", param="form") from None


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
