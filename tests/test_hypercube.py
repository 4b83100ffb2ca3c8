"""Hypercube teacher-student task (Bahri et al. 2024, Fig. 1b)."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.tasks.hypercube import HypercubeTeacher


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_teacher_is_standardised_and_inputs_fill_the_cube(activation):
    task = HypercubeTeacher(3, width=32, activation=activation, n_population=5000)
    X, y = task.sample(20000, np.random.default_rng(0))
    assert X.shape == (20000, 3) and X.min() >= -1 and X.max() <= 1
    assert abs(X.mean()) < 0.02 and abs(X.var() - 1 / 3) < 0.01  # uniform on [-1, 1]: variance 1/3
    # Unit variance and zero mean over the cube, up to the sampling error of 5000 + 20000 points.
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    assert task.population_loss(task.teacher) == 0.0
    assert task.population_loss(lambda Z: np.zeros(len(Z))) == pytest.approx(1.0)
    assert task.properties()["intrinsic_dimension"] == 3.0


def test_teacher_is_deterministic_and_validated():
    a, b = HypercubeTeacher(2, teacher_seed=1), HypercubeTeacher(2, teacher_seed=1)
    Z = np.random.default_rng(0).uniform(-1, 1, (10, 2))
    np.testing.assert_array_equal(a.teacher(Z), b.teacher(Z))
    assert not np.allclose(a.teacher(Z), HypercubeTeacher(2, teacher_seed=2).teacher(Z))
    for bad in ({"dim": 0}, {"dim": 2, "width": 1.5}, {"dim": 2, "activation": "sine"}):
        with pytest.raises(SpecError):
            HypercubeTeacher(**bad)
