"""Fig. 1b on real data: 4/alpha_D of trained students against the estimated intrinsic dimension (a bound)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalinglab.fit.curves import fit_power_law
from scalinglab.recipes.bahri import dims as bahri_dims
from scalinglab.recipes.bahri import networks
from scalinglab.theory.geometry import IntrinsicDimension

torch.set_num_threads(1)


def _measured(alpha: float, d: float, ci: tuple[float, float]) -> dict:
    """A measurement whose seeds follow L = D^-alpha exactly, against an estimate d with interval ci."""
    x = np.array([50.0, 100, 200, 400, 800])
    curves = np.stack([x ** -alpha, 1.01 * x ** -alpha])
    est = IntrinsicDimension(value=d, ci95=ci, method="twonn", n=1000, scale=((500, d), (1000, d)))
    mle = IntrinsicDimension(value=d, ci95=ci, method="mle", n=1000, scale=((500, d), (1000, d)))
    return {"name": "toy", "twonn": est, "mle": mle, "fit": fit_power_law(x, curves, offset=0.0, n_boot=50),
            "curve": {"data_sizes": x, "loss": curves, "train_loss": np.full((2, 5), 1e-3)}}


@pytest.mark.parametrize(("alpha", "ok", "words"), [
    (0.8, True, "below the TwoNN d"),          # 4/alpha = 5 < d = 8: the bound holds with a gap
    (0.45, True, "within the tolerance"),      # 4/alpha = 8.9: above d = 8, below 1.25 x 9
    (0.3, False, "beyond the tolerance"),      # 4/alpha = 13.3 > 1.25 x 9 = 11.25
])
def test_bound_check_is_one_sided_with_the_tolerance_above_the_interval(alpha, ok, words):
    row, note = bahri_dims.bound_check(_measured(alpha, 8.0, (7.0, 9.0)))
    assert row.measured == pytest.approx(4 / alpha, rel=1e-3)
    assert row.predicted == 8.0 and row.passed is ok and row.basis
    assert words in note and "toy:" in note


def test_teacher_student_with_real_data_tiny(tmp_path):
    from scalinglab.sweep.jobs import Jobs
    from scalinglab.sweep.store import Store

    cfg = networks.TeacherStudentConfig(dims=(2,), data_sizes=(16, 32, 64), student_width=16, teacher_width=8,
                                        seeds=2, steps=40, n_test=300)
    real = bahri_dims.RealDimsConfig(datasets=("digits",), data_sizes={"digits": (40, 80, 160, 320)}, width=16,
                                        seeds=2, steps=150, n_test=300, n_boot=20)
    with Store(tmp_path / "runs.sqlite") as st:
        result = networks.run_teacher_student(tmp_path, cfg, Jobs(st), real=real)
    names = [c.name for c in result.checks]
    assert len(names) == 2 and names[1].startswith("digits: 4/alpha_D <= d")
    digits = result.checks[1]
    # scikit-learn's digits: 64 pixels, nearest-neighbour estimates near 8 (TwoNN) on standardised inputs
    assert 5 < digits.predicted < 13
    assert digits.measured > 0
    (row,) = result.tables["real data: 4/alpha_D against the intrinsic dimension"]
    assert row["4/alpha_D"] == pytest.approx(digits.measured)
    assert any(n.startswith("digits: alpha_D =") for n in result.notes)
    assert (tmp_path / "bahri-teacher-student-4d.png").stat().st_size > 1000
    assert "digits" in result.figures or len(result.figures) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", "mnist1d"])
def test_quick_real_data_points_respect_the_bound(name):
    """The quick configuration's real-data checks, as ``bahri-fig1b --quick`` states them."""
    from scalinglab.models.mlp import Architecture

    arch = Architecture(**networks.STUDENT)
    row, note = bahri_dims.bound_check(bahri_dims.measure(name, bahri_dims.QUICK_REAL, arch))
    assert row.passed, note
