"""Damaged store files through the commands that read them: bytes flipped, the file truncated, a page zeroed,
junk appended, the file replaced by text, tables dropped or renamed, a column renamed, the schema version
changed. Every read command (`fit --store`, `report`, `export`, `store check`) either succeeds or refuses with
exactly one error line (status 2; `store check` may also report problems, status 1), never a traceback, and the
store's bytes stay as they were. The generator is derandomized: the same damages on every run. The default run
tries ``FAST`` damaged stores; ``-m slow`` runs ``SLOW`` more.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ANSI, invoke

pytestmark = pytest.mark.usefixtures("one_blas_thread")
FAST, SLOW = 16, 150
PAGE = 4096

SQL_DAMAGE = [
    "DROP TABLE points",
    "DROP TABLE experiments",
    "DROP TABLE failures",
    "ALTER TABLE points RENAME TO points_old",
    "ALTER TABLE points RENAME COLUMN test_loss TO loss",
    "ALTER TABLE experiments RENAME COLUMN spec TO spec_json",
    "DELETE FROM experiments",
    "DELETE FROM points",
    "PRAGMA user_version = 999",
    "CREATE TABLE junk (x)",
    "UPDATE points SET experiment = 'elsewhere'",
    "UPDATE experiments SET fingerprint = 'x'",
]


@st.composite
def damages(draw, size: int):
    kind = draw(st.sampled_from(["flip", "flip", "flip", "truncate", "zero_page", "append", "text", "sql"]))
    if kind == "flip":
        return kind, (draw(st.integers(0, size - 1)), draw(st.integers(1, 255)))
    if kind == "truncate":
        return kind, draw(st.integers(0, size - 1))
    if kind == "zero_page":
        return kind, draw(st.integers(0, max(size // PAGE - 1, 0)))
    if kind == "append":
        return kind, draw(st.binary(min_size=1, max_size=600))
    if kind == "text":
        return kind, draw(st.sampled_from([b"", b"hello", b"SQLite format 3\x00" + b"\x00" * 84]))
    return kind, draw(st.sampled_from(SQL_DAMAGE))


def _apply(clean, path, damage) -> None:
    kind, arg = damage
    shutil.copy(clean, path)
    data = bytearray(path.read_bytes())
    if kind == "flip":
        offset, mask = arg
        data[offset] ^= mask
    elif kind == "truncate":
        del data[arg:]
    elif kind == "zero_page":
        data[arg * PAGE : (arg + 1) * PAGE] = bytes(len(data[arg * PAGE : (arg + 1) * PAGE]))
    elif kind == "append":
        data += arg
    elif kind == "text":
        data = bytearray(arg)
    else:
        conn = sqlite3.connect(path)
        conn.execute(arg)
        conn.commit()
        conn.close()
        return
    path.write_bytes(bytes(data))


def _commands(path, out):
    return [
        ("fit", "--store", path, "--experiment", "tiny", "--json", out / "fits.json"),
        ("report", "--store", path, "--experiment", "tiny", "--out", out / "report"),
        ("export", "--store", path, "--out", out / "points.csv"),
        ("store", "check", path),
    ]


def _check(clean, tmp_path, damage) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))  # hypothesis replays examples in one tmp_path
    path = work / "store.sqlite"
    _apply(clean, path, damage)
    before = path.read_bytes()
    for args in _commands(path, work):
        result = invoke(*args, columns=200)  # re-raises anything but a normal exit: a traceback fails here
        err = ANSI.sub("", result.stderr)
        assert "Traceback" not in err and "Traceback" not in result.stdout, (damage, args[0], err)
        allowed = (0, 1, 2) if args[0] == "store" else (0, 2)
        assert result.exit_code in allowed, (damage, args, result.exit_code, err)
        if result.exit_code == 2:
            assert len(err.splitlines()) == 1, (damage, args[0], err)
        assert path.read_bytes() == before, (damage, args[0], "the store's bytes changed")


def test_every_damage_kind_applies(clean_store, tmp_path):
    """The damages are real: each changes the file (so a suite that passes is not reading the clean store)."""
    clean = clean_store.read_bytes()
    for i, damage in enumerate([("flip", (100, 1)), ("truncate", 500), ("zero_page", 1), ("append", b"x"),
                                ("text", b"hello"), *(("sql", q) for q in SQL_DAMAGE)]):
        path = tmp_path / f"d{i}.sqlite"
        _apply(clean_store, path, damage)
        assert path.read_bytes() != clean, damage


def test_a_truncated_store_is_refused_by_every_read_command(clean_store, tmp_path):
    """Half a store is not a store: each command says so in one line (status 2) rather than reading part of it
    or creating an empty store in its place."""
    path = tmp_path / "store.sqlite"
    _apply(clean_store, path, ("truncate", len(clean_store.read_bytes()) // 2))
    before = path.read_bytes()
    for args in _commands(path, tmp_path)[:3]:
        result = invoke(*args, columns=200)
        err = ANSI.sub("", result.stderr)
        assert result.exit_code == 2 and len(err.splitlines()) == 1 and "store.sqlite" in err, (args[0], err)
    assert path.read_bytes() == before


FUZZ = dict(derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=FAST, **FUZZ)
@given(data=st.data())
def test_damaged_stores_give_one_line_or_a_result_and_stay_unchanged(clean_store, tmp_path, data):
    _check(clean_store, tmp_path, data.draw(damages(clean_store.stat().st_size)))


@pytest.mark.slow
@settings(max_examples=SLOW, **FUZZ)
@given(data=st.data())
def test_damaged_stores_slow_size(clean_store, tmp_path, data):
    _check(clean_store, tmp_path, data.draw(damages(clean_store.stat().st_size)))
