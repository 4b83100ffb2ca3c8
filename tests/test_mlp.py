"""Fully connected networks: one description, batched training equal to one-by-one training, linearisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalinglab.errors import SpecError
from scalinglab.models.mlp import (
    MLP,
    Architecture,
    Params,
    TrainConfig,
    forward,
    hidden_features,
    linearized_forward,
    mse,
    predict,
    train,
)
from scalinglab.models.network import gradients, linearization_cache, tangent_forward
from scalinglab.models.training import LOSSES, _output_grad

# Tiny networks: one thread avoids OpenMP barrier stalls when the cores are shared.
torch.set_num_threads(1)
F64 = torch.float64


def _data(n: int = 24, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=F64)
    return x, torch.sin(x.sum(1, keepdim=True))


def _unpadded(p: Params, index: int) -> Params:
    """Network ``index`` cut down to its true width, with no masks."""
    q = p.select(index)
    w = q.widths[0]
    weights = [q.weights[0][..., :w]] + [W[:, :w, :w] for W in q.weights[1:-1]] + [q.weights[-1][:, :w, :]]
    biases = [b[..., :w] for b in q.biases[:-1]] + [q.biases[-1]]
    return Params(tuple(weights), tuple(biases), q.scales, q.bias_scale, (None,) * len(q.masks), q.widths)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_forward_matches_plain_torch_layers(parameterization):
    arch = Architecture(depth=2, activation="erf", weight_variance=1.5, bias_variance=0.1,
                        parameterization=parameterization)
    p = arch.init(5, [3, 7], 2, torch.Generator().manual_seed(1), dtype=F64)
    x, _ = _data()
    out = forward(arch, p, x)
    for i, width in enumerate((3, 7)):
        q = _unpadded(p, i)
        layers = []
        for W, b, s in zip(q.weights, q.biases, q.scales, strict=True):
            lin = torch.nn.Linear(W.shape[1], W.shape[2], dtype=F64)
            lin.weight.data = (W[0] * s[0]).T.clone()
            lin.bias.data = (b[0, 0] * q.bias_scale).clone()
            layers += [lin]
        h = x
        for layer in layers[:-1]:
            h = torch.erf(layer(h))
        expected = layers[-1](h)
        torch.testing.assert_close(out[i], expected)
        torch.testing.assert_close(arch.module(p, i)(x), expected)
        assert torch.all(hidden_features(arch, p, x)[i, :, width:] == 0)


def test_ntk_initial_output_variance():
    """ReLU with sigma_w^2 = 2 and no bias keeps E[z^2] = 2 |x|^2 / d at every layer, whatever the width."""
    arch = Architecture(depth=3, activation="relu", weight_variance=2.0)
    x = torch.randn(1, 10, generator=torch.Generator().manual_seed(0), dtype=F64)
    p = arch.init(10, 32, 1, torch.Generator().manual_seed(2), n=4000, dtype=F64)
    f2 = forward(arch, p, x)[:, 0, 0].numpy() ** 2
    expected = 2 * float((x**2).sum()) / 10
    # Standard error from the sample; 5 standard errors would fail a misplaced sqrt(fan_in) by far.
    assert abs(f2.mean() - expected) < 5 * f2.std() / np.sqrt(f2.size)


def test_linearisation_is_first_order_and_matches_tangent_propagation():
    arch = Architecture(depth=2, activation="erf", bias_variance=0.2)
    p0 = arch.init(5, [6, 9], 1, torch.Generator().manual_seed(3), dtype=F64)
    x, _ = _data()
    direction = tuple(torch.randn_like(t) for t in p0.tensors())
    errors = []
    for eps in (1e-2, 5e-3):
        p = p0.with_tensors(tuple(t + eps * d for t, d in zip(p0.tensors(), direction, strict=True)))
        lin = linearized_forward(arch, p0, p, x)
        f0, cache = linearization_cache(arch, p0, x)
        torch.testing.assert_close(tangent_forward(p0, p, f0, cache), lin)
        errors.append(float((forward(arch, p, x) - lin).abs().max()))
    assert 3.0 < errors[0] / errors[1] < 5.0  # second-order remainder: halving eps quarters it


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("per_network", [False, True])
def test_explicit_gradients_equal_autograd(activation, parameterization, loss, per_network):
    """The explicit backward pass used to train full-batch gives autograd's gradients of the summed loss, with
    padded widths (masks), per-network sample masks, biases on or off and inputs shared or one set per network."""
    g = torch.Generator().manual_seed(3)
    for bias_variance in (0.0, 0.3):
        arch = Architecture(depth=2, activation=activation, parameterization=parameterization,
                            bias_variance=bias_variance)
        p = arch.init(5, [4, 7, 9], 3, torch.Generator().manual_seed(1), dtype=F64)
        x = torch.randn(3, 20, 5, generator=g, dtype=F64) if per_network else torch.randn(20, 5, generator=g,
                                                                                            dtype=F64)
        y = torch.randn(20, 3, generator=g, dtype=F64)
        if loss == "cross_entropy":
            y = torch.softmax(y, dim=-1)
        mask = (torch.arange(20)[None, :] < torch.tensor([20, 8, 13])[:, None]).to(F64)
        for weight in (None, mask):
            tensors = [t.clone().requires_grad_(True) for t in p.tensors()]
            value = LOSSES[loss](forward(arch, p.with_tensors(tuple(tensors)), x), y, weight).sum()
            want = torch.autograd.grad(value, tensors, allow_unused=True, materialize_grads=True)
            got = gradients(arch, p, x, _output_grad(loss, y, weight))
            assert len(got) == len(want)
            for a, b in zip(got, want, strict=True):
                assert a.shape == b.shape
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_batched_training_equals_one_by_one():
    """Padded widths and per-network data subsets in one run give each network's own training exactly."""
    arch = Architecture(depth=2, activation="relu")
    x, y = _data(30)
    widths, sizes = [4, 7, 11], [30, 12, 20]
    p = arch.init(5, widths, 1, torch.Generator().manual_seed(4), dtype=F64)
    mask = (torch.arange(30)[None, :] < torch.tensor(sizes)[:, None]).to(F64)
    config = TrainConfig(learning_rate=0.2, max_steps=60, tol=0)
    together, log = train(arch, p, x, y, config, sample_mask=mask)
    for i, d in enumerate(sizes):
        alone, log_i = train(arch, _unpadded(p, i), x[:d], y[:d], config)
        torch.testing.assert_close(forward(arch, alone, x), forward(arch, together.select(i), x))
        assert log.train_loss[i] == pytest.approx(log_i.train_loss[0], rel=1e-10)


def test_linearised_gradient_descent_is_kernel_gradient_descent():
    """Training the linearisation by full-batch GD on MSE moves train residuals by (I - 2 eta Theta / D)^T, with
    Theta the empirical NTK at initialisation."""
    arch = Architecture(depth=2, activation="relu", bias_variance=0.1)
    x, y = _data(12)
    p0 = arch.init(5, 16, 1, torch.Generator().manual_seed(5), dtype=F64)
    eta, steps = 0.3, 40
    trained, _ = train(arch, p0, x, y, TrainConfig(learning_rate=eta, max_steps=steps, tol=0, linearized=True))
    tensors = p0.tensors()
    jac = torch.func.jacrev(lambda *t: forward(arch, p0.with_tensors(t), x)[0, :, 0],
                            argnums=tuple(range(len(tensors))))(*tensors)
    J = torch.cat([j.reshape(12, -1) for j in jac], dim=1)
    step = torch.eye(12, dtype=F64) - 2 * eta * (J @ J.T) / 12
    r0 = forward(arch, p0, x)[0] - y
    expected = torch.linalg.matrix_power(step, steps) @ r0
    torch.testing.assert_close(predict(arch, trained, x, params0=p0)[0] - y, expected)


def test_stopping_rule_is_logged():
    arch = Architecture(depth=1)
    x, y = _data()
    p = arch.init(5, [8, 8], 1, torch.Generator().manual_seed(6), dtype=F64)
    _, log = train(arch, p, x, y, TrainConfig(max_steps=50, tol=0, learning_rate=0.1))
    assert log.reasons == ("max_steps", "max_steps") and list(log.steps) == [50, 50]
    # Two hidden units cannot fit 24 points: the loss levels off and the plateau rule fires.
    small = arch.init(5, [2, 2], 1, torch.Generator().manual_seed(6), dtype=F64)
    _, log = train(arch, small, x, y, TrainConfig(max_steps=5000, tol=1e-3, patience=50, eval_every=10,
                                                  learning_rate=0.1))
    assert set(log.reasons) == {"plateau"} and log.steps.max() < 5000
    assert log.history[-1][0] == log.steps.max()
    assert np.all(log.history[-1][1] <= log.history[0][1])
    _, log = train(arch, p, x, y, TrainConfig(max_steps=100, loss_target=1e9))
    assert log.reasons == ("target", "target") and log.steps.max() == 0


def test_adam_minibatch_lowers_the_loss():
    arch = Architecture(depth=2, activation="relu")
    x, y = _data(64)
    p = arch.init(5, [16, 32], 1, torch.Generator().manual_seed(7), dtype=F64)
    config = TrainConfig(optimizer="adam", learning_rate=3e-3, batch_size=16, schedule="cosine", max_steps=300,
                         tol=0)
    trained, log = train(arch, p, x, y, config, generator=torch.Generator().manual_seed(0), x_test=x, y_test=y)
    before = mse(forward(arch, p, x), y).numpy()
    assert np.all(log.train_loss < 0.5 * before)
    assert np.all(log.best_test_loss <= log.train_loss + 1e-12)


class _SineTask:
    name = "sine"

    def sample(self, n, rng):
        X = rng.uniform(-1, 1, size=(n, 3))
        return X, np.sin(2 * X.sum(1))

    def population_loss(self, predictor):
        raise NotImplementedError

    def properties(self):
        return {}


def test_model_learning_curve_grid_determinism_and_ensemble():
    model = MLP(depth=1, learning_rate=0.5, max_steps=200, tol=0, n_test=200, dtype="float64", ensemble=3,
                linearized=True)
    ms = model.learning_curve(_SineTask(), [8, 32], [4, 16], np.random.default_rng(0))
    assert [(m.data_size, m.model_size) for m in ms] == [(8, 4), (8, 16), (32, 4), (32, 16)]
    again = model.learning_curve(_SineTask(), [8, 32], [4, 16], np.random.default_rng(0))
    assert [m.test_loss for m in ms] == [m.test_loss for m in again]
    for m in ms:
        # Jensen: the ensemble's mean output is never worse than its members on average.
        assert m.test_loss <= m.extra["loss_single"] + 1e-12
        assert m.extra["steps"] == 200
        assert m.extra["loss_minus_linearized"] == pytest.approx(m.extra["loss_single"] - m.extra["loss_linearized"])
    assert ms[3].test_loss < ms[0].test_loss  # more data and width help on a smooth target


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"activation": "gelu"}, {"parameterization": "mup"},
                                    {"optimizer": "lbfgs"}, {"ensemble": 0}, {"learning_rate": -1.0},
                                    {"dtype": "float16"}])
def test_bad_arguments_raise_spec_error(kwargs):
    with pytest.raises(SpecError):
        MLP(**kwargs)


def test_architecture_and_its_infinite_width_kernel_agree():
    """One description, two views: the readout covariance of wide networks drawn by ``Architecture.init``
    matches the closed-form NNGP of ``Architecture.kernel()`` (Monte-Carlo error ~ 1/sqrt(width * draws))."""
    from scalinglab.models.kernels import relative_frobenius
    from scalinglab.models.network import Architecture, hidden_features

    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 5))
    for activation in ("relu", "erf"):
        arch = Architecture(depth=2, activation=activation, weight_variance=2.0, bias_variance=0.1)
        params = arch.init(5, 2048, 1, torch.Generator().manual_seed(1), n=8, dtype=torch.float64)
        h = hidden_features(arch, params, torch.as_tensor(X))  # (8, 12, 2048)
        empirical = (arch.weight_variance / h.shape[-1] * h @ h.transpose(1, 2)).mean(0).numpy()
        empirical += arch.bias_variance
        assert relative_frobenius(empirical, arch.kernel().nngp(X)) < 0.03
    with pytest.raises(SpecError, match="parameterization"):
        Architecture(parameterization="standard").kernel()
