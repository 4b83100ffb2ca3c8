"""The stored numbers do not depend on the execution mode: one worker in this process, a local pool of two, and a
two-worker Dask LocalCluster store bit-identical losses and metrics, because every job runs with one BLAS thread
(``runner.BLAS_THREADS``) whatever the mode. No ``one_blas_thread`` fixture here: the driver's own BLAS setting
must not matter."""

from __future__ import annotations

import logging

import pytest

from scalinglab.sweep import runner
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import DEMO_SPEC, parse_spec
from scalinglab.sweep.store import Store

SMALL_DEMO = {**DEMO_SPEC, "name": "four-regimes-small", "seeds": 4,
              "task": {**DEMO_SPEC["task"], "features": 1024},
              "grid": {"data": {"min": 16, "max": 256, "num": 5}, "size": {"min": 16, "max": 256, "num": 5}}}


def _stored(store: Store, name: str) -> dict[tuple[int, int, int], tuple]:
    out = {}
    for m in store.measurements(name):
        key = (m.data_size, m.model_size, m.seed)
        assert key not in out
        out[key] = (m.train_loss, m.test_loss, tuple(sorted(m.extra.items())))
    return out


def test_one_blas_thread_per_job_is_a_constant():
    assert runner.BLAS_THREADS == 1


def test_one_two_and_dask_workers_store_bit_identical_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = parse_spec(SMALL_DEMO)
    points = 5 * 5 * 4
    stored = {}
    for label, workers in (("one", 1), ("two", 2)):
        with Store(tmp_path / f"{label}.sqlite") as st:
            assert run_sweep(spec, st, workers=workers) == points
            stored[label] = _stored(st, spec.name)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client, Store(tmp_path / "dask.sqlite") as st:
        assert run_sweep(spec, st, executor=client) == points
        stored["dask"] = _stored(st, spec.name)
    assert len(stored["one"]) == points
    for label in ("two", "dask"):
        assert stored[label].keys() == stored["one"].keys()
        differ = [k for k in stored["one"] if stored[label][k] != stored["one"][k]]
        assert not differ, f"{label}: {len(differ)} of {points} points differ from one worker, e.g. {differ[:3]}"
