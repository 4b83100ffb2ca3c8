"""Measured, fitted and predicted side by side for one experiment: the content of fits.json and the report."""

from __future__ import annotations

from typing import Any

import numpy as np

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.fit.curves import fit_power_law
from scalinglab.fit.regimes import curves, fit_regime, fit_slices
from scalinglab.theory.bahri import four_regimes


def _limit_curve(measurements: list[Measurement], key: str, axis: str, sizes: list[int], floor: float,
                 n_boot: int) -> dict[str, Any] | None:
    """Exponent of a closed-form limit curve, L(D, P = inf) against D or L(D = inf, P) against P."""
    table: dict[int, dict[int, float]] = {}
    for m in measurements:
        if key in m.extra:
            x = m.data_size if axis == "data" else m.model_size
            table.setdefault(m.seed, {})[x] = m.extra[key]
    rows = [[t[x] for x in sizes] for t in table.values() if all(x in t for x in sizes)]
    if not rows or len(sizes) < 3:
        return None
    fit = fit_power_law(np.array(sizes), np.array(rows), offset=floor, n_boot=n_boot)
    return {"exponent": fit.exponent, "ci95": list(fit.ci95["alpha"]), "fit": fit.to_dict()}


def analyse(spec: dict[str, Any], measurements: list[Measurement], n_boot: int = 1000) -> dict[str, Any]:
    """Fit the four regimes (and every slice) of a teacher-student random-feature experiment.

    ``spec`` is the stored spec (a dict). Returns the fits.json content.
    """
    if not measurements:
        raise DataError(f"experiment {spec.get('name')!r}: no measurements stored yet; run it first")
    task = spec["task"]
    if task.get("kind") != "teacher_student":
        raise DataError(f"task.kind {task.get('kind')!r}: the four-regime analysis needs teacher_student")
    ds = sorted({m.data_size for m in measurements})
    ps = sorted({m.model_size for m in measurements})
    alpha, noise = float(task["spectrum_exponent"]), float(task.get("noise", 0.0))
    rng = np.random.default_rng(0)
    regimes = {}
    problems = []
    for regime in four_regimes(ds, ps, alpha, noise):
        try:
            regimes[regime.name] = fit_regime(measurements, regime, n_boot=n_boot, rng=rng).to_dict()
        except DataError as err:
            problems.append(str(err))
    seeds = sorted({m.seed for m in measurements})
    return {
        "experiment": spec.get("name"),
        "spectrum_exponent": alpha,
        "noise": noise,
        "n_seeds": len(seeds),
        "grid": {"data": ds, "size": ps},
        "regimes": regimes,
        "limit_curves": {
            "model_limit_vs_data": _limit_curve(measurements, "loss_model_limit", "data", ds, noise**2, n_boot // 4),
            "data_limit_vs_model": _limit_curve(measurements, "loss_data_limit", "model", ps, noise**2, n_boot // 4),
        },
        "slices": {
            "vs_data": fit_slices(measurements, "data", ds, ps, limit="loss_data_limit"),
            "vs_model": fit_slices(measurements, "model", ds, ps, limit="loss_model_limit"),
        },
        "problems": problems,
    }


def seed_summary(measurements: list[Measurement], axis: str, fixed: int, xs: list[int],
                 subtract: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 16th/84th percentiles over seeds of a slice, widened to contain the mean (for error bars)."""
    y = curves(measurements, axis, fixed, tuple(xs), subtract)
    if y.shape[0] == 0:
        empty = np.array([])
        return empty, empty, empty, empty
    mean = y.mean(axis=0)
    lo, hi = np.percentile(y, [16, 84], axis=0)
    return np.array(xs, dtype=float), mean, np.minimum(lo, mean), np.maximum(hi, mean)
