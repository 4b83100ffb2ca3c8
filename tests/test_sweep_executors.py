"""Executors and faults: any concurrent.futures.Executor runs a sweep, a failing seed is retried and then recorded
without stopping the others, a dead worker process is survived, and the stored numbers are bit-identical for 1
worker, 2 local workers and a 2-worker Dask LocalCluster (real processes on loopback)."""

from __future__ import annotations

import functools
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import sweep_faults
from conftest import make_spec
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.store import Store

pytestmark = pytest.mark.usefixtures("one_blas_thread")
TIMEOUT = 120  # seconds: a bound on every sweep run in a watchdog thread below


def _values(store: Store, name: str) -> dict[tuple[int, int, int], tuple]:
    """(D, size, seed) -> every stored number but wall time, for exact comparison; asserts no duplicates."""
    out = {}
    for m in store.measurements(name):
        key = (m.data_size, m.model_size, m.seed)
        assert key not in out, f"duplicate point {key}"
        out[key] = (m.train_loss, m.test_loss, tuple(sorted(m.extra.items())))
    return out


def _grid_keys(spec) -> set[tuple[int, int, int]]:
    return {(d, p, s) for d in spec.grid.data.values() for p in spec.grid.size.values() for s in range(spec.seeds)}


def _bounded(fn, *args, **kwargs):
    """Run fn in a thread and fail the test if it takes longer than TIMEOUT seconds."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), f"sweep did not finish within {TIMEOUT} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny spec computed on one worker, in this process."""
    path = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    spec = make_spec()
    with Store(path) as st:
        assert run_sweep(spec, st, workers=1) == 48
        return _values(st, spec.name)


# ---------------------------------------------------------------------------------------------- local executors


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_seed_is_retried_recorded_and_does_not_stop_the_sweep(tmp_path, tiny_spec, reference, workers):
    with Store(tmp_path / "s.sqlite") as st:
        added = run_sweep(tiny_spec, st, workers=workers, retries=1, compute=sweep_faults.raise_on_seed_1)
        assert added == 32
        assert {k[2] for k in _values(st, "tiny")} == {0, 2}
        assert {k: v for k, v in reference.items() if k[2] != 1} == _values(st, "tiny")
        (failure,) = st.failures("tiny")
        assert failure["seed"] == 1 and failure["attempts"] == 2 and failure["experiment"] == "tiny"
        assert failure["error"] == "ValueError: seed 1 is poisoned [on purpose]"
        assert "raise_on_seed_1" in failure["traceback"]
        # a later run retries the failed seed; success clears its failure record
        assert run_sweep(tiny_spec, st, workers=workers) == 16
        assert st.failures() == []
        assert _values(st, "tiny") == reference


def test_zero_retries_records_after_one_attempt(tmp_path, tiny_spec):
    with Store(tmp_path / "s.sqlite") as st:
        run_sweep(tiny_spec, st, workers=1, retries=0, compute=sweep_faults.raise_on_seed_1)
        assert [f["attempts"] for f in st.failures()] == [1]


def test_non_finite_result_is_a_failed_seed_not_a_stopped_sweep(tmp_path, tiny_spec):
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(tiny_spec, st, workers=1, compute=sweep_faults.nan_on_seed_2) == 32
        (failure,) = st.failures("tiny")
        assert failure["seed"] == 2 and failure["attempts"] == 3
        assert failure["error"].startswith("DataError: test_loss is nan")


@pytest.mark.parametrize("workers", [1, 2])
def test_transient_failures_are_retried_to_the_same_numbers(tmp_path, tiny_spec, reference, workers):
    compute = functools.partial(sweep_faults.raise_once_per_seed, str(tmp_path))
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(tiny_spec, st, workers=workers, retries=1, compute=compute) == 48
        assert st.failures() == []
        assert _values(st, "tiny") == reference
    assert sorted(p.name for p in tmp_path.glob("seed-*")) == ["seed-0", "seed-1", "seed-2"]


def test_worker_process_killed_in_local_pool_is_survived(tmp_path, tiny_spec, reference):
    compute = functools.partial(sweep_faults.die_once_on_seed_1, str(tmp_path))
    with Store(tmp_path / "s.sqlite") as st:
        assert _bounded(run_sweep, tiny_spec, st, workers=2, compute=compute) == 48
        assert st.failures() == []
        assert _values(st, "tiny") == reference
    assert (tmp_path / "seed-1").exists(), "the worker did not die: the test tested nothing"


def test_any_executor_runs_the_sweep(tmp_path, tiny_spec, reference):
    with ThreadPoolExecutor(2) as pool, Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(tiny_spec, st, executor=pool) == 48
        assert _values(st, "tiny") == reference


def test_negative_retries_is_refused(tmp_path, tiny_spec):
    from scalinglab.errors import DataError

    with Store(tmp_path / "s.sqlite") as st, pytest.raises(DataError, match="retries"):
        run_sweep(tiny_spec, st, workers=1, retries=-1)


# ---------------------------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_one_two_and_dask_workers_store_bit_identical_losses(tmp_path, reference, dask_client):
    """The determinism criterion: 1 worker, 2 local workers, a 2-worker Dask LocalCluster, exact equality."""
    spec = make_spec()
    stored = {}
    for label, kwargs in [("one", {"workers": 1}), ("two", {"workers": 2}),
                          ("dask", {"executor": dask_client.get_executor()})]:
        with Store(tmp_path / f"{label}.sqlite") as st:
            assert _bounded(run_sweep, spec, st, **kwargs) == 48
            stored[label] = _values(st, spec.name)
    assert set(stored["one"]) == _grid_keys(spec)
    assert stored["one"] == stored["two"] == stored["dask"] == reference
    # each seed ran on a worker process, not in this process
    assert len(dask_client.scheduler_info()["workers"]) == 2


def test_dask_client_itself_is_accepted_and_failures_are_recorded(tmp_path, tiny_spec, reference, dask_client):
    with Store(tmp_path / "s.sqlite") as st:
        added = _bounded(run_sweep, tiny_spec, st, executor=dask_client, retries=1,
                         compute=sweep_faults.raise_on_seed_1)
        assert added == 32
        (failure,) = st.failures("tiny")
        assert failure["seed"] == 1 and failure["attempts"] == 2
        assert "poisoned" in failure["error"]
        assert {k: v for k, v in reference.items() if k[2] != 1} == _values(st, "tiny")


def test_dask_retry_is_recomputed_not_served_from_a_cached_result(tmp_path, tiny_spec, reference, dask_client):
    compute = functools.partial(sweep_faults.raise_once_per_seed, str(tmp_path))
    with Store(tmp_path / "s.sqlite") as st:
        assert _bounded(run_sweep, tiny_spec, st, executor=dask_client, retries=1, compute=compute) == 48
        assert st.failures() == []
        assert _values(st, "tiny") == reference


KILL_SPEC = {"name": "kill-worker", "seeds": 8, "task": {"kind": "teacher_student", "features": 2048},
             "grid": {"data": {"min": 16, "max": 512, "num": 5}, "size": {"min": 16, "max": 512, "num": 5}}}


def test_dask_worker_killed_mid_sweep_every_point_exactly_once(tmp_path, dask_client):
    """SIGKILL a Dask worker process while it runs a seed: the sweep completes with every point stored once."""
    spec = make_spec(**KILL_SPEC)
    killed = []

    def kill_a_busy_worker(done: int, total: int) -> None:
        if killed or done == 0 or done >= total - 4 * 25:
            return
        busy = [addr for addr, keys in dask_client.processing().items() if keys]
        if busy:
            pid = dask_client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with Store(tmp_path / "s.sqlite") as st:
        added = _bounded(run_sweep, spec, st, executor=dask_client, progress=kill_a_busy_worker)
        assert killed, "no worker was killed: the test tested nothing"
        assert added == st.count(spec.name) == len(_grid_keys(spec))
        assert set(_values(st, spec.name)) == _grid_keys(spec)
        assert st.failures() == []
    with Store(tmp_path / "clean.sqlite") as clean:
        run_sweep(spec, clean, workers=1)
        with Store(tmp_path / "s.sqlite") as st:
            assert _values(st, spec.name) == _values(clean, spec.name)


@pytest.mark.slow
def test_demo_spec_bit_identical_on_one_two_and_dask_workers(tmp_path, dask_client):
    """The whole demo spec (13 x 13 grid, 8 seeds): about a minute on 2 cores."""
    from scalinglab.sweep.spec import demo_spec

    spec = demo_spec()
    stored = []
    for label, kwargs in [("one", {"workers": 1}), ("two", {"workers": 2}), ("dask", {"executor": dask_client})]:
        with Store(tmp_path / f"{label}.sqlite") as st:
            run_sweep(spec, st, **kwargs)
            stored.append(_values(st, spec.name))
    assert set(stored[0]) == _grid_keys(spec)
    assert stored[0] == stored[1] == stored[2]


def test_unreachable_scheduler_is_a_one_line_data_error():
    pytest.importorskip("distributed")
    from scalinglab.errors import DataError
    from scalinglab.sweep.executors import dask_executor

    with pytest.raises(DataError, match=r"^scheduler: cannot connect to tcp://127\.0\.0\.1:1 ") as info:
        with dask_executor("tcp://127.0.0.1:1", timeout=1):
            pytest.fail("connected to a closed port")
    assert "\n" not in str(info.value)


def test_missing_dask_is_a_spec_error_naming_the_extra(monkeypatch):
    import sys

    from scalinglab.errors import SpecError
    from scalinglab.sweep.executors import dask_executor

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(SpecError, match=r"scalinglab\[dask\]"):
        dask_executor(local_workers=2)
