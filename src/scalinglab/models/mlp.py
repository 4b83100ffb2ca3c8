"""Fully connected networks, their linearisation, and many small networks trained at once (PyTorch).

One :class:`Architecture` (depth, activation, weight and bias variances, NTK or standard parameterisation)
describes the network; everything else is derived from it, so the views cannot disagree:

- :meth:`Architecture.init` draws the parameters of ``n`` networks at once as a :class:`Params` (stacked
  tensors with a leading network axis; widths of one group padded to the largest with unit masks);
- :func:`forward` evaluates the networks of a ``Params`` together (batched matmuls), and the same code
  evaluates one unbatched network: :meth:`Architecture.module` is an ``nn.Module`` whose ``forward`` calls it;
- :func:`linearized_forward` is the first-order Taylor expansion around the initial parameters,
  f0(x) + J(x) (theta - theta0), computed with ``torch.func.jvp`` (Bahri et al. 2024, Fig. 1a);
- :func:`train` trains every network of a ``Params`` in one batched computation (full-batch gradient descent,
  minibatch SGD or Adam, optional cosine decay), each on its own data subset (sample masks), with a per-network
  stopping rule whose outcome is logged in :class:`TrainLog`; gradient-descent steps take their gradients from
  an explicit backward pass (:func:`models.network.gradients`), which costs less than autograd's graph;
- :class:`MLP` is the sweep's ``Model`` (size knob: width): every (D, width, ensemble member) of a seed is one
  network of one batched run; ``ensemble=k`` averages the outputs of k initialisations per grid point.

Public API (re-exported here from ``models.network`` and ``models.training``): ``Architecture``, ``Params``,
``TrainConfig``, ``TrainLog``, ``forward``, ``linearized_forward``, ``train``, ``predict``, ``mse``,
``classification_error``, ``hidden_features``, ``default_device``, ``MLP``. Shapes: inputs (batch, in) shared by
every network or (n, batch, in) one set per network; outputs (n, batch, out); ``sample_mask`` (n, batch) of 0/1.

Typical use, 16 networks (4 widths x 4 seeds) each on its own data, trained together::

    arch = Architecture(depth=2, activation="relu")
    params = arch.init(in_features, [16, 32, 64, 128] * 4, out_features, torch.Generator().manual_seed(0))
    trained, log = train(arch, params, x, y, TrainConfig(learning_rate=0.5, max_steps=2000),
                         sample_mask=mask)            # log.steps, log.reasons, log.history
    test_loss = mse(predict(arch, trained, x_test), y_test)   # (16,)

The linearised network (``TrainConfig(linearized=True)``) trains full-batch only; its training-set outputs use
an exact tangent propagation equal to ``linearized_forward`` (tested), much cheaper than forward-mode AD.
Tiny networks run fastest with one torch thread when the cores are shared (``torch.set_num_threads(1)``).
Batching removes per-network overhead, not arithmetic: stack networks of one width (seeds, data subsets) freely,
but pad widths only when they are small (``pad_ratio``), since padding multiplies a wide group's arithmetic
(BENCHMARKS.md, "Many small MLPs trained at once").

Parameterisations (neural-tangents conventions): NTK, z = sigma_w / sqrt(fan_in) W h + sigma_b b with
W, b ~ N(0, 1); standard, z = W h + b with W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import numpy as np
import torch

from scalinglab.contracts import Measurement
from scalinglab.errors import SpecError
from scalinglab.models.network import (
    ACTIVATIONS,
    Architecture,
    Params,
    default_device,
    forward,
    hidden_features,
    linearized_forward,
    predict,
)
from scalinglab.models.training import (
    LOSSES,
    STOP_REASONS,
    TrainConfig,
    TrainLog,
    classification_error,
    mse,
    train,
)

__all__ = ["ACTIVATIONS", "LOSSES", "MLP", "STOP_REASONS", "Architecture", "Params", "TrainConfig", "TrainLog",
           "buckets", "classification_error", "default_device", "forward", "hidden_features", "linearized_forward",
           "mse", "predict", "train"]

def buckets(values, ratio: float) -> list[list[int]]:
    """Sorted distinct values split into runs whose largest is at most ``ratio`` times their smallest."""
    out: list[list[int]] = []
    for v in sorted(set(values)):
        if out and v <= ratio * out[-1][0]:
            out[-1].append(v)
        else:
            out.append([v])
    return out


def _targets(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """Regression labels as (n, out); integer class labels as centred one-hot (n, classes) for MSE."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        k = int(y.max()) + 1
        return np.eye(k)[y] - 1.0 / k, True
    return (y[:, None] if y.ndim == 1 else y).astype(float), False


@dataclasses.dataclass
class MLP:
    """The sweep's ``Model``: fully connected networks, size knob = hidden width, one batched run per seed.

    For a task's ``sample(max(D) + n_test, rng)`` the first D rows train the networks of data size D (nested
    training sets) and the last ``n_test`` rows estimate the test loss. Every (D, width, ensemble member) is one
    network; networks are grouped by width and by D (each group's largest at most ``pad_ratio`` times its
    smallest) and each group is trained in one batched computation. ``test_loss`` is the loss of the ensemble's
    mean output (of one network when ``ensemble = 1``); ``extra`` holds ``loss_single`` (mean over members),
    the stopping-rule summary and, with ``linearized = True``, ``loss_linearized`` and
    ``loss_minus_linearized`` (the network minus its linearisation trained identically, per initialisation).
    """

    depth: int = 2
    activation: str = "relu"
    weight_variance: float = 2.0
    bias_variance: float = 0.0
    parameterization: str = "ntk"
    optimizer: str = "gd"
    learning_rate: float = 0.5
    max_steps: int = 2000
    batch_size: int | None = None
    schedule: str = "constant"
    loss: str = "mse"
    tol: float = 1e-4
    patience: int = 200
    eval_every: int = 25
    ensemble: int = 1
    linearized: bool = False
    n_test: int = 2000
    pad_ratio: float = 2.0
    dtype: str = "float32"
    device: str | None = None
    threads: int | None = 1
    name: str = "mlp"

    # Common checks of tests/test_contracts.py this model does not meet, and why (scikit-learn's _xfail_checks).
    CONTRACT_EXCEPTIONS: ClassVar[dict[str, str]] = {
        "nested": "the networks of one batched run draw their initialisations in turn from the seed's generator, so "
                  "a point's numbers depend on the other points of its (D, width) bucket; a spec's grid is part of "
                  "its fingerprint, so stored points are never mixed across grids"}

    def __post_init__(self) -> None:
        self.architecture = Architecture(self.depth, self.activation, self.weight_variance, self.bias_variance,
                                         self.parameterization)
        self.config = TrainConfig(self.optimizer, self.learning_rate, self.max_steps, self.batch_size,
                                  self.schedule, self.loss, 0.0, self.tol, self.patience, self.eval_every)
        if int(self.ensemble) != self.ensemble or self.ensemble < 1:
            raise SpecError(f"model.ensemble: must be a positive integer, got {self.ensemble!r}")
        if int(self.n_test) != self.n_test or self.n_test < 1:
            raise SpecError(f"model.n_test: must be a positive integer, got {self.n_test!r}")
        if self.dtype not in ("float32", "float64"):
            raise SpecError(f"model.dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        if not self.pad_ratio >= 1:
            raise SpecError(f"model.pad_ratio: must be at least 1, got {self.pad_ratio!r}")

    def properties(self) -> dict[str, float]:
        """What theory needs of the model: the number of hidden layers (the size knob is their width)."""
        return {"hidden_layers": float(self.depth)}

    def learning_curve(self, task: Any, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        """Train and test losses at every (D, width) of the grid for one seed, with ``threads`` torch threads
        (one by default: tiny networks on shared cores run many times slower with more; the sweep runs seeds in
        parallel processes instead)."""
        return self.learning_curves(task, data_sizes, model_sizes, [rng])[0]

    def learning_curves(self, task: Any, data_sizes: list[int], model_sizes: list[int],
                        rngs: list[np.random.Generator]) -> list[list[Measurement]]:
        """:meth:`learning_curve` for several seeds at once, one list per generator of ``rngs``: each seed draws
        its data and initialisations from its own generator, and the networks of every seed are trained in the
        same batched runs (fewer, larger computations). Each seed gets the numbers it gets alone, up to float
        rounding (its minibatches too come from its own generator)."""
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            return self._learning_curves(task, data_sizes, model_sizes, rngs)
        finally:
            torch.set_num_threads(before)

    def _learning_curves(self, task: Any, data_sizes: list[int], model_sizes: list[int],
                         rngs: list[np.random.Generator]) -> list[list[Measurement]]:
        ds = sorted({int(d) for d in data_sizes})
        ws = sorted({int(w) for w in model_sizes})
        if not ds or ds[0] < 1 or not ws or ws[0] < 1:
            raise SpecError(f"grid: data and size must be positive integers, got {data_sizes} and {model_sizes}")
        dtype = getattr(torch, self.dtype)
        device = torch.device(self.device) if self.device else default_device()
        xs, ys, gens = [], [], []
        for rng in rngs:
            X, y = task.sample(ds[-1] + self.n_test, rng)
            Y, classify = _targets(y)
            xs.append(torch.as_tensor(np.asarray(X, dtype=float), dtype=dtype, device=device))
            ys.append(torch.as_tensor(Y, dtype=dtype, device=device))
            gens.append(torch.Generator().manual_seed(int(rng.integers(2**62))))
        x_all, y_all = torch.stack(xs), torch.stack(ys)  # (seeds, rows, features)
        out: list[list[Measurement]] = [[] for _ in rngs]
        for w_group in buckets(ws, self.pad_ratio):
            for d_group in buckets(ds, self.pad_ratio):
                for s, ms in enumerate(self._train_group(w_group, d_group, x_all, y_all, ds[-1], classify, gens)):
                    out[s] += ms
        for ms in out:
            ms.sort(key=lambda m: (m.data_size, m.model_size))
        return out

    def _train_group(self, widths, sizes, x_all, y_all, n_train, classify, gens) -> list[list[Measurement]]:
        """One batched run of every (D, width, member) of the group for every seed; x_all (seeds, rows, in)."""
        t0 = time.perf_counter()
        k, n_seeds = self.ensemble, x_all.shape[0]
        points = [(d, w) for d in sizes for w in widths]
        net_w = [w for _, w in points for _ in range(k)]
        net_d = torch.tensor([d for d, _ in points for _ in range(k)] * n_seeds, device=x_all.device)
        rows = sizes[-1]
        x_test, y_test = x_all[:, n_train:], y_all[:, n_train:]
        if n_seeds == 1:  # one data set shared by every network: one matrix product for all of them
            x, y, xt = x_all[0, :rows], y_all[0, :rows], x_test[0]
        else:
            seed_of = torch.arange(n_seeds, device=x_all.device).repeat_interleave(len(net_w))
            x, y, xt = x_all[seed_of, :rows], y_all[seed_of, :rows], x_test[seed_of]
        mask = (torch.arange(rows, device=x.device)[None, :] < net_d[:, None]).to(x.dtype)
        arch = self.architecture
        p0 = _concat([arch.init(x.shape[-1], net_w, y.shape[-1], g, dtype=x.dtype, device=x.device) for g in gens])
        trained, log = train(arch, p0, x, y, self.config, sample_mask=mask, generator=gens)

        def per_seed(pred: torch.Tensor) -> torch.Tensor:  # (n, T, out) -> (seeds, networks of a seed, T, out)
            return pred.reshape(n_seeds, len(net_w), *pred.shape[1:])

        target = y_test[:, None]  # (seeds, 1, T, out)
        pred = per_seed(predict(arch, trained, xt))
        single = mse(pred, target).cpu().numpy()  # (seeds, networks)
        ens_pred = pred.reshape(n_seeds, len(points), k, *pred.shape[2:]).mean(dim=2)
        ens = mse(ens_pred, target).cpu().numpy()  # (seeds, points)
        train_loss = log.train_loss.reshape(n_seeds, -1)
        steps = log.steps.reshape(n_seeds, -1)
        reasons = np.array(log.reasons).reshape(n_seeds, -1)
        lin_single = lin_train = None
        if self.linearized:
            lin, lin_log = train(arch, p0, x, y, dataclasses.replace(self.config, linearized=True),
                                 sample_mask=mask, generator=gens)
            lin_single = mse(per_seed(predict(arch, lin, xt, params0=p0)), target).cpu().numpy()
            lin_train = lin_log.train_loss.reshape(n_seeds, -1)
        acc = None
        if classify:
            acc = (ens_pred.argmax(-1) == target.argmax(-1)).to(x.dtype).mean(-1).cpu().numpy()
        share = (time.perf_counter() - t0) / len(points) / n_seeds
        counts = p0.count()
        out = []
        for s in range(n_seeds):
            seed_out = []
            for i, (d, w) in enumerate(points):
                members = slice(i * k, (i + 1) * k)
                extra = {"loss_single": float(single[s, members].mean()),
                         "steps": float(steps[s, members].mean()),
                         "stopped_by_rule": float(np.mean([r in ("target", "plateau") for r in reasons[s, members]])),
                         "parameters": float(counts[i * k])}
                if acc is not None:
                    extra["accuracy"] = float(acc[s, i])
                if lin_single is not None:
                    extra["loss_linearized"] = float(lin_single[s, members].mean())
                    extra["loss_minus_linearized"] = float((single[s, members] - lin_single[s, members]).mean())
                    extra["train_loss_linearized"] = float(lin_train[s, members].mean())
                seed_out.append(Measurement(d, w, -1, float(train_loss[s, members].mean()), float(ens[s, i]), share,
                                            extra))
            out.append(seed_out)
        return out


def _concat(parts: list[Params]) -> Params:
    """The networks of several ``Params`` of one structure (same widths in the same order) as one group."""
    if len(parts) == 1:
        return parts[0]

    def cat(tensors):
        return torch.cat(tensors) if tensors[0] is not None else None

    first = parts[0]
    return dataclasses.replace(
        first, weights=tuple(cat(t) for t in zip(*(p.weights for p in parts), strict=True)),
        biases=tuple(cat(t) for t in zip(*(p.biases for p in parts), strict=True)),
        scales=tuple(cat(t) for t in zip(*(p.scales for p in parts), strict=True)),
        masks=tuple(cat(t) for t in zip(*(p.masks for p in parts), strict=True)),
        widths=tuple(w for p in parts for w in p.widths))
