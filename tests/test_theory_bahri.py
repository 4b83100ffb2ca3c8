import pytest

from scalinglab.theory.bahri import REGIMES, four_regimes, resolution_limited_exponents, variance_limited_exponent

GRID = [16, 32, 64, 128, 256, 512, 1024]


def test_predicted_exponents():
    assert variance_limited_exponent() == 1.0
    assert resolution_limited_exponents(0.7) == {"data": 0.7, "model": 0.7}


def test_regime_slices_respect_the_separation():
    regimes = {r.name: r for r in four_regimes(GRID, GRID, spectrum_exponent=0.5, noise=0.1)}
    assert set(regimes) == set(REGIMES)
    vd = regimes["variance_limited_data"]
    assert vd.axis == "data" and vd.fixed == 16 and vd.xs == (256, 512, 1024)
    assert vd.subtract == "loss_data_limit" and vd.predicted == 1.0 and vd.offset == 0.0
    vm = regimes["variance_limited_model"]
    assert vm.axis == "model" and vm.fixed == 16 and vm.subtract == "loss_model_limit"
    rd = regimes["resolution_limited_data"]
    assert rd.axis == "data" and rd.fixed == 1024 and rd.xs == (16, 32, 64, 128)
    assert rd.subtract is None and rd.predicted == 0.5
    assert rd.offset == pytest.approx(0.01)  # the noise floor
    rm = regimes["resolution_limited_model"]
    assert rm.axis == "model" and rm.fixed == 1024 and max(rm.xs) * 8 <= 1024
