import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.models.random_features import RandomFeatures
from scalinglab.tasks.teacher_student import TeacherStudent


def _brute_force(task, F, proj, d, p):
    """Losses of the min-norm least-squares student at (d, p) from explicit pseudo-inverses."""
    lam, sigma2 = task.eigenvalues, task.noise**2
    Phi = F[:d] @ proj[:p].T
    B = np.linalg.pinv(Phi, rcond=1e-13)
    M = proj[:p].T @ B @ F[:d]
    noise_term = sigma2 * np.trace(proj[:p].T @ B @ B.T @ proj[:p] @ np.diag(lam))
    avg = task.expected_population_loss(M) + noise_term
    return avg


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_every_grid_point_matches_explicit_pseudo_inverse(noise):
    task = TeacherStudent(features=200, spectrum_exponent=0.5, noise=noise)
    ds, ps = [6, 15, 40], [5, 15, 32]
    ms = RandomFeatures(ridge=1e-12).learning_curve(task, ds, ps, np.random.default_rng(7))
    assert {(m.data_size, m.model_size) for m in ms} == {(d, p) for d in ds for p in ps}
    rng = np.random.default_rng(7)  # the model's draws, in its order
    F = task.sample_features(max(ds), rng)
    proj = rng.standard_normal((max(ps), task.features))
    for m in ms:
        if m.data_size == m.model_size:
            continue  # the interpolation threshold is ill-conditioned by nature
        expected = _brute_force(task, F, proj, m.data_size, m.model_size)
        assert m.extra["loss_teacher_average"] == pytest.approx(expected, rel=1e-6)
        assert m.test_loss == m.extra["loss_teacher_average"]


def test_single_teacher_loss_matches_task_population_loss():
    task = TeacherStudent(features=150, spectrum_exponent=1.0, average_teacher=False)
    ms = RandomFeatures(ridge=0.0).learning_curve(task, [10, 30], [8, 20], np.random.default_rng(1))
    rng = np.random.default_rng(1)
    F = task.sample_features(30, rng)
    proj = rng.standard_normal((20, 150))
    y = F @ task.teacher
    for m in ms:
        Phi = F[: m.data_size] @ proj[: m.model_size].T
        theta = np.linalg.pinv(Phi) @ y[: m.data_size]
        expected = task.population_loss(proj[: m.model_size].T @ theta)
        assert m.test_loss == pytest.approx(expected, rel=1e-7)
        assert m.train_loss == pytest.approx(np.mean((Phi @ theta - y[: m.data_size]) ** 2), abs=1e-9)


def test_closed_form_limits():
    task = TeacherStudent(features=120, spectrum_exponent=0.5)
    ms = RandomFeatures().learning_curve(task, [10, 20], [6, 12], np.random.default_rng(2))
    rng = np.random.default_rng(2)
    F = task.sample_features(20, rng)
    proj = rng.standard_normal((12, 120))
    lam = task.eigenvalues
    for m in ms:
        # D = inf: the best predictor in the span of the P projections, in the Lambda-weighted norm.
        P = proj[: m.model_size]
        M_best = P.T @ np.linalg.solve(P @ np.diag(lam) @ P.T, P @ np.diag(lam))
        assert m.extra["loss_data_limit"] == pytest.approx(task.expected_population_loss(M_best), rel=1e-8)
        # P = inf: min-norm interpolation on the latent features.
        Fd = F[: m.data_size]
        M_interp = np.linalg.pinv(Fd) @ Fd
        assert m.extra["loss_model_limit"] == pytest.approx(task.expected_population_loss(M_interp), rel=1e-8)


def test_least_squares_excess_loss_follows_gaussian_design_theory():
    """For Gaussian features the best-in-class residual is independent of the design, so
    E_F[L(D, P)] = L(inf, P) (D - 1) / (D - P - 1) exactly (P < D - 1). Tolerance: 4 standard errors over seeds."""
    task = TeacherStudent(features=512, spectrum_exponent=0.5)
    D, P = 48, 8
    ratios = []
    for seed in range(40):
        (m,) = RandomFeatures().learning_curve(task, [D], [P], np.random.default_rng(seed))
        ratios.append(m.test_loss / m.extra["loss_data_limit"])
    ratios = np.array(ratios)
    expected = (D - 1) / (D - P - 1)
    se = ratios.std(ddof=1) / np.sqrt(len(ratios))
    assert abs(ratios.mean() - expected) < 4 * se
    assert se < 0.02  # the check has power: it tells 1 + P/D from (D - 1)/(D - P - 1)


def test_train_loss_is_zero_when_interpolating():
    task = TeacherStudent(features=300)
    ms = RandomFeatures(ridge=1e-10).learning_curve(task, [10, 60], [30, 90], np.random.default_rng(0))
    for m in ms:
        if m.data_size < m.model_size:
            assert m.train_loss < 1e-6
        else:
            assert m.train_loss > 0.01


def test_bad_arguments():
    with pytest.raises(SpecError, match="model.ridge"):
        RandomFeatures(ridge=-1.0)
    with pytest.raises(SpecError, match="grid.data"):
        RandomFeatures().learning_curve(TeacherStudent(features=50), [0, 4], [4], np.random.default_rng(0))


def _reference_grid(task, ridge, ds, ps, seed):
    """Every grid point solved on its own, from explicit products and the ridge estimator B (theta = B y), as
    the model did before its factorisations were shared: the same draws, ridge and formulas, no nesting."""
    lam, sigma2 = task.eigenvalues, task.noise**2
    rng = np.random.default_rng(seed)
    F = task.sample_features(max(ds), rng)
    proj = rng.standard_normal((max(ps), task.features))
    y = F @ task.teacher + task.noise * rng.standard_normal(max(ds))
    out = {}
    for d in ds:
        Fd = F[:d]
        KF = Fd @ Fd.T
        model_limit = lam.sum() - np.trace(np.linalg.solve(KF, (Fd * lam) @ Fd.T)) + sigma2
        model_limit += sigma2 * np.trace(np.linalg.solve(KF, np.linalg.solve(KF, (Fd * lam) @ Fd.T).T))
        for p in ps:
            Pp = proj[:p]
            Phi = Fd @ Pp.T
            r = ridge * np.sum(Phi * Phi) / d
            if d <= p:
                B = Phi.T @ np.linalg.inv(Phi @ Phi.T + r * np.eye(d))
            else:
                B = np.linalg.inv(Phi.T @ Phi + r * np.eye(p)) @ Phi.T
            G, H = (Fd * lam) @ Pp.T, (Pp * lam) @ Pp.T
            resid = Phi @ B - np.eye(d)
            theta = B @ y[:d]
            out[d, p] = {
                "loss_teacher_average": lam.sum() - 2 * np.trace(B @ G) + np.trace(B @ KF @ B.T @ H)
                + sigma2 * (1 + np.trace(B.T @ H @ B)),
                "train_teacher_average": (np.trace(resid @ KF @ resid.T) + sigma2 * np.sum(resid * resid)) / d,
                "loss_single_teacher": task.population_loss(Pp.T @ theta),
                "train_loss_single_teacher": np.mean((Phi @ theta - y[:d]) ** 2),
                "loss_data_limit": lam.sum() - np.trace(np.linalg.solve(H, (Pp * lam**2) @ Pp.T)) + sigma2,
                "loss_model_limit": model_limit,
            }
    return out


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_shared_factorisations_equal_one_solve_per_point(noise):
    """The nested blocks (one factorisation of K_F and of H, one block of products per P or D, and the exact
    traces from them) give every grid point to rounding. Distinct sizes differ by at least a factor 2, so that
    K + rI has condition number below ((1 + 2^-1/2) / (1 - 2^-1/2))^2 = 34 there and rounding stays far below
    1e-10; at D = P (the interpolation threshold) the condition number is about 4 / ridge and the agreement is
    that of the rounding, ridge^-1 times the machine epsilon times the size."""
    task = TeacherStudent(features=700, spectrum_exponent=0.5, noise=noise)
    ds, ps, ridge = [8, 16, 48, 96], [6, 16, 40, 96, 200], 1e-6
    ms = RandomFeatures(ridge=ridge).learning_curve(task, ds, ps, np.random.default_rng(11))
    ref = _reference_grid(task, ridge, ds, ps, 11)
    assert sorted((m.data_size, m.model_size) for m in ms) == sorted(ref)
    for m in ms:
        want = ref[m.data_size, m.model_size]
        got = {**m.extra, "train_teacher_average": m.train_loss}
        rel = 1e-10 if m.data_size != m.model_size else 100 * m.data_size * np.finfo(float).eps / ridge
        for key, value in want.items():
            if key == "train_loss_single_teacher" and m.data_size < m.model_size:
                assert got[key] == pytest.approx(value, abs=1e-10 * want["loss_single_teacher"])  # both ~0
            else:
                assert got[key] == pytest.approx(value, rel=rel), (key, m.data_size, m.model_size)
