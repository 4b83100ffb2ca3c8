"""Seed jobs that fail on purpose, for the fault tests. Module-level so that worker processes (a local pool or
Dask workers, which get this folder on their path) can unpickle them by reference."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from scalinglab.sweep.runner import run_seed


def raise_on_seed_1(spec, seed, blas_threads=None):
    if seed == 1:
        raise ValueError(f"seed {seed} is poisoned [on purpose]")
    return run_seed(spec, seed, blas_threads)


def nan_on_seed_2(spec, seed, blas_threads=None):
    ms = run_seed(spec, seed, blas_threads)
    if seed == 2:
        ms[3] = dataclasses.replace(ms[3], test_loss=float("nan"))
    return ms


def _first_time(marker_dir: str, seed: int) -> bool:
    """True the first time it is called for ``seed`` (in any process): creates a marker file atomically."""
    try:
        fd = os.open(Path(marker_dir) / f"seed-{seed}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def raise_once_per_seed(marker_dir, spec, seed, blas_threads=None):
    """Every seed fails on its first attempt and succeeds on the second."""
    if _first_time(marker_dir, seed):
        raise RuntimeError(f"transient failure of seed {seed}")
    return run_seed(spec, seed, blas_threads)


def die_once_on_seed_1(marker_dir, spec, seed, blas_threads=None):
    """The worker process running seed 1 kills itself with SIGKILL, the first time only."""
    if seed == 1 and _first_time(marker_dir, seed):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_seed(spec, seed, blas_threads)
