"""The fitting engine: laws, robust estimation with bootstrap intervals, selection, allocation, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import DataError, SpecError
from scalinglab.fit.allocate import _numeric_optimum, chinchilla_optimum, compute_optimal
from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS, broken_power_law, get_law, kaplan, m4, power_law
from scalinglab.fit.regimes import regime_verdict
from scalinglab.fit.select import holdout_mask, select_form

# Known parameters for each law: Chinchilla's published values, Kaplan's, and generic ones for the rest.
TRUTH = {
    "power_law": dict(A=5.0, alpha=0.4),
    "power_law_offset": dict(E=1.5, A=8.0, alpha=0.5),
    "variance_limited": dict(E=0.8, A=30.0),
    "chinchilla": dict(E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28),
    "kaplan": dict(N_c=8.8e6, alpha_N=0.076, D_c=5.4e6, alpha_D=0.095),
    "broken_power_law": dict(a=0.1, b=3.0, c0=0.1, d1=300.0, c1=0.8, f1=0.3),
    "m4": dict(E_inf=0.5, E_0=5.0, beta=20.0, c=0.6, alpha=0.5),
}


def design(law_name: str) -> np.ndarray:
    """Sizes: 30 log-spaced points for one-variable laws, an 8 x 8 grid of (N, D) for joint laws."""
    if LAWS[law_name].inputs == 1:
        return np.geomspace(10, 1e5, 30)[:, None]
    N, D = np.geomspace(1e7, 1e10, 8), np.geomspace(1e8, 1e11, 8)
    return np.array([(n, d) for n in N for d in D])


def coverage_trials(law_name: str, trials: int, n_boot: int) -> tuple[dict[str, int], dict[str, float]]:
    """Fit ``trials`` noisy (1% multiplicative) draws of a law: how often each 95% interval holds the truth,
    and the ratio of the mean interval width to the spread of the estimates (3.92 standard deviations)."""
    law, truth, X = LAWS[law_name], TRUTH[law_name], design(law_name)
    hits = dict.fromkeys(truth, 0)
    estimates, widths = [], []
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        y = law(X, truth) * np.exp(0.01 * rng.standard_normal(len(X)))
        fit = fit_law(law, X, y, loss="ls", n_boot=n_boot, rng=rng)
        for name, value in truth.items():
            lo, hi = fit.ci95[name]
            hits[name] += lo <= value <= hi
        estimates.append([fit.params[n] for n in truth])
        widths.append([fit.ci95[n][1] - fit.ci95[n][0] for n in truth])
    ratio = np.mean(widths, axis=0) / (3.92 * np.std(estimates, axis=0, ddof=1))
    return hits, dict(zip(truth, ratio, strict=True))


# ---- laws ----------------------------------------------------------------------------------------------


def test_every_law_evaluates_one_and_many_parameter_sets_alike():
    for name, truth in TRUTH.items():
        law, X = LAWS[name], design(name)
        one = law(X, truth)
        many = law(X, {k: np.array([v, v]) for k, v in truth.items()})
        assert one.shape == (len(X),) and many.shape == (len(X), 2)
        np.testing.assert_allclose(many[:, 0], one, rtol=1e-12)
        np.testing.assert_allclose(many[:, 1], one, rtol=1e-12)


def test_broken_power_law_without_a_break_is_a_power_law_and_bends_by_c1_after_the_break():
    x = np.geomspace(1, 1e8, 50)
    np.testing.assert_allclose(broken_power_law(x, 0.0, 2.0, 0.3, 100.0, 0.0, 0.5), power_law(x, 2.0, 0.3))
    y = broken_power_law(x, 0.0, 2.0, 0.3, 100.0, 0.7, 0.1)
    slope_before = -np.diff(np.log(y[:5])) / np.diff(np.log(x[:5]))
    slope_after = -np.diff(np.log(y[-5:])) / np.diff(np.log(x[-5:]))
    np.testing.assert_allclose(slope_before, 0.3, atol=1e-3)
    np.testing.assert_allclose(slope_after, 1.0, atol=1e-3)


def test_m4_solves_its_defining_equation():
    x = np.geomspace(1, 1e6, 40)
    p = TRUTH["m4"]
    L = m4(x, **p)
    assert np.all((L > p["E_inf"]) & (L < p["E_0"]))
    lhs = (L - p["E_inf"]) / (p["E_0"] - L) ** p["alpha"]
    np.testing.assert_allclose(lhs, p["beta"] * x ** -p["c"], rtol=1e-9)


def test_kaplan_reduces_to_its_one_variable_limits():
    p = TRUTH["kaplan"]
    N = np.geomspace(1e6, 1e10, 5)
    np.testing.assert_allclose(kaplan(N, 1e300, **p), (p["N_c"] / N) ** p["alpha_N"], rtol=1e-10)
    np.testing.assert_allclose(kaplan(1e300, N, **p), (p["D_c"] / N) ** p["alpha_D"], rtol=1e-10)


def test_unknown_law_names_the_known_ones():
    with pytest.raises(SpecError, match="unknown law 'cubic'.*chinchilla"):
        get_law("cubic")


# ---- estimation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_exact_data_is_recovered(name):
    X = design(name)
    y = LAWS[name](X, TRUTH[name])
    fit = fit_law(LAWS[name], X, y, loss="ls", n_boot=0)
    pred = fit.predict(X)
    assert np.max(np.abs(np.log(pred / y))) < 1e-4, fit.params
    if name not in ("broken_power_law", "m4", "kaplan"):  # these have near-flat directions on this range
        for k, v in TRUTH[name].items():
            assert fit.params[k] == pytest.approx(v, rel=1e-3), k


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_intervals_cover_the_truth_and_are_not_too_wide(name):
    """Ten seeded trials with 1% noise: a 95% interval misses the truth in a trial with probability 0.05, so
    8 or more hits of 10 fail by chance with probability 1.2%; the issue's 100-trial version is the slow test
    below. Intervals no wider than twice the spread of the estimates across trials."""
    hits, ratio = coverage_trials(name, trials=10, n_boot=100)
    assert min(hits.values()) >= 8, hits
    assert max(ratio.values()) <= 2.0, ratio


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRUTH))
def test_intervals_cover_the_truth_in_90_of_100_trials(name):
    hits, ratio = coverage_trials(name, trials=100, n_boot=200)
    assert min(hits.values()) >= 90, hits
    assert max(ratio.values()) <= 2.0, ratio


def test_offset_interval_is_not_pinned_by_a_noisy_low_point():
    """The smallest observation may fall below the irreducible loss; the interval must still cover it."""
    hits, _ = coverage_trials("variance_limited", trials=10, n_boot=100)
    assert hits["E"] >= 8


def test_huber_loss_resists_an_outlier_that_pulls_least_squares():
    x = np.geomspace(10, 1e4, 20)
    y = power_law(x, 3.0, 0.5)
    y[3] *= 3.0
    law = LAWS["power_law"]
    huber = fit_law(law, x, y, loss="huber-log", n_boot=0)
    ls = fit_law(law, x, y, loss="ls", n_boot=0)
    assert abs(huber.params["alpha"] - 0.5) < 1e-3
    assert abs(ls.params["alpha"] - 0.5) > 10 * abs(huber.params["alpha"] - 0.5)


def test_asymmetric_loss_fits_a_lower_envelope():
    """Noise that only raises the loss (half-normal, mean 16% in log): least squares lands in the middle of
    the cloud, 16% above the law; the asymmetric loss follows its lower edge, the law itself."""
    rng = np.random.default_rng(3)
    x = np.geomspace(10, 1e4, 40)
    y = power_law(x, 3.0, 0.5) * np.exp(np.abs(0.2 * rng.standard_normal(40)))
    envelope = fit_law(LAWS["power_law"], x, y, loss="asymmetric", asymmetry=100.0, n_boot=0)
    middle = fit_law(LAWS["power_law"], x, y, loss="ls", n_boot=0)
    assert envelope.params["A"] == pytest.approx(3.0, rel=0.08)
    assert middle.params["A"] > 1.1 * envelope.params["A"]
    assert envelope.params["alpha"] == pytest.approx(0.5, abs=0.02)


def test_bootstrap_over_groups_resamples_whole_seeds():
    """Four seeds, each an exact power law of exponent 0.5 with its own offset factor. Resampling whole seeds
    keeps every curve intact, so each refit still has exponent exactly 0.5 and only A varies; resampling rows
    mixes points of different seeds unevenly across sizes and leaks the offsets into the exponent."""
    rng = np.random.default_rng(0)
    x = np.tile(np.geomspace(10, 1e4, 10), 4)
    seeds = np.repeat(np.arange(4), 10)
    y = power_law(x, 3.0, 0.5) * np.exp(0.05 * rng.standard_normal(4))[seeds]
    law = LAWS["power_law"]
    rows = fit_law(law, x, y, loss="ls", n_boot=200, rng=np.random.default_rng(1))
    groups = fit_law(law, x, y, loss="ls", n_boot=200, groups=seeds, rng=np.random.default_rng(1))
    assert np.ptp(groups.draws[:, 1]) < 1e-6
    assert np.ptp(groups.draws[:, 0]) > 1e-3
    assert np.ptp(rows.draws[:, 1]) > 1e-3


def test_warnings_for_thin_support_and_parameters_at_bounds():
    x = np.array([10.0, 100.0, 1000.0])
    fit = fit_law(LAWS["power_law_offset"], x, power_law(x, 2.0, 0.5), n_boot=0)
    assert any("3 distinct sizes" in w for w in fit.warnings)
    flat = fit_law(LAWS["power_law_offset"], np.geomspace(10, 1e4, 8), np.full(8, 2.0), n_boot=0)
    assert any("bound" in w for w in flat.warnings)


@pytest.mark.parametrize("x, y, message", [
    ([1.0, 2.0, 4.0, 8.0], [1.0, np.nan, 0.3, 0.2], "not finite at row 1"),
    ([1.0, 2.0, 4.0, 8.0], [1.0, 0.5, 0.0, 0.2], "must be positive"),
    ([1.0, -2.0, 4.0, 8.0], [1.0, 0.5, 0.3, 0.2], "sizes must be positive"),
    ([2.0, 2.0, 2.0, 2.0], [1.0, 0.5, 0.3, 0.2], "single distinct value"),
    ([1.0, 2.0], [1.0, 0.5], "single distinct|cannot determine"),
])
def test_bad_data_is_a_data_error_naming_the_row(x, y, message):
    with pytest.raises(DataError, match=message):
        fit_law(LAWS["power_law_offset"], np.array(x), np.array(y), n_boot=0)


def test_bad_options_are_spec_errors():
    x = np.geomspace(1, 100, 5)
    # the library names its parameters; only the command line shows flags (test_cli_bad_inputs)
    with pytest.raises(SpecError, match="^loss: must be one of") as err:
        fit_law(LAWS["power_law"], x, 1 / x, loss="l1")
    assert err.value.param == "loss"
    with pytest.raises(SpecError, match="^delta: must be positive"):
        fit_law(LAWS["power_law"], x, 1 / x, delta=0.0)


def test_prediction_band_holds_new_measurements():
    rng = np.random.default_rng(5)
    x = np.geomspace(10, 1e4, 30)
    law, truth = LAWS["power_law_offset"], TRUTH["power_law_offset"]
    y = law(x[:, None], truth) * np.exp(0.02 * rng.standard_normal(30))
    fit = fit_law(law, x, y, loss="ls", n_boot=300, rng=rng)
    new = law(x[:, None], truth) * np.exp(0.02 * rng.standard_normal((200, 30)))
    lo, hi = fit.band(x, prediction=True)
    inside = np.mean((new >= lo) & (new <= hi))
    # the band's edges are empirical quantiles of 30 residuals: expected coverage about (n - 1) / (n + 1) = 0.94
    assert 0.88 <= inside <= 0.99
    clo, chi = fit.band(x)
    assert np.all(chi - clo < hi - lo)


# ---- selection, allocation, verdicts -------------------------------------------------------------------


def test_holdout_mask_takes_the_largest_sizes_or_compute():
    X = np.array([1.0, 2.0, 2.0, 4.0, 8.0])
    np.testing.assert_array_equal(holdout_mask(X, 2), [False, False, False, True, True])
    joint = np.array([[1.0, 100.0], [10.0, 1.0], [5.0, 5.0], [2.0, 2.0]])
    np.testing.assert_array_equal(holdout_mask(joint, 1), [True, False, False, False])
    with pytest.raises(DataError, match="too few"):
        holdout_mask(X, 3)


def test_selection_prefers_the_law_that_generated_the_data():
    x = np.geomspace(10, 1e5, 25)
    y = LAWS["power_law_offset"](x[:, None], TRUTH["power_law_offset"])
    sel = select_form(x, y, 4, n_boot=0)
    assert sel.best.form in ("power_law_offset", "m4", "broken_power_law")
    assert sel.scores["power_law_offset"] < 1e-3
    assert sel.scores["power_law"] > 10 * sel.scores["power_law_offset"]


def test_chinchilla_optimum_closed_form_matches_numerical_minimum_and_eq4_exponents():
    p = TRUTH["chinchilla"]
    C = np.array([1e20, 1e22, 1e24])
    N, D = chinchilla_optimum(C, p["A"], p["alpha"], p["B"], p["beta"])
    np.testing.assert_allclose(6 * N[:, 0] * D[:, 0], C, rtol=1e-12)
    fit = fit_law(LAWS["chinchilla"], design("chinchilla"), LAWS["chinchilla"](design("chinchilla"), p), n_boot=0)
    for i, c in enumerate(C):
        n_num, _ = _numeric_optimum(fit, c, p)
        assert n_num == pytest.approx(N[i, 0], rel=1e-4)
    a = p["beta"] / (p["alpha"] + p["beta"])
    assert np.log(N[2, 0] / N[0, 0]) / np.log(C[2] / C[0]) == pytest.approx(a, rel=1e-12)


def test_compute_optimal_rows_have_intervals_that_contain_the_point():
    rng = np.random.default_rng(2)
    X = design("chinchilla")
    y = LAWS["chinchilla"](X, TRUTH["chinchilla"]) * np.exp(0.01 * rng.standard_normal(len(X)))
    fit = fit_law(LAWS["chinchilla"], X, y, n_boot=50, rng=rng)
    rows = compute_optimal(fit, np.array([1e21, 1e23]))
    for row in rows:
        lo, hi = row["tokens_per_parameter_ci95"]
        assert lo <= row["tokens_per_parameter"] <= hi
    with pytest.raises(DataError, match="joint law"):
        compute_optimal(fit_law(LAWS["power_law"], np.geomspace(1, 10, 5), np.geomspace(1, 0.1, 5), n_boot=0),
                        np.array([1e21]))


@pytest.mark.parametrize("alpha, regime", [(1.0, "variance_limited"), (0.35, "resolution_limited")])
def test_regime_verdict_on_seeded_curves(alpha, regime):
    """Eight seeds with 3% noise around E + A x^-alpha: the verdict follows the exponent."""
    rng = np.random.default_rng(7)
    x = np.tile(np.geomspace(16, 4096, 9), 8)
    seeds = np.repeat(np.arange(8), 9)
    y = (0.2 + 5.0 * x**-alpha) * np.exp(0.03 * rng.standard_normal(x.size))
    v = regime_verdict(x, y, groups=seeds, predicted=alpha, n_boot=200, loss="ls")
    assert v.regime == regime
    assert v.consistent_with_prediction
    assert v.ci95[0] <= alpha <= v.ci95[1]


@pytest.mark.parametrize("alpha, regime", [(1.0, "variance_limited"), (0.6, "resolution_limited"),
                                           (1.5, "steeper than variance-limited (exponent significantly above 1)")])
def test_curve_verdict_on_differences_with_a_known_limit(alpha, regime):
    """Eight seeds of a difference whose limit is 0 (as L(D) - L(D = inf)): mean A x^-alpha, per-seed noise of 40%
    of the mean plus an additive part that makes single values negative at the largest x. The classifier fits the
    seed mean with the limit fixed, so it needs no positive single values, and its interval covers alpha."""
    from scalinglab.fit.regimes import curve_verdict

    rng = np.random.default_rng(3)
    x = np.geomspace(1024, 32768, 6)
    mean = 0.4 * (x / 1024) ** -alpha
    y = mean * (1 + 0.4 * rng.standard_normal((8, x.size))) + 0.8 * mean[-1] * rng.standard_normal((8, x.size))
    assert np.any(y < 0)
    v = curve_verdict(x, y, limit=0.0, predicted=alpha, n_boot=300)
    assert v.regime == regime
    assert v.ci95[0] <= alpha <= v.ci95[1] and v.consistent_with_prediction
    assert v.ci95[1] - v.ci95[0] < 0.6


def test_a_user_error_keeps_its_parameter_across_processes():
    """Errors raised in pool or Dask workers are pickled: the parameter (which the CLI shows as a flag) survives."""
    import pickle

    from scalinglab.cli._app import error_line
    from scalinglab.errors import DataError

    err = pickle.loads(pickle.dumps(DataError("must be non-negative, got -1", param="holdout_largest")))
    assert isinstance(err, DataError) and err.param == "holdout_largest"
    assert str(err) == "holdout_largest: must be non-negative, got -1"
    assert error_line(err) == "--holdout-largest: must be non-negative, got -1"
    assert error_line(DataError("runs.csv: no column 'loss'")) == "runs.csv: no column 'loss'"
