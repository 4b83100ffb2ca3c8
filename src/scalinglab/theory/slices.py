"""Predictions for the slices of a (D, size) grid, from a task's ``properties()`` and a model's description.

This is the one place where theory meets an arbitrary experiment: given what a task says about itself (its
``properties()``: a spectrum exponent, an intrinsic dimension, a cluster exponent tau, a Zipf exponent) and which
model learned it, :func:`predict_slice` says what the loss along one slice should do, with no fitted parameter,
and where that comes from; or, where no theory applies, says so (``exponent`` None and the reason in ``source``).

A prediction is the exponent alpha of L - E ~ x^-alpha over the slice's sizes, with the limit E where theory
knows it (``offset``; None: the measurement's limit has to be fitted). Where the theory gives a whole curve rather
than a power law (Brill's L(D, N)), ``curve`` holds it at the slice's sizes and ``exponent`` is the slope of
log(curve - offset) against log x fitted over the same sizes, the same estimator as the measured exponent.

Sources: Bahri et al. (2024), "Explaining Neural Scaling Laws" (variance-limited exponent 1; resolution-limited
alpha = the spectrum exponent for linear random features, about 4/d on a d-dimensional data manifold); Brill
(2024) (``theory.percolation``); the quantization model of Michaud et al. (2023) (``theory.quanta``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from scalinglab.theory import percolation as perc
from scalinglab.theory import quanta

Axis = Literal["data", "size"]
VARIANCE_SEPARATION = 16.0  # a slice is variance-limited where every size is at least this many times the other


@dataclasses.dataclass(frozen=True)
class SlicePrediction:
    """What theory says of one slice: the exponent (None: no theory applies), the loss's known limit, the
    expected regime, the source (or the reason there is none) and, where theory gives one, the whole curve."""

    exponent: float | None
    source: str
    offset: float | None = None
    regime: str | None = None
    curve: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def none(reason: str) -> SlicePrediction:
    return SlicePrediction(None, reason)


def curve_exponent(xs, curve, offset: float = 0.0) -> float:
    """Least-squares slope of log(curve - offset) against log x, negated (the measured exponent's estimator)."""
    z = np.asarray(curve, dtype=float) - offset
    if np.any(z <= 0):
        return float("nan")
    slope, _ = np.polyfit(np.log(np.asarray(xs, dtype=float)), np.log(z), 1)
    return float(-slope)


def predict_slice(task: dict[str, float], model_kind: str, model: dict[str, float], axis: Axis, fixed: int,
                  xs: list[int] | tuple[int, ...]) -> SlicePrediction:
    """The prediction for the slice along ``axis`` (data: D varies; size: the model size varies) with the other
    size held at ``fixed``, over the sizes ``xs``. ``task`` is ``task.properties()``, ``model`` the model's
    properties (``random_features`` 1 where the size knob counts random features, ``hidden_layers`` for
    networks, ``approximation_order`` for nearest-neighbour models, ``size_knob`` 0 where there is none)."""
    xs = tuple(int(x) for x in xs)
    if model.get("size_knob", 1.0) == 0.0 and axis == "size":
        return none(f"{model_kind} has no size knob (exact kernel): the size axis is constant")
    if "tau" in task:
        return _percolation(task, model_kind, model, axis, fixed, xs)
    if "zipf_exponent" in task:
        return _quanta(task, model_kind, model, axis)
    if "spectrum_exponent" in task or "intrinsic_dimension" in task:
        return _bahri(task, model_kind, model, axis, fixed, xs)
    return none("no theory: the task states no spectrum, intrinsic dimension, cluster or Zipf exponent (for real "
                "data, estimate them before training with `scalinglab predict`)")


def _percolation(task, model_kind, model, axis, fixed, xs) -> SlicePrediction:
    if "approximation_order" not in model:
        return none(f"no theory: Brill's closed forms are for the graph nearest-neighbour regressor, not "
                    f"{model_kind} on embedded clusters")
    alpha, e = float(task["alpha"]), float(model["approximation_order"]) / float(task["fractal_dimension"])
    k = int(task["n_clusters"])
    d, n = (np.array(xs), np.full(len(xs), fixed)) if axis == "data" else (np.full(len(xs), fixed), np.array(xs))
    curve = perc.joint_loss(d, n, alpha, e, k)
    limit = "N -> inf: L(D) = [c1 D^-a + c2 D^-(c/D)]/(c1 + c2)" if axis == "data" else \
        "D -> inf: L(N) = (N/k_br + 1/alpha) k_br^-alpha"
    asym = perc.data_scaling_exponent(alpha, e) if axis == "data" else perc.model_scaling_exponent(alpha, e)
    source = (f"Brill 2024, L(D, N) over {k} clusters at tau = {task['tau']:g} (alpha = {alpha:.3g}), c/D = {e:.3g}, "
              f"{'N' if axis == 'data' else 'D'} = {fixed} ({limit}; asymptotic exponent {asym:.3g})")
    return SlicePrediction(curve_exponent(xs, curve), source, 0.0, "resolution_limited",
                           tuple(float(v) for v in curve))


def _quanta(task, model_kind, model, axis) -> SlicePrediction:
    alpha = float(task["alpha"])
    if "hidden_layers" not in model:
        return none(f"no theory: the quantization model is stated for trained networks, not {model_kind}")
    if axis == "data":
        return SlicePrediction(quanta.data_exponent(alpha), f"quantization model (Michaud et al. 2023): "
                               f"L ~ D^-alpha/(1+alpha), alpha = zipf_exponent - 1 = {alpha:g}", None,
                               "resolution_limited")
    if model["hidden_layers"] != 1:
        return none("no theory in width: the quantization model's L ~ N^-alpha counts parameters, which grow as "
                    "width^2 between hidden layers (use one hidden layer, where they grow as width)")
    return SlicePrediction(quanta.parameter_exponent(alpha), f"quantization model (Michaud et al. 2023): "
                           f"L ~ N^-alpha with N ~ width (one hidden layer), alpha = {alpha:g}", None,
                           "resolution_limited")


def _bahri(task, model_kind, model, axis, fixed, xs) -> SlicePrediction:
    if model.get("random_features") and min(xs) >= VARIANCE_SEPARATION * fixed:
        what = "D" if axis == "data" else "P"
        return SlicePrediction(1.0, f"Bahri et al. 2024, Theorem 1: variance-limited, L - L({what} = inf) ~ "
                               f"{what}^-1 for {what} >> {'P' if axis == 'data' else 'D'}", None, "variance_limited")
    if "spectrum_exponent" in task:
        if not model.get("random_features"):
            return none(f"no theory: the resolution-limited exponent of the linear teacher is derived for linear "
                        f"random features, not {model_kind}")
        return SlicePrediction(float(task["spectrum_exponent"]), "Bahri et al. 2024, Eq. 5 and duality: "
                               f"alpha_D = alpha_P = spectrum exponent {task['spectrum_exponent']:g}",
                               float(task.get("noise", 0.0)) ** 2, "resolution_limited")
    d = float(task["intrinsic_dimension"])
    if axis == "size" and not model.get("random_features"):
        return none(f"no theory in {model_kind} width: the 4/d estimate counts parameters or features")
    return SlicePrediction(4.0 / d, f"Bahri et al. 2024: resolution-limited exponent about 4/d on a "
                           f"{d:g}-dimensional manifold (an approximation, not a bound)", None, "resolution_limited")
