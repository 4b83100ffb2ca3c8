"""Where a sweep's seeds run: in this process, on a local process pool, or on a Dask cluster.

``run_sweep`` takes any ``concurrent.futures.Executor``. Dask (``pip install 'scalinglab[dask]'``) gives one for
a running scheduler, ``tcp://HOST:PORT``, for a ``LocalCluster`` started here, or for a batch system through
dask-jobqueue (for example ``SLURMCluster``; see docs/architecture.md): ``Client(cluster).get_executor()``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from scalinglab.errors import DataError, SpecError

ADDRESS = re.compile(r"^[a-z][a-z0-9+]*://\S+:\d+$")


class InlineExecutor(Executor):
    """Runs each submitted call at once in this process (one worker, no pickling, no start-up cost)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - the caller reads it from the future, as from any executor
            future.set_exception(err)
        return future


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: exit when the driver dies (SIGKILL leaves no chance to shut the pool down)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def local_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes on this machine whose workers exit when this process dies."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent, initargs=(os.getpid(),))


def as_executor(target: Any) -> Executor:
    """An Executor from an Executor, or from a ``distributed.Client`` (its ``get_executor()``)."""
    if isinstance(target, Executor):
        return target
    if callable(getattr(target, "get_executor", None)):
        return target.get_executor()
    raise TypeError(f"expected a concurrent.futures.Executor or a dask Client, got {type(target).__name__}")


def _distributed():
    try:
        import distributed
    except ImportError:
        raise SpecError("needs Dask; install it with pip install 'scalinglab[dask]'", param="scheduler") from None
    return distributed


def select_executor(workers: int | None = None, scheduler: str | None = None,
                    local_workers: int | None = None) -> AbstractContextManager[Executor | None]:
    """The executor the command-line options ask for, checked at once: None (``run_sweep``'s own local pool of
    ``workers``) or a Dask cluster (see ``dask_executor``), as a context manager."""
    if workers is not None and workers < 1:
        raise SpecError(f"must be at least 1, got {workers}", param="workers")
    if scheduler is None and local_workers is None:
        return nullcontext(None)
    if workers is not None:
        raise SpecError("not with a Dask cluster (its workers run the seeds)", param="workers")
    return dask_executor(scheduler, local_workers)


def dask_executor(scheduler: str | None = None, local_workers: int | None = None,
                  timeout: float = 10.0) -> AbstractContextManager[Executor]:
    """An Executor on a Dask cluster: the scheduler at ``scheduler`` or a new LocalCluster of ``local_workers``.

    The arguments are checked at once (SpecError); the cluster is reached when the context is entered. The
    LocalCluster has one thread per worker process and listens on loopback only; it is closed on exit.
    """
    if (scheduler is None) == (local_workers is None):
        raise SpecError("give a scheduler address or a number of local Dask workers, not both", param="scheduler")
    if scheduler is not None and not ADDRESS.match(scheduler):
        raise SpecError(f"expected an address like tcp://HOST:PORT, got {scheduler!r}", param="scheduler")
    if local_workers is not None and local_workers < 1:
        raise SpecError(f"must be at least 1 worker, got {local_workers}", param="local_workers")
    return _dask_executor(_distributed(), scheduler, local_workers, timeout)


@contextmanager
def _dask_executor(distributed: Any, scheduler: str | None, local_workers: int | None,
                   timeout: float) -> Iterator[Executor]:
    cluster = None
    try:
        if local_workers is not None:
            cluster = distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                               host="127.0.0.1", dashboard_address=None,
                                               silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        where = scheduler if scheduler is not None else "a local Dask cluster"
        raise DataError(f"cannot connect to {where} ({' '.join(str(err).split())[:200]})",
                        param="scheduler" if scheduler is not None else "local_workers") from None
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
