"""The prediction band's small-sample widening (fit.estimate.FitResult.band): the bootstrap curves' spread about
the point forecast is scaled by ``widen`` in log space, the correction that brought the broken power law's 95%
prediction intervals from 85.3% to 94.7% coverage (benchmarks/bench_calibration.py, BENCHMARKS.md section 11)."""

from __future__ import annotations

import dataclasses

import numpy as np

from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS


def test_prediction_band_scales_the_curve_spread_by_widen_in_log_space():
    x = np.geomspace(1e2, 1e5, 16)
    law = LAWS["power_law_offset"]
    y = law(x[:, None], {"E": 0.8, "A": 12.0, "alpha": 0.35}) * np.exp(
        0.01 * np.random.default_rng(3).standard_normal(16))
    fit = fit_law(law, x, y, loss="ls", n_boot=200, rng=np.random.default_rng(3))
    assert fit.widen > 1.05  # 16 points, 3 parameters: Student's t and n / (n - p)
    far = np.array([4e5, 1e6])
    quiet = dataclasses.replace(fit, residuals=np.zeros_like(fit.residuals))  # no new-measurement noise
    centre = fit.predict(far)
    lo, hi = quiet.band(far, prediction=True)
    lo1, hi1 = dataclasses.replace(quiet, widen=1.0).band(far, prediction=True)
    # exact up to the percentile's linear (not log-space) interpolation between neighbouring draws, a second-order
    # error: about 1e-7 of the band's half-width here
    np.testing.assert_allclose(np.log(hi / centre), fit.widen * np.log(hi1 / centre), rtol=1e-5)
    np.testing.assert_allclose(np.log(lo / centre), fit.widen * np.log(lo1 / centre), rtol=1e-5)
    # with the noise, the band is wider still than the noiseless one
    lo2, hi2 = fit.band(far, prediction=True)
    assert np.all(lo2 < lo) and np.all(hi2 > hi)
