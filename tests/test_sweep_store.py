"""The SQLite store: round trips, idempotent adds, refusal of bad data, and never touching a file it cannot use."""

from __future__ import annotations

import hashlib
import math
import sqlite3

import pytest

from conftest import make_spec
from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.sweep.store import Store, point_key

FP = "0123456789abcdef"


def _m(d: int, p: int, seed: int, test: float = 0.5, **extra: float) -> Measurement:
    return Measurement(d, p, seed, train_loss=test / 10, test_loss=test, wall_seconds=0.01, extra=dict(extra))


def _grid(seed: int) -> list[Measurement]:
    return [_m(d, p, seed, test=1.0 / (d + p) + seed, loss_data_limit=0.1 * p, loss_model_limit=0.2 * d)
            for d in (8, 16) for p in (8, 16, 32)]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.register("exp", FP, '{"name": "exp"}')
        yield st


def test_point_key_depends_on_every_part():
    base = point_key(FP, 8, 16, 0)
    assert base == point_key(FP, 8, 16, 0)
    others = {point_key("fedcba9876543210", 8, 16, 0), point_key(FP, 16, 8, 0), point_key(FP, 8, 16, 1),
              point_key(FP, 9, 16, 0), point_key(FP, 8, 17, 0)}
    assert base not in others and len(others) == 5


def test_add_then_measurements_round_trip(store):
    ms = _grid(0) + _grid(1)
    assert store.add("exp", FP, ms) == len(ms)
    assert store.count("exp") == len(ms)
    assert store.count() == len(ms)
    back = store.measurements("exp")
    key = lambda m: (m.seed, m.data_size, m.model_size)  # noqa: E731
    assert back == sorted(ms, key=key)
    assert [key(m) for m in back] == sorted(key(m) for m in back)
    assert all(isinstance(m.extra, dict) and set(m.extra) == {"loss_data_limit", "loss_model_limit"} for m in back)


def test_round_trip_survives_reopening(tmp_path):
    path = tmp_path / "s.sqlite"
    ms = _grid(3)
    with Store(path) as st:
        st.register("exp", FP, "{}")
        st.add("exp", FP, ms)
    with Store(path, create=False) as st:
        assert st.measurements("exp") == ms
        assert st.experiments() == ["exp"]
        assert st.spec_of("exp") == {}


def test_rows_flatten_extra_metrics(store):
    store.add("exp", FP, _grid(0))
    rows = store.rows("exp")
    assert len(rows) == 6
    assert {"experiment", "data_size", "model_size", "seed", "train_loss", "test_loss", "wall_seconds",
            "loss_data_limit", "loss_model_limit"} == set(rows[0])
    assert all(r["experiment"] == "exp" for r in rows)
    assert store.rows() == rows


def test_duplicate_add_inserts_nothing_new(store):
    ms = _grid(0)
    assert store.add("exp", FP, ms) == 6
    assert store.add("exp", FP, ms) == 0
    assert store.count("exp") == 6
    # A changed value under an existing key is ignored too: the first stored value wins.
    assert store.add("exp", FP, [_m(8, 8, 0, test=123.0)]) == 0
    assert store.measurements("exp")[0].test_loss == ms[0].test_loss
    # A partly new batch inserts only the new points.
    assert store.add("exp", FP, _grid(0) + _grid(1)) == 6
    assert store.count("exp") == 12
    assert store.existing_keys(FP) == {point_key(FP, m.data_size, m.model_size, m.seed)
                                       for m in _grid(0) + _grid(1)}


@pytest.mark.parametrize("column", ["test_loss", "train_loss", "wall_seconds"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_value_raises_and_stores_nothing(store, column, value):
    store.add("exp", FP, _grid(0))
    bad = _grid(1)
    m = bad[3]
    bad[3] = Measurement(m.data_size, m.model_size, m.seed,
                         **{"train_loss": m.train_loss, "test_loss": m.test_loss, "wall_seconds": m.wall_seconds,
                            column: value}, extra=m.extra)
    with pytest.raises(DataError) as info:
        store.add("exp", FP, bad)
    assert column in str(info.value)
    assert store.count("exp") == 6, "the good points of the failing batch must not be stored either"
    assert {m.seed for m in store.measurements("exp")} == {0}


def test_register_same_name_different_fingerprint_raises(store):
    store.register("exp", FP, '{"name": "exp"}')  # same fingerprint again: fine
    with pytest.raises(DataError) as info:
        store.register("exp", "ffffffffffffffff", '{"name": "exp"}')
    assert "exp" in str(info.value)
    assert store.experiments() == ["exp"]
    # the stored spec is untouched
    assert store.spec_of("exp") == {"name": "exp"}


def test_spec_of_and_measurements_of_unknown_experiment(store):
    with pytest.raises(DataError, match="nope"):
        store.spec_of("nope")
    with pytest.raises(DataError, match="nope"):
        store.measurements("nope")


def test_open_missing_store_without_create(tmp_path):
    path = tmp_path / "missing.sqlite"
    with pytest.raises(DataError, match="missing.sqlite"):
        Store(path, create=False)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_open_directory_raises(tmp_path):
    with pytest.raises(DataError):
        Store(tmp_path)


@pytest.mark.parametrize("create", [True, False])
def test_corrupt_file_raises_and_is_left_unchanged(tmp_path, create):
    path = tmp_path / "corrupt.sqlite"
    payload = b"not a database" * 100
    path.write_bytes(payload)
    with pytest.raises(DataError) as info:
        Store(path, create=create)
    assert "corrupt.sqlite" in str(info.value)
    assert path.read_bytes() == payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.sqlite"]


def test_foreign_sqlite_file_raises_and_is_left_unchanged(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE points (x INTEGER)")
    conn.execute("INSERT INTO points VALUES (1)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(DataError):
        Store(path, create=False)
    assert _digest(path) == before


def test_wal_mode_and_schema(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "points"} <= tables
    conn.close()


def test_real_spec_fingerprints_keep_experiments_apart(tmp_path):
    a, b = make_spec(name="a"), make_spec(name="b", task={"kind": "teacher_student", "features": 512})
    with Store(tmp_path / "s.sqlite") as st:
        st.register("a", a.fingerprint(), a.model_dump_json())
        st.register("b", b.fingerprint(), b.model_dump_json())
        assert st.add("a", a.fingerprint(), _grid(0)) == 6
        assert st.add("b", b.fingerprint(), _grid(0)) == 6
        assert st.count("a") == st.count("b") == 6
        assert st.count() == 12
        assert sorted(st.experiments()) == ["a", "b"]
        assert st.spec_of("b")["task"]["features"] == 512


def test_a_batch_that_fails_half_way_stores_nothing(store):
    """One add is one transaction: a row rejected by the database rolls back the rows before it."""
    store.add("exp", FP, _grid(0))
    bad = _grid(1)
    m = bad[4]
    # sqlite3 cannot bind this size: the fifth row fails after four were inserted.
    bad[4] = Measurement(object(), m.model_size, m.seed, m.train_loss, m.test_loss, m.wall_seconds,  # type: ignore[arg-type]
                         m.extra)
    with pytest.raises((sqlite3.Error, DataError, TypeError)):
        store.add("exp", FP, bad)
    assert store.count() == 6
    assert store.add("exp", FP, _grid(1)) == 6, "the store is usable afterwards"
