"""Intrinsic dimension (scikit-dimension TwoNN and MLE) with bootstrap intervals and the scale check."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import DataError, SpecError
from scalinglab.tasks.manifold import ManifoldTask
from scalinglab.theory.geometry import four_over_d, intrinsic_dimension

pytest.importorskip("skdim")


@pytest.mark.parametrize("manifold,d", [("torus", 3), ("sphere", 4)])
def test_estimates_within_ten_percent_of_known_dimension(manifold, d):
    X, _ = ManifoldTask(manifold=manifold, intrinsic_dim=d, ambient_dim=12, n_fourier=8).sample(
        2000, np.random.default_rng(0))
    for method in ("twonn", "mle"):
        est = intrinsic_dimension(X, method, n_boot=20, n_scales=3, rng=np.random.default_rng(1))
        assert est.value == pytest.approx(d, rel=0.1), method
        lo, hi = est.ci95
        assert lo < est.value < hi and hi - lo < 0.5 * d
        assert [s for s, _ in est.scale] == sorted(s for s, _ in est.scale) and est.scale[-1][0] == 2000
        assert est.four_over_d["value"] == pytest.approx(4 / est.value)
        assert est.four_over_d["ci95"][0] < 4 / est.value < est.four_over_d["ci95"][1]


def test_distinguishes_dimensions():
    rng = np.random.default_rng(2)
    low = intrinsic_dimension(ManifoldTask("cube", 2, 8, n_fourier=8).sample(1000, rng)[0], "mle", n_boot=20)
    high = intrinsic_dimension(ManifoldTask("cube", 5, 8, n_fourier=8).sample(1000, rng)[0], "mle", n_boot=20)
    assert low.ci95[1] < high.ci95[0]


def test_errors():
    with pytest.raises(SpecError, match="method"):
        intrinsic_dimension(np.zeros((100, 3)), "pca")
    with pytest.raises(DataError, match="n >="):
        intrinsic_dimension(np.zeros((5, 3)))
    with pytest.raises(DataError, match="positive"):
        four_over_d(0)
