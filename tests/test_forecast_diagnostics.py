"""Diagnostics in every fit (fit.diagnostics): the condition number, the warnings for a degenerate design (fixed
tokens per parameter, too few distinct sizes, a parameter at a bound), and the across-law envelope. The narrow
IsoFLOP grid's warning is tested in test_isoflop.py (test_narrow_grid_is_warned)."""

from __future__ import annotations

import json

import numpy as np

from scalinglab.fit.diagnostics import collinear_columns, law_envelope
from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS

CHIN = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2100.0, "beta": 0.37}


def _chinchilla_data(N, D, seed=0, noise=0.003):
    X = np.column_stack([N, D])
    y = LAWS["chinchilla"](X, CHIN) * np.exp(noise * np.random.default_rng(seed).standard_normal(len(N)))
    return X, y


def test_fixed_tokens_per_parameter_is_warned_and_a_full_grid_is_not():
    N = np.geomspace(1e7, 1e10, 12)
    X, y = _chinchilla_data(N, 20 * N)
    fit = fit_law(LAWS["chinchilla"], X, y, n_boot=0)
    assert any("fixed tokens per parameter" in w for w in fit.warnings)
    assert fit.diagnostics["collinear_columns"] == [[1, 2]]
    Ng, Dg = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e10, 6), np.geomspace(1e9, 1e12, 6)))
    grid = fit_law(LAWS["chinchilla"], *_chinchilla_data(Ng, Dg), n_boot=0)
    assert not any("degenerate design" in w for w in grid.warnings)
    assert grid.diagnostics["collinear_columns"] == []
    # the fixed ratio leaves a direction of the parameters barely determined: a far larger condition number
    assert np.isfinite(grid.diagnostics["condition_number"])
    assert fit.diagnostics["condition_number"] > 100 * grid.diagnostics["condition_number"]


def test_collinear_columns_sees_a_power_not_just_a_ratio():
    N = np.geomspace(1e7, 1e10, 10)
    jitter = np.exp(0.3 * np.sin(np.arange(10)))  # within a factor e^0.3 = 1.35 of the line
    pairs = collinear_columns(np.column_stack([N, 3 * N**0.8 * jitter]))
    assert [(i, j) for i, j, _, _ in pairs] == [(0, 1)] and abs(pairs[0][2] - 0.8) < 0.1
    assert collinear_columns(np.column_stack([N, N * np.exp(np.arange(10) % 3)])) == []


def test_two_size_design_is_warned():
    N = np.repeat([1e8, 1e9], 6)
    D = np.tile(np.geomspace(1e9, 1e12, 6), 2)
    fit = fit_law(LAWS["chinchilla"], *_chinchilla_data(N, D), n_boot=0)
    assert any("only 2 distinct sizes in column 1" in w for w in fit.warnings)
    assert not any("column 2" in w for w in fit.warnings if "distinct sizes" in w)


def test_parameter_at_a_bound_is_warned():
    """L = 5 x^-0.5 - 0.03 needs a negative offset; the law's E >= 0 puts it at its bound."""
    x = np.geomspace(10, 1e4, 12)
    fit = fit_law(LAWS["power_law_offset"], x, 5 * x**-0.5 - 0.03, n_boot=0)
    assert any(w.startswith("E = ") and "sits at its bound 0" in w for w in fit.warnings)
    clean = fit_law(LAWS["power_law_offset"], x, 5 * x**-0.5 + 0.3, n_boot=0)
    assert not any("bound" in w for w in clean.warnings)


def test_diagnostics_are_in_the_fit_json_and_state_their_condition():
    N = np.geomspace(1e7, 1e10, 12)
    fit = fit_law(LAWS["chinchilla"], *_chinchilla_data(N, 20 * N), n_boot=0)
    d = json.loads(json.dumps(fit.to_dict()))["diagnostics"]
    assert d["intervals"] == "conditional on the law chinchilla"
    assert d["condition_number"] > 0 and d["collinear_columns"] == [[1, 2]]


def test_law_envelope_spans_the_near_laws_and_drops_the_far_one():
    x = np.geomspace(10, 2e3, 30)
    y = (1 + 5 * x**-0.5) * np.exp(0.002 * np.random.default_rng(0).standard_normal(x.size))
    fits = {name: fit_law(LAWS[name], x, y, loss="ls", n_boot=100) for name in ("power_law_offset", "variance_limited",
                                                                                "power_law")}
    scores = {"power_law_offset": 0.010, "variance_limited": 0.0105, "power_law": 0.05}
    far = np.geomspace(3e3, 1e5, 5)
    env = law_envelope(fits, scores, far)
    assert env["laws"] == ["power_law_offset", "variance_limited"]
    for name in env["laws"]:
        lo, hi = fits[name].band(far, prediction=True)
        assert np.all(env["lower"] <= lo) and np.all(env["upper"] >= hi)
    lo_pl, _ = fits["power_law"].band(far, prediction=True)
    assert np.any(lo_pl < env["lower"])  # no offset: it forecasts lower losses, outside the envelope
