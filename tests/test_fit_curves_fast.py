"""The fast free-offset search (matrix-product grid stage, exp of log sizes, fixed golden-section steps) against
the straightforward one it replaced (``fit.profile.profile_rows`` at every grid point, the search run while the
widest bracket exceeds 1e-8), on random slices; and the bootstrap draws against one call of ``integers`` per
resample."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.fit import profile
from scalinglab.fit.curves import fit_power_law
from scalinglab.fit.profile import ALPHA_GRID as _ALPHA_GRID
from scalinglab.fit.profile import fit_free_offset_rows as _fit_free_offset_rows
from scalinglab.fit.profile import profile_rows as _profile_rows


def _reference(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The search as it was: the exact profile at every grid point, then golden sections to a 1e-8 bracket."""
    m, grid = Y.shape[0], _ALPHA_GRID
    cost, _, _ = _profile_rows(x, Y, np.broadcast_to(grid, (m, grid.size)))
    k = np.argmin(cost, axis=1)
    lo, hi = grid[np.maximum(k - 1, 0)], grid[np.minimum(k + 1, grid.size - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = _profile_rows(x, Y, c[:, None])[0][:, 0], _profile_rows(x, Y, d[:, None])[0][:, 0]
    while np.max(hi - lo) > 1e-8:
        left = fc < fd
        hi, lo = np.where(left, d, hi), np.where(left, lo, c)
        probe = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        fp = _profile_rows(x, Y, probe[:, None])[0][:, 0]
        c, d, fc, fd = (np.where(left, probe, d), np.where(left, c, probe),
                        np.where(left, fp, fd), np.where(left, fc, fp))
    alpha = 0.5 * (lo + hi)
    _, E, A = _profile_rows(x, Y, alpha[:, None])
    return np.column_stack([E[:, 0], A[:, 0], alpha])


def _slices(seed: int, n: int = 60):
    """Bootstrap means of random slices: offset, amplitude, exponent and noise drawn, some with E near 0 (the
    bound), some steep (exponents near the top of the grid), some with few sizes."""
    rng = np.random.default_rng(seed)
    for _ in range(4):
        nx = int(rng.integers(4, 40))
        x = np.unique(np.round(np.geomspace(rng.uniform(8, 300), rng.uniform(2e3, 1e6), nx)))
        E = rng.choice([0.0, rng.uniform(0.01, 0.5)])
        alpha = rng.uniform(0.05, 3.8)
        y = (E + rng.uniform(0.5, 5.0) * (x / x[0]) ** -alpha) * np.exp(rng.uniform(0.001, 0.05)
                                                                        * rng.standard_normal((8, x.size)))
        yield x, y[rng.integers(0, 8, (n, 8))].mean(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_search_equals_the_straightforward_one(seed):
    """Both converge to the minimum of the same profile to a 1e-8 bracket, so alpha agrees to 1e-8 (the bracket)
    wherever the profile's curvature lets its rounding (~1e-16 of the cost per comparison) decide the comparisons;
    where the minimum is so flat that the exact costs at the two answers tie to 1e-12 (steep, weakly determined
    exponents), neither search can tell them apart and the answers may differ by more, at equal cost. E and A follow
    from alpha through the same closed form. The grid stage's expanded cost differs from the exact one by ~1e-16 n
    relative: it can pick the neighbouring grid point only when the two costs tie to that precision, and then the
    minimum lies between them, inside both brackets, so the refined minimum is the same."""
    for x, Y in _slices(seed):
        fast, ref = _fit_free_offset_rows(x, Y), _reference(x, Y)
        cost_fast = _profile_rows(x, Y, fast[:, 2:3])[0][:, 0]
        cost_ref = _profile_rows(x, Y, ref[:, 2:3])[0][:, 0]
        tie = np.abs(cost_fast - cost_ref) <= 1e-12 * cost_ref
        assert np.all((np.abs(fast[:, 2] - ref[:, 2]) < 2e-8) | tie)
        assert np.max(np.abs(fast[:, 2] - ref[:, 2])) < 1e-6
        assert np.all(cost_fast <= cost_ref * (1 + 1e-12))  # never a worse minimum


def test_rows_are_independent_of_the_batch():
    """A row's fit does not depend on which rows are fitted with it (the steps are fixed, not the widest
    bracket's), so slices can be fitted together or apart."""
    (x, Y), = list(_slices(5, n=40))[:1]
    together = _fit_free_offset_rows(x, Y)
    apart = np.vstack([_fit_free_offset_rows(x, Y[i:i + 7]) for i in range(0, len(Y), 7)])
    assert np.array_equal(together, apart)


def test_bootstrap_draws_are_those_of_one_call_per_resample():
    """``integers(0, n, (B, n))`` gives the draws of B calls of ``integers(0, n, n)``, and the mean over the drawn
    seeds is taken the same way, so the resamples (hence the intervals) are bit for bit those of the loop."""
    rng = np.random.default_rng(3)
    y = rng.uniform(0.5, 1.5, (5, 7))
    r = np.random.default_rng(9)
    loop = np.array([y[r.integers(0, 5, 5)].mean(axis=0) for _ in range(300)])
    r = np.random.default_rng(9)
    assert np.array_equal(y[r.integers(0, 5, (300, 5))].mean(axis=1), loop)


def test_free_offset_fit_with_bootstrap_matches_the_reference(monkeypatch):
    """The whole fit (point estimate and 95% interval, both from the engine's profile solver) with the fast search
    equals the one with the reference search to 1e-8 in alpha."""
    x, Y = next(_slices(7))
    y = Y[:6]  # six "seeds"
    fast = fit_power_law(x, y, offset=None, n_boot=200, rng=np.random.default_rng(0))
    monkeypatch.setattr(profile, "fit_free_offset_rows", _reference)
    ref = fit_power_law(x, y, offset=None, n_boot=200, rng=np.random.default_rng(0))
    assert abs(fast.params["alpha"] - ref.params["alpha"]) < 2e-8  # the point estimate: the same search
    assert np.allclose(fast.ci95["alpha"], ref.ci95["alpha"], rtol=0, atol=2e-8)
    assert abs(fast.se["alpha"] - ref.se["alpha"]) < 2e-8
