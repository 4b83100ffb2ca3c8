"""``scalinglab store check``: SQLite's integrity check, every point's key recomputed, damaged rows, and per
experiment the points stored and missing (counted in SQL), the failed seeds and the compute time.

``StoreCheck`` is a part of ``sweep.store.Store`` (its ``check`` method), kept apart from reading and writing.
"""

from __future__ import annotations

import json
from typing import Any

from scalinglab.errors import DataError
from scalinglab.sweep.schema import NUMBER_TYPES, bad_column_sql, database_errors, point_key


class StoreCheck:
    """The integrity check of a ``Store`` (``Store.check``)."""

    @database_errors
    def check(self) -> dict[str, Any]:
        """Verify the store and summarise it: SQLite integrity, schema, keys, and per experiment the points stored
        and missing, failed seeds and compute time (sum of per-point wall seconds)."""
        conn = self._conn  # type: ignore[attr-defined]
        integrity = [line for r in conn.execute("PRAGMA integrity_check(20)") for line in r[0].splitlines()
                     if line.strip() and not line.startswith("***")]
        bad_keys = 0
        for (fp,) in conn.execute("SELECT DISTINCT fingerprint FROM points").fetchall():
            bad_keys += sum(key != point_key(fp, d, p, s) for key, d, p, s in conn.execute(
                "SELECT key, data_size, model_size, seed FROM points WHERE fingerprint = ?", (fp,)))
        damaged = self.point_problem()
        orphans = conn.execute("SELECT COUNT(*) FROM points WHERE fingerprint NOT IN "
                               "(SELECT fingerprint FROM experiments)").fetchone()[0]
        experiments, problems = [], []
        try:
            self.check_experiments()
        except DataError as err:
            problems.append(str(err).replace("; nothing read", ""))
        rows = conn.execute("SELECT name, fingerprint, spec FROM experiments WHERE typeof(name) = 'text' AND "
                            "typeof(fingerprint) = 'text' AND typeof(spec) = 'text' ORDER BY created, name").fetchall()
        for name, fp, spec_json in rows:
            n, seeds, wall = conn.execute("SELECT COUNT(*), COUNT(DISTINCT seed), COALESCE(SUM(wall_seconds), 0) "
                                          "FROM points WHERE fingerprint = ?", (fp,)).fetchone()
            failed = 0 if self.version < 2 else conn.execute(
                "SELECT COUNT(*) FROM failures WHERE fingerprint = ?", (fp,)).fetchone()[0]
            grid = expected_grid(spec_json)
            expected = None if grid is None else len(grid[0]) * len(grid[1]) * grid[2]
            if grid is None:
                missing = None
            elif bad_keys:  # keys that do not match their point: compare the keys themselves
                missing = len(expected_keys(spec_json, fp) - self.existing_keys(fp))
            else:  # every key is its point's: count the stored points of the grid in SQL
                ds, ps, n_seeds = grid
                missing = expected - conn.execute(
                    "SELECT COUNT(*) FROM points WHERE fingerprint = ? AND seed >= 0 AND seed < ? AND data_size IN "
                    "(SELECT value FROM json_each(?)) AND model_size IN (SELECT value FROM json_each(?))",
                    (fp, n_seeds, json.dumps(ds), json.dumps(ps))).fetchone()[0]
            experiments.append({"name": name, "fingerprint": fp, "points": n, "seeds": seeds,
                                "expected": expected, "missing": missing,
                                "failed_seeds": failed, "wall_seconds": wall,
                                "seconds_per_point": wall / n if n else None})
        problems += [] if integrity == ["ok"] else [f"integrity: {msg}" for msg in integrity[:5]]
        if len(integrity) > 5:
            problems.append(f"integrity: {len(integrity) - 5} more problem(s) (at most 20 are looked for)")
        if bad_keys:
            problems.append(f"{bad_keys} point(s) whose key does not match (fingerprint, D, size, seed)")
        if damaged:
            n_damaged = conn.execute(
                f"SELECT COUNT(*) FROM points WHERE {bad_column_sql(True)} IS NOT NULL OR (json_valid(extra) AND "
                f"EXISTS (SELECT 1 FROM json_each(points.extra) j WHERE j.type NOT IN {NUMBER_TYPES}))"
            ).fetchone()[0]
            problems.append(f"{n_damaged} point(s) with a damaged value (non-finite or non-numeric, or an extra that "
                            f"is not a JSON object of numbers), the first: {damaged}")
        return {"path": str(self.path), "schema_version": self.version, "migrated_from": self.migrated_from,
                "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
                "integrity": integrity, "points": self.count(), "orphan_points": orphans,
                "experiments": experiments, "failures": self.failures(), "problems": problems,
                "ok": not problems}


def expected_grid(spec_json: str) -> tuple[list[int], list[int], int] | None:
    """(data sizes, model sizes, seeds) a stored spec asks for, or None if the stored spec is not a valid spec."""
    from scalinglab.errors import SpecError
    from scalinglab.sweep.spec import parse_spec

    try:
        spec = parse_spec(json.loads(spec_json))
    except (SpecError, ValueError, TypeError):
        return None
    return list(spec.grid.data.values()), list(spec.grid.size.values()), spec.seeds


def expected_keys(spec_json: str, fingerprint: str) -> set[str] | None:
    """The point keys a stored spec asks for, or None if the stored spec is not a valid spec."""
    grid = expected_grid(spec_json)
    if grid is None:
        return None
    ds, ps, seeds = grid
    return {point_key(fingerprint, d, p, s) for d in ds for p in ps for s in range(seeds)}
