"""Spectra: power-law fits with intervals, the automatic index range, and the kappa/gamma learning-curve theory
against simulated kernel regression."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import DataError
from scalinglab.models.kernel_ridge import KernelRidge, teacher_average_curve
from scalinglab.theory.spectra import (
    auto_index_range,
    complete_tail,
    covariance_spectrum,
    fit_spectrum,
    fit_spectrum_windows,
    fit_tail_mass,
    kernel_eigensystem,
    kernel_spectrum,
    kernel_tail_mass,
    learning_curve_theory,
    solve_kappa,
    tail_mass,
)


def test_fit_recovers_exponent_with_interval():
    rng = np.random.default_rng(0)
    i = np.arange(1, 2001)
    spectra = i ** -1.6 * np.exp(0.05 * rng.standard_normal((8, i.size)))
    fit = fit_spectrum(spectra, (10, 200), rng=rng)
    assert fit.alpha == pytest.approx(0.6, abs=0.02)
    assert fit.ci95[0] <= 0.6 <= fit.ci95[1] and fit.ci95[1] - fit.ci95[0] < 0.05
    assert fit.n_spectra == 8 and fit.decay == pytest.approx(1 + fit.alpha)
    one = fit_spectrum(spectra[0], (10, 200))
    assert np.isnan(one.ci95[0])
    with pytest.raises(DataError, match="index_range"):
        fit_spectrum(spectra, (0, 10))


def test_auto_range_finds_the_power_law_section():
    i = np.arange(1, 5001, dtype=float)
    lam = np.where(i < 30, 30.0**-1.5 * (1 + 0 * i), i**-1.5)  # flat head, then i^-1.5
    lo, hi = auto_index_range(lam)
    assert lo >= 30 and hi <= 500
    assert fit_spectrum(lam).alpha == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(DataError, match="larger sample"):
        auto_index_range(lam[:100])


def test_kernel_and_covariance_spectra_agree():
    rng = np.random.default_rng(1)
    scales = np.arange(1, 31) ** -1.0
    F = rng.standard_normal((800, 30)) * scales
    lam_k = kernel_spectrum(F @ F.T)[:30]
    lam_c = covariance_spectrum(F)
    np.testing.assert_allclose(lam_k, lam_c, rtol=1e-8)
    # both estimate the population eigenvalues scales^2 (relative error ~ sqrt(2 / 800) = 0.05 each)
    np.testing.assert_allclose(lam_c, scales**2, rtol=0.2)
    lam, p = kernel_eigensystem(F @ F.T, F[:, 0])
    assert p.sum() == pytest.approx(np.mean(F[:, 0] ** 2))


def test_kappa_solves_its_equation():
    lam = np.arange(1, 1001) ** -1.5
    for D, ridge in ((10, 0.0), (100, 1e-3)):
        k = solve_kappa(lam, D, ridge)
        assert k == pytest.approx(ridge + k * np.sum(lam / (k + D * lam)), rel=1e-9)
    assert solve_kappa(lam, 2000) == 0.0


def test_theory_predicts_simulated_teacher_student_curve():
    """Linear kernel on Gaussian features with covariance diag(lambda): the teacher-averaged kernel regression
    loss (exact per draw) against the kappa/gamma theory; the theory is asymptotic in D, accurate to a few
    per cent at these sizes (averaged over 6 draws)."""
    S, n_test = 2000, 300
    lam = np.arange(1, S + 1) ** -1.5
    sizes = [25, 50, 100, 200]
    sims = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        F = rng.standard_normal((200 + n_test, S)) * np.sqrt(lam)
        K = F @ F.T
        rows = teacher_average_curve(K[:200, :200], K[200:, :200], np.diag(K)[200:], sizes, 1e-10, rng)
        sims.append([t for _, _, t in rows])
    sim = np.mean(sims, axis=0)
    theory = learning_curve_theory(lam, lam, sizes)
    np.testing.assert_allclose(sim, theory, rtol=0.08)
    # the exponent: alpha = 0.5 for lambda_i ~ i^-1.5 and target power p_i = lambda_i, reached at D >> 1 on an
    # untruncated spectrum (here 10^6 modes, D from 10^3 to 10^4)
    long = np.arange(1, 10**6 + 1) ** -1.5
    big = [1000, 3000, 10000]
    slope = -np.polyfit(np.log(big), np.log(learning_curve_theory(long, long, big)), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.03)


def test_complete_tail_extends_with_the_fit():
    i = np.arange(1, 1001, dtype=float)
    lam = i**-2.0
    fit = fit_spectrum(lam, (10, 100))
    full = complete_tail(lam * (i < 200), fit, 10_000)
    assert full.size == 10_000
    np.testing.assert_allclose(full, np.arange(1, 10_001) ** -2.0, rtol=1e-8)


def test_window_median_and_staircase_interval():
    i = np.arange(1, 4001, dtype=float)
    pure = fit_spectrum_windows(i**-1.8)
    assert pure.alpha == pytest.approx(0.8, abs=1e-9)
    # a staircase: groups of equal eigenvalues whose sizes grow (like Fourier shells), about the law i^-1.5
    stairs = np.concatenate([np.full(int(1.6**k), (1.6**k) ** -1.5) for k in range(18)])[:4000]
    fit = fit_spectrum_windows(stairs, n_boot=0)
    assert fit.ci95[0] <= fit.alpha <= fit.ci95[1]
    assert abs(fit.alpha - 0.5) < 0.1
    assert len(fit.warnings) == 4


def test_tail_mass_corrects_the_sample_overfit():
    # Gaussian features with known population eigenvalues i^-1.5 (M of them): K = G diag(lam) G^T on N points
    M, N = 3000, 600
    lam = np.arange(1, M + 1) ** -1.5
    exact = tail_mass(lam, lam.sum())
    rng = np.random.default_rng(0)
    G = rng.standard_normal((N, M)) * np.sqrt(lam)
    K = G @ G.T
    eig, corrected = kernel_tail_mass(K)
    assert eig.size == N and corrected.size == N // 2
    raw = tail_mass(eig, np.trace(K) / N)
    i = np.arange(5, N // 10 + 1)
    # the uncorrected tail (trace minus the sample's leading eigenvalues) is ~12% low at N/10, the extrapolation
    # from N and N/2 points removes the first-order bias
    assert raw[N // 10 - 1] / exact[N // 10 - 1] < 0.92
    np.testing.assert_allclose(corrected[i - 1], exact[i - 1], rtol=0.03)
    fit = fit_tail_mass(corrected, (6, N // 10), n_boot=0)
    assert fit.alpha == pytest.approx(fit_tail_mass(exact, (6, N // 10), n_boot=0).alpha, abs=0.02)


def test_fit_tail_mass_of_a_power_law_and_its_completion():
    i = np.arange(1, 200_001, dtype=float)
    lam = i**-1.6
    T = tail_mass(lam, lam.sum() + 0.6**-1 * 200_000**-0.6)  # the trace includes the infinite tail
    fit = fit_tail_mass(T, (40, 400), n_boot=0)
    assert fit.alpha == pytest.approx(0.6, abs=0.01)
    full = complete_tail(lam[:400], fit, 4000)
    np.testing.assert_allclose(full[400:], lam[400:4000], rtol=0.02)
    with pytest.raises(DataError, match="index_range"):
        fit_tail_mass(T[:300], (40, 400))


def _torus_nngp(g: int = 256):
    """A 2-torus task, the ReLU NNGP model and the kernel's exact eigenvalues: the kernel is translation invariant
    on the torus, so they are the Fourier coefficients of one kernel row on a g x g grid (aliasing is negligible
    at the indices used here)."""
    from scalinglab.models.kernel_ridge import KernelRidge
    from scalinglab.tasks.manifold import ManifoldTask

    task = ManifoldTask(manifold="torus", intrinsic_dim=2, ambient_dim=8, target="student_kernel", n_fourier=16)
    model = KernelRidge(depth=2, features="exact")
    t = np.stack(np.meshgrid(*[np.arange(g) * 2 * np.pi / g] * 2, indexing="ij"), -1).reshape(-1, 2)
    u = np.empty((len(t), 4))
    u[:, 0::2], u[:, 1::2] = np.cos(t), np.sin(t)
    X = task.embed(u)
    row = model.gram(X[:1], X)[0].reshape(g, g)
    return task, model, np.sort(np.real(np.fft.fft2(row)).ravel() / row.size)[::-1]


def test_completed_sample_spectrum_predicts_the_exact_torus_curve():
    # the kappa/gamma curve from a sample of 2000 points, completed beyond N/10 by the tail-mass power law with the
    # measured tail mass, must follow the exact one where the eigenvalues beyond the sample's reach matter
    task, model, exact = _torus_nngp()
    n = 2000
    lam, tails = kernel_tail_mass(model.gram(task.sample(n, np.random.default_rng(1))[0]))
    hi = n // 10
    full = complete_tail(lam, fit_tail_mass(tails, (hi // 10, hi), n_boot=0), 100 * n)
    ds = [20, 60, 200]
    np.testing.assert_allclose(learning_curve_theory(full, full, ds), learning_curve_theory(exact, exact, ds),
                               rtol=0.06)


def test_kappa_gamma_level_on_a_two_torus_needs_a_ridge():
    # the theory's Gaussian-eigenfunction assumption fails for ridgeless regression in low intrinsic dimension: with
    # the exact spectrum the measured teacher-averaged curve lies well above it (about 1.4x at d = 2), and meets
    # it once a ridge dominates kappa
    task, _, exact = _torus_nngp()
    ds = [200, 400, 800]
    ratios = {}
    for ridge in (1e-8, 1e-1):
        model = KernelRidge(depth=2, features="exact", ridge=ridge, n_test=200)
        runs = [model.learning_curve(task, ds, [0], np.random.default_rng([s, 11])) for s in range(2)]
        measured = np.mean([[m.test_loss for m in r] for r in runs], axis=0)
        absolute = runs[0][0].extra["ridge_absolute"]  # the same for every draw: K(x, x) is constant here
        ratios[ridge] = measured / learning_curve_theory(exact, exact, ds, ridge=absolute)
    assert np.all(ratios[1e-8] > 1.2)
    np.testing.assert_allclose(ratios[1e-1], 1.0, rtol=0.06)  # 1.01-1.03 measured; 2 draws of 200 test points
