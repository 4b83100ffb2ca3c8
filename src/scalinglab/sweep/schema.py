"""The store's SQLite layout and the helpers every part of the store shares: the schema and its migrations, the
point key, the SQL that finds a damaged row, and the mapping of SQLite errors to one-line ``DataError``s."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable
from typing import Any

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError

SCHEMA_VERSION = 3
BUSY_TIMEOUT = 5  # seconds to wait for another process's lock on the store before giving up

# Version 1: the first layout (stores written before versioning have user_version 0 and this layout).
SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS experiments (
        name TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        spec TEXT NOT NULL,
        created REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS points (
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
        created REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS points_by_experiment ON points (experiment, fingerprint)",
)

# MIGRATIONS[v] takes a store from version v to v + 1.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS failures (
            fingerprint TEXT NOT NULL,
            seed INTEGER NOT NULL,
            experiment TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            error TEXT NOT NULL,
            traceback TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (fingerprint, seed))""",
        "CREATE INDEX IF NOT EXISTS points_by_fingerprint ON points (fingerprint, seed)",
    ),
    2: (  # the jobs of recipes (``sweep.jobs``): one row per job, its result as tagged JSON
        """CREATE TABLE IF NOT EXISTS results (
            key TEXT PRIMARY KEY,
            recipe TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            job TEXT NOT NULL,
            payload TEXT NOT NULL,
            wall_seconds REAL NOT NULL,
            created REAL NOT NULL)""",
    ),
}

COLUMNS = ("data_size", "model_size", "seed", "train_loss", "test_loss", "wall_seconds")
REQUIRED = {
    "experiments": {"name", "fingerprint", "spec", "created"},
    "points": {"key", "experiment", "fingerprint", *COLUMNS, "extra", "created"},
}


INTEGER_COLUMNS = ("data_size", "model_size", "seed")
CHUNK = 65536  # rows fetched at a time


def bad_column_sql(valid: bool | None) -> str:
    """SQL for the first damaged column of a point row, or NULL: sizes and seeds integers, losses and time finite
    numbers (NaN is stored as NULL), extra a JSON object. CASE evaluates in order; with ``valid`` json_type only
    sees text that json_valid passed (without, malformed JSON makes the query fail, one JSON parse less); with
    ``None`` the JSON of extra is not parsed (only that it starts as an object)."""
    whens = [f"WHEN typeof({c}) != 'integer' THEN '{c}'" for c in INTEGER_COLUMNS]
    whens += [f"WHEN typeof({c}) NOT IN ('real', 'integer') OR abs({c}) > 1.7976931348623157e308 THEN '{c}'"
              for c in COLUMNS if c not in INTEGER_COLUMNS]
    whens += ["WHEN typeof(extra) != 'text' OR substr(ltrim(extra), 1, 1) != '{' THEN 'extra'"]  # not an object
    if valid is None:
        return "CASE " + " ".join(whens) + " END"
    if valid:
        whens += ["WHEN NOT json_valid(extra) THEN 'extra'"]
    whens += ["WHEN json_type(extra) != 'object' THEN 'extra'"]
    return "CASE " + " ".join(whens) + " END"


NUMBER_TYPES = "('integer', 'real', 'null')"  # the JSON types an extra metric may have (null: not recorded)


def extra_json(extra: dict[str, float]) -> str:
    """``extra`` as standard JSON, a non-finite metric as null (read back as not recorded): SQLite's JSON
    functions, which check and read the stored rows, refuse the NaN and Infinity tokens."""
    return json.dumps({k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in extra.items()})


def short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def point_key(fingerprint: str, data_size: int, model_size: int, seed: int) -> str:
    """The store key of one grid point: a hash of the spec fingerprint and (D, size, seed)."""
    return hashlib.sha256(f"{fingerprint}:{data_size}:{model_size}:{seed}".encode()).hexdigest()[:32]


def check_finite(measurements: Iterable[Measurement]) -> list[Measurement]:
    """The measurements as a list; DataError naming the column and point if a loss or time is not finite."""
    ms = list(measurements)
    for m in ms:
        for col in ("train_loss", "test_loss", "wall_seconds"):
            value = getattr(m, col)
            if not math.isfinite(value):
                raise DataError(
                    f"{col} is {value} at D={m.data_size}, size={m.model_size}, seed={m.seed}: nothing stored"
                )
    return ms


def database_errors(method):
    """Turn an SQLite error (disk full, read-only file, corruption, lock) into a one-line DataError."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise DataError(f"{self.path}: {describe_error(err)}") from None

    return wrapper


def describe_error(err: sqlite3.Error) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    code = getattr(err, "sqlite_errorname", "")
    if code.startswith("SQLITE_FULL"):
        return f"cannot write, disk or store size limit full ({text}); nothing of the failed write was stored"
    if code.startswith("SQLITE_READONLY"):
        return f"cannot write, the store is read-only ({text})"
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return f"not a scalinglab store or corrupt ({text})"
    if code.startswith("SQLITE_BUSY") or "database is locked" in text:
        return f"locked by another process (waited {BUSY_TIMEOUT} s)"
    return text

