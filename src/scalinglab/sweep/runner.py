"""Run a spec: the points the store lacks, one seed per job, on a local process pool.

Every random draw of a seed comes from SeedSequence(spec fingerprint, seed), so the numbers do not depend on
the number of workers or on the order in which seeds finish. The parent process is the only writer to the
store; each finished seed is written in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

from scalinglab.contracts import Measurement
from scalinglab.sweep.spec import Spec
from scalinglab.sweep.store import Store, point_key

Progress = Callable[[int, int], None]


def seed_rng(fingerprint: str, seed: int) -> np.random.Generator:
    """The generator of one seed of one spec: SeedSequence(entropy=fingerprint, spawn_key=(seed,))."""
    return np.random.default_rng(np.random.SeedSequence(int(fingerprint, 16), spawn_key=(seed,)))


def run_seed(spec: Spec, seed: int, blas_threads: int | None = None) -> list[Measurement]:
    """Every grid point of one seed (the model computes the nested grid in one pass)."""
    from threadpoolctl import threadpool_limits

    task, model = spec.task.build(), spec.model.build()
    rng = seed_rng(spec.fingerprint(), seed)
    with threadpool_limits(limits=blas_threads):
        ms = model.learning_curve(task, spec.grid.data.values(), spec.grid.size.values(), rng)
    return [Measurement(m.data_size, m.model_size, seed, m.train_loss, m.test_loss, m.wall_seconds, m.extra)
            for m in ms]


def pending_seeds(spec: Spec, store: Store) -> list[int]:
    """Seeds with at least one grid point missing from the store."""
    fp = spec.fingerprint()
    have = store.existing_keys(fp)
    ds, ps = spec.grid.data.values(), spec.grid.size.values()
    return [s for s in range(spec.seeds)
            if any(point_key(fp, d, p, s) not in have for d in ds for p in ps)]


def register_spec(spec: Spec, store: Store) -> None:
    """Record ``spec`` in the store under its name (refused if the name holds a different spec)."""
    store.register(spec.name, spec.fingerprint(), spec.model_dump_json())


def run_sweep(spec: Spec, store: Store, workers: int | None = None, progress: Progress | None = None) -> int:
    """Compute and store every missing point of ``spec``. Returns the number of points newly stored.

    ``workers`` processes (default: all cores) each take one seed at a time; with one worker everything runs
    in this process. ``progress(done, total)`` is called in points after each seed.
    """
    workers = workers or os.cpu_count() or 1
    fp = spec.fingerprint()
    register_spec(spec, store)
    per_seed = len(spec.grid.data.values()) * len(spec.grid.size.values())
    total = per_seed * spec.seeds
    todo = pending_seeds(spec, store)
    done = total - per_seed * len(todo)
    if progress:
        progress(done, total)
    added = 0
    if workers == 1 or len(todo) <= 1:
        for seed in todo:
            added += store.add(spec.name, fp, run_seed(spec, seed))
            done += per_seed
            if progress:
                progress(done, total)
        return added
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        futures = {pool.submit(run_seed, spec, seed, threads) for seed in todo}
        while futures:
            finished, futures = wait(futures, return_when=FIRST_COMPLETED)
            for fut in finished:
                added += store.add(spec.name, fp, fut.result())
                done += per_seed
                if progress:
                    progress(done, total)
    return added
