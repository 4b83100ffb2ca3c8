"""Fig. 1b on real data (Bahri et al. 2024): alpha_D of trained networks against the intrinsic dimension of the
inputs, estimated by nearest-neighbour estimators (``theory.geometry``), beside the hypercube teacher-students.

On a hypercube the data dimension is known and 4/alpha_D ~ d is an identity. On real data it is a bound:
Theorem 3 gives L <~ D^-4/d for a model accurate to linear order between neighbouring training points, so
alpha_D >= 4/d, i.e. 4/alpha_D <= d. A network can beat the bound (labels that vary along fewer directions than the
inputs fill, or a smoother target), and the estimator sees d at nearest-neighbour scale; so a gap below d is
expected and reported with its size, while 4/alpha_D well above d means the students are not in the
resolution-limited regime yet (pre-asymptotic or under-trained), and the check fails.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from scalinglab.fit.curves import fit_power_law
from scalinglab.models.mlp import Architecture, TrainConfig
from scalinglab.recipes import Check, check
from scalinglab.recipes.bahri.runs import early_stopped, nested_split
from scalinglab.tasks.real import RealDataset, load_dataset
from scalinglab.theory.geometry import IntrinsicDimension, intrinsic_dimension

BOUND_TOLERANCE = 0.25  # the identity's tolerance on hypercubes, allowed above the estimator's interval


@dataclasses.dataclass(frozen=True)
class RealDimsConfig:
    """Data sets, data sizes and training of the real-data points of Fig. 1b."""

    datasets: tuple[str, ...] = ("digits", "mnist1d")
    mnist1d_n: int = 2500
    data_sizes: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=lambda: {
        "digits": (50, 100, 200, 400, 800), "mnist1d": (100, 200, 400, 800, 1600)})
    width: int = 64
    seeds: int = 4
    steps: int = 1000
    rate: float = 3e-3
    n_test: int = 600
    n_boot: int = 40  # bootstrap replicates of the TwoNN interval


QUICK_REAL = RealDimsConfig()
FULL_REAL = RealDimsConfig(mnist1d_n=10000, data_sizes={"digits": (50, 100, 200, 400, 800, 1100),
                                                        "mnist1d": (100, 200, 400, 800, 1600, 3200, 6400, 9000)},
                           width=192, seeds=8, steps=6000, n_test=650, n_boot=200)


def learning_curve(data: RealDataset, data_sizes: list[int], seeds: int, arch: Architecture, width: int,
                   config: TrainConfig, n_test: int, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> dict[str, np.ndarray]:
    """Early-stopped test loss (seeds, sizes) of students trained on nested subsets of each seed's own order of
    the data set, tested on ``n_test`` rows held out from every training set (the protocol of the hypercube
    students: one batched run per D, the lowest evaluated test loss)."""
    Y, test, orders = nested_split(data, n_test, seeds, max(data_sizes), np.random.default_rng(seed))
    xt = torch.as_tensor(data.X[test], dtype=dtype)
    yt = torch.as_tensor(Y[test], dtype=dtype)
    best, final, train_loss = (np.zeros((seeds, len(data_sizes))) for _ in range(3))
    for j, d in enumerate(data_sizes):
        x = torch.as_tensor(data.X[orders[:, :d]], dtype=dtype)
        y = torch.as_tensor(Y[orders[:, :d]], dtype=dtype)
        best[:, j], final[:, j], train_loss[:, j] = early_stopped(arch, width, x, y, xt, yt, config, seed, d)
    return {"data_sizes": np.array(data_sizes), "loss": best, "final_loss": final, "train_loss": train_loss}


def measure_numbers(name: str, cfg: RealDimsConfig, arch: Architecture) -> dict[str, Any]:
    """The students' learning curve on data set ``name`` and its intrinsic dimension (TwoNN with a bootstrap
    interval, and MLE as a second estimator), as numbers."""
    data = load_dataset(name, n=cfg.mnist1d_n if name == "mnist1d" else None, seed=0, standardise="feature")
    twonn = intrinsic_dimension(data.X, "twonn", n_boot=cfg.n_boot, n_scales=3)
    mle = intrinsic_dimension(data.X, "mle", k=10, n_boot=200, n_scales=3)
    config = TrainConfig(optimizer="adam", learning_rate=cfg.rate, schedule="cosine", max_steps=cfg.steps, tol=0,
                         eval_every=max(cfg.steps // 30, 1))
    curve = learning_curve(data, list(cfg.data_sizes[name]), cfg.seeds, arch, cfg.width, config, cfg.n_test)
    return {"name": name, "twonn": twonn.to_dict(), "mle": mle.to_dict(), "curve": curve}


def measurement(numbers: dict[str, Any]) -> dict[str, Any]:
    """alpha_D of the students (bootstrap over seeds) and the estimates of d, from :func:`measure_numbers`."""
    def estimate(e: dict[str, Any]) -> IntrinsicDimension:
        return IntrinsicDimension(value=e["value"], ci95=tuple(e["ci95"]), method=e["method"], n=e["n"],
                                  scale=tuple(tuple(s) for s in e["scale"]))

    curve = numbers["curve"]
    fit = fit_power_law(curve["data_sizes"].astype(float), curve["loss"], offset=0.0, n_boot=500)
    return {"name": numbers["name"], "twonn": estimate(numbers["twonn"]), "mle": estimate(numbers["mle"]),
            "curve": curve, "fit": fit}


def measure(name: str, cfg: RealDimsConfig, arch: Architecture) -> dict[str, Any]:
    """alpha_D of the students on data set ``name`` and its intrinsic dimension (one process, no store)."""
    return measurement(measure_numbers(name, cfg, arch))


def dimension_bounds(m: dict[str, Any]) -> tuple[float, float]:
    """The span of the two estimators' 95% intervals (and point values) of d."""
    vals = [m["twonn"].value, m["mle"].value, *m["twonn"].ci95, *m["mle"].ci95]
    vals = [v for v in vals if np.isfinite(v)]
    return min(vals), max(vals)


def bound_check(m: dict[str, Any]) -> tuple[Check, str]:
    """The check row of one data set (4/alpha_D <= d within the tolerance above the estimators' span) and the
    note that states the gap and its explanation."""
    fit, name = m["fit"], m["name"]
    measured = 4.0 / fit.exponent
    d = m["twonn"].value
    lo, hi = dimension_bounds(m)
    alpha_lo, alpha_hi = fit.ci95["alpha"]
    ok = bool(np.isfinite(measured) and measured <= (1 + BOUND_TOLERANCE) * hi)
    row = check(f"{name}: 4/alpha_D <= d, a bound on real data (TwoNN d = {d:.1f}, MLE {m['mle'].value:.1f}, span "
                f"[{lo:.1f}, {hi:.1f}]; ok up to 25% above the span)", measured, d, BOUND_TOLERANCE, ok=ok,
                basis="one-sided: 25% (the hypercube identity's tolerance) above the estimators' span")
    gap = (d - measured) / d
    train_max = float(m["curve"]["train_loss"].max())
    head = (f"{name}: alpha_D = {fit.exponent:.3f} [{alpha_lo:.3f}, {alpha_hi:.3f}], 4/alpha_D = {measured:.2f} "
            f"[{4 / alpha_hi:.2f}, {4 / alpha_lo:.2f}], against d = {d:.2f} (TwoNN, 95% interval "
            f"[{m['twonn'].ci95[0]:.2f}, {m['twonn'].ci95[1]:.2f}]) and {m['mle'].value:.2f} (MLE, k = 10); TwoNN on "
            f"nested subsamples {_scale(m['twonn'])}, a change of {100 * m['twonn'].scale_drift:.0f}% between the "
            "two largest.")
    if measured <= d:
        why = (f" 4/alpha_D lies {100 * gap:.0f}% below the TwoNN d, as the bound allows: Theorem 3 bounds a model "
               "that only interpolates linearly between neighbouring training points; a network can do better when "
               "the labels vary along fewer directions than the inputs fill, and the estimator counts every "
               "direction the inputs vary in at nearest-neighbour scale, including ones the labels ignore.")
    elif ok:
        why = (f" 4/alpha_D lies {-100 * gap:.0f}% above the TwoNN d, within the tolerance above the estimators' "
               f"span [{lo:.2f}, {hi:.2f}]: the bound holds within the precision of the estimates.")
    else:
        why = (f" 4/alpha_D lies {-100 * gap:.0f}% above the TwoNN d, beyond the tolerance: the measured exponent "
               "is smaller than even a linear interpolant achieves on a manifold of that dimension, so the "
               f"students are not yet resolution-limited over these D (largest final train loss {train_max:.3g}; the "
               "exponent grows with training steps) or the loss has a floor the pure power law ignores.")
    return row, head + why


PROTOCOL = ("Real data: the hypercube students (ReLU, two hidden layers, NTK parameterisation) of width {cfg.width} "
            "trained on nested subsets of digits and MNIST-1D ({cfg.mnist1d_n} examples), inputs standardised per "
            "feature, centred one-hot targets, full-batch Adam at {cfg.rate:g} with cosine decay for {cfg.steps} "
            "steps, the lowest evaluated test loss on {cfg.n_test} held-out examples, {cfg.seeds} seeds; alpha_D: "
            "pure power law over every D with a bootstrap over seeds. d: TwoNN (scikit-dimension) with a bootstrap "
            "interval, and MLE with k = 10, on the same standardised inputs.")


def _scale(est) -> str:
    return ", ".join(f"d({n}) = {v:.1f}" for n, v in est.scale)


def table_row(m: dict[str, Any]) -> dict[str, Any]:
    fit = m["fit"]
    lo, hi = fit.ci95["alpha"]
    return {"data set": m["name"], "alpha_D": fit.exponent, "4/alpha_D": 4.0 / fit.exponent,
            "4/alpha_D ci95": f"[{4 / hi:.2f}, {4 / lo:.2f}]", "d (TwoNN)": m["twonn"].value,
            "d ci95": f"[{m['twonn'].ci95[0]:.2f}, {m['twonn'].ci95[1]:.2f}]", "d (MLE)": m["mle"].value,
            "TwoNN scale check": _scale(m["twonn"]),
            "largest final train loss": float(m["curve"]["train_loss"].max())}
