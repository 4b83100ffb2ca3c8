"""Multitask sparse parity: Michaud et al. (2023), "The Quantization Model of Neural Scaling"; the paper's toy dataset.

An input is a one-hot control block of ``n_tasks`` bits followed by ``n_bits`` uniformly random task bits.
Subtask i (the control bit that is on) has its own fixed set S_i of ``k`` relevant task bits, drawn once from
the task seed (distinct across subtasks); the label is the parity of those bits, y = sum_{j in S_i} x_j mod 2.
Subtask i is drawn with frequency p_i = i^-(alpha + 1) / sum_j j^-(alpha + 1) (``zipf_exponent`` = alpha + 1),
so subtasks are the paper's quanta, ranked by use.

Population loss: the per-subtask error of a predictor, weighted by the exact p_i. The per-subtask error is exact
(all 2^n_bits inputs of the subtask enumerated) when 2^n_bits <= ``test_per_task``, else estimated on a fixed
stratified test set of ``test_per_task`` inputs per subtask drawn from the task seed (standard error at most
0.5 / sqrt(test_per_task) per subtask); ``properties()["exact"]`` says which.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import cached_property

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks import sample_count

MAX_INPUTS = 1 << 22  # largest stratified test set held in memory (rows)


@dataclasses.dataclass(frozen=True)
class MultitaskSparseParity:
    """Multitask sparse parity with Zipf-distributed subtask frequencies (module docstring).

    Parameters
    ----------
    n_tasks:
        number of subtasks (quanta); also the width of the one-hot control block.
    n_bits:
        number of random task bits shared by all subtasks.
    k:
        relevant bits per subtask (the parity's order), 1 <= k <= n_bits.
    zipf_exponent:
        alpha + 1 > 1: subtask i has frequency proportional to i^-(alpha + 1).
    seed:
        draws the relevant-bit sets and the stratified test set.
    test_per_task:
        test inputs per subtask for the population loss (all 2^n_bits when that is not more).
    """

    n_tasks: int = 50
    n_bits: int = 16
    k: int = 3
    zipf_exponent: float = 2.0
    seed: int = 0
    test_per_task: int = 2000
    name: str = "multitask_sparse_parity"

    def __post_init__(self) -> None:
        for key in ("n_tasks", "n_bits", "k", "test_per_task"):
            value = getattr(self, key)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise SpecError(f"task.{key}: must be a positive integer, got {value!r}")
        if self.k > self.n_bits:
            raise SpecError(f"task.k: must be at most n_bits = {self.n_bits}, got {self.k!r}")
        if math.comb(int(self.n_bits), int(self.k)) < self.n_tasks:
            raise SpecError(f"task.n_tasks: {self.n_tasks} subtasks need distinct relevant-bit sets, but only "
                            f"C({self.n_bits}, {self.k}) = {math.comb(int(self.n_bits), int(self.k))} exist")
        if self.n_bits > 62:
            raise SpecError(f"task.n_bits: at most 62 supported, got {self.n_bits!r}")
        if not (np.isfinite(self.zipf_exponent) and self.zipf_exponent > 1.0):
            raise SpecError(f"task.zipf_exponent: alpha + 1 must be finite and > 1, got {self.zipf_exponent!r}")
        if self.n_tasks * min(self.test_per_task, 2**self.n_bits) > MAX_INPUTS:
            raise SpecError(f"task.test_per_task: n_tasks * test_per_task must be at most {MAX_INPUTS}, "
                            f"got {self.n_tasks} * {self.test_per_task}")

    @property
    def alpha(self) -> float:
        """alpha = zipf_exponent - 1, the quanta model's exponent."""
        return float(self.zipf_exponent) - 1.0

    @property
    def input_dim(self) -> int:
        return int(self.n_tasks + self.n_bits)

    @cached_property
    def frequencies(self) -> np.ndarray:
        """p_i = i^-(alpha + 1) / sum_j j^-(alpha + 1), i = 1..n_tasks."""
        w = np.arange(1, self.n_tasks + 1, dtype=float) ** -float(self.zipf_exponent)
        return w / w.sum()

    @cached_property
    def relevant_bits(self) -> np.ndarray:
        """(n_tasks, k) sorted indices of each subtask's relevant task bits, fixed by ``seed``; no two subtasks share
        the same set (so no subtask is learned for free with another)."""
        rng = np.random.default_rng(np.random.SeedSequence(int(self.seed), spawn_key=(0,)))
        chosen: dict[tuple[int, ...], None] = {}
        while len(chosen) < self.n_tasks:
            chosen.setdefault(tuple(int(b) for b in np.sort(rng.choice(self.n_bits, self.k, replace=False))))
        return np.array(list(chosen), dtype=np.int64)

    def encode(self, tasks: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (m, n_tasks + n_bits) of 0/1 floats and parity labels (m,) for subtask ids and task bits."""
        tasks = np.asarray(tasks, dtype=np.int64)
        bits = np.asarray(bits, dtype=np.uint8)
        X = np.zeros((tasks.size, self.input_dim), dtype=np.float32)
        X[np.arange(tasks.size), tasks] = 1.0
        X[:, self.n_tasks:] = bits
        y = bits[np.arange(tasks.size)[:, None], self.relevant_bits[tasks]].sum(axis=1) % 2
        return X, y.astype(np.int64)

    def sample_with_tasks(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n i.i.d. examples and the subtask id (0-based rank) of each."""
        n = sample_count(n)
        tasks = rng.choice(self.n_tasks, size=int(n), p=self.frequencies)
        bits = rng.integers(0, 2, size=(int(n), self.n_bits), dtype=np.uint8)
        X, y = self.encode(tasks, bits)
        return X, y, tasks

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n i.i.d. inputs (float32 0/1, shape (n, n_tasks + n_bits)) and labels (int 0/1)."""
        X, y, _ = self.sample_with_tasks(n, rng)
        return X, y

    def subtask_of(self, X: np.ndarray) -> np.ndarray:
        """The subtask id of each input: the position of its control bit."""
        return np.argmax(np.asarray(X)[:, : self.n_tasks], axis=1)

    @property
    def exact(self) -> bool:
        """Whether the population loss enumerates every input (2^n_bits <= test_per_task)."""
        return 2**self.n_bits <= self.test_per_task

    @cached_property
    def _test_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.exact:
            m = 2**self.n_bits
            bits = ((np.arange(m)[:, None] >> np.arange(self.n_bits)) & 1).astype(np.uint8)
            bits = np.tile(bits, (self.n_tasks, 1))
        else:
            m = self.test_per_task
            rng = np.random.default_rng(np.random.SeedSequence(int(self.seed), spawn_key=(1,)))
            bits = rng.integers(0, 2, size=(self.n_tasks * m, self.n_bits), dtype=np.uint8)
        tasks = np.repeat(np.arange(self.n_tasks), m)
        X, y = self.encode(tasks, bits)
        for a in (X, y, tasks):
            a.setflags(write=False)
        return X, y, tasks

    def test_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stratified test set (X, y, subtask ids), equally many rows per subtask, in subtask order."""
        return self._test_set

    def subtask_errors(self, predictor: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Error rate of ``predictor`` on each subtask, shape (n_tasks,).

        ``predictor`` maps inputs (m, n_tasks + n_bits) to either (m,) scores, read as label 1 when > 0.5
        (probabilities or hard 0/1 labels), or (m, 2) class scores, read by argmax.
        """
        X, y, tasks = self._test_set
        out = np.asarray(predictor(X))
        if out.shape == (len(y),):
            label = (out > 0.5).astype(np.int64)
        elif out.shape == (len(y), 2):
            label = np.argmax(out, axis=1)
        else:
            raise SpecError(f"predictor: expected outputs of shape ({len(y)},) or ({len(y)}, 2), got {out.shape}")
        wrong = (label != y).astype(float)
        return np.bincount(tasks, weights=wrong, minlength=self.n_tasks) / np.bincount(tasks,
                                                                                         minlength=self.n_tasks)

    def population_loss(self, predictor: Callable[[np.ndarray], np.ndarray]) -> float:
        """sum_i p_i err_i: the predictor's error rate under the task distribution (module docstring)."""
        return float(self.frequencies @ self.subtask_errors(predictor))

    def properties(self) -> dict[str, float]:
        return {
            "zipf_exponent": float(self.zipf_exponent),
            "alpha": self.alpha,
            "n_tasks": float(self.n_tasks),
            "n_bits": float(self.n_bits),
            "k": float(self.k),
            "input_dim": float(self.input_dim),
            "exact": float(self.exact),
        }
