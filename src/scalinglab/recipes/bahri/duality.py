"""Recipe ``bahri-fig2b-manifolds`` (alias ``bahri-duality``): Fig. 2b's comparison in the exactly solvable
teacher-student setting, alpha_D and alpha_P of kernel random features on d-dimensional manifolds (d = 2, 3, 4,
6) beside the spectrum prediction alpha_K, the kappa/gamma curve and the 4/d of Bahri et al.'s Theorems 2-3.

Task: a torus of dimension d rotated into R^16; the teacher is a Gaussian-process draw with the student's own
kernel (the NNGP of a depth-2 ReLU network), and losses are averaged over teachers exactly (``models.kernel_ridge``),
so that alpha_D = alpha_P = alpha_K is the theory's prediction without a target-dependent correction.

- alpha_K: the NNGP eigenvalues of K / N on independent samples of N points (reliable to about index N / 10),
  the median of power-law fits over the windows [lo, N / 10], lo = 5, 10, 20, 40. On a torus the eigenvalues come
  in groups of equal value (Fourier modes of equal frequency), more so as d grows, so a fit over one window depends
  on where it starts relative to the steps (by up to 0.3 at d = 4 and 6 with N = 4000); the interval spans the
  windows;
- alpha_K over the D range: the exponent of the tail mass T(i) = sum_{j >= i} lambda_j over the indices i in
  [D_min, D_max] that the measured D range probes (``theory.spectra.kernel_tail_mass``, with its finite-sample
  correction; reliable to N / 10, so D_max <= N / 10). The spectrum is not one power law: at d = 2 its local
  exponent falls from 1.74 over indices [10, 100] to 1.50 (= 3/d) beyond 1000 (the exact torus spectrum, by FFT),
  so a fit from index 5 predicts a steeper curve than the D range shows; the tail mass also spans the staircase;
- alpha_D: the exact kernel (P = infinity), D in [D_min, D_max], a decade;
- alpha_P: random features (the finite network of width P) at D = ``rf_data``, P <= D / 8, against alpha_K;
- d from TwoNN (scikit-dimension) with a bootstrap interval and a scale check; 4/d is the exponent of a target smooth
  to second order, an upper reference for this teacher, whose smoothness is that of the ReLU kernel (alpha_K ~ 3/d).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.fit.curves import fit_power_law
from scalinglab.models.kernel_ridge import KernelRidge
from scalinglab.recipes import Recipe, RecipeResult, check, register
from scalinglab.recipes.bahri.common import (
    BASIS_DIMENSION,
    BASIS_DUALITY,
    BASIS_THEORY,
    PAPER,
    TOL_DIMENSION,
    TOL_DUALITY,
    TOL_THEORY,
    ci_text,
    curves,
    fit_exponent,
)
from scalinglab.sweep.jobs import Jobs
from scalinglab.tasks.manifold import ManifoldTask
from scalinglab.theory.geometry import IntrinsicDimension, intrinsic_dimension
from scalinglab.theory.spectra import (
    complete_tail,
    fit_spectrum_windows,
    fit_tail_mass,
    kernel_tail_mass,
    learning_curve_theory,
)

# why the kappa/gamma level check may fail at small d (measured with the exact torus spectrum, by FFT: the measured
# curve over the theory is 1.35-1.5 at d = 2, 1.13 at d = 3, 1.05 at d = 4, 1.01 at d = 6, at every D from 40 to
# 1600, and falls to 1.01-1.03 at d = 2, D = 200-800, when a relative ridge of 0.1 dominates kappa)
LEVEL_GAP = ("the measured curve is {ratio:.2f} times the theory at every D while the slopes agree: the kappa/gamma "
             "theory treats the eigenfunctions as Gaussian, which holds as the intrinsic dimension grows; ridgeless "
             "regression on a d = {d} manifold is set by the local gaps between training points, and the theory's "
             "prefactor is too low there (Tomasini, Sclocchi and Wyart 2022); the gap falls with d, and to a few "
             "percent when a ridge dominates kappa")


@dataclasses.dataclass(frozen=True)
class DualityConfig:
    dims: tuple[int, ...]
    ambient: int
    d_min: int
    d_max: int
    d_points: int
    p_points: int
    seeds: int
    n_test: int
    spectrum_n: int
    spectra: int
    geometry_n: int
    n_boot: int
    rf_data: int  # D of the random-feature sweep in P

    def __post_init__(self) -> None:
        if 10 * self.d_max > self.spectrum_n:
            raise SpecError(f"spectrum_n: {self.spectrum_n} points resolve the spectrum to index "
                            f"{self.spectrum_n // 10}, below d_max = {self.d_max}; need spectrum_n >= 10 d_max")


QUICK = DualityConfig(dims=(2, 3, 4, 6), ambient=16, d_min=40, d_max=400, d_points=5, p_points=4, seeds=3,
                      n_test=400, spectrum_n=4000, spectra=2, geometry_n=3000, n_boot=20, rf_data=1600)
FULL = DualityConfig(dims=(2, 3, 4, 6), ambient=16, d_min=80, d_max=800, d_points=8, p_points=6, seeds=6,
                     n_test=1000, spectrum_n=8000, spectra=3, geometry_n=16000, n_boot=100, rf_data=6400)


def manifold_job(config: DualityConfig, d: int) -> dict[str, Any]:
    """The job of one intrinsic dimension d: learning curves (per seed; seed s draws from default_rng([s, 11])),
    NNGP spectra and tail masses, the kappa/gamma curve and the TwoNN estimate (default_rng([d, 3]))."""
    task = ManifoldTask(manifold="torus", intrinsic_dim=d, ambient_dim=config.ambient, target="student_kernel",
                        n_fourier=16)
    exact = KernelRidge(depth=2, features="exact", ridge=1e-8, n_test=config.n_test)
    rf = dataclasses.replace(exact, features="random")
    ds, ps = _sizes(config)
    kern = curves(exact, task, ds, [0], config.seeds)
    feat = curves(rf, task, [config.rf_data], ps, config.seeds)
    rng = np.random.default_rng([d, 3])
    spectra, tails = zip(*(kernel_tail_mass(exact.gram(task.sample(config.spectrum_n, rng)[0]))
                           for _ in range(config.spectra)), strict=True)
    spectra, tails = np.array(spectra), np.array(tails)
    # the kappa/gamma curve: sample eigenvalues to N/10, then the power law of the tail mass over the last decade
    # resolved, whose total mass beyond N/10 is the measured one (the trace counts every eigenvalue)
    hi = config.spectrum_n // 10
    lam = complete_tail(spectra.mean(0), fit_tail_mass(tails, (hi // 10, hi), n_boot=0), 100 * config.spectrum_n)
    theory = learning_curve_theory(lam, lam, ds)
    X, _ = task.sample(config.geometry_n, rng)
    geom = intrinsic_dimension(X, "twonn", n_boot=config.n_boot, rng=rng)
    return {"kernel": np.array([kern[(x, 0)] for x in ds]), "rf": np.array([feat[(config.rf_data, p)] for p in ps]),
            "spectra": spectra, "tails": tails, "theory": np.asarray(theory), "geometry": geom.to_dict()}


def _sizes(config: DualityConfig) -> tuple[list[int], list[int]]:
    ds = sorted({int(v) for v in np.geomspace(config.d_min, config.d_max, config.d_points)})
    ps = sorted({int(v) for v in np.geomspace(config.rf_data // 64, config.rf_data // 8, config.p_points)})
    return ds, ps


def manifold_panel(config: DualityConfig, d: int, raw: dict[str, Any]) -> dict[str, Any]:
    """Every number of one intrinsic dimension d from its job's result: the fits (bootstraps from
    default_rng(0))."""
    ds, ps = _sizes(config)
    kern, rf, spectra, tails, theory = raw["kernel"], raw["rf"], raw["spectra"], raw["tails"], raw["theory"]
    alpha_d = fit_exponent(ds, list(kern))
    alpha_p = fit_exponent(ps, list(rf))
    spec = fit_spectrum_windows(spectra)  # median over the windows [lo, N/10], lo = 5, 10, 20, 40
    tail = fit_tail_mass(tails, (ds[0], ds[-1]), n_boot=500, rng=np.random.default_rng(0))
    theory_fit = fit_power_law(np.array(ds, float), theory, offset=0.0, n_boot=0)
    g = raw["geometry"]
    geom = IntrinsicDimension(value=g["value"], ci95=tuple(g["ci95"]), method=g["method"], n=g["n"],
                              scale=tuple(tuple(s) for s in g["scale"]))
    return {"d": d, "ds": ds, "ps": ps, "rf_data": config.rf_data, "kernel": kern.mean(1), "rf": rf.mean(1),
            "alpha_D": alpha_d, "alpha_P": alpha_p, "spectrum": spec, "tail": tail, "spectra": spectra,
            "theory": theory, "theory_alpha": theory_fit.exponent, "geometry": geom}


def run_duality(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.bahri import plots

    config = QUICK if quick else FULL
    raw = jobs.map("bahri-duality", manifold_job, config, [(d,) for d in config.dims], "intrinsic dimensions")
    panels = [manifold_panel(config, d, r) for d, r in zip(config.dims, raw, strict=True)]
    checks, rows = [], []
    for p in panels:
        d, k, g = p["d"], p["spectrum"].alpha, p["geometry"]
        checks.append(check(f"d = {d}: TwoNN intrinsic dimension (n = {g.n}) within 10% of d", g.value, d,
                            TOL_DIMENSION, relative=True, basis=BASIS_DIMENSION))
        t = p["tail"]
        checks.append(check(f"d = {d}: alpha_D (D in [{p['ds'][0]}, {p['ds'][-1]}]) vs alpha_K of the spectrum's tail "
                            "mass over the same indices", p["alpha_D"]["alpha"], t.alpha, TOL_DUALITY,
                            basis=BASIS_DUALITY))
        checks.append(check(f"d = {d}: alpha_P (D = {p['rf_data']}, P in [{p['ps'][0]}, {p['ps'][-1]}]) vs "
                            "spectrum alpha_K", p["alpha_P"]["alpha"], k, TOL_DUALITY, basis=BASIS_DUALITY))
        checks.append(check(f"d = {d}: alpha_D vs slope of the kappa/gamma theory curve over the same D",
                            p["alpha_D"]["alpha"], p["theory_alpha"], TOL_DUALITY, basis=BASIS_DUALITY))
        logs = np.log(p["kernel"] / p["theory"])
        checks.append(check(f"d = {d}: kernel learning curve vs kappa/gamma theory, mean |log ratio|",
                            float(np.mean(np.abs(logs))), 0.0, TOL_THEORY, reason=LEVEL_GAP.format(
                                ratio=float(np.exp(np.mean(logs))), d=d), basis=BASIS_THEORY))
        bound = 4.0 / g.value
        checks.append(check(f"d = {d}: alpha_D at most 4/d (d from TwoNN) plus the tolerance", p["alpha_D"]["alpha"],
                            bound, TOL_DUALITY, ok=bool(p["alpha_D"]["alpha"] <= bound + TOL_DUALITY),
                            basis=BASIS_DUALITY))
        rows.append({"d": d, "TwoNN d": g.value, "d ci95": ci_text(g.ci95), "alpha_K": k,
                     "alpha_K ci95": ci_text(p["spectrum"].ci95), "alpha_K tail [D range]": p["tail"].alpha,
                     "tail ci95": ci_text(p["tail"].ci95), "alpha_D": p["alpha_D"]["alpha"],
                     "alpha_D ci95": ci_text(p["alpha_D"]["ci95"]), "alpha_P": p["alpha_P"]["alpha"],
                     "alpha_P ci95": ci_text(p["alpha_P"]["ci95"]), "theory slope": p["theory_alpha"],
                     "4/d": bound, "3/d": 3.0 / d})
    figures = {"alpha_D and alpha_P against alpha_K and 4/d": plots.duality_exponents(
                   panels, out / "bahri_duality_exponents.png"),
               "learning curves and theory": plots.duality_curves(panels, out / "bahri_duality_curves.png")}
    notes = [
        "Torus of dimension d in R^16 (random rotation); teacher f ~ GP(0, K) with K the NNGP of the student (depth-2 "
        "ReLU, weight variance 2), losses averaged over teachers exactly; ridge 1e-8 relative to the Gram diagonal.",
        f"alpha_K: median of power-law fits over the index windows [lo, N/10], lo = 5, 10, 20, 40, of the mean "
        f"spectrum of {config.spectra} independent samples of N = {config.spectrum_n} points; its interval spans "
        "every window's bootstrap interval (over the samples) and the spread between windows, which dominates: the "
        "torus spectrum is a staircase of equal-eigenvalue groups. alpha_P is checked against it.",
        f"alpha_D is checked against the exponent of the tail mass T(i) = sum_(j >= i) lambda_j over the indices "
        f"[D_min, D_max] = [{config.d_min}, {config.d_max}] that the D range probes (T(i) is the trace minus the "
        "leading eigenvalues, extrapolated from N and N/2 points to remove the sample's overfit of its leading "
        "eigenvalues; reliable to N/10, hence D_max <= N/10). A learning curve at D is the mass of the modes beyond "
        "about D, so the local exponents agree even where the spectrum is not one power law: at d = 2 its local "
        "exponent falls from 1.74 over indices [10, 100] to 1.50 = 3/d beyond 1000, and a fit from index 5 "
        "overestimates the exponent of any D range above 100. The kappa/gamma curve uses the mean sample spectrum to "
        "N/10, then the power law of the tail mass over [N/100, N/10], whose mass beyond N/10 is the measured one.",
        "The kappa/gamma theory's level: the measured curve lies above it by a factor that falls with d (about 1.4 "
        "at d = 2, 1.13 at d = 3, 1.05 at d = 4, 1.01 at d = 6, computed beside the exact torus spectrum) while "
        "the slopes agree. The theory treats the eigenfunctions as Gaussian; ridgeless regression on a manifold of "
        "low dimension is set by the local gaps between training points instead (Tomasini, Sclocchi and Wyart "
        "2022). With a ridge that dominates kappa (0.1 relative) the factor at d = 2 is 1.01-1.03. A failing "
        "level check says so "
        "in summary.json (key reason).",
        "The ReLU NNGP is not smooth where x = x' (its angular expansion has a |theta|^3 term), so its eigenvalues on "
        "a d-dimensional manifold decay as i^-(1 + 3/d): alpha_K ~ 3/d, below the 4/d that Bahri et al. derive for "
        "targets smooth to second order. 4/d is therefore an upper reference here, and 3/d is listed beside it.",
    ]
    return RecipeResult(checks=checks, figures=figures, notes=notes, tables={"exponents": rows})


register(Recipe("bahri-fig2b-manifolds", PAPER, "Fig. 2b on manifolds: alpha_D and alpha_P of kernel random features "
                "on d-dimensional manifolds against the spectrum, the kappa/gamma theory and 4/d", run_duality,
                aliases=("bahri-duality",)))
