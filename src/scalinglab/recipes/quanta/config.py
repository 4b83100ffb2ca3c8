"""The configurations of the quanta-zipf recipe (``QUICK``, ``FULL``) and the thresholds its runs use."""

from __future__ import annotations

import dataclasses

from scalinglab.theory import quanta as th

CHANCE = 0.5  # error rate of an unlearned parity
LEARNED = 0.1  # a subtask counts as learned when its test error is below this


@dataclasses.dataclass(frozen=True)
class QuantaConfig:
    """One configuration of the experiment; ``QUICK`` and ``FULL`` below."""

    zipf_exponents: tuple[float, ...]
    seeds: int
    n_tasks: int
    n_bits: int
    k: int
    widths: tuple[int, ...]
    param_pool: int
    data_width: int
    data_sizes: tuple[int, ...]
    steps: int
    batch_size: int = 256
    learning_rate: float = 0.01
    test_per_task: int = 1000
    min_quanta: float = 1.5
    max_quanta_fraction: float = 0.5
    n_boot: int = 200
    data_steps_factor: float = 1.0

    def steps_for(self, zipf_exponent: float) -> int:
        """Training steps for one Zipf exponent: ``steps`` at alpha + 1 = 2, scaled by 1/p_10 so that quantum 10
        (or the last) is seen equally often whatever the Zipf law (a quantum is learned after a roughly fixed
        number of its examples)."""
        k = min(10, self.n_tasks) - 1
        ref = th.frequencies(1.0, self.n_tasks)[k] / th.frequencies(zipf_exponent - 1.0, self.n_tasks)[k]
        return int(round(self.steps * ref))


QUICK = QuantaConfig(zipf_exponents=(1.5, 2.0, 2.5), seeds=2, n_tasks=32, n_bits=16, k=2,
                     widths=(4, 6, 8, 12, 16, 24, 32), param_pool=200_000, data_width=96,
                     data_sizes=(1000, 2000, 4000, 8000, 16000, 32000), steps=6000, data_steps_factor=1.0)
FULL = QuantaConfig(zipf_exponents=(1.5, 2.0, 2.5), seeds=4, n_tasks=64, n_bits=16, k=2,
                    widths=(4, 6, 8, 12, 16, 24, 32, 48, 64), param_pool=500_000, data_width=160,
                    data_sizes=(1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000), steps=24000)
