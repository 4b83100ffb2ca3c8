import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.tasks.teacher_student import TeacherStudent


def test_spectrum_is_power_law():
    task = TeacherStudent(features=100, spectrum_exponent=0.5)
    lam = task.eigenvalues
    assert lam.shape == (100,)
    assert lam[0] == 1.0
    np.testing.assert_allclose(lam[9], 10.0**-1.5)


def test_sample_covariance_matches_spectrum():
    task = TeacherStudent(features=8, spectrum_exponent=1.0)
    X, y = task.sample(200_000, np.random.default_rng(0))
    var = X.var(axis=0)
    # relative standard error of a variance estimate is sqrt(2/n) = 0.3%; allow 5 of them
    np.testing.assert_allclose(var, task.eigenvalues, rtol=5 * np.sqrt(2 / 200_000))
    np.testing.assert_allclose(y, X @ task.teacher)


def test_sample_is_deterministic_under_a_seed():
    task = TeacherStudent(features=16, noise=0.1)
    a = task.sample(5, np.random.default_rng(3))
    b = task.sample(5, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_population_loss_is_exact_mse():
    task = TeacherStudent(features=6, spectrum_exponent=0.5, noise=0.3)
    w = task.teacher
    assert task.population_loss(w) == pytest.approx(0.09)
    beta = np.zeros(6)
    assert task.population_loss(beta) == pytest.approx(float(w @ (task.eigenvalues * w)) + 0.09)
    # Monte Carlo agreement for an arbitrary predictor
    beta = np.random.default_rng(1).standard_normal(6)
    X, y = task.sample(400_000, np.random.default_rng(2))
    mc = np.mean((X @ beta - y) ** 2)
    assert mc == pytest.approx(task.population_loss(beta), rel=0.01)


def test_expected_loss_over_teachers():
    task = TeacherStudent(features=5, spectrum_exponent=0.5)
    lam = task.eigenvalues
    assert task.expected_population_loss(np.zeros((5, 5))) == pytest.approx(lam.sum())
    assert task.expected_population_loss(np.eye(5)) == pytest.approx(0.0, abs=1e-12)
    M = np.random.default_rng(0).standard_normal((5, 5))
    ws = np.random.default_rng(1).standard_normal((200_000, 5))
    err = ws - ws @ M.T
    mc = np.mean(np.sum(err**2 * lam, axis=1))
    assert mc == pytest.approx(task.expected_population_loss(M), rel=0.02)


@pytest.mark.parametrize("kwargs, key", [
    ({"features": 0}, "task.features"),
    ({"spectrum_exponent": -1.0}, "task.spectrum_exponent"),
    ({"noise": -0.1}, "task.noise"),
])
def test_bad_parameters_name_the_key(kwargs, key):
    with pytest.raises(SpecError, match=key):
        TeacherStudent(**kwargs)


def test_properties():
    props = TeacherStudent(features=10, spectrum_exponent=0.7).properties()
    assert props["spectrum_exponent"] == 0.7
    assert props["features"] == 10
