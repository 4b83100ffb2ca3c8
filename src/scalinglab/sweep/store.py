"""SQLite store of measurements: one file, WAL mode, one row per (experiment fingerprint, D, size, seed).

A point's key is a hash of the spec fingerprint and (D, size, seed), so re-running a spec finds what is already
stored; a seed's points are written in one transaction, so a killed sweep never leaves half a seed behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    data_size INTEGER NOT NULL,
    model_size INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    test_loss REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    extra TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_experiment ON points (experiment, fingerprint);
"""

COLUMNS = ("data_size", "model_size", "seed", "train_loss", "test_loss", "wall_seconds")


def point_key(fingerprint: str, data_size: int, model_size: int, seed: int) -> str:
    """The store key of one grid point: a hash of the spec fingerprint and (D, size, seed)."""
    return hashlib.sha256(f"{fingerprint}:{data_size}:{model_size}:{seed}".encode()).hexdigest()[:32]


class Store:
    """Measurements of any number of experiments in one SQLite file (created on first write)."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise DataError(f"{self.path}: no such store")
        if self.path.exists() and self.path.is_dir():
            raise DataError(f"{self.path}: is a directory, not a store")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as err:
            raise DataError(f"{self.path}: not a scalinglab store or corrupt ({err})") from None

    def _check_schema(self) -> None:
        cols = {row[1] for row in self._conn.execute("PRAGMA table_info(points)")}
        missing = set(COLUMNS) - cols
        if missing:
            raise DataError(f"{self.path}: table 'points' lacks columns {sorted(missing)}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def register(self, name: str, fingerprint: str, spec_json: str) -> None:
        """Record an experiment; a name already used for a different spec is an error."""
        row = self._conn.execute("SELECT fingerprint FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] != fingerprint:
            raise DataError(
                f"experiment {name!r}: the store holds a different spec under this name; rename the spec or use "
                "another store"
            )
        if row is None:
            with self.transaction() as c:
                c.execute("INSERT INTO experiments VALUES (?, ?, ?, ?)", (name, fingerprint, spec_json, time.time()))

    def experiments(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM experiments ORDER BY created")]

    def spec_of(self, name: str) -> dict[str, Any]:
        row = self._conn.execute("SELECT spec FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(self.experiments()) or "none"
            raise DataError(f"experiment {name!r}: not in {self.path} (experiments: {known})")
        return json.loads(row[0])

    def existing_keys(self, fingerprint: str) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT key FROM points WHERE fingerprint = ?", (fingerprint,))}

    def add(self, experiment: str, fingerprint: str, measurements: Iterable[Measurement]) -> int:
        """Insert measurements in one transaction, skipping keys already stored. Returns how many were new."""
        rows = []
        for m in measurements:
            for col in ("train_loss", "test_loss", "wall_seconds"):
                value = getattr(m, col)
                if not math.isfinite(value):
                    raise DataError(
                        f"{col} is {value} at D={m.data_size}, size={m.model_size}, seed={m.seed}: nothing stored"
                    )
            key = point_key(fingerprint, m.data_size, m.model_size, m.seed)
            rows.append((key, experiment, fingerprint, m.data_size, m.model_size, m.seed, m.train_loss,
                         m.test_loss, m.wall_seconds, json.dumps(m.extra), time.time()))
        with self.transaction() as c:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return c.total_changes - before

    def measurements(self, experiment: str) -> list[Measurement]:
        """Every stored measurement of an experiment, ordered by (seed, D, size)."""
        self.spec_of(experiment)
        cur = self._conn.execute(
            "SELECT data_size, model_size, seed, train_loss, test_loss, wall_seconds, extra FROM points "
            "WHERE experiment = ? ORDER BY seed, data_size, model_size",
            (experiment,),
        )
        return [Measurement(d, s, seed, tr, te, w, json.loads(ex)) for d, s, seed, tr, te, w, ex in cur]

    def rows(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Flat rows (one per measurement, extra metrics as columns) for export."""
        names = [experiment] if experiment else self.experiments()
        out = []
        for name in names:
            for m in self.measurements(name):
                out.append({"experiment": name, **m.as_row()})
        return out

    def count(self, experiment: str | None = None) -> int:
        if experiment is None:
            return self._conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM points WHERE experiment = ?", (experiment,)).fetchone()[0]
