"""The laws of the ScaleBench tasks (fit.laws): each reduces to the simpler law its source equation reduces to,
behaves as its source says where it differs, and is recovered by the fitter from data drawn from it."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS, chinchilla, power_law_offset

CHIN = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2100.0, "beta": 0.37}
N = np.geomspace(1e7, 1e10, 7)
D = np.geomspace(1e9, 1e12, 7)


def test_new_laws_are_registered_with_their_source_equation():
    for name in ("farseer", "muennighoff", "vocabulary", "vocabulary_coupled", "lr_bsz", "routed", "parallel",
                 "data_mixing", "product"):
        law = LAWS[name]
        assert "Eq" in law.source or "Section" in law.source, name
        assert law.inputs == law.func.__code__.co_argcount - len(law.params), name


def test_muennighoff_is_chinchilla_for_one_epoch_and_saturates_with_repeats():
    """Muennighoff et al. Eqs. 5-7: with D = U (one epoch) and N below the size U can use, D' = U and N' = N, so
    the law is Chinchilla's; repeating U for ever gains at most R_D more unique tokens' worth (D' -> U (1 + R_D))."""
    p = dict(CHIN, R_N=5.0, R_D=15.0, rho=10.0)
    U = D.copy()
    np.testing.assert_allclose(LAWS["muennighoff"].func(U, N, D, **p), chinchilla(N, D, **CHIN), rtol=1e-12)
    repeated = LAWS["muennighoff"].func(U, N, 1e6 * U, **p)
    np.testing.assert_allclose(repeated, chinchilla(N, U * (1 + 15.0), **CHIN), rtol=1e-9)
    four = LAWS["muennighoff"].func(U, N, 4 * U, **p)
    assert np.all(four > chinchilla(N, 4 * U, **CHIN)) and np.all(four < chinchilla(N, U, **CHIN))


def test_vocabulary_laws_reduce_to_chinchilla():
    V = np.full(N.size, 32000.0)
    coupled = LAWS["vocabulary_coupled"].func(N, V, D, E=1.8, A=480.0, k_P=0.0, alpha=0.35, B=2100.0, k_D=0.0,
                                              beta=0.37)
    np.testing.assert_allclose(coupled, chinchilla(N, D, **CHIN), rtol=1e-12)
    additive = LAWS["vocabulary"].func(N, V, D, E=1.8, A=480.0, alpha=0.35, C=0.5, gamma=0.0, B=2100.0, beta=0.37)
    np.testing.assert_allclose(additive, chinchilla(N, D, **CHIN) + 0.5, rtol=1e-12)


def test_lr_bsz_law_is_chinchilla_at_its_optimum_and_a_valley_around_it():
    """At ln lr = mu + mu_N ln(N / 1e9) + mu_D ln(D / 1e11) and ln bsz = nu + nu_D ln(D / 1e11) the valley
    terms vanish; a factor e off the optimal learning rate costs exactly C."""
    q = dict(CHIN, C=0.05, mu=-7.0, mu_N=-0.3, mu_D=0.1, G=0.02, nu=6.0, nu_D=0.4)
    lr = np.exp(-7.0 - 0.3 * np.log(N / 1e9) + 0.1 * np.log(D / 1e11))
    bsz = np.exp(6.0 + 0.4 * np.log(D / 1e11))
    f = LAWS["lr_bsz"].func
    np.testing.assert_allclose(f(lr, bsz, D, N, **q), chinchilla(N, D, **CHIN), rtol=1e-12)
    np.testing.assert_allclose(f(np.e * lr, bsz, D, N, **q) - f(lr, bsz, D, N, **q), 0.05, rtol=1e-9)
    np.testing.assert_allclose(f(lr, bsz / np.e, D, N, **q) - f(lr, bsz, D, N, **q), 0.02, rtol=1e-9)


def test_routed_parallel_and_mixing_laws_reduce_to_their_base():
    x = np.geomspace(1e7, 1e10, 7)
    one = np.ones_like(x)
    np.testing.assert_allclose(LAWS["routed"].func(one, x, L_inf=1.5, A=30.0, alpha=0.2, beta=0.1, gamma=0.05),
                               power_law_offset(x, 1.5, 30.0, 0.2), rtol=1e-12)
    # Clark et al. Eq. 7: log(L - L_inf) is bilinear in log N and log E
    E = np.full_like(x, 8.0)
    gap = np.log(LAWS["routed"].func(E, x, L_inf=1.5, A=30.0, alpha=0.2, beta=0.1, gamma=0.05) - 1.5)
    expect = np.log(30.0) - 0.2 * np.log(x) - (0.1 + 0.05 * np.log(x / 1e9)) * np.log(8.0)
    np.testing.assert_allclose(gap, expect, rtol=1e-12)
    # ScaleBench's sl_2 is the routed law without the bilinear term (gamma = 0)
    np.testing.assert_allclose(LAWS["product"].func(E, x, E=1.5, A=30.0, a=0.1, b=0.2),
                               LAWS["routed"].func(E, x, L_inf=1.5, A=30.0, alpha=0.2, beta=0.1, gamma=0.0),
                               rtol=1e-12)
    # Chen et al. Eq. 5: one stream is a power law with an offset; P streams act as N (k ln P + 1) parameters
    par = LAWS["parallel"].func
    np.testing.assert_allclose(par(x, one, E=1.2, A=2e8, k=0.4, alpha=0.3), (2e8 / x) ** 0.3 + 1.2, rtol=1e-12)
    np.testing.assert_allclose(par(x, 4 * one, E=1.2, A=2e8, k=0.4, alpha=0.3),
                               par(x * (0.4 * np.log(4) + 1), one, E=1.2, A=2e8, k=0.4, alpha=0.3), rtol=1e-12)
    # Ye et al. Eq. 1: the loss is c + k exp(t . r)
    r = np.array([[1.5, 1.1, 1.2, 1.1, 1.1], [1.0, 1.4, 1.2, 1.2, 1.2]])
    t = {"t1": -1.0, "t2": 0.5, "t3": 0.0, "t4": 0.2, "t5": -0.3}
    np.testing.assert_allclose(LAWS["data_mixing"].func(*r.T, c=2.0, k=0.5, **t),
                               2.0 + 0.5 * np.exp(r @ np.array(list(t.values()))), rtol=1e-12)


def test_farseer_matches_its_equation():
    """Li et al. 2025, Eq. 4, L = exp(s N^q + S') + exp(B N^b + Q') D^-exp(A N^a + E), with S = exp(S') and
    Q = exp(Q')."""
    p = {"E": 1.0, "s": -0.1, "q": 0.1, "S": 0.4, "B": 30.0, "b": -0.15, "Q": 2.0, "A": -0.5, "a": 0.05}
    Nn, Dd = np.meshgrid(N, D)
    got = LAWS["farseer"].func(Nn, Dd, **p)
    expect = (np.exp(-0.1 * Nn**0.1 + np.log(0.4))
              + np.exp(30.0 * Nn**-0.15 + np.log(2.0)) * Dd ** -np.exp(-0.5 * Nn**0.05 + 1.0))
    np.testing.assert_allclose(got, expect, rtol=1e-10)


@pytest.mark.parametrize("name, cols, truth", [
    ("parallel", lambda: (np.repeat(np.geomspace(5e8, 4e9, 6), 4), np.tile([1.0, 2.0, 4.0, 8.0], 6)),
     {"E": 1.2, "A": 2e8, "k": 0.4, "alpha": 0.3}),
    ("routed", lambda: (np.tile([1.0, 4.0, 16.0, 64.0], 6), np.repeat(np.geomspace(1e7, 1e9, 6), 4)),
     {"L_inf": 1.5, "A": 30.0, "alpha": 0.2, "beta": 0.1, "gamma": 0.02}),
    ("product", lambda: (np.tile([1.0, 4.0, 16.0, 64.0], 6), np.repeat(np.geomspace(1e7, 1e9, 6), 4)),
     {"E": 1.5, "A": 30.0, "a": 0.1, "b": 0.2}),
])
def test_fit_recovers_the_law_and_forecasts_beyond_the_data(name, cols, truth):
    """Noise of 0.2% on 24 points: the fit's forecast at 10x the largest size lies within 1% of the truth (the
    intervals of the design make errors above 1% improbable; a wrong law or a failed fit misses by more)."""
    law = LAWS[name]
    X = np.column_stack(cols())
    y = law(X, truth) * np.exp(0.002 * np.random.default_rng(1).standard_normal(len(X)))
    fit = fit_law(law, X, y, loss="ls", n_boot=0, n_starts=10)
    far = X[-4:].copy()
    far[:, 0 if name == "parallel" else 1] *= 10
    np.testing.assert_allclose(fit.predict(far), law(far, truth), rtol=0.01)


def test_log_quadratic_is_a_curved_power_law_and_is_recovered_exactly():
    """log L quadratic in log sizes: with no curvature it is a power law; least squares on log loss is linear in
    its coefficients, so noise-free data from it give them back (one start, no grid)."""
    x = np.geomspace(10, 1e5, 9)
    np.testing.assert_allclose(LAWS["log_quadratic_1"].func(x, c0=np.log(3.0), c1=-0.4, c11=0.0),
                               3.0 * x**-0.4, rtol=1e-12)
    law = LAWS["log_quadratic_4"]
    rng = np.random.default_rng(2)
    X = np.exp(rng.uniform(np.log(1e-4), np.log(1e10), (60, 4)))
    truth = {n: v for n, v in zip(law.names, rng.normal(0, 0.01, len(law.names)), strict=True)}
    fit = fit_law(law, X, law(X, truth), loss="ls", n_boot=0)
    for n, v in truth.items():
        assert fit.params[n] == pytest.approx(v, abs=1e-7), n
