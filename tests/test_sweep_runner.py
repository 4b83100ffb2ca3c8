"""The sweep runner: reproducible seeds independent of worker count, resuming and skipping stored points."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from conftest import make_spec, spec_dict
from scalinglab.sweep.runner import pending_seeds, run_seed, run_sweep, seed_rng
from scalinglab.sweep.spec import parse_spec
from scalinglab.sweep.store import Store

pytestmark = pytest.mark.usefixtures("one_blas_thread")

REL = 1e-12
# Losses are differences of O(1) quantities: a value at the level of float64 rounding (a train loss of 3e-14 at
# interpolation) has no relative precision, and a different summation order (BLAS threads) moves it by ~1e-23.
ABS = 1e-15


def _table(measurements) -> dict[tuple[int, int, int], tuple[float, ...]]:
    """(D, size, seed) -> the values that must be reproducible (not wall time)."""
    out = {}
    for m in measurements:
        key = (m.data_size, m.model_size, m.seed)
        assert key not in out, f"duplicate point {key}"
        out[key] = (m.train_loss, m.test_loss, *(m.extra[k] for k in sorted(m.extra)))
    return out


def _assert_same(a, b, rel=lambda key: REL):
    ta, tb = _table(a), _table(b)
    assert ta.keys() == tb.keys()
    for key in ta:
        for x, y in zip(ta[key], tb[key], strict=True):
            assert math.isclose(x, y, rel_tol=rel(key), abs_tol=ABS), f"{key}: {x!r} != {y!r}"


def _per_seed(spec) -> int:
    return len(spec.grid.data.values()) * len(spec.grid.size.values())


def test_seed_rng_is_seed_sequence_of_fingerprint_and_seed():
    fp = make_spec().fingerprint()
    expected = np.random.default_rng(np.random.SeedSequence(int(fp, 16), spawn_key=(2,))).standard_normal(5)
    assert np.array_equal(seed_rng(fp, 2).standard_normal(5), expected)
    assert not np.array_equal(seed_rng(fp, 1).standard_normal(5), expected)


def test_run_seed_covers_the_grid_with_finite_losses(tiny_spec):
    ms = run_seed(tiny_spec, 1)
    assert len(ms) == _per_seed(tiny_spec) == 16
    assert {(m.data_size, m.model_size) for m in ms} == {(d, p) for d in (8, 16, 32, 64) for p in (8, 16, 32, 64)}
    assert all(m.seed == 1 for m in ms)
    for m in ms:
        assert math.isfinite(m.test_loss) and m.test_loss > 0
        assert math.isfinite(m.train_loss) and m.train_loss >= -1e-12
        assert {"loss_data_limit", "loss_model_limit"} <= set(m.extra)


def test_run_seed_is_reproducible_and_seeds_differ(tiny_spec):
    a, b = run_seed(tiny_spec, 0), run_seed(tiny_spec, 0)
    _assert_same(a, b)
    other = run_seed(tiny_spec, 1)
    assert [m.test_loss for m in a] != [m.test_loss for m in other]


def test_run_seed_ignores_name_and_seed_count_but_not_task(tiny_spec):
    _assert_same(run_seed(tiny_spec, 2), run_seed(make_spec(name="renamed", seeds=50), 2))
    d = spec_dict()
    d["task"]["teacher_seed"] = 1
    d["task"]["average_teacher"] = False
    changed = run_seed(parse_spec(d), 2)
    assert [m.test_loss for m in changed] != [m.test_loss for m in run_seed(tiny_spec, 2)]


def test_blas_thread_limit_does_not_change_results(tiny_spec):
    # Another BLAS thread count sums in another order, and each point's (K + rI) amplifies that rounding by its
    # condition number: the bars of the random-feature grid against a plain solve per point
    # (test_shared_factorisations_equal_one_solve_per_point): 1e-10 off the diagonal, and at the interpolation
    # threshold D = P, where the condition number is about 4 / ridge, 100 D eps / ridge. Worker counts do not
    # change results at all: every execution mode runs one BLAS thread (test_worker_determinism).
    ridge = tiny_spec.model.ridge

    def rel(key):
        d, p, _ = key
        return 1e-10 if d != p else 100 * d * sys.float_info.epsilon / ridge

    _assert_same(run_seed(tiny_spec, 0, blas_threads=1), run_seed(tiny_spec, 0, blas_threads=2), rel=rel)


def test_run_sweep_stores_every_point_once(tmp_path, tiny_spec):
    with Store(tmp_path / "s.sqlite") as st:
        added = run_sweep(tiny_spec, st, workers=1)
        expected = tiny_spec.seeds * len(tiny_spec.grid.data.values()) * len(tiny_spec.grid.size.values())
        assert added == expected == 48
        assert st.count(tiny_spec.name) == expected
        ms = st.measurements(tiny_spec.name)
        assert len(_table(ms)) == expected
        assert {m.seed for m in ms} == {0, 1, 2}
        assert st.experiments() == [tiny_spec.name]
        assert parse_spec(st.spec_of(tiny_spec.name)) == tiny_spec
        _assert_same([m for m in ms if m.seed == 1], run_seed(tiny_spec, 1))


def test_second_run_adds_nothing(tmp_path, tiny_spec):
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(tiny_spec, st, workers=1) == 48
        before = _table(st.measurements(tiny_spec.name))
        assert pending_seeds(tiny_spec, st) == []
        assert run_sweep(tiny_spec, st, workers=1) == 0
        assert run_sweep(tiny_spec, st, workers=2) == 0
        assert st.count() == 48
        assert _table(st.measurements(tiny_spec.name)) == before


def test_results_do_not_depend_on_worker_count(tmp_path, tiny_spec):
    with Store(tmp_path / "one.sqlite") as one, Store(tmp_path / "two.sqlite") as two:
        assert run_sweep(tiny_spec, one, workers=1) == 48
        assert run_sweep(tiny_spec, two, workers=2) == 48
        a, b = one.measurements(tiny_spec.name), two.measurements(tiny_spec.name)
    assert len(a) == len(b) == 48
    _assert_same(a, b)


def test_more_seeds_runs_only_the_missing_seeds(tmp_path):
    small, big = make_spec(seeds=2), make_spec(seeds=5)
    assert small.fingerprint() == big.fingerprint()
    per_seed = _per_seed(big)
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(small, st, workers=1) == 2 * per_seed
        first = _table(st.measurements(small.name))
        assert pending_seeds(big, st) == [2, 3, 4]
        calls = []
        added = run_sweep(big, st, workers=2, progress=lambda done, total: calls.append((done, total)))
        assert added == 3 * per_seed
        assert st.count(big.name) == 5 * per_seed
        after_ms = st.measurements(big.name)
        after = _table(after_ms)
    # the stored seeds were not recomputed or changed
    assert {k: v for k, v in after.items() if k[2] < 2} == first
    # progress starts at the stored points and ends at the total
    assert calls[0] == (2 * per_seed, 5 * per_seed)
    assert calls[-1] == (5 * per_seed, 5 * per_seed)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    # and the new seeds equal a clean run
    with Store(tmp_path / "clean.sqlite") as clean:
        run_sweep(big, clean, workers=1)
        _assert_same(clean.measurements(big.name), after_ms)


def test_missing_point_reruns_only_its_seed(tmp_path, tiny_spec):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        run_sweep(tiny_spec, st, workers=1)
        before = _table(st.measurements(tiny_spec.name))
        st._conn.execute("DELETE FROM points WHERE seed = 1 AND data_size = 16 AND model_size = 32")
        assert st.count() == 47
        assert pending_seeds(tiny_spec, st) == [1]
        assert run_sweep(tiny_spec, st, workers=2) == 1
        assert st.count() == 48
        assert _table(st.measurements(tiny_spec.name)) == before


def test_progress_reports_every_seed(tmp_path, tiny_spec):
    calls = []
    with Store(tmp_path / "s.sqlite") as st:
        run_sweep(tiny_spec, st, workers=1, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 48), (16, 48), (32, 48), (48, 48)]


def test_spec_under_existing_name_with_other_params_is_refused(tmp_path, tiny_spec):
    from scalinglab.errors import DataError

    other = make_spec(task={"kind": "teacher_student", "features": 512})
    with Store(tmp_path / "s.sqlite") as st:
        run_sweep(tiny_spec, st, workers=1)
        with pytest.raises(DataError, match=tiny_spec.name):
            run_sweep(other, st, workers=1)
        assert st.count() == 48


def test_renamed_spec_sees_the_points_it_shares(tmp_path, tiny_spec):
    renamed = make_spec(name="tiny-copy")
    with Store(tmp_path / "s.sqlite") as st:
        run_sweep(tiny_spec, st, workers=1)
        run_sweep(renamed, st, workers=1)
        assert st.count(renamed.name) == 48
        assert len(st.measurements(renamed.name)) == 48


@pytest.mark.parametrize("workers", [1, 2])
def test_each_seed_is_written_in_one_add(tmp_path, tiny_spec, workers):
    """A killed sweep must never leave half a seed: the runner hands the store one whole seed per add."""
    batches = []

    class Recording(Store):
        def add(self, experiment, fingerprint, measurements):
            measurements = list(measurements)
            batches.append(sorted({m.seed for m in measurements}) + [len(measurements)])
            return super().add(experiment, fingerprint, measurements)

    with Recording(tmp_path / "s.sqlite") as st:
        run_sweep(tiny_spec, st, workers=workers)
    assert sorted(batches) == [[0, 16], [1, 16], [2, 16]]
