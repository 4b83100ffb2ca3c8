"""One description of a fully connected network and what is derived from it: parameters of many networks at
once, the batched forward pass, the linearisation around the initial weights, readout features, the empirical
NNGP and NTK of the finite networks (:func:`empirical_kernels`) and, through ``Architecture.kernel()``, the
closed-form kernels and random features of the infinitely wide one (``models.kernels.FullyConnected``).

Parameterisations (neural-tangents conventions): NTK, z = sigma_w / sqrt(fan_in) W h + sigma_b b with
W, b ~ N(0, 1); standard, z = W h + b with W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2). See
``scalinglab.models.mlp`` for the public API.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from scalinglab.errors import SpecError

ACTIVATIONS = {"relu": torch.relu, "erf": torch.erf, "tanh": torch.tanh}

def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclasses.dataclass(frozen=True)
class Params:
    """Parameters of n networks of one group: ``weights[l]`` (n, fan_in, fan_out), ``biases[l]`` (n, 1, fan_out).

    ``widths`` (n,) are the true hidden widths; units beyond a network's width are masked out (``masks[l]``,
    (n, 1, width_max) for each hidden layer, None when every width is the maximum). ``scales[l]`` (n, 1, 1) is the
    weight multiplier of layer l (sigma_w / sqrt(true fan_in) under NTK, 1 under standard).
    """

    weights: tuple[torch.Tensor, ...]
    biases: tuple[torch.Tensor, ...]
    scales: tuple[torch.Tensor, ...]
    bias_scale: float
    masks: tuple[torch.Tensor | None, ...]
    widths: tuple[int, ...]

    @property
    def n(self) -> int:
        return int(self.weights[0].shape[0])

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """The trainable tensors, weights then biases."""
        return self.weights + self.biases

    def with_tensors(self, tensors: tuple[torch.Tensor, ...]) -> Params:
        k = len(self.weights)
        return dataclasses.replace(self, weights=tuple(tensors[:k]), biases=tuple(tensors[k:]))

    def select(self, index: int) -> Params:
        """Network ``index`` alone (a group of one)."""
        pick = slice(index, index + 1)
        return Params(tuple(w[pick] for w in self.weights), tuple(b[pick] for b in self.biases),
                      tuple(s[pick] for s in self.scales), self.bias_scale,
                      tuple(None if m is None else m[pick] for m in self.masks), (self.widths[index],))

    def count(self) -> list[int]:
        """Number of parameters of each network at its true width (weights and biases)."""
        return [p for p in (self._count(w) for w in self.widths)]

    def _count(self, width: int) -> int:
        sizes = [int(self.weights[0].shape[1])] + [width] * (len(self.weights) - 1) + [int(self.weights[-1].shape[2])]
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A fully connected network: ``depth`` hidden layers of one width, then a linear readout.

    ``weight_variance`` sigma_w^2 and ``bias_variance`` sigma_b^2 apply to every layer; ``parameterization`` is
    "ntk" or "standard" (module docstring).
    """

    depth: int = 2
    activation: str = "relu"
    weight_variance: float = 2.0
    bias_variance: float = 0.0
    parameterization: str = "ntk"

    def __post_init__(self) -> None:
        if int(self.depth) != self.depth or self.depth < 1:
            raise SpecError(f"model.depth: must be a positive integer, got {self.depth!r}")
        if self.activation not in ACTIVATIONS:
            raise SpecError(f"model.activation: unknown {self.activation!r} (expected {', '.join(ACTIVATIONS)})")
        if not (self.weight_variance > 0 and math.isfinite(self.weight_variance)):
            raise SpecError(f"model.weight_variance: must be positive, got {self.weight_variance!r}")
        if not (self.bias_variance >= 0 and math.isfinite(self.bias_variance)):
            raise SpecError(f"model.bias_variance: must be non-negative, got {self.bias_variance!r}")
        if self.parameterization not in ("ntk", "standard"):
            raise SpecError(f"model.parameterization: expected 'ntk' or 'standard', got {self.parameterization!r}")

    def kernel(self):
        """The same network at infinite width: its closed-form NNGP and NTK (:class:`models.kernels.FullyConnected`).

        Both views come from this one description, so they cannot disagree about the architecture (the
        neural-tangents habit). Defined for the NTK parameterisation and the ReLU and erf activations.
        """
        from scalinglab.models.kernels import FullyConnected

        if self.parameterization != "ntk":
            raise SpecError("model.parameterization: the closed-form kernels are for 'ntk' networks")
        return FullyConnected(depth=self.depth, activation=self.activation, weight_var=self.weight_variance,
                              bias_var=self.bias_variance)

    def init(self, in_features: int, widths: list[int] | int, out_features: int, generator: torch.Generator,
             n: int | None = None, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Params:
        """Parameters of ``len(widths)`` networks (or ``n`` of one width), drawn on the CPU from ``generator``
        (so results do not depend on the device), padded to the largest width."""
        widths = [int(widths)] * int(n or 1) if np.isscalar(widths) else [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise SpecError(f"grid.size: widths must be positive integers, got {widths}")
        m, wmax = len(widths), max(widths)
        sizes = [in_features] + [wmax] * self.depth + [out_features]
        sw, sb = math.sqrt(self.weight_variance), math.sqrt(self.bias_variance)
        true_w = torch.tensor(widths, dtype=torch.float64)
        weights, biases, scales, masks = [], [], [], []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            W = torch.randn(m, fan_in, fan_out, generator=generator, dtype=torch.float64)
            b = torch.randn(m, 1, fan_out, generator=generator, dtype=torch.float64)
            true_in = torch.full((m,), float(fan_in), dtype=torch.float64) if layer == 0 else true_w
            scale = sw / true_in.sqrt()
            if self.parameterization == "standard":
                W, b, scale = W * scale[:, None, None], b * sb, torch.ones(m, dtype=torch.float64)
            weights.append(W.to(device=device, dtype=dtype))
            biases.append(b.to(device=device, dtype=dtype))
            scales.append(scale.reshape(m, 1, 1).to(device=device, dtype=dtype))
        for _ in range(self.depth):
            if min(widths) == wmax:
                masks.append(None)
            else:
                mask = (torch.arange(wmax)[None, :] < torch.tensor(widths)[:, None]).to(dtype)
                masks.append(mask[:, None, :].to(device))
        masks.append(None)
        bias_scale = sb if self.parameterization == "ntk" else 1.0
        # Zero the padding so that parameter norms and counts are those of the true networks.
        for layer, mask in enumerate(masks[:-1]):
            if mask is not None:
                weights[layer] = weights[layer] * mask
                biases[layer] = biases[layer] * mask
                weights[layer + 1] = weights[layer + 1] * mask.transpose(1, 2)
        return Params(tuple(weights), tuple(biases), tuple(scales), bias_scale, tuple(masks), tuple(widths))

    def module(self, params: Params, index: int = 0) -> nn.Module:
        """Network ``index`` of ``params`` as a plain ``nn.Module`` (its own copy of the parameters)."""
        return _Network(self, params.select(index))


class _Network(nn.Module):
    """One network as an ``nn.Module``; ``forward`` is the batched :func:`forward` on a group of one."""

    def __init__(self, arch: Architecture, params: Params) -> None:
        super().__init__()
        self.arch, self.frame = arch, params
        self.weights = nn.ParameterList([nn.Parameter(w[0].clone()) for w in params.weights])
        self.biases = nn.ParameterList([nn.Parameter(b[0].clone()) for b in params.biases])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.frame.with_tensors(tuple(w[None] for w in self.weights) + tuple(b[None] for b in self.biases))
        return forward(self.arch, p, x)[0]


def _shared_matmul(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """h @ W for every network: an input shared by all networks (h 2-D, W (n, fan_in, fan_out)) is multiplied by
    the weights of all networks side by side in one matrix product instead of being broadcast n times."""
    if h.dim() == 2 and W.dim() == 3:
        n, fan_in, fan_out = W.shape
        z = h @ W.permute(1, 0, 2).reshape(fan_in, n * fan_out)
        return z.reshape(h.shape[0], n, fan_out).transpose(0, 1)
    return torch.matmul(h, W)


def _affine(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, s: torch.Tensor, bias_scale: float) -> torch.Tensor:
    """s h W + bias_scale b: the scale multiplies whichever is smaller, the weights or the product (fewer rows
    than fan_in), it is skipped when it is one (standard parameterisation), and so is a zero bias."""
    if bool((s == 1).all()):
        z = _shared_matmul(h, W)
    elif h.shape[-2] < W.shape[-2]:
        z = _shared_matmul(h, W) * s
    else:
        z = _shared_matmul(h, W * s)
    return z + b * bias_scale if bias_scale else z


def forward(arch: Architecture, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Outputs of every network of ``params``: x is (batch, in) shared by all or (n, batch, in) one per network;
    returns (n, batch, out)."""
    act = ACTIVATIONS[arch.activation]
    h = x
    last = len(params.weights) - 1
    for layer, (W, b, s, mask) in enumerate(zip(params.weights, params.biases, params.scales, params.masks,
                                                strict=True)):
        z = _affine(h, W, b, s, params.bias_scale)
        if layer == last:
            return z
        h = act(z)
        if mask is not None:
            h = h * mask
    raise AssertionError("unreachable")


def linearized_forward(arch: Architecture, params0: Params, params: Params, x: torch.Tensor) -> torch.Tensor:
    """f_lin(x) = f(theta0, x) + J(theta0, x) (theta - theta0), by ``torch.func.jvp``; differentiable in theta."""
    t0 = params0.tensors()
    tangent = tuple(p - q for p, q in zip(params.tensors(), t0, strict=True))
    f0, jv = torch.func.jvp(lambda *t: forward(arch, params0.with_tensors(t), x), t0, tangent)
    return f0.detach() + jv


_DERIVATIVES = {
    "relu": lambda z: (z > 0).to(z.dtype),
    "erf": lambda z: (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z),
    "tanh": lambda z: 1.0 - torch.tanh(z) ** 2,
}


def linearization_cache(arch: Architecture, params0: Params, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """f(theta0, x) and, per layer, the input activations and activation derivatives at theta0 (no gradients)."""
    act, deriv = ACTIVATIONS[arch.activation], _DERIVATIVES[arch.activation]
    cache, h = [], x
    with torch.no_grad():
        for W, b, s, mask in zip(params0.weights, params0.biases, params0.scales, params0.masks, strict=True):
            z = _affine(h, W, b, s, params0.bias_scale)
            cache.append((h, None if len(cache) == len(params0.weights) - 1 else deriv(z) * (
                mask if mask is not None else 1.0)))
            h = act(z) * (mask if mask is not None else 1.0)
    return z, cache


def tangent_forward(params0: Params, params: Params, f0: torch.Tensor, cache: list) -> torch.Tensor:
    """f0 + J (theta - theta0) by tangent propagation through the cached network at theta0: the same value as
    :func:`linearized_forward` at a fraction of forward-mode AD's overhead; used to train the linearisation."""
    dh = None
    for (h, d), W0, W, b0, b, s in zip(cache, params0.weights, params.weights, params0.biases, params.biases,
                                       params0.scales, strict=True):
        dz = _affine(h, W - W0, b - b0, s, params0.bias_scale)
        if dh is not None:
            dz = dz + torch.matmul(dh, W0 * s)
        if d is None:
            return f0 + dz
        dh = d * dz
    raise AssertionError("unreachable")


def predict(arch: Architecture, params: Params, x: torch.Tensor, params0: Params | None = None,
            chunk: int = 8192) -> torch.Tensor:
    """Outputs (n, batch, out) without gradients, in chunks of rows; linearised around ``params0`` if given."""
    outs = []
    for start in range(0, x.shape[-2], chunk):
        xs = x[..., start:start + chunk, :]
        if params0 is None:
            with torch.no_grad():
                outs.append(forward(arch, params, xs))
        else:
            outs.append(linearized_forward(arch, params0, params, xs).detach())
    return torch.cat(outs, dim=-2)


def empirical_kernels(arch: Architecture, params: Params, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Empirical NNGP and NTK (n, batch, batch) of every network of ``params`` with a scalar output.

    NNGP: the readout's output covariance given the last hidden layer, s_L^2 h h' + b_s^2. NTK: the Gram of the
    output's Jacobian over all parameters, which splits by layer (z^l = s_l h^(l-1) W^l + b_s b^l) into
    sum_l (s_l^2 h^(l-1).h^(l-1)' + b_s^2) delta^l.delta^l', delta^l = df / dz^l, one backward pass for all inputs
    (the factors of :func:`linearization_cache`).
    """
    if params.weights[-1].shape[-1] != 1:
        raise SpecError(f"empirical kernels are for a scalar output, got {params.weights[-1].shape[-1]} outputs")
    _, cache = linearization_cache(arch, params, x)
    bias2 = params.bias_scale**2
    with torch.no_grad():
        grams = [s**2 * torch.matmul(h, h.transpose(-1, -2)) + bias2 for (h, _), s in zip(cache, params.scales,
                                                                                            strict=True)]
        n, batch = grams[-1].shape[0], grams[-1].shape[-1]
        delta = torch.ones(n, batch, 1, dtype=grams[-1].dtype, device=grams[-1].device)  # the readout: df/dz = 1
        ntk = grams[-1].clone()
        for layer in range(len(cache) - 2, -1, -1):
            W, s = params.weights[layer + 1], params.scales[layer + 1]
            delta = torch.matmul(delta, (W * s).transpose(-1, -2)) * cache[layer][1]
            ntk += grams[layer] * torch.matmul(delta, delta.transpose(-1, -2))
        last = grams[-1]
    return last, ntk


def hidden_features(arch: Architecture, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Last hidden layer's activations (n, batch, width_max): the features a linear readout is fitted on."""
    act = ACTIVATIONS[arch.activation]
    h = x
    with torch.no_grad():
        for W, b, s, mask in zip(params.weights[:-1], params.biases[:-1], params.scales[:-1], params.masks[:-1],
                                 strict=True):
            h = act(_affine(h, W, b, s, params.bias_scale))
            if mask is not None:
                h = h * mask
    return h


def gradients(arch: Architecture, params: Params, x: torch.Tensor, output_grad) -> tuple[torch.Tensor, ...]:
    """Gradients of a loss in ``params.tensors()`` (weights then biases), by an explicit backward pass.

    ``output_grad(pred)`` gives d loss / d pred for the outputs (n, batch, out). Every layer z = s h W + b_s b
    (``_affine``), h' = act(z) mask, so dW = s h^T dz, db = b_s sum_batch dz, dh = s dz W^T and
    dz = dh' mask act'(z): the products autograd would run, without building its graph (used to train, where
    the graph's bookkeeping costs as much as the products for small networks).
    """
    act, deriv = ACTIVATIONS[arch.activation], _DERIVATIVES[arch.activation]
    last = len(params.weights) - 1
    inputs, pre = [], []
    h = x
    with torch.no_grad():
        for layer, (W, b, s, mask) in enumerate(zip(params.weights, params.biases, params.scales, params.masks,
                                                    strict=True)):
            inputs.append(h)
            z = _affine(h, W, b, s, params.bias_scale)
            if layer == last:
                break
            pre.append(z)
            h = act(z)
            if mask is not None:
                h = h * mask
        dz = output_grad(z)
        d_weights: list[torch.Tensor] = [None] * (last + 1)  # type: ignore[list-item]
        d_biases: list[torch.Tensor] = [None] * (last + 1)  # type: ignore[list-item]
        for layer in range(last, -1, -1):
            W, b, s, h = params.weights[layer], params.biases[layer], params.scales[layer], inputs[layer]
            unit = bool((s == 1).all())
            if h.dim() == 2:  # input shared by every network: all networks' weight gradients in one product
                n, fan_in, fan_out = W.shape
                dW = (h.T @ dz.transpose(0, 1).reshape(h.shape[0], n * fan_out)).reshape(fan_in, n, fan_out)
                dW = dW.transpose(0, 1)
            else:
                dW = h.transpose(-1, -2) @ dz
            d_weights[layer] = dW if unit else dW * s
            d_biases[layer] = (dz.sum(dim=-2, keepdim=True) * params.bias_scale if params.bias_scale
                               else torch.zeros_like(b))
            if layer == 0:
                break
            dh = dz @ W.transpose(-1, -2)
            if not unit:
                dh = dh * s
            mask = params.masks[layer - 1]
            dz = dh * deriv(pre[layer - 1])
            if mask is not None:
                dz = dz * mask
    return tuple(d_weights) + tuple(d_biases)
