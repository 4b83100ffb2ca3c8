"""The two contracts every task and model keep, and the record a measurement is stored as.

See docs/architecture.md. A task knows its ground truth; a model has one size knob and a data size, and
computes a whole nested grid of (data size, model size) for one seed when it can.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np

from scalinglab.errors import SpecError


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One grid point for one seed.

    ``test_loss`` is the population loss (exact where the task allows it), ``extra`` holds further metrics,
    for example the closed-form limits ``loss_data_limit`` = L(D=inf, P) and ``loss_model_limit`` = L(D, P=inf).
    """

    data_size: int
    model_size: int
    seed: int
    train_loss: float
    test_loss: float
    wall_seconds: float
    extra: dict[str, float] = dataclasses.field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        row.update(self.extra)
        return row


@runtime_checkable
class Task(Protocol):
    name: str

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...

    def population_loss(self, predictor: Any) -> float: ...

    def properties(self) -> dict[str, float]: ...


@runtime_checkable
class Model(Protocol):
    def learning_curve(
        self, task: Task, data_sizes: list[int], model_sizes: list[int], rng: np.random.Generator
    ) -> list[Measurement]: ...

    def properties(self) -> dict[str, float]: ...  # what theory needs of the model (random features, depth, c)


def grid_sizes(name: str, sizes: Any) -> list[int]:
    """The distinct sizes of one grid axis, ascending, as a model's ``measure_grid`` receives them; ``name`` (the
    spec key or argument) is named in the error when one is not a positive integer."""
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 1:
        raise SpecError(f"{name}: sizes must be positive integers, got {sizes}")
    return sizes
