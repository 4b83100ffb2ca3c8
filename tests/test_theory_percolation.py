"""Brill (2024) closed-form theory against the paper's anchors (alpha = 1, c/D = 1/2) and its limits."""

import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.theory import percolation as th

# anchors printed in the paper, to the digits printed: tolerance half a unit of the last digit
ANCHORS_KBR = [(1, 1.7074, 5e-5), (100, 19.63, 5e-3), (500, 58.04, 5e-3)]
ANCHORS_MODEL = [(10, 0.685, 5e-4), (100, 0.334, 5e-4)]
ANCHORS_DATA = [(10, 0.680, 5e-4), (100, 0.330, 5e-4)]


def test_alpha_and_allocation_exponent():
    assert th.alpha_from_tau(2.5) == pytest.approx(1.0)
    assert th.alpha_from_tau(187 / 91) == pytest.approx(86 / 5)
    assert th.allocation_exponent(1.0, 0.5) == pytest.approx(-1 / 3)
    a = th.alpha_from_tau(2.3)
    assert a / (1 + a) == pytest.approx(3 - 2.3)  # alpha / (1 + alpha) = 3 - tau


@pytest.mark.parametrize("n, expected, tol", ANCHORS_KBR)
def test_break_rank_anchors(n, expected, tol):
    assert th.break_rank(n, 1.0, 0.5) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("n, expected, tol", ANCHORS_MODEL)
def test_model_scaling_anchors(n, expected, tol):
    assert th.model_scaling_loss(n, 1.0, 0.5) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("d, expected, tol", ANCHORS_DATA)
def test_data_scaling_anchors(d, expected, tol):
    assert th.data_scaling_loss(d, 1.0, 0.5) == pytest.approx(expected, abs=tol)


def test_break_rank_solves_its_equation_and_n_kbr_is_one():
    for alpha, e in [(1.0, 0.5), (0.5, 2.0), (2.0, 0.1), (1.0, 2.0)]:
        ns = np.array([2.0, 37.0, 1e4])
        kb = th.break_rank(ns, alpha, e)
        b = th.allocation_exponent(alpha, e)
        np.testing.assert_allclose(kb * (1 - kb ** (-b)) / b, ns, rtol=1e-9)
        for n, k in zip(ns, kb, strict=True):
            a = b * n / (k**b - 1)
            assert a * k ** (b - 1) == pytest.approx(1.0)


def test_optimal_allocation_is_continuum_normalised_and_cut_at_break_rank():
    kb = th.break_rank(500, 1.0, 0.5)
    n = th.optimal_allocation(500, np.arange(1, 200), 1.0, 0.5)
    assert np.all(n[np.arange(1, 200) >= kb] == 0) and np.all(n[np.arange(1, 200) < kb] > 1)
    # integral of a k^(b-1) from 1 to k_br is N; the discrete sum exceeds it (decreasing summand)
    assert 500 < n.sum() < 500 * 1.5
    # the loss-optimal allocation equalises the marginal loss: d/dn [w n^-e] = w e n^-(e+1) ~ const on learned ranks
    k = np.arange(1, int(kb))
    marginal = k**-2.0 * n[: k.size] ** -1.5
    np.testing.assert_allclose(marginal / marginal[0], 1.0, rtol=1e-9)


def test_power_allocation_sums_to_n():
    n = th.power_allocation(500, -1 / 3, 58.04, 316)
    assert n.sum() == pytest.approx(500)
    assert np.count_nonzero(n) == 58
    assert th.power_allocation(10, 2.0, 0.5, 5)[0] == pytest.approx(10)  # rank 1 always learned


def test_model_loss_is_one_below_one_dof_and_tends_to_its_asymptote():
    assert th.model_scaling_loss(0.3, 1.0, 0.5) == 1.0
    assert th.model_scaling_loss(1.0, 1.0, 0.5) == pytest.approx(1.0)
    for alpha, e in [(1.0, 0.5), (1.0, 2.0), (0.5, 0.1)]:
        slope = th.local_slope(th.model_scaling_loss, 1e14, alpha, e)
        assert slope == pytest.approx(th.model_scaling_exponent(alpha, e), rel=0.03)


def test_data_loss_limits_and_degenerate_branch_continuity():
    assert th.data_scaling_loss(1.0, 1.0, 0.2) == pytest.approx(1.0)
    assert th.data_scaling_loss(0.5, 1.0, 0.2) == 1.0
    # the c/D = alpha/(1+alpha) branch is the limit of the general formula
    for alpha in (1.0, 0.5, 3.0):
        a = alpha / (1 + alpha)
        ds = np.array([3.0, 50.0, 1e5])
        exact = th.data_scaling_loss(ds, alpha, a)
        near = th.data_scaling_loss(ds, alpha, a * (1 + 1e-4))
        np.testing.assert_allclose(exact, near, rtol=1e-3)
    # alpha = 1, c/D = 1/2: L = (1 + ln(D)/2) D^-1/2 exactly
    d = np.array([2.0, 10.0, 1e3])
    np.testing.assert_allclose(th.data_scaling_loss(d, 1.0, 0.5), (1 + np.log(d) / 2) / np.sqrt(d))
    assert th.local_slope(th.data_scaling_loss, 1e16, 1.0, 2.0) == pytest.approx(0.5, rel=0.03)
    assert th.local_slope(th.data_scaling_loss, 1e16, 1.0, 0.1) == pytest.approx(0.1, rel=0.03)


def test_exponent_table():
    rows = th.exponent_ratios()
    assert len(rows) == 7 * 3
    mf = [r for r in rows if r["d"] >= 6 and r["c"] == 2]
    for r in mf:  # mean field, nearest neighbour: the paper's degenerate toy case
        assert r["model_ratio"] == pytest.approx(0.5) and r["data_ratio"] == pytest.approx(1.0)
    d2 = next(r for r in rows if r["d"] == 2 and r["c"] == 2)
    assert d2["model_ratio"] == pytest.approx((2 / (91 / 48)) / (86 / 5))


def test_bad_parameters_name_the_key():
    with pytest.raises(SpecError, match="tau"):
        th.alpha_from_tau(3.2)
    with pytest.raises(SpecError, match="manifold_exponent"):
        th.model_scaling_loss(10, 1.0, -1.0)
    with pytest.raises(SpecError, match="d"):
        th.lattice_exponents(1)


def test_brill_predictions_keys():
    out = th.brill_predictions(2.5, 2, 4, [1, 10, 100])
    assert set(out) >= {"k_br", "L_model", "L_data", "N"}
    np.testing.assert_allclose(out["L_model"], [1.0, 0.685, 0.334], atol=5e-4)
