"""Slice fits of `fit --store`, `report` and the recipes: the power law over seeds, its bootstrap, on the engine.

In one run, through the public front-ends only (so the same script times any version of the package):

- 300 free-offset refits of one slice (8 seeds x 8 sizes, E + A x^-alpha with noise): ``fit_power_law(offset=
  None, n_boot=300)`` (the engine's profile solver: the alpha grid and a golden-section search vectorised over all
  resamples) against the loop it replaced (per resample, the grid then scipy's bounded scalar search on the same
  profile), with the largest difference of the bootstrap intervals;
- ``fit_power_law(offset=0, n_boot=500)`` on 8 seeds x 12 sizes, the recipes' pure power law, 20 calls;
- ``fit_power_laws`` of 200 slices (4 seeds x 8 sizes each, free offset, 100 resamples), the batch of ``report``;
- ``report.analysis.analyse`` on the teacher-student example (11 x 11 grid, 4 seeds), timed whole.

    python benchmarks/bench_slices.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, machine_info
from scipy import optimize

from scalinglab.fit.curves import fit_power_law, fit_power_laws
from scalinglab.report.analysis import analyse
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import load_spec
from scalinglab.sweep.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _cost(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The profile at one alpha, written out: (cost, E, A) of the relative residuals, 0 <= E <= max y."""
    w = 1.0 / y
    b = x**-alpha * w
    saa, sbb, sab, sa1, sb1 = w @ w, b @ b, b @ w, w.sum(), b.sum()
    det = saa * sbb - sab**2
    E = (sbb * sa1 - sab * sb1) / det
    A = (saa * sb1 - sab * sa1) / det
    if not np.isfinite(E) or E < 0 or E > y.max():
        E = float(np.clip(np.nan_to_num(E), 0.0, y.max()))
        A = (sb1 - E * sab) / sbb
    return float(np.sum((E * w + A * b - 1.0) ** 2)), E, A


def _grid_cost(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``_cost`` at every exponent of a grid in one numpy call."""
    w = 1.0 / y
    b = x[None, :] ** -alphas[:, None] * w
    saa, sbb, sab, sa1, sb1 = w @ w, np.sum(b * b, axis=1), b @ w, w.sum(), b.sum(axis=1)
    det = saa * sbb - sab**2
    E = (sbb * sa1 - sab * sb1) / det
    A = (saa * sb1 - sab * sa1) / det
    clip = ~np.isfinite(E) | (E < 0) | (E > y.max())
    E = np.where(clip, np.clip(np.nan_to_num(E), 0.0, y.max()), E)
    A = np.where(clip, (sb1 - E * sab) / sbb, A)
    return np.sum((E[:, None] * w + A[:, None] * b - 1.0) ** 2, axis=1)


def _loop(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The baseline: per resample, the grid of 200 exponents, then scipy's bounded scalar search."""
    grid = np.linspace(0.01, 4.0, 200)
    out = []
    for y in means:
        k = int(np.argmin(_grid_cost(x, y, grid)))
        res = optimize.minimize_scalar(lambda a, y=y: _cost(x, y, a)[0], method="bounded",
                                       bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
                                       options={"xatol": 1e-8})
        out.append((_cost(x, y, res.x)[1], _cost(x, y, res.x)[2], res.x))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_info())
    rng = np.random.default_rng(1)
    x = np.geomspace(16, 1024, 8)
    seeds = 0.1 + 2 * x[None, :] ** -0.6 * np.exp(0.05 * rng.standard_normal((8, 8)))
    means = seeds[np.random.default_rng(0).integers(0, 8, (300, 8))].mean(axis=1)  # fit_power_law's resamples
    t_loop, loop = best_of(lambda: _loop(x, means), args.repeats)
    t_ours, ours = best_of(lambda: fit_power_law(x, seeds, offset=None, n_boot=300, rng=np.random.default_rng(0)),
                           args.repeats)
    lo, hi = np.percentile(loop, [2.5, 97.5], axis=0)
    diff = max(abs(lo[2] - ours.ci95["alpha"][0]), abs(hi[2] - ours.ci95["alpha"][1]))
    print(f"free-offset bootstrap, 300 refits: loop {t_loop:.3f} s, fit_power_law {t_ours:.3f} s, "
          f"ratio {t_loop / t_ours:.1f}x; max |diff| of the alpha interval {diff:.1e}")
    x12 = np.geomspace(16, 4096, 12)
    y12 = 2 * x12**-0.4 * np.exp(0.05 * rng.standard_normal((8, 12)))
    t_zero, _ = best_of(lambda: [fit_power_law(x12, y12, offset=0.0, n_boot=500) for _ in range(20)], args.repeats)
    print(f"fit_power_law, pure power law, 8 seeds x 12 sizes, 500 resamples: {1000 * t_zero / 20:.2f} ms per fit")
    ys = [(0.05 * (k % 7) + 2 * x**-0.6) * np.exp(0.05 * rng.standard_normal((4, 8))) for k in range(200)]
    t_many, _ = best_of(lambda: fit_power_laws(x, ys, offset=None, n_boot=100), args.repeats)
    print(f"fit_power_laws, 200 slices, free offset, 100 resamples each: {t_many:.3f} s")
    spec = load_spec(ROOT / "examples" / "teacher-student.toml")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.db") as store:
        run_sweep(spec, store, workers=1)
        stored, ms = store.spec_of(spec.name), store.measurements(spec.name)
        t_an, _ = best_of(lambda: analyse(stored, ms), args.repeats)
    print(f"analyse (fit --store / report), teacher-student example, {len(ms)} points: {t_an:.2f} s")


if __name__ == "__main__":
    main()
