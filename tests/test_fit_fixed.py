"""Held parameters in the fitting engine (``fit_law(..., fixed=...)``), the profile solver of the one-variable
power laws and the fit to the mean over groups: the engine behind ``fit.curves``."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import DataError, SpecError
from scalinglab.fit.estimate import FitResult, fit_law, small_sample_factor
from scalinglab.fit.laws import LAWS, chinchilla, power_law_offset

X = np.geomspace(16, 4096, 10)


def _noisy(seed: int, E: float = 0.0, n: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return power_law_offset(X, E, 2.0, 0.6) * np.exp(0.03 * rng.standard_normal((n, X.size)))


def test_holding_the_offset_at_zero_is_the_pure_power_law():
    """power_law_offset with E held at 0 is the law power_law: the same point estimate (the same starts and
    refinement on the same function) and the same bootstrap, with E in the result at 0, zero-width interval."""
    y = _noisy(0)[0]
    held = fit_law(LAWS["power_law_offset"], X, y, loss="ls", n_boot=200, fixed={"E": 0.0})
    pure = fit_law(LAWS["power_law"], X, y, loss="ls", n_boot=200)
    for name in ("A", "alpha"):
        assert held.params[name] == pytest.approx(pure.params[name], rel=1e-9)
        assert held.ci95[name] == pytest.approx(pure.ci95[name], rel=1e-9)
    assert held.fixed == ("E",) and held.params["E"] == 0.0
    assert held.ci95["E"] == (0.0, 0.0) and held.se["E"] == 0.0
    assert np.all(held.draws[:, 0] == 0.0)  # the held column of the draws is constant
    # the held parameter is not counted among the fitted ones: p = 2 in the small-sample factor
    assert held.widen == pytest.approx(small_sample_factor(X.size, 2))


def test_a_held_parameter_at_its_true_value_recovers_the_others_exactly():
    N = np.repeat(np.geomspace(1e6, 1e9, 6), 6)
    D = np.tile(np.geomspace(1e8, 1e11, 6), 6)
    y = chinchilla(N, D, 1.7, 400.0, 0.34, 410.0, 0.28)
    fit = fit_law(LAWS["chinchilla"], np.column_stack([N, D]), y, loss="ls", n_boot=0, fixed={"E": 1.7})
    assert fit.params["E"] == 1.7
    for name, truth in (("A", 400.0), ("alpha", 0.34), ("B", 410.0), ("beta", 0.28)):
        assert fit.params[name] == pytest.approx(truth, rel=1e-5)
    assert fit.derived["a"]["value"] == pytest.approx(0.28 / 0.62, rel=1e-5)  # derived from the full parameters
    assert fit.predict(np.column_stack([N, D])) == pytest.approx(y, rel=1e-8)


def test_held_parameters_survive_save_and_load(tmp_path):
    fit = fit_law(LAWS["power_law_offset"], X, _noisy(1)[0], n_boot=50, fixed={"E": 0.0})
    back = FitResult.load(fit.save(tmp_path / "fit.json"))
    assert back.fixed == ("E",)
    assert np.array_equal(back.band(X)[0], fit.band(X)[0])


@pytest.mark.parametrize("fixed, text", [
    ({"Q": 1.0}, "has no parameter 'Q'"),
    ({"E": -1.0}, "outside its bounds"),
    ({"E": float("nan")}, "outside its bounds"),
    ({"E": "zero"}, "must be a number"),
    ({"E": 0.0, "A": 1.0, "alpha": 0.5}, "nothing is left to fit"),
])
def test_a_bad_held_parameter_is_a_one_line_error_naming_fixed(fixed, text):
    with pytest.raises(SpecError, match=text) as err:
        fit_law(LAWS["power_law_offset"], X, _noisy(2)[0], n_boot=0, fixed=fixed)
    assert err.value.param == "fixed" and "\n" not in str(err.value)


@pytest.mark.parametrize("law, kwargs, text", [
    ("chinchilla", {"loss": "ls"}, "fits power_law and power_law_offset"),
    ("power_law_offset", {"loss": "huber-log"}, "least squares"),
    ("power_law_offset", {"loss": "ls", "fixed": {"alpha": 0.5}}, "only the offset E"),
    ("power_law_offset", {"loss": "ls", "solver": "newton"}, "must be one of"),
])
def test_the_profile_solver_refuses_what_it_cannot_fit(law, kwargs, text):
    kwargs = {"solver": "profile", **kwargs}
    with pytest.raises(SpecError, match=text) as err:
        fit_law(LAWS[law], np.column_stack([X, X]) if law == "chinchilla" else X, _noisy(3)[0], n_boot=0,
                **kwargs)
    assert err.value.param == "solver"


def test_the_profile_solver_recovers_exact_laws():
    exact = power_law_offset(X, 0.3, 2.0, 0.7)
    free = fit_law(LAWS["power_law_offset"], X, exact, loss="ls", solver="profile", n_boot=0)
    assert free.params == pytest.approx({"E": 0.3, "A": 2.0, "alpha": 0.7}, rel=1e-5)
    held = fit_law(LAWS["power_law_offset"], X, exact, loss="ls", solver="profile", n_boot=0, fixed={"E": 0.3})
    assert held.params == pytest.approx({"E": 0.3, "A": 2.0, "alpha": 0.7}, rel=1e-10)
    pure = fit_law(LAWS["power_law"], X, power_law_offset(X, 0.0, 2.0, 0.7), loss="ls", solver="profile", n_boot=0)
    assert pure.params == pytest.approx({"A": 2.0, "alpha": 0.7}, rel=1e-10)


@pytest.mark.parametrize("resample", ["residuals", "rows"])
def test_the_profile_solver_bootstraps_like_the_general_one(resample):
    """On a pure power law held at E = 0 the profile (log-linear least squares) and the general solver under
    least squares minimise the same objective, so with the same resamples their intervals agree to the
    optimisers' tolerance (1e-6 relative)."""
    y = _noisy(4)[0]
    kwargs = {"loss": "ls", "n_boot": 100, "resample": resample, "fixed": {"E": 0.0}}
    prof = fit_law(LAWS["power_law_offset"], X, y, solver="profile", rng=np.random.default_rng(1), **kwargs)
    gen = fit_law(LAWS["power_law_offset"], X, y, solver="general", rng=np.random.default_rng(1), **kwargs)
    assert prof.params["alpha"] == pytest.approx(gen.params["alpha"], rel=1e-6)
    assert prof.ci95["alpha"] == pytest.approx(gen.ci95["alpha"], rel=1e-5)


def test_average_groups_fits_the_mean_curve_and_resamples_groups():
    """The point estimate is the fit to the mean over groups (here: seeds); single seeds' values may be negative
    where the mean is not (differences of losses); the bootstrap has one draw per resample of the groups."""
    curves = _noisy(5, n=6) - 0.004  # a difference: some single values may fall below zero at large x
    curves[0, -1] = -0.001
    rows = curves.ravel()
    groups = np.repeat(np.arange(6), X.size)
    fit = fit_law(LAWS["power_law_offset"], np.tile(X, 6), rows, groups=groups, average_groups=True, loss="ls",
                  solver="profile", fixed={"E": 0.0}, n_boot=100, small_sample=False)
    on_mean = fit_law(LAWS["power_law_offset"], X, curves.mean(axis=0), loss="ls", solver="profile",
                      fixed={"E": 0.0}, n_boot=0)
    assert fit.params == on_mean.params
    assert np.array_equal(fit.data.y, curves.mean(axis=0))
    assert fit.resample == "groups" and fit.widen == 1.0 and len(fit.draws) == 100


def test_average_groups_needs_groups_holding_the_same_sizes():
    y = _noisy(6, n=3)
    with pytest.raises(SpecError, match="needs the groups") as err:
        fit_law(LAWS["power_law"], np.tile(X, 3), y.ravel(), average_groups=True)
    assert err.value.param == "groups"
    groups = np.repeat(np.arange(3), X.size)
    with pytest.raises(DataError, match="different numbers of rows") as err:
        fit_law(LAWS["power_law"], np.tile(X, 3)[1:], y.ravel()[1:], groups=groups[1:], average_groups=True)
    assert err.value.param == "groups"
    shuffled = np.concatenate([X, X[::-1], X])
    with pytest.raises(DataError, match="same order"):
        fit_law(LAWS["power_law"], shuffled, y.ravel(), groups=groups, average_groups=True)


def test_one_group_gives_no_interval_and_says_so():
    fit = fit_law(LAWS["power_law_offset"], X, _noisy(7)[0], groups=np.zeros(X.size), average_groups=True,
                  loss="ls", solver="profile", fixed={"E": 0.0}, n_boot=100)
    assert np.isnan(fit.ci95["alpha"][0]) and len(fit.draws) == 0
    assert any("fewer than 2 seeds" in w for w in fit.warnings)


def test_fit_laws_gives_each_problem_the_fit_of_fit_law():
    """The batch solves the bootstrap refits of every problem together; each result is bit for bit the single
    fit's (rows are independent), and a problem that cannot be fitted gives its DataError in its place."""
    from scalinglab.fit.estimate import fit_laws

    problems = []
    for seed, n in ((8, 4), (9, 6), (10, 3)):
        curves = _noisy(seed, E=0.1, n=n)
        problems.append((np.tile(X, n), curves.ravel(), np.repeat(np.arange(n), X.size)))
    problems.append((X, -np.ones(X.size), np.zeros(X.size)))  # no positive mean: no power law
    kwargs = {"loss": "ls", "solver": "profile", "average_groups": True, "n_boot": 60}
    batch = fit_laws(LAWS["power_law_offset"], problems, seed=4, chunk=50, **kwargs)
    for (Xp, yp, gp), fit in zip(problems[:3], batch[:3], strict=True):
        alone = fit_law(LAWS["power_law_offset"], Xp, yp, groups=gp, rng=np.random.default_rng(4), **kwargs)
        assert fit.params == alone.params and np.array_equal(fit.draws, alone.draws)
    assert isinstance(batch[3], DataError)
