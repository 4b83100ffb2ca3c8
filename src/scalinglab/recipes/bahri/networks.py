"""Bahri et al. (2024), "Explaining Neural Scaling Laws": the trained-network figures (recipes ``bahri-*``).

- ``bahri-fig1a`` (alias ``bahri-four-regimes-nn``): the four regimes in fully connected networks on digits and
  MNIST-1D;
- ``bahri-fig1b`` (``bahri-teacher-student-4d``): alpha_D of deep students of deep teachers on hypercubes,
  4/alpha_D vs d;
- ``bahri-fig3`` (``bahri-superclass-noise``, toy scale): alpha_D after merging classes and after input noise;
- ``bahri-figS6`` (``bahri-pretrained-duality``, Figs. S6, S7): linear readouts on frozen features, L vs D and L vs
  P.

Exponents and intervals come from ``scalinglab.fit`` (power laws with a bootstrap over seeds; the regime verdict of
``fit.regimes.regime_verdict``: variance-limited when the 95% interval of the exponent contains 1,
resolution-limited when it lies between 0 and 1, "no scaling" when it reaches 0: ``scaling_regime``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.fit.curves import fit_power_law
from scalinglab.fit.regimes import curve_verdict, regime_verdict
from scalinglab.recipes import Check, Recipe, RecipeResult, check, register
from scalinglab.recipes.bahri.common import PAPER
from scalinglab.sweep.jobs import Jobs
from scalinglab.tasks.real import load_dataset


@dataclasses.dataclass(frozen=True)
class FourRegimesConfig:
    """Sizes of the Fig. 1a experiments; ``QUICK_FOUR`` and ``FULL_FOUR`` below."""

    datasets: tuple[str, ...] = ("digits", "mnist1d")
    mnist1d_n: int = 4000
    # E[L - L_lin] = a/w + O(1/w^2). On digits (8 seeds, w = 32..1024) w (L - L_lin) rises by 50% at rate
    # 0.5 x 100 steps and by 35% at 0.25, and the slope over 32..362 is 0.90 at 0.5; on MNIST-1D (16 pairs) it is
    # a third lower at w = 64 and 91 than at 128..724, where it is flat: the widths start at 128.
    widths_var: tuple[int, ...] = (128, 181, 256, 362, 512, 724)
    seeds_var: int = 16  # antithetic pairs of initialisations; single MNIST-1D differences spread by their mean
    n_train_var: int = 100
    steps_var: int = 100
    rate_var: float = 0.25  # the training time rate x steps sets how far a network leaves its linearisation
    # D >> P (P = 502 on digits, 358 on MNIST-1D at width 6); the cost does not grow with D (weights on the rows)
    data_var: tuple[int, ...] = (1024, 2048, 4096, 8192, 16384, 32768)
    width_data_var: int = 6
    seeds_data_var: int = 6
    steps_data_var: int = 500
    rate_data_var: float = 0.5
    data_res: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    widths_res: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    width_res: int = 64
    seeds_res: int = 8  # the verdict's interval uses Student's t over seeds: 4 seeds cannot separate 0.8 from 1
    steps_res: int = 500
    n_test_res: int = 600


QUICK_FOUR = FourRegimesConfig()
FULL_FOUR = FourRegimesConfig(
    mnist1d_n=10000, widths_var=(64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048), seeds_var=32,
    steps_var=300, data_var=(1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072), seeds_data_var=16,
    steps_data_var=2000,
    seeds_res=8, steps_res=3000)
BASIS_EXPONENT = "0.2 about the variance-limited exponent 1"
ERF = {"depth": 2, "activation": "erf", "weight_variance": 1.0}  # torch is imported only when a recipe runs


def _groups(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-seed curves (seeds, n_x) flattened to (x index, value, seed) for the fitting engine."""
    seeds, n = y.shape
    return np.tile(np.arange(n), seeds), y.reshape(-1), np.repeat(np.arange(seeds), n)


NO_SCALING = "no scaling"


def scaling_regime(ver: Any) -> Any:
    """``ver`` with its regime read as the recipes report it: an exponent whose 95% interval reaches 0 is not
    distinguishable from no scaling at all, so a "resolution-limited" verdict (interval below 1) whose interval
    contains 0 becomes ``NO_SCALING``."""
    lo = ver.ci95[0]
    if ver.regime == "resolution_limited" and np.isfinite(lo) and lo <= 0.0:
        return dataclasses.replace(ver, regime=NO_SCALING)
    return ver


def _verdict(x: np.ndarray, y: np.ndarray, predicted: float | None) -> Any:
    """The regime classifier on per-seed curves (bootstrap over seeds); when a seed's value is not positive (a
    difference of two losses can be), on the mean over seeds (bootstrap over points)."""
    if np.all(y > 0):
        idx, values, groups = _groups(y)
        return scaling_regime(regime_verdict(x[idx], values, groups=groups, predicted=predicted, n_boot=300))
    mean = y.mean(axis=0)
    keep = mean > 0
    return scaling_regime(regime_verdict(x[keep], mean[keep], predicted=predicted, n_boot=300))


def _variance_fit(x: np.ndarray, diff: np.ndarray) -> tuple[Any, Any, float]:
    """The regime classifier on a difference whose limit is 0 by construction (L(w) - L_lin(w), L(D) - L(D = inf)):
    a power law through the origin fitted to the seed mean, interval from a seed bootstrap
    (``fit.regimes.curve_verdict``); the sign is normalised so that the mean is positive. Returns the fit, the
    verdict and the sign."""
    sign = 1.0 if diff.mean() >= 0 else -1.0
    ver = scaling_regime(curve_verdict(x, sign * diff, limit=0.0, predicted=1.0, n_boot=500))
    return ver.fit, ver, sign


def four_regimes(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    return run_four_regimes(Path(out), QUICK_FOUR if quick else FULL_FOUR, jobs)


STAGES = ("variance-limited width", "variance-limited data", "resolution-limited data", "resolution-limited width")


def four_regimes_job(cfg: FourRegimesConfig, index: int, stage: int) -> dict[str, Any]:
    """One experiment of Fig. 1a: ``STAGES[stage]`` on the data set ``cfg.datasets[index]`` (each draws from its
    documented seeds in ``recipes.bahri.runs``, so the numbers do not depend on which job runs first)."""
    from scalinglab.models.mlp import TrainConfig
    from scalinglab.recipes.bahri import runs

    data, erf, res_cfg = resolution_inputs(cfg, index)
    with runs.torch_threads(1):
        if stage == 0:
            gd = TrainConfig(learning_rate=cfg.rate_var, max_steps=cfg.steps_var, tol=0, eval_every=cfg.steps_var)
            return runs.width_minus_linearized(data, list(cfg.widths_var), cfg.seeds_var, cfg.n_train_var, erf, gd)
        if stage == 1:
            gd_data = TrainConfig(learning_rate=cfg.rate_data_var, max_steps=cfg.steps_data_var, tol=0,
                                  eval_every=cfg.steps_data_var)
            return runs.data_minus_population(data, list(cfg.data_var), cfg.seeds_data_var, cfg.width_data_var, erf,
                                              gd_data)
        if stage == 2:
            return runs.resolution_sweep(data, list(cfg.data_res), [cfg.width_res], cfg.seeds_res, erf, res_cfg,
                                         cfg.n_test_res)
        return runs.resolution_sweep(data, [max(cfg.data_res)], list(cfg.widths_res), cfg.seeds_res, erf, res_cfg,
                                     cfg.n_test_res)


def resolution_inputs(cfg: FourRegimesConfig, index: int) -> tuple[Any, Any, Any]:
    """What the resolution-limited slices of Fig. 1a train on: the data set ``cfg.datasets[index]``, the erf
    architecture and the training configuration (Adam, cosine decay, the plateau rule)."""
    from scalinglab.models.mlp import Architecture, TrainConfig

    name = cfg.datasets[index]
    data = load_dataset(name, n=cfg.mnist1d_n if name == "mnist1d" else None, seed=0, standardise="feature")
    res_cfg = TrainConfig(optimizer="adam", learning_rate=3e-3, schedule="cosine", max_steps=cfg.steps_res,
                          tol=1e-4, patience=200, eval_every=50)
    return data, Architecture(**ERF), res_cfg


def run_four_regimes(out: Path, cfg: FourRegimesConfig, jobs: Jobs) -> RecipeResult:
    """The Fig. 1a experiments of ``cfg`` on each data set (jobs of ``jobs``), their fits, checks and figures."""
    from scalinglab.recipes.bahri import network_plots as plots

    keys = [(i, stage) for i in range(len(cfg.datasets)) for stage in range(len(STAGES))]
    results = dict(zip(keys, jobs.map("bahri-fig1a", four_regimes_job, cfg, keys, "data sets and regimes"),
                       strict=True))
    checks, notes, tables, figures = [], [], {}, {}
    for i, name in enumerate(cfg.datasets):
        wv, dv, rd, rw = (results[(i, stage)] for stage in range(len(STAGES)))
        wfit, wver, wsign = _variance_fit(wv["widths"].astype(float), wv["difference"])
        dfit, dver, dsign = _variance_fit(dv["data_sizes"].astype(float), dv["difference"])
        rdv = _verdict(rd["data_sizes"].astype(float), rd["loss"][:, :, 0], None)
        rwv = _verdict(rw["widths"].astype(float), rw["loss"][:, 0, :], None)
        if name == "digits":
            checks.append(check(f"{name}: variance-limited width, L(w) - L_lin(w) exponent (fit with a seed "
                                "bootstrap)", wfit.exponent, 1.0, 0.2, basis=BASIS_EXPONENT))
            checks.append(check(f"{name}: variance-limited data, L(D) - L(D = inf) exponent (small student)",
                                dfit.exponent, 1.0, 0.2, basis=BASIS_EXPONENT))
        for label, ver, expected in (("variance-limited width", wver, "variance_limited"),
                                     ("variance-limited data", dver, "variance_limited"),
                                     ("resolution-limited data", rdv, "resolution_limited"),
                                     ("resolution-limited width", rwv, "resolution_limited")):
            checks.append(_verdict_check(f"{name}: {label}", ver, expected))
        tables[f"{name}: fitted slices"] = [
            {"slice": "width, L - L_lin", "fixed": f"D = {cfg.n_train_var}", "exponent (offset 0)": wfit.exponent,
             "classifier exponent": wver.exponent, "verdict": wver.regime, "sign": wsign},
            {"slice": "data, L - L(D=inf)", "fixed": f"w = {cfg.width_data_var}", "exponent (offset 0)":
             dfit.exponent, "classifier exponent": dver.exponent, "verdict": dver.regime, "sign": dsign},
            {"slice": "data, L", "fixed": f"w = {cfg.width_res}", "exponent (offset 0)": "-",
             "classifier exponent": rdv.exponent, "verdict": rdv.regime, "sign": 1.0},
            {"slice": "width, L", "fixed": f"D = {max(cfg.data_res)}", "exponent (offset 0)": "-",
             "classifier exponent": rwv.exponent, "verdict": rwv.regime, "sign": 1.0}]
        figures[f"{name}: four regimes"] = plots.four_regimes_figure(
            name, wv, wfit, wsign, dv, dfit, dsign, rd, rdv, rw, rwv, out / f"bahri-four-regimes-{name}.png")
    notes += [
        "Variance-limited width: erf networks with two hidden layers, NTK parameterisation, full-batch gradient "
        "descent for a fixed number of steps; the linearised network (torch.func.jvp around the initial weights) is "
        "trained identically from the same initialisation and its test loss subtracted per initialisation. Each "
        "initialisation is paired with its mirror (readout layer negated, f_0 -> -f_0, same tangent kernel; "
        "Gaussian initialisations are symmetric under it), which cancels the part of L - L_lin odd in f_0 and "
        f"leaves the expectation unchanged. Widths {min(cfg.widths_var)}..{max(cfg.widths_var)}: the next-order "
        "term b/w^2 makes the slope shallower at small widths (0.90 over 32..362 on digits at twice this "
        "training time; w (L - L_lin) on MNIST-1D a third lower at w = 64 and 91 than from 128 on).",
        "Variance-limited data: the population is the empirical distribution of the data set, so a training set of D "
        "examples drawn with replacement is a multinomial weighting of its rows, and L(D = inf) is the loss of the "
        "same network trained on the whole distribution; test loss is the population loss. The networks are "
        f"trained by full-batch gradient descent at rate {cfg.rate_data_var:g} for {cfg.steps_data_var} steps (a "
        "smooth map from the row weights to the trained network; Adam's normalised steps are not), and each draw "
        "is paired with its mirror about the population (antithetic weights 2/n - counts/D), which cancels the "
        "first-order term of mean zero and size D^-1/2 that otherwise buries the 1/D mean at large D. Sizes start "
        f"at D = {min(cfg.data_var)}, above the student's parameter count (D >> P).",
        "Resolution-limited slices: losses with the offset fitted (regime classifier); variance-limited slices: "
        "the classifier with the known limit 0 of the difference (only amplitude and exponent fitted), on the "
        "seed mean with a bootstrap over seeds (fit.regimes.curve_verdict).",
    ]
    return RecipeResult(checks=checks, figures=figures, notes=notes, tables=tables)


def _verdict_check(label: str, ver: Any, expected: str) -> Check:
    """A check row for a regime verdict (``scaling_regime``): measured is the fitted exponent, predicted 1 (the
    variance-limited exponent). Variance-limited: the tolerance is the half of the 95% interval on the side of 1
    (so |exponent - 1| <= tolerance exactly when the interval contains 1); resolution-limited: the interval must
    lie strictly between 0 and 1 (the tolerance column holds the distance from 1 to the interval's upper end)."""
    lo, hi = ver.ci95
    name = f"{label}: regime classifier says {ver.regime} (95% interval of the exponent [{lo:.2f}, {hi:.2f}])"
    if expected == "variance_limited":
        side = hi - ver.exponent if ver.exponent < 1 else ver.exponent - lo
        return check(name, ver.exponent, 1.0, side if np.isfinite(side) else 0.0, ok=ver.regime == expected,
                     basis="the exponent's 95% interval (Student's t over seeds), on the side of 1")
    return check(name, ver.exponent, 1.0, 1.0 - hi if np.isfinite(hi) else 0.0, ok=ver.regime == expected,
                 basis="the exponent's 95% interval must lie strictly between 0 (no scaling) and 1 (variance-limited)")


register(Recipe("bahri-fig1a", PAPER, "Fig. 1a: four scaling regimes in trained networks on digits and MNIST-1D",
                four_regimes, aliases=("bahri-four-regimes-nn",)))


@dataclasses.dataclass(frozen=True)
class TeacherStudentConfig:
    dims: tuple[int, ...] = (2, 3, 4, 5, 6)
    data_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    student_width: int = 64
    teacher_width: int = 96
    teacher_activation: str = "tanh"
    seeds: int = 4
    steps: int = 3000
    rate: float = 1e-2
    n_test: int = 4000


QUICK_TS = TeacherStudentConfig()
STUDENT = {"depth": 2, "activation": "relu", "weight_variance": 2.0, "bias_variance": 0.1}  # Fig. 1b students
FULL_TS = TeacherStudentConfig(dims=(2, 3, 4, 5, 6, 7, 8, 9), data_sizes=(64, 128, 256, 512, 1024, 2048, 4096, 8192),
                               student_width=192, seeds=8, steps=40000, rate=3e-3)


def teacher_student_job(cfg: TeacherStudentConfig, d: int) -> dict[str, Any]:
    """The students of the hypercube teacher in dimension d (seeds as in ``runs.teacher_student``)."""
    from scalinglab.models.mlp import Architecture, TrainConfig
    from scalinglab.recipes.bahri import runs
    from scalinglab.tasks.hypercube import HypercubeTeacher

    task = HypercubeTeacher(d, width=cfg.teacher_width, activation=cfg.teacher_activation)
    # Small d means large alpha_D = 4/d: the largest D needs a lower training loss, so more steps.
    steps = int(cfg.steps * max(1.0, 4.0 / d))
    config = TrainConfig(optimizer="adam", learning_rate=cfg.rate, schedule="cosine", max_steps=steps,
                         tol=0, eval_every=max(steps // 40, 1))
    with runs.torch_threads(1):
        return runs.teacher_student(task, list(cfg.data_sizes), cfg.seeds, Architecture(**STUDENT),
                                    cfg.student_width, config, cfg.n_test)


def real_dimensions_job(real: Any, index: int) -> dict[str, Any]:
    """The students on the real data set ``real.datasets[index]`` and its intrinsic dimension
    (``dims.measure_numbers``)."""
    from scalinglab.models.mlp import Architecture
    from scalinglab.recipes.bahri import dims, runs

    with runs.torch_threads(1):
        return dims.measure_numbers(real.datasets[index], real, Architecture(**STUDENT))


def run_teacher_student(out: Path, cfg: TeacherStudentConfig, jobs: Jobs, real=None) -> RecipeResult:
    """Fig. 1b: alpha_D of deep students of a deep teacher on [-1, 1]^d for each d; 4/alpha_D against d; with
    ``real`` (a ``dims.RealDimsConfig``) the same students on real data against the estimated d."""
    from scalinglab.recipes.bahri import network_plots as plots

    checks, rows, curves, alphas, errors = [], [], {}, [], []
    results = jobs.map("bahri-fig1b", teacher_student_job, cfg, [(d,) for d in cfg.dims], "hypercube dimensions")
    for d, r in zip(cfg.dims, results, strict=True):
        fit = fit_power_law(r["data_sizes"].astype(float), r["loss"], offset=0.0, n_boot=500)
        alphas.append(fit.exponent)
        errors.append(fit.se["alpha"])
        curves[f"d = {d}"] = (r["data_sizes"], r["loss"], fit)
        checks.append(check(f"d = {d}: 4 / alpha_D against d (within 25%)", 4.0 / fit.exponent, float(d), 0.25,
                            relative=True, basis="the paper's 4/alpha_D ~ d, to 25%"))
        rows.append({"d": d, "alpha_D": fit.exponent, "ci95 low": fit.ci95["alpha"][0],
                     "ci95 high": fit.ci95["alpha"][1], "4/alpha_D": 4.0 / fit.exponent,
                     "largest final train loss": float(r["train_loss"].max())})
    if len(cfg.dims) >= 3:
        slope, intercept = np.polyfit(np.asarray(cfg.dims, float), 4.0 / np.asarray(alphas), 1)
        checks.append(check(f"4 / alpha_D against d over d = {cfg.dims[0]}..{cfg.dims[-1]}: slope of the least-squares "
                            f"line (intercept {intercept:.2f}) against the identity's 1", slope, 1.0, 0.25,
                            reason=f"measured 4/alpha_D = {slope:.2f} d + {intercept:.2f}: it rises more slowly "
                            "than d (the table of alpha_D per dimension)",
                            basis="the per-d 25% read as a slope (4/alpha_D = s d with s in [0.75, 1.25])"))
    measured = _real_dimensions(real, checks, curves, jobs) if real else []
    figures = {"4/alpha_D against d": plots.dimension_figure(cfg.dims, alphas, errors,
                                                            out / "bahri-teacher-student-4d.png", real=measured),
               "L(D) per d": plots.curves_figure("early-stopped test loss of the students", curves, "D",
                                                 out / "bahri-teacher-student-curves.png")}
    notes = [f"Teacher: {cfg.teacher_activation}, two hidden layers of width {cfg.teacher_width}, output scaled "
             f"to unit variance on the cube; students: ReLU, two hidden layers of width {cfg.student_width}, NTK "
             f"parameterisation, full-batch Adam at {cfg.rate:g} with cosine decay for {cfg.steps} x max(1, 4/d) "
             "steps; the test loss is the lowest evaluated (early stopping). alpha_D: pure power law over every D, "
             "bootstrap over seeds."]
    tables = {"alpha_D per dimension": rows}
    if real:
        from scalinglab.recipes.bahri import dims

        notes += [m["note"] for m in measured] + [dims.PROTOCOL.format(cfg=real)]
        tables["real data: 4/alpha_D against the intrinsic dimension"] = [dims.table_row(m) for m in measured]
    return RecipeResult(checks=checks, figures=figures, notes=notes, tables=tables)


def _real_dimensions(real, checks: list, curves: dict, jobs: Jobs) -> list[dict[str, Any]]:
    """The real-data points of Fig. 1b: each data set's check row goes to ``checks``, its curve to ``curves``."""
    from scalinglab.recipes.bahri import dims

    measured = []
    numbers = jobs.map("bahri-fig1b", real_dimensions_job, real, [(i,) for i in range(len(real.datasets))],
                       "real data sets")
    for raw in numbers:
        m = dims.measurement(raw)
        row, m["note"] = dims.bound_check(m)
        checks.append(row)
        curves[m["name"]] = (m["curve"]["data_sizes"], m["curve"]["loss"], m["fit"])
        measured.append(m)
    return measured


def teacher_student_4d(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import dims

    return run_teacher_student(Path(out), QUICK_TS if quick else FULL_TS, jobs,
                               real=dims.QUICK_REAL if quick else dims.FULL_REAL)


def superclass_noise(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import data

    return data.run_superclass_noise(Path(out), data.QUICK_SUPER if quick else data.FULL_SUPER, jobs)


def pretrained_duality(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import data

    return data.run_pretrained_duality(Path(out), data.QUICK_DUALITY if quick else data.FULL_DUALITY, jobs)


register(Recipe("bahri-fig1b", PAPER, "Fig. 1b: deep teacher-student on hypercubes and real data: 4/alpha_D against d",
                teacher_student_4d, aliases=("bahri-teacher-student-4d",)))
register(Recipe("bahri-fig3", PAPER, "Fig. 3: alpha_D with classes merged into superclasses and with input noise",
                superclass_noise, aliases=("bahri-superclass-noise",)))
register(Recipe("bahri-figS6", PAPER, "Figs. S6, S7: linear readouts on frozen features: L vs D and L vs P",
                pretrained_duality, aliases=("bahri-pretrained-duality",)))
