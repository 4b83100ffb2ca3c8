"""Bahri et al. (2024): how the data distribution sets alpha_D (Fig. 3, toy scale) and linear readouts on
pretrained features (Figs. S6, S7). Registered by ``recipes.bahri.networks``; experiments in ``recipes.bahri.runs``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.fit.curves import fit_power_law
from scalinglab.models.mlp import Architecture, TrainConfig
from scalinglab.recipes import RecipeResult, check
from scalinglab.recipes.bahri import runs
from scalinglab.recipes.bahri.common import BASIS_DUALITY, TOL_DUALITY
from scalinglab.sweep.jobs import Jobs
from scalinglab.tasks.real import RealDataset, add_input_noise, load_dataset, merge_classes

BASIS_GAP = "2.5 standard errors of the difference of two exponents (independent bootstraps over seeds)"
RELU = Architecture(depth=2, activation="relu", weight_variance=2.0)


@dataclasses.dataclass(frozen=True)
class SuperclassConfig:
    dataset: str = "digits"
    n_super: int = 2
    noise_std: float = 1.5
    data_sizes: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    width: int = 128
    seeds: int = 6
    steps: int = 800
    n_test: int = 600


QUICK_SUPER = SuperclassConfig()
FULL_SUPER = SuperclassConfig(seeds=12, steps=3000)


def _exponent_gap(a, b) -> tuple[float, float]:
    """Difference of two fitted exponents and its standard error (independent bootstraps)."""
    return a.exponent - b.exponent, float(np.hypot(a.se["alpha"], b.se["alpha"]))


def _variants(cfg: SuperclassConfig) -> dict[str, RealDataset]:
    """The data set, its classes merged into ``n_super`` superclasses (seed 0), and with input noise
    (default_rng(1))."""
    base = load_dataset(cfg.dataset, standardise="feature")
    return {
        "original": base,
        f"{cfg.n_super} superclasses": dataclasses.replace(base, y=merge_classes(base.y, cfg.n_super, seed=0),
                                                           n_classes=cfg.n_super),
        f"input noise std {cfg.noise_std:g}": dataclasses.replace(
            base, X=add_input_noise(base.X, cfg.noise_std, np.random.default_rng(1))),
    }


def superclass_job(cfg: SuperclassConfig, index: int) -> dict[str, Any]:
    """The learning curve of variant ``index`` of :func:`_variants`, divided by its chance loss."""
    data = list(_variants(cfg).values())[index]
    config = TrainConfig(optimizer="adam", learning_rate=3e-3, schedule="cosine", max_steps=cfg.steps, tol=1e-4,
                         patience=200, eval_every=50)
    with runs.torch_threads(1):
        r = runs.resolution_sweep(data, list(cfg.data_sizes), [cfg.width], cfg.seeds, RELU, config, cfg.n_test)
    return {"data_sizes": r["data_sizes"], "loss": r["loss"][:, :, 0] / _chance_loss(data)}


def run_superclass_noise(out: Path, cfg: SuperclassConfig, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import network_plots as plots

    labels = list(_variants(cfg))
    fits, curves = {}, {}
    for label, r in zip(labels, jobs.map("bahri-fig3", superclass_job, cfg, [(i,) for i in range(len(labels))],
                                         "variants"), strict=True):
        fits[label] = fit_power_law(r["data_sizes"].astype(float), r["loss"], offset=0.0, n_boot=500)
        curves[label] = (r["data_sizes"], r["loss"], fits[label])
    original, superclass, noisy = (fits[k] for k in labels)
    gap_s, se_s = _exponent_gap(superclass, original)
    gap_n, se_n = _exponent_gap(noisy, original)
    checks = [
        check(f"alpha_D with {cfg.n_super} superclasses equals alpha_D of the original classes (within 2.5 "
              "standard errors of the difference)", superclass.exponent, original.exponent, 2.5 * se_s,
              basis=BASIS_GAP),
        check(f"alpha_D with input noise std {cfg.noise_std:g} differs from the original (by more than 2.5 standard "
              "errors of the difference)", noisy.exponent, original.exponent, 2.5 * se_n,
              ok=abs(gap_n) > 2.5 * se_n, basis=BASIS_GAP),
    ]
    table = [{"variant": k, "alpha_D": f.exponent, "ci95 low": f.ci95["alpha"][0], "ci95 high": f.ci95["alpha"][1],
              "seeds": f.n_seeds} for k, f in fits.items()]
    fig = plots.curves_figure(f"{cfg.dataset}: L(D) / L(chance), width {cfg.width}", curves, "D",
                              out / "bahri-superclass-noise.png", ylabel="test loss / chance loss")
    notes = [f"ReLU networks with two hidden layers of width {cfg.width}, Adam with cosine decay, full batch; "
             "losses are divided by the loss of the constant prediction so that variants with different numbers of "
             "classes share one scale (the exponent is unchanged). Exponents: pure power law, bootstrap over seeds."]
    return RecipeResult(checks=checks, figures={"alpha_D under superclasses and noise": fig}, notes=notes,
                        tables={"fitted alpha_D": table})


def _chance_loss(data: RealDataset) -> float:
    """MSE of the zero output against centred one-hot labels: (k - 1) / k^2 per class."""
    k = data.n_classes
    return (k - 1) / k**2


@dataclasses.dataclass(frozen=True)
class DualityConfig:
    dataset: str = "digits"
    n: int | None = None
    width: int = 128
    pretrain_steps: int = 400
    data_sizes: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512)
    feature_counts: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64, 96, 128)
    small_ridge: float = 1e-8
    ridges: tuple[float, ...] = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
    peak_at: int = 32
    fit_max: int = 32
    seeds: int = 6
    n_test: int = 250
    n_val: int = 130


QUICK_DUALITY = DualityConfig()
FULL_DUALITY = DualityConfig(dataset="mnist1d", n=40000, width=1024, pretrain_steps=5000,
                             data_sizes=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
                             feature_counts=(8, 16, 32, 64, 128, 256, 512, 1024), seeds=12, peak_at=64, fit_max=128,
                             n_test=4000, n_val=2000)


def _ridges(cfg: DualityConfig) -> list[float]:
    return sorted(set(cfg.ridges) | {cfg.small_ridge})


def readout_job(cfg: DualityConfig) -> dict[str, Any]:
    """The readout grid of Figs. S6, S7: a network pretrained on half of the data set, readouts on the other."""
    data = load_dataset(cfg.dataset, n=cfg.n, seed=0, standardise="feature")
    half = len(data.y) // 2
    source = dataclasses.replace(data, X=data.X[:half], y=data.y[:half])
    target = dataclasses.replace(data, X=data.X[half:], y=data.y[half:])
    config = TrainConfig(optimizer="adam", learning_rate=1e-2, schedule="cosine", max_steps=cfg.pretrain_steps,
                         tol=0, eval_every=max(cfg.pretrain_steps // 10, 1))
    with runs.torch_threads(1):
        return runs.readout_sweep(source, target, cfg.width, RELU, config, list(cfg.data_sizes),
                                  list(cfg.feature_counts), _ridges(cfg), cfg.seeds, cfg.n_test, cfg.n_val)


def run_pretrained_duality(out: Path, cfg: DualityConfig, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import network_plots as plots

    ridges = _ridges(cfg)
    (r,) = jobs.map("bahri-figS6", readout_job, cfg, [()], "readout grid")
    small = r["test"][..., ridges.index(cfg.small_ridge)]  # (seeds, D, P)
    best = r["val"].mean(axis=0).argmin(axis=-1)  # ridge tuned on validation loss, per (D, P)
    tuned = np.take_along_axis(r["test"], best[None, :, :, None], axis=-1)[..., 0]
    ds, ps = r["data_sizes"], r["feature_counts"]
    # Double descent: L(D) at P = peak_at with the small ridge peaks at D = P.
    j = int(np.flatnonzero(ps == cfg.peak_at)[0])
    curve = small[:, :, j].mean(axis=0)
    peak_d = int(ds[int(np.argmax(curve))])
    far = curve[(ds <= cfg.peak_at / 4) | (ds >= 4 * cfg.peak_at)]
    checks = [check(f"small ridge: the test loss over D at P = {cfg.peak_at} peaks at D = P (grid point of the "
                    "peak / P)", peak_d / cfg.peak_at, 1.0, 0.5 * 1.01,
                    basis="half the spacing of the D grid about the peak (factor 2 at most), plus 1%"),
              check(f"small ridge: the peak at D = P = {cfg.peak_at} is a double-descent peak (peak over the "
                    "largest loss at D <= P/4 or D >= 4P; must exceed 1.5)", curve.max() / far.max(), 1.5, 0.0,
                    ok=curve.max() > 1.5 * far.max(), basis="a peak asked to stand 50% above the loss away from it")]
    # Duality at tuned ridge: L vs D at the largest P and L vs P at the largest D, over the same range.
    d_sel, p_sel = ds <= cfg.fit_max, ps <= cfg.fit_max
    fit_d = fit_power_law(ds[d_sel].astype(float), tuned[:, d_sel, -1], offset=0.0, n_boot=500)
    fit_p = fit_power_law(ps[p_sel].astype(float), tuned[:, -1, p_sel], offset=0.0, n_boot=500)
    se = float(np.hypot(fit_d.se["alpha"], fit_p.se["alpha"]))
    checks.append(check(f"tuned ridge, duality: alpha_D (P = {ps[-1]}) against alpha_P (D = {ds[-1]}), sizes "
                        f"<= {cfg.fit_max} (within {TOL_DUALITY:g}; 2.5 standard errors of the difference: "
                        f"{2.5 * se:.2f})",
                        fit_d.exponent, fit_p.exponent, TOL_DUALITY, basis=BASIS_DUALITY))
    figures = {"L vs D and L vs P": plots.duality_figure(ds, ps, small, tuned, cfg.peak_at, fit_d, fit_p,
                                                         out / "bahri-pretrained-duality.png")}
    table = [{"slice": "L vs D, P max", "ridge": "tuned", "exponent": fit_d.exponent, "se": fit_d.se["alpha"]},
             {"slice": "L vs P, D max", "ridge": "tuned", "exponent": fit_p.exponent, "se": fit_p.se["alpha"]}]
    notes = [f"Source: half of the {cfg.dataset} examples; target: the other half (disjoint examples, readouts "
             "trained from scratch). A ReLU network with two hidden layers of "
             f"width {cfg.width} is trained on the source (full-batch Adam, final train loss "
             f"{r['pretrain_train_loss']:.3g}) and frozen; readouts use its last hidden layer. Ridge relative to the "
             "mean squared feature norm; the tuned ridge minimises a validation loss at each (D, P)."]
    return RecipeResult(checks=checks, figures=figures, notes=notes, tables={"duality exponents": table})
