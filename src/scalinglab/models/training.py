"""Training many networks of one group at once, with a logged per-network stopping rule.

See ``scalinglab.models.mlp`` for the public API.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from scalinglab.errors import SpecError
from scalinglab.models.network import (
    Architecture,
    Params,
    forward,
    gradients,
    linearization_cache,
    linearized_forward,
    tangent_forward,
)

STOP_REASONS = ("target", "plateau", "max_steps", "diverged")


def mse(pred: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per network: mean over samples (weighted by a 0/1 sample mask) and outputs; (n,)."""
    err = ((pred - y) ** 2).mean(dim=-1)
    if weight is None:
        return err.mean(dim=-1)
    return (err * weight).sum(dim=-1) / weight.sum(dim=-1).clamp_min(1)


def _xent(pred: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    err = -(torch.log_softmax(pred, dim=-1) * y).sum(dim=-1)
    if weight is None:
        return err.mean(dim=-1)
    return (err * weight).sum(dim=-1) / weight.sum(dim=-1).clamp_min(1)


LOSSES = {"mse": mse, "cross_entropy": _xent}


def classification_error(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose largest output is not the target's largest entry, per network: (n,) from
    outputs (n, batch, classes) and one-hot (or centred one-hot) targets (batch, classes) or (n, batch, classes)."""
    return (pred.argmax(dim=-1) != y.argmax(dim=-1)).to(pred.dtype).mean(dim=-1)


def _output_grad(loss: str, y: torch.Tensor, weight: torch.Tensor | None):
    """pred -> d (sum over networks of the loss) / d pred: closed form for mse, autograd of the loss alone else."""
    if loss == "mse":
        def grad(pred: torch.Tensor) -> torch.Tensor:
            g = pred - y
            if weight is None:
                return g * (2.0 / (pred.shape[-2] * pred.shape[-1]))
            w = weight / weight.sum(dim=-1, keepdim=True).clamp_min(1)
            return g * (w * (2.0 / pred.shape[-1]))[..., None]
        return grad

    def grad_autograd(pred: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            p = pred.detach().requires_grad_(True)
            return torch.autograd.grad(LOSSES[loss](p, y, weight).sum(), p)[0]
    return grad_autograd


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How the networks are trained, and when each one stops.

    Stopping rule, checked every ``eval_every`` steps on the full training loss of each network: stop at
    ``target`` (loss <= ``loss_target``), at ``plateau`` (relative decrease over the last ``patience`` steps below
    ``tol``; ``tol = 0`` disables it, so every network trains exactly ``max_steps`` steps), else at ``max_steps``.
    """

    optimizer: str = "gd"
    learning_rate: float = 0.5
    max_steps: int = 2000
    batch_size: int | None = None
    schedule: str = "constant"
    loss: str = "mse"
    loss_target: float = 0.0
    tol: float = 1e-4
    patience: int = 200
    eval_every: int = 25
    linearized: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("gd", "sgd", "adam"):
            raise SpecError(f"model.optimizer: expected 'gd', 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise SpecError(f"model.schedule: expected 'constant' or 'cosine', got {self.schedule!r}")
        if self.loss not in LOSSES:
            raise SpecError(f"model.loss: expected one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise SpecError(f"model.learning_rate: must be positive, got {self.learning_rate!r}")
        for key in ("max_steps", "patience", "eval_every"):
            if int(getattr(self, key)) != getattr(self, key) or getattr(self, key) < 1:
                raise SpecError(f"model.{key}: must be a positive integer, got {getattr(self, key)!r}")
        if self.batch_size is not None and (int(self.batch_size) != self.batch_size or self.batch_size < 1):
            raise SpecError(f"model.batch_size: must be a positive integer or None, got {self.batch_size!r}")

    def rate(self, step: int) -> float:
        if self.schedule == "cosine":
            return self.learning_rate * 0.5 * (1 + math.cos(math.pi * step / self.max_steps))
        return self.learning_rate


@dataclasses.dataclass(frozen=True)
class TrainLog:
    """What the stopping rule did for each network: steps taken, why it stopped, final full training loss, the
    training-loss history (``history[k]`` = (step, losses (n,))), and the lowest evaluated test loss (early-stopped
    test loss) when test data were given; with ``train(..., test_error=True)`` also the lowest evaluated test
    classification error (``best_test_error``, see :func:`classification_error`)."""

    steps: np.ndarray
    reasons: tuple[str, ...]
    train_loss: np.ndarray
    history: tuple[tuple[int, np.ndarray], ...]
    best_test_loss: np.ndarray | None
    wall_seconds: float
    best_test_error: np.ndarray | None = None

    def summary(self) -> dict[str, Any]:
        return {"steps_max": int(self.steps.max()), "steps_min": int(self.steps.min()),
                "stops": {r: self.reasons.count(r) for r in STOP_REASONS},
                "train_loss_max": float(self.train_loss.max()), "wall_seconds": self.wall_seconds}


def _batch(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx`` (n, b) of x, shared (B, f) or per network (n, B, f): returns (n, b, f)."""
    if x.dim() == 2:
        return x[idx]
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))


def train(arch: Architecture, params: Params, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
          *, sample_mask: torch.Tensor | None = None,
          generator: torch.Generator | list[torch.Generator] | None = None,
          x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
          test_error: bool = False) -> tuple[Params, TrainLog]:
    """Train every network of ``params`` at once; returns the trained parameters and the log.

    ``x`` (B, in) or (n, B, in), ``y`` (B, out) or (n, B, out); ``sample_mask`` (n, B) of 0/1 selects each
    network's training subset (its first D_i rows for nested data). With ``config.linearized`` the networks
    trained are the linearisations around ``params`` (:func:`linearized_forward`). ``generator`` draws the
    minibatches; a list of k generators splits the networks into k equal consecutive blocks, one per generator
    (several seeds trained together draw what each draws alone). With ``x_test`` and ``y_test`` the test loss is
    evaluated with the training loss and its lowest value kept (``TrainLog.best_test_loss``); ``test_error`` keeps
    the lowest classification error too (``y_test`` one-hot or centred one-hot). Evaluating changes no update.
    """
    t_start = time.perf_counter()
    n = params.n
    loss_fn = LOSSES[config.loss]
    params0 = params
    tensors = [t.detach().clone().requires_grad_(True) for t in params.tensors()]
    grad_masks = _grad_masks(params)
    if config.linearized:
        if config.batch_size is not None and config.optimizer != "gd":
            raise SpecError("model.linearized: the linearised network is trained full-batch only (batch_size None)")
        f0_train, cache = linearization_cache(arch, params0, x)

        def model(ps: Params, inputs: torch.Tensor) -> torch.Tensor:
            if inputs is x:
                return tangent_forward(params0, ps, f0_train, cache)
            return linearized_forward(arch, params0, ps, inputs)
    else:
        def model(ps: Params, inputs: torch.Tensor) -> torch.Tensor:
            return forward(arch, ps, inputs)
    n_rows = x.shape[-2]
    counts = (sample_mask.sum(dim=1) if sample_mask is not None
              else torch.full((n,), float(n_rows), device=x.device))
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    steps = torch.zeros(n, dtype=torch.long, device=x.device)
    on = all_on = None  # which networks still train: changes only where the stopping rule runs
    reasons = ["max_steps"] * n
    history: list[tuple[int, np.ndarray]] = []
    best_test = best_error = None
    m1 = [torch.zeros_like(t) for t in tensors]
    m2 = [torch.zeros_like(t) for t in tensors]

    def full_loss() -> torch.Tensor:
        with torch.no_grad():
            return loss_fn(model(params.with_tensors(tuple(tensors)), x), y, sample_mask)

    full_batch = config.batch_size is None or config.optimizer == "gd"
    # Plain gradient descent only: with Adam the float32 rounding differences between the two backward passes
    # grew to about 1e-4 in test loss over 600 steps (the mlp-hypercube example), so Adam keeps autograd.
    explicit = config.optimizer == "gd" and not config.linearized
    output_grad = _output_grad(config.loss, y, sample_mask)
    for step in range(config.max_steps + 1):
        if step % config.eval_every == 0 or step == config.max_steps:
            current = full_loss()
            history.append((step, current.detach().cpu().numpy().astype(float)))
            if x_test is not None:
                with torch.no_grad():
                    t_pred = model(params.with_tensors(tuple(tensors)), x_test)
                    t_loss = loss_fn(t_pred, y_test).cpu().numpy()
                best_test = t_loss if best_test is None else np.minimum(best_test, t_loss)
                if test_error:
                    t_err = classification_error(t_pred, y_test).cpu().numpy()
                    best_error = t_err if best_error is None else np.minimum(best_error, t_err)
            _apply_stopping(config, history, active, reasons)
            if step == config.max_steps or not bool(active.any()):
                break
            all_on = bool(active.all())
            on = {t.dim(): active.to(x.dtype).reshape(-1, *([1] * (t.dim() - 1))) for t in tensors}
        if explicit:  # explicit backward pass, no autograd graph
            grads = gradients(arch, params.with_tensors(tuple(tensors)), x, output_grad)
        else:
            if full_batch:
                loss = loss_fn(model(params.with_tensors(tuple(tensors)), x), y, sample_mask)
            else:
                idx = (_uniform(n, config.batch_size, generator).to(x.device) * counts[:, None]).long()
                loss = loss_fn(model(params.with_tensors(tuple(tensors)), _batch(x, idx)), _batch(y, idx))
            grads = torch.autograd.grad(loss.sum(), tensors, allow_unused=True, materialize_grads=True)
        with torch.no_grad():
            _step(config, step, tensors, grads, grad_masks, m1, m2, on, all_on)
        steps += active
    final = history[-1][1]
    out = params.with_tensors(tuple(t.detach() for t in tensors))
    log = TrainLog(steps.cpu().numpy().astype(int), tuple(reasons), final, tuple(history), best_test,
                   time.perf_counter() - t_start, best_error)
    return out, log


def _step(config: TrainConfig, step: int, tensors: list[torch.Tensor], grads, grad_masks, m1, m2,
          on: dict[int, torch.Tensor], all_on: bool) -> None:
    """One update of every tensor, with multi-tensor (``torch._foreach_*``) operations: one call for all of the
    parameter tensors instead of several per tensor. Networks that stopped are left unchanged."""
    grads = [g if m is None else g * m for g, m in zip(grads, grad_masks, strict=True)]
    upd = grads
    if config.optimizer == "adam":
        torch._foreach_mul_(m1, 0.9)
        torch._foreach_add_(m1, grads, alpha=0.1)
        torch._foreach_mul_(m2, 0.999)
        torch._foreach_addcmul_(m2, grads, grads, value=0.001)
        denom = torch._foreach_div(m2, 1 - 0.999 ** (step + 1))
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, 1e-8)
        upd = torch._foreach_div(torch._foreach_div(m1, 1 - 0.9 ** (step + 1)), denom)
    rate = config.rate(step)
    if all_on:
        torch._foreach_add_(tensors, upd, alpha=-rate)
    else:
        torch._foreach_addcmul_(tensors, upd, [on[t.dim()] * -rate for t in tensors])


def _uniform(n: int, size: int, generator: torch.Generator | list[torch.Generator] | None) -> torch.Tensor:
    """(n, size) uniform draws; from a list of generators, an equal block of rows from each."""
    if not isinstance(generator, list | tuple):
        return torch.rand(n, size, generator=generator)
    return torch.cat([torch.rand(n // len(generator), size, generator=g) for g in generator])


def _grad_masks(params: Params) -> list[torch.Tensor | None]:
    """Masks keeping padded units' parameters at zero (their gradients vanish anyway; Adam's do not exactly)."""
    wm, bm = [], []
    masks = params.masks
    for layer in range(len(params.weights)):
        m_out = masks[layer] if layer < len(masks) else None
        m_in = masks[layer - 1].transpose(1, 2) if layer > 0 and masks[layer - 1] is not None else None
        w = None
        if m_out is not None or m_in is not None:
            w = (m_out if m_out is not None else 1.0) * (m_in if m_in is not None else 1.0)
        wm.append(w)
        bm.append(m_out)
    return wm + bm


def _apply_stopping(config: TrainConfig, history: list, active: torch.Tensor, reasons: list[str]) -> None:
    current = history[-1][1]
    lag = config.patience // config.eval_every
    before = history[-1 - lag][1] if lag >= 1 and len(history) > lag else None
    for i in np.flatnonzero(active.cpu().numpy()):
        if current[i] <= config.loss_target:
            reasons[i] = "target"
        elif config.tol > 0 and before is not None and before[i] - current[i] <= config.tol * before[i]:
            reasons[i] = "plateau"
        elif not np.isfinite(current[i]):
            reasons[i] = "diverged"
        else:
            continue
        active[i] = False
