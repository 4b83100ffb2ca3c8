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


def _point_rows(path) -> list[tuple]:
    """Every stored point of a store file (key, experiment, D, size, seed, losses, extra), as SQLite holds them."""
    import sqlite3

    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute("SELECT key, experiment, fingerprint, data_size, model_size, seed, train_loss, test_loss, "
                            "extra FROM points ORDER BY key").fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_demo_spec_run_from_the_cli_is_bit_identical_across_execution_modes(tmp_path):
    """The full demo spec (13 x 13 grid, 8 seeds, 8192 features) through `scalinglab run` with --workers 1,
    --workers 2 and --dask-local 2: the three stores hold the same 1,352 points with the same bytes in every loss
    and metric (only wall times and timestamps differ)."""
    pytest.importorskip("distributed")
    from conftest import invoke, write_spec
    from scalinglab.sweep.spec import demo_spec

    spec_path = write_spec(tmp_path / "demo.toml", DEMO_SPEC)
    points = len(demo_spec().grid.data.values()) * len(demo_spec().grid.size.values()) * DEMO_SPEC["seeds"]
    rows = {}
    for label, args in (("one", ["--workers", "1"]), ("two", ["--workers", "2"]), ("dask", ["--dask-local", "2"])):
        store = tmp_path / f"{label}.sqlite"
        result = invoke("run", spec_path, "--store", store, "-q", *args)
        assert result.exit_code == 0, (label, result.stderr)
        rows[label] = _point_rows(store)
    assert len(rows["one"]) == points == 1352
    for label in ("two", "dask"):
        differ = [a[:6] for a, b in zip(rows["one"], rows[label], strict=True) if a != b]
        assert not differ, f"{label}: {len(differ)} of {points} points differ from --workers 1, e.g. {differ[:3]}"
