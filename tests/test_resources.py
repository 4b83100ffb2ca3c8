"""Resource estimates at validation: a spec whose largest point cannot fit is refused before anything runs."""

from __future__ import annotations

import pytest

from scalinglab.errors import SpecError
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import check_resources, demo_spec, memory_estimate, parse_spec
from scalinglab.sweep.store import Store


def spec(task, model, data_max, size_max=64):
    return parse_spec({"name": "big", "seeds": 2, "task": task, "model": model,
                       "grid": {"data": {"min": 16, "max": data_max, "num": 3},
                                "size": {"min": 16, "max": size_max, "num": 3}}})


def test_estimates_scale_with_the_key_that_drives_them():
    small = spec({"kind": "manifold"}, {"kind": "kernel_ridge"}, 1000)
    big = spec({"kind": "manifold"}, {"kind": "kernel_ridge"}, 10_000)
    (a, key, _), (b, _, what) = memory_estimate(small), memory_estimate(big)
    assert key == "grid.data.max" and "Gram matrix" in what
    assert b == pytest.approx(8 * (2 * 10_000**2 + 2000 * 10_000))  # Gram matrix and its factor, test block
    assert b / a > 50
    need, key, _ = memory_estimate(demo_spec())
    assert 100 * 2**20 < need < 2 * 2**30 and key == "grid.data.max"  # 8192 features of 1024 samples, float64


@pytest.mark.parametrize("task, model, data_max, size_max, key", [
    ({"kind": "manifold"}, {"kind": "kernel_ridge"}, 3_000_000, 64, "grid.data.max"),
    ({"kind": "hypercube"}, {"kind": "mlp"}, 1000, 3_000_000, "grid.size.max"),
    ({"kind": "percolation", "max_size": 10**8, "min_size": 1000, "n_clusters": 100_000}, {"kind": "graph_knn"},
     100, 64, "task.max_size"),
])
def test_a_spec_too_big_for_the_machine_is_refused_naming_the_key(tmp_path, task, model, data_max, size_max, key):
    s = spec(task, model, data_max, size_max)
    with pytest.raises(SpecError, match=rf"^{key}: the largest point needs about [0-9.e+]+ GiB"):
        check_resources(s)
    path = tmp_path / "s.db"
    with Store(path) as store:
        with pytest.raises(SpecError, match=key):
            run_sweep(s, store, workers=1)
        assert store.experiments() == []  # nothing was written


def test_max_memory_is_a_limit_the_user_sets():
    s = spec({"kind": "manifold"}, {"kind": "kernel_ridge"}, 1000)
    check_resources(s)  # fits this machine
    with pytest.raises(SpecError, match=r"0.000931 GiB allowed \(the memory limit\)"):
        check_resources(s, limit_bytes=1e6)


def test_a_missing_data_file_is_refused_before_the_store_is_written(tmp_path):
    s = parse_spec({"name": "gone", "task": {"kind": "real", "dataset": "file", "path": str(tmp_path / "no.npz")},
                    "model": {"kind": "kernel_ridge", "n_test": 10},
                    "grid": {"data": {"min": 8, "max": 16}, "size": {"min": 8, "max": 8}}})
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(SpecError, match=r"^task\.path: no such file or folder"):
            run_sweep(s, store, workers=1)
        assert store.experiments() == []  # no experiment row, so no failure row either
