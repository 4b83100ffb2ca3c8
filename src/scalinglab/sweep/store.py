"""SQLite store of measurements: one file, WAL mode, one row per (spec fingerprint, D, size, seed).

A point's key is a hash of the spec fingerprint and (D, size, seed), so re-running a spec finds what is already
stored, and an experiment's points are found by its fingerprint: a renamed copy of a spec shares them. A seed's
points are written in one transaction, so a killed sweep never leaves half a seed behind.

The schema carries a version (``PRAGMA user_version``); an older store is migrated in one transaction when it is
opened. A file that is not a scalinglab store (corrupt, foreign tables, newer schema) is refused with a one-line
``DataError`` before anything is written to it.

``Store(path, create=False, readonly=True)`` (the commands that only read: ``fit --store``, ``report``, ``export``,
``store check``) opens the file read-only (SQLite URI ``mode=ro``): it never sets the journal mode and never
migrates, so the file's bytes stay as they were. An older-schema store is read as it is (it has no failed seeds
recorded); every write method raises ``DataError``.

A store locked by another process is waited for ``BUSY_TIMEOUT`` seconds, then refused with a one-line
``DataError``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.sweep.integrity import StoreCheck
from scalinglab.sweep.schema import (  # noqa: F401  (the layout and helpers are re-exported for old imports)
    BUSY_TIMEOUT,
    CHUNK,
    COLUMNS,
    INTEGER_COLUMNS,
    MIGRATIONS,
    NUMBER_TYPES,
    REQUIRED,
    SCHEMA_V1,
    SCHEMA_VERSION,
    bad_column_sql,
    check_finite,
    database_errors,
    describe_error,
    extra_json,
    point_key,
    short,
)


def _seeds(spec_json: str) -> int:
    seeds = json.loads(spec_json).get("seeds", 0)
    return seeds if isinstance(seeds, int) else 0


class Store(StoreCheck):
    """Measurements of any number of experiments in one SQLite file (created on first use if ``create``).

    ``readonly``: open the file read-only, never set its journal mode or migrate it, refuse every write (and
    implies ``create=False``)."""

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        create = create and not readonly
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a directory, not a store")
        exists = self.path.exists()
        if not exists and not create:
            raise DataError(f"{self.path}: no such store")
        if not exists:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise DataError(f"{self.path}: cannot create the store's folder ({err.strerror})") from None
        self._conn: sqlite3.Connection | None = None
        self.migrated_from: int | None = None  # the schema version this open upgraded, if any
        try:
            target, uri = (self.path.resolve().as_uri() + "?mode=ro", True) if readonly else (self.path, False)
            self._conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT, isolation_level=None,
                                         check_same_thread=False, uri=uri)
            self.version = self._open(create)
        except sqlite3.Error as err:
            self.close()
            raise DataError(f"{self.path}: {describe_error(err)}") from None
        except DataError:
            self.close()
            raise

    def _open(self, create: bool) -> int:
        """Check the file is ours (reading only), then set WAL and migrate (neither if read-only). Returns the
        schema version."""
        conn = self._conn
        assert conn is not None
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not tables:
            if not create:
                raise DataError(f"{self.path}: not a scalinglab store (an empty database)")
        else:
            self._check_layout(tables, version)
        if self.readonly:
            return max(version, 1)  # read as it is: an unversioned store has the version-1 layout
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        if tables and version >= SCHEMA_VERSION:
            return version
        with self.transaction() as c:  # create or migrate; read again, another process may have done it
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if not tables:
                for sql in SCHEMA_V1:
                    c.execute(sql)
                version = 1
            elif version < SCHEMA_VERSION:
                self.migrated_from = version = max(version, 1)
            while version < SCHEMA_VERSION:
                for sql in MIGRATIONS[version]:
                    c.execute(sql)
                version += 1
            c.execute(f"PRAGMA user_version = {version}")
        return version

    def _check_layout(self, tables: set[str], version: int) -> None:
        if not set(REQUIRED) <= tables:
            shown = ", ".join(sorted(tables)[:5])
            raise DataError(f"{self.path}: not a scalinglab store (its tables: {shown})")
        for table, required in REQUIRED.items():
            cols = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}  # type: ignore[union-attr]
            missing = required - cols
            if missing:
                raise DataError(f"{self.path}: not a scalinglab store (table {table!r} lacks {sorted(missing)})")
        if version > SCHEMA_VERSION:
            raise DataError(f"{self.path}: store schema version {version} is newer than this scalinglab's "
                            f"({SCHEMA_VERSION}); upgrade scalinglab")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT); any error rolls back everything in it."""
        conn = self._conn
        assert conn is not None, "store is closed"
        if self.readonly:
            raise DataError(f"{self.path}: opened read-only; cannot write")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @database_errors
    def register(self, name: str, fingerprint: str, spec_json: str) -> None:
        """Record an experiment; a name already used for a different spec is an error."""
        with self.transaction() as c:
            row = c.execute("SELECT fingerprint FROM experiments WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != fingerprint:
                raise DataError(
                    f"experiment {name!r}: the store holds a different spec under this name; rename the spec or "
                    "use another store"
                )
            if row is None:
                c.execute("INSERT INTO experiments VALUES (?, ?, ?, ?)", (name, fingerprint, spec_json, time.time()))
            elif _seeds(spec_json) > _seeds(c.execute("SELECT spec FROM experiments WHERE name = ?",
                                                      (name,)).fetchone()[0]):
                # the same spec with more seeds: keep the larger seed count, so the stored spec covers its points
                c.execute("UPDATE experiments SET spec = ? WHERE name = ?", (spec_json, name))

    @database_errors
    def experiments(self) -> list[str]:
        self.check_experiments()
        return [r[0] for r in self._conn.execute("SELECT name FROM experiments ORDER BY created, name")]

    @database_errors
    def spec_of(self, name: str) -> dict[str, Any]:
        return json.loads(self._experiment(name)[1])  # an object: check_experiments

    def fingerprint_of(self, name: str) -> str:
        return self._experiment(name)[0]

    @database_errors
    def _experiment(self, name: str) -> tuple[str, str]:
        self.check_experiments()
        row = self._conn.execute("SELECT fingerprint, spec FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = ", ".join(self.experiments()) or "none"
            raise DataError(f"experiment {name!r}: not in {self.path} (experiments: {known})")
        return row

    # --- the one check of stored row contents: every read of rows goes through these -------------------------

    def check_experiments(self) -> None:
        """DataError naming the row and column of the first experiment whose name, fingerprint or spec is damaged
        (not text, or a spec that is not a JSON object)."""
        bad = self._conn.execute(
            "SELECT rowid, quote(name), CASE WHEN typeof(name) != 'text' THEN 'name' "
            "WHEN typeof(fingerprint) != 'text' THEN 'fingerprint' WHEN typeof(spec) != 'text' OR NOT json_valid(spec) "
            "THEN 'spec' WHEN json_type(spec) != 'object' THEN 'spec' END AS bad FROM experiments "
            "WHERE bad IS NOT NULL LIMIT 1").fetchone()
        if bad is not None:
            rowid, name, column = bad
            what = "not a JSON object" if column == "spec" else "not text"
            raise DataError(f"{self.path}: table experiments, row {rowid} (name {short(name)}): column {column} is "
                            f"damaged ({what}); nothing read")

    def point_problem(self, fingerprint: str | None = None) -> str | None:
        """The first damaged point (of one fingerprint, or of the whole store) as one line naming its row and
        column, or None: a size or seed that is not an integer, a loss or time that is not a finite number, an
        ``extra`` that is not a JSON object of numbers (or nulls: not recorded). Found by SQL, without reading
        the rows into Python."""
        return self._scan_points(fingerprint, ordered=False)[0]

    def _check_points(self, fingerprint: str | None) -> list[str]:
        """Raise DataError for the first damaged point (``point_problem``); else the keys of the extra metrics
        stored, in the order they first appear."""
        problem, keys = self._scan_points(fingerprint)
        if problem is not None:
            raise DataError(f"{self.path}: {problem}; nothing read")
        return keys

    def _scan_points(self, fingerprint: str | None, ordered: bool = True) -> tuple[str | None, list[str]]:
        """(first damaged point or None, extra metric keys in the order they first appear, or in any order unless
        ``ordered``): two passes of SQL, one over the columns, one over the parsed ``extra`` objects."""
        where, args = ("fingerprint = ?", (fingerprint,)) if fingerprint is not None else ("1", ())
        pwhere = "p.fingerprint = ?" if fingerprint is not None else "1"
        conn = self._conn
        try:  # json_type raises on malformed JSON: then the slower query with json_valid finds the row
            bad = conn.execute(f"SELECT rowid, {bad_column_sql(False)} AS bad FROM points WHERE {where} AND "
                               "bad IS NOT NULL LIMIT 1", args).fetchone()
        except sqlite3.OperationalError:
            bad = conn.execute(f"SELECT rowid, {bad_column_sql(True)} AS bad FROM points WHERE {where} AND "
                               "bad IS NOT NULL LIMIT 1", args).fetchone()
        keys: list[str] = []
        if bad is None:
            found = conn.execute(f"SELECT j.key, max(j.type NOT IN {NUMBER_TYPES}) FROM points p, "
                                 f"json_each(p.extra) j WHERE {pwhere} GROUP BY j.key "
                                 "ORDER BY min(p.rowid * 4294967296 + j.id)", args).fetchall() if ordered else \
                conn.execute(f"SELECT DISTINCT j.key, j.type NOT IN {NUMBER_TYPES} FROM points p, "
                             f"json_each(p.extra) j WHERE {pwhere}", args).fetchall()
            keys = list(dict.fromkeys(k for k, _ in found))
            if any(flag for _, flag in found):
                bad = conn.execute(f"SELECT p.rowid, 'extra' FROM points p, json_each(p.extra) j WHERE {pwhere} "
                                   f"AND j.type NOT IN {NUMBER_TYPES} LIMIT 1", args).fetchone()
        if bad is None:
            return None, keys
        rowid, column = bad
        value, d, p, seed = conn.execute(f"SELECT quote({column}), quote(data_size), quote(model_size), quote(seed) "
                                         "FROM points WHERE rowid = ?", (rowid,)).fetchone()
        what = "not a JSON object of numbers" if column == "extra" else (
            "not an integer" if column in INTEGER_COLUMNS else "not a finite number")
        return (f"table points, row {rowid} (D={short(d)}, size={short(p)}, seed={short(seed)}): column {column} "
                f"is {short(value)}, {what}"), keys

    def _points(self, fingerprint: str, keys: list[str], order: bool = False) -> Iterator[list[tuple]]:
        """Chunks of rows (D, size, seed, train loss, test loss, wall seconds, then each extra metric of ``keys`` or
        None) of one fingerprint, checked first by ``_check_points``; ordered by (seed, D, size) if ``order``."""
        for key in keys:
            if '"' in key:
                raise DataError(f'{self.path}: table points: extra metric name {key!r} contains a \'"\'')
        extras = "".join(f", json_extract(extra, '$.\"{k}\"')" for k in keys)
        cur = self._conn.execute(f"SELECT {', '.join(COLUMNS)}{extras} FROM points WHERE fingerprint = ?"
                                 + (" ORDER BY seed, data_size, model_size" if order else ""), (fingerprint,))
        while chunk := cur.fetchmany(CHUNK):
            yield chunk

    @database_errors
    def existing_keys(self, fingerprint: str) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT key FROM points WHERE fingerprint = ?", (fingerprint,))}

    @database_errors
    def add(self, experiment: str, fingerprint: str, measurements: Iterable[Measurement]) -> int:
        """Insert measurements in one transaction, skipping keys already stored. Returns how many were new.

        A seed that is stored clears its earlier failure record in the same transaction.
        """
        ms = check_finite(measurements)
        now = time.time()
        rows = [(point_key(fingerprint, m.data_size, m.model_size, m.seed), experiment, fingerprint, m.data_size,
                 m.model_size, m.seed, m.train_loss, m.test_loss, m.wall_seconds, extra_json(m.extra), now)
                for m in ms]
        with self.transaction() as c:
            before = c.total_changes
            c.executemany("INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            added = c.total_changes - before
            if self.version >= 2:
                c.executemany("DELETE FROM failures WHERE fingerprint = ? AND seed = ?",
                              [(fingerprint, s) for s in sorted({m.seed for m in ms})])
            return added

    @database_errors
    def measurements(self, experiment: str) -> list[Measurement]:
        """Every stored measurement of an experiment (found by its fingerprint), ordered by (seed, D, size)."""
        fingerprint = self.fingerprint_of(experiment)
        keys = self._check_points(fingerprint)
        return [Measurement(*row[:6], {k: v for k, v in zip(keys, row[6:], strict=True) if v is not None})
                for chunk in self._points(fingerprint, keys, order=True) for row in chunk]

    @database_errors
    def columns(self, experiment: str) -> dict[str, Any]:
        """Every stored point of an experiment as arrays, without a Measurement per point (``fit.regimes.Grid.of``
        takes it): ``data_size``, ``model_size``, ``seed`` (int64), ``train_loss``, ``test_loss``, ``wall_seconds``
        (float64), and ``extra``, a dict of float64 arrays, one per metric (NaN where a point did not record it)."""
        import numpy as np

        fingerprint = self.fingerprint_of(experiment)
        try:  # the quick checks: columns by SQL, extra keys (a list has integer keys), values when converted
            core = self._conn.execute(f"SELECT rowid FROM points WHERE fingerprint = ? AND {bad_column_sql(None)} "
                                      "IS NOT NULL LIMIT 1", (fingerprint,)).fetchone()
            found = self._conn.execute("SELECT DISTINCT j.key, j.type FROM points p, json_each(p.extra) j "
                                       "WHERE p.fingerprint = ?", (fingerprint,)).fetchall()
            keys = list(dict.fromkeys(k for k, _ in found))
            if core is not None or not all(isinstance(k, str) and t in ("integer", "real", "null") for k, t in found):
                raise ValueError
            parts = [np.array(chunk, dtype=float) for chunk in self._points(fingerprint, keys)]
        except (ValueError, TypeError, sqlite3.OperationalError):  # damaged: the full check names the row
            self._check_points(fingerprint)
            raise DataError(f"{self.path}: experiment {experiment!r}: a point that cannot be read") from None
        table = np.concatenate(parts) if parts else np.empty((0, len(COLUMNS) + len(keys)))
        out: dict[str, Any] = {c: table[:, i].astype(np.int64) if c in INTEGER_COLUMNS else table[:, i].copy()
                               for i, c in enumerate(COLUMNS)}
        out["extra"] = {k: table[:, len(COLUMNS) + i].copy() for i, k in enumerate(keys)}
        return out

    @database_errors
    def iter_rows(self, experiment: str | None = None) -> tuple[list[str], Iterator[list[tuple]]]:
        """(header, chunks of rows) for export, one row per measurement with the extra metrics as columns (None
        where a point did not record one), read a chunk at a time; every experiment is checked before the first
        row is given."""
        names = [experiment] if experiment else self.experiments()
        fingerprints = [self.fingerprint_of(name) for name in names]
        keys = [self._check_points(fp) for fp in fingerprints]
        header = list(dict.fromkeys(["experiment", *COLUMNS, *(k for ks in keys for k in ks)]))

        def chunks() -> Iterator[list[tuple]]:
            for name, fp, ks in zip(names, fingerprints, keys, strict=True):
                at = [header.index(k) for k in ks]
                for chunk in self._points(fp, ks, order=True):
                    if at == list(range(len(COLUMNS) + 1, len(header))):
                        yield [(name, *row) for row in chunk]
                        continue
                    rows = []
                    for row in chunk:
                        out = [name, *row[:6]] + [None] * (len(header) - 7)
                        for i, v in zip(at, row[6:], strict=True):
                            out[i] = v
                        rows.append(tuple(out))
                    yield rows

        return header, chunks()

    def rows(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Flat rows (one per measurement, extra metrics as columns) for export."""
        names = [experiment] if experiment else self.experiments()
        out = []
        for name in names:
            for m in self.measurements(name):
                out.append({"experiment": name, **m.as_row()})
        return out

    def to_pandas(self, experiment: str | None = None):
        """``rows(experiment)`` as a pandas DataFrame (the columns `export` writes); needs the ``io`` extra."""
        from scalinglab.extras import require

        pd = require("pandas", "Store.to_pandas")
        return pd.DataFrame(self.rows(experiment))

    @database_errors
    def count(self, experiment: str | None = None) -> int:
        """Stored points of an experiment (by its fingerprint), or distinct points in the whole store."""
        if experiment is None:
            return self._conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        fingerprint = self.fingerprint_of(experiment)
        return self._conn.execute("SELECT COUNT(*) FROM points WHERE fingerprint = ?", (fingerprint,)).fetchone()[0]

    @database_errors
    def record_failure(self, experiment: str, fingerprint: str, seed: int, attempts: int, error: str,
                       trace: str = "") -> None:
        """Record that a seed failed ``attempts`` times with ``error`` (one line); a later success clears it."""
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (fingerprint, seed, experiment, attempts, error, trace, time.time()))

    @database_errors
    def failures(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Failed seeds (of one experiment, found by its fingerprint, or all), ordered by experiment and seed."""
        sql = "SELECT experiment, fingerprint, seed, attempts, error, traceback, created FROM failures"
        args: tuple[str, ...] = ()
        if self.version < 2:  # a version-1 store opened read-only: no failures table, none recorded
            if experiment is not None:
                self.fingerprint_of(experiment)
            return []
        if experiment is not None:
            sql, args = sql + " WHERE fingerprint = ?", (self.fingerprint_of(experiment),)
        cols = ("experiment", "fingerprint", "seed", "attempts", "error", "traceback", "created")
        return [dict(zip(cols, row, strict=True)) for row in self._conn.execute(sql + " ORDER BY experiment, seed",
                                                                                 args)]

    @database_errors
    def result_keys(self, fingerprint: str) -> set[str]:
        """Keys of the stored job results of one configuration (``sweep.jobs``)."""
        if self.version < 3:  # an older store opened read-only: no results table, none stored
            return set()
        return {r[0] for r in self._conn.execute("SELECT key FROM results WHERE fingerprint = ?", (fingerprint,))}

    @database_errors
    def add_result(self, key: str, recipe: str, fingerprint: str, job: str, payload: str,
                   wall_seconds: float) -> bool:
        """Store one job's result in one transaction (a key already stored is kept). Returns whether it was new."""
        with self.transaction() as c:
            before = c.total_changes
            c.execute("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (key, recipe, fingerprint, job, payload, wall_seconds, time.time()))
            return c.total_changes > before

    @database_errors
    def results(self, keys: Iterable[str]) -> dict[str, tuple[str, float]]:
        """(payload, wall seconds) of each stored job result among ``keys``."""
        keys = list(keys)
        if self.version < 3 or not keys:
            return {}
        out: dict[str, tuple[str, float]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            out.update((k, (p, w)) for k, p, w in self._conn.execute(
                f"SELECT key, payload, wall_seconds FROM results WHERE key IN ({','.join('?' * len(chunk))})",
                chunk))
        return out
