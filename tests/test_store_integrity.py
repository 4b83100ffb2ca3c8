"""Store integrity: schema versions and migration, refusal of newer or empty files, `scalinglab store check`, and
one-line errors with status 2 when the disk is full or the store is read-only."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3

import pytest

from conftest import ANSI, invoke, make_spec, one_error_line, spec_dict, write_spec
from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.store import SCHEMA_V1, SCHEMA_VERSION, Store, point_key

pytestmark = pytest.mark.usefixtures("one_blas_thread")




def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sql(path, query, args=()):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def _v1_store(path, spec, seeds=(0, 1)) -> None:
    """A store as the first, unversioned layout wrote it (user_version 0, no failures table)."""
    conn = sqlite3.connect(path)
    for sql in SCHEMA_V1:
        conn.execute(sql)
    fp = spec.fingerprint()
    conn.execute("INSERT INTO experiments VALUES (?, ?, ?, ?)", (spec.name, fp, spec.model_dump_json(), 1.0))
    for s in seeds:
        for d in spec.grid.data.values():
            for p in spec.grid.size.values():
                conn.execute("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (point_key(fp, d, p, s), spec.name, fp, d, p, s, 0.1, 1.0 / (d + p), 0.01, "{}", 1.0))
    conn.commit()
    conn.close()


@pytest.fixture
def tiny_store(tmp_path):
    path = tmp_path / "store.sqlite"
    with Store(path) as st:
        run_sweep(make_spec(), st, workers=1)
    return path


# ---------------------------------------------------------------------------------------------- schema


def test_new_store_has_the_current_schema_version_and_every_table(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        assert st.version == SCHEMA_VERSION and st.migrated_from is None
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sql(path, "PRAGMA journal_mode") == [("wal",)]
    tables = {r[0] for r in _sql(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"experiments", "points", "failures", "results"}


def test_unversioned_store_is_migrated_and_keeps_its_points(tmp_path):
    spec = make_spec()
    path = tmp_path / "old.sqlite"
    _v1_store(path, spec)
    assert _sql(path, "PRAGMA user_version") == [(0,)]
    with Store(path, create=False) as st:
        assert st.version == SCHEMA_VERSION and st.migrated_from == 1
        assert st.count("tiny") == 32 and st.failures() == []
        # the migrated store works fully: the missing seed is computed, a failure can be recorded
        assert run_sweep(spec, st, workers=1) == 16
        st.record_failure("tiny", spec.fingerprint(), 7, 3, "ValueError: x")
        assert [f["seed"] for f in st.failures("tiny")] == [7]
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with Store(path, create=False) as st:
        assert st.migrated_from is None
        assert len(st.measurements("tiny")) == 48


def test_store_from_a_newer_version_is_refused_unchanged(tmp_path, tiny_store):
    conn = sqlite3.connect(tiny_store)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = _digest(tiny_store)
    with pytest.raises(DataError, match="newer"):
        Store(tiny_store)
    assert _digest(tiny_store) == before


def test_empty_database_is_not_a_store_for_readers(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        Store(path, create=False)
    assert path.read_bytes() == b""
    with Store(path) as st:  # but a writer may make it one
        assert st.version == SCHEMA_VERSION


def test_renamed_copy_is_a_second_experiment_sharing_points(tmp_path, tiny_store):
    with Store(tiny_store) as st:
        assert run_sweep(make_spec(name="copy"), st, workers=1) == 0
        assert st.count("copy") == st.count("tiny") == st.count() == 48
        assert st.measurements("copy") == st.measurements("tiny")
        assert st.experiments() == ["tiny", "copy"]


def test_more_seeds_under_the_same_name_update_the_stored_spec(tmp_path, tiny_store):
    with Store(tiny_store) as st:
        run_sweep(make_spec(seeds=4), st, workers=1)
        assert st.spec_of("tiny")["seeds"] == 4
        run_sweep(make_spec(seeds=2), st, workers=1)  # fewer seeds: the stored spec keeps 4
        assert st.spec_of("tiny")["seeds"] == 4


# ---------------------------------------------------------------------------------------------- store check


def test_store_check_summarises_experiments_failures_and_time(tmp_path, tiny_store):
    with Store(tiny_store) as st:
        run_sweep(make_spec(name="other", seeds=2, task={"kind": "teacher_student", "features": 128}), st,
                  workers=1)
        st.register("bigger", make_spec(seeds=5).fingerprint(), make_spec(name="bigger", seeds=5).model_dump_json())
        st.record_failure("bigger", make_spec().fingerprint(), 4, 3, "ValueError: seed 4 is bad")
        walls = {name: sum(m.wall_seconds for m in st.measurements(name)) for name in ("tiny", "other")}
    result = invoke("store", "check", tiny_store, "--json", columns=200)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["integrity"] == ["ok"] and summary["schema_version"] == SCHEMA_VERSION
    assert summary["points"] == 48 + 32
    by_name = {e["name"]: e for e in summary["experiments"]}
    assert (by_name["tiny"]["points"], by_name["tiny"]["seeds"], by_name["tiny"]["missing"]) == (48, 3, 0)
    assert (by_name["other"]["points"], by_name["other"]["missing"]) == (32, 0)
    assert (by_name["bigger"]["points"], by_name["bigger"]["expected"], by_name["bigger"]["missing"]) == (48, 80, 32)
    assert by_name["bigger"]["failed_seeds"] == by_name["tiny"]["failed_seeds"] == 1
    for name, wall in walls.items():
        assert by_name[name]["wall_seconds"] == pytest.approx(wall, rel=1e-12)
        assert by_name[name]["seconds_per_point"] == pytest.approx(wall / by_name[name]["points"], rel=1e-12)
    assert [f["seed"] for f in summary["failures"]] == [4]

    text = invoke("store", "check", tiny_store, columns=200)
    assert text.exit_code == 0
    out = ANSI.sub("", text.stdout)
    assert f"schema v{SCHEMA_VERSION}" in out and "integrity ok" in out
    assert "80 points" in out and "1 failed seed" in out
    assert "failed: bigger seed 4 after 3 attempt(s): ValueError: seed 4 is bad" in out
    assert re.search(r"tiny\s+│\s+48\s+│\s+3\s+│\s+0\s+│\s+1", out), out


def test_store_check_reads_an_old_schema_without_migrating_it(tmp_path):
    path = tmp_path / "old.sqlite"
    _v1_store(path, make_spec())
    before = path.read_bytes()
    result = invoke("store", "check", path, columns=200)
    assert result.exit_code == 0, result.stderr
    assert "schema v1" in result.stdout
    assert path.read_bytes() == before  # a command that reads a store never changes it


@pytest.mark.parametrize("tamper, needle", [
    ("UPDATE points SET seed = 9 WHERE rowid = 1", "key does not match"),
    ("UPDATE points SET test_loss = 9e999 WHERE rowid = 2", "non-finite"),
    ("UPDATE points SET test_loss = 'abc' WHERE rowid = 3", "non-numeric"),
])
def test_store_check_finds_tampered_rows_and_exits_1(tiny_store, tamper, needle):
    conn = sqlite3.connect(tiny_store)
    conn.execute(tamper)
    conn.commit()
    conn.close()
    result = invoke("store", "check", tiny_store, columns=200)
    assert result.exit_code == 1
    assert needle in result.stderr and "Traceback" not in result.stderr


def _damage_page(path, name: str) -> None:
    """Overwrite the cell pointers of the root page of table or index ``name`` with 0xff."""
    (root,), = _sql(path, "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,))
    (page_size,), = _sql(path, "PRAGMA page_size")
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size + 8)
        f.write(b"\xff" * 64)


def test_store_check_finds_a_damaged_index_and_exits_1(tiny_store):
    _damage_page(tiny_store, "points_by_experiment")
    result = invoke("store", "check", tiny_store, columns=200)
    err = ANSI.sub("", result.stderr)
    assert result.exit_code == 1 and "Traceback" not in err
    assert "integrity FAILED" in result.stdout
    assert err.startswith("problem: integrity: On tree page")


@pytest.mark.parametrize("command", [("store", "check"), ("export", "--store"), ("fit", "--experiment", "tiny",
                                                                                 "--store")])
def test_a_damaged_table_is_a_one_line_error(tiny_store, command):
    _damage_page(tiny_store, "points")
    one_error_line(invoke(*command, tiny_store, columns=200), "store.sqlite", "corrupt")


def test_store_check_of_a_missing_or_foreign_file_is_one_line(tmp_path):
    one_error_line(invoke("store", "check", tmp_path / "nope.sqlite", columns=200), "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()
    spec = write_spec(tmp_path / "spec.toml", spec_dict())
    one_error_line(invoke("store", "check", spec, columns=200), "spec.toml", "not a scalinglab store")


# ---------------------------------------------------------------------------------------------- disk full, read-only


def _limit_store(monkeypatch, pragma: str) -> None:
    """Every Store opened from now on gets ``pragma`` (with {pages} = its current page count) once it is open."""
    original = Store._open

    def limited(self, create):
        version = original(self, create)
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(pragma.format(pages=pages))
        return version

    monkeypatch.setattr(Store, "_open", limited)


def test_disk_full_mid_sweep_is_a_one_line_error_and_keeps_whole_seeds(tmp_path, tiny_store, monkeypatch):
    spec_path = write_spec(tmp_path / "more.toml", spec_dict(seeds=40))
    _limit_store(monkeypatch, "PRAGMA max_page_count = {pages}")
    result = invoke("run", spec_path, "--store", tiny_store, "--workers", "1", columns=200)
    one_error_line(result, "store.sqlite", "full")
    monkeypatch.undo()
    with Store(tiny_store, create=False) as st:
        n = st.count("tiny")
        assert 48 <= n < 40 * 16 and n % 16 == 0, "a seed was half written"
        assert st.check()["ok"]
    resumed = invoke("run", spec_path, "--store", tiny_store, "--workers", "1", columns=200)
    assert resumed.exit_code == 0, resumed.stderr
    assert f"{40 * 16 - n} new points, {40 * 16} stored" in resumed.stdout


def test_read_only_store_is_a_one_line_error_and_unchanged(tmp_path, tiny_store, monkeypatch):
    spec_path = write_spec(tmp_path / "more.toml", spec_dict(seeds=4))
    before = _sql(tiny_store, "SELECT COUNT(*) FROM points")
    _limit_store(monkeypatch, "PRAGMA query_only = 1")
    result = invoke("run", spec_path, "--store", tiny_store, "--workers", "1", columns=200)
    one_error_line(result, "store.sqlite", "read-only")
    # reading still works
    assert invoke("export", "--store", tiny_store, columns=200).exit_code == 0
    monkeypatch.undo()
    assert _sql(tiny_store, "SELECT COUNT(*) FROM points") == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_file_is_a_one_line_error(tmp_path, tiny_store):
    spec_path = write_spec(tmp_path / "more.toml", spec_dict(seeds=4))
    tiny_store.chmod(0o444)
    try:
        result = invoke("run", spec_path, "--store", tiny_store, "--workers", "1", columns=200)
        one_error_line(result, "store.sqlite")
    finally:
        tiny_store.chmod(0o644)


def test_measurement_round_trip_is_exact(tmp_path):
    """Stored losses are the computed doubles, bit for bit (the determinism tests compare with ==)."""
    values = [0.1, 1 / 3, 5e-324, 1.7976931348623157e308, 2.0 ** -1074 * 3]
    with Store(tmp_path / "s.sqlite") as st:
        st.register("e", "0" * 16, "{}")
        st.add("e", "0" * 16, [Measurement(i + 1, 1, 0, v, v, 0.0) for i, v in enumerate(values)])
        assert [m.test_loss for m in st.measurements("e")] == values


def test_empty_database_with_a_stray_user_version_becomes_a_store(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 77")
    conn.close()
    with Store(path) as st:
        assert st.version == SCHEMA_VERSION
        st.register("e", "0" * 16, "{}")
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
