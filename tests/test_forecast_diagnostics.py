"""Diagnostics in every fit (fit.diagnostics): the condition number, the warnings for a degenerate design (fixed
tokens per parameter, too few distinct sizes, a parameter at a bound), and the across-law envelope. The narrow
IsoFLOP grid's warning is tested in test_isoflop.py (test_narrow_grid_is_warned)."""

from __future__ import annotations

import json

import numpy as np
import pytest

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


def test_near_laws_are_those_within_the_tolerance_of_the_best():
    from scalinglab.fit.diagnostics import NEAR_TOLERANCE, near_laws

    scores = {"a": 0.020, "b": 0.0215, "c": 0.03, "d": float("inf")}
    assert near_laws(scores) == ["a", "b"]
    assert near_laws(scores, tolerance=1.6) == ["a", "b", "c"]
    assert near_laws({"a": 0.02, "b": 0.02 * NEAR_TOLERANCE * 1.01}) == ["a"]
    assert near_laws({}) == []


def test_auto_fit_states_the_envelope_of_the_laws_that_fit_about_as_well():
    """Data from a power law with an offset: the offset law and the more flexible candidates fit to within the
    noise, so `fit --form auto` fits them with the same bootstrap and states the envelope of their prediction
    intervals one decade past the data, which holds the chosen law's own interval."""
    from scalinglab.fit.diagnostics import FORECAST_FACTOR
    from scalinglab.fit.pipeline import analyse

    x = np.geomspace(1e2, 1e5, 12)
    y = (0.8 + 12 * x**-0.35) * np.exp(0.01 * np.random.default_rng(0).standard_normal(x.size))
    a = analyse({"x": x, "loss": y}, "loss", ["x"], loss="ls", bootstrap=100, extras=False)
    env = a.result["envelope"]
    assert a.fit.form in env["laws"] and len(env["laws"]) >= 2
    assert set(env["laws"]) - {a.fit.form} == set(a.alternatives)
    assert env["at"] == {"x": pytest.approx(FORECAST_FACTOR * x.max())}
    (lo, hi), (clo, chi) = env["prediction95"], env["chosen_prediction95"]
    assert lo <= clo < chi <= hi
    for name in env["laws"]:
        assert lo <= env["forecasts"][name] <= hi
    assert json.loads(json.dumps(a.result))["envelope"] == env
    assert "envelope" not in analyse({"x": x, "loss": y}, "loss", ["x"], form="power_law_offset", loss="ls",
                                     bootstrap=100, extras=False).result
