"""The finite torch network of a :class:`~scalinglab.models.kernels.FullyConnected` description.

NTK parameterisation: z^l = sqrt(sigma_w^2 / n_(l-1)) W^l h^(l-1) + sqrt(sigma_b^2) b^l, W, b ~ N(0, 1), and a
scalar readout of the same form. The empirical NTK is the Jacobian Gram over all parameters; for a fully connected
network it splits by layer into

    Theta(x, x') = sum_l (sigma_w^2 / n_(l-1) h^(l-1)(x).h^(l-1)(x') + sigma_b^2) delta^l(x).delta^l(x'),

with delta^l = df/dz^l (one backward pass gives it for every input, since f(x) depends only on z^l(x)).
"""

from __future__ import annotations

import math

import torch


class FCNetwork(torch.nn.Module):
    def __init__(self, arch, in_features: int, width: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.arch = arch
        sizes = [int(in_features)] + [int(width)] * arch.depth + [1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for i in range(len(sizes) - 1):
            w = torch.randn(sizes[i + 1], sizes[i], generator=generator, dtype=torch.float64)
            b = torch.randn(sizes[i + 1], generator=generator, dtype=torch.float64)
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))
        self.phi = torch.relu if arch.activation == "relu" else torch.erf

    def forward_layers(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Output (n,), the inputs h^(l-1) of every layer and the pre-activations z^l of every layer."""
        sw, sb = math.sqrt(self.arch.weight_var), math.sqrt(self.arch.bias_var)
        hs, zs = [], []
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            hs.append(h)
            z = sw / math.sqrt(h.shape[1]) * h @ w.T + sb * b
            zs.append(z)
            h = self.phi(z) if i < len(self.weights) - 1 else z
        return h[:, 0], hs, zs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_layers(x)[0]

    def empirical_kernels(self, x: torch.Tensor):
        """Empirical NNGP (readout covariance given the hidden layers) and NTK (Jacobian Gram), as numpy arrays."""
        wv, bv = self.arch.weight_var, self.arch.bias_var
        out, hs, zs = self.forward_layers(x)
        deltas = torch.autograd.grad(out.sum(), zs)
        with torch.no_grad():
            last = hs[-1]
            nngp = wv / last.shape[1] * last @ last.T + bv
            ntk = torch.zeros_like(nngp)
            for h, d in zip(hs, deltas, strict=True):
                ntk += (wv / h.shape[1] * h @ h.T + bv) * (d @ d.T)
        return nngp.numpy(), ntk.numpy()
