"""Infinite-width NNGP/NTK: closed forms against Gaussian integrals, blocking, and the finite torch network."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.models.kernels import (
    FullyConnected,
    erf_expectations,
    relative_frobenius,
    relu_expectations,
)


@pytest.mark.parametrize("fn,phi,dphi", [
    (relu_expectations, lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    (erf_expectations, lambda z: __import__("scipy.special").special.erf(z),
     lambda z: 2 / np.sqrt(np.pi) * np.exp(-z * z)),
])
def test_closed_forms_match_gaussian_integrals(fn, phi, dphi):
    rng = np.random.default_rng(0)
    n = 400_000
    for k11, k22, k12 in [(1.0, 1.0, 0.3), (2.0, 0.5, -0.6), (1.5, 1.5, 1.49)]:
        L = np.linalg.cholesky([[k11, k12], [k12, k22]])
        u, v = L @ rng.standard_normal((2, n))
        value, deriv = fn(np.array(k11), np.array(k22), np.array(k12))
        for closed, samples in ((value, phi(u) * phi(v)), (deriv, dphi(u) * dphi(v))):
            # 5 standard errors of the Monte-Carlo mean
            assert abs(closed - samples.mean()) < 5 * samples.std() / np.sqrt(n)


def test_relu_he_scaling_keeps_the_diagonal():
    X = np.random.default_rng(1).standard_normal((5, 7))
    arch = FullyConnected(depth=4, activation="relu", weight_var=2.0, bias_var=0.0)
    diags = arch.diagonals(X)
    for d in diags[1:]:
        np.testing.assert_allclose(d, diags[0], rtol=1e-12)
    K = arch.nngp(X, dtype=np.float64)
    np.testing.assert_allclose(np.diag(K), diags[0], rtol=1e-12)


def test_blocked_matches_one_block_symmetric_and_cross():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((23, 6)), rng.standard_normal((11, 6))
    for act in ("relu", "erf"):
        arch = FullyConnected(depth=3, activation=act, weight_var=1.7, bias_var=0.2)
        K1, T1 = arch.kernels(X, dtype=np.float64, block=1000)
        K2, T2 = arch.kernels(X, dtype=np.float64, block=5, workers=2)
        np.testing.assert_allclose(K2, K1, rtol=1e-13)
        np.testing.assert_allclose(T2, T1, rtol=1e-13)
        assert np.allclose(K1, K1.T) and np.all(np.linalg.eigvalsh(K1) > -1e-10)
        C1 = arch.ntk(X, Y, dtype=np.float64, block=4)
        C2 = arch.ntk(np.vstack([X, Y]), dtype=np.float64)[:23, 23:]
        np.testing.assert_allclose(C1, C2, rtol=1e-12)
        K32 = arch.nngp(X, block=7)
        assert K32.dtype == np.float32
        np.testing.assert_allclose(K32, K1, rtol=1e-6)
    with pytest.raises(SpecError, match="features"):
        arch.nngp(X, Y[:, :3])


def test_bad_architecture():
    with pytest.raises(SpecError, match="activation"):
        FullyConnected(activation="tanh")
    with pytest.raises(SpecError, match="depth"):
        FullyConnected(depth=0)
    with pytest.raises(SpecError, match="weight_var"):
        FullyConnected(weight_var=-1)


def test_random_features_converge_to_nngp_and_nest():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 5))
    arch = FullyConnected(depth=1, activation="relu", weight_var=2.0, bias_var=0.1)
    weights = arch.draw_weights(5, 20000, rng)
    Phi = arch.random_features(X, weights)
    K = arch.nngp(X, dtype=np.float64)
    # one hidden layer: each entry is an average of 20,000 i.i.d. terms, relative error ~ 2.2 / sqrt(20000)
    assert relative_frobenius(Phi @ Phi.T + arch.bias_var, K) < 0.05
    small = arch.random_features(X, weights, width=100)
    np.testing.assert_allclose(small, Phi[:, :100] * np.sqrt(20000 / 100))


torch = pytest.importorskip("torch")


def test_layerwise_ntk_equals_jacobian_gram():
    """models.network.empirical_kernels against the Gram of the Jacobian autograd gives, one input at a time, for
    both parameterisations and padded (masked) widths; its NNGP against the readout's covariance."""
    from scalinglab.models.network import Architecture, empirical_kernels

    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 4))
    x = torch.as_tensor(X)
    for act, param in (("relu", "ntk"), ("erf", "ntk"), ("tanh", "standard")):
        arch = Architecture(depth=2, activation=act, weight_variance=1.5, bias_variance=0.3, parameterization=param)
        params = arch.init(4, [5, 3], 1, torch.Generator().manual_seed(0), dtype=torch.float64)
        nngp, ntk = empirical_kernels(arch, params, x)
        for k in range(2):
            net = arch.module(params, k)
            rows, readout = [], []
            for i in range(len(X)):
                grads = torch.autograd.grad(net(x[i: i + 1])[0, 0], list(net.parameters()))
                rows.append(torch.cat([g.reshape(-1) for g in grads]).numpy())
                # parameters: the weights of every layer, then the biases; the readout's are the last of each
                readout.append(torch.cat([grads[arch.depth].reshape(-1), grads[-1].reshape(-1)]).numpy())
            J, R = np.array(rows), np.array(readout)
            np.testing.assert_allclose(ntk[k].numpy(), J @ J.T, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(nngp[k].numpy(), R @ R.T, rtol=1e-10, atol=1e-12)


def test_monte_carlo_kernel_error_falls_as_one_over_width():
    """The empirical kernel of a width-n network fluctuates about the analytic one with variance O(1/n), so the
    mean squared relative Frobenius error falls with slope -1 in width (its O(1/n) bias is smaller still)."""
    X = np.random.default_rng(5).standard_normal((16, 8))
    arch = FullyConnected(depth=2, activation="relu", weight_var=2.0, bias_var=0.1)
    K, T = arch.kernels(X, dtype=np.float64)
    widths = np.array([64, 128, 256, 512, 1024])
    mse_k, mse_t = [], []
    for i, w in enumerate(widths):
        ek, et = [], []
        for s in range(24):
            Km, Tm = arch.monte_carlo_kernels(X, int(w), n_samples=1, seed=1000 * i + s)
            ek.append(relative_frobenius(Km, K) ** 2)
            et.append(relative_frobenius(Tm, T) ** 2)
        mse_k.append(np.mean(ek))
        mse_t.append(np.mean(et))
    for mse in (mse_k, mse_t):
        slope = np.polyfit(np.log(widths), np.log(mse), 1)[0]
        # 24 draws per width: each mean has relative error ~ 0.2-0.3, giving a slope error ~ 0.1
        assert abs(slope + 1) < 0.25, slope


def test_monte_carlo_kernel_at_width_4096_within_two_percent():
    X = np.random.default_rng(6).standard_normal((16, 8))
    arch = FullyConnected(depth=2, activation="relu", weight_var=2.0, bias_var=0.1)
    K, T = arch.kernels(X, dtype=np.float64)
    Km, Tm = arch.monte_carlo_kernels(X, 4096, n_samples=8, seed=0)
    # each entry averages width x samples terms: with the one-layer constant 2.2 above and sqrt(2) for two layers
    # the relative error's scale is 2.2 sqrt(2) / sqrt(4096 * 8) = 0.017; twice that bounds it
    scale = 2.2 * np.sqrt(2) / np.sqrt(4096 * 8)
    assert relative_frobenius(Km, K) < 2 * scale
    assert relative_frobenius(Tm, T) < 2 * scale
