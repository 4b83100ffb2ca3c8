"""Smooth random targets on a d-dimensional manifold embedded in R^n (Bahri et al. 2024, resolution-limited
scaling: a model resolving a d-dimensional data manifold has L ~ D^-4/d for smooth targets).

Manifolds, as intrinsic embeddings u in R^m, normalised so that E|u|^2 = d (unit variance per dimension):
- ``torus``: u = (cos t_1, sin t_1, ..., cos t_d, sin t_d) with t uniform (flat torus, m = 2d, isometric);
- ``sphere``: u uniform on the sphere S^d of radius sqrt(d) in R^(d+1) (m = d + 1);
- ``cube``: u uniform in [-sqrt 3, sqrt 3]^d (m = d).
The inputs are x = sqrt(n/d) Q u with Q (n x m) orthonormal columns of a random rotation, so E|x|^2 = n (the
scale of standardised data). The target is a Gaussian-process draw with a Matern kernel of smoothness ``nu`` and
length scale ``length_scale`` on u, realised by ``n_fourier`` random Fourier features (Rahimi and Recht 2007):
f(u) = sqrt(2/J) sum_j a_j cos(w_j.u + b_j), w_j drawn from the Matern spectral density (a multivariate t
with 2 nu degrees of freedom; Gaussian for nu = inf), a_j ~ N(0, 1), b_j uniform. A Matern-nu draw on a
d-dimensional manifold has power-spectrum eigenvalues ~ k^-(1 + 2 nu / d).

With ``target = "student_kernel"`` the target is instead a Gaussian-process draw with the student's own kernel
(the teacher-student setting of Bahri et al.): a model that supports it averages its loss over such teachers
exactly (see ``models.kernel_ridge``); ``sample`` still returns the Matern target, which such a model ignores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from typing import Literal

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks import sample_count

MANIFOLDS = ("torus", "sphere", "cube")


def embedding_dim(manifold: str, d: int) -> int:
    return {"torus": 2 * d, "sphere": d + 1, "cube": d}[manifold]


@dataclasses.dataclass(frozen=True)
class ManifoldTask:
    """A random smooth target on a d-dimensional torus, sphere or cube, randomly rotated into R^n."""

    manifold: Literal["torus", "sphere", "cube"] = "torus"
    intrinsic_dim: int = 3
    ambient_dim: int = 16
    smoothness: float = 1.5
    length_scale: float = 1.0
    n_fourier: int = 4096
    noise: float = 0.0
    target_seed: int = 0
    n_eval: int = 20000
    target: Literal["matern", "student_kernel"] = "matern"
    name: str = "manifold"

    def __post_init__(self) -> None:
        if self.manifold not in MANIFOLDS:
            raise SpecError(f"task.manifold: must be one of {', '.join(MANIFOLDS)}, got {self.manifold!r}")
        if int(self.intrinsic_dim) != self.intrinsic_dim or self.intrinsic_dim < 1:
            raise SpecError(f"task.intrinsic_dim: must be a positive integer, got {self.intrinsic_dim!r}")
        m = embedding_dim(self.manifold, int(self.intrinsic_dim))
        if int(self.ambient_dim) != self.ambient_dim or self.ambient_dim < m:
            raise SpecError(f"task.ambient_dim: a {self.intrinsic_dim}-dimensional {self.manifold} needs at least "
                            f"{m} ambient dimensions, got {self.ambient_dim!r}")
        if not (self.smoothness > 0):
            raise SpecError(f"task.smoothness: must be positive (inf for a Gaussian kernel), got {self.smoothness!r}")
        if not (np.isfinite(self.length_scale) and self.length_scale > 0):
            raise SpecError(f"task.length_scale: must be positive, got {self.length_scale!r}")
        if int(self.n_fourier) != self.n_fourier or self.n_fourier < 1:
            raise SpecError(f"task.n_fourier: must be a positive integer, got {self.n_fourier!r}")
        if self.target not in ("matern", "student_kernel"):
            raise SpecError(f"task.target: must be 'matern' or 'student_kernel', got {self.target!r}")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise SpecError(f"task.noise: must be non-negative, got {self.noise!r}")

    @property
    def embedding_dim(self) -> int:
        return embedding_dim(self.manifold, int(self.intrinsic_dim))

    @cached_property
    def _target(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rotation Q, frequencies W, phases b, amplitudes a), all from ``target_seed``."""
        rng = np.random.default_rng([int(self.target_seed), 7310])
        n, m, J = int(self.ambient_dim), self.embedding_dim, int(self.n_fourier)
        Q, R = np.linalg.qr(rng.standard_normal((n, n)))
        Q = (Q * np.sign(np.diag(R)))[:, :m]
        W = rng.standard_normal((J, m)) / self.length_scale
        if np.isfinite(self.smoothness):
            W /= np.sqrt(rng.chisquare(2 * self.smoothness, J) / (2 * self.smoothness))[:, None]
        b = rng.uniform(0, 2 * np.pi, J)
        a = rng.standard_normal(J)
        for arr in (Q, W, b, a):
            arr.setflags(write=False)
        return Q, W, b, a

    def sample_intrinsic(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n points u on the manifold in its intrinsic embedding, shape (n, m), E|u|^2 = d."""
        d = int(self.intrinsic_dim)
        if self.manifold == "torus":
            t = rng.uniform(0, 2 * np.pi, (n, d))
            u = np.empty((n, 2 * d))
            u[:, 0::2], u[:, 1::2] = np.cos(t), np.sin(t)
            return u
        if self.manifold == "sphere":
            g = rng.standard_normal((n, d + 1))
            return np.sqrt(d) * g / np.linalg.norm(g, axis=1, keepdims=True)
        return rng.uniform(-np.sqrt(3), np.sqrt(3), (n, d))

    def embed(self, u: np.ndarray) -> np.ndarray:
        Q = self._target[0]
        return np.sqrt(self.ambient_dim / self.intrinsic_dim) * (u @ Q.T)

    def target_values(self, u: np.ndarray) -> np.ndarray:
        """The noise-free target at intrinsic points u."""
        _, W, b, a = self._target
        out = np.empty(u.shape[0])
        for i in range(0, u.shape[0], 4096):  # bounded workspace
            out[i: i + 4096] = np.cos(u[i: i + 4096] @ W.T + b) @ a
        return np.sqrt(2.0 / len(a)) * out

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n inputs in R^ambient_dim and their noisy targets."""
        u = self.sample_intrinsic(sample_count(n), rng)
        y = self.target_values(u)
        if self.noise:
            y = y + self.noise * rng.standard_normal(y.shape)
        return self.embed(u), y

    def population_loss(self, predictor: Callable[[np.ndarray], np.ndarray]) -> float:
        """Mean squared error of ``predictor`` (inputs -> predictions) on ``n_eval`` fixed points drawn from the
        task (a Monte-Carlo estimate, relative standard error about sqrt(2 / n_eval) for Gaussian errors), plus
        the noise variance."""
        u = self.sample_intrinsic(int(self.n_eval), np.random.default_rng([int(self.target_seed), 9001]))
        X, y = self.embed(u), self.target_values(u)
        pred = np.asarray(predictor(X), dtype=float).reshape(y.shape)
        return float(np.mean((pred - y) ** 2) + self.noise**2)

    def properties(self) -> dict[str, float]:
        d = float(self.intrinsic_dim)
        return {
            "intrinsic_dimension": d,
            "ambient_dimension": float(self.ambient_dim),
            "four_over_d": 4.0 / d,
            "target_spectrum_exponent": 2 * float(self.smoothness) / d,
            "noise": float(self.noise),
        }
