"""Linear random-feature teacher-student task of Bahri et al. (2024), section "random feature models".

Latent features F(x) in R^S have independent Gaussian coordinates of variance lambda_i = i^-(1 + alpha)
(alpha = ``spectrum_exponent``), the teacher is y = w . F(x) + noise with w_i ~ N(0, 1). A linear predictor
with coefficients beta in R^S has the exact population loss

    L(beta) = (w - beta)^T diag(lambda) (w - beta) + noise^2,

the mean squared error against fresh noisy labels.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks import sample_count


@dataclasses.dataclass(frozen=True)
class TeacherStudent:
    """Gaussian latent features with a power-law spectrum and a random linear teacher.

    Parameters
    ----------
    features:
        S, the number of latent features. Keep it at least 8 times the largest data or model size: a truncated
        spectrum makes resolution-limited slopes too steep.
    spectrum_exponent:
        alpha in lambda_i = i^-(1 + alpha); theory predicts alpha_D = alpha_P = alpha.
    noise:
        standard deviation of Gaussian label noise.
    average_teacher:
        report the loss averaged exactly over teachers w ~ N(0, I) (the default, much less noisy) rather than
        the loss of the one teacher drawn from ``teacher_seed``.
    """

    features: int = 4096
    spectrum_exponent: float = 0.5
    noise: float = 0.0
    average_teacher: bool = True
    teacher_seed: int = 0
    name: str = "teacher_student"

    def __post_init__(self) -> None:
        if int(self.features) != self.features or self.features < 1:
            raise SpecError(f"task.features: must be a positive integer, got {self.features!r}")
        if not np.isfinite(self.spectrum_exponent) or self.spectrum_exponent <= 0:
            raise SpecError(f"task.spectrum_exponent: must be positive, got {self.spectrum_exponent!r}")
        if not np.isfinite(self.noise) or self.noise < 0:
            raise SpecError(f"task.noise: must be non-negative, got {self.noise!r}")

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """lambda_i = i^-(1 + alpha), i = 1..S: the variances of the latent features."""
        return np.arange(1, self.features + 1, dtype=float) ** -(1.0 + self.spectrum_exponent)

    @cached_property
    def teacher(self) -> np.ndarray:
        """The teacher's coefficients w ~ N(0, I_S), drawn from ``teacher_seed``."""
        return np.random.default_rng(self.teacher_seed).standard_normal(self.features)

    def sample_features(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n latent feature vectors F(x) ~ N(0, diag(lambda)), shape (n, S)."""
        return rng.standard_normal((n, self.features)) * np.sqrt(self.eigenvalues)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n inputs (their latent features) and noisy teacher labels."""
        n = sample_count(n)
        X = self.sample_features(n, rng)
        y = X @ self.teacher + self.noise * rng.standard_normal(n)
        return X, y

    def population_loss(self, predictor: np.ndarray) -> float:
        """Exact mean squared error of the linear predictor x -> F(x) . beta, for beta of shape (S,)."""
        beta = np.asarray(predictor, dtype=float)
        if beta.shape != (self.features,):
            raise SpecError(f"predictor: expected coefficients of shape ({self.features},), got {beta.shape}")
        err = self.teacher - beta
        return float(err @ (self.eigenvalues * err) + self.noise**2)

    def expected_population_loss(self, predictor: np.ndarray) -> float:
        """Population loss averaged over teachers for a predictor linear in the labels, beta = M w.

        ``predictor`` is the S x S matrix M; the noise-free part is Tr(Lambda) - 2 Tr(Lambda M) + Tr(M^T Lambda M).
        """
        M = np.asarray(predictor, dtype=float)
        lam = self.eigenvalues
        return float(lam.sum() - 2 * np.einsum("i,ii->", lam, M) + np.einsum("ji,j,ji->", M, lam, M) + self.noise**2)

    def properties(self) -> dict[str, float]:
        return {
            "spectrum_exponent": float(self.spectrum_exponent),
            "features": float(self.features),
            "noise": float(self.noise),
            "trace": float(self.eigenvalues.sum()),
        }
