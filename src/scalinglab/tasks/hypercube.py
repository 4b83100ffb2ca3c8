"""Deep teacher-student on the hypercube (Bahri et al. 2024, Fig. 1b): inputs uniform in [-1, 1]^d, labels from a
random fully connected ReLU teacher. The data manifold is the cube itself, so its intrinsic dimension is d and a
model that is accurate to linear order between training points has test MSE ~ D^(-4/d) (their Theorem 3).
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks import sample_count


@dataclasses.dataclass(frozen=True)
class HypercubeTeacher:
    """A random teacher (ReLU, or tanh for a smooth target), ``depth`` hidden layers of ``width``, on [-1, 1]^dim.

    Weights are N(0, ``weight_variance`` / fan_in) and biases N(0, ``bias_variance``); the output is rescaled so
    that its variance over the cube is 1 (estimated on ``n_population`` points), so losses compare across d.
    ``population_loss`` is the MSE on those ``n_population`` fixed points (a Monte Carlo estimate).
    """

    dim: int
    width: int = 96
    depth: int = 2
    weight_variance: float = 2.0
    bias_variance: float = 0.2
    activation: str = "relu"
    teacher_seed: int = 0
    n_population: int = 20000
    name: str = "hypercube_teacher"

    def __post_init__(self) -> None:
        for key in ("dim", "width", "depth", "n_population"):
            value = getattr(self, key)
            if int(value) != value or value < 1:
                raise SpecError(f"task.{key}: must be a positive integer, got {value!r}")
        if self.activation not in ("relu", "tanh"):
            raise SpecError(f"task.activation: expected 'relu' or 'tanh', got {self.activation!r}")
        if not self.weight_variance > 0 or not self.bias_variance >= 0:
            raise SpecError(f"task.weight_variance/bias_variance: got {self.weight_variance!r}, "
                            f"{self.bias_variance!r}")

    @cached_property
    def _layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(self.teacher_seed)
        sizes = [self.dim] + [self.width] * self.depth + [1]
        return [(rng.standard_normal((a, b)) * np.sqrt(self.weight_variance / a),
                 rng.standard_normal(b) * np.sqrt(self.bias_variance)) for a, b in zip(sizes[:-1], sizes[1:],
                                                                                      strict=True)]

    def _raw(self, X: np.ndarray) -> np.ndarray:
        h = np.asarray(X, dtype=float)
        for W, b in self._layers[:-1]:
            z = h @ W + b
            h = np.maximum(z, 0.0) if self.activation == "relu" else np.tanh(z)
        W, b = self._layers[-1]
        return (h @ W + b)[:, 0]

    @cached_property
    def _population(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        X = np.random.default_rng(self.teacher_seed + 1).uniform(-1, 1, (self.n_population, self.dim))
        raw = self._raw(X)
        mean, sd = float(raw.mean()), float(raw.std())
        return X, (raw - mean) / sd, mean, sd

    def teacher(self, X: np.ndarray) -> np.ndarray:
        """The teacher's outputs, centred and scaled to unit variance over the cube."""
        _, _, mean, sd = self._population
        return (self._raw(X) - mean) / sd

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = rng.uniform(-1, 1, (sample_count(n), self.dim))
        return X, self.teacher(X)

    def population_loss(self, predictor) -> float:
        """MSE of ``predictor`` (a callable from (n, dim) inputs to (n,) outputs) on the fixed population sample."""
        X, y, _, _ = self._population
        pred = np.asarray(predictor(X), dtype=float).reshape(-1)
        return float(np.mean((pred - y) ** 2))

    def properties(self) -> dict[str, float]:
        return {"intrinsic_dimension": float(self.dim), "alpha_data_predicted": 4.0 / self.dim}
