"""Run a spec: the seeds the store lacks, one seed per job, on any ``concurrent.futures.Executor``.

Every random draw of a seed comes from SeedSequence(spec fingerprint, seed), so the numbers do not depend on
the executor, the number of workers or the order in which seeds finish. This process (the driver) is the only
writer to the store; each finished seed is written in one transaction. A seed whose job raises is retried up to
``retries`` times and then recorded in the store as failed, with its error; the other seeds go on.

Every job runs with ``BLAS_THREADS`` (one) BLAS thread, in every execution mode: in this process (one worker), on
the local process pool and on a Dask cluster. A BLAS library's results depend on its thread count (how sums are
split), so one fixed count makes the stored numbers bit-identical whatever the executor or number of workers;
the parallelism is across jobs.
"""

from __future__ import annotations

import os
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import numpy as np

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.extras import check_spec
from scalinglab.sweep.executors import InlineExecutor, as_executor, local_pool
from scalinglab.sweep.spec import Spec, check_resources
from scalinglab.sweep.store import Store, check_finite, point_key

Progress = Callable[[int, int], None]
Compute = Callable[[Spec, int, "int | None"], list[Measurement]]
RETRIES = 2
J = TypeVar("J")
BLAS_THREADS = 1  # BLAS threads of every job, whatever the executor: the numbers do not depend on the mode


def job_rng(fingerprint: str, *key: int) -> np.random.Generator:
    """The one seeding rule of sweeps and recipes: SeedSequence(entropy=fingerprint (hex), spawn_key=key)."""
    return np.random.default_rng(np.random.SeedSequence(int(fingerprint, 16), spawn_key=tuple(key)))


def seed_rng(fingerprint: str, seed: int) -> np.random.Generator:
    """The generator of one seed of one spec: ``job_rng(fingerprint, seed)``."""
    return job_rng(fingerprint, seed)


def run_seed(spec: Spec, seed: int, blas_threads: int | None = BLAS_THREADS) -> list[Measurement]:
    """Every grid point of one seed (the model computes the nested grid in one pass), with ``blas_threads``
    BLAS threads (default ``BLAS_THREADS``, as in a sweep; None: the library's own setting)."""
    return run_seeds(spec, (seed,), blas_threads)[0]


def run_seeds(spec: Spec, seeds: tuple[int, ...],
              blas_threads: int | None = BLAS_THREADS) -> list[list[Measurement]]:
    """Every grid point of several seeds, one list per seed. A model with ``learning_curves`` (such as ``mlp``)
    computes them together, training the networks of every seed in the same batched runs; any other model runs
    its ``learning_curve`` seed by seed."""
    from threadpoolctl import threadpool_limits

    task, model = spec.task.build(), spec.model.build()
    ds, ps = spec.grid.data.values(), spec.grid.size.values()
    rngs = [seed_rng(spec.fingerprint(), seed) for seed in seeds]
    with threadpool_limits(limits=blas_threads):
        if hasattr(model, "learning_curves"):
            per_seed = model.learning_curves(task, ds, ps, rngs)
        else:
            per_seed = [model.learning_curve(task, ds, ps, rng) for rng in rngs]
    return [[Measurement(m.data_size, m.model_size, seed, m.train_loss, m.test_loss, m.wall_seconds, m.extra)
             for m in ms] for seed, ms in zip(seeds, per_seed, strict=True)]


def seeds_per_job(spec: Spec) -> int:
    """How many seeds one job computes together: the model's ``seeds_per_job`` (models that batch seeds), else 1."""
    return int(getattr(spec.model, "seeds_per_job", 1))


def _job(compute: Compute | None, spec: Spec, seeds: tuple[int, ...], attempt: int) -> list[list[Measurement]]:
    """One attempt at one job, under ``BLAS_THREADS`` BLAS threads wherever it runs: ``compute`` on its one seed,
    or (``compute`` None) :func:`run_seeds` on all of its seeds. ``attempt`` only makes each try a distinct task
    for executors that cache by arguments (Dask's pure tasks), so a retry is computed again."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=BLAS_THREADS):
        if compute is None:
            return run_seeds(spec, seeds, BLAS_THREADS)
        return [compute(spec, seed, BLAS_THREADS) for seed in seeds]


def _jobs(spec: Spec, pending: list[int], per_job: int) -> list[tuple[int, ...]]:
    """Seeds grouped into jobs: fixed blocks of ``per_job`` consecutive seeds (so a seed is always computed with the
    same companions, whatever was stored before), each block that holds a pending seed; all of a block's seeds are
    computed and only the missing points stored."""
    if per_job == 1:
        return [(s,) for s in pending]
    blocks = sorted({s // per_job for s in pending})
    return [tuple(range(b * per_job, min((b + 1) * per_job, spec.seeds))) for b in blocks]


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


def error_text(err: BaseException) -> tuple[str, str]:
    """(one line naming the exception, the full traceback including a worker's remote one)."""
    first = " ".join(str(err).split())[:300]
    line = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return line, "".join(traceback.format_exception(err))


def run_sweep(spec: Spec, store: Store, workers: int | None = None, progress: Progress | None = None, *,
              executor: Executor | None = None, retries: int = RETRIES, compute: Compute | None = None,
              max_in_flight: int | None = None, max_memory: float | None = None) -> int:
    """Compute and store every missing point of ``spec``. Returns the number of points newly stored.

    Without ``executor``, ``workers`` processes (default: all cores) each take one seed at a time; with one
    worker everything runs in this process. ``executor`` is any ``concurrent.futures.Executor`` (or a Dask
    ``Client``); it receives ``compute(spec, seed, BLAS_THREADS)`` calls (default ``run_seed``), at most
    ``max_in_flight`` at a time (default: all). A seed whose job raises is retried up to ``retries`` times, then
    recorded with ``Store.record_failure``; read them with ``Store.failures``. ``progress(done, total)`` is
    called in points after each stored seed. Without ``compute``, a model that batches seeds (``seeds_per_job``
    above 1) gets its seeds in blocks of that many per job (:func:`run_seeds`). A spec whose largest point needs
    more memory than ``max_memory`` bytes (default: 80% of this machine's; ``sweep.spec.memory_estimate``) is
    refused with a SpecError before anything is written.
    """
    if retries < 0:
        raise DataError(f"retries: must be non-negative, got {retries}")
    check_resources(spec, max_memory)  # before anything is written
    check_spec(spec)  # a missing optional module fails once, naming the extra, not on every seed and retry
    per_job = 1 if compute is not None else seeds_per_job(spec)
    if per_job == 1:
        compute = compute or run_seed
    fp = spec.fingerprint()
    register_spec(spec, store)
    per_seed = len(spec.grid.data.values()) * len(spec.grid.size.values())
    total = per_seed * spec.seeds
    pending = pending_seeds(spec, store)
    waiting = set(pending)
    jobs = _jobs(spec, pending, per_job)
    done = total - per_seed * len(pending)
    if progress:
        progress(done, total)

    def give_up(job: tuple[int, ...], tries: int, err: BaseException) -> None:
        line, trace = error_text(err)
        for seed in job:
            if seed in waiting:  # a block's companion that the store already holds has not failed
                store.record_failure(spec.name, fp, seed, tries, line, trace)

    def commit(job: tuple[int, ...], per_seed_results: list[list[Measurement]]) -> None:
        nonlocal added, done
        for ms in per_seed_results:
            new = store.add(spec.name, fp, ms)
            added += new
            done += per_seed if new else 0
            if progress:
                progress(done, total)

    added = 0
    drive(jobs, lambda job, attempt: (_job, (compute, spec, job, attempt)), commit, give_up,
          collect=lambda job, result: [check_finite(ms) for ms in result], workers=workers, executor=executor,
          retries=retries, max_in_flight=max_in_flight)
    return added


def drive(jobs: list[J], call: Callable[[J, int], tuple[Callable[..., Any], tuple]],
          commit: Callable[[J, Any], None], give_up: Callable[[J, int, BaseException], None], *,
          collect: Callable[[J, Any], Any] | None = None, workers: int | None = None,
          executor: Executor | None = None, retries: int = RETRIES, max_in_flight: int | None = None) -> None:
    """The one job loop of sweeps and recipes: run every job on an executor, committing each result in this
    process (the only writer) as it arrives.

    ``call(job, attempt)`` gives the function and arguments that compute a job (``attempt`` makes each try a
    distinct task for executors that cache by arguments); ``collect(job, result)`` checks a result (an error there
    counts as the job's failure); ``commit(job, result)`` stores it. A job that raises is retried up to ``retries``
    times, then handed to ``give_up(job, attempts, error)``; the other jobs go on. Without ``executor``, ``workers``
    processes (default: all cores; one: this process) run the jobs, and a pool whose worker dies (killed, out of
    memory) is replaced, every job in flight charged one attempt. ``executor`` is any
    ``concurrent.futures.Executor`` or Dask ``Client``, given at most ``max_in_flight`` jobs at a time.
    """
    queue = deque(jobs)
    if not queue:
        return
    own_pool = executor is None
    if own_pool:
        workers = min(workers or os.cpu_count() or 1, len(queue))
        if workers == 1:
            executor, max_in_flight = InlineExecutor(), 1
        else:
            executor, max_in_flight = local_pool(workers), workers
    else:
        executor = as_executor(executor)
    window = max_in_flight or len(queue)
    inline = isinstance(executor, InlineExecutor)
    attempts = dict.fromkeys(queue, 0)
    in_flight: dict[Future, J] = {}

    def give_up_or_retry(job: J, err: BaseException) -> None:
        attempts[job] += 1
        if attempts[job] <= retries:
            queue.append(job)
        else:
            give_up(job, attempts[job], err)

    def refill() -> None:
        while queue and len(in_flight) < window:
            job = queue.popleft()
            fn, args = call(job, attempts[job])
            in_flight[executor.submit(fn, *args)] = job

    try:
        refill()
        while in_flight:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            results, broken = [], []
            for fut in finished:
                job = in_flight.pop(fut)
                try:
                    value = fut.result()
                    results.append((job, collect(job, value) if collect else value))
                except BrokenProcessPool as err:
                    broken.append((job, err))
                except Exception as err:  # noqa: BLE001 - any error of one job is that job's failure
                    give_up_or_retry(job, err)
            if broken:
                # A worker process died (killed, out of memory): every job in flight is charged one attempt
                # and requeued at the back; a fresh pool takes over.
                for fut, job in in_flight.items():
                    fut.cancel()
                    broken.append((job, BrokenProcessPool("a worker process of the pool died")))
                in_flight.clear()
                for job, err in broken:
                    give_up_or_retry(job, err)
                if not own_pool:
                    raise DataError("the executor's worker processes died; it cannot run further jobs") from None
                executor.shutdown(wait=False, cancel_futures=True)
                executor = local_pool(window)
            if not inline:
                refill()  # the workers get their next jobs before the driver writes these
            for job, value in results:
                commit(job, value)
            if inline:
                refill()
    finally:
        for fut in in_flight:
            fut.cancel()
        if own_pool:
            executor.shutdown(wait=not in_flight, cancel_futures=True)
