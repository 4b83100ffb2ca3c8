"""Slice fits of `fit --store` and `report`: the bootstrap of L = E + A x^-alpha with a free offset over seeds.

In one run, on the same resampled seed means (300 resamples of 8 seeds x 8 sizes, E + A x^-alpha with noise):

- ours      ``fit.curves._fit_free_offset_rows``: the alpha grid and a golden-section search vectorised over all
            resamples at once;
- baseline  ``fit.curves._fit_free_offset`` once per resample (the grid, then scipy's bounded scalar search),
            the loop it replaces;

with the largest difference of the fitted (E, A, alpha), and then ``report.analysis.analyse`` on the
teacher-student example (11 x 11 grid, 4 seeds), timed whole.

    python benchmarks/bench_slices.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of, machine_info

from scalinglab.fit.curves import _fit_free_offset, _fit_free_offset_rows
from scalinglab.report.analysis import analyse
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import load_spec
from scalinglab.sweep.store import Store

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_info())
    rng = np.random.default_rng(1)
    x = np.geomspace(16, 1024, 8)
    seeds = 0.1 + 2 * x[None, :] ** -0.6 * np.exp(0.05 * rng.standard_normal((8, 8)))
    means = np.array([seeds[rng.integers(0, 8, 8)].mean(axis=0) for _ in range(300)])
    t_loop, loop = best_of(lambda: np.array([_fit_free_offset(x, m) for m in means]), args.repeats)
    t_ours, ours = best_of(lambda: _fit_free_offset_rows(x, means), args.repeats)
    diff = np.abs(loop - ours).max(axis=0)
    print(f"free-offset bootstrap, 300 refits: loop {t_loop:.3f} s, vectorised {t_ours:.3f} s, "
          f"ratio {t_loop / t_ours:.1f}x; max |diff| E {diff[0]:.1e}, A {diff[1]:.1e}, alpha {diff[2]:.1e}")
    spec = load_spec(ROOT / "examples" / "teacher-student.toml")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.db") as store:
        run_sweep(spec, store, workers=1)
        stored, ms = store.spec_of(spec.name), store.measurements(spec.name)
        t_an, _ = best_of(lambda: analyse(stored, ms), args.repeats)
    print(f"analyse (fit --store / report), teacher-student example, {len(ms)} points: {t_an:.2f} s")


if __name__ == "__main__":
    main()
