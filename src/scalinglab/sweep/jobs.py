"""A recipe's jobs on the sweep's runner and store: resumable, on any executor, the numbers independent of both.

A recipe describes its work as jobs, ``fn(config, *job)`` for a top-level ``fn``, a frozen configuration (a
dataclass) and a tuple of integers per job, returning a dict of numbers and arrays. :meth:`Jobs.map` looks each
job up in the store by a key (a hash of the configuration's fingerprint, ``fn``'s name and the job), runs the
missing ones with :func:`scalinglab.sweep.runner.drive` (the sweep's loop: one BLAS thread per job, retries, a
dead pool replaced, this process the only writer) and stores each result in one transaction as it arrives, as
tagged JSON that reads back exactly (floats by their shortest round-trip representation). Every result, computed
now or read from an earlier, interrupted run, is returned as read back from the store, so a resumed run ends with
the same numbers as an uninterrupted one, whatever the executor.

Randomness follows the sweep's one rule: a job draws from ``job_rng(fingerprint, *key)``, a SeedSequence of the
configuration's fingerprint with the job's key as its spawn key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from scalinglab.errors import DataError
from scalinglab.sweep.runner import BLAS_THREADS, RETRIES, drive, error_text
from scalinglab.sweep.store import Store

Progress = Callable[[int, int, str], None]


def config_fingerprint(config: Any) -> str:
    """16 hex digits of the SHA-256 of a dataclass configuration's fields (sorted JSON)."""
    text = json.dumps(dataclasses.asdict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_key(fingerprint: str, name: str, job: Sequence[int]) -> str:
    """The store key of one job: a hash of the configuration's fingerprint, the function's name and the job."""
    return hashlib.sha256(f"{fingerprint}:{name}:{json.dumps([int(v) for v in job])}".encode()).hexdigest()[:32]


def encode(payload: dict[str, Any]) -> str:
    """A job's result as JSON: arrays tagged with dtype and shape, numbers and strings as they are."""
    def enc(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biuf":
                raise DataError(f"job result: arrays of dtype {v.dtype} cannot be stored")
            return {"__array__": v.dtype.str, "shape": list(v.shape), "data": v.ravel().tolist()}
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, dict):
            return {str(k): enc(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [enc(x) for x in v]
        if isinstance(v, bool | int | float | str) or v is None:
            return v
        raise DataError(f"job result: a {type(v).__name__} cannot be stored")

    return json.dumps(enc(payload))


def decode(text: str) -> dict[str, Any]:
    """The inverse of :func:`encode`."""
    def dec(v: Any) -> Any:
        if isinstance(v, dict):
            if "__array__" in v:
                return np.array(v["data"], dtype=np.dtype(v["__array__"])).reshape(v["shape"])
            return {k: dec(x) for k, x in v.items()}
        if isinstance(v, list):
            return [dec(x) for x in v]
        return v

    return dec(json.loads(text))


def _call(fn: Callable[..., dict[str, Any]], config: Any, job: tuple[int, ...], attempt: int) -> tuple[str, float]:
    """One attempt at one job under ``BLAS_THREADS`` BLAS threads: (its encoded result, its wall seconds).
    ``attempt`` only makes each try a distinct task for executors that cache by arguments."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=BLAS_THREADS):
        payload = fn(config, *job)
    text = encode(payload)
    seconds = time.perf_counter() - t0
    if not math.isfinite(seconds):
        seconds = 0.0
    return text, seconds


@dataclasses.dataclass
class Jobs:
    """Where a recipe's jobs run and are kept: a store, and ``workers`` local processes (one: this process) or an
    ``executor`` (a Dask cluster's). ``progress(done, total, label)`` is called as jobs are stored."""

    store: Store
    workers: int = 1
    executor: Executor | None = None
    progress: Progress | None = None
    retries: int = RETRIES

    def map(self, recipe: str, fn: Callable[..., dict[str, Any]], config: Any, jobs: Sequence[tuple[int, ...]],
            label: str) -> list[dict[str, Any]]:
        """``fn(config, *job)`` for every job, from the store where it holds the result, else computed and stored;
        results in job order. A job that still fails after ``retries`` retries is a DataError naming it, raised
        after the other jobs are stored."""
        fp = config_fingerprint(config)
        name = f"{fn.__module__}.{fn.__qualname__}"
        keys = [job_key(fp, name, job) for job in jobs]
        have = self.store.result_keys(fp)
        pending = [tuple(int(v) for v in job) for job, key in zip(jobs, keys, strict=True) if key not in have]
        done, total = len(jobs) - len(pending), len(jobs)
        if self.progress:
            self.progress(done, total, label)
        failed: list[str] = []

        def commit(job: tuple[int, ...], result: tuple[str, float]) -> None:
            nonlocal done
            text, seconds = result
            self.store.add_result(job_key(fp, name, job), recipe, fp, json.dumps(list(job)), text, seconds)
            done += 1
            if self.progress:
                self.progress(done, total, label)

        def give_up(job: tuple[int, ...], attempts: int, err: BaseException) -> None:
            failed.append(f"job {list(job)} failed {attempts} time(s): {error_text(err)[0]}")

        drive(pending, lambda job, attempt: (_call, (fn, config, job, attempt)), commit, give_up,
              workers=self.workers, executor=self.executor, retries=self.retries)
        if failed:
            raise DataError(f"{label}: {failed[0]}" + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
        stored = self.store.results(keys)
        return [decode(stored[key][0]) for key in keys]
