"""Commands that only read a store (`export`, `store check`, `fit --store`, `report`) never change its file: it is
opened read-only, its journal mode is left as it is and it is not migrated; writes through a read-only Store are
refused. A store locked by another process is a one-line error after a 5-second wait, not a silent minute."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time

import pytest
from typer.testing import CliRunner

import scalinglab.cli  # noqa: F401 - registers the commands on the app
from conftest import ANSI, make_spec, one_error_line, spec_dict, write_spec
from scalinglab.cli._app import app
from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.store import BUSY_TIMEOUT, SCHEMA_V1, SCHEMA_VERSION, Store, point_key

pytestmark = pytest.mark.usefixtures("one_blas_thread")
SIDE_FILES = ("-wal", "-shm", "-journal")


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _journal_mode(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def _side_files(path) -> list[str]:
    return [suffix for suffix in SIDE_FILES if path.with_name(path.name + suffix).exists()]


@pytest.fixture(scope="module")
def rollback_store(tmp_path_factory):
    """A store of the tiny spec, switched to a rollback journal (journal_mode=DELETE) and closed."""
    path = tmp_path_factory.mktemp("rollback") / "store.sqlite"
    with Store(path) as st:
        run_sweep(make_spec(), st, workers=1)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    conn.close()
    assert _side_files(path) == []
    return path


READ_COMMANDS = {
    "export": lambda store, out: ("export", "--store", store),
    "export-file": lambda store, out: ("export", "--store", store, "--out", out / "points.csv"),
    "store-check": lambda store, out: ("store", "check", store),
    "store-check-json": lambda store, out: ("store", "check", store, "--json"),
    "fit": lambda store, out: ("fit", "--store", store, "--experiment", "tiny", "--bootstrap", "20"),
    "report": lambda store, out: ("report", "--store", store, "--experiment", "tiny", "--out", out / "report"),
}


@pytest.mark.parametrize("command", list(READ_COMMANDS))
def test_reading_commands_leave_a_rollback_journal_store_byte_identical(tmp_path, rollback_store, command):
    before = _digest(rollback_store)
    result = _cli(*READ_COMMANDS[command](rollback_store, tmp_path))
    assert result.exit_code == 0, ANSI.sub("", result.stderr)
    assert _digest(rollback_store) == before
    assert _side_files(rollback_store) == []
    assert _journal_mode(rollback_store) == "delete"
    if command == "store-check-json":
        summary = json.loads(result.stdout)
        assert summary["ok"] and summary["journal_mode"] == "delete" and summary["points"] == 48
    if command == "export":
        assert len(result.stdout.splitlines()) == 49


def test_reading_commands_leave_a_wal_store_byte_identical(tmp_path):
    path = tmp_path / "wal.sqlite"
    with Store(path) as st:
        run_sweep(make_spec(), st, workers=1)
    assert _journal_mode(path) == "wal"
    before = _digest(path)
    for command in READ_COMMANDS.values():
        result = _cli(*command(path, tmp_path))
        assert result.exit_code == 0, ANSI.sub("", result.stderr)
        assert _digest(path) == before


def _v1_store(path, spec) -> None:
    """The first, unversioned layout (user_version 0, no failures table), rollback journal."""
    conn = sqlite3.connect(path)
    for sql in SCHEMA_V1:
        conn.execute(sql)
    fp = spec.fingerprint()
    conn.execute("INSERT INTO experiments VALUES (?, ?, ?, ?)", (spec.name, fp, spec.model_dump_json(), 1.0))
    for d in spec.grid.data.values():
        for p in spec.grid.size.values():
            conn.execute("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (point_key(fp, d, p, 0), spec.name, fp, d, p, 0, 0.1, 1.0 / (d + p), 0.01, "{}", 1.0))
    conn.commit()
    conn.close()


def test_an_older_schema_is_read_as_it_is_not_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    spec = make_spec()
    _v1_store(path, spec)
    before = _digest(path)
    with Store(path, create=False, readonly=True) as st:
        assert st.version == 1 and st.migrated_from is None
        assert len(st.measurements(spec.name)) == 16 and st.failures() == [] and st.failures(spec.name) == []
        summary = st.check()
        assert summary["ok"] and summary["schema_version"] == 1 and summary["experiments"][0]["failed_seeds"] == 0
    for command in READ_COMMANDS.values():
        result = _cli(*command(path, tmp_path))
        assert result.exit_code == 0, ANSI.sub("", result.stderr)
    assert _digest(path) == before and _side_files(path) == []
    with Store(path) as st:  # opened for writing, it is migrated as before
        assert st.version == SCHEMA_VERSION and st.migrated_from == 1


def test_a_read_only_store_refuses_every_write_and_is_unchanged(rollback_store):
    before = _digest(rollback_store)
    spec = make_spec()
    m = Measurement(16, 16, 99, 0.1, 0.2, 0.01, {})
    with Store(rollback_store, create=False, readonly=True) as st:
        for write in (lambda: st.register("other", "f" * 16, spec.model_dump_json()),
                      lambda: st.add("tiny", spec.fingerprint(), [m]),
                      lambda: st.record_failure("tiny", spec.fingerprint(), 99, 1, "boom"),
                      lambda: run_sweep(make_spec(seeds=4), st, workers=1)):
            with pytest.raises(DataError, match="read-only") as err:
                write()
            assert "\n" not in str(err.value) and "store.sqlite" in str(err.value)
        assert st.count("tiny") == 48
    assert _digest(rollback_store) == before


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path):
    with pytest.raises(DataError, match="no such store"):
        Store(tmp_path / "nope.sqlite", readonly=True)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- locked store


@pytest.fixture
def locked(tmp_path):
    """A fresh store (rollback journal or WAL) held by another connection's exclusive transaction."""
    held = []

    def lock(journal: str):
        path = tmp_path / f"{journal}.sqlite"
        with Store(path) as st:
            run_sweep(make_spec(), st, workers=1)
        conn = sqlite3.connect(path, isolation_level=None)
        assert conn.execute(f"PRAGMA journal_mode={journal}").fetchone()[0] == journal
        conn.execute("BEGIN EXCLUSIVE")
        held.append(conn)
        return path

    yield lock
    for conn in held:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_run_on_a_locked_store_is_a_one_line_error_within_seconds(tmp_path, locked, journal):
    path = locked(journal)
    spec_path = write_spec(tmp_path / "more.toml", spec_dict(seeds=4))
    start = time.monotonic()
    result = _cli("run", spec_path, "--store", path, "--workers", "1")
    elapsed = time.monotonic() - start
    line = one_error_line(result, path.name, f"locked by another process (waited {BUSY_TIMEOUT} s)")
    assert line.startswith(str(path)) or path.name in line
    assert BUSY_TIMEOUT - 0.5 <= elapsed < 10, elapsed


def test_reading_a_locked_rollback_store_is_a_one_line_error(tmp_path, locked):
    path = locked("delete")
    start = time.monotonic()
    one_error_line(_cli("export", "--store", path), path.name, "locked by another process")
    assert time.monotonic() - start < 10
