"""Damaged row contents in a store (a spec that is not a JSON object, a loss that is not a number, an ``extra``
that is not a JSON object of numbers, a NULL experiment name): the commands that read refuse with one line naming
the table, row and column (status 2), `store check` reports it (status 1), no traceback, and the store's bytes stay
as they were."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import ANSI, invoke, one_error_line
from scalinglab.errors import DataError
from scalinglab.sweep.store import Store

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _damaged(clean, tmp_path, sql: str):
    path = tmp_path / "store.sqlite"
    shutil.copy(clean, path)
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql)
        conn.commit()
    except sqlite3.IntegrityError:  # a NOT NULL column: SQLite itself refuses the damage
        return None
    finally:
        conn.close()
    return path


DAMAGE = [  # (SQL, what the error names)
    ("UPDATE experiments SET spec = '{not json'", ("experiments", "row 1", "spec")),
    ("UPDATE experiments SET spec = '[1, 2]'", ("experiments", "row 1", "spec")),
    ("UPDATE experiments SET name = NULL", ("experiments", "row 1", "name")),
    ("UPDATE points SET test_loss = 'abc' WHERE rowid = 3", ("points", "row 3", "test_loss", "'abc'")),
    ("UPDATE points SET test_loss = 9e999 WHERE rowid = 4", ("points", "row 4", "test_loss", "Inf")),
    ("UPDATE points SET train_loss = 'x' WHERE rowid = 5", ("points", "row 5", "train_loss")),
    ("UPDATE points SET model_size = 'big' WHERE rowid = 6", ("points", "row 6", "model_size")),
    ("UPDATE points SET seed = 'zz' WHERE rowid = 7", ("points", "row 7", "seed")),
    ("UPDATE points SET data_size = 8.5 WHERE rowid = 7", ("points", "row 7", "data_size")),
    ("UPDATE points SET extra = '{oops' WHERE rowid = 2", ("points", "row 2", "extra")),
    ("UPDATE points SET extra = '[1, 2]' WHERE rowid = 2", ("points", "row 2", "extra")),
    ("UPDATE points SET extra = '{\"loss_data_limit\": \"x\"}' WHERE rowid = 9", ("points", "row 9", "extra")),
    ("UPDATE points SET extra = 5 WHERE rowid = 9", ("points", "row 9", "extra")),
]


def _commands(path, tmp_path):
    return {
        "fit": ("fit", "--store", path, "--experiment", "tiny", "--json", tmp_path / "fits.json"),
        "report": ("report", "--store", path, "--experiment", "tiny", "--out", tmp_path / "report"),
        "export": ("export", "--store", path, "--out", tmp_path / "points.csv"),
        "parquet": ("export", "--store", path, "--format", "parquet", "--out", tmp_path / "points.parquet"),
    }


@pytest.mark.parametrize("sql, needles", DAMAGE, ids=[d[0][:40] for d in DAMAGE])
def test_damaged_rows_are_one_line_errors_and_the_store_is_unchanged(clean_store, tmp_path, sql, needles):
    path = _damaged(clean_store, tmp_path, sql)
    before = path.read_bytes()
    for name, args in _commands(path, tmp_path).items():
        line = one_error_line(invoke(*args, columns=200), "store.sqlite", *needles)
        assert "nothing read" in line, (name, line)
        assert path.read_bytes() == before, name
    assert not any((tmp_path / f).exists() for f in ("fits.json", "points.csv", "points.parquet", "report"))
    result = invoke("store", "check", path, columns=200)  # the checker reports it as a problem
    err = ANSI.sub("", result.stderr)
    assert result.exit_code == 1 and "Traceback" not in err, err
    assert all(n in err for n in needles[:3]), err
    assert path.read_bytes() == before


def test_the_clean_store_reads(clean_store, tmp_path):
    """The same commands succeed on the undamaged copy, so the errors above come from the damage."""
    path = _damaged(clean_store, tmp_path, "SELECT 1")
    for args in _commands(path, tmp_path).values():
        assert invoke(*args, columns=200).exit_code == 0
    assert invoke("store", "check", path, columns=200).exit_code == 0


def test_a_non_finite_extra_metric_is_stored_as_not_recorded(tmp_path):
    """An extra metric that is NaN or infinite is written as JSON null (SQLite's JSON, which checks and reads the
    rows, has no NaN) and read back as not recorded: absent from ``Measurement.extra``, NaN in the columns."""
    from scalinglab.contracts import Measurement

    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.register("e", "fp", '{"name": "e"}')
        s.add("e", "fp", [Measurement(8, 8, 0, 0.1, 0.2, 0.01, {"a": float("nan"), "b": 1.5, "c": float("inf")})])
        (m,), cols = s.measurements("e"), s.columns("e")
    assert m.extra == {"b": 1.5}
    assert cols["extra"]["b"].tolist() == [1.5] and np.isnan(cols["extra"]["a"]).all()


def test_columns_and_measurements_agree(clean_store):
    """``Store.columns`` (arrays, for the fits) and ``Store.measurements`` hold the same points."""
    with Store(clean_store, readonly=True) as s:
        ms, cols = s.measurements("tiny"), s.columns("tiny")
    got = {(int(d), int(p), int(sd)): (tr, te, w, {k: float(v[i]) for k, v in cols["extra"].items()})
           for i, (d, p, sd, tr, te, w) in enumerate(zip(*(cols[c] for c in ("data_size", "model_size", "seed",
                                                                               "train_loss", "test_loss",
                                                                               "wall_seconds")), strict=True))}
    assert got == {(m.data_size, m.model_size, m.seed): (m.train_loss, m.test_loss, m.wall_seconds, m.extra)
                   for m in ms}


COLUMNS = ["data_size", "model_size", "seed", "train_loss", "test_loss", "wall_seconds", "extra"]
VALUES = st.sampled_from([
    "NULL", "'abc'", "9e999", "-9e999", "'{'", "'[]x'", "'[1]'", "'[]'", "' {}'", "'{\"a\": [1]}'",
    "'{\"a\": null}'", "x'00ff'", "'1.5'", "2.5", "'{\"loss_data_limit\": \"1.5\"}'", "'{\"loss_data_limit\": true}'",
])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(COLUMNS), value=VALUES, rowid=st.integers(1, 48))
def test_a_random_damaged_cell_is_refused_or_read_as_numbers(clean_store, tmp_path, column, value, rowid):
    """A random cell of a random point damaged: reading its experiment either refuses with a one-line DataError
    naming that row and column, or (a value still of the column's kind, such as 2.5 for a loss) reads numbers;
    the bytes of the store never change."""
    path = _damaged(clean_store, tmp_path, f"UPDATE points SET {column} = {value} WHERE rowid = {rowid}")
    assume(path is not None)
    before = path.read_bytes()
    refused = []
    with Store(path, readonly=True) as s:
        for read in (s.columns, s.measurements):
            try:
                got = read("tiny")
            except DataError as err:
                refused.append(True)
                assert f"row {rowid} " in str(err) and f"column {column}" in str(err) and "\n" not in str(err)
            else:
                refused.append(False)
                if isinstance(got, dict):
                    assert all(got[c].dtype.kind in "if" for c in COLUMNS[:-1])
    assert refused[0] == refused[1]  # the arrays and the Measurement objects accept the same stores
    assert path.read_bytes() == before
